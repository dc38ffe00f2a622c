//! "Sign in with …": the browser's way through an upstream identity
//! provider. `GET /upstream/{id}/start` sends the browser to the upstream
//! with a fresh `state`, `nonce` and PKCE verifier sealed in the
//! `fd_upstream` cookie; `GET /upstream/{id}/callback` (what the operator
//! registers at the upstream) checks the answer, lets `frontdesk-rp`
//! exchange the code and verify the ID token, finds or makes the account
//! (`frontdesk_core::upstream`), starts a frontdesk session with
//! `amr: ["fed"]`, and continues the authorization request the login page
//! showed. `POST /upstream/{id}/link` (the account page, with CSRF and a
//! recent sign-in) does the same for connecting an upstream account to
//! the signed-in one, and `POST /account/upstreams/unlink` disconnects it.
//!
//! Every refusal is an error page, never a redirect to an application:
//! until the flow's own state comes back, nothing here is trusted.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use frontdesk_core::audit::{Actor, Kind};
use frontdesk_core::model::{Client, UnixTime};
use frontdesk_core::params::Params;
use frontdesk_core::upstream::{self, Identity, Linking, Refusal, Resolved, Unlinked};

use super::browser::{LoginForm, login_again, login_next, login_request, see_other, show};
use super::pages::UPSTREAM_COOKIE;
use crate::app::{AppState, now};
use crate::audit;
use crate::client_addr::ClientAddr;
use crate::upstream::{Begin, FLOW_SECS, Fresh, Live, UpstreamError};

/// Whether the login page of `client` offers upstream `id`: it is
/// configured, and the client's `allowed_upstreams` (if set) names it.
pub(super) fn offered(app: &AppState, client: &Client, id: &str) -> bool {
    app.web.upstreams.get(id).is_some() && upstream::client_allows(client, id)
}

/// [`upstream::client_admits`] with the configured upstreams.
pub(super) fn session_admitted(
    app: &AppState,
    client: &Client,
    s: &frontdesk_core::model::Session,
) -> bool {
    upstream::client_admits(client, s, |id| app.web.upstreams.get(id).is_some())
}

/// The login page's "Sign in with …" buttons: `(id, display name, icon)`.
pub(super) fn buttons(
    app: &AppState,
    client: Option<&Client>,
) -> Vec<(String, String, Option<String>)> {
    app.web
        .upstreams
        .all()
        .into_iter()
        .filter(|u| client.is_none_or(|c| upstream::client_allows(c, &u.config.id)))
        .map(|u| {
            let c = &u.config;
            (c.id.clone(), c.display_name.clone(), c.icon.clone())
        })
        .collect()
}

/// An authorization request that needs a login and skips the chooser: its
/// `upstream_hint` names an upstream the client offers (an unknown one is
/// ignored, as Keycloak's `kc_idp_hint` is), or the client is upstream
/// only and offers exactly one.
pub(super) fn straight_to(
    app: &AppState,
    req: &frontdesk_core::authorize::AuthorizeRequest,
) -> Option<String> {
    if let Some(hint) = req.upstream_hint.as_deref()
        && offered(app, &req.client, hint)
    {
        return Some(hint.to_owned());
    }
    if req.client.local_login {
        return None;
    }
    let mut only = buttons(app, Some(&req.client))
        .into_iter()
        .map(|(id, _, _)| id);
    match (only.next(), only.next()) {
        (Some(id), None) => Some(id),
        _ => None,
    }
}

/// The callback URL of `id` at this issuer (registered at the upstream).
fn redirect_uri(app: &AppState, id: &str) -> String {
    format!(
        "{}/upstream/{id}/callback",
        app.core.settings.issuer.trim_end_matches('/')
    )
}

/// The upstream of a path's `{id}`, or the 404 page.
#[allow(clippy::result_large_err)]
fn configured(app: &AppState, id: &str) -> Result<std::sync::Arc<Live>, Response> {
    app.web.upstreams.get(id).ok_or_else(|| unknown(app))
}

