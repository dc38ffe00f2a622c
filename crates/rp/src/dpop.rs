//! The client side of DPoP (RFC 9449): a proof key per session or login,
//! proofs with a fresh `jti` and the current `iat`, the server nonces it was
//! given (§8), and resource requests with the `DPoP` scheme (§7.1).
//!
//! Proofs are made by `frontdesk_jose::dpop::make`, the one implementation
//! the server and the resource kit check them with; this module only decides
//! what goes into them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use frontdesk_jose::{Algorithm, SigningKey, dpop};
use frontdesk_resource::{Answer, FetchError, HttpClient};

use crate::authorize::random_token;
use crate::error::RpError;

/// Bytes of randomness in a proof's `jti`: 128 bits, above the 96 that
/// RFC 9449 §4.2 asks for.
const JTI_BYTES: usize = 16;

/// Longest nonce remembered from a `DPoP-Nonce` header (the server's own
/// bound for what it accepts in a proof, `frontdesk_jose::dpop::MAX_NONCE_LEN`).
const MAX_NONCE_LEN: usize = dpop::MAX_NONCE_LEN;

/// Servers whose nonces one key remembers (an authorization server and a
/// few resource servers in practice); beyond this the map starts over.
const MAX_SERVERS: usize = 32;

/// The current time in unix seconds.
pub type Clock = fn() -> u64;

/// One DPoP proof key (ES256 by default) and the nonces servers gave it.
///
/// Cheap to clone: clones share the key and the nonces. A key lives as long
/// as the tokens bound to it are used — one per demo session, one per
/// `frontdesk login` — and never leaves the client but as the public `jwk`
/// of its proofs (or through [`DpopKey::pkcs8`], for a client that has to
/// keep it on disk).
#[derive(Clone)]
pub struct DpopKey {
    inner: Arc<Inner>,
    clock: Clock,
}

struct Inner {
    key: SigningKey,
    /// PKCS#8 DER of the private key.
    pkcs8: Vec<u8>,
    jkt: String,
    /// The latest nonce of each server (RFC 9449 §8: "the client […] MUST
    /// use the new nonce value" in its next proof to that server), keyed by
    /// origin (`scheme://host:port`).
    nonces: Mutex<HashMap<String, String>>,
}

impl std::fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopKey")
            .field("alg", &self.inner.key.alg())
            .field("jkt", &self.inner.jkt)
            .finish_non_exhaustive()
    }
}

fn proof_error(e: impl std::fmt::Display) -> RpError {
    RpError::Proof(e.to_string())
}

impl DpopKey {
    /// A new ES256 (P-256) key.
    ///
    /// # Errors
    /// [`RpError::Proof`] if key generation fails.
    pub fn generate() -> Result<DpopKey, RpError> {
        DpopKey::generate_with(Algorithm::ES256)
    }

    /// A new key for `alg` (ES256, EdDSA, PS256 or RS256).
    ///
    /// # Errors
    /// [`RpError::Proof`] if key generation fails.
    pub fn generate_with(alg: Algorithm) -> Result<DpopKey, RpError> {
        let (key, pkcs8) = SigningKey::generate(alg).map_err(proof_error)?;
        DpopKey::from_parts(key, pkcs8)
    }

    /// A key kept earlier ([`DpopKey::pkcs8`]).
    ///
    /// # Errors
    /// [`RpError::Proof`] if `der` is not a private key for `alg`.
    pub fn from_pkcs8(alg: Algorithm, der: &[u8]) -> Result<DpopKey, RpError> {
        let key = SigningKey::from_pkcs8(alg, der).map_err(proof_error)?;
        DpopKey::from_parts(key, der.to_vec())
    }

    fn from_parts(key: SigningKey, pkcs8: Vec<u8>) -> Result<DpopKey, RpError> {
        let jkt = dpop::jkt(&key).map_err(proof_error)?;
        Ok(DpopKey {
            inner: Arc::new(Inner {
                key,
                pkcs8,
                jkt,
                nonces: Mutex::new(HashMap::new()),
            }),
            clock: frontdesk_resource::unix_now,
        })
    }

