//! The accept loop shared by `frontdesk serve` and `frontdesk gateway`: one
//! task per connection, and on shutdown a graceful drain with an upper bound.
//!
//! The caller builds each connection with its own hyper builder, so the
//! protocol settings (header-read timeout, header caps, HTTP/1.1 or auto)
//! stay with the caller. This crate knows nothing about the server's
//! routers, state or store.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::{GracefulConnection, GracefulShutdown};
use tokio::net::{TcpListener, TcpStream};

/// Largest request head accepted, request line and headers together
/// (SECURITY.md §5.7); hyper answers 431 above it.
pub const HEAD_LIMIT: usize = 16 * 1024;

/// Most header fields a request may carry; hyper answers 431 above it.
pub const MAX_HEADERS: usize = 100;

/// Accepts connections until `shutdown` completes, serving each one with the
/// connection `connect` returns for it. Then every connection is asked to
/// finish (idle ones close at once, in-flight requests complete) and the loop
/// waits for them for at most `drain`.
pub async fn accept_loop<F, C>(
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
    drain: Duration,
    mut connect: F,
) where
    F: FnMut(TokioIo<TcpStream>, SocketAddr) -> C,
    C: GracefulConnection + Send + 'static,
    C::Error: std::fmt::Display,
{
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Typically EMFILE: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let conn = graceful.watch(connect(TokioIo::new(stream), peer));
                tokio::spawn(async move {
                    // Timeouts, oversized heads and resets end here; the
                    // client has had its answer (or was too slow for one).
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(drain) => {
            tracing::warn!("connections still open after the shutdown grace period; closing");
        }
    }
}

/// Completes on SIGTERM or Ctrl-C. The SIGTERM handler is installed when
/// this is called, not when the future is first polled: call it before
/// telling anyone the server is up, or a SIGTERM in between would end the
/// process the default way (by the signal, not cleanly). Must be called
/// within a tokio runtime.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let term = async move {
            match term {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            () = ctrl_c => {},
            () = term => {},
        }
    }
}
