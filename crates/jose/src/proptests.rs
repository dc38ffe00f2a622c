//! Property tests (SECURITY.md §5.8 F1/F2, the stable counterpart of
//! `fuzz/`): sign → verify round trips for every algorithm, any single-byte
//! change of a signed token is refused, duplicate members are refused behind a
//! valid signature, and `verify` never panics on arbitrary strings. Case
//! counts are kept small so the suite stays fast.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::{Value, json};

use crate::*;

const ISS: &str = "https://idp.example";
const AUD: &str = "https://rs.example";
const NOW: u64 = 4_000_000_000;

fn key(alg: Algorithm) -> &'static SigningKey {
    static KEYS: [OnceLock<SigningKey>; 4] = [
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
    ];
    let i = Algorithm::ALL.iter().position(|a| *a == alg).unwrap();
    KEYS[i].get_or_init(|| SigningKey::generate(alg).unwrap().0)
}

fn jwks() -> &'static Jwks {
    static J: OnceLock<Jwks> = OnceLock::new();
    J.get_or_init(|| Jwks {
        keys: Algorithm::ALL
            .iter()
            .map(|a| key(*a).public_jwk().clone())
            .collect(),
    })
}

fn expect() -> Expectations {
    Expectations {
        issuer: ISS.to_owned(),
        audience: Some(vec![AUD.to_owned()]),
        typ: Some("at+jwt".to_owned()),
        forbidden_typ: vec![],
        algorithms: Algorithm::ALL.to_vec(),
        leeway_secs: 30,
        require_iat: true,
    }
}

fn check(token: &str) -> Result<(Header, Value), JoseError> {
    verify(token, jwks(), &expect(), NOW)
}

fn algorithm() -> impl Strategy<Value = Algorithm> {
    prop::sample::select(Algorithm::ALL.to_vec())
}

fn claims(sub: &str, extra: &str) -> Value {
    json!({
        "iss": ISS, "aud": AUD, "sub": sub, "exp": NOW + 300, "iat": NOW,
        "jti": "j", "client_id": "c", "x": extra,
    })
}

fn token(alg: Algorithm) -> &'static str {
    static T: [OnceLock<String>; 4] = [
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
    ];
    let i = Algorithm::ALL.iter().position(|a| *a == alg).unwrap();
    T[i].get_or_init(|| key(alg).sign(Some("at+jwt"), &claims("s", "")).unwrap())
}

