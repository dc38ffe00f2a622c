//! `private_key_jwt`: a client authenticates with a JWT it signed with its
//! own key (RFC 7523 §2.2 and §3, OIDC Core §9, RFC 7521 §4.2).
//!
//! The checks, in order, for a client registered with
//! `token_endpoint_auth_method = private_key_jwt`:
//! 1. the JWS verifies with one of the client's registered keys (`jwks`, or
//!    the set at its `jwks_uri`), with an asymmetric algorithm the client
//!    may use — `frontdesk_jose::verify` takes the algorithm from the key,
//!    never the header, and refuses `none`, `HS*`, `jwk`/`jku`/`x5u`/`x5c`
//!    headers and `crit`;
//! 2. `iss` is the client_id (RFC 7523 §3 item 1) and `sub` is the client_id
//!    (item 2, "for client authentication, the subject MUST be the
//!    client_id");
//! 3. `aud` names this server: its issuer identifier, its token endpoint,
//!    or the URL of the endpoint that received it (item 3; the issuer is
//!    what draft-ietf-oauth-rfc7523bis asks clients to send, the others are
//!    what RFC 7523 and OIDC Core §9 clients send);
//! 4. `exp` present and not passed (item 4), and at most
//!    [`MAX_LIFETIME_SECS`] ahead (the "unreasonably far in the future" the
//!    same item lets a server refuse), so a `jti` need not be kept longer;
//!    `nbf` and `iat`, if present, not in the future (items 5, 6);
//! 5. the `typ` is not one of our other JWT kinds (RFC 8725 §3.11);
//! 6. `jti` present (OIDC Core §9 makes it REQUIRED) and never seen before
//!    for this client (item 7: "The authorization server MAY ensure that
//!    JWTs are not replayed by maintaining the set of used "jti" values for
//!    the length of time for which the JWT would be considered valid"),
//!    through `Store::use_once`, which every node shares.
//!
//! Every failure is `invalid_client` (RFC 7521 §4.2.1). Until the signature
//! verifies the description says nothing more; after it, it names the
//! claim, which only the key holder can learn from.

use std::sync::Arc;

use frontdesk_jose::{Algorithm, Expectations, JoseError, Jwks};
use serde::Deserialize;

use super::{CLIENT_SIGNING_ALGS, Endpoint, KeySource};
use crate::Core;
use crate::error::{Error, ErrorCode, OAuthError};
use crate::model::{AuthMethod, Client, UnixTime};
use crate::store::Store;

/// Longest an assertion may live: `exp` at most this far after now (plus
/// the leeway). Clients sign assertions for a minute or a few; this bounds
/// how long its `jti` must be remembered.
pub const MAX_LIFETIME_SECS: i64 = 600;

/// Longest `jti` accepted.
const MAX_JTI_LEN: usize = 256;

/// Typed JWTs of ours (and of the protocols next door) that are never a
/// client assertion, whoever signed them (RFC 8725 §3.11).
const FORBIDDEN_TYP: [&str; 5] = [
    "at+jwt",
    "dpop+jwt",
    "oauth-authz-req+jwt",
    "logout+jwt",
    "token-introspection+jwt",
];

/// Domain of the replay keys of client assertions in `Store::use_once`.
const REPLAY_DOMAIN: &[u8] = b"frontdesk client assertion jti v1\0";

#[derive(Deserialize)]
struct Claims {
    sub: Option<String>,
    jti: Option<String>,
    exp: i64,
    /// Checked by `frontdesk_jose::verify`; kept for FAPI 2.0's string form.
    aud: serde_json::Value,
}

/// A verified assertion, before its `jti` is spent.
pub(crate) struct Checked {
    replay_key: [u8; 32],
    remember_until: UnixTime,
}

/// The assertion's own `iss`, unverified, when it equals its `sub` (what a
/// client assertion must carry): only to find the client whose keys will
/// then verify it.
pub(crate) fn claimed_client(assertion: &str) -> Option<String> {
    let claims = frontdesk_jose::unverified_claims(assertion).ok()?;
    let iss = claims.get("iss")?.as_str()?;
    let sub = claims.get("sub")?.as_str()?;
    (iss == sub).then(|| iss.to_owned())
}

/// Authenticates `client` by `assertion` (the checks of the module
/// documentation) and spends its `jti`.
pub(crate) async fn verify<S: Store>(
    core: &Core,
    store: &S,
    client: Client,
    assertion: &str,
    keys: &impl KeySource,
    endpoint: Endpoint,
    now: UnixTime,
) -> Result<Client, Error> {
    if client.token_endpoint_auth_method != AuthMethod::PrivateKeyJwt {
        return Err(OAuthError::invalid_client().into());
    }
    let kid = frontdesk_jose::unverified_header(assertion)
        .ok()
        .and_then(|h| h.kid);
    let jwks: Arc<Jwks> = super::client_keys(&client, keys, kid.as_deref()).await;
    let checked = check(core, &client, assertion, &jwks, endpoint, now)?;
    if !store
        .use_once(&checked.replay_key, checked.remember_until, now)
        .await?
    {
        return Err(invalid(
            "this client assertion was used before: each needs its own jti (RFC 7523 §3)",
        )
        .into());
    }
    Ok(client)
}

