//! The second step of a sign-in (`/login/mfa`): a TOTP or recovery code
//! that raises the password session (step-up), and the TOTP enrolment that
//! `require_mfa = "always"`, an `acr_values` request or the account page
//! leads to. The rules are `frontdesk_core::mfa`'s; this module moves forms
//! and cookies.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use frontdesk_core::error::Error;
use frontdesk_core::mfa::{self, Confirmation, Enrolment, FactorCheck};
use frontdesk_core::model::{Session, UnixTime, User};
use frontdesk_core::params::Params;
use minijinja::context;

use super::browser::{current_session, expired_form, form_params, request_query, see_other, show};
use super::pages::{SESSION_COOKIE, csrf_ok, ensure_csrf};
use crate::app::{AppState, now};
use crate::audit;
use crate::client_addr::ClientAddr;
use frontdesk_core::audit::{Actor, Kind};

pub const PATH: &str = "/login/mfa";
pub const ENROL_PATH: &str = "/login/mfa/enrol";

/// Where the browser goes once the second factor is done: back to the
/// authorization request (a relative `/authorize?…` built from its own
/// parameters, never a URL from the form), or to the account page.
#[derive(Debug, Clone)]
pub(super) enum Continue {
    Authorize(String),
    Account,
    /// The device page (`next=device`), whose request the `fd_device`
    /// cookie names; it asks for a second factor only when the client's
    /// policy needs one (a device request has no `acr_values`).
    Device,
}

impl Continue {
    /// From a query or form: `next=account`, or the authorization request's
    /// parameters (directly, or inside a `request` field).
    pub(super) fn from_params(p: &Params) -> Result<Continue, Error> {
        if p.get("next") == Some("account") {
            return Ok(Continue::Account);
        }
        if p.get("next") == Some("device") {
            return Ok(Continue::Device);
        }
        if let Some(inner) = p.get("request") {
            let inner = Params::parse(inner.as_bytes())?;
            return Ok(Continue::Authorize(request_query(&inner, None)));
        }
        if p.get("client_id").is_some() {
            return Ok(Continue::Authorize(request_query(p, None)));
        }
        Ok(Continue::Account)
    }

    pub(super) fn location(&self) -> String {
        match self {
            Continue::Authorize(q) => format!("/authorize?{q}"),
            Continue::Account => super::account::PATH.to_owned(),
            Continue::Device => super::device::PATH.to_owned(),
        }
    }

    /// The query string of this step's own pages.
    pub(super) fn query(&self) -> String {
        match self {
            Continue::Authorize(q) => q.clone(),
            Continue::Account => "next=account".to_owned(),
            Continue::Device => "next=device".to_owned(),
        }
    }

    fn request(&self) -> &str {
        match self {
            Continue::Authorize(q) => q,
            Continue::Account | Continue::Device => "",
        }
    }

    fn next(&self) -> &str {
        match self {
            Continue::Authorize(_) => "",
            Continue::Account => "account",
            Continue::Device => "device",
        }
    }
}

/// An event the user caused about their own account.
pub(super) fn user_event(
    kind: Kind,
    user: &User,
    now: UnixTime,
) -> frontdesk_core::audit::AuditEvent {
    audit::event(kind, now)
        .actor(&Actor::User(user.sub.clone()))
        .subject(&user.sub)
}

/// The password session of this browser, or the answer that sends it to
/// the login page first.
async fn password_session(
    app: &AppState,
    jar: &CookieJar,
    cont: &Continue,
    now: UnixTime,
) -> Result<(Session, User), Response> {
    match current_session(app, jar, now).await {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err(see_other(&format!("/login?{}", cont.query()))),
        Err(e) => Err(show(app, e)),
    }
}

