//! The one place that turns errors into HTTP responses.
//!
//! - OAuth errors get the RFC 6749 §5.2 JSON body `{"error", "error_description"}`
//!   with `Cache-Control: no-store`; `invalid_client` is 401 with
//!   `WWW-Authenticate: Basic` (RFC 6749 §5.2, RFC 9110 §15.5.2);
//!   `invalid_token`/`insufficient_scope` are 401/403 with a Bearer challenge
//!   (RFC 6750 §3); the rest are 400.
//! - A store outage is 503 with `Retry-After` (fail closed).
//! - A peer over its limit of failed client authentications is 429 with
//!   `Retry-After` and `temporarily_unavailable`.
//! - Internal errors say `server_error` and nothing else; the log gets the
//!   details, once.
//! - A body that cannot be read ([`BodyError`]) is 413 (too large), 408 (too
//!   slow) or 400, with `Connection: close`, on every listener.

use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use frontdesk_core::error::{Error, ErrorCode, OAuthError};
use frontdesk_core::store::StoreError;
use serde_json::json;

use crate::ops::OpsError;

/// Headers every token-bearing or error response carries (RFC 6749 §5.1).
/// `Retry-After` of a 503 during a store outage, seconds. Short on purpose:
/// the circuit breaker makes each early retry cost microseconds, and a
/// client that obeys it retries a grant whose reply was lost inside the
/// default `refresh_grace_secs` (2) and gets the same tokens.
pub const OUTAGE_RETRY_AFTER: HeaderValue = HeaderValue::from_static("1");

pub const NO_STORE: [(HeaderName, HeaderValue); 2] = [
    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
    (header::PRAGMA, HeaderValue::from_static("no-cache")),
];

/// An error on its way out of a protocol endpoint.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> ApiError {
        ApiError(e)
    }
}

impl From<OAuthError> for ApiError {
    fn from(e: OAuthError) -> ApiError {
        ApiError(Error::OAuth(e))
    }
}

fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::InvalidRequest
        | ErrorCode::AccessDenied
        | ErrorCode::UnsupportedResponseType
        | ErrorCode::LoginRequired
        | ErrorCode::ConsentRequired
        | ErrorCode::InteractionRequired
        | ErrorCode::RequestNotSupported
        | ErrorCode::RequestUriNotSupported
        | ErrorCode::InvalidRequestUri
        | ErrorCode::InvalidRequestObject
        | ErrorCode::UnmetAuthenticationRequirements
        | ErrorCode::InvalidGrant
        | ErrorCode::UnauthorizedClient
        | ErrorCode::UnsupportedGrantType
        | ErrorCode::InvalidScope
        | ErrorCode::InvalidTarget
        | ErrorCode::UnsupportedTokenType
        // RFC 9449 §5, §8: 400 at the token endpoint; a protected resource
        // answers 401 instead (`resource_error`).
        | ErrorCode::InvalidDpopProof
        | ErrorCode::UseDpopNonce
        | ErrorCode::AuthorizationPending
        | ErrorCode::SlowDown
        | ErrorCode::ExpiredToken => StatusCode::BAD_REQUEST,
    }
}

/// `error_description` as a challenge may carry it (RFC 6750 §3: "MUST
/// NOT include characters outside the set %x20-21 / %x23-5B / %x5D-7E"):
/// anything else — a quote, a backslash, a control or non-ASCII
/// character, which a description may repeat from the caller's input —
/// becomes `?`, so the challenge is always sent.
fn challenge_text(description: &str) -> String {
    description
        .chars()
        .map(|c| match c {
            ' ' | '!' | '#'..='[' | ']'..='~' => c,
            _ => '?',
        })
        .collect()
}

