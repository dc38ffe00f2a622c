//! Device Access Token Request, RFC 8628 §3.4–§3.5: the device polls with
//! its `device_code` until the user has decided at the verification page.

use super::authorization_code::{Binding, redeem};
use super::{ensure_allowed, invalid_grant};
use crate::access_token::TokenResponse;
use crate::device::{SLOW_DOWN_STEP, code_for};
use crate::error::{Error, ErrorCode, OAuthError};
use crate::keys::KeyRing;
use crate::model::{Client, DeviceStatus, GrantType, UnixTime};
use crate::params::Params;
use crate::store::Store;
use crate::{Core, secret};

pub async fn exchange<S: Store>(
    core: &Core,
    store: &S,
    keys: &KeyRing,
    client: &Client,
    params: &Params,
    jkt: Option<&str>,
    now: UnixTime,
) -> Result<TokenResponse, Error> {
    ensure_allowed(client, GrantType::DeviceCode)?;
    let device_code = params.required("device_code")?;
    let hash = secret::token_hash(device_code);
    let Some(device) = store.device_authorization(&hash).await? else {
        return Err(invalid_grant("the device_code is invalid"));
    };
    // §3.4: the device code is bound to the client it was issued to.
    if device.client_id != client.client_id {
        return Err(invalid_grant(
            "the device_code was issued to another client",
        ));
    }
    match device.status {
        DeviceStatus::Approved => {
            let code = code_for(core, device_code);
            redeem(core, store, keys, client, &code, Binding::Device, jkt, now).await
        }
        DeviceStatus::Denied => {
            Err(OAuthError::new(ErrorCode::AccessDenied, "the user declined the request").into())
        }
        DeviceStatus::Pending if now >= device.expires_at => Err(OAuthError::new(
            ErrorCode::ExpiredToken,
            "the device_code has expired; start again",
        )
        .into()),
        DeviceStatus::Pending => {
            // §3.5: a poll sooner than the interval after the last one is
            // answered `slow_down`, and the interval grows by 5 s for good;
            // of two polls at once, the one that loses the update is too soon.
            let too_soon = device
                .last_poll_at
                .is_some_and(|last| now - last < device.interval);
            let interval = if too_soon {
                device.interval + SLOW_DOWN_STEP
            } else {
                device.interval
            };
            let first = store
                .note_device_poll(&hash, device.last_poll_at, interval, now)
                .await?;
            if too_soon || !first {
                return Err(OAuthError::new(
                    ErrorCode::SlowDown,
                    format!("poll at most every {interval} seconds"),
                )
                .into());
            }
            Err(OAuthError::new(
                ErrorCode::AuthorizationPending,
                "the user has not yet approved the request",
            )
            .into())
        }
    }
}
