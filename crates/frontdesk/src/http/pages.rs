//! Server-rendered pages: templates, security headers, cookies and CSRF
//! tokens for the login, consent and logout forms.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use minijinja::Environment;
use subtle::ConstantTimeEq;

use frontdesk_core::secret::{self, Pepper};
pub use frontdesk_web::{CSP, security_headers};

/// The IdP's SSO session cookie.
pub const SESSION_COOKIE: &str = "fd_session";
/// A sign-in at an upstream identity provider in progress: its state,
/// sealed (`crate::upstream`).
pub const UPSTREAM_COOKIE: &str = "fd_upstream";
/// The anti-CSRF cookie; forms carry an HMAC of its value and of the
/// session cookie.
pub const CSRF_COOKIE: &str = "fd_csrf";
/// The accounts this browser signed in to before (`security_notices`):
/// keyed tags, never the accounts' names.
pub const KNOWN_COOKIE: &str = "fd_known";
/// The user code a person entered at `/device`, normalised, for the steps
/// after it (sign-in, second factor, the decision); until the code expires.
pub const DEVICE_COOKIE: &str = "fd_device";

/// The names the cookies get on https issuers. RFC 6265bis §4.1.3.2: a
/// `__Host-` cookie is only accepted with `Secure`, `Path=/` and no
/// `Domain`, so a sibling subdomain or a plain-http response cannot plant or
/// overwrite it.
const HOST_NAMES: [(&str, &str); 5] = [
    (SESSION_COOKIE, "__Host-fd_session"),
    (CSRF_COOKIE, "__Host-fd_csrf"),
    (KNOWN_COOKIE, "__Host-fd_known"),
    (UPSTREAM_COOKIE, "__Host-fd_upstream"),
    (DEVICE_COOKIE, "__Host-fd_device"),
];

/// Compiled templates. Names end in `.html`, so minijinja escapes every
/// value (client names, URIs and scopes are never marked safe).
/// Every page template, embedded at build time.
macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        [$(($name, include_str!(concat!("../../templates/", $name)))),*]
    };
}

const TEMPLATES: [(&str, &str); 17] = templates![
    "base.html",
    "login.html",
    "consent.html",
    "error.html",
    "message.html",
    "form_post.html",
    "mfa.html",
    "mfa_enrol.html",
    "recovery_codes.html",
    "account.html",
    "forgot.html",
    "reset.html",
    "register.html",
    "not_allowed.html",
    "device.html",
    "device_confirm.html",
    "device_done.html",
];

pub struct Pages {
    env: Environment<'static>,
    /// Cookies get `Secure` when the issuer is https.
    pub secure_cookies: bool,
    /// `[[scopes]]`: what a scope lets an application do, in the
    /// operator's words (before the built-in ones).
    pub scope_descriptions: std::collections::BTreeMap<String, String>,
    /// The policy of every page: [`CSP`], plus a branding logo's origin.
    csp: String,
    /// A logo on another server (`[branding] logo`), its origin.
    logo_origin: Option<String>,
    /// The theme's stylesheet, `/assets/brand.css` and other files.
    stylesheet: Option<String>,
    brand_css: Option<String>,
    assets: std::collections::BTreeMap<String, crate::branding::Asset>,
    /// The pages' languages (`t()` in templates).
    catalogue: std::sync::Arc<super::i18n::Catalogue>,
}

