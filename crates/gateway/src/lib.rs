//! `frontdesk gateway --config gateway.toml`: a reverse proxy that checks
//! access tokens before upstream APIs see a request.
//!
//! Each route (method + longest path prefix) names its upstream, audience,
//! scopes and how tokens are checked: `local` (JWT signature and claims —
//! fast, but a revoked token passes until it expires), `introspect` (ask
//! frontdesk every time — revocation is immediate, one round trip more) or
//! `introspect-cached` (answers reused for a few seconds). The upstream gets
//! the verified identity in `X-Frontdesk-Sub`, `X-Frontdesk-Client-Id`,
//! `X-Frontdesk-Scope` and `X-Frontdesk-Via`, and for a DPoP-bound token
//! the thumbprint of the key whose proof was checked in
//! `X-Frontdesk-Dpop-Jkt`; any header the caller sent
//! whose name reads as `X-Frontdesk-*` with `_` taken as `-` is dropped
//! first, and so are path and method overrides (`X-Original-URL`,
//! `X-HTTP-Method-Override`, …) and the caller's `Forwarded` /
//! `X-Forwarded-*` / `X-Real-IP` (set again from the TCP peer).
//! `Authorization` and `DPoP` are dropped unless the route sets
//! `forward_token`. Every route accepts `Authorization: DPoP` with a proof
//! (RFC 9449 §7.1, checked by `frontdesk-resource`, one replay memory for
//! the whole gateway) and refuses a DPoP-bound token sent as Bearer; a
//! route with `require_dpop` accepts nothing else. The
//! path is normalised before routing (`normalize.rs`) and forwarded in its
//! normalised form. Counters are served on their own listener
//! (`metrics_listen`), never on the public one.
//!
//! This crate uses `frontdesk-resource` for every token decision; it cannot
//! see the server's store, core or HTTP layer (Cargo enforces it: they are
//! not among its dependencies).

mod config;
mod normalize;
mod proxy;
mod stats;

use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use frontdesk_resource::{
    Discovery, Dpop, Guard, HttpClient, Introspector, Keys, KeysOptions, Validator, discover,
};
use frontdesk_web::{HEAD_LIMIT, MAX_HEADERS, accept_loop, shutdown_signal};
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::net::TcpListener;

pub use config::{GatewayConfig, Mode};
use proxy::{Gateway, Route};

/// Flags of `frontdesk gateway` (the file comes from the global `--config`).
#[derive(Debug, Clone, clap::Args)]
pub struct GatewayArgs {
    /// Listen address; overrides `listen` in the file.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
}

/// `frontdesk gateway`: `config` is the global `--config` file, `json_logs`
/// the global `--log-format json`.
pub async fn run(
    config: Option<&Path>,
    json_logs: bool,
    args: GatewayArgs,
) -> anyhow::Result<ExitCode> {
    let path = config.ok_or_else(|| anyhow!("gateway: --config gateway.toml is required"))?;
    let mut cfg = config::load(path)?;
    if let Some(l) = args.listen {
        cfg.listen = l;
    }
    init_logging(&cfg.log_level, json_logs);
    frontdesk_resource::install_crypto_provider();

    let gateway = Arc::new(build(&cfg).await?);
    let metrics = match cfg.metrics_listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("metrics_listen: cannot bind {addr}"))?,
        ),
        None => None,
    };
    let listener = TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("listen: cannot bind {}", cfg.listen))?;
    if let Some(m) = metrics {
        gateway.stats.install().map_err(|e| anyhow!(e))?;
        let addr = m.local_addr()?;
        tracing::info!(metrics_listen = %addr, "metrics are on");
        // Printed before `listening on`, which tells scripts the gateway is up.
        println!("metrics on http://{addr}/metrics");
        tokio::spawn(serve_metrics(
            m,
            Arc::clone(&gateway),
            cfg.header_read_timeout,
        ));
    }
    let addr = listener.local_addr()?;
    tracing::info!(listen = %addr, issuer = %cfg.issuer, routes = cfg.routes.len(), "gateway is serving");
    // Tests and scripts read this line to learn the port of `listen = "…:0"`.
    // Before anyone hears the gateway is up: a SIGTERM from then on is a
    // graceful shutdown.
    let signal = shutdown_signal();
    println!("listening on http://{addr}");
    serve(listener, gateway, cfg.header_read_timeout, signal).await;
    Ok(ExitCode::SUCCESS)
}

