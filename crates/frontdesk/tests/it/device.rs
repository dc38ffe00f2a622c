//! The Device Authorization Grant (RFC 8628) end to end, on SQLite and
//! PostgreSQL: discovery and the feature switch, the device authorization
//! endpoint's answers and refusals, the token endpoint's polling answers
//! (`authorization_pending`, `slow_down`, `access_denied`, `invalid_grant`),
//! the verification pages (`/device`, sign-in with `next=device`, a second
//! factor, `required_groups`, the wrong-code throttle, the approval page
//! that is always shown), the tokens an approval ends in, and the audit
//! events. Then three independent devices: `frontdesk login --device` as a
//! child process, the `openidconnect` crate, and headless Chromium for the
//! person's side.
//!
//! The interval is real server time (whole seconds between polls), so the
//! servers here poll at `device_poll_interval_secs = 1` and [`Device::poll`]
//! waits out what is left of it; only the `slow_down` test polls early on
//! purpose, on a server with the default interval.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::both;
use crate::browser::{ALICE, Browser, Page, authorize_url, drive, pkce, query, redirect};
use crate::signin::verify_id_token;
use crate::support::{
    Backend, PHOTOS, Server, assert_no_store, bin, exit_within, invalid_client, jwt_parts, parts,
    unix_now, wait_for,
};

const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// RFC 8628 §6.1: the letters a user code is made of.
const ALPHABET: &str = "BCDFGHJKLMNPQRSTVWXZ";
const TV: &str = "tv";
const TV_NAME: &str = "Living Room TV";
const PRINTER: (&str, &str) = ("printer", "printer-secret-0123456789abcdef");
const HYBRID_SECRET: &str = "hybrid-secret-0123456789abcdef";
const CAROL: (&str, &str) = ("carol", "carol-password-123456");
const ACR_MFA: &str = "urn:frontdesk:acr:mfa";

/// Device clients: `tv` (public, refresh tokens, an audience), `console`
/// (public, first party), `staff-kiosk` (public, staff only), `printer`
/// (confidential), `hybrid` (confidential, also the code grant);
/// `browser-only`, a public client without the grant.
const CONFIG: &str = r#"
device_poll_interval_secs = 1
device_code_ttl_secs = 300

[[scopes]]
name = "photos:read"
description = "see your photos"

[[clients]]
client_id = "tv"
client_name = "Living Room TV"
token_endpoint_auth_method = "none"
grant_types = ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]
scope = "openid profile offline_access photos:read"
audience = ["https://photos.example.com"]

[[clients]]
client_id = "console"
client_name = "Game Console"
token_endpoint_auth_method = "none"
first_party = true
grant_types = ["urn:ietf:params:oauth:grant-type:device_code"]
scope = "openid profile"

[[clients]]
client_id = "staff-kiosk"
client_name = "Staff Kiosk"
token_endpoint_auth_method = "none"
grant_types = ["urn:ietf:params:oauth:grant-type:device_code"]
scope = "openid"
required_groups = ["staff"]

[[clients]]
client_id = "printer"
client_secret = "printer-secret-0123456789abcdef"
client_name = "Office Printer"
grant_types = ["urn:ietf:params:oauth:grant-type:device_code"]
scope = "openid"

[[clients]]
client_id = "hybrid"
client_secret = "hybrid-secret-0123456789abcdef"
client_name = "Hybrid App"
grant_types = ["authorization_code", "urn:ietf:params:oauth:grant-type:device_code"]
redirect_uris = ["https://hybrid.example.com/cb"]
scope = "openid profile"

[[clients]]
client_id = "browser-only"
client_name = "Browser Only"
token_endpoint_auth_method = "none"
grant_types = ["authorization_code"]
redirect_uris = ["http://127.0.0.1/callback"]
scope = "openid"

[[users]]
username = "carol"
password = "carol-password-123456"
email = "carol@example.com"
groups = ["staff"]
"#;

/// `tv` with the server's default interval and lifetime.
const DEFAULTS_CONFIG: &str = r#"
[[clients]]
client_id = "tv"
client_name = "Living Room TV"
token_endpoint_auth_method = "none"
grant_types = ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]
scope = "openid profile offline_access"
"#;

/// `tv` on a server with the device flow turned off.
const DISABLED_CONFIG: &str = r#"
[features]
device_authorization = false

[[clients]]
client_id = "tv"
client_name = "Living Room TV"
token_endpoint_auth_method = "none"
grant_types = ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]
scope = "openid profile offline_access"
"#;

fn err(error: &str, description: &str) -> Value {
    json!({"error": error, "error_description": description})
}

fn pending() -> Value {
    err(
        "authorization_pending",
        "the user has not yet approved the request",
    )
}

/// RFC 8628 §6.1 as this server draws it: `^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$`.
fn assert_user_code(code: &str) {
    let (a, b) = code
        .split_once('-')
        .unwrap_or_else(|| panic!("no dash in {code:?}"));
    for half in [a, b] {
        assert_eq!(half.len(), 4, "{code:?}");
        assert!(half.chars().all(|c| ALPHABET.contains(c)), "{code:?}");
    }
}

