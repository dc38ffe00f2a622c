//! E-mail (issue 12 items 5–7): password reset, e-mail verification and
//! self-registration, through a real SMTP server (`smtp_sink.py`, aiosmtpd
//! from PyPI) that writes what it receives to a folder; the tests read the
//! links from the delivered messages — decoded by Python's own MIME parser
//! — and follow them. Also the outbox mode (no `[smtp]`), STARTTLS and
//! implicit TLS with a test CA, and a relay that refuses.
//!
//! Needs `python3 -m pip install aiosmtpd`. Without it the tests say they
//! skipped, unless `FRONTDESK_TEST_SMTP=required` (as in CI), when they fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::both;
use crate::browser::{
    ALICE, APP1, APP1_CB, Browser, Page, SIGNIN_CONFIG, authorize_url, drive, page, pkce, query,
    redirect,
};
use crate::gateway::{Proc, spawn_command};
use crate::support::{Database, Server, bin, jwt_parts, parts, test_certificates, wait_for};

const SINK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/smtp_sink.py");
const RELAY_USER: &str = "frontdesk";
const RELAY_PASSWORD: &str = "relay-password-0123";
const FROM: &str = "frontdesk <no-reply@frontdesk.test>";

/// Whether aiosmtpd can be imported; panics when it cannot but
/// FRONTDESK_TEST_SMTP=required.
fn smtp_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("FRONTDESK_TEST_SMTP").as_deref() != Ok("required"),
            "FRONTDESK_TEST_SMTP=required but aiosmtpd is missing (python3 -m pip install aiosmtpd)"
        );
        eprintln!("skipped: aiosmtpd not installed (python3 -m pip install aiosmtpd)");
    }
    ok
}

/// The SMTP server of a test, and the folder it delivers to.
struct Relay {
    _proc: Proc,
    port: u16,
    inbox: PathBuf,
}

impl Relay {
    fn start(dir: &Path, name: &str, args: &[&str]) -> Relay {
        let inbox = dir.join(format!("{name}-inbox"));
        let mut cmd = Command::new("python3");
        cmd.arg(SINK).arg(&inbox).args(args);
        let proc = spawn_command(dir, name, cmd);
        let port = proc
            .base
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("relay address {:?}", proc.base));
        Relay {
            _proc: proc,
            port,
            inbox,
        }
    }

    /// Messages delivered so far, in order.
    fn messages(&self) -> Vec<Value> {
        let Ok(entries) = std::fs::read_dir(&self.inbox) else {
            return Vec::new();
        };
        let mut names: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| normalise(serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()))
            .collect()
    }

    /// Waits until `n` messages have arrived and returns them.
    async fn wait_for(&self, n: usize) -> Vec<Value> {
        wait_for(
            &format!("{n} messages at the relay"),
            Duration::from_secs(20),
            async || {
                let m = self.messages();
                if m.len() >= n { Ok(m) } else { Err(m.len()) }
            },
        )
        .await
    }

    /// The `[smtp]` table for this relay: no TLS on loopback, with AUTH.
    fn config(&self) -> String {
        format!(
            r#"
[smtp]
host = "127.0.0.1"
port = {}
tls = "none"
username = "{RELAY_USER}"
password = "{RELAY_PASSWORD}"
from = "{FROM}"
timeout_secs = 5
"#,
            self.port
        )
    }
}

/// Parts with the line ends as text: on the wire they are CRLF, and
/// whether the parser keeps them depends on the part's transfer encoding
/// (7bit or quoted-printable, by line length).
fn normalise(mut msg: Value) -> Value {
    for part in ["text", "html"] {
        if let Some(t) = msg[part].as_str() {
            msg[part] = Value::String(t.replace("\r\n", "\n"));
        }
    }
    msg
}

/// A relay requiring AUTH with [`RELAY_USER`] / [`RELAY_PASSWORD`].
fn relay(dir: &Path) -> Relay {
    Relay::start(
        dir,
        "relay",
        &["--auth", &format!("{RELAY_USER}:{RELAY_PASSWORD}")],
    )
}

/// `ISSUER{path}?token=…` from the text part of `msg`, checked to be in
/// the HTML part too; returns the whole link and the token.
fn link(msg: &Value, base: &str, path: &str) -> (String, String) {
    let text = msg["text"].as_str().expect("a text part");
    let prefix = format!("{base}{path}?token=");
    let at = text
        .find(&prefix)
        .unwrap_or_else(|| panic!("no {prefix} link in {text}"));
    let token: String = text[at + prefix.len()..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    assert_eq!(token.len(), 43, "a 256-bit token: {text}");
    let whole = format!("{prefix}{token}");
    let html = msg["html"].as_str().expect("an HTML part");
    // minijinja escapes `/` in HTML.
    let escaped = whole.replace('/', "&#x2f;");
    assert!(
        html.contains(&format!("href=\"{escaped}\"")),
        "the HTML part links the same URL: {html}"
    );
    (whole, token)
}

fn header<'a>(msg: &'a Value, name: &str) -> &'a str {
    msg["headers"][name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} header in {msg}"))
}

