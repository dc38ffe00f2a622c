//! The browser-facing endpoints: authorization (RFC 6749 §4.1, OIDC Core
//! §3.1.2), login, consent and RP-initiated logout. Every POST that
//! succeeds answers 303 (RFC 9700 §4.12: never 307).

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use frontdesk_core::audit::{Actor, Kind};
use frontdesk_core::authorize::par::{self, Resolved};
use frontdesk_core::authorize::{
    self, AuthorizationResponse, AuthorizeError, AuthorizeRequest, Next, ResponseMode,
    ValidatedRedirectUri,
};
use frontdesk_core::error::{Error, ErrorCode, OAuthError};
use frontdesk_core::login::{self, Login, LoginCheck};
use frontdesk_core::logout;
use frontdesk_core::model::{Session, UnixTime, User};
use frontdesk_core::params::Params;
use frontdesk_core::store::Store;
use frontdesk_core::{secret, session};
use minijinja::context;

use super::error::BodyError;
use super::pages::{CSP, SESSION_COOKIE, csrf_ok, ensure_csrf, security_headers};
use crate::app::{AppState, now};
use crate::client_addr::ClientAddr;

// ----- shared pieces -----

/// The live SSO session named by the cookie, with its (enabled) user.
pub(super) async fn current_session(
    app: &AppState,
    jar: &CookieJar,
    now: UnixTime,
) -> Result<Option<(Session, User)>, Error> {
    match jar.get(app.web.pages.cookie_name(SESSION_COOKIE)) {
        Some(cookie) => session::current(&app.db, cookie.value(), now).await,
        None => Ok(None),
    }
}

/// A 303 that also carries the page headers (no caching, no referrer).
pub(crate) fn see_other(location: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    security_headers(r.headers_mut(), CSP);
    r
}

/// The authorization request's own parameters, re-encoded
/// (`authorize::encode_request`): what the login and consent forms carry,
/// and the only thing they ever send the browser back to (a relative
/// `/authorize?…`, so never an open redirect). For a pushed request that
/// is its reference and continuation only ([`Resolved::carried`]).
pub(super) fn request_query(params: &Params, drop_prompt: Option<&str>) -> String {
    authorize::encode_request(params, drop_prompt)
}

/// Delivers an authorization response (success or error) to the client.
fn deliver(
    app: &AppState,
    to: &ValidatedRedirectUri,
    mode: ResponseMode,
    params: &[(&'static str, String)],
) -> Response {
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    match mode {
        ResponseMode::Query => see_other(&to.with_params(&pairs)),
        // OAuth 2.0 Form Post Response Mode: an auto-submitting form. Its
        // CSP allows exactly one inline script, by nonce.
        ResponseMode::FormPost => {
            let nonce = secret::random_string(16).unwrap_or_default();
            let csp = format!(
                "default-src 'self'; script-src 'nonce-{nonce}'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
            );
            app.web.pages.render_with_csp(
                StatusCode::OK,
                "form_post.html",
                context! {
                    action => to.as_str(),
                    params => pairs
                        .iter()
                        .map(|(k, v)| vec![(*k).to_owned(), (*v).to_owned()])
                        .collect::<Vec<Vec<String>>>(),
                    nonce => nonce,
                },
                &csp,
            )
        }
    }
}

fn redirect_error(
    app: &AppState,
    to: &ValidatedRedirectUri,
    mode: ResponseMode,
    state: Option<&str>,
    e: &OAuthError,
) -> Response {
    deliver(app, to, mode, &authorize::error_params(&app.core, e, state))
}

/// A failure after the request was validated: back to the client with
/// `server_error` / `temporarily_unavailable` (SECURITY.md §5.5).
async fn redirect_core_error(
    app: &AppState,
    resolved: &Resolved,
    req: &AuthorizeRequest,
    e: Error,
    now: UnixTime,
) -> Response {
    finish_with_error(app, resolved, req, &failure(e), now).await
}

/// The error a client is told of a failure of ours (SECURITY.md §5.5).
fn failure(e: Error) -> OAuthError {
    match e {
        Error::OAuth(o) => o,
        Error::Unavailable(d) => {
            tracing::warn!(detail = %d, "store unavailable during authorization");
            OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                "the service is temporarily unavailable",
            )
        }
        Error::Internal(d) => {
            tracing::error!(detail = %d, "internal error during authorization");
            OAuthError::new(ErrorCode::ServerError, "internal server error")
        }
    }
}

/// An error response of a validated request, to its client. A pushed
/// request is spent first: the response is its one answer (RFC 9126 §4).
async fn finish_with_error(
    app: &AppState,
    resolved: &Resolved,
    req: &AuthorizeRequest,
    e: &OAuthError,
    now: UnixTime,
) -> Response {
    if let Err(e) = par::spend(&app.db, resolved, now).await {
        return authorize_error(app, e);
    }
    redirect_error(
        app,
        &req.redirect_uri,
        req.response_mode,
        req.state.as_deref(),
        e,
    )
}

/// Errors before the client and redirect URI are trusted: a page, never a
/// redirect. The person reads what happened and what to do; the OAuth code
/// and description (for the application's developers) are folded away on
/// the page and logged with the request id ([`pages::Pages::error_with_detail`]).
pub(crate) fn show(app: &AppState, e: Error) -> Response {
    match e {
        Error::OAuth(o) => app.web.pages.error_with_detail(
            StatusCode::BAD_REQUEST,
            "This sign-in link is not valid",
            person_message(o.code),
            Some(o.code.as_str()),
            Some(&o.description),
        ),
        Error::Unavailable(d) => {
            tracing::warn!(detail = %d, "store unavailable");
            let mut r = app.web.pages.error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "Sign-in is not possible right now. Wait a moment and try again.",
                None,
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, super::error::OUTAGE_RETRY_AFTER);
            r
        }
        Error::Internal(d) => {
            tracing::error!(detail = %d, "internal error");
            app.web.pages.error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "This is a fault on our side, not yours. Try again in a few minutes; if it keeps happening, tell the people who run this service.",
                None,
            )
        }
    }
}