/// Every check but the replay: the signature with `jwks`, then the claims.
pub(crate) fn check(
    core: &Core,
    client: &Client,
    assertion: &str,
    jwks: &Jwks,
    endpoint: Endpoint,
    now: UnixTime,
) -> Result<Checked, OAuthError> {
    if client.token_endpoint_auth_method != AuthMethod::PrivateKeyJwt {
        return Err(OAuthError::invalid_client());
    }
    let algorithms: Vec<Algorithm> = CLIENT_SIGNING_ALGS
        .iter()
        .filter(|a| {
            client
                .token_endpoint_auth_signing_alg
                .as_deref()
                .is_none_or(|one| one == **a)
                && client.may_sign_with(a)
        })
        .filter_map(|a| a.parse().ok())
        .collect();
    let issuer = &core.settings.issuer;
    // FAPI 2.0 §5.3.2.1 item 8: "shall only accept its issuer identifier
    // value … as a string in the aud claim received in client
    // authentication assertions".
    let audience = if client.is_fapi2() {
        vec![issuer.clone()]
    } else {
        vec![
            issuer.clone(),
            core.endpoint(crate::paths::TOKEN),
            core.endpoint(endpoint.path()),
        ]
    };
    let expect = Expectations {
        issuer: client.client_id.0.clone(),
        audience: Some(audience),
        typ: None,
        forbidden_typ: FORBIDDEN_TYP.iter().map(|t| (*t).to_owned()).collect(),
        algorithms,
        leeway_secs: u64::try_from(core.settings.leeway).unwrap_or_default(),
        require_iat: false,
    };
    let now_secs = crate::model::to_u64(now);
    let (_, claims): (_, Claims) =
        frontdesk_jose::verify(assertion, jwks, &expect, now_secs).map_err(refusal)?;
    if client.is_fapi2() && !claims.aud.is_string() {
        return Err(invalid(
            "the client assertion's aud must be the issuer identifier as a string (FAPI 2.0 §5.3.2.1)",
        ));
    }
    if claims.sub.as_deref() != Some(client.client_id.as_str()) {
        return Err(invalid(
            "the client assertion's sub must be the client_id (RFC 7523 §3)",
        ));
    }
    let jti = match claims.jti.as_deref() {
        Some(j) if !j.is_empty() && j.len() <= MAX_JTI_LEN => j,
        Some(_) => return Err(invalid("the client assertion's jti must be 1 to 256 bytes")),
        None => {
            return Err(invalid("the client assertion needs a jti (OIDC Core §9)"));
        }
    };
    if claims.exp > now + MAX_LIFETIME_SECS + core.settings.leeway {
        return Err(invalid(
            "the client assertion's exp is more than 10 minutes ahead",
        ));
    }
    let mut input = Vec::with_capacity(REPLAY_DOMAIN.len() + 2 * MAX_JTI_LEN);
    input.extend_from_slice(REPLAY_DOMAIN);
    input.extend_from_slice(client.client_id.as_str().as_bytes());
    input.push(0);
    input.extend_from_slice(jti.as_bytes());
    Ok(Checked {
        replay_key: frontdesk_jose::sha256(&input),
        remember_until: claims.exp + core.settings.leeway,
    })
}

fn invalid(description: &str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClient, description)
}

/// The description of a failed JWS check: before the signature verified it
/// names nothing (the caller may not hold the key), after it, the claim.
fn refusal(e: JoseError) -> OAuthError {
    match e {
        JoseError::Expired => invalid("the client assertion has expired"),
        JoseError::NotYetValid => invalid("the client assertion is not valid yet"),
        JoseError::InvalidIssuer => {
            invalid("the client assertion's iss must be the client_id (RFC 7523 §3)")
        }
        JoseError::InvalidAudience => invalid(
            "the client assertion's aud must be this server's issuer identifier (RFC 7523 §3)",
        ),
        JoseError::MissingClaim(c) => match c.as_str() {
            "exp" => invalid("the client assertion needs exp (RFC 7523 §3)"),
            "aud" => invalid("the client assertion needs aud (RFC 7523 §3)"),
            "iss" => invalid("the client assertion needs iss (RFC 7523 §3)"),
            _ => invalid("the client assertion is missing a required claim"),
        },
        _ => invalid("the client assertion does not verify with the client's registered keys"),
    }
}
