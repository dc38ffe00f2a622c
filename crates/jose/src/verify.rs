//! Compact JWS / JWT verification (RFC 7515 §5.2, RFC 7519 §7.2, RFC 8725).

use std::collections::HashSet;

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::sign::MIN_RSA_MODULUS_BYTES;
use crate::{Algorithm, B64, JoseError, Jwk, Jwks, install_crypto_provider, strict};

/// Largest token [`verify`] accepts, in bytes (64 KiB). Bounds the work an
/// unauthenticated token can cause before its signature is checked.
pub const MAX_TOKEN_LEN: usize = 64 * 1024;

/// Header parameters that are refused outright.
///
/// `crit` — RFC 7515 §4.1.11: "If any of the listed extension Header Parameters
/// are not understood and supported by the recipient, then the JWS is invalid";
/// we understand none. `jku`, `jwk`, `x5u`, `x5c` — RFC 8725 §3.10 and RFC 7515
/// §4.1.2–§4.1.6: keys come only from the verifier's own JWKS, never from the
/// token.
const FORBIDDEN_HEADERS: [&str; 5] = ["crit", "jku", "jwk", "x5u", "x5c"];

/// What a verifier requires (RFC 8725 §3.1, §3.8, §3.9, §3.11).
#[derive(Debug, Clone)]
pub struct Expectations {
    /// Required `iss`, compared exactly (RFC 8725 §3.8; no normalisation, so a
    /// trailing `/` is a different issuer).
    pub issuer: String,
    /// When `Some`, the token's `aud` (string or array) must contain at least one
    /// of these (RFC 7519 §4.1.3, RFC 8725 §3.9).
    pub audience: Option<Vec<String>>,
    /// Required header `typ`, compared case-insensitively, also accepting the
    /// `application/` prefix form (RFC 7515 §4.1.9), e.g. `Some("at+jwt")`
    /// (RFC 9068 §4). `None` = any `typ` except those in `forbidden_typ`.
    pub typ: Option<String>,
    /// `typ` values refused even when `typ` is `None` (e.g. `["at+jwt"]` when
    /// verifying an ID token hint; RFC 8725 §3.11 cross-JWT confusion).
    pub forbidden_typ: Vec<String>,
    /// Algorithms accepted. The algorithm used is that of the JWK (its `alg`
    /// member, or derived from `kty`/`crv`), never the token header's; the header
    /// `alg` must equal it (RFC 8725 §3.1).
    pub algorithms: Vec<Algorithm>,
    /// Clock-skew allowance for `exp`, `nbf` and `iat`, in seconds.
    pub leeway_secs: u64,
    /// Whether `iat` must be present (RFC 9068 §2.2 and OIDC Core §2 want
    /// it in access and ID tokens; RFC 7523 §3 and RFC 9101 leave it
    /// optional in client assertions and request objects). One that is
    /// present is always checked.
    pub require_iat: bool,
}

/// The verified JWS header (RFC 7515 §4.1).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Header {
    /// `alg` (RFC 7515 §4.1.1).
    pub alg: String,
    /// `kid` (RFC 7515 §4.1.4).
    #[serde(default)]
    pub kid: Option<String>,
    /// `typ` (RFC 7515 §4.1.9).
    #[serde(default)]
    pub typ: Option<String>,
}

