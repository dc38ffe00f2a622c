//! Passkeys in a real browser: headless Chromium, driven through
//! ChromeDriver, with the WebDriver WebAuthn extension's virtual
//! authenticator (CTAP2, internal transport, resident keys, user
//! verification, always consenting). Enrolment on the account page, a
//! passkey as the only factor, a passkey after the password, `acr_values`
//! stepping a password session up to phishing-resistant, and a removed
//! passkey. The server's issuer is `http://localhost:PORT`: WebAuthn needs a
//! secure context and a domain as its relying party ID, never an IP address.
//!
//! Needs Debian's `chromium` and `chromium-driver`, like real_browser.rs
//! (skipped without them unless `FRONTDESK_TEST_BROWSER=required`).

use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use serde_json::{Value, json};

use crate::both;
use crate::browser::{ALICE, authorize_url, pkce};
use crate::real_browser::{
    Callback, Driver, WAIT, at_path, browser_available, callback_server, code_claims,
    copy_screenshot_to_docs, element, screenshot,
};
use crate::support::{Backend, Database, Server, wait_for, wait_until};

const APP: (&str, &str) = ("passkey-app", "passkey-app-secret-0123456789abcdef");
const ACR_PASSWORD: &str = "urn:frontdesk:acr:password";
const ACR_MFA: &str = "urn:frontdesk:acr:mfa";
const ACR_PHISHING_RESISTANT: &str = "urn:frontdesk:acr:phishing-resistant";
/// How long one whole browser flow may take.
const FLOW: Duration = Duration::from_secs(150);

/// The virtual authenticator ChromeDriver keeps for one session.
struct Authenticator {
    /// `{chromedriver}/session/{id}/webauthn/authenticator/{authenticatorId}`
    url: String,
    http: reqwest::Client,
}

impl Authenticator {
    /// W3C WebAuthn Level 2 §11.3 "Add Virtual Authenticator".
    async fn add(driver: &Driver, c: &Client) -> Authenticator {
        let session = c
            .session_id()
            .await
            .expect("session id")
            .expect("a WebDriver session");
        let base = format!("{}/session/{session}/webauthn/authenticator", driver.url);
        let http = reqwest::Client::new();
        let r = http
            .post(&base)
            .json(&json!({
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": true,
                "hasUserVerification": true,
                "isUserConsenting": true,
                "isUserVerified": true,
            }))
            .send()
            .await
            .expect("add a virtual authenticator");
        let status = r.status();
        let body: Value = r.json().await.expect("JSON from chromedriver");
        assert_eq!(status, 200, "add a virtual authenticator: {body}");
        let id = body["value"]
            .as_str()
            .unwrap_or_else(|| panic!("an authenticator id: {body}"));
        Authenticator {
            url: format!("{base}/{id}"),
            http,
        }
    }

    /// §11.7 "Get Credentials": what the authenticator holds.
    async fn credentials(&self) -> Vec<Value> {
        let r = self
            .http
            .get(format!("{}/credentials", self.url))
            .send()
            .await
            .expect("list the authenticator's credentials");
        let status = r.status();
        let body: Value = r.json().await.expect("JSON from chromedriver");
        assert_eq!(status, 200, "credentials: {body}");
        body["value"]
            .as_array()
            .unwrap_or_else(|| panic!("a list of credentials: {body}"))
            .clone()
    }
}

/// Makes every page of the session see a browser without passkey autofill
/// (`isConditionalMediationAvailable()` is false) — except a page whose
/// query has `autofill=1`, where the autofill itself is tested —, through ChromeDriver's
/// CDP bridge. The virtual authenticator answers a conditional-mediation
/// request at once, with no one choosing the passkey: the login page would
/// sign in by itself on load. These tests drive the buttons, as a person
/// does; passkey.js offers the buttons alone in such a browser.
async fn without_passkey_autofill(driver: &Driver, c: &Client) {
    let session = c
        .session_id()
        .await
        .expect("session id")
        .expect("a WebDriver session");
    let r = reqwest::Client::new()
        .post(format!("{}/session/{session}/goog/cdp/execute", driver.url))
        .json(&json!({
            "cmd": "Page.addScriptToEvaluateOnNewDocument",
            "params": {"source": "if (window.PublicKeyCredential && !location.search.includes('autofill=1')) {\
                Object.defineProperty(PublicKeyCredential, 'isConditionalMediationAvailable',\
                {value: () => Promise.resolve(false), configurable: true}); }"},
        }))
        .send()
        .await
        .expect("CDP Page.addScriptToEvaluateOnNewDocument");
    let status = r.status();
    let body = r.text().await.unwrap_or_default();
    assert_eq!(
        status, 200,
        "CDP Page.addScriptToEvaluateOnNewDocument: {body}"
    );
}

