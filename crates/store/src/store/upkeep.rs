//! What runs under a database-wide lock: the sweeper's rounds and the
//! signing-key writes. On PostgreSQL these are advisory locks, so that of N
//! nodes on one database one sweeps and one creates keys; on SQLite the one
//! writer (and `BEGIN IMMEDIATE` across processes) already serialises them.

use std::collections::BTreeSet;

use frontdesk_core::model::StoredKey;
use frontdesk_core::store::StoreError;
use frontdesk_core::sweep::{SweepCutoffs, Swept};
use sqlx::pool::PoolConnection;
use sqlx::postgres::Postgres;

use super::{KEY_INSERT, KEYS_ALL, KEYS_RETIRE_USE};
use crate::rows::{self, KeyRow};
use crate::{Backend, Db, error};

/// PostgreSQL advisory-lock key of the sweeper (session level: held for a
/// whole round, across its batches).
pub(crate) const SWEEP_LOCK: i64 = i64::from_be_bytes(*b"fd-sweep");
/// PostgreSQL advisory-lock key of signing-key writes (transaction level).
const KEYS_LOCK: i64 = i64::from_be_bytes(*b"fd-keys!");

// ----- the sweeper's batches: `$1` a cutoff, `$2` the batch size -----
//
// `DELETE … WHERE key IN (SELECT key … LIMIT n)` is the limited delete both
// backends accept. Each statement runs on its own (autocommit), so a batch
// is one short transaction that holds at most n row locks of one table.

const OPAQUE: &str = "DELETE FROM opaque_tokens WHERE token_hash IN \
     (SELECT token_hash FROM opaque_tokens WHERE expires_at <= $1 LIMIT $2)";
const JTIS: &str = "DELETE FROM revoked_jtis WHERE jti IN \
     (SELECT jti FROM revoked_jtis WHERE expires_at <= $1 LIMIT $2)";
const DPOP_PROOFS: &str = "DELETE FROM dpop_proofs WHERE replay_key IN \
     (SELECT replay_key FROM dpop_proofs WHERE expires_at <= $1 LIMIT $2)";
/// The codes and refresh tokens of grants past their lifetime, before the
/// grants (whose cascade would take them uncounted).
const CODES_OF_EXPIRED_GRANTS: &str = "DELETE FROM authorization_codes WHERE code_hash IN \
     (SELECT c.code_hash FROM authorization_codes c JOIN grants g ON g.grant_id = c.grant_id \
     WHERE g.expires_at <= $1 LIMIT $2)";
const REFRESH_OF_EXPIRED_GRANTS: &str = "DELETE FROM refresh_tokens WHERE token_hash IN \
     (SELECT r.token_hash FROM refresh_tokens r JOIN grants g ON g.grant_id = r.grant_id \
     WHERE g.expires_at <= $1 LIMIT $2)";
const GRANTS_EXPIRED: &str = "DELETE FROM grants WHERE grant_id IN \
     (SELECT grant_id FROM grants WHERE expires_at <= $1 LIMIT $2)";
/// Spent: `expires_at <= spent_before`, so nothing minted from them is
/// still valid. They name their grants, which may be left empty.
const CODES_SPENT: &str = "DELETE FROM authorization_codes WHERE code_hash IN \
     (SELECT code_hash FROM authorization_codes WHERE expires_at <= $1 LIMIT $2) \
     RETURNING grant_id";
const REFRESH_SPENT: &str = "DELETE FROM refresh_tokens WHERE token_hash IN \
     (SELECT token_hash FROM refresh_tokens WHERE expires_at <= $1 LIMIT $2) \
     RETURNING grant_id";
/// A grant with no code and no refresh token left: everything it issued
/// has expired (`frontdesk_core::sweep`). One row per statement, so the
/// sweeper never holds one grant's lock while waiting for another's.
const GRANT_IF_EMPTY: &str = "DELETE FROM grants WHERE grant_id = $1 \
     AND NOT EXISTS (SELECT 1 FROM authorization_codes WHERE grant_id = $1) \
     AND NOT EXISTS (SELECT 1 FROM refresh_tokens WHERE grant_id = $1)";