fn scope_set(scope: &Value) -> Vec<String> {
    let mut v: Vec<String> = scope
        .as_str()
        .unwrap_or_else(|| panic!("a scope string: {scope}"))
        .split(' ')
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

async fn sub_of(s: &Server, username: &str) -> String {
    let user = s
        .admin_expect(Method::GET, &format!("/admin/users/{username}"), None, 200)
        .await;
    user["sub"].as_str().expect("sub").to_owned()
}

// ----- the device's side -----

/// A device authorization request and the device's polls of it.
struct Device {
    client_id: String,
    secret: Option<String>,
    answer: Value,
    /// When the last poll's answer came back.
    last_poll: Option<Instant>,
}

/// `POST /device_authorization` as `client_id` (with `secret`: Basic).
async fn device_authorization(
    s: &Server,
    client_id: &str,
    secret: Option<&str>,
    form: &[(&str, &str)],
) -> (u16, HeaderMap, Value) {
    let mut form = form.to_vec();
    let basic = match secret {
        Some(secret) => Some((client_id, secret)),
        None => {
            form.push(("client_id", client_id));
            None
        }
    };
    parts(s.post_form("/device_authorization", basic, &form).await).await
}

/// A device-code token request as `client_id` (public) for `device_code`.
async fn poll_as(s: &Server, client_id: &str, device_code: &str) -> (u16, HeaderMap, Value) {
    let form = [
        ("grant_type", GRANT),
        ("device_code", device_code),
        ("client_id", client_id),
    ];
    parts(s.post_form("/token", None, &form).await).await
}

impl Device {
    /// A device code for the public client `client_id`.
    async fn start(s: &Server, client_id: &str, scope: &str, extra: &[(&str, &str)]) -> Device {
        Device::start_with(s, client_id, None, scope, extra).await
    }

    async fn start_with(
        s: &Server,
        client_id: &str,
        secret: Option<&str>,
        scope: &str,
        extra: &[(&str, &str)],
    ) -> Device {
        let mut form = vec![("scope", scope)];
        form.extend_from_slice(extra);
        let (status, h, answer) = device_authorization(s, client_id, secret, &form).await;
        assert_eq!(status, 200, "{answer}");
        assert_no_store(&h);
        assert_user_code(answer["user_code"].as_str().expect("user_code"));
        Device {
            client_id: client_id.to_owned(),
            secret: secret.map(str::to_owned),
            answer,
            last_poll: None,
        }
    }

    fn device_code(&self) -> &str {
        self.answer["device_code"].as_str().expect("device_code")
    }

    fn user_code(&self) -> &str {
        self.answer["user_code"].as_str().expect("user_code")
    }

    fn interval(&self) -> Duration {
        Duration::from_secs(self.answer["interval"].as_u64().expect("interval"))
    }

    /// A token request right now, whatever the interval.
    async fn poll_now(&mut self, s: &Server) -> (u16, HeaderMap, Value) {
        let mut form = vec![("grant_type", GRANT), ("device_code", self.device_code())];
        let basic = match &self.secret {
            Some(secret) => Some((self.client_id.as_str(), secret.as_str())),
            None => {
                form.push(("client_id", self.client_id.as_str()));
                None
            }
        };
        let r = parts(s.post_form("/token", basic, &form).await).await;
        self.last_poll = Some(Instant::now());
        r
    }

    /// A token request as a well-behaved device makes it: no sooner than
    /// `interval` after the last answer. The server compares whole
    /// seconds of its own clock, so this is a real wait (at most the
    /// interval, one second on these servers).
    async fn poll(&mut self, s: &Server) -> (u16, HeaderMap, Value) {
        if let Some(last) = self.last_poll {
            let due = last + self.interval();
            let now = Instant::now();
            if due > now {
                tokio::time::sleep(due - now).await;
            }
        }
        self.poll_now(s).await
    }

    /// A poll that must be answered `authorization_pending`.
    async fn assert_pending(&mut self, s: &Server) {
        let (status, _, body) = self.poll(s).await;
        assert_eq!((status, body), (400, pending()));
    }

    /// A poll that must end in tokens; the token response.
    async fn tokens(&mut self, s: &Server) -> Value {
        let (status, h, body) = self.poll(s).await;
        assert_eq!(status, 200, "{body}");
        assert_no_store(&h);
        body
    }
}

// ----- the person's side -----

/// A request in the browser that keeps a redirect (does not follow it).
async fn post_raw(b: &Browser, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    b.http
        .post(format!("{}{path}", b.base))
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn get_raw(b: &Browser, path: &str) -> reqwest::Response {
    b.http
        .get(format!("{}{path}", b.base))
        .send()
        .await
        .unwrap()
}

async fn page_of(r: reqwest::Response) -> Page {
    let status = r.status();
    let headers = r.headers().clone();
    Page {
        status,
        headers,
        body: r.text().await.unwrap(),
    }
}

fn location(r: &reqwest::Response) -> String {
    r.headers()["location"].to_str().unwrap().to_owned()
}

/// The `Set-Cookie` header for cookie `name`, if any.
fn set_cookie(h: &HeaderMap, name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    h.get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&prefix))
        .map(str::to_owned)
}

/// The answer removes the `fd_device` cookie.
fn assert_device_cookie_cleared(h: &HeaderMap) {
    let c = set_cookie(h, "fd_device").expect("a Set-Cookie for fd_device");
    assert!(c.starts_with("fd_device=;"), "{c}");
    assert!(c.contains("Max-Age=0"), "{c}");
}

