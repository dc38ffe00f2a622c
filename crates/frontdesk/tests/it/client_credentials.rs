//! RFC 6749 §4.4 client credentials at the token endpoint: success, every
//! error code with its exact JSON, status and headers.

use serde_json::{Value, json};

use crate::both;
use std::time::Duration;

use crate::support::{
    PAYMENTS, PHOTOS, Server, assert_no_store, basic_header, jwt_parts, unix_now, wait_for,
};

const ID: &str = "order-service";
const SECRET: &str = "order-service-secret-0123456789";

async fn error_of(r: reqwest::Response) -> (u16, reqwest::header::HeaderMap, Value) {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body: Value = r.json().await.expect("error body is JSON");
    (status, headers, body)
}

async fn issues_rfc9068_jwt(s: &Server) {
    let r = s
        .post_form(
            "/token",
            Some((ID, SECRET)),
            &[("grant_type", "client_credentials"), ("resource", PAYMENTS)],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_no_store(r.headers());
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "photos:read charge:customer");
    assert!(
        body.get("refresh_token").is_none(),
        "RFC 6749 §4.4.3: no refresh token"
    );
    assert!(body.get("id_token").is_none());
    let token = body["access_token"].as_str().unwrap();

    let (header, claims) = jwt_parts(token);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "ES256");
    let jwks: Value = s
        .http
        .get(s.url("/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert!(
        kids.contains(&header["kid"].as_str().unwrap()),
        "kid resolves in JWKS"
    );

    assert_eq!(claims["iss"], s.base);
    assert_eq!(claims["sub"], ID);
    assert_eq!(claims["client_id"], ID);
    assert_eq!(claims["aud"], PAYMENTS);
    assert_eq!(claims["scope"], "photos:read charge:customer");
    let now = unix_now();
    let iat = claims["iat"].as_u64().unwrap();
    assert!(iat.abs_diff(now) < 30);
    assert_eq!(claims["exp"].as_u64().unwrap(), iat + 3600);
    assert!(claims["jti"].as_str().unwrap().len() >= 16);

    // An independent check: jsonwebtoken verifies it with the published JWK.
    let jwk_json = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .unwrap();
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk_json.clone()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    v.set_audience(&[PAYMENTS]);
    v.set_issuer(&[&s.base]);
    frontdesk_jose::install_crypto_provider();
    jsonwebtoken::decode::<Value>(token, &key, &v).expect("jsonwebtoken verifies our token");

    // And the door kit accepts it for the right audience and scope only.
    let jwks: frontdesk_jose::Jwks = serde_json::from_value(jwks).unwrap();
    let door = frontdesk_resource::Validator::new(&s.base, PAYMENTS, jwks.clone());
    door.validate(token, &["charge:customer"], now)
        .expect("valid at the payments API");
    let photos = frontdesk_resource::Validator::new(&s.base, PHOTOS, jwks);
    assert_eq!(photos.validate(token, &[], now).unwrap_err().status(), 401);
}
both!(issues_rfc9068_jwt);

