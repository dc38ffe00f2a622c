//! `frontdesk serve`: start-up, the listeners (public, admin, metrics),
//! background upkeep and graceful shutdown.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::Request;
use frontdesk_core::store::Store;
use frontdesk_core::sweep::SweepCutoffs;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioTimer;
use tokio::net::TcpListener;
use tower::{ServiceBuilder, ServiceExt};
use tower_http::timeout::RequestBodyDeadlineLayer;

use crate::app::{self, App, AppState};
use crate::client_addr::{ClientAddr, TrustedProxies};
use crate::config::Settings;
use crate::{http, mail, ops, telemetry, throttle};
use frontdesk_web::{accept_loop, shutdown_signal};

pub async fn run(settings: Settings) -> anyhow::Result<()> {
    // Bind first: a busy port stops start-up before anything is created on
    // disk (the data directory, the key-encryption key, signing keys).
    let public = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("listen: cannot bind {}", settings.listen))?;
    let admin = match &settings.admin_token {
        Some(_) => Some(
            TcpListener::bind(settings.admin_listen)
                .await
                .with_context(|| format!("admin_listen: cannot bind {}", settings.admin_listen))?,
        ),
        None => None,
    };
    let metrics_listener = match settings.metrics_listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("metrics_listen: cannot bind {addr}"))?,
        ),
        None => None,
    };
    let opened = app::open(&settings).await?;
    ops::bootstrap(
        &opened.core,
        &opened.db,
        &settings.clients,
        &settings.users,
        app::now(),
    )
    .await
    .map_err(|e| anyhow!("{e}"))?;
    let mut web = app::Web::new(
        settings.issuer.starts_with("https://"),
        app::LoginPolicy {
            max_per_account: settings.login_max_failures_per_account,
            max_per_ip: settings.login_max_failures_per_ip,
            window: settings.login_window,
        },
    )?;
    web.reauth_secs = settings.reauth_secs;
    web.account_editable_claims = settings.account_editable_claims.clone();
    web.security_notices = settings.security_notices;
    web.account_email_change = settings.account_email_change;
    web.pages.scope_descriptions = settings.scope_descriptions.clone();
    web.pages
        .apply_branding(&settings.branding)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    web.pages
        .set_default_locale(&settings.default_locale)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    web.upstreams = Arc::new(crate::upstream::Upstreams::new(settings.upstreams.clone())?);
    web.directories = Arc::new(crate::ldap::Directories::new(settings.ldap.clone()));
    if settings.features.authorization_code {
        web.passkeys =
            crate::passkeys::for_issuer(&settings.issuer, settings.passkeys)?.map(Arc::new);
    }
    let client_auth = throttle::ClientAuthThrottle::new(throttle::ClientAuthPolicy {
        max_failures_per_ip: settings.client_auth_max_failures_per_ip,
        window: settings.client_auth_failure_window,
        shared: settings.client_auth_throttle_shared,
    })?;
    let mailer = mail::Mailer::new(
        &settings.mail,
        &settings.issuer,
        &settings.branding.product_name,
    )?;
    tracing::info!(transport = %mailer.describe(), "outgoing mail");
    let (outgoing, jobs) = mail::Outgoing::new(mailer);
    let app: AppState = Arc::new(
        App::start(
            opened,
            settings.admin_token,
            web,
            client_auth,
            outgoing,
            settings.links,
            settings.registration,
        )
        .await?,
    );
    // The upstreams added at run time, before the first login page.
    app.web.upstreams.refresh(&app.db, &app.kek).await;
    let mail_worker = tokio::spawn(mail::worker(Arc::clone(&app), jobs));

    let metrics = match metrics_listener {
        Some(listener) => Some((listener, telemetry::install()?)),
        None => None,
    };
    if let Some((l, _)) = &metrics {
        let addr = l.local_addr()?;
        tracing::info!(metrics_listen = %addr, "metrics are on");
        // Printed before `listening on`, which tells scripts the server is up.
        println!("metrics on http://{addr}/metrics");
    }
    let public_addr = public.local_addr()?;
    // Tests and scripts read this line to learn the port of `--listen 127.0.0.1:0`.
    tracing::info!(
        listen = %public_addr,
        issuer = %app.core.settings.issuer,
        database = app.db.backend(),
        "frontdesk is serving"
    );
    // Before anyone hears the server is up: a SIGTERM from then on is a
    // graceful shutdown.
    let signal = shutdown_signal();
    println!("listening on http://{public_addr}");
    if let Some(a) = &admin {
        let addr = a.local_addr()?;
        tracing::info!(admin_listen = %addr, "admin API is on");
        println!("admin API on http://{addr}");
    } else {
        tracing::info!("admin API is off (no admin_token configured)");
    }

    let limits = Limits {
        header_read_timeout: settings.header_read_timeout,
        body_read_timeout: settings.body_read_timeout,
        proxies: Arc::new(settings.trusted_proxies),
    };
    let upkeep = tokio::spawn(upkeep(Arc::clone(&app)));
    let sweeper = settings
        .sweep_interval
        .map(|every| tokio::spawn(sweeper(Arc::clone(&app), every, settings.audit_retention)));
    // PostgreSQL: other nodes' client and key changes, at once.
    let follower = app.db.follow_changes();
    let (tx, rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.changed().await;
    };
    let public_srv = tokio::spawn(serve_router(
        public,
        http::router(Arc::clone(&app), metrics.is_some()),
        limits.clone(),
        stopped(rx.clone()),
    ));
    let admin_srv = admin.map(|listener| {
        tokio::spawn(serve_router(
            listener,
            http::admin::router(Arc::clone(&app)),
            limits.clone(),
            stopped(rx.clone()),
        ))
    });

    let metrics_srv = metrics.map(|(listener, handle)| {
        tokio::spawn(serve_router(
            listener,
            telemetry::router(handle),
            limits.clone(),
            stopped(rx.clone()),
        ))
    });

    signal.await;
    tracing::info!("shutting down: finishing in-flight requests");
    let _ = tx.send(true);
    upkeep.abort();
    if let Some(f) = follower {
        f.abort();
    }
    // A round cut short closes its connection, which releases the sweep
    // lock (frontdesk-store's `Locked`).
    if let Some(s) = &sweeper {
        s.abort();
    }
    mail_worker.abort();
    public_srv.await?;
    if let Some(a) = admin_srv {
        a.await?;
    }
    if let Some(m) = metrics_srv {
        m.await?;
    }
    app.db.close().await;
    Ok(())
}