/// `GET /device`: the form where the code is typed.
async fn entry_form(b: &Browser) -> Page {
    let p = page_of(get_raw(b, "/device").await).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(
        p.body.contains(r#"<form method="post" action="/device">"#),
        "{}",
        p.body
    );
    p
}

/// Types `code` into the form at `/device` and submits it; the raw answer.
async fn enter_code(b: &Browser, code: &str) -> reqwest::Response {
    let form = entry_form(b).await;
    let csrf = form.input("csrf").expect("csrf");
    post_raw(b, "/device", &[("csrf", &csrf), ("user_code", code)]).await
}

/// The login page the device page sends a browser to, filled in; the raw
/// answer.
async fn sign_in(b: &Browser, user: (&str, &str)) -> reqwest::Response {
    let login = page_of(get_raw(b, "/login?next=device").await).await;
    assert_eq!(login.status, 200, "{}", login.body);
    assert!(login.body.contains("name=\"password\""), "{}", login.body);
    assert_eq!(login.input("next").as_deref(), Some("device"));
    post_raw(
        b,
        "/login",
        &[
            ("csrf", &login.input("csrf").expect("csrf")),
            ("request", ""),
            ("next", "device"),
            ("username", user.0),
            ("password", user.1),
        ],
    )
    .await
}

/// From typing `code` to the page that answers it, signing in as `user`
/// when asked (no second factor): the confirmation page, or whatever
/// refused.
async fn after_code(b: &Browser, code: &str, user: (&str, &str)) -> Page {
    let r = enter_code(b, code).await;
    if r.status() != 303 {
        return page_of(r).await;
    }
    assert_eq!(location(&r), "/login?next=device");
    let r = sign_in(b, user).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    assert_eq!(location(&r), "/device");
    page_of(get_raw(b, "/device").await).await
}

/// [`after_code`] that must end on the confirmation page.
async fn confirmation(b: &Browser, code: &str, user: (&str, &str)) -> Page {
    let p = after_code(b, code, user).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains(r#"action="/device/decide""#), "{}", p.body);
    p
}

/// The confirmation page names the client, shows the code to compare and
/// lists what the device may do, with both answers and a CSRF token.
fn assert_confirmation(p: &Page, client_name: &str, code: &str, scopes: &[&str]) {
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains(client_name), "{}", p.body);
    assert!(
        p.body.contains(&format!("<strong>{code}</strong>")),
        "the code {code} in {}",
        p.body
    );
    let items: Vec<&str> = p
        .body
        .split("<li>")
        .skip(1)
        .map(|li| li.split("</li>").next().unwrap_or_default())
        .collect();
    assert_eq!(items, scopes, "{}", p.body);
    assert!(
        p.body
            .contains(r#"<form method="post" action="/device/decide">"#)
    );
    assert!(p.body.contains(r#"name="decision" value="approve""#));
    assert!(p.body.contains(r#"name="decision" value="deny""#));
    assert!(p.input("csrf").is_some_and(|c| !c.is_empty()));
}

/// Answers the confirmation page.
async fn decide(b: &Browser, confirm: &Page, decision: &str) -> Page {
    let csrf = confirm.input("csrf").expect("csrf");
    let r = post_raw(
        b,
        "/device/decide",
        &[("csrf", &csrf), ("decision", decision)],
    )
    .await;
    page_of(r).await
}

/// Signs `user` in for `code` and approves; the "Device connected" page.
async fn approve(b: &Browser, code: &str, user: (&str, &str)) -> Page {
    let confirm = confirmation(b, code, user).await;
    let done = decide(b, &confirm, "approve").await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Device connected"), "{}", done.body);
    done
}

async fn device_audit(s: &Server) -> Vec<Value> {
    let v = s
        .admin_expect(Method::GET, "/admin/audit?kind=device&limit=50", None, 200)
        .await;
    v["events"].as_array().expect("events").clone()
}

async fn refresh(s: &Server, client_id: &str, rt: &str) -> (u16, Value) {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt),
        ("client_id", client_id),
    ];
    let (status, _, body) = parts(s.post_form("/token", None, &form).await).await;
    (status, body)
}

/// Waits until introspection says `token` is inactive (the server's
/// revocation cache is another process's state).
async fn inactive_within(s: &Server, token: &str, what: &str) {
    wait_for(what, Duration::from_secs(2), async || {
        let info = s.introspect(token).await;
        if info == json!({"active": false}) {
            Ok(())
        } else {
            Err(info)
        }
    })
    .await;
}

// ----- discovery and the switch -----

async fn discovery_advertises_the_device_endpoint(s: &Server) {
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let m = s.get_json(path).await;
        assert_eq!(
            m["device_authorization_endpoint"],
            s.url("/device_authorization"),
            "{path}"
        );
        let grants = m["grant_types_supported"].as_array().expect("grants");
        assert!(grants.contains(&json!(GRANT)), "{path}: {grants:?}");
        assert!(grants.contains(&json!("authorization_code")), "{grants:?}");
    }
}
both!(discovery_advertises_the_device_endpoint, CONFIG);

async fn disabled_device_flow_is_neither_advertised_nor_routed(s: &Server) {
    let m = s.get_json("/.well-known/openid-configuration").await;
    assert!(m.get("device_authorization_endpoint").is_none(), "{m}");
    let grants = m["grant_types_supported"].as_array().expect("grants");
    assert!(!grants.contains(&json!(GRANT)), "{grants:?}");
    assert!(
        grants.contains(&json!("authorization_code")),
        "the rest stays"
    );

    let (status, _, _) = device_authorization(s, TV, None, &[("scope", "openid")]).await;
    assert_eq!(status, 404);
    let b = Browser::new(s);
    assert_eq!(get_raw(&b, "/device").await.status(), 404);
    assert_eq!(
        post_raw(&b, "/device", &[("user_code", "BCDF-GHJK")])
            .await
            .status(),
        404
    );
    assert_eq!(
        post_raw(&b, "/device/decide", &[("decision", "approve")])
            .await
            .status(),
        404
    );
    // The token endpoint does not know the grant either.
    let (status, _, body) = poll_as(s, TV, "some-device-code").await;
    assert_eq!(
        (status, body),
        (
            400,
            err("unsupported_grant_type", "this grant type is not supported")
        )
    );
}
both!(
    disabled_device_flow_is_neither_advertised_nor_routed,
    DISABLED_CONFIG
);

// ----- the device authorization endpoint -----

/// A request to the device authorization endpoint and its expected answer:
/// client, secret (Basic), form, status, body.
type Refusal<'a> = (
    &'a str,
    Option<&'a str>,
    Vec<(&'a str, &'a str)>,
    u16,
    Value,
);

async fn device_authorization_answers_and_refusals(s: &Server) {
    let (status, h, answer) =
        device_authorization(s, TV, None, &[("scope", "openid profile")]).await;
    assert_eq!(status, 200, "{answer}");
    assert_no_store(&h);
    assert!(
        h["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let mut keys: Vec<&str> = answer
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "device_code",
            "expires_in",
            "interval",
            "user_code",
            "verification_uri",
            "verification_uri_complete"
        ]
    );
    let user_code = answer["user_code"].as_str().unwrap();
    assert_user_code(user_code);
    assert!(answer["device_code"].as_str().unwrap().len() >= 32);
    assert_eq!(answer["verification_uri"], s.url("/device"));
    assert_eq!(
        answer["verification_uri_complete"],
        format!("{}?user_code={user_code}", s.url("/device"))
    );
    // device_code_ttl_secs and device_poll_interval_secs.
    assert_eq!(answer["expires_in"], 300);
    assert_eq!(answer["interval"], 1);

    // Every request gets codes of its own.
    let (_, _, again) = device_authorization(s, TV, None, &[("scope", "openid")]).await;
    assert_ne!(again["device_code"], answer["device_code"]);
    assert_ne!(again["user_code"], answer["user_code"]);

    // A confidential client authenticates (Basic), as at /token.
    let (status, _, body) =
        device_authorization(s, PRINTER.0, Some(PRINTER.1), &[("scope", "openid")]).await;
    assert_eq!(status, 200, "{body}");
    assert_user_code(body["user_code"].as_str().unwrap());

    // Refusals, RFC 6749 §5.2 style.
    let refusals: Vec<Refusal<'_>> = vec![
        (
            "browser-only",
            None,
            vec![("scope", "openid")],
            400,
            err(
                "unauthorized_client",
                "this client may not use the urn:ietf:params:oauth:grant-type:device_code grant",
            ),
        ),
        (
            "web-app",
            Some("web-app-secret-0123456789"),
            vec![("scope", "openid")],
            400,
            err(
                "unauthorized_client",
                "this client may not use the urn:ietf:params:oauth:grant-type:device_code grant",
            ),
        ),
        (
            TV,
            None,
            vec![("scope", "admin:everything")],
            400,
            err(
                "invalid_scope",
                "none of the requested scopes is allowed for this client",
            ),
        ),
        (
            TV,
            None,
            vec![
                ("scope", "openid"),
                ("resource", "https://other.example.com"),
            ],
            400,
            err(
                "invalid_target",
                "the requested resource is not allowed for this client",
            ),
        ),
        (
            "nobody",
            None,
            vec![("scope", "openid")],
            401,
            invalid_client(),
        ),
        // A confidential client that only names itself, or has the wrong secret.
        (
            PRINTER.0,
            None,
            vec![("scope", "openid")],
            401,
            invalid_client(),
        ),
        (
            PRINTER.0,
            Some("not-the-secret-0123456789abcdef"),
            vec![("scope", "openid")],
            401,
            invalid_client(),
        ),
    ];
    for (client, secret, form, want_status, want) in refusals {
        let (status, _, body) = device_authorization(s, client, secret, &form).await;
        assert_eq!((status, &body), (want_status, &want), "{client} {form:?}");
    }
}
both!(device_authorization_answers_and_refusals, CONFIG);

// ----- polling -----

async fn polling_too_fast_slows_the_device_down(s: &Server) {
    let mut d = Device::start(s, TV, "openid", &[]).await;
    // The defaults: ten minutes, every five seconds.
    assert_eq!(d.answer["expires_in"], 600);
    assert_eq!(d.answer["interval"], 5);
    let (status, h, body) = d.poll_now(s).await;
    assert_eq!((status, body), (400, pending()));
    assert_eq!(h["content-type"], "application/json");
    // Polls at once after that: slow_down, and the interval grows by 5 s
    // for good (§3.5).
    let (status, _, body) = d.poll_now(s).await;
    assert_eq!(
        (status, body),
        (400, err("slow_down", "poll at most every 10 seconds"))
    );
    let (status, _, body) = d.poll_now(s).await;
    assert_eq!(
        (status, body),
        (400, err("slow_down", "poll at most every 15 seconds"))
    );
    // Another request keeps its own interval.
    let mut other = Device::start(s, TV, "openid", &[]).await;
    let (status, _, body) = other.poll_now(s).await;
    assert_eq!((status, body), (400, pending()));
}
both!(polling_too_fast_slows_the_device_down, DEFAULTS_CONFIG);

async fn device_flow_approved(s: &Server) {
    let alice = sub_of(s, "alice").await;
    let mut d = Device::start(
        s,
        TV,
        "openid profile offline_access photos:read",
        &[("resource", PHOTOS)],
    )
    .await;
    d.assert_pending(s).await;
    let code = d.user_code().to_owned();

    // The empty form, then the one verification_uri_complete opens,
    // prefilled with the code as it is shown (not looked up: an unknown
    // code is prefilled all the same).
    let b = Browser::new(s);
    let form = entry_form(&b).await;
    assert_eq!(form.input("user_code").as_deref(), Some(""));
    assert!(form.input("csrf").is_some_and(|c| !c.is_empty()));
    let lower = code.to_lowercase();
    let prefilled = page_of(get_raw(&b, &format!("/device?user_code={lower}")).await).await;
    assert_eq!(prefilled.status, 200, "{}", prefilled.body);
    assert_eq!(prefilled.input("user_code").as_deref(), Some(code.as_str()));
    let unknown = page_of(get_raw(&b, "/device?user_code=bbbbbbbb").await).await;
    assert_eq!(unknown.status, 200, "{}", unknown.body);
    assert_eq!(unknown.input("user_code").as_deref(), Some("BBBB-BBBB"));
    assert!(!unknown.body.contains("That code is not valid"));

    // Typed in lower case, without the dash, with spaces: accepted; no
    // session yet, so on to the login page, the code in a cookie.
    let typed = format!(" {} {} ", &lower[..4], &lower[5..]);
    let r = enter_code(&b, &typed).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/login?next=device");
    let cookie = set_cookie(r.headers(), "fd_device").expect("the fd_device cookie");
    assert!(!cookie.starts_with("fd_device=;"), "{cookie}");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    let r = sign_in(&b, ALICE).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/device");
    let confirm = page_of(get_raw(&b, "/device").await).await;
    assert_confirmation(
        &confirm,
        TV_NAME,
        &code,
        &[
            "confirm who you are",
            "see your profile (name, nickname, picture)",
            "keep access while you are away",
            "see your photos",
        ],
    );
    assert!(confirm.body.contains("alice"), "signed in as alice");
    // The device waits while the person reads.
    d.assert_pending(s).await;

    let done = decide(&b, &confirm, "approve").await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Device connected"), "{}", done.body);
    assert!(done.body.contains(TV_NAME), "{}", done.body);
    assert_device_cookie_cleared(&done.headers);

    let tokens = d.tokens(s).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(
        scope_set(&tokens["scope"]),
        ["offline_access", "openid", "photos:read", "profile"]
    );
    assert!(tokens["expires_in"].as_u64().unwrap() > 0);
    let at = tokens["access_token"].as_str().expect("access_token");
    let rt = tokens["refresh_token"].as_str().expect("refresh_token");
    let id_token = tokens["id_token"].as_str().expect("id_token");

    // The ID token: for the device's client, about alice, without a nonce
    // (there was no authorization request to send one), with the session.
    let id = verify_id_token(s, id_token, TV).await;
    assert_eq!(id["sub"], alice.as_str());
    assert!(id["aud"] == TV || id["aud"] == json!([TV]), "{id}");
    assert_eq!(id.get("nonce"), None, "{id}");
    let sid = id["sid"].as_str().expect("sid").to_owned();
    assert_eq!(id["amr"], json!(["pwd"]));
    assert!(id["auth_time"].as_u64().unwrap().abs_diff(unix_now()) < 60);
    assert_eq!(id["name"], "Alice Example");
    // The access token: the resource asked for (RFC 8707), and the issuer
    // for userinfo.
    let (_, claims) = jwt_parts(at);
    assert_eq!(claims["sub"], alice.as_str());
    assert_eq!(claims["client_id"], TV);
    assert_eq!(claims["aud"], json!([PHOTOS, s.base]), "{claims}");
    let info = s.introspect(at).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["client_id"], TV);
    assert_eq!(info["sub"], alice.as_str());
    assert_eq!(s.userinfo_status(at).await, 200);

    // The approval is audited.
    let events = device_audit(s).await;
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e["kind"], "device.approve");
    assert_eq!(e["outcome"], "success");
    assert_eq!(e["actor"], alice.as_str());
    assert_eq!(e["subject"], alice.as_str());
    assert_eq!(e["client_id"], TV);
    assert_eq!(e["detail"]["sid"], sid.as_str(), "{e}");
    assert_eq!(
        scope_set(&e["detail"]["scope"]),
        scope_set(&tokens["scope"]),
        "{e}"
    );

    // The code is spent: the page no longer knows it.
    let gone = page_of(enter_code(&b, &code).await).await;
    assert_eq!(gone.status, 400);
    assert!(
        gone.body.contains("That code is not valid"),
        "{}",
        gone.body
    );

    // The refresh token works (the client has the refresh_token grant).
    let (status, refreshed) = refresh(s, TV, rt).await;
    assert_eq!(status, 200, "{refreshed}");
    let rt2 = refreshed["refresh_token"]
        .as_str()
        .expect("rotated")
        .to_owned();

    // A second redemption is a replay: refused, and the grant revoked.
    let (status, _, body) = d.poll(s).await;
    assert_eq!(
        (status, body),
        (
            400,
            err("invalid_grant", "the device_code was already used")
        )
    );
    let (status, body) = refresh(s, TV, &rt2).await;
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
    inactive_within(s, at, "the access token of a replayed device code").await;
}
both!(device_flow_approved, CONFIG);