async fn client_secret_post_works(s: &Server) {
    let r = s
        .post_form(
            "/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "post-client"),
                ("client_secret", "post-client-secret-0123456789"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let (_, claims) = jwt_parts(body["access_token"].as_str().unwrap());
    assert_eq!(
        claims["aud"], PHOTOS,
        "the client's only audience is the default"
    );

    // The same client over Basic: not its registered method.
    let r = s
        .post_form(
            "/token",
            Some(("post-client", "post-client-secret-0123456789")),
            &[("grant_type", "client_credentials")],
        )
        .await;
    let (status, _, body) = error_of(r).await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({"error": "invalid_client", "error_description": "client authentication failed"})
    );
}
both!(client_secret_post_works);

async fn scope_is_limited_to_the_clients(s: &Server) {
    let body = s.m2m_token(&[("scope", "photos:read admin")]).await;
    assert_eq!(
        body["scope"], "photos:read",
        "unknown scopes are dropped and the response says so"
    );
    let body = s.m2m_token(&[("scope", "charge:customer")]).await;
    assert_eq!(body["scope"], "charge:customer");

    let r = s
        .post_form(
            "/token",
            Some((ID, SECRET)),
            &[("grant_type", "client_credentials"), ("scope", "admin")],
        )
        .await;
    let (status, h, body) = error_of(r).await;
    assert_eq!(status, 400);
    assert_no_store(&h);
    assert_eq!(
        body,
        json!({"error": "invalid_scope", "error_description": "none of the requested scopes is allowed for this client"})
    );

    let r = s
        .post_form(
            "/token",
            Some((ID, SECRET)),
            &[("grant_type", "client_credentials"), ("scope", "a\"b")],
        )
        .await;
    let (status, _, body) = error_of(r).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_scope");
}
both!(scope_is_limited_to_the_clients);

async fn audience_follows_rfc8707(s: &Server) {
    let body = s.m2m_token(&[]).await;
    let (_, claims) = jwt_parts(body["access_token"].as_str().unwrap());
    assert_eq!(
        claims["aud"],
        json!([PAYMENTS, PHOTOS]),
        "no resource: every allowed audience"
    );

    let body = s.m2m_token(&[("audience", PHOTOS)]).await;
    assert_eq!(
        jwt_parts(body["access_token"].as_str().unwrap()).1["aud"],
        PHOTOS
    );

    let body = s
        .m2m_token(&[("resource", PHOTOS), ("resource", PAYMENTS)])
        .await;
    assert_eq!(
        jwt_parts(body["access_token"].as_str().unwrap()).1["aud"],
        json!([PHOTOS, PAYMENTS])
    );

    for bad in [
        "https://evil.example.com",
        "not a uri",
        "https://photos.example.com#frag",
    ] {
        let r = s
            .post_form(
                "/token",
                Some((ID, SECRET)),
                &[("grant_type", "client_credentials"), ("resource", bad)],
            )
            .await;
        let (status, h, body) = error_of(r).await;
        assert_eq!(status, 400, "{bad}");
        assert_no_store(&h);
        assert_eq!(body["error"], "invalid_target", "{bad}");
    }
    let r = s
        .post_form(
            "/token",
            Some((ID, SECRET)),
            &[
                ("grant_type", "client_credentials"),
                ("resource", "https://evil.example.com"),
            ],
        )
        .await;
    assert_eq!(
        error_of(r).await.2,
        json!({"error": "invalid_target", "error_description": "the requested resource is not allowed for this client"})
    );
}
both!(audience_follows_rfc8707);

async fn opaque_tokens_are_random_references(s: &Server) {
    let body = s.opaque_token().await;
    let token = body["access_token"].as_str().unwrap();
    assert!(!token.contains('.'), "not a JWT");
    assert!(token.len() >= 43, "at least 256 bits, base64url");
    let info = s.introspect(token).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["client_id"], "opaque-client");
    assert_eq!(info["sub"], "opaque-client");
    assert_eq!(info["scope"], "photos:read");
    assert_eq!(
        info["aud"],
        json!([s.base]),
        "no audience configured: the issuer"
    );
}
both!(opaque_tokens_are_random_references);

/// (what, Basic credentials, form, expected status, expected body)
type ErrorCase<'a> = (
    &'a str,
    Option<(&'a str, &'a str)>,
    Vec<(&'a str, &'a str)>,
    u16,
    Value,
);

