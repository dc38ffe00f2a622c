//! Sign in with another identity provider: frontdesk B brokers sign-in to
//! an upstream OpenID Connect provider A, which is a second real `frontdesk
//! serve` (issuer `http://localhost:PORT`, so the two servers' cookies never
//! mix), over real HTTP. Accounts provisioned then found again, forged and
//! replayed callbacks, forged ID tokens (through a tampering proxy that is
//! A's public address), matching by e-mail address, an invite-only
//! upstream, `upstream_hint`, linking on the account page, a sign-in
//! cancelled at A, an unreachable upstream, and upstreams added and
//! removed at run time through the admin API and the CLI.

use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::Response;
use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;

use crate::both;
use crate::browser::{
    ALICE, APP1, APP1_CB, Page, SIGNIN_CONFIG, authorize_url, pkce, query, unescape,
};
use crate::support::{Backend, Database, Server, basic_header, free_port, jwt_parts};

/// `downstream`'s secret at A, which B's configuration carries.
const SECRET: &str = "downstream-secret-0123456789abcdef";
pub(crate) const CAROL: (&str, &str) = ("carol", "carol-password-0123456789");
const DAN: (&str, &str) = ("dan", "dan-password-0123456789");
const BOBBY: (&str, &str) = ("bobby", "bobby-password-0123456789");
const ERIN: (&str, &str) = ("erin", "erin-password-0123456789");
/// A's other client, for an ID token with another audience.
const OTHER: (&str, &str) = ("other", "other-secret-0123456789abcdef");
const OTHER_CB: &str = "https://other.example.com/cb";
/// The key-encryption key of A and of a second node of A (another issuer
/// on the same database and keys).
const KEK: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

/// A's users, besides BASE_CONFIG's alice (alice@example.com, verified,
/// the same address as B's alice). bobby claims B's bob's address, which
/// bob never verified at B; erin claims B's erin's address, unverified.
const UPSTREAM_USERS: &str = r#"
[[users]]
username = "carol"
password = "carol-password-0123456789"
email = "carol@hotel.example"
email_verified = true
name = "Carol Guest"

[[users]]
username = "dan"
password = "dan-password-0123456789"
email = "dan@hotel.example"
email_verified = true
name = "Dan Guest"

[[users]]
username = "bobby"
password = "bobby-password-0123456789"
email = "bob@example.com"
email_verified = true
name = "Bobby Hotel"

[[users]]
username = "erin"
password = "erin-password-0123456789"
email = "erin@example.com"
email_verified = false
name = "Erin Hotel"
"#;

// ----- the two servers -----

/// A on SQLite in its own directory: `top` (top-level keys), then
/// [`UPSTREAM_USERS`].
pub(crate) async fn upstream_server(top: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::new(Backend::Sqlite, dir.path()).await.unwrap();
    Server::start_localhost(dir, &db.url, &format!("{top}\n{UPSTREAM_USERS}"))
}

/// B's `[[upstreams]]` entry for the provider at `issuer`, plus `keys`.
fn upstream_entry(id: &str, name: &str, issuer: &str, client_id: &str, keys: &str) -> String {
    format!(
        r#"
[[upstreams]]
id = "{id}"
display_name = "{name}"
issuer = "{issuer}"
client_id = "{client_id}"
client_secret = "{SECRET}"
{keys}
"#
    )
}

/// The usual entry: `hotel`, "Hotel Group SSO", client `downstream`.
pub(crate) fn hotel(issuer: &str, keys: &str) -> String {
    upstream_entry("hotel", "Hotel Group SSO", issuer, "downstream", keys)
}

/// B: SIGNIN_CONFIG plus `more` (its upstreams, more users).
pub(crate) fn downstream_server(dir: tempfile::TempDir, db: &Database, more: &str) -> Server {
    Server::start_in(dir, &db.url, &format!("{SIGNIN_CONFIG}\n{more}"))
}

/// Registers at A the client B's upstream `upstream` uses.
pub(crate) async fn register(
    a: &Server,
    client_id: &str,
    b: &Server,
    upstream: &str,
    first_party: bool,
) {
    let r = a
        .admin_req(
            Method::POST,
            "/admin/clients",
            Some(json!({
                "client_id": client_id,
                "client_secret": SECRET,
                "client_name": "Downstream",
                "grant_types": ["authorization_code"],
                "redirect_uris": [b.url(&format!("/upstream/{upstream}/callback"))],
                "scope": "openid email profile",
                "first_party": first_party,
            })),
        )
        .await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "register {client_id} at A: {body}");
}

/// A, B, and A's public address (its issuer). On a failing test, both
/// servers' logs are printed.
struct Rig {
    a: Server,
    b: Server,
    /// A's issuer: `a.base`, or the tampering proxy in front of it.
    up: String,
}

impl Drop for Rig {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "upstream (A) log:\n{}\ndownstream (B) log:\n{}",
                self.a.log(),
                self.b.log()
            );
        }
    }
}

impl Rig {
    /// A, then B on `db` with the upstream `hotel` (plus `keys`), then
    /// `downstream` registered at A.
    async fn start(dir: tempfile::TempDir, db: &Database, keys: &str, first_party: bool) -> Rig {
        let a = upstream_server("").await;
        let b = downstream_server(dir, db, &hotel(&a.base, keys));
        register(&a, "downstream", &b, "hotel", first_party).await;
        let up = a.base.clone();
        Rig { a, b, up }
    }

    /// A new browser.
    fn agent(&self) -> Agent {
        Agent::new(&[self.up.as_str(), self.b.base.as_str()])
    }

    /// The user B's admin API lists with `sub`.
    async fn b_user(&self, sub: &str) -> Value {
        users(&self.b)
            .await
            .into_iter()
            .find(|u| u["sub"] == sub)
            .unwrap_or_else(|| panic!("no user {sub} at B"))
    }
}

/// Every user B's (or A's) admin API lists.
async fn users(s: &Server) -> Vec<Value> {
    let r = s.admin_req(Method::GET, "/admin/users", None).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["next_cursor"], Value::Null, "one page: {body}");
    body["users"].as_array().unwrap().clone()
}

/// The `sub` of `username` at `s`.
async fn sub_of(s: &Server, username: &str) -> String {
    let r = s
        .admin_req(Method::GET, &format!("/admin/users/{username}"), None)
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    body["sub"].as_str().unwrap().to_owned()
}

// ----- one browser across both servers -----

/// Where a walk through the servers' redirects ended.
enum Hop {
    /// A page (any status but a redirect) at A or B, and its URL.
    Page(Url, Page),
    /// A redirect out of both servers, or to the path the walk stops at.
    Redirect(Url),
}

impl Hop {
    fn page(self) -> (Url, Page) {
        match self {
            Hop::Page(at, p) => (at, p),
            Hop::Redirect(u) => panic!("expected a page, got a redirect to {u}"),
        }
    }

    fn redirect(self) -> Url {
        match self {
            Hop::Redirect(u) => u,
            Hop::Page(at, p) => panic!("expected a redirect, got {} at {at}: {}", p.status, p.body),
        }
    }
}

fn origin(base: &str) -> url::Origin {
    Url::parse(base).unwrap().origin()
}

/// The absolute URL a redirect sends the browser to.
fn location(r: &reqwest::Response) -> Url {
    let loc = r
        .headers()
        .get(header::LOCATION)
        .unwrap_or_else(|| panic!("{} from {} has no Location", r.status(), r.url()))
        .to_str()
        .unwrap();
    r.url().join(loc).unwrap()
}

/// One simulated browser: one cookie jar for both servers (cookies are per
/// host: A is `localhost`, B `127.0.0.1`).
struct Agent {
    http: reqwest::Client,
    inside: Vec<url::Origin>,
}

impl Agent {
    fn new(bases: &[&str]) -> Agent {
        Agent {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            inside: bases.iter().map(|b| origin(b)).collect(),
        }
    }

    /// Follows 303s (relative ones against the server that sent them)
    /// until a page, a redirect out of both servers, or one to `stop` (a
    /// path).
    async fn follow(&self, mut resp: reqwest::Response, stop: Option<&str>) -> Hop {
        for _ in 0..12 {
            let at = resp.url().clone();
            if !resp.status().is_redirection() {
                let status = resp.status();
                let headers = resp.headers().clone();
                let body = resp.text().await.unwrap();
                return Hop::Page(
                    at,
                    Page {
                        status,
                        headers,
                        body,
                    },
                );
            }
            assert_eq!(
                resp.status(),
                StatusCode::SEE_OTHER,
                "frontdesk redirects with 303 ({at})"
            );
            let next = location(&resp);
            if !self.inside.contains(&next.origin()) || stop.is_some_and(|p| next.path() == p) {
                return Hop::Redirect(next);
            }
            resp = self.http.get(next).send().await.unwrap();
        }
        panic!("redirect loop");
    }

    /// `GET url`, not followed.
    async fn raw(&self, url: &str) -> reqwest::Response {
        self.http.get(url).send().await.unwrap()
    }

    async fn get(&self, url: &str) -> Hop {
        self.get_until(url, None).await
    }

    async fn get_until(&self, url: &str, stop: Option<&str>) -> Hop {
        let resp = self.raw(url).await;
        self.follow(resp, stop).await
    }

    async fn post(&self, url: &Url, form: &[(&str, &str)], stop: Option<&str>) -> Hop {
        let resp = self.http.post(url.clone()).form(form).send().await.unwrap();
        self.follow(resp, stop).await
    }

    /// Fills the login page `p` (at `at`) with `user`.
    async fn login(&self, at: &Url, p: &Page, user: (&str, &str), stop: Option<&str>) -> Hop {
        let csrf = p.input("csrf").expect("csrf field");
        let request = p.input("request").unwrap_or_default();
        let next = p.input("next").unwrap_or_default();
        let form = [
            ("csrf", csrf.as_str()),
            ("request", request.as_str()),
            ("next", next.as_str()),
            ("username", user.0),
            ("password", user.1),
        ];
        self.post(&at.join("/login").unwrap(), &form, stop).await
    }

    /// Answers the consent page `p` (at `at`).
    async fn consent(&self, at: &Url, p: &Page, decision: &str, stop: Option<&str>) -> Hop {
        let csrf = p.input("csrf").expect("csrf field");
        let request = p.input("request").expect("request field");
        let form = [
            ("csrf", csrf.as_str()),
            ("request", request.as_str()),
            ("decision", decision),
        ];
        self.post(&at.join("/consent").unwrap(), &form, stop).await
    }

    /// From `hop`: signs in at the upstream (public address `up`) as
    /// `user` and approves its consent page, whichever appear, until the
    /// walk leaves the upstream.
    async fn at_upstream(
        &self,
        up: &str,
        mut hop: Hop,
        user: (&str, &str),
        stop: Option<&str>,
    ) -> Hop {
        let up = origin(up);
        for _ in 0..4 {
            hop = match &hop {
                Hop::Page(at, p) if at.origin() == up => {
                    assert_eq!(p.status, 200, "at the upstream {at}: {}", p.body);
                    if p.body.contains("name=\"password\"") {
                        self.login(at, p, user, stop).await
                    } else if p.body.contains("action=\"/consent\"") {
                        self.consent(at, p, "approve", stop).await
                    } else if p.body.contains("document.forms[0].submit();") {
                        // A form post's answer: the caller submits it.
                        return hop;
                    } else {
                        panic!("unexpected page at the upstream {at}: {}", p.body)
                    }
                }
                _ => return hop,
            };
        }
        panic!("the upstream sign-in did not finish");
    }

    /// `GET url`, then [`Agent::at_upstream`].
    async fn through(&self, up: &str, url: &str, user: (&str, &str), stop: Option<&str>) -> Hop {
        let hop = self.get_until(url, stop).await;
        self.at_upstream(up, hop, user, stop).await
    }

    /// From `hop`: approves B's consent page for app1 if it is shown; the
    /// redirect to app1.
    async fn to_app1(&self, b: &Server, mut hop: Hop) -> Url {
        for _ in 0..2 {
            hop = match hop {
                Hop::Redirect(u) => {
                    assert!(u.as_str().starts_with(APP1_CB), "{u}");
                    return u;
                }
                Hop::Page(at, p) => {
                    assert!(
                        at.origin() == origin(&b.base)
                            && p.status == 200
                            && p.body.contains("action=\"/consent\""),
                        "expected B's consent page, got {} at {at}: {}",
                        p.status,
                        p.body
                    );
                    self.consent(&at, &p, "approve", None).await
                }
            };
        }
        panic!("no redirect to app1");
    }

    /// Whether B signed this browser in: its account page, or the login.
    async fn signed_in_at(&self, b: &Server) -> bool {
        let r = self.raw(&b.url("/account")).await;
        match r.status().as_u16() {
            200 => true,
            303 => {
                assert_eq!(r.headers()[header::LOCATION], "/login?next=account");
                false
            }
            other => panic!("GET /account: {other}"),
        }
    }
}

