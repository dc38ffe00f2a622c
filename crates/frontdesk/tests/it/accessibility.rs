//! Pages for people: the error page a person lands on, and accessibility
//! by test.
//!
//! - `error_pages_for_people` (plain HTTP): a refused authorization request
//!   is a page, never a redirect, that says what happened and what to do,
//!   folds the developer detail (the OAuth code and description) into a
//!   `<details>` section, shows the request id — the response's
//!   `X-Request-Id` — and logs the detail under that id; it repeats none of
//!   the request's own values.
//! - `pages_pass_axe_in_light_and_dark_mode` (a real browser): headless
//!   Chromium through ChromeDriver (real_browser.rs) opens the error page
//!   (unknown `client_id`), the forgot-password page, the registration page
//!   (empty and with a form error), the login page (empty and with a form
//!   error), the consent page, the account page and the logout
//!   confirmation, once with `prefers-color-scheme: light` and once with
//!   `dark` (CDP `Emulation.setEmulatedMedia`), injects axe-core and runs
//!   it with the WCAG 2.0, 2.1 and 2.2 A and AA rules. Any violation fails
//!   the test with its rule, help text and elements. axe does not measure
//!   the focus ring or input borders (WCAG 1.4.11), so the test reads their
//!   computed colours and checks 3:1 against the card itself.
//!
//! axe-core is the npm package `axe-core`, read from `FRONTDESK_TEST_AXE`
//! (a path to `axe.min.js`; set, the file must be there, as in CI) or from
//! `~/.cache/frontdesk-axe/node_modules/axe-core/axe.min.js`, where
//! `.ci/run` and `scripts/test.sh` install it (`npm install --prefix
//! ~/.cache/frontdesk-axe axe-core@4`). Without it, or without Chromium
//! (unless `FRONTDESK_TEST_BROWSER=required`), the browser test says it
//! skipped.

use std::path::PathBuf;
use std::time::Duration;

use fantoccini::Client;
use serde_json::{Value, json};

use crate::both;
use crate::browser::{ALICE, APP1_CB, SIGNIN_CONFIG, authorize_url, pkce};
use crate::real_browser::{Driver, browser_available, element};
use crate::support::{Database, Server, wait_until};

/// The environment variable naming axe.min.js; when set, the file must exist.
const AXE_ENV: &str = "FRONTDESK_TEST_AXE";
/// axe-core's rule tags for WCAG 2.0, 2.1 and 2.2 at levels A and AA (2.2
/// added AA rules only).
const WCAG_TAGS: [&str; 5] = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"];
/// How long one colour scheme's walk through the pages may take.
const WALK: Duration = Duration::from_secs(120);