fn unknown(app: &AppState) -> Response {
    app.web.pages.error(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no such sign-in service here.",
        None,
    )
}

/// The page for a flow whose answer cannot be trusted.
fn incomplete(app: &AppState) -> Response {
    app.web.pages.error(
        StatusCode::BAD_REQUEST,
        "This sign-in could not be completed",
        "Go back to the application and sign in again.",
        None,
    )
}

/// The page for a failed step with the upstream (503 + `Retry-After` for
/// an outage, 502 for a wrong answer), logged with its cause.
fn upstream_failed(app: &AppState, live: &Live, e: &UpstreamError) -> Response {
    let name = &live.config.display_name;
    match e {
        UpstreamError::Unavailable(d) => {
            tracing::warn!(upstream = %live.config.id, detail = %d, "upstream unreachable");
            let mut r = app.web.pages.error(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("Sign-in with {name} is unavailable"),
                "Please try again in a moment, or sign in another way.",
                None,
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, super::error::OUTAGE_RETRY_AFTER);
            r
        }
        UpstreamError::Failed(d) => {
            tracing::warn!(upstream = %live.config.id, detail = %d, "upstream sign-in refused");
            app.web.pages.error(
                StatusCode::BAD_GATEWAY,
                &format!("Sign-in with {name} failed"),
                "Its answer could not be accepted. Go back to the application and sign in again.",
                None,
            )
        }
        UpstreamError::TooLarge => app.web.pages.error(
            StatusCode::BAD_REQUEST,
            "This sign-in link is not valid",
            "The application's request is too large to sign in through another service.",
            Some("invalid_request"),
        ),
        UpstreamError::Internal(d) => {
            tracing::error!(upstream = %live.config.id, detail = %d, "upstream sign-in");
            app.web.pages.error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Please try again later.",
                None,
            )
        }
    }
}

/// The `fd_upstream` cookie. A `form_post` upstream's answer is a POST
/// from its own site, which a `SameSite=Lax` cookie does not go with:
/// that flow's cookie is `SameSite=None`, so `Secure` (which browsers
/// keep on https and on loopback hosts: every issuer is one or the other,
/// `config::validate_issuer`). Its `state` still has to match the sealed
/// one, so the wider cookie lets no other site's callback through.
fn flow_cookie(
    app: &AppState,
    live: &Live,
    value: String,
    max_age_secs: i64,
) -> axum_extra::extract::cookie::Cookie<'static> {
    let mut c = app.web.pages.cookie(UPSTREAM_COOKIE, value, max_age_secs);
    if live.config.form_post {
        c.set_same_site(axum_extra::extract::cookie::SameSite::None);
        c.set_secure(true);
    }
    c
}

/// Sends the browser to the upstream, with the sealed flow in its cookie.
async fn go(app: &AppState, jar: CookieJar, live: &Live, begin: Begin, now: UnixTime) -> Response {
    let to = redirect_uri(app, &live.config.id);
    match live.start(&app.kek, &to, begin, now).await {
        Ok((url, sealed)) => {
            let jar = jar.add(flow_cookie(app, live, sealed, FLOW_SECS));
            (jar, see_other(url.as_str())).into_response()
        }
        Err(e) => upstream_failed(app, live, &e),
    }
}

/// `GET /upstream/{id}/start?REQUEST`: the login page's button (or
/// `upstream_hint`). The query is what the login form carries: the
/// authorization request, validated again here, or `next=account`.
pub async fn start(
    State(app): State<AppState>,
    jar: CookieJar,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let now = now();
    let live = match configured(&app, &id) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let query = q.unwrap_or_default();
    let params = match Params::parse(query.as_bytes()) {
        Ok(p) => p,
        Err(e) => return show(&app, e.into()),
    };
    let (req, _, request) = match login_request(&app, &query, now).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    if let Some(r) = &req
        && !offered(&app, &r.client, &id)
    {
        return unknown(&app);
    }
    let next = if req.is_some() {
        String::new()
    } else {
        login_next(&params).to_owned()
    };
    // What the application asked of the sign-in's freshness goes on to
    // the upstream, where the sign-in happens.
    // Signing in to the account page (where a recent sign-in allows
    // changes) always asks the upstream for a fresh one.
    let fresh = req.as_ref().map_or(
        Fresh {
            login: next == "account",
            max_age: None,
        },
        |r| Fresh {
            login: r.prompt.login,
            max_age: r.max_age,
        },
    );
    let begin = Begin {
        request,
        next,
        link_sid: None,
        fresh,
    };
    go(&app, jar, &live, begin, now).await
}

