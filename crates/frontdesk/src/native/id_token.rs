//! ID-token validation on the client side (OIDC Core §3.1.3.7).

use anyhow::{anyhow, bail};
use base64::Engine as _;
use frontdesk_jose::{Algorithm, Expectations, IdTokenClaims, Jwks};

/// Clock skew allowed for `exp`, `nbf` and `iat`.
const LEEWAY_SECS: u64 = 60;

/// What the ID token must match.
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    /// The access token issued with it, for `at_hash`.
    pub access_token: &'a str,
}

/// Verifies `id_token` against the issuer's JWKS and returns its claims.
///
/// Steps 1–3 and 6–10 of OIDC Core §3.1.3.7 through `frontdesk_jose::verify`
/// (signature with the key's own algorithm, `iss` exact, `aud` contains our
/// `client_id`, `exp`/`iat` with leeway, never an access token, `at+jwt`);
/// then `azp` (steps 4–5: required with several audiences, and ours when
/// present), `nonce` (step 11, §3.1.2.1: must be the one we sent) and
/// `at_hash` when present (§3.1.3.8).
pub fn verify(
    id_token: &str,
    jwks: &Jwks,
    expected: &Expected<'_>,
    now: u64,
) -> anyhow::Result<IdTokenClaims> {
    let expect = Expectations {
        issuer: expected.issuer.to_owned(),
        audience: Some(vec![expected.client_id.to_owned()]),
        typ: None,
        forbidden_typ: vec!["at+jwt".to_owned()],
        algorithms: vec![
            Algorithm::RS256,
            Algorithm::PS256,
            Algorithm::ES256,
            Algorithm::EdDSA,
        ],
        leeway_secs: LEEWAY_SECS,
    };
    let (header, claims) = frontdesk_jose::verify::<IdTokenClaims>(id_token, jwks, &expect, now)
        .map_err(|e| anyhow!("the ID token is not valid: {e}"))?;
    check_claims(&claims, expected)?;
    if let Some(at_hash) = &claims.at_hash {
        let alg: Algorithm = header
            .alg
            .parse()
            .map_err(|_| anyhow!("the ID token's algorithm is not supported"))?;
        if *at_hash != at_hash_of(alg, expected.access_token) {
            bail!("the ID token's at_hash does not match the access token");
        }
    }
    Ok(claims)
}

fn check_claims(claims: &IdTokenClaims, expected: &Expected<'_>) -> anyhow::Result<()> {
    if claims.aud.iter().count() > 1 && claims.azp.is_none() {
        bail!("the ID token has several audiences but no azp");
    }
    if let Some(azp) = &claims.azp
        && azp != expected.client_id
    {
        bail!("the ID token was issued to another client (azp)");
    }
    match &claims.nonce {
        Some(n) if n == expected.nonce => Ok(()),
        Some(_) => bail!("the ID token's nonce is not the one this sign-in sent"),
        None => bail!("the ID token has no nonce"),
    }
}

/// OIDC Core §3.1.3.6: the left half of the hash of the access token, the
/// hash being the one of the signing algorithm (SHA-512 for Ed25519).
fn at_hash_of(alg: Algorithm, access_token: &str) -> String {
    let digest = match alg {
        Algorithm::EdDSA => {
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA512, access_token.as_bytes())
        }
        Algorithm::ES256 | Algorithm::RS256 | Algorithm::PS256 => {
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, access_token.as_bytes())
        }
    };
    let bytes = digest.as_ref();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes[..bytes.len() / 2])
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;
    use frontdesk_jose::{Audience, SigningKey};

    fn claims(nonce: Option<&str>, aud: &[&str], azp: Option<&str>) -> IdTokenClaims {
        IdTokenClaims {
            iss: "https://id.example.com".into(),
            sub: "u1".into(),
            aud: Audience(aud.iter().map(|s| (*s).to_owned()).collect()),
            exp: 2_000,
            iat: 1_000,
            auth_time: None,
            nonce: nonce.map(str::to_owned),
            azp: azp.map(str::to_owned),
            sid: None,
            at_hash: None,
            amr: None,
            acr: None,
            extra: serde_json::Map::new(),
        }
    }

    const EXPECTED: Expected<'static> = Expected {
        issuer: "https://id.example.com",
        client_id: "cli",
        nonce: "n1",
        access_token: "at",
    };

    #[test]
    fn nonce_and_azp_are_checked() {
        assert!(check_claims(&claims(Some("n1"), &["cli"], None), &EXPECTED).is_ok());
        assert!(check_claims(&claims(Some("n1"), &["cli"], Some("cli")), &EXPECTED).is_ok());
        assert!(check_claims(&claims(Some("n2"), &["cli"], None), &EXPECTED).is_err());
        assert!(check_claims(&claims(None, &["cli"], None), &EXPECTED).is_err());
        assert!(check_claims(&claims(Some("n1"), &["cli"], Some("other")), &EXPECTED).is_err());
        assert!(check_claims(&claims(Some("n1"), &["cli", "x"], None), &EXPECTED).is_err());
    }

    #[test]
    fn a_signed_token_verifies_and_a_foreign_audience_does_not() {
        let (key, _) = SigningKey::generate(Algorithm::ES256).expect("key");
        let jwks = Jwks {
            keys: vec![key.public_jwk().clone()],
        };
        let mut c = claims(Some("n1"), &["cli"], Some("cli"));
        c.iat = 1_000;
        c.exp = 2_000;
        c.at_hash = Some(at_hash_of(Algorithm::ES256, "at"));
        let token = key.sign(Some("JWT"), &c).expect("sign");
        assert!(verify(&token, &jwks, &EXPECTED, 1_500).is_ok());
        let other = Expected {
            client_id: "someone-else",
            ..EXPECTED
        };
        assert!(verify(&token, &jwks, &other, 1_500).is_err());
        let wrong_at = Expected {
            access_token: "another",
            ..EXPECTED
        };
        assert!(verify(&token, &jwks, &wrong_at, 1_500).is_err());
        assert!(verify(&token, &jwks, &EXPECTED, 9_000).is_err(), "expired");
    }
}
