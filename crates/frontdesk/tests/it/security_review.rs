//! Regression tests for the outside review's findings on the server
//! (docs/SECURITY.md §6, issue 11 findings 3–10), each named after its
//! finding, over real HTTP on SQLite and PostgreSQL.

use serde_json::{Value, json};

use crate::both;
use crate::browser::{
    ALICE, APP1, APP1_CB, Browser, NATIVE_CB, SECURITY_CONFIG, at_login_page, authorize_url,
    code_for, page, pkce,
};
use crate::support::{Server, basic_header};

fn err(error: &str, description: &str) -> Value {
    json!({"error": error, "error_description": description})
}

/// A browser whose every request claims to come from `xff`.
fn browser_via(s: &Server, xff: &str) -> Browser {
    let mut h = reqwest::header::HeaderMap::new();
    h.insert("x-forwarded-for", xff.parse().unwrap());
    Browser {
        http: reqwest::Client::builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(h)
            .build()
            .unwrap(),
        base: s.base.clone(),
    }
}

/// POSTs a form to `path` with Basic credentials and, if given, an
/// `X-Forwarded-For` header; returns status and JSON body (or Null).
async fn post_via(
    s: &Server,
    path: &str,
    creds: (&str, &str),
    xff: Option<&str>,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let mut req = s
        .http
        .post(s.url(path))
        .header("authorization", basic_header(creds.0, creds.1))
        .form(form);
    if let Some(x) = xff {
        req = req.header("x-forwarded-for", x);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let body = r.json().await.unwrap_or(Value::Null);
    (status, body)
}

const M2M: (&str, &str) = ("order-service", "order-service-secret-0123456789");
const CC: &[(&str, &str)] = &[("grant_type", "client_credentials")];

/// Signs alice in to `client` (app1 confidential, native public) with
/// `openid offline_access` and redeems the code: the token response.
async fn tokens_for(s: &Server, client: &str) -> Value {
    let b = Browser::new(s);
    let (verifier, challenge) = pkce();
    let (cb, basic) = if client == "native" {
        (NATIVE_CB, None)
    } else {
        (APP1_CB, Some(APP1))
    };
    let code = code_for(s, &b, client, cb, "openid offline_access", &challenge, &[]).await;
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", cb),
        ("code_verifier", verifier.as_str()),
    ];
    if basic.is_none() {
        form.push(("client_id", client));
    }
    let r = s.post_form("/token", basic, &form).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// [`tokens_for`]'s refresh token.
async fn refresh_token_for(s: &Server, client: &str) -> String {
    tokens_for(s, client).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

// ----- finding 3: throttles and trusted proxies -----

const THROTTLE_CONFIG: &str = "client_auth_max_failures_per_ip = 3\n";

/// Finding 3: over its limit an address is still served for a known client
/// with its correct secret; failures and unknown client_ids get 429.
/// Without `trusted_proxies`, `X-Forwarded-For` changes nothing.
async fn f11_3_throttle_still_admits_correct_credentials(s: &Server) {
    // A correct request first, so this node has seen the client.
    assert_eq!(post_via(s, "/token", M2M, None, CC).await.0, 200);
    // Bad secrets, each claiming another address: all count against the
    // TCP peer, since no proxy is trusted.
    let mut statuses = vec![];
    for i in 0..5 {
        let xff = format!("198.51.100.{i}");
        let bad = ("order-service", "wrong-secret-0123456789");
        statuses.push(post_via(s, "/token", bad, Some(&xff), CC).await.0);
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429]);
    // Over the limit: wrong secret and unknown client still 429 …
    let bad = ("order-service", "wrong-secret-0123456789");
    assert_eq!(post_via(s, "/token", bad, None, CC).await.0, 429);
    let ghost = ("ghost-client", "whatever-secret-0123456789");
    assert_eq!(post_via(s, "/token", ghost, None, CC).await.0, 429);
    // … but the known client with its secret is served at all three
    // endpoints.
    let (status, body) = post_via(s, "/token", M2M, None, CC).await;
    assert_eq!(status, 200, "{body}");
    let at = body["access_token"].as_str().unwrap().to_owned();
    let (status, body) = post_via(s, "/introspect", M2M, None, &[("token", &at)]).await;
    assert_eq!((status, &body["active"]), (200, &json!(true)), "{body}");
    let (status, _) = post_via(s, "/revoke", M2M, None, &[("token", &at)]).await;
    assert_eq!(status, 200);
}
both!(
    f11_3_throttle_still_admits_correct_credentials,
    THROTTLE_CONFIG
);

const PROXY_CONFIG: &str = "client_auth_max_failures_per_ip = 3\n\
    login_max_failures_per_ip = 3\n\
    trusted_proxies = [\"127.0.0.1/32\"]\n";

/// Finding 3 with `trusted_proxies`: a flood of bad secrets through the
/// proxy blocks the attacker's address only; another client behind the same
/// proxy, and the proxy's own address, are not affected.
async fn f11_3_trusted_proxy_names_the_client(s: &Server) {
    let bad = ("order-service", "wrong-secret-0123456789");
    let attacker = Some("203.0.113.66");
    let mut statuses = vec![];
    for _ in 0..5 {
        statuses.push(post_via(s, "/token", bad, attacker, CC).await.0);
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429]);
    // The attacker's address is blocked even for a correct client it has
    // never authenticated on this node before … (unknown to the node: 429).
    let post = ("post-client", "post-client-secret-0123456789");
    assert_eq!(post_via(s, "/token", post, attacker, CC).await.0, 429);
    // … while another client behind the proxy is served, and so are
    // requests without the header (the proxy itself).
    for xff in [Some("198.51.100.20"), None] {
        let (status, body) = post_via(s, "/token", M2M, xff, CC).await;
        assert_eq!(status, 200, "{xff:?}: {body}");
        let bad_once = post_via(s, "/token", bad, xff, CC).await.0;
        assert_eq!(bad_once, 401, "{xff:?}: one failure is not over the limit");
    }
    // The client address is in the request log.
    assert!(s.log().contains("203.0.113.66"), "the log names the client");
}
both!(f11_3_trusted_proxy_names_the_client, PROXY_CONFIG);