/// frontdesk on `http://localhost:PORT`, the callback page, ChromeDriver,
/// one Chromium session and its virtual authenticator. On a failing test,
/// the server's log and the end of ChromeDriver's are printed.
struct Rig {
    s: Server,
    cb: Callback,
    auth: Authenticator,
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
                "frontdesk log:\n{}\nchromedriver log (last 150 lines):\n{tail}",
                self.s.log()
            );
        }
    }
}

impl Rig {
    /// `top`: top-level config keys (before the `[features]` table).
    async fn start(dir: tempfile::TempDir, db: &Database, top: &str) -> Rig {
        let cb = callback_server().await;
        let config = format!(
            r#"{top}
[features]
passkeys = true

[[clients]]
client_id = "{id}"
client_secret = "{secret}"
client_name = "Passkey App"
grant_types = ["authorization_code"]
redirect_uris = ["{uri}"]
scope = "openid"
"#,
            id = APP.0,
            secret = APP.1,
            uri = cb.uri,
        );
        let s = Server::start_localhost(dir, &db.url, &config);
        assert!(s.base.starts_with("http://localhost:"), "{}", s.base);
        let procs = tempfile::tempdir().unwrap();
        let driver = Driver::start(procs.path()).await;
        let profile = procs.path().join("chromium-profile");
        std::fs::create_dir_all(&profile).unwrap();
        let c = driver.session(&profile).await;
        without_passkey_autofill(&driver, &c).await;
        let auth = Authenticator::add(&driver, &c).await;
        assert_eq!(
            auth.credentials().await,
            Vec::<Value>::new(),
            "empty at first"
        );
        Rig {
            s,
            cb,
            auth,
            c,
            driver,
            _procs: procs,
        }
    }

    fn url(&self, path: &str) -> String {
        self.s.url(path)
    }
}

/// Runs `flow` within [`FLOW`], then ends the WebDriver session.
async fn run(rig: &Rig, flow: impl std::future::Future<Output = ()>) {
    let started = Instant::now();
    if tokio::time::timeout(FLOW, flow).await.is_err() {
        let state = state(&rig.c).await;
        panic!("browser flow timed out after {FLOW:?}; {state}");
    }
    eprintln!("browser flow took {:?}", started.elapsed());
    let _ = rig.c.clone().close().await;
}

/// Where the browser is and what the page says went wrong, for failure
/// messages: the URL, `#passkey-error` (the script's errors) and the
/// server's `p.error`.
async fn state(c: &Client) -> String {
    let url = c
        .current_url()
        .await
        .map_or_else(|e| format!("({e})"), |u| u.to_string());
    let text = async |css: &str| match c.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => "(none)".to_owned(),
    };
    format!(
        "at {url}; #passkey-error: {:?}; p.error: {:?}",
        text("#passkey-error").await,
        text("p.error:not(#passkey-error)").await
    )
}

/// Waits until the browser is at `path` with `done=DONE` in its query.
async fn at_done(c: &Client, path: &str, done: &str) -> url::Url {
    wait_for(&format!("at {path}?done={done}"), WAIT, async || {
        let url = c.current_url().await.expect("current url");
        let got = url
            .query_pairs()
            .find(|(k, _)| k == "done")
            .map(|(_, v)| v.into_owned());
        if url.path() == path && got.as_deref() == Some(done) {
            Ok(url)
        } else {
            Err(state(c).await)
        }
    })
    .await
}

