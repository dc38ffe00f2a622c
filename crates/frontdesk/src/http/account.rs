//! The user's own account page, `/account`: profile, password, two-step
//! verification and recovery codes, sessions, and the applications the
//! user allowed. Behind sign-in at the level the user's policy asks for;
//! every change also needs a recent authentication (`reauth_secs`), else
//! the browser is sent to sign in again first.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use frontdesk_core::error::Error;
use frontdesk_core::mfa;
use frontdesk_core::model::{ClientId, Session, UnixTime, User, UserClaims};
use frontdesk_core::params::Params;
use frontdesk_core::session;
use frontdesk_core::store::Store;
use minijinja::context;

use super::browser::{current_session, form_params, see_other, show};
use super::mfa::{Continue, enrol_page, recovery_codes_page, user_event};
use super::pages::{SESSION_COOKIE, csrf_ok, ensure_csrf};
use crate::app::{AppState, now};
use crate::audit;
use crate::client_addr::ClientAddr;
use frontdesk_core::audit::Kind;

pub const PATH: &str = "/account";

/// Claims a user may edit on the account page when the operator allows it
/// (`account_editable_claims`).
pub const EDITABLE_CLAIMS: &[&str] = &["name", "given_name", "family_name", "nickname", "locale"];

/// Longest value of an editable claim, in characters.
const CLAIM_MAX: usize = 200;

/// The signed-in user of this browser at the level their policy needs, or
/// the answer that gets them there (sign-in, then the second factor).
async fn signed_in(
    app: &AppState,
    jar: &CookieJar,
    now: UnixTime,
) -> Result<(Session, User), Response> {
    let (s, user) = match current_session(app, jar, now).await {
        Ok(Some(s)) => s,
        Ok(None) => return Err(see_other("/login?next=account")),
        Err(e) => return Err(show(app, e)),
    };
    let required = mfa::required_level(app.core.settings.require_mfa, &user, &[]);
    if mfa::missing(required, &s, &user) != mfa::Missing::Nothing {
        return Err(see_other(&format!("{}?next=account", super::mfa::PATH)));
    }
    Ok((s, user))
}

/// For a script's call: the signed-in user, at their level and recent
/// enough to change the account; else `Err(Ok(where the browser must go
/// first))`, or `Err(Err(the error page))` (the database is away).
#[allow(clippy::result_large_err)]
pub(super) async fn signed_in_for_change(
    app: &AppState,
    jar: &CookieJar,
    now: UnixTime,
) -> Result<(Session, User), Result<String, Response>> {
    let (s, user) = match current_session(app, jar, now).await {
        Ok(Some(s)) => s,
        Ok(None) => return Err(Ok("/login?next=account".to_owned())),
        Err(e) => return Err(Err(show(app, e))),
    };
    let required = mfa::required_level(app.core.settings.require_mfa, &user, &[]);
    if mfa::missing(required, &s, &user) != mfa::Missing::Nothing {
        return Err(Ok(format!("{}?next=account", super::mfa::PATH)));
    }
    if !recent(app, &s, now) {
        return Err(Ok("/login?next=account&reauth=1".to_owned()));
    }
    Ok((s, user))
}

/// Whether the session authenticated recently enough to change the account.
fn recent(app: &AppState, s: &Session, now: UnixTime) -> bool {
    now.saturating_sub(s.auth_time) <= app.web.reauth_secs
}

/// Sign in again (password, then the second factor if enrolled), then back.
fn reauthenticate() -> Response {
    see_other("/login?next=account&reauth=1")
}

