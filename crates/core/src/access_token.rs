//! Access tokens (RFC 9068 JWTs or opaque strings) and the token response
//! (RFC 6749 §5.1), minted for every grant in `grant/`.

use frontdesk_jose::AccessTokenClaims;
use serde::Serialize;

use crate::Core;
use crate::error::Error;
use crate::keys::KeyRing;
use crate::model::{AccessTokenFormat, Client, KeyUse, OpaqueToken, UnixTime, to_u64};
use crate::scope::Scope;
use crate::secret;
use crate::store::Store;

/// A successful token response, RFC 6749 §5.1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    /// `Bearer` (RFC 6750), or `DPoP` for a DPoP-bound token (RFC 9449 §5).
    pub token_type: &'static str,
    /// Lifetime of the access token in seconds.
    pub expires_in: i64,
    /// The granted scope. RFC 6749 §5.1 requires it when it differs from the
    /// request; we always send it so clients never have to guess.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// RFC 8693 §2.2.1: what a token exchange issued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issued_token_type: Option<&'static str>,
}

/// What an access token says, before it is minted.
#[derive(Debug, Clone)]
pub struct AccessGrant<'a> {
    pub client: &'a Client,
    /// The resource owner, or the client itself for client credentials.
    pub sub: String,
    pub scope: Scope,
    pub audience: Vec<String>,
    /// When and how the user authenticated (user grants only).
    pub auth_time: Option<UnixTime>,
    pub amr: Option<Vec<String>>,
    /// The level reached (`crate::mfa::grant_acr`), with `amr`.
    pub acr: Option<&'static str>,
    /// The grant the token belongs to: its id prefixes the `jti`, so that
    /// revoking the grant revokes the token.
    pub grant_id: Option<String>,
    /// A fixed random part for the `jti` (a retried grant re-mints the same
    /// token); random when `None`.
    pub jti_suffix: Option<String>,
    /// The value of an opaque token when a retried grant must answer with
    /// the same one; random when `None`. Unused for JWTs.
    pub opaque_value: Option<String>,
    /// The DPoP key the token is bound to (RFC 9449 §6: `cnf.jkt`);
    /// `None` for a bearer token.
    pub dpop_jkt: Option<String>,
    /// The `groups` claim (`crate::groups::claim`): user grants with the
    /// `groups` scope only.
    pub groups: Option<Vec<String>>,
    /// RFC 8693 §4.1 `act`: the acting party of an exchanged token (JWT
    /// access tokens only; `grant::token_exchange` issues no other kind).
    pub act: Option<frontdesk_jose::Actor>,
}

impl<'a> AccessGrant<'a> {
    /// A token for the client itself (client credentials).
    pub fn for_client(client: &'a Client, scope: Scope, audience: Vec<String>) -> AccessGrant<'a> {
        AccessGrant {
            client,
            sub: client.client_id.0.clone(),
            scope,
            audience,
            auth_time: None,
            amr: None,
            acr: None,
            grant_id: None,
            jti_suffix: None,
            opaque_value: None,
            dpop_jkt: None,
            groups: None,
            act: None,
        }
    }

    /// The `token_type` of the token response: `DPoP` when bound (RFC 9449
    /// §5), `Bearer` otherwise.
    pub fn token_type(&self) -> &'static str {
        if self.dpop_jkt.is_some() {
            "DPoP"
        } else {
            "Bearer"
        }
    }
}

/// `jti` = `GRANT.RANDOM` for user grants, `RANDOM` otherwise.
fn jti_for(grant: &AccessGrant<'_>) -> Result<String, Error> {
    let suffix = match &grant.jti_suffix {
        Some(s) => s.clone(),
        None => secret::random_string(16)?,
    };
    Ok(match &grant.grant_id {
        Some(g) => format!("{g}.{suffix}"),
        None => suffix,
    })
}

/// The grant id inside a `jti`, if the token came from a user grant.
pub fn grant_of_jti(jti: &str) -> Option<&str> {
    jti.split_once('.').map(|(g, _)| g)
}

/// An access token ready to hand out: for an opaque token, `stored` is the
/// row that must be written before the token is (in the same transaction as
/// the grant's other writes, for user grants).
#[derive(Debug, Clone)]
pub struct Minted {
    pub token: String,
    /// Lifetime in seconds.
    pub ttl: i64,
    pub stored: Option<OpaqueToken>,
}

/// Mints an access token in the client's format and stores an opaque one
/// (client credentials: nothing else is written).
pub async fn mint_access_token<S: Store>(
    core: &Core,
    store: &S,
    keys: &KeyRing,
    grant: &AccessGrant<'_>,
    now: UnixTime,
) -> Result<(String, i64), Error> {
    let minted = prepare_access_token(core, keys, grant, now)?;
    if let Some(row) = &minted.stored {
        store.put_opaque_token(row).await?;
    }
    Ok((minted.token, minted.ttl))
}

/// Mints an access token in the client's format: an RFC 9068 JWT signed by
/// the active access-token key, or an opaque string whose row (by hash) the
/// caller stores. Writes nothing.
pub fn prepare_access_token(
    core: &Core,
    keys: &KeyRing,
    grant: &AccessGrant<'_>,
    now: UnixTime,
) -> Result<Minted, Error> {
    let ttl = grant
        .client
        .access_token_ttl
        .min(core.settings.max_token_ttl);
    let jti = jti_for(grant)?;
    let scope = grant.scope.to_string();
    match grant.client.access_token_format {
        AccessTokenFormat::Jwt => {
            let signer = keys
                .signer(KeyUse::AccessToken, now)
                .ok_or_else(|| Error::Internal("no active access-token signing key".into()))?;
            let claims = AccessTokenClaims {
                iss: core.settings.issuer.clone(),
                sub: grant.sub.clone(),
                aud: frontdesk_jose::Audience(grant.audience.clone()),
                exp: to_u64(now + ttl),
                iat: to_u64(now),
                jti,
                client_id: grant.client.client_id.0.clone(),
                scope: (!scope.is_empty()).then_some(scope),
                auth_time: grant.auth_time.map(to_u64),
                // RFC 9068 §2.2.1: `acr` and `amr` of the authentication.
                acr: grant.acr.map(str::to_owned),
                amr: grant.amr.clone(),
                cnf: grant
                    .dpop_jkt
                    .as_ref()
                    .map(|jkt| frontdesk_jose::Confirmation {
                        jkt: Some(jkt.clone()),
                    }),
                groups: grant.groups.clone(),
                act: grant.act.clone(),
                may_act: None,
            };
            let jwt = signer
                .sign(Some("at+jwt"), &claims)
                .map_err(|e| Error::Internal(format!("signing: {e}")))?;
            Ok(Minted {
                token: jwt,
                ttl,
                stored: None,
            })
        }
        AccessTokenFormat::Opaque => {
            let token = match &grant.opaque_value {
                Some(v) => v.clone(),
                None => secret::random_string(32)?,
            };
            let stored = OpaqueToken {
                token_hash: secret::token_hash(&token),
                jti,
                client_id: grant.client.client_id.clone(),
                sub: grant.sub.clone(),
                scope,
                audience: grant.audience.clone(),
                issued_at: now,
                expires_at: now + ttl,
                revoked_at: None,
                dpop_jkt: grant.dpop_jkt.clone(),
            };
            Ok(Minted {
                token,
                ttl,
                stored: Some(stored),
            })
        }
    }
}