/// The server of both tests: the sign-in clients, with self-registration.
fn config() -> String {
    format!(
        "{SIGNIN_CONFIG}
[[clients]]
client_id = \"staff-only\"
client_secret = \"staff-only-secret-0123456789abcdef\"
client_name = \"Staff Only\"
grant_types = [\"authorization_code\"]
redirect_uris = [\"https://staff.example.com/cb\"]
scope = \"openid\"
required_groups = [\"staff\"]

[features]
registration = true
"
    )
}

// ----- the error page, over HTTP -----

/// A value of `headers` as text.
fn header(h: &reqwest::header::HeaderMap, name: &str) -> String {
    h.get(name)
        .unwrap_or_else(|| panic!("no {name} header in {h:?}"))
        .to_str()
        .unwrap()
        .to_owned()
}

async fn error_pages_for_people(s: &Server) {
    let (_, challenge) = pkce();
    // An unknown client, and a registered client with a redirect URI it
    // never registered: neither may send the browser anywhere.
    let cases = [
        (
            "unknown client_id",
            authorize_url(
                s,
                "no-such-app",
                "https://evil.example/cb",
                "openid",
                &challenge,
                &[("login_hint", "hint-value-of-the-caller")],
            ),
            "unknown client",
        ),
        (
            "unregistered redirect_uri",
            authorize_url(
                s,
                "app1",
                "https://evil.example/cb",
                "openid",
                &challenge,
                &[("login_hint", "hint-value-of-the-caller")],
            ),
            "redirect_uri is not registered for this client",
        ),
    ];
    let mut ids = Vec::new();
    for (what, url, detail) in cases {
        // A caller's own request id is not taken.
        let r = s
            .http
            .get(&url)
            .header("x-request-id", "chosen-by-the-caller")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{what}");
        assert!(r.headers().get("location").is_none(), "{what}: redirected");
        let id = header(r.headers(), "x-request-id");
        assert!(
            id.len() >= 16 && id.chars().all(|c| c.is_ascii_alphanumeric()),
            "{what}: request id {id:?}"
        );
        let body = r.text().await.unwrap();
        // For the person: what happened, what to do, the id to quote.
        assert!(
            body.contains("<h1>This sign-in link is not valid</h1>"),
            "{what}: {body}"
        );
        assert!(body.contains("Go back to the app"), "{what}: {body}");
        assert!(
            body.contains(&format!("<code class=\"request-id\">{id}</code>")),
            "{what}: the page's request id is the header's ({id}): {body}"
        );
        // For the developers, folded away: the detail and the code.
        let details = body
            .split_once("<details class=\"detail\">")
            .and_then(|(_, rest)| rest.split_once("</details>"))
            .map(|(inside, _)| inside)
            .unwrap_or_else(|| panic!("{what}: no <details> section: {body}"));
        assert!(details.contains(detail), "{what}: {details}");
        assert!(
            details.contains("<code>invalid_request</code>"),
            "{what}: {details}"
        );
        let before = body.split_once("<details").map_or("", |(b, _)| b);
        assert!(
            !before.contains(detail),
            "{what}: the developer detail is folded away, not in the person's text: {body}"
        );
        // Nothing of the request comes back.
        for echoed in [
            "evil.example",
            "hint-value-of-the-caller",
            &challenge,
            "chosen-by-the-caller",
        ] {
            assert!(!body.contains(echoed), "{what}: {echoed} on the page");
        }
        ids.push((what, id, detail));
    }

    // The log has the detail, under the id on the page, and nothing of the
    // request's values.
    for (what, id, detail) in &ids {
        let line = wait_until(Duration::from_secs(5), async || {
            s.log()
                .lines()
                .find(|l| l.contains("error page shown") && l.contains(id.as_str()))
                .map(str::to_owned)
        })
        .await
        .unwrap_or_else(|| panic!("{what}: no log line for request {id}:\n{}", s.log()));
        assert!(line.contains(detail), "{what}: {line}");
        assert!(line.contains("invalid_request"), "{what}: {line}");
    }
    let log = s.log();
    for echoed in [
        "hint-value-of-the-caller",
        challenge.as_str(),
        "chosen-by-the-caller",
    ] {
        assert!(!log.contains(echoed), "{echoed} in the log:\n{log}");
    }
}
both!(error_pages_for_people, &config());

// ----- axe-core in a real browser -----

/// Where `.ci/run` and `scripts/test.sh` install axe-core.
fn default_axe() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cache/frontdesk-axe/node_modules/axe-core/axe.min.js"))
}

/// axe-core's source, or `None` (with a line on stderr) when it is not
/// installed and `FRONTDESK_TEST_AXE` does not ask for it.
fn axe_source() -> Option<String> {
    if let Some(path) = std::env::var_os(AXE_ENV) {
        let path = PathBuf::from(path);
        return Some(std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{AXE_ENV}={} cannot be read ({e}); install it with \
                 `npm install --prefix ~/.cache/frontdesk-axe axe-core@4`",
                path.display()
            )
        }));
    }
    let path = default_axe();
    match path.as_ref().map(std::fs::read_to_string) {
        Some(Ok(source)) => Some(source),
        _ => {
            eprintln!(
                "skipped: axe-core not found at {} (npm install --prefix ~/.cache/frontdesk-axe \
                 axe-core@4, or set {AXE_ENV} to axe.min.js)",
                path.map_or_else(
                    || "~/.cache/frontdesk-axe".to_owned(),
                    |p| p.display().to_string()
                )
            );
            None
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Scheme {
    Light,
    Dark,
}

impl Scheme {
    fn name(self) -> &'static str {
        match self {
            Scheme::Light => "light",
            Scheme::Dark => "dark",
        }
    }

    /// The page background style.css gives the scheme (`--bg`).
    fn background(self) -> &'static str {
        match self {
            Scheme::Light => "rgb(243, 245, 249)",
            Scheme::Dark => "rgb(15, 19, 27)",
        }
    }
}

/// A command of the Chrome DevTools Protocol, through ChromeDriver.
async fn cdp(driver: &Driver, c: &Client, cmd: &str, params: Value) {
    let session = c
        .session_id()
        .await
        .expect("session id")
        .expect("a WebDriver session");
    let r = reqwest::Client::new()
        .post(format!("{}/session/{session}/goog/cdp/execute", driver.url))
        .json(&json!({ "cmd": cmd, "params": params }))
        .send()
        .await
        .unwrap_or_else(|e| panic!("CDP {cmd}: {e}"));
    let status = r.status();
    let body = r.text().await.unwrap_or_default();
    assert_eq!(status, 200, "CDP {cmd}: {body}");
}

