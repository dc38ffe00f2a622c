//! The UserInfo endpoint, OpenID Connect Core §5.3, protected per RFC 6750.

use serde_json::{Map, Value, json};

use crate::error::{Error, ErrorCode, OAuthError};
use crate::introspect::{Known, find_live};
use crate::keys::KeyRing;
use crate::model::UnixTime;
use crate::scope::Scope;
use crate::store::Store;
use crate::{Core, id_token};

fn invalid_token(why: &str) -> Error {
    OAuthError::new(ErrorCode::InvalidToken, why).into()
}

/// The claims of the token's user, by granted scope. The token must be an
/// access token we issued for a user, with our issuer among its audiences
/// (RFC 9700 §2.3 audience restriction) and `openid` in its scope.
pub async fn userinfo<S: Store>(
    core: &Core,
    store: &S,
    keys: &KeyRing,
    token: &str,
    now: UnixTime,
) -> Result<Map<String, Value>, Error> {
    let (sub, scope, aud, jti) = match find_live(core, store, keys, token, now).await? {
        Some(Known::Jwt(c)) => (c.sub, c.scope.unwrap_or_default(), c.aud.0, c.jti),
        Some(Known::Opaque(t)) => (t.sub, t.scope, t.audience, t.jti),
        Some(Known::Refresh(..)) | None => {
            return Err(invalid_token(
                "the access token is invalid, expired or revoked",
            ));
        }
    };
    if crate::access_token::grant_of_jti(&jti).is_none() {
        return Err(invalid_token("the access token does not belong to a user"));
    }
    if !aud.iter().any(|a| a == &core.settings.issuer) {
        return Err(invalid_token(
            "the access token is not meant for this server",
        ));
    }
    let scope = Scope::parse(&scope).unwrap_or_default();
    if !scope.contains("openid") {
        return Err(
            OAuthError::new(ErrorCode::InsufficientScope, "the openid scope is required").into(),
        );
    }
    let user = store
        .user(&sub)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(|| invalid_token("the user is no longer active"))?;
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(user.sub));
    claims.extend(id_token::scoped_claims(&user, &scope));
    Ok(claims)
}
