//! SECURITY.md rows for the authorization endpoint and the browser pages,
//! over real HTTP: redirect-URI matching (R1–R4), state and iss (R5, R6),
//! 303 after credential POSTs (R7), PKCE policy (R8, R10), no implicit or
//! hybrid (R12), page headers (R16, R32), form_post (R17), no CORS (R30),
//! duplicate parameters (R36), login CSRF, session fixation, enumeration and
//! lockout (R37), and consent.

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::both;
use crate::browser::{
    ALICE, APP1, APP1_CB, Browser, NATIVE_CB, Page, SECURITY_CONFIG, at_login_page, authorize_url,
    authz, drive, page, params, pkce, query, redirect,
};
use crate::support::Server;

pub(crate) const APP3_CB: &str = "https://app3.example.com/cb?a=1&b=2";
pub(crate) const PORTAL_CB: &str = "https://portal.example.com/cb";

// ----- helpers -----

/// Every HTML page: CSP `default-src 'self'` and `frame-ancestors 'none'`,
/// no framing, no referrer, no caching (R16, R32).
pub(crate) fn assert_page_headers(h: &HeaderMap, what: &str) {
    assert!(
        h["content-type"].to_str().unwrap().starts_with("text/html"),
        "{what}: content-type {:?}",
        h["content-type"]
    );
    let csp: Vec<&str> = h["content-security-policy"]
        .to_str()
        .unwrap()
        .split(';')
        .map(str::trim)
        .collect();
    assert!(csp.contains(&"default-src 'self'"), "{what}: CSP {csp:?}");
    assert!(
        csp.contains(&"frame-ancestors 'none'"),
        "{what}: CSP {csp:?}"
    );
    assert_eq!(h["x-frame-options"], "DENY", "{what}");
    assert_eq!(h["referrer-policy"], "no-referrer", "{what}");
    assert_eq!(h["cache-control"], "no-store", "{what}");
}

/// The values of every `name="…"` attribute in `body` (e.g. `src`, `href`, `action`).
fn attributes(body: &str, name: &str) -> Vec<String> {
    let marker = format!("{name}=\"");
    body.match_indices(&marker)
        .map(|(i, _)| {
            let rest = &body[i + marker.len()..];
            rest[..rest.find('"').unwrap()].to_owned()
        })
        .collect()
}

/// R16: the page loads nothing from another origin.
pub(crate) fn assert_no_external_loads(body: &str, what: &str) {
    for attr in ["src", "href"] {
        for v in attributes(body, attr) {
            let lower = v.to_ascii_lowercase();
            assert!(
                !lower.contains("http") && !lower.starts_with("//") && !lower.contains(':'),
                "{what}: {attr}=\"{v}\" loads an external resource"
            );
        }
    }
    assert!(
        !body.contains("@import") && !body.contains("url("),
        "{what}: inline external loads"
    );
}

/// A 400 error page with no `Location`, carrying `description`.
pub(crate) async fn assert_error_page(r: reqwest::Response, description: &str, what: &str) {
    assert_eq!(r.status(), 400, "{what}");
    assert!(
        r.headers().get("location").is_none(),
        "{what}: redirected to {:?}",
        r.headers().get("location")
    );
    assert_page_headers(r.headers(), what);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("This sign-in link is not valid"),
        "{what}: {body}"
    );
    assert!(
        body.contains(description),
        "{what}: expected {description:?} in {body}"
    );
    assert_no_external_loads(&body, what);
}

/// A 303 back to exactly `to` (the registered URI, its own query kept) with
/// `error`, `error_description`, `state` and `iss` appended, and nothing else.
pub(crate) fn assert_error_redirect(
    s: &Server,
    r: &reqwest::Response,
    to: &str,
    error: &str,
    state: Option<&str>,
) -> url::Url {
    assert_eq!(r.status(), 303, "error redirects answer 303");
    let loc = r.headers()["location"].to_str().unwrap();
    let prefix = if to.contains('?') {
        format!("{to}&error=")
    } else {
        format!("{to}?error=")
    };
    assert!(loc.starts_with(&prefix), "redirect {loc} is not to {to}");
    assert!(!loc.contains('#'), "{loc}: no fragment");
    let u = url::Url::parse(loc).unwrap();
    assert_eq!(query(&u, "error").as_deref(), Some(error), "{loc}");
    assert_eq!(query(&u, "state").as_deref(), state, "{loc}");
    assert_eq!(
        query(&u, "iss").as_deref(),
        Some(s.base.as_str()),
        "{loc}: RFC 9207 iss"
    );
    assert!(query(&u, "code").is_none(), "{loc}");
    let names: Vec<String> = u.query_pairs().map(|(k, _)| k.into_owned()).collect();
    let mut expected: Vec<String> = url::Url::parse(to)
        .unwrap()
        .query_pairs()
        .map(|(k, _)| k.into_owned())
        .collect();
    expected.extend(["error".to_owned(), "error_description".to_owned()]);
    if state.is_some() {
        expected.push("state".to_owned());
    }
    expected.push("iss".to_owned());
    assert_eq!(names, expected, "{loc}");
    u
}

pub(crate) async fn raw_get(s: &Server, url: &str) -> reqwest::Response {
    s.http.get(url).send().await.unwrap()
}

// ----- R1–R4 -----