fn oauth_response(e: &OAuthError) -> Response {
    crate::telemetry::oauth_error(e.code.as_str());
    let status = status_of(e.code);
    let body = axum::Json(json!({ "error": e.code.as_str(), "error_description": e.description }));
    let mut resp = (status, NO_STORE, body).into_response();
    let challenge = match e.code {
        ErrorCode::InvalidClient => Some(r#"Basic realm="frontdesk", charset="UTF-8""#.to_owned()),
        ErrorCode::InvalidToken | ErrorCode::InsufficientScope => Some(format!(
            r#"Bearer realm="frontdesk", error="{}", error_description="{}""#,
            e.code.as_str(),
            challenge_text(&e.description)
        )),
        _ => None,
    };
    if let Some(v) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self.0 {
            Error::OAuth(e) => oauth_response(&e),
            Error::Unavailable(detail) => {
                tracing::warn!(%detail, "store unavailable; failing closed");
                let mut resp = oauth_response(&OAuthError::new(
                    ErrorCode::TemporarilyUnavailable,
                    "the service is temporarily unavailable; retry later",
                ));
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, OUTAGE_RETRY_AFTER);
                resp
            }
            Error::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                oauth_response(&OAuthError::new(
                    ErrorCode::ServerError,
                    "internal server error",
                ))
            }
        }
    }
}

/// Errors of the admin API: JSON `{"error", "error_description"}` with
/// 400/401/404/409 statuses, 502 `mail_failed` when the mail relay fails,
/// and 408/413 for bodies ([`BodyError`]).
#[derive(Debug)]
pub enum AdminError {
    Unauthorized,
    NotFound(&'static str),
    Invalid(String),
    Conflict(String),
    /// The mail relay refused the message or could not be reached: 502.
    Mail(String),
    /// The request body could not be read: 413, 408 or 400 (see [`BodyError`]).
    Body(BodyError),
    Internal(Error),
}

impl From<OpsError> for AdminError {
    fn from(e: OpsError) -> AdminError {
        match e {
            OpsError::NotFound(what) => AdminError::NotFound(what),
            OpsError::Invalid(m) => AdminError::Invalid(m),
            e @ OpsError::Conflict(_) => AdminError::Conflict(e.to_string()),
            OpsError::Mail(m) => AdminError::Mail(m),
            OpsError::Refused(m) => AdminError::Conflict(m),
            OpsError::Internal(e) => AdminError::Internal(e),
        }
    }
}

impl From<Error> for AdminError {
    fn from(e: Error) -> AdminError {
        OpsError::from(e).into()
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> AdminError {
        OpsError::from(e).into()
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, code, description) = match self {
            AdminError::Unauthorized => {
                let mut r = (
                    StatusCode::UNAUTHORIZED,
                    axum::Json(json!({"error": "unauthorized", "error_description": "a valid admin bearer token is required"})),
                )
                    .into_response();
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Bearer realm="frontdesk-admin""#),
                );
                return r;
            }
            AdminError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no such {what}"),
            ),
            AdminError::Invalid(m) => (StatusCode::BAD_REQUEST, "invalid_request", m),
            AdminError::Conflict(m) => (StatusCode::CONFLICT, "conflict", m),
            AdminError::Mail(m) => {
                tracing::warn!(detail = %m, "mail not sent");
                (
                    StatusCode::BAD_GATEWAY,
                    "mail_failed",
                    format!("the mail could not be sent: {m}"),
                )
            }
            AdminError::Body(b) => {
                return b.finish(
                    (
                        b.status(),
                        NO_STORE,
                        axum::Json(json!({"error": "invalid_request", "error_description": b.description()})),
                    )
                        .into_response(),
                );
            }
            AdminError::Internal(e) => return ApiError(e).into_response(),
        };
        (
            status,
            NO_STORE,
            axum::Json(json!({"error": code, "error_description": description})),
        )
            .into_response()
    }
}

