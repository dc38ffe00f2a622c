//! The admin REST API, on its own listener and guarded by a bearer token.
//! Without a configured token the listener is never started.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use frontdesk_core::manage::{ClientPatch, ClientSpec, DEFAULT_SECRET_GRACE, UserSpec};
use frontdesk_core::model::UserClaims;
use frontdesk_core::store::Store;
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use super::error::{AdminError, BodyError, NO_STORE};
use crate::app::{AppState, now};
use crate::ops;

/// The OpenAPI description of this API.
const OPENAPI: &str = include_str!("openapi.json");

pub fn router(app: AppState) -> Router {
    let api = Router::new()
        .route("/admin/clients", get(list_clients).post(create_client))
        .route(
            "/admin/clients/{client_id}",
            get(get_client).patch(update_client).delete(delete_client),
        )
        .route(
            "/admin/clients/{client_id}/rotate-secret",
            post(rotate_secret),
        )
        .route("/admin/users", get(list_users).post(create_user))
        .route(
            "/admin/users/{user}",
            get(get_user).patch(update_user).delete(delete_user),
        )
        .route("/admin/users/{user}/password", put(set_password))
        .route("/admin/users/{user}/send-reset", post(send_reset))
        .route(
            "/admin/users/{user}/send-verification",
            post(send_verification),
        )
        .route("/admin/users/{user}/consents", get(list_consents))
        .route(
            "/admin/users/{user}/consents/{client_id}",
            axum::routing::delete(revoke_consent),
        )
        .route_layer(middleware::from_fn_with_state(app.clone(), require_token));
    let r = api
        .route("/admin/openapi.json", get(openapi))
        .fallback(super::error::not_found)
        .with_state(app);
    super::with_middleware(r)
}