async fn token_endpoint_errors_are_rfc6749_shaped(s: &Server) {
    let cases: Vec<ErrorCase> = vec![
        (
            "missing grant_type",
            Some((ID, SECRET)),
            vec![],
            400,
            json!({"error": "invalid_request", "error_description": "missing parameter: grant_type"}),
        ),
        (
            "password grant",
            Some((ID, SECRET)),
            vec![
                ("grant_type", "password"),
                ("username", "alice"),
                ("password", "x"),
            ],
            400,
            json!({"error": "unsupported_grant_type", "error_description": "this grant type is not supported"}),
        ),
        (
            "unknown grant",
            Some((ID, SECRET)),
            vec![("grant_type", "urn:example:nope")],
            400,
            json!({"error": "unsupported_grant_type", "error_description": "this grant type is not supported"}),
        ),
        (
            "duplicate parameter",
            Some((ID, SECRET)),
            vec![
                ("grant_type", "client_credentials"),
                ("scope", "photos:read"),
                ("scope", "charge:customer"),
            ],
            400,
            json!({"error": "invalid_request", "error_description": "parameter scope is repeated"}),
        ),
        (
            "wrong secret",
            Some((ID, "wrong-secret")),
            vec![("grant_type", "client_credentials")],
            401,
            json!({"error": "invalid_client", "error_description": "client authentication failed"}),
        ),
        (
            "unknown client",
            Some(("nobody", SECRET)),
            vec![("grant_type", "client_credentials")],
            401,
            json!({"error": "invalid_client", "error_description": "client authentication failed"}),
        ),
        (
            "no credentials",
            None,
            vec![("grant_type", "client_credentials")],
            401,
            json!({"error": "invalid_client", "error_description": "client authentication failed"}),
        ),
        (
            "two auth methods",
            Some((ID, SECRET)),
            vec![
                ("grant_type", "client_credentials"),
                ("client_secret", SECRET),
            ],
            400,
            json!({"error": "invalid_request", "error_description": "the client used more than one authentication method"}),
        ),
        (
            "client not allowed this grant",
            Some(("web-app", "web-app-secret-0123456789")),
            vec![("grant_type", "client_credentials")],
            400,
            json!({"error": "unauthorized_client", "error_description": "this client may not use the client_credentials grant"}),
        ),
    ];
    for (name, basic, form, status, body) in cases {
        let r = s.post_form("/token", basic, &form).await;
        let (got_status, h, got_body) = error_of(r).await;
        assert_eq!(got_status, status, "{name}");
        assert_eq!(got_body, body, "{name}");
        assert_no_store(&h);
        if status == 401 {
            assert_eq!(
                h["www-authenticate"], r#"Basic realm="frontdesk", charset="UTF-8""#,
                "{name}"
            );
        } else {
            assert!(h.get("www-authenticate").is_none(), "{name}");
        }
    }

    // Not a form body.
    let r = s
        .http
        .post(s.url("/token"))
        .header("authorization", basic_header(ID, SECRET))
        .json(&json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    let (status, _, body) = error_of(r).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"error": "invalid_request", "error_description": "the body must be application/x-www-form-urlencoded"})
    );

    // Malformed Basic header.
    let r = s
        .http
        .post(s.url("/token"))
        .header("authorization", "Basic !!!")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 401);

    // Oversized body: 413 with a JSON error.
    let big = format!("grant_type=client_credentials&x={}", "a".repeat(70 * 1024));
    let r = s
        .http
        .post(s.url("/token"))
        .header("authorization", basic_header(ID, SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await
        .unwrap();
    let (status, _, body) = error_of(r).await;
    assert_eq!(status, 413);
    assert_eq!(body["error"], "invalid_request");

    // Wrong method.
    let r = s.http.get(s.url("/token")).send().await.unwrap();
    assert_eq!(r.status(), 405);
}
both!(token_endpoint_errors_are_rfc6749_shaped);

/// RFC 6749 §2.3.1: id and secret are form-encoded before Basic.
async fn basic_credentials_are_form_decoded(s: &Server) {
    let created = s
        .admin_req(
            reqwest::Method::POST,
            "/admin/clients",
            Some(json!({
                "client_id": "odd id+%",
                "client_secret": "p@ss:word with spaces+%25",
                "client_name": "Odd",
                "grant_types": ["client_credentials"],
            })),
        )
        .await;
    assert_eq!(created.status(), 201);
    let r = s
        .http
        .post(s.url("/token"))
        .header(
            "authorization",
            basic_header("odd id+%", "p@ss:word with spaces+%25"),
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
both!(basic_credentials_are_form_decoded);

/// The independent `oauth2` crate, configured only with the endpoint URL.
async fn oauth2_crate_interoperates(s: &Server) {
    use oauth2::{AuthUrl, ClientId, ClientSecret, Scope, TokenResponse, TokenUrl};
    let http = s.http.clone();
    let client = oauth2::basic::BasicClient::new(ClientId::new(ID.into()))
        .set_client_secret(ClientSecret::new(SECRET.into()))
        .set_auth_uri(AuthUrl::new(s.url("/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(s.url("/token")).unwrap());
    let send = |req: oauth2::HttpRequest| {
        let http = http.clone();
        async move {
            let (parts, body) = req.into_parts();
            let mut r = http.request(parts.method, parts.uri.to_string()).body(body);
            for (k, v) in &parts.headers {
                r = r.header(k, v);
            }
            let resp = r.send().await?;
            let mut out = oauth2::http::Response::builder().status(resp.status().as_u16());
            for (k, v) in resp.headers() {
                out = out.header(k.as_str(), v.as_bytes());
            }
            let bytes = resp.bytes().await?;
            Ok::<_, reqwest::Error>(out.body(bytes.to_vec()).expect("response"))
        }
    };
    let token = client
        .exchange_client_credentials()
        .add_scope(Scope::new("photos:read".into()))
        .request_async(&send)
        .await
        .expect("oauth2 crate gets a token");
    assert_eq!(token.token_type(), &oauth2::basic::BasicTokenType::Bearer);
    assert_eq!(token.scopes().map(|v| v.len()), Some(1));
    let info = s.introspect(token.access_token().secret()).await;
    assert_eq!(info["active"], true);

    // And a failure surfaces as the typed RFC 6749 §5.2 error.
    let bad = oauth2::basic::BasicClient::new(ClientId::new(ID.into()))
        .set_client_secret(ClientSecret::new("wrong".into()))
        .set_token_uri(TokenUrl::new(s.url("/token")).unwrap());
    match bad.exchange_client_credentials().request_async(&send).await {
        Err(oauth2::RequestTokenError::ServerResponse(e)) => {
            assert_eq!(
                e.error(),
                &oauth2::basic::BasicErrorResponseType::InvalidClient
            );
        }
        other => panic!("expected invalid_client, got {other:?}"),
    }
}
both!(oauth2_crate_interoperates);

/// No secret or token ever reaches the request log.
async fn logs_carry_no_secrets(s: &Server) {
    let body = s.m2m_token(&[]).await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    let _ = s.introspect(&token).await;
    let _ = s
        .post_form(
            "/token",
            Some((ID, "a-wrong-secret-value")),
            &[("grant_type", "client_credentials")],
        )
        .await;
    let log = wait_for("requests are logged", Duration::from_secs(2), async || {
        let log = s.log();
        if log.contains("/token") {
            Ok(log)
        } else {
            Err(log.len())
        }
    })
    .await;
    for secret in [SECRET, "a-wrong-secret-value", &token, &token[..20]] {
        assert!(!log.contains(secret), "log leaks {secret}");
    }
}
both!(logs_carry_no_secrets);