/// What the walk found: one entry per problem, for one failure message.
struct Findings {
    scheme: Scheme,
    axe: String,
    problems: Vec<String>,
    pages: usize,
}

impl Findings {
    /// Checks the page the browser shows: the emulated scheme is in effect,
    /// then axe-core's WCAG A/AA rules.
    async fn audit(&mut self, c: &Client, page: &str) {
        let what = format!("{} mode, {page}", self.scheme.name());
        let seen = c
            .execute(
                "return [matchMedia('(prefers-color-scheme: dark)').matches, \
                 getComputedStyle(document.body).backgroundColor];",
                vec![],
            )
            .await
            .expect("read the colour scheme");
        assert_eq!(
            seen,
            json!([
                matches!(self.scheme, Scheme::Dark),
                self.scheme.background()
            ]),
            "{what}: the emulated colour scheme is not in effect"
        );
        // The developer detail of an error page is checked unfolded.
        c.execute(
            "document.querySelectorAll('details').forEach(d => { d.open = true; });",
            vec![],
        )
        .await
        .expect("open <details>");
        c.execute(&self.axe, vec![]).await.expect("inject axe-core");
        let result = c
            .execute_async(
                "const done = arguments[arguments.length - 1];\
                 axe.run(document, { runOnly: { type: 'tag', values: arguments[0] }, \
                                     resultTypes: ['violations'] })\
                   .then(r => done({ violations: r.violations.map(v => ({\
                       id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,\
                       nodes: v.nodes.map(n => ({ target: n.target, html: n.html,\
                                                  summary: n.failureSummary })) })) }))\
                   .catch(e => done({ error: String(e) }));",
                vec![json!(WCAG_TAGS)],
            )
            .await
            .expect("run axe-core");
        if let Some(e) = result.get("error") {
            panic!("{what}: axe-core failed: {e}");
        }
        let violations = result["violations"]
            .as_array()
            .unwrap_or_else(|| panic!("{what}: axe-core answered {result}"));
        for v in violations {
            let nodes: Vec<String> = v["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|n| {
                    format!(
                        "      {} {}\n        {}",
                        n["target"],
                        n["html"].as_str().unwrap_or_default(),
                        n["summary"]
                            .as_str()
                            .unwrap_or_default()
                            .replace('\n', "\n        ")
                    )
                })
                .collect();
            self.problems.push(format!(
                "{what}: {} ({}): {} <{}>\n{}",
                v["id"].as_str().unwrap_or_default(),
                v["impact"].as_str().unwrap_or_default(),
                v["help"].as_str().unwrap_or_default(),
                v["helpUrl"].as_str().unwrap_or_default(),
                nodes.join("\n")
            ));
        }
        self.pages += 1;
    }

    /// WCAG 1.4.11 for what axe does not measure: the focus ring of the
    /// focused element and the border of `input` against the card, 3:1.
    async fn focus_and_borders(&mut self, c: &Client, page: &str, input: &str, focused: &str) {
        let what = format!("{} mode, {page}", self.scheme.name());
        let seen = c
            .execute(
                "const card = getComputedStyle(document.querySelector('main.card')).backgroundColor;\
                 const input = getComputedStyle(document.querySelector(arguments[0])).borderTopColor;\
                 const f = document.activeElement;\
                 const s = getComputedStyle(f);\
                 return { card, input, focused: f.tagName + (f.id ? '#' + f.id : ''),\
                          outlineStyle: s.outlineStyle, outlineWidth: s.outlineWidth,\
                          outlineColor: s.outlineColor };",
                vec![json!(input)],
            )
            .await
            .expect("read the focus ring");
        let colour = |k: &str| {
            parse_rgba(seen[k].as_str().unwrap_or_default())
                .unwrap_or_else(|| panic!("{what}: {k} is not a colour: {seen}"))
        };
        let card_rgba = colour("card");
        assert_eq!(card_rgba[3], 1.0, "{what}: the card is not opaque: {seen}");
        let card = over(card_rgba, card_rgba);
        assert_eq!(seen["focused"], focused, "{what}: focus is elsewhere");
        let border = contrast(over(colour("input"), card_rgba), card);
        if border < 3.0 {
            self.problems.push(format!(
                "{what}: the border of {input} has {border:.2}:1 against the card (needs 3:1): {seen}"
            ));
        }
        let width: f64 = seen["outlineWidth"]
            .as_str()
            .and_then(|w| w.strip_suffix("px"))
            .and_then(|w| w.parse().ok())
            .unwrap_or(0.0);
        if seen["outlineStyle"] == "none" || width < 2.0 {
            self.problems.push(format!(
                "{what}: focused {focused} has no visible focus ring: {seen}"
            ));
        } else {
            let ring = contrast(over(colour("outlineColor"), card_rgba), card);
            if ring < 3.0 {
                self.problems.push(format!(
                    "{what}: the focus ring of {focused} has {ring:.2}:1 against the card (needs 3:1): {seen}"
                ));
            }
        }
    }
}

