//! Token Revocation, RFC 7009.
//!
//! §2.1: the server "verifies whether the token was issued to the client
//! making the revocation request. If this validation fails, the request is
//! refused". §2.2: "invalid tokens do not cause an error response", so an
//! unknown, expired or foreign-issuer token is a 200 with nothing done. A
//! revocation that could not be persisted is an error, never a 200
//! (SECURITY.md R40): store failures surface as [`Error::Unavailable`].

use crate::Core;
use crate::error::{Error, OAuthError};
use crate::introspect::{Known, find_live};
use crate::keys::KeyRing;
use crate::model::{AuthMethod, Client, UnixTime};
use crate::secret;
use crate::store::Store;

/// What a revocation took back, for the audit trail (nothing secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    /// `access_token` or `refresh_token`.
    pub token_type: &'static str,
    /// The user the token was for; `None` for a client's own token.
    pub sub: Option<String>,
    /// The grant revoked with a refresh token.
    pub grant_id: Option<String>,
}

/// Revokes `token` for `client`; `None` when there was nothing live to
/// revoke (answered 200 all the same, §2.2).
pub async fn revoke<S: Store>(
    core: &Core,
    store: &S,
    keys: &KeyRing,
    client: &Client,
    token: &str,
    now: UnixTime,
) -> Result<Option<Revoked>, Error> {
    let Some(known) = find_live(core, store, keys, token, now).await? else {
        return Ok(None);
    };
    let owner = match &known {
        Known::Jwt(c, _) => c.client_id.as_str(),
        Known::Opaque(t, _) => t.client_id.as_str(),
        Known::Refresh(rt, _) => rt.client_id.as_str(),
    };
    if owner != client.client_id.as_str() {
        // A public client proves nothing but a client_id, so an error here
        // would tell anyone whether a token is live: for it, someone else's
        // token is answered like an unknown one (§2.2, 200, nothing done).
        if client.token_endpoint_auth_method == AuthMethod::None {
            return Ok(None);
        }
        return Err(OAuthError::invalid_request("the token was not issued to this client").into());
    }
    // A client's own token (client credentials) names the client as `sub`.
    let user = |sub: &str| (sub != client.client_id.as_str()).then(|| sub.to_owned());
    let revoked = match known {
        // A JWT cannot be recalled, so its jti is recorded until it expires;
        // introspection consults the record.
        Known::Jwt(c, _) => {
            let exp =
                i64::try_from(c.exp).map_err(|_| Error::Internal("exp out of range".into()))?;
            store.revoke_jti(&c.jti, exp).await?;
            Revoked {
                token_type: "access_token",
                sub: user(&c.sub),
                grant_id: None,
            }
        }
        Known::Opaque(t, _) => {
            store
                .revoke_opaque_token(&secret::token_hash(token), now)
                .await?;
            Revoked {
                token_type: "access_token",
                sub: user(&t.sub),
                grant_id: None,
            }
        }
        // §2.1: revoking a refresh token SHOULD also invalidate the access
        // tokens of the same grant: revoke the grant.
        Known::Refresh(_, grant) => {
            store.revoke_grant(&grant.grant_id, now).await?;
            Revoked {
                token_type: "refresh_token",
                sub: Some(grant.sub),
                grant_id: Some(grant.grant_id),
            }
        }
    };
    Ok(Some(revoked))
}