/// What a person is told of a request [`show`] refuses: what happened, in
/// plain words, and what to do next. The developer detail is elsewhere.
fn person_message(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::InvalidRequestUri => {
            "This sign-in link has expired or was already used. Go back to the app and start signing in again."
        }
        ErrorCode::UnauthorizedClient | ErrorCode::InvalidClient => {
            "The app that sent you here is not allowed to sign you in this way. Go back to the app and try again; if it keeps happening, tell the app's support and quote the request id below."
        }
        _ => {
            "The app that sent you here asked for something this server cannot accept, so you cannot sign in with this link. Go back to the app and try signing in again; if it keeps happening, tell the app's support and quote the request id below."
        }
    }
}

pub(super) fn authorize_error(app: &AppState, e: AuthorizeError) -> Response {
    match e {
        AuthorizeError::Show(o) => show(app, Error::OAuth(o)),
        AuthorizeError::Redirect {
            to,
            mode,
            state,
            error,
        } => redirect_error(app, &to, mode, state.as_deref(), &error),
        AuthorizeError::Core(c) => show(app, c),
    }
}

/// The request the browser presents, from its query or form — or the
/// pushed request it names (RFC 9126 §4) —, validated, with its source.
pub(super) async fn validate(
    app: &AppState,
    params: &Params,
    now: UnixTime,
) -> Result<(AuthorizeRequest, Resolved), AuthorizeError> {
    let keys = app.keys();
    let validated = par::validate_resolved(
        &app.core,
        &app.db,
        &app.client_jwks,
        params,
        |hint| logout::verify_id_token_hint(&app.core, &keys, hint, now).map(|c| c.sub),
        now,
    )
    .await;
    // OIDC Core §3.1.2.1 `ui_locales`: the pages of this request in the
    // first of them we ship (a pushed request's own, once opened).
    let effective = match &validated {
        Ok((_, resolved)) => &resolved.params,
        Err(_) => params,
    };
    super::i18n::prefer(effective.get("ui_locales"));
    validated
}

/// The page for a form whose CSRF token does not match this browser
/// (an old page, another browser's token, a forged post).
pub(super) fn expired_form(app: &AppState) -> Response {
    app.web.pages.error(
        StatusCode::FORBIDDEN,
        "This form has expired",
        "Go back, reload the page and try again.",
        None,
    )
}

/// A page form's parameters, once its `csrf` field matches this browser
/// ([`csrf_ok`]); else the answer ([`expired_form`], or the body's error).
// The error is the finished response, built once on a cold path.
#[allow(clippy::result_large_err)]
pub(super) fn csrf_form(
    app: &AppState,
    jar: &CookieJar,
    body: Result<Bytes, BytesRejection>,
) -> Result<Params, Response> {
    let form = form_params(app, body)?;
    if !csrf_ok(&app.web.pages, &app.core.pepper, jar, form.get("csrf")) {
        return Err(expired_form(app));
    }
    Ok(form)
}

/// The form of a browser POST. A body that cannot be read gets its own
/// error page (413, 408 or 400, see [`BodyError`]); a bad form, the usual
/// `invalid_request` page.
// The error is the finished response, built once on a cold path.
#[allow(clippy::result_large_err)]
pub(crate) fn form_params(
    app: &AppState,
    body: Result<Bytes, BytesRejection>,
) -> Result<Params, Response> {
    let body = body.map_err(|e| BodyError::from(&e).page(&app.web.pages))?;
    Params::parse(&body).map_err(|e| show(app, e.into()))
}

// ----- /authorize -----

pub async fn authorize_get(
    State(app): State<AppState>,
    jar: CookieJar,
    RawQuery(q): RawQuery,
) -> Response {
    match Params::parse(q.unwrap_or_default().as_bytes()) {
        Ok(p) => authorize(app, jar, p).await,
        Err(e) => show(&app, e.into()),
    }
}

