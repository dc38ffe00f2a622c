//! ID tokens, OpenID Connect Core §2 and §3.1.3.6, and the standard claims
//! released by scope (§5.4), shared with userinfo.

use frontdesk_jose::{Algorithm, Audience, IdTokenClaims, SigningKey};
use serde_json::{Map, Value, json};

use crate::Core;
use crate::error::Error;
use crate::keys::KeyRing;
use crate::model::to_u64;
use crate::model::{Client, Grant, KeyUse, UnixTime, User};
use crate::scope::Scope;

/// OIDC Core §5.4: `profile` and `email` release these claims.
pub fn scoped_claims(user: &User, scope: &Scope) -> Map<String, Value> {
    let mut m = Map::new();
    let c = &user.claims;
    if scope.contains("profile") {
        for (k, v) in [
            ("name", &c.name),
            ("given_name", &c.given_name),
            ("family_name", &c.family_name),
            ("nickname", &c.nickname),
            ("picture", &c.picture),
            ("locale", &c.locale),
        ] {
            if let Some(v) = v {
                m.insert(k.into(), json!(v));
            }
        }
        m.insert("preferred_username".into(), json!(user.username));
        m.insert("updated_at".into(), json!(user.updated_at));
    }
    if scope.contains("email")
        && let Some(e) = &c.email
    {
        m.insert("email".into(), json!(e));
        m.insert("email_verified".into(), json!(c.email_verified));
    }
    m
}

/// The key that signs this client's ID tokens: its registered algorithm
/// (default RS256), an ID-token key first, else any active key of that
/// algorithm.
fn signer<'k>(keys: &'k KeyRing, client: &Client, now: UnixTime) -> Result<&'k SigningKey, Error> {
    let alg: Algorithm = client
        .id_token_signed_response_alg
        .as_deref()
        .unwrap_or("RS256")
        .parse()
        .map_err(|_| Error::Internal("unsupported id_token_signed_response_alg".into()))?;
    keys.signer_with_alg(KeyUse::IdToken, alg, now)
        .or_else(|| keys.signer_with_alg(KeyUse::AccessToken, alg, now))
        .ok_or_else(|| {
            Error::Internal(format!(
                "no active {alg} signing key: run `frontdesk keys rotate --use id_token --alg {alg}`"
            ))
        })
}

/// What goes into one ID token.
pub struct IdTokenInput<'a> {
    pub client: &'a Client,
    pub user: &'a User,
    pub grant: &'a Grant,
    pub scope: &'a Scope,
    pub nonce: Option<&'a str>,
    pub access_token: &'a str,
    /// The `groups` claim, when the scope releases it (`crate::groups::claim`).
    pub groups: Option<&'a [String]>,
}

pub fn mint(
    core: &Core,
    keys: &KeyRing,
    input: &IdTokenInput<'_>,
    now: UnixTime,
) -> Result<String, Error> {
    let key = signer(keys, input.client, now)?;
    let claims = IdTokenClaims {
        iss: core.settings.issuer.clone(),
        sub: input.user.sub.clone(),
        aud: Audience(vec![input.client.client_id.0.clone()]),
        exp: to_u64(now + core.settings.id_token_ttl),
        iat: to_u64(now),
        auth_time: Some(to_u64(input.grant.auth_time)),
        nonce: input.nonce.map(str::to_owned),
        azp: Some(input.client.client_id.0.clone()),
        sid: input.grant.sid.clone(),
        at_hash: Some(frontdesk_jose::at_hash(key.alg(), input.access_token)),
        amr: (!input.grant.amr.is_empty()).then(|| input.grant.amr.clone()),
        // OIDC Core §2: the level the authentication reached (crate::mfa).
        acr: (!input.grant.amr.is_empty()).then(|| crate::mfa::acr_of(&input.grant.amr).to_owned()),
        extra: {
            let mut extra = scoped_claims(input.user, input.scope);
            if let Some(groups) = input.groups {
                extra.insert(crate::groups::CLAIM.into(), json!(groups));
            }
            // The upstream the user signed in through (beside `amr`
            // `fed`): its id, as Entra ID and Auth0 name theirs.
            if let Some(idp) = &input.grant.idp {
                extra.insert("idp".into(), json!(idp));
            }
            extra
        },
    };
    key.sign(Some("JWT"), &claims)
        .map_err(|e| Error::Internal(format!("signing the ID token: {e}")))
}
