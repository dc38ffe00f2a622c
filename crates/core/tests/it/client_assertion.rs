//! client/assertion.rs: `private_key_jwt` (RFC 7523 §3, OIDC Core §9) at
//! the token endpoint, table-driven, each case its own assertion signed
//! at a fixed [`NOW`].

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use frontdesk_core::client::{Credentials, JWT_BEARER_ASSERTION, Presented};
use frontdesk_core::error::{Error, ErrorCode};
use frontdesk_core::model::{AuthMethod, Client, Jwks};
use frontdesk_core::store::Store;
use frontdesk_jose::{Algorithm, SigningKey};
use serde_json::{Value, json};

use crate::support::*;

const ID: &str = "key-client";
const TOKEN_URL: &str = "https://id.example/token";

fn key_client(env: &Env, key: &SigningKey, alg: Option<&str>) -> Client {
    let mut c = client(&env.core, ID);
    c.token_endpoint_auth_method = AuthMethod::PrivateKeyJwt;
    c.secrets.clear();
    c.jwks = Some(Jwks {
        keys: vec![key.public_jwk().clone()],
    });
    c.token_endpoint_auth_signing_alg = alg.map(str::to_owned);
    c
}

fn claims(jti: &str) -> Value {
    json!({"iss": ID, "sub": ID, "aud": ISSUER, "exp": NOW + 60, "iat": NOW, "jti": jti})
}

/// A JWS with any header, signed by `key` (for `alg` forgeries the
/// signature is whatever `key` makes; the header lies about it).
fn forged(key: &SigningKey, header: Value, claims: &Value) -> String {
    let h = URL_SAFE_NO_PAD.encode(header.to_string());
    let p = URL_SAFE_NO_PAD.encode(claims.to_string());
    let input = format!("{h}.{p}");
    let sig = URL_SAFE_NO_PAD.encode(key.sign_input(input.as_bytes()).unwrap());
    format!("{input}.{sig}")
}

fn assertion_creds(client_id: Option<&str>, assertion: &str) -> Credentials {
    Credentials::from_parts(Presented {
        client_id,
        client_assertion_type: Some(JWT_BEARER_ASSERTION),
        client_assertion: Some(assertion),
        ..Presented::default()
    })
    .unwrap()
}

/// What a token request came to: success, or the error code and description.
type Outcome = Result<(), (ErrorCode, String)>;

async fn grant(env: &Env, creds: Credentials) -> Outcome {
    match token_as(env, creds, &[("grant_type", "client_credentials")], NOW).await {
        Ok(_) => Ok(()),
        Err(Error::OAuth(e)) => Err((e.code, e.description)),
        Err(e) => panic!("not an OAuth error: {e}"),
    }
}

