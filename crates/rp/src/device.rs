//! The Device Authorization Grant from the device's side (RFC 8628): ask
//! for a device code (§3.1), show the person where to go and what to type
//! (§3.3), and poll the token endpoint until they have decided (§3.4–§3.5),
//! slowing down when told to.

use std::time::Duration;

use serde::Deserialize;

use crate::client::{Client, TokenResponse};
use crate::error::RpError;
use crate::provider::check_url;

/// The `grant_type` of the device's token requests (§3.4).
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// The device authorization response (§3.2).
#[derive(Debug, Clone, Deserialize)]
pub struct DeviceAuthorization {
    pub device_code: String,
    /// What the person types at [`DeviceAuthorization::verification_uri`].
    pub user_code: String,
    pub verification_uri: String,
    /// The same page with the code in it (§3.3.1), when the server offers it.
    #[serde(default)]
    pub verification_uri_complete: Option<String>,
    /// Seconds the codes live.
    pub expires_in: u64,
    /// Seconds between polls: "If no value is provided, clients MUST use 5
    /// as the default" (§3.2).
    #[serde(default = "default_interval")]
    pub interval: u64,
}

fn default_interval() -> u64 {
    5
}

/// What `slow_down` adds to the interval, for good (§3.5).
const SLOW_DOWN_STEP: u64 = 5;

impl Client {
    /// §3.1: asks the issuer's `device_authorization_endpoint` for a device
    /// code for `scope` (and RFC 8707 `resources`), authenticated like
    /// every other call of this client (a public client sends its
    /// `client_id`).
    ///
    /// # Errors
    /// [`RpError::Config`] when the issuer advertises no endpoint (or one
    /// that is not an https URL); a refusal, transport or format error.
    pub async fn device_authorization(
        &self,
        scope: &str,
        resources: &[&str],
    ) -> Result<DeviceAuthorization, RpError> {
        const ENDPOINT: &str = "device authorization endpoint";
        let Some(endpoint) = self
            .provider()
            .metadata()
            .device_authorization_endpoint
            .clone()
        else {
            return Err(RpError::Config(
                "the issuer advertises no device_authorization_endpoint".to_owned(),
            ));
        };
        check_url("device_authorization_endpoint", &endpoint)?;
        let mut form = vec![("scope", scope)];
        form.extend(resources.iter().map(|r| ("resource", *r)));
        let answer = self.post(&endpoint, ENDPOINT, &form).await?;
        serde_json::from_value(answer).map_err(|e| RpError::Malformed {
            endpoint: ENDPOINT,
            detail: e.to_string(),
        })
    }

    /// §3.4–§3.5: polls the token endpoint every `interval` seconds until
    /// the person approved (the tokens), declined (`access_denied`) or the
    /// code expired (`expired_token`); `authorization_pending` waits
    /// another interval, `slow_down` makes it 5 s longer for good. The
    /// first poll is one interval after the call.
    ///
    /// # Errors
    /// The token endpoint's refusal ([`RpError::Refused`] with its code),
    /// or as [`Client::token`].
    pub async fn poll_device(
        &self,
        device: &DeviceAuthorization,
    ) -> Result<TokenResponse, RpError> {
        let mut interval = device.interval.max(1);
        loop {
            tokio::time::sleep(Duration::from_secs(interval)).await;
            let answer = self
                .token(&[
                    ("grant_type", DEVICE_CODE_GRANT),
                    ("device_code", &device.device_code),
                ])
                .await;
            match answer {
                Ok(tokens) => return Ok(tokens),
                Err(e) => match e.oauth_error() {
                    Some("authorization_pending") => {}
                    Some("slow_down") => interval += SLOW_DOWN_STEP,
                    _ => return Err(e),
                },
            }
        }
    }
}
