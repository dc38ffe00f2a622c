//! ID-token verification as a relying party does it (OpenID Connect Core
//! §3.1.3.7): the signature with the issuer's published keys, `iss`, `aud`,
//! `exp`/`iat` (all through `frontdesk_jose::verify`), then `nonce`, `azp`
//! and `at_hash`. The one implementation in the workspace: the demo app and
//! `frontdesk login` both call it.

use frontdesk_jose::{Algorithm, Expectations, IdTokenClaims, JoseError, Jwks, at_hash};

use crate::same;

/// Clock leeway for `exp` and `iat` (the larger of the two the demo app
/// and the native client used before they shared this code, so nothing
/// either accepted is refused now).
pub const LEEWAY_SECS: u64 = 60;

/// What the relying party expects of one ID token.
pub struct Expect<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    /// The nonce sent in the authorization request. `None` for an ID token
    /// from a refresh, which may repeat the original nonce or omit it
    /// (§12.2); then `original_nonce` is compared when present.
    pub nonce: Option<&'a str>,
    pub original_nonce: Option<&'a str>,
    /// The access token issued with the ID token, for `at_hash`.
    pub access_token: Option<&'a str>,
}

/// Why an ID token was refused (kept precise for logs and tests; users see
/// one message).
#[derive(Debug, thiserror::Error)]
pub enum IdTokenError {
    #[error("{0}")]
    Jose(#[from] JoseError),
    #[error("the nonce does not match the one this sign-in sent")]
    Nonce,
    #[error("azp names another client")]
    Azp,
    #[error("several audiences but no azp")]
    AzpMissing,
    #[error("at_hash does not match the access token")]
    AtHash,
}

impl IdTokenError {
    /// Whether fetching the JWKS again might help (the key was rotated).
    pub fn unknown_key(&self) -> bool {
        matches!(self, IdTokenError::Jose(JoseError::UnknownKey))
    }
}

/// Verifies `token` against `jwks` and the expectations; returns its claims.
pub fn verify_id_token(
    token: &str,
    jwks: &Jwks,
    expect: &Expect<'_>,
    now: u64,
) -> Result<IdTokenClaims, IdTokenError> {
    let expectations = Expectations {
        issuer: expect.issuer.to_owned(),
        audience: Some(vec![expect.client_id.to_owned()]),
        typ: None,
        forbidden_typ: vec!["at+jwt".to_owned()],
        algorithms: vec![
            Algorithm::RS256,
            Algorithm::PS256,
            Algorithm::ES256,
            Algorithm::EdDSA,
        ],
        leeway_secs: LEEWAY_SECS,
        require_iat: true,
    };
    let (header, claims): (_, IdTokenClaims) =
        frontdesk_jose::verify(token, jwks, &expectations, now)?;
    // §3.1.3.7 step 11: the nonce must be present and equal to the one sent.
    match (expect.nonce, expect.original_nonce, claims.nonce.as_deref()) {
        (Some(sent), _, Some(got)) if same(sent, got) => {}
        (Some(_), _, _) => return Err(IdTokenError::Nonce),
        (None, Some(orig), Some(got)) if !same(orig, got) => return Err(IdTokenError::Nonce),
        (None, _, _) => {}
    }
    // Steps 4–5: with several audiences azp must be present; when present it
    // must be our client_id.
    match claims.azp.as_deref() {
        Some(azp) if azp != expect.client_id => return Err(IdTokenError::Azp),
        None if claims.aud.iter().count() > 1 => return Err(IdTokenError::AzpMissing),
        _ => {}
    }
    // §3.1.3.8 / §3.2.2.9: at_hash, when present, binds the access token.
    if let (Some(at), Some(expected)) = (expect.access_token, claims.at_hash.as_deref()) {
        let alg: Algorithm = header.alg.parse()?;
        if !same(&at_hash(alg, at), expected) {
            return Err(IdTokenError::AtHash);
        }
    }
    Ok(claims)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use frontdesk_jose::{Audience, SigningKey};
    use serde_json::json;

    const ISS: &str = "http://127.0.0.1:8080";
    const CLIENT: &str = "demo-rp";
    const NONCE: &str = "n-0S6_WzA2Mj";
    const AT: &str = "access-token-value";
    const NOW: u64 = 1_800_000_000;

    fn claims(alg: Algorithm) -> IdTokenClaims {
        IdTokenClaims {
            iss: ISS.into(),
            sub: "user-1".into(),
            aud: Audience(vec![CLIENT.into()]),
            exp: NOW + 300,
            iat: NOW,
            auth_time: Some(NOW),
            nonce: Some(NONCE.into()),
            azp: Some(CLIENT.into()),
            sid: Some("sid".into()),
            at_hash: Some(at_hash(alg, AT)),
            amr: None,
            acr: None,
            extra: serde_json::Map::new(),
        }
    }

    fn key(alg: Algorithm) -> (SigningKey, Jwks) {
        let (k, _) = SigningKey::generate(alg).unwrap();
        let jwks: Jwks = serde_json::from_value(json!({"keys": [k.public_jwk()]})).unwrap();
        (k, jwks)
    }

    fn expect() -> Expect<'static> {
        Expect {
            issuer: ISS,
            client_id: CLIENT,
            nonce: Some(NONCE),
            original_nonce: None,
            access_token: Some(AT),
        }
    }

    #[test]
    fn accepts_a_good_token_with_every_algorithm() {
        for alg in [
            Algorithm::RS256,
            Algorithm::PS256,
            Algorithm::ES256,
            Algorithm::EdDSA,
        ] {
            let (k, jwks) = key(alg);
            let t = k.sign(Some("JWT"), &claims(alg)).unwrap();
            let c = verify_id_token(&t, &jwks, &expect(), NOW).unwrap();
            assert_eq!(c.sub, "user-1");
        }
    }