async fn declined_requests_and_foreign_device_codes(s: &Server) {
    let alice = sub_of(s, "alice").await;
    let mut d = Device::start(s, TV, "openid", &[]).await;
    let b = Browser::new(s);
    let confirm = confirmation(&b, d.user_code(), ALICE).await;
    assert_confirmation(&confirm, TV_NAME, d.user_code(), &["confirm who you are"]);
    let late = Browser::new(s);
    let r = enter_code(&late, d.user_code()).await;
    assert_eq!(location(&r), "/login?next=device");
    let done = decide(&b, &confirm, "deny").await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Request declined"), "{}", done.body);
    assert!(done.body.contains(TV_NAME), "{}", done.body);
    assert_device_cookie_cleared(&done.headers);
    let denied = err("access_denied", "the user declined the request");
    for _ in 0..2 {
        let (status, _, body) = d.poll(s).await;
        assert_eq!((status, &body), (400, &denied));
    }
    // A second browser that had entered the code before the decision,
    // back at /device: the plain form (nothing was typed now), and its
    // code forgotten.
    let again = page_of(get_raw(&late, "/device").await).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert!(
        !again.body.contains("That code is not valid"),
        "{}",
        again.body
    );
    assert_eq!(again.input("user_code").as_deref(), Some(""));
    assert_device_cookie_cleared(&again.headers);
    // Decided: the page no longer takes the code.
    let gone = page_of(enter_code(&b, d.user_code()).await).await;
    assert_eq!(gone.status, 400);
    assert!(
        gone.body.contains("That code is not valid"),
        "{}",
        gone.body
    );
    let events = device_audit(s).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["kind"], "device.deny");
    assert_eq!(events[0]["subject"], alice.as_str());
    assert_eq!(events[0]["actor"], alice.as_str());
    assert_eq!(events[0]["client_id"], TV);

    // Codes the client does not hold.
    let (status, _, body) = poll_as(s, TV, "not-a-device-code").await;
    assert_eq!(
        (status, body),
        (400, err("invalid_grant", "the device_code is invalid"))
    );
    let mut theirs = Device::start(s, TV, "openid", &[]).await;
    let (status, _, body) = poll_as(s, "console", theirs.device_code()).await;
    assert_eq!(
        (status, body),
        (
            400,
            err(
                "invalid_grant",
                "the device_code was issued to another client"
            )
        )
    );
    let (status, _, body) = poll_as(s, "browser-only", theirs.device_code()).await;
    assert_eq!(
        (status, body),
        (
            400,
            err(
                "unauthorized_client",
                "this client may not use the urn:ietf:params:oauth:grant-type:device_code grant"
            )
        )
    );
    // Those polls were not the device's: its first is not too soon.
    let (status, _, body) = theirs.poll_now(s).await;
    assert_eq!((status, body), (400, pending()));
}
both!(declined_requests_and_foreign_device_codes, CONFIG);