/// A POST to the account page: the form, checked for CSRF, and the signed-in
/// user with a recent authentication.
pub(super) async fn change(
    app: &AppState,
    jar: &CookieJar,
    body: Result<Bytes, BytesRejection>,
    now: UnixTime,
) -> Result<(Params, Session, User), Response> {
    let form = form_params(app, body)?;
    if !csrf_ok(&app.web.pages, &app.core.pepper, jar, form.get("csrf")) {
        return Err(app.web.pages.error(
            StatusCode::FORBIDDEN,
            "This form has expired",
            "Go back, reload the page and try again.",
            None,
        ));
    }
    let (s, user) = signed_in(app, jar, now).await?;
    if !recent(app, &s, now) {
        return Err(reauthenticate());
    }
    Ok((form, s, user))
}

pub(super) fn done(notice: &str) -> Response {
    see_other(&format!("{PATH}?done={notice}"))
}

/// The notices `?done=` may name (anything else shows nothing).
fn notice(done: Option<&str>) -> Option<&'static str> {
    Some(match done? {
        "profile" => "Your profile was saved.",
        "password" => "Your password was changed. Other sessions were signed out.",
        "mfa-removed" => "Two-step verification is off.",
        "app-revoked" => "The application no longer has access.",
        "session-ended" => "The session was signed out.",
        "sessions-ended" => "Every other session was signed out.",
        "email-unchanged" => "That is your address already; it is confirmed.",
        "email-sent" => "We sent a link to your address. Open it to confirm the address.",
        "passkey-added" => "Your passkey was added. You can sign in with it now.",
        "passkey-removed" => "The passkey was removed.",
        "upstream-linked" => "The account was connected. You can sign in with it now.",
        "upstream-unlinked" => "The account was disconnected.",
        _ => return None,
    })
}

#[derive(serde::Serialize)]
struct AppRow {
    client_id: String,
    name: String,
    scopes: Vec<String>,
    granted_at: String,
}

#[derive(serde::Serialize)]
struct SessionRow {
    sid: String,
    current: bool,
    device: String,
    address: String,
    signed_in: String,
    last_seen: String,
    methods: String,
}

/// A short readable name for a `User-Agent`.
pub(super) fn device_name(ua: Option<&str>) -> String {
    let Some(ua) = ua.filter(|u| !u.is_empty()) else {
        return "Unknown browser".to_owned();
    };
    let browser = [
        ("Edg/", "Edge"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map_or("Browser", |(_, name)| name);
    let os = [
        ("Android", "Android"),
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ]
    .iter()
    .find(|(needle, _)| ua.contains(needle))
    .map(|(_, name)| *name);
    match os {
        Some(os) => format!("{browser} on {os}"),
        None => browser.to_owned(),
    }
}

/// UTC, to the minute: `2026-12-01 14:03 UTC`.
fn when(t: UnixTime) -> String {
    time::OffsetDateTime::from_unix_timestamp(t).map_or_else(
        |_| t.to_string(),
        |d| {
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02} UTC",
                d.year(),
                u8::from(d.month()),
                d.day(),
                d.hour(),
                d.minute()
            )
        },
    )
}

/// How a session signed in, in words.
fn methods(amr: &[String], idp: Option<&str>) -> String {
    let has = |m: &str| amr.iter().any(|x| x == m);
    if let Some(idp) = idp {
        return format!("through {idp}");
    }
    let passkey = has(mfa::AMR_HWK) || has(mfa::AMR_SWK);
    match (has(session::AMR_PASSWORD), passkey, has(mfa::AMR_OTP)) {
        (true, true, _) => "password and passkey",
        (false, true, _) => "passkey",
        (_, false, true) => "password and code",
        _ => "password",
    }
    .to_owned()
}

