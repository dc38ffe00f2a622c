//! DPoP proofs (RFC 9449): the one implementation of making and checking them.
//!
//! The server's token and userinfo endpoints, the resource kit (and so the
//! gateway) and our clients all go through this module. What it does not do
//! is state: remembering a proof's `jti` (§11.1) and choosing nonces (§8) are
//! the caller's, since the server keeps them in its store and a resource
//! server in its process. [`VerifiedProof::replay_key`] is what to remember.

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::verify::{check_key_fits, decode_segment, numeric_date, verify_signature};
use crate::{Algorithm, B64, JoseError, Jwk, SigningKey, b64url, sha256, strict, thumbprint};

/// The `typ` of a DPoP proof (RFC 9449 §4.2: "typ: with value dpop+jwt").
pub const TYP: &str = "dpop+jwt";

/// The HTTP header that carries a proof (RFC 9449 §4.1).
pub const HEADER: &str = "DPoP";

/// The header in which a server hands out a nonce (RFC 9449 §8).
pub const NONCE_HEADER: &str = "DPoP-Nonce";

/// Largest proof accepted, in bytes. A proof is a header with one public key
/// and a handful of short claims; an RSA-4096 key makes it about 1.3 KiB.
pub const MAX_PROOF_LEN: usize = 8 * 1024;

/// Longest `jti` accepted (RFC 9449 §4.2 asks for 96 bits of randomness; the
/// bound keeps replay stores small).
pub const MAX_JTI_LEN: usize = 256;

/// Longest `nonce` accepted in a proof.
pub const MAX_NONCE_LEN: usize = 512;

// RFC 9449 §4.3 step 7: "the jwk JOSE Header Parameter does not contain a
// private key" (`PRIVATE_MEMBERS`).
use crate::jwk::PRIVATE_MEMBERS;

/// Header parameters refused in a proof besides the required `jwk`: the key
/// comes from `jwk` and from nowhere else (RFC 8725 §3.10).
const FORBIDDEN_HEADERS: [&str; 4] = ["crit", "jku", "x5u", "x5c"];

/// Why a proof was refused. Every variant but [`DpopError::UseNonce`] is an
/// `invalid_dpop_proof` (RFC 9449 §5, §7.1); `UseNonce` is `use_dpop_nonce`
/// (§8, §9).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DpopError {
    /// The proof is not acceptable; the text says which check failed.
    #[error("{0}")]
    Invalid(String),
    /// The server requires a nonce and the proof has none, or an old one.
    #[error("the DPoP proof must carry the server's current nonce")]
    UseNonce,
}

impl DpopError {
    fn invalid(text: impl Into<String>) -> Self {
        Self::Invalid(text.into())
    }

    /// The OAuth error code: `invalid_dpop_proof` or `use_dpop_nonce`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "invalid_dpop_proof",
            Self::UseNonce => "use_dpop_nonce",
        }
    }
}

/// What a proof must match (RFC 9449 §4.3).
#[derive(Debug, Clone)]
pub struct Expect<'a> {
    /// The request's method; `htm` must equal it (§4.3 step 8).
    pub method: &'a str,
    /// The request's target URI as the server is reached at
    /// (`https://host/path`); `htu` must match it ignoring query and fragment
    /// (step 9, see [`htu_matches`]).
    pub uri: &'a str,
    /// The access token the request presents, if any: then `ath` is required
    /// and must be its hash (step 12, §4.2).
    pub access_token: Option<&'a str>,
    /// The nonces the verifier accepts. Empty: no nonce is required (one a
    /// proof carries anyway is ignored). Otherwise the proof's `nonce` must be
    /// one of them, or the result is [`DpopError::UseNonce`] (step 10).
    pub nonces: &'a [String],
    /// Accepted `alg` values (step 5); asymmetric only, by [`Algorithm`].
    pub algorithms: &'a [Algorithm],
    /// How old `iat` may be, in seconds (step 11).
    pub max_age_secs: u64,
    /// How far ahead of `now` `iat` may be, in seconds (clock skew).
    pub leeway_secs: u64,
}

/// A proof that passed every check of RFC 9449 §4.3 but the replay check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    /// The RFC 7638 SHA-256 thumbprint of the proof's key: `cnf.jkt` (§6.1).
    pub jkt: String,
    /// The proof's `jti`.
    pub jti: String,
    /// The proof's `iat`.
    pub iat: u64,
    /// The algorithm it was signed with.
    pub alg: Algorithm,
}

