//! JWT-secured authorization requests (RFC 9101): the `request` parameter
//! by value at `/authorize`, and inside a pushed request (RFC 9126 §3).
//!
//! [`unpack`] turns a request object into the authorization parameters it
//! carries, after these checks:
//!
//! - a compact JWS: an encrypted object (JWE, five segments) and an
//!   unsigned one (`alg: none`) are refused — RFC 9101 §5 allows only
//!   "JWS signed" and "JWS signed and JWE encrypted", §10.5 refuses `none`;
//! - signed by one of the client's registered keys (`jwks`, or its
//!   `jwks_uri` through [`client_keys`]), with an algorithm from
//!   [`CLIENT_SIGNING_ALGS`] — the client's `request_object_signing_alg`
//!   when it registered one; the key decides the algorithm
//!   (`frontdesk_jose::verify`), so HS256 and a header naming another
//!   algorithm fail;
//! - `iss` = the client's `client_id`, `aud` = our issuer (a string, or an
//!   array containing it) — RFC 9101 §4 and §10.2 (RFC 8725 §3.9);
//! - `exp` present and not past, at most [`MAX_LIFETIME_SECS`] ahead, and
//!   when `nbf` is present, not in the future and at most
//!   [`MAX_LIFETIME_SECS`] before `exp` (FAPI 2.0's bound on request objects);
//! - `typ`, when present, `oauth-authz-req+jwt` (RFC 9101 §10.8, RFC 8725
//!   §3.11: an access token or a DPoP proof is no request object), or the
//!   generic `JWT` that OpenID Connect clients send (SECURITY.md J7);
//! - a `client_id` claim, when present, equal to the `client_id` the request
//!   names (RFC 9101 §5, §6.3); `request` and `request_uri` never inside.
//!
//! Only the object's parameters count (RFC 9101 §5: "the authorization
//! server supporting this specification MUST only use the parameters
//! included in the Request Object"): the outer query's other parameters are
//! ignored, whatever they say. Claims that are not strings become the text
//! the validator reads from a query: numbers and booleans as written, a
//! `resource` array as repeated `resource` values (RFC 8707), other arrays
//! and objects as compact JSON.
//!
//! `jti` is neither required nor remembered (RFC 9101 and FAPI 2.0 require
//! neither): an object replayed before its `exp` only starts another
//! authorization whose code goes to the client's registered redirect URI,
//! bound to the client's PKCE challenge and `state`.

use serde_json::{Map, Value};

use frontdesk_jose::{Algorithm, Expectations, JoseError};

use crate::Core;
use crate::client::{CLIENT_SIGNING_ALGS, KeySource, client_keys};
use crate::error::{ErrorCode, OAuthError};
use crate::model::{Client, UnixTime};
use crate::params::Params;

/// RFC 9101 §10.8: the `typ` of a request object.
pub const TYP: &str = "oauth-authz-req+jwt";

/// Longest a request object may live: `exp` at most this far from now,
/// and from `nbf` when it has one (FAPI 2.0 Security Profile §5.3.2.1:
/// "exp … no longer than 60 minutes after the nbf claim").
pub const MAX_LIFETIME_SECS: i64 = 3600;

/// JWT claims of the object itself, not authorization parameters.
const JWT_CLAIMS: &[&str] = &["iss", "aud", "exp", "nbf", "iat", "jti", "sub"];

fn refused(description: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRequestObject, description)
}

