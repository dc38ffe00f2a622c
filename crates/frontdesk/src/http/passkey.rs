//! Passkeys over HTTP: the three WebAuthn ceremonies (`crate::passkeys`)
//! as pairs of a JSON options call and a form POST. The page's script
//! (`/assets/passkey.js`, the one first-party script; the CSP stays
//! `default-src 'self'`) asks for options, runs `navigator.credentials`,
//! and submits the answer in an ordinary form, so every outcome is the
//! usual page or 303 — the same as the password form's.
//!
//! - `/login/passkey`: a passkey as the first factor (discoverable; no
//!   username). `amr` `hwk`/`swk`, `user`, `mfa`.
//! - `/login/mfa/passkey`: a passkey raising a password session.
//! - `/account/passkeys`: add (named), and `/account/passkeys/remove`.
//!
//! Every options call and form is checked for the session-bound CSRF token.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use frontdesk_core::audit::{Actor, Kind};
use frontdesk_core::mfa::{self, Factor};
use frontdesk_core::model::{PasskeyRecord, Session, UnixTime, User};
use frontdesk_core::params::Params;
use frontdesk_core::store::Store;
use serde_json::json;

use super::browser::{LoginForm, form_params, login_again, login_form, login_next, show, sign_in};
use super::mfa::{Continue, user_event};
use super::pages::csrf_ok;
use crate::app::{AppState, now};
use crate::audit;
use crate::client_addr::ClientAddr;
use crate::passkeys::{self, Passkeys, Refusal};

pub const SCRIPT_PATH: &str = "/assets/passkey.js";
pub const LOGIN_OPTIONS: &str = "/login/passkey/options";
pub const LOGIN: &str = "/login/passkey";
pub const MFA_OPTIONS: &str = "/login/mfa/passkey/options";
pub const MFA: &str = "/login/mfa/passkey";
pub const ACCOUNT_OPTIONS: &str = "/account/passkeys/options";
pub const ACCOUNT_ADD: &str = "/account/passkeys";
pub const ACCOUNT_REMOVE: &str = "/account/passkeys/remove";

const SCRIPT: &str = include_str!("../../assets/passkey.js");

/// `GET /assets/passkey.js`.
pub async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        SCRIPT,
    )
        .into_response()
}

/// A JSON refusal of an options call; `location` tells the script where
/// the browser must go first (a sign-in).
fn json_error(status: StatusCode, error: &str, location: Option<&str>) -> Response {
    let mut body = json!({ "error": error });
    if let Some(l) = location {
        body["location"] = json!(l);
    }
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

fn options(options: serde_json::Value, state: String) -> Response {
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "options": options, "state": state })),
    )
        .into_response()
}

/// The relying party, or 404 when passkeys are off.
#[allow(clippy::result_large_err)]
fn relying(app: &AppState) -> Result<&Passkeys, Response> {
    app.web
        .passkeys
        .as_deref()
        .ok_or_else(super::error::not_found_response)
}

/// The form (or options call) of a POST with its CSRF token checked.
#[allow(clippy::result_large_err)]
fn checked_form(
    app: &AppState,
    jar: &CookieJar,
    body: Result<Bytes, BytesRejection>,
    json: bool,
) -> Result<Params, Response> {
    let form = form_params(app, body)?;
    if !csrf_ok(&app.web.pages, &app.core.pepper, jar, form.get("csrf")) {
        return Err(if json {
            json_error(StatusCode::FORBIDDEN, "expired_form", None)
        } else {
            app.web.pages.error(
                StatusCode::FORBIDDEN,
                "This form has expired",
                "Go back, reload the page and try again.",
                None,
            )
        });
    }
    Ok(form)
}

/// The relying party and the CSRF-checked form of a ceremony's POST.
#[allow(clippy::result_large_err)]
fn ceremony<'a>(
    app: &'a AppState,
    jar: &CookieJar,
    body: Result<Bytes, BytesRejection>,
    json: bool,
) -> Result<(&'a Passkeys, Params), Response> {
    let rp = relying(app)?;
    Ok((rp, checked_form(app, jar, body, json)?))
}

// ----- the first factor -----