/// R1: every variant of a registered URI except the byte-identical string
/// is a 400 error page without `Location`. Host case is pinned as
/// significant (exact string comparison, no normalisation).
async fn r1_exact_redirect_uri_matching_http(s: &Server) {
    let (_, challenge) = pkce();
    let variants = [
        "https://app1.example.com/cb/extra",
        "https://app1.example.com/cb/..;/",
        "https://app1.example.com/..;/cb",
        "https://app1.example.com/cb/%2e%2e/cb",
        "https://app1.example.com/x/%2e%2e/cb",
        "https://app1.example.com/CB",
        "https://app1.example.com/Cb",
        "https://app1.example.com/cb/",
        "https://app1.example.com/cb?",
        "https://app1.example.com/cb?x=1",
        "https://app1.example.com/cb#",
        "https://app1.example.com/cb#frag",
        "http://app1.example.com/cb",
        "HTTPS://app1.example.com/cb",
        "https://APP1.example.com/cb",
        "https://app1.EXAMPLE.com/cb",
        "https://a@evil@app1.example.com/cb",
        "https://evil.example@app1.example.com/cb",
        "https://app1.example.com@evil.example/cb",
        "https://app1.example.com.evil.example/cb",
        "https://\u{0430}pp1.example.com/cb",
        "https://xn--pp1-5cd.example.com/cb",
        "https://app1.example.com:443/cb",
        "https://app1.example.com./cb",
        "https://app1.example.com/cb%20",
        " https://app1.example.com/cb",
        "https://app1.example.com/cb\t",
        "https://app1.example.com/%63b",
        "//app1.example.com/cb",
        "app1.example.com/cb",
    ];
    for v in variants {
        let r = raw_get(s, &authz(s, &params(APP1.0, v, &challenge, &[]))).await;
        assert_error_page(r, "redirect_uri is not registered for this client", v).await;
    }
    // A registered URI with a query: reordered, dropped or extra query
    // parameters do not match either.
    for v in [
        "https://app3.example.com/cb?b=2&a=1",
        "https://app3.example.com/cb?a=1",
        "https://app3.example.com/cb",
        "https://app3.example.com/cb?a=1&b=2&c=3",
        "https://app3.example.com/cb?a=1&amp;b=2",
        "https://app3.example.com/cb?a=1&b=2#x",
    ] {
        let r = raw_get(s, &authz(s, &params("app3", v, &challenge, &[]))).await;
        assert_error_page(r, "redirect_uri is not registered for this client", v).await;
    }
    // The byte-identical strings are accepted (on to the login page).
    for (client, v) in [(APP1.0, APP1_CB), ("app3", APP3_CB)] {
        let r = raw_get(s, &authz(s, &params(client, v, &challenge, &[]))).await;
        assert_eq!(r.status(), 303, "{v}");
        assert!(
            r.headers()["location"]
                .to_str()
                .unwrap()
                .starts_with("/login?"),
            "{v}"
        );
    }
}
both!(r1_exact_redirect_uri_matching_http, SECURITY_CONFIG);

/// R2: a loopback registration accepts any port; path, query, scheme and
/// host must match exactly. `localhost` and `[::1]` are not the registered
/// `127.0.0.1` (pinned: RFC 8252 §7.3 prefers IP literals).
async fn r2_loopback_any_port_only_http(s: &Server) {
    let (_, challenge) = pkce();
    for ok in [
        "http://127.0.0.1/callback",
        "http://127.0.0.1:1/callback",
        "http://127.0.0.1:8080/callback",
        "http://127.0.0.1:54321/callback",
        "http://127.0.0.1:65535/callback",
    ] {
        let r = raw_get(s, &authz(s, &params("native", ok, &challenge, &[]))).await;
        assert_eq!(r.status(), 303, "{ok}");
        assert!(
            r.headers()["location"]
                .to_str()
                .unwrap()
                .starts_with("/login?"),
            "{ok}"
        );
    }
    for bad in [
        "http://127.0.0.1:8080/callbackx",
        "http://127.0.0.1:8080/other",
        "http://127.0.0.1:8080/callback/",
        "http://127.0.0.1:8080/Callback",
        "http://127.0.0.1:8080/callback?x=1",
        "http://127.0.0.1:8080/callback#f",
        "http://127.0.0.1:/callback",
        "http://127.0.0.1:123456/callback",
        "http://127.0.0.1:80a/callback",
        "http://127.0.0.1:8080@evil.example/callback",
        "http://127.0.0.1.evil.com/callback",
        "http://127.0.0.1.evil.com:8080/callback",
        "http://127a0b0c1/callback",
        "http://127.1/callback",
        "http://2130706433/callback",
        "http://localhost/callback",
        "http://localhost:8080/callback",
        "http://localhost.evil/callback",
        "http://[::1]:8080/callback",
        "https://127.0.0.1:8080/callback",
        "http://127.0.0.2:8080/callback",
    ] {
        let r = raw_get(s, &authz(s, &params("native", bad, &challenge, &[]))).await;
        assert_error_page(r, "redirect_uri is not registered for this client", bad).await;
    }
}
both!(r2_loopback_any_port_only_http, SECURITY_CONFIG);

/// R3: an invalid client or redirect URI wins over every other error: the
/// user sees a page, and nothing is redirected.
async fn r3_no_redirect_on_invalid_client_or_redirect_uri_http(s: &Server) {
    let (_, challenge) = pkce();
    let evil = "https://evil.example/cb";
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        // Unknown client, even with another client's valid redirect URI.
        (params("nope", APP1_CB, &challenge, &[]), "unknown client"),
        (params("nope", evil, &challenge, &[]), "unknown client"),
        (
            params("nope", APP1_CB, &challenge, &[("response_type", "token")]),
            "unknown client",
        ),
        (
            params("app2", APP1_CB, &challenge, &[]),
            "redirect_uri is not registered for this client",
        ),
        (
            params("", APP1_CB, &challenge, &[]),
            "missing parameter: client_id",
        ),
        (
            params(APP1.0, "", &challenge, &[]),
            "missing parameter: redirect_uri",
        ),
        // An invalid redirect URI combined with other errors.
        (
            params(APP1.0, evil, &challenge, &[("response_type", "token")]),
            "redirect_uri is not registered",
        ),
        (
            params(APP1.0, evil, &challenge, &[("response_type", "")]),
            "redirect_uri is not registered",
        ),
        (
            params(APP1.0, evil, &challenge, &[("scope", "admin")]),
            "redirect_uri is not registered",
        ),
        (
            params(APP1.0, evil, &challenge, &[("scope", "bad\"scope")]),
            "redirect_uri is not registered",
        ),
        (
            params(APP1.0, evil, &challenge, &[("code_challenge", "")]),
            "redirect_uri is not registered",
        ),
        (
            params(APP1.0, evil, &challenge, &[("response_mode", "fragment")]),
            "redirect_uri is not registered",
        ),
        (
            params(APP1.0, evil, &challenge, &[("prompt", "none")]),
            "redirect_uri is not registered",
        ),
        (
            params(
                APP1.0,
                "https://app1.example.com/cb#frag",
                &challenge,
                &[("response_type", "token")],
            ),
            "redirect_uri is not registered",
        ),
    ];
    for (p, description) in cases {
        let what = format!("{p:?}");
        assert_error_page(raw_get(s, &authz(s, &p)).await, description, &what).await;
        // POST /authorize behaves the same (OIDC Core §3.1.2.1).
        let r = s.post_form("/authorize", None, &p).await;
        assert_error_page(r, description, &what).await;
    }
    // With a valid client and redirect URI, later errors go back to the
    // client with error, state and iss.
    let r = raw_get(
        s,
        &authz(
            s,
            &params(APP1.0, APP1_CB, &challenge, &[("scope", "admin")]),
        ),
    )
    .await;
    assert_error_redirect(s, &r, APP1_CB, "invalid_scope", Some("st-123"));
}
both!(
    r3_no_redirect_on_invalid_client_or_redirect_uri_http,
    SECURITY_CONFIG
);

