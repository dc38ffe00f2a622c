//! `GET`/`POST /userinfo` (OpenID Connect Core §5.3) with Bearer tokens
//! in the header (RFC 6750 §2.1) or, by POST, in a form body (§2.2), or
//! DPoP-bound tokens (RFC 9449 §7.1: the header only); errors per RFC 6750
//! §3 and RFC 9449 §7.1.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use frontdesk_core::dpop::{self, Presented};
use frontdesk_core::userinfo::{self, Scheme};

use super::error::{ApiError, NO_STORE, bearer_missing, resource_error, with_dpop_nonce};
use crate::app::{AppState, now};

/// The token of an `Authorization: Bearer` or `Authorization: DPoP` header
/// (scheme case-insensitive, RFC 9110 §11.1).
fn access_token(headers: &HeaderMap) -> Option<(Scheme, &str)> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let v = v.trim_start();
    let (scheme, token) = v.split_once(' ')?;
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Scheme::DPoP
    } else {
        return None;
    };
    Some((scheme, token.trim())).filter(|(_, t)| !t.is_empty())
}

/// RFC 6750 §2.2: the `access_token` of a POST's form-encoded body. `Ok(None)`
/// for any other request (a GET, another content type, no such field).
#[allow(clippy::result_large_err)]
fn body_token(
    method: &Method,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Option<String>, Response> {
    if method != Method::POST || !super::is_form(headers) {
        return Ok(None);
    }
    let body = body.map_err(|e| super::error::BodyError::from(&e).oauth_response())?;
    let params = frontdesk_core::params::Params::parse(&body)
        .map_err(|e| ApiError::from(e).into_response())?;
    Ok(params
        .get("access_token")
        .filter(|t| !t.is_empty())
        .map(str::to_owned))
}

pub async fn userinfo(
    State(app): State<AppState>,
    method: Method,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let now = now();
    let algs = app.dpop_algs();
    let nonce = dpop::announced_nonce(&app.core, now);
    // RFC 9110 §11.6.2: one Authorization field; two are a malformed request.
    if headers.get_all(header::AUTHORIZATION).iter().count() > 1 {
        let e = frontdesk_core::error::OAuthError::invalid_request(
            "a request may carry one Authorization header only",
        );
        return with_dpop_nonce(ApiError::from(e).into_response(), nonce);
    }
    let in_body = match body_token(&method, &headers, body) {
        Ok(t) => t,
        Err(r) => return with_dpop_nonce(r, nonce),
    };
    let (scheme, token) = match (access_token(&headers), in_body.as_deref()) {
        // RFC 6750 §2: "Clients MUST NOT use more than one method".
        (Some(_), Some(_)) => {
            let e = frontdesk_core::error::OAuthError::invalid_request(
                "the access token must be sent one way only: the Authorization header or the form body (RFC 6750 §2)",
            );
            return with_dpop_nonce(ApiError::from(e).into_response(), nonce);
        }
        (Some(h), None) => h,
        (None, Some(t)) => (Scheme::Bearer, t),
        (None, None) => return with_dpop_nonce(bearer_missing(&algs), nonce),
    };
    let proofs = Presented::from_values(headers.get_all("dpop").iter().map(|v| v.as_bytes()));
    let keys = app.keys();
    let request = userinfo::Presented {
        token,
        scheme,
        dpop: &proofs,
        method: method.as_str(),
    };
    let resp = match userinfo::userinfo(&app.core, &app.db, &keys, request, now).await {
        Ok(claims) => (StatusCode::OK, NO_STORE, axum::Json(claims)).into_response(),
        Err(e) => resource_error(ApiError(e), scheme == Scheme::DPoP, &algs),
    };
    with_dpop_nonce(resp, nonce)
}