/// `POST /login/passkey/options`: options for a discoverable sign-in.
pub async fn login_options(
    State(app): State<AppState>,
    jar: CookieJar,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let rp = match ceremony(&app, &jar, body, true) {
        Ok((rp, _)) => rp,
        Err(r) => return r,
    };
    match rp.start_sign_in(&app.kek, now()) {
        Ok((o, state)) => options(o, state),
        Err(e) => show(&app, e),
    }
}

/// `POST /login/passkey`: the assertion of a discoverable sign-in. On
/// success, the same as a password sign-in (a session, then on to the
/// authorization request or the account page).
pub async fn login_post(
    State(app): State<AppState>,
    Extension(ClientAddr(peer)): Extension<ClientAddr>,
    headers: HeaderMap,
    jar: CookieJar,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let now = now();
    let (rp, form) = match ceremony(&app, &jar, body, false) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let (req, resolved, request) = match login_form(&app, &form, now).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let from = LoginForm {
        req: req.as_ref(),
        resolved: resolved.as_ref(),
        request: &request,
        next: if req.is_some() { "" } else { login_next(&form) },
        username: "",
    };
    let finished = rp
        .finish_sign_in(
            &app.kek,
            &app.db,
            form.get("state").unwrap_or_default(),
            form.get("credential").unwrap_or_default(),
            now,
        )
        .await;
    let (record, used) = match finished {
        Err(e) => return show(&app, e),
        Ok(Err(refusal)) => {
            crate::telemetry::login("failure");
            audit::record(
                &app.db,
                audit::event(Kind::LoginFailure, now)
                    .label("method", "passkey")
                    .label("reason", refusal.as_str()),
            )
            .await;
            return login_again(
                &app,
                jar,
                StatusCode::UNAUTHORIZED,
                &from,
                refusal.message(),
            );
        }
        Ok(Ok(r)) => r,
    };
    let user = match app.db.user(&record.sub).await {
        Ok(Some(u)) if !u.disabled => u,
        // Deleted or disabled since it was registered.
        Ok(_) => {
            return login_again(
                &app,
                jar,
                StatusCode::UNAUTHORIZED,
                &from,
                Refusal::Unknown.message(),
            );
        }
        Err(e) => return show(&app, e.into()),
    };
    if user.verify_before_sign_in && !user.claims.email_verified {
        super::email::resend_verification(&app, &user, now).await;
        return login_again(
            &app,
            jar,
            StatusCode::FORBIDDEN,
            &from,
            super::email::UNVERIFIED,
        );
    }
    if let Err(e) = app
        .db
        .use_passkey(&used.credential_id, &used.credential, now)
        .await
    {
        return show(&app, e.into());
    }
    crate::telemetry::login("success");
    let mut event = audit::event(Kind::LoginSuccess, now)
        .actor(&Actor::User(user.sub.clone()))
        .subject(&user.sub)
        .username(&user.username)
        .label("method", "passkey");
    if let Some(r) = &req {
        event = event.client(&r.client.client_id);
    }
    audit::record(&app.db, event).await;
    let amr = mfa::raised_amr(
        &[],
        Factor::Passkey {
            synced: used.backup_eligible,
        },
    );
    let amr: Vec<&str> = amr.iter().map(String::as_str).collect();
    sign_in(&app, jar, &headers, peer, &user, &amr, None, &from, now).await
}

// ----- the second factor -----

/// The password session of this browser, for a JSON call.
async fn session_for_json(
    app: &AppState,
    jar: &CookieJar,
    now: UnixTime,
) -> Result<(Session, User), Response> {
    match super::browser::current_session(app, jar, now).await {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err(json_error(
            StatusCode::UNAUTHORIZED,
            "login_required",
            Some("/login"),
        )),
        Err(e) => Err(show(app, e)),
    }
}

/// `POST /login/mfa/passkey/options`: options listing the user's passkeys.
pub async fn mfa_options(
    State(app): State<AppState>,
    jar: CookieJar,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let now = now();
    let rp = match ceremony(&app, &jar, body, true) {
        Ok((rp, _)) => rp,
        Err(r) => return r,
    };
    let (session, user) = match session_for_json(&app, &jar, now).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let records = match app.db.passkeys_of(&user.sub).await {
        Ok(r) if !r.is_empty() => r,
        Ok(_) => return json_error(StatusCode::CONFLICT, "no_passkey", None),
        Err(e) => return show(&app, e.into()),
    };
    match rp.start_second_factor(&app.kek, &session.sid, &records, now) {
        Ok((o, state)) => options(o, state),
        Err(e) => show(&app, e),
    }
}

