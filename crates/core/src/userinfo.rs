//! The UserInfo endpoint, OpenID Connect Core §5.3, protected per RFC 6750.

use serde_json::{Map, Value, json};

use crate::error::{Error, ErrorCode, OAuthError};
use crate::introspect::{Known, find_live};
use crate::keys::KeyRing;
use crate::model::{ClientId, UnixTime};
use crate::scope::Scope;
use crate::store::Store;
use crate::{Core, dpop, groups, id_token};

fn invalid_token(why: &str) -> Error {
    OAuthError::new(ErrorCode::InvalidToken, why).into()
}

/// How the request presented its access token: `Authorization: Bearer`
/// (RFC 6750 §2.1) or `Authorization: DPoP` (RFC 9449 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Bearer,
    DPoP,
}

/// A userinfo request: the token, how it came, and the request's `DPoP`
/// headers and method (for the proof's `htm`).
#[derive(Debug, Clone, Copy)]
pub struct Presented<'a> {
    pub token: &'a str,
    pub scheme: Scheme,
    pub dpop: &'a dpop::Presented,
    pub method: &'a str,
}

/// The claims of the token's user, by granted scope. The token must be an
/// access token we issued for a user, with our issuer among its audiences
/// (RFC 9700 §2.3 audience restriction) and `openid` in its scope. A
/// DPoP-bound token needs the `DPoP` scheme and a proof of its key (RFC
/// 9449 §7); a bearer token, the `Bearer` scheme.
pub async fn userinfo<S: Store>(
    core: &Core,
    store: &S,
    keys: &KeyRing,
    request: Presented<'_>,
    now: UnixTime,
) -> Result<Map<String, Value>, Error> {
    let token = request.token;
    let (sub, scope, aud, bound, client_id, grant) =
        match find_live(core, store, keys, token, now).await? {
            Some(Known::Jwt(c, grant)) => (
                c.sub,
                c.scope.unwrap_or_default(),
                c.aud.0,
                c.cnf.and_then(|c| c.jkt),
                c.client_id,
                grant,
            ),
            Some(Known::Opaque(t, grant)) => {
                (t.sub, t.scope, t.audience, t.dpop_jkt, t.client_id.0, grant)
            }
            Some(Known::Refresh(..)) | None => {
                return Err(invalid_token(
                    "the access token is invalid, expired or revoked",
                ));
            }
        };
    match (bound, request.scheme) {
        (Some(bound), Scheme::DPoP) => {
            let uri = core.endpoint(crate::paths::USERINFO);
            let jkt = dpop::check(
                core,
                store,
                request.dpop,
                request.method,
                &uri,
                Some(token),
                Some(&bound),
                now,
            )
            .await?;
            match jkt {
                Some(_) => {}
                None => {
                    return Err(dpop::invalid_proof(
                        "a DPoP-bound access token needs a DPoP proof",
                    ));
                }
            }
        }
        // RFC 9449 §7.2: a bound token presented as a bearer token is refused.
        (Some(_), Scheme::Bearer) => {
            return Err(invalid_token(
                "the access token is DPoP-bound: send it with the DPoP scheme and a proof",
            ));
        }
        (None, Scheme::DPoP) => {
            return Err(invalid_token(
                "the access token is not DPoP-bound: send it with the Bearer scheme",
            ));
        }
        (None, Scheme::Bearer) => {}
    }
    let Some(grant) = grant else {
        return Err(invalid_token("the access token does not belong to a user"));
    };
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
    // The token's `sub` is the one its client sees (pairwise or not,
    // `crate::subject`); the user is the grant's.
    let user = store
        .user(&grant.sub)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(|| invalid_token("the user is no longer active"))?;
    let mut claims = Map::new();
    claims.insert("sub".into(), json!(sub));
    claims.extend(id_token::scoped_claims(&user, &scope));
    // OIDC Core §5.5: claims the authorization request asked for here.
    if let Some(requested) = &grant.claims {
        claims.extend(id_token::named_claims(&user, &requested.userinfo));
    }
    // The user's groups now, through the filter of the token's client.
    if scope.contains(groups::SCOPE)
        && let Some(client) = store.client(&ClientId(client_id)).await?
    {
        let member_of = store.groups_of(&grant.sub).await?;
        if let Some(g) = groups::claim(&client, &scope, &member_of) {
            claims.insert(groups::CLAIM.into(), json!(g));
        }
    }
    Ok(claims)
}
