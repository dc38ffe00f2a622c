//! The admin REST API on its own listener: bearer-token guard, clients and
//! users, and no listener at all without an admin token.

use reqwest::Method;
use serde_json::{Value, json};

use crate::both;
use crate::support::{ADMIN_TOKEN, Database, Server, invalid_client, jwt_parts, parts};

async fn admin(s: &Server, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let (status, _, body) = parts(s.admin_req(method, path, body).await).await;
    (status, body)
}

/// A client-credentials token request; returns status and body.
async fn token(s: &Server, id: &str, secret: &str) -> (u16, Value) {
    let r = s
        .post_form(
            "/token",
            Some((id, secret)),
            &[("grant_type", "client_credentials")],
        )
        .await;
    let (status, _, body) = parts(r).await;
    (status, body)
}

/// Every object key in `v`, recursively.
fn keys(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                out.push(k.clone());
                keys(v, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|v| keys(v, out)),
        _ => {}
    }
}

/// No hash of a secret or password anywhere in an admin response.
fn assert_no_hashes(v: &Value) {
    let mut ks = Vec::new();
    keys(v, &mut ks);
    for k in ks {
        assert!(!k.contains("hash"), "{k} in {v}");
        assert_ne!(k, "password", "{v}");
    }
    let text = v.to_string();
    assert!(!text.contains("$argon2"), "{text}");
    if let Some(secrets) = v.get("secrets") {
        for s in secrets.as_array().unwrap() {
            let mut ks: Vec<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
            ks.sort_unstable();
            assert_eq!(ks, ["created_at", "expires_at"], "{s}");
        }
    }
}