/// Constant-time check of `Authorization: Bearer <admin token>`.
async fn require_token(State(app): State<AppState>, req: Request, next: Next) -> Response {
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .unwrap_or_default();
    let ok = app
        .admin_token
        .as_ref()
        .is_some_and(|t| bool::from(t.as_bytes().ct_eq(presented.as_bytes())));
    if !ok {
        return AdminError::Unauthorized.into_response();
    }
    next.run(req).await
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// A JSON body. One that cannot be read is 413, 408 or 400 (see
/// [`BodyError`]); one that is not the right JSON, 400 `invalid_request`.
fn body<T>(json: Result<axum::Json<T>, JsonRejection>) -> Result<T, AdminError> {
    json.map(|j| j.0).map_err(|e| match e {
        JsonRejection::BytesRejection(b) => AdminError::Body(BodyError::from(&b)),
        other => AdminError::Invalid(other.body_text()),
    })
}

fn ok(status: StatusCode, v: Value) -> Response {
    (status, NO_STORE, axum::Json(v)).into_response()
}

async fn list_clients(State(app): State<AppState>) -> Result<Response, AdminError> {
    let clients = app.db.list_clients().await?;
    Ok(ok(
        StatusCode::OK,
        Value::Array(clients.iter().map(ops::client_view).collect()),
    ))
}

async fn create_client(
    State(app): State<AppState>,
    json: Result<axum::Json<ClientSpec>, JsonRejection>,
) -> Result<Response, AdminError> {
    let new = ops::create_client(&app.core, &app.db, body(json)?, now()).await?;
    let mut v = ops::client_view(&new.client);
    if let (Value::Object(m), Some(s)) = (&mut v, new.client_secret) {
        m.insert("client_secret".into(), Value::String(s));
    }
    Ok(ok(StatusCode::CREATED, v))
}

async fn get_client(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    Ok(ok(
        StatusCode::OK,
        ops::client_view(&ops::get_client(&app.db, &id).await?),
    ))
}

async fn update_client(
    State(app): State<AppState>,
    Path(id): Path<String>,
    json: Result<axum::Json<ClientPatch>, JsonRejection>,
) -> Result<Response, AdminError> {
    let c = ops::update_client(&app.db, &id, body(json)?, now()).await?;
    Ok(ok(StatusCode::OK, ops::client_view(&c)))
}

async fn delete_client(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    ops::delete_client(&app.db, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateRequest {
    /// Seconds the previous secret keeps working.
    grace_secs: Option<i64>,
}

/// The body is optional; when present it must be JSON and is never ignored
/// (a `{"grace_secs": 0}` sent without `Content-Type` must not fall back to
/// the default grace, which would leave a leaked secret working for a day).
async fn rotate_secret(
    State(app): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
) -> Result<Response, AdminError> {
    let bytes = bytes.map_err(|e| AdminError::Body(BodyError::from(&e)))?;
    let req = if bytes.iter().all(u8::is_ascii_whitespace) {
        RotateRequest::default()
    } else {
        let mime = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .unwrap_or_default()
            .trim();
        if !mime.eq_ignore_ascii_case("application/json") {
            return Err(AdminError::Invalid(
                "the body must be application/json".into(),
            ));
        }
        body(axum::Json::from_bytes(&bytes))?
    };
    let grace = req.grace_secs.unwrap_or(DEFAULT_SECRET_GRACE);
    let (secret, until) = ops::rotate_secret(&app.core, &app.db, &id, grace, now()).await?;
    Ok(ok(
        StatusCode::OK,
        json!({"client_id": id, "client_secret": secret, "previous_secret_expires_at": until}),
    ))
}

async fn list_users(State(app): State<AppState>) -> Result<Response, AdminError> {
    let users = app.db.list_users().await?;
    Ok(ok(
        StatusCode::OK,
        Value::Array(users.iter().map(ops::user_view).collect()),
    ))
}

async fn create_user(
    State(app): State<AppState>,
    json: Result<axum::Json<UserSpec>, JsonRejection>,
) -> Result<Response, AdminError> {
    let user = ops::create_user(&app.db, body(json)?, now()).await?;
    Ok(ok(StatusCode::CREATED, ops::user_view(&user)))
}

async fn get_user(
    State(app): State<AppState>,
    Path(user): Path<String>,
) -> Result<Response, AdminError> {
    Ok(ok(
        StatusCode::OK,
        ops::user_view(&ops::get_user(&app.db, &user).await?),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserPatch {
    disabled: Option<bool>,
    claims: Option<UserClaims>,
}

async fn update_user(
    State(app): State<AppState>,
    Path(user): Path<String>,
    json: Result<axum::Json<UserPatch>, JsonRejection>,
) -> Result<Response, AdminError> {
    let patch = body(json)?;
    let now = now();
    if let Some(d) = patch.disabled {
        ops::set_disabled(&app.db, &user, d, now).await?;
    }
    if let Some(c) = patch.claims {
        ops::set_claims(&app.db, &user, c, now).await?;
    }
    Ok(ok(
        StatusCode::OK,
        ops::user_view(&ops::get_user(&app.db, &user).await?),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordRequest {
    password: String,
}

async fn set_password(
    State(app): State<AppState>,
    Path(user): Path<String>,
    json: Result<axum::Json<PasswordRequest>, JsonRejection>,
) -> Result<Response, AdminError> {
    let req = body(json)?;
    ops::set_password(&app.db, &user, req.password, now()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Mails the user a password-reset link now; 200 with the address, 502
/// `mail_failed` when the relay refuses.
async fn send_reset(
    State(app): State<AppState>,
    Path(user): Path<String>,
) -> Result<Response, AdminError> {
    let to = ops::send_link(&app.db, &app.mail.mailer, &app.links, &user, false, now()).await?;
    Ok(ok(StatusCode::OK, json!({ "email": to })))
}

/// Mails the user a new e-mail verification link now.
async fn send_verification(
    State(app): State<AppState>,
    Path(user): Path<String>,
) -> Result<Response, AdminError> {
    let to = ops::send_link(&app.db, &app.mail.mailer, &app.links, &user, true, now()).await?;
    Ok(ok(StatusCode::OK, json!({ "email": to })))
}

async fn delete_user(
    State(app): State<AppState>,
    Path(user): Path<String>,
) -> Result<Response, AdminError> {
    ops::delete_user(&app.db, &user).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The clients a user has approved, with the scopes.
async fn list_consents(
    State(app): State<AppState>,
    Path(user): Path<String>,
) -> Result<Response, AdminError> {
    let u = ops::get_user(&app.db, &user).await?;
    let consents = app.db.list_consents(&u.sub).await?;
    let v: Vec<Value> = consents
        .iter()
        .map(|c| json!({"client_id": c.client_id, "scope": c.scope, "granted_at": c.granted_at}))
        .collect();
    Ok(ok(StatusCode::OK, Value::Array(v)))
}

/// Forgets a consent: the next sign-in to that client asks again, and the
/// tokens the user's grants to that client carry stop working at once.
async fn revoke_consent(
    State(app): State<AppState>,
    Path((user, client_id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    let u = ops::get_user(&app.db, &user).await?;
    let id = frontdesk_core::model::ClientId(client_id);
    if !app.db.revoke_consent(&u.sub, &id, now()).await? {
        return Err(AdminError::NotFound("consent"));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