/// `rgb(r, g, b)` or `rgba(r, g, b, a)`, as computed styles give colours:
/// red, green, blue and alpha.
fn parse_rgba(s: &str) -> Option<[f64; 4]> {
    let inner = s
        .strip_prefix("rgba(")
        .or_else(|| s.strip_prefix("rgb("))?
        .strip_suffix(')')?;
    let parts: Vec<f64> = inner
        .split(',')
        .map(|p| p.trim().parse().ok())
        .collect::<Option<_>>()?;
    match parts[..] {
        [r, g, b] => Some([r, g, b, 1.0]),
        [r, g, b, a] => Some([r, g, b, a]),
        _ => None,
    }
}

/// `c` as seen over the opaque `under`.
fn over(c: [f64; 4], under: [f64; 4]) -> [f64; 3] {
    let a = c[3].clamp(0.0, 1.0);
    [0, 1, 2].map(|i| c[i] * a + under[i] * (1.0 - a))
}

/// WCAG 2.2's contrast ratio of two sRGB colours.
fn contrast(a: [f64; 3], b: [f64; 3]) -> f64 {
    let luminance = |c: [f64; 3]| {
        let lin = |v: f64| {
            let v = v / 255.0;
            if v <= 0.04045 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2])
    };
    let (x, y) = (luminance(a), luminance(b));
    (x.max(y) + 0.05) / (x.min(y) + 0.05)
}

/// The form error is the fields' description: `aria-describedby` of every
/// field in `fields` names the element that holds `message`.
async fn assert_error_linked(c: &Client, what: &str, fields: &[&str], message: &str) {
    for field in fields {
        let described = c
            .execute(
                "const f = document.querySelector(arguments[0]);\
                 const ids = (f.getAttribute('aria-describedby') || '').split(/\\s+/);\
                 return { invalid: f.getAttribute('aria-invalid'),\
                          text: ids.map(i => document.getElementById(i))\
                                   .filter(e => e).map(e => e.textContent).join(' ') };",
                vec![json!(field)],
            )
            .await
            .expect("read aria-describedby");
        assert!(
            described["text"]
                .as_str()
                .is_some_and(|t| t.contains(message)),
            "{what}: {field} is not described by the error {message:?}: {described}"
        );
        assert_eq!(described["invalid"], "true", "{what}: {field}");
    }
}

/// Fills the fields (`css`, text) of a form and presses `submit`.
async fn fill_and_submit(c: &Client, fields: &[(&str, &str)], submit: &str) {
    for (css, text) in fields {
        let e = element(c, css).await;
        e.clear().await.expect("clear a field");
        e.send_keys(text).await.expect("type into a field");
    }
    element(c, submit).await.click().await.expect("submit");
}

