//! A real browser: headless Chromium, driven through ChromeDriver (W3C
//! WebDriver, via `fantoccini`), clicks through the demo RP's "Sign in with
//! frontdesk" → frontdesk's login form → the consent page → the RP's profile
//! page. Screenshots of the three pages land in `target/screenshots/`; the
//! login and consent ones are also copied to `docs/screenshots/` (with
//! `FRONTDESK_UPDATE_SCREENSHOTS=1`) for the
//! README.
//!
//! Needs Debian's `chromium` and `chromium-driver`. Without them the test
//! says it skipped, unless `FRONTDESK_TEST_BROWSER=required` (as in CI),
//! when it fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

use crate::gateway::{Proc, spawn_listening};
use crate::support::{Backend, Database, Server, wait_for};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const RP_SECRET: &str = "demo-rp-secret-0123456789abcdef";
/// The user `frontdesk demo` seeds, so the screenshots match the README.
const DEMO_USER: (&str, &str) = ("demo", "demo-password");
/// How long any one wait (an element, a URL, ChromeDriver) may take.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) fn workspace_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// `$CARGO_TARGET_DIR/screenshots`, or the workspace's `target/screenshots`.
fn screenshot_dir() -> PathBuf {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(t) if Path::new(&t).is_absolute() => PathBuf::from(t),
        Some(t) => workspace_root().join(t),
        None => workspace_root().join("target"),
    };
    target.join("screenshots")
}

/// ChromeDriver in its own process group; dropping it kills the group
/// (ChromeDriver and the Chromium it started), by the group's id.
pub(crate) struct Driver {
    child: Child,
    pub(crate) url: String,
    log: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let pgid = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &pgid]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    pub(crate) async fn start(dir: &Path) -> Driver {
        use std::os::unix::process::CommandExt;
        let port = free_port();
        let log = dir.join("chromedriver.log");
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("spawn chromedriver");
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        let http = reqwest::Client::new();
        let what = format!("chromedriver ready on port {port}");
        wait_for(&what, WAIT, async || {
            if let Ok(r) = http.get(format!("{}/status", driver.url)).send().await
                && let Ok(v) = r.json::<serde_json::Value>().await
                && v["value"]["ready"] == true
            {
                return Ok(());
            }
            Err(driver.log())
        })
        .await;
        driver
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(crate) async fn session(&self, profile: &Path) -> Client {
        let caps = serde_json::json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-dev-shm-usage",
                    "--hide-scrollbars",
                    "--window-size=900,760",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        });
        let serde_json::Value::Object(caps) = caps else {
            unreachable!()
        };
        ClientBuilder::rustls()
            .expect("rustls connector")
            .capabilities(caps)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("WebDriver session: {e}\n{}", self.log()))
    }
}

/// The RP's client registration.
fn rp_client(rp_port: u16) -> String {
    format!(
        r#"
[[clients]]
client_id = "demo-rp"
client_secret = "{RP_SECRET}"
client_name = "PhotoBook"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["http://127.0.0.1:{rp_port}/callback"]
post_logout_redirect_uris = ["http://127.0.0.1:{rp_port}/"]
scope = "openid profile email offline_access"

[[users]]
username = "demo"
password = "demo-password"
email = "demo@example.com"
email_verified = true
name = "Demo User"
given_name = "Demo"
family_name = "User"
"#
    )
}

/// frontdesk (SQLite) and the demo RP.
fn start_stack(dir: tempfile::TempDir, db: &Database, procs: &Path) -> (Server, Proc) {
    let rp_port = free_port();
    let s = Server::start_in(dir, &db.url, &rp_client(rp_port));
    let rp = spawn_listening(
        procs,
        "demo-rp",
        &[
            "demo-rp",
            "--listen",
            &format!("127.0.0.1:{rp_port}"),
            "--issuer",
            &s.base,
            "--client-id",
            "demo-rp",
            "--client-secret",
            RP_SECRET,
            "--redirect-uri",
            &format!("http://127.0.0.1:{rp_port}/callback"),
        ],
    );
    (s, rp)
}