/// The account page.
pub async fn page(
    State(app): State<AppState>,
    jar: CookieJar,
    axum::extract::RawQuery(q): axum::extract::RawQuery,
) -> Response {
    let now = now();
    let (s, user) = match signed_in(&app, &jar, now).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let query = Params::parse(q.unwrap_or_default().as_bytes()).unwrap_or_default();
    let loaded = load(&app, &s, &user, now).await;
    let (apps, sessions, codes_left, passkeys, connections) = match loaded {
        Ok(v) => v,
        Err(e) => return show(&app, e),
    };
    let (jar, csrf) = ensure_csrf(&app.web.pages, &app.core.pepper, jar);
    let editable: Vec<(String, String, String)> = app
        .web
        .account_editable_claims
        .iter()
        .map(|c| {
            (
                (*c).to_owned(),
                claim_label(c).to_owned(),
                claim_value(&user.claims, c).unwrap_or_default(),
            )
        })
        .collect();
    let page = app.web.pages.render(
        StatusCode::OK,
        "account.html",
        context! {
            csrf => csrf,
            notice => notice(query.get("done")),
            username => user.username,
            name => user.claims.name,
            email => user.claims.email,
            email_verified => user.claims.email_verified,
            editable => editable,
            email_change => app.web.account_email_change,
            mfa_enrolled => user.mfa_enrolled,
            codes_left => codes_left,
            apps => minijinja::Value::from(minijinja::value::Serde(&apps)),
            sessions => minijinja::Value::from(minijinja::value::Serde(&sessions)),
            reauth_needed => !recent(&app, &s, now),
            passkeys_on => app.web.passkeys.is_some(),
            passkeys => minijinja::Value::from(minijinja::value::Serde(&passkeys)),
            connections => minijinja::Value::from(minijinja::value::Serde(&connections)),
        },
    );
    (jar, page).into_response()
}

type Loaded = (
    Vec<AppRow>,
    Vec<SessionRow>,
    u32,
    Vec<super::passkey::PasskeyRow>,
    Vec<super::upstream::ConnectionRow>,
);

async fn load(app: &AppState, s: &Session, user: &User, now: UnixTime) -> Result<Loaded, Error> {
    let mut apps = Vec::new();
    for c in app.db.list_consents(&user.sub).await? {
        let name = app
            .db
            .client(&c.client_id)
            .await?
            .map_or_else(|| c.client_id.0.clone(), |cl| cl.client_name);
        apps.push(AppRow {
            client_id: c.client_id.0.clone(),
            name,
            scopes: c
                .scope
                .split(' ')
                .filter(|x| !x.is_empty())
                .map(|s| app.web.pages.describe_scope(s))
                .collect(),
            granted_at: when(c.granted_at),
        });
    }
    let mut sessions: Vec<SessionRow> = app
        .db
        .list_sessions(&user.sub, now)
        .await?
        .into_iter()
        .map(|x| SessionRow {
            current: x.sid == s.sid,
            device: device_name(x.user_agent.as_deref()),
            address: x.client_ip.clone().unwrap_or_default(),
            signed_in: when(x.auth_time),
            last_seen: when(x.last_seen_at.unwrap_or(x.created_at)),
            methods: methods(
                &x.amr,
                x.idp
                    .as_deref()
                    .map(|i| super::upstream::display_name(app, i))
                    .as_deref(),
            ),
            sid: x.sid,
        })
        .collect();
    sessions.sort_by_key(|r| !r.current);
    let codes_left = if user.mfa_enrolled {
        app.db.recovery_codes_left(&user.sub).await?
    } else {
        0
    };
    let passkeys = super::passkey::rows(&app.db.passkeys_of(&user.sub).await?, when);
    let connections = super::upstream::connections(app, &user.sub, when).await?;
    Ok((apps, sessions, codes_left, passkeys, connections))
}

fn claim_label(c: &str) -> &'static str {
    match c {
        "name" => "Full name",
        "given_name" => "First name",
        "family_name" => "Last name",
        "nickname" => "Nickname",
        "locale" => "Language (e.g. en-GB)",
        _ => "Value",
    }
}

fn claim_slot<'a>(claims: &'a mut UserClaims, c: &str) -> Option<&'a mut Option<String>> {
    Some(match c {
        "name" => &mut claims.name,
        "given_name" => &mut claims.given_name,
        "family_name" => &mut claims.family_name,
        "nickname" => &mut claims.nickname,
        "locale" => &mut claims.locale,
        _ => return None,
    })
}