/// The time limits of a listener (SECURITY.md §5.7), and whose forwarding
/// headers name the client.
#[derive(Debug, Clone)]
struct Limits {
    header_read_timeout: Duration,
    body_read_timeout: Duration,
    proxies: Arc<TrustedProxies>,
}

/// Serves `router` on `listener` until `shutdown`: HTTP/1.1 only, through
/// hyper directly rather than `axum::serve`, which has no header-read or
/// idle timeout (SECURITY.md §5.7).
///
/// - `header_read_timeout` bounds both a request head that arrives too
///   slowly (slowloris) and a keep-alive connection idling between requests:
///   hyper arms it when the connection starts waiting for a head, including
///   right after each response, and closes the connection without an answer
///   when it fires.
/// - `body_read_timeout` bounds the whole request body, counted from the
///   moment the head has arrived (tower-http's `RequestBodyDeadlineLayer`,
///   one timer per request, never reset by arriving bytes). Reading a body
///   after it fails with tower-http's `TimeoutError`, which every handler
///   that reads a body turns into `408 Request Timeout` with
///   `Connection: close` (`http::error::BodyError`); the connection then
///   ends after the answer. Requests whose handler reads no body are not
///   affected.
/// - A head over [`http::HEAD_LIMIT`] bytes or [`http::MAX_HEADERS`] fields
///   gets hyper's `431 Request Header Fields Too Large` (empty body) and the
///   connection is closed.
/// - No h2c: hyper-util's auto builder sniffs for the HTTP/2 preface before
///   any timer runs, so a client that connects and sends nothing (or half a
///   preface) would be held forever, and hyper's HTTP/2 server has no
///   header-read or idle timeout. A TLS terminator in front can speak h2.
///
/// Handlers see the peer as `ConnectInfo<SocketAddr>`, which is what
/// `into_make_service_with_connect_info` would have given them, and the
/// client's address as [`ClientAddr`]: the peer, or what a trusted proxy
/// reported (`crate::client_addr`).
async fn serve_router(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(http::HEAD_LIMIT)
        .max_headers(http::MAX_HEADERS)
        .keep_alive(true);
    let service = ServiceBuilder::new()
        .layer(RequestBodyDeadlineLayer::new(limits.body_read_timeout))
        .service(router);
    let proxies = limits.proxies;
    accept_loop(listener, shutdown, http::REQUEST_TIMEOUT, |io, peer| {
        let service = service.clone();
        let proxies = Arc::clone(&proxies);
        let svc = service_fn(move |mut req: Request<Incoming>| {
            let client = proxies.client_addr(peer.ip(), req.headers());
            req.extensions_mut().insert(ConnectInfo(peer));
            req.extensions_mut().insert(ClientAddr(client));
            service.clone().oneshot(req)
        });
        builder.serve_connection(io, svc)
    })
    .await;
}

