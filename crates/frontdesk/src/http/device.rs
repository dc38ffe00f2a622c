//! The device flow's pages (RFC 8628 §3.3): at `/device` a person types
//! the code their device shows (or arrives with it in the query, from
//! `verification_uri_complete`, and checks it), signs in — with the second
//! factor the client's policy asks for —, and approves or declines on a
//! page that names the device's client, shows the code to compare and
//! lists what it may do. Core decides (`frontdesk_core::device`); this
//! module moves the code between the steps in the `fd_device` cookie and
//! counts failed codes per address (§5.1: the user code is short, so
//! guessing it is throttled wherever a code is looked up).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use frontdesk_core::audit::{Actor, Kind};
use frontdesk_core::authorize::Next;
use frontdesk_core::device::{self, Found, Pending};
use frontdesk_core::model::UnixTime;
use frontdesk_core::params::Params;
use frontdesk_core::store::Store;
use minijinja::context;

use super::browser::{csrf_form, current_session, see_other, show};
use super::pages::{DEVICE_COOKIE, ensure_csrf};
use crate::app::{AppState, now};
use crate::client_addr::ClientAddr;

pub const PATH: &str = frontdesk_core::paths::DEVICE;
pub const DECIDE_PATH: &str = "/device/decide";

/// A typed code, looked up under the address's throttle (`device::find`).
async fn lookup(
    app: &AppState,
    peer: std::net::IpAddr,
    typed: &str,
    now: UnixTime,
) -> Result<Found, frontdesk_core::error::Error> {
    device::find(&app.core, &app.db, peer, typed, app.web.login.window, now).await
}

/// The page where the code is entered, with an error message id.
fn entry_page(
    app: &AppState,
    jar: CookieJar,
    status: StatusCode,
    user_code: &str,
    error: Option<&str>,
) -> Response {
    let (jar, csrf) = ensure_csrf(&app.web.pages, &app.core.pepper, jar);
    let page = app.web.pages.render(
        status,
        "device.html",
        context! {
            csrf => csrf,
            user_code => user_code,
            error => error,
        },
    );
    (jar, page).into_response()
}

/// The answer to a lookup that found nothing to decide on.
fn refused(app: &AppState, jar: CookieJar, found: &Found, typed: &str) -> Response {
    let jar = jar.add(app.web.pages.removal(DEVICE_COOKIE));
    match found {
        Found::Throttled => entry_page(
            app,
            jar,
            StatusCode::TOO_MANY_REQUESTS,
            typed,
            Some("device-error-throttled"),
        ),
        _ => entry_page(
            app,
            jar,
            StatusCode::BAD_REQUEST,
            typed,
            Some("device-error-invalid"),
        ),
    }
}

/// `GET /device`: the code form (prefilled from `user_code`, for the person
/// to compare with the device), or — back from signing in, with the code
/// in the cookie — the next step.
pub async fn page(
    State(app): State<AppState>,
    Extension(ClientAddr(peer)): Extension<ClientAddr>,
    jar: CookieJar,
    RawQuery(q): RawQuery,
) -> Response {
    let now = now();
    let params = match Params::parse(q.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(e) => return show(&app, e.into()),
    };
    if let Some(code) = params.get("user_code") {
        let shown = device::normalize_user_code(code)
            .map(|c| device::display_user_code(&c))
            .unwrap_or_default();
        return entry_page(&app, jar, StatusCode::OK, &shown, None);
    }
    let Some(code) = jar
        .get(app.web.pages.cookie_name(DEVICE_COOKIE))
        .map(|c| c.value().to_owned())
    else {
        return entry_page(&app, jar, StatusCode::OK, "", None);
    };
    match lookup(&app, peer, &code, now).await {
        Err(e) => show(&app, e),
        Ok(Found::Pending(p)) => step(&app, jar, &p, now).await,
        // A code left from an earlier visit, decided or expired since:
        // nothing was typed now, so the plain form.
        Ok(Found::Nothing) => {
            let jar = jar.add(app.web.pages.removal(DEVICE_COOKIE));
            entry_page(&app, jar, StatusCode::OK, "", None)
        }
        Ok(other) => refused(&app, jar, &other, ""),
    }
}

