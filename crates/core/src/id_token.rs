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

/// OIDC Core §5.4: the claims each scope releases, in the order they are
/// written (`crate::claims_request::scope_of` is the other direction, and
/// discovery's `claims_supported` lists them).
pub const SCOPE_CLAIMS: &[(&str, &[&str])] = &[
    (
        "profile",
        &[
            "name",
            "given_name",
            "family_name",
            "nickname",
            "preferred_username",
            "picture",
            "locale",
            "updated_at",
        ],
    ),
    ("email", &["email", "email_verified"]),
    ("address", &["address"]),
    ("phone", &["phone_number", "phone_number_verified"]),
];

/// One standard claim of the user, when they have it. `email_verified`
/// and `phone_number_verified` come only with their address or number.
pub fn claim_value(user: &User, claim: &str) -> Option<Value> {
    let c = &user.claims;
    let text = |v: &Option<String>| v.as_ref().map(|v| json!(v));
    match claim {
        "name" => text(&c.name),
        "given_name" => text(&c.given_name),
        "family_name" => text(&c.family_name),
        "nickname" => text(&c.nickname),
        "picture" => text(&c.picture),
        "locale" => text(&c.locale),
        "preferred_username" => Some(json!(user.username)),
        "updated_at" => Some(json!(user.updated_at)),
        "email" => text(&c.email),
        "email_verified" => c.email.as_ref().map(|_| json!(c.email_verified)),
        "phone_number" => text(&c.phone_number),
        "phone_number_verified" => c
            .phone_number
            .as_ref()
            .map(|_| json!(c.phone_number_verified)),
        "address" => c
            .address
            .as_ref()
            .filter(|a| !a.is_empty())
            .and_then(|a| serde_json::to_value(a).ok()),
        _ => None,
    }
}

/// These claims of the user, those they have.
pub fn named_claims<'a>(
    user: &User,
    names: impl IntoIterator<Item = &'a String>,
) -> Map<String, Value> {
    names
        .into_iter()
        .filter_map(|n| claim_value(user, n).map(|v| (n.clone(), v)))
        .collect()
}

/// OIDC Core §5.4: `profile`, `email`, `address` and `phone` release these
/// claims.
pub fn scoped_claims(user: &User, scope: &Scope) -> Map<String, Value> {
    let mut m = Map::new();
    for (s, claims) in SCOPE_CLAIMS {
        if scope.contains(s) {
            for claim in *claims {
                if let Some(v) = claim_value(user, claim) {
                    m.insert((*claim).into(), v);
                }
            }
        }
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
        sub: crate::subject::subject(&core.pepper, input.client, &input.user.sub),
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
        acr: (!input.grant.amr.is_empty()).then(|| crate::mfa::grant_acr(input.grant).to_owned()),
        extra: {
            let mut extra = scoped_claims(input.user, input.scope);
            // OIDC Core §5.5: claims the request asked for in the ID token.
            if let Some(requested) = &input.grant.claims {
                extra.extend(named_claims(input.user, &requested.id_token));
            }
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