/// Every second: pick up key rotations and upstreams added or removed
/// elsewhere, and forget idle client-authentication throttle entries.
async fn upkeep(app: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            // Another node or the CLI announced new keys (PostgreSQL): take
            // them now rather than at the next tick.
            () = app.db.keys_changed().notified() => {
                if let Err(e) = app.reload_keys().await {
                    tracing::warn!(error = %e, "reloading signing keys failed");
                }
                continue;
            }
        }
        app.client_auth.upkeep();
        if let Err(e) = app.reload_keys().await {
            tracing::warn!(error = %e, "reloading signing keys failed");
        }
        app.web.upstreams.refresh(&app.db, &app.kek).await;
    }
}

/// Rows one batch of the sweeper deletes at most: one short transaction.
const SWEEP_BATCH: u32 = 500;

/// At start and then every `every`: one sweep round (`sweep_once`).
async fn sweeper(app: AppState, every: Duration, audit_retention: i64) {
    let mut tick = tokio::time::interval(every);
    // A round that took longer than the interval is followed by a full
    // interval, not by a burst of catch-up rounds.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        sweep_once(&app, audit_retention).await;
    }
}

/// Deletes what has expired (`frontdesk_core::sweep` says what and when)
/// in batches of [`SWEEP_BATCH`], audit events older than
/// `audit_retention` seconds and keys that signed nothing still valid;
/// records the counts and the table sizes. On PostgreSQL a node that finds
/// another one sweeping skips the round: the work is done once per
/// interval, not once per node.
async fn sweep_once(app: &App, audit_retention: i64) {
    let now = app::now();
    let at = SweepCutoffs::at(&app.core.settings, now, Some(audit_retention));
    let started = std::time::Instant::now();
    match app.db.sweep_expired(&at, SWEEP_BATCH).await {
        Ok(Some(swept)) => {
            telemetry::sweep_round("swept");
            telemetry::swept(&swept);
            let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            if swept.total() > 0 {
                tracing::info!(
                    rows = swept.total(),
                    batches = swept.batches,
                    ms,
                    "swept expired rows"
                );
            } else {
                tracing::debug!(batches = swept.batches, ms, "nothing to sweep");
            }
            if telemetry::enabled() {
                match app.db.table_rows().await {
                    Ok(rows) => telemetry::table_rows(&rows),
                    Err(e) => tracing::warn!(error = %e, "counting table rows failed"),
                }
            }
            if let Err(e) = app
                .db
                .delete_keys_retired_before(now - app.rotation.retain)
                .await
            {
                tracing::warn!(error = %e, "deleting expired keys failed");
            }
        }
        Ok(None) => {
            telemetry::sweep_round("skipped");
            tracing::debug!("another node is sweeping: this round is skipped");
        }
        Err(e) => {
            telemetry::sweep_round("failed");
            tracing::warn!(error = %e, "sweeping expired rows failed");
        }
    }
}