/// Verifies a compact JWS against a JWKS and validates its JWT claims.
///
/// Steps (RFC 7515 §5.2, RFC 7519 §7.2, RFC 8725 §3):
///
/// 1. Size ≤ [`MAX_TOKEN_LEN`]; exactly three segments, each strictly base64url
///    without padding (RFC 7515 §2, §7.1).
/// 2. Header: a JSON object without duplicate members (RFC 7515 §5.2 step 4);
///    `alg` must be one of [`Algorithm`] — `none` in any case, `HS*` and unknown
///    names are refused (RFC 8725 §3.1, §3.2); `crit`, `jku`, `jwk`, `x5u`, `x5c`
///    are refused.
/// 3. Key: by header `kid`; without `kid`, the single JWKS key whose algorithm
///    is the header's. The key's algorithm (its `alg`, or derived from
///    `kty`/`crv`) must equal the header `alg` and be in
///    [`Expectations::algorithms`].
/// 4. Signature through `jsonwebtoken::decode` with `DecodingKey::from_jwk` and
///    a `Validation` pinned to that one algorithm (its time/audience checks off).
/// 5. Claims (a JSON object without duplicate members, RFC 7519 §4): `iss` equals
///    the expected issuer exactly; `exp` present and `now <= exp + leeway`
///    (RFC 7519 §4.1.4); `nbf`, if present, `<= now + leeway` (§4.1.5); `iat`
///    present (when [`Expectations::require_iat`]) and `<= now + leeway`;
///    `aud` per [`Expectations::audience`]; then the header `typ` per
///    [`Expectations::typ`] / [`Expectations::forbidden_typ`].
///
/// Returns the header and the claims deserialized as `C`.
///
/// # Errors
/// The [`JoseError`] variant naming the first failed check.
pub fn verify<C: serde::de::DeserializeOwned>(
    token: &str,
    jwks: &Jwks,
    expect: &Expectations,
    now: u64,
) -> Result<(Header, C), JoseError> {
    verify_keyed(token, jwks, expect, now).map(|(header, claims, _)| (header, claims))
}

/// [`verify`], also returning the position in `jwks.keys` of the key that
/// verified the signature (for callers that cache a verification and must
/// notice when that key leaves the set).
///
/// # Errors
/// As [`verify`].
pub fn verify_keyed<C: serde::de::DeserializeOwned>(
    token: &str,
    jwks: &Jwks,
    expect: &Expectations,
    now: u64,
) -> Result<(Header, C, usize), JoseError> {
    install_crypto_provider();

    // 1. Structure.
    if token.len() > MAX_TOKEN_LEN {
        return Err(JoseError::Malformed(format!(
            "token is longer than {MAX_TOKEN_LEN} bytes"
        )));
    }
    let mut parts = token.split('.');
    let (h64, p64, s64) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) => (h, p, s),
        _ => {
            return Err(JoseError::Malformed(
                "a compact JWS has exactly three segments".to_owned(),
            ));
        }
    };
    for (name, seg) in [("header", h64), ("payload", p64), ("signature", s64)] {
        if !seg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(JoseError::Malformed(format!(
                "{name} segment is not unpadded base64url"
            )));
        }
    }
    if h64.is_empty() || p64.is_empty() {
        return Err(JoseError::Malformed("empty header or payload".to_owned()));
    }
    let header_bytes = decode_segment("header", h64)?;

    // 2. Header.
    let header_map = strict::parse_object(&header_bytes)
        .map_err(|e| JoseError::Malformed(format!("header: {e}")))?;
    let (header, header_alg) = parse_header(&header_map)?;

    // 3. Key selection; the key decides the algorithm.
    let (key_index, key_alg) = select_key(jwks, header.kid.as_deref(), header_alg)?;
    let jwk = &jwks.keys[key_index];
    if key_alg != header_alg {
        return Err(JoseError::AlgorithmMismatch {
            header: header_alg.as_str().to_owned(),
            key: key_alg.as_str().to_owned(),
        });
    }
    if !expect.algorithms.contains(&key_alg) {
        return Err(JoseError::UnsupportedAlgorithm(key_alg.as_str().to_owned()));
    }
    let expected_sig_len = check_key_fits(jwk, key_alg)?;

    // 4. Signature.
    let signature = decode_segment("signature", s64)?;
    if signature.len() != expected_sig_len {
        return Err(JoseError::InvalidSignature);
    }
    verify_signature(token, jwk, key_alg)?;

    // 5. Claims.
    let payload = decode_segment("payload", p64)?;
    let claims = strict::parse_object(&payload)
        .map_err(|e| JoseError::Malformed(format!("payload: {e}")))?;
    check_claims(&claims, expect, now)?;
    check_typ(header.typ.as_deref(), expect)?;

    let claims = serde_json::from_value(Value::Object(claims))?;
    Ok((header, claims, key_index))
}

/// The header and payload segments of a compact JWS, decoded but not
/// verified.
fn unverified_parts(token: &str) -> Result<(Vec<u8>, Vec<u8>), JoseError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(JoseError::Malformed(format!(
            "token is longer than {MAX_TOKEN_LEN} bytes"
        )));
    }
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(_), None) => {
            Ok((decode_segment("header", h)?, decode_segment("payload", p)?))
        }
        _ => Err(JoseError::Malformed(
            "a compact JWS has exactly three segments".to_owned(),
        )),
    }
}