/// OIDC Core §3.1.2.1: "Authorization Servers MUST support the use of the
/// HTTP GET and POST methods".
pub async fn authorize_post(
    State(app): State<AppState>,
    jar: CookieJar,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match form_params(&app, body) {
        Ok(p) => authorize(app, jar, p).await,
        Err(r) => r,
    }
}

async fn authorize(app: AppState, jar: CookieJar, params: Params) -> Response {
    let now = now();
    let (req, resolved) = match validate(&app, &params, now).await {
        Ok(r) => r,
        Err(e) => return authorize_error(&app, e),
    };
    // A pushed request just opened: on to its continuation URL, so that
    // the `request_uri` (used up now) is not what a reload repeats.
    if resolved.pushed().is_some_and(|c| c.opened_now) {
        return see_other(&format!("/authorize?{}", resolved.carried()));
    }
    note_repeats(&app, &req);
    let carried = resolved.carried();
    let session = match current_session(&app, &jar, now).await {
        Ok(s) => s,
        Err(e) => return redirect_core_error(&app, &resolved, &req, e, now).await,
    };
    // A session the client's sign-in policy does not admit (a password
    // session for an upstream-only client, another upstream's for one that
    // allows some only) counts as none: the user signs in the client's way.
    let session = session.filter(|(s, _)| super::upstream::session_admitted(&app, &req.client, s));
    let consent = match &session {
        Some((s, _)) => match app.db.consent(&s.sub, &req.client.client_id).await {
            Ok(c) => c,
            Err(e) => return redirect_core_error(&app, &resolved, &req, e.into(), now).await,
        },
        None => None,
    };
    // The user's groups, read only for a client that requires some.
    let groups = match &session {
        Some((s, _)) if !req.client.required_groups.is_empty() => {
            match app.db.groups_of(&s.sub).await {
                Ok(g) => g,
                Err(e) => return redirect_core_error(&app, &resolved, &req, e.into(), now).await,
            }
        }
        _ => Vec::new(),
    };
    let policy = frontdesk_core::mfa::policy(&req.client, app.core.settings.require_mfa);
    match authorize::decide(
        &req,
        session.as_ref().map(|(s, u)| (s, u)),
        &groups,
        consent.as_ref(),
        policy,
        &app.core.pepper,
        now,
    ) {
        Err(e) => finish_with_error(&app, &resolved, &req, &e, now).await,
        Ok(Next::Login) => match super::upstream::straight_to(&app, &req) {
            // `upstream_hint`: straight to that upstream, no chooser.
            Some(hint) => see_other(&format!("/upstream/{hint}/start?{carried}")),
            None => see_other(&format!("/login?{carried}")),
        },
        Ok(Next::SecondFactor | Next::Passkey | Next::EnrolSecondFactor) => {
            see_other(&format!("{}?{carried}", super::mfa::PATH))
        }
        Ok(Next::NotAdmitted) => {
            let Some((s, user)) = session else {
                return see_other(&format!("/login?{carried}"));
            };
            not_admitted(&app, jar, &req.client, &s, &user, now).await
        }
        Ok(Next::Consent(scope)) => {
            let Some((_, user)) = session else {
                return see_other(&format!("/login?{carried}"));
            };
            let (jar, csrf) = ensure_csrf(&app.web.pages, &app.core.pepper, jar);
            let pages = &app.web.pages;
            let scopes: Vec<String> = scope.iter().map(|s| pages.describe_scope(s)).collect();
            let c = &req.client;
            let page = pages.render_with_csp(
                StatusCode::OK,
                "consent.html",
                context! {
                    client_name => &c.client_name,
                    logo_uri => &c.logo_uri,
                    client_uri => &c.client_uri,
                    policy_uri => &c.policy_uri,
                    tos_uri => &c.tos_uri,
                    scopes => scopes,
                    username => user.username,
                    csrf => csrf,
                    request => carried,
                },
                &pages.csp_with_image(c.logo_uri.as_deref()),
            );
            (jar, page).into_response()
        }
        Ok(Next::Issue) => {
            let Some((s, _)) = session else {
                return see_other(&format!("/login?{carried}"));
            };
            // The account page's "last seen", written at most every few minutes.
            if session::touch_due(&s, now)
                && let Err(e) = app.db.touch_session(&s.sid, now).await
            {
                return redirect_core_error(&app, &resolved, &req, e.into(), now).await;
            }
            // A pushed request is spent by the code it ends in (RFC 9126 §4).
            if let Err(e) = par::spend(&app.db, &resolved, now).await {
                return authorize_error(&app, e);
            }
            match authorize::issue_code(&app.core, &app.db, &req, &s, now).await {
                Ok(AuthorizationResponse { to, mode, params }) => deliver(&app, &to, mode, &params),
                // Spent already: the error is its one answer.
                Err(e) => redirect_error(
                    &app,
                    &req.redirect_uri,
                    req.response_mode,
                    req.state.as_deref(),
                    &failure(e),
                ),
            }
        }
    }
}

