//! Pushed authorization requests (RFC 9126) over real HTTP: `/par` with the
//! token endpoint's client authentication and `/authorize`'s validation,
//! `/authorize?client_id&request_uri` continuing it across login and
//! consent, one-time use, foreign clients, ignored query parameters, and
//! `require_pushed_authorization_requests` per client and server-wide.
//! Expiry (`expires_in`, the interaction's lifetime) is tested with a fixed
//! clock in crates/core/tests/it/par.rs.

use serde_json::{Value, json};

use crate::browser::{ALICE, APP1, APP1_CB, Browser, End, page, pkce, query, redirect};
use crate::security_authorize::{assert_error_page, raw_get};
use crate::support::{Server, assert_no_store, invalid_client, parts};

const CONFIG: &str = r#"
[[clients]]
client_id = "app1"
client_secret = "app1-secret-0123456789abcdef"
client_name = "APP1"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["https://app1.example.com/cb"]
scope = "openid profile email offline_access"

[[clients]]
client_id = "app2"
client_secret = "app2-secret-0123456789abcdef"
client_name = "APP2"
grant_types = ["authorization_code"]
redirect_uris = ["https://app2.example.com/cb"]
scope = "openid email"

[[clients]]
client_id = "native"
client_name = "Native CLI"
token_endpoint_auth_method = "none"
grant_types = ["authorization_code"]
redirect_uris = ["http://127.0.0.1/callback"]
scope = "openid profile"

[[clients]]
client_id = "strict"
client_secret = "strict-secret-0123456789abcdef"
client_name = "Strict"
grant_types = ["authorization_code"]
redirect_uris = ["https://strict.example.com/cb"]
scope = "openid"
require_pushed_authorization_requests = true
"#;

const SERVER_WIDE: &str = r#"
require_pushed_authorization_requests = true

[[clients]]
client_id = "app1"
client_secret = "app1-secret-0123456789abcdef"
client_name = "APP1"
grant_types = ["authorization_code"]
redirect_uris = ["https://app1.example.com/cb"]
scope = "openid profile"
"#;

