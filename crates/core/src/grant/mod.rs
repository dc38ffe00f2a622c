//! One module per grant type, each read top to bottom in the order its RFC
//! section describes.

pub mod authorization_code;
pub mod client_credentials;
pub mod device_code;
pub mod refresh_token;
pub mod token_exchange;

use crate::Core;
use crate::error::{Error, ErrorCode, OAuthError};
use crate::model::{Client, GrantType};

/// A value derived from a presented code or refresh token with the server
/// key: HMAC(pepper, "PURPOSE:INPUT"), base64url. Deterministic, so a
/// retried grant answers with the same tokens without storing any of them
/// in plaintext; unguessable without the server key.
pub(crate) fn derive(core: &Core, purpose: &str, input: &str) -> String {
    use base64::Engine;
    let mac = core.pepper.hash_secret(&format!("{purpose}:{input}"));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac)
}

/// RFC 6749 §5.2 `invalid_grant`, with a reason.
pub(crate) fn invalid_grant(why: &str) -> Error {
    OAuthError::new(ErrorCode::InvalidGrant, why).into()
}

/// The user is not (or no longer) in any of the client's
/// `required_groups` (`crate::groups::admits`): the grant is invalid for
/// them (RFC 6749 §5.2).
pub(crate) fn not_admitted() -> Error {
    invalid_grant("the user is not a member of a group this client requires")
}

/// RFC 6749 §5.2 `unauthorized_client` unless the client registered the grant type.
pub(crate) fn ensure_allowed(client: &Client, grant: GrantType) -> Result<(), Error> {
    if client.grant_types.contains(&grant) {
        return Ok(());
    }
    Err(OAuthError::new(
        ErrorCode::UnauthorizedClient,
        format!("this client may not use the {} grant", grant.as_str()),
    )
    .into())
}