/// Types the password on the login page the browser is on and submits it.
async fn submit_password(c: &Client, user: (&str, &str)) {
    element(c, "input#username")
        .await
        .send_keys(user.0)
        .await
        .unwrap();
    element(c, "input#password")
        .await
        .send_keys(user.1)
        .await
        .unwrap();
    element(c, "form[action=\"/login\"] button[type=\"submit\"]")
        .await
        .click()
        .await
        .expect("submit the password");
}

/// A password sign-in through `/login?next=account`, ending on `/account`.
async fn password_to_account(rig: &Rig) {
    rig.c
        .goto(&rig.url("/login?next=account"))
        .await
        .expect("open /login?next=account");
    submit_password(&rig.c, ALICE).await;
    at_path(&rig.c, &rig.s.base, "/account").await;
}

/// The passkeys listed on the account page: (data-id, text).
async fn listed_passkeys(c: &Client) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for li in c.find_all(Locator::Css("li.passkey")).await.unwrap() {
        let id = li.attr("data-id").await.unwrap().unwrap_or_default();
        out.push((id, li.text().await.unwrap()));
    }
    out
}

/// On the account page: names a passkey, adds it, and waits for
/// `/account?done=passkey-added`.
async fn add_passkey(rig: &Rig, name: &str) {
    element(&rig.c, "input#passkey-name")
        .await
        .send_keys(name)
        .await
        .unwrap();
    let add = element(&rig.c, "button#passkey-add").await;
    assert_eq!(add.text().await.unwrap(), "Add a passkey");
    assert_eq!(add.attr("type").await.unwrap().as_deref(), Some("button"));
    add.click().await.expect("click Add a passkey");
    at_done(&rig.c, "/account", "passkey-added").await;
}

/// A password sign-in to the account page and a passkey named `name` added
/// there; checks the list and the authenticator's one resident credential.
async fn enrol(rig: &Rig, name: &str) -> String {
    password_to_account(rig).await;
    assert!(
        listed_passkeys(&rig.c).await.is_empty(),
        "no passkey yet; {}",
        state(&rig.c).await
    );
    add_passkey(rig, name).await;
    let listed = listed_passkeys(&rig.c).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let (id, text) = &listed[0];
    assert!(
        !id.is_empty(),
        "the item carries the passkey's id: {listed:?}"
    );
    assert!(text.contains(name), "{text:?}");
    assert!(text.contains("Never used"), "{text:?}");
    assert!(!text.contains("Last used"), "{text:?}");
    let creds = rig.auth.credentials().await;
    assert_eq!(
        creds.len(),
        1,
        "one credential on the authenticator: {creds:?}"
    );
    assert_eq!(creds[0]["isResidentCredential"], true, "{creds:?}");
    assert_eq!(creds[0]["rpId"], "localhost", "{creds:?}");
    id.clone()
}

/// The account page's "Sign out" button; ends on `/logout`.
async fn sign_out(rig: &Rig) {
    let current = rig.c.current_url().await.unwrap();
    if current.path() != "/account" {
        rig.c.goto(&rig.url("/account")).await.unwrap();
    }
    element(&rig.c, "form[action=\"/logout\"] button")
        .await
        .click()
        .await
        .expect("sign out");
    at_path(&rig.c, &rig.s.base, "/logout").await;
    rig.c.goto(&rig.url("/account")).await.unwrap();
    element(&rig.c, "input#password").await;
}

/// Opens an authorization request (code, PKCE S256, state `st-123`, nonce
/// `n-456`, `extra`); returns the code verifier.
async fn authorize(rig: &Rig, extra: &[(&str, &str)]) -> String {
    let (verifier, challenge) = pkce();
    let url = authorize_url(&rig.s, APP.0, &rig.cb.uri, "openid", &challenge, extra);
    rig.c.goto(&url).await.expect("open the authorization URL");
    verifier
}

/// Clicks the passkey button `css` once it is there.
async fn click_passkey_button(c: &Client, css: &str, label: &str) {
    let button = element(c, css).await;
    assert_eq!(button.text().await.unwrap(), label);
    assert_eq!(
        button.attr("type").await.unwrap().as_deref(),
        Some("button")
    );
    button.click().await.expect("click the passkey button");
}

