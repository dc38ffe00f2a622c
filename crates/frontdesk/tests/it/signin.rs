//! Browser sign-in end to end: authorization code + PKCE, login and consent
//! pages, SSO, ID tokens, userinfo, refresh rotation, logout.

use serde_json::{Value, json};

use crate::both;
use crate::browser::{ALICE, Browser, SIGNIN_CONFIG, authorize_url, page, pkce, query, redirect};
use std::time::Duration;

use crate::support::{Server, jwt_parts, unix_now, wait_for};

const APP1: (&str, &str) = ("app1", "app1-secret-0123456789abcdef");
const APP1_CB: &str = "https://app1.example.com/cb";

async fn token(s: &Server, client: (&str, &str), form: &[(&str, &str)]) -> (u16, Value) {
    let r = s.post_form("/token", Some(client), form).await;
    let status = r.status().as_u16();
    assert_eq!(r.headers()["cache-control"], "no-store");
    (status, r.json().await.unwrap())
}

async fn jwks(s: &Server) -> Value {
    s.http
        .get(s.url("/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Verifies an ID token with jsonwebtoken and the published JWKS.
pub(crate) async fn verify_id_token(s: &Server, id_token: &str, client_id: &str) -> Value {
    let (header, _) = jwt_parts(id_token);
    let keys = jwks(s).await;
    let jwk = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("kid in JWKS");
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(jwk.clone()).unwrap();
    let alg: jsonwebtoken::Algorithm = header["alg"].as_str().unwrap().parse().unwrap();
    let mut v = jsonwebtoken::Validation::new(alg);
    v.set_audience(&[client_id]);
    v.set_issuer(&[&s.base]);
    frontdesk_jose::install_crypto_provider();
    jsonwebtoken::decode::<Value>(
        id_token,
        &jsonwebtoken::DecodingKey::from_jwk(&jwk).unwrap(),
        &v,
    )
    .expect("ID token verifies")
    .claims
}

/// Drives login + consent and returns the code.
async fn sign_in(s: &Server, b: &Browser, challenge: &str, scope: &str) -> String {
    let login = page(
        b.get(&authorize_url(s, APP1.0, APP1_CB, scope, challenge, &[]))
            .await,
    );
    assert_eq!(login.status, 200);
    assert!(
        login.body.contains("APP1"),
        "the login page names the client"
    );
    let consent = page(b.login(&login, ALICE).await);
    assert_eq!(consent.status, 200);
    assert!(
        consent.body.contains("confirm who you are"),
        "a sentence per scope"
    );
    if scope.contains("email") {
        assert!(consent.body.contains("see your email address"));
    }
    let cb = redirect(b.consent(&consent, "approve").await);
    assert_eq!(cb.as_str().split('?').next(), Some(APP1_CB));
    assert_eq!(query(&cb, "state").as_deref(), Some("st-123"));
    assert_eq!(
        query(&cb, "iss").as_deref(),
        Some(s.base.as_str()),
        "RFC 9207 iss"
    );
    query(&cb, "code").expect("code")
}

async fn full_flow(s: &Server) {
    let b = Browser::new(s);
    let (verifier, challenge) = pkce();
    let code = sign_in(s, &b, &challenge, "openid profile email offline_access").await;

    let (status, body) = token(
        s,
        APP1,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", APP1_CB),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "openid profile email offline_access");
    let at = body["access_token"].as_str().unwrap().to_owned();
    let rt = body["refresh_token"]
        .as_str()
        .expect("offline_access gives a refresh token")
        .to_owned();
    let id = verify_id_token(s, body["id_token"].as_str().unwrap(), APP1.0).await;
    assert_eq!(
        jwt_parts(body["id_token"].as_str().unwrap()).0["alg"],
        "RS256"
    );
    assert_eq!(id["nonce"], "n-456");
    assert_eq!(id["azp"], APP1.0);
    assert_eq!(id["amr"], json!(["pwd"]));
    assert_eq!(id.get("idp"), None, "a sign-in here names no upstream");
    assert_eq!(id["email"], "alice@example.com");
    assert_eq!(id["name"], "Alice Example");
    assert!(id["sid"].is_string());
    assert!(id["auth_time"].as_u64().unwrap().abs_diff(unix_now()) < 60);
    // at_hash: left half of SHA-256 of the access token (OIDC Core §3.1.3.6).
    let digest = frontdesk_jose::sha256(at.as_bytes());
    assert_eq!(id["at_hash"], frontdesk_jose::b64url(&digest[..16]));

    let (_, at_claims) = jwt_parts(&at);
    assert_eq!(at_claims["sub"], id["sub"]);
    assert_eq!(at_claims["client_id"], APP1.0);
    assert_eq!(
        at_claims["aud"],
        json!(["https://photos.example.com", s.base])
    );

    // Userinfo (OIDC Core §5.3): sub equals the ID token's.
    let info: Value = s
        .http
        .get(s.url("/userinfo"))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["sub"], id["sub"]);
    assert_eq!(info["email"], "alice@example.com");
    assert_eq!(info["email_verified"], true);
    assert_eq!(info["preferred_username"], "alice");

    // The code is single-use; a replay revokes what it issued (R14).
    let (status, body) = token(
        s,
        APP1,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", APP1_CB),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"error": "invalid_grant", "error_description": "the authorization code was already used"})
    );
    assert_eq!(s.introspect(&at).await, json!({"active": false}));
    assert_eq!(s.introspect(&rt).await, json!({"active": false}));
    let r = s
        .http
        .get(s.url("/userinfo"))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
}
both!(full_flow, SIGNIN_CONFIG);

async fn refresh_rotation_and_reuse_detection(s: &Server) {
    let b = Browser::new(s);
    let (verifier, challenge) = pkce();
    let code = sign_in(s, &b, &challenge, "openid offline_access photos:read").await;
    let (_, body) = token(
        s,
        APP1,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", APP1_CB),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    let rt1 = body["refresh_token"].as_str().unwrap().to_owned();

    // Rotation: a new refresh token every time.
    let (status, r2) = token(
        s,
        APP1,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt1)],
    )
    .await;
    assert_eq!(status, 200, "{r2}");
    let rt2 = r2["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2);
    assert!(r2["id_token"].is_string());

    // A retry within the grace window gets the same successor.
    let (status, again) = token(
        s,
        APP1,
        &[("grant_type", "refresh_token"), ("refresh_token", &rt1)],
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["refresh_token"], rt2.as_str());
    assert_eq!(
        jwt_parts(again["access_token"].as_str().unwrap()).1["jti"],
        jwt_parts(r2["access_token"].as_str().unwrap()).1["jti"]
    );

    // Narrowing is allowed, widening is not (RFC 6749 §6, R22).
    let (status, narrow) = token(
        s,
        APP1,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt2),
            ("scope", "photos:read"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{narrow}");
    assert_eq!(narrow["scope"], "photos:read");
    let rt3 = narrow["refresh_token"].as_str().unwrap().to_owned();
    let (status, wide) = token(
        s,
        APP1,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt3),
            ("scope", "openid email"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(wide["error"], "invalid_scope");

    // Another client cannot use it (R20), and does not burn it.
    let r = s
        .post_form(
            "/token",
            None,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt3),
                ("client_id", "native"),
            ],
        )
        .await;
    assert_eq!(r.status(), 400);
    let other: Value = r.json().await.unwrap();
    assert_eq!(
        other,
        json!({"error": "invalid_grant", "error_description": "the refresh token was issued to another client"})
    );

    // Reuse outside the grace window, which revokes the family, needs the
    // window to pass: security_token.rs (R20) does it over HTTP once, and
    // crates/core/tests/it/refresh_token.rs with a fixed clock.
}
both!(refresh_rotation_and_reuse_detection, SIGNIN_CONFIG);

async fn sso_prompt_none_and_logout(s: &Server) {
    let b = Browser::new(s);
    let (verifier, challenge) = pkce();
    let code = sign_in(s, &b, &challenge, "openid email").await;
    let (_, body) = token(
        s,
        APP1,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", APP1_CB),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    let id_token = body["id_token"].as_str().unwrap().to_owned();

    // SSO: a second client signs the user in without a password (consent only).
    let (_, c2) = pkce();
    let consent = page(
        b.get(&authorize_url(
            s,
            "app2",
            "https://app2.example.com/cb",
            "openid email",
            &c2,
            &[],
        ))
        .await,
    );
    assert!(consent.body.contains("APP2 </strong>") || consent.body.contains("APP2"));
    assert!(consent.input("password").is_none(), "no password asked");
    let cb = redirect(b.consent(&consent, "approve").await);
    assert!(query(&cb, "code").is_some());

    // prompt=none with a session and remembered consent: straight back with a code.
    let (_, c3) = pkce();
    let cb = redirect(
        b.get(&authorize_url(
            s,
            APP1.0,
            APP1_CB,
            "openid email",
            &c3,
            &[("prompt", "none")],
        ))
        .await,
    );
    assert!(query(&cb, "code").is_some());
    // A scope never approved: consent_required.
    let cb = redirect(
        b.get(&authorize_url(
            s,
            APP1.0,
            APP1_CB,
            "openid profile",
            &c3,
            &[("prompt", "none")],
        ))
        .await,
    );
    assert_eq!(query(&cb, "error").as_deref(), Some("consent_required"));
    assert_eq!(query(&cb, "state").as_deref(), Some("st-123"));
    assert_eq!(query(&cb, "iss").as_deref(), Some(s.base.as_str()));

    // prompt=login forces the login page even with a session.
    let login = page(
        b.get(&authorize_url(
            s,
            APP1.0,
            APP1_CB,
            "openid email",
            &c3,
            &[("prompt", "login")],
        ))
        .await,
    );
    assert!(login.input("password").is_some() || login.body.contains("name=\"password\""));

    // RP-initiated logout with id_token_hint ends the session at once.
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("id_token_hint", &id_token)
        .append_pair("post_logout_redirect_uri", "https://app1.example.com/bye")
        .append_pair("state", "bye-1");
    let bye = redirect(b.get(&format!("{}/logout?{}", s.base, q.finish())).await);
    assert_eq!(bye.as_str(), "https://app1.example.com/bye?state=bye-1");

    let cb = redirect(
        b.get(&authorize_url(
            s,
            APP1.0,
            APP1_CB,
            "openid email",
            &c3,
            &[("prompt", "none")],
        ))
        .await,
    );
    assert_eq!(query(&cb, "error").as_deref(), Some("login_required"));

    // An unregistered post_logout_redirect_uri is an error page, never a redirect.
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("id_token_hint", &id_token)
        .append_pair("post_logout_redirect_uri", "https://evil.example.com/");
    let p = page(b.get(&format!("{}/logout?{}", s.base, q.finish())).await);
    assert_eq!(p.status, 400);
}
both!(sso_prompt_none_and_logout, SIGNIN_CONFIG);

/// SECURITY.md R16, R32: headers on every HTML page.
async fn r16_r32_pages_carry_security_headers(s: &Server) {
    let b = Browser::new(s);
    let (_, challenge) = pkce();
    let login = page(
        b.get(&authorize_url(
            s,
            APP1.0,
            APP1_CB,
            "openid",
            &challenge,
            &[],
        ))
        .await,
    );
    let csp = login.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'"));
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(login.headers["x-frame-options"], "DENY");
    assert_eq!(login.headers["referrer-policy"], "no-referrer");
    assert_eq!(login.headers["cache-control"], "no-store");
    let cookie = login
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    assert!(cookie.iter().any(|c| c.starts_with("fd_csrf=")
        && c.contains("HttpOnly")
        && c.contains("SameSite=Lax")));
}
both!(r16_r32_pages_carry_security_headers, SIGNIN_CONFIG);

/// SECURITY.md R11: a client that keeps sending one PKCE challenge is logged.
async fn r11_constant_pkce_challenge_is_logged(s: &Server) {
    let b = Browser::new(s);
    let (_, challenge) = pkce();
    for _ in 0..5 {
        let _ = b
            .get(&authorize_url(
                s,
                APP1.0,
                APP1_CB,
                "openid",
                &challenge,
                &[],
            ))
            .await;
    }
    let log = wait_for("the event is logged", Duration::from_secs(2), async || {
        let log = s.log();
        if log.contains("reuses the same code_challenge") {
            Ok(log)
        } else {
            Err(log.len())
        }
    })
    .await;
    assert!(log.contains("client_id=app1") || log.contains("\"client_id\":\"app1\""));
    assert!(!log.contains(&challenge), "the value itself is not logged");

    // Fresh challenges each time: nothing to report.
    let before = s.log().matches("reuses the same code_challenge").count();
    for _ in 0..5 {
        let (_, c) = pkce();
        let _ = b
            .get(&authorize_url(
                s,
                APP1.0,
                APP1_CB,
                "openid",
                &c,
                &[("nonce", "")],
            ))
            .await;
    }
    // The server writes its log to the file synchronously while handling
    // a request, so once the responses are in, a warning would be too.
    assert_eq!(
        s.log().matches("reuses the same code_challenge").count(),
        before
    );
}
both!(r11_constant_pkce_challenge_is_logged, SIGNIN_CONFIG);

/// Failed logins slow down progressively before the account locks: from
/// the 6th failure each attempt waits 0.25 s, doubling.
async fn failed_logins_slow_down_progressively(s: &Server) {
    let b = Browser::new(s);
    let (_, challenge) = pkce();
    let login = page(
        b.get(&authorize_url(
            s,
            APP1.0,
            APP1_CB,
            "openid",
            &challenge,
            &[],
        ))
        .await,
    );
    for _ in 0..6 {
        let p = page(b.login(&login, ("bob", "wrong-password-1")).await);
        assert_eq!(p.status, 401);
    }
    // 6 failures counted: this attempt waits 0.5 s before it is checked.
    let started = std::time::Instant::now();
    let p = page(b.login(&login, ("bob", "wrong-password-1")).await);
    assert_eq!(p.status, 401);
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(450),
        "{:?}",
        started.elapsed()
    );
    // The right password still works before the lockout.
    let consent = page(b.login(&login, ("bob", "bob-password-123456")).await);
    assert_eq!(consent.status, 200);
    assert!(consent.body.contains("Signed in as bob"));
}
both!(failed_logins_slow_down_progressively, SIGNIN_CONFIG);

/// RFC 6750 §2.2 at `/userinfo`: a POST may carry the Bearer token as the
/// form field `access_token` instead of the header; both at once is
/// `invalid_request` (§2: one method per request); a GET's body and a
/// query parameter are not read.
async fn userinfo_takes_the_token_in_a_form_body(s: &Server) {
    let b = Browser::new(s);
    let (verifier, challenge) = pkce();
    let code = sign_in(s, &b, &challenge, "openid profile email").await;
    let (status, body) = token(
        s,
        APP1,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", APP1_CB),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let at = body["access_token"].as_str().unwrap().to_owned();
    let url = s.url("/userinfo");

    let r = s
        .http
        .post(&url)
        .form(&[("access_token", at.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let claims: Value = r.json().await.unwrap();
    assert_eq!(claims["email"], "alice@example.com");

    let r = s
        .http
        .post(&url)
        .header("authorization", format!("Bearer {at}"))
        .form(&[("access_token", at.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(
        e,
        json!({"error": "invalid_request",
               "error_description": "the access token must be sent one way only: the Authorization header or the form body (RFC 6750 §2)"})
    );

    // A wrong token in the body: the usual 401 with its challenge.
    let r = s
        .http
        .post(&url)
        .form(&[("access_token", "not-a-token")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token"),
        "{:?}",
        r.headers()
    );
    // No token at all (the query is not a place for it, §2.3 is not offered).
    let r = s
        .http
        .get(format!("{url}?access_token={at}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}
both!(userinfo_takes_the_token_in_a_form_body, SIGNIN_CONFIG);
