//! `GET`/`POST /userinfo` (OpenID Connect Core §5.3) with Bearer tokens
//! (RFC 6750 §2.1); errors per RFC 6750 §3.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use frontdesk_core::userinfo;

use super::error::{ApiError, NO_STORE, bearer_missing};
use crate::app::{AppState, now};

/// The token of an `Authorization: Bearer` header (scheme case-insensitive).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

pub async fn userinfo(State(app): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = bearer(&headers) else {
        return bearer_missing();
    };
    let keys = app.keys();
    match userinfo::userinfo(&app.core, &app.db, &keys, token, now()).await {
        Ok(claims) => (StatusCode::OK, NO_STORE, axum::Json(claims)).into_response(),
        Err(e) => ApiError(e).into_response(),
    }
}
