//! `GET`/`POST /userinfo` (OpenID Connect Core §5.3) with Bearer tokens
//! (RFC 6750 §2.1) or DPoP-bound tokens (RFC 9449 §7.1); errors per RFC
//! 6750 §3 and RFC 9449 §7.1.

use axum::extract::State;
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

pub async fn userinfo(State(app): State<AppState>, method: Method, headers: HeaderMap) -> Response {
    let now = now();
    let algs = app.dpop_algs();
    let nonce = app
        .core
        .settings
        .dpop
        .use_nonce
        .then(|| dpop::nonce(&app.core, now));
    let Some((scheme, token)) = access_token(&headers) else {
        return with_dpop_nonce(bearer_missing(&algs), nonce);
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
