//! F1: compact JWS verification (`frontdesk_jose::verify`) with a fixed JWKS.
//!
//! Modes (first byte):
//! * 0 — the bytes as a token: never a panic, never accepted (nobody outside
//!   this process knows the keys).
//! * 1 — arbitrary header and payload bytes (split at the first NUL), signed
//!   here with the fixture's Ed25519 or P-256 key, so the fuzzer reaches the
//!   header and claims checks behind the signature.
//! * 2 — like 1, but the fuzz bytes extend a valid header and a valid claim
//!   set (duplicate members, forbidden headers, odd types).
//! * 3 — a token signed by the library for one of the four algorithms with
//!   byte edits applied: any change is refused.
//!
//! Oracle for an accepted token: header and payload are JSON objects without
//! duplicate member names (RFC 7515 §5.2), `alg` is the key's, no `crit`,
//! `jku`, `jwk`, `x5u`, `x5c`, `kid` the key's, `typ` not forbidden, and the
//! claims pass `iss`/`aud`/`exp`/`nbf`/`iat` at the fixed `now`.

use std::sync::OnceLock;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
use frontdesk_jose::{Algorithm, Expectations, Jwks, SigningKey, b64url, verify};
use serde_json::{Map, Value, json};

use crate::{has_duplicates, split_at_byte, top_level_members};

pub const ISS: &str = "https://idp.example";
pub const AUD: &str = "https://rs.example";
pub const NOW: u64 = 4_000_000_000;
pub const LEEWAY: u64 = 30;
const FORBIDDEN_TYP: &str = "logout+jwt";

pub struct Fixture {
    /// One library key per algorithm, in `Algorithm::ALL` order.
    pub keys: Vec<SigningKey>,
    /// A valid token per key.
    pub tokens: Vec<String>,
    pub jwks: Jwks,
    pub expect: Expectations,
    ed: Ed25519KeyPair,
    ec: EcdsaKeyPair,
}

pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let mut keys = Vec::new();
        let mut ders = Vec::new();
        for alg in Algorithm::ALL {
            let (k, der) = SigningKey::generate(alg).unwrap();
            keys.push(k);
            ders.push(der);
        }
        let pos = |a: Algorithm| Algorithm::ALL.iter().position(|x| *x == a).unwrap();
        let ed = Ed25519KeyPair::from_pkcs8(&ders[pos(Algorithm::EdDSA)]).unwrap();
        let ec = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            &ders[pos(Algorithm::ES256)],
        )
        .unwrap();
        let claims = json!({"iss": ISS, "aud": AUD, "sub": "s", "exp": NOW + 300, "iat": NOW});
        let tokens = keys
            .iter()
            .map(|k| k.sign(Some("at+jwt"), &claims).unwrap())
            .collect();
        let jwks = Jwks {
            keys: keys.iter().map(|k| k.public_jwk().clone()).collect(),
        };
        let expect = Expectations {
            issuer: ISS.to_owned(),
            audience: Some(vec![AUD.to_owned()]),
            typ: None,
            forbidden_typ: vec![FORBIDDEN_TYP.to_owned()],
            algorithms: Algorithm::ALL.to_vec(),
            leeway_secs: LEEWAY,
        };
        Fixture {
            keys,
            tokens,
            jwks,
            expect,
            ed,
            ec,
        }
    })
}

impl Fixture {
    fn key(&self, alg: Algorithm) -> &SigningKey {
        self.keys.iter().find(|k| k.alg() == alg).unwrap()
    }

    /// `b64(header).b64(payload).b64(sig)` signed with the Ed25519 or P-256 key.
    fn forge(&self, alg: Algorithm, header: &[u8], payload: &[u8]) -> String {
        let input = format!("{}.{}", b64url(header), b64url(payload));
        let sig = match alg {
            Algorithm::EdDSA => self
                .ed
                .try_sign(input.as_bytes())
                .unwrap()
                .as_ref()
                .to_vec(),
            _ => self
                .ec
                .sign(&SystemRandom::new(), input.as_bytes())
                .unwrap()
                .as_ref()
                .to_vec(),
        };
        format!("{input}.{}", b64url(&sig))
    }
}

fn verify_value(token: &str) -> bool {
    let f = fixture();
    verify::<Value>(token, &f.jwks, &f.expect, NOW).is_ok()
}