impl Pages {
    pub fn new(secure_cookies: bool) -> Result<Pages, minijinja::Error> {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)?;
        }
        env.add_global(
            "brand",
            minijinja::context! { product_name => "frontdesk", logo => None::<String>, css => false },
        );
        let catalogue = std::sync::Arc::new(
            super::i18n::Catalogue::load("en")
                .map_err(|e| minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, e))?,
        );
        super::i18n::install(&mut env, catalogue.clone());
        Ok(Pages {
            env,
            secure_cookies,
            scope_descriptions: std::collections::BTreeMap::new(),
            csp: CSP.to_owned(),
            logo_origin: None,
            stylesheet: None,
            brand_css: None,
            assets: std::collections::BTreeMap::new(),
            catalogue,
        })
    }

    /// `default_locale`: the language of a request that asks for none we
    /// ship.
    pub fn set_default_locale(&mut self, tag: &str) -> Result<(), String> {
        let catalogue = std::sync::Arc::new(super::i18n::Catalogue::load(tag)?);
        super::i18n::install(&mut self.env, catalogue.clone());
        self.catalogue = catalogue;
        Ok(())
    }

    /// `[branding]`: the name and logo every page shows (the `brand`
    /// global), the theme's templates in place of the built-in ones of the
    /// same name, its stylesheet and files. A theme template that does not
    /// parse, or does not render with an empty context, is an error here,
    /// at start-up, naming the file.
    pub fn apply_branding(&mut self, b: &crate::branding::Branding) -> Result<(), String> {
        for (name, source) in &b.templates {
            self.env
                .add_template_owned(name.clone(), source.clone())
                .map_err(|e| format!("theme template {name}: {e}"))?;
        }
        self.env.add_global(
            "brand",
            minijinja::context! {
                product_name => &b.product_name,
                logo => &b.logo,
                css => b.brand_css.is_some(),
            },
        );
        for name in b.templates.keys() {
            self.env
                .get_template(name)
                .and_then(|t| t.render(minijinja::context! {}))
                .map_err(|e| format!("theme template {name}: {e}"))?;
        }
        self.logo_origin.clone_from(&b.logo_origin);
        self.csp = match &b.logo_origin {
            Some(o) => format!("{CSP}; img-src 'self' {o}"),
            None => CSP.to_owned(),
        };
        self.stylesheet.clone_from(&b.stylesheet);
        self.brand_css.clone_from(&b.brand_css);
        self.assets.clone_from(&b.assets);
        Ok(())
    }

    /// `/assets/style.css`: the theme's, else the built-in one.
    pub fn stylesheet(&self) -> &str {
        self.stylesheet
            .as_deref()
            .unwrap_or(frontdesk_web::STYLE_CSS)
    }

    /// `/assets/brand.css`, when colours are configured.
    pub fn brand_css(&self) -> Option<&str> {
        self.brand_css.as_deref()
    }

    /// Whether the theme has an image of this name (an upstream's icon).
    pub fn is_image(&self, name: &str) -> bool {
        crate::branding::is_image(&self.assets, name)
    }

    /// A theme file by name.
    pub fn asset(&self, name: &str) -> Option<&crate::branding::Asset> {
        self.assets.get(name)
    }

    /// The policy of every page, letting it also load images from `logo`'s
    /// origin (a client's `logo_uri`, RFC 7591 §2): nothing else of that
    /// origin.
    pub fn csp_with_image(&self, logo: Option<&str>) -> String {
        let origin = logo
            .and_then(|l| url::Url::parse(l).ok())
            .map(|u| u.origin().ascii_serialization())
            .filter(|o| o != "null");
        let sources: Vec<&str> = self
            .logo_origin
            .iter()
            .chain(origin.iter())
            .map(String::as_str)
            .collect();
        if sources.is_empty() {
            CSP.to_owned()
        } else {
            format!("{CSP}; img-src 'self' {}", sources.join(" "))
        }
    }

    /// Renders a page with the headers every HTML response carries.
    pub fn render(&self, status: StatusCode, name: &str, ctx: minijinja::Value) -> Response {
        self.render_with_csp(status, name, ctx, &self.csp)
    }

    pub fn render_with_csp(
        &self,
        status: StatusCode,
        name: &str,
        ctx: minijinja::Value,
        csp: &str,
    ) -> Response {
        match self.env.get_template(name).and_then(|t| t.render(ctx)) {
            Ok(body) => {
                let mut r = (status, axum::response::Html(body)).into_response();
                security_headers(r.headers_mut(), csp);
                r
            }
            Err(e) => {
                tracing::error!(error = %e, template = name, "template rendering failed");
                let mut r =
                    (StatusCode::INTERNAL_SERVER_ERROR, "internal server error").into_response();
                security_headers(r.headers_mut(), CSP);
                r
            }
        }
    }

    /// The error page: used whenever redirecting is not safe. `message`
    /// tells the person what happened and what to do next; `code` (an
    /// OAuth error code or the like) goes in the page's folded "details for
    /// developers".
    pub fn error(
        &self,
        status: StatusCode,
        heading: &str,
        message: &str,
        code: Option<&str>,
    ) -> Response {
        self.error_with_detail(status, heading, message, code, None)
    }

    /// [`Pages::error`] with the developer detail (e.g. "redirect_uri is
    /// not registered for this client") folded away under the person's
    /// message. Every error page carries the request's id (the response's
    /// `X-Request-Id`) for the person to quote, and is logged with its code
    /// and detail, so the id on the page finds the log line.
    pub fn error_with_detail(
        &self,
        status: StatusCode,
        heading: &str,
        message: &str,
        code: Option<&str>,
        detail: Option<&str>,
    ) -> Response {
        let request_id = current_request_id();
        tracing::info!(
            request_id = request_id.as_deref().unwrap_or(""),
            code = code.unwrap_or(""),
            detail = detail.unwrap_or(""),
            heading,
            "error page shown"
        );
        self.render(
            status,
            "error.html",
            minijinja::context! {
                heading => heading,
                message => message,
                code => code,
                detail => detail,
                request_id => request_id,
            },
        )
    }

    pub fn message(&self, heading: &str, message: &str) -> Response {
        self.render(
            StatusCode::OK,
            "message.html",
            minijinja::context! { heading => heading, message => message },
        )
    }

    /// The name `name` (one of the constants above) has on the wire:
    /// `__Host-`-prefixed on https issuers.
    pub fn cookie_name(&self, name: &'static str) -> &'static str {
        if !self.secure_cookies {
            return name;
        }
        HOST_NAMES
            .iter()
            .find(|(plain, _)| *plain == name)
            .map_or(name, |(_, host)| host)
    }

    /// A cookie with our attributes: HttpOnly, SameSite=Lax, Path=/, and
    /// Secure (with the `__Host-` name) on https issuers.
    pub fn cookie(&self, name: &'static str, value: String, max_age_secs: i64) -> Cookie<'static> {
        let mut c = Cookie::new(self.cookie_name(name), value);
        c.set_http_only(true);
        c.set_same_site(SameSite::Lax);
        c.set_path("/");
        c.set_secure(self.secure_cookies);
        c.set_max_age(time::Duration::seconds(max_age_secs));
        c
    }

    /// The cookie that removes `name`: empty and expired, with the
    /// attributes a browser needs to accept it for a `__Host-` name.
    pub fn removal(&self, name: &'static str) -> Cookie<'static> {
        let mut c = self.cookie(name, String::new(), 0);
        c.make_removal();
        c
    }
}

/// The CSRF token for a form: HMAC(pepper, "csrf:" ‖ len ‖ CSRF cookie ‖
/// SHA-256(session cookie)). A token from another browser (another CSRF
/// cookie) never validates, and neither does one made for the same CSRF
/// cookie under another session: someone who plants their own `fd_csrf`
/// value in a victim's browser and fetches the matching token with it from
/// their own machine (RFC 6749 §10.12, SECURITY.md R37) gets a token for
/// *their* session, or for none, never for the victim's, whose session
/// cookie they cannot read. A form shown before sign-in is bound to "no
/// session".
pub fn csrf_token(pepper: &Pepper, csrf_cookie: &str, session_cookie: Option<&str>) -> String {
    use base64::Engine;
    let session = session_cookie.map(secret::token_hash).unwrap_or_default();
    let session = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(session);
    // The length prefix keeps the two parts apart whatever they contain.
    let input = format!("csrf:{}:{csrf_cookie}:{session}", csrf_cookie.len());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pepper.hash_secret(&input))
}

/// The session cookie's value in `jar`, if any.
fn session_value<'a>(pages: &Pages, jar: &'a CookieJar) -> Option<&'a str> {
    jar.get(pages.cookie_name(SESSION_COOKIE))
        .map(|c| c.value())
        .filter(|v| !v.is_empty())
}