/// A signed-in user the client's `required_groups` do not admit: a page
/// that says so (403, never a code or a redirect to the client, whose
/// request stays unanswered), with a way to sign in as someone else, and
/// an audit event. The page names neither the groups nor who is in them.
pub(super) async fn not_admitted(
    app: &AppState,
    jar: CookieJar,
    client: &frontdesk_core::model::Client,
    session: &frontdesk_core::model::Session,
    user: &frontdesk_core::model::User,
    now: UnixTime,
) -> Response {
    let e = crate::audit::event(Kind::AuthorizeNotAdmitted, now)
        .actor(&Actor::User(session.sub.clone()))
        .subject(&session.sub)
        .client(&client.client_id)
        .sid(&session.sid);
    crate::audit::record(&app.db, e).await;
    let (jar, csrf) = ensure_csrf(&app.web.pages, &app.core.pepper, jar);
    let page = app.web.pages.render(
        StatusCode::FORBIDDEN,
        "not_allowed.html",
        context! {
            client_name => &client.client_name,
            username => &user.username,
            csrf => csrf,
        },
    );
    (jar, page).into_response()
}

/// SECURITY.md R11: log a client that keeps sending the same PKCE
/// challenge or nonce (a hard-coded value defeats both). Interaction steps
/// (login, consent) re-send the same request, so only a run of at least
/// [`REPEAT_THRESHOLD`] fresh requests is reported, once per run.
fn note_repeats(app: &AppState, req: &AuthorizeRequest) {
    // A request without PKCE (require_pkce = false) has no challenge to repeat.
    let mut values = Vec::new();
    if !req.code_challenge.is_empty() {
        values.push(("code_challenge", req.code_challenge.as_str()));
    }
    if let Some(n) = &req.nonce {
        values.push(("nonce", n.as_str()));
    }
    for (kind, value) in values {
        let n = app.web.repeats.observe(&req.client.client_id, kind, value);
        if n == REPEAT_THRESHOLD {
            tracing::warn!(
                client_id = %req.client.client_id,
                parameter = kind,
                repeats = n,
                "client reuses the same {kind} across authorization requests (RFC 9700 §2.1.1)"
            );
        }
    }
}

/// Consecutive identical values before [`note_repeats`] reports.
const REPEAT_THRESHOLD: u32 = 5;

// ----- /login -----

/// Where a login without an authorization request goes on: the account
/// page (`next=account`), the device page (`next=device`), or nowhere (a
/// "signed in" message).
pub(super) fn login_next(params: &Params) -> &'static str {
    next_value(params.get("next").unwrap_or_default())
}

/// One of the `next` values a sign-in may carry, or `""`.
pub(super) fn next_value(next: &str) -> &'static str {
    match next {
        "account" => "account",
        "device" => "device",
        _ => "",
    }
}

#[allow(clippy::too_many_arguments)]
fn login_page(
    app: &AppState,
    jar: CookieJar,
    status: StatusCode,
    client: Option<&frontdesk_core::model::Client>,
    request: &str,
    next: &str,
    username: &str,
    error: Option<&str>,
) -> Response {
    let (jar, csrf) = ensure_csrf(&app.web.pages, &app.core.pepper, jar);
    let client_name = client.map(|c| c.client_name.as_str());
    // "Sign in with …": the link carries what the login form carries.
    let query = if !request.is_empty() {
        format!("?{request}")
    } else if !next.is_empty() {
        format!("?next={next}")
    } else {
        String::new()
    };
    let upstreams: Vec<(String, String, Option<String>)> = super::upstream::buttons(app, client)
        .into_iter()
        .map(|(id, name, icon)| (format!("/upstream/{id}/start{query}"), name, icon))
        .collect();
    let page = app.web.pages.render(
        status,
        "login.html",
        context! {
            client_name => client_name,
            request => request,
            next => next,
            username => username,
            error => error,
            csrf => csrf,
            registration => app.core.features.registration,
            passkeys => app.web.passkeys.is_some(),
            upstreams => upstreams,
            local_login => client.is_none_or(|c| c.local_login),
        },
    );
    (jar, page).into_response()
}

pub async fn login_get(
    State(app): State<AppState>,
    jar: CookieJar,
    RawQuery(q): RawQuery,
) -> Response {
    let now = now();
    let params = match Params::parse(q.unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(e) => return show(&app, e.into()),
    };
    if params.get("client_id").is_none() {
        let next = login_next(&params);
        return login_page(&app, jar, StatusCode::OK, None, "", next, "", None);
    }
    // Only a valid authorization request gets a login page that names its client.
    let (req, resolved) = match validate(&app, &params, now).await {
        Ok(r) => r,
        Err(e) => return authorize_error(&app, e),
    };
    let hint = req.login_hint.clone().unwrap_or_default();
    login_page(
        &app,
        jar,
        StatusCode::OK,
        Some(&req.client),
        &resolved.carried(),
        "",
        &hint,
        None,
    )
}

