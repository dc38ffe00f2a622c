//! The token endpoint (RFC 6749 §3.2): parse the grant type, authenticate
//! the client, hand over to the grant's own module.

use crate::Core;
use crate::access_token::TokenResponse;
use crate::client::{self, Credentials, Reread};
use crate::error::{Error, ErrorCode, OAuthError};
use crate::grant;
use crate::keys::KeyRing;
use crate::model::{GrantType, UnixTime};
use crate::params::Params;
use crate::store::Store;

/// Handles one token request end to end.
pub async fn exchange<S: Store>(
    core: &Core,
    store: &S,
    keys: &KeyRing,
    creds: Credentials,
    params: &Params,
    reread: &impl Reread,
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
        _ => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                "this grant type is not supported",
            )
            .into());
        }
    };
    let client = client::authenticate(core, store, &creds, reread, now).await?;
    match grant_type {
        GrantType::ClientCredentials => {
            grant::client_credentials::exchange(core, store, keys, &client, params, now).await
        }
        GrantType::AuthorizationCode => {
            grant::authorization_code::exchange(core, store, keys, &client, params, now).await
        }
        GrantType::RefreshToken => {
            grant::refresh_token::exchange(core, store, keys, &client, params, now).await
        }
    }
}