/// `POST /upstream/{id}/link`: connect an upstream account to the
/// signed-in account (the account page; CSRF and a recent sign-in, like
/// every change there). A GET could be made by another site, and would let
/// it join its own upstream account to the victim's.
pub async fn link(
    State(app): State<AppState>,
    jar: CookieJar,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let now = now();
    let live = match configured(&app, &id) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let (_, s, _) = match super::account::change(&app, &jar, body, now).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let begin = Begin {
        request: String::new(),
        next: "account".to_owned(),
        link_sid: Some(s.sid),
        // Connecting proves the upstream side afresh: not a session someone
        // else left signed in at the upstream in this browser.
        fresh: Fresh {
            login: true,
            max_age: None,
        },
    };
    go(&app, jar, &live, begin, now).await
}

/// `GET /upstream/{id}/callback`: the upstream's authorization response
/// in the query.
pub async fn callback(
    State(app): State<AppState>,
    Extension(ClientAddr(peer)): Extension<ClientAddr>,
    headers: HeaderMap,
    jar: CookieJar,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let params = Some(q.unwrap_or_default());
    answer(&app, peer, &headers, jar, &id, false, params).await
}

/// `POST /upstream/{id}/callback`: the response of a `form_post`
/// upstream (OAuth 2.0 Form Post Response Mode §2), a form body.
pub async fn callback_post(
    State(app): State<AppState>,
    Extension(ClientAddr(peer)): Extension<ClientAddr>,
    headers: HeaderMap,
    jar: CookieJar,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = body
        .ok()
        .filter(|_| super::is_form(&headers))
        .and_then(|b| String::from_utf8(b.to_vec()).ok());
    answer(&app, peer, &headers, jar, &id, true, body).await
}

