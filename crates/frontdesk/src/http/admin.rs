//! The admin REST API, on its own listener and guarded by a bearer token.
//! Without a configured token the listener is never started.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use frontdesk_core::audit::{self, Actor, AuditQuery, KindFilter};
use frontdesk_core::manage::{ClientPatch, ClientSpec, DEFAULT_SECRET_GRACE, UserSpec};
use frontdesk_core::page::{Page, PageRequest};
use frontdesk_core::params::Params;
use frontdesk_core::store::Store;
use serde::Deserialize;
use serde_json::{Map, Value, json};
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
        .route("/admin/users/{user}/unlock", post(unlock_user))
        .route("/admin/users/{user}/reset-mfa", post(reset_mfa))
        .route(
            "/admin/users/{user}/sessions",
            get(list_sessions).delete(end_sessions),
        )
        .route(
            "/admin/users/{user}/sessions/{sid}",
            axum::routing::delete(end_session),
        )
        .route("/admin/users/{user}/send-reset", post(send_reset))
        .route(
            "/admin/users/{user}/send-verification",
            post(send_verification),
        )
        .route("/admin/users/{user}/consents", get(list_consents))
        .route(
            "/admin/users/{user}/upstream-links",
            get(list_upstream_links),
        )
        .route(
            "/admin/users/{user}/upstream-links/{upstream}",
            axum::routing::delete(remove_upstream_link),
        )
        .route(
            "/admin/users/{user}/consents/{client_id}",
            axum::routing::delete(revoke_consent),
        )
        .route("/admin/users/{user}/groups", get(list_user_groups))
        .route("/admin/groups", get(list_groups).post(create_group))
        .route("/admin/groups/{group}", get(get_group).delete(delete_group))
        .route("/admin/groups/{group}/members", get(list_group_members))
        .route(
            "/admin/groups/{group}/members/{user}",
            put(add_group_member).delete(remove_group_member),
        )
        .route("/admin/upstreams", get(list_upstreams).post(add_upstream))
        .route(
            "/admin/upstreams/{upstream}",
            get(get_upstream).delete(remove_upstream),
        )
        .route("/admin/audit", get(list_audit))
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

/// Every change made through this API is recorded as done by `admin-api`.
const BY: Actor = Actor::AdminApi;

/// The query of a list: only `allowed` names (besides `limit` and
/// `cursor`), each at most once.
fn list_query(q: Option<String>, allowed: &[&str]) -> Result<(Params, PageRequest), AdminError> {
    let params = Params::parse(q.unwrap_or_default().as_bytes())
        .map_err(|e| AdminError::Invalid(e.description))?;
    if let Some(bad) = params
        .names()
        .find(|n| !matches!(*n, "limit" | "cursor") && !allowed.contains(n))
    {
        return Err(AdminError::Invalid(format!("unknown parameter {bad:?}")));
    }
    let page = PageRequest::parse(params.get("limit"), params.get("cursor"))
        .map_err(|e| AdminError::Invalid(e.description))?;
    Ok((params, page))
}

/// `{"<name>": [...], "next_cursor": …}`.
fn page_body<T>(name: &str, page: &Page<T>, view: impl Fn(&T) -> Value) -> Response {
    let mut m = Map::new();
    m.insert(
        name.to_owned(),
        Value::Array(page.items.iter().map(view).collect()),
    );
    m.insert("next_cursor".to_owned(), json!(page.next_cursor));
    ok(StatusCode::OK, Value::Object(m))
}

async fn list_clients(
    State(app): State<AppState>,
    RawQuery(q): RawQuery,
) -> Result<Response, AdminError> {
    let (_, req) = list_query(q, &[])?;
    let page = ops::list_clients(&app.db, &req).await?;
    Ok(page_body("clients", &page, ops::client_view))
}