/// The headers every message carries.
fn assert_envelope(msg: &Value, to: &str, subject: &str) {
    assert_eq!(header(msg, "from"), FROM);
    assert_eq!(header(msg, "to"), to);
    assert_eq!(header(msg, "subject"), subject);
    assert_eq!(msg["content_type"], "multipart/alternative");
    let id = header(msg, "message-id");
    assert!(
        id.starts_with('<') && id.ends_with("@frontdesk.test>"),
        "{id}"
    );
    // RFC 5322 date, e.g. "Mon, 01 Dec 2026 12:00:00 +0000".
    let date = header(msg, "date");
    assert!(
        time::OffsetDateTime::parse(date, &time::format_description::well_known::Rfc2822).is_ok(),
        "{date}"
    );
    assert_eq!(msg["mail_from"], "no-reply@frontdesk.test");
    assert_eq!(msg["rcpt_tos"], json!([to]));
}

/// The server's config: the relay, SIGNIN_CONFIG's clients and bob, and `top`
/// (top-level keys) and `tables`.
fn config(relay: Option<&Relay>, top: &str, tables: &str) -> String {
    format!(
        "{top}\n{SIGNIN_CONFIG}\n{}\n{tables}",
        relay.map(Relay::config).unwrap_or_default()
    )
}

async fn get(b: &Browser, url: &str) -> Page {
    page(b.get(url).await)
}

async fn post(b: &Browser, path: &str, form: &[(&str, &str)]) -> Page {
    page(b.post(path, form).await)
}

/// The error page's message and code.
fn assert_link_error(p: &Page, message: &str, code: &str) {
    assert_eq!(p.status, 400, "{}", p.body);
    assert!(
        p.body.contains("<h1>This link cannot be used</h1>"),
        "{}",
        p.body
    );
    assert!(p.body.contains(&html_escape(message)), "{}", p.body);
    assert!(
        p.body.contains(&format!("<code>{code}</code>")),
        "{}",
        p.body
    );
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}

/// Asks for a reset at `/forgot` in a fresh browser; returns the page the
/// answer led to.
async fn forgot(s: &Server, login: &str) -> Page {
    let b = Browser::new(s);
    let form = get(&b, &s.url("/forgot")).await;
    assert_eq!(form.status, 200);
    let csrf = form.input("csrf").unwrap();
    post(&b, "/forgot", &[("csrf", &csrf), ("login", login)]).await
}

const SENT: &str = "If an account with that username or e-mail address exists, we have sent a link to its address to choose a new password. The link works for 30 minutes.";

/// app1 tokens for `user` in browser `b`.
async fn sign_in_app1(s: &Server, b: &Browser, user: (&str, &str)) -> Value {
    let (verifier, challenge) = pkce();
    let cb = drive(
        b,
        &authorize_url(
            s,
            APP1.0,
            APP1_CB,
            "openid email offline_access",
            &challenge,
            &[],
        ),
        user,
    )
    .await;
    let code = query(&cb, "code").unwrap_or_else(|| panic!("no code in {cb}"));
    let r = s
        .post_form(
            "/token",
            Some(APP1),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", APP1_CB),
                ("code_verifier", &verifier),
            ],
        )
        .await;
    let (status, _, body) = parts(r).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The status and body of a refresh with `rt`.
async fn refresh(s: &Server, rt: &str) -> (u16, Value) {
    let r = s
        .post_form(
            "/token",
            Some(APP1),
            &[("grant_type", "refresh_token"), ("refresh_token", rt)],
        )
        .await;
    let (status, _, body) = parts(r).await;
    (status, body)
}

/// Posts the login form of a fresh app1 sign-in; returns where it ended.
async fn try_login(s: &Server, user: (&str, &str)) -> crate::browser::End {
    let (b, login) = crate::browser::at_login_page(s).await;
    b.login(&login, user).await
}

/// `frontdesk --config … users ARGS` with the server's issuer, the way an
/// operator runs it next to a server.
fn cli(s: &Server, config: &Path, args: &[&str]) -> std::process::Output {
    Command::new(bin())
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(s.dir.path().join("data"))
        .arg("--database")
        .arg(&s.db_url)
        .args(args)
        .env("FRONTDESK_ISSUER", &s.base)
        .stdin(Stdio::null())
        .output()
        .expect("run the CLI")
}

// ----- forgot password → reset, end to end -----