/// `POST /login/mfa/passkey`: the assertion that raises the session.
pub async fn mfa_post(
    State(app): State<AppState>,
    jar: CookieJar,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let now = now();
    let (rp, form) = match ceremony(&app, &jar, body, false) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let cont = match Continue::from_params(&form) {
        Ok(c) => c,
        Err(e) => return show(&app, e),
    };
    let (session, user) = match super::browser::current_session(&app, &jar, now).await {
        Ok(Some(s)) => s,
        Ok(None) => return super::browser::see_other(&format!("/login?{}", cont.query())),
        Err(e) => return show(&app, e),
    };
    let finished = rp
        .finish_second_factor(
            &app.kek,
            &app.db,
            &session.sid,
            &user.sub,
            form.get("state").unwrap_or_default(),
            form.get("credential").unwrap_or_default(),
            now,
        )
        .await;
    let used = match finished {
        Err(e) => return show(&app, e),
        Ok(Err(refusal)) => {
            audit::record(
                &app.db,
                user_event(Kind::MfaFailure, &user, now)
                    .label("factor", "passkey")
                    .label("reason", refusal.as_str()),
            )
            .await;
            return super::mfa::factor_page(
                &app,
                jar,
                StatusCode::UNAUTHORIZED,
                &cont,
                &user,
                Some(refusal.message()),
                now,
            )
            .await;
        }
        Ok(Ok(u)) => u,
    };
    if let Err(e) = app
        .db
        .use_passkey(&used.credential_id, &used.credential, now)
        .await
    {
        return show(&app, e.into());
    }
    audit::record(
        &app.db,
        user_event(Kind::MfaSuccess, &user, now)
            .sid(&session.sid)
            .label("factor", "passkey"),
    )
    .await;
    let factor = Factor::Passkey {
        synced: used.backup_eligible,
    };
    match super::mfa::raise_and_continue(&app, jar, &session, factor, &cont).await {
        Ok(jar) => (jar, super::browser::see_other(&cont.location())).into_response(),
        Err(r) => r,
    }
}

// ----- the account page -----

/// The user handle of the account's passkeys: the one they share, or a
/// new random one (16 bytes, never derived from the `sub`).
fn user_handle(existing: &[PasskeyRecord]) -> Vec<u8> {
    existing.first().map_or_else(
        || uuid::Uuid::new_v4().as_bytes().to_vec(),
        |p| p.user_handle.clone(),
    )
}

/// `POST /account/passkeys/options`: registration options, for a user
/// signed in recently enough to change the account.
pub async fn account_options(
    State(app): State<AppState>,
    jar: CookieJar,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let now = now();
    let rp = match ceremony(&app, &jar, body, true) {
        Ok((rp, _)) => rp,
        Err(r) => return r,
    };
    let (session, user) = match super::account::signed_in_for_change(&app, &jar, now).await {
        Ok(s) => s,
        Err(Ok(location)) => {
            return json_error(StatusCode::UNAUTHORIZED, "login_required", Some(&location));
        }
        Err(Err(page)) => return page,
    };
    let existing = match app.db.passkeys_of(&user.sub).await {
        Ok(e) => e,
        Err(e) => return show(&app, e.into()),
    };
    if existing.len() >= passkeys::MAX_PER_USER {
        return json_error(StatusCode::CONFLICT, "too_many_passkeys", None);
    }
    let display = user
        .claims
        .name
        .clone()
        .unwrap_or_else(|| user.username.clone());
    match rp.start_registration(
        &app.kek,
        &session.sub,
        &user_handle(&existing),
        &user.username,
        &display,
        &existing,
        now,
    ) {
        Ok((o, state)) => options(o, state),
        Err(e) => show(&app, e),
    }
}

/// A passkey's name as typed: trimmed, control characters dropped, at most
/// [`passkeys::NAME_MAX`] characters; "Passkey" when empty.
fn passkey_name(typed: &str) -> String {
    let name: String = typed
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(passkeys::NAME_MAX)
        .collect();
    if name.trim().is_empty() {
        "Passkey".to_owned()
    } else {
        name.trim().to_owned()
    }
}