async fn create_client(
    State(app): State<AppState>,
    json: Result<axum::Json<ClientSpec>, JsonRejection>,
) -> Result<Response, AdminError> {
    let new = ops::create_client(&app.core, &app.db, &BY, body(json)?, now()).await?;
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
    let c = ops::update_client(&app.db, &BY, &id, body(json)?, now()).await?;
    Ok(ok(StatusCode::OK, ops::client_view(&c)))
}

async fn delete_client(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    ops::delete_client(&app.db, &BY, &id, now()).await?;
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
    let (secret, until) = ops::rotate_secret(&app.core, &app.db, &BY, &id, grace, now()).await?;
    Ok(ok(
        StatusCode::OK,
        json!({"client_id": id, "client_secret": secret, "previous_secret_expires_at": until}),
    ))
}

async fn list_users(
    State(app): State<AppState>,
    RawQuery(q): RawQuery,
) -> Result<Response, AdminError> {
    let (_, req) = list_query(q, &[])?;
    let page = ops::list_users(&app.db, &req).await?;
    Ok(page_body("users", &page, ops::user_view))
}

async fn create_user(
    State(app): State<AppState>,
    json: Result<axum::Json<UserSpec>, JsonRejection>,
) -> Result<Response, AdminError> {
    let user = ops::create_user(&app.db, &BY, body(json)?, now()).await?;
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
    /// A JSON merge patch of the claims: a value sets one, `null` removes it.
    claims: Option<Map<String, Value>>,
}