// ----- finding 4: public clients at /introspect and /revoke -----

/// Finding 4: a public client cannot introspect (RFC 7662 §2.1), and at
/// /revoke someone else's token is answered like an unknown one.
async fn f11_4_public_clients_cannot_scan_tokens(s: &Server) {
    let tokens = tokens_for(s, APP1.0).await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    let at = tokens["access_token"].as_str().unwrap();

    for token in [rt, at, "not-a-token"] {
        let r = s
            .post_form(
                "/introspect",
                None,
                &[("client_id", "native"), ("token", token)],
            )
            .await;
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()["cache-control"], "no-store");
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body,
            err(
                "invalid_client",
                "introspection needs client authentication; public clients cannot introspect"
            )
        );
    }
    // /revoke: app1's live tokens and garbage get the same empty 200 from
    // the public client, and nothing is revoked.
    for token in [rt, at, "not-a-token"] {
        let r = s
            .post_form(
                "/revoke",
                None,
                &[("client_id", "native"), ("token", token)],
            )
            .await;
        assert_eq!(r.status(), 200, "{token}");
        assert_eq!(r.text().await.unwrap(), "");
    }
    assert_eq!(s.introspect(rt).await["active"], true);
    assert_eq!(s.introspect(at).await["active"], true);
    // A confidential client is still told the token is not its own.
    let r = s
        .post_form(
            "/revoke",
            Some(("order-service", "order-service-secret-0123456789")),
            &[("token", rt)],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        err("invalid_request", "the token was not issued to this client")
    );
}
both!(f11_4_public_clients_cannot_scan_tokens, SECURITY_CONFIG);

// ----- findings 6 and 7: login throttle keys -----

/// Finding 6: the per-account limit counts the account, whichever name it
/// is reached by: 10 failures split between `alice` and her e-mail address
/// lock both.
async fn f11_6_account_limit_counts_username_and_email_together(s: &Server) {
    let (b, login) = at_login_page(s).await;
    for i in 1..=10 {
        let name = if i % 2 == 0 {
            "alice"
        } else {
            "Alice@Example.com"
        };
        let p = page(b.login(&login, (name, "wrong-password")).await);
        assert_eq!(p.status, 401, "attempt {i} as {name}");
    }
    for name in ["alice@example.com", "alice"] {
        let p = page(b.login(&login, (name, ALICE.1)).await);
        assert_eq!(p.status, 429, "{name} is locked too");
    }
}
both!(
    f11_6_account_limit_counts_username_and_email_together,
    SECURITY_CONFIG
);

