//! A cookie-keeping browser for the sign-in tests: follows frontdesk's own
//! redirects, fills the real HTML forms, and stops at the client's
//! redirect URI.

use base64::Engine;
use reqwest::StatusCode;

use crate::support::Server;

pub const SIGNIN_CONFIG: &str = r#"
[[clients]]
client_id = "app1"
client_secret = "app1-secret-0123456789abcdef"
client_name = "APP1"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["https://app1.example.com/cb"]
post_logout_redirect_uris = ["https://app1.example.com/bye"]
scope = "openid profile email offline_access photos:read"
audience = ["https://photos.example.com"]

[[clients]]
client_id = "app2"
client_secret = "app2-secret-0123456789abcdef"
client_name = "APP2"
grant_types = ["authorization_code"]
redirect_uris = ["https://app2.example.com/cb"]
scope = "openid email"
id_token_signed_response_alg = "ES256"

[[clients]]
client_id = "native"
client_name = "Native CLI"
token_endpoint_auth_method = "none"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["http://127.0.0.1/callback"]
scope = "openid profile offline_access"

[[clients]]
client_id = "portal"
client_secret = "portal-secret-0123456789abcdef"
client_name = "Staff Portal"
first_party = true
grant_types = ["authorization_code"]
redirect_uris = ["https://portal.example.com/cb"]
scope = "openid profile"

[[users]]
username = "bob"
password = "bob-password-123456"
email = "bob@example.com"
name = "Bob Builder"
"#;

pub const ALICE: (&str, &str) = ("alice", "correct horse battery staple");

pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
}

/// An HTML page as the browser saw it.
pub struct Page {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    /// The value of a hidden or text input, HTML-unescaped.
    pub fn input(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\"");
        let at = self.body.find(&marker)?;
        let rest = &self.body[at..];
        let v = rest.find("value=\"")?;
        let rest = &rest[v + 7..];
        let end = rest.find('"')?;
        Some(unescape(&rest[..end]))
    }
}

pub fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Where a flow ended.
pub enum End {
    /// A redirect to a URL outside frontdesk (the client).
    Redirect(url::Url),
    /// A page at frontdesk (login, consent, error, form_post).
    Page(Page),
}

impl Browser {
    pub fn new(s: &Server) -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: s.base.clone(),
        }
    }

    async fn follow(&self, mut resp: reqwest::Response) -> End {
        for _ in 0..10 {
            if !resp.status().is_redirection() {
                let status = resp.status();
                let headers = resp.headers().clone();
                return End::Page(Page {
                    status,
                    headers,
                    body: resp.text().await.unwrap(),
                });
            }
            assert_eq!(
                resp.status(),
                StatusCode::SEE_OTHER,
                "frontdesk redirects with 303"
            );
            let loc = resp.headers()["location"].to_str().unwrap().to_owned();
            let url = if loc.starts_with('/') {
                format!("{}{}", self.base, loc)
            } else {
                loc
            };
            if !url.starts_with(&self.base) {
                return End::Redirect(url::Url::parse(&url).unwrap());
            }
            resp = self.http.get(&url).send().await.unwrap();
        }
        panic!("redirect loop");
    }

    pub async fn get(&self, url: &str) -> End {
        let resp = self.http.get(url).send().await.unwrap();
        self.follow(resp).await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> End {
        let resp = self
            .http
            .post(format!("{}{}", self.base, path))
            .form(form)
            .send()
            .await
            .unwrap();
        self.follow(resp).await
    }

    /// Fills the login page.
    pub async fn login(&self, page: &Page, user: (&str, &str)) -> End {
        let csrf = page.input("csrf").expect("csrf field");
        let request = page.input("request").expect("request field");
        self.post(
            "/login",
            &[
                ("csrf", &csrf),
                ("request", &request),
                ("username", user.0),
                ("password", user.1),
            ],
        )
        .await
    }

    /// Answers the consent page.
    pub async fn consent(&self, page: &Page, decision: &str) -> End {
        let csrf = page.input("csrf").expect("csrf field");
        let request = page.input("request").expect("request field");
        self.post(
            "/consent",
            &[
                ("csrf", &csrf),
                ("request", &request),
                ("decision", decision),
            ],
        )
        .await
    }
}

pub fn page(end: End) -> Page {
    match end {
        End::Page(p) => p,
        End::Redirect(u) => panic!("expected a page, got a redirect to {u}"),
    }
}

pub fn redirect(end: End) -> url::Url {
    match end {
        End::Redirect(u) => u,
        End::Page(p) => panic!("expected a redirect, got {} {}", p.status, p.body),
    }
}

pub fn query(u: &url::Url, name: &str) -> Option<String> {
    u.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A PKCE pair (RFC 7636 §4.1–4.2).
pub fn pkce() -> (String, String) {
    let verifier =
        format!("v{}", "x".repeat(20)) + &frontdesk_core::secret::random_string(32).unwrap();
    let digest = frontdesk_jose::sha256(verifier.as_bytes());
    (
        verifier,
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest),
    )
}

