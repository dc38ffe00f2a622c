//! `frontdesk serve`: start-up, background upkeep and graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, anyhow};
use frontdesk_core::store::Store;
use tokio::net::TcpListener;

use crate::app::{self, App, AppState};
use crate::config::Settings;
use crate::{http, ops, telemetry};

pub async fn run(settings: Settings) -> anyhow::Result<()> {
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
    let web = app::Web::new(
        settings.issuer.starts_with("https://"),
        app::LoginPolicy {
            max_per_account: settings.login_max_failures_per_account,
            max_per_ip: settings.login_max_failures_per_ip,
            window: settings.login_window,
        },
    )?;
    let app: AppState = Arc::new(App::start(opened, settings.admin_token, web).await?);

    let public = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("listen: cannot bind {}", settings.listen))?;
    let admin = match &app.admin_token {
        Some(_) => Some(
            TcpListener::bind(settings.admin_listen)
                .await
                .with_context(|| format!("admin_listen: cannot bind {}", settings.admin_listen))?,
        ),
        None => None,
    };
    let metrics = match settings.metrics_listen {
        Some(addr) => {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("metrics_listen: cannot bind {addr}"))?;
            Some((listener, telemetry::install()?))
        }
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
    println!("listening on http://{public_addr}");
    if let Some(a) = &admin {
        let addr = a.local_addr()?;
        tracing::info!(admin_listen = %addr, "admin API is on");
        println!("admin API on http://{addr}");
    } else {
        tracing::info!("admin API is off (no admin_token configured)");
    }

    let upkeep = tokio::spawn(upkeep(Arc::clone(&app)));
    let (tx, rx) = tokio::sync::watch::channel(false);
    let public_srv = {
        let mut rx = rx.clone();
        let router = http::router(Arc::clone(&app), metrics.is_some());
        tokio::spawn(async move {
            axum::serve(
                public,
                router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = rx.changed().await;
            })
            .await
        })
    };
    let admin_srv = admin.map(|listener| {
        let mut rx = rx.clone();
        let router = http::admin::router(Arc::clone(&app));
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = rx.changed().await;
                })
                .await
        })
    });

    let metrics_srv = metrics.map(|(listener, handle)| {
        let mut rx = rx.clone();
        tokio::spawn(async move {
            axum::serve(listener, telemetry::router(handle))
                .with_graceful_shutdown(async move {
                    let _ = rx.changed().await;
                })
                .await
        })
    });

    shutdown_signal().await;
    tracing::info!("shutting down: finishing in-flight requests");
    let _ = tx.send(true);
    upkeep.abort();
    public_srv.await??;
    if let Some(a) = admin_srv {
        a.await??;
    }
    if let Some(m) = metrics_srv {
        m.await??;
    }
    app.db.close().await;
    Ok(())
}

/// Every second: pick up key rotations made elsewhere. Every ten minutes:
/// purge expired token records and keys that signed nothing still valid.
async fn upkeep(app: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut n: u64 = 0;
    loop {
        tick.tick().await;
        if let Err(e) = app.reload_keys().await {
            tracing::warn!(error = %e, "reloading signing keys failed");
        }
        if n % 600 == 0 {
            let now = app::now();
            if let Err(e) = app.db.purge_expired(now).await {
                tracing::warn!(error = %e, "purging expired tokens failed");
            }
            if let Err(e) = app
                .db
                .delete_keys_retired_before(now - app.rotation.retain)
                .await
            {
                tracing::warn!(error = %e, "deleting expired keys failed");
            }
        }
        n = n.wrapping_add(1);
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
