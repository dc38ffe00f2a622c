#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::OnceLock;

use serde_json::json;

use crate::*;

const ISS: &str = "https://idp.example";
const AUD: &str = "https://rs.example";
/// A fixed "now" far in the future so that plain `jsonwebtoken::decode` (which
/// reads the real clock for `exp`) also accepts our tokens.
const NOW: u64 = 4_000_000_000;
const LEEWAY: u64 = 30;

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

fn jwks_of(keys: &[&SigningKey]) -> Jwks {
    Jwks {
        keys: keys.iter().map(|k| k.public_jwk().clone()).collect(),
    }
}

fn claims() -> AccessTokenClaims {
    AccessTokenClaims {
        iss: ISS.to_owned(),
        sub: "user-1".to_owned(),
        aud: Audience::from(AUD),
        exp: NOW + 300,
        iat: NOW,
        jti: "jti-1".to_owned(),
        client_id: "client-1".to_owned(),
        scope: Some("openid profile".to_owned()),
        auth_time: Some(NOW - 10),
        acr: None,
        amr: Some(vec!["pwd".to_owned()]),
        cnf: None,
        groups: None,
        act: None,
        may_act: None,
    }
}

fn expect_at() -> Expectations {
    Expectations {
        issuer: ISS.to_owned(),
        audience: Some(vec![AUD.to_owned()]),
        typ: Some("at+jwt".to_owned()),
        forbidden_typ: vec![],
        algorithms: Algorithm::ALL.to_vec(),
        leeway_secs: LEEWAY,
        require_iat: true,
    }
}

fn es() -> &'static SigningKey {
    key(Algorithm::ES256)
}

fn verify_es(token: &str) -> Result<(Header, AccessTokenClaims), JoseError> {
    verify(token, &jwks_of(&[es()]), &expect_at(), NOW)
}

/// Signs an arbitrary header and payload (JSON text) with `key`.
fn forge(key: &SigningKey, header: &str, payload: &str) -> String {
    let input = format!(
        "{}.{}",
        b64url(header.as_bytes()),
        b64url(payload.as_bytes())
    );
    let sig = key.sign_raw(input.as_bytes()).unwrap();
    format!("{input}.{}", b64url(&sig))
}

fn es_header(extra: &str) -> String {
    format!(
        r#"{{"alg":"ES256","kid":"{}","typ":"at+jwt"{extra}}}"#,
        es().kid()
    )
}

fn claims_json() -> String {
    serde_json::to_string(&claims()).unwrap()
}

fn claims_with(f: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>)) -> String {
    let mut v = serde_json::to_value(claims()).unwrap();
    f(v.as_object_mut().unwrap());
    v.to_string()
}

// ---------------------------------------------------------------- round trips

#[test]
fn every_algorithm_round_trips_and_jsonwebtoken_agrees() {
    install_crypto_provider();
    for alg in Algorithm::ALL {
        let k = key(alg);
        assert_eq!(k.alg(), alg);
        let token = k.sign(Some("at+jwt"), &claims()).unwrap();

        // Our verifier.
        let (header, got): (Header, AccessTokenClaims) =
            verify(&token, &jwks_of(&[k]), &expect_at(), NOW).unwrap();
        assert_eq!(got, claims(), "{alg}");
        assert_eq!(header.alg, alg.as_str());
        assert_eq!(header.kid.as_deref(), Some(k.kid()));
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));

        // Independent check of the signer: plain jsonwebtoken.
        let jwk: jsonwebtoken::jwk::Jwk =
            serde_json::from_value(serde_json::to_value(k.public_jwk()).unwrap()).unwrap();
        let dk = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
        let mut v = jsonwebtoken::Validation::new(alg.to_jsonwebtoken());
        v.set_audience(&[AUD]);
        v.set_issuer(&[ISS]);
        v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<AccessTokenClaims>(&token, &dk, &v).unwrap();
        assert_eq!(data.claims, claims(), "{alg}");
        assert_eq!(data.header.kid.as_deref(), Some(k.kid()));
        assert_eq!(data.header.typ.as_deref(), Some("at+jwt"));
    }
}

#[test]
fn header_layout_and_typ_omitted_when_none() {
    let token = es().sign(None, &claims()).unwrap();
    let h64 = token.split('.').next().unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&base64::Engine::decode(&B64, h64).unwrap()).unwrap();
    assert_eq!(header, json!({"alg": "ES256", "kid": es().kid()}));
    let token = es().sign(Some("at+jwt"), &claims()).unwrap();
    let h64 = token.split('.').next().unwrap();
    let header: serde_json::Value =
        serde_json::from_slice(&base64::Engine::decode(&B64, h64).unwrap()).unwrap();
    assert_eq!(
        header,
        json!({"alg": "ES256", "kid": es().kid(), "typ": "at+jwt"})
    );
}

#[test]
fn signature_lengths() {
    for (alg, len) in [
        (Algorithm::ES256, 64),
        (Algorithm::EdDSA, 64),
        (Algorithm::RS256, 256),
        (Algorithm::PS256, 256),
    ] {
        let token = key(alg).sign(None, &claims()).unwrap();
        let sig = token.rsplit('.').next().unwrap();
        assert_eq!(
            base64::Engine::decode(&B64, sig).unwrap().len(),
            len,
            "{alg}"
        );
    }
}