/// The callback, with the response's parameters as sent (`None`: a body
/// that is not a form). It must come the way the upstream was asked to
/// send it: in the query, or for `form_post` in a POST body — a form
/// post's parameters in a URL (or the reverse) are refused, not read.
#[allow(clippy::too_many_arguments)]
async fn answer(
    app: &AppState,
    peer: std::net::IpAddr,
    headers: &HeaderMap,
    jar: CookieJar,
    id: &str,
    posted: bool,
    params: Option<String>,
) -> Response {
    let now = now();
    let live = match configured(app, id) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let answer = Callback {
        app,
        live: &live,
        headers,
        peer,
        now,
    };
    let mut r = match params.filter(|_| posted == live.config.form_post) {
        Some(p) => answer.run(jar, p).await,
        None => incomplete(app),
    };
    // Whatever came of it, this browser's flow is over (a success adds
    // its own cookies, the session's, beside this one).
    let mut removal = flow_cookie(app, &live, String::new(), 0);
    removal.make_removal();
    if let Ok(v) = removal.encoded().to_string().parse() {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

struct Callback<'a> {
    app: &'a AppState,
    live: &'a Live,
    headers: &'a HeaderMap,
    peer: std::net::IpAddr,
    now: UnixTime,
}

impl Callback<'_> {
    async fn run(&self, jar: CookieJar, query: String) -> Response {
        let app = self.app;
        let Ok(params) = Params::parse(query.as_bytes()) else {
            return incomplete(app);
        };
        let Some(sealed) = jar
            .get(app.web.pages.cookie_name(UPSTREAM_COOKIE))
            .map(|c| c.value().to_owned())
        else {
            return incomplete(app);
        };
        let state = params.get("state").unwrap_or_default();
        let flow = match self
            .live
            .open_flow(&app.kek, &app.db, &sealed, state, self.now)
            .await
        {
            Ok(Some(f)) => f,
            Ok(None) => return incomplete(app),
            Err(e) => return show(app, e),
        };
        // RFC 9207 §2.4: the response names its issuer (mix-up defence).
        match self.live.iss_ok(params.get("iss")).await {
            Ok(true) => {}
            Ok(false) => return incomplete(app),
            Err(e) => return upstream_failed(app, self.live, &e),
        }
        let (req, resolved, request) = match login_request(app, &flow.request, self.now).await {
            Ok(r) => r,
            Err(r) => return r,
        };
        let from = LoginForm {
            req: req.as_ref(),
            resolved: resolved.as_ref(),
            request: &request,
            next: super::browser::next_value(&flow.next),
            username: "",
        };
        // RFC 6749 §4.1.2.1: the user declined, or the upstream refused.
        if let Some(error) = params.get("error") {
            tracing::info!(upstream = %self.live.config.id, error = %frontdesk_rp::one_line(error), "upstream sign-in not completed");
            let text = format!(
                "Sign-in with {} was cancelled.",
                self.live.config.display_name
            );
            return login_again(app, jar, StatusCode::UNAUTHORIZED, &from, &text);
        }
        let Some(code) = params.get("code") else {
            return incomplete(app);
        };
        let to = redirect_uri(app, &self.live.config.id);
        let user = params.get("user");
        let finished = self.live.finish(&flow, code, &to, user, self.now).await;
        let (identity, groups) = match finished {
            Ok(i) => i,
            Err(e) => return upstream_failed(app, self.live, &e),
        };
        match &flow.link_sid {
            Some(sid) => self.link(jar, sid, &identity).await,
            None => self.sign_in(jar, &identity, groups.as_deref(), &from).await,
        }
    }

    /// Signs in the account the identity resolves to; `groups`, when the
    /// upstream's are read, become its memberships from this upstream.
    async fn sign_in(
        &self,
        jar: CookieJar,
        identity: &Identity,
        groups: Option<&[String]>,
        from: &LoginForm<'_>,
    ) -> Response {
        let app = self.app;
        let id = &self.live.config.id;
        let resolved =
            match upstream::resolve(&app.db, identity, self.live.config.policy, self.now).await {
                Ok(r) => r,
                Err(e) => return show(app, e),
            };
        let (user, how) = match resolved {
            Resolved::Linked(u) => (u, "linked"),
            Resolved::LinkedByEmail(u) => (u, "linked_by_email"),
            Resolved::Provisioned(u) => (u, "provisioned"),
            Resolved::Refused(why) => {
                let reason = match why {
                    Refusal::NotProvisioned => "not_provisioned",
                    Refusal::EmailTaken => "email_taken",
                    Refusal::Disabled => "disabled",
                };
                crate::telemetry::login("failure");
                audit::record(
                    &app.db,
                    audit::event(Kind::UpstreamRefused, self.now)
                        .idp(id)
                        .label("reason", reason),
                )
                .await;
                return self.refusal(why);
            }
        };
        if let Some(groups) = groups {
            let prefix = &self.live.config.mapping.group_prefix;
            let synced = super::browser::sync_groups(
                app, &user.sub, id, prefix, groups, self.peer, self.now,
            )
            .await;
            if let Err(e) = synced {
                return show(app, e);
            }
        }
        crate::telemetry::login("success");
        let mut e = audit::event(Kind::UpstreamLogin, self.now)
            .actor(&Actor::User(user.sub.clone()))
            .subject(&user.sub)
            .username(&user.username)
            .idp(id)
            .label("how", how)
            .peer(self.peer);
        if let Some(r) = from.req {
            e = e.client(&r.client.client_id);
        }
        audit::record(&app.db, e).await;
        super::browser::sign_in(
            app,
            jar,
            self.headers,
            self.peer,
            &user,
            &[upstream::AMR_FEDERATED],
            Some(super::browser::Via {
                idp: id,
                auth_time: identity.auth_time,
            }),
            from,
            self.now,
        )
        .await
    }

    fn refusal(&self, why: Refusal) -> Response {
        refusal(self.app, &self.live.config.display_name, why, true)
    }

    async fn link(&self, jar: CookieJar, sid: &str, identity: &Identity) -> Response {
        let app = self.app;
        // The account that asked must still be the one signed in here.
        let (s, user) = match super::browser::current_session(app, &jar, self.now).await {
            Ok(Some(v)) if v.0.sid == sid => v,
            Ok(_) => return incomplete(app),
            Err(e) => return show(app, e),
        };
        let name = &self.live.config.display_name;
        match upstream::link(&app.db, &user.sub, identity, self.now).await {
            Err(e) => show(app, e),
            Ok(Linking::Linked) => {
                let e = audit::event(Kind::UpstreamLink, self.now)
                    .actor(&Actor::User(user.sub.clone()))
                    .subject(&user.sub)
                    .sid(&s.sid)
                    .idp(&self.live.config.id);
                audit::record(&app.db, e).await;
                super::account::done("upstream-linked")
            }
            Ok(Linking::TakenByOther) => app.web.pages.error(
                StatusCode::CONFLICT,
                &format!("This {name} account is already connected to another account"),
                "Sign in to that account to use it, or disconnect it there first.",
                None,
            ),
            Ok(Linking::HasAnother) => app.web.pages.error(
                StatusCode::CONFLICT,
                &format!("Your account is connected to another {name} account"),
                "Disconnect that one on your account page first.",
                None,
            ),
        }
    }
}