pub async fn login_post(
    State(app): State<AppState>,
    Extension(ClientAddr(peer)): Extension<ClientAddr>,
    headers: axum::http::HeaderMap,
    jar: CookieJar,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let now = now();
    let form = match form_params(&app, body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if !csrf_ok(&app.web.pages, &app.core.pepper, &jar, form.get("csrf")) {
        return app.web.pages.error(
            StatusCode::FORBIDDEN,
            "This form has expired",
            "Go back, reload the page and try again.",
            None,
        );
    }
    let (req, resolved_request, request) = match login_form(&app, &form, now).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let client = req.as_ref().map(|r| &r.client);
    let next = if req.is_some() { "" } else { login_next(&form) };
    let username = form.get("username").unwrap_or_default().trim().to_owned();
    let password = form.get("password").unwrap_or_default().to_owned();

    let checked = login::check_login(
        &app.db,
        &app.web.login,
        &app.web,
        app.web.directories.as_ref(),
        &app.web.dummy_hash,
        &username,
        &password,
        peer,
        now,
    )
    .await;
    let checked = match checked {
        Ok(Login::Password(c)) => Ok(c),
        Ok(Login::Directory {
            directory,
            resolved,
            groups,
        }) => {
            let from = LoginForm {
                req: req.as_ref(),
                resolved: resolved_request.as_ref(),
                request: &request,
                next,
                username: &username,
            };
            let signed = DirectorySignIn {
                directory: &directory,
                resolved,
                groups: &groups,
            };
            return directory_sign_in(&app, jar, &headers, peer, signed, &from, now).await;
        }
        Ok(Login::Unavailable) => {
            crate::telemetry::login("unavailable");
            let mut e = crate::audit::event(Kind::LoginFailure, now)
                .label("reason", "directory_unavailable")
                .peer(peer);
            if let Some(r) = &req {
                e = e.client(&r.client.client_id);
            }
            crate::audit::record(&app.db, e).await;
            let mut r = app.web.pages.error(
                StatusCode::SERVICE_UNAVAILABLE,
                "The directory is unavailable",
                "Your password could not be checked right now. Please try again in a moment.",
                None,
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, super::error::OUTAGE_RETRY_AFTER);
            return r;
        }
        Err(e) => Err(e),
    };
    if let Ok(outcome) = &checked {
        crate::telemetry::login(match outcome {
            LoginCheck::Throttled => "throttled",
            LoginCheck::Failed => "failure",
            LoginCheck::Unverified(_) => "unverified",
            LoginCheck::Ok(_) => "success",
        });
    }
    if let Ok(outcome) = &checked {
        let client = req.as_ref().map(|r| &r.client.client_id);
        crate::audit::login(&app.db, outcome, &username, client, now).await;
    }
    match checked {
        Err(e) => show(&app, e),
        Ok(LoginCheck::Throttled) => login_page(
            &app,
            jar,
            StatusCode::TOO_MANY_REQUESTS,
            client,
            &request,
            next,
            &username,
            Some("Too many failed sign-in attempts. Try again in a few minutes."),
        ),
        Ok(LoginCheck::Failed) => login_page(
            &app,
            jar,
            StatusCode::UNAUTHORIZED,
            client,
            &request,
            next,
            &username,
            Some("Incorrect username or password."),
        ),
        Ok(LoginCheck::Unverified(user)) => {
            super::email::resend_verification(&app, &user, now).await;
            login_page(
                &app,
                jar,
                StatusCode::FORBIDDEN,
                client,
                &request,
                next,
                &username,
                Some(super::email::UNVERIFIED),
            )
        }
        Ok(LoginCheck::Ok(user)) => {
            let from = LoginForm {
                req: req.as_ref(),
                resolved: resolved_request.as_ref(),
                request: &request,
                next,
                username: &username,
            };
            sign_in(
                &app,
                jar,
                &headers,
                peer,
                &user,
                &[session::AMR_PASSWORD],
                None,
                &from,
                now,
            )
            .await
        }
    }
}

/// A password a directory verified (`Login::Directory`), and the account
/// [`frontdesk_core::upstream::resolve`] found for its entry.
struct DirectorySignIn<'a> {
    directory: &'a str,
    resolved: frontdesk_core::upstream::Resolved,
    groups: &'a [String],
}