/// `POST /account/passkeys`: the new credential, named.
pub async fn account_add(
    State(app): State<AppState>,
    jar: CookieJar,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let now = now();
    let rp = match relying(&app) {
        Ok(rp) => rp,
        Err(r) => return r,
    };
    let (form, session, user) = match super::account::change(&app, &jar, body, now).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let existing = match app.db.passkeys_of(&user.sub).await {
        Ok(e) => e,
        Err(e) => return show(&app, e.into()),
    };
    if existing.len() >= passkeys::MAX_PER_USER {
        return super::account::bad_form(&app, "You have as many passkeys as an account may have.");
    }
    let finished = rp
        .finish_registration(
            &app.kek,
            &app.db,
            &user.sub,
            form.get("state").unwrap_or_default(),
            form.get("credential").unwrap_or_default(),
            now,
        )
        .await;
    let registered = match finished {
        Err(e) => return show(&app, e),
        Ok(Err(refusal)) => return super::account::bad_form(&app, refusal.message()),
        Ok(Ok(r)) => r,
    };
    let synced = registered.backup_eligible;
    let name = passkey_name(form.get("name").unwrap_or_default());
    let record = PasskeyRecord {
        credential_id: registered.credential_id,
        sub: user.sub.clone(),
        user_handle: registered.user_handle,
        name: name.clone(),
        credential: registered.credential,
        backup_eligible: registered.backup_eligible,
        created_at: now,
        last_used_at: None,
    };
    match app.db.add_passkey(&record).await {
        Ok(true) => {}
        Ok(false) => return super::account::bad_form(&app, Refusal::Duplicate.message()),
        Err(e) => return show(&app, e.into()),
    }
    audit::record(
        &app.db,
        user_event(Kind::MfaEnrol, &user, now)
            .sid(&session.sid)
            .label("factor", "passkey"),
    )
    .await;
    super::notice::send(
        &app,
        &user,
        crate::mail::Notice::FactorAdded(format!("A passkey named \u{201c}{name}\u{201d}")),
    );
    // The registration was a user-verified use of the new passkey: like a
    // TOTP enrolment, it raises the session that made it (otherwise the
    // account page itself would now ask for the factor just added).
    let cont = Continue::Account;
    match super::mfa::raise_and_continue(&app, jar, &session, Factor::Passkey { synced }, &cont)
        .await
    {
        Ok(jar) => (jar, super::account::done("passkey-added")).into_response(),
        Err(r) => r,
    }
}

/// `POST /account/passkeys/remove`: one of the user's passkeys, by id.
pub async fn account_remove(
    State(app): State<AppState>,
    jar: CookieJar,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let now = now();
    let (form, session, user) = match super::account::change(&app, &jar, body, now).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let Some(id) = form
        .get("id")
        .and_then(|id| URL_SAFE_NO_PAD.decode(id.trim()).ok())
    else {
        return super::account::bad_form(&app, "No such passkey.");
    };
    match app.db.remove_passkey(&user.sub, &id).await {
        Ok(true) => {}
        Ok(false) => return super::account::bad_form(&app, "No such passkey."),
        Err(e) => return show(&app, e.into()),
    }
    audit::record(
        &app.db,
        user_event(Kind::MfaRemove, &user, now)
            .sid(&session.sid)
            .label("factor", "passkey"),
    )
    .await;
    super::notice::send(
        &app,
        &user,
        crate::mail::Notice::FactorRemoved("A passkey".into()),
    );
    super::account::done("passkey-removed")
}

/// A passkey as the account page lists it.
#[derive(serde::Serialize)]
pub(super) struct PasskeyRow {
    pub id: String,
    pub name: String,
    pub kind: &'static str,
    pub added: String,
    pub last_used: Option<String>,
}

pub(super) fn rows(
    records: &[PasskeyRecord],
    when: impl Fn(UnixTime) -> String,
) -> Vec<PasskeyRow> {
    records
        .iter()
        .map(|p| PasskeyRow {
            id: URL_SAFE_NO_PAD.encode(&p.credential_id),
            name: p.name.clone(),
            kind: if p.backup_eligible {
                "synced"
            } else {
                "this device only"
            },
            added: when(p.created_at),
            last_used: p.last_used_at.map(&when),
        })
        .collect()
}
