//! `frontdesk demo-rp`: the guest's app, a relying party done right, as a
//! backend-for-frontend.
//!
//! * Sign-in: authorization code + PKCE S256 + `state` + `nonce`, all kept
//!   server-side in a pending-login map keyed by a random `rp_login` cookie,
//!   bounded per client address (`pending.rs`).
//! * The code is exchanged on the back channel; the ID token is verified
//!   with the issuer's JWKS from discovery. Discovery, the authorization
//!   URL, the token calls and the ID-token checks are `frontdesk-rp`'s: this
//!   module keeps the app's pages, pending sign-ins and sessions.
//! * The app's own session: a random `rp_session` cookie (HttpOnly,
//!   SameSite=Lax) naming a server-side session that holds the tokens.
//!   Access and refresh tokens never reach the browser.
//! * Pages: home, profile (ID token + userinfo), my photos (the demo API
//!   through the gateway, with the access token), sign-out (local, then
//!   RP-initiated logout at frontdesk).
//! * Silent refresh: an access token that expires within 30 s is refreshed
//!   (with the rotated refresh token) before it is used.
//! * DPoP (RFC 9449), on unless `--no-dpop`: each sign-in gets its own ES256
//!   key, kept in the server-side session with the tokens. The
//!   authorization request names it (`dpop_jkt`, §10), the code exchange and
//!   every refresh carry a proof of it, so the access token is bound to it
//!   (`token_type: DPoP`, `cnf.jkt`), and userinfo is called with
//!   `Authorization: DPoP` and a proof (§7.1), nonces retried once (§8, §9).
//!   The demo API is called through the gateway the same way unless
//!   `--gateway-dpop=false` (for a gateway whose routes take Bearer only).

mod pending;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::Router;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use frontdesk_rp::{
    AuthorizationRequest, Client, ClientAuth, DpopKey, Expect, HttpClient, IdTokenClaims, Provider,
    RpError, TokenResponse, dpop, random_token, same,
};
use frontdesk_web::{CSP, STYLE_CSS, STYLE_HEADERS, security_headers};
use minijinja::Environment;
use serde::Deserialize;
use serde_json::Value;

use pending::{PENDING_TTL, Pending, PendingLogins};

/// Cookie naming the pending sign-in (state, nonce, PKCE verifier).
pub const LOGIN_COOKIE: &str = "rp_login";
/// Cookie naming the app's session.
pub const SESSION_COOKIE: &str = "rp_session";
/// Refresh when the access token expires within this long.
pub const REFRESH_MARGIN_SECS: u64 = 30;
const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);

/// Flags of `frontdesk demo-rp`.
#[derive(Debug, Clone, clap::Args)]
pub struct RpArgs {
    /// Listen address.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8084")]
    pub listen: SocketAddr,
    /// frontdesk's issuer identifier (discovery is read from it).
    #[arg(long, value_name = "URL")]
    pub issuer: String,
    #[arg(long = "client-id")]
    pub client_id: String,
    #[arg(long = "client-secret")]
    pub client_secret: String,
    /// This app's callback, registered at frontdesk (e.g. http://127.0.0.1:8084/callback).
    #[arg(long = "redirect-uri", value_name = "URI")]
    pub redirect_uri: String,
    /// The API gateway in front of the demo API (for "my photos").
    #[arg(long, value_name = "URL")]
    pub gateway: Option<String>,
    /// Scopes to ask for.
    #[arg(
        long,
        default_value = "openid profile email offline_access photos:read"
    )]
    pub scope: String,
    /// Bearer tokens only: no DPoP key per session, no proofs (RFC 9449).
    #[arg(long = "no-dpop")]
    pub no_dpop: bool,
    /// Call the gateway with `Authorization: DPoP` and a proof when the
    /// token is DPoP-bound (`false`: as Bearer, for a gateway whose routes
    /// do not verify DPoP).
    #[arg(
        long = "gateway-dpop",
        value_name = "BOOL",
        default_value_t = true,
        action = clap::ArgAction::Set
    )]
    pub gateway_dpop: bool,
}

