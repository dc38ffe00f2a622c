//! "Sign in with another identity provider" in a real browser: headless
//! Chromium, driven through ChromeDriver like real_browser.rs, clicks an
//! application's sign-in at frontdesk B through B's "Sign in with Hotel
//! Group SSO" button → the upstream A's login page (a second real
//! frontdesk, issuer `http://localhost:PORT`, as in upstream.rs) → A's
//! consent page → B's consent page → the application's redirect URI, a
//! small page served here. Then B's account page lists the connected
//! account. Screenshots of B's login page (two upstream buttons) and of the
//! account page land in `target/screenshots/`, and in `docs/screenshots/`
//! with `FRONTDESK_UPDATE_SCREENSHOTS=1`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (skipped without them
//! unless `FRONTDESK_TEST_BROWSER=required`).

use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, Locator};
use serde_json::{Value, json};

use crate::browser::{authorize_url, pkce};
use crate::real_browser::{
    Callback, Driver, WAIT, at_path, browser_available, callback_server, code_claims,
    copy_screenshot_to_docs, element, screenshot,
};
use crate::support::{Backend, Database, Server, wait_for};
use crate::upstream::{CAROL, downstream_server, hotel, register, upstream_server};

/// The application at B whose sign-in the browser goes through.
const APP: (&str, &str) = ("concierge", "concierge-secret-0123456789abcdef");
/// How long the whole browser flow may take.
const FLOW: Duration = Duration::from_secs(90);
/// A consent page's approve button (A's and B's alike).
const APPROVE: &str = "form[action=\"/consent\"] button[name=\"decision\"][value=\"approve\"]";

/// B's second upstream, for a login page with two buttons: never contacted
/// (discovery runs at the first use, and no one clicks it).
const GOOGLE: &str = r#"
[[upstreams]]
id = "google"
display_name = "Google"
preset = "google"
client_id = "1234-abc.apps.googleusercontent.com"
client_secret = "google-secret-0123456789abcdef"
"#;

/// The application's registration at B, with `redirect_uri`.
fn app_client(redirect_uri: &str) -> String {
    format!(
        r#"
[[clients]]
client_id = "{id}"
client_secret = "{secret}"
client_name = "Hotel Concierge"
grant_types = ["authorization_code"]
redirect_uris = ["{redirect_uri}"]
scope = "openid profile email"
"#,
        id = APP.0,
        secret = APP.1,
    )
}

/// A, B (SQLite), the callback page, ChromeDriver and one Chromium session.
/// On a failing test, both servers' logs and the end of ChromeDriver's are
/// printed.
struct Rig {
    a: Server,
    b: Server,
    cb: Callback,
    c: Client,
    driver: Driver,
    _procs: tempfile::TempDir,
}

impl Drop for Rig {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let driver_log = self.driver.log();
            let lines: Vec<&str> = driver_log.lines().collect();
            let tail = lines[lines.len().saturating_sub(150)..].join("\n");
            eprintln!(
                "upstream (A) log:\n{}\ndownstream (B) log:\n{}\nchromedriver log (last 150 lines):\n{tail}",
                self.a.log(),
                self.b.log()
            );
        }
    }
}

impl Rig {
    /// A, then B with the upstreams `hotel` (A) and `google` and the
    /// application, then `downstream` registered at A as a third-party
    /// client (so A asks for consent), then the browser.
    async fn start() -> Rig {
        let a = upstream_server("").await;
        let cb = callback_server().await;
        let dir = tempfile::tempdir().unwrap();
        let db = Database::new(Backend::Sqlite, dir.path()).await.unwrap();
        let more = format!("{}{GOOGLE}{}", hotel(&a.base, ""), app_client(&cb.uri));
        let b = downstream_server(dir, &db, &more);
        assert!(a.base.starts_with("http://localhost:"), "{}", a.base);
        assert!(b.base.starts_with("http://127.0.0.1:"), "{}", b.base);
        register(&a, "downstream", &b, "hotel", false).await;
        let procs = tempfile::tempdir().unwrap();
        let driver = Driver::start(procs.path()).await;
        let profile = procs.path().join("chromium-profile");
        std::fs::create_dir_all(&profile).unwrap();
        let c = driver.session(&profile).await;
        Rig {
            a,
            b,
            cb,
            c,
            driver,
            _procs: procs,
        }
    }
}

fn origin(base: &str) -> url::Origin {
    url::Url::parse(base).unwrap().origin()
}

/// Waits (up to [`WAIT`]) for a consent page at `base`'s origin: its
/// approve button.
async fn consent_at(c: &Client, base: &str) -> Element {
    let want = origin(base);
    wait_for(&format!("a consent page at {base}"), WAIT, async || {
        let url = c.current_url().await.expect("current url");
        if url.origin() == want
            && let Ok(allow) = c.find(Locator::Css(APPROVE)).await
        {
            return Ok(allow);
        }
        Err(url.to_string())
    })
    .await
}

/// The upstream buttons on the login page: (href, text), in page order.
async fn upstream_buttons(c: &Client) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for a in c.find_all(Locator::Css("a.button.upstream")).await.unwrap() {
        let href = a.attr("href").await.unwrap().unwrap_or_default();
        out.push((href, a.text().await.unwrap()));
    }
    out
}

/// The rows of the account page's "Connected accounts" table, as text.
async fn connection_rows(c: &Client) -> Vec<String> {
    let css = "section[aria-labelledby=\"connections\"] tr";
    let mut out = Vec::new();
    for tr in c.find_all(Locator::Css(css)).await.unwrap() {
        out.push(tr.text().await.unwrap());
    }
    out
}