/// Finding 7: the per-address login limit counts IPv6 by its /64, as the
/// client-authentication limit does (addresses reported by a trusted proxy).
async fn f11_7_login_limit_counts_ipv6_per_64(s: &Server) {
    let (_, challenge) = pkce();
    let url = authorize_url(s, APP1.0, APP1_CB, "openid", &challenge, &[]);
    let mut statuses = vec![];
    for i in 1..=4 {
        // Each attempt from a new address in 2001:db8:1:2::/64, for a new
        // unknown user (so no account limit is involved).
        let b = browser_via(s, &format!("2001:db8:1:2::{i:x}"));
        let login = page(b.get(&url).await);
        assert_eq!(login.status, 200, "{}", login.body);
        let p = page(
            b.login(&login, (&format!("nobody{i}"), "wrong-password"))
                .await,
        );
        statuses.push(p.status.as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 429]);
    // Another /64 is another address.
    let b = browser_via(s, "2001:db8:1:3::1");
    let login = page(b.get(&url).await);
    let p = page(b.login(&login, ALICE).await);
    assert_eq!(p.status, 200, "{}", p.body);
}
both!(
    f11_7_login_limit_counts_ipv6_per_64,
    &format!("{PROXY_CONFIG}{SECURITY_CONFIG}")
);

// ----- finding 8: refresh grace -----

const GRACE_CONFIG: &str = r#"
refresh_grace_secs = 0

[[clients]]
client_id = "app1"
client_secret = "app1-secret-0123456789abcdef"
client_name = "APP1"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["https://app1.example.com/cb"]
scope = "openid offline_access"

[[clients]]
client_id = "native"
client_name = "Native CLI"
token_endpoint_auth_method = "none"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["http://127.0.0.1/callback"]
scope = "openid offline_access"
refresh_grace_secs = 30
"#;

async fn refresh(s: &Server, client: &str, rt: &str) -> (u16, Value) {
    let (basic, mut form) = if client == "native" {
        (None, vec![("client_id", "native")])
    } else {
        (Some(APP1), vec![])
    };
    form.extend([("grant_type", "refresh_token"), ("refresh_token", rt)]);
    let r = s.post_form("/token", basic, &form).await;
    (r.status().as_u16(), r.json().await.unwrap())
}

/// Finding 8: `refresh_grace_secs = 0` is strict — reusing a rotated
/// refresh token at once (same second) fails and revokes the family — and
/// a client's own `refresh_grace_secs` keeps a window for that client.
async fn f11_8_zero_refresh_grace_is_strict(s: &Server) {
    let rt1 = refresh_token_for(s, "app1").await;
    let (status, body) = refresh(s, "app1", &rt1).await;
    assert_eq!(status, 200, "{body}");
    let rt2 = body["refresh_token"].as_str().unwrap().to_owned();
    let (status, body) = refresh(s, "app1", &rt1).await;
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
    assert_eq!(s.introspect(&rt2).await, json!({"active": false}));

    // native has a 30 s window of its own: an immediate retry gets the same
    // successor, and the family lives on.
    let rt1 = refresh_token_for(s, "native").await;
    let (status, first) = refresh(s, "native", &rt1).await;
    assert_eq!(status, 200, "{first}");
    let (status, again) = refresh(s, "native", &rt1).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(first["refresh_token"], again["refresh_token"]);
    let rt2 = first["refresh_token"].as_str().unwrap();
    assert_eq!(s.introspect(rt2).await["active"], true);
}
both!(f11_8_zero_refresh_grace_is_strict, GRACE_CONFIG);