    #[test]
    fn refuses_a_bad_signature() {
        let (k, _) = key(Algorithm::ES256);
        let (_, other_jwks) = key(Algorithm::ES256);
        let t = k.sign(Some("JWT"), &claims(Algorithm::ES256)).unwrap();
        // Another key under the same kid: the signature cannot verify.
        let mut jwks = other_jwks;
        jwks.keys[0].kid = Some(k.kid().to_owned());
        let e = verify_id_token(&t, &jwks, &expect(), NOW).unwrap_err();
        assert!(
            matches!(e, IdTokenError::Jose(JoseError::InvalidSignature)),
            "{e}"
        );
        // A tampered payload under the right key.
        let (k, jwks) = key(Algorithm::RS256);
        let t = k.sign(Some("JWT"), &claims(Algorithm::RS256)).unwrap();
        let mut c = claims(Algorithm::RS256);
        c.sub = "admin".into();
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap());
        let parts: Vec<&str> = t.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        let e = verify_id_token(&forged, &jwks, &expect(), NOW).unwrap_err();
        assert!(
            matches!(e, IdTokenError::Jose(JoseError::InvalidSignature)),
            "{e}"
        );
    }

    #[test]
    fn refuses_wrong_aud_iss_nonce_azp_at_hash() {
        let alg = Algorithm::ES256;
        let (k, jwks) = key(alg);
        let sign = |c: &IdTokenClaims| k.sign(Some("JWT"), c).unwrap();

        let mut c = claims(alg);
        c.aud = Audience(vec!["other-client".into()]);
        c.azp = Some("other-client".into());
        let e = verify_id_token(&sign(&c), &jwks, &expect(), NOW).unwrap_err();
        assert!(matches!(e, IdTokenError::Jose(_)), "wrong aud: {e}");

        let mut c = claims(alg);
        c.iss = "https://evil.example.com".into();
        let e = verify_id_token(&sign(&c), &jwks, &expect(), NOW).unwrap_err();
        assert!(matches!(e, IdTokenError::Jose(_)), "wrong iss: {e}");

        let mut c = claims(alg);
        c.nonce = Some("another-nonce".into());
        let e = verify_id_token(&sign(&c), &jwks, &expect(), NOW).unwrap_err();
        assert!(matches!(e, IdTokenError::Nonce), "wrong nonce: {e}");

        let mut c = claims(alg);
        c.nonce = None;
        let e = verify_id_token(&sign(&c), &jwks, &expect(), NOW).unwrap_err();
        assert!(matches!(e, IdTokenError::Nonce), "missing nonce: {e}");

        let mut c = claims(alg);
        c.azp = Some("other-client".into());
        let e = verify_id_token(&sign(&c), &jwks, &expect(), NOW).unwrap_err();
        assert!(matches!(e, IdTokenError::Azp), "wrong azp: {e}");

        let mut c = claims(alg);
        c.aud = Audience(vec![CLIENT.into(), "other".into()]);
        c.azp = None;
        let e = verify_id_token(&sign(&c), &jwks, &expect(), NOW).unwrap_err();
        assert!(matches!(e, IdTokenError::AzpMissing), "no azp: {e}");

        let c = claims(alg);
        let mut x = expect();
        x.access_token = Some("a-different-access-token");
        let e = verify_id_token(&sign(&c), &jwks, &x, NOW).unwrap_err();
        assert!(matches!(e, IdTokenError::AtHash), "at_hash: {e}");

        let c = claims(alg);
        let e = verify_id_token(&sign(&c), &jwks, &expect(), NOW + 3600).unwrap_err();
        assert!(
            matches!(e, IdTokenError::Jose(JoseError::Expired)),
            "expired: {e}"
        );

        // An access token (typ at+jwt) is not an ID token.
        let t = k.sign(Some("at+jwt"), &claims(alg)).unwrap();
        let e = verify_id_token(&t, &jwks, &expect(), NOW).unwrap_err();
        assert!(matches!(e, IdTokenError::Jose(_)), "at+jwt: {e}");
    }

    #[test]
    fn refuses_alg_none_and_unknown_keys() {
        let (_, jwks) = key(Algorithm::RS256);
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let p = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims(Algorithm::RS256)).unwrap());
        for t in [format!("{h}.{p}."), format!("{h}.{p}.c2ln")] {
            let e = verify_id_token(&t, &jwks, &expect(), NOW).unwrap_err();
            assert!(matches!(e, IdTokenError::Jose(_)), "alg none: {e}");
        }
        let (k, _) = key(Algorithm::RS256);
        let t = k.sign(Some("JWT"), &claims(Algorithm::RS256)).unwrap();
        let e = verify_id_token(&t, &jwks, &expect(), NOW).unwrap_err();
        assert!(e.unknown_key(), "{e}");
    }

    #[test]
    fn refresh_id_tokens_may_omit_the_nonce_but_not_change_it() {
        let alg = Algorithm::ES256;
        let (k, jwks) = key(alg);
        let x = Expect {
            nonce: None,
            original_nonce: Some(NONCE),
            ..expect()
        };
        let mut c = claims(alg);
        c.nonce = None;
        assert!(verify_id_token(&k.sign(Some("JWT"), &c).unwrap(), &jwks, &x, NOW).is_ok());
        c.nonce = Some("other".into());
        assert!(verify_id_token(&k.sign(Some("JWT"), &c).unwrap(), &jwks, &x, NOW).is_err());
    }
}