/// What the unverified header names: the `kid` to look the key up by, and
/// whether a `typ` other than the generic `JWT` is present (jose then
/// requires it to be [`TYP`]). Nothing here is trusted;
/// `frontdesk_jose::verify` parses the same bytes again.
fn peek_header(object: &str) -> Result<(Option<String>, bool), OAuthError> {
    let malformed =
        || refused("the request object is not a signed JWT (JWS compact serialization)");
    let segments = object.split('.').count();
    if segments == 5 {
        return Err(refused("encrypted request objects (JWE) are not supported"));
    }
    if segments != 3 {
        return Err(malformed());
    }
    let header = match frontdesk_jose::unverified_header(object) {
        Ok(h) => h,
        Err(JoseError::UnsupportedAlgorithm(a)) if a.eq_ignore_ascii_case("none") => {
            return Err(refused(
                "unsigned request objects (alg none) are refused (RFC 9101)",
            ));
        }
        Err(JoseError::Malformed(_)) => return Err(malformed()),
        // What else jose refuses in a header (HS256, a `jwk` or `crit`
        // parameter, …) fails `verify` below with its own description.
        Err(_) => return Ok((None, false)),
    };
    // RFC 7515 §4.1.9: case-insensitive, "application/" optional.
    let typed = header.typ.as_deref().is_some_and(|t| {
        let t = t.trim();
        !(t.eq_ignore_ascii_case("jwt") || t.eq_ignore_ascii_case("application/jwt"))
    });
    Ok((header.kid, typed))
}

/// The algorithms `client`'s request objects may use.
fn allowed_algorithms(client: &Client) -> (Vec<Algorithm>, String) {
    let names: Vec<&str> = match &client.request_object_signing_alg {
        Some(alg) => vec![alg.as_str()],
        None => CLIENT_SIGNING_ALGS.to_vec(),
    }
    .into_iter()
    // FAPI 2.0 §5.4.1 for a FAPI 2.0 client: no RS256.
    .filter(|a| client.may_sign_with(a))
    .collect();
    let algs = names
        .iter()
        .filter_map(|n| n.parse::<Algorithm>().ok())
        .collect();
    (algs, names.join(", "))
}

/// The client's words for a failed JWS check. The client built the object,
/// so naming the check that failed helps it and tells no one else anything.
fn describe(e: &JoseError, algs: &str) -> String {
    match e {
        JoseError::UnsupportedAlgorithm(_) | JoseError::AlgorithmMismatch { .. } => {
            format!("the request object must be signed with one of: {algs}")
        }
        JoseError::UnknownKey | JoseError::InvalidSignature | JoseError::InvalidKey(_) => {
            "the signature of the request object does not verify with the keys the client registered"
                .to_owned()
        }
        JoseError::ForbiddenHeader(h) => {
            format!("the header of the request object must not carry {h}")
        }
        JoseError::InvalidType { .. } => format!("the typ of the request object must be {TYP}"),
        JoseError::Expired => "the request object has expired".to_owned(),
        JoseError::NotYetValid => "the request object is not valid yet".to_owned(),
        JoseError::InvalidIssuer => "the iss of the request object must be the client_id".to_owned(),
        JoseError::InvalidAudience => {
            "the aud of the request object must be the issuer of this server".to_owned()
        }
        JoseError::MissingClaim(c) => format!("the request object has no {c} claim"),
        JoseError::InvalidClaim(_) | JoseError::Json(_) | JoseError::Malformed(_) => {
            "the request object is not a well-formed signed JWT".to_owned()
        }
        JoseError::KeyGeneration | JoseError::Signing => {
            "the request object could not be checked".to_owned()
        }
    }
}

fn numeric(claims: &Map<String, Value>, name: &str) -> Option<i64> {
    // jose has checked these are NumericDates; fractions are truncated.
    claims.get(name).and_then(Value::as_f64).map(|f| f as i64)
}