/// SECURITY.md M2/M3: the reset link from the delivered mail sets a new
/// password once; the old password, the old session and the old refresh
/// token stop working; the link cannot be used again.
async fn m3_reset_link_works_once_and_ends_everything(dir: tempfile::TempDir, db: Database) {
    if !smtp_available() {
        return;
    }
    let relay = relay(dir.path());
    let s = Server::start_in(dir, &db.url, &config(Some(&relay), "", ""));

    // alice is signed in at app1 with a refresh token.
    let b1 = Browser::new(&s);
    let tokens = sign_in_app1(&s, &b1, ALICE).await;
    let rt = tokens["refresh_token"].as_str().unwrap().to_owned();

    // The login page links the form.
    let (_, login) = crate::browser::at_login_page(&s).await;
    assert!(
        login
            .body
            .contains("<a href=\"/forgot\">Forgot your password?</a>"),
        "{}",
        login.body
    );
    let sent = forgot(&s, "alice").await;
    assert_eq!(sent.status, 200);
    assert!(sent.body.contains(SENT), "{}", sent.body);

    let msgs = relay.wait_for(1).await;
    let msg = &msgs[0];
    assert_envelope(msg, "alice@example.com", "Reset your password");
    assert_eq!(
        msg["auth_login"], RELAY_USER,
        "SMTP AUTH with the configured user"
    );
    let text = msg["text"].as_str().unwrap();
    assert!(text.starts_with("Hello alice,\n"), "{text:?}");
    assert!(text.contains("open this link within 30 minutes"), "{text}");
    let (url, token) = link(msg, &s.base, "/reset");

    // The form, for a live link; nothing is spent by looking.
    let b = Browser::new(&s);
    let form = get(&b, &url).await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert_eq!(form.headers["referrer-policy"], "no-referrer");
    assert_eq!(form.input("token").as_deref(), Some(token.as_str()));
    let again = get(&b, &url).await;
    assert_eq!(again.status, 200);
    let csrf = form.input("csrf").unwrap();

    let p = post(
        &b,
        "/reset",
        &[
            ("csrf", &csrf),
            ("token", &token),
            ("password", "new-password-456"),
            ("confirm", "other-password-456"),
        ],
    )
    .await;
    assert_eq!(p.status, 400);
    assert!(
        p.body
            .contains("The two passwords differ. Type the same new password twice."),
        "{}",
        p.body
    );
    let p = post(
        &b,
        "/reset",
        &[
            ("csrf", &csrf),
            ("token", &token),
            ("password", "short"),
            ("confirm", "short"),
        ],
    )
    .await;
    assert_eq!(p.status, 400);
    assert!(
        p.body.contains("Password must be at least 8 characters."),
        "{}",
        p.body
    );
    let p = post(
        &b,
        "/reset",
        &[
            ("token", &token),
            ("password", "new-password-456"),
            ("confirm", "new-password-456"),
        ],
    )
    .await;
    assert_eq!(p.status, 403, "no CSRF token: {}", p.body);

    // The reset itself: 303 to the confirmation.
    let r = b
        .http
        .post(s.url("/reset"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("token", &token),
            ("password", "new-password-456"),
            ("confirm", "new-password-456"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/reset/done");
    let done = get(&b, &s.url("/reset/done")).await;
    assert!(
        done.body.contains("Your password was changed"),
        "{}",
        done.body
    );

    // Everything from before is dead.
    assert_eq!(
        refresh(&s, &rt).await,
        (
            400,
            json!({"error": "invalid_grant", "error_description": "the refresh token has been revoked or has expired"})
        )
    );
    let (_, challenge) = pkce();
    let back = get(
        &b1,
        &authorize_url(&s, APP1.0, APP1_CB, "openid", &challenge, &[]),
    )
    .await;
    assert!(
        back.body.contains("name=\"password\""),
        "the old session ended: {}",
        back.body
    );
    let old = page(try_login(&s, ALICE).await);
    assert_eq!(old.status, 401);
    assert!(old.body.contains("Incorrect username or password."));
    let new = redirect(try_login(&s, ("alice", "new-password-456")).await);
    assert!(new.as_str().starts_with(APP1_CB), "{new}");

    // M3: the link works once.
    assert_link_error(
        &get(&b, &url).await,
        "This link has already been used. Each link works once; ask for a new one if you need it.",
        "used_link",
    );
    let p = post(
        &b,
        "/reset",
        &[
            ("csrf", &csrf),
            ("token", &token),
            ("password", "third-password-789"),
            ("confirm", "third-password-789"),
        ],
    )
    .await;
    assert_link_error(
        &p,
        "This link has already been used. Each link works once; ask for a new one if you need it.",
        "used_link",
    );
    // It is not a verification link either.
    assert_link_error(
        &get(&b, &format!("{}/verify-email?token={token}", s.base)).await,
        "This link is not valid. Check that you copied all of it, or ask for a new one.",
        "invalid_link",
    );

    // The notice follows.
    let msgs = relay.wait_for(2).await;
    assert_envelope(&msgs[1], "alice@example.com", "Your password was changed");
    assert_eq!(msgs.len(), 2);

    // M2: the token never reaches the log (request spans carry the path only).
    let log = s.log();
    assert!(!log.contains(&token), "{log}");
    assert!(log.contains("mail sent"), "{log}");
    assert!(log.contains("path=/reset"), "{log}");

    // The audit trail has the reset, once, with the user as actor.
    let r = s
        .admin_req(
            reqwest::Method::GET,
            "/admin/audit?kind=password.reset",
            None,
        )
        .await;
    let trail: serde_json::Value = r.json().await.unwrap();
    let events = trail["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{trail}");
    assert_eq!(events[0]["actor"], events[0]["subject"]);
    assert!(!trail.to_string().contains(&token));
}
both!(with_db m3_reset_link_works_once_and_ends_everything);

// ----- abuse: unknown accounts, expired and mangled links, throttling -----

/// SECURITY.md M1/M3: an unknown account gets the same page and no mail; an
/// expired, mangled or missing link gets a 400 page; the forgot form is
/// throttled per account and per address (429).
async fn m1_forgot_password_abuse(dir: tempfile::TempDir, db: Database) {
    if !smtp_available() {
        return;
    }
    let relay = relay(dir.path());
    let s = Server::start_in(
        dir,
        &db.url,
        &config(
            Some(&relay),
            "mail_max_per_account = 2\nmail_max_per_ip = 4\n",
            "",
        ),
    );
    let unknown = forgot(&s, "nobody").await;
    let known = forgot(&s, "alice").await;
    assert_eq!((unknown.status.as_u16(), known.status.as_u16()), (200, 200));
    assert_eq!(unknown.body, known.body, "the same page, account or not");
    // One worker sends in order: the known account's mail arriving first
    // and alone means the unknown one queued none.
    let msgs = relay.wait_for(1).await;
    assert_eq!(header(&msgs[0], "to"), "alice@example.com");
    assert_eq!(relay.messages().len(), 1);

    assert_eq!(
        forgot(&s, "ALICE@example.com").await.status,
        200,
        "second for alice"
    );
    let over = forgot(&s, "alice").await;
    assert_eq!(
        over.status, 429,
        "third for alice: over mail_max_per_account"
    );
    assert!(
        over.body.contains(
            "Too many requests from here or for this account. Try again in a few minutes."
        )
    );
    let over = forgot(&s, "ghost").await;
    assert_eq!(
        over.status, 429,
        "fifth from this address: over mail_max_per_ip"
    );
    relay.wait_for(2).await;

    let b = Browser::new(&s);
    let invalid = "This link is not valid. Check that you copied all of it, or ask for a new one.";
    for q in ["", "?token=", "?token=not-a-real-token", "?x=1"] {
        assert_link_error(
            &get(&b, &format!("{}/reset{q}", s.base)).await,
            invalid,
            "invalid_link",
        );
        assert_link_error(
            &get(&b, &format!("{}/verify-email{q}", s.base)).await,
            invalid,
            "invalid_link",
        );
    }
    // A token given twice is a bad request, not a 500.
    let twice = get(&b, &format!("{}/reset?token=a&token=b", s.base)).await;
    assert_eq!(twice.status, 400, "{}", twice.body);

    // An expired link: stored (by hash, like the server does) with an
    // expiry in the past, so no test waits for a clock.
    let store = frontdesk_store::Db::connect(&s.db_url).await.unwrap();
    let alice = frontdesk_core::store::Store::user_by_login(&store, "alice")
        .await
        .unwrap()
        .unwrap();
    let now = crate::support::unix_now() as i64;
    for (token, purpose, path) in [
        (
            "expired-reset-token-0123456789abcdef-012345",
            frontdesk_core::model::LinkPurpose::ResetPassword,
            "/reset",
        ),
        (
            "expired-verify-token-0123456789abcdef-01234",
            frontdesk_core::model::LinkPurpose::VerifyEmail,
            "/verify-email",
        ),
    ] {
        frontdesk_core::store::Store::put_link_token(
            &store,
            &frontdesk_core::model::LinkToken {
                token_hash: frontdesk_core::secret::token_hash(token),
                purpose,
                sub: alice.sub.clone(),
                email: "alice@example.com".into(),
                created_at: now - 3600,
                expires_at: now - 1,
                used_at: None,
            },
        )
        .await
        .unwrap();
        assert_link_error(
            &get(&b, &format!("{}{path}?token={token}", s.base)).await,
            "This link has expired. Ask for a new one.",
            "expired_link",
        );
    }
    // Posting the form of an expired link changes nothing either.
    let form = get(&b, &s.url("/forgot")).await;
    let csrf = form.input("csrf").unwrap();
    let p = post(
        &b,
        "/reset",
        &[
            ("csrf", &csrf),
            ("token", "expired-reset-token-0123456789abcdef-012345"),
            ("password", "new-password-456"),
            ("confirm", "new-password-456"),
        ],
    )
    .await;
    assert_link_error(
        &p,
        "This link has expired. Ask for a new one.",
        "expired_link",
    );
    store.close().await;
    // alice's password is what it was: she signs in (to the consent page).
    let signed_in = page(try_login(&s, ALICE).await);
    assert!(
        signed_in.body.contains("action=\"/consent\""),
        "{}",
        signed_in.body
    );
}
both!(with_db m1_forgot_password_abuse);

// ----- e-mail verification -----

/// A verification link from the CLI and from the admin API sets
/// `email_verified`, seen in the ID token and at userinfo; once.
async fn verify_email_by_mail(dir: tempfile::TempDir, db: Database) {
    if !smtp_available() {
        return;
    }
    let relay = relay(dir.path());
    let s = Server::start_in(dir, &db.url, &config(Some(&relay), "", ""));
    let cfg = s.dir.path().join("frontdesk.toml");
    let bob = ("bob", "bob-password-123456");

    let out = cli(&s, &cfg, &["users", "send-verification", "bob"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "sent an e-mail verification link to bob@example.com\n"
    );
    let msgs = relay.wait_for(1).await;
    assert_envelope(&msgs[0], "bob@example.com", "Confirm your e-mail address");
    let (url, token) = link(&msgs[0], &s.base, "/verify-email");

    // Before: not verified.
    let b = Browser::new(&s);
    let before = sign_in_app1(&s, &b, bob).await;
    let (_, id) = jwt_parts(before["id_token"].as_str().unwrap());
    assert_eq!(id["email_verified"], false);

    let done = get(&Browser::new(&s), &url).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(
        done.body.contains("Your e-mail address is confirmed"),
        "{}",
        done.body
    );
    assert!(
        done.body.contains("bob@example.com is now verified"),
        "{}",
        done.body
    );
    assert_link_error(
        &get(&Browser::new(&s), &url).await,
        "This link has already been used. Each link works once; ask for a new one if you need it.",
        "used_link",
    );
    // Not a reset link.
    assert_link_error(
        &get(
            &Browser::new(&s),
            &format!("{}/reset?token={token}", s.base),
        )
        .await,
        "This link is not valid. Check that you copied all of it, or ask for a new one.",
        "invalid_link",
    );

    // After: in a new ID token and at userinfo.
    let after = sign_in_app1(&s, &Browser::new(&s), bob).await;
    let (_, id) = jwt_parts(after["id_token"].as_str().unwrap());
    assert_eq!(id["email_verified"], true);
    let info: Value = s
        .http
        .get(s.url("/userinfo"))
        .bearer_auth(after["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (info["email"].clone(), info["email_verified"].clone()),
        (json!("bob@example.com"), json!(true))
    );

    // The admin API sends at once and says where.
    let (status, _, body) = parts(
        s.admin_req(
            reqwest::Method::POST,
            "/admin/users/bob/send-verification",
            None,
        )
        .await,
    )
    .await;
    assert_eq!((status, body), (200, json!({"email": "bob@example.com"})));
    let (status, _, body) = parts(
        s.admin_req(reqwest::Method::POST, "/admin/users/alice/send-reset", None)
            .await,
    )
    .await;
    assert_eq!((status, body), (200, json!({"email": "alice@example.com"})));
    let msgs = relay.wait_for(3).await;
    assert_envelope(&msgs[1], "bob@example.com", "Confirm your e-mail address");
    assert_envelope(&msgs[2], "alice@example.com", "Reset your password");
    let (status, _, body) = parts(
        s.admin_req(
            reqwest::Method::POST,
            "/admin/users/nobody/send-reset",
            None,
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({"error": "not_found", "error_description": "no such user"})
        )
    );
    let out = cli(&s, &cfg, &["users", "send-reset", "nobody"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such user"));
    assert!(!s.log().contains(&token));
    let r = s
        .admin_req(reqwest::Method::GET, "/admin/audit?kind=email.verify", None)
        .await;
    let trail: serde_json::Value = r.json().await.unwrap();
    assert!(!trail["events"].as_array().unwrap().is_empty(), "{trail}");
}
both!(with_db verify_email_by_mail);

// ----- self-registration -----

const REGISTERED: &str = "We have sent a message to the address you gave, with what to do next.";

/// Registers through the form in `b`; returns the page the answer led to.
async fn register(s: &Server, b: &Browser, username: &str, email: &str, password: &str) -> Page {
    let form = get(b, &s.url("/register")).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let csrf = form.input("csrf").unwrap();
    post(
        b,
        "/register",
        &[
            ("csrf", &csrf),
            ("username", username),
            ("email", email),
            ("password", password),
            ("confirm", password),
        ],
    )
    .await
}

/// SECURITY.md M4: registration → verification → sign-in; a taken address
/// gets the same answer (and its owner a notice), a taken username is said
/// so; the domain allow-list and the per-address throttle hold.
async fn m4_registration_verify_then_sign_in(dir: tempfile::TempDir, db: Database) {
    if !smtp_available() {
        return;
    }
    let relay = relay(dir.path());
    let s = Server::start_in(
        dir,
        &db.url,
        &config(
            Some(&relay),
            "registration_email_domains = [\"example.org\"]\nregistration_max_per_ip = 4\n",
            "[features]\nregistration = true\n",
        ),
    );
    let (_, login) = crate::browser::at_login_page(&s).await;
    assert!(
        login
            .body
            .contains("<a href=\"/register\">Create an account</a>"),
        "{}",
        login.body
    );

    let b = Browser::new(&s);
    let p = register(&s, &b, "carol", "carol@example.com", "carol-password-1").await;
    assert_eq!(p.status, 400);
    assert!(
        p.body
            .contains("Registration is open to addresses at example.org only."),
        "{}",
        p.body
    );
    let p = register(&s, &b, "alice", "alice@example.org", "alice-password-1").await;
    assert_eq!(p.status, 400);
    assert!(
        p.body.contains("That username is taken. Choose another."),
        "{}",
        p.body
    );

    let p = register(&s, &b, "carol", "Carol@Example.org", "carol-password-1").await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains(REGISTERED), "{}", p.body);
    let msgs = relay.wait_for(1).await;
    assert_envelope(&msgs[0], "Carol@Example.org", "Confirm your e-mail address");
    let (url, _) = link(&msgs[0], &s.base, "/verify-email");

    // Not before the address is verified (and that sends a fresh link).
    let carol = ("carol", "carol-password-1");
    let early = page(try_login(&s, carol).await);
    assert_eq!(early.status, 403, "{}", early.body);
    assert!(early.body.contains(
        "Confirm your e-mail address first: follow the link we sent to it, then sign in."
    ));
    let msgs = relay.wait_for(2).await;
    assert_envelope(&msgs[1], "Carol@Example.org", "Confirm your e-mail address");
    // A wrong password is still just wrong.
    assert_eq!(
        page(try_login(&s, ("carol", "wrong-password")).await).status,
        401
    );

    let ok = get(&Browser::new(&s), &url).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    let tokens = sign_in_app1(&s, &Browser::new(&s), carol).await;
    let (_, id) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(
        (id["email"].clone(), id["email_verified"].clone()),
        (json!("Carol@Example.org"), json!(true))
    );

    // The same address again, under a new name: the same answer, no
    // account, and a notice to the address's owner.
    let p = register(&s, &b, "dave", "carol@EXAMPLE.org", "dave-password-12").await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains(REGISTERED));
    let msgs = relay.wait_for(3).await;
    assert_envelope(&msgs[2], "carol@EXAMPLE.org", "You already have an account");
    assert!(
        msgs[2]["text"]
            .as_str()
            .unwrap()
            .contains(&format!("{}/forgot", s.base))
    );
    let (status, _, _) = parts(
        s.admin_req(reqwest::Method::GET, "/admin/users/dave", None)
            .await,
    )
    .await;
    assert_eq!(status, 404, "no account was made");

    // Four attempts from this address so far (refused ones count): the fifth is refused.
    let p = register(&s, &b, "erin", "erin@example.org", "erin-password-12").await;
    assert_eq!(p.status, 429, "{}", p.body);
    assert!(
        p.body.contains(
            "Too many requests from here or for this account. Try again in a few minutes."
        )
    );
}
both!(with_db m4_registration_verify_then_sign_in);

/// With `features.registration` off (the default) there is no `/register`
/// and the login page does not link it.
async fn registration_is_off_by_default(dir: tempfile::TempDir, db: Database) {
    let s = Server::start_in(dir, &db.url, &config(None, "", ""));
    let r = s.http.get(s.url("/register")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let (_, login) = crate::browser::at_login_page(&s).await;
    assert!(!login.body.contains("/register"), "{}", login.body);
    assert!(login.body.contains("Forgot your password?"));
}
both!(with_db registration_is_off_by_default);

// ----- the outbox (no [smtp]) -----

/// SECURITY.md M2. Without `[smtp]` a message is a 0600 `.eml` file in DATA_DIR/outbox, the
/// log says where (not the link), and the link in it works.
async fn m2_outbox_mode_keeps_the_link_out_of_the_log(dir: tempfile::TempDir, db: Database) {
    let s = Server::start_in(dir, &db.url, &config(None, "", ""));
    assert!(s.log().contains("transport=outbox"), "{}", s.log());
    let outbox = s.dir.path().join("data/outbox");
    assert_eq!(forgot(&s, "alice").await.status, 200);
    let file = wait_for(
        "an .eml file in the outbox",
        Duration::from_secs(20),
        async || {
            let found = std::fs::read_dir(&outbox)
                .map_err(|e| e.to_string())?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|x| x == "eml"));
            found.ok_or_else(|| "none yet".to_owned())
        },
    )
    .await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&outbox), 0o700);
    }
    if !smtp_available() {
        return; // Python's MIME parser comes with the sink script's imports.
    }
    let out = Command::new("python3")
        .arg(SINK)
        .arg("--parse")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let msg = normalise(serde_json::from_slice(&out.stdout).unwrap());
    assert_eq!(header(&msg, "from"), "frontdesk <no-reply@localhost>");
    assert_eq!(header(&msg, "to"), "alice@example.com");
    assert_eq!(header(&msg, "subject"), "Reset your password");
    let (url, token) = link(&msg, &s.base, "/reset");
    let log = wait_for("the outbox log line", Duration::from_secs(5), async || {
        let log = s.log();
        if log.contains("mail written to the outbox") {
            Ok(log)
        } else {
            Err(())
        }
    })
    .await;
    assert!(
        log.contains(&file.display().to_string()),
        "the log names the file: {log}"
    );
    assert!(!log.contains(&token), "{log}");
    let form = get(&Browser::new(&s), &url).await;
    assert_eq!(form.status, 200, "{}", form.body);
}
both!(with_db m2_outbox_mode_keeps_the_link_out_of_the_log);

// ----- TLS to the relay, and a relay that fails -----

/// STARTTLS and implicit TLS (rustls on aws-lc-rs) to relays with a private
/// CA given as `ca_file`; STARTTLS is required, never skipped: a relay
/// that does not offer it gets nothing, and an unknown CA is refused.
async fn smtp_over_starttls_and_tls(dir: tempfile::TempDir, db: Database) {
    if !smtp_available() {
        return;
    }
    let s = Server::start_in(dir, &db.url, &config(None, "", ""));
    let work = s.dir.path().to_owned();
    let (ca, cert, key) = test_certificates(&work, "IP:127.0.0.1");
    let (ca, c, k) = (
        ca.to_str().unwrap(),
        cert.to_str().unwrap(),
        key.to_str().unwrap(),
    );
    let starttls = Relay::start(&work, "starttls", &["--starttls", c, k]);
    let implicit = Relay::start(&work, "implicit", &["--tls", c, k]);
    let plain = Relay::start(&work, "plain", &[]);
    let write = |name: &str, port: u16, tls: &str, with_ca: bool| {
        let path = work.join(format!("{name}.toml"));
        let ca = if with_ca {
            format!("ca_file = \"{ca}\"\n")
        } else {
            String::new()
        };
        std::fs::write(
            &path,
            format!("[smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"{tls}\"\nfrom = \"{FROM}\"\ntimeout_secs = 5\n{ca}"),
        )
        .unwrap();
        path
    };
    for (relay, tls) in [(&starttls, "starttls"), (&implicit, "tls")] {
        let cfg = write(tls, relay.port, tls, true);
        let out = cli(&s, &cfg, &["users", "send-reset", "alice"]);
        assert!(
            out.status.success(),
            "{tls}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "sent a password-reset link to alice@example.com\n"
        );
        let msgs = relay.wait_for(1).await;
        assert_eq!(msgs[0]["tls"], true, "{tls}");
        assert_envelope(&msgs[0], "alice@example.com", "Reset your password");
    }
    // No STARTTLS on offer: refused, nothing sent in the clear.
    let cfg = write("no-starttls", plain.port, "starttls", true);
    let out = cli(&s, &cfg, &["users", "send-reset", "alice"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the mail could not be sent"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A CA we were not told about: refused.
    let cfg = write("unknown-ca", starttls.port, "starttls", false);
    let out = cli(&s, &cfg, &["users", "send-reset", "alice"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("the mail could not be sent"));
    assert_eq!(plain.messages().len(), 0);
    assert_eq!(starttls.messages().len(), 1);
}
both!(with_db smtp_over_starttls_and_tls);

/// A relay that refuses: the admin API says 502 `mail_failed`, the CLI
/// fails, and `/forgot` still gives its usual answer (the worker logs).
async fn a_refusing_relay(dir: tempfile::TempDir, db: Database) {
    if !smtp_available() {
        return;
    }
    let refusing = Relay::start(dir.path(), "refusing", &["--refuse"]);
    let smtp = format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nfrom = \"{FROM}\"\ntimeout_secs = 5\n",
        refusing.port
    );
    let s = Server::start_in(dir, &db.url, &config(None, "", &smtp));
    let (status, _, body) = parts(
        s.admin_req(reqwest::Method::POST, "/admin/users/alice/send-reset", None)
            .await,
    )
    .await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"], "mail_failed");
    let d = body["error_description"].as_str().unwrap();
    assert!(
        d.starts_with("the mail could not be sent: ") && d.contains("refused by the test relay"),
        "{d}"
    );
    let sent = forgot(&s, "alice").await;
    assert_eq!(sent.status, 200);
    assert!(sent.body.contains(SENT));
    wait_for(
        "the worker's warning",
        Duration::from_secs(20),
        async || {
            if s.log().contains("mail not sent") {
                Ok(())
            } else {
                Err(())
            }
        },
    )
    .await;
}
both!(with_db a_refusing_relay);

// ----- security notices -----

/// `security_notices = true`: a sign-in from a browser new to the account,
/// a password changed on the account page and a second factor added or
/// removed each mail the account's address, once; a browser that signed in
/// before is not new. Without the switch (every other test here) none is
/// sent.
async fn security_notices(dir: tempfile::TempDir, db: Database) {
    if !smtp_available() {
        return;
    }
    let relay = relay(dir.path());
    let s = Server::start_in(
        dir,
        &db.url,
        &config(Some(&relay), "security_notices = true", ""),
    );
    let new_sign_in = "New sign-in to your account";

    // A first browser: new.
    let b1 = Browser::new(&s);
    let account = crate::mfa::account_sign_in(&b1, ALICE).await;
    assert_eq!(account.status, 200, "{}", account.body);
    let msgs = relay.wait_for(1).await;
    assert_envelope(&msgs[0], "alice@example.com", new_sign_in);
    let text = msgs[0]["text"].as_str().unwrap();
    assert!(
        text.contains(&format!(
            "Your account at {} was just signed in to from",
            s.base
        )) && text.contains("at 127.0.0.1, a browser it had not been used from before."),
        "{text}"
    );
    assert!(text.contains(&format!("({}/forgot)", s.base)), "{text}");
    let html = msgs[0]["html"].as_str().unwrap();
    assert!(
        html.contains("a browser it had not been used from before."),
        "{html}"
    );

    // The same browser again: nothing. Then its password change: one notice.
    let login = get(&b1, &format!("{}/login?next=account", s.base)).await;
    let again = post(
        &b1,
        "/login",
        &[
            ("csrf", &login.input("csrf").unwrap()),
            ("request", ""),
            ("next", "account"),
            ("username", ALICE.0),
            ("password", ALICE.1),
        ],
    )
    .await;
    assert_eq!(again.status, 200, "{}", again.body);
    let csrf = again.input("csrf").unwrap();
    let new_password = "a brand new passphrase 2026";
    let changed = post(
        &b1,
        "/account/password",
        &[
            ("csrf", &csrf),
            ("current_password", ALICE.1),
            ("new_password", new_password),
            ("confirm_password", new_password),
        ],
    )
    .await;
    assert!(
        changed.body.contains("Your password was changed."),
        "{}",
        changed.body
    );
    let msgs = relay.wait_for(2).await;
    assert_eq!(msgs.len(), 2, "no notice for a known browser: {msgs:?}");
    assert_envelope(&msgs[1], "alice@example.com", "Your password was changed");
    assert!(
        msgs[1]["text"]
            .as_str()
            .unwrap()
            .contains("was just changed on the account page"),
        "{}",
        msgs[1]["text"]
    );

    // Another browser: new. It adds an authenticator app, then removes it.
    let b2 = Browser::new(&s);
    let account = crate::mfa::account_sign_in(&b2, (ALICE.0, new_password)).await;
    assert_eq!(account.status, 200, "{}", account.body);
    let msgs = relay.wait_for(3).await;
    assert_envelope(&msgs[2], "alice@example.com", new_sign_in);
    crate::mfa::enrol_from_account(&b2).await;
    let msgs = relay.wait_for(4).await;
    assert_envelope(
        &msgs[3],
        "alice@example.com",
        "A sign-in method was added to your account",
    );
    assert!(
        msgs[3]["text"].as_str().unwrap().contains(&format!(
            "Two-step verification with an authenticator app was just added to your account at {}.",
            s.base
        )),
        "{}",
        msgs[3]["text"]
    );
    let account = get(&b2, &format!("{}/account", s.base)).await;
    let off = post(
        &b2,
        "/account/totp/remove",
        &[("csrf", &account.input("csrf").unwrap())],
    )
    .await;
    assert!(
        off.body.contains("Two-step verification is off."),
        "{}",
        off.body
    );
    let msgs = relay.wait_for(5).await;
    assert_envelope(
        &msgs[4],
        "alice@example.com",
        "A sign-in method was removed from your account",
    );
    // The cookie names no account: only keyed tags.
    let log = s.log();
    assert!(!log.contains("known-browser"), "{log}");
    assert_eq!(relay.messages().len(), 5);
}
both!(with_db security_notices);

/// The account page changes the account's address: saved unverified, a
/// link to the new address (which confirms it and signs in by it), a
/// notice to the old one; another account's address is not taken and the
/// page does not say so; a bad address is refused.
async fn changing_the_address_on_the_account_page(dir: tempfile::TempDir, db: Database) {
    if !smtp_available() {
        return;
    }
    let relay = relay(dir.path());
    let s = Server::start_in(
        dir,
        &db.url,
        &config(Some(&relay), "security_notices = true", ""),
    );
    let b = Browser::new(&s);
    let account = crate::mfa::account_sign_in(&b, ALICE).await;
    assert!(
        account
            .body
            .contains("<h2 id=\"email-address\">E-mail address</h2>")
    );
    relay.wait_for(1).await; // the new browser's notice
    let csrf = account.input("csrf").unwrap();
    let sent = "We sent a link to your address. Open it to confirm the address.";

    let done = post(
        &b,
        "/account/email",
        &[("csrf", &csrf), ("email", "Alice.New@example.com")],
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains(sent), "{}", done.body);
    assert!(
        done.body
            .contains("<strong>Alice.New@example.com</strong> · not confirmed yet"),
        "{}",
        done.body
    );
    let msgs = relay.wait_for(3).await;
    assert_envelope(
        &msgs[1],
        "Alice.New@example.com",
        "Confirm your e-mail address",
    );
    assert_envelope(
        &msgs[2],
        "alice@example.com",
        "The e-mail address of your account was changed",
    );
    assert!(
        msgs[2]["text"]
            .as_str()
            .unwrap()
            .contains("was just changed to Alice.New@example.com on the account page"),
        "{}",
        msgs[2]["text"]
    );
    let (url, _) = link(&msgs[1], &s.base, "/verify-email");
    let verified = get(&Browser::new(&s), &url).await;
    assert_eq!(verified.status, 200, "{}", verified.body);
    let account = get(&b, &format!("{}/account", s.base)).await;
    assert!(
        account
            .body
            .contains("<strong>Alice.New@example.com</strong> · confirmed"),
        "{}",
        account.body
    );
    // The new address signs in, in any case.
    let other = Browser::new(&s);
    let by_new = crate::mfa::account_sign_in(&other, ("alice.new@EXAMPLE.com", ALICE.1)).await;
    assert!(by_new.body.contains("Your account"), "{}", by_new.body);
    relay.wait_for(4).await;

    // The same address, confirmed: nothing to do, nothing sent.
    let csrf = account.input("csrf").unwrap();
    let same = post(
        &b,
        "/account/email",
        &[("csrf", &csrf), ("email", "alice.new@example.com")],
    )
    .await;
    assert!(
        same.body
            .contains("That is your address already; it is confirmed."),
        "{}",
        same.body
    );
    // Bob's address: the same words, nothing changed, bob is told.
    let taken = post(
        &b,
        "/account/email",
        &[("csrf", &csrf), ("email", "bob@example.com")],
    )
    .await;
    assert!(taken.body.contains(sent), "{}", taken.body);
    assert!(
        taken
            .body
            .contains("<strong>Alice.New@example.com</strong> · confirmed"),
        "{}",
        taken.body
    );
    let msgs = relay.wait_for(5).await;
    assert_envelope(&msgs[4], "bob@example.com", "You already have an account");
    // Not an address.
    let bad = post(
        &b,
        "/account/email",
        &[("csrf", &csrf), ("email", "not-an-address")],
    )
    .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(
        bad.body.contains("Enter a valid e-mail address."),
        "{}",
        bad.body
    );
    // No CSRF token: refused, nothing changed.
    let forged = post(&b, "/account/email", &[("email", "mallory@example.com")]).await;
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert_eq!(relay.messages().len(), 5);
}
both!(with_db changing_the_address_on_the_account_page);