/// RFC 6750 §3.1: "If the request lacks any authentication information …,
/// the resource server SHOULD NOT include an error code".
/// A protected resource's answer to a request without an access token:
/// 401 with a challenge for each scheme it accepts, `Bearer` (RFC 6750 §3)
/// and `DPoP` with the proof algorithms (RFC 9449 §7.1), without an error
/// code in either ("the resource server SHOULD NOT include an error code").
pub fn bearer_missing(dpop_algs: &str) -> Response {
    let mut r = (
        StatusCode::UNAUTHORIZED,
        NO_STORE,
        axum::Json(json!({"error": "invalid_token", "error_description": "a Bearer or DPoP access token is required"})),
    )
        .into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(r#"Bearer realm="frontdesk""#),
    );
    if let Ok(v) = HeaderValue::from_str(&format!(r#"DPoP realm="frontdesk", algs="{dpop_algs}""#))
    {
        r.headers_mut().append(header::WWW_AUTHENTICATE, v);
    }
    r
}

/// The errors of a protected resource (userinfo), RFC 6750 §3 and RFC 9449
/// §7.1: `invalid_token`, `invalid_dpop_proof` and `use_dpop_nonce` are
/// 401, `insufficient_scope` 403, each with a challenge of the scheme the
/// request used — `DPoP` (with `algs`) for a DPoP request or a DPoP error,
/// `Bearer` otherwise, followed by a bare `DPoP` challenge with `algs` (so
/// a client that sent a bound token as a bearer token learns how to send
/// it, RFC 9449 §7.2). Anything else is answered as everywhere.
pub fn resource_error(e: ApiError, dpop_request: bool, dpop_algs: &str) -> Response {
    let ApiError(Error::OAuth(o)) = &e else {
        return e.into_response();
    };
    let (status, dpop_error) = match o.code {
        ErrorCode::InvalidToken => (StatusCode::UNAUTHORIZED, false),
        ErrorCode::InsufficientScope => (StatusCode::FORBIDDEN, false),
        ErrorCode::InvalidDpopProof | ErrorCode::UseDpopNonce => (StatusCode::UNAUTHORIZED, true),
        _ => return e.into_response(),
    };
    crate::telemetry::oauth_error(o.code.as_str());
    let body = axum::Json(json!({ "error": o.code.as_str(), "error_description": o.description }));
    let mut resp = (status, NO_STORE, body).into_response();
    let description = challenge_text(&o.description);
    let dpop_scheme = dpop_request || dpop_error;
    let challenge = if dpop_scheme {
        format!(
            r#"DPoP realm="frontdesk", error="{}", error_description="{description}", algs="{dpop_algs}""#,
            o.code.as_str(),
        )
    } else {
        format!(
            r#"Bearer realm="frontdesk", error="{}", error_description="{description}""#,
            o.code.as_str(),
        )
    };
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    if !dpop_scheme
        && let Ok(v) =
            HeaderValue::from_str(&format!(r#"DPoP realm="frontdesk", algs="{dpop_algs}""#))
    {
        resp.headers_mut().append(header::WWW_AUTHENTICATE, v);
    }
    resp
}

/// `DPoP-Nonce` (RFC 9449 §8.1) on a response, when the server uses nonces.
pub fn with_dpop_nonce(mut resp: Response, nonce: Option<String>) -> Response {
    if let Some(v) = nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
        resp.headers_mut()
            .insert(HeaderName::from_static("dpop-nonce"), v);
    }
    resp
}

/// Unknown paths: a JSON 404 rather than an empty body.
pub async fn not_found() -> Response {
    not_found_response()
}

/// The 404 of [`not_found`], for a handler that finds its route is off.
pub fn not_found_response() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"error": "not_found", "error_description": "no such endpoint"})),
    )
        .into_response()
}

/// A peer over its limit of failed client authentications at `endpoint`
/// (`token`, `introspect`, `revoke`; SECURITY.md §5.6): 429 with
/// `Retry-After` in whole seconds (at least 1) and an RFC 6749 §5.2 body.
///
/// The code is `temporarily_unavailable`, deliberately:
/// - not `invalid_client`: the answer is given before (or regardless of)
///   authentication, so it must not claim the credentials are wrong — a
///   client with the right secret behind the same address gets it too, and
///   must not conclude its secret was revoked. It also keeps the 401 +
///   `Basic` challenge meaning exactly "these credentials failed".
/// - not `slow_down` (RFC 8628 §3.5): that is the device-flow polling
///   code, and clients outside that flow do not know it.
/// - `temporarily_unavailable` (RFC 6749 §4.1.2.1) is the registered code
///   that means "retry later", clients already handle it (we send it with
///   503 + `Retry-After` during a store outage), and the status and
///   `Retry-After` say the rest.
pub fn client_auth_throttled(endpoint: &'static str, wait: std::time::Duration) -> Response {
    crate::telemetry::client_auth_throttled(endpoint);
    let mut r = oauth_response(&OAuthError::new(
        ErrorCode::TemporarilyUnavailable,
        "too many failed client authentications from this address; retry later",
    ));
    *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    r.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from(crate::throttle::retry_after_secs(wait)),
    );
    r
}