const SESSIONS: &str = "DELETE FROM sessions WHERE id_hash IN \
     (SELECT id_hash FROM sessions WHERE expires_at <= $1 LIMIT $2)";
const LOGIN_FAILURES: &str = "DELETE FROM login_failures WHERE key IN \
     (SELECT key FROM login_failures WHERE expires_at <= $1 LIMIT $2)";
const LINKS: &str = "DELETE FROM link_tokens WHERE token_hash IN \
     (SELECT token_hash FROM link_tokens WHERE expires_at <= $1 LIMIT $2)";
const PUSHED: &str = "DELETE FROM pushed_requests WHERE uri_hash IN \
     (SELECT uri_hash FROM pushed_requests WHERE expires_at <= $1 LIMIT $2)";
const DEVICE_CODES: &str = "DELETE FROM device_codes WHERE device_code_hash IN \
     (SELECT device_code_hash FROM device_codes WHERE expires_at <= $1 LIMIT $2)";
/// Strictly before the cutoff, as `Store::purge_audit`.
const AUDIT: &str = "DELETE FROM audit_events WHERE id IN \
     (SELECT id FROM audit_events WHERE at < $1 LIMIT $2)";

/// Exact counts, for SQLite and for small PostgreSQL tables.
const COUNTS: [(&str, &str); 12] = [
    ("opaque_tokens", "SELECT COUNT(*) FROM opaque_tokens"),
    ("revoked_jtis", "SELECT COUNT(*) FROM revoked_jtis"),
    ("dpop_proofs", "SELECT COUNT(*) FROM dpop_proofs"),
    (
        "authorization_codes",
        "SELECT COUNT(*) FROM authorization_codes",
    ),
    ("refresh_tokens", "SELECT COUNT(*) FROM refresh_tokens"),
    ("grants", "SELECT COUNT(*) FROM grants"),
    ("sessions", "SELECT COUNT(*) FROM sessions"),
    ("login_failures", "SELECT COUNT(*) FROM login_failures"),
    ("link_tokens", "SELECT COUNT(*) FROM link_tokens"),
    ("pushed_requests", "SELECT COUNT(*) FROM pushed_requests"),
    ("device_codes", "SELECT COUNT(*) FROM device_codes"),
    ("audit_events", "SELECT COUNT(*) FROM audit_events"),
];
/// PostgreSQL's estimate of a table's rows (`pg_class.reltuples`, as of
/// the last VACUUM or ANALYZE; -1 for a table never analysed).
const ESTIMATE: &str =
    "SELECT COALESCE((SELECT reltuples::BIGINT FROM pg_class WHERE oid = to_regclass($1)), -1)";
/// Below this estimate a PostgreSQL table is counted exactly (cheap), so
/// small tables read true right after a sweep; above it the estimate is
/// the figure, since `COUNT(*)` reads the whole table.
const EXACT_BELOW: i64 = 10_000;