// ----- the verification pages -----

/// Even a first-party client, even right after the same user approved it,
/// even with a remembered consent, and with a session that needs no
/// sign-in: the person is asked, and compares the code (§5.4).
async fn the_approval_page_is_always_shown(s: &Server) {
    let b = Browser::new(s);
    let mut first = Device::start(s, "console", "openid profile", &[]).await;
    let confirm = confirmation(&b, first.user_code(), ALICE).await;
    assert_confirmation(
        &confirm,
        "Game Console",
        first.user_code(),
        &[
            "confirm who you are",
            "see your profile (name, nickname, picture)",
        ],
    );
    assert!(
        decide(&b, &confirm, "approve")
            .await
            .body
            .contains("Device connected")
    );
    assert!(first.tokens(s).await["id_token"].is_string());

    // Signed in: straight from the code to the question, no login.
    let mut second = Device::start(s, "console", "openid profile", &[]).await;
    let r = enter_code(&b, second.user_code()).await;
    assert_eq!(r.status(), 200, "no redirect to the login page");
    assert!(set_cookie(r.headers(), "fd_device").is_some());
    let confirm = page_of(r).await;
    assert_confirmation(
        &confirm,
        "Game Console",
        second.user_code(),
        &[
            "confirm who you are",
            "see your profile (name, nickname, picture)",
        ],
    );
    assert!(!confirm.body.contains(first.user_code()));
    assert!(
        decide(&b, &confirm, "approve")
            .await
            .body
            .contains("Device connected")
    );
    let tokens = second.tokens(s).await;
    assert_eq!(tokens.get("refresh_token"), None, "no refresh_token grant");
    // Both approvals share the browser's session.
    let id = verify_id_token(s, tokens["id_token"].as_str().unwrap(), "console").await;
    assert_eq!(id["sub"], sub_of(s, "alice").await.as_str());
    assert_eq!(device_audit(s).await.len(), 2);

    // A client the user consented to at /authorize, remembered (the next
    // authorization request goes straight back to the client): its device
    // request is still asked for.
    let hybrid_cb = "https://hybrid.example.com/cb";
    let (_, challenge) = pkce();
    let url = authorize_url(s, "hybrid", hybrid_cb, "openid profile", &challenge, &[]);
    let cb = drive(&b, &url, ALICE).await;
    assert!(cb.as_str().starts_with(hybrid_cb), "{cb}");
    let (_, challenge) = pkce();
    let url = authorize_url(s, "hybrid", hybrid_cb, "openid profile", &challenge, &[]);
    let cb = redirect(b.get(&url).await);
    assert!(query(&cb, "code").is_some(), "consent remembered: {cb}");
    let mut third =
        Device::start_with(s, "hybrid", Some(HYBRID_SECRET), "openid profile", &[]).await;
    let confirm = page_of(enter_code(&b, third.user_code()).await).await;
    assert_confirmation(
        &confirm,
        "Hybrid App",
        third.user_code(),
        &[
            "confirm who you are",
            "see your profile (name, nickname, picture)",
        ],
    );
    assert!(
        decide(&b, &confirm, "approve")
            .await
            .body
            .contains("Device connected")
    );
    assert!(third.tokens(s).await["id_token"].is_string());
}
both!(the_approval_page_is_always_shown, CONFIG);