/// Every page of the walk, in one colour scheme.
async fn walk(c: &Client, s: &Server, f: &mut Findings) {
    let scheme = f.scheme.name();
    c.goto(&s.url("/")).await.ok();
    c.delete_all_cookies().await.expect("delete cookies");

    // The error page: an unknown client (never a redirect).
    let (_, challenge) = pkce();
    c.goto(&authorize_url(
        s,
        "no-such-app",
        APP1_CB,
        "openid",
        &challenge,
        &[],
    ))
    .await
    .expect("open the error page");
    element(c, "details.detail").await;
    f.audit(c, "error page (unknown client_id)").await;

    c.goto(&s.url("/forgot")).await.expect("open /forgot");
    element(c, "input#login").await;
    f.audit(c, "forgot-password page").await;

    c.goto(&s.url("/register")).await.expect("open /register");
    element(c, "input#username").await;
    f.audit(c, "registration page").await;
    fill_and_submit(
        c,
        &[
            ("input#username", &format!("newcomer-{scheme}")),
            ("input#email", &format!("newcomer-{scheme}@example.com")),
            ("input#password", "a long enough password 1"),
            ("input#confirm", "another long password 2"),
        ],
        "form[action=\"/register\"] button[type=\"submit\"]",
    )
    .await;
    element(c, "p#form-error").await;
    assert_error_linked(
        c,
        "registration form",
        &[
            "input#username",
            "input#email",
            "input#password",
            "input#confirm",
        ],
        "The two passwords differ",
    )
    .await;
    f.audit(c, "registration page with a form error").await;

    // The login page, from an application's authorization request.
    let url = authorize_url(s, "app1", APP1_CB, "openid profile email", &challenge, &[]);
    c.goto(&url).await.expect("open the authorization URL");
    element(c, "input#username").await;
    f.audit(c, "login page").await;
    // The focus ring of a field, then (Tab from the password field, so by
    // keyboard) of the submit button.
    element(c, "input#username")
        .await
        .click()
        .await
        .expect("focus the username field");
    f.focus_and_borders(
        c,
        "login page (focused field)",
        "input#username",
        "INPUT#username",
    )
    .await;
    let password = element(c, "input#password").await;
    password.click().await.expect("focus the password field");
    password.send_keys("\u{e004}").await.expect("Tab");
    f.focus_and_borders(c, "login page (focused button)", "input#password", "BUTTON")
        .await;

    fill_and_submit(
        c,
        &[
            ("input#username", ALICE.0),
            ("input#password", "not the password"),
        ],
        "form[action=\"/login\"] button[type=\"submit\"]",
    )
    .await;
    element(c, "p#form-error").await;
    assert_error_linked(
        c,
        "login form",
        &["input#username", "input#password"],
        "Incorrect username or password",
    )
    .await;
    f.audit(c, "login page with a form error").await;

    fill_and_submit(
        c,
        &[("input#username", ALICE.0), ("input#password", ALICE.1)],
        "form[action=\"/login\"] button[type=\"submit\"]",
    )
    .await;
    element(c, "button[name=\"decision\"][value=\"approve\"]").await;
    f.audit(c, "consent page").await;

    // Signed in, at a client whose required groups alice is not in.
    c.goto(&authorize_url(
        s,
        "staff-only",
        "https://staff.example.com/cb",
        "openid",
        &challenge,
        &[],
    ))
    .await
    .expect("open the staff-only client");
    element(c, "form[action=\"/logout\"] button[type=\"submit\"]").await;
    f.audit(c, "no-access page (required groups)").await;

    c.goto(&s.url("/account")).await.expect("open /account");
    element(c, "form[action=\"/account/password\"]").await;
    f.audit(c, "account page").await;

    c.goto(&s.url("/logout")).await.expect("open /logout");
    element(c, "form[action=\"/logout\"] button[type=\"submit\"]").await;
    f.audit(c, "logout confirmation page").await;
}

async fn pages_pass_axe_in_light_and_dark_mode(dir: tempfile::TempDir, db: Database) {
    if !browser_available() {
        return;
    }
    let Some(axe) = axe_source() else {
        return;
    };
    let s = Server::start_in(dir, &db.url, &config());
    let procs = tempfile::tempdir().unwrap();
    let driver = Driver::start(procs.path()).await;
    let profile = procs.path().join("chromium-profile");
    std::fs::create_dir_all(&profile).unwrap();
    let c = driver.session(&profile).await;

    let mut report = Vec::new();
    let mut pages = 0;
    for scheme in [Scheme::Light, Scheme::Dark] {
        cdp(
            &driver,
            &c,
            "Emulation.setEmulatedMedia",
            json!({ "features": [{ "name": "prefers-color-scheme", "value": scheme.name() }] }),
        )
        .await;
        let mut f = Findings {
            scheme,
            axe: axe.clone(),
            problems: Vec::new(),
            pages: 0,
        };
        let run = tokio::time::timeout(WALK, walk(&c, &s, &mut f)).await;
        if run.is_err() {
            let _ = c.close().await;
            panic!(
                "{} mode: the walk through the pages timed out\nfrontdesk:\n{}\nchromedriver:\n{}",
                scheme.name(),
                s.log(),
                driver.log()
            );
        }
        pages += f.pages;
        report.extend(f.problems);
    }
    let _ = c.close().await;
    assert_eq!(pages, 20, "ten pages in each scheme");
    assert!(
        report.is_empty(),
        "{} accessibility problem(s) at WCAG 2.2 AA:\n{}",
        report.len(),
        report.join("\n")
    );
    eprintln!("axe-core: {pages} pages, no violations, light and dark");
}
both!(with_db pages_pass_axe_in_light_and_dark_mode);
