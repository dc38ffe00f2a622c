//! Driver errors → [`StoreError`], one function per backend.
//!
//! Messages never carry bound parameters: a unique violation is reported by
//! the column it hit (`users.email`), not by the value.

use frontdesk_core::store::StoreError;
use sqlx::error::{DatabaseError, ErrorKind};

/// Errors that mean "the database cannot be reached", whatever the backend.
/// A protocol error is one too: the peer did not speak the database's
/// protocol, which is what a proxy (pgbouncer, HAProxy, a cloud proxy) does
/// when it accepts a connection and closes it while its backend is down
/// ("unexpected response from SSLRequest"); the request gets 503 and may be
/// retried, never a 500.
fn transport(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
    )
}

/// Maps an SQLite error. `SQLITE_BUSY`/`SQLITE_LOCKED` (after the 5 s busy
/// timeout) and `SQLITE_CANTOPEN` count as unavailable.
pub(crate) fn sqlite(e: sqlx::Error) -> StoreError {
    if transport(&e) {
        return StoreError::Unavailable(e.to_string());
    }
    let sqlx::Error::Database(db) = &e else {
        return StoreError::Internal(e.to_string());
    };
    if db.kind() == ErrorKind::UniqueViolation {
        // "UNIQUE constraint failed: users.email"
        let what = db
            .message()
            .strip_prefix("UNIQUE constraint failed: ")
            .unwrap_or("unique key");
        return StoreError::Conflict(what.to_owned());
    }
    // Extended result codes keep the primary code in the low byte.
    let primary = db
        .code()
        .and_then(|c| c.parse::<i64>().ok())
        .map(|c| c & 0xff);
    match primary {
        // SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, SQLITE_CANTOPEN
        Some(5 | 6 | 10 | 14) => StoreError::Unavailable(describe(db.as_ref())),
        _ => StoreError::Internal(describe(db.as_ref())),
    }
}

/// SQLSTATEs of one transaction's bad luck, not of an unreachable
/// database: a serialization failure (40001) and a deadlock (40P01) — the
/// transaction was rolled back and may simply be retried —, and a statement
/// cancelled by `statement_timeout` (57014: one slow statement). They are
/// answered 503 (retry later) but do not open the circuit breaker, which
/// would fail every other request for a while.
const TRANSIENT: [&str; 3] = ["40001", "40P01", "57014"];

/// Whether a PostgreSQL error means the database cannot be reached (what
/// opens the circuit breaker): the transport, connection exceptions (class
/// 08), insufficient resources (53), operator intervention (57: shutdown,
/// cannot connect now), but not [`TRANSIENT`].
pub(crate) fn postgres_unreachable(e: &sqlx::Error) -> bool {
    if transport(e) {
        return true;
    }
    let sqlx::Error::Database(db) = e else {
        return false;
    };
    let code = db.code();
    let code = code.as_deref().unwrap_or_default();
    !TRANSIENT.contains(&code) && matches!(code.get(..2), Some("08" | "53" | "57"))
}

/// Maps a PostgreSQL error. Connection exceptions (class 08), insufficient
/// resources (53), operator intervention (57: shutdown, cannot connect now)
/// and the [`TRANSIENT`] ones count as unavailable (503).
pub(crate) fn postgres(e: sqlx::Error) -> StoreError {
    if transport(&e) {
        return StoreError::Unavailable(e.to_string());
    }
    let sqlx::Error::Database(db) = &e else {
        return StoreError::Internal(e.to_string());
    };
    if db.kind() == ErrorKind::UniqueViolation {
        let what = match db.constraint() {
            Some("clients_pkey") => "clients.client_id",
            Some("users_pkey") => "users.sub",
            Some("users_username_key") => "users.username",
            Some("users_email_key") => "users.email",
            Some("signing_keys_pkey") => "signing_keys.kid",
            Some("opaque_tokens_pkey") => "opaque_tokens.token_hash",
            Some("revoked_jtis_pkey") => "revoked_jtis.jti",
            Some("sessions_pkey") => "sessions.id_hash",
            Some("sessions_sid_key") => "sessions.sid",
            Some("grants_pkey") => "grants.grant_id",
            Some("authorization_codes_pkey") => "authorization_codes.code_hash",
            Some("refresh_tokens_pkey") => "refresh_tokens.token_hash",
            Some("consents_pkey") => "consents.sub, consents.client_id",
            Some("login_failures_pkey") => "login_failures.key",
            Some("upstream_links_pkey") => "upstream_links.upstream, upstream_links.upstream_sub",
            Some("upstream_links_sub_upstream") => "upstream_links.sub, upstream_links.upstream",
            Some("user_groups_pkey") => "user_groups.name",
            Some("upstreams_pkey") => "upstreams.id",
            Some("device_codes_pkey") => "device_codes.device_code_hash",
            Some("device_codes_user_code_key") => "device_codes.user_code_hash",
            Some(other) => other,
            None => "unique key",
        };
        return StoreError::Conflict(what.to_owned());
    }
    let code = db.code();
    let code = code.as_deref().unwrap_or_default();
    if TRANSIENT.contains(&code) || matches!(code.get(..2), Some("08" | "53" | "57")) {
        StoreError::Unavailable(describe(db.as_ref()))
    } else {
        StoreError::Internal(describe(db.as_ref()))
    }
}

/// Code and message only: PostgreSQL's `detail` names the offending values.
fn describe(db: &dyn DatabaseError) -> String {
    match db.code() {
        Some(code) => format!("{code}: {}", db.message()),
        None => db.message().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// Each SQLSTATE raised by a real PostgreSQL: the answer (503 or 500)
    /// and whether it opens the circuit breaker. Skipped without
    /// FRONTDESK_TEST_POSTGRES_URL.
    #[tokio::test]
    async fn postgres_errors_map_to_answers_and_only_unreachable_ones_trip() {
        let Some(url) = crate::testing::postgres_url_from_env().await.unwrap() else {
            eprintln!("skipped: FRONTDESK_TEST_POSTGRES_URL not set");
            return;
        };
        let pool = sqlx::PgPool::connect(&url).await.unwrap();
        let cases = [
            ("40001", "serialization failure", true, false),
            ("40P01", "deadlock", true, false),
            ("57014", "statement timeout", true, false),
            ("57P01", "administrator shutdown", true, true),
            ("53300", "too many connections", true, true),
            ("08006", "connection failure", true, true),
            ("22001", "value too long", false, false),
        ];
        for (code, what, unavailable, trips) in cases {
            let sql =
                format!("DO $$ BEGIN RAISE EXCEPTION 'test' USING ERRCODE = '{code}'; END $$");
            // The codes are this table's literals, nothing from outside.
            let e = sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&pool)
                .await
                .unwrap_err();
            assert_eq!(postgres_unreachable(&e), trips, "{code} {what}");
            let mapped = postgres(e);
            assert_eq!(
                matches!(mapped, StoreError::Unavailable(_)),
                unavailable,
                "{code} {what}: {mapped:?}"
            );
            if !unavailable {
                assert!(
                    matches!(mapped, StoreError::Internal(_)),
                    "{code}: {mapped:?}"
                );
            }
        }
        pool.close().await;
    }
}