async fn a_second_factor_comes_before_the_approval(s: &Server) {
    let owner = Browser::new(s);
    crate::mfa::account_sign_in(&owner, ALICE).await;
    let (secret, step, _) = crate::mfa::enrol_from_account(&owner).await;

    let mut d = Device::start(s, TV, "openid", &[]).await;
    let b = Browser::new(s);
    let r = enter_code(&b, d.user_code()).await;
    assert_eq!(location(&r), "/login?next=device");
    let r = sign_in(&b, ALICE).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/device");
    // The password is not enough for an account with a second factor.
    let r = get_raw(&b, "/device").await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r), "/login/mfa?next=device");
    let mfa = page_of(get_raw(&b, "/login/mfa?next=device").await).await;
    assert_eq!(mfa.status, 200, "{}", mfa.body);
    assert!(mfa.body.contains("Two-step verification"), "{}", mfa.body);
    assert_eq!(mfa.input("next").as_deref(), Some("device"));
    // The next step's code (the enrolment spent this step's).
    let code = crate::mfa::totp_at(&secret, (step + 1) * 30);
    let r = post_raw(
        &b,
        "/login/mfa",
        &[
            ("csrf", &mfa.input("csrf").unwrap()),
            ("request", &mfa.input("request").unwrap_or_default()),
            ("next", "device"),
            ("code", &code),
        ],
    )
    .await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    assert_eq!(location(&r), "/device");
    let confirm = page_of(get_raw(&b, "/device").await).await;
    assert_confirmation(&confirm, TV_NAME, d.user_code(), &["confirm who you are"]);
    assert!(
        decide(&b, &confirm, "approve")
            .await
            .body
            .contains("Device connected")
    );
    let tokens = d.tokens(s).await;
    let id = verify_id_token(s, tokens["id_token"].as_str().unwrap(), TV).await;
    assert_eq!(id["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(id["acr"], ACR_MFA);
}
both!(a_second_factor_comes_before_the_approval, CONFIG);

async fn required_groups_turn_others_away(s: &Server) {
    let mut d = Device::start(s, "staff-kiosk", "openid", &[]).await;
    d.assert_pending(s).await;
    // alice is in no group: after her password, a page that says no.
    let b = Browser::new(s);
    let refused = after_code(&b, d.user_code(), ALICE).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("You cannot use"), "{}", refused.body);
    assert!(refused.body.contains("Staff Kiosk"), "{}", refused.body);
    assert!(!refused.body.contains("/device/decide"), "{}", refused.body);
    assert_device_cookie_cleared(&refused.headers);
    // Signed in now: the code alone gets the same answer.
    let again = page_of(enter_code(&b, d.user_code()).await).await;
    assert_eq!(again.status, 403, "{}", again.body);
    assert!(again.body.contains("You cannot use"), "{}", again.body);
    // A forged decision changes nothing (no cookie: nothing to decide).
    let forged = post_raw(
        &b,
        "/device/decide",
        &[
            ("csrf", &again.input("csrf").unwrap_or_default()),
            ("decision", "approve"),
        ],
    )
    .await;
    assert_ne!(forged.status(), 200);
    d.assert_pending(s).await;
    let (_, events) = s
        .admin_call(
            Method::GET,
            "/admin/audit?kind=authorize.not_admitted",
            None,
        )
        .await;
    let events = events["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events.iter().all(|e| e["client_id"] == "staff-kiosk"));
    assert!(device_audit(s).await.is_empty());

    // carol is staff: the same code works for her.
    let carol = Browser::new(s);
    approve(&carol, d.user_code(), CAROL).await;
    let tokens = d.tokens(s).await;
    let id = verify_id_token(s, tokens["id_token"].as_str().unwrap(), "staff-kiosk").await;
    assert_eq!(id["sub"], sub_of(s, "carol").await.as_str());
}
both!(required_groups_turn_others_away, CONFIG);

async fn wrong_codes_are_throttled_per_address(s: &Server) {
    let mut d = Device::start(s, TV, "openid", &[]).await;
    let b = Browser::new(s);
    // Typos that are no code at all are refused, and are no guess: not
    // counted, however many.
    for code in ["AAAA-AAAA", "not a code", "", "BBBB-BBB", "BBBB-BBBB0"]
        .iter()
        .cycle()
        .take(12)
    {
        let p = page_of(enter_code(&b, code).await).await;
        assert_eq!(p.status, 400, "malformed {code:?}: {}", p.body);
        assert!(p.body.contains("That code is not valid"), "{}", p.body);
    }
    let wrong = [
        "BBBB-BBBB",
        "bbbb-bbbc",
        "BBBBBBBD",
        "BBBB BBBF",
        "BBBB-BBBG",
        "BBBB-BBBH",
        "BBBB-BBBJ",
        "BBBB-BBBL",
        "BBBB-BBBM",
        "BBBB-BBBN",
    ];
    for (i, code) in wrong.iter().enumerate() {
        let r = enter_code(&b, code).await;
        let p = page_of(r).await;
        assert_eq!(p.status, 400, "wrong code {i} {code:?}: {}", p.body);
        assert!(p.body.contains("That code is not valid"), "{}", p.body);
        assert_device_cookie_cleared(&p.headers);
        // Prefilling is no lookup, and not counted.
        let shown = get_raw(&b, "/device?user_code=BBBB-BBBK").await;
        assert_eq!(shown.status(), 200);
    }
    // The eleventh try is not looked up, even with the right code.
    let p = page_of(enter_code(&b, d.user_code()).await).await;
    assert_eq!(p.status, 429, "{}", p.body);
    assert!(p.body.contains("Too many wrong codes"), "{}", p.body);
    assert!(!p.body.contains("action=\"/device/decide\""));
    assert_device_cookie_cleared(&p.headers);
    // Per address, not per browser: a fresh browser (with a session) here
    // is refused too.
    let other = Browser::new(s);
    crate::mfa::account_sign_in(&other, ALICE).await;
    let p = page_of(enter_code(&other, d.user_code()).await).await;
    assert_eq!(p.status, 429, "{}", p.body);
    // The device's request is untouched.
    d.assert_pending(s).await;
}
both!(wrong_codes_are_throttled_per_address, CONFIG);

/// Device clients made at run time: the admin API and the CLI take the
/// grant by its URN.
async fn device_clients_from_the_admin_api_and_the_cli(s: &Server) {
    let public = s
        .admin_expect(
            Method::POST,
            "/admin/clients",
            Some(json!({
                "client_name": "Smart Fridge",
                "token_endpoint_auth_method": "none",
                "grant_types": [GRANT],
                "scope": "openid",
            })),
            201,
        )
        .await;
    assert_eq!(public["grant_types"], json!([GRANT]), "{public}");
    let fridge = public["client_id"].as_str().unwrap().to_owned();
    let confidential = s
        .admin_expect(
            Method::POST,
            "/admin/clients",
            Some(json!({
                "client_name": "Smart Oven",
                "grant_types": [GRANT, "refresh_token"],
                "scope": "openid offline_access",
            })),
            201,
        )
        .await;
    let oven = confidential["client_id"].as_str().unwrap().to_owned();
    let oven_secret = confidential["client_secret"].as_str().unwrap().to_owned();
    let out = s.cli(
        &[
            "clients",
            "create",
            "--name",
            "Thermostat",
            "--grant-type",
            GRANT,
            "--auth-method",
            "none",
            "--scope",
            "openid",
            "--json",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let thermostat = created["client_id"].as_str().unwrap().to_owned();
    let shown = s
        .admin_expect(
            Method::GET,
            &format!("/admin/clients/{thermostat}"),
            None,
            200,
        )
        .await;
    assert_eq!(shown["grant_types"], json!([GRANT]), "{shown}");

    let mut fridge_device = Device::start(s, &fridge, "openid", &[]).await;
    let mut thermostat_device = Device::start(s, &thermostat, "openid", &[]).await;
    let mut oven_device =
        Device::start_with(s, &oven, Some(&oven_secret), "openid offline_access", &[]).await;
    // The confidential one must authenticate.
    let (status, _, body) = device_authorization(s, &oven, None, &[("scope", "openid")]).await;
    assert_eq!((status, body), (401, invalid_client()));
    for d in [&mut fridge_device, &mut thermostat_device, &mut oven_device] {
        d.assert_pending(s).await;
    }
    let b = Browser::new(s);
    approve(&b, oven_device.user_code(), ALICE).await;
    let tokens = oven_device.tokens(s).await;
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    let id = verify_id_token(s, tokens["id_token"].as_str().unwrap(), &oven).await;
    assert_eq!(id["sub"], sub_of(s, "alice").await.as_str());
}
both!(device_clients_from_the_admin_api_and_the_cli, CONFIG);

// ----- `frontdesk login --device` -----

const INSTRUCTIONS: &str = "On any device, open ";

/// A running `frontdesk login --device`.
struct DeviceLogin {
    child: Child,
    verification_uri: String,
    user_code: String,
    stderr: Receiver<String>,
    seen: Vec<String>,
}

impl DeviceLogin {
    fn spawn(s: &Server, extra: &[&str]) -> DeviceLogin {
        let mut child = Command::new(bin())
            .args(["login", "--issuer", &s.base, "--client-id", TV, "--device"])
            .args(["--output", "json"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn frontdesk login --device");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    let found = line.strip_prefix(INSTRUCTIONS).and_then(|rest| {
                        rest.split_once(" and enter the code ")
                            .map(|(u, c)| (u.to_owned(), c.to_owned()))
                    });
                    seen.push(line);
                    if let Some((verification_uri, user_code)) = found {
                        return DeviceLogin {
                            child,
                            verification_uri,
                            user_code,
                            stderr: rx,
                            seen,
                        };
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "frontdesk login --device printed no code:\n{}",
            seen.join("\n")
        );
    }

    /// Waits (at most 60 s) for the exit: status, stdout, all of stderr.
    fn finish(self) -> (std::process::ExitStatus, String, Vec<String>) {
        let Some(out) = exit_within(self.child, Duration::from_secs(60)) else {
            panic!("frontdesk login did not exit:\n{}", self.seen.join("\n"));
        };
        let mut stderr = self.seen;
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_secs(5)) {
            stderr.push(line);
        }
        (out.status, String::from_utf8(out.stdout).unwrap(), stderr)
    }
}

async fn frontdesk_login_with_the_device_flow(s: &Server) {
    let alice = sub_of(s, "alice").await;

    // DPoP by default (RFC 9449): the tokens are bound to its key.
    let login = DeviceLogin::spawn(s, &[]);
    assert_eq!(login.verification_uri, s.url("/device"));
    assert_user_code(&login.user_code);
    let b = Browser::new(s);
    let done = approve(&b, &login.user_code, ALICE).await;
    assert!(done.body.contains(TV_NAME));
    let code = login.user_code.clone();
    let (status, stdout, stderr) = login.finish();
    let stderr = stderr.join("\n");
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("{}?user_code={code}", s.url("/device"))),
        "the complete URI too: {stderr}"
    );
    let out: Value = serde_json::from_str(&stdout).expect("one JSON object on stdout");
    assert_eq!(out["token_type"], "DPoP");
    assert_eq!(
        scope_set(&out["scope"]),
        ["offline_access", "openid", "profile"]
    );
    let at = out["access_token"].as_str().expect("access_token");
    let rt = out["refresh_token"].as_str().expect("refresh_token");
    let id_token = out["id_token"].as_str().expect("id_token");
    for secret in [at, rt, id_token] {
        assert!(!stderr.contains(secret), "no token on stderr");
    }
    let jkt = out["dpop_jkt"].as_str().expect("dpop_jkt");
    assert_eq!(jwt_parts(at).1["cnf"]["jkt"], jkt);
    let info = s.introspect(at).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["client_id"], TV);
    assert_eq!(info["sub"], alice.as_str());
    assert_eq!(info["cnf"]["jkt"], jkt);
    let claims = &out["id_token_claims"];
    assert_eq!(claims["iss"], s.base);
    assert_eq!(claims["sub"], alice.as_str());
    assert!(
        claims["aud"] == TV || claims["aud"] == json!([TV]),
        "{claims}"
    );
    assert_eq!(claims.get("nonce"), None, "{claims}");
    assert_eq!(claims["name"], "Alice Example");

    // --no-dpop: Bearer tokens.
    let login = DeviceLogin::spawn(s, &["--no-dpop"]);
    approve(&Browser::new(s), &login.user_code, ALICE).await;
    let (status, stdout, stderr) = login.finish();
    assert!(status.success(), "{}", stderr.join("\n"));
    let out: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(out["token_type"], "Bearer");
    assert_eq!(out.get("dpop_jkt"), None);
    let at = out["access_token"].as_str().unwrap();
    assert_eq!(jwt_parts(at).1.get("cnf"), None);
    assert_eq!(s.userinfo_status(at).await, 200);

    // Declined: no tokens, one line naming the error.
    let login = DeviceLogin::spawn(s, &["--no-dpop"]);
    let b = Browser::new(s);
    let confirm = confirmation(&b, &login.user_code, ALICE).await;
    assert!(
        decide(&b, &confirm, "deny")
            .await
            .body
            .contains("Request declined")
    );
    let (status, stdout, stderr) = login.finish();
    assert!(!status.success());
    assert_eq!(stdout.trim(), "", "no tokens on stdout");
    let last = stderr.last().expect("an error line");
    assert!(
        last.starts_with("frontdesk: ") && last.contains("access_denied"),
        "{last}"
    );
}
both!(frontdesk_login_with_the_device_flow, CONFIG);