/// The header of a compact JWS, NOT verified: only for choosing the key
/// that [`verify`] will then check it with (its `kid`). Nothing in it may
/// be trusted or acted on.
///
/// # Errors
/// [`JoseError::Malformed`] when it is not a compact JWS header.
pub fn unverified_header(token: &str) -> Result<Header, JoseError> {
    let (header, _) = unverified_parts(token)?;
    let map =
        strict::parse_object(&header).map_err(|e| JoseError::Malformed(format!("header: {e}")))?;
    Ok(parse_header(&map)?.0)
}

/// The claims of a compact JWS, NOT verified: only for finding whose keys
/// will verify it (a client assertion's `iss`). Nothing in them may be
/// trusted or acted on.
///
/// # Errors
/// [`JoseError::Malformed`] when the payload is not a JSON object.
pub fn unverified_claims(token: &str) -> Result<Map<String, Value>, JoseError> {
    let (_, payload) = unverified_parts(token)?;
    strict::parse_object(&payload).map_err(|e| JoseError::Malformed(format!("payload: {e}")))
}

pub(crate) fn decode_segment(name: &str, seg: &str) -> Result<Vec<u8>, JoseError> {
    B64.decode(seg)
        .map_err(|e| JoseError::Malformed(format!("{name} segment: {e}")))
}

fn optional_string(map: &Map<String, Value>, name: &str) -> Result<Option<String>, JoseError> {
    match map.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(JoseError::Malformed(format!(
            "header parameter `{name}` must be a string"
        ))),
    }
}

fn parse_header(map: &Map<String, Value>) -> Result<(Header, Algorithm), JoseError> {
    let alg = match map.get("alg") {
        Some(Value::String(alg)) => alg,
        Some(_) => {
            return Err(JoseError::Malformed(
                "header parameter `alg` must be a string".to_owned(),
            ));
        }
        None => {
            return Err(JoseError::Malformed(
                "header parameter `alg` is required (RFC 7515 §4.1.1)".to_owned(),
            ));
        }
    };
    // RFC 8725 §3.1/§3.2: never "none" (in any letter case) nor HS*; `from_str`
    // accepts only our exact names, so both fall out as unsupported.
    if alg.eq_ignore_ascii_case("none") {
        return Err(JoseError::UnsupportedAlgorithm(alg.clone()));
    }
    let parsed: Algorithm = alg.parse()?;
    for name in FORBIDDEN_HEADERS {
        if map.contains_key(name) {
            return Err(JoseError::ForbiddenHeader(name.to_owned()));
        }
    }
    let header = Header {
        alg: alg.clone(),
        kid: optional_string(map, "kid")?,
        typ: optional_string(map, "typ")?,
    };
    Ok((header, parsed))
}

/// The position in `jwks.keys` of the key to verify with, and its algorithm.
fn select_key(
    jwks: &Jwks,
    kid: Option<&str>,
    header_alg: Algorithm,
) -> Result<(usize, Algorithm), JoseError> {
    let usable = || {
        jwks.keys
            .iter()
            .enumerate()
            .filter(|(_, k)| k.usable_for_signatures())
    };
    match kid {
        Some(kid) => {
            let mut first = None;
            for (i, k) in usable().filter(|(_, k)| k.kid.as_deref() == Some(kid)) {
                match k.algorithm() {
                    Some(a) if a == header_alg => return Ok((i, a)),
                    other => {
                        if first.is_none() {
                            first = Some((i, k, other));
                        }
                    }
                }
            }
            match first {
                None => Err(JoseError::UnknownKey),
                Some((i, _, Some(a))) => Ok((i, a)),
                Some((_, k, None)) => Err(JoseError::UnsupportedAlgorithm(
                    k.alg.clone().unwrap_or_else(|| k.kty.clone()),
                )),
            }
        }
        None => {
            let mut found = usable().filter(|(_, k)| k.algorithm() == Some(header_alg));
            match (found.next(), found.next()) {
                (Some((i, _)), None) => Ok((i, header_alg)),
                _ => Err(JoseError::UnknownKey),
            }
        }
    }
}