/// One round's batches on `$ex` (an executor, evaluated anew for every
/// statement), yielding between batches. The body of an `async` block
/// returning `Result<Swept, sqlx::Error>`.
macro_rules! sweep_round {
    ($ex:expr, $at:expr, $batch:expr) => {{
        let at: &SweepCutoffs = $at;
        let batch = i64::from($batch.max(1));
        let full = u64::from($batch.max(1));
        let mut swept = Swept::default();
        // (table, statement, cutoff); the children of expired grants go
        // before the grants.
        let plain: [(&'static str, &'static str, Option<i64>); 12] = [
            ("opaque_tokens", OPAQUE, Some(at.now)),
            ("revoked_jtis", JTIS, Some(at.now)),
            ("dpop_proofs", DPOP_PROOFS, Some(at.now)),
            ("authorization_codes", CODES_OF_EXPIRED_GRANTS, Some(at.now)),
            ("refresh_tokens", REFRESH_OF_EXPIRED_GRANTS, Some(at.now)),
            ("grants", GRANTS_EXPIRED, Some(at.now)),
            ("sessions", SESSIONS, Some(at.now)),
            ("login_failures", LOGIN_FAILURES, Some(at.now)),
            ("link_tokens", LINKS, Some(at.now)),
            ("pushed_requests", PUSHED, Some(at.now)),
            // Kept a margin past expiry, so a late poll hears expired_token.
            ("device_codes", DEVICE_CODES, Some(at.spent_before)),
            ("audit_events", AUDIT, at.audit_before),
        ];
        for (table, sql, cutoff) in plain {
            let Some(cutoff) = cutoff else { continue };
            loop {
                let n = sqlx::query(sql)
                    .bind(cutoff)
                    .bind(batch)
                    .execute($ex)
                    .await?
                    .rows_affected();
                swept.batches += 1;
                if let Some(c) = swept.count_mut(table) {
                    *c += n;
                }
                if n < full {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        for (table, sql) in [
            ("authorization_codes", CODES_SPENT),
            ("refresh_tokens", REFRESH_SPENT),
        ] {
            loop {
                let named: Vec<(String,)> = sqlx::query_as(sql)
                    .bind(at.spent_before)
                    .bind(batch)
                    .fetch_all($ex)
                    .await?;
                swept.batches += 1;
                let n = named.len() as u64;
                if let Some(c) = swept.count_mut(table) {
                    *c += n;
                }
                let grants: BTreeSet<String> = named.into_iter().map(|(g,)| g).collect();
                for grant_id in grants {
                    swept.grants += sqlx::query(GRANT_IF_EMPTY)
                        .bind(&grant_id)
                        .execute($ex)
                        .await?
                        .rows_affected();
                }
                if n < full {
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        Ok::<Swept, sqlx::Error>(swept)
    }};
}

/// A pooled PostgreSQL connection that holds the sweep lock. Dropped
/// without [`Locked::release`] (an error, or the round's future cancelled
/// at shutdown), the connection is closed instead of going back to the
/// pool, and the server drops the session's lock with it.
struct Locked(Option<PoolConnection<Postgres>>);

impl Locked {
    fn conn(&mut self) -> Result<&mut PoolConnection<Postgres>, sqlx::Error> {
        self.0.as_mut().ok_or(sqlx::Error::PoolClosed)
    }

    /// Unlocks and hands the connection back to the pool. Until the
    /// unlock has succeeded the connection stays in `self`, so an error or
    /// a cancellation on the way closes it instead.
    async fn release(mut self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(SWEEP_LOCK)
            .execute(&mut **self.conn()?)
            .await?;
        drop(self.0.take());
        Ok(())
    }
}

impl Drop for Locked {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            drop(conn.detach());
        }
    }
}

pub(super) async fn sweep_expired(
    db: &Db,
    at: &SweepCutoffs,
    batch: u32,
) -> Result<Option<Swept>, StoreError> {
    match &db.backend {
        // One writer connection: rounds and requests queue for it, a batch
        // at a time; other processes on the file wait on SQLite's lock.
        Backend::Sqlite { writer, .. } => {
            let round = async { sweep_round!(writer, at, batch) };
            round.await.map(Some).map_err(error::sqlite)
        }
        Backend::Postgres(pool) => {
            let round = async {
                let mut conn = pool.acquire().await?;
                let (got,): (bool,) = sqlx::query_as("SELECT pg_try_advisory_lock($1)")
                    .bind(SWEEP_LOCK)
                    .fetch_one(&mut *conn)
                    .await?;
                if !got {
                    // Another node is sweeping: this round is theirs.
                    return Ok(None);
                }
                let mut locked = Locked(Some(conn));
                let swept = {
                    let conn = locked.conn()?;
                    sweep_round!(&mut **conn, at, batch)?
                };
                locked.release().await?;
                Ok(Some(swept))
            };
            round.await.map_err(error::postgres)
        }
    }
}

pub(super) async fn table_rows(db: &Db) -> Result<Vec<(&'static str, u64)>, StoreError> {
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    match &db.backend {
        Backend::Sqlite { reader, .. } => {
            let mut out = Vec::with_capacity(COUNTS.len());
            for (table, sql) in COUNTS {
                let (n,): (i64,) = sqlx::query_as(sql)
                    .fetch_one(reader)
                    .await
                    .map_err(error::sqlite)?;
                out.push((table, count(n)));
            }
            Ok(out)
        }
        Backend::Postgres(pool) => {
            let mut out = Vec::with_capacity(COUNTS.len());
            for (table, sql) in COUNTS {
                let (estimate,): (i64,) = sqlx::query_as(ESTIMATE)
                    .bind(table)
                    .fetch_one(pool)
                    .await
                    .map_err(error::postgres)?;
                let n = if (0..EXACT_BELOW).contains(&estimate) || estimate < 0 {
                    let (n,): (i64,) = sqlx::query_as(sql)
                        .fetch_one(pool)
                        .await
                        .map_err(error::postgres)?;
                    n
                } else {
                    estimate
                };
                out.push((table, count(n)));
            }
            Ok(out)
        }
    }
}

/// Inside a transaction `$tx` that holds the key lock: reads the keys, asks
/// `$choose`, inserts its picks. Evaluates to `Result<Result<Vec<StoredKey>,
/// StoreError>, sqlx::Error>` (the inner error: a stored row that does not
/// parse; the transaction is rolled back then).
macro_rules! add_keys {
    ($tx:ident, $choose:expr) => {{
        let read = |rows: Vec<KeyRow>| {
            rows.into_iter()
                .map(rows::key_from_row)
                .collect::<Result<Vec<StoredKey>, StoreError>>()
        };
        let rows = sqlx::query_as::<_, KeyRow>(KEYS_ALL)
            .fetch_all(&mut *$tx)
            .await?;
        match read(rows) {
            Err(e) => {
                $tx.rollback().await?;
                Ok(Err(e))
            }
            Ok(current) => {
                for key in ($choose)(&current) {
                    sqlx::query(KEYS_RETIRE_USE)
                        .bind(key.activates_at)
                        .bind(key.key_use.as_str())
                        .execute(&mut *$tx)
                        .await?;
                    sqlx::query(KEY_INSERT)
                        .bind(&key.kid)
                        .bind(&key.alg)
                        .bind(key.key_use.as_str())
                        .bind(key.encrypted_private.as_slice())
                        .bind(&key.public_jwk)
                        .bind(key.created_at)
                        .bind(key.activates_at)
                        .bind(key.retired_at)
                        .execute(&mut *$tx)
                        .await?;
                }
                let rows = sqlx::query_as::<_, KeyRow>(KEYS_ALL)
                    .fetch_all(&mut *$tx)
                    .await?;
                $tx.commit().await?;
                Ok(read(rows))
            }
        }
    }};
}

pub(super) async fn add_signing_keys_locked<F>(
    db: &Db,
    choose: F,
) -> Result<Vec<StoredKey>, StoreError>
where
    F: FnOnce(&[StoredKey]) -> Vec<StoredKey> + Send,
{
    match &db.backend {
        // BEGIN IMMEDIATE takes SQLite's write lock before the read, for
        // every process on the file.
        Backend::Sqlite { writer, .. } => {
            let done: Result<Result<Vec<StoredKey>, StoreError>, sqlx::Error> = async {
                let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
                add_keys!(tx, choose)
            }
            .await;
            done.map_err(error::sqlite)?
        }
        // Waits for another node's key transaction to end, then reads what
        // it committed (READ COMMITTED: each statement sees the latest).
        Backend::Postgres(pool) => {
            let done: Result<Result<Vec<StoredKey>, StoreError>, sqlx::Error> = async {
                let mut tx = pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(KEYS_LOCK)
                    .execute(&mut *tx)
                    .await?;
                add_keys!(tx, choose)
            }
            .await;
            done.map_err(error::postgres)?
        }
    }
}