fn claim_value(claims: &UserClaims, c: &str) -> Option<String> {
    let mut copy = claims.clone();
    claim_slot(&mut copy, c).and_then(|v| v.take())
}

pub(super) fn bad_form(app: &AppState, message: &str) -> Response {
    app.web
        .pages
        .error(StatusCode::BAD_REQUEST, "That did not work", message, None)
}

/// Changes the account's e-mail address (`email`), or sends the link for
/// the current one again. A new address is saved unverified and gets a
/// verification link; the old one is told (`security_notices`). An address
/// another account has is not taken: that address is told it has an
/// account already, and the page says the same as for a new one, so the
/// page does not tell which addresses have accounts (as registration).
pub async fn email(
    State(app): State<AppState>,
    jar: CookieJar,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    use crate::mail::{Job, Notice};
    let now = now();
    let (form, _, user) = match change(&app, &jar, body, now).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let typed = form.get("email").unwrap_or_default().trim();
    let current = user.claims.email.clone();
    let same = current
        .as_deref()
        .is_some_and(|c| c.eq_ignore_ascii_case(typed));
    if typed.is_empty() || same {
        // The link for the address the account has, again.
        if current.is_none() || user.claims.email_verified {
            return done("email-unchanged");
        }
        super::email::resend_verification(&app, &user, now).await;
        return done("email-sent");
    }
    if let Err(refused) = frontdesk_core::registration::validate_email(typed) {
        return bad_form(&app, &refused.0);
    }
    // Every change mails someone: the account's mail limit bounds them.
    match frontdesk_core::email_link::may_send_verification(&app.db, &app.links, &user, now).await {
        Ok(true) => {}
        Ok(false) => {
            return app.web.pages.error(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many changes",
                "Too many e-mails for this account. Try again in a few minutes.",
                None,
            );
        }
        Err(e) => return show(&app, e),
    }
    let mut claims = user.claims.clone();
    claims.email = Some(typed.to_owned());
    claims.email_verified = false;
    match app.db.update_user_claims(&user.sub, &claims, now).await {
        Ok(_) => {}
        Err(frontdesk_core::store::StoreError::Conflict(_)) => {
            app.mail.enqueue(Job::AlreadyRegistered {
                email: typed.to_owned(),
            });
            return done("email-sent");
        }
        Err(e) => return show(&app, e.into()),
    }
    audit::record(
        &app.db,
        user_event(Kind::ProfileUpdate, &user, now).fields(&["email"]),
    )
    .await;
    app.mail.enqueue(Job::VerifyEmail {
        sub: user.sub.clone(),
    });
    if let Some(old) = current {
        super::notice::send(
            &app,
            &user,
            Notice::EmailChanged {
                to: old,
                new: typed.to_owned(),
            },
        );
    }
    done("email-sent")
}

/// Saves the editable profile claims.
pub async fn profile(
    State(app): State<AppState>,
    jar: CookieJar,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let now = now();
    let (form, _, user) = match change(&app, &jar, body, now).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let mut claims = user.claims.clone();
    for c in &app.web.account_editable_claims {
        let Some(value) = form.get(c) else { continue };
        let value = value.trim();
        if value.chars().count() > CLAIM_MAX || value.chars().any(char::is_control) {
            return bad_form(
                &app,
                &format!(
                    "{} must be at most {CLAIM_MAX} characters of text.",
                    claim_label(c)
                ),
            );
        }
        if let Some(slot) = claim_slot(&mut claims, c) {
            *slot = (!value.is_empty()).then(|| value.to_owned());
        }
    }
    let changed: Vec<&str> = app
        .web
        .account_editable_claims
        .iter()
        .copied()
        .filter(|c| claim_value(&claims, c) != claim_value(&user.claims, c))
        .collect();
    match app.db.update_user_claims(&user.sub, &claims, now).await {
        Ok(_) => {
            audit::record(
                &app.db,
                user_event(Kind::ProfileUpdate, &user, now).fields(&changed),
            )
            .await;
            done("profile")
        }
        Err(e) => show(&app, e.into()),
    }
}