#[tokio::test]
async fn private_key_jwt_checks() {
    let env = env().await;
    let (key, _) = SigningKey::generate(Algorithm::ES256).unwrap();
    let (stranger, _) = SigningKey::generate(Algorithm::ES256).unwrap();
    env.db
        .create_client(&key_client(&env, &key, None))
        .await
        .unwrap();
    let sign = |c: &Value| key.sign(None, c).unwrap();
    let with = |jti: &str, f: &dyn Fn(&mut Value)| {
        let mut c = claims(jti);
        f(&mut c);
        key.sign(None, &c).unwrap()
    };
    let ok = Ok(());
    let bad = |d: &str| Err((ErrorCode::InvalidClient, d.to_owned()));
    let generic = bad("client authentication failed");
    let unverified = bad("the client assertion does not verify with the client's registered keys");
    let cases: Vec<(&str, Credentials, Outcome)> = vec![
        (
            "a fresh assertion, client_id from its iss",
            assertion_creds(None, &sign(&claims("a1"))),
            ok.clone(),
        ),
        (
            "the same assertion again",
            assertion_creds(None, &sign(&claims("a1"))),
            bad("this client assertion was used before: each needs its own jti (RFC 7523 §3)"),
        ),
        (
            "with the form's client_id",
            assertion_creds(Some(ID), &sign(&claims("a2"))),
            ok.clone(),
        ),
        (
            "aud = the token endpoint",
            assertion_creds(None, &with("a3", &|c| c["aud"] = json!(TOKEN_URL))),
            ok.clone(),
        ),
        (
            "aud = an array naming the issuer",
            assertion_creds(
                None,
                &with("a4", &|c| c["aud"] = json!(["https://x.example", ISSUER])),
            ),
            ok.clone(),
        ),
        (
            "no iat (RFC 7523 §3 leaves it optional)",
            assertion_creds(
                None,
                &with("a5", &|c| {
                    c.as_object_mut().unwrap().remove("iat");
                }),
            ),
            ok.clone(),
        ),
        (
            "aud = the introspection endpoint, at the token endpoint",
            assertion_creds(
                None,
                &with("b1", &|c| c["aud"] = json!("https://id.example/introspect")),
            ),
            bad("the client assertion's aud must be this server's issuer identifier (RFC 7523 §3)"),
        ),
        (
            "a foreign aud",
            assertion_creds(
                None,
                &with("b2", &|c| c["aud"] = json!("https://other.example")),
            ),
            bad("the client assertion's aud must be this server's issuer identifier (RFC 7523 §3)"),
        ),
        (
            "expired",
            assertion_creds(None, &with("b3", &|c| c["exp"] = json!(NOW - 31))),
            bad("the client assertion has expired"),
        ),
        (
            "no exp",
            assertion_creds(
                None,
                &with("b4", &|c| {
                    c.as_object_mut().unwrap().remove("exp");
                }),
            ),
            bad("the client assertion needs exp (RFC 7523 §3)"),
        ),
        (
            "exp an hour ahead",
            assertion_creds(None, &with("b5", &|c| c["exp"] = json!(NOW + 3600))),
            bad("the client assertion's exp is more than 10 minutes ahead"),
        ),
        (
            "nbf in the future",
            assertion_creds(None, &with("b6", &|c| c["nbf"] = json!(NOW + 120))),
            bad("the client assertion is not valid yet"),
        ),
        (
            "no jti",
            assertion_creds(
                None,
                &with("b7", &|c| {
                    c.as_object_mut().unwrap().remove("jti");
                }),
            ),
            bad("the client assertion needs a jti (OIDC Core §9)"),
        ),
        (
            "sub is not the client (the iss names it through the form)",
            assertion_creds(Some(ID), &with("b8", &|c| c["sub"] = json!("someone"))),
            bad("the client assertion's sub must be the client_id (RFC 7523 §3)"),
        ),
        (
            "iss is another client, client_id in the form",
            assertion_creds(Some(ID), &with("b9", &|c| c["iss"] = json!("app"))),
            bad("the client assertion's iss must be the client_id (RFC 7523 §3)"),
        ),
        (
            "iss and sub name another client: its record has no keys",
            assertion_creds(
                None,
                &with("b10", &|c| {
                    c["iss"] = json!("app");
                    c["sub"] = json!("app");
                }),
            ),
            generic.clone(),
        ),
        (
            "signed by a key the client did not register",
            assertion_creds(None, &stranger.sign(None, &claims("c1")).unwrap()),
            unverified.clone(),
        ),
        (
            "alg none",
            assertion_creds(None, &{
                let h = URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#);
                let p = URL_SAFE_NO_PAD.encode(claims("c2").to_string());
                format!("{h}.{p}.")
            }),
            unverified.clone(),
        ),
        (
            "alg HS256 over the public key",
            assertion_creds(
                None,
                &forged(
                    &key,
                    json!({"alg": "HS256", "kid": key.kid()}),
                    &claims("c3"),
                ),
            ),
            unverified.clone(),
        ),
        (
            "a jwk header carrying the signer's own key",
            assertion_creds(
                None,
                &forged(
                    &stranger,
                    json!({"alg": "ES256", "jwk": stranger.public_jwk()}),
                    &claims("c4"),
                ),
            ),
            unverified.clone(),
        ),
        (
            "typ at+jwt (an access token is not an assertion)",
            assertion_creds(None, &key.sign(Some("at+jwt"), &claims("c5")).unwrap()),
            unverified.clone(),
        ),
        (
            "a client with a secret sending an assertion",
            assertion_creds(Some("app"), &sign(&claims("c6"))),
            generic.clone(),
        ),
        (
            "an unknown client",
            assertion_creds(Some("nobody"), &sign(&claims("c7"))),
            generic.clone(),
        ),
    ];
    for (description, creds, expect) in cases {
        assert_eq!(grant(&env, creds).await, expect, "{description}");
    }
}