/// Verifies `object`, a request object from `client` (RFC 9101 §6), and
/// returns the authorization parameters it carries, with `client_id`.
/// Every refusal is `invalid_request_object` (RFC 9101 §6.3, OIDC Core
/// §3.1.2.6).
pub async fn unpack(
    core: &Core,
    client: &Client,
    keys: &impl KeySource,
    object: &str,
    now: UnixTime,
) -> Result<Params, OAuthError> {
    let (kid, has_typ) = peek_header(object)?;
    let (algorithms, alg_names) = allowed_algorithms(client);
    let jwks = client_keys(client, keys, kid.as_deref()).await;
    let leeway = core.settings.leeway.max(0);
    let expect = Expectations {
        issuer: client.client_id.as_str().to_owned(),
        audience: Some(vec![core.settings.issuer.clone()]),
        typ: has_typ.then(|| TYP.to_owned()),
        forbidden_typ: Vec::new(),
        algorithms,
        leeway_secs: leeway.unsigned_abs(),
        // RFC 9101 leaves iat optional.
        require_iat: false,
    };
    let (_, claims) = frontdesk_jose::verify::<Map<String, Value>>(
        object,
        &jwks,
        &expect,
        now.max(0).unsigned_abs(),
    )
    .map_err(|e| refused(describe(&e, &alg_names)))?;

    let exp = numeric(&claims, "exp").unwrap_or_default();
    if exp > now.saturating_add(MAX_LIFETIME_SECS + leeway) {
        return Err(refused(
            "the exp of the request object is more than 60 minutes away",
        ));
    }
    if let Some(nbf) = numeric(&claims, "nbf")
        && exp.saturating_sub(nbf) > MAX_LIFETIME_SECS
    {
        return Err(refused(
            "the exp of the request object is more than 60 minutes after its nbf",
        ));
    }
    for nested in ["request", "request_uri"] {
        if claims.contains_key(nested) {
            return Err(refused(format!(
                "a request object must not contain {nested}"
            )));
        }
    }
    match claims.get("client_id") {
        None => {}
        Some(Value::String(id)) if id == client.client_id.as_str() => {}
        Some(_) => {
            return Err(refused(
                "the client_id of the request object differs from the client_id parameter",
            ));
        }
    }
    to_params(client, &claims)
}

/// The object's claims as the form the validator reads (see the module
/// documentation), through [`Params::parse`] so that its limits hold.
fn to_params(client: &Client, claims: &Map<String, Value>) -> Result<Params, OAuthError> {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    out.append_pair("client_id", client.client_id.as_str());
    for (name, value) in claims {
        if name == "client_id" || JWT_CLAIMS.contains(&name.as_str()) {
            continue;
        }
        match value {
            Value::Null => {}
            Value::String(s) => {
                out.append_pair(name, s);
            }
            Value::Number(n) => {
                out.append_pair(name, &n.to_string());
            }
            Value::Bool(b) => {
                out.append_pair(name, if *b { "true" } else { "false" });
            }
            Value::Array(items) if name == "resource" => {
                for item in items {
                    let r = item.as_str().ok_or_else(|| {
                        refused("the resource of the request object must be a string or an array of strings")
                    })?;
                    out.append_pair(name, r);
                }
            }
            Value::Array(_) | Value::Object(_) => {
                out.append_pair(name, &value.to_string());
            }
        }
    }
    Params::parse(out.finish().as_bytes()).map_err(|e| {
        refused(format!(
            "the parameters of the request object: {}",
            e.description
        ))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn peek_refuses_jwe_none_and_garbage() {
        let jwe = "a.b.c.d.e";
        assert_eq!(
            peek_header(jwe).unwrap_err().description,
            "encrypted request objects (JWE) are not supported"
        );
        // {"alg":"none"} and {"alg":"NONE"}
        for header in ["eyJhbGciOiJub25lIn0", "eyJhbGciOiJOT05FIn0"] {
            let e = peek_header(&format!("{header}.e30.")).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidRequestObject);
            assert!(e.description.contains("alg none"), "{}", e.description);
        }
        for bad in ["", "abc", "a.b", "!!.e30.x", "e30.e30.x.y"] {
            assert_eq!(
                peek_header(bad).unwrap_err().code,
                ErrorCode::InvalidRequestObject,
                "{bad}"
            );
        }
        // {"alg":"ES256","kid":"k1","typ":"x"}
        let (kid, typ) =
            peek_header("eyJhbGciOiJFUzI1NiIsImtpZCI6ImsxIiwidHlwIjoieCJ9.e30.x").unwrap();
        assert_eq!(kid.as_deref(), Some("k1"));
        assert!(typ);
    }
}