struct Session {
    id_token: String,
    claims: IdTokenClaims,
    nonce: String,
    access_token: String,
    /// `Bearer` or `DPoP`, as the token endpoint said (RFC 9449 §5).
    token_type: String,
    /// The session's DPoP key: every token of the session is bound to it.
    dpop: Option<DpopKey>,
    refresh_token: Option<String>,
    /// Unix time the access token expires.
    expires_at: u64,
    scope: String,
    refreshes: u32,
    created: Instant,
}

type Shared = Arc<tokio::sync::Mutex<Session>>;

pub struct Rp {
    args: RpArgs,
    /// frontdesk as discovered, with this app's client credentials.
    client: Client,
    pending: Mutex<PendingLogins>,
    sessions: Mutex<HashMap<String, Shared>>,
    env: Environment<'static>,
    secure: bool,
    /// Where frontdesk sends the browser after logout: this app's home.
    home: String,
}

pub async fn run(args: RpArgs) -> anyhow::Result<ExitCode> {
    crate::start();
    let listen = args.listen;
    let rp = Arc::new(Rp::new(args).await?);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot bind {listen}"))?;
    let addr = listener.local_addr()?;
    tracing::info!(listen = %addr, issuer = %rp.provider().issuer(), "demo relying party is serving");
    println!("listening on http://{addr}");
    // The peer address bounds the pending sign-ins per client.
    axum::serve(
        listener,
        router(rp).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

pub fn router(rp: Arc<Rp>) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login))
        .route("/callback", get(callback))
        .route("/profile", get(profile))
        .route("/photos", get(photos))
        .route("/prints", get(prints))
        .route("/logout", post(logout))
        .route("/assets/style.css", get(style))
        .fallback(not_found)
        .with_state(rp)
}

fn templates() -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    env.add_template("rp_base.html", include_str!("../../templates/rp_base.html"))?;
    env.add_template("rp_home.html", include_str!("../../templates/rp_home.html"))?;
    env.add_template(
        "rp_profile.html",
        include_str!("../../templates/rp_profile.html"),
    )?;
    env.add_template(
        "rp_photos.html",
        include_str!("../../templates/rp_photos.html"),
    )?;
    env.add_template(
        "rp_prints.html",
        include_str!("../../templates/rp_prints.html"),
    )?;
    env.add_template(
        "rp_error.html",
        include_str!("../../templates/rp_error.html"),
    )?;
    Ok(env)
}

fn random() -> anyhow::Result<String> {
    Ok(random_token(32)?)
}

fn now() -> u64 {
    frontdesk_resource::unix_now()
}

/// Why a back-channel call failed.
#[derive(Debug)]
enum Backchannel {
    /// frontdesk answered with an OAuth error code.
    Refused(String),
    /// Network, status or format trouble.
    Broken(String),
}

impl Rp {
    pub async fn new(args: RpArgs) -> anyhow::Result<Rp> {
        let redirect = url::Url::parse(&args.redirect_uri).context("--redirect-uri")?;
        if !matches!(redirect.scheme(), "http" | "https") {
            bail!("--redirect-uri must be http(s)");
        }
        let home = redirect.join("/").context("--redirect-uri")?.to_string();
        let http = HttpClient::with_limits(Duration::from_secs(10), 1024 * 1024)?;
        let provider = discover(&http, &args.issuer).await?;
        provider.load_keys().await?;
        let client = Client::new(
            provider,
            ClientAuth::basic(&args.client_id, &args.client_secret),
        );
        Ok(Rp {
            secure: redirect.scheme() == "https",
            args,
            client,
            pending: Mutex::new(PendingLogins::default()),
            sessions: Mutex::new(HashMap::new()),
            env: templates()?,
            home,
        })
    }

    fn provider(&self) -> &Provider {
        self.client.provider()
    }

    fn render(&self, status: StatusCode, name: &str, ctx: minijinja::Value) -> Response {
        let mut r = match self.env.get_template(name).and_then(|t| t.render(ctx)) {
            Ok(body) => (status, axum::response::Html(body)).into_response(),
            Err(e) => {
                tracing::error!(error = %e, template = name, "template rendering failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal server error").into_response()
            }
        };
        security_headers(r.headers_mut(), CSP);
        r
    }

    fn error(
        &self,
        status: StatusCode,
        heading: &str,
        message: &str,
        code: Option<&str>,
    ) -> Response {
        self.render(
            status,
            "rp_error.html",
            minijinja::context! { heading => heading, message => message, code => code },
        )
    }