/// The usual authorization parameters of `client`, plus `extra`.
fn request<'a>(
    client: &'a str,
    redirect_uri: &'a str,
    challenge: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut p = vec![
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", redirect_uri),
        ("scope", "openid profile"),
        ("state", "st-pushed"),
        ("nonce", "n-pushed"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in extra {
        p.retain(|(n, _)| n != k);
        p.push((k, v));
    }
    p
}

/// POST /par; returns status, headers and body.
async fn push(
    s: &Server,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    parts(s.post_form("/par", basic, form).await).await
}

/// A successful push; returns its `request_uri`.
async fn pushed(s: &Server, basic: Option<(&str, &str)>, form: &[(&str, &str)]) -> String {
    let (status, h, body) = push(s, basic, form).await;
    assert_eq!(status, 201, "{body}");
    assert_no_store(&h);
    assert_eq!(h["content-type"], "application/json");
    let obj = body.as_object().unwrap();
    assert_eq!(obj.len(), 2, "{body}");
    assert_eq!(body["expires_in"], 60);
    let uri = body["request_uri"].as_str().unwrap().to_owned();
    let reference = uri
        .strip_prefix("urn:ietf:params:oauth:request_uri:")
        .unwrap_or_else(|| panic!("not a PAR URN: {uri}"));
    assert!(reference.len() >= 43, "{uri}: at least 256 bits");
    uri
}

fn authorize(s: &Server, pairs: &[(&str, &str)]) -> String {
    crate::browser::authz(s, pairs)
}

/// Drives login and consent (whichever appear) to the client's redirect.
async fn drive(b: &Browser, url: &str) -> url::Url {
    crate::browser::drive(b, url, ALICE).await
}

async fn redeem(s: &Server, basic: Option<(&str, &str)>, form: &[(&str, &str)]) -> (u16, Value) {
    let (status, _, body) = parts(s.post_form("/token", basic, form).await).await;
    (status, body)
}

/// A code + PKCE flow through `/par` that ends in tokens, for a
/// confidential client (Basic) and a public one (client_id only); the first
/// arrival is sent on at once to a URL without the `request_uri`'s
/// parameters, and `prompt=login` is satisfied by the login it causes.
async fn pushed_code_flow_ends_in_tokens(s: &Server) {
    let (verifier, challenge) = pkce();
    let uri = pushed(s, Some(APP1), &request(APP1.0, APP1_CB, &challenge, &[])).await;
    let b = Browser::new(s);
    let first = raw_get(
        s,
        &authorize(s, &[("client_id", APP1.0), ("request_uri", &uri)]),
    )
    .await;
    assert_eq!(first.status(), 303);
    let next = first.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        next.starts_with("/authorize?client_id=app1&request_uri="),
        "{next}"
    );
    assert!(next.contains("par_continue="), "{next}");
    for absent in ["scope", "state", "code_challenge", "redirect_uri"] {
        assert!(!next.contains(&format!("{absent}=")), "{next}");
    }
    // The browser goes on where the first answer sent it.
    let cb = drive(&b, &format!("{}{next}", s.base)).await;
    assert_eq!(
        format!("{}://{}{}", cb.scheme(), cb.host_str().unwrap(), cb.path()),
        APP1_CB
    );
    assert_eq!(query(&cb, "state").as_deref(), Some("st-pushed"));
    assert_eq!(query(&cb, "iss").as_deref(), Some(s.base.as_str()));
    let code = query(&cb, "code").unwrap();
    let (status, tokens) = redeem(
        s,
        Some(APP1),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", APP1_CB),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "openid profile");
    let (_, claims) = crate::support::jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["nonce"], "n-pushed");

    // prompt=login in the same browser: the login page once, then the code.
    let (verifier, challenge) = pkce();
    let uri = pushed(
        s,
        Some(APP1),
        &request(APP1.0, APP1_CB, &challenge, &[("prompt", "login")]),
    )
    .await;
    let login = page(
        b.get(&authorize(
            s,
            &[("client_id", APP1.0), ("request_uri", &uri)],
        ))
        .await,
    );
    assert!(login.body.contains("name=\"password\""), "{}", login.body);
    let cb = redirect(b.login(&login, ALICE).await);
    let code = query(&cb, "code").unwrap_or_else(|| panic!("{cb}"));
    let (status, body) = redeem(
        s,
        Some(APP1),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", APP1_CB),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // A public client pushes with its client_id alone (RFC 9126 §2.1).
    let (verifier, challenge) = pkce();
    let native_cb = "http://127.0.0.1:4711/callback";
    let uri = pushed(s, None, &request("native", native_cb, &challenge, &[])).await;
    let cb = drive(
        &b,
        &authorize(s, &[("client_id", "native"), ("request_uri", &uri)]),
    )
    .await;
    assert!(cb.as_str().starts_with(native_cb), "{cb}");
    let code = query(&cb, "code").unwrap();
    let (status, body) = redeem(
        s,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "native"),
            ("code", &code),
            ("redirect_uri", native_cb),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
}
crate::both!(pushed_code_flow_ends_in_tokens, CONFIG);

/// A `request_uri` opens once and its request answers once: presented
/// again (by another browser, or after the code) it is an error page, and
/// so is the continuation of a request already answered.
async fn request_uri_reuse_is_refused(s: &Server) {
    let (_, challenge) = pkce();
    let uri = pushed(s, Some(APP1), &request(APP1.0, APP1_CB, &challenge, &[])).await;
    let url = authorize(s, &[("client_id", APP1.0), ("request_uri", &uri)]);
    let b = Browser::new(s);
    let login = page(b.get(&url).await);
    assert!(login.body.contains("name=\"password\""));
    // Another browser with the same request_uri, mid-flow.
    assert_error_page(
        raw_get(s, &url).await,
        "request_uri has already been used",
        "a second arrival",
    )
    .await;
    let consent = page(b.login(&login, ALICE).await);
    assert!(
        consent.body.contains("action=\"/consent\""),
        "{}",
        consent.body
    );
    let request_field = consent.input("request").unwrap();
    let cb = redirect(b.consent(&consent, "approve").await);
    assert!(query(&cb, "code").is_some());
    // After the code: the request_uri, and the continuation the pages carried.
    assert_error_page(
        raw_get(s, &url).await,
        "request_uri has already been used",
        "after the code",
    )
    .await;
    let r = raw_get(s, &format!("{}/authorize?{request_field}", s.base)).await;
    assert_error_page(r, "request_uri has already been used", "the continuation").await;
    // The consent form posted again (back button) answers nothing either.
    match b.consent(&consent, "approve").await {
        End::Page(p) => {
            assert_eq!(p.status, 400);
            assert!(p.body.contains("invalid_request_uri"), "{}", p.body);
        }
        End::Redirect(u) => panic!("answered twice: {u}"),
    }
    // A denial is the one answer too.
    let uri = pushed(
        s,
        Some(APP1),
        &request(APP1.0, APP1_CB, &challenge, &[("prompt", "consent")]),
    )
    .await;
    let url = authorize(s, &[("client_id", APP1.0), ("request_uri", &uri)]);
    let consent = page(b.get(&url).await);
    let cb = redirect(b.consent(&consent, "deny").await);
    assert_eq!(query(&cb, "error").as_deref(), Some("access_denied"));
    assert!(matches!(b.consent(&consent, "approve").await, End::Page(p) if p.status == 400));
    // Unknown values.
    let r = raw_get(
        s,
        &authorize(
            s,
            &[
                ("client_id", APP1.0),
                (
                    "request_uri",
                    "urn:ietf:params:oauth:request_uri:never-pushed",
                ),
            ],
        ),
    )
    .await;
    assert_error_page(r, "request_uri is unknown", "unknown").await;
}
crate::both!(request_uri_reuse_is_refused, CONFIG);

/// RFC 9126 §2.1: the client authenticates as at `/token`. A confidential
/// client with no or wrong credentials gets the token endpoint's 401
/// `invalid_client`, and the failures count toward the per-address throttle
/// like those at `/token`.
async fn par_without_client_auth_is_invalid_client(s: &Server) {
    let (_, challenge) = pkce();
    let form = request(APP1.0, APP1_CB, &challenge, &[]);
    let attempts: [(Option<(&str, &str)>, &str); 3] = [
        (None, "client_id only"),
        (Some((APP1.0, "wrong-secret")), "wrong secret"),
        (
            Some(("app2", "app2-secret-0123456789abcdef")),
            "another client's credentials",
        ),
    ];
    for (basic, what) in attempts {
        let (status, h, body) = push(s, basic, &form).await;
        if what == "another client's credentials" {
            // Basic names app2, the form app1.
            assert_eq!(status, 400, "{what}");
            assert_eq!(
                body,
                json!({"error": "invalid_request", "error_description": "client_id does not match the Authorization header"})
            );
            continue;
        }
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(body, invalid_client(), "{what}");
        assert_eq!(
            h["www-authenticate"], r#"Basic realm="frontdesk", charset="UTF-8""#,
            "{what}"
        );
        assert_no_store(&h);
    }
    // No credentials and no client_id at all.
    let without: Vec<(&str, &str)> = form
        .iter()
        .copied()
        .filter(|(k, _)| *k != "client_id")
        .collect();
    let (status, _, body) = push(s, None, &without).await;
    assert_eq!((status, body), (401, invalid_client()));
    // Three failures so far; two more reach the limit, the sixth is 429.
    for _ in 0..2 {
        let (status, _, _) = push(s, Some((APP1.0, "wrong-secret")), &form).await;
        assert_eq!(status, 401);
    }
    let (status, h, body) = push(s, Some((APP1.0, "wrong-secret")), &form).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(h.get("retry-after").is_some());
    // The right credentials from the same address are still served.
    pushed(s, Some(APP1), &form).await;
}
crate::both!(
    par_without_client_auth_is_invalid_client,
    &format!(
        "client_auth_max_failures_per_ip = 5\nclient_auth_failure_window_secs = 600\n{CONFIG}"
    )
);

/// Parameters a case adds to the usual request.
type Extra<'a> = &'a [(&'a str, &'a str)];

/// §2.3: what `/authorize` would refuse, `/par` refuses with the same code
/// in the token endpoint's JSON; `request_uri` may not be pushed (§2.1);
/// only POST (§2.3: 405).
async fn par_validates_like_authorize(s: &Server) {
    let (_, challenge) = pkce();
    let cases: [(Extra, &str, &str); 5] = [
        (
            &[("request_uri", "urn:ietf:params:oauth:request_uri:abc")],
            "invalid_request",
            "request_uri must not be sent in a pushed authorization request",
        ),
        (
            &[("redirect_uri", "https://evil.example/cb")],
            "invalid_request",
            "redirect_uri is not registered for this client",
        ),
        (
            &[("code_challenge_method", "plain")],
            "invalid_request",
            "code_challenge_method must be S256",
        ),
        (
            &[("response_type", "token")],
            "unsupported_response_type",
            "only response_type=code is supported",
        ),
        (
            &[("scope", "admin")],
            "invalid_scope",
            "none of the requested scopes is allowed for this client",
        ),
    ];
    for (extra, error, description) in cases {
        let (status, h, body) =
            push(s, Some(APP1), &request(APP1.0, APP1_CB, &challenge, extra)).await;
        assert_eq!(status, 400, "{extra:?}");
        assert_eq!(
            body,
            json!({"error": error, "error_description": description})
        );
        assert_no_store(&h);
    }
    let missing: Vec<(&str, &str)> = request(APP1.0, APP1_CB, &challenge, &[])
        .into_iter()
        .filter(|(k, _)| *k != "code_challenge")
        .collect();
    let (status, _, body) = push(s, Some(APP1), &missing).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error_description"],
        "code_challenge is required (PKCE with S256)"
    );
    let r = s.http.get(s.url("/par")).send().await.unwrap();
    assert_eq!(r.status(), 405);
}
crate::both!(par_validates_like_authorize, CONFIG);

