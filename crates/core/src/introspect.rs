//! Token Introspection, RFC 7662. Any confidential client may ask; the
//! answer is `{"active": false}` for anything expired, revoked, malformed or
//! not ours, and the token's claims otherwise. Public clients may not
//! (§2.1: the endpoint "MUST also require some form of authorization ... to
//! prevent token scanning attacks"; a `client_id` alone proves nothing).

use frontdesk_jose::{AccessTokenClaims, Algorithm, Confirmation, Expectations};
use serde::Serialize;

use crate::Core;
use crate::error::{Error, ErrorCode, OAuthError};
use crate::keys::KeyRing;
use crate::model::{AuthMethod, Client, Grant, UnixTime, to_u64};
use crate::secret;
use crate::store::Store;

/// RFC 7662 §2.2 response members.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Introspection {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// RFC 9449 §6.2: the key a DPoP-bound token is bound to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// The user's groups the token's client may see, when the token's
    /// scope holds `groups` (a JWT's as issued, an opaque token's now).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    /// RFC 8693 §4.1: the acting party of an exchanged token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub act: Option<frontdesk_jose::Actor>,
}

/// `Bearer`, or `DPoP` for a bound access token (RFC 9449 §6.2).
fn access_token_type(cnf: Option<&Confirmation>) -> &'static str {
    if cnf.is_some_and(|c| c.jkt.is_some()) {
        "DPoP"
    } else {
        "Bearer"
    }
}

fn confirmation(jkt: Option<String>) -> Option<Confirmation> {
    jkt.map(|jkt| Confirmation { jkt: Some(jkt) })
}

impl Introspection {
    pub fn inactive() -> Introspection {
        Introspection::default()
    }
}

/// A token we issued and can still vouch for.
/// An access token carries the grant it stands on (`None` for a client's
/// own token), as read when checking that it still stands.
pub(crate) enum Known {
    Jwt(AccessTokenClaims, Option<Grant>),
    Opaque(crate::model::OpaqueToken, Option<Grant>),
    Refresh(crate::model::RefreshToken, Grant),
}

/// Whether what an access token stands on still stands: its grant (user
/// tokens, which it returns), or its client (client-credentials tokens;
/// deleting a client deactivates its tokens at once). `None`: it does not.
async fn backing_live<S: Store>(
    store: &S,
    jti: &str,
    client_id: &str,
    now: UnixTime,
) -> Result<Option<Option<Grant>>, Error> {
    match crate::access_token::grant_of_jti(jti) {
        Some(grant_id) => Ok(store
            .grant(grant_id)
            .await?
            .filter(|g| g.revoked_at.is_none() && now < g.expires_at)
            .map(Some)),
        None => Ok(store
            .client(&crate::model::ClientId(client_id.to_owned()))
            .await?
            .map(|_| None)),
    }
}

/// Verification of our own JWT access tokens: our issuer, `typ: at+jwt`
/// (RFC 9068 §4, so an ID token is never taken for an access token), one of
/// our algorithms, a key from our JWKS.
fn expectations(core: &Core) -> Expectations {
    Expectations {
        issuer: core.settings.issuer.clone(),
        audience: None,
        typ: Some("at+jwt".into()),
        forbidden_typ: Vec::new(),
        algorithms: vec![
            Algorithm::ES256,
            Algorithm::EdDSA,
            Algorithm::RS256,
            Algorithm::PS256,
        ],
        leeway_secs: to_u64(core.settings.leeway),
        require_iat: true,
    }
}

fn looks_like_jwt(token: &str) -> bool {
    token.bytes().filter(|b| *b == b'.').count() == 2
}

