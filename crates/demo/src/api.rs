//! `frontdesk demo-api`: the photos API and the payment service of the
//! story, in one small axum app.
//!
//! * `GET /photos` needs `photos:read` (low risk: the gateway checks it locally).
//! * `POST /charges` needs `charge:customer` (high risk: the gateway introspects).
//! * `GET /charges` needs `charge:customer` too (the demo gateway config
//!   uses a short introspection cache for it).
//! * `GET /health` needs nothing (it echoes the headers it saw, for tests).
//! * With `--exchange-*`: `GET /photos/prints` (the photos API, `photos:read`)
//!   orders prints for the caller: it exchanges the caller's token (RFC
//!   8693, through `frontdesk-rp`) for one for the prints service — the
//!   same user, `aud` narrowed to prints, `act` naming the photos API — and
//!   calls `GET /prints` (the prints service, `photos:read` for
//!   `https://prints.example.com`) with it, through the gateway.
//!
//! By default the demo **trusts the gateway**: it reads the caller from the
//! `X-Frontdesk-Sub`, `X-Frontdesk-Client-Id`, `X-Frontdesk-Scope` and
//! `X-Frontdesk-Via` headers, which the gateway sets after checking the
//! token and strips from callers. Anyone who can reach the demo directly can
//! forge them, so in that mode it must listen where only the gateway can
//! reach it (a loopback address, a private network, a firewall rule).
//!
//! With `--issuer URL` it checks tokens itself with `frontdesk-resource`
//! (local validation, the `BearerLayer` and the `Verified` extractor) and
//! ignores those headers.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use frontdesk_resource::{ErrorBody, Guard, Validator, Verified};
use serde_json::{Value, json};

/// Flags of `frontdesk demo-api`.
#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Listen address.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9000")]
    pub listen: SocketAddr,
    /// Check tokens here instead of trusting the gateway's headers.
    #[arg(long, value_name = "URL")]
    pub issuer: Option<String>,
    /// Audience of the photos API (with --issuer).
    #[arg(long, default_value = "https://photos.example.com")]
    pub photos_audience: String,
    /// Audience of the payment service (with --issuer).
    #[arg(long, default_value = "https://payments.example.com")]
    pub payments_audience: String,
    /// The issuer whose token endpoint the photos API exchanges tokens at
    /// (RFC 8693); with the two below, `/photos/prints` is served.
    #[arg(long, value_name = "URL", requires_all = ["exchange_client_id", "exchange_client_secret", "prints_url"])]
    pub exchange_issuer: Option<String>,
    /// The photos API's own client (with the token-exchange grant).
    #[arg(long, value_name = "ID")]
    pub exchange_client_id: Option<String>,
    #[arg(long, value_name = "SECRET")]
    pub exchange_client_secret: Option<String>,
    /// Where the prints service is called (the gateway's `/prints`).
    #[arg(long, value_name = "URL")]
    pub prints_url: Option<String>,
    /// The prints service's audience.
    #[arg(long, default_value = "https://prints.example.com")]
    pub prints_audience: String,
}

/// What `/photos/prints` needs: the photos API's client at the issuer and
/// where the prints service is.
#[derive(Clone)]
pub struct Exchange {
    client: frontdesk_rp::Client,
    prints_url: String,
    prints_audience: String,
}

impl Exchange {
    async fn connect(args: &DemoArgs) -> anyhow::Result<Option<Exchange>> {
        let (Some(issuer), Some(id), Some(secret), Some(prints_url)) = (
            &args.exchange_issuer,
            &args.exchange_client_id,
            &args.exchange_client_secret,
            &args.prints_url,
        ) else {
            return Ok(None);
        };
        let http = frontdesk_rp::HttpClient::new()?;
        let provider = frontdesk_rp::Provider::discover(&http, issuer).await?;
        Ok(Some(Exchange {
            client: frontdesk_rp::Client::new(
                provider,
                frontdesk_rp::ClientAuth::basic(id, secret),
            ),
            prints_url: prints_url.clone(),
            prints_audience: args.prints_audience.clone(),
        }))
    }
}

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    crate::start();
    let exchange = Exchange::connect(&args).await?;
    let app = match &args.issuer {
        None => router(None).merge(exchange_routes(exchange)),
        Some(issuer) => {
            let photos = Validator::from_issuer(issuer, &args.photos_audience).await?;
            let payments =
                Validator::with_keys(issuer, &args.payments_audience, photos.keys().clone());
            router(Some((Guard::Local(photos), Guard::Local(payments))))
        }
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot bind {}", args.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(listen = %addr, direct = args.issuer.is_some(), "demo API is serving");
    println!("listening on http://{addr}");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(ExitCode::SUCCESS)
}

/// The demo's routes; with guards, each route checks its own tokens.
pub fn router(guards: Option<(Guard, Guard)>) -> Router {
    let (photos, charges) = match guards {
        None => (get(list_photos), post(create_charge).get(list_charges)),
        Some((p, c)) => (
            get(list_photos).route_layer(p.layer(&["photos:read"])),
            post(create_charge)
                .get(list_charges)
                .route_layer(c.layer(&["charge:customer"])),
        ),
    };
    Router::new()
        .route("/photos", photos)
        .route("/charges", charges)
        .route(
            "/health",
            get(|headers: HeaderMap| async move {
                Json(json!({"status": "ok", "received": seen_headers(&headers)}))
            }),
        )
}

/// `/photos/prints` and `/prints`, behind the gateway only (it checks the
/// tokens, and forwards the caller's to the photos route).
fn exchange_routes(exchange: Option<Exchange>) -> Router {
    let Some(exchange) = exchange else {
        return Router::new();
    };
    Router::new()
        .route("/photos/prints", get(order_prints))
        .route("/prints", get(prints))
        .with_state(exchange)
}