async fn update_user(
    State(app): State<AppState>,
    Path(user): Path<String>,
    json: Result<axum::Json<UserPatch>, JsonRejection>,
) -> Result<Response, AdminError> {
    let patch = body(json)?;
    let now = now();
    if let Some(d) = patch.disabled {
        ops::set_disabled(&app.db, &BY, &user, d, now).await?;
    }
    if let Some(c) = patch.claims {
        ops::update_claims(&app.db, &BY, &user, c, now).await?;
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
    ops::set_password(&app.db, &BY, &user, req.password, now()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Mails the user a password-reset link now; 200 with the address, 502
/// `mail_failed` when the relay refuses.
async fn send_reset(
    State(app): State<AppState>,
    Path(user): Path<String>,
) -> Result<Response, AdminError> {
    let to = ops::send_link(
        &app.db,
        &BY,
        &app.mail.mailer,
        &app.links,
        &user,
        false,
        now(),
    )
    .await?;
    Ok(ok(StatusCode::OK, json!({ "email": to })))
}

/// Mails the user a new e-mail verification link now.
async fn send_verification(
    State(app): State<AppState>,
    Path(user): Path<String>,
) -> Result<Response, AdminError> {
    let to = ops::send_link(
        &app.db,
        &BY,
        &app.mail.mailer,
        &app.links,
        &user,
        true,
        now(),
    )
    .await?;
    Ok(ok(StatusCode::OK, json!({ "email": to })))
}

async fn delete_user(
    State(app): State<AppState>,
    Path(user): Path<String>,
) -> Result<Response, AdminError> {
    ops::delete_user(&app.db, &BY, &user, now()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Clears the login-throttle counters of the account.
async fn unlock_user(
    State(app): State<AppState>,
    Path(user): Path<String>,
) -> Result<Response, AdminError> {
    ops::unlock_user(&app.db, &BY, &user, now()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Removes the user's second factors.
async fn reset_mfa(
    State(app): State<AppState>,
    Path(user): Path<String>,
) -> Result<Response, AdminError> {
    ops::reset_mfa(&app.db, &BY, &user, now()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The user's live sessions, oldest first.
async fn list_sessions(
    State(app): State<AppState>,
    Path(user): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, AdminError> {
    let (_, req) = list_query(q, &[])?;
    let (_, page) = ops::user_sessions(&app.db, &user, &req, now()).await?;
    Ok(page_body("sessions", &page, ops::session_view))
}

/// Ends every live session of the user (and revokes their grants).
async fn end_sessions(
    State(app): State<AppState>,
    Path(user): Path<String>,
) -> Result<Response, AdminError> {
    let ended = ops::end_user_sessions(&app.db, &BY, &user, now()).await?;
    Ok(ok(StatusCode::OK, json!({"ended": ended})))
}

async fn end_session(
    State(app): State<AppState>,
    Path((user, sid)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    ops::end_user_session(&app.db, &BY, &user, &sid, now()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The user's connections to upstream identity providers.
async fn list_upstream_links(
    State(app): State<AppState>,
    Path(user): Path<String>,
) -> Result<Response, AdminError> {
    let links = ops::user_upstream_links(&app.db, &user).await?;
    let links: Vec<serde_json::Value> = links.iter().map(ops::upstream_link_view).collect();
    Ok(ok(StatusCode::OK, json!({ "upstream_links": links })))
}

async fn remove_upstream_link(
    State(app): State<AppState>,
    Path((user, upstream)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    ops::remove_upstream_link(&app.db, &BY, &user, &upstream, now()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The names of the groups the user is in.
async fn list_user_groups(
    State(app): State<AppState>,
    Path(user): Path<String>,
) -> Result<Response, AdminError> {
    let groups = ops::user_groups(&app.db, &user).await?;
    Ok(ok(StatusCode::OK, json!({ "groups": groups })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupSpec {
    name: String,
    #[serde(default)]
    description: String,
}

// ----- upstreams added at run time -----

async fn list_upstreams(
    State(app): State<AppState>,
    RawQuery(q): RawQuery,
) -> Result<Response, AdminError> {
    list_query(q, &[])?;
    let all = ops::list_upstreams(&app.db, &app.kek, app.web.upstreams.configured()).await?;
    Ok(ok(StatusCode::OK, json!({ "upstreams": all })))
}

async fn get_upstream(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    let all = ops::list_upstreams(&app.db, &app.kek, app.web.upstreams.configured()).await?;
    let one = all
        .into_iter()
        .find(|u| u["id"] == id.as_str())
        .ok_or(AdminError::NotFound("upstream"))?;
    Ok(ok(StatusCode::OK, one))
}

/// The body is an `[[upstreams]]` table as JSON (`client_secret`, not
/// `client_secret_file`).
async fn add_upstream(
    State(app): State<AppState>,
    json: Result<axum::Json<crate::upstream::UpstreamConfig>, JsonRejection>,
) -> Result<Response, AdminError> {
    let spec = body(json)?;
    let now = now();
    let taken = |id: &str| {
        app.web.upstreams.configured().any(|u| u.id == id)
            || app.web.directories.display_name(id).is_some()
    };
    let is_image = |f: &str| app.web.pages.is_image(f);
    let added = ops::add_upstream(&app.db, &app.kek, &BY, spec, taken, is_image, now).await?;
    // This node offers it at once; the others at their next refresh.
    app.web.upstreams.refresh(&app.db, &app.kek).await;
    let mut v = added.view();
    v["source"] = "database".into();
    v["created_at"] = now.into();
    Ok(ok(StatusCode::CREATED, v))
}

async fn remove_upstream(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, AdminError> {
    let configured = app.web.upstreams.configured().any(|u| u.id == id);
    let removed = ops::remove_upstream(&app.db, &BY, &id, configured, now()).await?;
    app.web.upstreams.refresh(&app.db, &app.kek).await;
    Ok(ok(
        StatusCode::OK,
        json!({
            "id": id,
            "links_removed": removed.links,
            "memberships_removed": removed.memberships,
        }),
    ))
}

async fn list_groups(
    State(app): State<AppState>,
    RawQuery(q): RawQuery,
) -> Result<Response, AdminError> {
    let (_, req) = list_query(q, &[])?;
    let page = ops::list_groups(&app.db, &req).await?;
    Ok(page_body("groups", &page, ops::group_view))
}

async fn create_group(
    State(app): State<AppState>,
    json: Result<axum::Json<GroupSpec>, JsonRejection>,
) -> Result<Response, AdminError> {
    let spec = body(json)?;
    let group = ops::create_group(&app.db, &BY, &spec.name, &spec.description, now()).await?;
    Ok(ok(StatusCode::CREATED, ops::group_view(&group)))
}

async fn get_group(
    State(app): State<AppState>,
    Path(group): Path<String>,
) -> Result<Response, AdminError> {
    Ok(ok(
        StatusCode::OK,
        ops::group_view(&ops::get_group(&app.db, &group).await?),
    ))
}

async fn delete_group(
    State(app): State<AppState>,
    Path(group): Path<String>,
) -> Result<Response, AdminError> {
    ops::delete_group(&app.db, &BY, &group, now()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_group_members(
    State(app): State<AppState>,
    Path(group): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, AdminError> {
    let (_, req) = list_query(q, &[])?;
    let page = ops::group_members(&app.db, &group, &req).await?;
    Ok(page_body(
        "members",
        &page,
        |m| json!({"sub": m.sub, "username": m.username, "added_at": m.added_at}),
    ))
}

/// Idempotent: 204 whether the user just joined or was a member already.
async fn add_group_member(
    State(app): State<AppState>,
    Path((group, user)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    ops::add_group_member(&app.db, &BY, &group, &user, now()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn remove_group_member(
    State(app): State<AppState>,
    Path((group, user)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    ops::remove_group_member(&app.db, &BY, &group, &user, now()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The clients a user has approved, with the scopes.
async fn list_consents(
    State(app): State<AppState>,
    Path(user): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, AdminError> {
    let (_, req) = list_query(q, &[])?;
    let page = ops::user_consents(&app.db, &user, &req).await?;
    Ok(page_body(
        "consents",
        &page,
        |c| json!({"client_id": c.client_id, "scope": c.scope, "granted_at": c.granted_at}),
    ))
}

/// Forgets a consent: the next sign-in to that client asks again, and the
/// tokens the user's grants to that client carry stop working at once.
async fn revoke_consent(
    State(app): State<AppState>,
    Path((user, client_id)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    ops::revoke_consent(&app.db, &BY, &user, &client_id, now()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The audit trail, oldest first, filtered by `kind` (a kind and the kinds
/// under it), `subject`, `client_id`, `actor`, `since` (inclusive) and
/// `until` (exclusive, Unix seconds), in pages (`limit`, `cursor`).
async fn list_audit(
    State(app): State<AppState>,
    RawQuery(q): RawQuery,
) -> Result<Response, AdminError> {
    let (params, req) = list_query(
        q,
        &["kind", "subject", "client_id", "actor", "since", "until"],
    )?;
    let time = |name: &str| -> Result<Option<i64>, AdminError> {
        params
            .get(name)
            .map(|v| {
                v.parse::<i64>().map_err(|_| {
                    AdminError::Invalid(format!("{name} must be a Unix time in seconds"))
                })
            })
            .transpose()
    };
    let kind = params
        .get("kind")
        .map(|k| {
            KindFilter::parse(k).ok_or_else(|| {
                AdminError::Invalid(
                    "kind must be a dotted event name such as login or login.failure".into(),
                )
            })
        })
        .transpose()?;
    let after = match &req.after {
        None => None,
        Some(key) => Some(audit::parse_cursor_key(key).ok_or_else(|| {
            AdminError::Invalid("cursor is not a cursor this server gave out".into())
        })?),
    };
    let text = |name: &str| params.get(name).map(str::to_owned);
    let query = AuditQuery {
        kind,
        subject: text("subject"),
        client_id: text("client_id"),
        actor: text("actor"),
        since: time("since")?,
        until: time("until")?,
        after,
        limit: req.fetch(),
    };
    let rows = app.db.audit_events(&query).await?;
    let page = Page::from_rows(rows, &req, audit::cursor_key);
    Ok(page_body("events", &page, audit::AuditEvent::to_json))
}