/// The page for a sign-in that [`upstream::resolve`] refused, `name` being
/// the upstream's (or directory's, `crate::ldap`) display name.
/// `connectable`: an upstream the account page can connect (a directory
/// cannot be).
pub(super) fn refusal(app: &AppState, name: &str, why: Refusal, connectable: bool) -> Response {
    let pages = &app.web.pages;
    match why {
        Refusal::NotProvisioned => pages.error(
            StatusCode::FORBIDDEN,
            "No account for this sign-in",
            &format!(
                "Your {name} account is not connected to an account here. Ask an administrator for access, or sign in another way."
            ),
            None,
        ),
        Refusal::EmailTaken => pages.error(
            StatusCode::CONFLICT,
            "An account with this e-mail address already exists",
            // Only an upstream can be connected from the account page.
            &if connectable {
                format!("Sign in with your password, then connect {name} from your account page.")
            } else {
                format!("Your {name} account cannot sign in to it. Ask an administrator.")
            },
            None,
        ),
        Refusal::Disabled => pages.error(
            StatusCode::FORBIDDEN,
            "This account is disabled",
            "Ask an administrator to enable it.",
            None,
        ),
    }
}

/// The upstream's logout URL for a session that came through `idp`, when
/// that upstream has `propagate_logout` and an `end_session_endpoint`. An
/// upstream that cannot be reached does not stop the logout here: it is
/// logged, and frontdesk's own logout goes on.
pub(super) async fn end_upstream_session(
    app: &AppState,
    idp: &str,
    then: Option<String>,
    now: UnixTime,
) -> Option<url::Url> {
    let live = app.web.upstreams.get(idp)?;
    let back = format!(
        "{}/upstream/{idp}/logged-out",
        app.core.settings.issuer.trim_end_matches('/')
    );
    // Bounded: the upstream's metadata may have to be fetched first.
    let asked = tokio::time::timeout(
        std::time::Duration::from_secs(3),
        live.end_session(&app.kek, &back, then, now),
    )
    .await;
    match asked {
        Ok(Ok(to)) => to,
        Ok(Err(e)) => {
            tracing::warn!(upstream = %idp, detail = %e, "cannot sign out at the upstream");
            None
        }
        Err(_) => {
            tracing::warn!(upstream = %idp, "the upstream's logout took too long; signed out here only");
            None
        }
    }
}