/// Returns the jar with a CSRF cookie (reusing the current one) and the
/// token to embed in the form, bound to the browser's current session.
pub fn ensure_csrf(pages: &Pages, pepper: &Pepper, jar: CookieJar) -> (CookieJar, String) {
    let session = session_value(pages, &jar).map(str::to_owned);
    if let Some(c) = jar.get(pages.cookie_name(CSRF_COOKIE)) {
        let token = csrf_token(pepper, c.value(), session.as_deref());
        return (jar, token);
    }
    let value = secret::random_string(32).unwrap_or_default();
    let token = csrf_token(pepper, &value, session.as_deref());
    (jar.add(pages.cookie(CSRF_COOKIE, value, 24 * 3600)), token)
}

/// Checks a submitted form token against the browser's CSRF cookie and its
/// current session, in constant time.
pub fn csrf_ok(pages: &Pages, pepper: &Pepper, jar: &CookieJar, submitted: Option<&str>) -> bool {
    let (Some(cookie), Some(submitted)) = (jar.get(pages.cookie_name(CSRF_COOKIE)), submitted)
    else {
        return false;
    };
    if cookie.value().is_empty() {
        return false;
    }
    let expected = csrf_token(pepper, cookie.value(), session_value(pages, jar));
    expected.len() == submitted.len() && bool::from(expected.as_bytes().ct_eq(submitted.as_bytes()))
}