/// Waits (up to [`WAIT`]) for an element matching `css`.
pub(crate) async fn element(c: &Client, css: &str) -> fantoccini::elements::Element {
    match c
        .wait()
        .at_most(WAIT)
        .every(Duration::from_millis(100))
        .for_element(Locator::Css(css))
        .await
    {
        Ok(e) => e,
        Err(e) => {
            let url = c.current_url().await.map(|u| u.to_string());
            let src = c.source().await.unwrap_or_default();
            panic!("no `{css}` within {WAIT:?} ({e}); at {url:?}:\n{src}");
        }
    }
}

/// Waits (up to [`WAIT`]) until the browser is at `origin` + `path`.
pub(crate) async fn at_path(c: &Client, origin: &str, path: &str) -> url::Url {
    wait_for(&format!("at {origin}{path}"), WAIT, async || {
        let url = c.current_url().await.expect("current url");
        if url.as_str().starts_with(origin) && url.path() == path {
            Ok(url)
        } else {
            Err(url.to_string())
        }
    })
    .await
}

/// Saves a PNG screenshot as `target/screenshots/NAME.png`. Focus is
/// dropped first: no blinking caret, so the same page gives the same image.
pub(crate) async fn screenshot(c: &Client, name: &str) -> PathBuf {
    c.execute(
        "document.activeElement && document.activeElement.blur()",
        vec![],
    )
    .await
    .expect("blur");
    let png = c.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let dir = screenshot_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, &png).unwrap();
    eprintln!("screenshot: {}", path.display());
    path
}

async fn click_through(c: &Client, rp: &str, issuer: &str) -> Vec<(&'static str, PathBuf)> {
    let mut shots = Vec::new();

    // The RP's home page.
    c.goto(&format!("{rp}/")).await.expect("open the RP");
    let button = element(c, "form[action=\"/login\"] button[type=\"submit\"]").await;
    assert_eq!(button.text().await.unwrap(), "Sign in with frontdesk");
    button.click().await.expect("click sign in");

    // frontdesk's login page.
    let username = element(c, "input#username").await;
    let password = element(c, "input#password").await;
    assert!(c.current_url().await.unwrap().as_str().starts_with(issuer));
    let src = c.source().await.unwrap();
    assert!(src.contains("PhotoBook"), "login names the app:\n{src}");
    username.send_keys(DEMO_USER.0).await.unwrap();
    password.send_keys(DEMO_USER.1).await.unwrap();
    shots.push(("login", screenshot(c, "login").await));
    element(c, "form[action=\"/login\"] button[type=\"submit\"]")
        .await
        .click()
        .await
        .expect("submit login");

    // frontdesk's consent page.
    let allow = element(c, "button[name=\"decision\"][value=\"approve\"]").await;
    assert!(c.current_url().await.unwrap().as_str().starts_with(issuer));
    assert_eq!(allow.text().await.unwrap(), "Allow");
    let src = c.source().await.unwrap();
    assert!(src.contains("PhotoBook"), "consent names the app:\n{src}");
    shots.push(("consent", screenshot(c, "consent").await));
    allow.click().await.expect("click allow");

    // Back at the RP, on the profile page.
    at_path(c, rp, "/profile").await;
    let h1 = element(c, "h1").await;
    assert_eq!(h1.text().await.unwrap(), "Demo User");
    let src = c.source().await.unwrap();
    assert!(src.contains("demo@example.com"), "{src}");
    shots.push(("profile", screenshot(c, "profile").await));
    shots
}

/// ChromeDriver started in `procs` and a browser session with a fresh
/// profile there.
pub(crate) async fn chromium(procs: &Path) -> (Driver, Client) {
    let driver = Driver::start(procs).await;
    let profile = procs.join("chromium-profile");
    std::fs::create_dir_all(&profile).unwrap();
    let c = driver.session(&profile).await;
    (driver, c)
}

