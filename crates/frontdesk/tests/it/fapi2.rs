//! A FAPI 2.0 client (`profile = "fapi2"`) over real HTTP: the whole
//! flow a FAPI 2.0 Security Profile client makes — PAR with
//! `private_key_jwt`, login and consent, the code redeemed with an
//! assertion and a DPoP proof — and what the profile refuses on the way:
//! a plain authorization request (§5.3.2.2 item 2), a token request
//! without DPoP (§5.3.2.1 item 4), an assertion whose `aud` is not the
//! issuer as a string (§5.3.2.1 item 8), RS256 (§5.4.1). SECURITY.md §13.

use frontdesk_jose::dpop::{self, Proof};
use frontdesk_jose::{Algorithm, Jwk, SigningKey};
use serde_json::{Value, json};

use crate::browser::{ALICE, Browser, pkce, query};
use crate::security_authorize::{assert_error_page, raw_get};
use crate::support::{Database, Server, parts, unix_now};

const CB: &str = "https://bank.example/cb";
const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn toml_jwk(k: &Jwk) -> String {
    let field = |name: &str, v: &Option<String>| {
        v.as_ref()
            .map(|v| format!(", {name} = \"{v}\""))
            .unwrap_or_default()
    };
    format!(
        "{{ kty = \"{}\"{}{}{}{}{}{}{} }}",
        k.kty,
        field("kid", &k.kid),
        field("alg", &k.alg),
        field("crv", &k.crv),
        field("x", &k.x),
        field("y", &k.y),
        field("n", &k.n),
        field("e", &k.e)
    )
}

fn config(keys: &[&SigningKey]) -> String {
    let jwks: Vec<String> = keys.iter().map(|k| toml_jwk(k.public_jwk())).collect();
    format!(
        r#"
[[clients]]
client_id = "bank"
client_name = "Bank"
token_endpoint_auth_method = "private_key_jwt"
profile = "fapi2"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["{CB}"]
scope = "openid profile offline_access"
jwks = {{ keys = [{}] }}
"#,
        jwks.join(", ")
    )
}

fn assertion(key: &SigningKey, aud: Value) -> String {
    let jti = frontdesk_core::secret::random_string(16).unwrap();
    let now = unix_now();
    key.sign(
        None,
        &json!({"iss": "bank", "sub": "bank", "aud": aud, "iat": now, "exp": now + 60, "jti": jti}),
    )
    .unwrap()
}

fn proof(key: &SigningKey, url: &str) -> String {
    let jti = frontdesk_core::secret::random_string(16).unwrap();
    dpop::make(
        key,
        &Proof {
            method: "POST",
            uri: url,
            access_token: None,
            nonce: None,
            jti: &jti,
            iat: unix_now(),
        },
    )
    .unwrap()
}

/// POST `path` with a form and optional DPoP proof.
async fn post(s: &Server, path: &str, form: &[(&str, &str)], dpop: Option<&str>) -> (u16, Value) {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut r = s
        .http
        .post(s.url(path))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some(p) = dpop {
        r = r.header("dpop", p);
    }
    let (status, _, body) = parts(r.send().await.unwrap()).await;
    (status, body)
}

