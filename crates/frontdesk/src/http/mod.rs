//! HTTP: routers for the public and the admin listener, middleware, and the
//! input caps the listeners enforce.

pub mod account;
pub mod admin;
pub mod backchannel;
pub mod browser;
pub mod device;
pub mod discovery;
pub mod email;
pub mod error;
pub mod i18n;
pub mod mfa;
pub mod notice;
pub mod pages;
pub mod passkey;
pub mod upstream;
pub mod userinfo;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Request, StatusCode};
use axum::routing::{get, post};
use frontdesk_core::paths;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::app::AppState;

/// Largest request body accepted (SECURITY.md §5.7).
pub const BODY_LIMIT: usize = 64 * 1024;

pub use frontdesk_web::{HEAD_LIMIT, MAX_HEADERS};

/// Longest a handler may run before the client gets 503.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether a request's body is declared a form,
/// `application/x-www-form-urlencoded` (parameters ignored).
pub(crate) fn is_form(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// The public router. Routes follow [`frontdesk_core::Features`], the same
/// value the discovery document is built from. With `metrics`, each request
/// is counted and timed per route template ([`crate::telemetry`]).
pub fn router(app: AppState, metrics: bool) -> Router {
    let f = app.core.features;
    let mut r = Router::new()
        .route(paths::OIDC_DISCOVERY, get(discovery::metadata))
        .route(paths::OAUTH_METADATA, get(discovery::metadata))
        .route(paths::JWKS, get(discovery::jwks))
        .route("/health/live", get(discovery::live))
        .route("/health/ready", get(discovery::ready));
    if f.token_endpoint() {
        r = r.route(paths::TOKEN, post(backchannel::token));
    }
    if f.authorization_code {
        r = r
            .route(
                paths::AUTHORIZE,
                get(browser::authorize_get).post(browser::authorize_post),
            )
            .route(
                paths::LOGIN,
                get(browser::login_get).post(browser::login_post),
            )
            .route(mfa::PATH, get(mfa::get).post(mfa::post))
            .route(mfa::ENROL_PATH, post(mfa::enrol_post))
            .route(passkey::LOGIN_OPTIONS, post(passkey::login_options))
            .route(passkey::LOGIN, post(passkey::login_post))
            .route(passkey::MFA_OPTIONS, post(passkey::mfa_options))
            .route(passkey::MFA, post(passkey::mfa_post))
            .route(passkey::ACCOUNT_OPTIONS, post(passkey::account_options))
            .route(passkey::ACCOUNT_ADD, post(passkey::account_add))
            .route(passkey::ACCOUNT_REMOVE, post(passkey::account_remove))
            .route(passkey::SCRIPT_PATH, get(passkey::script))
            .route("/upstream/{id}/start", get(upstream::start))
            .route(
                "/upstream/{id}/callback",
                get(upstream::callback).post(upstream::callback_post),
            )
            .route("/upstream/{id}/link", post(upstream::link))
            .route("/upstream/{id}/logged-out", get(upstream::logged_out))
            .route("/account/upstreams/unlink", post(upstream::unlink))
            .route(account::PATH, get(account::page))
            .route("/account/profile", post(account::profile))
            .route("/account/email", post(account::email))
            .route("/account/password", post(account::password))
            .route("/account/totp", get(account::totp))
            .route("/account/totp/remove", post(account::totp_remove))
            .route("/account/recovery-codes", post(account::recovery_codes))
            .route("/account/apps/revoke", post(account::revoke_app))
            .route("/account/sessions/end", post(account::end_session))
            .route(
                "/account/sessions/end-others",
                post(account::end_other_sessions),
            )
            .route(paths::CONSENT, post(browser::consent_post))
            .route(paths::PAR, post(backchannel::par))
            .route(
                paths::LOGOUT,
                get(browser::logout_get).post(browser::logout_post),
            )
            .route(
                paths::USERINFO,
                get(userinfo::userinfo).post(userinfo::userinfo),
            )
            .route("/assets/style.css", get(pages::style))
            .route("/assets/brand.css", get(pages::brand_css))
            .route("/theme/{file}", get(pages::theme_file))
            .route(
                paths::FORGOT,
                get(email::forgot_get).post(email::forgot_post),
            )
            .route("/forgot/sent", get(email::forgot_sent))
            .route(paths::RESET, get(email::reset_get).post(email::reset_post))
            .route("/reset/done", get(email::reset_done))
            .route(paths::VERIFY_EMAIL, get(email::verify_get));
    }
    if f.device() {
        r = r
            .route(
                paths::DEVICE_AUTHORIZATION,
                post(backchannel::device_authorization),
            )
            .route(device::PATH, get(device::page).post(device::enter))
            .route(device::DECIDE_PATH, post(device::decide));
    }
    if f.registration {
        r = r
            .route(
                paths::REGISTER,
                get(email::register_get).post(email::register_post),
            )
            .route("/register/sent", get(email::register_sent));
    }
    if f.introspection {
        r = r.route(paths::INTROSPECT, post(backchannel::introspect));
    }
    if f.revocation {
        r = r.route(paths::REVOKE, post(backchannel::revoke));
    }
    let r = r.fallback(error::not_found).with_state(app);
    let r = if metrics {
        r.layer(axum::middleware::from_fn(crate::telemetry::record_request))
    } else {
        r
    };
    with_middleware(r)
}

/// Gives each request an id of ours (random; a client's `X-Request-Id` is
/// not trusted), sent back as `X-Request-Id`, carried by the request's log
/// span and by the audit events it causes (`crate::audit::REQUEST`, with
/// the client's address).
pub async fn request_context(
    mut req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let id = crate::audit::new_request_id();
    let ctx = crate::audit::RequestContext {
        request_id: id.clone(),
        peer: req
            .extensions()
            .get::<crate::client_addr::ClientAddr>()
            .map(|c| c.0),
        asked: i18n::Asked {
            accept_language: req
                .headers()
                .get(axum::http::header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            ui_locales: std::sync::Arc::default(),
            chosen: std::sync::Arc::default(),
        },
    };
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut res = crate::audit::REQUEST.scope(ctx, next.run(req)).await;
    if let Ok(v) = axum::http::HeaderValue::from_str(&id) {
        res.headers_mut().insert("x-request-id", v);
    }
    res
}

/// The id [`request_context`] gave the request.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Middleware shared by both listeners: request ids, body limit, timeout,
/// panic guard, and request logs that carry the path and the request id but
/// never the query string, headers or bodies (which may hold credentials
/// and tokens).
pub fn with_middleware(r: Router) -> Router {
    r.layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("handler panicked");
            error::ApiError(frontdesk_core::error::Error::Internal("panic".into()))
                .into_response_boxed()
        }))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    // The client as the throttles see it (a trusted proxy's
                    // report, or the TCP peer).
                    let client = req
                        .extensions()
                        .get::<crate::client_addr::ClientAddr>()
                        .map_or(
                            std::net::IpAddr::from(std::net::Ipv4Addr::UNSPECIFIED),
                            |c| c.0,
                        );
                    let request_id = req
                        .extensions()
                        .get::<RequestId>()
                        .map_or("", |r| r.0.as_str());
                    tracing::info_span!(
                        "request",
                        method = %req.method(),
                        path = %req.uri().path(),
                        client = %client,
                        request_id = %request_id,
                    )
                })
                .on_request(())
                .on_response(
                    |res: &axum::http::Response<_>, latency: Duration, _span: &tracing::Span| {
                        tracing::info!(
                            status = res.status().as_u16(),
                            latency_us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
                            "response"
                        );
                    },
                ),
        )
        .layer(axum::middleware::from_fn(request_context))
}

impl error::ApiError {
    fn into_response_boxed(self) -> axum::http::Response<axum::body::Body> {
        axum::response::IntoResponse::into_response(self)
    }
}