pub fn check(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let f = fixture();
    match mode % 4 {
        0 => {
            let token = String::from_utf8_lossy(rest);
            assert!(!verify_value(&token), "an unsigned token was accepted");
        }
        1 | 2 => {
            let Some((&pick, rest)) = rest.split_first() else {
                return;
            };
            let alg = if pick & 1 == 0 {
                Algorithm::EdDSA
            } else {
                Algorithm::ES256
            };
            let (h, p) = split_at_byte(rest, 0);
            let (header, payload) = if mode % 4 == 1 {
                (h.to_vec(), p.to_vec())
            } else {
                let k = f.key(alg);
                let mut header = format!(r#"{{"alg":"{}","kid":"{}""#, alg, k.kid()).into_bytes();
                header.extend_from_slice(h);
                header.push(b'}');
                let mut payload = format!(
                    r#"{{"iss":"{ISS}","aud":"{AUD}","exp":{},"iat":{NOW}"#,
                    NOW + 300
                )
                .into_bytes();
                payload.extend_from_slice(p);
                payload.push(b'}');
                (header, payload)
            };
            let token = f.forge(alg, &header, &payload);
            if verify_value(&token) {
                accepted_is_sound(alg, &header, &payload);
            }
        }
        _ => {
            let Some((&pick, edits)) = rest.split_first() else {
                return;
            };
            let i = usize::from(pick) % f.tokens.len();
            let original = f.tokens[i].as_bytes();
            let mut t = original.to_vec();
            for e in edits.chunks_exact(3).take(8) {
                let pos = usize::from(u16::from_le_bytes([e[0], e[1]]));
                match (e[0] >> 6, t.is_empty()) {
                    (0 | 1, false) => {
                        let at = pos % t.len();
                        t[at] = e[2];
                    }
                    (2, _) => t.insert(pos % (t.len() + 1), e[2]),
                    (_, false) => {
                        t.remove(pos % t.len());
                    }
                    _ => {}
                }
            }
            if t != original {
                let token = String::from_utf8_lossy(&t);
                assert!(
                    token.as_bytes() == original || !verify_value(&token),
                    "a modified token was accepted"
                );
            }
        }
    }
}

fn object(bytes: &[u8], what: &str) -> Map<String, Value> {
    let names =
        top_level_members(bytes).unwrap_or_else(|| panic!("accepted {what} is not a JSON object"));
    assert!(
        !has_duplicates(&names),
        "accepted {what} has duplicate members: {names:?}"
    );
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(m)) => m,
        _ => panic!("accepted {what} is not a JSON object"),
    }
}

fn date(claims: &Map<String, Value>, name: &str) -> Option<f64> {
    claims.get(name).map(|v| {
        let d = v
            .as_f64()
            .unwrap_or_else(|| panic!("accepted `{name}` is not a number"));
        assert!(d >= 0.0, "accepted negative `{name}`");
        d.trunc()
    })
}

fn accepted_is_sound(alg: Algorithm, header: &[u8], payload: &[u8]) {
    let f = fixture();
    let h = object(header, "header");
    assert_eq!(h.get("alg").and_then(Value::as_str), Some(alg.as_str()));
    for name in ["crit", "jku", "jwk", "x5u", "x5c"] {
        assert!(!h.contains_key(name), "accepted a header with `{name}`");
    }
    match h.get("kid") {
        None => {}
        Some(Value::String(kid)) => assert_eq!(kid, f.key(alg).kid()),
        Some(other) => panic!("accepted a non-string kid {other}"),
    }
    match h.get("typ") {
        None => {}
        Some(Value::String(t)) => {
            let t = t.trim().to_ascii_lowercase();
            assert!(
                t != FORBIDDEN_TYP && t != format!("application/{FORBIDDEN_TYP}"),
                "accepted a forbidden typ"
            );
        }
        Some(other) => panic!("accepted a non-string typ {other}"),
    }

    let c = object(payload, "payload");
    assert_eq!(c.get("iss").and_then(Value::as_str), Some(ISS));
    let now = NOW as f64;
    let leeway = LEEWAY as f64;
    let exp = date(&c, "exp").expect("accepted without exp");
    assert!(exp + leeway >= now, "accepted an expired token");
    let iat = date(&c, "iat").expect("accepted without iat");
    assert!(iat <= now + leeway, "accepted a token issued in the future");
    if let Some(nbf) = date(&c, "nbf") {
        assert!(nbf <= now + leeway, "accepted a token before nbf");
    }
    let aud_ok = match c.get("aud") {
        Some(Value::String(a)) => a == AUD,
        Some(Value::Array(items)) => {
            assert!(items.iter().all(Value::is_string), "non-string aud entry");
            items.iter().any(|a| a.as_str() == Some(AUD))
        }
        _ => false,
    };
    assert!(aud_ok, "accepted a token for another audience");
}