impl VerifiedProof {
    /// What a replay cache remembers (§11.1): SHA-256 over the key's
    /// thumbprint and the `jti`, so one key's `jti` cannot collide with
    /// another's, and the cache holds 32 bytes per proof whatever the `jti`.
    #[must_use]
    pub fn replay_key(&self) -> [u8; 32] {
        let mut input = Vec::with_capacity(self.jkt.len() + 1 + self.jti.len());
        input.extend_from_slice(self.jkt.as_bytes());
        input.push(b'.');
        input.extend_from_slice(self.jti.as_bytes());
        sha256(&input)
    }

    /// Until when (unix seconds) the proof could still pass the `iat` check,
    /// so how long its [`replay_key`](Self::replay_key) must be remembered.
    #[must_use]
    pub fn usable_until(&self, max_age_secs: u64) -> u64 {
        self.iat.saturating_add(max_age_secs).saturating_add(1)
    }
}

/// `ath` (RFC 9449 §4.2): "the base64url encoding of the SHA-256 hash of the
/// ASCII encoding of the associated access token's value".
#[must_use]
pub fn ath(access_token: &str) -> String {
    b64url(&sha256(access_token.as_bytes()))
}

/// Checks one DPoP proof (the value of the single `DPoP` header; that there is
/// exactly one is the caller's check, §4.3 step 1) against the request.
///
/// RFC 9449 §4.3, in order: one well-formed JWS (step 2); `typ` = `dpop+jwt`,
/// `alg`, `jwk`, `jti`, `htm`, `htu`, `iat` present (steps 3, 4); `alg`
/// asymmetric and accepted (step 5); the signature verifies with `jwk` (step
/// 6), which holds a public key only (step 7) of at least 2048 bits for RSA;
/// `htm` (step 8), `htu` (step 9), `nonce` (step 10), `iat` (step 11), `ath`
/// (step 12). Keys are compared by the caller through [`VerifiedProof::jkt`].
///
/// # Errors
/// [`DpopError::Invalid`] naming the failed check, or [`DpopError::UseNonce`].
pub fn verify(proof: &str, expect: &Expect<'_>, now: u64) -> Result<VerifiedProof, DpopError> {
    crate::install_crypto_provider();
    if proof.len() > MAX_PROOF_LEN {
        return Err(DpopError::invalid(format!(
            "the DPoP proof is longer than {MAX_PROOF_LEN} bytes"
        )));
    }
    let mut parts = proof.split('.');
    let (h64, p64, s64) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) if !h.is_empty() && !p.is_empty() => (h, p, s),
        _ => return Err(DpopError::invalid("the DPoP proof is not a compact JWS")),
    };
    let jose = |e: JoseError| DpopError::invalid(format!("the DPoP proof: {e}"));
    let header_bytes = decode_segment("header", h64).map_err(jose)?;
    let header = strict::parse_object(&header_bytes)
        .map_err(|e| DpopError::invalid(format!("the DPoP proof's header: {e}")))?;

    // Steps 3 and 4: typ is dpop+jwt (RFC 9449 §4.2), compared as RFC 7515
    // §4.1.9 compares media types: without case, `application/` optional.
    match header.get("typ") {
        Some(Value::String(t)) if t.eq_ignore_ascii_case(TYP) => {}
        Some(Value::String(t)) if t.eq_ignore_ascii_case("application/dpop+jwt") => {}
        _ => return Err(DpopError::invalid("the DPoP proof's typ must be dpop+jwt")),
    }
    // Step 5: asymmetric, not none, accepted here.
    let alg = match header.get("alg") {
        Some(Value::String(a)) => a
            .parse::<Algorithm>()
            .ok()
            .filter(|a| expect.algorithms.contains(a))
            .ok_or_else(|| {
                DpopError::invalid(format!(
                    "the DPoP proof's alg `{a}` is not one of {}",
                    names(expect.algorithms)
                ))
            })?,
        _ => return Err(DpopError::invalid("the DPoP proof has no alg")),
    };
    for name in FORBIDDEN_HEADERS {
        if header.contains_key(name) {
            return Err(DpopError::invalid(format!(
                "the DPoP proof's header may not carry `{name}`"
            )));
        }
    }
    let jwk = proof_key(&header, alg)?;

    // Step 6: the signature, with the key of the header.
    let signature = decode_segment("signature", s64).map_err(jose)?;
    let expected_len = check_key_fits(&jwk, alg).map_err(jose)?;
    if signature.len() != expected_len {
        return Err(DpopError::invalid("the DPoP proof's signature is invalid"));
    }
    verify_signature(proof, &jwk, alg).map_err(jose)?;

    // Claims.
    let payload = decode_segment("payload", p64).map_err(jose)?;
    let claims = strict::parse_object(&payload)
        .map_err(|e| DpopError::invalid(format!("the DPoP proof's claims: {e}")))?;
    let jti = string_claim(&claims, "jti")?;
    if jti.is_empty() || jti.len() > MAX_JTI_LEN {
        return Err(DpopError::invalid(format!(
            "the DPoP proof's jti must be 1 to {MAX_JTI_LEN} characters"
        )));
    }
    // Step 8: "the htm claim matches the HTTP method of the current request".
    if string_claim(&claims, "htm")? != expect.method {
        return Err(DpopError::invalid(format!(
            "the DPoP proof's htm is not {}",
            expect.method
        )));
    }
    // Step 9.
    if !htu_matches(string_claim(&claims, "htu")?, expect.uri) {
        return Err(DpopError::invalid(format!(
            "the DPoP proof's htu is not {}",
            without_query(expect.uri)
        )));
    }
    // Step 11 (checked before the nonce, so a stale proof is never answered
    // with a nonce to retry it with).
    let iat = numeric_date(&claims, "iat")
        .map_err(jose)?
        .ok_or_else(|| DpopError::invalid("the DPoP proof has no iat"))?;
    if iat > now.saturating_add(expect.leeway_secs) {
        return Err(DpopError::invalid("the DPoP proof's iat is in the future"));
    }
    if iat.saturating_add(expect.max_age_secs) < now {
        return Err(DpopError::invalid("the DPoP proof is too old"));
    }
    // Step 12 and §4.2: ath when an access token is presented.
    match (expect.access_token, claims.get("ath")) {
        (Some(token), Some(Value::String(found))) => {
            if !bool::from(subtle_eq(found.as_bytes(), ath(token).as_bytes())) {
                return Err(DpopError::invalid(
                    "the DPoP proof's ath is not the hash of the access token",
                ));
            }
        }
        (Some(_), _) => {
            return Err(DpopError::invalid(
                "the DPoP proof must carry ath when it comes with an access token",
            ));
        }
        (None, _) => {}
    }
    // Step 10.
    if !expect.nonces.is_empty() {
        match claims.get("nonce") {
            Some(Value::String(n))
                if n.len() <= MAX_NONCE_LEN
                    && expect
                        .nonces
                        .iter()
                        .any(|ok| bool::from(subtle_eq(ok.as_bytes(), n.as_bytes()))) => {}
            Some(Value::String(_)) | None => return Err(DpopError::UseNonce),
            Some(_) => return Err(DpopError::invalid("the DPoP proof's nonce is not a string")),
        }
    }
    let jkt = thumbprint(&jwk).map_err(jose)?;
    Ok(VerifiedProof {
        jkt,
        jti: jti.to_owned(),
        iat,
        alg,
    })
}

