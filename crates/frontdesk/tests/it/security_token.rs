//! SECURITY.md rows for the token and userinfo endpoints, over real HTTP:
//! PKCE at redemption (R9), code binding (R13), double redemption (R14),
//! nonce (R15), no-store and code expiry (R17), refresh rotation, expiry,
//! revocation and binding (R20–R22), no password grant (R25), duplicate
//! parameters (R36), and userinfo's RFC 6750 errors.

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::both;
use crate::browser::{
    ALICE, APP1, APP1_CB, Browser, NATIVE_CB, SECURITY_CONFIG, authorize_url, authz, code_for,
    drive, params, pkce, query, redirect,
};
use crate::support::{Server, jwt_parts, wait_for};

/// POSTs to /token; every answer, success or error, carries
/// `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1, R17).
async fn token(
    s: &Server,
    client: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (u16, HeaderMap, Value) {
    let r = s.post_form("/token", client, form).await;
    let status = r.status().as_u16();
    let h = r.headers().clone();
    assert_eq!(h["cache-control"], "no-store", "{form:?}");
    assert_eq!(h["pragma"], "no-cache", "{form:?}");
    assert!(
        h["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    (status, h, r.json().await.unwrap())
}

fn err(error: &str, description: &str) -> Value {
    json!({"error": error, "error_description": description})
}

/// Redeems an app1 code, expecting success.
async fn redeem_app1(s: &Server, code: &str, verifier: &str) -> Value {
    let (status, _, body) = token(
        s,
        Some(APP1),
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", APP1_CB),
            ("code_verifier", verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// A code for the public `native` client and its tokens.
async fn native_tokens(s: &Server, b: &Browser, scope: &str) -> Value {
    let (verifier, challenge) = pkce();
    let code = code_for(s, b, "native", NATIVE_CB, scope, &challenge, &[]).await;
    let (status, _, body) = token(
        s,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "native"),
            ("code", &code),
            ("redirect_uri", NATIVE_CB),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Waits until introspection says `token` is inactive, for at most `within`.
async fn inactive_within(s: &Server, token: &str, within: Duration, what: &str) {
    wait_for(what, within, async || {
        let info = s.introspect(token).await;
        if info == json!({"active": false}) {
            Ok(())
        } else {
            Err(info)
        }
    })
    .await;
}

// ----- R9 -----

/// R9: the verifier is checked: missing or wrong → invalid_grant;
/// malformed → invalid_request (before the code is spent).
async fn r9_pkce_verifier_enforced(s: &Server) {
    let b = Browser::new(s);
    let (verifier, challenge) = pkce();
    let code = code_for(s, &b, APP1.0, APP1_CB, "openid", &challenge, &[]).await;
    let form = |v: &str| -> Vec<(String, String)> {
        let mut f = vec![
            ("grant_type".to_owned(), "authorization_code".to_owned()),
            ("code".to_owned(), code.clone()),
            ("redirect_uri".to_owned(), APP1_CB.to_owned()),
        ];
        if !v.is_empty() {
            f.push(("code_verifier".to_owned(), v.to_owned()));
        }
        f
    };
    let malformed = "code_verifier must be 43 to 128 unreserved characters";
    for bad in [
        "a".repeat(42),
        "a".repeat(129),
        format!("{}+", "a".repeat(42)),
        format!("{}!", "a".repeat(50)),
        format!("{} ", "a".repeat(50)),
        format!("{}/", "a".repeat(50)),
        format!("{}=", "a".repeat(50)),
        format!("{}é", "a".repeat(50)),
    ] {
        let f = form(&bad);
        let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let (status, _, body) = token(s, Some(APP1), &pairs).await;
        assert_eq!(
            (status, body),
            (400, err("invalid_request", malformed)),
            "verifier {bad:?}"
        );
    }
    // 43 and 128 characters are the bounds, and legal: here they are just wrong.
    let f = form(&"a".repeat(43));
    let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (status, _, body) = token(s, Some(APP1), &pairs).await;
    assert_eq!(
        (status, body),
        (
            400,
            err(
                "invalid_grant",
                "code_verifier does not match the code_challenge"
            )
        )
    );
    // That spent the code; the right verifier cannot redeem it now.
    let f = form(&verifier);
    let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (status, _, body) = token(s, Some(APP1), &pairs).await;
    assert_eq!(
        (status, body),
        (
            400,
            err("invalid_grant", "the authorization code was already used")
        )
    );

    // A challenge was sent, no verifier comes: invalid_grant.
    let (_, challenge) = pkce();
    let code = code_for(s, &b, APP1.0, APP1_CB, "openid", &challenge, &[]).await;
    let (status, _, body) = token(
        s,
        Some(APP1),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", APP1_CB),
        ],
    )
    .await;
    assert_eq!(
        (status, body),
        (400, err("invalid_grant", "code_verifier is required"))
    );

    // A 128-character wrong verifier.
    let (_, challenge) = pkce();
    let code = code_for(s, &b, APP1.0, APP1_CB, "openid", &challenge, &[]).await;
    let long = "Z".repeat(128);
    let (status, _, body) = token(
        s,
        Some(APP1),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", APP1_CB),
            ("code_verifier", &long),
        ],
    )
    .await;
    assert_eq!(
        (status, body),
        (
            400,
            err(
                "invalid_grant",
                "code_verifier does not match the code_challenge"
            )
        )
    );

    // The public client too: another client's verifier does not fit.
    let (verifier_n, challenge_n) = pkce();
    let code = code_for(s, &b, "native", NATIVE_CB, "openid", &challenge_n, &[]).await;
    let (status, _, body) = token(
        s,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "native"),
            ("code", &code),
            ("redirect_uri", NATIVE_CB),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(
        (status, body),
        (
            400,
            err(
                "invalid_grant",
                "code_verifier does not match the code_challenge"
            )
        )
    );
    let _ = verifier_n;
}
both!(r9_pkce_verifier_enforced, SECURITY_CONFIG);

// ----- R13, R14 -----

/// R13: a code is bound to its client and its redirect URI.
async fn r13_code_bound_to_client_and_redirect_uri(s: &Server) {
    let b = Browser::new(s);
    let (verifier, challenge) = pkce();
    let code = code_for(s, &b, APP1.0, APP1_CB, "openid", &challenge, &[]).await;
    let (status, _, body) = token(
        s,
        Some(("app2", "app2-secret-0123456789abcdef")),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://app2.example.com/cb"),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(
        (status, body),
        (
            400,
            err(
                "invalid_grant",
                "the authorization code was issued to another client"
            )
        )
    );
    // Same for a public client presenting app1's code, with app1's redirect URI.
    let (verifier, challenge) = pkce();
    let code = code_for(s, &b, APP1.0, APP1_CB, "openid", &challenge, &[]).await;
    let (status, _, body) = token(
        s,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "native"),
            ("code", &code),
            ("redirect_uri", APP1_CB),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(
        (status, body),
        (
            400,
            err(
                "invalid_grant",
                "the authorization code was issued to another client"
            )
        )
    );

    // A redirect URI other than the one of the authorization request.
    for other in [
        "https://app1.example.com/cb/",
        "https://app1.example.com/other",
        "https://APP1.example.com/cb",
    ] {
        let (verifier, challenge) = pkce();
        let code = code_for(s, &b, APP1.0, APP1_CB, "openid", &challenge, &[]).await;
        let (status, _, body) = token(
            s,
            Some(APP1),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", other),
                ("code_verifier", &verifier),
            ],
        )
        .await;
        assert_eq!(
            (status, body),
            (
                400,
                err(
                    "invalid_grant",
                    "redirect_uri does not match the authorization request"
                )
            ),
            "{other}"
        );
    }
    // Missing redirect_uri is a malformed request.
    let (verifier, challenge) = pkce();
    let code = code_for(s, &b, APP1.0, APP1_CB, "openid", &challenge, &[]).await;
    let (status, _, body) = token(
        s,
        Some(APP1),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(
        (status, body),
        (
            400,
            err("invalid_request", "missing parameter: redirect_uri")
        )
    );
    // A loopback code: the port is part of the binding.
    let (verifier, challenge) = pkce();
    let cb = drive(
        &b,
        &authorize_url(
            s,
            "native",
            "http://127.0.0.1:1/callback",
            "openid",
            &challenge,
            &[],
        ),
        ALICE,
    )
    .await;
    let code = query(&cb, "code").unwrap();
    let (status, _, body) = token(
        s,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "native"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:2/callback"),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(
        (status, body),
        (
            400,
            err(
                "invalid_grant",
                "redirect_uri does not match the authorization request"
            )
        )
    );
}
both!(r13_code_bound_to_client_and_redirect_uri, SECURITY_CONFIG);

/// R14: ten concurrent redemptions of one code: exactly one wins, and the
/// replay revokes what the winner got.
async fn r14_concurrent_double_redemption(s: &Server) {
    let b = Browser::new(s);
    let (verifier, challenge) = pkce();
    let code = code_for(
        s,
        &b,
        APP1.0,
        APP1_CB,
        "openid offline_access",
        &challenge,
        &[],
    )
    .await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let http = s.http.clone();
        let url = s.url("/token");
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", APP1_CB),
                ("code_verifier", verifier.as_str()),
            ])
            .finish();
        let auth = crate::support::basic_header(APP1.0, APP1.1);
        tasks.spawn(async move {
            let r = http
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("authorization", auth)
                .body(body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        });
    }
    let mut wins = Vec::new();
    let mut losses = 0;
    while let Some(res) = tasks.join_next().await {
        let (status, body) = res.unwrap();
        match status {
            200 => wins.push(body),
            400 => {
                assert_eq!(
                    body,
                    err("invalid_grant", "the authorization code was already used")
                );
                losses += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(wins.len(), 1, "exactly one redemption wins: {wins:?}");
    assert_eq!(losses, 9);
    let at = wins[0]["access_token"].as_str().unwrap();
    let rt = wins[0]["refresh_token"].as_str().unwrap();
    inactive_within(s, at, Duration::from_secs(1), "winner's access token").await;
    inactive_within(s, rt, Duration::from_secs(1), "winner's refresh token").await;
    let r = s
        .http
        .get(s.url("/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        r#"Bearer realm="frontdesk", error="invalid_token", error_description="the access token is invalid, expired or revoked""#
    );
    let (status, _, body) = token(
        s,
        Some(APP1),
        &[("grant_type", "refresh_token"), ("refresh_token", rt)],
    )
    .await;
    assert_eq!(
        (status, body),
        (
            400,
            err(
                "invalid_grant",
                "the refresh token has been revoked or has expired"
            )
        )
    );
}
both!(r14_concurrent_double_redemption, SECURITY_CONFIG);

// ----- R15, R17 -----

/// R15: the nonce of the request is in the ID token; no nonce, no claim.
async fn r15_nonce_echoed_only_when_sent(s: &Server) {
    let b = Browser::new(s);
    let nonce = "n-0123456789-üñí©ødé-%41+&=";
    let (verifier, challenge) = pkce();
    let cb = drive(
        &b,
        &authz(s, &params(APP1.0, APP1_CB, &challenge, &[("nonce", nonce)])),
        ALICE,
    )
    .await;
    let body = redeem_app1(s, &query(&cb, "code").unwrap(), &verifier).await;
    let (_, claims) = jwt_parts(body["id_token"].as_str().unwrap());
    assert_eq!(claims["nonce"], nonce);

    let (verifier, challenge) = pkce();
    let cb = redirect(
        b.get(&authz(
            s,
            &params(APP1.0, APP1_CB, &challenge, &[("nonce", "")]),
        ))
        .await,
    );
    let body = redeem_app1(s, &query(&cb, "code").unwrap(), &verifier).await;
    let (_, claims) = jwt_parts(body["id_token"].as_str().unwrap());
    assert!(claims.get("nonce").is_none(), "{claims}");
    // A refreshed ID token carries no nonce either (OIDC Core §12.2).
    let (verifier, challenge) = pkce();
    let cb = drive(
        &b,
        &authz(
            s,
            &params(
                APP1.0,
                APP1_CB,
                &challenge,
                &[("scope", "openid offline_access")],
            ),
        ),
        ALICE,
    )
    .await;
    let body = redeem_app1(s, &query(&cb, "code").unwrap(), &verifier).await;
    assert_eq!(
        jwt_parts(body["id_token"].as_str().unwrap()).1["nonce"],
        "n-456"
    );
    let (status, _, refreshed) = token(
        s,
        Some(APP1),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", body["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{refreshed}");
    assert!(
        jwt_parts(refreshed["id_token"].as_str().unwrap())
            .1
            .get("nonce")
            .is_none()
    );
}
both!(r15_nonce_echoed_only_when_sent, SECURITY_CONFIG);

/// R17: token responses are never cached, success or error. (Code expiry
/// at `code_ttl` is tested with a fixed clock in
/// crates/core/tests/it/authorization_code.rs.)
async fn r17_no_store(s: &Server) {
    let b = Browser::new(s);
    // A fresh code redeemed at once works; the success also says no-store
    // (checked by `token`).
    let (verifier, challenge) = pkce();
    let code = code_for(s, &b, APP1.0, APP1_CB, "openid", &challenge, &[]).await;
    let body = redeem_app1(s, &code, &verifier).await;
    assert!(body["id_token"].is_string());
    // Unknown codes.
    let (status, _, body) = token(
        s,
        Some(APP1),
        &[
            ("grant_type", "authorization_code"),
            ("code", "nope"),
            ("redirect_uri", APP1_CB),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(
        (status, body),
        (
            400,
            err("invalid_grant", "the authorization code is invalid")
        )
    );
}
both!(r17_no_store, SECURITY_CONFIG);

// ----- R20–R22 -----

/// R20: a public client's refresh token rotates on every use; replaying an
/// old one (outside the grace window, here none) revokes the whole family.
async fn r20_public_client_rotation_and_family_revocation(s: &Server) {
    let b = Browser::new(s);
    let first = native_tokens(s, &b, "openid offline_access").await;
    let rt1 = first["refresh_token"]
        .as_str()
        .expect("offline_access gives a refresh token")
        .to_owned();
    let at1 = first["access_token"].as_str().unwrap().to_owned();
    let refresh = |rt: String| async move {
        token(
            s,
            None,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", "native"),
                ("refresh_token", &rt),
            ],
        )
        .await
    };
    let (status, _, second) = refresh(rt1.clone()).await;
    assert_eq!(status, 200, "{second}");
    let rt2 = second["refresh_token"].as_str().unwrap().to_owned();
    let at2 = second["access_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2, "rotated");
    assert_eq!(
        s.introspect(&rt1).await,
        json!({"active": false}),
        "the old one is consumed"
    );
    let (status, _, third) = refresh(rt2.clone()).await;
    assert_eq!(status, 200, "{third}");
    let rt3 = third["refresh_token"].as_str().unwrap().to_owned();
    let at3 = third["access_token"].as_str().unwrap().to_owned();
    assert_ne!(rt2, rt3);
    assert_eq!(s.introspect(&rt3).await["active"], true);
    assert_eq!(s.introspect(&at3).await["active"], true);

    // A confidential client cannot use it (bound to its client).
    let (status, _, body) = token(
        s,
        Some(APP1),
        &[("grant_type", "refresh_token"), ("refresh_token", &rt3)],
    )
    .await;
    assert_eq!(
        (status, body),
        (
            400,
            err(
                "invalid_grant",
                "the refresh token was issued to another client"
            )
        )
    );

    // Replay rt1: `native` has no grace window (refresh_grace_secs = 0 in
    // SECURITY_CONFIG), so this is a replay and the family dies. (The grace
    // window itself: crates/core/tests/it/refresh_token.rs, fixed clock.)
    let (status, _, body) = refresh(rt1.clone()).await;
    assert_eq!(
        (status, body),
        (
            400,
            err(
                "invalid_grant",
                "the refresh token was already used; the grant is revoked"
            )
        )
    );
    for (what, t) in [("rt3", &rt3), ("at1", &at1), ("at2", &at2), ("at3", &at3)] {
        inactive_within(s, t, Duration::from_secs(1), what).await;
    }
    assert_eq!(s.userinfo_status(&at3).await, 401);
    let (status, _, body) = refresh(rt3.clone()).await;
    assert_eq!(
        (status, body),
        (
            400,
            err(
                "invalid_grant",
                "the refresh token has been revoked or has expired"
            )
        )
    );
}
both!(
    r20_public_client_rotation_and_family_revocation,
    SECURITY_CONFIG
);

// R21's idle expiry (`refresh_idle_ttl`) is tested with a fixed clock in
// crates/core/tests/it/refresh_token.rs.

/// R21: logout, a password change and disabling the user each make the
/// user's refresh tokens (and access tokens) inactive within 1 s.
async fn r21_refresh_revoked_on_logout_password_change_and_disable(s: &Server) {
    let signed_in = |user: (&'static str, &'static str)| async move {
        let b = Browser::new(s);
        let (verifier, challenge) = pkce();
        let cb = drive(
            &b,
            &authorize_url(s, APP1.0, APP1_CB, "openid offline_access", &challenge, &[]),
            user,
        )
        .await;
        let body = redeem_app1(s, &query(&cb, "code").unwrap(), &verifier).await;
        assert_eq!(
            s.introspect(body["refresh_token"].as_str().unwrap()).await["active"],
            true
        );
        (b, body)
    };
    let tokens = |body: &Value| {
        (
            body["access_token"].as_str().unwrap().to_owned(),
            body["refresh_token"].as_str().unwrap().to_owned(),
        )
    };

    // RP-initiated logout with id_token_hint.
    let (b, body) = signed_in(ALICE).await;
    let (at, rt) = tokens(&body);
    let q = form_urlencoded::Serializer::new(String::new())
        .append_pair("id_token_hint", body["id_token"].as_str().unwrap())
        .append_pair("post_logout_redirect_uri", "https://app1.example.com/bye")
        .finish();
    let bye = redirect(b.get(&format!("{}/logout?{q}", s.base)).await);
    assert_eq!(bye.as_str(), "https://app1.example.com/bye");
    inactive_within(s, &rt, Duration::from_secs(1), "refresh token after logout").await;
    inactive_within(s, &at, Duration::from_secs(1), "access token after logout").await;
    let (status, _, body) = token(
        s,
        Some(APP1),
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
    )
    .await;
    assert_eq!(
        (status, body),
        (
            400,
            err(
                "invalid_grant",
                "the refresh token has been revoked or has expired"
            )
        )
    );

    // Password change (CLI, straight to the database).
    let (_b, body) = signed_in(ALICE).await;
    let (at, rt) = tokens(&body);
    let out = s.cli(
        &["users", "set-password", "alice", "--password-stdin"],
        Some("new-password-123\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    inactive_within(
        s,
        &rt,
        Duration::from_secs(1),
        "refresh token after password change",
    )
    .await;
    inactive_within(
        s,
        &at,
        Duration::from_secs(1),
        "access token after password change",
    )
    .await;
    let (status, _, body) = token(
        s,
        Some(APP1),
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
    )
    .await;
    assert_eq!(
        (status, body),
        (
            400,
            err(
                "invalid_grant",
                "the refresh token has been revoked or has expired"
            )
        )
    );

    // Disabling the user.
    let (_b, body) = signed_in(("alice", "new-password-123")).await;
    let (at, rt) = tokens(&body);
    let out = s.cli(&["users", "disable", "alice"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    inactive_within(
        s,
        &rt,
        Duration::from_secs(1),
        "refresh token after disable",
    )
    .await;
    inactive_within(s, &at, Duration::from_secs(1), "access token after disable").await;
    assert_eq!(s.userinfo_status(&at).await, 401);
    let (status, _, body) = token(
        s,
        Some(APP1),
        &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
    )
    .await;
    assert_eq!(
        (status, body),
        (
            400,
            err(
                "invalid_grant",
                "the refresh token has been revoked or has expired"
            )
        )
    );
}
both!(
    r21_refresh_revoked_on_logout_password_change_and_disable,
    SECURITY_CONFIG
);

/// R22: a refresh cannot widen scope or reach a resource outside the grant.
async fn r22_refresh_bound_to_scope_and_resource(s: &Server) {
    let b = Browser::new(s);
    let (verifier, challenge) = pkce();
    let code = code_for(
        s,
        &b,
        APP1.0,
        APP1_CB,
        "openid offline_access photos:read",
        &challenge,
        &[],
    )
    .await;
    let body = redeem_app1(s, &code, &verifier).await;
    let rt = body["refresh_token"].as_str().unwrap().to_owned();
    for resource in [
        "https://payments.example.com",
        "https://evil.example/",
        "https://photos.example.com/",
    ] {
        let (status, _, body) = token(
            s,
            Some(APP1),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt),
                ("resource", resource),
            ],
        )
        .await;
        assert_eq!(
            (status, body),
            (
                400,
                err(
                    "invalid_target",
                    "the resource was not part of the original grant"
                )
            ),
            "{resource}"
        );
    }
    let (status, _, body) = token(
        s,
        Some(APP1),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("scope", "openid email"),
        ],
    )
    .await;
    assert_eq!(
        (status, body),
        (
            400,
            err(
                "invalid_scope",
                "the requested scope exceeds the scope granted"
            )
        )
    );
    // None of that burnt the token; a resource inside the grant works and
    // narrows the audience.
    let (status, _, body) = token(
        s,
        Some(APP1),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("resource", "https://photos.example.com"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        jwt_parts(body["access_token"].as_str().unwrap()).1["aud"],
        "https://photos.example.com"
    );
}
both!(r22_refresh_bound_to_scope_and_resource, SECURITY_CONFIG);

// ----- R25, R36 -----

/// R25: no resource-owner password grant, and it is not advertised.
async fn r25_password_grant_unsupported(s: &Server) {
    for client in [Some(APP1), None] {
        let (status, _, body) = token(
            s,
            client,
            &[
                ("grant_type", "password"),
                ("username", ALICE.0),
                ("password", ALICE.1),
                ("scope", "openid"),
            ],
        )
        .await;
        assert_eq!(
            (status, body),
            (
                400,
                err("unsupported_grant_type", "this grant type is not supported")
            )
        );
    }
    for g in [
        "implicit",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "PASSWORD",
        "Authorization_Code",
    ] {
        let (status, _, body) = token(s, Some(APP1), &[("grant_type", g)]).await;
        assert_eq!(
            (status, body),
            (
                400,
                err("unsupported_grant_type", "this grant type is not supported")
            ),
            "{g}"
        );
    }
    let m: Value = s
        .http
        .get(s.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let grants = m["grant_types_supported"].as_array().unwrap();
    assert!(!grants.contains(&json!("password")), "{grants:?}");
}
both!(r25_password_grant_unsupported, SECURITY_CONFIG);

/// R36 at /token: a repeated parameter is `invalid_request`, before
/// anything is spent.
async fn r36_duplicate_parameters_at_token(s: &Server) {
    let b = Browser::new(s);
    let (verifier, challenge) = pkce();
    let code = code_for(s, &b, APP1.0, APP1_CB, "openid", &challenge, &[]).await;
    let base = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", APP1_CB),
        ("code_verifier", verifier.as_str()),
    ];
    for (name, value) in [
        ("code", code.as_str()),
        ("code", "other"),
        ("redirect_uri", APP1_CB),
        ("grant_type", "authorization_code"),
        ("code_verifier", verifier.as_str()),
        ("scope", "openid"),
    ] {
        let mut f = base.clone();
        if name == "scope" {
            f.push(("scope", "openid"));
        }
        f.push((name, value));
        let (status, _, body) = token(s, Some(APP1), &f).await;
        assert_eq!(
            (status, body),
            (
                400,
                err("invalid_request", &format!("parameter {name} is repeated"))
            )
        );
    }
    // client_id twice (client_secret_post style, and for a public client).
    let mut f = base.clone();
    f.extend([
        ("client_id", "app1"),
        ("client_secret", APP1.1),
        ("client_id", "app1"),
    ]);
    let (status, _, body) = token(s, None, &f).await;
    assert_eq!(
        (status, body),
        (
            400,
            err("invalid_request", "parameter client_id is repeated")
        )
    );
    let mut f = base.clone();
    f.extend([("client_id", "native"), ("client_id", "app1")]);
    let (status, _, body) = token(s, None, &f).await;
    assert_eq!(
        (status, body),
        (
            400,
            err("invalid_request", "parameter client_id is repeated")
        )
    );
    // The code was not spent by any of that.
    let body = redeem_app1(s, &code, &verifier).await;
    assert!(body["access_token"].is_string());
    // Refresh: refresh_token twice.
    let (status, _, body) = token(
        s,
        Some(APP1),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "a"),
            ("refresh_token", "b"),
        ],
    )
    .await;
    assert_eq!(
        (status, body),
        (
            400,
            err("invalid_request", "parameter refresh_token is repeated")
        )
    );
}
both!(r36_duplicate_parameters_at_token, SECURITY_CONFIG);

// ----- userinfo -----

/// Userinfo (OIDC Core §5.3, RFC 6750 §3): the right challenge for each failure.
async fn userinfo_bearer_errors(s: &Server) {
    let get = |auth: Option<String>| async move {
        let mut r = s.http.get(s.url("/userinfo"));
        if let Some(a) = auth {
            r = r.header("authorization", a);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        let h = r.headers().clone();
        (status, h, r.json::<Value>().await.unwrap())
    };
    let challenge = |error: &str, description: &str| {
        format!(r#"Bearer realm="frontdesk", error="{error}", error_description="{description}""#)
    };

    // No token, or not a Bearer one: 401 without an error attribute (§3.1).
    for auth in [
        None,
        Some("Basic YWxpY2U6eA==".to_owned()),
        Some("Bearer ".to_owned()),
        Some("Bearer".to_owned()),
    ] {
        let (status, h, body) = get(auth.clone()).await;
        assert_eq!(status, 401, "{auth:?}");
        // One challenge per scheme userinfo takes (RFC 9110 §11.6.1).
        let challenges: Vec<_> = h.get_all("www-authenticate").iter().collect();
        assert_eq!(
            challenges,
            [
                r#"Bearer realm="frontdesk""#,
                r#"DPoP realm="frontdesk", algs="ES256 EdDSA PS256 RS256""#
            ],
            "{auth:?}"
        );
        assert_eq!(h["cache-control"], "no-store");
        assert_eq!(
            body,
            err("invalid_token", "a Bearer or DPoP access token is required"),
            "{auth:?}"
        );
    }

    let b = Browser::new(s);
    let (verifier, challenge_v) = pkce();
    let code = code_for(s, &b, APP1.0, APP1_CB, "openid email", &challenge_v, &[]).await;
    let tokens = redeem_app1(s, &code, &verifier).await;
    let at = tokens["access_token"].as_str().unwrap();
    let id_token = tokens["id_token"].as_str().unwrap();

    // GET and POST work, scheme case-insensitive.
    let (status, _, info) = get(Some(format!("Bearer {at}"))).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["email"], "alice@example.com");
    let (status, _, _) = get(Some(format!("bearer {at}"))).await;
    assert_eq!(status, 200);
    let r = s
        .http
        .post(s.url("/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.json::<Value>().await.unwrap(), info);

    // An ID token is not an access token (RFC 9068 typing, J7).
    let bad = "the access token is invalid, expired or revoked";
    for t in [id_token, "garbage", &format!("{at}x")] {
        let (status, h, body) = get(Some(format!("Bearer {t}"))).await;
        assert_eq!(status, 401);
        assert_eq!(
            h["www-authenticate"],
            challenge("invalid_token", bad).as_str()
        );
        assert_eq!(body, err("invalid_token", bad));
    }
    // A client-credentials token has no user.
    let m2m = s.m2m_token(&[]).await;
    let (status, h, body) = get(Some(format!(
        "Bearer {}",
        m2m["access_token"].as_str().unwrap()
    )))
    .await;
    let why = "the access token does not belong to a user";
    assert_eq!((status, body), (401, err("invalid_token", why)));
    assert_eq!(
        h["www-authenticate"],
        challenge("invalid_token", why).as_str()
    );

    // A user token without `openid`: 403 insufficient_scope. (`native` has
    // no audience of its own, so its tokens are for this server.)
    let native = native_tokens(s, &b, "profile").await;
    assert_eq!(native["scope"], "profile");
    assert!(native.get("id_token").is_none());
    let (status, h, body) = get(Some(format!(
        "Bearer {}",
        native["access_token"].as_str().unwrap()
    )))
    .await;
    let why = "the openid scope is required";
    assert_eq!((status, body), (403, err("insufficient_scope", why)));
    assert_eq!(
        h["www-authenticate"],
        challenge("insufficient_scope", why).as_str()
    );

    // A user token for another audience only (R23).
    let (verifier, challenge_v) = pkce();
    let code = code_for(s, &b, APP1.0, APP1_CB, "photos:read", &challenge_v, &[]).await;
    let photos = redeem_app1(s, &code, &verifier).await;
    let (status, _, body) = get(Some(format!(
        "Bearer {}",
        photos["access_token"].as_str().unwrap()
    )))
    .await;
    assert_eq!(
        (status, body),
        (
            401,
            err(
                "invalid_token",
                "the access token is not meant for this server"
            )
        )
    );
}
both!(userinfo_bearer_errors, SECURITY_CONFIG);