/// `/authorize` and `/account` send the browser here when the session needs
/// a second factor: the code form, or the enrolment when the user has none.
pub async fn get(State(app): State<AppState>, jar: CookieJar, RawQuery(q): RawQuery) -> Response {
    let now = now();
    let cont = match Params::parse(q.unwrap_or_default().as_bytes())
        .map_err(Error::from)
        .and_then(|p| Continue::from_params(&p))
    {
        Ok(c) => c,
        Err(e) => return show(&app, e),
    };
    let (session, user) = match password_session(&app, &jar, &cont, now).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let required = required_for(&app, &cont, &user, now).await;
    if mfa::level_of(&session.amr) >= required {
        return see_other(&cont.location());
    }
    if user.has_second_factor() {
        return factor_page(&app, jar, StatusCode::OK, &cont, &user, None, now).await;
    }
    enrol_page(&app, jar, &user, &cont, None, now).await
}

/// The level the step this page belongs to needs: the authorization
/// request's (its client's `require_mfa`, raised by its `acr_values` and
/// `claims`), or
/// the account page's. At least a second factor: that is why the browser is
/// here. The request is validated again, not trusted from the query; one
/// that no longer validates gets its error at `/authorize`.
async fn required_for(app: &AppState, cont: &Continue, user: &User, now: UnixTime) -> mfa::Level {
    let server = app.core.settings.require_mfa;
    let asked = match cont {
        Continue::Authorize(q) => match Params::parse(q.as_bytes()) {
            Ok(p) => match super::browser::validate(app, &p, now).await {
                Ok((req, _)) => req.required_level(mfa::policy(&req.client, server), user),
                Err(_) => mfa::Level::Mfa,
            },
            Err(_) => mfa::Level::Mfa,
        },
        Continue::Account => mfa::required_level(server, user, &[]),
        // The device page sends the browser here only when the client's
        // policy needs a second factor, which is the floor below.
        Continue::Device => mfa::Level::Mfa,
    };
    asked.max(mfa::Level::Mfa)
}

/// The second-factor page: the passkey button when the user has one and
/// passkeys are on, the code form when they have TOTP and the step does
/// not need a passkey.
pub(super) async fn factor_page(
    app: &AppState,
    jar: CookieJar,
    status: StatusCode,
    cont: &Continue,
    user: &User,
    error: Option<&str>,
    now: UnixTime,
) -> Response {
    let passkey_only = required_for(app, cont, user, now).await >= mfa::Level::PhishingResistant;
    let passkey = user.has_passkey && app.web.passkeys.is_some();
    if !passkey && (passkey_only || !user.mfa_enrolled) {
        // The user's passkeys cannot be used here (passkeys were turned off
        // since they were added).
        if passkey_only {
            return app.web.pages.error(
                StatusCode::FORBIDDEN,
                "A passkey is needed",
                "This application asks for a passkey, and passkeys are not available on this server.",
                None,
            );
        }
        return enrol_page(app, jar, user, cont, None, now).await;
    }
    let (jar, csrf) = ensure_csrf(&app.web.pages, &app.core.pepper, jar);
    let page = app.web.pages.render(
        status,
        "mfa.html",
        context! {
            csrf => csrf,
            request => cont.request(),
            next => cont.next(),
            error => error,
            totp => user.mfa_enrolled,
            passkey => passkey,
            passkey_only => passkey_only,
        },
    );
    (jar, page).into_response()
}

