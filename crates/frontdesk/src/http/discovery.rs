//! Discovery documents, JWKS and health. Metadata and JWKS are served from
//! memory, so they keep answering while the database is down.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use frontdesk_core::discovery;
use frontdesk_core::store::Store;
use serde_json::json;

use crate::app::{AppState, now};

/// Public, cacheable, readable from any origin (the metadata and the keys
/// are public by design; CORS lets browser-based clients fetch them).
fn public_json(max_age: i64, body: serde_json::Value) -> Response {
    let mut r = axum::Json(body).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={max_age}")) {
        r.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    r.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    r
}

/// `/.well-known/openid-configuration` and `/.well-known/oauth-authorization-server`.
pub async fn metadata(State(app): State<AppState>) -> Response {
    public_json(300, discovery::metadata(&app.core))
}

/// The JWKS: public keys only (pending, active and retired). Its max-age is
/// never longer than the pre-publication window, so caches always learn of
/// a key before it signs.
pub async fn jwks(State(app): State<AppState>) -> Response {
    let jwks = app.keys().jwks(now());
    match serde_json::to_value(&jwks) {
        Ok(v) => public_json(app.rotation.jwks_max_age, v),
        Err(e) => {
            tracing::error!(error = %e, "jwks serialisation");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

pub async fn live() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

/// 503 when the database cannot be reached.
pub async fn ready(State(app): State<AppState>) -> Response {
    match app.db.ping().await {
        Ok(()) => axum::Json(json!({"status": "ok"})).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({"status": "unavailable"})),
            )
                .into_response()
        }
    }
}