    /// The same key (sharing its nonces) reading the time from `clock`,
    /// for tests.
    #[must_use]
    pub fn with_clock(&self, clock: Clock) -> DpopKey {
        DpopKey {
            inner: Arc::clone(&self.inner),
            clock,
        }
    }

    /// The key's algorithm.
    #[must_use]
    pub fn alg(&self) -> Algorithm {
        self.inner.key.alg()
    }

    /// The RFC 7638 thumbprint of the public key: the `cnf.jkt` of the
    /// tokens bound to it (RFC 9449 §6.1), and `dpop_jkt` (§10).
    #[must_use]
    pub fn jkt(&self) -> &str {
        &self.inner.jkt
    }

    /// The private key as PKCS#8 DER, for a client that must keep it
    /// (`frontdesk login --dpop-key`). Secret: store it like the tokens.
    #[must_use]
    pub fn pkcs8(&self) -> &[u8] {
        &self.inner.pkcs8
    }

    /// The nonce last received from the server of `url`, if any.
    #[must_use]
    pub fn nonce_for(&self, url: &str) -> Option<String> {
        let origin = origin(url)?;
        self.inner.nonces.lock().ok()?.get(&origin).cloned()
    }

    /// Remembers `nonce` as the server of `url`'s latest (RFC 9449 §8).
    /// Values longer than a server would accept back are ignored.
    pub fn remember_nonce(&self, url: &str, nonce: &str) {
        if nonce.is_empty() || nonce.len() > MAX_NONCE_LEN || !nonce.is_ascii() {
            return;
        }
        let (Some(origin), Ok(mut map)) = (origin(url), self.inner.nonces.lock()) else {
            return;
        };
        if map.len() >= MAX_SERVERS && !map.contains_key(&origin) {
            map.clear();
        }
        map.insert(origin, nonce.to_owned());
    }

    /// Remembers the `DPoP-Nonce` of an answer from `url`, if it has one.
    pub fn note_answer(&self, url: &str, answer: &Answer) {
        if let Some(n) = &answer.dpop_nonce {
            self.remember_nonce(url, n);
        }
    }

    /// A proof for one request (RFC 9449 §4.2): `htm` = `method`, `htu` =
    /// `url` without query and fragment, a fresh random `jti`, `iat` = now,
    /// `ath` when an access token goes with the request, and the latest
    /// nonce of that server when it gave one.
    ///
    /// # Errors
    /// [`RpError::Random`] or [`RpError::Proof`].
    pub fn proof(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
    ) -> Result<String, RpError> {
        let jti = random_token(JTI_BYTES)?;
        let nonce = self.nonce_for(url);
        dpop::make(
            &self.inner.key,
            &dpop::Proof {
                method,
                uri: url,
                access_token,
                nonce: nonce.as_deref(),
                jti: &jti,
                iat: (self.clock)(),
            },
        )
        .map_err(proof_error)
    }

    /// The two headers of a request to a protected resource with a
    /// DPoP-bound token (RFC 9449 §7.1): `Authorization: DPoP <token>` and a
    /// proof with `ath`.
    ///
    /// # Errors
    /// As [`DpopKey::proof`].
    pub fn resource_headers(
        &self,
        method: &str,
        url: &str,
        access_token: &str,
    ) -> Result<ResourceHeaders, RpError> {
        Ok(ResourceHeaders {
            authorization: format!("DPoP {access_token}"),
            dpop: self.proof(method, url, Some(access_token))?,
        })
    }
}

/// What a request to a protected resource carries with a DPoP-bound token.
#[derive(Clone, PartialEq, Eq)]
pub struct ResourceHeaders {
    /// The `Authorization` value: `DPoP <token>`.
    pub authorization: String,
    /// The `DPoP` header: the proof.
    pub dpop: String,
}