/// The id the request-id middleware (`http::request_context`) gave the
/// request being served: the value of its `X-Request-Id` response header.
/// `None` outside a request.
fn current_request_id() -> Option<String> {
    crate::audit::REQUEST
        .try_with(|c| c.request_id.clone())
        .ok()
}

pub async fn style(
    axum::extract::State(app): axum::extract::State<crate::app::AppState>,
) -> Response {
    (
        frontdesk_web::STYLE_HEADERS,
        app.web.pages.stylesheet().to_owned(),
    )
        .into_response()
}

/// `GET /assets/brand.css`: the `[branding]` colours (404 without them).
pub async fn brand_css(
    axum::extract::State(app): axum::extract::State<crate::app::AppState>,
) -> Response {
    match app.web.pages.brand_css() {
        Some(css) => (frontdesk_web::STYLE_HEADERS, css.to_owned()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `GET /theme/{file}`: a file of the theme directory, read at start-up.
pub async fn theme_file(
    axum::extract::State(app): axum::extract::State<crate::app::AppState>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Response {
    match app.web.pages.asset(&name) {
        Some(a) => (
            [
                (axum::http::header::CONTENT_TYPE, a.content_type),
                (axum::http::header::CACHE_CONTROL, "public, max-age=3600"),
                (axum::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                // An SVG opened on its own runs nothing and frames nothing.
                (
                    axum::http::header::CONTENT_SECURITY_POLICY,
                    "default-src 'none'; style-src 'unsafe-inline'; sandbox",
                ),
                (axum::http::header::X_FRAME_OPTIONS, "DENY"),
            ],
            a.body.clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A human sentence per scope for the consent page.
impl Pages {
    /// What `scope` lets an application do, finishing "APP wants to: …":
    /// the `[[scopes]]` description, else the built-in one of a scope this
    /// server defines, else the scope's name.
    pub fn describe_scope(&self, scope: &str) -> String {
        if let Some(d) = self.scope_descriptions.get(scope) {
            return d.clone();
        }
        let c = &self.catalogue;
        let lang = c.current();
        match scope {
            "openid"
            | "profile"
            | "email"
            | "address"
            | "phone"
            | "offline_access"
            | frontdesk_core::groups::SCOPE => c.message(lang, &format!("scope-{scope}"), &[]),
            other => c.message(lang, "scope-other", &[("scope".into(), other.to_owned())]),
        }
    }
}