/// Finding 8: the per-client setting is validated and shown.
async fn f11_8_client_refresh_grace_is_validated(s: &Server) {
    let r = s
        .admin_req(
            reqwest::Method::POST,
            "/admin/clients",
            Some(
                json!({"client_name": "Too Long", "grant_types": ["client_credentials"],
                        "refresh_grace_secs": 61}),
            ),
        )
        .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["error_description"],
        "refresh_grace_secs must be 0 (off) to 60"
    );
    let r = s
        .admin_req(
            reqwest::Method::PATCH,
            "/admin/clients/web-app",
            Some(json!({"refresh_grace_secs": 0})),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["refresh_grace_secs"], 0);
}
both!(f11_8_client_refresh_grace_is_validated);

// ----- finding 9: consent revocation -----

/// Finding 9: revoking a consent through the admin API revokes the user's
/// grants to that client in the same transaction: its refresh token and
/// access token stop working at once.
async fn f11_9_revoking_consent_revokes_tokens(s: &Server) {
    let tokens = tokens_for(s, APP1.0).await;
    let rt = tokens["refresh_token"].as_str().unwrap();
    let at = tokens["access_token"].as_str().unwrap();
    assert_eq!(s.introspect(at).await["active"], true);

    let r = s
        .admin_req(
            reqwest::Method::DELETE,
            "/admin/users/alice/consents/app1",
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    assert_eq!(s.introspect(at).await, json!({"active": false}));
    assert_eq!(s.introspect(rt).await, json!({"active": false}));
    let r = s
        .post_form(
            "/token",
            Some(APP1),
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        err(
            "invalid_grant",
            "the refresh token has been revoked or has expired"
        )
    );
    assert_eq!(s.userinfo_status(at).await, 401);
    // Nothing left to revoke: 404.
    let r = s
        .admin_req(
            reqwest::Method::DELETE,
            "/admin/users/alice/consents/app1",
            None,
        )
        .await;
    assert_eq!(r.status(), 404);
}
both!(f11_9_revoking_consent_revokes_tokens, SECURITY_CONFIG);

// ----- finding 10: client_id and user subjects -----

/// Finding 10: a client_id shaped like a UUID (the form of every user's
/// `sub`) is refused on every path that names one, so a client-credentials
/// token's `sub` can never be a user's (RFC 9700 §4.15).
async fn f11_10_client_id_cannot_be_a_user_subject(s: &Server) {
    let r = s
        .admin_req(reqwest::Method::GET, "/admin/users/alice", None)
        .await;
    let alice_sub = r.json::<Value>().await.unwrap()["sub"]
        .as_str()
        .unwrap()
        .to_owned();
    for id in [
        alice_sub.clone(),
        alice_sub.to_uppercase(),
        alice_sub.replace('-', ""),
        format!("urn:uuid:{alice_sub}"),
        "00000000-0000-0000-0000-000000000000".to_owned(),
    ] {
        let r = s
            .admin_req(
                reqwest::Method::POST,
                "/admin/clients",
                Some(json!({"client_id": id, "client_name": "Impostor",
                            "grant_types": ["client_credentials"]})),
            )
            .await;
        assert_eq!(r.status(), 400, "{id}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(
            body["error_description"],
            "client_id must not be a UUID: UUIDs are the subjects of users",
            "{id}"
        );
    }
    // The CLI goes through the same rule.
    let out = s.cli(
        &[
            "clients",
            "create",
            "--client-id",
            &alice_sub,
            "--name",
            "Impostor",
            "--grant-type",
            "client_credentials",
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("client_id must not be a UUID"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Other ids are fine.
    let r = s
        .admin_req(
            reqwest::Method::POST,
            "/admin/clients",
            Some(
                json!({"client_id": "billing-service", "client_name": "Billing",
                        "grant_types": ["client_credentials"]}),
            ),
        )
        .await;
    assert_eq!(r.status(), 201);
}
both!(f11_10_client_id_cannot_be_a_user_subject);

// ----- finding 5: CSRF bound to the session -----

/// The login page `/authorize` leads to, fetched without a cookie store.
async fn login_page_response(client: &reqwest::Client, s: &Server, url: &str) -> reqwest::Response {
    let r = client.get(url).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let loc = r.headers()["location"].to_str().unwrap();
    assert!(loc.starts_with('/'), "{loc}");
    client.get(s.url(loc)).send().await.unwrap()
}

/// Finding 5: a CSRF token is bound to the browser's session. An attacker
/// who plants their own `fd_csrf` value in the victim's browser, and
/// fetches the matching token with it from their own machine, cannot make
/// the victim's signed-in browser approve a consent.
async fn f11_5_csrf_token_bound_to_the_session(s: &Server) {
    use std::sync::Arc;
    let (_, challenge) = pkce();
    let url = authorize_url(s, APP1.0, APP1_CB, "openid profile", &challenge, &[]);
    // The attacker's own visit: a fd_csrf cookie value and its token.
    let attacker = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = login_page_response(&attacker, s, &url).await;
    let planted = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|c| c.to_str().ok()?.strip_prefix("fd_csrf="))
        .map(|rest| rest.split(';').next().unwrap().to_owned())
        .next()
        .expect("a fd_csrf cookie");
    let body = r.text().await.unwrap();
    let attacker_page = crate::browser::Page {
        status: reqwest::StatusCode::OK,
        headers: reqwest::header::HeaderMap::new(),
        body,
    };
    let attacker_token = attacker_page.input("csrf").unwrap();

    // The victim signs in and reaches the consent page.
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let victim = Browser {
        http: reqwest::Client::builder()
            .cookie_provider(Arc::clone(&jar))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        base: s.base.clone(),
    };
    let login = page(victim.get(&url).await);
    let consent = page(victim.login(&login, ALICE).await);
    assert!(
        consent.body.contains("action=\"/consent\""),
        "{}",
        consent.body
    );
    let request = consent.input("request").unwrap();

    // The attacker plants their cookie value (sibling subdomain, http).
    let base = url::Url::parse(&s.base).unwrap();
    jar.add_cookie_str(&format!("fd_csrf={planted}; Path=/"), &base);
    let forged = [
        ("csrf", attacker_token.as_str()),
        ("request", request.as_str()),
        ("decision", "approve"),
    ];
    let p = page(victim.post("/consent", &forged).await);
    assert_eq!(
        p.status, 403,
        "a planted cookie and its token approve nothing"
    );
    assert!(p.body.contains("This form has expired"), "{}", p.body);

    // The victim's own form, shown again with the same planted cookie,
    // works: the refusal was the session binding, not the cookie.
    let again = page(victim.get(&url).await);
    let own = again.input("csrf").unwrap();
    assert_ne!(own, attacker_token);
    let ok = [
        ("csrf", own.as_str()),
        ("request", request.as_str()),
        ("decision", "approve"),
    ];
    let end = victim.post("/consent", &ok).await;
    let cb = crate::browser::redirect(end);
    assert!(cb.as_str().starts_with(APP1_CB), "{cb}");
}
both!(f11_5_csrf_token_bound_to_the_session, SECURITY_CONFIG);

/// Finding 5: on an https issuer the cookies are `__Host-` cookies
/// (RFC 6265bis): Secure, Path=/, no Domain, so a sibling subdomain or a
/// plain-http response cannot set them. (No database question: SQLite.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f11_5_host_prefixed_cookies_on_https() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("frontdesk.toml");
    std::fs::write(&config, SECURITY_CONFIG).unwrap();
    let mut child = std::process::Command::new(crate::support::bin())
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--issuer",
            "https://id.example.test",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let base = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("listening on ").map(str::to_owned))
        .expect("the server starts");
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let (_, challenge) = pkce();
    let url = format!(
        "{base}/authorize?response_type=code&client_id=app1&redirect_uri={}&scope=openid\
         &state=s&code_challenge={challenge}&code_challenge_method=S256",
        url::form_urlencoded::byte_serialize(APP1_CB.as_bytes()).collect::<String>()
    );
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    let r = client.get(format!("{base}{loc}")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    let csrf = cookies
        .iter()
        .find(|c| c.starts_with("__Host-fd_csrf="))
        .unwrap_or_else(|| panic!("{cookies:?}"));
    for attr in ["Secure", "Path=/", "HttpOnly", "SameSite=Lax"] {
        assert!(csrf.contains(attr), "{attr} in {csrf}");
    }
    assert!(!csrf.to_ascii_lowercase().contains("domain="), "{csrf}");
    assert!(
        !cookies.iter().any(|c| c.starts_with("fd_csrf=")),
        "{cookies:?}"
    );
}