/// Signs in the account a directory's entry resolved to, like a password
/// login (`amr: ["pwd"]`, `idp` the directory), or shows why not (the
/// pages of an upstream's refusal).
async fn directory_sign_in(
    app: &AppState,
    jar: CookieJar,
    headers: &axum::http::HeaderMap,
    peer: std::net::IpAddr,
    signed: DirectorySignIn<'_>,
    from: &LoginForm<'_>,
    now: UnixTime,
) -> Response {
    use frontdesk_core::upstream::{Refusal, Resolved as Account};
    let id = signed.directory;
    let (user, how) = match signed.resolved {
        Account::Linked(u) => (u, "linked"),
        Account::LinkedByEmail(u) => (u, "linked_by_email"),
        Account::Provisioned(u) => (u, "provisioned"),
        Account::Refused(why) => {
            let reason = match why {
                Refusal::NotProvisioned => "not_provisioned",
                Refusal::EmailTaken => "email_taken",
                Refusal::Disabled => "disabled",
            };
            crate::telemetry::login("failure");
            let e = crate::audit::event(Kind::UpstreamRefused, now)
                .idp(id)
                .label("reason", reason)
                .peer(peer);
            crate::audit::record(&app.db, e).await;
            let name = app.web.directories.display_name(id).unwrap_or(id);
            return super::upstream::refusal(app, name, why, false);
        }
    };
    let group_count = u64::try_from(signed.groups.len()).unwrap_or(u64::MAX);
    let prefix = app.web.directories.group_prefix(id).unwrap_or_default();
    if let Err(e) = sync_groups(app, &user.sub, id, prefix, signed.groups, peer, now).await {
        return show(app, e);
    }
    crate::telemetry::login("success");
    let mut e = crate::audit::event(Kind::LoginSuccess, now)
        .actor(&Actor::User(user.sub.clone()))
        .subject(&user.sub)
        .username(&user.username)
        .idp(id)
        .label("how", how)
        .count("groups", group_count)
        .peer(peer);
    if let Some(r) = from.req {
        e = e.client(&r.client.client_id);
    }
    crate::audit::record(&app.db, e).await;
    sign_in(
        app,
        jar,
        headers,
        peer,
        &user,
        &[session::AMR_PASSWORD],
        Some(Via {
            idp: id,
            auth_time: None,
        }),
        from,
        now,
    )
    .await
}

/// Makes the user's memberships from upstream or directory `idp` the
/// groups it asserted at this sign-in (`frontdesk_core::groups::sync`),
/// with an audit event when that changed anything.
pub(super) async fn sync_groups(
    app: &AppState,
    sub: &str,
    idp: &str,
    prefix: &str,
    asserted: &[String],
    peer: std::net::IpAddr,
    now: UnixTime,
) -> Result<(), Error> {
    let synced = frontdesk_core::groups::sync(&app.db, sub, idp, prefix, asserted, now).await?;
    if synced.skipped > 0 {
        tracing::info!(
            idp,
            skipped = synced.skipped,
            "group names from the sign-in that are not valid here were skipped"
        );
    }
    let count = |v: &[String]| u64::try_from(v.len()).unwrap_or(u64::MAX);
    if !synced.change.added.is_empty() || !synced.change.removed.is_empty() {
        let e = crate::audit::event(Kind::GroupsSync, now)
            .actor(&Actor::User(sub.to_owned()))
            .subject(sub)
            .idp(idp)
            .count("added", count(&synced.change.added))
            .count("removed", count(&synced.change.removed))
            .count("skipped", u64::try_from(synced.skipped).unwrap_or(u64::MAX))
            .peer(peer);
        crate::audit::record(&app.db, e).await;
    }
    Ok(())
}

/// A sign-in that happened elsewhere: the upstream or directory (its id)
/// and, if it said, when the user authenticated there.
pub(super) struct Via<'a> {
    pub idp: &'a str,
    pub auth_time: Option<UnixTime>,
}

/// The login form a sign-in came from: the authorization request it
/// continues (if any) and what the page showed.
pub(super) struct LoginForm<'a> {
    pub req: Option<&'a AuthorizeRequest>,
    pub resolved: Option<&'a Resolved>,
    pub request: &'a str,
    pub next: &'a str,
    pub username: &'a str,
}

/// The login form of a POST: its authorization request validated (an
/// error page when it is not valid), or none.
pub(super) async fn login_form(
    app: &AppState,
    form: &Params,
    now: UnixTime,
) -> Result<(Option<AuthorizeRequest>, Option<Resolved>, String), Response> {
    let (req, resolved, request) =
        login_request(app, form.get("request").unwrap_or_default(), now).await?;
    // An "upstream only" client: a password or passkey sign-in for it is
    // refused, whatever a hand-made form says.
    if let Some(r) = &req
        && !r.client.local_login
    {
        return Err(app.web.pages.error(
            StatusCode::FORBIDDEN,
            "Sign in another way",
            &format!(
                "{} signs you in through another service. Go back and choose it.",
                r.client.client_name
            ),
            None,
        ));
    }
    Ok((req, resolved, request))
}