/// Changes the password: the current one is required; every session and
/// grant of the user ends (a stolen session or refresh token must not
/// survive it), and this browser gets a fresh session at once.
pub async fn password(
    State(app): State<AppState>,
    Extension(ClientAddr(peer)): Extension<ClientAddr>,
    headers: HeaderMap,
    jar: CookieJar,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let now = now();
    let (form, s, user) = match change(&app, &jar, body, now).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let current = form.get("current_password").unwrap_or_default().to_owned();
    let new = form.get("new_password").unwrap_or_default().to_owned();
    if form.get("confirm_password") != Some(new.as_str()) {
        return bad_form(&app, "The new passwords do not match.");
    }
    if let Err(e) = frontdesk_core::manage::validate_password(&new) {
        return bad_form(&app, &format!("The new {e}."));
    }
    // The login page's check, with its throttle: a borrowed session cannot
    // be used to guess the password faster than the login page allows.
    let checked = frontdesk_core::login::check_password(
        &app.db,
        &app.web.login,
        &app.web,
        &app.web.dummy_hash,
        &user.username,
        &current,
        peer,
        now,
    )
    .await;
    match checked {
        Err(e) => return show(&app, e),
        Ok(frontdesk_core::login::LoginCheck::Ok(checked)) if checked.sub == user.sub => {}
        Ok(frontdesk_core::login::LoginCheck::Throttled) => {
            return app.web.pages.error(
                StatusCode::TOO_MANY_REQUESTS,
                "That did not work",
                "Too many wrong passwords. Try again in a few minutes.",
                None,
            );
        }
        Ok(_) => {
            return app.web.pages.error(
                StatusCode::UNAUTHORIZED,
                "That did not work",
                "Your current password is not correct.",
                None,
            );
        }
    }
    let hash = match tokio::task::spawn_blocking(move || frontdesk_core::password::hash(&new)).await
    {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => return show(&app, e),
        Err(e) => return show(&app, Error::Internal(e.to_string())),
    };
    if let Err(e) = app.db.set_user_password(&user.sub, &hash, now).await {
        return show(&app, e.into());
    }
    audit::record(&app.db, user_event(Kind::PasswordChange, &user, now)).await;
    super::notice::send(&app, &user, crate::mail::Notice::PasswordChanged);
    // The user just proved the password (and the session had its factors).
    let amr: Vec<&str> = s.amr.iter().map(String::as_str).collect();
    let origin = origin(&headers, peer);
    let started = match session::start_from(&app.core, &app.db, &user, &amr, &origin, now).await {
        Ok(st) => st,
        Err(e) => return show(&app, e),
    };
    let max_age = started.cookie_max_age();
    let jar = jar.add(
        app.web
            .pages
            .cookie(SESSION_COOKIE, started.cookie, max_age),
    );
    (jar, done("password")).into_response()
}

/// Where a sign-in comes from, for the session list.
pub(super) fn origin(headers: &HeaderMap, peer: std::net::IpAddr) -> session::Origin {
    session::Origin {
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        client_ip: Some(peer.to_string()),
        idp: None,
        authenticated_at: None,
    }
}

/// Starts (or shows again) a TOTP enrolment from the account page.
pub async fn totp(State(app): State<AppState>, jar: CookieJar) -> Response {
    let now = now();
    let (s, user) = match signed_in(&app, &jar, now).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if !recent(&app, &s, now) {
        return reauthenticate();
    }
    if user.mfa_enrolled {
        return see_other(PATH);
    }
    enrol_page(&app, jar, &user, &Continue::Account, None, now).await
}