impl std::fmt::Debug for ResourceHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResourceHeaders { … }")
    }
}

/// Whether `token_type` (RFC 6749 §5.1, case-insensitive per §7.1) is DPoP.
#[must_use]
pub fn is_dpop(token_type: &str) -> bool {
    token_type.eq_ignore_ascii_case("dpop")
}

/// The nonce a token endpoint asks for (RFC 9449 §8): a 400 whose OAuth
/// `error` is `use_dpop_nonce`, with a `DPoP-Nonce` header.
#[must_use]
pub fn token_endpoint_nonce(answer: &Answer) -> Option<&str> {
    #[derive(serde::Deserialize)]
    struct Error {
        error: String,
    }
    if answer.status != 400 {
        return None;
    }
    let e: Error = answer.json().ok()?;
    (e.error == "use_dpop_nonce")
        .then_some(answer.dpop_nonce.as_deref())
        .flatten()
}

/// The nonce a protected resource asks for (RFC 9449 §9): a 401 with a
/// `DPoP-Nonce` header and a `DPoP` challenge whose `error` is
/// `use_dpop_nonce`.
#[must_use]
pub fn resource_nonce(answer: &Answer) -> Option<&str> {
    if answer.status != 401 {
        return None;
    }
    answer
        .www_authenticate
        .iter()
        .any(|c| dpop_challenge_error(c) == Some("use_dpop_nonce"))
        .then_some(answer.dpop_nonce.as_deref())
        .flatten()
}

/// The `error` auth-param of a `DPoP` challenge (RFC 9449 §7.1, RFC 9110
/// §11.6.1: `DPoP error="…", …`), or `None` for another scheme. Only this
/// one parameter is read, as a quoted string or a token, and only when the
/// header holds a single challenge (the one a resource server answers with).
fn dpop_challenge_error(challenge: &str) -> Option<&str> {
    let (scheme, params) = challenge.trim_start().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("dpop") {
        return None;
    }
    let mut rest = params;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return None;
        }
        let (name, after) = rest.split_once('=')?;
        let name = name.trim();
        let after = after.trim_start();
        let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
            // A quoted-string; `\` escapes one character (RFC 9110 §5.6.4).
            let bytes = quoted.as_bytes();
            let mut i = 0;
            let mut escaped = false;
            while i < bytes.len() {
                match bytes[i] {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => break,
                    _ => {}
                }
                i += 1;
            }
            (quoted.get(..i)?, quoted.get(i + 1..)?)
        } else {
            let end = after.find([',', ' ']).unwrap_or(after.len());
            (after.get(..end)?, after.get(end..)?)
        };
        if name.eq_ignore_ascii_case("error") {
            return Some(value);
        }
        rest = tail;
    }
}

/// `scheme://host:port` of `url`: what a nonce belongs to.
fn origin(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    Some(format!(
        "{}://{}:{}",
        u.scheme(),
        u.host_str()?,
        u.port_or_known_default()?
    ))
}

