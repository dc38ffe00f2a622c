//! The one place audit events leave the process: a structured log line
//! under the tracing target `audit` (JSON fields with `log_format = "json"`)
//! and a row in the store (`GET /admin/audit`, kept `audit_retention_days`).
//!
//! Events are built with `frontdesk_core::audit`'s typed constructors, so
//! they hold ids, names and counts, never a secret. [`event`] gives a new
//! one its id (a UUIDv7, so ties on the second sort by creation) and, inside
//! a request, the request's id and client address from [`RequestContext`],
//! which the request-id middleware (`http::request_context`) sets for every
//! request on both listeners.
//!
//! A store that cannot take the event never turns the request that caused
//! it into an error: [`record`] logs a warning instead (the log line, written
//! first, already carries the event).

use std::net::IpAddr;

use frontdesk_core::audit::{AuditEvent, Incident, Kind};
use frontdesk_core::model::UnixTime;
use frontdesk_core::store::Store;
use frontdesk_store::Db;

/// What the middleware knows of the request being served.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// Ours, random per request; also sent back as `X-Request-Id`.
    pub request_id: String,
    /// The client's address as the throttles see it (`ClientAddr`).
    pub peer: Option<IpAddr>,
    /// The languages the request asked for (`crate::http::i18n`).
    pub asked: crate::http::i18n::Asked,
}

tokio::task_local! {
    /// Set around each request's handling by `http::request_context`.
    pub static REQUEST: RequestContext;
}

/// A new request id.
pub fn new_request_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A new event id: a UUIDv7, ordered by creation within the process.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A new event of `kind` at `now`, with its id and, inside a request, the
/// request id and client address.
pub fn event(kind: Kind, now: UnixTime) -> AuditEvent {
    in_request(AuditEvent::new(new_id(), kind, now))
}

/// The event core reported with an error (`OAuthError::incident`).
pub fn incident(i: &Incident, now: UnixTime) -> AuditEvent {
    in_request(i.event(new_id(), now))
}

/// `e` with the request id and client address of the request being
/// served, if any (the CLI has none).
fn in_request(e: AuditEvent) -> AuditEvent {
    match REQUEST.try_with(Clone::clone) {
        Ok(ctx) => {
            let e = e.request_id(&ctx.request_id);
            match ctx.peer {
                Some(p) => e.peer(p),
                None => e,
            }
        }
        Err(_) => e,
    }
}

/// Logs `e` under the `audit` target, then stores it.
pub async fn record(db: &Db, e: AuditEvent) {
    let detail = serde_json::Value::Object(e.detail().clone()).to_string();
    tracing::info!(
        target: "audit",
        event_id = e.id(),
        at = e.at(),
        kind = e.kind(),
        outcome = e.outcome(),
        request_id = e.request_id_value(),
        actor = e.actor_value(),
        subject = e.subject_value(),
        client_id = e.client_id_value(),
        peer = e.peer_value(),
        detail = %detail,
        "audit event"
    );
    if let Err(err) = db.record_audit(&e).await {
        tracing::warn!(
            target: "audit",
            event_id = e.id(),
            kind = e.kind(),
            error = %err,
            "audit event not stored (it is in the log line above)"
        );
    }
}

/// The event of a password check at `/login`: `login.success`,
/// `login.failure` or `login.throttled`. The account is named only when the
/// login text resolves to one (by `sub` and its username); the text itself
/// is never recorded, since people type passwords into username fields.
pub async fn login(
    db: &Db,
    outcome: &frontdesk_core::login::LoginCheck,
    login: &str,
    client: Option<&frontdesk_core::model::ClientId>,
    now: UnixTime,
) {
    use frontdesk_core::audit::Actor;
    use frontdesk_core::login::LoginCheck;
    let (kind, user) = match outcome {
        LoginCheck::Ok(u) => (Kind::LoginSuccess, Some((**u).clone())),
        other => {
            let kind = if matches!(other, LoginCheck::Throttled) {
                Kind::LoginThrottled
            } else {
                Kind::LoginFailure
            };
            // The same lookup core made; a failure only leaves the name out.
            let found = if login.is_empty() {
                None
            } else {
                db.user_by_login(login).await.ok().flatten()
            };
            (kind, found)
        }
    };
    let mut e = event(kind, now);
    if let Some(u) = &user {
        e = e.subject(&u.sub).username(&u.username);
        if kind == Kind::LoginSuccess {
            e = e.actor(&Actor::User(u.sub.clone()));
        }
    }
    if let Some(c) = client {
        e = e.client(c);
    }
    record(db, e).await;
}