    fn cookie(&self, name: &'static str, value: String, max_age: Duration) -> Cookie<'static> {
        let mut c = Cookie::new(name, value);
        c.set_http_only(true);
        c.set_same_site(SameSite::Lax);
        c.set_path("/");
        c.set_secure(self.secure);
        c.set_max_age(time::Duration::seconds(
            i64::try_from(max_age.as_secs()).unwrap_or(3600),
        ));
        c
    }

    fn removal(&self, name: &'static str) -> Cookie<'static> {
        let mut c = Cookie::from(name);
        c.set_path("/");
        c
    }

    fn session(&self, jar: &CookieJar) -> Option<(String, Shared)> {
        let id = jar.get(SESSION_COOKIE)?.value().to_owned();
        let sessions = self.sessions.lock().ok()?;
        let s = sessions.get(&id)?;
        Some((id, Arc::clone(s)))
    }

    fn drop_session(&self, id: &str) {
        if let Ok(mut m) = self.sessions.lock() {
            m.remove(id);
        }
    }

    fn internal(&self, what: &str, e: impl std::fmt::Display) -> Response {
        tracing::error!(error = %e, "{what}");
        self.error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "PhotoBook could not finish this request. Please try again.",
            None,
        )
    }

    /// A token-endpoint call (client_secret_basic; with the session's DPoP
    /// key, a proof of it), its failure sorted into a refusal (an OAuth error
    /// code) or trouble.
    async fn token_request(
        &self,
        dpop: Option<&DpopKey>,
        form: &[(&str, &str)],
    ) -> Result<TokenResponse, Backchannel> {
        let client = match dpop {
            Some(key) => self.client.clone().with_dpop(key.clone()),
            None => self.client.clone(),
        };
        client.token(form).await.map_err(|e| match e {
            RpError::Refused { error, .. } => Backchannel::Refused(error),
            other => Backchannel::Broken(other.to_string()),
        })
    }

    /// Verifies an ID token with frontdesk's keys (fetched again once when
    /// it names a key the cached set lacks).
    async fn verify(&self, token: &str, expect: &Expect<'_>) -> Result<IdTokenClaims, String> {
        self.provider()
            .verify_id_token(token, expect, now())
            .await
            .map_err(|e| e.to_string())
    }

    /// Refreshes the session's tokens when the access token expires within
    /// [`REFRESH_MARGIN_SECS`]. `Err` = the session is over (sign in again).
    async fn ensure_fresh(&self, s: &mut Session) -> Result<(), String> {
        let now = now();
        if s.expires_at > now + REFRESH_MARGIN_SECS {
            return Ok(());
        }
        let Some(rt) = s.refresh_token.clone() else {
            return if s.expires_at > now {
                Ok(())
            } else {
                Err("the access token expired and there is no refresh token".to_owned())
            };
        };
        let t = match self
            .token_request(
                s.dpop.as_ref(),
                &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
            )
            .await
        {
            Ok(t) => t,
            Err(Backchannel::Refused(code)) => return Err(format!("refresh refused: {code}")),
            Err(Backchannel::Broken(e)) => {
                // Transient trouble: keep the session while the token lasts.
                tracing::warn!(error = %e, "silent refresh failed");
                return if s.expires_at > now { Ok(()) } else { Err(e) };
            }
        };
        if let Some(id_token) = &t.id_token {
            let claims = self
                .verify(
                    id_token,
                    &Expect {
                        issuer: self.provider().issuer(),
                        client_id: &self.args.client_id,
                        nonce: None,
                        original_nonce: Some(&s.nonce),
                        access_token: Some(&t.access_token),
                    },
                )
                .await
                .map_err(|e| format!("refreshed ID token refused: {e}"))?;
            // OIDC Core §12.2: same iss and sub as the original ID token.
            if claims.sub != s.claims.sub || claims.iss != s.claims.iss {
                return Err("refreshed ID token names another user".to_owned());
            }
            s.id_token = id_token.clone();
            s.claims = claims;
        }
        s.expires_at = now + t.expires_in.unwrap_or(60);
        s.access_token = t.access_token;
        s.token_type = t.token_type;
        if let Some(new_rt) = t.refresh_token {
            s.refresh_token = Some(new_rt);
        }
        if let Some(scope) = t.scope {
            s.scope = scope;
        }
        s.refreshes += 1;
        tracing::info!(refreshes = s.refreshes, "access token refreshed");
        Ok(())
    }

    /// The session behind the cookie, fresh; or the response to send instead
    /// (back home when there is none or it ended).
    async fn fresh_session(
        &self,
        jar: &CookieJar,
    ) -> Result<(Shared, tokio::sync::OwnedMutexGuard<Session>), Response> {
        let Some((id, shared)) = self.session(jar) else {
            return Err(Redirect::to("/").into_response());
        };
        let mut s = Arc::clone(&shared).lock_owned().await;
        if s.created.elapsed() > SESSION_TTL {
            drop(s);
            self.drop_session(&id);
            return Err(Redirect::to("/").into_response());
        }
        if let Err(e) = self.ensure_fresh(&mut s).await {
            tracing::info!(reason = %e, "session ended");
            drop(s);
            self.drop_session(&id);
            let jar = jar.clone().remove(self.removal(SESSION_COOKIE));
            return Err((
                jar,
                self.error(
                    StatusCode::UNAUTHORIZED,
                    "Your session has ended",
                    "Please sign in again.",
                    None,
                ),
            )
                .into_response());
        }
        Ok((shared, s))
    }
}

/// Discovery through `frontdesk-rp`, retried for about ten seconds
/// (frontdesk may be starting next to us).
async fn discover(http: &HttpClient, issuer: &str) -> anyhow::Result<Provider> {
    let mut last = String::new();
    for _ in 0..40 {
        match Provider::discover(http, issuer).await {
            Ok(p) => return Ok(p),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    bail!("{last}")
}

async fn style() -> Response {
    (STYLE_HEADERS, STYLE_CSS).into_response()
}

async fn not_found(State(rp): State<Arc<Rp>>) -> Response {
    rp.error(
        StatusCode::NOT_FOUND,
        "Page not found",
        "There is nothing at this address.",
        None,
    )
}

fn display_name(c: &IdTokenClaims) -> String {
    let get = |k: &str| c.extra.get(k).and_then(Value::as_str).map(str::to_owned);
    get("name")
        .or_else(|| get("preferred_username"))
        .or_else(|| get("email"))
        .unwrap_or_else(|| c.sub.clone())
}

#[derive(Debug, Deserialize)]
struct HomeQuery {
    state: Option<String>,
}

async fn home(State(rp): State<Arc<Rp>>, jar: CookieJar, q: Query<HomeQuery>) -> Response {
    let name = match rp.session(&jar) {
        Some((_, s)) => Some(display_name(&s.lock().await.claims)),
        None => None,
    };
    rp.render(
        StatusCode::OK,
        "rp_home.html",
        minijinja::context! {
            name => name,
            signed_out => q.state.is_some(),
            photos => rp.args.gateway.is_some(),
        },
    )
}

async fn login(
    State(rp): State<Arc<Rp>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    jar: CookieJar,
) -> Response {
    // Code + PKCE S256 + state + nonce (frontdesk-rp), kept server-side.
    let request = AuthorizationRequest::new(
        rp.provider(),
        &rp.args.client_id,
        &rp.args.redirect_uri,
        &rp.args.scope,
    );
    let (key, request) = match (random(), request) {
        (Ok(k), Ok(r)) => (k, r),
        (Err(e), _) => return rp.internal("random", e),
        (_, Err(e)) => return rp.internal("authorization request", e),
    };
    // The session's DPoP key, from the start: `dpop_jkt` binds the code to
    // it (RFC 9449 §10).
    let dpop = if rp.args.no_dpop {
        None
    } else {
        match DpopKey::generate() {
            Ok(k) => Some(k),
            Err(e) => return rp.internal("DPoP key", e),
        }
    };
    let mut url = request.url;
    if let Some(k) = &dpop {
        url.query_pairs_mut().append_pair("dpop_jkt", k.jkt());
    }
    let pending = Pending {
        state: request.state,
        nonce: request.nonce,
        verifier: request.code_verifier,
        dpop,
        created: Instant::now(),
    };
    {
        let Ok(mut map) = rp.pending.lock() else {
            return rp.internal("pending", "lock poisoned");
        };
        if map.insert(peer.ip(), key.clone(), pending).is_err() {
            return rp.error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Too many sign-ins",
                "Too many sign-ins are in progress. Please try again in a few minutes.",
                None,
            );
        }
    }
    let jar = jar.add(rp.cookie(LOGIN_COOKIE, key, PENDING_TTL));
    (jar, Redirect::to(url.as_str())).into_response()
}

#[derive(Debug, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

fn friendly(code: &str) -> (&'static str, &'static str) {
    match code {
        "access_denied" => (
            "Sign-in cancelled",
            "You chose not to share your account with PhotoBook, so you are not signed in. You can try again at any time.",
        ),
        "login_required" | "interaction_required" | "consent_required" => (
            "Please sign in",
            "frontdesk needs you to sign in before PhotoBook can continue.",
        ),
        "temporarily_unavailable" | "server_error" => (
            "frontdesk is unavailable",
            "frontdesk could not complete the sign-in right now. Please try again shortly.",
        ),
        _ => (
            "Sign-in failed",
            "frontdesk could not sign you in to PhotoBook.",
        ),
    }
}

async fn callback(
    State(rp): State<Arc<Rp>>,
    jar: CookieJar,
    Query(q): Query<CallbackQuery>,
) -> Response {
    // The pending sign-in is spent whatever happens next.
    let pending = jar
        .get(LOGIN_COOKIE)
        .and_then(|c| rp.pending.lock().ok()?.take(c.value()));
    let jar = jar.remove(rp.removal(LOGIN_COOKIE));
    let Some(pending) = pending else {
        return (
            jar,
            rp.error(
                StatusCode::BAD_REQUEST,
                "This sign-in has expired",
                "This sign-in was not started here, or it took too long. Please start again.",
                None,
            ),
        )
            .into_response();
    };
    // RFC 6749 §10.12: the response must belong to the request we sent.
    if !q.state.as_deref().is_some_and(|s| same(s, &pending.state)) {
        tracing::warn!("callback with a state that does not match the pending sign-in");
        return (
            jar,
            rp.error(
                StatusCode::BAD_REQUEST,
                "This sign-in cannot be trusted",
                "The answer from frontdesk does not match the sign-in this browser started (state mismatch). Nothing was signed in. Please start again.",
                Some("state_mismatch"),
            ),
        )
            .into_response();
    }
    if let Some(code) = q.error.as_deref() {
        let (heading, message) = friendly(code);
        return (
            jar,
            rp.error(StatusCode::BAD_REQUEST, heading, message, Some(code)),
        )
            .into_response();
    }
    let Some(code) = q.code.as_deref() else {
        return (
            jar,
            rp.error(
                StatusCode::BAD_REQUEST,
                "Sign-in failed",
                "frontdesk sent no authorization code.",
                None,
            ),
        )
            .into_response();
    };
    let t = match rp
        .token_request(
            pending.dpop.as_ref(),
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &rp.args.redirect_uri),
                ("code_verifier", &pending.verifier),
            ],
        )
        .await
    {
        Ok(t) => t,
        Err(Backchannel::Refused(code)) => {
            return (
                jar,
                rp.error(
                    StatusCode::BAD_GATEWAY,
                    "Sign-in failed",
                    "frontdesk refused to complete the sign-in. Please start again.",
                    Some(&code),
                ),
            )
                .into_response();
        }
        Err(Backchannel::Broken(e)) => {
            tracing::error!(error = %e, "code exchange failed");
            return (
                jar,
                rp.error(
                    StatusCode::BAD_GATEWAY,
                    "frontdesk is unavailable",
                    "PhotoBook could not reach frontdesk to finish the sign-in. Please try again.",
                    None,
                ),
            )
                .into_response();
        }
    };
    let Some(id_token) = t.id_token.clone() else {
        return (
            jar,
            rp.error(
                StatusCode::BAD_GATEWAY,
                "Sign-in failed",
                "frontdesk sent no ID token.",
                None,
            ),
        )
            .into_response();
    };
    let claims = match rp
        .verify(
            &id_token,
            &Expect {
                issuer: rp.provider().issuer(),
                client_id: &rp.args.client_id,
                nonce: Some(&pending.nonce),
                original_nonce: None,
                access_token: Some(&t.access_token),
            },
        )
        .await
    {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "ID token refused");
            return (
                jar,
                rp.error(
                    StatusCode::BAD_GATEWAY,
                    "Sign-in failed",
                    "The ID token from frontdesk did not pass verification, so PhotoBook did not sign you in.",
                    Some("invalid_id_token"),
                ),
            )
                .into_response();
        }
    };
    let session_id = match random() {
        Ok(s) => s,
        Err(e) => return rp.internal("random", e),
    };
    let session = Session {
        id_token,
        claims,
        nonce: pending.nonce,
        expires_at: now() + t.expires_in.unwrap_or(60),
        access_token: t.access_token,
        token_type: t.token_type,
        dpop: pending.dpop,
        refresh_token: t.refresh_token,
        scope: t.scope.unwrap_or_else(|| rp.args.scope.clone()),
        refreshes: 0,
        created: Instant::now(),
    };
    {
        let Ok(mut map) = rp.sessions.lock() else {
            return rp.internal("sessions", "lock poisoned");
        };
        map.retain(|_, s| {
            s.try_lock()
                .map_or(true, |s| s.created.elapsed() < SESSION_TTL)
        });
        map.insert(
            session_id.clone(),
            Arc::new(tokio::sync::Mutex::new(session)),
        );
    }
    let jar = jar.add(rp.cookie(SESSION_COOKIE, session_id, SESSION_TTL));
    (jar, Redirect::to("/profile")).into_response()
}