/// The enrolment page: a QR code of the `otpauth://` URI (SVG rendered
/// here, no script), the secret for typing in, and the confirmation form.
pub(super) async fn enrol_page(
    app: &AppState,
    jar: CookieJar,
    user: &User,
    cont: &Continue,
    error: Option<(StatusCode, &str)>,
    now: UnixTime,
) -> Response {
    let enrolment = match mfa::pending_totp(&app.core, &app.kek, &app.db, user).await {
        Ok(Some(e)) => Ok(Some(e)),
        Ok(None) => mfa::start_totp(&app.core, &app.kek, &app.db, user, now).await,
        Err(e) => Err(e),
    };
    let enrolment = match enrolment {
        Ok(Some(e)) => e,
        // Enrolled meanwhile (another tab): ask for a code instead.
        Ok(None) => {
            let mut enrolled = user.clone();
            enrolled.mfa_enrolled = true;
            return Box::pin(factor_page(
                app,
                jar,
                StatusCode::OK,
                cont,
                &enrolled,
                None,
                now,
            ))
            .await;
        }
        Err(e) => return show(app, e),
    };
    let qr = match qr_svg(&enrolment) {
        Ok(svg) => svg,
        Err(e) => return show(app, e),
    };
    let (status, error) = error.map_or((StatusCode::OK, None), |(s, m)| (s, Some(m)));
    let (jar, csrf) = ensure_csrf(&app.web.pages, &app.core.pepper, jar);
    let page = app.web.pages.render(
        status,
        "mfa_enrol.html",
        context! {
            csrf => csrf,
            request => cont.request(),
            next => cont.next(),
            error => error,
            qr_svg => minijinja::Value::from_safe_string(qr),
            secret => grouped(&enrolment.secret_base32),
            username => user.username.as_str(),
        },
    );
    (jar, page).into_response()
}

