//! The circuit breaker of a PostgreSQL [`crate::Db`]: once an operation
//! finds the database unreachable (`StoreError::Unavailable`), every
//! operation fails at once, without waiting for a connection, until a
//! background probe (`SELECT 1`, retried with a backoff from 50 ms to 1 s)
//! reaches the database again. Requests during an outage get their 503 in
//! microseconds instead of each waiting out the acquire timeout, and a
//! recovered database is used again within a second, without a restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::postgres::PgPool;

/// The first pause between probes; it doubles up to [`PROBE_MAX_PAUSE`].
const PROBE_FIRST_PAUSE: Duration = Duration::from_millis(50);
const PROBE_MAX_PAUSE: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub(crate) struct Breaker {
    open: AtomicBool,
    /// A probe task is running (at most one per pool).
    probing: AtomicBool,
}

impl Breaker {
    pub(crate) fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// Opens the breaker and starts the probe unless one runs already.
    pub(crate) fn trip(self: &Arc<Self>, pool: PgPool, deadline: Duration) {
        if !self.open.swap(true, Ordering::AcqRel) {
            tracing::warn!("database unreachable: answering 503 until a probe reaches it");
        }
        if self.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        let breaker = Arc::clone(self);
        tokio::spawn(async move {
            let mut pause = PROBE_FIRST_PAUSE;
            loop {
                let probe = sqlx::query("SELECT 1").execute(&pool);
                if let Ok(Ok(_)) = tokio::time::timeout(deadline, probe).await {
                    break;
                }
                if pool.is_closed() {
                    break;
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(PROBE_MAX_PAUSE);
            }
            // In this order: a trip between the two stores starts a new
            // probe, so the breaker is never left open with none running.
            breaker.probing.store(false, Ordering::Release);
            breaker.open.store(false, Ordering::Release);
            tracing::info!("database reachable again");
        });
    }
}