/// Claims as (name, text) pairs, sorted by name.
fn claim_list(map: &serde_json::Map<String, Value>) -> Vec<minijinja::Value> {
    let mut v: Vec<(&String, &Value)> = map.iter().collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    v.into_iter()
        .map(|(k, val)| {
            let text = match val {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            minijinja::context! { name => k, value => text }
        })
        .collect()
}

async fn profile(State(rp): State<Arc<Rp>>, jar: CookieJar) -> Response {
    let (_shared, s) = match rp.fresh_session(&jar).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let id_claims = match serde_json::to_value(&s.claims) {
        Ok(Value::Object(m)) => claim_list(&m),
        _ => Vec::new(),
    };
    let http = rp.provider().http();
    let (userinfo, userinfo_error) = match &rp.provider().metadata().userinfo_endpoint {
        None => (None, "frontdesk has no userinfo endpoint.".to_owned()),
        Some(url) => {
            match dpop::get_resource(http, s.dpop.as_ref(), url, &s.access_token, &s.token_type)
                .await
            {
                Ok(r) if r.status == 200 => match r.json::<Value>() {
                    // OIDC Core §5.3.2: the sub must be the ID token's.
                    Ok(Value::Object(m))
                        if m.get("sub").and_then(Value::as_str) == Some(s.claims.sub.as_str()) =>
                    {
                        (Some(claim_list(&m)), String::new())
                    }
                    _ => (None, "userinfo answered for another user.".to_owned()),
                },
                Ok(r) => (None, format!("userinfo answered HTTP {}.", r.status)),
                Err(e) => (None, format!("userinfo is unreachable: {e}")),
            }
        }
    };
    let email = s.claims.extra.get("email").and_then(Value::as_str);
    rp.render(
        StatusCode::OK,
        "rp_profile.html",
        minijinja::context! {
            name => display_name(&s.claims),
            email => email,
            id_claims => id_claims,
            userinfo => userinfo,
            userinfo_error => userinfo_error,
            scope => s.scope.clone(),
            expires_in => s.expires_at.saturating_sub(now()),
            refreshes => s.refreshes,
            has_refresh => s.refresh_token.is_some(),
            token_type => s.token_type.clone(),
            jkt => s.dpop.as_ref().map(|k| k.jkt().to_owned()),
            photos => rp.args.gateway.is_some(),
        },
    )
}

/// GETs `path` at the gateway with this browser's session token (and its
/// DPoP proof): the API's JSON answer, or the page that says why not.
async fn from_gateway(
    rp: &Rp,
    jar: &CookieJar,
    path: &str,
    what: &str,
) -> Result<(String, Value), Response> {
    let Some(gateway) = rp.args.gateway.clone() else {
        return Err(rp.error(
            StatusCode::NOT_FOUND,
            "No photos here",
            "This PhotoBook runs without a gateway (--gateway), so it has no photos to show.",
            None,
        ));
    };
    let (_shared, s) = rp.fresh_session(jar).await?;
    let url = format!("{}{path}", gateway.trim_end_matches('/'));
    // A DPoP-bound token goes with its proof (RFC 9449 §7.1) unless the
    // gateway is told to take it as Bearer.
    let token_type = if rp.args.gateway_dpop {
        s.token_type.as_str()
    } else {
        "Bearer"
    };
    let resp = match dpop::get_resource(
        rp.provider().http(),
        s.dpop.as_ref(),
        &url,
        &s.access_token,
        token_type,
    )
    .await
    {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "gateway unreachable");
            return Err(rp.error(
                StatusCode::BAD_GATEWAY,
                &format!("{what} are unavailable"),
                "PhotoBook could not reach the photos API.",
                None,
            ));
        }
    };
    drop(s);
    let status = resp.status;
    let body: Value = resp.json().unwrap_or(Value::Null);
    if !(200..300).contains(&status) {
        let code = body.get("error").and_then(Value::as_str).map(str::to_owned);
        return Err(rp.error(
            StatusCode::BAD_GATEWAY,
            &format!("{what} are unavailable"),
            &format!("The photos API refused the request (HTTP {status})."),
            code.as_deref(),
        ));
    }
    Ok((url, body))
}