/// The `jwk` header: a public EC, RSA or OKP key (step 7), whose `alg`, if it
/// names one, is the proof's.
fn proof_key(header: &Map<String, Value>, alg: Algorithm) -> Result<Jwk, DpopError> {
    let Some(Value::Object(raw)) = header.get("jwk") else {
        return Err(DpopError::invalid(
            "the DPoP proof must carry its public key in the jwk header",
        ));
    };
    if let Some(member) = PRIVATE_MEMBERS.iter().find(|m| raw.contains_key(**m)) {
        return Err(DpopError::invalid(format!(
            "the DPoP proof's jwk carries the private member `{member}`"
        )));
    }
    let jwk: Jwk = serde_json::from_value(Value::Object(raw.clone()))
        .map_err(|e| DpopError::invalid(format!("the DPoP proof's jwk: {e}")))?;
    if !matches!(jwk.kty.as_str(), "EC" | "RSA" | "OKP") {
        return Err(DpopError::invalid(format!(
            "the DPoP proof's jwk has kty `{}`; it must be a public EC, RSA or OKP key",
            jwk.kty
        )));
    }
    if jwk.alg.as_deref().is_some_and(|a| a != alg.as_str()) {
        return Err(DpopError::invalid(
            "the DPoP proof's jwk is for another alg than the proof's",
        ));
    }
    if !jwk.usable_for_signatures() {
        return Err(DpopError::invalid(
            "the DPoP proof's jwk is not a signature key",
        ));
    }
    Ok(jwk)
}