#[test]
fn from_pkcs8_yields_same_kid_and_verifiable_signatures() {
    for alg in Algorithm::ALL {
        let (k, der) = SigningKey::generate(alg).unwrap();
        let k2 = SigningKey::from_pkcs8(alg, &der).unwrap();
        assert_eq!(k.kid(), k2.kid(), "{alg}");
        assert_eq!(k.public_jwk(), k2.public_jwk(), "{alg}");
        let token = k2.sign(Some("at+jwt"), &claims()).unwrap();
        let _: (Header, AccessTokenClaims) =
            verify(&token, &jwks_of(&[&k]), &expect_at(), NOW).unwrap();
    }
}

#[test]
fn from_pkcs8_rejects_wrong_key_type_and_garbage() {
    let (_, ec_der) = SigningKey::generate(Algorithm::ES256).unwrap();
    assert!(matches!(
        SigningKey::from_pkcs8(Algorithm::RS256, &ec_der),
        Err(JoseError::InvalidKey(_))
    ));
    assert!(matches!(
        SigningKey::from_pkcs8(Algorithm::EdDSA, &ec_der),
        Err(JoseError::InvalidKey(_))
    ));
    assert!(matches!(
        SigningKey::from_pkcs8(Algorithm::ES256, b"not a key"),
        Err(JoseError::InvalidKey(_))
    ));
}

#[test]
fn kid_is_thumbprint_of_public_jwk() {
    for alg in Algorithm::ALL {
        let k = key(alg);
        assert_eq!(thumbprint(k.public_jwk()).unwrap(), k.kid());
        assert_eq!(k.public_jwk().kid.as_deref(), Some(k.kid()));
    }
}