/// R4: errors after validation redirect only to the registered URI (its
/// own query kept), and no URL-taking endpoint is an open redirector.
async fn r4_errors_redirect_only_to_registered_uri_http(s: &Server) {
    let (_, challenge) = pkce();
    for (client, cb) in [(APP1.0, APP1_CB), ("app3", APP3_CB)] {
        for (over, error) in [
            (("scope", "admin"), "invalid_scope"),
            (("scope", "openid bad\\scope"), "invalid_scope"),
            (("response_type", "token"), "unsupported_response_type"),
            (("response_type", ""), "invalid_request"),
            (("response_mode", "fragment"), "invalid_request"),
            (("response_mode", "web_message"), "invalid_request"),
            (("prompt", "none"), "login_required"),
            (("prompt", "none login"), "invalid_request"),
            (("max_age", "-1"), "invalid_request"),
            (("resource", "https://evil.example/"), "invalid_target"),
            (("id_token_hint", "not-a-jwt"), "invalid_request"),
        ] {
            let r = raw_get(s, &authz(s, &params(client, cb, &challenge, &[over]))).await;
            assert_error_redirect(s, &r, cb, error, Some("st-123"));
        }
        // A request_uri names a pushed request (RFC 9126 §4), whose own
        // parameters are the only ones that count: one that is not ours is
        // an error page, since nothing in the query is trusted then.
        let r = raw_get(
            s,
            &authz(
                s,
                &params(
                    client,
                    cb,
                    &challenge,
                    &[("request_uri", "https://evil.example/r")],
                ),
            ),
        )
        .await;
        assert_error_page(
            r,
            "request_uri must come from the pushed authorization request endpoint of this server",
            "a foreign request_uri",
        )
        .await;
        // A request object (RFC 9101) carries the redirect URI itself: one
        // that does not verify is a page too (unsigned here; tests/it/jar.rs).
        let r = raw_get(
            s,
            &authz(
                s,
                &params(
                    client,
                    cb,
                    &challenge,
                    &[("request", "eyJhbGciOiJub25lIn0.e30.")],
                ),
            ),
        )
        .await;
        assert_error_page(
            r,
            "unsigned request objects (alg none) are refused (RFC 9101)",
            "an unsigned request object",
        )
        .await;
    }
    // Descriptions are exact too.
    let r = raw_get(
        s,
        &authz(
            s,
            &params(APP1.0, APP1_CB, &challenge, &[("scope", "admin")]),
        ),
    )
    .await;
    let u = assert_error_redirect(s, &r, APP1_CB, "invalid_scope", Some("st-123"));
    assert_eq!(
        query(&u, "error_description").as_deref(),
        Some("none of the requested scopes is allowed for this client")
    );

    // RP-initiated logout: no unregistered post_logout_redirect_uri, ever.
    for target in [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        "https://app1.example.com/bye/",
        "https://app1.example.com/bye?x=1",
        "https://app1.example.com/cb",
    ] {
        let url = format!(
            "{}/logout?{}",
            s.base,
            form_urlencoded::Serializer::new(String::new())
                .append_pair("client_id", APP1.0)
                .append_pair("post_logout_redirect_uri", target)
                .finish()
        );
        let r = raw_get(s, &url).await;
        assert_eq!(r.status(), 400, "{target}");
        assert!(r.headers().get("location").is_none(), "{target}");
        assert_page_headers(r.headers(), target);
        let body = r.text().await.unwrap();
        assert!(
            body.contains("post_logout_redirect_uri is not registered for this client"),
            "{target}: {body}"
        );
    }
    // Without a client to check it against, it is refused as well.
    let r = raw_get(
        s,
        &format!(
            "{}/logout?post_logout_redirect_uri=https%3A%2F%2Fapp1.example.com%2Fbye",
            s.base
        ),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("post_logout_redirect_uri needs id_token_hint or client_id")
    );

    // The login and consent forms only ever send the browser to a relative
    // /authorize, whatever the `request` field says.
    let b = Browser::new(s);
    let login = page(b.get(&format!("{}/login", s.base)).await);
    let csrf = login.input("csrf").unwrap();
    let r = b
        .http
        .post(s.url("/login"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("request", "https://evil.example/"),
            ("username", ALICE.0),
            ("password", ALICE.1),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "no authorization request: a signed-in page, not a redirect"
    );
    assert!(r.headers().get("location").is_none());
}
both!(
    r4_errors_redirect_only_to_registered_uri_http,
    SECURITY_CONFIG
);

// ----- R5, R6, R17 form_post -----

/// A 300-character state with unicode, percent signs and reserved characters.
fn nasty_state() -> String {
    let unit = "aZ09-._~ é☃𝄞%41%2F%zz%%+&=;/?#\"'<>[]{}\\|^`";
    let mut s = String::new();
    while s.chars().count() < 300 {
        s.push_str(unit);
    }
    s.chars().take(300).collect()
}

/// R5: `state` comes back byte-identical, on success and on error redirects.
async fn r5_state_returned_byte_identical(s: &Server) {
    let state = nasty_state();
    assert_eq!(state.chars().count(), 300);
    let (_, challenge) = pkce();
    let b = Browser::new(s);
    // Success, through login and consent.
    let cb = drive(
        &b,
        &authz(
            s,
            &params(APP1.0, APP1_CB, &challenge, &[("state", &state)]),
        ),
        ALICE,
    )
    .await;
    assert!(query(&cb, "code").is_some(), "{cb}");
    assert_eq!(query(&cb, "state").as_deref(), Some(state.as_str()));
    // Success straight from the SSO session.
    let cb = redirect(
        b.get(&authz(
            s,
            &params(APP1.0, APP1_CB, &challenge, &[("state", &state)]),
        ))
        .await,
    );
    assert!(query(&cb, "code").is_some());
    assert_eq!(query(&cb, "state").as_deref(), Some(state.as_str()));
    // Errors.
    for over in [
        ("scope", "admin"),
        ("response_type", "token"),
        ("code_challenge_method", "plain"),
    ] {
        let r = raw_get(
            s,
            &authz(
                s,
                &params(APP1.0, APP1_CB, &challenge, &[("state", &state), over]),
            ),
        )
        .await;
        assert_eq!(r.status(), 303);
        let u = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
        assert_eq!(
            query(&u, "state").as_deref(),
            Some(state.as_str()),
            "{over:?}"
        );
    }
    // Consent denied.
    let (_, c2) = pkce();
    let consent = page(
        b.get(&authz(
            s,
            &params(
                APP1.0,
                APP1_CB,
                &c2,
                &[("state", &state), ("scope", "openid email")],
            ),
        ))
        .await,
    );
    let cb = redirect(b.consent(&consent, "deny").await);
    assert_eq!(query(&cb, "error").as_deref(), Some("access_denied"));
    assert_eq!(query(&cb, "state").as_deref(), Some(state.as_str()));
    // form_post: the hidden field carries it unchanged.
    let p = page(
        b.get(&authz(
            s,
            &params(
                APP1.0,
                APP1_CB,
                &challenge,
                &[("state", &state), ("response_mode", "form_post")],
            ),
        ))
        .await,
    );
    assert_eq!(p.input("state").as_deref(), Some(state.as_str()));
    // No state sent, none returned.
    let cb = redirect(
        b.get(&authz(
            s,
            &params(APP1.0, APP1_CB, &challenge, &[("state", "")]),
        ))
        .await,
    );
    assert!(query(&cb, "code").is_some());
    assert_eq!(query(&cb, "state"), None);
}
both!(r5_state_returned_byte_identical, SECURITY_CONFIG);

/// The hidden inputs of a form_post page, in order.
fn form_inputs(p: &Page) -> Vec<(String, String)> {
    p.body
        .split("<input")
        .skip(1)
        .map(|seg| {
            let seg = &seg[..seg.find('>').unwrap()];
            (
                attributes(seg, "name")[0].clone(),
                crate::browser::unescape(&attributes(seg, "value")[0]),
            )
        })
        .collect()
}

/// A form_post page: posts to `to`, CSP with a script nonce that matches the
/// one inline script, frame-ancestors 'none'.
fn assert_form_post(p: &Page, to: &str) {
    assert_eq!(p.status, 200);
    assert_page_headers(&p.headers, "form_post");
    let csp = p.headers["content-security-policy"].to_str().unwrap();
    let nonce = csp
        .split(';')
        .map(str::trim)
        .find_map(|d| d.strip_prefix("script-src 'nonce-"))
        .and_then(|n| n.strip_suffix('\''))
        .unwrap_or_else(|| panic!("no script nonce in {csp}"));
    assert!(nonce.len() >= 16, "nonce {nonce}");
    assert_eq!(
        attributes(&p.body, "nonce"),
        vec![nonce.to_owned()],
        "one script, with the CSP nonce"
    );
    assert_eq!(p.body.matches("<script").count(), 1);
    let actions: Vec<String> = attributes(&p.body, "action")
        .iter()
        .map(|a| crate::browser::unescape(a))
        .collect();
    assert_eq!(actions, vec![to.to_owned()]);
    assert!(p.body.contains("method=\"post\""));
    assert_no_external_loads(&p.body, "form_post");
}

/// R6: `iss` equal to the metadata issuer on every authorization response,
/// success and error, query and form_post (R17: form_post is supported).
async fn r6_iss_on_success_and_error_query_and_form_post(s: &Server) {
    let (_, challenge) = pkce();
    let b = Browser::new(s);
    let meta: Value = raw_get(s, &s.url("/.well-known/openid-configuration"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(meta["issuer"], s.base);
    // Query, success.
    let cb = drive(
        &b,
        &authz(s, &params(APP1.0, APP1_CB, &challenge, &[])),
        ALICE,
    )
    .await;
    assert_eq!(cb.as_str().split('?').next(), Some(APP1_CB));
    let names: Vec<String> = cb.query_pairs().map(|(k, _)| k.into_owned()).collect();
    assert_eq!(names, ["code", "state", "iss"]);
    assert_eq!(query(&cb, "iss").as_deref(), Some(s.base.as_str()));
    // Query, errors (before and after the session is consulted).
    let r = raw_get(
        s,
        &authz(
            s,
            &params(APP1.0, APP1_CB, &challenge, &[("response_type", "token")]),
        ),
    )
    .await;
    assert_error_redirect(s, &r, APP1_CB, "unsupported_response_type", Some("st-123"));
    let cb = redirect(
        b.get(&authz(
            s,
            &params(
                APP1.0,
                APP1_CB,
                &challenge,
                &[("prompt", "none"), ("scope", "openid email")],
            ),
        ))
        .await,
    );
    assert_eq!(query(&cb, "error").as_deref(), Some("consent_required"));
    assert_eq!(query(&cb, "iss").as_deref(), Some(s.base.as_str()));

    // form_post, success.
    let p = page(
        b.get(&authz(
            s,
            &params(
                APP1.0,
                APP1_CB,
                &challenge,
                &[("response_mode", "form_post")],
            ),
        ))
        .await,
    );
    assert_form_post(&p, APP1_CB);
    let inputs = form_inputs(&p);
    let names: Vec<&str> = inputs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["code", "state", "iss"]);
    assert_eq!(inputs[1].1, "st-123");
    assert_eq!(inputs[2].1, s.base);
    assert!(inputs[0].1.len() >= 32);
    // form_post, error (raw: no session needed for this one).
    let r = raw_get(
        s,
        &authz(
            s,
            &params(
                APP1.0,
                APP1_CB,
                &challenge,
                &[("response_mode", "form_post"), ("scope", "admin")],
            ),
        ),
    )
    .await;
    let p = Page {
        status: r.status(),
        headers: r.headers().clone(),
        body: r.text().await.unwrap(),
    };
    assert_form_post(&p, APP1_CB);
    let inputs = form_inputs(&p);
    assert_eq!(
        inputs,
        vec![
            ("error".to_owned(), "invalid_scope".to_owned()),
            (
                "error_description".to_owned(),
                "none of the requested scopes is allowed for this client".to_owned()
            ),
            ("state".to_owned(), "st-123".to_owned()),
            ("iss".to_owned(), s.base.clone()),
        ]
    );
    // form_post, prompt=none error after the session check.
    let p = page(
        b.get(&authz(
            s,
            &params(
                APP1.0,
                APP1_CB,
                &challenge,
                &[
                    ("response_mode", "form_post"),
                    ("prompt", "none"),
                    ("scope", "openid email"),
                ],
            ),
        ))
        .await,
    );
    assert_form_post(&p, APP1_CB);
    assert_eq!(p.input("error").as_deref(), Some("consent_required"));
    assert_eq!(p.input("iss").as_deref(), Some(s.base.as_str()));
    // Each form_post page gets a fresh nonce.
    let r1 = raw_get(
        s,
        &authz(
            s,
            &params(
                APP1.0,
                APP1_CB,
                &challenge,
                &[("response_mode", "form_post"), ("scope", "admin")],
            ),
        ),
    )
    .await;
    let r2 = raw_get(
        s,
        &authz(
            s,
            &params(
                APP1.0,
                APP1_CB,
                &challenge,
                &[("response_mode", "form_post"), ("scope", "admin")],
            ),
        ),
    )
    .await;
    assert_ne!(
        r1.headers()["content-security-policy"],
        r2.headers()["content-security-policy"]
    );
}
both!(
    r6_iss_on_success_and_error_query_and_form_post,
    SECURITY_CONFIG
);

/// R7: credential POSTs (login, consent, logout confirmation) answer 303,
/// never 307/308.
async fn r7_credential_posts_answer_303(s: &Server) {
    let (_, challenge) = pkce();
    let b = Browser::new(s);
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
    let r = b
        .http
        .post(s.url("/login"))
        .form(&[
            ("csrf", login.input("csrf").unwrap().as_str()),
            ("request", login.input("request").unwrap().as_str()),
            ("username", ALICE.0),
            ("password", ALICE.1),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "login POST");
    let next = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(next.starts_with("/authorize?"), "{next}");
    let consent = page(b.get(&s.url(&next)).await);
    for decision in ["approve", "deny"] {
        let r = b
            .http
            .post(s.url("/consent"))
            .form(&[
                ("csrf", consent.input("csrf").unwrap().as_str()),
                ("request", consent.input("request").unwrap().as_str()),
                ("decision", decision),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "consent POST {decision}");
    }
    // POST /authorize with a session: 303 to the client.
    let r = b
        .http
        .post(s.url("/authorize"))
        .form(&params(APP1.0, APP1_CB, &challenge, &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with(&format!("{APP1_CB}?code="))
    );
    // Logout confirmation POST.
    let confirm = page(b.get(&format!("{}/logout?client_id=app1&post_logout_redirect_uri=https%3A%2F%2Fapp1.example.com%2Fbye", s.base)).await);
    let r = b
        .http
        .post(s.url("/logout"))
        .form(&[
            ("csrf", confirm.input("csrf").unwrap().as_str()),
            ("request", confirm.input("request").unwrap().as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "logout POST");
    assert_eq!(r.headers()["location"], "https://app1.example.com/bye");
}
both!(r7_credential_posts_answer_303, SECURITY_CONFIG);

/// R8 (and R25, R12 in metadata): PKCE S256 only, RFC 9207 advertised,
/// code-only response types, no password grant.
async fn r8_metadata_pkce_s256_and_iss_supported(s: &Server) {
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let m: Value = raw_get(s, &s.url(path)).await.json().await.unwrap();
        assert_eq!(
            m["code_challenge_methods_supported"],
            json!(["S256"]),
            "{path}"
        );
        assert_eq!(
            m["authorization_response_iss_parameter_supported"],
            json!(true),
            "{path}"
        );
        assert_eq!(m["authorization_endpoint"], s.url("/authorize"), "{path}");
        assert_eq!(
            m["response_types_supported"],
            json!(["code"]),
            "{path}: no implicit or hybrid (R12)"
        );
        let modes = m["response_modes_supported"].as_array().unwrap();
        assert!(modes.contains(&json!("form_post")), "{path}: R17");
        assert!(
            !modes.contains(&json!("web_message")) && !modes.contains(&json!("fragment")),
            "{path}: R33"
        );
        let grants = m["grant_types_supported"].as_array().unwrap();
        assert!(grants.contains(&json!("authorization_code")), "{path}");
        assert!(!grants.contains(&json!("password")), "{path}: R25");
        assert!(!grants.contains(&json!("implicit")), "{path}: R12");
    }
}
both!(r8_metadata_pkce_s256_and_iss_supported, SECURITY_CONFIG);

/// R10: the authorization endpoint insists on an S256 challenge from every
/// client, public ones included.
async fn r10_authorize_requires_s256_challenge(s: &Server) {
    let (_, challenge) = pkce();
    for (client, cb) in [(APP1.0, APP1_CB), ("native", NATIVE_CB)] {
        for (over, description) in [
            (
                vec![("code_challenge_method", "plain")],
                "code_challenge_method must be S256",
            ),
            (
                vec![("code_challenge_method", "s256")],
                "code_challenge_method must be S256",
            ),
            (
                vec![("code_challenge_method", "")],
                "code_challenge_method must be S256",
            ),
            (
                vec![("code_challenge", ""), ("code_challenge_method", "")],
                "code_challenge is required (PKCE with S256)",
            ),
            (
                vec![("code_challenge", "")],
                "code_challenge is required (PKCE with S256)",
            ),
            (
                vec![("code_challenge", "short")],
                "code_challenge is malformed",
            ),
            (
                vec![(
                    "code_challenge",
                    "not base64url!not base64url!not base64url!x",
                )],
                "code_challenge is malformed",
            ),
        ] {
            let r = raw_get(s, &authz(s, &params(client, cb, &challenge, &over))).await;
            let u = assert_error_redirect(s, &r, cb, "invalid_request", Some("st-123"));
            assert_eq!(
                query(&u, "error_description").as_deref(),
                Some(description),
                "{client} {over:?}"
            );
        }
    }
}
both!(r10_authorize_requires_s256_challenge, SECURITY_CONFIG);

/// R12: implicit and hybrid response types are refused at the endpoint.
async fn r12_implicit_and_hybrid_unsupported(s: &Server) {
    let (_, challenge) = pkce();
    for rt in [
        "token",
        "id_token token",
        "code token",
        "id_token",
        "code id_token",
        "code id_token token",
        "none",
        "CODE",
    ] {
        let r = raw_get(
            s,
            &authz(
                s,
                &params(APP1.0, APP1_CB, &challenge, &[("response_type", rt)]),
            ),
        )
        .await;
        let u = assert_error_redirect(s, &r, APP1_CB, "unsupported_response_type", Some("st-123"));
        assert_eq!(
            query(&u, "error_description").as_deref(),
            Some("only response_type=code is supported"),
            "{rt}"
        );
        let loc = r.headers()["location"].to_str().unwrap();
        assert!(!loc.contains('#') && !loc.contains("access_token"), "{loc}");
    }
}
both!(r12_implicit_and_hybrid_unsupported, SECURITY_CONFIG);

// ----- R16, R32 -----

/// R16, R32: every HTML page — login (fresh and failed), consent, error,
/// CSRF failure, logout confirmation and result, signed-in message,
/// form_post — carries the headers and loads nothing external.
async fn r16_r32_every_page_has_security_headers(s: &Server) {
    let (_, challenge) = pkce();
    let b = Browser::new(s);
    let mut pages: Vec<(&str, Page)> = Vec::new();
    let login = page(
        b.get(&authorize_url(
            s,
            APP1.0,
            APP1_CB,
            "openid email",
            &challenge,
            &[],
        ))
        .await,
    );
    let bare_login = page(b.get(&s.url("/login")).await);
    let failed = page(b.login(&login, (ALICE.0, "wrong password")).await);
    assert_eq!(failed.status, 401);
    let forbidden = page(
        b.post(
            "/login",
            &[("csrf", "x"), ("username", "alice"), ("password", "x")],
        )
        .await,
    );
    assert_eq!(forbidden.status, 403);
    let consent = page(b.login(&login, ALICE).await);
    assert!(consent.body.contains("action=\"/consent\""));
    let error = page(
        b.get(&authz(s, &params("nope", APP1_CB, &challenge, &[])))
            .await,
    );
    assert_eq!(error.status, 400);
    let form_post = page(
        b.get(&authz(
            s,
            &params(
                APP1.0,
                APP1_CB,
                &challenge,
                &[("response_mode", "form_post"), ("scope", "admin")],
            ),
        ))
        .await,
    );
    let confirm = page(b.get(&s.url("/logout")).await);
    assert!(
        confirm.body.contains("action=\"/logout\""),
        "{}",
        confirm.body
    );
    let signed_out = page(
        b.post(
            "/logout",
            &[("csrf", &confirm.input("csrf").unwrap()), ("request", "")],
        )
        .await,
    );
    assert!(signed_out.body.contains("You have signed out"));
    let b2 = Browser::new(s);
    let bare = page(b2.get(&s.url("/login")).await);
    let signed_in = page(
        b2.post(
            "/login",
            &[
                ("csrf", &bare.input("csrf").unwrap()),
                ("request", ""),
                ("username", ALICE.0),
                ("password", ALICE.1),
            ],
        )
        .await,
    );
    assert!(
        signed_in.body.contains("Signed in as alice"),
        "{}",
        signed_in.body
    );
    pages.extend([
        ("login", login),
        ("bare login", bare_login),
        ("failed login", failed),
        ("csrf failure", forbidden),
        ("consent", consent),
        ("error", error),
        ("logout confirmation", confirm),
        ("signed out", signed_out),
        ("signed in", signed_in),
    ]);
    for (what, p) in &pages {
        assert_page_headers(&p.headers, what);
        assert_eq!(
            p.headers["content-security-policy"],
            "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
            "{what}"
        );
        assert_no_external_loads(&p.body, what);
        assert!(
            !p.body.contains("<script"),
            "{what}: no script outside form_post"
        );
        for action in attributes(&p.body, "action") {
            assert!(action.starts_with('/'), "{what}: form posts to {action}");
        }
    }
    assert_form_post(&form_post, APP1_CB);
    // The stylesheet the pages load is ours.
    let css = raw_get(s, &s.url("/assets/style.css")).await;
    assert_eq!(css.status(), 200);
    let css = css.text().await.unwrap();
    assert!(
        !css.contains("http") && !css.contains("@import"),
        "style.css loads nothing external"
    );
}
both!(r16_r32_every_page_has_security_headers, SECURITY_CONFIG);

// ----- R30, R36 -----

/// R30: no CORS on the authorization endpoint.
async fn r30_no_cors_on_authorize(s: &Server) {
    let (_, challenge) = pkce();
    let url = authz(s, &params(APP1.0, APP1_CB, &challenge, &[]));
    for method in [
        reqwest::Method::OPTIONS,
        reqwest::Method::GET,
        reqwest::Method::POST,
    ] {
        let r = s
            .http
            .request(method.clone(), &url)
            .header("origin", "https://evil.example")
            .header("access-control-request-method", "GET")
            .send()
            .await
            .unwrap();
        for h in [
            "access-control-allow-origin",
            "access-control-allow-credentials",
            "access-control-allow-methods",
        ] {
            assert!(
                r.headers().get(h).is_none(),
                "{method} /authorize: {h} {:?}",
                r.headers().get(h)
            );
        }
    }
    for path in ["/login", "/consent", "/logout", "/userinfo"] {
        let r = s
            .http
            .request(reqwest::Method::OPTIONS, s.url(path))
            .header("origin", "https://evil.example")
            .send()
            .await
            .unwrap();
        assert!(
            r.headers().get("access-control-allow-origin").is_none(),
            "OPTIONS {path}"
        );
    }
}
both!(r30_no_cors_on_authorize, SECURITY_CONFIG);

/// R36 at /authorize: a repeated parameter is never trusted, so the answer
/// is the error page, not a redirect to either value.
async fn r36_duplicate_parameters_at_authorize(s: &Server) {
    let (_, challenge) = pkce();
    let base = params(APP1.0, APP1_CB, &challenge, &[]);
    for (name, value) in [
        ("client_id", "app1"),
        ("client_id", "app2"),
        ("redirect_uri", APP1_CB),
        ("redirect_uri", "https://evil.example/cb"),
        ("scope", "openid"),
        ("response_type", "code"),
        ("state", "other"),
        ("code_challenge", challenge.as_str()),
    ] {
        let mut p = base.clone();
        p.push((name, value));
        let what = format!("{name} twice");
        assert_error_page(
            raw_get(s, &authz(s, &p)).await,
            &format!("parameter {name} is repeated"),
            &what,
        )
        .await;
        assert_error_page(
            s.post_form("/authorize", None, &p).await,
            &format!("parameter {name} is repeated"),
            &what,
        )
        .await;
    }
}
both!(r36_duplicate_parameters_at_authorize, SECURITY_CONFIG);

// ----- R37 -----

fn forbidden_page(p: &Page, what: &str) {
    assert_eq!(p.status, 403, "{what}");
    assert_page_headers(&p.headers, what);
    assert!(
        p.body.contains("This form has expired"),
        "{what}: {}",
        p.body
    );
    assert!(p.headers.get("location").is_none());
}

/// R37: login and consent POSTs need this browser's CSRF token.
async fn r37_login_and_consent_csrf(s: &Server) {
    let (_, challenge) = pkce();
    let url = authorize_url(s, APP1.0, APP1_CB, "openid", &challenge, &[]);
    let victim = Browser::new(s);
    let attacker = Browser::new(s);
    let login = page(victim.get(&url).await);
    let attacker_login = page(attacker.get(&url).await);
    let request = login.input("request").unwrap();
    assert_ne!(
        login.input("csrf"),
        attacker_login.input("csrf"),
        "tokens are per browser"
    );
    let creds = [("username", ALICE.0), ("password", ALICE.1)];

    // Missing, empty, forged, or another browser's token: 403, no session.
    for csrf in [
        None,
        Some(String::new()),
        Some("forged".to_owned()),
        attacker_login.input("csrf"),
    ] {
        let mut form = vec![("request", request.as_str())];
        form.extend(creds);
        if let Some(c) = &csrf {
            form.push(("csrf", c.as_str()));
        }
        let p = page(victim.post("/login", &form).await);
        forbidden_page(&p, &format!("login with csrf {csrf:?}"));
        assert!(
            p.headers
                .get_all("set-cookie")
                .iter()
                .all(|c| !c.to_str().unwrap().starts_with("fd_session="))
        );
    }
    // No cookie at all (a cross-site form post from a fresh browser).
    let cold = s
        .http
        .post(s.url("/login"))
        .form(&[
            ("csrf", login.input("csrf").unwrap().as_str()),
            ("request", &request),
            ("username", ALICE.0),
            ("password", ALICE.1),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(cold.status(), 403);
    // Still not signed in: the authorize URL goes to the login page.
    let again = page(victim.get(&url).await);
    assert!(again.body.contains("name=\"password\""));

    // Consent: the victim signs in and sees the consent page.
    let consent = page(victim.login(&again, ALICE).await);
    assert!(consent.body.contains("action=\"/consent\""));
    let c_request = consent.input("request").unwrap();
    for csrf in [
        None,
        Some("forged".to_owned()),
        attacker_login.input("csrf"),
    ] {
        let mut form = vec![("request", c_request.as_str()), ("decision", "approve")];
        if let Some(c) = &csrf {
            form.push(("csrf", c.as_str()));
        }
        forbidden_page(
            &page(victim.post("/consent", &form).await),
            &format!("consent with csrf {csrf:?}"),
        );
    }
    // Nothing was approved: the consent page is still there.
    let still = page(victim.get(&url).await);
    assert!(still.body.contains("action=\"/consent\""));
    let cb = redirect(victim.consent(&still, "approve").await);
    assert!(query(&cb, "code").is_some());
}
both!(r37_login_and_consent_csrf, SECURITY_CONFIG);

fn session_cookie(h: &HeaderMap) -> Option<String> {
    h.get_all("set-cookie").iter().find_map(|c| {
        let c = c.to_str().unwrap();
        c.strip_prefix("fd_session=")
            .map(|rest| rest.split(';').next().unwrap().to_owned())
    })
}

/// R37: the session id rotates at every login (session fixation).
async fn r37_session_id_rotates_at_login(s: &Server) {
    let (_, challenge) = pkce();
    let b = Browser::new(s);
    let mut seen = Vec::new();
    for extra in [
        &[][..],
        &[("prompt", "login")][..],
        &[("prompt", "login")][..],
    ] {
        let login = page(
            b.get(&authorize_url(
                s, "portal", PORTAL_CB, "openid", &challenge, extra,
            ))
            .await,
        );
        assert!(login.body.contains("name=\"password\""));
        let r = b
            .http
            .post(s.url("/login"))
            .form(&[
                ("csrf", login.input("csrf").unwrap().as_str()),
                ("request", login.input("request").unwrap().as_str()),
                ("username", ALICE.0),
                ("password", ALICE.1),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        let cookie = r
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|c| c.to_str().unwrap().to_owned())
            .find(|c| c.starts_with("fd_session="));
        let cookie = cookie.expect("a session cookie at login");
        assert!(
            cookie.contains("HttpOnly")
                && cookie.contains("SameSite=Lax")
                && cookie.contains("Path=/"),
            "{cookie}"
        );
        let value = session_cookie(r.headers()).unwrap();
        assert!(value.len() >= 32);
        assert!(!seen.contains(&value), "session id reused: {value}");
        seen.push(value);
        // prompt=login is satisfied: the next hop issues a code (portal is first-party).
        let next = r.headers()["location"].to_str().unwrap().to_owned();
        let cb = redirect(b.get(&s.url(&next)).await);
        assert!(query(&cb, "code").is_some());
    }
    assert_eq!(seen.len(), 3);
}
both!(r37_session_id_rotates_at_login, SECURITY_CONFIG);

/// R37 / §5.6: a wrong password and an unknown user look the same.
async fn r37_no_user_enumeration(s: &Server) {
    let (_, challenge) = pkce();
    let b = Browser::new(s);
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
    let wrong = page(b.login(&login, ("alice", "not her password")).await);
    let unknown = page(b.login(&login, ("mallory", "not her password")).await);
    let empty = page(b.login(&login, ("", "not her password")).await);
    for (what, p) in [
        ("wrong password", &wrong),
        ("unknown user", &unknown),
        ("empty user", &empty),
    ] {
        assert_eq!(p.status, 401, "{what}");
        assert_page_headers(&p.headers, what);
        assert!(p.body.contains("Incorrect username or password."), "{what}");
    }
    // The bodies differ only in the echoed username.
    assert_eq!(
        wrong.body.replace("value=\"alice\"", "value=\"X\""),
        unknown.body.replace("value=\"mallory\"", "value=\"X\"")
    );
    assert_eq!(
        wrong.body.replace("value=\"alice\"", "value=\"\""),
        empty.body
    );
    // A disabled user gets the same answer even with the right password.
    let out = s.cli(&["users", "disable", "bob"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let disabled = page(b.login(&login, ("bob", "bob-password-123456")).await);
    assert_eq!(disabled.status, 401);
    assert_eq!(
        wrong.body.replace("value=\"alice\"", "value=\"X\""),
        disabled.body.replace("value=\"bob\"", "value=\"X\"")
    );
}
both!(r37_no_user_enumeration, SECURITY_CONFIG);

/// §5.6: 10 failures lock the account for the window; the 11th attempt is
/// refused even with the right password, and other accounts are unaffected.
async fn r37_account_lockout_after_10_failures(s: &Server) {
    let (_, challenge) = pkce();
    let b = Browser::new(s);
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
    for i in 1..=10 {
        let p = page(b.login(&login, ("alice", "wrong-password")).await);
        assert_eq!(p.status, 401, "attempt {i}");
        assert!(p.body.contains("Incorrect username or password."));
    }
    for (i, password) in [(11, "wrong-password"), (12, ALICE.1), (13, ALICE.1)] {
        let p = page(b.login(&login, ("alice", password)).await);
        assert_eq!(p.status, 429, "attempt {i}");
        assert_page_headers(&p.headers, "429");
        assert!(
            p.body.contains("Too many failed sign-in attempts"),
            "attempt {i}: {}",
            p.body
        );
        assert!(!p.body.contains("Incorrect username or password."));
        assert!(
            session_cookie(&p.headers).is_none(),
            "no session while locked"
        );
    }
    // Another name of the account (her e-mail address, in any case) does
    // not dodge the per-account counter (issue 11 finding 6).
    let p = page(b.login(&login, ("ALICE@example.com", ALICE.1)).await);
    assert_eq!(p.status, 429);
    // Another account still signs in.
    let consent = page(b.login(&login, ("bob", "bob-password-123456")).await);
    assert_eq!(consent.status, 200);
    assert!(consent.body.contains("action=\"/consent\""));
}
both!(r37_account_lockout_after_10_failures, SECURITY_CONFIG);

/// `n` wrong-password logins sent at once as `usernames(i)`; their statuses.
async fn concurrent_failed_logins(
    s: &Server,
    n: usize,
    usernames: fn(usize) -> String,
) -> (Browser, Page, Vec<u16>) {
    let (b, login) = at_login_page(s).await;
    let csrf = login.input("csrf").unwrap();
    let request = login.input("request").unwrap();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let http = b.http.clone();
            let url = format!("{}/login", s.base);
            let form = [
                ("csrf", csrf.clone()),
                ("request", request.clone()),
                ("username", usernames(i)),
                ("password", "wrong-password".to_owned()),
            ];
            tokio::spawn(async move {
                http.post(url)
                    .form(&form)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    statuses.sort_unstable();
    (b, login, statuses)
}

/// §5.6: attempts sent at once cannot get past the limit. Each attempt is
/// counted before its password is checked, so of 30 wrong passwords for one
/// account exactly 10 are checked (401) and 20 refused unchecked (429); then
/// even the right password is refused.
async fn r37_concurrent_attempts_check_at_most_the_limit(s: &Server) {
    let (b, login, statuses) = concurrent_failed_logins(s, 30, |_| "alice".to_owned()).await;
    let mut expected = vec![401; 10];
    expected.extend([429; 20]);
    assert_eq!(statuses, expected);
    assert_eq!(page(b.login(&login, ALICE).await).status, 429);
}
both!(
    r37_concurrent_attempts_check_at_most_the_limit,
    SECURITY_CONFIG
);

/// The same for one address trying many accounts (password spraying):
/// with `login_max_failures_per_ip = 8`, 12 attempts at once on 12
/// accounts give 8 checks and 4 refusals; a success takes its count back.
async fn r37_concurrent_spraying_from_one_address_is_capped(s: &Server) {
    let (_, _, statuses) = concurrent_failed_logins(s, 12, |i| format!("user{i}")).await;
    let mut expected = vec![401; 8];
    expected.extend([429; 4]);
    assert_eq!(statuses, expected);
}
both!(
    r37_concurrent_spraying_from_one_address_is_capped,
    &format!("login_max_failures_per_ip = 8\n{SECURITY_CONFIG}")
);

/// Successful logins are counted in advance like any attempt, then taken
/// back: many sign-ins from one address never reach its limit.
async fn r37_successes_do_not_use_up_the_address_limit(s: &Server) {
    for i in 0..5 {
        let (b, login) = at_login_page(s).await;
        let p = page(b.login(&login, ALICE).await);
        assert_ne!(p.status, 429, "sign-in {i}");
        assert!(p.status.is_success(), "sign-in {i}: {}", p.status);
    }
}
both!(
    r37_successes_do_not_use_up_the_address_limit,
    &format!("login_max_failures_per_ip = 3\n{SECURITY_CONFIG}")
);

// ----- consent -----

/// Deny → access_denied; first-party clients skip consent; the admin API
/// lists and revokes consent, after which the page comes back.
async fn consent_deny_first_party_and_admin_revocation(s: &Server) {
    let (_, challenge) = pkce();
    let b = Browser::new(s);
    let login = page(
        b.get(&authorize_url(
            s,
            APP1.0,
            APP1_CB,
            "openid email",
            &challenge,
            &[],
        ))
        .await,
    );
    let consent = page(b.login(&login, ALICE).await);
    assert!(consent.body.contains("APP1"));
    assert!(consent.body.contains("see your email address"));
    let cb = redirect(b.consent(&consent, "deny").await);
    assert_eq!(cb.as_str().split('?').next(), Some(APP1_CB));
    assert_eq!(query(&cb, "error").as_deref(), Some("access_denied"));
    assert_eq!(
        query(&cb, "error_description").as_deref(),
        Some("the user denied the request")
    );
    assert_eq!(query(&cb, "state").as_deref(), Some("st-123"));
    assert_eq!(query(&cb, "iss").as_deref(), Some(s.base.as_str()));
    assert!(query(&cb, "code").is_none());
    // Nothing remembered after a denial.
    let r = s
        .admin_req(reqwest::Method::GET, "/admin/users/alice/consents", None)
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"consents": [], "next_cursor": null})
    );

    // First-party: straight to the code, no consent page.
    let cb = redirect(
        b.get(&authorize_url(
            s,
            "portal",
            PORTAL_CB,
            "openid profile",
            &challenge,
            &[],
        ))
        .await,
    );
    assert!(query(&cb, "code").is_some());
    let cb = redirect(
        b.get(&authorize_url(
            s,
            "portal",
            PORTAL_CB,
            "openid profile",
            &challenge,
            &[("prompt", "consent")],
        ))
        .await,
    );
    assert!(
        query(&cb, "code").is_some(),
        "first-party clients never show consent"
    );

    // Approve, then the admin API sees it.
    let consent = page(
        b.get(&authorize_url(
            s,
            APP1.0,
            APP1_CB,
            "openid email",
            &challenge,
            &[],
        ))
        .await,
    );
    let cb = redirect(b.consent(&consent, "approve").await);
    assert!(query(&cb, "code").is_some());
    let cb = redirect(
        b.get(&authorize_url(
            s,
            APP1.0,
            APP1_CB,
            "openid email",
            &challenge,
            &[],
        ))
        .await,
    );
    assert!(query(&cb, "code").is_some(), "consent remembered");
    let r = s
        .admin_req(reqwest::Method::GET, "/admin/users/alice/consents", None)
        .await;
    assert_eq!(r.status(), 200);
    let list: Value = r.json().await.unwrap();
    assert_eq!(list["next_cursor"], Value::Null, "{list}");
    let list = list["consents"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["client_id"], "app1");
    assert_eq!(list[0]["scope"], "openid email");

    let r = s
        .admin_req(
            reqwest::Method::DELETE,
            "/admin/users/alice/consents/app1",
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(r.text().await.unwrap(), "");
    let r = s
        .admin_req(
            reqwest::Method::DELETE,
            "/admin/users/alice/consents/app1",
            None,
        )
        .await;
    assert_eq!(r.status(), 404);
    let r = s
        .admin_req(reqwest::Method::GET, "/admin/users/alice/consents", None)
        .await;
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"consents": [], "next_cursor": null})
    );
    // The next sign-in asks again (and prompt=none says so).
    let again = page(
        b.get(&authorize_url(
            s,
            APP1.0,
            APP1_CB,
            "openid email",
            &challenge,
            &[],
        ))
        .await,
    );
    assert!(again.body.contains("action=\"/consent\""), "{}", again.body);
    let cb = redirect(
        b.get(&authorize_url(
            s,
            APP1.0,
            APP1_CB,
            "openid email",
            &challenge,
            &[("prompt", "none")],
        ))
        .await,
    );
    assert_eq!(query(&cb, "error").as_deref(), Some("consent_required"));
}
both!(
    consent_deny_first_party_and_admin_revocation,
    SECURITY_CONFIG
);