/// Turns two-step verification off (TOTP and recovery codes).
pub async fn totp_remove(
    State(app): State<AppState>,
    jar: CookieJar,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let now = now();
    let (_, _, user) = match change(&app, &jar, body, now).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if app.core.settings.require_mfa == mfa::RequireMfa::Always {
        return bad_form(
            &app,
            "Two-step verification is required here. Set up a new authenticator app instead.",
        );
    }
    match app.db.remove_mfa(&user.sub).await {
        Ok(_) => {
            audit::record(&app.db, user_event(Kind::MfaRemove, &user, now)).await;
            super::notice::send(
                &app,
                &user,
                crate::mail::Notice::FactorRemoved(
                    "Two-step verification with an authenticator app".into(),
                ),
            );
            done("mfa-removed")
        }
        Err(e) => show(&app, e.into()),
    }
}

/// New recovery codes (the old ones stop working), shown once.
pub async fn recovery_codes(
    State(app): State<AppState>,
    jar: CookieJar,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let now = now();
    let (_, _, user) = match change(&app, &jar, body, now).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if !user.mfa_enrolled {
        return see_other(PATH);
    }
    match mfa::regenerate_recovery_codes(&app.core, &app.db, &user, now).await {
        Ok(codes) => {
            audit::record(
                &app.db,
                user_event(Kind::MfaRecoveryCodes, &user, now).count("codes", codes.len() as u64),
            )
            .await;
            recovery_codes_page(&app, &codes, PATH, false)
        }
        Err(e) => show(&app, e),
    }
}

/// Withdraws an application's access: the consent and every grant of the
/// user to it (so its refresh and access tokens stop working).
pub async fn revoke_app(
    State(app): State<AppState>,
    jar: CookieJar,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let now = now();
    let (form, _, user) = match change(&app, &jar, body, now).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(client_id) = form.get("client_id").filter(|c| !c.is_empty()) else {
        return bad_form(&app, "No application was named.");
    };
    let client = ClientId(client_id.to_owned());
    match app.db.revoke_consent(&user.sub, &client, now).await {
        Ok(_) => {
            audit::record(
                &app.db,
                user_event(Kind::ConsentRevoke, &user, now).client(&client),
            )
            .await;
            done("app-revoked")
        }
        Err(e) => show(&app, e.into()),
    }
}

/// Signs out one session of the user (never someone else's: the `sid` must
/// be one of the user's live sessions).
pub async fn end_session(
    State(app): State<AppState>,
    jar: CookieJar,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let now = now();
    let (form, s, user) = match change(&app, &jar, body, now).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let sid = form.get("sid").unwrap_or_default();
    let mine = match app.db.list_sessions(&user.sub, now).await {
        Ok(list) => list.into_iter().any(|x| x.sid == sid),
        Err(e) => return show(&app, e.into()),
    };
    if !mine {
        return bad_form(&app, "That session is not one of yours, or it has ended.");
    }
    if let Err(e) = app.db.end_session(sid, now).await {
        return show(&app, e.into());
    }
    audit::record(&app.db, user_event(Kind::SessionEnd, &user, now).sid(sid)).await;
    if sid == s.sid {
        let jar = jar.add(app.web.pages.removal(SESSION_COOKIE));
        return (jar, see_other("/login?next=account")).into_response();
    }
    done("session-ended")
}

/// Signs out every other session of the user.
pub async fn end_other_sessions(
    State(app): State<AppState>,
    jar: CookieJar,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let now = now();
    let (_, s, user) = match change(&app, &jar, body, now).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match app
        .db
        .end_sessions_of(&user.sub, now, Some(s.sid.as_str()))
        .await
    {
        Ok(n) => {
            audit::record(
                &app.db,
                user_event(Kind::SessionEnd, &user, now).count("sessions", n),
            )
            .await;
            done("sessions-ended")
        }
        Err(e) => show(&app, e.into()),
    }
}