// ----- pages -----

/// The login page's button for upstream `id`: its href (HTML-unescaped)
/// and its label.
fn upstream_button(body: &str, id: &str) -> Option<(String, String)> {
    let marker = "<a class=\"button upstream\" href=\"";
    let path = format!("/upstream/{id}/start");
    body.match_indices(marker).find_map(|(at, _)| {
        let rest = &body[at + marker.len()..];
        let end = rest.find('"')?;
        let href = unescape(&rest[..end]);
        let label = rest[end..].strip_prefix("\">")?;
        let label = &label[..label.find("</a>")?];
        // Past the icon, if the button has one.
        let label = match label.strip_prefix("<img ") {
            Some(rest) => &rest[rest.find('>')? + 1..],
            None => label,
        };
        (href == path || href.starts_with(&format!("{path}?")))
            .then(|| (href, unescape(label.trim())))
    })
}

/// The `<form>` whose action is `action`, as HTML.
fn form<'a>(body: &'a str, action: &str) -> Option<&'a str> {
    let at = body.find(&format!("action=\"{action}\""))?;
    let start = body[..at].rfind("<form")?;
    let end = at + body[at..].find("</form>")?;
    Some(&body[start..end])
}

/// The value of the input `name` in `html`, HTML-unescaped.
fn input(html: &str, name: &str) -> Option<String> {
    let rest = &html[html.find(&format!("name=\"{name}\""))?..];
    let rest = &rest[rest.find("value=\"")? + 7..];
    Some(unescape(&rest[..rest.find('"')?]))
}

/// A refusal: an HTML page (never a redirect) with `status` and `text`.
fn refused(hop: Hop, status: u16, text: &str) -> Page {
    let (at, p) = hop.page();
    assert_eq!(p.status, status, "{at}: {}", p.body);
    assert!(p.body.contains(text), "{at}: {text:?} not in {}", p.body);
    let ct = p.headers[header::CONTENT_TYPE].to_str().unwrap();
    assert!(ct.starts_with("text/html"), "{ct}");
    p
}

/// The `fd_upstream` cookie a response sets, checked for its attributes:
/// `fd_upstream=VALUE`.
fn upstream_cookie(h: &reqwest::header::HeaderMap) -> String {
    let all: Vec<&str> = h
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    let c = all
        .iter()
        .find(|c| c.starts_with("fd_upstream="))
        .unwrap_or_else(|| panic!("no fd_upstream cookie in {all:?}"));
    let attrs: Vec<String> = c
        .split(';')
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    for want in ["httponly", "samesite=lax", "path=/", "max-age=600"] {
        assert!(attrs.iter().any(|a| a == want), "{want} in {c}");
    }
    let value = c.split(';').next().unwrap().to_owned();
    assert!(value.len() > "fd_upstream=".len(), "{c}");
    value
}

/// No `fd_session` set by `h` (a removal is fine).
fn no_session_cookie(h: &reqwest::header::HeaderMap) {
    for c in h.get_all(header::SET_COOKIE) {
        let c = c.to_str().unwrap();
        assert!(
            !c.starts_with("fd_session=") || c.starts_with("fd_session=;"),
            "a session cookie: {c}"
        );
    }
}

/// `u` with `name` set to `value`.
fn with_param(u: &Url, name: &str, value: &str) -> String {
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == name {
                value.to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    let mut out = u.clone();
    out.query_pairs_mut().clear().extend_pairs(pairs);
    out.to_string()
}

// ----- flows -----

/// `GET start` (B's start link): a 303 to A's authorization endpoint,
/// with the state cookie. Returns the URL at A and the cookie.
async fn start_flow(agent: &Agent, up: &str, start: &str) -> (Url, String) {
    let r = agent.raw(start).await;
    assert_eq!(r.status(), 303, "{start}: {:?}", r.headers());
    let to = location(&r);
    assert!(
        to.as_str().starts_with(&format!("{up}/authorize?")),
        "to A's authorization endpoint: {to}"
    );
    (to, upstream_cookie(r.headers()))
}

/// app1's sign-in at B through upstream `id` as `user`, in `agent`: the
/// claims of the ID token B issues (verified with B's keys).
async fn app1_via(agent: &Agent, rig: &Rig, id: &str, user: (&str, &str)) -> Value {
    let b = &rig.b;
    let (verifier, at, login) = app1_login(agent, b).await;
    let (href, _) = upstream_button(&login.body, id)
        .unwrap_or_else(|| panic!("no button for {id}: {}", login.body));
    let hop = agent
        .through(&rig.up, at.join(&href).unwrap().as_str(), user, None)
        .await;
    let cb = agent.to_app1(b, hop).await;
    app1_token(b, &cb, &verifier).await
}

/// app1's authorization request at B in `agent`: its PKCE verifier and
/// the login page it gets (and where).
async fn app1_login(agent: &Agent, b: &Server) -> (String, Url, Page) {
    let (verifier, challenge) = pkce();
    let url = authorize_url(b, APP1.0, APP1_CB, "openid profile email", &challenge, &[]);
    let (at, login) = agent.get(&url).await.page();
    assert_eq!(login.status, 200, "{}", login.body);
    (verifier, at, login)
}

/// Exchanges app1's code; the verified ID token's claims.
async fn app1_token(b: &Server, cb: &Url, verifier: &str) -> Value {
    let code = query(cb, "code").unwrap_or_else(|| panic!("no code in {cb}"));
    let r = b
        .post_form(
            "/token",
            Some(APP1),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", APP1_CB),
                ("code_verifier", verifier),
            ],
        )
        .await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    crate::signin::verify_id_token(b, body["id_token"].as_str().unwrap(), APP1.0).await
}

/// A sign-in started from B's start link of `id` (no authorization
/// request) in a new browser, as `user` at A: the browser and where B ends.
async fn sign_in_via(rig: &Rig, id: &str, user: (&str, &str)) -> (Agent, Page) {
    let agent = rig.agent();
    let hop = agent
        .through(
            &rig.up,
            &rig.b.url(&format!("/upstream/{id}/start")),
            user,
            None,
        )
        .await;
    let (at, p) = hop.page();
    assert_eq!(at.origin(), origin(&rig.b.base), "ends at B: {at}");
    (agent, p)
}

/// Signs `agent` in at B with a password, from the account page's login.
async fn password_sign_in(agent: &Agent, b: &Server, user: (&str, &str)) -> Page {
    let (at, login) = agent.get(&b.url("/login?next=account")).await.page();
    assert_eq!(login.status, 200, "{}", login.body);
    let (at, account) = agent.login(&at, &login, user, None).await.page();
    assert_eq!(account.status, 200, "{at}: {}", account.body);
    assert_eq!(at.path(), "/account");
    account
}

/// On B's account page, connects the signed-in account to A's `user`:
/// the page B ends on.
async fn link(agent: &Agent, rig: &Rig, user: (&str, &str)) -> (Url, Page) {
    let (_, account) = agent.get(&rig.b.url("/account")).await.page();
    assert_eq!(account.status, 200, "{}", account.body);
    assert!(
        account.body.contains("Connected accounts"),
        "{}",
        account.body
    );
    let f = form(&account.body, "/upstream/hotel/link")
        .unwrap_or_else(|| panic!("a form to connect hotel: {}", account.body));
    let csrf = input(f, "csrf").expect("csrf in the link form");
    let r = agent
        .http
        .post(rig.b.url("/upstream/hotel/link"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "link: {:?}", r.headers());
    let to = location(&r);
    assert!(
        to.as_str().starts_with(&format!("{}/authorize?", rig.up)),
        "to A's authorization endpoint: {to}"
    );
    let hop = agent.follow(r, None).await;
    agent.at_upstream(&rig.up, hop, user, None).await.page()
}

// ----- the tests -----

/// app1 → B → A → B → app1: B issues its own subject, `amr` `fed`, the
/// claims A asserted; the first sign-in provisions an account without a
/// password, the second finds it.
async fn brokered_sign_in_provisions_then_finds_the_account(dir: tempfile::TempDir, db: Database) {
    let rig = Rig::start(dir, &db, "", true).await;
    let (a, b) = (&rig.a, &rig.b);
    let carol_at_a = sub_of(a, "carol").await;
    let before = users(b).await.len();

    // The login page without a request offers the upstream too.
    let agent = rig.agent();
    let (_, plain) = agent.get(&b.url("/login")).await.page();
    assert_eq!(plain.status, 200);
    let (href, _) = upstream_button(&plain.body, "hotel").expect("a button on /login");
    assert_eq!(href, "/upstream/hotel/start");

    // The login page of app1's request: a button carrying that request.
    let (verifier, challenge) = pkce();
    let (at, login) = agent
        .get(&authorize_url(
            b,
            APP1.0,
            APP1_CB,
            "openid profile email",
            &challenge,
            &[],
        ))
        .await
        .page();
    assert_eq!(login.status, 200, "{}", login.body);
    let request = login.input("request").expect("request field");
    let (href, label) = upstream_button(&login.body, "hotel")
        .unwrap_or_else(|| panic!("no upstream button: {}", login.body));
    assert_eq!(href, format!("/upstream/hotel/start?{request}"));
    assert_eq!(label, "Sign in with Hotel Group SSO");

    // The start: to A, with PKCE, state, nonce, and the state cookie.
    let (to_a, _) = start_flow(&agent, &rig.up, at.join(&href).unwrap().as_str()).await;
    let q = |n: &str| query(&to_a, n).unwrap_or_else(|| panic!("no {n} in {to_a}"));
    assert_eq!(q("response_type"), "code");
    assert_eq!(q("client_id"), "downstream");
    assert_eq!(q("redirect_uri"), b.url("/upstream/hotel/callback"));
    assert_eq!(q("scope"), "openid email profile");
    assert_eq!(q("code_challenge_method"), "S256");
    assert_eq!(q("code_challenge").len(), 43, "S256, base64url");
    assert!(!q("state").is_empty() && !q("nonce").is_empty());

    // A signs carol in; B continues app1's request: consent, then the code.
    let hop = agent.get(to_a.as_str()).await;
    let hop = agent.at_upstream(&rig.up, hop, CAROL, None).await;
    let cb = agent.to_app1(b, hop).await;
    assert_eq!(query(&cb, "state").as_deref(), Some("st-123"));
    let id = app1_token(b, &cb, &verifier).await;
    let sub = id["sub"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&sub).is_ok(), "B's own sub: {sub}");
    assert_ne!(sub, carol_at_a, "never A's sub");
    assert_eq!(id["iss"], b.base.as_str());
    assert_eq!(id["nonce"], "n-456");
    assert!(
        id["amr"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("fed"))),
        "amr: {}",
        id["amr"]
    );
    assert_eq!(id["email"], "carol@hotel.example");
    assert_eq!(id["name"], "Carol Guest");
    assert_eq!(id["idp"], "hotel", "the upstream it came through");

    // Provisioned: one more account, with A's address, and no password.
    assert_eq!(users(b).await.len(), before + 1);
    let carol = rig.b_user(&sub).await;
    assert_eq!(carol["email"], "carol@hotel.example", "{carol}");
    assert_eq!(carol["email_verified"], true, "{carol}");
    assert_eq!(carol["has_password"], false, "{carol}");
    let username = carol["username"].as_str().unwrap().to_owned();
    let other = rig.agent();
    let (at, login) = other.get(&b.url("/login")).await.page();
    for name in [username.as_str(), "carol@hotel.example"] {
        for password in [CAROL.1, "any-password-at-all-123"] {
            let (_, p) = other
                .login(&at, &login, (name, password), None)
                .await
                .page();
            assert_eq!(p.status, 401, "{name} / {password}: {}", p.body);
        }
    }
    assert!(!other.signed_in_at(b).await);

    // A second sign-in, in a new browser: the same account.
    let again = rig.agent();
    let (to_a2, _) = start_flow(&again, &rig.up, &b.url("/upstream/hotel/start")).await;
    for n in ["state", "nonce", "code_challenge"] {
        assert_ne!(query(&to_a2, n), query(&to_a, n), "a fresh {n} per flow");
    }
    let id2 = app1_via(&again, &rig, "hotel", CAROL).await;
    assert_eq!(id2["sub"], sub.as_str());
    assert_eq!(
        users(b).await.len(),
        before + 1,
        "nothing provisioned again"
    );
}
both!(with_db brokered_sign_in_provisions_then_finds_the_account);