fn string_claim<'a>(claims: &'a Map<String, Value>, name: &str) -> Result<&'a str, DpopError> {
    match claims.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(DpopError::invalid(format!(
            "the DPoP proof's {name} must be a string"
        ))),
        None => Err(DpopError::invalid(format!("the DPoP proof has no {name}"))),
    }
}

fn names(algorithms: &[Algorithm]) -> String {
    algorithms
        .iter()
        .map(Algorithm::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

fn subtle_eq(a: &[u8], b: &[u8]) -> subtle::Choice {
    use subtle::ConstantTimeEq as _;
    a.ct_eq(b)
}

/// RFC 9449 §4.3 step 9: "The htu claim matches the HTTP URI value for the
/// HTTP request in which the JWT was received, ignoring any query and fragment
/// parts", after the syntax-based and scheme-based normalisation the same
/// section asks for (RFC 3986 §6.2.2, §6.2.3): scheme and host case, default
/// port, empty path as `/`, dot segments, percent-encoding case and
/// unreserved characters decoded. Only `http` and `https` URIs match.
#[must_use]
pub fn htu_matches(htu: &str, request_uri: &str) -> bool {
    match (normalise(htu), normalise(request_uri)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// The URI a proof's `htu` carries for a request to `uri` (§4.2: "without
/// query and fragment parts").
#[must_use]
pub fn without_query(uri: &str) -> &str {
    let end = uri.find(['?', '#']).unwrap_or(uri.len());
    uri.get(..end).unwrap_or(uri)
}

fn normalise(uri: &str) -> Option<String> {
    // What a URL parser would quietly repair is no URI (RFC 3986 §2): a
    // backslash, a control character, a space.
    if uri.bytes().any(|b| b == b'\\' || b <= b' ' || b == 0x7f) {
        return None;
    }
    let url = url::Url::parse(without_query(uri)).ok()?;
    if !matches!(url.scheme(), "http" | "https")
        || url.cannot_be_a_base()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return None;
    }
    let host = url.host_str()?;
    let port = url.port_or_known_default()?;
    Some(format!(
        "{}://{}:{}{}",
        url.scheme(),
        host,
        port,
        normalise_escapes(url.path())
    ))
}

/// RFC 3986 §6.2.2.1–§6.2.2.2: hexadecimal digits of escapes in upper case,
/// escaped unreserved characters decoded.
fn normalise_escapes(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|c| (*c as char).to_digit(16)),
                bytes.get(i + 2).and_then(|c| (*c as char).to_digit(16)),
            )
        {
            let value = (h * 16 + l) as u8;
            if value.is_ascii_alphanumeric() || matches!(value, b'-' | b'.' | b'_' | b'~') {
                out.push(value as char);
            } else {
                out.push_str(&format!("%{value:02X}"));
            }
            i += 3;
            continue;
        }
        out.push(b as char);
        i += 1;
    }
    out
}

/// The public part of a key as a proof's `jwk` header carries it: the
/// members RFC 7638 hashes, nothing else.
fn header_jwk(jwk: &Jwk) -> Jwk {
    Jwk {
        kty: jwk.kty.clone(),
        kid: None,
        alg: None,
        use_: None,
        crv: jwk.crv.clone(),
        x: jwk.x.clone(),
        y: jwk.y.clone(),
        n: jwk.n.clone(),
        e: jwk.e.clone(),
    }
}

#[derive(serde::Serialize)]
struct ProofHeader {
    typ: &'static str,
    alg: &'static str,
    jwk: Jwk,
}

#[derive(serde::Serialize)]
struct ProofClaims<'a> {
    jti: &'a str,
    htm: &'a str,
    htu: &'a str,
    iat: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    ath: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
}

/// What a client's proof says (RFC 9449 §4.2).
#[derive(Debug, Clone, Copy)]
pub struct Proof<'a> {
    /// The request's method.
    pub method: &'a str,
    /// The request's URI; query and fragment are left out of `htu`.
    pub uri: &'a str,
    /// The access token sent with the request, if any (`ath`).
    pub access_token: Option<&'a str>,
    /// The server's nonce, if it gave one.
    pub nonce: Option<&'a str>,
    /// A fresh unique identifier (at least 96 bits of randomness, §4.2).
    pub jti: &'a str,
    /// Now, in unix seconds.
    pub iat: u64,
}

