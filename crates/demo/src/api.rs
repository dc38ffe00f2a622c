//! `frontdesk demo-api`: the photos API and the payment service of the
//! story, in one small axum app.
//!
//! * `GET /photos` needs `photos:read` (low risk: the gateway checks it locally).
//! * `POST /charges` needs `charge:customer` (high risk: the gateway introspects).
//! * `GET /charges` needs `charge:customer` too (the demo gateway config
//!   uses a short introspection cache for it).
//! * `GET /health` needs nothing (it echoes the headers it saw, for tests).
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
}

pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    crate::start();
    let app = match &args.issuer {
        None => router(None),
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