/// `POST /device`: the code a person entered.
pub async fn enter(
    State(app): State<AppState>,
    Extension(ClientAddr(peer)): Extension<ClientAddr>,
    jar: CookieJar,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let now = now();
    let form = match csrf_form(&app, &jar, body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let typed = form.get("user_code").unwrap_or_default().trim().to_owned();
    match lookup(&app, peer, &typed, now).await {
        Err(e) => show(&app, e),
        Ok(Found::Pending(p)) => {
            let left = (p.device.expires_at - now).max(1);
            let jar = jar.add(
                app.web
                    .pages
                    .cookie(DEVICE_COOKIE, p.user_code.clone(), left),
            );
            step(&app, jar, &p, now).await
        }
        Ok(other) => refused(&app, jar, &other, &typed),
    }
}

/// Where the browser stands for `pending`: what [`device::decide`] says,
/// for the session this client's sign-in policy admits.
async fn next_for(
    app: &AppState,
    jar: &CookieJar,
    pending: &Pending,
    now: UnixTime,
) -> Result<
    (
        Next,
        Option<(frontdesk_core::model::Session, frontdesk_core::model::User)>,
    ),
    Response,
> {
    let session = current_session(app, jar, now)
        .await
        .map_err(|e| show(app, e))?
        .filter(|(s, _)| super::upstream::session_admitted(app, &pending.client, s));
    let groups = match &session {
        Some((s, _)) if !pending.client.required_groups.is_empty() => app
            .db
            .groups_of(&s.sub)
            .await
            .map_err(|e| show(app, e.into()))?,
        _ => Vec::new(),
    };
    let policy = frontdesk_core::mfa::policy(&pending.client, app.core.settings.require_mfa);
    let next = device::decide(
        pending,
        session.as_ref().map(|(s, u)| (s, u)),
        &groups,
        policy,
    );
    Ok((next, session))
}

/// Sign in, raise the session, refuse, or ask.
async fn step(app: &AppState, jar: CookieJar, pending: &Pending, now: UnixTime) -> Response {
    let (next, session) = match next_for(app, &jar, pending, now).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match (next, session) {
        (Next::Consent(scope), Some((_, user))) => {
            let (jar, csrf) = ensure_csrf(&app.web.pages, &app.core.pepper, jar);
            let pages = &app.web.pages;
            let scopes: Vec<String> = scope.iter().map(|s| pages.describe_scope(s)).collect();
            let c = &pending.client;
            let page = pages.render_with_csp(
                StatusCode::OK,
                "device_confirm.html",
                context! {
                    client_name => &c.client_name,
                    logo_uri => &c.logo_uri,
                    user_code => device::display_user_code(&pending.user_code),
                    scopes => scopes,
                    username => user.username,
                    csrf => csrf,
                },
                &pages.csp_with_image(c.logo_uri.as_deref()),
            );
            (jar, page).into_response()
        }
        (Next::NotAdmitted, Some((s, user))) => {
            let jar = jar.add(app.web.pages.removal(DEVICE_COOKIE));
            super::browser::not_admitted(app, jar, &pending.client, &s, &user, now).await
        }
        (Next::SecondFactor | Next::Passkey | Next::EnrolSecondFactor, Some(_)) => {
            (jar, see_other(&format!("{}?next=device", super::mfa::PATH))).into_response()
        }
        _ => (jar, see_other("/login?next=device")).into_response(),
    }
}

/// `POST /device/decide`: approve or decline the request whose code the
/// cookie carries, for the signed-in user — only when the page that asks
/// is what this browser would be shown now.
pub async fn decide(
    State(app): State<AppState>,
    Extension(ClientAddr(peer)): Extension<ClientAddr>,
    jar: CookieJar,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let now = now();
    let form = match csrf_form(&app, &jar, body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let approve = match form.get("decision") {
        Some("approve") => true,
        Some("deny") => false,
        _ => {
            return show(
                &app,
                frontdesk_core::error::OAuthError::invalid_request("missing decision").into(),
            );
        }
    };
    let code = jar
        .get(app.web.pages.cookie_name(DEVICE_COOKIE))
        .map(|c| c.value().to_owned())
        .unwrap_or_default();
    let pending = match lookup(&app, peer, &code, now).await {
        Err(e) => return show(&app, e),
        Ok(Found::Pending(p)) => p,
        Ok(other) => return refused(&app, jar, &other, ""),
    };
    let (next, session) = match next_for(&app, &jar, &pending, now).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (Next::Consent(scope), Some((session, _))) = (next, session) else {
        return step(&app, jar, &pending, now).await;
    };
    let decided = if approve {
        device::approve(&app.core, &app.db, &pending, &session, now).await
    } else {
        device::deny(&app.db, &pending, &session, now).await
    };
    let jar = jar.add(app.web.pages.removal(DEVICE_COOKIE));
    match decided {
        Err(e) => show(&app, e),
        // Decided (or expired) since the lookup: as if not found.
        Ok(false) => refused(&app, jar, &Found::Nothing, ""),
        Ok(true) => {
            let kind = if approve {
                Kind::DeviceApprove
            } else {
                Kind::DeviceDeny
            };
            let e = crate::audit::event(kind, now)
                .actor(&Actor::User(session.sub.clone()))
                .subject(&session.sub)
                .client(&pending.client.client_id)
                .scope(&scope.to_string())
                .sid(&session.sid);
            crate::audit::record(&app.db, e).await;
            let page = app.web.pages.render(
                StatusCode::OK,
                "device_done.html",
                context! {
                    approved => approve,
                    client_name => &pending.client.client_name,
                },
            );
            (jar, page).into_response()
        }
    }
}
