//! The pages behind e-mailed links: forgot password (`/forgot`), choose a
//! new password (`/reset?token=…`), verify an e-mail address
//! (`/verify-email?token=…`), and self-registration (`/register`, with
//! `features.registration`). Core decides (`frontdesk_core::email_link`,
//! `frontdesk_core::registration`); mail leaves through the queue
//! (`crate::mail`), off the request path. Every successful POST answers 303.
//!
//! Tokens arrive in the query string of a GET; request logs carry the path
//! only, every page sends `Referrer-Policy: no-referrer`, and the reset form
//! carries the token in its POST body.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use frontdesk_core::email_link::{self, LinkProblem, ResetRequest};
use frontdesk_core::manage::{self, MIN_PASSWORD_LEN};
use frontdesk_core::model::{LinkPurpose, UnixTime, User};
use frontdesk_core::params::Params;
use frontdesk_core::registration::{self, Registered};
use minijinja::context;

use super::browser::{csrf_form, see_other, show};
use super::pages::{SESSION_COOKIE, ensure_csrf};
use crate::app::{AppState, hash_on_pool, now};
use crate::client_addr::ClientAddr;
use crate::mail::Job;

/// The login page's words for an account that must verify its address.
pub const UNVERIFIED: &str =
    "Confirm your e-mail address first: follow the link we sent to it, then sign in.";

const TOO_MANY: &str =
    "Too many requests from here or for this account. Try again in a few minutes.";

/// Sends a fresh verification link to an account that tried to sign in
/// unverified, within the per-account mail limit.
pub async fn resend_verification(app: &AppState, user: &User, now: UnixTime) {
    match email_link::may_send_verification(&app.db, &app.links, user, now).await {
        Ok(true) => app.mail.enqueue(Job::VerifyEmail {
            sub: user.sub.clone(),
        }),
        Ok(false) => {}
        Err(e) => tracing::warn!(error = %e, "verification resend not counted; not sent"),
    }
}

fn link_error(app: &AppState, problem: LinkProblem) -> Response {
    app.web.pages.error(
        StatusCode::BAD_REQUEST,
        "This link cannot be used",
        problem.describe(),
        Some(problem.code()),
    )
}

// The error is the finished response, built once on a cold path.
#[allow(clippy::result_large_err)]
fn query_token(app: &AppState, q: Option<String>) -> Result<String, Response> {
    let params =
        Params::parse(q.unwrap_or_default().as_bytes()).map_err(|e| show(app, e.into()))?;
    Ok(params.get("token").unwrap_or_default().to_owned())
}

// ----- /forgot -----

fn forgot_page(
    app: &AppState,
    jar: CookieJar,
    status: StatusCode,
    login: &str,
    error: Option<&str>,
) -> Response {
    let (jar, csrf) = ensure_csrf(&app.web.pages, &app.core.pepper, jar);
    let page = app.web.pages.render(
        status,
        "forgot.html",
        context! { csrf => csrf, login => login, error => error },
    );
    (jar, page).into_response()
}

pub async fn forgot_get(State(app): State<AppState>, jar: CookieJar) -> Response {
    forgot_page(&app, jar, StatusCode::OK, "", None)
}

/// Always the same answer for an account that exists and one that does
/// not (a 303 to `/forgot/sent`); the mail, if any, is sent by the worker.
pub async fn forgot_post(
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
    let login = form.get("login").unwrap_or_default().trim().to_owned();
    match email_link::request_reset(&app.db, &app.links, &login, peer, now).await {
        Err(e) => show(&app, e),
        Ok(ResetRequest::Throttled) => forgot_page(
            &app,
            jar,
            StatusCode::TOO_MANY_REQUESTS,
            &login,
            Some(TOO_MANY),
        ),
        Ok(ResetRequest::Send(user)) => {
            app.mail.enqueue(Job::ResetPassword { sub: user.sub });
            see_other("/forgot/sent")
        }
        Ok(ResetRequest::Nothing) => see_other("/forgot/sent"),
    }
}

pub async fn forgot_sent(State(app): State<AppState>) -> Response {
    let valid_for = crate::mail::duration_words(app.links.reset_ttl);
    app.web.pages.message(
        "Check your e-mail",
        &format!(
            "If an account with that username or e-mail address exists, we have sent a link to its address to choose a new password. The link works for {valid_for}."
        ),
    )
}

// ----- /reset -----

fn reset_page(
    app: &AppState,
    jar: CookieJar,
    status: StatusCode,
    token: &str,
    error: Option<&str>,
) -> Response {
    let (jar, csrf) = ensure_csrf(&app.web.pages, &app.core.pepper, jar);
    let page = app.web.pages.render(
        status,
        "reset.html",
        context! { csrf => csrf, token => token, error => error, min_len => MIN_PASSWORD_LEN },
    );
    (jar, page).into_response()
}

/// The new-password form, for a link that can still be used (nothing is
/// spent yet: a mail scanner that follows the link changes nothing).
pub async fn reset_get(
    State(app): State<AppState>,
    jar: CookieJar,
    RawQuery(q): RawQuery,
) -> Response {
    let token = match query_token(&app, q) {
        Ok(t) => t,
        Err(r) => return r,
    };
    match email_link::check(&app.db, LinkPurpose::ResetPassword, &token, now()).await {
        Err(e) => show(&app, e),
        Ok(Err(p)) => link_error(&app, p),
        Ok(Ok(_)) => reset_page(&app, jar, StatusCode::OK, &token, None),
    }
}