/// Callbacks B did not start for this browser, or did already, or that
/// name another issuer or a spent or foreign code: error pages, no session.
async fn forged_and_replayed_callbacks_are_refused(dir: tempfile::TempDir, db: Database) {
    let rig = Rig::start(dir, &db, "", true).await;
    let (a, b) = (&rig.a, &rig.b);
    let start = b.url("/upstream/hotel/start");
    const BAD: &str = "This sign-in could not be completed";
    const FAILED: &str = "Sign-in with Hotel Group SSO failed";
    // A callback as A sends it, not yet presented to B.
    let callback = async |agent: &Agent| -> (Url, String) {
        let (to_a, cookie) = start_flow(agent, &rig.up, &start).await;
        let cb = agent
            .through(
                &rig.up,
                to_a.as_str(),
                CAROL,
                Some("/upstream/hotel/callback"),
            )
            .await
            .redirect();
        assert!(
            cb.as_str().starts_with(&b.url("/upstream/hotel/callback?")),
            "{cb}"
        );
        assert_eq!(query(&cb, "iss").as_deref(), Some(a.base.as_str()));
        assert_eq!(query(&cb, "state"), query(&to_a, "state"));
        (cb, cookie)
    };

    // Another state than the cookie's.
    let one = rig.agent();
    let (cb, _) = callback(&one).await;
    refused(
        one.get(&with_param(&cb, "state", "forged-state")).await,
        400,
        BAD,
    );
    assert!(!one.signed_in_at(b).await);

    // The callback in another browser, or with a cookie not B's: refused,
    // and the browser that started the flow still completes it, once.
    let legit = rig.agent();
    let (cb, cookie) = callback(&legit).await;
    let other = rig.agent();
    refused(other.get(cb.as_str()).await, 400, BAD);
    assert!(!other.signed_in_at(b).await);
    let r = b
        .http
        .get(cb.as_str())
        .header(header::COOKIE, "fd_upstream=not-one-of-ours")
        .send()
        .await
        .unwrap();
    no_session_cookie(r.headers());
    refused(legit.follow(r, None).await, 400, BAD);
    let (_, done) = legit.get(cb.as_str()).await.page();
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("You are signed in"), "{}", done.body);
    assert!(legit.signed_in_at(b).await);
    // Presented again: by the same browser, or with the flow's own cookie
    // (the state is single-use).
    refused(legit.get(cb.as_str()).await, 400, BAD);
    let r = b
        .http
        .get(cb.as_str())
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    no_session_cookie(r.headers());
    refused(legit.follow(r, None).await, 400, BAD);

    // `iss` (RFC 9207) naming another issuer, exactly compared.
    let slash = format!("{}/", a.base);
    for iss in ["https://evil.example.com", b.base.as_str(), slash.as_str()] {
        let agent = rig.agent();
        let (cb, _) = callback(&agent).await;
        refused(agent.get(&with_param(&cb, "iss", iss)).await, 400, BAD);
        assert!(!agent.signed_in_at(b).await, "iss {iss}");
    }

    // A valid state with the code `legit` spent: A refuses it.
    let spent = query(&cb, "code").unwrap();
    let late = rig.agent();
    let (cb_late, _) = callback(&late).await;
    refused(
        late.get(&with_param(&cb_late, "code", &spent)).await,
        502,
        FAILED,
    );
    assert!(!late.signed_in_at(b).await);

    // A valid state with an unspent code of another flow (code injection):
    // the PKCE verifier does not match it.
    let victim = rig.agent();
    let (cb_victim, _) = callback(&victim).await;
    let stolen = query(&cb_victim, "code").unwrap();
    let attacker = rig.agent();
    let (cb_att, _) = callback(&attacker).await;
    refused(
        attacker.get(&with_param(&cb_att, "code", &stolen)).await,
        502,
        FAILED,
    );
    assert!(!attacker.signed_in_at(b).await);
}
both!(with_db forged_and_replayed_callbacks_are_refused);

// ----- a tampering proxy as A's public address -----

/// What the proxy does to the ID token of A's token responses.
#[derive(Clone)]
enum Tamper {
    Nothing,
    /// One bit of the signature flipped.
    BadSignature,
    /// `alg: none`, no signature.
    AlgNone,
    /// Another token response's `id_token` and `access_token` (A signed
    /// them; `at_hash` stays consistent).
    Replace(Value),
}

struct Proxy {
    to: String,
    http: reqwest::Client,
    tamper: Mutex<Tamper>,
}

/// Forwards every request to A, and applies the [`Tamper`] to `POST /token`
/// answers.
async fn forward(
    State(p): State<Arc<Proxy>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut req = p
        .http
        .request(method.clone(), format!("{}{path}", p.to))
        .body(body);
    for (k, v) in &headers {
        if ![header::HOST, header::CONTENT_LENGTH, header::CONNECTION].contains(k) {
            req = req.header(k.clone(), v.clone());
        }
    }
    let r = req.send().await.expect("A answers the proxy");
    let status = r.status();
    let mut h = r.headers().clone();
    let mut bytes = r.bytes().await.unwrap().to_vec();
    if method == Method::POST && uri.path() == "/token" {
        let mode = p.tamper.lock().unwrap().clone();
        bytes = tampered(&mode, &bytes);
    }
    h.remove(header::CONTENT_LENGTH);
    h.remove(header::TRANSFER_ENCODING);
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = status;
    *resp.headers_mut() = h;
    resp
}

fn tampered(mode: &Tamper, body: &[u8]) -> Vec<u8> {
    let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
        return body.to_vec();
    };
    let Some(id) = v["id_token"].as_str().map(str::to_owned) else {
        return body.to_vec();
    };
    let parts: Vec<&str> = id.split('.').collect();
    v["id_token"] = match mode {
        Tamper::Nothing => return body.to_vec(),
        Tamper::BadSignature => {
            let sig = parts[2];
            let first = if sig.starts_with('A') { 'B' } else { 'A' };
            json!(format!("{}.{}.{first}{}", parts[0], parts[1], &sig[1..]))
        }
        Tamper::AlgNone => {
            let head =
                frontdesk_jose::b64url(json!({"alg": "none", "typ": "JWT"}).to_string().as_bytes());
            json!(format!("{head}.{}.", parts[1]))
        }
        Tamper::Replace(other) => {
            v["access_token"] = other["access_token"].clone();
            other["id_token"].clone()
        }
    };
    serde_json::to_vec(&v).unwrap()
}

/// A token response from the upstream at `issuer` (a public address) for
/// `client`, signed in as carol, with `nonce`.
async fn mint(issuer: &str, client: (&str, &str), redirect_uri: &str, nonce: &str) -> Value {
    let (verifier, challenge) = pkce();
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("response_type", "code"),
            ("client_id", client.0),
            ("redirect_uri", redirect_uri),
            ("scope", "openid email profile"),
            ("state", "mint"),
            ("nonce", nonce),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .finish();
    let agent = Agent::new(&[issuer]);
    let cb = agent
        .through(issuer, &format!("{issuer}/authorize?{q}"), CAROL, None)
        .await
        .redirect();
    assert!(cb.as_str().starts_with(redirect_uri), "{cb}");
    let code = query(&cb, "code").unwrap_or_else(|| panic!("no code in {cb}"));
    let r = agent
        .http
        .post(format!("{issuer}/token"))
        .header(header::AUTHORIZATION, basic_header(client.0, client.1))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

/// ID tokens B must not accept, though A's token endpoint handed them
/// over: a broken signature, `alg: none`, and tokens A really signed but
/// for another client, for another flow's nonce, or by another issuer
/// (a second node of A on the same keys). The proxy is A's issuer, so
/// discovery, the browser and B all go through it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_id_tokens_are_refused() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up = format!("http://localhost:{}", listener.local_addr().unwrap().port());
    let a_dir = tempfile::tempdir().unwrap();
    let a_db = Database::new(Backend::Sqlite, a_dir.path()).await.unwrap();
    let a_config = format!("key_encryption_key = \"{KEK}\"\n{UPSTREAM_USERS}");
    let a = Server::start_as(a_dir, &a_db.url, Some(up.as_str()), &a_config);
    let proxy = Arc::new(Proxy {
        to: a.base.clone(),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        tamper: Mutex::new(Tamper::Nothing),
    });
    let app = axum::Router::new()
        .fallback(forward)
        .with_state(Arc::clone(&proxy));
    let task = tokio::spawn(async move { axum::serve(listener, app).await });
    let b_dir = tempfile::tempdir().unwrap();
    let b_db = Database::new(Backend::Sqlite, b_dir.path()).await.unwrap();
    let b = downstream_server(b_dir, &b_db, &hotel(&up, ""));
    register(&a, "downstream", &b, "hotel", true).await;
    let r = a
        .admin_req(
            Method::POST,
            "/admin/clients",
            Some(json!({
                "client_id": OTHER.0,
                "client_secret": OTHER.1,
                "client_name": "Other",
                "grant_types": ["authorization_code"],
                "redirect_uris": [OTHER_CB],
                "scope": "openid email profile",
                "first_party": true,
            })),
        )
        .await;
    assert_eq!(r.status(), 201);
    let rig = Rig { a, b, up };
    let discovery = rig
        .b
        .http
        .get(format!("{}/.well-known/openid-configuration", rig.up))
        .send()
        .await
        .unwrap();
    let discovery: Value = discovery.json().await.unwrap();
    assert_eq!(
        discovery["issuer"],
        rig.up.as_str(),
        "the proxy is A's issuer"
    );
    let callback = rig.b.url("/upstream/hotel/callback");

    // A sign-in whose token response the proxy changes by `mode`: where
    // B ends.
    let attempt = async |mode: Tamper| -> (Agent, Page) {
        let agent = rig.agent();
        *proxy.tamper.lock().unwrap() = mode;
        let hop = agent
            .through(&rig.up, &rig.b.url("/upstream/hotel/start"), CAROL, None)
            .await;
        *proxy.tamper.lock().unwrap() = Tamper::Nothing;
        (agent, hop.page().1)
    };
    let failed = async |agent: Agent, p: Page, what: &str| {
        assert_eq!(p.status, 502, "{what}: {}", p.body);
        assert!(
            p.body.contains("Sign-in with Hotel Group SSO failed"),
            "{what}: {}",
            p.body
        );
        assert!(!agent.signed_in_at(&rig.b).await, "{what}");
    };

    // Through the proxy untouched, the sign-in works.
    let (agent, p) = attempt(Tamper::Nothing).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("You are signed in"), "{}", p.body);
    assert!(agent.signed_in_at(&rig.b).await);

    let (agent, p) = attempt(Tamper::BadSignature).await;
    failed(agent, p, "a bad signature").await;
    let (agent, p) = attempt(Tamper::AlgNone).await;
    failed(agent, p, "alg none").await;

    // Tokens A signed, each wrong in one way only. Minted before the
    // attempt's token request, with the attempt's nonce where it is right.
    let a2 = Server::start_localhost(tempfile::tempdir().unwrap(), &a_db.url, &a_config);
    let claims_of = |t: &Value| jwt_parts(t["id_token"].as_str().unwrap()).1;
    let jwks = rig
        .b
        .http
        .get(format!("{}/jwks.json", rig.up))
        .send()
        .await
        .unwrap();
    let jwks: Value = jwks.json().await.unwrap();
    let published = |t: &Value| {
        let kid = jwt_parts(t["id_token"].as_str().unwrap()).0["kid"].clone();
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == kid)
    };
    let downstream = ("downstream", SECRET);
    // (what, the issuer that signs, its client, redirect URI, the flow's nonce?)
    let cases = [
        ("another audience", rig.up.as_str(), OTHER, OTHER_CB, true),
        (
            "another nonce",
            rig.up.as_str(),
            downstream,
            callback.as_str(),
            false,
        ),
        (
            "another issuer",
            a2.base.as_str(),
            downstream,
            callback.as_str(),
            true,
        ),
    ];
    for (what, issuer, client, redirect_uri, same_nonce) in cases {
        let agent = rig.agent();
        let (to_a, _) = start_flow(&agent, &rig.up, &rig.b.url("/upstream/hotel/start")).await;
        let nonce = if same_nonce {
            query(&to_a, "nonce").unwrap()
        } else {
            "nonce-of-another-flow".to_owned()
        };
        let token = mint(issuer, client, redirect_uri, &nonce).await;
        let claims = claims_of(&token);
        assert_eq!(claims["nonce"], nonce.as_str(), "{what}");
        let for_downstream =
            claims["aud"] == "downstream" || claims["aud"] == json!(["downstream"]);
        assert_eq!(for_downstream, client.0 == "downstream", "{what}: {claims}");
        assert_eq!(
            claims["iss"] == rig.up.as_str(),
            issuer == rig.up,
            "{what}: {claims}"
        );
        assert!(published(&token), "{what}: signed with a key A publishes");
        *proxy.tamper.lock().unwrap() = Tamper::Replace(token);
        let hop = agent.through(&rig.up, to_a.as_str(), CAROL, None).await;
        *proxy.tamper.lock().unwrap() = Tamper::Nothing;
        failed(agent, hop.page().1, what).await;
    }
    drop(a2);
    task.abort();
}

/// B's erin, whose address A's erin claims without A having verified it.
const ERIN_AT_B: &str = r#"
[[users]]
username = "erin"
password = "erin-password-at-b-0123456789"
email = "erin@example.com"
email_verified = true
name = "Erin Local"
"#;