/// Whether the browser is there; fails instead when CI requires it.
pub(crate) fn browser_available() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if !missing.is_empty() {
        let required = std::env::var("FRONTDESK_TEST_BROWSER").as_deref() == Ok("required");
        assert!(
            !required,
            "FRONTDESK_TEST_BROWSER=required but {} missing (apt-get install chromium chromium-driver)",
            missing.join(" and ")
        );
        eprintln!(
            "skipped: chromium/chromedriver not installed (apt-get install chromium chromium-driver)"
        );
        return false;
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_with_chromium() {
    if !browser_available() {
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let db = Database::new(Backend::Sqlite, dir.path()).await.unwrap();
    let procs = tempfile::tempdir().unwrap();
    let (s, rp) = start_stack(dir, &db, procs.path());
    let driver = Driver::start(procs.path()).await;
    let profile = procs.path().join("chromium-profile");
    std::fs::create_dir_all(&profile).unwrap();
    let client = driver.session(&profile).await;

    let run = tokio::time::timeout(
        Duration::from_secs(60),
        click_through(&client, &rp.base, &s.base),
    )
    .await;
    let _ = client.close().await;
    let shots = run.unwrap_or_else(|_| {
        panic!(
            "browser flow timed out\nfrontdesk:\n{}\nrp:\n{}\nchromedriver:\n{}",
            s.log(),
            rp.log(),
            driver.log()
        )
    });
    drop(driver);

    // The README's screenshots, refreshed only on request
    // (FRONTDESK_UPDATE_SCREENSHOTS=1), so a test run leaves the tree clean.
    if std::env::var_os("FRONTDESK_UPDATE_SCREENSHOTS").is_some() {
        let docs = workspace_root().join("docs/screenshots");
        std::fs::create_dir_all(&docs).unwrap();
        for (name, path) in shots {
            if name == "login" || name == "consent" {
                std::fs::copy(&path, docs.join(format!("{name}.png"))).unwrap();
            }
        }
    }
    eprintln!("real browser flow took {:?}", started.elapsed());
}

/// Two-step verification in a real browser: the account page, the
/// enrolment page with its inline SVG QR code (rendered under the page's
/// CSP), the recovery codes, and the code step of the next sign-in.
async fn two_step_through(c: &Client, issuer: &str) -> Vec<(&'static str, PathBuf)> {
    let mut shots = Vec::new();
    c.goto(&format!("{issuer}/account"))
        .await
        .expect("open /account");
    element(c, "input#username")
        .await
        .send_keys(crate::browser::ALICE.0)
        .await
        .unwrap();
    element(c, "input#password")
        .await
        .send_keys(crate::browser::ALICE.1)
        .await
        .unwrap();
    element(c, "form[action=\"/login\"] button[type=\"submit\"]")
        .await
        .click()
        .await
        .unwrap();
    at_path(c, issuer, "/account").await;
    element(c, "a[href=\"/account/totp\"]")
        .await
        .click()
        .await
        .unwrap();
    let qr = element(c, "figure.qr svg").await;
    let size = qr.rectangle().await.expect("the QR code is laid out");
    assert!(size.2 >= 150.0 && size.3 >= 150.0, "rendered at {size:?}");
    let secret = element(c, "code.secret").await.text().await.unwrap();
    shots.push(("mfa_enrol", screenshot(c, "mfa_enrol").await));
    let now = crate::support::unix_now();
    let secret = crate::mfa::base32_decode(&secret);
    element(c, "input#code")
        .await
        .send_keys(&crate::mfa::totp_at(&secret, now))
        .await
        .unwrap();
    element(c, "form[action=\"/login/mfa/enrol\"] button")
        .await
        .click()
        .await
        .unwrap();
    element(c, "ul.codes li").await;
    let codes = c.find_all(Locator::Css("ul.codes li")).await.unwrap();
    assert_eq!(codes.len(), 10);
    shots.push(("recovery_codes", screenshot(c, "recovery_codes").await));
    element(c, "a.button").await.click().await.unwrap();
    at_path(c, issuer, "/account").await;
    let src = c.source().await.unwrap();
    assert!(src.contains("Recovery codes left"), "{src}");
    shots.push(("account", screenshot(c, "account").await));

    // Sign out, sign in again: the password, then the code step.
    element(c, "form[action=\"/logout\"] button")
        .await
        .click()
        .await
        .unwrap();
    at_path(c, issuer, "/logout").await;
    c.goto(&format!("{issuer}/account")).await.unwrap();
    element(c, "input#username")
        .await
        .send_keys(crate::browser::ALICE.0)
        .await
        .unwrap();
    element(c, "input#password")
        .await
        .send_keys(crate::browser::ALICE.1)
        .await
        .unwrap();
    element(c, "form[action=\"/login\"] button[type=\"submit\"]")
        .await
        .click()
        .await
        .unwrap();
    at_path(c, issuer, "/login/mfa").await;
    shots.push(("mfa", screenshot(c, "mfa").await));
    // The next step's code: within the drift window, and not yet spent.
    element(c, "input#code")
        .await
        .send_keys(&crate::mfa::totp_at(&secret, now + 30))
        .await
        .unwrap();
    element(c, "form[action=\"/login/mfa\"] button")
        .await
        .click()
        .await
        .unwrap();
    at_path(c, issuer, "/account").await;
    shots
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_step_verification_with_chromium() {
    if !browser_available() {
        return;
    }
    let s = Server::start(Backend::Sqlite, "")
        .await
        .expect("sqlite is always available");
    let procs = tempfile::tempdir().unwrap();
    let driver = Driver::start(procs.path()).await;
    let profile = procs.path().join("chromium-profile");
    std::fs::create_dir_all(&profile).unwrap();
    let client = driver.session(&profile).await;
    let run =
        tokio::time::timeout(Duration::from_secs(60), two_step_through(&client, &s.base)).await;
    let _ = client.close().await;
    let shots = run.unwrap_or_else(|_| {
        panic!(
            "browser flow timed out\nfrontdesk:\n{}\nchromedriver:\n{}",
            s.log(),
            driver.log()
        )
    });
    if std::env::var_os("FRONTDESK_UPDATE_SCREENSHOTS").is_some() {
        let docs = workspace_root().join("docs/screenshots");
        std::fs::create_dir_all(&docs).unwrap();
        for (name, path) in shots {
            std::fs::copy(&path, docs.join(format!("{name}.png"))).unwrap();
        }
    }
}

// ----- shared by the real-browser tests (passkeys.rs, upstream_browser.rs) -----

/// The application's redirect URI in a real-browser test: a page that says
/// `ok` to anything, so the browser lands there and the test reads `code`
/// from its URL.
pub(crate) struct Callback {
    pub(crate) uri: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Callback {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(crate) async fn callback_server() -> Callback {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the callback page");
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().route("/cb", axum::routing::get(async || "ok"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Callback {
        uri: format!("http://127.0.0.1:{port}/cb"),
        task,
    }
}

/// Exchanges `code` at `s`'s `/token` as `client` (client_secret_basic);
/// the ID token's claims.
pub(crate) async fn code_claims(
    s: &Server,
    client: (&str, &str),
    redirect_uri: &str,
    code: &str,
    verifier: &str,
) -> serde_json::Value {
    let r = s
        .post_form(
            "/token",
            Some(client),
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", verifier),
            ],
        )
        .await;
    let status = r.status();
    let body: serde_json::Value = r.json().await.expect("token response JSON");
    assert_eq!(status, 200, "{body}");
    let (_, id) = crate::support::jwt_parts(body["id_token"].as_str().expect("an id_token"));
    id
}

/// Copies a screenshot to `docs/screenshots/NAME.png`, only when
/// `FRONTDESK_UPDATE_SCREENSHOTS` is set, so a test run leaves the tree
/// clean.
pub(crate) fn copy_screenshot_to_docs(path: &Path, name: &str) {
    if std::env::var_os("FRONTDESK_UPDATE_SCREENSHOTS").is_some() {
        let docs = workspace_root().join("docs/screenshots");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::copy(path, docs.join(format!("{name}.png"))).unwrap();
    }
}