pub async fn reset_post(
    State(app): State<AppState>,
    jar: CookieJar,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let now = now();
    let form = match csrf_form(&app, &jar, body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let token = form.get("token").unwrap_or_default().to_owned();
    let password = form.get("password").unwrap_or_default().to_owned();
    if form.get("confirm").unwrap_or_default() != password {
        return reset_page(
            &app,
            jar,
            StatusCode::BAD_REQUEST,
            &token,
            Some("The two passwords differ. Type the same new password twice."),
        );
    }
    if let Err(e) = manage::validate_password(&password) {
        let message = format!("{}.", capitalise(&e.to_string()));
        return reset_page(&app, jar, StatusCode::BAD_REQUEST, &token, Some(&message));
    }
    // A dead link costs no Argon2id.
    match email_link::check(&app.db, LinkPurpose::ResetPassword, &token, now).await {
        Err(e) => return show(&app, e),
        Ok(Err(p)) => return link_error(&app, p),
        Ok(Ok(_)) => {}
    }
    let hash = match hash_on_pool(&app.web.hasher, password).await {
        Ok(h) => h,
        Err(e) => return show(&app, e),
    };
    // The spend is the one conditional update: of two concurrent posts of
    // the same link, one wins and the other is told it was used.
    match email_link::reset_password(&app.db, &token, &hash, now).await {
        Err(e) => show(&app, e),
        Ok(Err(p)) => link_error(&app, p),
        Ok(Ok(user)) => {
            crate::audit::record(
                &app.db,
                super::mfa::user_event(frontdesk_core::audit::Kind::PasswordReset, &user, now),
            )
            .await;
            app.mail.enqueue(Job::PasswordChanged { sub: user.sub });
            // Every session of the account ended with the reset.
            let jar = jar.add(app.web.pages.removal(SESSION_COOKIE));
            (jar, see_other("/reset/done")).into_response()
        }
    }
}

pub async fn reset_done(State(app): State<AppState>) -> Response {
    app.web.pages.message(
        "Your password was changed",
        "Sign in with the new password. Every earlier session of the account has been signed out.",
    )
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

// ----- /verify-email -----

pub async fn verify_get(State(app): State<AppState>, RawQuery(q): RawQuery) -> Response {
    let token = match query_token(&app, q) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let now = now();
    match email_link::verify_email(&app.db, &token, now).await {
        Err(e) => show(&app, e),
        Ok(Err(p)) => link_error(&app, p),
        Ok(Ok(user)) => {
            crate::audit::record(
                &app.db,
                super::mfa::user_event(frontdesk_core::audit::Kind::EmailVerify, &user, now),
            )
            .await;
            app.web.pages.message(
                "Your e-mail address is confirmed",
                &format!(
                    "Thank you. {} is now verified; you can sign in.",
                    user.claims.email.as_deref().unwrap_or_default()
                ),
            )
        }
    }
}

// ----- /register -----

fn register_page(
    app: &AppState,
    jar: CookieJar,
    status: StatusCode,
    username: &str,
    email: &str,
    error: Option<&str>,
) -> Response {
    let (jar, csrf) = ensure_csrf(&app.web.pages, &app.core.pepper, jar);
    let page = app.web.pages.render(
        status,
        "register.html",
        context! {
            csrf => csrf,
            username => username,
            email => email,
            error => error,
            min_len => MIN_PASSWORD_LEN,
            domains => app.registration.email_domains.join(", "),
        },
    );
    (jar, page).into_response()
}

pub async fn register_get(State(app): State<AppState>, jar: CookieJar) -> Response {
    register_page(&app, jar, StatusCode::OK, "", "", None)
}

/// A new account and an address that already has one get the same answer
/// (a 303 to `/register/sent`); a taken username is said so (see
/// `frontdesk_core::registration`).
pub async fn register_post(
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
    let username = form.get("username").unwrap_or_default().trim().to_owned();
    let email = form.get("email").unwrap_or_default().trim().to_owned();
    let password = form.get("password").unwrap_or_default().to_owned();
    let again = |status, message: &str| {
        register_page(&app, jar.clone(), status, &username, &email, Some(message))
    };
    match registration::admit(&app.db, &app.registration, peer, now).await {
        Err(e) => return show(&app, e),
        Ok(false) => return again(StatusCode::TOO_MANY_REQUESTS, TOO_MANY),
        Ok(true) => {}
    }
    if form.get("confirm").unwrap_or_default() != password {
        return again(
            StatusCode::BAD_REQUEST,
            "The two passwords differ. Type the same password twice.",
        );
    }
    if let Err(refused) = registration::validate(&app.registration, &username, &email, &password) {
        return again(StatusCode::BAD_REQUEST, &refused.0);
    }
    // Hashed whatever comes next, so a taken address costs what a new one does.
    let hash = match hash_on_pool(&app.web.hasher, password).await {
        Ok(h) => h,
        Err(e) => return show(&app, e),
    };
    match registration::register(&app.db, &app.registration, &username, &email, hash, now).await {
        Err(e) => show(&app, e),
        Ok(Registered::UsernameTaken) => again(
            StatusCode::BAD_REQUEST,
            "That username is taken. Choose another.",
        ),
        Ok(Registered::Created(user)) => {
            crate::audit::record(
                &app.db,
                super::mfa::user_event(frontdesk_core::audit::Kind::UserRegister, &user, now)
                    .username(&user.username),
            )
            .await;
            app.mail.enqueue(Job::VerifyEmail { sub: user.sub });
            see_other("/register/sent")
        }
        Ok(Registered::EmailTaken { email }) => {
            app.mail.enqueue(Job::AlreadyRegistered { email });
            see_other("/register/sent")
        }
    }
}

pub async fn register_sent(State(app): State<AppState>) -> Response {
    app.web.pages.message(
        "Check your e-mail",
        "We have sent a message to the address you gave, with what to do next.",
    )
}