/// An upstream account with the address of a B account joins that account
/// only with `link_by_email`, an address A says it verified, and a B
/// account that verified it; else 409 and nothing changes. Once joined,
/// the link finds the account, whatever its address becomes.
async fn email_match_links_only_when_both_sides_are_verified(dir: tempfile::TempDir, db: Database) {
    let a = upstream_server("").await;
    let more = format!(
        "{}{}{ERIN_AT_B}",
        hotel(&a.base, ""),
        upstream_entry(
            "hotel-linked",
            "Hotel Group SSO by e-mail",
            &a.base,
            "downstream-linked",
            "link_by_email = true"
        )
    );
    let b = downstream_server(dir, &db, &more);
    register(&a, "downstream", &b, "hotel", true).await;
    register(&a, "downstream-linked", &b, "hotel-linked", true).await;
    let up = a.base.clone();
    let rig = Rig { a, b, up };
    let b = &rig.b;
    let alice = sub_of(b, "alice").await;
    let before = users(b).await;
    let bob = before.iter().find(|u| u["username"] == "bob").unwrap();
    assert_eq!(bob["email"], "bob@example.com");
    assert_ne!(bob["email_verified"], true, "B's bob never verified: {bob}");

    const TAKEN: &str = "An account with this e-mail address already exists";
    let cases = [
        ("hotel", ALICE, "without link_by_email"),
        (
            "hotel",
            ALICE,
            "without link_by_email, again: nothing was linked",
        ),
        (
            "hotel-linked",
            BOBBY,
            "B's bob never verified bob@example.com",
        ),
        (
            "hotel-linked",
            ERIN,
            "A does not say erin@example.com is verified",
        ),
        ("hotel-linked", ERIN, "again: nothing was linked"),
    ];
    for (id, user, why) in cases {
        let (agent, p) = sign_in_via(&rig, id, user).await;
        assert_eq!(p.status, 409, "{why}: {}", p.body);
        assert!(p.body.contains(TAKEN), "{why}: {}", p.body);
        assert!(!agent.signed_in_at(b).await, "{why}");
        assert_eq!(users(b).await, before, "{why}: nothing created or changed");
    }

    // Both sides verified alice@example.com: A's alice signs in as B's.
    let id = app1_via(&rig.agent(), &rig, "hotel-linked", ALICE).await;
    assert_eq!(id["sub"], alice.as_str());
    assert!(
        id["amr"]
            .as_array()
            .is_some_and(|a| a.contains(&json!("fed")))
    );
    assert_eq!(users(b).await.len(), before.len());

    // Later, through the link: B's alice has another address now.
    let r = b
        .admin_req(
            Method::PATCH,
            "/admin/users/alice",
            Some(json!({"claims": {"email": "alice@elsewhere.example"}})),
        )
        .await;
    assert_eq!(r.status(), 200);
    let id = app1_via(&rig.agent(), &rig, "hotel-linked", ALICE).await;
    assert_eq!(id["sub"], alice.as_str());
    assert_eq!(users(b).await.len(), before.len());
}
both!(with_db email_match_links_only_when_both_sides_are_verified);

/// `provision = false`: an upstream account no B account is connected to
/// gets 403 and creates nothing; one connected on the account page signs
/// in.
async fn invite_only_upstream_refuses_unknown_accounts(dir: tempfile::TempDir, db: Database) {
    let rig = Rig::start(dir, &db, "provision = false", true).await;
    let b = &rig.b;
    let before = users(b).await;
    let (agent, p) = sign_in_via(&rig, "hotel", CAROL).await;
    assert_eq!(p.status, 403, "{}", p.body);
    assert!(p.body.contains("No account for this sign-in"), "{}", p.body);
    assert!(!agent.signed_in_at(b).await);
    assert_eq!(users(b).await, before, "no user created");

    // From app1's request too: a page at B, never a redirect to app1.
    let agent = rig.agent();
    let (_, challenge) = pkce();
    let (at, login) = agent
        .get(&authorize_url(
            b,
            APP1.0,
            APP1_CB,
            "openid",
            &challenge,
            &[],
        ))
        .await
        .page();
    let (href, _) = upstream_button(&login.body, "hotel").expect("the button");
    let hop = agent
        .through(&rig.up, at.join(&href).unwrap().as_str(), CAROL, None)
        .await;
    refused(hop, 403, "No account for this sign-in");
    assert_eq!(users(b).await, before, "no user created");

    // alice connects carol's account: carol signs in as alice.
    let alice = sub_of(b, "alice").await;
    let one = rig.agent();
    password_sign_in(&one, b, ALICE).await;
    let (at, p) = link(&one, &rig, CAROL).await;
    assert_eq!(
        (at.path(), p.status.as_u16()),
        ("/account", 200),
        "{}",
        p.body
    );
    let id = app1_via(&rig.agent(), &rig, "hotel", CAROL).await;
    assert_eq!(id["sub"], alice.as_str());
    assert_eq!(users(b).await.len(), before.len());
}
both!(with_db invite_only_upstream_refuses_unknown_accounts);

/// `upstream_hint=hotel` goes straight to the upstream, and the request
/// continues after it; an unknown hint shows the login page; an unknown
/// upstream's start is a 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_hint_skips_the_chooser() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::new(Backend::Sqlite, dir.path()).await.unwrap();
    let rig = Rig::start(dir, &db, "", true).await;
    let b = &rig.b;
    let agent = rig.agent();
    let (verifier, challenge) = pkce();
    let hinted = authorize_url(
        b,
        APP1.0,
        APP1_CB,
        "openid profile email",
        &challenge,
        &[("upstream_hint", "hotel")],
    );
    let r = agent.raw(&hinted).await;
    assert_eq!(r.status(), 303);
    let start = location(&r);
    assert_eq!(start.origin(), origin(&b.base), "{start}");
    assert_eq!(start.path(), "/upstream/hotel/start", "{start}");
    let (to_a, _) = start_flow(&agent, &rig.up, start.as_str()).await;
    let hop = agent.get(to_a.as_str()).await;
    let hop = agent.at_upstream(&rig.up, hop, CAROL, None).await;
    let cb = agent.to_app1(b, hop).await;
    assert_eq!(query(&cb, "state").as_deref(), Some("st-123"));
    let id = app1_token(b, &cb, &verifier).await;
    assert_eq!(id["email"], "carol@hotel.example");

    let other = rig.agent();
    let (at, login) = other
        .get(&authorize_url(
            b,
            APP1.0,
            APP1_CB,
            "openid",
            &challenge,
            &[("upstream_hint", "nowhere")],
        ))
        .await
        .page();
    assert_eq!(
        (at.origin(), at.path()),
        (origin(&b.base), "/login"),
        "{at}"
    );
    assert_eq!(login.status, 200, "{}", login.body);
    assert!(login.body.contains("name=\"password\""), "{}", login.body);
    assert!(upstream_button(&login.body, "hotel").is_some());

    let r = other.raw(&b.url("/upstream/nowhere/start")).await;
    assert_eq!(r.status(), 404);
}