/// The secret in groups of four, as authenticator apps accept it typed.
fn grouped(secret: &str) -> String {
    secret
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The QR code as inline SVG: only `rect` and `path` elements with fill
/// colours (no style attributes, so the page's CSP holds).
fn qr_svg(enrolment: &Enrolment) -> Result<String, Error> {
    let code = qrcode::QrCode::with_error_correction_level(
        enrolment.otpauth_uri.as_bytes(),
        qrcode::EcLevel::M,
    )
    .map_err(|e| Error::Internal(format!("QR code: {e}")))?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    // The XML declaration does not belong inside an HTML document.
    let start = svg.find("<svg").unwrap_or(0);
    Ok(svg[start..].replacen(
        "<svg ",
        "<svg role=\"img\" aria-label=\"QR code for your authenticator app\" ",
        1,
    ))
}

/// Raises the session with the factor just proved and sends the browser on,
/// with the renewed session cookie.
pub(super) async fn raise_and_continue(
    app: &AppState,
    jar: CookieJar,
    session: &Session,
    factor: mfa::Factor,
    cont: &Continue,
) -> Result<CookieJar, Response> {
    match mfa::raise(&app.db, session, factor).await {
        Ok(Some(raised)) => {
            let max_age = raised.cookie_max_age();
            Ok(jar.add(app.web.pages.cookie(SESSION_COOKIE, raised.cookie, max_age)))
        }
        // The session ended meanwhile: sign in again.
        Ok(None) => Err(see_other(&format!("/login?{}", cont.query()))),
        Err(e) => Err(show(app, e)),
    }
}

/// The code of an enrolled user: TOTP or a recovery code.
pub async fn post(
    State(app): State<AppState>,
    Extension(ClientAddr(peer)): Extension<ClientAddr>,
    jar: CookieJar,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let now = now();
    let form = match form_params(&app, body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if !csrf_ok(&app.web.pages, &app.core.pepper, &jar, form.get("csrf")) {
        return expired_form(&app);
    }
    let cont = match Continue::from_params(&form) {
        Ok(c) => c,
        Err(e) => return show(&app, e),
    };
    let (session, user) = match password_session(&app, &jar, &cont, now).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    if !user.mfa_enrolled {
        return see_other(&format!("{PATH}?{}", cont.query()));
    }
    let user_ref = &user;
    let code = form.get("code").unwrap_or_default();
    let checked = mfa::check_second_factor(
        &app.core,
        &app.kek,
        &app.db,
        &app.web.login,
        &app.web,
        &user,
        code,
        peer,
        now,
    )
    .await;
    let event = match &checked {
        Ok(FactorCheck::Ok(f)) => Some(
            user_event(Kind::MfaSuccess, &user, now)
                .sid(&session.sid)
                .label("factor", f.as_str()),
        ),
        Ok(FactorCheck::Failed) => Some(user_event(Kind::MfaFailure, &user, now)),
        Ok(FactorCheck::Throttled) => Some(user_event(Kind::MfaThrottled, &user, now)),
        Err(_) => None,
    };
    if let Some(e) = event {
        audit::record(&app.db, e).await;
    }
    match checked {
        Err(e) => show(&app, e),
        Ok(FactorCheck::Throttled) => {
            factor_page(
                &app,
                jar,
                StatusCode::TOO_MANY_REQUESTS,
                &cont,
                user_ref,
                Some("Too many wrong codes. Try again in a few minutes."),
                now,
            )
            .await
        }
        Ok(FactorCheck::Failed) => {
            factor_page(
                &app,
                jar,
                StatusCode::UNAUTHORIZED,
                &cont,
                user_ref,
                Some(
                    "That code is not valid. Use the current code from your app, or an unused recovery code.",
                ),
                now,
            )
            .await
        }
        Ok(FactorCheck::Ok(factor)) => {
            match raise_and_continue(&app, jar, &session, factor, &cont).await {
                Ok(jar) => (jar, see_other(&cont.location())).into_response(),
                Err(r) => r,
            }
        }
    }
}

/// Confirms a TOTP enrolment with the first code from the app; the session
/// is raised by it, and the recovery codes are shown once.
pub async fn enrol_post(
    State(app): State<AppState>,
    Extension(ClientAddr(peer)): Extension<ClientAddr>,
    jar: CookieJar,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let now = now();
    let form = match form_params(&app, body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if !csrf_ok(&app.web.pages, &app.core.pepper, &jar, form.get("csrf")) {
        return expired_form(&app);
    }
    let cont = match Continue::from_params(&form) {
        Ok(c) => c,
        Err(e) => return show(&app, e),
    };
    let (session, user) = match password_session(&app, &jar, &cont, now).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let code = form.get("code").unwrap_or_default();
    let confirmed = mfa::confirm_totp(
        &app.core,
        &app.kek,
        &app.db,
        &app.web.login,
        &app.web,
        &user,
        code,
        peer,
        now,
    )
    .await;
    match confirmed {
        Err(e) => show(&app, e),
        Ok(Confirmation::NothingPending) => see_other(&format!("{PATH}?{}", cont.query())),
        Ok(Confirmation::Throttled) => {
            enrol_page(
                &app,
                jar,
                &user,
                &cont,
                Some((
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many wrong codes. Try again in a few minutes.",
                )),
                now,
            )
            .await
        }
        Ok(Confirmation::Failed) => enrol_page(
            &app,
            jar,
            &user,
            &cont,
            Some((
                StatusCode::UNAUTHORIZED,
                "That code is not valid. Check the time on your phone and use the current code.",
            )),
            now,
        )
        .await,
        Ok(Confirmation::Confirmed(codes)) => {
            audit::record(
                &app.db,
                user_event(Kind::MfaEnrol, &user, now)
                    .sid(&session.sid)
                    .label("factor", "totp"),
            )
            .await;
            super::notice::send(
                &app,
                &user,
                crate::mail::Notice::FactorAdded(
                    "Two-step verification with an authenticator app".into(),
                ),
            );
            let jar = match raise_and_continue(&app, jar, &session, mfa::Factor::Totp, &cont).await
            {
                Ok(jar) => jar,
                Err(r) => return r,
            };
            let page = recovery_codes_page(&app, &codes, &cont.location(), true);
            (jar, page).into_response()
        }
    }
}

/// The recovery codes, shown once; "Continue" is a plain link to where the
/// sign-in or the account page goes on.
pub(super) fn recovery_codes_page(
    app: &AppState,
    codes: &[String],
    continue_to: &str,
    just_enrolled: bool,
) -> Response {
    app.web.pages.render(
        StatusCode::OK,
        "recovery_codes.html",
        context! {
            codes => codes.to_vec(),
            continue_to => continue_to,
            just_enrolled => just_enrolled,
        },
    )
}
