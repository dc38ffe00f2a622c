//! Helpers for tests that need a PostgreSQL database of their own.
//!
//! Reads one environment variable, `FRONTDESK_TEST_POSTGRES_URL`, and only in
//! [`postgres_url_from_env`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use frontdesk_core::store::StoreError;
use sqlx::{AssertSqlSafe, Connection, PgConnection};

/// The variable naming a PostgreSQL server for tests, e.g.
/// `postgres://postgres@127.0.0.1:5432/postgres`.
pub const POSTGRES_URL_VAR: &str = "FRONTDESK_TEST_POSTGRES_URL";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Creates an empty database named
/// `frontdesk_test_<pid>_<unix_nanos>_<counter>` on the server at
/// `server_url` and returns a URL pointing at it (same credentials and
/// query parameters, other path).
pub async fn fresh_postgres_database(server_url: &str) -> Result<String, StoreError> {
    let mut url = url::Url::parse(server_url)
        .map_err(|e| StoreError::Internal(format!("invalid PostgreSQL server URL: {e}")))?;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let name = format!(
        "frontdesk_test_{}_{}_{}",
        std::process::id(),
        nanos,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let mut conn = PgConnection::connect(server_url)
        .await
        .map_err(crate::error::postgres)?;
    // CREATE DATABASE takes no bind parameters; the name is digits and
    // underscores that we built above.
    sqlx::query(AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut conn)
        .await
        .map_err(crate::error::postgres)?;
    conn.close().await.map_err(crate::error::postgres)?;
    url.set_path(&name);
    Ok(url.into())
}

/// `Ok(None)` when `FRONTDESK_TEST_POSTGRES_URL` is unset (or empty);
/// otherwise a fresh database on that server, as [`fresh_postgres_database`].
pub async fn postgres_url_from_env() -> Result<Option<String>, StoreError> {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(server) if !server.is_empty() => fresh_postgres_database(&server).await.map(Some),
        _ => Ok(None),
    }
}

/// For tests: runs one raw statement with one text parameter on the write
/// path, bypassing the intents (e.g. to plant legacy rows), and empties the
/// client cache so the next read sees the database.
pub async fn execute_raw(db: &crate::Db, sql: &'static str, arg: &str) -> Result<u64, StoreError> {
    db.clients.clear();
    match &db.backend {
        crate::Backend::Sqlite { writer, .. } => sqlx::query(sql)
            .bind(arg)
            .execute(writer)
            .await
            .map(|r| r.rows_affected())
            .map_err(crate::error::sqlite),
        crate::Backend::Postgres(pool) => sqlx::query(sql)
            .bind(arg)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
            .map_err(crate::error::postgres),
    }
}

/// For tests: a connection to the PostgreSQL database at `url` holding the
/// sweeper's advisory lock, as a node in the middle of a round would, until
/// [`SweepLockHolder::release`] (or until it is dropped, which closes the
/// connection). `Ok(None)` if someone else holds it.
pub async fn hold_sweep_lock(url: &str) -> Result<Option<SweepLockHolder>, StoreError> {
    let mut conn = PgConnection::connect(url)
        .await
        .map_err(crate::error::postgres)?;
    let (got,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1)")
        .bind(crate::store::upkeep::SWEEP_LOCK)
        .fetch_one(&mut conn)
        .await
        .map_err(crate::error::postgres)?;
    Ok(got.then_some(SweepLockHolder(conn)))
}

/// See [`hold_sweep_lock`].
pub struct SweepLockHolder(PgConnection);

impl SweepLockHolder {
    /// Releases the lock (at once, unlike closing the connection, which
    /// the server notices on its own time) and closes the connection.
    pub async fn release(mut self) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(crate::store::upkeep::SWEEP_LOCK)
            .execute(&mut self.0)
            .await
            .map_err(crate::error::postgres)?;
        self.0.close().await.map_err(crate::error::postgres)
    }
}