/// Signs an arbitrary header and payload (JSON text) with `alg`'s key.
fn forge(alg: Algorithm, header: &str, payload: &str) -> String {
    let input = format!(
        "{}.{}",
        b64url(header.as_bytes()),
        b64url(payload.as_bytes())
    );
    let sig = key(alg).sign_raw(input.as_bytes()).unwrap();
    format!("{input}.{}", b64url(&sig))
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn sign_then_verify_round_trips(alg in algorithm(), sub in ".{0,40}", extra in any::<String>()) {
        let t = key(alg).sign(Some("at+jwt"), &claims(&sub, &extra)).unwrap();
        let (header, got) = check(&t).unwrap();
        prop_assert_eq!(header.alg, alg.as_str());
        prop_assert_eq!(header.kid.as_deref(), Some(key(alg).kid()));
        prop_assert_eq!(got, claims(&sub, &extra));
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn any_single_byte_change_is_refused(alg in algorithm(), at in any::<Index>(), byte in any::<u8>()) {
        let original = token(alg).as_bytes();
        let mut t = original.to_vec();
        let i = at.index(t.len());
        prop_assume!(t[i] != byte);
        t[i] = byte;
        let t = String::from_utf8_lossy(&t);
        prop_assert!(check(&t).is_err(), "accepted {}", t);
    }

    #[test]
    fn deleting_or_inserting_a_byte_is_refused(alg in algorithm(), at in any::<Index>(), byte in any::<u8>(), insert in any::<bool>()) {
        let mut t = token(alg).as_bytes().to_vec();
        if insert {
            t.insert(at.index(t.len() + 1), byte);
        } else {
            t.remove(at.index(t.len()));
        }
        prop_assert!(check(&String::from_utf8_lossy(&t)).is_err());
    }

    #[test]
    fn verify_never_panics_on_arbitrary_strings(s in any::<String>()) {
        prop_assert!(check(&s).is_err());
    }

    #[test]
    fn verify_never_panics_on_token_shaped_strings(s in "[A-Za-z0-9_=+/-]{0,120}(\\.[A-Za-z0-9_=+/-]{0,120}){0,3}") {
        prop_assert!(check(&s).is_err());
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// RFC 7515 §5.2 / RFC 7519 §4: a repeated member name in the header or
    /// the claims is refused even when the signature is good.
    #[test]
    fn duplicate_members_are_refused(
        alg in algorithm(),
        name in prop::sample::select(vec!["alg", "kid", "typ", "iss", "sub", "aud", "exp", "x-1"]),
        in_header in any::<bool>(),
    ) {
        let k = key(alg);
        let mut header = json!({"alg": alg.as_str(), "kid": k.kid(), "typ": "at+jwt"}).to_string();
        let mut payload = claims("s", "").to_string();
        let target = if in_header { &mut header } else { &mut payload };
        // Re-state the member with its own value when present, so only the
        // repetition is wrong.
        let v: Value = serde_json::from_str(target).unwrap();
        let value = v.get(name).cloned().unwrap_or(json!("v"));
        target.pop();
        target.push_str(&format!(",{}:{}}}", json!(name), value));
        if v.get(name).is_none() {
            target.pop();
            target.push_str(&format!(",{}:{}}}", json!(name), value));
        }
        let forged = forge(alg, &header, &payload);
        prop_assert!(matches!(check(&forged), Err(JoseError::Malformed(_))));
        // Control: without the repetition the same forgery verifies.
        let clean = forge(
            alg,
            &json!({"alg": alg.as_str(), "kid": k.kid(), "typ": "at+jwt"}).to_string(),
            &claims("s", "").to_string(),
        );
        prop_assert!(check(&clean).is_ok());
    }

    /// Base64url is strict (RFC 7515 §2): padding, the standard alphabet or a
    /// BOM/space in any segment is refused.
    #[test]
    fn non_canonical_base64url_is_refused(alg in algorithm(), segment in 0usize..3, how in 0u8..4) {
        let parts: Vec<&str> = token(alg).split('.').collect();
        let mut parts: Vec<String> = parts.into_iter().map(str::to_owned).collect();
        let s = &mut parts[segment];
        match how {
            0 => s.push('='),
            1 => s.insert(0, '\u{feff}'),
            2 => s.insert(s.len() / 2, ' '),
            _ => {
                // The same bits in the standard alphabet, or '+' for a letter.
                *s = if s.contains(['-', '_']) {
                    s.replace('-', "+").replace('_', "/")
                } else {
                    format!("+{}", &s[1..])
                };
            }
        }
        prop_assert!(check(&parts.join(".")).is_err());
    }
}

proptest! {
    #![proptest_config(config(128))]

    /// F2: a JWKS parses back equal after serialization, and never re-emits a
    /// private member, whatever members the input carried.
    #[test]
    fn jwks_round_trips_and_drops_private_members(
        kty in prop::sample::select(vec!["EC", "RSA", "OKP", "oct", ""]),
        members in prop::collection::vec(
            (prop::sample::select(vec!["kid", "alg", "use", "crv", "x", "y", "n", "e", "d", "p", "q", "dp", "dq", "qi", "k", "oth"]), "[A-Za-z0-9_-]{0,12}"),
            0..8,
        ),
    ) {
        let mut obj = serde_json::Map::new();
        obj.insert("kty".into(), json!(kty));
        for (name, value) in members {
            obj.insert(name.into(), json!(value));
        }
        let doc = json!({"keys": [Value::Object(obj)]}).to_string();
        let jwks: Jwks = serde_json::from_str(&doc).unwrap();
        let out = serde_json::to_value(&jwks).unwrap();
        for name in out["keys"][0].as_object().unwrap().keys() {
            prop_assert!(["kty", "kid", "alg", "use", "crv", "x", "y", "n", "e"].contains(&name.as_str()));
        }
        let again: Jwks = serde_json::from_value(out).unwrap();
        prop_assert_eq!(&again, &jwks);
        prop_assert_eq!(thumbprint(&again.keys[0]).ok(), thumbprint(&jwks.keys[0]).ok());
        // Against a set holding only this key, none of our tokens verifies.
        for alg in Algorithm::ALL {
            prop_assert!(verify::<Value>(token(alg), &jwks, &expect(), NOW).is_err());
        }
    }

    /// F8: the DPoP proof check never panics on arbitrary input, nor on a
    /// valid proof with one byte changed (which it refuses).
    #[test]
    fn f8_dpop_verify_never_panics(
        input in ".{0,400}",
        at in any::<Index>(),
        byte in any::<u8>(),
    ) {
        let expect = dpop::Expect {
            method: "POST",
            uri: "https://as.example/token",
            access_token: Some("tok"),
            nonces: &[],
            algorithms: &Algorithm::ALL,
            max_age_secs: 300,
            leeway_secs: 60,
        };
        let _ = dpop::verify(&input, &expect, NOW);
        let proof = dpop::make(key(Algorithm::ES256), &dpop::Proof {
            method: "POST",
            uri: "https://as.example/token",
            access_token: Some("tok"),
            nonce: None,
            jti: "j",
            iat: NOW,
        }).unwrap();
        let mut bytes = proof.clone().into_bytes();
        let i = at.index(bytes.len());
        if bytes[i] != byte {
            bytes[i] = byte;
            if let Ok(changed) = String::from_utf8(bytes) {
                prop_assert!(dpop::verify(&changed, &expect, NOW).is_err());
            }
        }
        prop_assert!(dpop::verify(&proof, &expect, NOW).is_ok());
    }

    /// F8: `htu` matching ignores exactly the query and the fragment: any
    /// query or fragment on either side matches, any other path does not.
    #[test]
    fn f8_htu_ignores_only_query_and_fragment(
        path in "(/[a-z0-9]{1,8}){0,3}",
        other in "(/[a-z0-9]{1,8}){1,3}",
        query in "[a-z0-9=&]{0,12}",
        fragment in "[a-z0-9]{0,8}",
    ) {
        let base = format!("https://as.example{path}");
        let decorated = format!("{base}?{query}#{fragment}");
        let with_query = format!("{base}?{query}");
        let elsewhere = format!("https://as.example{other}");
        prop_assert!(dpop::htu_matches(&decorated, &base));
        prop_assert!(dpop::htu_matches(&base, &with_query));
        if other != path {
            prop_assert!(!dpop::htu_matches(&elsewhere, &base));
        }
    }
}