/// [`login_form`] for the request text a form (or a sealed flow) carried.
pub(super) async fn login_request(
    app: &AppState,
    request: &str,
    now: UnixTime,
) -> Result<(Option<AuthorizeRequest>, Option<Resolved>, String), Response> {
    let params = Params::parse(request.as_bytes()).map_err(|e| show(app, e.into()))?;
    let (req, resolved) = if params.get("client_id").is_some() {
        match validate(app, &params, now).await {
            Ok((r, resolved)) => (Some(r), Some(resolved)),
            Err(e) => return Err(authorize_error(app, e)),
        }
    } else {
        (None, None)
    };
    let request = match &resolved {
        Some(r) => r.carried(),
        None => request_query(&params, None),
    };
    Ok((req, resolved, request))
}

/// The login page of `from` again, with an error.
pub(super) fn login_again(
    app: &AppState,
    jar: CookieJar,
    status: StatusCode,
    from: &LoginForm<'_>,
    error: &str,
) -> Response {
    login_page(
        app,
        jar,
        status,
        from.req.map(|r| &r.client),
        from.request,
        from.next,
        from.username,
        Some(error),
    )
}

/// A user who just authenticated with `amr` (a password, or a passkey):
/// a new session, and on to where the login form leads.
#[allow(clippy::too_many_arguments)]
pub(super) async fn sign_in(
    app: &AppState,
    jar: CookieJar,
    headers: &axum::http::HeaderMap,
    peer: std::net::IpAddr,
    user: &User,
    amr: &[&str],
    via: Option<Via<'_>>,
    from: &LoginForm<'_>,
    now: UnixTime,
) -> Response {
    // An account a directory made is the directory's: no other way in (a
    // passkey, an upstream joined to it) gets around a directory that has
    // since locked the user out.
    match super::upstream::directory_of(app, user).await {
        Err(e) => return show(app, e),
        Ok(Some(dir)) if via.as_ref().is_none_or(|v| v.idp != dir) => {
            let name = app
                .web
                .directories
                .display_name(&dir)
                .unwrap_or(&dir)
                .to_owned();
            return login_again(
                app,
                jar,
                StatusCode::FORBIDDEN,
                from,
                &format!("This account signs in with its {name} password."),
            );
        }
        Ok(_) => {}
    }
    if let Some(r) = from.req
        && r.hint_is_not(&app.core.pepper, &user.sub)
    {
        return login_again(
            app,
            jar,
            StatusCode::UNAUTHORIZED,
            from,
            "The application asked for a different account. Sign in with that account.",
        );
    }
    let origin = session::Origin {
        idp: via.as_ref().map(|v| v.idp.to_owned()),
        authenticated_at: via.as_ref().and_then(|v| v.auth_time),
        ..super::account::origin(headers, peer)
    };
    let started = match session::start_from(&app.core, &app.db, user, amr, &origin, now).await {
        Ok(s) => s,
        Err(e) => return show(app, e),
    };
    let max_age = started.cookie_max_age();
    let jar = jar.add(
        app.web
            .pages
            .cookie(SESSION_COOKIE, started.cookie, max_age),
    );
    let (known, jar) = super::notice::known_browser(app, jar, user);
    if !known {
        super::notice::new_sign_in(
            app,
            user,
            origin.user_agent.as_deref(),
            origin.client_ip.as_deref().unwrap_or("an unknown address"),
        );
    }
    let next = if let Some(resolved) = from.resolved {
        // The login just happened: `prompt=login` is satisfied.
        match par::satisfied(&app.db, resolved, "login", now).await {
            Ok(q) => see_other(&format!("/authorize?{q}")),
            Err(e) => authorize_error(app, e),
        }
    } else if from.next == "account" {
        see_other(super::account::PATH)
    } else if from.next == "device" {
        see_other(super::device::PATH)
    } else {
        app.web.pages.message(
            "You are signed in",
            &format!("Signed in as {}.", user.username),
        )
    };
    (jar, next).into_response()
}

// ----- /consent -----