// ----- the openidconnect crate as the device -----

mod oidc {
    use std::future::Future;
    use std::pin::Pin;

    use openidconnect::core::{
        CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
        CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
        CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
    };
    use openidconnect::{
        AdditionalProviderMetadata, AsyncHttpClient, DeviceAuthorizationUrl, HttpRequest,
        HttpResponse, ProviderMetadata,
    };

    /// RFC 8628 §4 in the crate's provider metadata.
    #[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
    pub struct DeviceEndpoint {
        pub device_authorization_endpoint: DeviceAuthorizationUrl,
    }
    impl AdditionalProviderMetadata for DeviceEndpoint {}

    pub type DeviceMetadata = ProviderMetadata<
        DeviceEndpoint,
        CoreAuthDisplay,
        CoreClientAuthMethod,
        CoreClaimName,
        CoreClaimType,
        CoreGrantType,
        CoreJweContentEncryptionAlgorithm,
        CoreJweKeyManagementAlgorithm,
        CoreJsonWebKey,
        CoreResponseMode,
        CoreResponseType,
        CoreSubjectIdentifierType,
    >;

    /// reqwest under the crate's HTTP interface, reporting the `error` of
    /// every token endpoint answer (`"200"` for tokens) to `answers`.
    pub struct Http {
        pub http: reqwest::Client,
        pub answers: tokio::sync::watch::Sender<Vec<String>>,
    }

    impl<'c> AsyncHttpClient<'c> for Http {
        type Error = reqwest::Error;
        type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, reqwest::Error>> + 'c>>;