/// Makes a proof signed with `key` (RFC 9449 §4.2), for our clients.
///
/// # Errors
/// [`JoseError`] if the key cannot sign.
pub fn make(key: &SigningKey, proof: &Proof<'_>) -> Result<String, JoseError> {
    let header = serde_json::to_vec(&ProofHeader {
        typ: TYP,
        alg: key.alg().as_str(),
        jwk: header_jwk(key.public_jwk()),
    })?;
    let claims = serde_json::to_vec(&ProofClaims {
        jti: proof.jti,
        htm: proof.method,
        htu: without_query(proof.uri),
        iat: proof.iat,
        ath: proof.access_token.map(ath),
        nonce: proof.nonce,
    })?;
    let mut out = String::with_capacity((header.len() + claims.len()) * 4 / 3 + 200);
    B64.encode_string(&header, &mut out);
    out.push('.');
    B64.encode_string(&claims, &mut out);
    let signature = key.sign_raw(out.as_bytes())?;
    out.push('.');
    B64.encode_string(&signature, &mut out);
    Ok(out)
}

/// The thumbprint (`jkt`) of a client's proof key, for `dpop_jkt` (§10).
///
/// # Errors
/// [`JoseError::InvalidKey`] if the key has no thumbprint.
pub fn jkt(key: &SigningKey) -> Result<String, JoseError> {
    thumbprint(&header_jwk(key.public_jwk()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;
    const URI: &str = "https://as.example.com/token";

    fn key(alg: Algorithm) -> SigningKey {
        SigningKey::generate(alg).map(|(k, _)| k).unwrap()
    }

    fn expect<'a>(token: Option<&'a str>, nonces: &'a [String]) -> Expect<'a> {
        Expect {
            method: "POST",
            uri: URI,
            access_token: token,
            nonces,
            algorithms: &Algorithm::ALL,
            max_age_secs: 300,
            leeway_secs: 60,
        }
    }

    fn proof<'a>() -> Proof<'a> {
        Proof {
            method: "POST",
            uri: URI,
            access_token: None,
            nonce: None,
            jti: "jti-1",
            iat: NOW,
        }
    }

    /// A proof with a hand-made header and claims, signed by `key`.
    fn forged(key: &SigningKey, header: Value, claims: Value) -> String {
        let mut out = b64url(&serde_json::to_vec(&header).unwrap());
        out.push('.');
        out.push_str(&b64url(&serde_json::to_vec(&claims).unwrap()));
        let sig = key.sign_raw(out.as_bytes()).unwrap();
        out.push('.');
        out.push_str(&b64url(&sig));
        out
    }

    fn header_of(key: &SigningKey) -> Value {
        serde_json::json!({"typ": TYP, "alg": key.alg().as_str(), "jwk": header_jwk(key.public_jwk())})
    }

    fn claims() -> Value {
        serde_json::json!({"jti": "j", "htm": "POST", "htu": URI, "iat": NOW})
    }

    #[test]
    fn every_algorithm_round_trips_and_names_the_key() {
        for alg in Algorithm::ALL {
            let k = key(alg);
            let p = make(&k, &proof()).unwrap();
            let v = verify(&p, &expect(None, &[]), NOW).unwrap();
            assert_eq!(v.jkt, k.kid(), "{alg}");
            assert_eq!(v.jkt, jkt(&k).unwrap());
            assert_eq!((v.jti.as_str(), v.iat, v.alg), ("jti-1", NOW, alg));
        }
    }

    #[test]
    fn refused_proofs_say_which_check_failed() {
        let k = key(Algorithm::ES256);
        let other = key(Algorithm::ES256);
        let good = make(&k, &proof()).unwrap();
        let mut private = serde_json::to_value(header_jwk(k.public_jwk())).unwrap();
        private["d"] = Value::String("AAAA".into());
        let mut rsa_as_es = header_of(&k);
        rsa_as_es["jwk"] =
            serde_json::to_value(header_jwk(key(Algorithm::RS256).public_jwk())).unwrap();
        let mut no_jwk = header_of(&k);
        no_jwk.as_object_mut().unwrap().remove("jwk");
        let mut jku = header_of(&k);
        jku["jku"] = Value::String("https://evil.example/jwks".into());
        let mut other_key = header_of(&k);
        other_key["jwk"] = serde_json::to_value(header_jwk(other.public_jwk())).unwrap();
        let mut oct = header_of(&k);
        oct["jwk"] = serde_json::json!({"kty": "oct", "k": "c2VjcmV0"});
        let mut oct_public = header_of(&k);
        oct_public["jwk"] = serde_json::json!({"kty": "oct"});
        let with = |f: &dyn Fn(&mut Value)| {
            let mut c = claims();
            f(&mut c);
            forged(&k, header_of(&k), c)
        };
        let (hs, _) = good.split_once('.').unwrap();
        let none = format!(
            "{}.{}.",
            b64url(br#"{"typ":"dpop+jwt","alg":"none"}"#),
            good.split('.').nth(1).unwrap()
        );
        let cases: Vec<(&str, String, &str)> = vec![
            ("not a JWS", "abc".into(), "not a compact JWS"),
            ("alg none", none, "alg `none`"),
            ("typ JWT", forged(&k, serde_json::json!({"typ": "JWT", "alg": "ES256", "jwk": header_jwk(k.public_jwk())}), claims()), "typ must be dpop+jwt"),
            ("no typ", forged(&k, serde_json::json!({"alg": "ES256", "jwk": header_jwk(k.public_jwk())}), claims()), "typ must be dpop+jwt"),
            ("HS256", forged(&k, serde_json::json!({"typ": TYP, "alg": "HS256", "jwk": header_jwk(k.public_jwk())}), claims()), "alg `HS256`"),
            ("no jwk", forged(&k, no_jwk, claims()), "jwk header"),
            ("private jwk", forged(&k, serde_json::json!({"typ": TYP, "alg": "ES256", "jwk": private}), claims()), "private member `d`"),
            ("symmetric jwk", forged(&k, oct, claims()), "private member `k`"),
            ("oct without k", forged(&k, oct_public, claims()), "kty `oct`"),
            ("jku", forged(&k, jku, claims()), "may not carry `jku`"),
            ("key of the wrong type", forged(&k, rsa_as_es, claims()), "cannot verify ES256"),
            ("signed by another key", forged(&k, other_key, claims()), "signature"),
            ("tampered claims", format!("{hs}.{}.{}", b64url(br#"{"jti":"x","htm":"POST","htu":"https://as.example.com/token","iat":1800000000}"#), good.rsplit('.').next().unwrap()), "signature"),
            ("GET for POST", with(&|c| c["htm"] = "GET".into()), "htm is not POST"),
            ("other path", with(&|c| c["htu"] = "https://as.example.com/userinfo".into()), "htu is not"),
            ("other host", with(&|c| c["htu"] = "https://evil.example.com/token".into()), "htu is not"),
            ("http for https", with(&|c| c["htu"] = "http://as.example.com/token".into()), "htu is not"),
            ("no jti", with(&|c| { c.as_object_mut().unwrap().remove("jti"); }), "no jti"),
            ("empty jti", with(&|c| c["jti"] = "".into()), "jti must be"),
            ("numeric htm", with(&|c| c["htm"] = 1.into()), "htm must be a string"),
            ("no iat", with(&|c| { c.as_object_mut().unwrap().remove("iat"); }), "no iat"),
            ("stale iat", with(&|c| c["iat"] = (NOW - 301).into()), "too old"),
            ("future iat", with(&|c| c["iat"] = (NOW + 61).into()), "in the future"),
        ];
        for (name, p, text) in cases {
            match verify(&p, &expect(None, &[]), NOW) {
                Err(DpopError::Invalid(t)) => assert!(t.contains(text), "{name}: {t}"),
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn htu_ignores_query_fragment_and_normalises() {
        let accept = [
            ("https://as.example.com/token?x=1", URI),
            ("https://as.example.com/token#f", URI),
            ("HTTPS://AS.example.COM/token", URI),
            ("https://as.example.com:443/token", URI),
            ("https://as.example.com/a/../token", URI),
            ("https://as.example.com/%74oken", URI),
            ("https://as.example.com/", "https://as.example.com"),
            (
                "https://as.example.com/a%2fb",
                "https://as.example.com/a%2Fb",
            ),
        ];
        for (a, b) in accept {
            assert!(htu_matches(a, b), "{a} vs {b}");
        }
        let refuse = [
            ("https://as.example.com/Token", URI),
            ("https://as.example.com:8443/token", URI),
            ("https://as.example.com/token/", URI),
            ("https://as.example.com/a%2Fb", "https://as.example.com/a/b"),
            ("urn:x:y", "urn:x:y"),
            ("not a uri", "not a uri"),
            ("https://user@as.example.com/token", URI),
            ("https://as.example.com\\token", URI),
            ("https://as.example.com/to\tken", URI),
            (
                "https://as.example.com/to ken",
                "https://as.example.com/to%20ken",
            ),
        ];
        for (a, b) in refuse {
            assert!(!htu_matches(a, b), "{a} vs {b}");
        }
    }

    #[test]
    fn ath_is_required_with_a_token_and_must_be_its_hash() {
        let k = key(Algorithm::EdDSA);
        let with_token = Proof {
            access_token: Some("tok"),
            ..proof()
        };
        let p = make(&k, &with_token).unwrap();
        assert!(verify(&p, &expect(Some("tok"), &[]), NOW).is_ok());
        let refused = |p: &str, t| match verify(p, &expect(Some(t), &[]), NOW) {
            Err(DpopError::Invalid(text)) => text,
            other => panic!("{other:?}"),
        };
        assert!(refused(&p, "another").contains("ath is not the hash"));
        let bare = make(&k, &proof()).unwrap();
        assert!(refused(&bare, "tok").contains("must carry ath"));
        assert_eq!(ath("tok"), b64url(&sha256(b"tok")));
    }

    #[test]
    fn nonces_are_asked_for_and_checked() {
        let k = key(Algorithm::ES256);
        let nonces = vec!["n-new".to_owned(), "n-old".to_owned()];
        let bare = make(&k, &proof()).unwrap();
        assert_eq!(
            verify(&bare, &expect(None, &nonces), NOW),
            Err(DpopError::UseNonce)
        );
        let stale = make(
            &k,
            &Proof {
                nonce: Some("n-gone"),
                ..proof()
            },
        )
        .unwrap();
        assert_eq!(
            verify(&stale, &expect(None, &nonces), NOW),
            Err(DpopError::UseNonce)
        );
        for n in ["n-new", "n-old"] {
            let p = make(
                &k,
                &Proof {
                    nonce: Some(n),
                    ..proof()
                },
            )
            .unwrap();
            assert!(verify(&p, &expect(None, &nonces), NOW).is_ok(), "{n}");
        }
        assert!(
            verify(&stale, &expect(None, &[]), NOW).is_ok(),
            "no nonce required"
        );
        assert_eq!(DpopError::UseNonce.code(), "use_dpop_nonce");
        assert_eq!(
            DpopError::Invalid(String::new()).code(),
            "invalid_dpop_proof"
        );
    }

    #[test]
    fn replay_keys_differ_per_key_and_jti() {
        let k1 = key(Algorithm::ES256);
        let k2 = key(Algorithm::ES256);
        let v = |k: &SigningKey, jti| {
            verify(
                &make(k, &Proof { jti, ..proof() }).unwrap(),
                &expect(None, &[]),
                NOW,
            )
            .unwrap()
        };
        let a = v(&k1, "same");
        assert_eq!(a.replay_key(), v(&k1, "same").replay_key());
        assert_ne!(a.replay_key(), v(&k2, "same").replay_key());
        assert_ne!(a.replay_key(), v(&k1, "other").replay_key());
        assert_eq!(a.usable_until(300), NOW + 301);
    }

    #[test]
    fn the_made_proof_has_no_query_and_only_public_members() {
        let k = key(Algorithm::RS256);
        let p = make(
            &k,
            &Proof {
                uri: "https://as.example.com/token?a=b#c",
                ..proof()
            },
        )
        .unwrap();
        let mut parts = p.split('.');
        let header: Value =
            serde_json::from_slice(&B64.decode(parts.next().unwrap()).unwrap()).unwrap();
        let claims: Value =
            serde_json::from_slice(&B64.decode(parts.next().unwrap()).unwrap()).unwrap();
        assert_eq!(claims["htu"], URI);
        let mut members: Vec<_> = header["jwk"].as_object().unwrap().keys().cloned().collect();
        members.sort();
        assert_eq!(members, ["e", "kty", "n"]);
        assert_eq!(header["typ"], TYP);
    }
}