async fn the_admin_token_is_required(s: &Server) {
    let unauthorized = json!({"error": "unauthorized", "error_description": "a valid admin bearer token is required"});
    let cases: [(&str, Option<String>); 5] = [
        ("no token", None),
        (
            "wrong token",
            Some("Bearer wrong-token-0123456789abcdef-0123".into()),
        ),
        (
            "token prefix",
            Some(format!("Bearer {}", &ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1])),
        ),
        ("token plus a byte", Some(format!("Bearer {ADMIN_TOKEN}x"))),
        ("basic", Some(format!("Basic {ADMIN_TOKEN}"))),
    ];
    for (name, auth) in cases {
        for (method, path) in [
            (Method::GET, "/admin/clients"),
            (Method::POST, "/admin/clients"),
            (Method::GET, "/admin/clients/order-service"),
            (Method::DELETE, "/admin/clients/order-service"),
            (Method::GET, "/admin/users"),
            (Method::DELETE, "/admin/users/alice"),
        ] {
            let mut req = s
                .http
                .request(method.clone(), format!("{}{path}", s.admin))
                .json(&json!({"client_name": "x"}));
            if let Some(a) = &auth {
                req = req.header("authorization", a);
            }
            let (status, h, body) = parts(req.send().await.unwrap()).await;
            assert_eq!(status, 401, "{name}: {method} {path}");
            assert_eq!(
                h["www-authenticate"], r#"Bearer realm="frontdesk-admin""#,
                "{name}"
            );
            assert_eq!(body, unauthorized, "{name}: {method} {path}");
        }
    }
    // Nothing was deleted by the refused requests.
    assert_eq!(
        admin(s, Method::GET, "/admin/clients/order-service", None)
            .await
            .0,
        200
    );
    assert_eq!(
        admin(s, Method::GET, "/admin/users/alice", None).await.0,
        200
    );

    // The OpenAPI description needs no token.
    let r = s
        .http
        .get(format!("{}/admin/openapi.json", s.admin))
        .send()
        .await
        .unwrap();
    let (status, h, body) = parts(r).await;
    assert_eq!(status, 200);
    assert!(
        h["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert!(
        body["openapi"].as_str().is_some_and(|v| v.starts_with('3')),
        "{body}"
    );
    assert!(body["paths"].is_object());

    // The admin API is not on the public listener.
    let r = s
        .http
        .get(s.url("/admin/clients"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
both!(the_admin_token_is_required);

async fn client_lifecycle(s: &Server) {
    let (status, created) = admin(
        s,
        Method::POST,
        "/admin/clients",
        Some(json!({
            "client_name": "Billing",
            "grant_types": ["client_credentials"],
            "scope": "photos:read",
        })),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert!(!id.is_empty());
    assert_eq!(secret.len(), 43, "256 bits, base64url");
    assert!(
        secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    assert_eq!(created["client_name"], "Billing");
    assert_eq!(created["scope"], "photos:read");
    assert_eq!(created["token_endpoint_auth_method"], "client_secret_basic");
    assert_eq!(created["secrets"].as_array().unwrap().len(), 1);
    assert_no_hashes(&created);

    // Usable at once.
    let (status, body) = token(s, &id, &secret).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "photos:read");

    // GET: metadata, never the secret.
    let (status, shown) = admin(s, Method::GET, &format!("/admin/clients/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(shown["client_id"], id.as_str());
    assert!(shown.get("client_secret").is_none(), "{shown}");
    assert!(!shown.to_string().contains(&secret));
    assert_no_hashes(&shown);
    let (status, list) = admin(s, Method::GET, "/admin/clients", None).await;
    assert_eq!(status, 200);
    // One page (everything fits in the default 50) and no cursor after it.
    assert_eq!(list["next_cursor"], Value::Null, "{list}");
    let list = list["clients"].as_array().unwrap();
    assert!(list.iter().any(|c| c["client_id"] == id.as_str()));
    assert!(list.iter().any(|c| c["client_id"] == "order-service"));
    for c in list {
        assert!(c.get("client_secret").is_none());
        assert_no_hashes(c);
    }

    // PATCH takes effect on the next token.
    let (status, patched) = admin(
        s,
        Method::PATCH,
        &format!("/admin/clients/{id}"),
        Some(json!({"scope": "photos:read photos:write"})),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["scope"], "photos:read photos:write");
    assert_eq!(patched["client_name"], "Billing", "other fields unchanged");
    let (status, body) = token(s, &id, &secret).await;
    assert_eq!(status, 200);
    assert_eq!(body["scope"], "photos:read photos:write");
    assert_eq!(
        jwt_parts(body["access_token"].as_str().unwrap()).1["scope"],
        "photos:read photos:write"
    );

    // DELETE: 204, then the client is gone everywhere.
    let r = s
        .admin_req(Method::DELETE, &format!("/admin/clients/{id}"), None)
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(r.text().await.unwrap(), "");
    let (status, body) = token(s, &id, &secret).await;
    assert_eq!(status, 401);
    assert_eq!(body, invalid_client());
    let no_client = json!({"error": "not_found", "error_description": "no such client"});
    for method in [Method::GET, Method::DELETE] {
        let (status, body) = admin(s, method.clone(), &format!("/admin/clients/{id}"), None).await;
        assert_eq!((status, &body), (404, &no_client), "{method}");
    }
    let (status, body) = admin(
        s,
        Method::PATCH,
        "/admin/clients/no-such-client",
        Some(json!({"scope": "a"})),
    )
    .await;
    assert_eq!((status, body), (404, no_client));
}
both!(client_lifecycle);

async fn client_registration_is_validated(s: &Server) {
    for bad in [
        "http://example.com/cb",
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "https://a.example/cb#x",
        "data:text/html,x",
        "/relative/cb",
    ] {
        let (status, body) = admin(
            s,
            Method::POST,
            "/admin/clients",
            Some(json!({
                "client_name": "Web",
                "redirect_uris": [bad],
                "grant_types": ["authorization_code"],
            })),
        )
        .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"], "invalid_request", "{bad}");
        let desc = body["error_description"].as_str().unwrap();
        assert!(desc.contains("redirect_uri"), "{bad}: {desc}");
        // The same URI through PATCH.
        let (status, body) = admin(
            s,
            Method::PATCH,
            "/admin/clients/web-app",
            Some(json!({"redirect_uris": [bad]})),
        )
        .await;
        assert_eq!(status, 400, "PATCH {bad}: {body}");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("redirect_uri")
        );
    }
    let (_, web) = admin(s, Method::GET, "/admin/clients/web-app", None).await;
    assert_eq!(web["redirect_uris"], json!(["https://app.example.com/cb"]));

    // Unknown fields are refused, not ignored.
    let (status, body) = admin(
        s,
        Method::POST,
        "/admin/clients",
        Some(json!({"client_name": "X", "grant_types": ["client_credentials"], "is_admin": true})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_request");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("is_admin"),
        "{body}"
    );
    let (status, body) = admin(
        s,
        Method::PATCH,
        "/admin/clients/order-service",
        Some(json!({"client_secret": "new-secret-0123456789abcdef"})),
    )
    .await;
    assert_eq!(status, 400, "PATCH cannot set a secret: {body}");
    assert_eq!(body["error"], "invalid_request");

    // Duplicate client_id.
    let (status, body) = admin(
        s,
        Method::POST,
        "/admin/clients",
        Some(json!({"client_id": "order-service", "client_name": "Again", "grant_types": ["client_credentials"]})),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "conflict");
    // And the original still works with its own secret.
    assert_eq!(
        token(s, "order-service", "order-service-secret-0123456789")
            .await
            .0,
        200
    );

    // Not JSON at all.
    let r = s
        .http
        .post(format!("{}/admin/clients", s.admin))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (status, _, body) = parts(r).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_request");
}
both!(client_registration_is_validated);

async fn new_client(s: &Server, name: &str) -> (String, String) {
    let (status, created) = admin(
        s,
        Method::POST,
        "/admin/clients",
        Some(json!({"client_name": name, "grant_types": ["client_credentials"]})),
    )
    .await;
    assert_eq!(status, 201);
    (
        created["client_id"].as_str().unwrap().to_owned(),
        created["client_secret"].as_str().unwrap().to_owned(),
    )
}

async fn rotate_secret_without_grace(s: &Server) {
    let (id, old) = new_client(s, "Rotating").await;
    let (status, body) = admin(
        s,
        Method::POST,
        &format!("/admin/clients/{id}/rotate-secret"),
        Some(json!({"grace_secs": 0})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["client_id"], id.as_str());
    let new = body["client_secret"].as_str().unwrap();
    assert_eq!(new.len(), 43);
    assert_ne!(new, old);
    assert_eq!(token(s, &id, new).await.0, 200);
    let (status, body) = token(s, &id, &old).await;
    assert_eq!((status, body), (401, invalid_client()));
}
both!(rotate_secret_without_grace);

async fn rotate_secret_with_default_grace(s: &Server) {
    let (id, old) = new_client(s, "Rolling").await;
    let before = crate::support::unix_now();
    let r = s
        .admin_req(
            Method::POST,
            &format!("/admin/clients/{id}/rotate-secret"),
            None,
        )
        .await;
    let (status, _, body) = parts(r).await;
    assert_eq!(status, 200, "{body}");
    let new = body["client_secret"].as_str().unwrap();
    let until = body["previous_secret_expires_at"].as_u64().unwrap();
    assert!(
        until >= before + 86_400 && until <= crate::support::unix_now() + 86_400,
        "a day of grace: {until}"
    );
    assert_eq!(token(s, &id, new).await.0, 200);
    assert_eq!(token(s, &id, &old).await.0, 200, "old secret in its grace");
    let (_, shown) = admin(s, Method::GET, &format!("/admin/clients/{id}"), None).await;
    assert_eq!(shown["secrets"].as_array().unwrap().len(), 2);
    assert_no_hashes(&shown);

    let (status, body) = admin(
        s,
        Method::POST,
        "/admin/clients/no-such-client/rotate-secret",
        Some(json!({"grace_secs": 0})),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({"error": "not_found", "error_description": "no such client"})
        )
    );
}
both!(rotate_secret_with_default_grace);

async fn user_lifecycle(s: &Server) {
    let (status, bob) = admin(
        s,
        Method::POST,
        "/admin/users",
        Some(json!({"username": "bob", "password": "bob-password-123", "email": "Bob@Example.com", "name": "Bob"})),
    )
    .await;
    assert_eq!(status, 201, "{bob}");
    let sub = bob["sub"].as_str().unwrap().to_owned();
    let parsed = uuid_shape(&sub);
    assert!(parsed, "sub {sub} is a UUID");
    assert_eq!(bob["username"], "bob");
    assert_eq!(bob["email"], "Bob@Example.com", "original case kept");
    assert_eq!(bob["name"], "Bob");
    assert_eq!(bob["disabled"], false);
    assert_eq!(bob["has_password"], true);
    assert_no_hashes(&bob);
    assert!(!bob.to_string().contains("bob-password-123"));

    // Duplicates: username, and email in another case.
    for (name, spec) in [
        (
            "username",
            json!({"username": "bob", "password": "another-password-1"}),
        ),
        (
            "email",
            json!({"username": "bobby", "password": "another-password-1", "email": "bob@example.COM"}),
        ),
    ] {
        let (status, body) = admin(s, Method::POST, "/admin/users", Some(spec)).await;
        assert_eq!(status, 409, "{name}: {body}");
        assert_eq!(body["error"], "conflict", "{name}");
    }
    let (status, body) = admin(
        s,
        Method::POST,
        "/admin/users",
        Some(json!({"username": "shorty", "password": "short"})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"error": "invalid_request", "error_description": "password must be at least 8 characters"})
    );
    let (status, _) = admin(s, Method::GET, "/admin/users/shorty", None).await;
    assert_eq!(status, 404, "nothing was created");

    // GET by username, by sub, by email (any case).
    for key in ["bob", sub.as_str(), "bob@example.com"] {
        let (status, got) = admin(s, Method::GET, &format!("/admin/users/{key}"), None).await;
        assert_eq!(status, 200, "{key}");
        assert_eq!(got["sub"], sub.as_str(), "{key}");
        assert_no_hashes(&got);
    }
    let (status, list) = admin(s, Method::GET, "/admin/users", None).await;
    assert_eq!(status, 200);
    assert_eq!(list["next_cursor"], Value::Null, "{list}");
    let list = list["users"].as_array().unwrap();
    assert!(list.iter().any(|u| u["sub"] == sub.as_str()));
    assert!(list.iter().any(|u| u["username"] == "alice"));
    list.iter().for_each(assert_no_hashes);

    // PATCH disabled.
    let (status, got) = admin(
        s,
        Method::PATCH,
        "/admin/users/bob",
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["disabled"], true);
    let (_, got) = admin(s, Method::GET, &format!("/admin/users/{sub}"), None).await;
    assert_eq!(got["disabled"], true);
    let (status, body) = admin(
        s,
        Method::PATCH,
        "/admin/users/bob",
        Some(json!({"password_hash": "x"})),
    )
    .await;
    assert_eq!(status, 400, "unknown field: {body}");

    // PUT password.
    let r = s
        .admin_req(
            Method::PUT,
            "/admin/users/bob/password",
            Some(json!({"password": "bob-password-456"})),
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(r.text().await.unwrap(), "");
    let (status, body) = admin(
        s,
        Method::PUT,
        "/admin/users/bob/password",
        Some(json!({"password": "short"})),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"], "invalid_request");

    // DELETE, then gone.
    let r = s.admin_req(Method::DELETE, "/admin/users/bob", None).await;
    assert_eq!(r.status(), 204);
    let no_user = json!({"error": "not_found", "error_description": "no such user"});
    for key in ["bob", sub.as_str()] {
        let (status, body) = admin(s, Method::GET, &format!("/admin/users/{key}"), None).await;
        assert_eq!((status, &body), (404, &no_user), "{key}");
    }
    let (status, body) = admin(s, Method::DELETE, "/admin/users/bob", None).await;
    assert_eq!((status, body), (404, no_user.clone()));
    let (status, body) = admin(
        s,
        Method::PUT,
        "/admin/users/bob/password",
        Some(json!({"password": "bob-password-789"})),
    )
    .await;
    assert_eq!((status, body), (404, no_user));
    // The email is free again.
    let (status, _) = admin(
        s,
        Method::POST,
        "/admin/users",
        Some(
            json!({"username": "bob2", "password": "bob-password-123", "email": "bob@example.com"}),
        ),
    )
    .await;
    assert_eq!(status, 201);
}
both!(user_lifecycle);

/// 8-4-4-4-12 lower-case hex.
fn uuid_shape(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.iter().map(|g| g.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && groups.iter().all(|g| {
            g.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// Without an admin token there is no admin listener at all.
async fn no_admin_token_no_admin_listener(dir: tempfile::TempDir, db: Database) {
    let s = Server::start_without_admin(dir, &db.url, "");
    assert!(
        !s.startup.iter().any(|l| l.starts_with("admin API on")),
        "{:?}",
        s.startup
    );
    assert!(s.log().contains("admin API is off"), "{}", s.log());
    let r = s
        .http
        .get(format!("{}/admin/openapi.json", s.admin))
        .timeout(std::time::Duration::from_secs(2))
        .send()
        .await;
    assert!(
        r.as_ref().is_err_and(reqwest::Error::is_connect),
        "nothing listens on the admin address: {r:?}"
    );
    // The public listener works and does not serve the admin API either.
    assert_eq!(s.m2m_token(&[]).await["token_type"], "Bearer");
    let r = s
        .http
        .get(s.url("/admin/clients"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
both!(with_db no_admin_token_no_admin_listener);

/// A rotate-secret body is applied or refused, never silently ignored: a
/// `{"grace_secs": 0}` that fell back to the default grace would leave a
/// leaked secret working for a day.
async fn rotate_secret_body_is_never_ignored(s: &Server) {
    let (id, old) = new_client(s, "Careful").await;
    let url = format!("{}/admin/clients/{id}/rotate-secret", s.admin);
    let cases: [(&str, Option<&str>, &str); 4] = [
        ("no content type", None, r#"{"grace_secs":0}"#),
        (
            "form",
            Some("application/x-www-form-urlencoded"),
            "grace_secs=0",
        ),
        ("misspelt field", Some("application/json"), r#"{"grace":0}"#),
        (
            "wrong type",
            Some("application/json"),
            r#"{"grace_secs":"0"}"#,
        ),
    ];
    for (name, content_type, raw) in cases {
        let mut req = s.http.post(&url).bearer_auth(ADMIN_TOKEN).body(raw);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let (status, h, body) = parts(req.send().await.unwrap()).await;
        assert_eq!(status, 400, "{name}: {body}");
        assert_eq!(h["cache-control"], "no-store", "{name}");
        assert_eq!(body["error"], "invalid_request", "{name}: {body}");
        if content_type.is_none() || name == "form" {
            assert_eq!(
                body["error_description"], "the body must be application/json",
                "{name}"
            );
        }
    }
    // Nothing was rotated.
    let (_, shown) = admin(s, Method::GET, &format!("/admin/clients/{id}"), None).await;
    assert_eq!(shown["secrets"].as_array().unwrap().len(), 1);
    assert_eq!(token(s, &id, &old).await.0, 200);

    // A negative grace is no grace.
    let (status, body) = admin(
        s,
        Method::POST,
        &format!("/admin/clients/{id}/rotate-secret"),
        Some(json!({"grace_secs": -60})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(token(s, &id, &old).await.0, 401);
}
both!(rotate_secret_body_is_never_ignored);