/// `token_endpoint_auth_signing_alg` pins one algorithm: a registered key
/// of another algorithm no longer verifies.
#[tokio::test]
async fn the_registered_signing_alg_is_the_only_one() {
    let env = env().await;
    let (key, _) = SigningKey::generate(Algorithm::ES256).unwrap();
    env.db
        .create_client(&key_client(&env, &key, Some("PS256")))
        .await
        .unwrap();
    assert_eq!(
        grant(
            &env,
            assertion_creds(None, &key.sign(None, &claims("p1")).unwrap())
        )
        .await,
        Err((
            ErrorCode::InvalidClient,
            "the client assertion does not verify with the client's registered keys".to_owned()
        ))
    );
}

#[test]
fn an_assertion_is_one_authentication_method() {
    let both = |p: Presented<'_>| Credentials::from_parts(p).map_err(|e| e.description);
    let assertion = Presented {
        client_assertion_type: Some(JWT_BEARER_ASSERTION),
        client_assertion: Some("x.y.z"),
        ..Presented::default()
    };
    let more = Err("the client used more than one authentication method".to_owned());
    assert_eq!(
        both(Presented {
            basic: Some(("a", "s")),
            ..assertion
        }),
        more
    );
    assert_eq!(
        both(Presented {
            client_secret: Some("s"),
            client_id: Some("a"),
            ..assertion
        }),
        more
    );
    assert_eq!(
        both(Presented {
            client_assertion: None,
            ..assertion
        }),
        Err("client_assertion and client_assertion_type go together (RFC 7521 §4.2)".to_owned())
    );
    assert_eq!(
        both(Presented {
            client_assertion_type: Some("urn:ietf:params:oauth:client-assertion-type:saml2-bearer"),
            ..assertion
        }),
        Err(
            "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
                .to_owned()
        )
    );
}

/// FAPI 2.0 §5.3.2.1 item 8: a FAPI 2.0 client's assertion names the
/// issuer, as a string, and nothing else; §5.4.1: not RS256.
#[tokio::test]
async fn a_fapi2_client_names_the_issuer_as_a_string() {
    let env = env().await;
    let (key, _) = SigningKey::generate(Algorithm::ES256).unwrap();
    let (rsa, _) = SigningKey::generate(Algorithm::RS256).unwrap();
    let mut c = key_client(&env, &key, None);
    c.profile = Some(frontdesk_core::model::ClientProfile::Fapi2);
    c.jwks = Some(Jwks {
        keys: vec![key.public_jwk().clone(), rsa.public_jwk().clone()],
    });
    env.db.create_client(&c).await.unwrap();
    let with = |signer: &SigningKey, jti: &str, aud: Value| {
        let mut c = claims(jti);
        c["aud"] = aud;
        assertion_creds(None, &signer.sign(None, &c).unwrap())
    };
    let bad = |d: &str| Err((ErrorCode::InvalidClient, d.to_owned()));
    // Authenticated, then held to DPoP (FAPI 2.0 §5.3.2.1 item 4): the
    // error past client authentication.
    let authenticated = Err((
        ErrorCode::InvalidDpopProof,
        "this client's tokens must be DPoP-bound: send a DPoP proof".to_owned(),
    ));
    let cases = [
        (
            "the issuer as a string",
            with(&key, "f1", json!(ISSUER)),
            authenticated,
        ),
        (
            "the issuer inside an array",
            with(&key, "f2", json!([ISSUER])),
            bad(
                "the client assertion's aud must be the issuer identifier as a string (FAPI 2.0 §5.3.2.1)",
            ),
        ),
        (
            "the token endpoint",
            with(&key, "f3", json!(TOKEN_URL)),
            bad("the client assertion's aud must be this server's issuer identifier (RFC 7523 §3)"),
        ),
        (
            "RS256 with a registered RSA key",
            with(&rsa, "f4", json!(ISSUER)),
            bad("the client assertion does not verify with the client's registered keys"),
        ),
    ];
    for (description, creds, expect) in cases {
        assert_eq!(grant(&env, creds).await, expect, "{description}");
    }
}