fn init_logging(level: &str, json: bool) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Discovery (retried for ~10 s, so the gateway may start with frontdesk),
/// then one key cache and one guard per route.
async fn build(cfg: &GatewayConfig) -> anyhow::Result<Gateway> {
    let http = HttpClient::new()?;
    let needs_discovery = cfg.jwks_uri.is_none()
        || (cfg.introspection_endpoint.is_none()
            && cfg.routes.iter().any(|r| r.mode != Mode::Local));
    let meta = if needs_discovery {
        let mut attempt = 0;
        loop {
            match discover(&http, &cfg.issuer).await {
                Ok(m) => break Some(m),
                Err(e) if attempt < 20 => {
                    tracing::warn!(error = %e, "discovery failed; retrying");
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(anyhow!("issuer: {e}")),
            }
        }
    } else {
        None
    };
    let jwks_uri = cfg
        .jwks_uri
        .clone()
        .or_else(|| meta.as_ref().map(|m: &Discovery| m.jwks_uri.clone()))
        .ok_or_else(|| anyhow!("no jwks_uri"))?;
    let introspection_endpoint = cfg
        .introspection_endpoint
        .clone()
        .or_else(|| meta.as_ref().and_then(|m| m.introspection_endpoint.clone()));
    let keys = Keys::remote(
        &jwks_uri,
        http.clone(),
        KeysOptions {
            min_refresh_interval: cfg.jwks_min_refresh,
            ..KeysOptions::default()
        },
    );
    if let Err(e) = keys.refresh().await {
        tracing::warn!(error = %e, "the JWKS could not be loaded yet; retrying on first use");
    }
    // One replay memory for every route: a proof is used once per gateway.
    let mut dpop = Dpop::new()
        .with_window(cfg.dpop_max_age_secs, cfg.dpop_leeway_secs)
        .with_replay_capacity(cfg.dpop_replay_max_entries);
    if let Some(url) = &cfg.public_url {
        dpop = dpop.with_public_url(url)?;
    }
    let mut routes = Vec::new();
    for spec in &cfg.routes {
        let guard = match spec.mode {
            Mode::Local => Guard::Local(
                Validator::with_keys(&cfg.issuer, &spec.audience, keys.clone())
                    .with_leeway(cfg.leeway_secs)
                    .with_cache(cfg.verified_cache_max_entries),
            ),
            Mode::Introspect | Mode::IntrospectCached(_) => {
                let endpoint = introspection_endpoint
                    .as_deref()
                    .ok_or_else(|| anyhow!("the issuer advertises no introspection_endpoint"))?;
                let (id, secret) = cfg
                    .credentials
                    .as_ref()
                    .ok_or_else(|| anyhow!("introspection needs client_id and client_secret"))?;
                let i = Introspector::new(
                    http.clone(),
                    endpoint,
                    id,
                    secret,
                    &cfg.issuer,
                    &spec.audience,
                )?;
                Guard::Introspect(match spec.mode {
                    Mode::IntrospectCached(ttl) => i.with_cache(ttl, cfg.cache_max_entries),
                    _ => i,
                })
            }
        };
        routes.push(Route {
            spec: spec.clone(),
            guard,
            dpop: dpop.clone().required(spec.require_dpop),
        });
    }

    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(cfg.connect_timeout));
    connector.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(90))
        .pool_timer(TokioTimer::new())
        .build(connector);
    Ok(Gateway::new(
        routes,
        client,
        keys,
        cfg.upstream_timeout,
        cfg.allow_path_parameters,
    ))
}

fn http1_builder(header_read_timeout: Duration) -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .max_header_size(HEAD_LIMIT)
        .max_headers(MAX_HEADERS)
        .keep_alive(true);
    builder
}

/// The accept loop (shared with `serve`): HTTP/1.1 with a header-read
/// timeout that also closes idle keep-alive connections, the 16 KiB /
/// 100-field head cap (431), one task per connection, graceful shutdown on
/// SIGTERM/Ctrl-C (in-flight requests get up to 10 s). No h2c: hyper-util's
/// auto builder sniffs for the HTTP/2 preface before any timer runs, so a
/// client that sends nothing would hold its connection forever.
async fn serve(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    header_read_timeout: Duration,
    signal: impl std::future::Future<Output = ()>,
) {
    let builder = http1_builder(header_read_timeout);
    let shutdown = async {
        signal.await;
        tracing::info!("shutting down: finishing in-flight requests");
    };
    accept_loop(listener, shutdown, Duration::from_secs(10), |io, peer| {
        let gw = Arc::clone(&gateway);
        let svc = service_fn(move |req| proxy::handle(Arc::clone(&gw), req, peer));
        builder.serve_connection(io, svc)
    })
    .await;
}

/// The metrics listener: `GET /metrics` only, same connection limits.
async fn serve_metrics(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    header_read_timeout: Duration,
) {
    let builder = http1_builder(header_read_timeout);
    accept_loop(
        listener,
        shutdown_signal(),
        Duration::from_secs(1),
        |io, _| {
            let gw = Arc::clone(&gateway);
            let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                let res = gw.metrics(req.method(), req.uri().path());
                async move { Ok::<_, std::convert::Infallible>(res) }
            });
            builder.serve_connection(io, svc)
        },
    )
    .await;
}