        fn call(&'c self, req: HttpRequest) -> Self::Future {
            Box::pin(async move {
                let (head, body) = req.into_parts();
                let token_endpoint = head.uri.path() == "/token";
                let mut r = self
                    .http
                    .request(head.method, head.uri.to_string())
                    .body(body);
                for (k, v) in &head.headers {
                    r = r.header(k, v);
                }
                let resp = r.send().await?;
                let status = resp.status().as_u16();
                let mut out = openidconnect::http::Response::builder().status(status);
                for (k, v) in resp.headers() {
                    out = out.header(k.as_str(), v.as_bytes());
                }
                let bytes = resp.bytes().await?;
                if token_endpoint {
                    let answer = match status {
                        200 => "200".to_owned(),
                        _ => serde_json::from_slice::<serde_json::Value>(&bytes)
                            .ok()
                            .and_then(|v| v["error"].as_str().map(str::to_owned))
                            .unwrap_or_else(|| status.to_string()),
                    };
                    self.answers.send_modify(|a| a.push(answer));
                }
                Ok(out.body(bytes.to_vec()).expect("response"))
            })
        }
    }
}

async fn the_openidconnect_crate_as_the_device(s: &Server) {
    use openidconnect::core::{CoreClient, CoreDeviceAuthorizationResponse};
    use openidconnect::{ClientId, IssuerUrl, Nonce, OAuth2TokenResponse, Scope, TokenResponse};

    let (answers, mut seen) = tokio::sync::watch::channel(Vec::new());
    let http = oidc::Http {
        http: s.http.clone(),
        answers,
    };
    let metadata =
        oidc::DeviceMetadata::discover_async(IssuerUrl::new(s.base.clone()).unwrap(), &http)
            .await
            .expect("the crate's discovery");
    let endpoint = metadata
        .additional_metadata()
        .device_authorization_endpoint
        .clone();
    assert_eq!(endpoint.as_str(), s.url("/device_authorization"));
    let client = CoreClient::from_provider_metadata(metadata, ClientId::new(TV.into()), None)
        .set_device_authorization_url(endpoint);
    let details: CoreDeviceAuthorizationResponse = client
        .exchange_device_code()
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("offline_access".into()))
        .request_async(&http)
        .await
        .expect("a device code");
    assert_eq!(details.verification_uri().as_str(), s.url("/device"));
    assert_eq!(details.interval(), Duration::from_secs(1));
    assert_eq!(details.expires_in(), Duration::from_secs(300));
    let code = details.user_code().secret().clone();
    assert_user_code(&code);
    assert_eq!(
        details
            .verification_uri_complete()
            .expect("verification_uri_complete")
            .secret(),
        &format!("{}?user_code={code}", s.url("/device"))
    );

    // The person approves in a browser of their own, once the device has
    // been told to wait.
    let b = Browser::new(s);
    let approval = tokio::spawn(async move {
        seen.wait_for(|a| a.iter().any(|e| e == "authorization_pending"))
            .await
            .expect("the device polls");
        approve(&b, &code, ALICE).await
    });
    let poll = client
        .exchange_device_access_token(&details)
        .expect("token endpoint discovered")
        .request_async(&http, tokio::time::sleep, Some(Duration::from_secs(60)));
    let (tokens, done) = tokio::join!(poll, async {
        approval
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    });
    let tokens = tokens.expect("the crate's device access token request");
    assert!(done.body.contains(TV_NAME));
    let answers = http.answers.borrow().clone();
    assert_eq!(
        answers.first().map(String::as_str),
        Some("authorization_pending")
    );
    assert_eq!(answers.last().map(String::as_str), Some("200"));
    assert!(
        answers[..answers.len() - 1]
            .iter()
            .all(|a| a == "authorization_pending"),
        "only waits before the tokens, never slow_down: {answers:?}"
    );

    // The crate verifies the ID token: signature, iss, aud, exp, and that
    // it carries no nonce (none was sent).
    let id_token = tokens.id_token().expect("an ID token");
    let verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&verifier, |n: Option<&Nonce>| match n {
            None => Ok(()),
            Some(_) => Err("a nonce nobody sent".to_owned()),
        })
        .expect("the crate verifies the ID token");
    assert_eq!(claims.subject().as_str(), sub_of(s, "alice").await);
    assert_eq!(claims.issuer().as_str(), s.base);
    assert!(claims.audiences().iter().any(|a| a.as_str() == TV));
    assert!(tokens.refresh_token().is_some());
    assert_eq!(s.userinfo_status(tokens.access_token().secret()).await, 200);
}
both!(the_openidconnect_crate_as_the_device, CONFIG);

// ----- headless Chromium for the person -----

async fn approve_in_chromium(c: &fantoccini::Client, issuer: &str, complete: &str, code: &str) {
    use crate::real_browser::{at_path, element, screenshot};

    // verification_uri_complete: the form, with the code to compare.
    c.goto(complete)
        .await
        .expect("open verification_uri_complete");
    let input = element(c, "input#user_code").await;
    assert_eq!(
        input.prop("value").await.unwrap().as_deref(),
        Some(code),
        "prefilled"
    );
    element(c, "form[action=\"/device\"] button[type=\"submit\"]")
        .await
        .click()
        .await
        .expect("submit the code");

    // The login page.
    at_path(c, issuer, "/login").await;
    element(c, "input#username")
        .await
        .send_keys(ALICE.0)
        .await
        .unwrap();
    element(c, "input#password")
        .await
        .send_keys(ALICE.1)
        .await
        .unwrap();
    element(c, "form[action=\"/login\"] button[type=\"submit\"]")
        .await
        .click()
        .await
        .expect("submit login");

    // The confirmation page.
    let shown = element(c, "p.user-code strong").await;
    at_path(c, issuer, "/device").await;
    assert_eq!(shown.text().await.unwrap(), code);
    let src = c.source().await.unwrap();
    assert!(src.contains(TV_NAME), "{src}");
    assert!(src.contains("see your profile"), "{src}");
    screenshot(c, "device_confirm").await;
    element(c, "button[name=\"decision\"][value=\"approve\"]")
        .await
        .click()
        .await
        .expect("click allow");

    at_path(c, issuer, "/device/decide").await;
    let h1 = element(c, "h1").await;
    assert_eq!(h1.text().await.unwrap(), "Device connected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_approved_in_chromium() {
    if !crate::real_browser::browser_available() {
        return;
    }
    let s = Server::start(Backend::Sqlite, CONFIG)
        .await
        .expect("sqlite is always available");
    let mut d = Device::start(&s, TV, "openid profile", &[]).await;
    d.assert_pending(&s).await;
    let complete = d.answer["verification_uri_complete"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = d.user_code().to_owned();
    let procs = tempfile::tempdir().unwrap();
    let (driver, c) = crate::real_browser::chromium(procs.path()).await;
    let run = tokio::time::timeout(
        Duration::from_secs(60),
        approve_in_chromium(&c, &s.base, &complete, &code),
    )
    .await;
    let _ = c.close().await;
    run.unwrap_or_else(|_| {
        panic!(
            "browser flow timed out\nfrontdesk:\n{}\nchromedriver:\n{}",
            s.log(),
            driver.log()
        )
    });
    drop(driver);

    let tokens = d.tokens(&s).await;
    let id = verify_id_token(&s, tokens["id_token"].as_str().unwrap(), TV).await;
    assert_eq!(id["sub"], sub_of(&s, "alice").await.as_str());
    assert_eq!(scope_set(&tokens["scope"]), ["openid", "profile"]);
}
