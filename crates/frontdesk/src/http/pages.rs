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
/// The anti-CSRF cookie; forms carry an HMAC of its value.
pub const CSRF_COOKIE: &str = "fd_csrf";

/// Compiled templates. Names end in `.html`, so minijinja escapes every
/// value (client names, URIs and scopes are never marked safe).
pub struct Pages {
    env: Environment<'static>,
    /// Cookies get `Secure` when the issuer is https.
    pub secure_cookies: bool,
}

impl Pages {
    pub fn new(secure_cookies: bool) -> Result<Pages, minijinja::Error> {
        let mut env = Environment::new();
        env.add_template("base.html", include_str!("../../templates/base.html"))?;
        env.add_template("login.html", include_str!("../../templates/login.html"))?;
        env.add_template("consent.html", include_str!("../../templates/consent.html"))?;
        env.add_template("error.html", include_str!("../../templates/error.html"))?;
        env.add_template("message.html", include_str!("../../templates/message.html"))?;
        env.add_template(
            "form_post.html",
            include_str!("../../templates/form_post.html"),
        )?;
        Ok(Pages {
            env,
            secure_cookies,
        })
    }

    /// Renders a page with the headers every HTML response carries.
    pub fn render(&self, status: StatusCode, name: &str, ctx: minijinja::Value) -> Response {
        self.render_with_csp(status, name, ctx, CSP)
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

    /// The error page: used whenever redirecting is not safe.
    pub fn error(
        &self,
        status: StatusCode,
        heading: &str,
        message: &str,
        code: Option<&str>,
    ) -> Response {
        self.render(
            status,
            "error.html",
            minijinja::context! { heading => heading, message => message, code => code },
        )
    }

    pub fn message(&self, heading: &str, message: &str) -> Response {
        self.render(
            StatusCode::OK,
            "message.html",
            minijinja::context! { heading => heading, message => message },
        )
    }

    /// A cookie with our attributes: HttpOnly, SameSite=Lax, Path=/, and
    /// Secure on https issuers.
    pub fn cookie(&self, name: &'static str, value: String, max_age_secs: i64) -> Cookie<'static> {
        let mut c = Cookie::new(name, value);
        c.set_http_only(true);
        c.set_same_site(SameSite::Lax);
        c.set_path("/");
        c.set_secure(self.secure_cookies);
        c.set_max_age(time::Duration::seconds(max_age_secs));
        c
    }
}

/// The CSRF token for a form: HMAC(pepper, "csrf:" ‖ cookie value), so a
/// token from another browser (another cookie) never validates.
pub fn csrf_token(pepper: &Pepper, cookie_value: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(pepper.hash_secret(&format!("csrf:{cookie_value}")))
}

/// Returns the jar with a CSRF cookie (reusing the current one) and the
/// token to embed in the form.
pub fn ensure_csrf(pages: &Pages, pepper: &Pepper, jar: CookieJar) -> (CookieJar, String) {
    if let Some(c) = jar.get(CSRF_COOKIE) {
        let token = csrf_token(pepper, c.value());
        return (jar, token);
    }
    let value = secret::random_string(32).unwrap_or_default();
    let token = csrf_token(pepper, &value);
    (jar.add(pages.cookie(CSRF_COOKIE, value, 24 * 3600)), token)
}

/// Checks a submitted form token against the browser's CSRF cookie, in
/// constant time.
pub fn csrf_ok(pepper: &Pepper, jar: &CookieJar, submitted: Option<&str>) -> bool {
    let (Some(cookie), Some(submitted)) = (jar.get(CSRF_COOKIE), submitted) else {
        return false;
    };
    if cookie.value().is_empty() {
        return false;
    }
    let expected = csrf_token(pepper, cookie.value());
    expected.len() == submitted.len() && bool::from(expected.as_bytes().ct_eq(submitted.as_bytes()))
}

pub async fn style() -> Response {
    (frontdesk_web::STYLE_HEADERS, frontdesk_web::STYLE_CSS).into_response()
}

/// A human sentence per scope for the consent page.
pub fn describe_scope(scope: &str) -> String {
    match scope {
        "openid" => "confirm who you are".to_owned(),
        "profile" => "see your profile (name, nickname, picture)".to_owned(),
        "email" => "see your email address".to_owned(),
        "offline_access" => "keep access while you are away".to_owned(),
        other => format!("use the permission “{other}”"),
    }
}