/// The account page connects an upstream account (then it signs in as
/// that account) and disconnects it; not without the form's csrf, not the
/// last way to sign in, not an upstream account another account has.
async fn linking_from_the_account_page(dir: tempfile::TempDir, db: Database) {
    let rig = Rig::start(dir, &db, "", true).await;
    let b = &rig.b;
    let alice = sub_of(b, "alice").await;
    let one = rig.agent();
    let account = password_sign_in(&one, b, ALICE).await;
    assert!(
        account.body.contains("Connected accounts"),
        "{}",
        account.body
    );
    assert!(form(&account.body, "/upstream/hotel/link").is_some());
    assert!(form(&account.body, "/account/upstreams/unlink").is_none());

    // No csrf, or not the form's: refused, nothing starts.
    for csrf in [None, Some("forged-csrf-value")] {
        let r = one
            .http
            .post(b.url("/upstream/hotel/link"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(csrf.map(|c| format!("csrf={c}")).unwrap_or_default())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "csrf {csrf:?}");
        assert!(r.headers().get(header::LOCATION).is_none());
    }

    // Connect dan's account at A.
    let (at, p) = link(&one, &rig, DAN).await;
    assert_eq!(
        (at.path(), p.status.as_u16()),
        ("/account", 200),
        "{}",
        p.body
    );
    assert!(p.body.contains("Hotel Group SSO"), "{}", p.body);
    assert!(
        form(&p.body, "/upstream/hotel/link").is_none(),
        "{}",
        p.body
    );
    let unlink = form(&p.body, "/account/upstreams/unlink")
        .unwrap_or_else(|| panic!("an unlink form: {}", p.body));
    assert_eq!(input(unlink, "upstream").as_deref(), Some("hotel"));
    let csrf = input(unlink, "csrf").expect("csrf in the unlink form");

    // dan at A signs in as alice now.
    let id = app1_via(&rig.agent(), &rig, "hotel", DAN).await;
    assert_eq!(id["sub"], alice.as_str());
    let count = users(b).await.len();

    // Disconnected: dan's next sign-in provisions another account.
    let r = one
        .http
        .post(b.url("/account/upstreams/unlink"))
        .form(&[("csrf", csrf.as_str()), ("upstream", "hotel")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    // The account page (with the `?done=` notice of every account change).
    let back = location(&r);
    assert_eq!((back.origin(), back.path()), (origin(&b.base), "/account"));
    let (_, p) = one.get(&b.url("/account")).await.page();
    assert!(
        form(&p.body, "/upstream/hotel/link").is_some(),
        "{}",
        p.body
    );
    let three = rig.agent();
    let id = app1_via(&three, &rig, "hotel", DAN).await;
    let dan = id["sub"].as_str().unwrap().to_owned();
    assert_ne!(dan, alice);
    assert_eq!(users(b).await.len(), count + 1);

    // That account's only way to sign in stays.
    let (_, p) = three.get(&b.url("/account")).await.page();
    assert_eq!(p.status, 200, "{}", p.body);
    let unlink = form(&p.body, "/account/upstreams/unlink")
        .unwrap_or_else(|| panic!("an unlink form: {}", p.body));
    let csrf = input(unlink, "csrf").unwrap();
    let hop = three
        .post(
            &Url::parse(&b.url("/account/upstreams/unlink")).unwrap(),
            &[("csrf", csrf.as_str()), ("upstream", "hotel")],
            None,
        )
        .await;
    refused(hop, 409, "Keep one way to sign in");
    let id = app1_via(&rig.agent(), &rig, "hotel", DAN).await;
    assert_eq!(id["sub"], dan.as_str(), "still connected");

    // dan's account at A belongs to that account: alice cannot take it.
    let (at, p) = link(&one, &rig, DAN).await;
    assert_eq!(at.origin(), origin(&b.base));
    assert_eq!(p.status, 409, "{}", p.body);
    assert!(
        p.body.contains("already connected to another account"),
        "{}",
        p.body
    );
    let (_, p) = one.get(&b.url("/account")).await.page();
    assert!(
        form(&p.body, "/upstream/hotel/link").is_some(),
        "{}",
        p.body
    );
    let id = app1_via(&rig.agent(), &rig, "hotel", DAN).await;
    assert_eq!(id["sub"], dan.as_str());
}
both!(with_db linking_from_the_account_page);

/// Denied at A's consent page: B's login page again, 401, with the
/// request still there, and no session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_at_the_upstream_returns_to_the_login_page() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::new(Backend::Sqlite, dir.path()).await.unwrap();
    let rig = Rig::start(dir, &db, "", false).await;
    let b = &rig.b;
    let agent = rig.agent();
    let (_, challenge) = pkce();
    let (at, login) = agent
        .get(&authorize_url(
            b,
            APP1.0,
            APP1_CB,
            "openid",
            &challenge,
            &[],
        ))
        .await
        .page();
    let request = login.input("request").expect("request field");
    let (href, _) = upstream_button(&login.body, "hotel").expect("the button");
    let (to_a, _) = start_flow(&agent, &rig.up, at.join(&href).unwrap().as_str()).await;
    let (at, a_login) = agent.get(to_a.as_str()).await.page();
    assert_eq!(at.origin(), origin(&rig.up), "{at}");
    let (at, consent) = agent.login(&at, &a_login, CAROL, None).await.page();
    assert_eq!(at.origin(), origin(&rig.up), "{at}");
    assert!(
        consent.body.contains("action=\"/consent\""),
        "A's consent page: {}",
        consent.body
    );
    let (at, p) = agent.consent(&at, &consent, "deny", None).await.page();
    assert_eq!(at.origin(), origin(&b.base), "{at}");
    assert_eq!(p.status, 401, "{}", p.body);
    assert!(
        p.body
            .contains("Sign-in with Hotel Group SSO was cancelled"),
        "{}",
        p.body
    );
    assert!(
        p.body.contains("name=\"password\""),
        "the login page: {}",
        p.body
    );
    assert_eq!(p.input("request"), Some(request));
    assert!(!agent.signed_in_at(b).await);
}

/// An upstream whose discovery fails: the start link is a 503 page with
/// `Retry-After`; the login page still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_upstream_is_a_503() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::new(Backend::Sqlite, dir.path()).await.unwrap();
    let closed = format!("http://127.0.0.1:{}", free_port());
    let b = downstream_server(dir, &db, &hotel(&closed, ""));
    let agent = Agent::new(&[b.base.as_str()]);
    let (_, challenge) = pkce();
    let (at, login) = agent
        .get(&authorize_url(
            &b,
            APP1.0,
            APP1_CB,
            "openid",
            &challenge,
            &[],
        ))
        .await
        .page();
    assert_eq!(login.status, 200, "{}", login.body);
    let (href, _) = upstream_button(&login.body, "hotel").expect("the button");
    for start in [
        at.join(&href).unwrap().to_string(),
        b.url("/upstream/hotel/start"),
    ] {
        let r = agent.raw(&start).await;
        let status = r.status();
        let retry = r.headers().get(header::RETRY_AFTER).cloned();
        let body = r.text().await.unwrap();
        assert_eq!(status, 503, "{start}: {body}\n{}", b.log());
        let retry = retry.unwrap_or_else(|| panic!("no Retry-After: {}", b.log()));
        assert!(retry.to_str().unwrap().parse::<u64>().is_ok(), "{retry:?}");
        assert!(
            body.contains("Sign-in with Hotel Group SSO is unavailable"),
            "{body}"
        );
    }
}

// ----- per-client upstream policy -----

const STAFF_CB: &str = "https://staff.example.com/cb";

/// `allowed_upstreams` limits the buttons (and the start links) a client's
/// login page offers; `local_login = false` makes an upstream-only client:
/// no password or passkey form, a password POST refused, and with one
/// upstream left the chooser is skipped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_policy_limits_the_upstreams_and_can_hide_the_password_form() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::new(Backend::Sqlite, dir.path()).await.unwrap();
    let a = upstream_server("").await;
    let staff = format!(
        r#"
[[clients]]
client_id = "staff"
client_secret = "staff-secret-0123456789abcdef"
client_name = "Staff Portal"
grant_types = ["authorization_code"]
redirect_uris = ["{STAFF_CB}"]
scope = "openid email"
allowed_upstreams = ["hotel"]
local_login = false
"#
    );
    let more = format!(
        "{}{}{staff}",
        hotel(&a.base, ""),
        upstream_entry("partner", "Partner SSO", &a.base, "partner-client", "")
    );
    let b = downstream_server(dir, &db, &more);
    register(&a, "downstream", &b, "hotel", true).await;
    register(&a, "partner-client", &b, "partner", true).await;
    let rig = Rig {
        up: a.base.clone(),
        a,
        b,
    };
    let b = &rig.b;
    let (_, challenge) = pkce();

    // app1 sets no policy: both upstreams, and the password form.
    let agent = rig.agent();
    let (_, login) = agent
        .get(&authorize_url(
            b,
            APP1.0,
            APP1_CB,
            "openid",
            &challenge,
            &[],
        ))
        .await
        .page();
    assert!(
        upstream_button(&login.body, "hotel").is_some(),
        "{}",
        login.body
    );
    assert!(
        upstream_button(&login.body, "partner").is_some(),
        "{}",
        login.body
    );
    assert!(login.body.contains("name=\"password\""));
    // This browser's form token (the staff page below has no form to carry one).
    let csrf = login.input("csrf").unwrap();

    // staff: upstream only, one upstream allowed: straight to it.
    let staff_url = authorize_url(b, "staff", STAFF_CB, "openid email", &challenge, &[]);
    let r = agent.raw(&staff_url).await;
    assert_eq!(r.status(), 303);
    let start = location(&r);
    assert_eq!(start.path(), "/upstream/hotel/start", "{start}");

    // Its login page, asked for directly: the allowed button only, no forms.
    let request = staff_url.split_once('?').unwrap().1;
    let (at, login) = agent.get(&b.url(&format!("/login?{request}"))).await.page();
    assert_eq!(login.status, 200, "{}", login.body);
    assert!(
        upstream_button(&login.body, "hotel").is_some(),
        "{}",
        login.body
    );
    assert!(
        upstream_button(&login.body, "partner").is_none(),
        "{}",
        login.body
    );
    assert!(!login.body.contains("name=\"password\""), "{}", login.body);
    assert!(!login.body.contains("passkey-form"), "{}", login.body);

    // A password POST for it (a hand-made form): refused, no session.
    let hop = agent
        .post(
            &at.join("/login").unwrap(),
            &[
                ("csrf", csrf.as_str()),
                ("request", request),
                ("username", ALICE.0),
                ("password", ALICE.1),
            ],
            None,
        )
        .await;
    let p = refused(hop, 403, "Sign in another way");
    no_session_cookie(&p.headers);
    assert!(!agent.signed_in_at(b).await);

    // The other upstream's start link, for this client: not offered.
    let r = agent
        .raw(&b.url(&format!("/upstream/partner/start?{request}")))
        .await;
    assert_eq!(r.status(), 404);

    // A session from a password sign-in (no application) is not a way
    // into the upstream-only client: it is sent to sign in its way.
    let local = rig.agent();
    let (at, page) = local.get(&b.url("/login")).await.page();
    let hop = local.login(&at, &page, ALICE, None).await;
    let (_, signed) = hop.page();
    assert!(signed.body.contains("You are signed in"), "{}", signed.body);
    let r = local.raw(&staff_url).await;
    assert_eq!(r.status(), 303);
    assert_eq!(location(&r).path(), "/upstream/hotel/start", "not the code");
    // app1 takes that session as it is.
    let r = local
        .raw(&authorize_url(
            b,
            APP1.0,
            APP1_CB,
            "openid",
            &challenge,
            &[],
        ))
        .await;
    assert_eq!(r.status(), 200, "app1's consent page for the session");

    // Through the allowed one: signed in, on to staff with a code.
    let hop = agent.through(&rig.up, start.as_str(), CAROL, None).await;
    let (at, consent) = hop.page();
    assert!(
        consent.body.contains("action=\"/consent\""),
        "{}",
        consent.body
    );
    let cb = agent
        .consent(&at, &consent, "approve", None)
        .await
        .redirect();
    assert!(cb.as_str().starts_with(STAFF_CB), "{cb}");
    assert!(query(&cb, "code").is_some(), "{cb}");
}

// ----- a plain OAuth 2.0 upstream, GitHub-shaped -----

/// The one fixture of this module (GitHub itself is not reachable here):
/// GitHub's OAuth app endpoints as its documentation describes them — an
/// authorize page that signs "octocat" in at once, a token endpoint that
/// answers form-encoded unless asked for JSON, `/user` with a numeric `id`
/// and `/user/emails`. It checks what B sends: the client's credentials,
/// the redirect URI, the code, and PKCE S256.
#[derive(Default)]
struct GitHub {
    /// `code` → (redirect_uri, code_challenge).
    codes: Mutex<Vec<(String, String, String)>>,
    /// The token requests' `Accept` headers, and the `/user` calls' tokens.
    seen: Mutex<Vec<String>>,
    /// The address list `/user/emails` answers.
    emails: Mutex<Value>,
}

const GH_TOKEN: &str = "gho_fixture_token_0123456789";

async fn gh_authorize(
    State(g): State<Arc<GitHub>>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    assert_eq!(q["client_id"], "gh-client");
    assert_eq!(q["scope"], "read:user user:email");
    assert_eq!(q["code_challenge_method"], "S256");
    assert!(!q["state"].is_empty());
    let code = format!("gh-code-{}", g.codes.lock().unwrap().len());
    g.codes.lock().unwrap().push((
        code.clone(),
        q["redirect_uri"].clone(),
        q["code_challenge"].clone(),
    ));
    let mut to = Url::parse(&q["redirect_uri"]).unwrap();
    to.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &q["state"]);
    // GitHub answers 302; 303 here, so the shared walker's check that
    // frontdesk redirects with 303 holds for every hop.
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::SEE_OTHER;
    r.headers_mut()
        .insert(header::LOCATION, to.as_str().parse().unwrap());
    r
}

async fn gh_token(State(g): State<Arc<GitHub>>, headers: HeaderMap, body: Bytes) -> Response {
    let form: std::collections::HashMap<String, String> =
        form_urlencoded::parse(&body).into_owned().collect();
    let accept = headers
        .get(header::ACCEPT)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    g.seen.lock().unwrap().push(format!("accept {accept}"));
    assert_eq!(
        headers[header::AUTHORIZATION].to_str().unwrap(),
        basic_header("gh-client", SECRET)
    );
    let found = g
        .codes
        .lock()
        .unwrap()
        .iter()
        .find(|(c, _, _)| *c == form["code"])
        .cloned();
    let Some((_, redirect_uri, challenge)) = found else {
        return json_answer(json!({"error": "bad_verification_code"}));
    };
    assert_eq!(form["redirect_uri"], redirect_uri);
    let digest =
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, form["code_verifier"].as_bytes());
    assert_eq!(
        frontdesk_jose::b64url(digest.as_ref()),
        challenge,
        "PKCE S256"
    );
    let answer =
        json!({"access_token": GH_TOKEN, "token_type": "bearer", "scope": "read:user,user:email"});
    if accept.contains("application/json") {
        json_answer(answer)
    } else {
        // What GitHub does without `Accept: application/json`.
        let mut r = Response::new(Body::from(format!(
            "access_token={GH_TOKEN}&scope=read%3Auser&token_type=bearer"
        )));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        r
    }
}

fn json_answer(v: Value) -> Response {
    let mut r = Response::new(Body::from(v.to_string()));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
    r
}

fn gh_bearer(g: &GitHub, headers: &HeaderMap) -> bool {
    let auth = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    g.seen.lock().unwrap().push(format!("user {auth}"));
    auth.eq_ignore_ascii_case(&format!("bearer {GH_TOKEN}"))
}

async fn gh_user(State(g): State<Arc<GitHub>>, headers: HeaderMap) -> Response {
    if !gh_bearer(&g, &headers) {
        let mut r = json_answer(json!({"message": "Bad credentials"}));
        *r.status_mut() = StatusCode::UNAUTHORIZED;
        return r;
    }
    // The public address is not the verified one; email_verified here
    // must be ignored (GitHub sends none; this fixture lies).
    json_answer(json!({
        "id": 583231, "login": "octocat", "name": "The Octocat",
        "email": "public@octocat.example", "email_verified": true
    }))
}

async fn gh_emails(State(g): State<Arc<GitHub>>, headers: HeaderMap) -> Response {
    if !gh_bearer(&g, &headers) {
        let mut r = json_answer(json!({"message": "Bad credentials"}));
        *r.status_mut() = StatusCode::UNAUTHORIZED;
        return r;
    }
    json_answer(g.emails.lock().unwrap().clone())
}