/// §4: the `client_id` at `/authorize` must be the pushing client's; a
/// mismatch is an error page (never a redirect) and does not use the
/// request up for its own client.
async fn wrong_client_id_at_authorize(s: &Server) {
    let (_, challenge) = pkce();
    let uri = pushed(s, Some(APP1), &request(APP1.0, APP1_CB, &challenge, &[])).await;
    let r = raw_get(
        s,
        &authorize(s, &[("client_id", "app2"), ("request_uri", &uri)]),
    )
    .await;
    assert_error_page(r, "request_uri was pushed by another client", "app2").await;
    let r = raw_get(s, &authorize(s, &[("request_uri", &uri)])).await;
    assert_error_page(r, "missing parameter: client_id", "no client_id").await;
    let cb = drive(
        &Browser::new(s),
        &authorize(s, &[("client_id", APP1.0), ("request_uri", &uri)]),
    )
    .await;
    assert!(query(&cb, "code").is_some(), "{cb}");
}
crate::both!(wrong_client_id_at_authorize, CONFIG);

/// §4: only the pushed parameters count. A query that adds or changes
/// `redirect_uri`, `state`, `scope`, `prompt` or `response_mode` next to
/// `request_uri` changes nothing.
async fn query_parameters_are_ignored(s: &Server) {
    let (verifier, challenge) = pkce();
    let uri = pushed(s, Some(APP1), &request(APP1.0, APP1_CB, &challenge, &[])).await;
    let (_, other_challenge) = pkce();
    let url = authorize(
        s,
        &[
            ("client_id", APP1.0),
            ("request_uri", &uri),
            ("redirect_uri", "https://evil.example/cb"),
            ("state", "st-from-the-query"),
            ("scope", "openid profile email offline_access"),
            ("prompt", "none"),
            ("response_mode", "form_post"),
            ("code_challenge", &other_challenge),
        ],
    );
    let cb = drive(&Browser::new(s), &url).await;
    assert!(cb.as_str().starts_with(APP1_CB), "{cb}");
    assert_eq!(query(&cb, "state").as_deref(), Some("st-pushed"));
    let code = query(&cb, "code").unwrap();
    let (status, tokens) = redeem(
        s,
        Some(APP1),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", APP1_CB),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["scope"], "openid profile");
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
}
crate::both!(query_parameters_are_ignored, CONFIG);

/// RFC 9126 §6 per client: `strict` may not send a plain authorization
/// request (an error page: nothing in it is trusted), a pushed one works;
/// the admin API and the CLI set and show the flag.
async fn require_par_per_client(s: &Server) {
    let (_, challenge) = pkce();
    let cb = "https://strict.example.com/cb";
    let plain = authorize(s, &request("strict", cb, &challenge, &[]));
    assert_error_page(
        raw_get(s, &plain).await,
        "this client must push its authorization requests (RFC 9126)",
        "strict, plain",
    )
    .await;
    let uri = pushed(
        s,
        Some(("strict", "strict-secret-0123456789abcdef")),
        &request("strict", cb, &challenge, &[]),
    )
    .await;
    let got = drive(
        &Browser::new(s),
        &authorize(s, &[("client_id", "strict"), ("request_uri", &uri)]),
    )
    .await;
    assert!(
        got.as_str().starts_with(cb) && query(&got, "code").is_some(),
        "{got}"
    );

    // app1 is free until the admin API says otherwise.
    let app1_plain = authorize(s, &request(APP1.0, APP1_CB, &challenge, &[]));
    assert_eq!(raw_get(s, &app1_plain).await.status(), 303);
    let r = s
        .admin_req(
            reqwest::Method::PATCH,
            "/admin/clients/app1",
            Some(json!({"require_pushed_authorization_requests": true})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let view: Value = r.json().await.unwrap();
    assert_eq!(view["require_pushed_authorization_requests"], true);
    assert_error_page(
        raw_get(s, &app1_plain).await,
        "this client must push its authorization requests (RFC 9126)",
        "app1 after the change",
    )
    .await;
    let out = s.cli(
        &["clients", "update", "app1", "--require-par", "false"],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown: Value =
        serde_json::from_slice(&s.cli(&["clients", "show", "app1"], None).stdout).unwrap();
    assert_eq!(shown["require_pushed_authorization_requests"], false);
    crate::support::wait_until(std::time::Duration::from_secs(5), async || {
        (raw_get(s, &app1_plain).await.status() == 303).then_some(())
    })
    .await
    .expect("the CLI's change is seen");
}
crate::both!(require_par_per_client, CONFIG);

/// RFC 9126 §5 server-wide: discovery says so, a plain request is an error
/// page, a pushed one works.
async fn require_par_server_wide(s: &Server) {
    let meta = s.get_json("/.well-known/oauth-authorization-server").await;
    assert_eq!(meta["require_pushed_authorization_requests"], true);
    let (_, challenge) = pkce();
    assert_error_page(
        raw_get(s, &authorize(s, &request(APP1.0, APP1_CB, &challenge, &[]))).await,
        "this server accepts only pushed authorization requests (RFC 9126)",
        "plain",
    )
    .await;
    let uri = pushed(s, Some(APP1), &request(APP1.0, APP1_CB, &challenge, &[])).await;
    let cb = drive(
        &Browser::new(s),
        &authorize(s, &[("client_id", APP1.0), ("request_uri", &uri)]),
    )
    .await;
    assert!(query(&cb, "code").is_some(), "{cb}");
}
crate::both!(require_par_server_wide, SERVER_WIDE);

/// Discovery (RFC 9126 §5) advertises the endpoint and the policy, on both
/// well-known documents.
async fn discovery_advertises_par(s: &Server) {
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let meta = s.get_json(path).await;
        assert_eq!(
            meta["pushed_authorization_request_endpoint"],
            format!("{}/par", s.base),
            "{path}"
        );
        assert_eq!(
            meta["require_pushed_authorization_requests"], false,
            "{path}"
        );
        // PAR's request_uri is not OIDC's fetched request_uri.
        assert_eq!(meta["request_uri_parameter_supported"], false, "{path}");
    }
}
crate::both!(discovery_advertises_par, CONFIG);

/// POST /par with `DPoP` headers.
async fn push_with_proofs(
    s: &Server,
    form: &[(&str, &str)],
    proofs: &[&str],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut r = s
        .http
        .post(s.url("/par"))
        .header(
            "authorization",
            crate::support::basic_header(APP1.0, APP1.1),
        )
        .form(form);
    for p in proofs {
        r = r.header("dpop", *p);
    }
    parts(r.send().await.unwrap()).await
}

/// RFC 9449 §10.1: a DPoP proof at `/par` binds the code to its key, as
/// `dpop_jkt` does; a proof and a `dpop_jkt` of different keys, a proof
/// for another URL and a replayed proof are refused with
/// `invalid_dpop_proof`.
async fn a_dpop_proof_at_par_binds_the_code(s: &Server) {
    use crate::dpop::{key, proof};
    use frontdesk_jose::Algorithm;
    let k = key(Algorithm::ES256);
    let par_url = s.url("/par");
    let token_url = s.url("/token");
    let flow = async |redeem_proof: Option<String>| {
        let (verifier, challenge) = pkce();
        let form = request(APP1.0, APP1_CB, &challenge, &[]);
        let p = proof(&k, "POST", &par_url, None, None);
        let (status, _, body) = push_with_proofs(s, &form, &[&p]).await;
        assert_eq!(status, 201, "{body}");
        let uri = body["request_uri"].as_str().unwrap().to_owned();
        let b = Browser::new(s);
        let cb = drive(
            &b,
            &authorize(s, &[("client_id", APP1.0), ("request_uri", &uri)]),
        )
        .await;
        let code = query(&cb, "code").unwrap_or_else(|| panic!("{cb}"));
        let mut r = s
            .http
            .post(&token_url)
            .header(
                "authorization",
                crate::support::basic_header(APP1.0, APP1.1),
            )
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", APP1_CB),
                ("code_verifier", verifier.as_str()),
            ]);
        if let Some(p) = &redeem_proof {
            r = r.header("dpop", p);
        }
        let (status, _, body) = parts(r.send().await.unwrap()).await;
        (status, body)
    };
    let (status, body) = flow(Some(proof(&k, "POST", &token_url, None, None))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let (status, body) = flow(None).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body,
        json!({"error": "invalid_dpop_proof",
               "error_description": "this code was requested with dpop_jkt: send a DPoP proof of that key"})
    );

    let (_, challenge) = pkce();
    let other = key(Algorithm::ES256);
    let mut form = request(APP1.0, APP1_CB, &challenge, &[]);
    form.push(("dpop_jkt", other.kid()));
    let p = proof(&k, "POST", &par_url, None, None);
    let (status, _, body) = push_with_proofs(s, &form, &[&p]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body,
        json!({"error": "invalid_dpop_proof",
               "error_description": "the DPoP proof's key is not the one dpop_jkt names"})
    );
    // The same key both ways: fine.
    let mut form = request(APP1.0, APP1_CB, &challenge, &[]);
    form.push(("dpop_jkt", k.kid()));
    let p = proof(&k, "POST", &par_url, None, None);
    let (status, _, body) = push_with_proofs(s, &form, &[&p]).await;
    assert_eq!(status, 201, "{body}");
    // That proof again: a replay. A proof for the token endpoint: not ours.
    let (status, _, body) = push_with_proofs(s, &form, &[&p]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_dpop_proof", "{body}");
    let wrong = proof(&k, "POST", &token_url, None, None);
    let (status, _, body) = push_with_proofs(s, &form, &[&wrong]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "invalid_dpop_proof", "{body}");
}
crate::both!(a_dpop_proof_at_par_binds_the_code, CONFIG);
