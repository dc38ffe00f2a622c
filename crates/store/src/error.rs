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

/// Maps a PostgreSQL error. Connection exceptions (class 08), insufficient
/// resources (53), operator intervention (57: shutdown, cannot connect now)
/// count as unavailable.
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
            Some(other) => other,
            None => "unique key",
        };
        return StoreError::Conflict(what.to_owned());
    }
    let code = db.code();
    let class = code.as_deref().and_then(|c| c.get(..2));
    match class {
        Some("08" | "53" | "57") => StoreError::Unavailable(describe(db.as_ref())),
        _ => StoreError::Internal(describe(db.as_ref())),
    }
}

/// Code and message only: PostgreSQL's `detail` names the offending values.
fn describe(db: &dyn DatabaseError) -> String {
    match db.code() {
        Some(code) => format!("{code}: {}", db.message()),
        None => db.message().to_owned(),
    }
}