/// The photos API orders prints for its caller: the caller's token,
/// exchanged for one for the prints service, goes there.
async fn order_prints(
    axum::extract::State(x): axum::extract::State<Exchange>,
    caller: Caller,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = caller.lacks("photos:read") {
        return r;
    }
    // The gateway forwards the token on this route (`forward_token`).
    let Some(token) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .map(|(_, t)| t.trim().to_owned())
    else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "no token was forwarded to exchange",
        );
    };
    let exchanged = x
        .client
        .token(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", &token),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:access_token",
            ),
            ("audience", &x.prints_audience),
            ("scope", "photos:read"),
        ])
        .await;
    let exchanged = match exchanged {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "token exchange refused");
            return refuse(StatusCode::BAD_GATEWAY, "exchange_failed", &e.to_string());
        }
    };
    let answer = frontdesk_rp::dpop::get_resource(
        x.client.provider().http(),
        None,
        &x.prints_url,
        &exchanged.access_token,
        &exchanged.token_type,
    )
    .await;
    let prints: Value = match answer {
        Ok(a) if a.status == 200 => a.json().unwrap_or(Value::Null),
        Ok(a) => json!({"status": a.status}),
        Err(e) => json!({"error": e.to_string()}),
    };
    // What the exchanged token says, as frontdesk answers for it (RFC 7662,
    // the photos API's own client): shown, never trusted here.
    let said = match x.client.introspect(&exchanged.access_token).await {
        Ok(c) => {
            json!({"sub": c["sub"], "aud": c["aud"], "client_id": c["client_id"], "scope": c["scope"], "act": c["act"]})
        }
        Err(e) => json!({"error": e.to_string()}),
    };
    Json(json!({
        "api": "photos",
        "caller": caller.json(),
        "exchanged_token": said,
        "prints": prints,
    }))
    .into_response()
}

/// The prints service: takes orders for photos of its caller.
async fn prints(caller: Caller) -> Response {
    if let Some(r) = caller.lacks("photos:read") {
        return r;
    }
    let id = frontdesk_rp::random_token(8).unwrap_or_default();
    Json(json!({
        "api": "prints",
        "order": {"id": format!("pr_{}", id.get(..10).unwrap_or(&id)), "photos": 2},
        "caller": caller.json(),
    }))
    .into_response()
}

/// Who is calling: from the `Verified` token when this API checked it,
/// otherwise from the gateway's headers.
struct Caller {
    sub: String,
    client_id: String,
    scope: String,
    via: String,
    /// Every `X-Frontdesk-*` header received, and whether a token arrived.
    seen: Value,
}

fn refuse(status: StatusCode, code: &str, description: &str) -> Response {
    (status, Json(ErrorBody::new(code, description))).into_response()
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let seen = seen_headers(&parts.headers);
        if let Some(v) = parts.extensions.get::<Verified>() {
            return Ok(Caller {
                sub: v.claims.sub.clone(),
                client_id: v.claims.client_id.clone(),
                scope: v.claims.scope.clone().unwrap_or_default(),
                via: format!("demo-api/{}", v.via.as_str()),
                seen,
            });
        }
        let h = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        match h("x-frontdesk-sub") {
            Some(sub) => Ok(Caller {
                sub,
                client_id: h("x-frontdesk-client-id").unwrap_or_default(),
                scope: h("x-frontdesk-scope").unwrap_or_default(),
                via: format!("gateway/{}", h("x-frontdesk-via").unwrap_or_default()),
                seen,
            }),
            None => Err(refuse(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "call this API through the frontdesk gateway",
            )),
        }
    }
}

fn seen_headers(headers: &HeaderMap) -> Value {
    let frontdesk: BTreeMap<String, String> = headers
        .iter()
        .filter(|(k, _)| k.as_str().starts_with("x-frontdesk-"))
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    json!({
        "x_frontdesk": frontdesk,
        "authorization": headers.contains_key(axum::http::header::AUTHORIZATION),
    })
}

impl Caller {
    /// Defence in depth: the demo re-checks the scope it needs and returns
    /// the refusal when it is missing.
    fn lacks(&self, scope: &str) -> Option<Response> {
        if self.scope.split(' ').any(|s| s == scope) {
            None
        } else {
            Some(refuse(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                &format!("this needs {scope}"),
            ))
        }
    }

    fn json(&self) -> Value {
        json!({"sub": self.sub, "client_id": self.client_id, "scope": self.scope, "via": self.via})
    }
}

async fn list_photos(caller: Caller) -> Response {
    if let Some(r) = caller.lacks("photos:read") {
        return r;
    }
    Json(json!({
        "api": "photos",
        "photos": [{"id": 1, "title": "beach.jpg"}, {"id": 2, "title": "mountain.jpg"}],
        "caller": caller.json(),
        "received": caller.seen,
    }))
    .into_response()
}

async fn list_charges(caller: Caller) -> Response {
    if let Some(r) = caller.lacks("charge:customer") {
        return r;
    }
    Json(json!({
        "api": "payments",
        "charges": [],
        "caller": caller.json(),
        "received": caller.seen,
    }))
    .into_response()
}

async fn create_charge(caller: Caller, body: axum::body::Bytes) -> Response {
    if let Some(r) = caller.lacks("charge:customer") {
        return r;
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let id = frontdesk_rp::random_token(12).unwrap_or_default();
    (
        StatusCode::CREATED,
        Json(json!({
            "api": "payments",
            "charge": {"id": format!("ch_{}", id.get(..16).unwrap_or(&id)), "amount": request.get("amount")},
            "caller": caller.json(),
            "received": caller.seen,
        })),
    )
        .into_response()
}
