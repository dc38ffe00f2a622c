//! The token endpoint (RFC 6749 §3.2): parse the grant type, authenticate
//! the client, hand over to the grant's own module.

use crate::access_token::TokenResponse;
use crate::client::{self, Credentials, KeySource, Reread};
use crate::error::{Error, ErrorCode, OAuthError};
use crate::grant;
use crate::keys::KeyRing;
use crate::model::{GrantType, UnixTime};
use crate::params::Params;
use crate::store::Store;
use crate::{Core, dpop};

/// Handles one token request end to end. `dpop` is the request's `DPoP`
/// headers (RFC 9449 §5), checked once the client is authenticated and
/// before any grant reads or spends anything.
// One request's parts, each its own type; a struct would only rename them.
#[allow(clippy::too_many_arguments)]
pub async fn exchange<S: Store>(
    core: &Core,
    store: &S,
    keys: &KeyRing,
    creds: Credentials,
    params: &Params,
    dpop: &dpop::Presented,
    reread: &impl Reread,
    client_keys: &impl KeySource,
    now: UnixTime,
) -> Result<TokenResponse, Error> {
    let grant_type = params.required("grant_type")?;
    let grant_type = match GrantType::parse(grant_type) {
        Some(GrantType::ClientCredentials) if core.features.client_credentials => {
            GrantType::ClientCredentials
        }
        Some(GrantType::AuthorizationCode) if core.features.authorization_code => {
            GrantType::AuthorizationCode
        }
        Some(GrantType::RefreshToken) if core.features.refresh() => GrantType::RefreshToken,
        Some(GrantType::DeviceCode) if core.features.device() => GrantType::DeviceCode,
        Some(GrantType::TokenExchange) => GrantType::TokenExchange,
        _ => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                "this grant type is not supported",
            )
            .into());
        }
    };
    let client = client::authenticate(
        core,
        store,
        &creds,
        reread,
        client_keys,
        client::Endpoint::Token,
        now,
    )
    .await?;
    // RFC 9449 §4.3: the proof is for this request: POST to the token
    // endpoint, no access token.
    let uri = core.endpoint(crate::paths::TOKEN);
    let algorithms = dpop::algorithms_for(core, &client);
    let jkt = dpop::check_with(
        core,
        store,
        dpop,
        "POST",
        &uri,
        None,
        None,
        &algorithms,
        now,
    )
    .await?;
    dpop::require_for_client(&client, jkt.as_deref())?;
    let jkt = jkt.as_deref();
    match grant_type {
        GrantType::ClientCredentials => {
            grant::client_credentials::exchange(core, store, keys, &client, params, jkt, now).await
        }
        GrantType::AuthorizationCode => {
            grant::authorization_code::exchange(core, store, keys, &client, params, jkt, now).await
        }
        GrantType::RefreshToken => {
            grant::refresh_token::exchange(core, store, keys, &client, params, jkt, now).await
        }
        GrantType::DeviceCode => {
            grant::device_code::exchange(core, store, keys, &client, params, jkt, now).await
        }
        GrantType::TokenExchange => {
            grant::token_exchange::exchange(core, store, keys, &client, params, jkt, now).await
        }
    }
}