/// A GitHub-shaped upstream (`preset = "github"` with the fixture's
/// endpoints): code + PKCE, the token as JSON, the user from `/user`, the
/// primary verified address from `/user/emails`; the account keyed by the
/// numeric id. Without a verified primary address, the public one is kept
/// unverified.
async fn a_github_shaped_oauth2_upstream(dir: tempfile::TempDir, db: Database) {
    let g = Arc::new(GitHub::default());
    *g.emails.lock().unwrap() = json!([
        {"email": "other@octocat.example", "primary": false, "verified": true},
        {"email": "octo@octocat.example", "primary": true, "verified": true}
    ]);
    let app = axum::Router::new()
        .route("/login/oauth/authorize", axum::routing::get(gh_authorize))
        .route("/login/oauth/access_token", axum::routing::post(gh_token))
        .route("/user", axum::routing::get(gh_user))
        .route("/user/emails", axum::routing::get(gh_emails))
        .with_state(g.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gh = format!("http://localhost:{}", listener.local_addr().unwrap().port());
    let task = tokio::spawn(async move { axum::serve(listener, app).await });
    let b = downstream_server(
        dir,
        &db,
        &format!(
            r#"
[[upstreams]]
id = "github"
display_name = "GitHub"
preset = "github"
authorization_endpoint = "{gh}/login/oauth/authorize"
token_endpoint = "{gh}/login/oauth/access_token"
userinfo_endpoint = "{gh}/user"
emails_endpoint = "{gh}/user/emails"
client_id = "gh-client"
client_secret = "{SECRET}"
"#
        ),
    );
    let sign_in = async |agent: &Agent| {
        let (verifier, challenge) = pkce();
        let (at, login) = agent
            .get(&authorize_url(
                &b,
                APP1.0,
                APP1_CB,
                "openid profile email",
                &challenge,
                &[],
            ))
            .await
            .page();
        let (href, label) = upstream_button(&login.body, "github")
            .unwrap_or_else(|| panic!("no GitHub button: {}", login.body));
        assert_eq!(label, "Sign in with GitHub");
        let hop = agent.get(at.join(&href).unwrap().as_str()).await;
        let cb = agent.to_app1(&b, hop).await;
        app1_token(&b, &cb, &verifier).await
    };
    let agent = Agent::new(&[gh.as_str(), b.base.as_str()]);
    let first = sign_in(&agent).await;
    assert!(
        uuid::Uuid::try_parse(first["sub"].as_str().unwrap()).is_ok(),
        "{first}"
    );
    assert_eq!(
        first["email"], "octo@octocat.example",
        "the primary verified one"
    );
    assert_eq!(first["email_verified"], true);
    assert_eq!(first["name"], "The Octocat");
    assert!(
        first["amr"].as_array().unwrap().contains(&json!("fed")),
        "{first}"
    );
    let seen = g.seen.lock().unwrap().clone();
    assert!(
        seen.contains(&"accept application/json".to_owned()),
        "{seen:?}"
    );
    assert!(
        seen.iter().filter(|s| s.starts_with("user ")).count() >= 2,
        "{seen:?}"
    );
    let users = users(&b).await;
    let octo = users.iter().find(|u| u["sub"] == first["sub"]).unwrap();
    assert_eq!(octo["username"], "octocat", "the login, as the username");

    // The same account (the numeric id) from another browser, even after
    // the verified address is gone: the public one is then unverified, and
    // the account keeps its own.
    *g.emails.lock().unwrap() = json!([
        {"email": "octo@octocat.example", "primary": true, "verified": false}
    ]);
    let again = sign_in(&Agent::new(&[gh.as_str(), b.base.as_str()])).await;
    assert_eq!(again["sub"], first["sub"]);
    assert_eq!(again["email"], "octo@octocat.example");
    task.abort();
}
both!(with_db a_github_shaped_oauth2_upstream);

// ----- logout through the upstream, and the admin view -----

const BYE: &str = "https://app1.example.com/bye";

/// `propagate_logout = true`: signing out of B (RP-initiated, by app1)
/// ends B's session, then sends the browser through A's logout (A asks, as
/// the hint names no session of A), then back through B to app1's
/// `post_logout_redirect_uri` with its `state`; both sessions are over. The
/// admin API lists the user's link, and removes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_goes_through_the_upstream_and_admins_see_links() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::new(Backend::Sqlite, dir.path()).await.unwrap();
    let a = upstream_server("").await;
    let b = downstream_server(dir, &db, &hotel(&a.base, "propagate_logout = true"));
    let r = a
        .admin_req(
            Method::POST,
            "/admin/clients",
            Some(json!({
                "client_id": "downstream",
                "client_secret": SECRET,
                "client_name": "Downstream",
                "grant_types": ["authorization_code"],
                "redirect_uris": [b.url("/upstream/hotel/callback")],
                "post_logout_redirect_uris": [b.url("/upstream/hotel/logged-out")],
                "scope": "openid email profile",
                "first_party": true,
            })),
        )
        .await;
    assert_eq!(r.status(), 201);
    let rig = Rig {
        up: a.base.clone(),
        a,
        b,
    };
    let (agent, page) = sign_in_via(&rig, "hotel", CAROL).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(agent.signed_in_at(&rig.b).await);
    let a_account = agent.raw(&rig.a.url("/account")).await;
    assert_eq!(a_account.status(), 200, "signed in at A too");

    // app1 signs the user out of B (no id_token_hint: B asks first).
    let q = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", APP1.0)
        .append_pair("post_logout_redirect_uri", BYE)
        .append_pair("state", "bye-1")
        .finish();
    let (at, confirm) = agent.get(&rig.b.url(&format!("/logout?{q}"))).await.page();
    let csrf = confirm.input("csrf").unwrap();
    let request = confirm.input("request").unwrap();
    let hop = agent
        .post(
            &at.join("/logout").unwrap(),
            &[("csrf", csrf.as_str()), ("request", request.as_str())],
            None,
        )
        .await;
    // B is done; A asks too.
    let (at_a, confirm_a) = hop.page();
    assert_eq!(at_a.origin(), origin(&rig.up), "{at_a}");
    assert_eq!(at_a.path(), "/logout");
    assert_eq!(query(&at_a, "client_id").as_deref(), Some("downstream"));
    assert!(!agent.signed_in_at(&rig.b).await, "B's session ended first");
    let csrf = confirm_a.input("csrf").unwrap();
    let request = confirm_a.input("request").unwrap();
    let end = agent
        .post(
            &at_a.join("/logout").unwrap(),
            &[("csrf", csrf.as_str()), ("request", request.as_str())],
            None,
        )
        .await
        .redirect();
    assert!(end.as_str().starts_with(BYE), "{end}");
    assert_eq!(query(&end, "state").as_deref(), Some("bye-1"));
    let a_account = agent.raw(&rig.a.url("/account")).await;
    assert_eq!(a_account.status(), 303, "signed out at A");

    // A forged state back from the upstream: a page, never a redirect.
    let r = agent
        .raw(
            &rig.b
                .url("/upstream/hotel/logged-out?state=https%3A%2F%2Fevil.example"),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("You are signed out"));

    // The admin view of the provisioned account's link, and its removal.
    let sub = sub_of(&rig.b, "carol").await;
    let r = rig
        .b
        .admin_req(
            Method::GET,
            &format!("/admin/users/{sub}/upstream-links"),
            None,
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let links = body["upstream_links"].as_array().unwrap();
    assert_eq!(links.len(), 1, "{body}");
    assert_eq!(links[0]["upstream"], "hotel");
    assert_eq!(links[0]["upstream_sub"], sub_of(&rig.a, "carol").await);
    let r = rig
        .b
        .admin_req(
            Method::DELETE,
            "/admin/users/carol/upstream-links/hotel",
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    let r = rig
        .b
        .admin_req(
            Method::DELETE,
            "/admin/users/carol/upstream-links/hotel",
            None,
        )
        .await;
    assert_eq!(r.status(), 404);
}

/// `prompt=login` and `max_age` asked of B are asked of the upstream,
/// where the sign-in happens: with `prompt=login` a browser with a session
/// at A is signed in again there, not waved through; without it, A's
/// session is reused. (`auth_time` against them: the unit table
/// `freshness_the_upstream_was_asked_for`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_login_and_max_age_reach_the_upstream() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::new(Backend::Sqlite, dir.path()).await.unwrap();
    let rig = Rig::start(dir, &db, "", true).await;
    let (agent, page) = sign_in_via(&rig, "hotel", CAROL).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let (_, challenge) = pkce();
    let url = authorize_url(
        &rig.b,
        APP1.0,
        APP1_CB,
        "openid",
        &challenge,
        &[("upstream_hint", "hotel"), ("prompt", "login")],
    );
    // B has a session now: prompt=login makes B ask again,
    // and the hint sends that sign-in to A, with the same demand.
    let at_a = match agent.get_until(&url, Some("/authorize")).await {
        Hop::Redirect(u) if u.origin() == origin(&rig.up) => u,
        Hop::Redirect(u) => panic!("not to A: {u}"),
        Hop::Page(at, p) => panic!("a page at {at}: {} {}", p.status, p.body),
    };
    assert_eq!(query(&at_a, "prompt").as_deref(), Some("login"), "{at_a}");
    // A, with its own session for carol, still asks for the password.
    let (at, p) = agent.get(at_a.as_str()).await.page();
    assert_eq!(at.origin(), origin(&rig.up), "{at}");
    assert!(p.body.contains("name=\"password\""), "{}", p.body);
    // max_age goes on as it was asked (a fresh browser: B has no session).
    let fresh = rig.agent();
    let url = authorize_url(
        &rig.b,
        APP1.0,
        APP1_CB,
        "openid",
        &challenge,
        &[("upstream_hint", "hotel"), ("max_age", "300")],
    );
    match fresh.get_until(&url, Some("/authorize")).await {
        Hop::Redirect(u) => assert_eq!(query(&u, "max_age").as_deref(), Some("300"), "{u}"),
        Hop::Page(at, p) => panic!("a page at {at}: {} {}", p.status, p.body),
    }
    // A plain repeat sign-in through A, asked nothing: A's session is used
    // (no login page at A, straight back to B). Signing in for the account
    // page, though, always asks A afresh.
    let (at, p) = agent
        .get(&rig.b.url("/upstream/hotel/start?next=account"))
        .await
        .page();
    assert_eq!(at.origin(), origin(&rig.up), "{at}");
    assert!(p.body.contains("name=\"password\""), "{}", p.body);
    let hop = agent.get(&rig.b.url("/upstream/hotel/start")).await;
    let (at, p) = hop.page();
    assert_eq!(at.origin(), origin(&rig.b.base), "{at}: {}", p.body);
}

/// A request too large to carry through the upstream in the flow cookie
/// (browsers drop cookies over 4096 bytes without a word) is refused at
/// the start with a page, not lost at the callback.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_too_large_for_the_flow_cookie_is_refused_at_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::new(Backend::Sqlite, dir.path()).await.unwrap();
    let rig = Rig::start(dir, &db, "", true).await;
    let (_, challenge) = pkce();
    let big = "s".repeat(3000);
    let url = authorize_url(
        &rig.b,
        APP1.0,
        APP1_CB,
        "openid",
        &challenge,
        &[("upstream_hint", "hotel"), ("login_hint", big.as_str())],
    );
    let agent = rig.agent();
    let hop = agent.get_until(&url, Some("/authorize")).await;
    let p = refused(hop, 400, "too large to sign in through another service");
    assert!(
        p.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .all(|c| !c.to_str().unwrap().starts_with("fd_upstream=")),
        "no flow cookie"
    );
}