/// `GET /upstream/{id}/logged-out?state=…`: back from the upstream's
/// logout, on to where frontdesk's logout was going (sealed in `state`),
/// or a "signed out" page.
pub async fn logged_out(
    State(app): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let live = match configured(&app, &id) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let params = Params::parse(q.unwrap_or_default().as_bytes()).unwrap_or_default();
    let state = params.get("state").unwrap_or_default();
    match live.after_logout(&app.kek, state, now()) {
        Some(to) => see_other(&to),
        None => app
            .web
            .pages
            .message("You are signed out", "You have signed out of frontdesk."),
    }
}

/// One configured upstream on the account page.
#[derive(serde::Serialize)]
pub(super) struct ConnectionRow {
    id: String,
    name: String,
    connected: bool,
    since: String,
}

/// The directory (`[[ldap]]` id) an account belongs to: one it is linked
/// to, if any is configured.
pub(super) async fn directory_of(
    app: &AppState,
    user: &frontdesk_core::model::User,
) -> Result<Option<String>, frontdesk_core::error::Error> {
    use frontdesk_core::login::Directories as _;
    use frontdesk_core::store::Store as _;
    if !app.web.directories.configured() {
        return Ok(None);
    }
    Ok(app
        .db
        .upstream_links_of(&user.sub)
        .await?
        .into_iter()
        .find(|l| app.web.directories.owns(&l.upstream))
        .map(|l| l.upstream))
}

/// The account page's "Connected accounts": every configured upstream,
/// and whether this account is connected to it.
pub(super) async fn connections(
    app: &AppState,
    sub: &str,
    when: fn(UnixTime) -> String,
) -> Result<Vec<ConnectionRow>, frontdesk_core::error::Error> {
    use frontdesk_core::store::Store as _;
    if app.web.upstreams.is_empty() {
        return Ok(Vec::new());
    }
    let links = app.db.upstream_links_of(sub).await?;
    Ok(app
        .web
        .upstreams
        .all()
        .iter()
        .map(|u| {
            let link = links.iter().find(|l| l.upstream == u.config.id);
            ConnectionRow {
                id: u.config.id.clone(),
                name: u.config.display_name.clone(),
                connected: link.is_some(),
                since: link.map(|l| when(l.created_at)).unwrap_or_default(),
            }
        })
        .collect())
}

/// The display name of upstream `id` (for the session list).
pub(super) fn display_name(app: &AppState, id: &str) -> String {
    app.web.upstreams.get(id).map_or_else(
        || {
            app.web
                .directories
                .display_name(id)
                .unwrap_or(id)
                .to_owned()
        },
        |u| u.config.display_name.clone(),
    )
}

/// `POST /account/upstreams/unlink`: disconnect an upstream account.
pub async fn unlink(
    State(app): State<AppState>,
    jar: CookieJar,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let now = now();
    let (form, s, user) = match super::account::change(&app, &jar, body, now).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let id = form.get("upstream").unwrap_or_default();
    // A directory's link is the account itself, not a connection.
    if frontdesk_core::login::Directories::owns(app.web.directories.as_ref(), id) {
        return app.web.pages.error(
            StatusCode::FORBIDDEN,
            "This account belongs to a directory",
            "It cannot be disconnected from it here. Ask an administrator.",
            None,
        );
    }
    match upstream::unlink(&app.db, &user, id).await {
        Err(e) => show(&app, e),
        Ok(Unlinked::NotLinked) => super::account::done("upstream-unlinked"),
        Ok(Unlinked::LastWay) => app.web.pages.error(
            StatusCode::CONFLICT,
            "Keep one way to sign in",
            "This is the only way to sign in to your account. Set a password or add a passkey first.",
            None,
        ),
        Ok(Unlinked::Done) => {
            let e = audit::event(Kind::UpstreamUnlink, now)
                .actor(&Actor::User(user.sub.clone()))
                .subject(&user.sub)
                .sid(&s.sid)
                .idp(id);
            audit::record(&app.db, e).await;
            super::account::done("upstream-unlinked")
        }
    }
}