/// Approves consent if asked, waits for the callback, checks `state`, and
/// returns the code.
async fn code_at_callback(rig: &Rig) -> String {
    let mut approved = false;
    let cb = wait_for(
        "at the callback (after consent, if asked)",
        WAIT,
        async || {
            let url = rig.c.current_url().await.expect("current url");
            if url.as_str().starts_with(&rig.cb.uri) {
                return Ok(url);
            }
            if !approved
                && let Ok(allow) = rig
                    .c
                    .find(Locator::Css(
                        "form[action=\"/consent\"] button[name=\"decision\"][value=\"approve\"]",
                    ))
                    .await
            {
                approved = allow.click().await.is_ok();
            }
            Err(state(&rig.c).await)
        },
    )
    .await;
    let q = |name: &str| {
        cb.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(q("error"), None, "{cb}");
    assert_eq!(q("state").as_deref(), Some("st-123"), "{cb}");
    q("code").unwrap_or_else(|| panic!("a code: {cb}"))
}

/// The code at `/token` (client_secret_basic); the ID token's claims.
async fn id_token(rig: &Rig, code: &str, verifier: &str) -> Value {
    let id = code_claims(&rig.s, APP, &rig.cb.uri, code, verifier).await;
    assert_eq!(id["iss"], rig.s.base.as_str());
    assert_eq!(id["aud"], APP.0);
    assert_eq!(id["nonce"], "n-456");
    id
}

/// The authorization request's login page → `#passkey-signin` → the code's
/// ID token.
async fn passkey_sign_in_for_app(rig: &Rig) -> Value {
    let verifier = authorize(rig, &[]).await;
    element(&rig.c, "input#password").await;
    click_passkey_button(&rig.c, "button#passkey-signin", "Sign in with a passkey").await;
    let code = code_at_callback(rig).await;
    id_token(rig, &code, &verifier).await
}

// ----- tests -----

both!(with_db a_passkey_enrolled_on_the_account_page_signs_in_alone);
async fn a_passkey_enrolled_on_the_account_page_signs_in_alone(
    dir: tempfile::TempDir,
    db: Database,
) {
    if !browser_available() {
        return;
    }
    let sqlite = db.url.starts_with("sqlite:");
    let rig = Rig::start(dir, &db, "").await;
    run(&rig, async {
        enrol(&rig, "Laptop").await;
        if sqlite {
            // The account page with its one passkey, for the README.
            rig.c
                .execute(
                    "document.querySelector('li.passkey').scrollIntoView({block: 'center'})",
                    vec![],
                )
                .await
                .expect("scroll to the passkey");
            let shot = screenshot(&rig.c, "account-passkeys").await;
            copy_screenshot_to_docs(&shot, "account-passkeys");
        }
        sign_out(&rig).await;

        // The app's login page: the passkey alone, no username typed.
        let id = passkey_sign_in_for_app(&rig).await;
        assert_eq!(id["amr"], json!(["hwk", "user", "mfa"]), "{id}");
        assert_eq!(id["acr"], ACR_PHISHING_RESISTANT, "{id}");

        // The same browser is signed in; the account page says it was used.
        rig.c.goto(&rig.url("/account")).await.unwrap();
        at_path(&rig.c, &rig.s.base, "/account").await;
        let listed = listed_passkeys(&rig.c).await;
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert!(listed[0].1.contains("Laptop"), "{listed:?}");
        assert!(listed[0].1.contains("Last used"), "{listed:?}");
        assert!(!listed[0].1.contains("Never used"), "{listed:?}");
        assert_eq!(
            rig.auth.credentials().await.len(),
            1,
            "still one credential"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_then_a_passkey_is_two_factors() {
    if !browser_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = Database::new(Backend::Sqlite, dir.path()).await.unwrap();
    let rig = Rig::start(dir, &db, "").await;
    run(&rig, async {
        enrol(&rig, "Laptop").await;
        sign_out(&rig).await;

        // require_mfa = "if_enrolled" (the default): the passkey follows
        // the password.
        let verifier = authorize(&rig, &[]).await;
        submit_password(&rig.c, ALICE).await;
        at_path(&rig.c, &rig.s.base, "/login/mfa").await;
        assert!(
            rig.c
                .find_all(Locator::Css("input#password"))
                .await
                .unwrap()
                .is_empty(),
            "never the password again"
        );
        click_passkey_button(&rig.c, "button#passkey-verify", "Use a passkey").await;
        let code = code_at_callback(&rig).await;
        let id = id_token(&rig, &code, &verifier).await;
        assert_eq!(id["amr"], json!(["pwd", "hwk", "user", "mfa"]), "{id}");
        assert_eq!(id["acr"], ACR_PHISHING_RESISTANT, "{id}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acr_values_phishing_resistant_steps_up_a_password_session() {
    if !browser_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = match Database::new(Backend::Postgres, dir.path()).await {
        Some(db) => db,
        None => {
            eprintln!("FRONTDESK_TEST_POSTGRES_URL not set: on SQLite");
            Database::new(Backend::Sqlite, dir.path()).await.unwrap()
        }
    };
    let rig = Rig::start(dir, &db, "require_mfa = \"never\"\n").await;
    let discovery = rig.s.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        discovery["acr_values_supported"],
        json!([ACR_PASSWORD, ACR_MFA, ACR_PHISHING_RESISTANT])
    );
    run(&rig, async {
        password_to_account(&rig).await;
        // An authenticator app too, so that the code form's absence below
        // is the level's doing: a code is not phishing-resistant.
        element(&rig.c, "a[href=\"/account/totp\"]")
            .await
            .click()
            .await
            .unwrap();
        let secret = element(&rig.c, "code.secret").await.text().await.unwrap();
        let secret = crate::mfa::base32_decode(&secret);
        element(&rig.c, "input#code")
            .await
            .send_keys(&crate::mfa::totp_at(&secret, crate::support::unix_now()))
            .await
            .unwrap();
        element(&rig.c, "form[action=\"/login/mfa/enrol\"] button")
            .await
            .click()
            .await
            .unwrap();
        element(&rig.c, "ul.codes li").await;
        element(&rig.c, "a.button").await.click().await.unwrap();
        at_path(&rig.c, &rig.s.base, "/account").await;
        add_passkey(&rig, "Laptop").await;
        assert_eq!(listed_passkeys(&rig.c).await.len(), 1);
        assert_eq!(rig.auth.credentials().await.len(), 1);
        sign_out(&rig).await;

        // require_mfa = "never": the password alone.
        let verifier = authorize(&rig, &[]).await;
        submit_password(&rig.c, ALICE).await;
        let code = code_at_callback(&rig).await;
        let first = id_token(&rig, &code, &verifier).await;
        assert_eq!(first["amr"], json!(["pwd"]), "{first}");
        assert_eq!(first["acr"], ACR_PASSWORD, "{first}");

        // The same browser session, asked for phishing resistance: only
        // the passkey, no password, no code.
        let verifier = authorize(&rig, &[("acr_values", ACR_PHISHING_RESISTANT)]).await;
        at_path(&rig.c, &rig.s.base, "/login/mfa").await;
        element(&rig.c, "button#passkey-verify").await;
        for css in ["#code", "input#password", "button#passkey-signin"] {
            assert!(
                rig.c.find_all(Locator::Css(css)).await.unwrap().is_empty(),
                "no `{css}` on the step-up page:\n{}",
                rig.c.source().await.unwrap()
            );
        }
        click_passkey_button(&rig.c, "button#passkey-verify", "Use a passkey").await;
        let code = code_at_callback(&rig).await;
        let raised = id_token(&rig, &code, &verifier).await;
        assert_eq!(raised["acr"], ACR_PHISHING_RESISTANT, "{raised}");
        assert_eq!(
            raised["amr"],
            json!(["pwd", "hwk", "user", "mfa"]),
            "{raised}"
        );
        assert_eq!(
            raised["auth_time"], first["auth_time"],
            "auth_time is the password's"
        );
        assert_eq!(raised["sid"], first["sid"], "the same session, raised");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_passkey_no_longer_signs_in() {
    if !browser_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = Database::new(Backend::Sqlite, dir.path()).await.unwrap();
    let rig = Rig::start(dir, &db, "").await;
    run(&rig, async {
        let id = enrol(&rig, "Laptop").await;
        let remove = element(
            &rig.c,
            &format!("li.passkey[data-id=\"{id}\"] button.passkey-remove"),
        )
        .await;
        assert_eq!(remove.text().await.unwrap(), "Remove");
        remove.click().await.expect("click Remove");
        at_done(&rig.c, "/account", "passkey-removed").await;
        assert_eq!(listed_passkeys(&rig.c).await, Vec::new());
        // The authenticator still holds it: the server forgot it.
        assert_eq!(rig.auth.credentials().await.len(), 1);
        sign_out(&rig).await;

        rig.c.goto(&rig.url("/login?next=account")).await.unwrap();
        click_passkey_button(&rig.c, "button#passkey-signin", "Sign in with a passkey").await;
        let message = "That passkey is not registered here.";
        let error = wait_until(WAIT, async || {
            let e = rig
                .c
                .find(Locator::Css("p.error:not(#passkey-error)"))
                .await
                .ok()?;
            let text = e.text().await.ok()?;
            text.contains(message).then_some(text)
        })
        .await;
        let at = state(&rig.c).await;
        assert!(error.is_some(), "no {message:?}; {at}");
        let url = rig.c.current_url().await.unwrap();
        assert!(url.path().starts_with("/login"), "still signing in: {url}");
        // Not signed in: the account page asks for the password.
        rig.c.goto(&rig.url("/account")).await.unwrap();
        element(&rig.c, "input#password").await;
    })
    .await;
}

/// The login page offers the passkey in the browser's autofill
/// (conditional mediation): with a browser that answers it — the virtual
/// authenticator picks the one passkey as a person picks it from the
/// username field's suggestions — the page signs in without a click.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_login_page_offers_the_passkey_in_autofill() {
    if !browser_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = Database::new(Backend::Sqlite, dir.path()).await.unwrap();
    let rig = Rig::start(dir, &db, "").await;
    run(&rig, async {
        enrol(&rig, "Laptop").await;
        sign_out(&rig).await;
        rig.c
            .goto(&rig.url("/login?next=account&autofill=1"))
            .await
            .unwrap();
        at_path(&rig.c, &rig.s.base, "/account").await;
        let listed = listed_passkeys(&rig.c).await;
        assert!(listed[0].1.contains("Last used"), "{listed:?}");
        let sessions = element(&rig.c, "section[aria-labelledby=\"sessions\"]").await;
        let text = sessions.text().await.unwrap();
        assert!(
            text.contains("passkey"),
            "signed in with the passkey: {text}"
        );
        assert!(!text.contains("password and"), "{text}");
    })
    .await;
}

/// Passkeys turned off after users added them (here: the server moves to
/// an issuer that cannot host WebAuthn): a user whose only second factor
/// is a passkey is not stuck at a step with nothing to press — the second
/// step offers an authenticator app instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn turning_passkeys_off_leaves_their_users_a_way_in() {
    if !browser_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = Database::new(Backend::Sqlite, dir.path()).await.unwrap();
    let mut rig = Rig::start(dir, &db, "").await;
    run(&rig, async {
        enrol(&rig, "Laptop").await;
    })
    .await;
    // The same data on http://127.0.0.1:PORT: passkeys are off there.
    rig.s.restart("");
    let b = crate::browser::Browser::new(&rig.s);
    let login = crate::browser::page(b.get(&rig.s.url("/login?next=account")).await);
    assert!(!login.body.contains("passkey-signin"), "{}", login.body);
    let step = crate::browser::page(
        b.post(
            "/login",
            &[
                ("csrf", &login.input("csrf").unwrap()),
                ("request", ""),
                ("next", "account"),
                ("username", ALICE.0),
                ("password", ALICE.1),
            ],
        )
        .await,
    );
    assert_eq!(step.status, 200, "{}", step.body);
    assert!(
        step.body.contains("<svg role=\"img\""),
        "an authenticator app to set up instead: {}",
        step.body
    );
    assert!(!step.body.contains("passkey-verify"), "{}", step.body);
}