/// GET a protected resource with `access_token` as the token endpoint
/// issued it: with `token_type` DPoP, `Authorization: DPoP` and a proof of
/// `key` (RFC 9449 §7.1), retried once with the resource's nonce when it
/// answers `use_dpop_nonce` (§9); with Bearer (RFC 6750 §2.1), no proof.
/// The answer is returned whatever its status.
///
/// # Errors
/// [`RpError::Config`] for a DPoP token without a key; a proof or
/// transport error.
pub async fn get_resource(
    http: &HttpClient,
    key: Option<&DpopKey>,
    url: &str,
    access_token: &str,
    token_type: &str,
) -> Result<Answer, RpError> {
    let transport = |cause: FetchError| RpError::Unreachable {
        endpoint: "resource",
        cause,
    };
    if !is_dpop(token_type) {
        return http.get(url, Some(access_token)).await.map_err(transport);
    }
    let Some(key) = key else {
        return Err(RpError::Config(
            "a DPoP-bound access token needs its proof key".to_owned(),
        ));
    };
    let mut retried = false;
    loop {
        let h = key.resource_headers("GET", url, access_token)?;
        let answer = http
            .get_with(url, Some(&h.authorization), Some(&h.dpop))
            .await
            .map_err(transport)?;
        key.note_answer(url, &answer);
        if !retried && resource_nonce(&answer).is_some() {
            retried = true;
            continue;
        }
        return Ok(answer);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use frontdesk_jose::dpop::{Expect, verify};

    const NOW: u64 = 1_800_000_000;
    const TOKEN_URL: &str = "https://as.example.com/token";

    fn fixed() -> u64 {
        NOW
    }

    fn key() -> DpopKey {
        DpopKey::generate().unwrap().with_clock(fixed)
    }

    fn expect<'a>(
        method: &'a str,
        uri: &'a str,
        token: Option<&'a str>,
        nonces: &'a [String],
    ) -> Expect<'a> {
        Expect {
            method,
            uri,
            access_token: token,
            nonces,
            algorithms: &Algorithm::ALL,
            max_age_secs: 300,
            leeway_secs: 0,
        }
    }

    fn claims(proof: &str) -> serde_json::Value {
        use base64::Engine as _;
        let payload = proof.split('.').nth(1).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap()
    }

    fn answer(status: u16, body: &str, nonce: Option<&str>, challenge: &[&str]) -> Answer {
        Answer {
            status,
            body: body.as_bytes().to_vec(),
            max_age: None,
            dpop_nonce: nonce.map(str::to_owned),
            www_authenticate: challenge.iter().map(|c| (*c).to_owned()).collect(),
        }
    }

    #[test]
    fn proofs_verify_with_the_clock_and_a_fresh_jti_each() {
        let k = key();
        assert_eq!(k.alg(), Algorithm::ES256);
        let a = k.proof("POST", TOKEN_URL, None).unwrap();
        let b = k.proof("POST", TOKEN_URL, None).unwrap();
        let va = verify(&a, &expect("POST", TOKEN_URL, None, &[]), NOW).unwrap();
        let vb = verify(&b, &expect("POST", TOKEN_URL, None, &[]), NOW).unwrap();
        assert_eq!(va.jkt, k.jkt());
        assert_eq!(va.iat, NOW);
        assert_ne!(va.jti, vb.jti, "a fresh jti per proof");
        assert!(va.jti.len() >= 22, "128 bits of randomness: {}", va.jti);
        // The fixed clock: ten minutes on, the proof is too old.
        assert!(verify(&a, &expect("POST", TOKEN_URL, None, &[]), NOW + 600).is_err());
        assert!(claims(&a).get("nonce").is_none());
        assert!(claims(&a).get("ath").is_none());
    }

    #[test]
    fn nonces_are_kept_per_server_and_replaced_by_the_latest() {
        let k = key();
        k.remember_nonce("https://as.example.com/token?x=1", "n1");
        assert_eq!(k.nonce_for(TOKEN_URL).as_deref(), Some("n1"));
        assert_eq!(
            k.nonce_for("https://AS.example.com:443/userinfo")
                .as_deref(),
            Some("n1"),
            "one origin"
        );
        assert_eq!(k.nonce_for("https://as.example.com:8443/token"), None);
        assert_eq!(k.nonce_for("https://api.example.com/photos"), None);
        let p = k.proof("POST", TOKEN_URL, None).unwrap();
        assert_eq!(claims(&p)["nonce"], "n1");
        let nonces = vec!["n1".to_owned()];
        assert!(verify(&p, &expect("POST", TOKEN_URL, None, &nonces), NOW).is_ok());

        k.note_answer(TOKEN_URL, &answer(200, "{}", Some("n2"), &[]));
        assert_eq!(k.nonce_for(TOKEN_URL).as_deref(), Some("n2"));
        k.note_answer(TOKEN_URL, &answer(200, "{}", None, &[]));
        assert_eq!(k.nonce_for(TOKEN_URL).as_deref(), Some("n2"), "kept");
        k.remember_nonce(TOKEN_URL, &"x".repeat(MAX_NONCE_LEN + 1));
        k.remember_nonce(TOKEN_URL, "");
        assert_eq!(k.nonce_for(TOKEN_URL).as_deref(), Some("n2"), "ignored");
        // Clones share the nonces.
        let c = k.clone();
        c.remember_nonce(TOKEN_URL, "n3");
        assert_eq!(k.nonce_for(TOKEN_URL).as_deref(), Some("n3"));
    }

    #[test]
    fn resource_headers_use_the_dpop_scheme_and_ath() {
        let k = key();
        let url = "https://api.example.com/photos?page=2";
        let h = k.resource_headers("GET", url, "tok").unwrap();
        assert_eq!(h.authorization, "DPoP tok");
        let v = verify(&h.dpop, &expect("GET", url, Some("tok"), &[]), NOW).unwrap();
        assert_eq!(v.jkt, k.jkt());
        assert_eq!(claims(&h.dpop)["htu"], "https://api.example.com/photos");
        assert!(!format!("{h:?}").contains("tok"));
    }

    #[test]
    fn the_key_survives_its_pkcs8() {
        let k = key();
        let back = DpopKey::from_pkcs8(k.alg(), k.pkcs8()).unwrap();
        assert_eq!(back.jkt(), k.jkt());
        assert!(DpopKey::from_pkcs8(Algorithm::ES256, b"junk").is_err());
        let ed = DpopKey::generate_with(Algorithm::EdDSA).unwrap();
        assert_ne!(ed.jkt(), k.jkt());
        assert!(!format!("{k:?}").contains(&format!("{:?}", k.pkcs8())));
    }

    #[test]
    fn nonce_requests_are_recognised_exactly() {
        let body = r#"{"error":"use_dpop_nonce","error_description":"x"}"#;
        assert_eq!(
            token_endpoint_nonce(&answer(400, body, Some("n"), &[])),
            Some("n")
        );
        assert_eq!(token_endpoint_nonce(&answer(400, body, None, &[])), None);
        assert_eq!(
            token_endpoint_nonce(&answer(401, body, Some("n"), &[])),
            None
        );
        let other = r#"{"error":"invalid_dpop_proof"}"#;
        assert_eq!(
            token_endpoint_nonce(&answer(400, other, Some("n"), &[])),
            None
        );

        let asks = r#"DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof""#;
        assert_eq!(
            resource_nonce(&answer(401, "", Some("n"), &[asks])),
            Some("n")
        );
        assert_eq!(
            resource_nonce(&answer(401, "", Some("n"), &["Bearer realm=\"x\"", asks])),
            Some("n")
        );
        assert_eq!(resource_nonce(&answer(401, "", None, &[asks])), None);
        assert_eq!(resource_nonce(&answer(403, "", Some("n"), &[asks])), None);
        let cases = [
            (r#"Bearer error="use_dpop_nonce""#, None),
            (
                r#"DPoP error="invalid_dpop_proof""#,
                Some("invalid_dpop_proof"),
            ),
            (
                r#"DPoP realm="a \" error=\"use_dpop_nonce", error="invalid_token""#,
                Some("invalid_token"),
            ),
            (
                r#"dpop algs="ES256", error=use_dpop_nonce"#,
                Some("use_dpop_nonce"),
            ),
            ("DPoP realm=\"x\"", None),
            ("DPoP", None),
        ];
        for (c, want) in cases {
            assert_eq!(dpop_challenge_error(c), want, "{c}");
        }
        assert!(is_dpop("DPoP") && is_dpop("dpop") && !is_dpop("Bearer"));
    }
}