/// One string member of an API's `caller`.
fn caller_field(body: &Value, k: &str) -> String {
    body.get("caller")
        .and_then(|c| c.get(k))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

async fn photos(State(rp): State<Arc<Rp>>, jar: CookieJar) -> Response {
    let (url, body) = match from_gateway(&rp, &jar, "/photos", "Photos").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let titles: Vec<String> = body
        .get("photos")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| p.get("title").and_then(Value::as_str).map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let field = |k: &str| caller_field(&body, k);
    rp.render(
        StatusCode::OK,
        "rp_photos.html",
        minijinja::context! {
            url => url,
            photos => titles,
            via => field("via"),
            sub => field("sub"),
            client_id => field("client_id"),
            scope => field("scope"),
        },
    )
}

/// "Order prints": the photos API exchanges this session's token for one
/// for the prints service (RFC 8693) and orders with it; the page shows
/// what each service saw.
async fn prints(State(rp): State<Arc<Rp>>, jar: CookieJar) -> Response {
    let (url, body) = match from_gateway(&rp, &jar, "/photos/prints", "Prints").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let exchanged = body.get("exchanged_token").cloned().unwrap_or(Value::Null);
    let prints = body.get("prints").cloned().unwrap_or(Value::Null);
    let show = |v: &Value| serde_json::to_string(v).unwrap_or_default();
    rp.render(
        StatusCode::OK,
        "rp_prints.html",
        minijinja::context! {
            url => url,
            order => prints.get("order").and_then(|o| o.get("id")).and_then(Value::as_str).unwrap_or_default(),
            sub => exchanged.get("sub").map(show).unwrap_or_default(),
            aud => exchanged.get("aud").map(show).unwrap_or_default(),
            act => exchanged.get("act").map(show).unwrap_or_default(),
            prints_client => caller_field(&prints, "client_id"),
            prints_via => caller_field(&prints, "via"),
        },
    )
}

async fn logout(State(rp): State<Arc<Rp>>, jar: CookieJar) -> Response {
    let Some((id, shared)) = rp.session(&jar) else {
        return (jar.remove(rp.removal(SESSION_COOKIE)), Redirect::to("/")).into_response();
    };
    let id_token = shared.lock().await.id_token.clone();
    rp.drop_session(&id);
    let jar = jar.remove(rp.removal(SESSION_COOKIE));
    let Some(end) = &rp.provider().metadata().end_session_endpoint else {
        return (jar, Redirect::to("/")).into_response();
    };
    let (mut url, state) = match (url::Url::parse(end), random()) {
        (Ok(u), Ok(s)) => (u, s),
        (Err(e), _) => return rp.internal("end_session_endpoint", e),
        (_, Err(e)) => return rp.internal("random", e),
    };
    url.query_pairs_mut()
        .append_pair("id_token_hint", &id_token)
        .append_pair("client_id", &rp.args.client_id)
        .append_pair("post_logout_redirect_uri", &rp.home)
        .append_pair("state", &state);
    (jar, Redirect::to(url.as_str())).into_response()
}