/// With `groups_claim`, A's groups (in A's ID token, scope `groups`)
/// become the account's memberships from A at B under `hotel:`, replaced
/// at each sign-in; B's own memberships stay.
async fn upstream_groups_become_memberships(dir: tempfile::TempDir, db: Database) {
    let a = upstream_server("").await;
    for g in ["staff", "night-shift"] {
        a.admin_expect(Method::POST, "/admin/groups", Some(json!({"name": g})), 201)
            .await;
        let path = format!("/admin/groups/{g}/members/carol");
        a.admin_expect(Method::PUT, &path, None, 204).await;
    }
    let keys = "scopes = [\"email\", \"profile\", \"groups\"]\ngroups_claim = \"groups\"";
    let b = downstream_server(dir, &db, &hotel(&a.base, keys));
    register(&a, "downstream", &b, "hotel", true).await;
    let scope = json!({"scope": "openid email profile groups"});
    a.admin_expect(Method::PATCH, "/admin/clients/downstream", Some(scope), 200)
        .await;
    let up = a.base.clone();
    let rig = Rig { a, b, up };

    let id = app1_via(&rig.agent(), &rig, "hotel", CAROL).await;
    let sub = id["sub"].as_str().unwrap().to_owned();
    assert_eq!(
        groups_of(&rig.b, &sub).await,
        json!(["hotel:night-shift", "hotel:staff"])
    );
    rig.b
        .admin_expect(
            Method::POST,
            "/admin/groups",
            Some(json!({"name": "ops"})),
            201,
        )
        .await;
    let path = format!("/admin/groups/ops/members/{sub}");
    rig.b.admin_expect(Method::PUT, &path, None, 204).await;

    // Out of night-shift at A: out of hotel:night-shift at the next sign-in.
    let path = "/admin/groups/night-shift/members/carol";
    rig.a.admin_expect(Method::DELETE, path, None, 204).await;
    let again = app1_via(&rig.agent(), &rig, "hotel", CAROL).await;
    assert_eq!(again["sub"], sub.as_str());
    assert_eq!(groups_of(&rig.b, &sub).await, json!(["hotel:staff", "ops"]));
    let events = rig
        .b
        .admin_expect(Method::GET, "/admin/audit?kind=groups.sync", None, 200)
        .await;
    let events = events["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[1]["detail"]["removed"], 1);
    assert_eq!(events[1]["detail"]["idp"], "hotel");
}
both!(with_db upstream_groups_become_memberships);

// ----- upstreams added at run time -----

/// B's configuration as [`Rig::start`] wrote it (for a restart).
fn rig_config(up: &str) -> String {
    format!("{SIGNIN_CONFIG}\n{}", hotel(up, ""))
}

/// Registers `downstream2` at A for B's upstream `corp`, with the scope
/// `groups`; carol is in A's group `staff`.
async fn corp_at_a(rig: &Rig) {
    register(&rig.a, "downstream2", &rig.b, "corp", true).await;
    let scope = json!({"scope": "openid email profile groups"});
    rig.a
        .admin_expect(
            Method::PATCH,
            "/admin/clients/downstream2",
            Some(scope),
            200,
        )
        .await;
    rig.a
        .admin_expect(
            Method::POST,
            "/admin/groups",
            Some(json!({"name": "staff"})),
            201,
        )
        .await;
    rig.a
        .admin_expect(Method::PUT, "/admin/groups/staff/members/carol", None, 204)
        .await;
}

/// The button `id` on B's login page, if any.
async fn button_at(rig: &Rig, id: &str) -> Option<(String, String)> {
    let (_, login) = rig.agent().get(&rig.b.url("/login")).await.page();
    assert_eq!(login.status, 200, "{}", login.body);
    upstream_button(&login.body, id)
}

/// B's memberships of the account `sub`.
async fn groups_of(b: &Server, sub: &str) -> Value {
    let path = format!("/admin/users/{sub}/groups");
    b.admin_expect(Method::GET, &path, None, 200).await["groups"].clone()
}

/// An upstream added through B's admin API is offered at once (a button, a
/// brokered sign-in with its groups) and listed beside the configuration's,
/// never with its secret; bad, taken and configured ids get exact errors;
/// removing it drops every link to it and the memberships its sign-ins
/// made, so the same id added again finds no account (no takeover through
/// a reused id); what was added survives a restart.
async fn upstreams_added_and_removed_through_the_admin_api(dir: tempfile::TempDir, db: Database) {
    let mut rig = Rig::start(dir, &db, "", true).await;
    corp_at_a(&rig).await;
    assert_eq!(button_at(&rig, "corp").await, None);
    let spec = json!({
        "id": "corp",
        "display_name": "Corp SSO",
        "issuer": rig.up,
        "client_id": "downstream2",
        "client_secret": SECRET,
        "scopes": ["email", "profile", "groups"],
        "groups_claim": "groups",
    });
    let r = rig
        .b
        .admin_req(Method::POST, "/admin/upstreams", Some(spec.clone()))
        .await;
    assert_eq!(r.status(), 201);
    let text = r.text().await.unwrap();
    assert!(!text.contains(SECRET), "no secret in {text}");
    let added: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(added["id"], "corp");
    assert_eq!(added["source"], "database");
    assert_eq!(added["kind"], "oidc");
    assert_eq!(added["issuer"], rig.up.as_str());
    assert_eq!(added["client_id"], "downstream2");
    assert_eq!(added["group_prefix"], "corp:");
    assert!(added["created_at"].is_i64(), "{added}");
    assert_eq!(added.get("client_secret"), None);

    // Offered at once by this node, and it signs carol in.
    let (href, label) = button_at(&rig, "corp").await.expect("a corp button");
    assert_eq!(href, "/upstream/corp/start");
    assert_eq!(label, "Sign in with Corp SSO");
    let id = app1_via(&rig.agent(), &rig, "corp", CAROL).await;
    let sub = id["sub"].as_str().unwrap().to_owned();
    assert_eq!(id["email"], "carol@hotel.example");
    assert_eq!(groups_of(&rig.b, &sub).await, json!(["corp:staff"]));
    let links = format!("/admin/users/{sub}/upstream-links");
    let l = rig.b.admin_expect(Method::GET, &links, None, 200).await;
    assert_eq!(l["upstream_links"].as_array().unwrap().len(), 1, "{l}");
    assert_eq!(l["upstream_links"][0]["upstream"], "corp", "{l}");

    // The list: the configuration's, then the added one; no secret.
    let r = rig.b.admin_req(Method::GET, "/admin/upstreams", None).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(!text.contains(SECRET), "no secret in {text}");
    let list: Value = serde_json::from_str(&text).unwrap();
    let ids: Vec<(&str, &str)> = list["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| (u["id"].as_str().unwrap(), u["source"].as_str().unwrap()))
        .collect();
    assert_eq!(ids, [("hotel", "config"), ("corp", "database")]);
    let one = rig
        .b
        .admin_expect(Method::GET, "/admin/upstreams/corp", None, 200)
        .await;
    assert_eq!(one, list["upstreams"][1]);

    // Refusals, exactly.
    let refusal = async |method: Method, path: &str, body: Option<Value>, status: u16| {
        let (got, v) = rig.b.admin_call(method, path, body).await;
        assert_eq!(got, status, "{path}: {v}");
        assert_eq!(v.as_object().unwrap().len(), 2, "{v}");
        (
            v["error"].as_str().unwrap().to_owned(),
            v["error_description"].as_str().unwrap().to_owned(),
        )
    };
    let with = |k: &str, v: Value| {
        let mut s = spec.clone();
        s[k] = v;
        Some(s)
    };
    let post = Method::POST;
    let (p, p1) = ("/admin/upstreams", "/admin/upstreams/");
    assert_eq!(
        refusal(post.clone(), p, Some(spec.clone()), 409).await,
        ("conflict".into(), "already exists: upstream corp".into())
    );
    assert_eq!(
        refusal(post.clone(), p, with("id", json!("hotel")), 409).await,
        (
            "conflict".into(),
            "already exists: upstream hotel (the configuration file has an upstream or directory of this id)"
                .into()
        )
    );
    assert_eq!(
        refusal(post.clone(), p, with("id", json!("Corp SSO")), 400).await,
        (
            "invalid_request".into(),
            r#"upstream id "Corp SSO" must be 1-32 of a-z, 0-9, - and _"#.into()
        )
    );
    let mut no_secret = spec.clone();
    no_secret.as_object_mut().unwrap().remove("client_secret");
    no_secret["id"] = json!("other");
    assert_eq!(
        refusal(post.clone(), p, Some(no_secret), 400).await,
        (
            "invalid_request".into(),
            "upstreams[other]: client_secret is required".into()
        )
    );
    let (e, d) = refusal(
        post.clone(),
        p,
        with("client_secret_file", json!("/etc/shadow")),
        400,
    )
    .await;
    assert_eq!(e, "invalid_request");
    assert!(d.contains("client_secret_file"), "{d}");
    let (e, d) = refusal(post.clone(), p, with("secret", json!("x")), 400).await;
    assert_eq!(e, "invalid_request");
    assert!(d.contains("unknown field `secret`"), "{d}");
    assert_eq!(
        refusal(Method::DELETE, &format!("{p1}hotel"), None, 409).await,
        (
            "conflict".into(),
            "upstream hotel is declared in the configuration file; remove it there".into()
        )
    );
    for m in [Method::GET, Method::DELETE] {
        assert_eq!(
            refusal(m, &format!("{p1}nope"), None, 404).await,
            ("not_found".into(), "no such upstream".into())
        );
    }
    assert_eq!(
        rig.b.admin_expect(Method::GET, p, None, 200).await["upstreams"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "nothing refused was stored"
    );

    // Removed: its links and memberships go, the account stays, the
    // button and the flow's pages are gone.
    let before = users(&rig.b).await.len();
    let gone = rig
        .b
        .admin_expect(Method::DELETE, "/admin/upstreams/corp", None, 200)
        .await;
    assert_eq!(
        gone,
        json!({"id": "corp", "links_removed": 1, "memberships_removed": 1})
    );
    assert_eq!(users(&rig.b).await.len(), before);
    assert_eq!(groups_of(&rig.b, &sub).await, json!([]));
    let l = rig.b.admin_expect(Method::GET, &links, None, 200).await;
    assert_eq!(l["upstream_links"], json!([]));
    assert_eq!(button_at(&rig, "corp").await, None);
    assert!(button_at(&rig, "hotel").await.is_some());
    let hop = rig.agent().get(&rig.b.url("/upstream/corp/start")).await;
    refused(hop, 404, "There is no such sign-in service here.");
    let audit = async |kind: &str| {
        let path = format!("/admin/audit?kind={kind}");
        let v = rig.b.admin_expect(Method::GET, &path, None, 200).await;
        v["events"].as_array().unwrap().clone()
    };
    let adds = audit("admin.upstream.add").await;
    assert_eq!(adds.len(), 1, "{adds:?}");
    assert_eq!(adds[0]["detail"]["idp"], "corp", "{adds:?}");
    let removes = audit("admin.upstream.remove").await;
    assert_eq!(removes.len(), 1, "{removes:?}");
    assert_eq!(removes[0]["detail"]["idp"], "corp", "{removes:?}");
    assert_eq!(removes[0]["detail"]["links"], 1, "{removes:?}");
    assert_eq!(removes[0]["detail"]["memberships"], 1, "{removes:?}");

    // The same id again: carol at A is a stranger to B now. Her old
    // account is not reached; a new one would take its address, which is
    // refused as for any collision.
    rig.b
        .admin_expect(Method::POST, "/admin/upstreams", Some(spec.clone()), 201)
        .await;
    let (agent, page) = sign_in_via(&rig, "corp", CAROL).await;
    assert_eq!(page.status, 409, "{}", page.body);
    assert!(
        page.body
            .contains("An account with this e-mail address already exists"),
        "{}",
        page.body
    );
    assert!(!agent.signed_in_at(&rig.b).await);
    assert_eq!(users(&rig.b).await.len(), before);

    // A restart keeps it.
    let config = rig_config(&rig.up);
    rig.b.restart(&config);
    let (_, label) = button_at(&rig, "corp").await.expect("corp after a restart");
    assert_eq!(label, "Sign in with Corp SSO");
    let one = rig
        .b
        .admin_expect(Method::GET, "/admin/upstreams/corp", None, 200)
        .await;
    assert_eq!(one["source"], "database");
    assert_eq!(one.get("error"), None, "{one}");
}
both!(with_db upstreams_added_and_removed_through_the_admin_api);

/// `frontdesk upstreams add | list | remove`: running servers offer an
/// upstream the CLI adds (within a second) and stop offering one it
/// removes; the secret comes from a file; the configuration's upstream is
/// listed, and refused for removal.
async fn upstreams_managed_from_the_cli(dir: tempfile::TempDir, db: Database) {
    let rig = Rig::start(dir, &db, "", true).await;
    corp_at_a(&rig).await;
    let b = &rig.b;
    let config = b.dir.path().join("frontdesk.toml");
    let config = config.to_str().unwrap();
    let secret_file = b.dir.path().join("corp-secret");
    std::fs::write(&secret_file, format!("{SECRET}\n")).unwrap();
    let cli = |args: &[&str]| {
        let mut all = vec!["--config", config, "upstreams"];
        all.extend_from_slice(args);
        let out = b.cli(&all, None);
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, out, err) = cli(&[
        "add",
        "corp",
        "--display-name",
        "Corp SSO",
        "--issuer",
        &rig.up,
        "--client-id",
        "downstream2",
        "--client-secret-file",
        secret_file.to_str().unwrap(),
        "--scopes",
        "email,profile,groups",
        "--groups-claim",
        "groups",
    ]);
    assert!(ok, "{out}{err}");
    assert!(out.starts_with("added upstream corp;"), "{out}");
    let (ok, _, err) = cli(&[
        "add",
        "hotel",
        "--display-name",
        "Again",
        "--issuer",
        &rig.up,
        "--client-id",
        "x",
        "--client-secret",
        "-secret-with-a-leading-hyphen",
    ]);
    assert!(!ok);
    assert!(
        err.contains("already exists: upstream hotel (the configuration file has"),
        "{err}"
    );

    // The running server picks it up.
    let label = crate::support::wait_until(std::time::Duration::from_secs(5), async || {
        button_at(&rig, "corp").await.map(|(_, l)| l)
    })
    .await;
    assert_eq!(label.as_deref(), Some("Sign in with Corp SSO"));
    let id = app1_via(&rig.agent(), &rig, "corp", CAROL).await;
    let sub = id["sub"].as_str().unwrap().to_owned();
    assert_eq!(groups_of(b, &sub).await, json!(["corp:staff"]));

    let (ok, out, err) = cli(&["list"]);
    assert!(ok, "{err}");
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split('\t').take(4).collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec!["hotel", "config", "Hotel Group SSO", rig.up.as_str()],
            vec!["corp", "database", "Corp SSO", rig.up.as_str()],
        ]
    );
    let (ok, out, _) = cli(&["list", "--json"]);
    assert!(ok);
    assert!(!out.contains(SECRET), "no secret in {out}");
    let list: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list[1]["id"], "corp");
    assert_eq!(
        list[1]["scopes"],
        json!(["openid", "email", "profile", "groups"])
    );

    let (ok, _, err) = cli(&["remove", "hotel"]);
    assert!(!ok);
    assert!(
        err.contains("upstream hotel is declared in the configuration file; remove it there"),
        "{err}"
    );
    let (ok, _, err) = cli(&["remove", "nope"]);
    assert!(!ok);
    assert!(err.contains("no such upstream"), "{err}");
    let (ok, out, err) = cli(&["remove", "corp"]);
    assert!(ok, "{err}");
    assert_eq!(
        out.trim(),
        "removed upstream corp (1 account links, 1 group memberships)"
    );
    let gone = crate::support::wait_until(std::time::Duration::from_secs(5), async || {
        button_at(&rig, "corp").await.is_none().then_some(())
    })
    .await;
    assert!(gone.is_some(), "the corp button outlived its removal");
    let hop = rig.agent().get(&b.url("/upstream/corp/start")).await;
    refused(hop, 404, "There is no such sign-in service here.");
    assert_eq!(groups_of(b, &sub).await, json!([]));
}
both!(with_db upstreams_managed_from_the_cli);