/// An authorization URL with the usual parameters plus `extra`.
pub fn authorize_url(
    s: &Server,
    client: &str,
    redirect: &str,
    scope: &str,
    challenge: &str,
    extra: &[(&str, &str)],
) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("response_type", "code")
        .append_pair("client_id", client)
        .append_pair("redirect_uri", redirect)
        .append_pair("scope", scope)
        .append_pair("state", "st-123")
        .append_pair("nonce", "n-456")
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    for (k, v) in extra {
        q.append_pair(k, v);
    }
    format!("{}/authorize?{}", s.base, q.finish())
}

// ----- the security suites' clients and flows (security_authorize.rs,
// security_token.rs, oidc_interop.rs) -----

pub const APP1: (&str, &str) = ("app1", "app1-secret-0123456789abcdef");
pub const APP1_CB: &str = "https://app1.example.com/cb";
pub const NATIVE_CB: &str = "http://127.0.0.1/callback";
/// browser.rs SIGNIN_CONFIG plus `app3`, whose redirect URI has a query.
pub const SECURITY_CONFIG: &str = r#"
[[clients]]
client_id = "app1"
client_secret = "app1-secret-0123456789abcdef"
client_name = "APP1"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["https://app1.example.com/cb"]
post_logout_redirect_uris = ["https://app1.example.com/bye"]
scope = "openid profile email offline_access photos:read"
audience = ["https://photos.example.com"]

[[clients]]
client_id = "app2"
client_secret = "app2-secret-0123456789abcdef"
client_name = "APP2"
grant_types = ["authorization_code"]
redirect_uris = ["https://app2.example.com/cb"]
scope = "openid email"
id_token_signed_response_alg = "ES256"

[[clients]]
client_id = "app3"
client_secret = "app3-secret-0123456789abcdef"
client_name = "APP3"
grant_types = ["authorization_code"]
redirect_uris = ["https://app3.example.com/cb?a=1&b=2"]
scope = "openid"

[[clients]]
client_id = "native"
client_name = "Native CLI"
token_endpoint_auth_method = "none"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["http://127.0.0.1/callback"]
scope = "openid profile offline_access"
# No grace window: R20 replays a rotated token at once.
refresh_grace_secs = 0

[[clients]]
client_id = "portal"
client_secret = "portal-secret-0123456789abcdef"
client_name = "Staff Portal"
first_party = true
grant_types = ["authorization_code"]
redirect_uris = ["https://portal.example.com/cb"]
scope = "openid profile"

[[users]]
username = "bob"
password = "bob-password-123456"
email = "bob@example.com"
name = "Bob Builder"
"#;

/// `/authorize` with exactly these parameters.
pub fn authz(s: &Server, pairs: &[(&str, &str)]) -> String {
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    format!("{}/authorize?{}", s.base, q)
}

/// The usual parameters of a valid request, with `over` replacing or adding
/// some (an empty value drops the parameter).
pub fn params<'a>(
    client: &'a str,
    redirect_uri: &'a str,
    challenge: &'a str,
    over: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut p = vec![
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", redirect_uri),
        ("scope", "openid"),
        ("state", "st-123"),
        ("nonce", "n-456"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in over {
        p.retain(|(n, _)| n != k);
        if !v.is_empty() {
            p.push((k, v));
        }
    }
    p
}

/// Drives login and consent (whichever appear) to the client's redirect.
pub async fn drive(b: &Browser, url: &str, user: (&str, &str)) -> url::Url {
    let mut end = b.get(url).await;
    for _ in 0..4 {
        match end {
            End::Redirect(u) => return u,
            End::Page(p) => {
                assert_eq!(p.status, 200, "{}", p.body);
                end = if p.body.contains("name=\"password\"") {
                    b.login(&p, user).await
                } else if p.body.contains("action=\"/consent\"") {
                    b.consent(&p, "approve").await
                } else {
                    panic!("unexpected page: {}", p.body)
                };
            }
        }
    }
    panic!("sign-in did not finish");
}

/// A code for `client` with the standard parameters plus `extra`.
pub async fn code_for(
    s: &Server,
    b: &Browser,
    client: &str,
    redirect_uri: &str,
    scope: &str,
    challenge: &str,
    extra: &[(&str, &str)],
) -> String {
    let cb = drive(
        b,
        &authorize_url(s, client, redirect_uri, scope, challenge, extra),
        ALICE,
    )
    .await;
    assert!(cb.as_str().starts_with(redirect_uri), "{cb}");
    query(&cb, "code").unwrap_or_else(|| panic!("no code in {cb}"))
}

/// A new browser on app1's login page.
pub async fn at_login_page(s: &Server) -> (Browser, Page) {
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
    (b, login)
}