/// Checks that the JWK's type fits the algorithm and returns the signature length
/// in bytes the algorithm produces with it.
pub(crate) fn check_key_fits(jwk: &Jwk, alg: Algorithm) -> Result<usize, JoseError> {
    let kty = jwk.kty.as_str();
    let crv = jwk.crv.as_deref();
    match alg {
        // RFC 7518 §3.4: the ES256 signature is R || S, 32 octets each.
        Algorithm::ES256 if kty == "EC" && crv == Some("P-256") => Ok(64),
        // RFC 8032 §5.1.6: an Ed25519 signature is 64 octets.
        Algorithm::EdDSA if kty == "OKP" && crv == Some("Ed25519") => Ok(64),
        // RFC 8017 §8.1.1/§8.2.1: signature length = modulus length k.
        Algorithm::RS256 | Algorithm::PS256 if kty == "RSA" => {
            let n = jwk
                .n
                .as_deref()
                .ok_or_else(|| JoseError::InvalidKey("RSA JWK without `n`".to_owned()))?;
            let n = B64
                .decode(n)
                .map_err(|e| JoseError::InvalidKey(format!("RSA JWK `n`: {e}")))?;
            let len = n.iter().position(|b| *b != 0).map_or(0, |i| n.len() - i);
            if len < MIN_RSA_MODULUS_BYTES {
                return Err(JoseError::InvalidKey(
                    "RSA keys must be at least 2048 bits (RFC 7518 §3.3)".to_owned(),
                ));
            }
            Ok(len)
        }
        _ => Err(JoseError::InvalidKey(format!(
            "a `{kty}` key{} cannot verify {alg}",
            crv.map(|c| format!(" on {c}")).unwrap_or_default()
        ))),
    }
}

pub(crate) fn verify_signature(token: &str, jwk: &Jwk, alg: Algorithm) -> Result<(), JoseError> {
    use jsonwebtoken::errors::ErrorKind;

    let value = serde_json::to_value(jwk)?;
    let jwt_jwk: jsonwebtoken::jwk::Jwk =
        serde_json::from_value(value).map_err(|e| JoseError::InvalidKey(e.to_string()))?;
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwt_jwk)
        .map_err(|e| JoseError::InvalidKey(e.to_string()))?;
    let mut validation = jsonwebtoken::Validation::new(alg.to_jsonwebtoken());
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims = HashSet::new();
    validation.leeway = 0;
    match jsonwebtoken::decode::<serde::de::IgnoredAny>(token, &key, &validation) {
        Ok(_) => Ok(()),
        Err(e) => Err(match e.into_kind() {
            ErrorKind::InvalidSignature => JoseError::InvalidSignature,
            ErrorKind::InvalidAlgorithm
            | ErrorKind::InvalidAlgorithmName
            | ErrorKind::UnsupportedAlgorithm
            | ErrorKind::MissingAlgorithm => JoseError::UnsupportedAlgorithm(alg.to_string()),
            ErrorKind::InvalidEcdsaKey
            | ErrorKind::InvalidEddsaKey
            | ErrorKind::InvalidKeyFormat => {
                JoseError::InvalidKey("the JWK is not a valid public key".to_owned())
            }
            ErrorKind::InvalidRsaKey(m) => JoseError::InvalidKey(m),
            ErrorKind::Base64(e) => JoseError::Malformed(e.to_string()),
            ErrorKind::Json(e) => JoseError::Malformed(e.to_string()),
            ErrorKind::Utf8(e) => JoseError::Malformed(e.to_string()),
            ErrorKind::InvalidToken => JoseError::Malformed("invalid token".to_owned()),
            // Anything else (no validation is enabled, so none is expected) fails closed.
            _ => JoseError::InvalidSignature,
        }),
    }
}

/// Reads a NumericDate claim (RFC 7519 §2: seconds since the epoch, possibly
/// non-integer). Fractions are truncated; negative or non-numeric is refused.
pub(crate) fn numeric_date(
    claims: &Map<String, Value>,
    name: &str,
) -> Result<Option<u64>, JoseError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(v) = n.as_u64() {
                return Ok(Some(v));
            }
            match n.as_f64() {
                Some(f) if f.is_finite() && f >= 0.0 && f < u64::MAX as f64 => {
                    Ok(Some(f.trunc() as u64))
                }
                _ => Err(JoseError::InvalidClaim(format!(
                    "`{name}` is not a NumericDate"
                ))),
            }
        }
        Some(_) => Err(JoseError::InvalidClaim(format!(
            "`{name}` is not a NumericDate"
        ))),
    }
}