/// Why a request body could not be read. Every listener answers these the
/// same way (status, `Connection: close`); only the body's shape depends on
/// the route: RFC 6749 §5.2 JSON at the back-channel endpoints
/// ([`BodyError::oauth_response`]), an HTML page on the browser forms
/// ([`BodyError::page`]), admin JSON ([`AdminError::Body`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Over [`super::BODY_LIMIT`], by `Content-Length` or by counting:
    /// `413 Content Too Large` (RFC 9110 §15.5.14).
    TooLarge,
    /// Not complete within `body_read_timeout_secs` of the request head
    /// (the listener's `RequestBodyDeadlineLayer`): `408 Request Timeout`
    /// (RFC 9110 §15.5.9).
    TooSlow,
    /// Anything else: broken chunked framing, the client went away
    /// mid-body. `400 Bad Request`.
    Unreadable,
}

impl BodyError {
    /// Classifies a body rejection. axum tells "too large" apart itself
    /// (413, whether from `Content-Length` or from counting); "too slow" is
    /// tower-http's `TimeoutError` somewhere in the rejection's source
    /// chain, so the layers axum puts between the body and the extractor
    /// do not matter.
    pub fn classify(rejection: &axum::extract::rejection::BytesRejection) -> BodyError {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return BodyError::TooLarge;
        }
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(rejection);
        while let Some(e) = next {
            if e.is::<tower_http::timeout::TimeoutError>() {
                return BodyError::TooSlow;
            }
            next = e.source();
        }
        BodyError::Unreadable
    }

    pub fn status(self) -> StatusCode {
        match self {
            BodyError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::TooSlow => StatusCode::REQUEST_TIMEOUT,
            BodyError::Unreadable => StatusCode::BAD_REQUEST,
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            BodyError::TooLarge => "request body too large",
            BodyError::TooSlow => "request body not received in time",
            BodyError::Unreadable => "request body could not be read",
        }
    }

    /// The status and `Connection: close` on `r`. The body was not read to
    /// its end, so the connection cannot carry another request: say so
    /// rather than leave the client to find a closed socket (RFC 9110
    /// §15.5.9 for 408; RFC 9112 §9.6).
    fn finish(self, mut r: Response) -> Response {
        *r.status_mut() = self.status();
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        r
    }

    /// At `/token`, `/introspect` and `/revoke`: the RFC 6749 §5.2 shape
    /// with `Cache-Control: no-store`. The code is `invalid_request` for
    /// all three causes: §5.2 has no code for "too large" or "too slow",
    /// and an incomplete or oversized request is a malformed one; the
    /// status tells clients what happened (and that a 408 may be retried).
    pub fn oauth_response(self) -> Response {
        self.finish(oauth_response(&OAuthError::invalid_request(
            self.description(),
        )))
    }

    /// On the browser forms: the error page.
    pub fn page(self, pages: &super::pages::Pages) -> Response {
        let (heading, message) = match self {
            BodyError::TooLarge => (
                "This form is too large",
                "The form you sent was larger than this server accepts. Go back, shorten what you entered and try again.",
            ),
            BodyError::TooSlow => (
                "This form took too long to arrive",
                "Check your connection and try again.",
            ),
            BodyError::Unreadable => (
                "This form could not be read",
                "Go back, reload the page and try again.",
            ),
        };
        self.finish(pages.error(self.status(), heading, message, None))
    }
}

impl From<&axum::extract::rejection::BytesRejection> for BodyError {
    fn from(e: &axum::extract::rejection::BytesRejection) -> BodyError {
        BodyError::classify(e)
    }
}