pub async fn consent_post(
    State(app): State<AppState>,
    jar: CookieJar,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let now = now();
    let form = match form_params(&app, body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    if !csrf_ok(&app.web.pages, &app.core.pepper, &jar, form.get("csrf")) {
        return app.web.pages.error(
            StatusCode::FORBIDDEN,
            "This form has expired",
            "Go back, reload the page and try again.",
            None,
        );
    }
    let params = match Params::parse(form.get("request").unwrap_or_default().as_bytes()) {
        Ok(p) => p,
        Err(e) => return show(&app, e.into()),
    };
    let (req, resolved) = match validate(&app, &params, now).await {
        Ok(r) => r,
        Err(e) => return authorize_error(&app, e),
    };
    let session = match current_session(&app, &jar, now).await {
        Ok(Some(s)) => s,
        Ok(None) => return see_other(&format!("/authorize?{}", resolved.carried())),
        Err(e) => return redirect_core_error(&app, &resolved, &req, e, now).await,
    };
    match form.get("decision") {
        Some("approve") => {}
        Some("deny") => {
            let e = OAuthError::new(ErrorCode::AccessDenied, "the user denied the request");
            return finish_with_error(&app, &resolved, &req, &e, now).await;
        }
        _ => return show(&app, OAuthError::invalid_request("missing decision").into()),
    }
    let previous = match app.db.consent(&session.0.sub, &req.client.client_id).await {
        Ok(c) => c,
        Err(e) => return redirect_core_error(&app, &resolved, &req, e.into(), now).await,
    };
    // What the page asked for: the scope, and the scopes of claims asked
    // for one by one (`claims`).
    let approved = req.consent_scope();
    if let Err(e) = authorize::remember_consent(
        &app.db,
        &session.0.sub,
        &req.client.client_id,
        &approved,
        previous.as_ref(),
        now,
    )
    .await
    {
        return redirect_core_error(&app, &resolved, &req, e, now).await;
    }
    let e = crate::audit::event(Kind::ConsentGrant, now)
        .actor(&Actor::User(session.0.sub.clone()))
        .subject(&session.0.sub)
        .client(&req.client.client_id)
        .scope(&approved.to_string());
    crate::audit::record(&app.db, e).await;
    match par::satisfied(&app.db, &resolved, "consent", now).await {
        Ok(q) => see_other(&format!("/authorize?{q}")),
        Err(e) => authorize_error(&app, e),
    }
}

// ----- /logout -----

pub async fn logout_get(
    State(app): State<AppState>,
    jar: CookieJar,
    RawQuery(q): RawQuery,
) -> Response {
    match Params::parse(q.unwrap_or_default().as_bytes()) {
        Ok(p) => logout(app, jar, p, false).await,
        Err(e) => show(&app, e.into()),
    }
}

pub async fn logout_post(
    State(app): State<AppState>,
    jar: CookieJar,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let form = match form_params(&app, body) {
        Ok(p) => p,
        Err(r) => return r,
    };
    // The confirmation form carries the original request; an RP may also
    // POST the logout request itself (no CSRF token then: it is treated
    // like GET and needs confirmation unless its hint matches).
    match form.get("csrf") {
        Some(_) if !csrf_ok(&app.web.pages, &app.core.pepper, &jar, form.get("csrf")) => {
            app.web.pages.error(
                StatusCode::FORBIDDEN,
                "This form has expired",
                "Go back, reload the page and try again.",
                None,
            )
        }
        Some(_) => match Params::parse(form.get("request").unwrap_or_default().as_bytes()) {
            Ok(p) => logout(app, jar, p, true).await,
            Err(e) => show(&app, e.into()),
        },
        None => logout(app, jar, form, false).await,
    }
}

/// RP-Initiated Logout §2–§3: with an `id_token_hint` for the current
/// session the session ends at once; otherwise the user confirms first.
async fn logout(app: AppState, jar: CookieJar, params: Params, confirmed: bool) -> Response {
    let now = now();
    let keys = app.keys();
    let req = match logout::validate(&app.core, &app.db, &keys, &params, now).await {
        Ok(r) => r,
        Err(e) => return show(&app, e),
    };
    let session = match current_session(&app, &jar, now).await {
        Ok(s) => s,
        Err(e) => return show(&app, e),
    };
    if let Some((s, _)) = &session {
        let hinted = req.hint_names(&app.core.pepper, s);
        if !hinted && !confirmed {
            let (jar, csrf) = ensure_csrf(&app.web.pages, &app.core.pepper, jar);
            let mut q = form_urlencoded::Serializer::new(String::new());
            for name in [
                "id_token_hint",
                "post_logout_redirect_uri",
                "state",
                "client_id",
            ] {
                if let Some(v) = params.get(name) {
                    q.append_pair(name, v);
                }
            }
            let page = app.web.pages.render(
                StatusCode::OK,
                "message.html",
                context! {
                    heading => "Sign out?",
                    message => "Do you want to sign out of frontdesk?",
                    confirm_logout => true,
                    csrf => csrf,
                    request => q.finish(),
                },
            );
            return (jar, page).into_response();
        }
        // Ends the session and revokes the grants made in it.
        if let Err(e) = session::end(&app.db, s, now).await {
            return show(&app, e);
        }
        let mut e = crate::audit::event(Kind::SessionEnd, now)
            .actor(&Actor::User(s.sub.clone()))
            .subject(&s.sub)
            .sid(&s.sid);
        if let Some(c) = &req.client {
            e = e.client(&c.client_id);
        }
        crate::audit::record(&app.db, e).await;
    }
    let jar = jar.add(app.web.pages.removal(SESSION_COOKIE));
    // A session that came through an upstream with `propagate_logout`:
    // on through the upstream's own logout, then to the same place.
    if let Some((s, _)) = &session
        && let Some(idp) = &s.idp
        && let Some(to) =
            super::upstream::end_upstream_session(&app, idp, req.redirect_target(), now).await
    {
        return (jar, see_other(to.as_str())).into_response();
    }
    let next = match req.redirect_target() {
        Some(to) => see_other(&to),
        None => app
            .web
            .pages
            .message("You are signed out", "You have signed out of frontdesk."),
    };
    (jar, next).into_response()
}