async fn fapi2_client_flow(dir: tempfile::TempDir, db: Database) {
    let (key, _) = SigningKey::generate(Algorithm::ES256).unwrap();
    let (rsa, _) = SigningKey::generate(Algorithm::RS256).unwrap();
    let s = Server::start_in(dir, &db.url, &config(&[&key, &rsa]));
    let issuer = s.base.clone();
    let (verifier, challenge) = pkce();
    let request = [
        ("response_type", "code"),
        ("client_id", "bank"),
        ("redirect_uri", CB),
        ("scope", "openid profile offline_access"),
        ("state", "st-fapi"),
        ("nonce", "n-fapi"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];

    // §5.3.2.2 item 2: not without PAR.
    assert_error_page(
        raw_get(&s, &crate::browser::authz(&s, &request)).await,
        "this client must push its authorization requests (RFC 9126)",
        "a plain authorization request",
    )
    .await;

    // §5.3.2.1 item 8 and §5.4.1: what the PAR endpoint refuses.
    let push = |a: String| {
        let mut form: Vec<(&str, String)> =
            request.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        form.push(("client_assertion_type", ASSERTION_TYPE.to_owned()));
        form.push(("client_assertion", a));
        form
    };
    let refused = [
        (
            "aud as an array",
            assertion(&key, json!([issuer])),
            "the client assertion's aud must be the issuer identifier as a string (FAPI 2.0 §5.3.2.1)",
        ),
        (
            "aud the PAR endpoint",
            assertion(&key, json!(s.url("/par"))),
            "the client assertion's aud must be this server's issuer identifier (RFC 7523 §3)",
        ),
        (
            "RS256",
            assertion(&rsa, json!(issuer)),
            "the client assertion does not verify with the client's registered keys",
        ),
    ];
    for (what, a, description) in refused {
        let form = push(a);
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(
            post(&s, "/par", &pairs, None).await,
            (
                401,
                json!({"error": "invalid_client", "error_description": description})
            ),
            "{what}"
        );
    }

    // The flow: PAR, login and consent, the code.
    let form = push(assertion(&key, json!(issuer)));
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, pushed) = post(&s, "/par", &pairs, None).await;
    assert_eq!(status, 201, "{pushed}");
    let uri = pushed["request_uri"].as_str().unwrap();
    let b = Browser::new(&s);
    let cb = crate::browser::drive(
        &b,
        &crate::browser::authz(&s, &[("client_id", "bank"), ("request_uri", uri)]),
        ALICE,
    )
    .await;
    assert!(cb.as_str().starts_with(CB), "{cb}");
    // §5.3.2.2 item 4: iss in the response (RFC 9207).
    assert_eq!(query(&cb, "iss").as_deref(), Some(issuer.as_str()));
    let code = query(&cb, "code").unwrap();

    let token_url = s.url("/token");
    let redeem = |a: String| {
        vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.clone()),
            ("redirect_uri", CB.to_owned()),
            ("code_verifier", verifier.clone()),
            ("client_assertion_type", ASSERTION_TYPE.to_owned()),
            ("client_assertion", a),
        ]
    };
    // §5.3.2.1 item 4: not without a sender constraint — and the code is
    // not spent by the refusal.
    let form = redeem(assertion(&key, json!(issuer)));
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        post(&s, "/token", &pairs, None).await,
        (
            400,
            json!({"error": "invalid_dpop_proof", "error_description": "this client's tokens must be DPoP-bound: send a DPoP proof"})
        )
    );
    // §5.4.1: nor with an RS256 proof.
    let form = redeem(assertion(&key, json!(issuer)));
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = post(&s, "/token", &pairs, Some(&proof(&rsa, &token_url))).await;
    assert_eq!(
        (status, &body["error"]),
        (400, &json!("invalid_dpop_proof")),
        "{body}"
    );

    let (dpop_key, _) = SigningKey::generate(Algorithm::ES256).unwrap();
    let form = redeem(assertion(&key, json!(issuer)));
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, tokens) = post(&s, "/token", &pairs, Some(&proof(&dpop_key, &token_url))).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "DPoP");
    let (_, claims) = crate::support::jwt_parts(tokens["access_token"].as_str().unwrap());
    assert_eq!(claims["cnf"]["jkt"], dpop_key.kid());
    // §5.4.1: the ID token is ES256, not the server's default RS256.
    let (header, _) = crate::support::jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(header["alg"], "ES256");

    // No rotation (FAPI 2.0 §5.3.2.1): the same refresh token keeps
    // working, each time with a new access token; without its DPoP key it
    // does not.
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let mut successors = Vec::new();
    let mut access = vec![tokens["access_token"].clone()];
    for _ in 0..3 {
        let form = [
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", refresh.clone()),
            ("client_assertion_type", ASSERTION_TYPE.to_owned()),
            ("client_assertion", assertion(&key, json!(issuer))),
        ];
        let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, t) = post(&s, "/token", &pairs, Some(&proof(&dpop_key, &token_url))).await;
        assert_eq!(status, 200, "{t}");
        assert_eq!(t["token_type"], "DPoP", "{t}");
        successors.push(t["refresh_token"].clone());
        access.push(t["access_token"].clone());
    }
    assert!(
        successors.iter().all(|r| *r == json!(refresh)),
        "{successors:?}"
    );
    access.sort_by_key(ToString::to_string);
    access.dedup();
    assert_eq!(access.len(), 4, "a new access token each time");
    let form = [
        ("grant_type", "refresh_token".to_owned()),
        ("refresh_token", refresh.clone()),
        ("client_assertion_type", ASSERTION_TYPE.to_owned()),
        ("client_assertion", assertion(&key, json!(issuer))),
    ];
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, t) = post(&s, "/token", &pairs, None).await;
    assert_eq!(status, 400, "{t}");
    // Revoked: the token stops.
    let revoke = [
        ("token", refresh.clone()),
        ("client_assertion_type", ASSERTION_TYPE.to_owned()),
        ("client_assertion", assertion(&key, json!(issuer))),
    ];
    let pairs: Vec<(&str, &str)> = revoke.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _) = post(&s, "/revoke", &pairs, None).await;
    assert_eq!(status, 200);
    let form = [
        ("grant_type", "refresh_token".to_owned()),
        ("refresh_token", refresh.clone()),
        ("client_assertion_type", ASSERTION_TYPE.to_owned()),
        ("client_assertion", assertion(&key, json!(issuer))),
    ];
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, t) = post(&s, "/token", &pairs, Some(&proof(&dpop_key, &token_url))).await;
    assert_eq!(status, 400, "{t}");
    assert_eq!(t["error"], "invalid_grant", "{t}");
}
crate::both!(with_db fapi2_client_flow);
