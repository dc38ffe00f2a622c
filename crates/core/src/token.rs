//! The token endpoint (RFC 6749 §3.2): parse the grant type, authenticate
//! the client, hand over to the grant's own module, mint tokens.

use frontdesk_jose::AccessTokenClaims;
use serde::Serialize;

use crate::Core;
use crate::client::{self, Credentials};
use crate::error::{Error, ErrorCode, OAuthError};
use crate::grant;
use crate::keys::KeyRing;
use crate::model::{AccessTokenFormat, Client, ClientId, GrantType, KeyUse, OpaqueToken, UnixTime};
use crate::params::Params;
use crate::scope::Scope;
use crate::secret;
use crate::store::Store;

/// A successful token response, RFC 6749 §5.1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer` (RFC 6750).
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
}

/// Decides whether a failed authentication against a stored client record
/// may read that client again from the database, bypassing the store's
/// cache (the record may predate a secret rotated elsewhere).
///
/// The answer is a budget, never a verdict on the client: when it says no,
/// the failure stands on the record already read, and a request with the
/// right secret still succeeds against that record. So failing on purpose
/// with someone else's `client_id` costs the database a bounded number of
/// reads and cannot lock the client out (SECURITY.md §5.6). The server
/// allows one re-read per `client_id` per second.
pub trait Reread: Sync {
    /// `true` to spend one re-read of `id` now.
    fn allow(&self, id: &ClientId) -> bool;
}

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
    let client = authenticate(core, store, &creds, reread, now).await?;
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

/// Looks the client up and authenticates it (RFC 6749 §2.3). Absent
/// credentials are `invalid_client` too: every back-channel endpoint here
/// needs an identified client.
///
/// A failure against a known client re-reads it from the database when
/// `reread` allows; otherwise the failure stands (see [`Reread`]). Unknown
/// client_ids are never cached, so they always cost a read: the server
/// bounds those per peer address instead.
pub async fn authenticate<S: Store>(
    core: &Core,
    store: &S,
    creds: &Credentials,
    reread: &impl Reread,
    now: UnixTime,
) -> Result<Client, Error> {
    let Some(id) = client::lookup_id(creds) else {
        return Ok(client::authenticate(&core.pepper, None, creds, now)?);
    };
    let found = store.client(&id).await?;
    let cached = found.is_some();
    match client::authenticate(&core.pepper, found, creds, now) {
        Ok(c) => Ok(c),
        // The record may be a cached copy that predates a secret rotation
        // made elsewhere: check once more against the database, within the
        // re-read budget.
        Err(_) if cached && reread.allow(&id) => {
            let fresh = store.client_refreshed(&id).await?;
            Ok(client::authenticate(&core.pepper, fresh, creds, now)?)
        }
        Err(e) => Err(e.into()),
    }
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
    /// The grant the token belongs to: its id prefixes the `jti`, so that
    /// revoking the grant revokes the token.
    pub grant_id: Option<String>,
    /// A fixed random part for the `jti` (the refresh grace window re-mints
    /// the same token); random when `None`.
    pub jti_suffix: Option<String>,
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
            grant_id: None,
            jti_suffix: None,
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

/// Mints an access token in the client's format: an RFC 9068 JWT signed by
/// the active access-token key, or an opaque random string stored by hash.
/// Returns the token and its lifetime.
pub async fn mint_access_token<S: Store>(
    core: &Core,
    store: &S,
    keys: &KeyRing,
    grant: &AccessGrant<'_>,
    now: UnixTime,
) -> Result<(String, i64), Error> {
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
                acr: None,
                amr: grant.amr.clone(),
            };
            let jwt = signer
                .sign(Some("at+jwt"), &claims)
                .map_err(|e| Error::Internal(format!("signing: {e}")))?;
            Ok((jwt, ttl))
        }
        AccessTokenFormat::Opaque => {
            let token = secret::random_string(32)?;
            store
                .put_opaque_token(&OpaqueToken {
                    token_hash: secret::token_hash(&token),
                    jti,
                    client_id: grant.client.client_id.clone(),
                    sub: grant.sub.clone(),
                    scope,
                    audience: grant.audience.clone(),
                    issued_at: now,
                    expires_at: now + ttl,
                    revoked_at: None,
                })
                .await?;
            Ok((token, ttl))
        }
    }
}

pub(crate) fn to_u64(t: UnixTime) -> u64 {
    u64::try_from(t).unwrap_or_default()
}