#[test]
fn thumbprint_matches_rfc7638_example() {
    // RFC 7638 §3.1.
    let jwk: Jwk = serde_json::from_value(json!({
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    }))
    .unwrap();
    assert_eq!(
        thumbprint(&jwk).unwrap(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
}

#[test]
fn thumbprint_rfc8037_ed25519_example() {
    // RFC 8037 Appendix A.3.
    let jwk: Jwk = serde_json::from_value(json!({
        "kty": "OKP", "crv": "Ed25519",
        "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    }))
    .unwrap();
    assert_eq!(
        thumbprint(&jwk).unwrap(),
        "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    );
}

#[test]
fn thumbprint_rejects_incomplete_or_unknown_keys() {
    let jwk: Jwk = serde_json::from_value(json!({"kty": "EC", "crv": "P-256", "x": "AA"})).unwrap();
    assert!(matches!(thumbprint(&jwk), Err(JoseError::InvalidKey(_))));
    let jwk: Jwk = serde_json::from_value(json!({"kty": "oct", "k": "AA"})).unwrap();
    assert!(matches!(thumbprint(&jwk), Err(JoseError::InvalidKey(_))));
}

#[test]
fn public_jwk_has_no_private_members() {
    for alg in Algorithm::ALL {
        let k = key(alg);
        let v = serde_json::to_value(k.public_jwk()).unwrap();
        let obj = v.as_object().unwrap();
        for private in ["d", "p", "q", "dp", "dq", "qi", "k", "oth"] {
            assert!(!obj.contains_key(private), "{alg} leaks {private}");
        }
        assert_eq!(obj["use"], "sig");
        assert_eq!(obj["alg"], alg.as_str());
        let expected: &[&str] = match alg {
            Algorithm::ES256 => &["alg", "crv", "kid", "kty", "use", "x", "y"],
            Algorithm::RS256 | Algorithm::PS256 => &["alg", "e", "kid", "kty", "n", "use"],
            Algorithm::EdDSA => &["alg", "crv", "kid", "kty", "use", "x"],
        };
        let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        assert_eq!(keys, expected, "{alg}");
    }
    let jwk = key(Algorithm::RS256).public_jwk();
    assert_eq!(jwk.kty, "RSA");
    assert_eq!(jwk.e.as_deref(), Some("AQAB"));
    assert_eq!(
        key(Algorithm::EdDSA).public_jwk().crv.as_deref(),
        Some("Ed25519")
    );
    assert_eq!(es().public_jwk().crv.as_deref(), Some("P-256"));
}

#[test]
fn private_members_in_input_are_dropped() {
    let jwk: Jwk = serde_json::from_value(json!({
        "kty": "OKP", "crv": "Ed25519", "x": "abc", "d": "secret"
    }))
    .unwrap();
    assert!(!serde_json::to_string(&jwk).unwrap().contains("secret"));
}

#[test]
fn debug_does_not_print_key_material() {
    for alg in Algorithm::ALL {
        let (k, der) = SigningKey::generate(alg).unwrap();
        let dbg = format!("{k:?}");
        assert!(dbg.contains(k.kid()));
        assert!(!dbg.contains(&b64url(&der)));
        assert!(dbg.len() < 200, "{dbg}");
    }
}

#[test]
fn signing_key_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SigningKey>();
    assert_send_sync::<Jwks>();
}

#[test]
fn sign_rejects_non_object_claims() {
    assert!(matches!(
        es().sign(None, &[1, 2]),
        Err(JoseError::InvalidClaim(_))
    ));
    assert!(matches!(
        es().sign(None, &"x"),
        Err(JoseError::InvalidClaim(_))
    ));
}

// ---------------------------------------------------------------- algorithm attacks

#[test]
fn rejects_alg_none_in_any_case() {
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = format!(r#"{{"alg":"{alg}","kid":"{}","typ":"at+jwt"}}"#, es().kid());
        let token = format!(
            "{}.{}.",
            b64url(header.as_bytes()),
            b64url(claims_json().as_bytes())
        );
        match verify_es(&token) {
            Err(JoseError::UnsupportedAlgorithm(a)) => assert_eq!(a, alg),
            other => panic!("{alg}: {other:?}"),
        }
        // Also without kid.
        let header = format!(r#"{{"alg":"{alg}"}}"#);
        let token = format!(
            "{}.{}.",
            b64url(header.as_bytes()),
            b64url(claims_json().as_bytes())
        );
        assert!(matches!(
            verify_es(&token),
            Err(JoseError::UnsupportedAlgorithm(_))
        ));
    }
}

#[test]
fn rejects_hs256_signed_with_public_key_bytes() {
    use aws_lc_rs::hmac;
    for k in [es(), key(Algorithm::RS256)] {
        let jwk = k.public_jwk();
        let candidates: Vec<Vec<u8>> = vec![
            serde_json::to_vec(jwk).unwrap(),
            jwk.x
                .as_deref()
                .or(jwk.n.as_deref())
                .unwrap()
                .as_bytes()
                .to_vec(),
        ];
        for secret in candidates {
            let header = format!(r#"{{"alg":"HS256","kid":"{}","typ":"at+jwt"}}"#, k.kid());
            let input = format!(
                "{}.{}",
                b64url(header.as_bytes()),
                b64url(claims_json().as_bytes())
            );
            let tag = hmac::sign(
                &hmac::Key::new(hmac::HMAC_SHA256, &secret),
                input.as_bytes(),
            );
            let token = format!("{input}.{}", b64url(tag.as_ref()));
            match verify::<AccessTokenClaims>(&token, &jwks_of(&[k]), &expect_at(), NOW) {
                Err(JoseError::UnsupportedAlgorithm(a)) => assert_eq!(a, "HS256"),
                other => panic!("{other:?}"),
            }
        }
    }
}

#[test]
fn rejects_unknown_algorithm_names_and_wrong_case() {
    for alg in ["ES384", "RS512", "es256", "EDDSA", "HS512", ""] {
        let token = forge(
            es(),
            &format!(r#"{{"alg":"{alg}","kid":"{}","typ":"at+jwt"}}"#, es().kid()),
            &claims_json(),
        );
        assert!(
            matches!(verify_es(&token), Err(JoseError::UnsupportedAlgorithm(_))),
            "{alg}"
        );
    }
}

#[test]
fn rejects_header_alg_differing_from_jwk_alg() {
    // A PS256 key published as RS256: the key's alg wins, the header's PS256 is refused.
    let ps = key(Algorithm::PS256);
    let mut jwk = ps.public_jwk().clone();
    jwk.alg = Some("RS256".to_owned());
    let jwks = Jwks { keys: vec![jwk] };
    let token = ps.sign(Some("at+jwt"), &claims()).unwrap();
    match verify::<AccessTokenClaims>(&token, &jwks, &expect_at(), NOW) {
        Err(JoseError::AlgorithmMismatch { header, key }) => {
            assert_eq!((header.as_str(), key.as_str()), ("PS256", "RS256"));
        }
        other => panic!("{other:?}"),
    }

    // An EC key id with an RS256 header, signed by the RSA key.
    let rs = key(Algorithm::RS256);
    let token = forge(
        rs,
        &format!(r#"{{"alg":"RS256","kid":"{}","typ":"at+jwt"}}"#, es().kid()),
        &claims_json(),
    );
    assert!(matches!(
        verify::<AccessTokenClaims>(&token, &jwks_of(&[es(), rs]), &expect_at(), NOW),
        Err(JoseError::AlgorithmMismatch { .. })
    ));
}

#[test]
fn rsa_jwk_without_alg_means_rs256_only() {
    let rs = key(Algorithm::RS256);
    let mut jwk = rs.public_jwk().clone();
    jwk.alg = None;
    let jwks = Jwks { keys: vec![jwk] };
    let token = rs.sign(Some("at+jwt"), &claims()).unwrap();
    let _: (Header, AccessTokenClaims) = verify(&token, &jwks, &expect_at(), NOW).unwrap();

    let ps = key(Algorithm::PS256);
    let mut jwk = ps.public_jwk().clone();
    jwk.alg = None;
    let jwks = Jwks { keys: vec![jwk] };
    let token = ps.sign(Some("at+jwt"), &claims()).unwrap();
    assert!(matches!(
        verify::<AccessTokenClaims>(&token, &jwks, &expect_at(), NOW),
        Err(JoseError::AlgorithmMismatch { .. })
    ));
}

#[test]
fn ec_and_okp_jwks_without_alg_are_derived() {
    for alg in [Algorithm::ES256, Algorithm::EdDSA] {
        let k = key(alg);
        let mut jwk = k.public_jwk().clone();
        jwk.alg = None;
        jwk.use_ = None;
        let token = k.sign(Some("at+jwt"), &claims()).unwrap();
        let _: (Header, AccessTokenClaims) =
            verify(&token, &Jwks { keys: vec![jwk] }, &expect_at(), NOW).unwrap();
    }
}

#[test]
fn rejects_algorithm_not_in_expectations() {
    let token = es().sign(Some("at+jwt"), &claims()).unwrap();
    let mut e = expect_at();
    e.algorithms = vec![Algorithm::RS256, Algorithm::EdDSA];
    match verify::<AccessTokenClaims>(&token, &jwks_of(&[es()]), &e, NOW) {
        Err(JoseError::UnsupportedAlgorithm(a)) => assert_eq!(a, "ES256"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn rejects_key_with_wrong_use_or_type() {
    let token = es().sign(Some("at+jwt"), &claims()).unwrap();
    let mut jwk = es().public_jwk().clone();
    jwk.use_ = Some("enc".to_owned());
    assert!(matches!(
        verify::<AccessTokenClaims>(&token, &Jwks { keys: vec![jwk] }, &expect_at(), NOW),
        Err(JoseError::UnknownKey)
    ));
    // A JWK claiming ES256 but holding an RSA key.
    let mut jwk = key(Algorithm::RS256).public_jwk().clone();
    jwk.alg = Some("ES256".to_owned());
    jwk.kid = Some(es().kid().to_owned());
    assert!(matches!(
        verify::<AccessTokenClaims>(&token, &Jwks { keys: vec![jwk] }, &expect_at(), NOW),
        Err(JoseError::InvalidKey(_))
    ));
}

// ---------------------------------------------------------------- key selection

#[test]
fn rejects_unknown_kid() {
    let token = forge(
        es(),
        r#"{"alg":"ES256","kid":"no-such-key","typ":"at+jwt"}"#,
        &claims_json(),
    );
    assert!(matches!(verify_es(&token), Err(JoseError::UnknownKey)));
    let token = es().sign(Some("at+jwt"), &claims()).unwrap();
    assert!(matches!(
        verify::<AccessTokenClaims>(&token, &Jwks::default(), &expect_at(), NOW),
        Err(JoseError::UnknownKey)
    ));
}

#[test]
fn token_without_kid_uses_the_single_compatible_key() {
    let token = forge(es(), r#"{"alg":"ES256","typ":"at+jwt"}"#, &claims_json());
    let jwks = jwks_of(&[key(Algorithm::RS256), es(), key(Algorithm::EdDSA)]);
    let (h, _): (Header, AccessTokenClaims) = verify(&token, &jwks, &expect_at(), NOW).unwrap();
    assert_eq!(h.kid, None);

    let (other_es, _) = SigningKey::generate(Algorithm::ES256).unwrap();
    let jwks = jwks_of(&[es(), &other_es]);
    assert!(matches!(
        verify::<AccessTokenClaims>(&token, &jwks, &expect_at(), NOW),
        Err(JoseError::UnknownKey)
    ));
}

#[test]
fn key_rotation_picks_key_by_kid() {
    let (other_es, _) = SigningKey::generate(Algorithm::ES256).unwrap();
    let jwks = jwks_of(&[&other_es, es()]);
    for k in [es(), &other_es] {
        let token = k.sign(Some("at+jwt"), &claims()).unwrap();
        let (h, _): (Header, AccessTokenClaims) = verify(&token, &jwks, &expect_at(), NOW).unwrap();
        assert_eq!(h.kid.as_deref(), Some(k.kid()));
    }
    // Signed by one key but naming the other one's kid.
    let token = forge(&other_es, &es_header(""), &claims_json());
    assert!(matches!(
        verify::<AccessTokenClaims>(&token, &jwks, &expect_at(), NOW),
        Err(JoseError::InvalidSignature)
    ));
}

// ---------------------------------------------------------------- signature and structure

#[test]
fn rejects_tampered_payload() {
    let token = es().sign(Some("at+jwt"), &claims()).unwrap();
    let mut parts: Vec<&str> = token.split('.').collect();
    let mut c = claims();
    c.sub = "admin".to_owned();
    let forged = b64url(serde_json::to_string(&c).unwrap().as_bytes());
    parts[1] = &forged;
    assert!(matches!(
        verify_es(&parts.join(".")),
        Err(JoseError::InvalidSignature)
    ));
    for alg in Algorithm::ALL {
        let k = key(alg);
        let token = k.sign(Some("at+jwt"), &claims()).unwrap();
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[1] = forged.clone();
        assert!(
            matches!(
                verify::<AccessTokenClaims>(&parts.join("."), &jwks_of(&[k]), &expect_at(), NOW),
                Err(JoseError::InvalidSignature)
            ),
            "{alg}"
        );
    }
}

#[test]
fn rejects_tampered_signature() {
    for alg in Algorithm::ALL {
        let k = key(alg);
        let token = k.sign(Some("at+jwt"), &claims()).unwrap();
        let (input, sig) = token.rsplit_once('.').unwrap();
        let mut sig = base64::Engine::decode(&B64, sig).unwrap();
        sig[10] ^= 1;
        let token = format!("{input}.{}", b64url(&sig));
        assert!(
            matches!(
                verify::<AccessTokenClaims>(&token, &jwks_of(&[k]), &expect_at(), NOW),
                Err(JoseError::InvalidSignature)
            ),
            "{alg}"
        );
    }
}

#[test]
fn rejects_truncated_signature() {
    for alg in Algorithm::ALL {
        let k = key(alg);
        let token = k.sign(Some("at+jwt"), &claims()).unwrap();
        // The signature bytes truncated (re-encoded as valid base64url).
        let (input, sig) = token.rsplit_once('.').unwrap();
        let sig = base64::Engine::decode(&B64, sig).unwrap();
        let short = format!("{input}.{}", b64url(&sig[..sig.len() - 3]));
        assert!(
            matches!(
                verify::<AccessTokenClaims>(&short, &jwks_of(&[k]), &expect_at(), NOW),
                Err(JoseError::InvalidSignature)
            ),
            "{alg}"
        );
        // Empty signature.
        let (input, _) = token.rsplit_once('.').unwrap();
        assert!(matches!(
            verify::<AccessTokenClaims>(&format!("{input}."), &jwks_of(&[k]), &expect_at(), NOW),
            Err(JoseError::InvalidSignature)
        ));
    }
    // ES256: 86 characters; dropping one leaves an impossible base64 length.
    let token = es().sign(Some("at+jwt"), &claims()).unwrap();
    assert!(matches!(
        verify_es(&token[..token.len() - 1]),
        Err(JoseError::Malformed(_))
    ));
}

#[test]
fn rejects_padding_and_non_base64url_characters() {
    let token = es().sign(Some("at+jwt"), &claims()).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    for i in 0..3 {
        for suffix in ["=", "==", "+", "/", " ", "%3D"] {
            let mut p: Vec<String> = parts.iter().map(|s| (*s).to_owned()).collect();
            p[i].push_str(suffix);
            assert!(
                matches!(verify_es(&p.join(".")), Err(JoseError::Malformed(_))),
                "segment {i} suffix {suffix:?}"
            );
        }
    }
    // A padded header that is otherwise what the signer would produce (re-signed).
    let header = es_header("");
    let padded = base64::engine::general_purpose::URL_SAFE.encode(header.as_bytes());
    if padded.ends_with('=') {
        let input = format!("{padded}.{}", b64url(claims_json().as_bytes()));
        let sig = es().sign_raw(input.as_bytes()).unwrap();
        assert!(matches!(
            verify_es(&format!("{input}.{}", b64url(&sig))),
            Err(JoseError::Malformed(_))
        ));
    }
    // Standard alphabet instead of URL-safe.
    let std_sig = base64::engine::general_purpose::STANDARD_NO_PAD
        .encode(base64::Engine::decode(&B64, parts[2]).unwrap());
    if std_sig != parts[2] {
        let t = format!("{}.{}.{std_sig}", parts[0], parts[1]);
        assert!(matches!(verify_es(&t), Err(JoseError::Malformed(_))));
    }
}

use base64::Engine as _;

#[test]
fn rejects_wrong_segment_count_and_garbage() {
    let token = es().sign(Some("at+jwt"), &claims()).unwrap();
    for bad in [
        String::new(),
        "a.b".to_owned(),
        "a.b.c.d".to_owned(),
        format!("{token}.x"),
        format!("{token}."),
        ".x.y".to_owned(),
        "e30..".to_owned(),
        format!("{}.{}.x", b64url(b"not json"), b64url(b"{}")),
        format!("{}.{}.x", b64url(b"[1]"), b64url(b"{}")),
    ] {
        assert!(
            matches!(verify_es(&bad), Err(JoseError::Malformed(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn rejects_tokens_over_64_kib() {
    let mut big = serde_json::to_value(claims()).unwrap();
    big["pad"] = json!("x".repeat(MAX_TOKEN_LEN));
    let token = es().sign(Some("at+jwt"), &big).unwrap();
    assert!(token.len() > MAX_TOKEN_LEN);
    match verify_es(&token) {
        Err(JoseError::Malformed(m)) => assert!(m.contains("longer"), "{m}"),
        other => panic!("{other:?}"),
    }
    // Just under the limit still works.
    let mut ok = serde_json::to_value(claims()).unwrap();
    ok["pad"] = json!("x".repeat(40_000));
    let token = es().sign(Some("at+jwt"), &ok).unwrap();
    assert!(token.len() <= MAX_TOKEN_LEN);
    verify_es(&token).unwrap();
}

#[test]
fn rejects_duplicate_header_members() {
    let header = format!(
        r#"{{"alg":"ES256","kid":"{}","typ":"at+jwt","alg":"ES256"}}"#,
        es().kid()
    );
    let token = forge(es(), &header, &claims_json());
    assert!(matches!(verify_es(&token), Err(JoseError::Malformed(_))));
    let header = format!(
        r#"{{"alg":"none","kid":"{}","typ":"at+jwt","alg":"ES256"}}"#,
        es().kid()
    );
    let token = forge(es(), &header, &claims_json());
    assert!(matches!(verify_es(&token), Err(JoseError::Malformed(_))));
    let header = format!(
        r#"{{"alg":"ES256","kid":"{}","typ":"JWT","typ":"at+jwt"}}"#,
        es().kid()
    );
    let token = forge(es(), &header, &claims_json());
    assert!(matches!(verify_es(&token), Err(JoseError::Malformed(_))));
}

#[test]
fn rejects_duplicate_claims() {
    let payload = claims_json().replacen('{', r#"{"iss":"https://evil.example","#, 1);
    let token = forge(es(), &es_header(""), &payload);
    assert!(matches!(verify_es(&token), Err(JoseError::Malformed(_))));
}

#[test]
fn rejects_crit_and_key_locating_headers() {
    for (extra, name) in [
        (r#","crit":["exp"],"exp":1"#, "crit"),
        (r#","crit":["b64"],"b64":false"#, "crit"),
        (r#","jku":"https://evil.example/jwks""#, "jku"),
        (r#","x5u":"https://evil.example/cert""#, "x5u"),
        (r#","jwk":{"kty":"OKP","crv":"Ed25519","x":"AA"}"#, "jwk"),
        (r#","x5c":["MIIB"]"#, "x5c"),
    ] {
        let token = forge(es(), &es_header(extra), &claims_json());
        match verify_es(&token) {
            Err(JoseError::ForbiddenHeader(n)) => assert_eq!(n, name),
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn rejects_non_string_header_members() {
    for header in [
        r#"{"alg":["ES256"]}"#.to_owned(),
        r#"{"kid":"x"}"#.to_owned(),
        format!(r#"{{"alg":"ES256","kid":"{}","typ":1}}"#, es().kid()),
        r#"{"alg":"ES256","kid":7}"#.to_owned(),
    ] {
        let token = forge(es(), &header, &claims_json());
        assert!(
            matches!(verify_es(&token), Err(JoseError::Malformed(_))),
            "{header}"
        );
    }
}

// ---------------------------------------------------------------- claims

#[test]
fn rejects_wrong_issuer() {
    for iss in [
        "https://evil.example",
        "https://idp.example/",
        "HTTPS://IDP.EXAMPLE",
        "",
    ] {
        let mut c = claims();
        c.iss = iss.to_owned();
        let token = es().sign(Some("at+jwt"), &c).unwrap();
        assert!(
            matches!(verify_es(&token), Err(JoseError::InvalidIssuer)),
            "{iss}"
        );
    }
    let token = forge(
        es(),
        &es_header(""),
        &claims_with(|m| {
            m.remove("iss");
        }),
    );
    match verify_es(&token) {
        Err(JoseError::MissingClaim(c)) => assert_eq!(c, "iss"),
        other => panic!("{other:?}"),
    }
    let token = forge(
        es(),
        &es_header(""),
        &claims_with(|m| {
            m.insert("iss".into(), json!([ISS]));
        }),
    );
    assert!(matches!(verify_es(&token), Err(JoseError::InvalidIssuer)));
}

#[test]
fn audience_checks() {
    let mut c = claims();
    c.aud = Audience::from("https://other.example");
    let token = es().sign(Some("at+jwt"), &c).unwrap();
    assert!(matches!(verify_es(&token), Err(JoseError::InvalidAudience)));

    // Array containing ours.
    c.aud = Audience(vec!["https://other.example".into(), AUD.into()]);
    let token = es().sign(Some("at+jwt"), &c).unwrap();
    let (_, got) = verify_es(&token).unwrap();
    assert!(got.aud.contains(AUD));

    // Empty array.
    c.aud = Audience(vec![]);
    let token = es().sign(Some("at+jwt"), &c).unwrap();
    assert!(matches!(verify_es(&token), Err(JoseError::InvalidAudience)));

    // Not checked when expectations.audience is None.
    c.aud = Audience::from("https://other.example");
    let token = es().sign(Some("at+jwt"), &c).unwrap();
    let mut e = expect_at();
    e.audience = None;
    let _: (Header, AccessTokenClaims) = verify(&token, &jwks_of(&[es()]), &e, NOW).unwrap();

    // Any of several accepted audiences.
    let mut e = expect_at();
    e.audience = Some(vec!["a".into(), "https://other.example".into()]);
    let _: (Header, AccessTokenClaims) = verify(&token, &jwks_of(&[es()]), &e, NOW).unwrap();

    // Missing, or of the wrong type.
    let token = forge(
        es(),
        &es_header(""),
        &claims_with(|m| {
            m.remove("aud");
        }),
    );
    match verify_es(&token) {
        Err(JoseError::MissingClaim(c)) => assert_eq!(c, "aud"),
        other => panic!("{other:?}"),
    }
    for bad in [json!(1), json!([AUD, 2]), json!({"aud": AUD})] {
        let token = forge(
            es(),
            &es_header(""),
            &claims_with(|m| {
                m.insert("aud".into(), bad.clone());
            }),
        );
        assert!(
            matches!(
                verify::<serde_json::Value>(&token, &jwks_of(&[es()]), &expect_at(), NOW),
                Err(JoseError::InvalidClaim(_))
            ),
            "{bad}"
        );
    }
}

#[test]
fn expiry_with_leeway() {
    let token = es().sign(Some("at+jwt"), &claims()).unwrap();
    let exp = NOW + 300;
    let jwks = jwks_of(&[es()]);
    let at = |now| verify::<AccessTokenClaims>(&token, &jwks, &expect_at(), now);
    assert!(at(exp).is_ok());
    assert!(at(exp + LEEWAY).is_ok());
    assert!(matches!(at(exp + LEEWAY + 1), Err(JoseError::Expired)));
    assert!(matches!(at(u64::MAX), Err(JoseError::Expired)));

    let token = forge(
        es(),
        &es_header(""),
        &claims_with(|m| {
            m.remove("exp");
        }),
    );
    match verify_es(&token) {
        Err(JoseError::MissingClaim(c)) => assert_eq!(c, "exp"),
        other => panic!("{other:?}"),
    }
    for bad in [json!("4000000300"), json!(-1), json!(null)] {
        let token = forge(
            es(),
            &es_header(""),
            &claims_with(|m| {
                m.insert("exp".into(), bad.clone());
            }),
        );
        assert!(
            matches!(
                verify::<serde_json::Value>(&token, &jwks_of(&[es()]), &expect_at(), NOW),
                Err(JoseError::InvalidClaim(_))
            ),
            "{bad}"
        );
    }
    // A fractional NumericDate is accepted (RFC 7519 §2).
    let token = forge(
        es(),
        &es_header(""),
        &claims_with(|m| {
            m.insert("exp".into(), json!(4_000_000_300.5));
        }),
    );
    verify::<serde_json::Value>(&token, &jwks_of(&[es()]), &expect_at(), NOW).unwrap();
}

#[test]
fn nbf_in_future_beyond_leeway_rejected_within_leeway_accepted() {
    for (nbf, ok) in [
        (NOW - 100, true),
        (NOW, true),
        (NOW + LEEWAY, true),
        (NOW + LEEWAY + 1, false),
        (NOW + 3600, false),
    ] {
        let token = forge(
            es(),
            &es_header(""),
            &claims_with(|m| {
                m.insert("nbf".into(), json!(nbf));
            }),
        );
        let r = verify_es(&token);
        if ok {
            assert!(r.is_ok(), "nbf {nbf}: {r:?}");
        } else {
            assert!(matches!(r, Err(JoseError::NotYetValid)), "nbf {nbf}: {r:?}");
        }
    }
}

#[test]
fn iat_in_future_beyond_leeway_rejected_within_leeway_accepted() {
    for (iat, ok) in [
        (NOW - 100, true),
        (NOW + LEEWAY, true),
        (NOW + LEEWAY + 1, false),
    ] {
        let mut c = claims();
        c.iat = iat;
        let token = es().sign(Some("at+jwt"), &c).unwrap();
        let r = verify_es(&token);
        if ok {
            assert!(r.is_ok(), "iat {iat}: {r:?}");
        } else {
            assert!(matches!(r, Err(JoseError::NotYetValid)), "iat {iat}: {r:?}");
        }
    }
    let token = forge(
        es(),
        &es_header(""),
        &claims_with(|m| {
            m.remove("iat");
        }),
    );
    match verify::<serde_json::Value>(&token, &jwks_of(&[es()]), &expect_at(), NOW) {
        Err(JoseError::MissingClaim(c)) => assert_eq!(c, "iat"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn claims_that_do_not_fit_the_target_type_are_json_errors() {
    let token = forge(
        es(),
        &es_header(""),
        &claims_with(|m| {
            m.remove("jti");
        }),
    );
    assert!(matches!(verify_es(&token), Err(JoseError::Json(_))));
    // The same token is fine as a generic map.
    verify::<serde_json::Value>(&token, &jwks_of(&[es()]), &expect_at(), NOW).unwrap();
}

// ---------------------------------------------------------------- typ

#[test]
fn typ_checks() {
    let jwks = jwks_of(&[es()]);
    // ID-token typ where an access token is expected.
    let token = es().sign(Some("JWT"), &claims()).unwrap();
    match verify::<AccessTokenClaims>(&token, &jwks, &expect_at(), NOW) {
        Err(JoseError::InvalidType { expected, found }) => {
            assert_eq!(expected, "at+jwt");
            assert_eq!(found.as_deref(), Some("JWT"));
        }
        other => panic!("{other:?}"),
    }
    // No typ at all.
    let token = es().sign(None, &claims()).unwrap();
    assert!(matches!(
        verify::<AccessTokenClaims>(&token, &jwks, &expect_at(), NOW),
        Err(JoseError::InvalidType { found: None, .. })
    ));
    // Prefixed and differently-cased forms (RFC 7515 §4.1.9).
    for typ in ["application/at+jwt", "AT+JWT", "Application/At+Jwt"] {
        let token = es().sign(Some(typ), &claims()).unwrap();
        let (h, _) = verify::<AccessTokenClaims>(&token, &jwks, &expect_at(), NOW).unwrap();
        assert_eq!(h.typ.as_deref(), Some(typ));
    }
    // Other media types are not normalised into at+jwt.
    for typ in ["text/at+jwt", "application/jwt", "at+jwt2"] {
        let token = es().sign(Some(typ), &claims()).unwrap();
        assert!(
            matches!(
                verify::<AccessTokenClaims>(&token, &jwks, &expect_at(), NOW),
                Err(JoseError::InvalidType { .. })
            ),
            "{typ}"
        );
    }
    // Expectation written in prefixed form accepts the short form.
    let mut e = expect_at();
    e.typ = Some("application/at+jwt".to_owned());
    let token = es().sign(Some("at+jwt"), &claims()).unwrap();
    verify::<AccessTokenClaims>(&token, &jwks, &e, NOW).unwrap();
}

#[test]
fn forbidden_typ_refused_when_any_typ_allowed() {
    let jwks = jwks_of(&[es()]);
    let mut e = expect_at();
    e.typ = None;
    e.forbidden_typ = vec!["at+jwt".to_owned()];
    for typ in ["at+jwt", "application/AT+JWT"] {
        let token = es().sign(Some(typ), &claims()).unwrap();
        assert!(
            matches!(
                verify::<AccessTokenClaims>(&token, &jwks, &e, NOW),
                Err(JoseError::InvalidType { .. })
            ),
            "{typ}"
        );
    }
    for typ in [Some("JWT"), None] {
        let token = es().sign(typ, &claims()).unwrap();
        verify::<AccessTokenClaims>(&token, &jwks, &e, NOW).unwrap();
    }
}

// ---------------------------------------------------------------- small types

#[test]
fn algorithm_names() {
    for alg in Algorithm::ALL {
        assert_eq!(alg.as_str().parse::<Algorithm>().unwrap(), alg);
        assert_eq!(alg.to_string(), alg.as_str());
        assert_eq!(serde_json::to_value(alg).unwrap(), json!(alg.as_str()));
        assert_eq!(
            serde_json::from_value::<Algorithm>(json!(alg.as_str())).unwrap(),
            alg
        );
    }
    for bad in ["es256", "none", "HS256", "EDDSA", "Ed25519", ""] {
        assert!(matches!(
            bad.parse::<Algorithm>(),
            Err(JoseError::UnsupportedAlgorithm(_))
        ));
        assert!(serde_json::from_value::<Algorithm>(json!(bad)).is_err());
    }
}

#[test]
fn audience_serde() {
    let one = Audience::from("a");
    assert_eq!(serde_json::to_value(&one).unwrap(), json!("a"));
    let two = Audience(vec!["a".into(), "b".into()]);
    assert_eq!(serde_json::to_value(&two).unwrap(), json!(["a", "b"]));
    assert_eq!(serde_json::to_value(Audience(vec![])).unwrap(), json!([]));
    assert_eq!(serde_json::from_value::<Audience>(json!("a")).unwrap(), one);
    assert_eq!(
        serde_json::from_value::<Audience>(json!(["a"])).unwrap(),
        one
    );
    assert_eq!(
        serde_json::from_value::<Audience>(json!(["a", "b"])).unwrap(),
        two
    );
    assert!(serde_json::from_value::<Audience>(json!(1)).is_err());
    assert!(serde_json::from_value::<Audience>(json!([1])).is_err());
    assert!(two.contains("b") && !two.contains("c"));
    assert_eq!(two.iter().cloned().collect::<Vec<_>>(), vec!["a", "b"]);
}

#[test]
fn access_token_claims_serialization_skips_absent_optionals() {
    let mut c = claims();
    c.scope = None;
    c.auth_time = None;
    c.acr = None;
    c.amr = None;
    let v = serde_json::to_value(&c).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["aud", "client_id", "exp", "iat", "iss", "jti", "sub"]
    );
    assert_eq!(v["aud"], json!(AUD));
    assert_eq!(serde_json::from_value::<AccessTokenClaims>(v).unwrap(), c);
}

#[test]
fn jwks_serde_ignores_unknown_members() {
    let jwks: Jwks = serde_json::from_value(json!({
        "keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "kid": "k", "x5t": "z", "key_ops": ["verify"]}],
        "extra": true
    }))
    .unwrap();
    assert_eq!(jwks.keys.len(), 1);
    assert_eq!(
        serde_json::to_value(&jwks).unwrap(),
        json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "kid": "k"}]})
    );
}

#[test]
fn helpers() {
    assert_eq!(b64url(&[0xfb, 0xff]), "-_8");
    assert_eq!(
        b64url(&sha256(b"abc")),
        // SHA-256("abc") = ba7816bf...15ad
        b64url(&[
            0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae,
            0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61,
            0xf2, 0x00, 0x15, 0xad,
        ])
    );
    install_crypto_provider();
    install_crypto_provider();
}

/// OIDC Core Appendix A.4's example (RS256): the ID token's `at_hash` for
/// its access token. The other algorithms: the left half of the digest
/// (SHA-256: 16 bytes, SHA-512 for EdDSA: 32 bytes).
#[test]
fn at_hash_matches_the_specification_example() {
    assert_eq!(
        at_hash(
            Algorithm::RS256,
            "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
        ),
        "77QmUPtjPfzWtF2AnpK9RQ"
    );
    assert_eq!(
        at_hash(Algorithm::ES256, "x"),
        c_hash(Algorithm::PS256, "x")
    );
    let half = |alg| b64_decode(&at_hash(alg, "token")).len();
    assert_eq!(half(Algorithm::ES256), 16);
    assert_eq!(half(Algorithm::EdDSA), 32);
    assert_ne!(
        at_hash(Algorithm::ES256, "a"),
        at_hash(Algorithm::ES256, "b")
    );
}

fn b64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    B64.decode(s).unwrap()
}