/// The code at B's `/token`; the ID token's claims.
async fn id_token(rig: &Rig, code: &str, verifier: &str) -> Value {
    code_claims(&rig.b, APP, &rig.cb.uri, code, verifier).await
}

/// The application's sign-in at B through A, then B's account page.
async fn brokered(rig: &Rig) {
    let c = &rig.c;
    let (a, b) = (rig.a.base.as_str(), rig.b.base.as_str());

    // The application sends the browser to B: B's login page, the password
    // form and a button for each upstream, in configuration order.
    let (verifier, challenge) = pkce();
    let url = authorize_url(
        &rig.b,
        APP.0,
        &rig.cb.uri,
        "openid profile email",
        &challenge,
        &[],
    );
    c.goto(&url).await.expect("open the authorization URL");
    at_path(c, b, "/login").await;
    element(c, "input#password").await;
    let button = element(c, "a.button.upstream[href^=\"/upstream/hotel/start\"]").await;
    assert_eq!(button.text().await.unwrap(), "Sign in with Hotel Group SSO");
    let buttons = upstream_buttons(c).await;
    let labels: Vec<&str> = buttons.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(
        labels,
        ["Sign in with Hotel Group SSO", "Sign in with Google"],
        "{buttons:?}"
    );
    for (href, _) in &buttons {
        assert!(
            href.contains("/start?"),
            "each button carries the request: {href}"
        );
    }
    let src = c.source().await.unwrap();
    assert!(
        src.contains("Hotel Concierge"),
        "login names the app:\n{src}"
    );
    let shot = screenshot(c, "login-upstreams").await;
    copy_screenshot_to_docs(&shot, "login-upstreams");
    button
        .click()
        .await
        .expect("click Sign in with Hotel Group SSO");

    // A's login page: the browser is at A's origin.
    let at_a = at_path(c, a, "/login").await;
    assert_eq!(at_a.origin(), origin(a), "at A: {at_a}");
    element(c, "input#username")
        .await
        .send_keys(CAROL.0)
        .await
        .unwrap();
    element(c, "input#password")
        .await
        .send_keys(CAROL.1)
        .await
        .unwrap();
    element(c, "form[action=\"/login\"] button[type=\"submit\"]")
        .await
        .click()
        .await
        .expect("submit the password at A");

    // A's consent page, for B's client `downstream` ("Downstream").
    let allow = consent_at(c, a).await;
    let src = c.source().await.unwrap();
    assert!(src.contains("Downstream"), "A's consent names B:\n{src}");
    allow.click().await.expect("approve at A");

    // Back at B, through the callback: B's consent page for the app.
    let allow = consent_at(c, b).await;
    let src = c.source().await.unwrap();
    assert!(
        src.contains("Hotel Concierge"),
        "B's consent names the app:\n{src}"
    );
    allow.click().await.expect("approve at B");

    // The application's redirect URI: the code and the state it sent.
    let cb = wait_for("at the callback", WAIT, async || {
        let url = c.current_url().await.expect("current url");
        if url.as_str().starts_with(&rig.cb.uri) {
            Ok(url)
        } else {
            Err(url.to_string())
        }
    })
    .await;
    let q = |name: &str| {
        cb.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(q("error"), None, "{cb}");
    assert_eq!(q("state").as_deref(), Some("st-123"), "{cb}");
    let code = q("code").unwrap_or_else(|| panic!("a code: {cb}"));
    let id = id_token(rig, &code, &verifier).await;
    assert_eq!(id["iss"], b, "{id}");
    assert_eq!(id["aud"], APP.0, "{id}");
    assert_eq!(id["nonce"], "n-456", "{id}");
    assert_eq!(id["amr"], json!(["fed"]), "{id}");
    assert_eq!(id["email"], "carol@hotel.example", "{id}");

    // B signed the browser in: its account page shows the provisioned
    // account and the connected upstream.
    c.goto(&rig.b.url("/account")).await.expect("open /account");
    at_path(c, b, "/account").await;
    let who = element(c, "p.lead strong").await;
    assert_eq!(who.text().await.unwrap(), "carol");
    let heading = element(c, "h2#connections").await;
    assert_eq!(heading.text().await.unwrap(), "Connected accounts");
    let rows = connection_rows(c).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    let hotel_row = rows
        .iter()
        .find(|r| r.contains("Hotel Group SSO"))
        .unwrap_or_else(|| panic!("a row for Hotel Group SSO: {rows:?}"));
    assert!(
        hotel_row.contains("Connected") && !hotel_row.contains("Not connected"),
        "{hotel_row:?}"
    );
    assert!(hotel_row.contains("Disconnect"), "{hotel_row:?}");
    let google_row = rows
        .iter()
        .find(|r| r.contains("Google"))
        .unwrap_or_else(|| panic!("a row for Google: {rows:?}"));
    assert!(google_row.contains("Not connected"), "{google_row:?}");
    c.execute(
        "document.getElementById('connections').scrollIntoView({block: 'start'}); \
         window.scrollBy(0, -24)",
        vec![],
    )
    .await
    .expect("scroll to Connected accounts");
    let shot = screenshot(c, "account-connected").await;
    copy_screenshot_to_docs(&shot, "account-connected");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brokered_sign_in_with_chromium() {
    if !browser_available() {
        return;
    }
    let rig = Rig::start().await;
    let started = Instant::now();
    if tokio::time::timeout(FLOW, brokered(&rig)).await.is_err() {
        let at = rig.c.current_url().await.map(|u| u.to_string());
        panic!("browser flow timed out after {FLOW:?}; at {at:?}");
    }
    eprintln!("browser flow took {:?}", started.elapsed());
    let _ = rig.c.clone().close().await;
}