fn check_claims(
    claims: &Map<String, Value>,
    expect: &Expectations,
    now: u64,
) -> Result<(), JoseError> {
    let leeway = expect.leeway_secs;

    // RFC 7519 §4.1.1, RFC 8725 §3.8: exact string comparison.
    match claims.get("iss") {
        None => return Err(JoseError::MissingClaim("iss".to_owned())),
        Some(Value::String(iss)) if *iss == expect.issuer => {}
        Some(_) => return Err(JoseError::InvalidIssuer),
    }

    // RFC 7519 §4.1.4: "the current date/time MUST be before the expiration
    // date/time listed in the "exp" claim" (with leeway for clock skew).
    let exp =
        numeric_date(claims, "exp")?.ok_or_else(|| JoseError::MissingClaim("exp".to_owned()))?;
    if now > exp.saturating_add(leeway) {
        return Err(JoseError::Expired);
    }

    // RFC 7519 §4.1.5: not accepted before "nbf".
    if let Some(nbf) = numeric_date(claims, "nbf")?
        && nbf > now.saturating_add(leeway)
    {
        return Err(JoseError::NotYetValid);
    }

    // RFC 7519 §4.1.6 / RFC 9068 §2.2: iat is required where the caller
    // says so; one from the future is refused.
    match numeric_date(claims, "iat")? {
        None if expect.require_iat => return Err(JoseError::MissingClaim("iat".to_owned())),
        None => {}
        Some(iat) if iat > now.saturating_add(leeway) => return Err(JoseError::NotYetValid),
        Some(_) => {}
    }

    // RFC 7519 §4.1.3: "If the principal processing the claim does not identify
    // itself with a value in the "aud" claim when this claim is present, then the
    // JWT MUST be rejected." RFC 8725 §3.9 / RFC 9068 §4: the audience is required.
    if let Some(accepted) = &expect.audience {
        let not_string =
            || JoseError::InvalidClaim("`aud` must be a string or an array of strings".to_owned());
        let matches = match claims.get("aud") {
            None => return Err(JoseError::MissingClaim("aud".to_owned())),
            Some(Value::String(a)) => accepted.iter().any(|x| x == a),
            Some(Value::Array(items)) => {
                let mut any = false;
                for item in items {
                    let a = item.as_str().ok_or_else(not_string)?;
                    any |= accepted.iter().any(|x| x == a);
                }
                any
            }
            Some(_) => return Err(not_string()),
        };
        if !matches {
            return Err(JoseError::InvalidAudience);
        }
    }
    Ok(())
}

/// Canonical form of a `typ` value: RFC 7515 §4.1.9 — media type names are
/// case-insensitive and "the "application/" prefix SHOULD be omitted"; a value
/// containing no '/' is treated as if "application/" were prepended.
pub(crate) fn canonical_typ(typ: &str) -> String {
    let lower = typ.trim().to_ascii_lowercase();
    if lower.contains('/') {
        lower
    } else {
        format!("application/{lower}")
    }
}

/// RFC 8725 §3.11 explicit typing; RFC 9068 §4: resource servers "MUST verify
/// that the "typ" header value is "at+jwt" or "application/at+jwt"".
fn check_typ(found: Option<&str>, expect: &Expectations) -> Result<(), JoseError> {
    let canonical = found.map(canonical_typ);
    if let Some(required) = &expect.typ
        && canonical.as_deref() != Some(canonical_typ(required).as_str())
    {
        return Err(JoseError::InvalidType {
            expected: required.clone(),
            found: found.map(str::to_owned),
        });
    }
    if let Some(c) = &canonical
        && let Some(bad) = expect.forbidden_typ.iter().find(|f| canonical_typ(f) == *c)
    {
        return Err(JoseError::InvalidType {
            expected: format!("any typ other than {bad}"),
            found: found.map(str::to_owned),
        });
    }
    Ok(())
}