/// Finds a token we issued that is neither expired nor revoked.
pub(crate) async fn find_live<S: Store>(
    core: &Core,
    store: &S,
    keys: &KeyRing,
    token: &str,
    now: UnixTime,
) -> Result<Option<Known>, Error> {
    if looks_like_jwt(token) {
        let jwks = keys.jwks(now);
        let Ok((_, claims)) = frontdesk_jose::verify::<AccessTokenClaims>(
            token,
            &jwks,
            &expectations(core),
            to_u64(now),
        ) else {
            return Ok(None);
        };
        // Leeway helps other nodes' clocks, never a token past its exp.
        if claims.exp <= to_u64(now) || store.is_jti_revoked(&claims.jti).await? {
            return Ok(None);
        }
        let backing = backing_live(store, &claims.jti, &claims.client_id, now).await?;
        return Ok(backing.map(|grant| Known::Jwt(claims, grant)));
    }
    let hash = secret::token_hash(token);
    if let Some(t) = store.opaque_token(&hash).await? {
        if t.revoked_at.is_some() || now >= t.expires_at {
            return Ok(None);
        }
        let backing = backing_live(store, &t.jti, t.client_id.as_str(), now).await?;
        return Ok(backing.map(|grant| Known::Opaque(t, grant)));
    }
    if let Some((rt, grant)) = store.refresh_token(&hash).await? {
        let live = rt.consumed_at.is_none()
            && now < rt.expires_at
            && grant.revoked_at.is_none()
            && now < grant.expires_at;
        return Ok(live.then_some(Known::Refresh(rt, grant)));
    }
    Ok(None)
}

/// Answers an introspection request from `client`, already authenticated.
/// A public client (`token_endpoint_auth_method: none`) gets `invalid_client`
/// before any token is looked up, as a request without credentials would.
pub async fn introspect<S: Store>(
    core: &Core,
    store: &S,
    keys: &KeyRing,
    client: &Client,
    token: &str,
    now: UnixTime,
) -> Result<Introspection, Error> {
    if client.token_endpoint_auth_method == AuthMethod::None {
        return Err(OAuthError::new(
            ErrorCode::InvalidClient,
            "introspection needs client authentication; public clients cannot introspect",
        )
        .into());
    }
    Ok(match find_live(core, store, keys, token, now).await? {
        None => Introspection::inactive(),
        Some(Known::Jwt(c, _)) => Introspection {
            active: true,
            token_type: Some(access_token_type(c.cnf.as_ref())),
            cnf: c.cnf,
            scope: c.scope,
            client_id: Some(c.client_id),
            exp: i64::try_from(c.exp).ok(),
            iat: i64::try_from(c.iat).ok(),
            sub: Some(c.sub),
            aud: Some(c.aud.0),
            iss: Some(c.iss),
            jti: Some(c.jti),
            groups: c.groups,
            act: c.act,
        },
        Some(Known::Opaque(t, grant)) => {
            let groups = opaque_groups(store, &t, grant.as_ref()).await?;
            let cnf = confirmation(t.dpop_jkt);
            Introspection {
                active: true,
                token_type: Some(access_token_type(cnf.as_ref())),
                cnf,
                scope: (!t.scope.is_empty()).then_some(t.scope),
                client_id: Some(t.client_id.0),
                exp: Some(t.expires_at),
                iat: Some(t.issued_at),
                sub: Some(t.sub),
                aud: Some(t.audience),
                iss: Some(core.settings.issuer.clone()),
                jti: Some(t.jti),
                groups,
                act: None,
            }
        }
        Some(Known::Refresh(rt, grant)) => {
            // The sub the token's client sees (OIDC Core §8).
            let sub = match store.client(&rt.client_id).await? {
                Some(c) => crate::subject::subject(&core.pepper, &c, &grant.sub),
                None => return Ok(Introspection::inactive()),
            };
            Introspection {
                active: true,
                scope: (!rt.scope.is_empty()).then_some(rt.scope),
                client_id: Some(rt.client_id.0),
                token_type: Some("refresh_token"),
                exp: Some(rt.expires_at),
                iat: Some(rt.issued_at),
                sub: Some(sub),
                aud: None,
                iss: Some(core.settings.issuer.clone()),
                jti: None,
                cnf: confirmation(rt.dpop_jkt),
                groups: None,
                act: None,
            }
        }
    })
}

/// An opaque user token's `groups` claim: the user's groups now, through
/// the filter of the client it was issued to; `None` without the `groups`
/// scope (no read) or for a client's own token.
async fn opaque_groups<S: Store>(
    store: &S,
    t: &crate::model::OpaqueToken,
    grant: Option<&Grant>,
) -> Result<Option<Vec<String>>, Error> {
    let scope = crate::scope::Scope::parse(&t.scope).unwrap_or_default();
    let Some(grant) = grant.filter(|_| scope.contains(crate::groups::SCOPE)) else {
        return Ok(None);
    };
    let Some(client) = store.client(&t.client_id).await? else {
        return Ok(None);
    };
    // The grant's user: the token's `sub` may be a pairwise one.
    let groups = store.groups_of(&grant.sub).await?;
    Ok(crate::groups::claim(&client, &scope, &groups))
}