// ----- response_mode=form_post -----

/// A's form-post page: the form's action and its hidden fields.
fn posted_form(body: &str) -> (String, Vec<(String, String)>) {
    let start = body
        .find("<form method=\"post\" action=\"")
        .expect("a form post");
    let rest = &body[start + "<form method=\"post\" action=\"".len()..];
    let action = unescape(&rest[..rest.find('"').unwrap()]);
    let form = &rest[..rest.find("</form>").unwrap()];
    let fields = form
        .match_indices("<input type=\"hidden\" name=\"")
        .map(|(at, m)| {
            let f = &form[at..];
            let name = &f[m.len()..];
            let name = &name[..name.find('"').unwrap()];
            (name.to_owned(), input(f, name).unwrap())
        })
        .collect();
    (action, fields)
}

/// `response_mode = "form_post"`: A is asked for a form post, the flow
/// cookie is `SameSite=None; Secure` (the POST comes from A's site), the
/// answer is read from the POST body only — the same parameters in a GET
/// are refused without spending the flow —, a posted `user` (Apple's)
/// fills in the name the ID token lacks, and a replay is refused.
async fn a_form_post_upstream(dir: tempfile::TempDir, db: Database) {
    let a = upstream_server("").await;
    let keys = "response_mode = \"form_post\"\nscopes = [\"email\"]";
    let b = downstream_server(dir, &db, &hotel(&a.base, keys));
    register(&a, "downstream", &b, "hotel", true).await;
    let up = a.base.clone();
    let rig = Rig { a, b, up };
    let b = &rig.b;
    let view = b
        .admin_expect(Method::GET, "/admin/upstreams/hotel", None, 200)
        .await;
    assert_eq!(view["response_mode"], "form_post");

    let agent = rig.agent();
    let (verifier, at, login) = app1_login(&agent, b).await;
    let (href, _) = upstream_button(&login.body, "hotel").expect("a button");
    let r = agent.raw(at.join(&href).unwrap().as_str()).await;
    assert_eq!(r.status(), 303);
    let to_a = location(&r);
    assert_eq!(query(&to_a, "response_mode").as_deref(), Some("form_post"));
    let cookie = r
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("fd_upstream="))
        .expect("the flow cookie");
    let attrs: Vec<String> = cookie
        .split(';')
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    for want in [
        "httponly",
        "samesite=none",
        "secure",
        "path=/",
        "max-age=600",
    ] {
        assert!(attrs.iter().any(|a| a == want), "{want} in {cookie}");
    }
    let flow_cookie = cookie.split(';').next().unwrap().to_owned();

    // A signs carol in and answers with a page that posts to B.
    let hop = agent.get(to_a.as_str()).await;
    let (at_a, page) = agent.at_upstream(&rig.up, hop, CAROL, None).await.page();
    assert_eq!(at_a.origin(), origin(&rig.up), "{at_a}");
    let (action, fields) = posted_form(&page.body);
    assert_eq!(action, b.url("/upstream/hotel/callback"));
    let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
    for n in ["code", "state", "iss"] {
        assert!(names.contains(&n), "{n} in {names:?}");
    }

    // The same answer in a URL, with the flow's own cookie: refused, and
    // nothing spent.
    let mut url = Url::parse(&action).unwrap();
    url.query_pairs_mut().extend_pairs(&fields);
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = plain
        .get(url.clone())
        .header(header::COOKIE, &flow_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("This sign-in could not be completed"),
        "{text}"
    );
    // Not a form: refused too.
    let r = plain
        .post(&action)
        .header(header::COOKIE, &flow_cookie)
        .json(&serde_json::Map::from_iter(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone()))),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // The browser posts it, with Apple's `user` beside A's fields.
    let mut posted: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let user =
        r#"{"name":{"firstName":"Carol","lastName":"Apple"},"email":"someone@else.example"}"#;
    posted.push(("user", user));
    let hop = agent
        .post(&Url::parse(&action).unwrap(), &posted, None)
        .await;
    let cb = agent.to_app1(b, hop).await;
    let id = app1_token(b, &cb, &verifier).await;
    assert_eq!(id["name"], "Carol Apple", "{id}");
    assert_eq!(id["email"], "carol@hotel.example", "{id}");

    // The same post again: the flow is spent.
    let r = plain
        .post(&action)
        .header(header::COOKIE, &flow_cookie)
        .form(&posted)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
both!(with_db a_form_post_upstream);

/// An upstream's `icon`, an image of the theme directory, is on its
/// button (served by frontdesk, never fetched from elsewhere); one the
/// theme lacks stops start-up, and is refused by the admin API.
async fn an_upstream_icon_comes_from_the_theme(dir: tempfile::TempDir, db: Database) {
    let a = upstream_server("").await;
    let up = a.base.clone();
    let theme = dir.path().join("theme");
    std::fs::create_dir(&theme).unwrap();
    let svg = r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"><rect width="1" height="1"/></svg>"#;
    std::fs::write(theme.join("hotel.svg"), svg).unwrap();
    let branding = format!("[branding]\ntheme_dir = \"{}\"\n", theme.display());
    let with_icon = |icon: &str| format!("{branding}{}", hotel(&up, &format!("icon = \"{icon}\"")));

    // An icon the theme lacks: start-up stops, saying so.
    let broken = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(crate::support::bin())
        .arg("--config")
        .arg({
            let p = broken.path().join("frontdesk.toml");
            let text = format!(
                "{}\n{}\n{}",
                crate::support::BASE_CONFIG,
                SIGNIN_CONFIG,
                with_icon("missing.png")
            );
            std::fs::write(&p, text).unwrap();
            p
        })
        .arg("--data-dir")
        .arg(broken.path().join("data"))
        .arg("--database")
        .arg(format!(
            "sqlite://{}",
            broken.path().join("fd.db").display()
        ))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--issuer", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            r#"config: upstreams[hotel]: icon "missing.png" is not an image in branding.theme_dir"#
        ),
        "{err}"
    );

    let b = downstream_server(dir, &db, &with_icon("hotel.svg"));
    let rig = Rig { a, b, up };
    let (_, login) = rig.agent().get(&rig.b.url("/login")).await.page();
    let page = unescape(&login.body);
    assert!(
        page.contains(
            r#"<a class="button upstream" href="/upstream/hotel/start"><img src="/theme/hotel.svg" alt="" width="20" height="20"> Sign in with Hotel Group SSO</a>"#
        ),
        "{page}"
    );
    assert_eq!(
        upstream_button(&login.body, "hotel"),
        Some((
            "/upstream/hotel/start".to_owned(),
            "Sign in with Hotel Group SSO".to_owned()
        ))
    );
    let r = reqwest::get(rig.b.url("/theme/hotel.svg")).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[header::CONTENT_TYPE], "image/svg+xml");
    let view = rig
        .b
        .admin_expect(Method::GET, "/admin/upstreams/hotel", None, 200)
        .await;
    assert_eq!(view["icon"], "hotel.svg");

    // Added at run time: the same rules.
    let spec = |icon: &str| {
        json!({
            "id": "corp", "display_name": "Corp", "issuer": rig.a.base,
            "client_id": "c", "client_secret": SECRET, "icon": icon,
        })
    };
    let (status, body) = rig
        .b
        .admin_call(Method::POST, "/admin/upstreams", Some(spec("nope.svg")))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error_description"],
        r#"upstreams[corp]: icon "nope.svg" is not an image in branding.theme_dir"#
    );
    let (status, body) = rig
        .b
        .admin_call(Method::POST, "/admin/upstreams", Some(spec("../x.svg")))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error_description"],
        r#"upstreams[corp]: icon "../x.svg" must be the name of an image in branding.theme_dir"#
    );
    rig.b
        .admin_expect(
            Method::POST,
            "/admin/upstreams",
            Some(spec("hotel.svg")),
            201,
        )
        .await;
    let (_, login) = rig.agent().get(&rig.b.url("/login")).await.page();
    let page = unescape(&login.body);
    assert!(
        page.contains(r#"href="/upstream/corp/start"><img src="/theme/hotel.svg""#),
        "{page}"
    );
}
both!(with_db an_upstream_icon_comes_from_the_theme);

// ----- private_key_jwt at the upstream -----

/// `der` (PKCS#8) as PEM.
fn pem_of(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

/// `token_endpoint_auth_method = "private_key_jwt"`: B proves itself at
/// A's token endpoint with an RFC 7523 assertion signed by its key, A
/// holding only the public key (which B's view shows, to register); from
/// the configuration file and through the admin API (the PEM sealed,
/// never shown); a key A does not know is a 502 at B.
async fn an_upstream_with_private_key_jwt(dir: tempfile::TempDir, db: Database) {
    use frontdesk_jose::{Algorithm, SigningKey};
    let a = upstream_server("").await;
    let (key, der) = SigningKey::generate(Algorithm::ES256).unwrap();
    let pem = pem_of(&der);
    let key_file = dir.path().join("upstream.key");
    std::fs::write(&key_file, &pem).unwrap();
    let entry = format!(
        r#"
[[upstreams]]
id = "hotel"
display_name = "Hotel Group SSO"
issuer = "{}"
client_id = "downstream"
token_endpoint_auth_method = "private_key_jwt"
private_key_file = "{}"
"#,
        a.base,
        key_file.display()
    );
    let b = downstream_server(dir, &db, &entry);
    let public = json!({"jwks": crate::private_key_jwt::jwks_of(&[&key])});
    let cb = |id: &str| b.url(&format!("/upstream/{id}/callback"));
    crate::private_key_jwt::register_as(&a, "downstream", &cb("hotel"), public.clone()).await;
    crate::private_key_jwt::register_as(&a, "downstream2", &cb("corp"), public).await;
    let (other, _) = SigningKey::generate(Algorithm::ES256).unwrap();
    let unknown = json!({"jwks": crate::private_key_jwt::jwks_of(&[&other])});
    crate::private_key_jwt::register_as(&a, "downstream3", &cb("stranger"), unknown).await;
    let up = a.base.clone();
    let rig = Rig { a, b, up };

    let r = rig
        .b
        .admin_req(Method::GET, "/admin/upstreams/hotel", None)
        .await;
    let text = r.text().await.unwrap();
    let view: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(view["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(
        view["public_jwk"],
        serde_json::to_value(key.public_jwk()).unwrap()
    );
    assert!(!text.contains("\"d\""), "no private part: {text}");
    let id = app1_via(&rig.agent(), &rig, "hotel", CAROL).await;
    assert_eq!(id["email"], "carol@hotel.example");

    // Through the admin API, the PEM in the body.
    let spec = |id: &str, client: &str, pem: &str| {
        json!({
            "id": id, "display_name": id, "issuer": rig.up, "client_id": client,
            "token_endpoint_auth_method": "private_key_jwt", "private_key": pem,
        })
    };
    let r = rig
        .b
        .admin_req(
            Method::POST,
            "/admin/upstreams",
            Some(spec("corp", "downstream2", &pem)),
        )
        .await;
    assert_eq!(r.status(), 201);
    let text = r.text().await.unwrap();
    assert!(!text.contains("PRIVATE KEY"), "{text}");
    let dan = app1_via(&rig.agent(), &rig, "corp", DAN).await;
    assert_eq!(dan["email"], "dan@hotel.example", "{dan}");

    // Exact refusals.
    let refusal = async |body: Value| {
        let (status, v) = rig
            .b
            .admin_call(Method::POST, "/admin/upstreams", Some(body))
            .await;
        assert_eq!(status, 400, "{v}");
        v["error_description"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        refusal(spec("x1", "c", "not a key")).await,
        "upstreams[x1]: the private key is not a PKCS#8 PEM key (-----BEGIN PRIVATE KEY-----)"
    );
    let mut both = spec("x2", "c", &pem);
    both["client_secret"] = json!(SECRET);
    assert_eq!(
        refusal(both).await,
        "upstreams[x2]: private_key_jwt takes private_key or private_key_file, not a client secret"
    );
    let mut stray = spec("x3", "c", &pem);
    stray["token_endpoint_auth_method"] = json!("client_secret_basic");
    stray["client_secret"] = json!(SECRET);
    assert_eq!(
        refusal(stray).await,
        "upstreams[x3]: private_key is for token_endpoint_auth_method = \"private_key_jwt\""
    );

    // A key the upstream does not know: its token endpoint refuses B.
    rig.b
        .admin_expect(
            Method::POST,
            "/admin/upstreams",
            Some(spec("stranger", "downstream3", &pem)),
            201,
        )
        .await;
    let (_, page) = sign_in_via(&rig, "stranger", CAROL).await;
    assert_eq!(page.status, 502, "{}", page.body);
    assert!(
        page.body.contains("Sign-in with stranger failed"),
        "{}",
        page.body
    );
}
both!(with_db an_upstream_with_private_key_jwt);
