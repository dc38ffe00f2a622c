//! `impl Store for Db`: one match on the backend per method; the SQL text is
//! shared by both backends.

use std::future::Future;

use frontdesk_core::audit::{AuditEvent, AuditQuery};
use frontdesk_core::model::{
    AuthorizationCode, Client, ClientId, ClientSecret, Consent, DeviceAuthorization, DeviceStatus,
    Grant, Group, GroupMember, GroupSync, Issued, LinkPurpose, LinkRedemption, LinkToken,
    OpaqueToken, PasskeyRecord, PushedRequest, Redemption, RefreshToken, Rotation, Session,
    StoredKey, StoredUpstream, TotpCredential, UnixTime, UpstreamLink, UpstreamRemoval, User,
    UserClaims,
};
use frontdesk_core::store::{Found, Store, StoreError};
use frontdesk_core::sweep::{SweepCutoffs, Swept};
use sqlx::postgres::{PgPool, Postgres};
use sqlx::sqlite::{Sqlite, SqlitePool};
use sqlx::{Database, Transaction};

use crate::Db;
use crate::rows::{
    self, AuditRow, ClientSecretRow, CodeGrantRow, CodeRow, ConsentRow, DeviceRow, GrantRow,
    KeyRow, LinkRow, PasskeyRow, PushedRow, RefreshGrantRow, RefreshRow, SessionRow, TokenRow,
    TotpRow, UpstreamLinkRow, UserRow,
};

/// The thirteen values of `GRANT_INSERT`, in their order.
macro_rules! bind_grant {
    ($q:expr, $grant:expr, $audience:expr, $amr:expr, $claims:expr) => {
        $q.bind(&$grant.grant_id)
            .bind($grant.client_id.as_str())
            .bind(&$grant.sub)
            .bind(&$grant.sid)
            .bind(&$grant.scope)
            .bind($audience)
            .bind($grant.auth_time)
            .bind($amr)
            .bind($grant.created_at)
            .bind($grant.expires_at)
            .bind($grant.revoked_at)
            .bind(&$grant.idp)
            .bind($claims)
    };
}

/// Inserts a grant and its code on `$tx` (the body of
/// [`Store::put_authorization`] and of an approved device request).
macro_rules! insert_authorization {
    ($tx:expr, $grant:expr, $code:expr, $audience:expr, $amr:expr, $claims:expr) => {{
        let grant: &Grant = $grant;
        let code: &AuthorizationCode = $code;
        bind_grant!(sqlx::query(GRANT_INSERT), grant, $audience, $amr, $claims)
            .execute(&mut *$tx)
            .await?;
        sqlx::query(CODE_INSERT)
            .bind(code.code_hash.as_slice())
            .bind(&code.grant_id)
            .bind(code.client_id.as_str())
            .bind(&code.redirect_uri)
            .bind(&code.code_challenge)
            .bind(&code.nonce)
            .bind(code.created_at)
            .bind(code.expires_at)
            .bind(code.used_at)
            .bind(code.dpop_jkt.as_deref())
            .execute(&mut *$tx)
            .await?;
    }};
}

/// Runs `$body` (an `async` block body that returns `Result<_, sqlx::Error>`)
/// on the backend's read or write pool, bound to `$pool`, and maps the error
/// with that backend's mapping. The body is compiled once per backend.
macro_rules! on_backend {
    ($db:expr, read, |$pool:ident| $body:block) => {
        match &$db.backend {
            crate::Backend::Sqlite { reader: $pool, .. } => {
                let r: Result<_, sqlx::Error> = async $body.await;
                r.map_err(crate::error::sqlite)
            }
            crate::Backend::Postgres($pool) => {
                $db.guarded(async {
                    let r: Result<_, sqlx::Error> = async $body.await;
                    r
                })
                .await
            }
        }
    };
    ($db:expr, write, |$pool:ident| $body:block) => {
        match &$db.backend {
            crate::Backend::Sqlite { writer: $pool, .. } => {
                let r: Result<_, sqlx::Error> = async $body.await;
                r.map_err(crate::error::sqlite)
            }
            crate::Backend::Postgres($pool) => {
                $db.guarded(async {
                    let r: Result<_, sqlx::Error> = async $body.await;
                    r
                })
                .await
            }
        }
    };
}

/// The nine values of `USER_INSERT` and `USER_UPSERT`, in their order.
macro_rules! bind_user {
    ($q:expr, $user:expr, $email:expr, $claims:expr) => {
        $q.bind(&$user.sub)
            .bind(&$user.username)
            .bind($email)
            .bind(&$user.password_hash)
            .bind($user.disabled)
            .bind($claims)
            .bind($user.created_at)
            .bind($user.updated_at)
            .bind($user.verify_before_sign_in)
    };
}

/// The five values of the `upstream_links` inserts, in their order.
macro_rules! bind_link {
    ($q:expr, $link:expr) => {
        $q.bind(&$link.upstream)
            .bind(&$link.upstream_sub)
            .bind(&$link.sub)
            .bind($link.created_at)
            .bind($link.last_used_at)
    };
}

/// Inside a link redemption's transaction: spends the token of `$purpose`
/// (the single-use gate) and yields its `(sub, email)`, or rolls back and
/// returns what is stored under the hash, for [`refusal`].
macro_rules! spend_link {
    ($tx:ident, $hash:expr, $purpose:expr, $now:expr) => {{
        let spent = sqlx::query_as::<_, (String, String)>(LINK_SPEND)
            .bind($hash)
            .bind($purpose.as_str())
            .bind($now)
            .fetch_optional(&mut *$tx)
            .await?;
        match spent {
            Some(found) => found,
            None => {
                let row = sqlx::query_as::<_, LinkRow>(LINK_BY_HASH)
                    .bind($hash)
                    .fetch_optional(&mut *$tx)
                    .await?;
                $tx.rollback().await?;
                return Ok(LinkOutcome::Refused(row));
            }
        }
    }};
}

/// Inside a transaction: `email_verified` set in the claims JSON `$claims`
/// of `$sub`, `verify_before_sign_in` cleared.
macro_rules! mark_verified {
    ($tx:ident, $sub:expr, $claims:expr, $now:expr) => {
        sqlx::query(USER_SET_VERIFIED)
            .bind(&$sub)
            .bind(rows::claims_with_email_verified(&$claims)?)
            .bind(false)
            .bind($now)
            .execute(&mut *$tx)
            .await?;
    };
}

/// Stores a [`RefreshToken`] through `$exec` (a transaction or a pool).
macro_rules! insert_refresh {
    ($exec:expr, $token:expr) => {
        sqlx::query(REFRESH_INSERT)
            .bind($token.token_hash.as_slice())
            .bind(&$token.grant_id)
            .bind($token.client_id.as_str())
            .bind(&$token.scope)
            .bind($token.issued_at)
            .bind($token.expires_at)
            .bind($token.consumed_at)
            .bind($token.replaced_by.as_deref())
            .bind($token.dpop_jkt.as_deref())
            .execute($exec)
            .await
    };
}

/// Stores an [`OpaqueToken`] with `$sql` (`TOKEN_INSERT` or
/// `TOKEN_INSERT_ONCE`); `$audience` is its audience as JSON.
macro_rules! insert_opaque {
    ($exec:expr, $sql:expr, $token:expr, $audience:expr) => {
        sqlx::query($sql)
            .bind($token.token_hash.as_slice())
            .bind(&$token.jti)
            .bind($token.client_id.as_str())
            .bind(&$token.sub)
            .bind(&$token.scope)
            .bind($audience)
            .bind($token.issued_at)
            .bind($token.expires_at)
            .bind($token.revoked_at)
            .bind($token.dpop_jkt.as_deref())
            .execute($exec)
            .await
    };
}

/// A transaction for read-modify-write. On SQLite it is `BEGIN IMMEDIATE`,
/// which takes the write lock up front instead of failing with
/// `SQLITE_BUSY` when a deferred transaction tries to upgrade.
trait BeginWrite {
    type Db: Database;
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<Transaction<'static, Self::Db>, sqlx::Error>> + Send;
    /// Serialises the rest of `tx` with every other write transaction that
    /// takes the same `key`: SQLite's already is (one writer, `BEGIN
    /// IMMEDIATE`); PostgreSQL takes a transaction-level advisory lock on
    /// the key's hash, so a read-then-write in it sees the other's commit.
    fn lock_key<'a>(
        &'a self,
        tx: &'a mut Transaction<'static, Self::Db>,
        key: &'a str,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send + 'a;
}

impl BeginWrite for SqlitePool {
    type Db = Sqlite;
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
    async fn lock_key<'a>(
        &'a self,
        _tx: &'a mut Transaction<'static, Sqlite>,
        _key: &'a str,
    ) -> Result<(), sqlx::Error> {
        Ok(())
    }
}

impl BeginWrite for PgPool {
    type Db = Postgres;
    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.begin().await
    }
    async fn lock_key<'a>(
        &'a self,
        tx: &'a mut Transaction<'static, Postgres>,
        key: &'a str,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(key)
            .execute(&mut **tx)
            .await
            .map(|_| ())
    }
}

pub(crate) mod upkeep;

// ----- SQL, shared by both backends -----

const CLIENT_BY_ID: &str = "SELECT c.client_id, c.metadata, c.created_at, c.updated_at, \
     s.hash, s.created_at, s.expires_at \
     FROM clients c LEFT JOIN client_secrets s ON s.client_id = c.client_id \
     WHERE c.client_id = $1 ORDER BY s.id";
const CLIENTS_ALL: &str = "SELECT c.client_id, c.metadata, c.created_at, c.updated_at, \
     s.hash, s.created_at, s.expires_at \
     FROM clients c LEFT JOIN client_secrets s ON s.client_id = c.client_id \
     ORDER BY c.client_id, s.id";
/// A page of clients (`client_id > $1`, `$1 = ''` for the first), with
/// their secrets.
const CLIENTS_PAGE: &str = "SELECT c.client_id, c.metadata, c.created_at, c.updated_at, \
     s.hash, s.created_at, s.expires_at \
     FROM (SELECT client_id, metadata, created_at, updated_at FROM clients \
     WHERE client_id > $1 ORDER BY client_id LIMIT $2) c \
     LEFT JOIN client_secrets s ON s.client_id = c.client_id \
     ORDER BY c.client_id, s.id";
const CLIENT_INSERT: &str = "INSERT INTO clients (client_id, metadata, created_at, updated_at) \
     VALUES ($1, $2, $3, $4)";
const CLIENT_UPSERT: &str = "INSERT INTO clients (client_id, metadata, created_at, updated_at) \
     VALUES ($1, $2, $3, $4) \
     ON CONFLICT (client_id) DO UPDATE \
     SET metadata = excluded.metadata, updated_at = excluded.updated_at";
const CLIENT_UPDATE: &str =
    "UPDATE clients SET metadata = $2, updated_at = $3 WHERE client_id = $1";
/// Cascades to the client's secrets, grants (and so their codes and refresh
/// tokens) and consents: one statement, so one transaction.
const CLIENT_DELETE: &str = "DELETE FROM clients WHERE client_id = $1";
const CLIENT_EXISTS: &str = "SELECT client_id FROM clients WHERE client_id = $1";
const SECRET_INSERT: &str = "INSERT INTO client_secrets (client_id, hash, created_at, expires_at) \
     VALUES ($1, $2, $3, $4)";
const SECRETS_DELETE_ALL: &str = "DELETE FROM client_secrets WHERE client_id = $1";
/// A secret authenticates up to and including its `expires_at`, so it is
/// "already expired" only strictly after it.
const SECRETS_DELETE_EXPIRED: &str = "DELETE FROM client_secrets \
     WHERE client_id = $1 AND expires_at IS NOT NULL AND expires_at < $2";
const SECRETS_EXPIRE_OPEN: &str = "UPDATE client_secrets SET expires_at = $2 \
     WHERE client_id = $1 AND expires_at IS NULL";

/// The columns of a [`UserRow`]: the user's own, and whether a second factor
/// is enrolled (derived, so it can never drift from the credentials).
macro_rules! user_cols {
    () => {
        "users.sub, users.username, users.password_hash, users.disabled, users.claims, \
         users.created_at, users.updated_at, users.verify_before_sign_in, \
         EXISTS (SELECT 1 FROM totp_credentials t \
         WHERE t.sub = users.sub AND t.confirmed_at IS NOT NULL), \
         EXISTS (SELECT 1 FROM passkeys p WHERE p.sub = users.sub)"
    };
}

const USER_INSERT: &str = "INSERT INTO users \
     (sub, username, email, password_hash, disabled, claims, created_at, updated_at, \
     verify_before_sign_in) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
const USER_UPSERT: &str = concat!(
    "INSERT INTO users \
     (sub, username, email, password_hash, disabled, claims, created_at, updated_at, \
     verify_before_sign_in) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
     ON CONFLICT (username) DO UPDATE SET \
     email = excluded.email, password_hash = excluded.password_hash, \
     disabled = excluded.disabled, claims = excluded.claims, updated_at = excluded.updated_at, \
     verify_before_sign_in = excluded.verify_before_sign_in \
     RETURNING ",
    user_cols!()
);
const USER_BY_SUB: &str = concat!("SELECT ", user_cols!(), " FROM users WHERE sub = $1");
/// Username (exact) first, else the lower-cased email column.
const USER_BY_LOGIN: &str = concat!(
    "SELECT ",
    user_cols!(),
    " FROM users WHERE username = $1 OR email = $2 \
     ORDER BY CASE WHEN username = $1 THEN 0 ELSE 1 END LIMIT 1"
);
const USERS_ALL: &str = concat!("SELECT ", user_cols!(), " FROM users ORDER BY username");
/// `username > $1` (`''` for the first page): usernames are never empty.
const USERS_PAGE: &str = concat!(
    "SELECT ",
    user_cols!(),
    " FROM users WHERE username > $1 ORDER BY username LIMIT $2"
);
/// The lower-cased address and the claims, to mark the address verified.
const USER_EMAIL_CLAIMS: &str = "SELECT email, claims FROM users WHERE sub = $1";
const USER_SET_VERIFIED: &str = "UPDATE users SET claims = $2, verify_before_sign_in = $3, \
     updated_at = $4 WHERE sub = $1";
const USER_SET_PASSWORD: &str =
    "UPDATE users SET password_hash = $2, updated_at = $3 WHERE sub = $1";
const USER_SET_DISABLED: &str = "UPDATE users SET disabled = $2, updated_at = $3 WHERE sub = $1";
const USER_SET_CLAIMS: &str =
    "UPDATE users SET claims = $2, email = $3, updated_at = $4 WHERE sub = $1";
const USER_DELETE: &str = "DELETE FROM users WHERE sub = $1";

const LINK_INSERT: &str = "INSERT INTO link_tokens \
     (token_hash, purpose, sub, email, created_at, expires_at, used_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";
const LINK_BY_HASH: &str = "SELECT token_hash, purpose, sub, email, created_at, expires_at, \
     used_at FROM link_tokens WHERE token_hash = $1";
/// The single-use gate of a link ($1 hash, $2 purpose, $3 now): only one
/// caller sees the row come back, and only before `expires_at`.
const LINK_SPEND: &str = "UPDATE link_tokens SET used_at = $3 \
     WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3 \
     RETURNING sub, email";
const LINKS_SPEND_SUB: &str = "UPDATE link_tokens SET used_at = $3 \
     WHERE sub = $1 AND purpose = $2 AND used_at IS NULL";
const LINKS_DELETE_SUB: &str = "DELETE FROM link_tokens WHERE sub = $1";

const PUSHED_INSERT: &str = "INSERT INTO pushed_requests \
     (uri_hash, client_id, params, created_at, expires_at, continuation_hash, used_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";
const PUSHED_BY_HASH: &str = "SELECT uri_hash, client_id, params, created_at, expires_at, \
     continuation_hash, used_at FROM pushed_requests WHERE uri_hash = $1";
/// The first arrival ($1 hash, $2 client, $3 continuation hash, $4 new
/// expiry, $5 now): only one caller sees the row come back.
const PUSHED_OPEN: &str = "UPDATE pushed_requests SET continuation_hash = $3, expires_at = $4 \
     WHERE uri_hash = $1 AND client_id = $2 AND continuation_hash IS NULL \
     AND used_at IS NULL AND expires_at > $5 \
     RETURNING uri_hash, client_id, params, created_at, expires_at, continuation_hash, used_at";
const PUSHED_UPDATE: &str = "UPDATE pushed_requests SET params = $3 \
     WHERE uri_hash = $1 AND continuation_hash = $2 AND used_at IS NULL AND expires_at > $4";
/// The single-use gate ($1 hash, $2 continuation hash, $3 now).
const PUSHED_SPEND: &str = "UPDATE pushed_requests SET used_at = $3 \
     WHERE uri_hash = $1 AND continuation_hash = $2 AND used_at IS NULL AND expires_at > $3";

const DEVICE_BY_CODE: &str = "SELECT device_code_hash, user_code_hash, code_hash, client_id, \
     scope, audience, created_at, expires_at, interval_secs, last_poll_at, status, sub \
     FROM device_codes WHERE device_code_hash = $1";
const DEVICE_BY_USER_CODE: &str = "SELECT device_code_hash, user_code_hash, code_hash, \
     client_id, scope, audience, created_at, expires_at, interval_secs, last_poll_at, status, sub \
     FROM device_codes WHERE user_code_hash = $1";
const DEVICE_INSERT: &str = "INSERT INTO device_codes \
     (device_code_hash, user_code_hash, code_hash, client_id, scope, audience, created_at, \
     expires_at, interval_secs, last_poll_at, status, sub) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";
/// One poll ($1 hash, $2 the last poll the caller saw, $3 interval, $4
/// now): of two polls that saw the same row, one wins.
const DEVICE_POLL: &str = "UPDATE device_codes SET last_poll_at = $4, interval_secs = $3 \
     WHERE device_code_hash = $1 AND status = 'pending' AND last_poll_at IS NOT DISTINCT FROM $2";
/// The user's decision ($1 user code hash, $2 status, $3 sub, $4 now).
const DEVICE_DECIDE: &str = "UPDATE device_codes SET status = $2, sub = $3 \
     WHERE user_code_hash = $1 AND status = 'pending' AND expires_at > $4";

const KEYS_ALL: &str = "SELECT kid, alg, key_use, encrypted_private, public_jwk, \
     created_at, activates_at, retired_at FROM signing_keys ORDER BY created_at, kid";
const KEYS_RETIRE_USE: &str = "UPDATE signing_keys SET retired_at = $1 \
     WHERE key_use = $2 AND retired_at IS NULL";
const KEY_INSERT: &str = "INSERT INTO signing_keys \
     (kid, alg, key_use, encrypted_private, public_jwk, created_at, activates_at, retired_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
const KEYS_DELETE_RETIRED: &str = "DELETE FROM signing_keys WHERE retired_at < $1";

const TOKEN_INSERT: &str = "INSERT INTO opaque_tokens \
     (token_hash, jti, client_id, sub, scope, audience, issued_at, expires_at, revoked_at, \
     dpop_jkt) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
/// A refresh without rotation: the live, unconsumed token of a live grant
/// gets its new idle expiry.
const REFRESH_RENEW: &str = "UPDATE refresh_tokens SET expires_at = $2 \
     WHERE token_hash = $1 AND consumed_at IS NULL AND expires_at > $3 \
     AND grant_id IN (SELECT grant_id FROM grants WHERE revoked_at IS NULL AND expires_at > $3)";
/// For a retried grant, whose token may be stored already.
const TOKEN_INSERT_ONCE: &str = "INSERT INTO opaque_tokens \
     (token_hash, jti, client_id, sub, scope, audience, issued_at, expires_at, revoked_at, \
     dpop_jkt) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (token_hash) DO NOTHING";
const TOKEN_BY_HASH: &str = "SELECT token_hash, jti, client_id, sub, scope, audience, \
     issued_at, expires_at, revoked_at, dpop_jkt FROM opaque_tokens WHERE token_hash = $1";
/// Keeps the first revocation time when revoked twice.
const TOKEN_REVOKE: &str = "UPDATE opaque_tokens SET revoked_at = COALESCE(revoked_at, $2) \
     WHERE token_hash = $1";
/// Idempotent; a second revocation can only extend the record.
const JTI_REVOKE: &str = "INSERT INTO revoked_jtis (jti, expires_at) VALUES ($1, $2) \
     ON CONFLICT (jti) DO UPDATE SET expires_at = CASE \
     WHEN excluded.expires_at > revoked_jtis.expires_at THEN excluded.expires_at \
     ELSE revoked_jtis.expires_at END";
const JTI_EXISTS: &str = "SELECT jti FROM revoked_jtis WHERE jti = $1";
/// A proof seen before counts only while its row is unexpired (`$3` now).
const DPOP_PROOF_USE: &str = "INSERT INTO dpop_proofs (replay_key, expires_at) VALUES ($1, $2) \
     ON CONFLICT (replay_key) DO UPDATE SET expires_at = excluded.expires_at \
     WHERE dpop_proofs.expires_at <= $3";

const SESSION_INSERT: &str = "INSERT INTO sessions \
     (id_hash, sid, sub, auth_time, amr, created_at, expires_at, ended_at, user_agent, \
     client_ip, last_seen_at, idp) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";
const SESSION_BY_HASH: &str = "SELECT id_hash, sid, sub, auth_time, amr, created_at, \
     expires_at, ended_at, user_agent, client_ip, last_seen_at, idp FROM sessions WHERE id_hash = $1";
/// Step-up: the session gets the factors just proved and a new cookie
/// value (a privilege change renews the session id); its `sid` stays.
const SESSION_RAISE: &str = "UPDATE sessions SET id_hash = $2, amr = $3 \
     WHERE id_hash = $1 AND ended_at IS NULL";
const SESSION_TOUCH: &str = "UPDATE sessions SET last_seen_at = $2 WHERE sid = $1";
const SESSION_END: &str = "UPDATE sessions SET ended_at = $2 WHERE sid = $1 AND ended_at IS NULL";
const SESSIONS_END_SUB: &str =
    "UPDATE sessions SET ended_at = $2 WHERE sub = $1 AND ended_at IS NULL";
/// Live at $2: not ended and `$2 < expires_at` (as `core::session` decides).
const SESSIONS_LIVE_SUB: &str = "SELECT id_hash, sid, sub, auth_time, amr, created_at, \
     expires_at, ended_at, user_agent, client_ip, last_seen_at, idp FROM sessions \
     WHERE sub = $1 AND ended_at IS NULL AND expires_at > $2 ORDER BY created_at, sid";
/// The grants of the live sessions of $1 but sid $3 (`''` for none: a sid
/// is never empty); run before [`SESSIONS_END_SUB_EXCEPT`].
const GRANTS_REVOKE_LIVE_SESSIONS: &str = "UPDATE grants SET revoked_at = $2 \
     WHERE revoked_at IS NULL AND sid IN (SELECT sid FROM sessions \
     WHERE sub = $1 AND ended_at IS NULL AND expires_at > $2 AND sid <> $3)";
const SESSIONS_END_SUB_EXCEPT: &str = "UPDATE sessions SET ended_at = $2 \
     WHERE sub = $1 AND ended_at IS NULL AND expires_at > $2 AND sid <> $3";
const SESSIONS_DELETE_SUB: &str = "DELETE FROM sessions WHERE sub = $1";

const TOTP_BY_SUB: &str = "SELECT sub, secret_sealed, created_at, confirmed_at, last_step \
     FROM totp_credentials WHERE sub = $1";
/// A new enrolment replaces one in progress, never a confirmed credential.
const TOTP_ENROL: &str = "INSERT INTO totp_credentials \
     (sub, secret_sealed, created_at, confirmed_at, last_step) VALUES ($1, $2, $3, NULL, 0) \
     ON CONFLICT (sub) DO UPDATE SET secret_sealed = excluded.secret_sealed, \
     created_at = excluded.created_at, last_step = 0 \
     WHERE totp_credentials.confirmed_at IS NULL";
const TOTP_CONFIRM: &str = "UPDATE totp_credentials SET confirmed_at = $2, last_step = $3 \
     WHERE sub = $1 AND confirmed_at IS NULL";
/// The single-use gate of a code: only a later step than any accepted wins.
const TOTP_USE_STEP: &str = "UPDATE totp_credentials SET last_step = $2 \
     WHERE sub = $1 AND confirmed_at IS NOT NULL AND last_step < $2";
const TOTP_DELETE: &str = "DELETE FROM totp_credentials WHERE sub = $1";
const PASSKEYS_OF: &str = "SELECT credential_id, sub, user_handle, name, credential, \
     backup_eligible, created_at, last_used_at FROM passkeys WHERE sub = $1 \
     ORDER BY created_at, credential_id";
const PASSKEY_BY_ID: &str = "SELECT credential_id, sub, user_handle, name, credential, \
     backup_eligible, created_at, last_used_at FROM passkeys WHERE credential_id = $1";
/// A credential id registered already (to anyone) is not taken over.
const PASSKEY_INSERT: &str = "INSERT INTO passkeys (credential_id, sub, user_handle, name, \
     credential, backup_eligible, created_at, last_used_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, NULL) ON CONFLICT (credential_id) DO NOTHING";
const PASSKEY_USE: &str = "UPDATE passkeys SET credential = $2, last_used_at = $3 \
     WHERE credential_id = $1";
const PASSKEY_DELETE: &str = "DELETE FROM passkeys WHERE sub = $1 AND credential_id = $2";
const PASSKEYS_DELETE_SUB: &str = "DELETE FROM passkeys WHERE sub = $1";
const UPSTREAM_LINK: &str = "SELECT upstream, upstream_sub, sub, created_at, last_used_at \
     FROM upstream_links WHERE upstream = $1 AND upstream_sub = $2";
const UPSTREAM_LINKS_OF: &str = "SELECT upstream, upstream_sub, sub, created_at, last_used_at \
     FROM upstream_links WHERE sub = $1 ORDER BY created_at, upstream";
/// Never takes a link over: either unique key already taken leaves it as it is.
const UPSTREAM_LINK_INSERT: &str = "INSERT INTO upstream_links \
     (upstream, upstream_sub, sub, created_at, last_used_at) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT DO NOTHING";
const UPSTREAM_LINK_INSERT_STRICT: &str = "INSERT INTO upstream_links \
     (upstream, upstream_sub, sub, created_at, last_used_at) VALUES ($1, $2, $3, $4, $5)";
const UPSTREAM_LINK_USE: &str =
    "UPDATE upstream_links SET last_used_at = $3 WHERE upstream = $1 AND upstream_sub = $2";
const UPSTREAM_LINK_DELETE: &str = "DELETE FROM upstream_links WHERE sub = $1 AND upstream = $2";
const UPSTREAM_LINKS_DELETE_SUB: &str = "DELETE FROM upstream_links WHERE sub = $1";
const UPSTREAM_LINKS_DELETE_UPSTREAM: &str = "DELETE FROM upstream_links WHERE upstream = $1";
const STORED_UPSTREAMS: &str =
    "SELECT id, spec, secret, created_at FROM upstreams ORDER BY created_at, id";
const STORED_UPSTREAM_INSERT: &str =
    "INSERT INTO upstreams (id, spec, secret, created_at) VALUES ($1, $2, $3, $4)";
const STORED_UPSTREAM_DELETE: &str = "DELETE FROM upstreams WHERE id = $1";
const GROUP_MEMBERS_DELETE_SOURCE: &str = "DELETE FROM group_members WHERE source = $1";
const GROUP_INSERT: &str =
    "INSERT INTO user_groups (name, description, created_at) VALUES ($1, $2, $3)";
const GROUP: &str = "SELECT name, description, created_at FROM user_groups WHERE name = $1";
const GROUPS_PAGE: &str = "SELECT name, description, created_at FROM user_groups \
     WHERE name > $1 ORDER BY name LIMIT $2";
const GROUP_DELETE: &str = "DELETE FROM user_groups WHERE name = $1";
const GROUP_MEMBERS_DELETE: &str = "DELETE FROM group_members WHERE group_name = $1";
// The group and the user must exist (no foreign keys: see migration 0010).
// `source` '' is a membership made here; see migration 0010.
const GROUP_MEMBER_INSERT: &str = "INSERT INTO group_members (group_name, sub, source, added_at) \
     SELECT $1, $2, $4, $3 WHERE EXISTS (SELECT 1 FROM user_groups WHERE name = $1) \
     AND EXISTS (SELECT 1 FROM users WHERE sub = $2) \
     ON CONFLICT (group_name, sub, source) DO NOTHING";
const GROUP_MEMBER_DELETE: &str = "DELETE FROM group_members WHERE group_name = $1 AND sub = $2";
const GROUP_MEMBER_DELETE_SOURCE: &str =
    "DELETE FROM group_members WHERE group_name = $1 AND sub = $2 AND source = $3";
const GROUP_INSERT_IF_MISSING: &str = "INSERT INTO user_groups (name, description, created_at) \
     VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING";
const GROUPS_OF_SOURCE: &str =
    "SELECT group_name FROM group_members WHERE sub = $1 AND source = $2 ORDER BY group_name";
const GROUP_MEMBERS_PAGE: &str = "SELECT m.sub, u.username, MIN(m.added_at) FROM group_members m \
     JOIN users u ON u.sub = m.sub JOIN user_groups g ON g.name = m.group_name \
     WHERE m.group_name = $1 AND u.username > $2 \
     GROUP BY m.sub, u.username ORDER BY u.username LIMIT $3";
const GROUPS_OF: &str = "SELECT DISTINCT m.group_name FROM group_members m \
     JOIN user_groups g ON g.name = m.group_name WHERE m.sub = $1 ORDER BY m.group_name";
const GROUP_MEMBERS_DELETE_SUB: &str = "DELETE FROM group_members WHERE sub = $1";
const RECOVERY_INSERT: &str =
    "INSERT INTO recovery_codes (sub, code_hash, created_at, used_at) VALUES ($1, $2, $3, NULL)";
const RECOVERY_DELETE_SUB: &str = "DELETE FROM recovery_codes WHERE sub = $1";
const RECOVERY_USE: &str = "UPDATE recovery_codes SET used_at = $3 \
     WHERE sub = $1 AND code_hash = $2 AND used_at IS NULL";
const RECOVERY_LEFT: &str =
    "SELECT COUNT(*) FROM recovery_codes WHERE sub = $1 AND used_at IS NULL";

const GRANT_INSERT: &str = "INSERT INTO grants \
     (grant_id, client_id, sub, sid, scope, audience, auth_time, amr, created_at, expires_at, \
     revoked_at, idp, claims) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";
const GRANT_BY_ID: &str = "SELECT grant_id, client_id, sub, sid, scope, audience, auth_time, \
     amr, created_at, expires_at, revoked_at, idp, claims FROM grants WHERE grant_id = $1";
/// Keeps the first revocation time; matches (and so reports) revoked grants too.
const GRANT_REVOKE: &str = "UPDATE grants SET revoked_at = COALESCE(revoked_at, $2) \
     WHERE grant_id = $1";
const GRANTS_REVOKE_SID: &str =
    "UPDATE grants SET revoked_at = $2 WHERE sid = $1 AND revoked_at IS NULL";
const GRANTS_REVOKE_SUB: &str =
    "UPDATE grants SET revoked_at = $2 WHERE sub = $1 AND revoked_at IS NULL";
/// Cascades to the grants' codes and refresh tokens.
const GRANTS_DELETE_SUB: &str = "DELETE FROM grants WHERE sub = $1";

const CODE_INSERT: &str = "INSERT INTO authorization_codes \
     (code_hash, grant_id, client_id, redirect_uri, code_challenge, nonce, created_at, \
     expires_at, used_at, dpop_jkt) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
/// The single-use gate: only one caller sees the row come back.
const CODE_REDEEM: &str = "UPDATE authorization_codes SET used_at = $2 \
     WHERE code_hash = $1 AND used_at IS NULL \
     RETURNING code_hash, grant_id, client_id, redirect_uri, code_challenge, nonce, \
     created_at, expires_at, used_at, dpop_jkt";
/// A code and its grant, in the column order of [`CodeGrantRow`].
const CODE_WITH_GRANT: &str = "SELECT c.code_hash, c.grant_id, c.client_id, c.redirect_uri, \
     c.code_challenge, c.nonce, c.created_at, c.expires_at, c.used_at, c.dpop_jkt, \
     g.grant_id, g.client_id, g.sub, g.sid, g.scope, g.audience, g.auth_time, g.amr, \
     g.created_at, g.expires_at, g.revoked_at, g.idp, g.claims \
     FROM authorization_codes c JOIN grants g ON g.grant_id = c.grant_id \
     WHERE c.code_hash = $1";
const CODE_BY_HASH: &str = "SELECT code_hash, grant_id, client_id, redirect_uri, \
     code_challenge, nonce, created_at, expires_at, used_at, dpop_jkt \
     FROM authorization_codes WHERE code_hash = $1";

const REFRESH_INSERT: &str = "INSERT INTO refresh_tokens \
     (token_hash, grant_id, client_id, scope, issued_at, expires_at, consumed_at, replaced_by, \
     dpop_jkt) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
const REFRESH_WITH_GRANT: &str = "SELECT r.token_hash, r.grant_id, r.client_id, r.scope, \
     r.issued_at, r.expires_at, r.consumed_at, r.replaced_by, r.dpop_jkt, \
     g.grant_id, g.client_id, g.sub, g.sid, g.scope, g.audience, g.auth_time, g.amr, \
     g.created_at, g.expires_at, g.revoked_at, g.idp, g.claims \
     FROM refresh_tokens r JOIN grants g ON g.grant_id = r.grant_id \
     WHERE r.token_hash = $1";
/// The single-use gate of rotation: only one caller sees the row come back.
const REFRESH_CONSUME: &str = "UPDATE refresh_tokens SET consumed_at = $2, replaced_by = $3 \
     WHERE token_hash = $1 AND consumed_at IS NULL \
     RETURNING token_hash, grant_id, client_id, scope, issued_at, expires_at, consumed_at, \
     replaced_by, dpop_jkt";

const CONSENT_BY_KEY: &str = "SELECT sub, client_id, scope, granted_at FROM consents \
     WHERE sub = $1 AND client_id = $2";
const CONSENTS_BY_SUB: &str = "SELECT sub, client_id, scope, granted_at FROM consents \
     WHERE sub = $1 ORDER BY client_id";
const CONSENT_UPSERT: &str = "INSERT INTO consents (sub, client_id, scope, granted_at) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (sub, client_id) DO UPDATE \
     SET scope = excluded.scope, granted_at = excluded.granted_at";
const CONSENT_DELETE: &str = "DELETE FROM consents WHERE sub = $1 AND client_id = $2";
const GRANTS_REVOKE_SUB_CLIENT: &str = "UPDATE grants SET revoked_at = $3 \
     WHERE sub = $1 AND client_id = $2 AND revoked_at IS NULL";
const CONSENTS_DELETE_SUB: &str = "DELETE FROM consents WHERE sub = $1";

/// $1 key, $2 now, $3 window length. One statement, so N concurrent calls
/// count N. A window that ended (`window_start + window <= now`) restarts at
/// 1; `expires_at` is where the current window ends, for the purge.
const LOGIN_FAILURE_NOTE: &str = "INSERT INTO login_failures \
     (key, count, window_start, expires_at) VALUES ($1, 1, $2, $2 + $3) \
     ON CONFLICT (key) DO UPDATE SET \
     count = CASE WHEN login_failures.window_start + $3 <= $2 THEN 1 \
     ELSE login_failures.count + 1 END, \
     window_start = CASE WHEN login_failures.window_start + $3 <= $2 THEN $2 \
     ELSE login_failures.window_start END, \
     expires_at = CASE WHEN login_failures.window_start + $3 <= $2 THEN $2 + $3 \
     ELSE login_failures.window_start + $3 END \
     RETURNING count";
const LOGIN_FAILURE_GET: &str = "SELECT count, window_start FROM login_failures WHERE key = $1";
const LOGIN_FAILURE_CLEAR: &str = "DELETE FROM login_failures WHERE key = $1";
const LOGIN_FAILURE_FORGIVE: &str =
    "UPDATE login_failures SET count = count - 1 WHERE key = $1 AND count > 0";

const AUDIT_INSERT: &str = "INSERT INTO audit_events \
     (id, at, kind, outcome, request_id, actor, subject, client_id, peer, detail) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
const AUDIT_SELECT: &str = "SELECT id, at, kind, outcome, request_id, actor, subject, \
     client_id, peer, detail FROM audit_events WHERE TRUE";
const AUDIT_PURGE: &str = "DELETE FROM audit_events WHERE at < $1";

/// A value bound to a query built at run time.
enum Bind {
    Int(i64),
    Text(String),
}

/// The SQL and binds of [`Store::audit_events`]: fixed fragments only, one
/// `$n` per value, so nothing from the query reaches the SQL text.
fn audit_sql(q: &AuditQuery) -> (String, Vec<Bind>) {
    let mut sql = String::from(AUDIT_SELECT);
    let mut binds = Vec::new();
    let mut push = |sql: &mut String, fragment: &str, values: Vec<Bind>| {
        let mut fragment = fragment.to_owned();
        for (i, v) in values.into_iter().enumerate() {
            binds.push(v);
            fragment = fragment.replace(&format!("?{i}"), &format!("${}", binds.len()));
        }
        sql.push_str(fragment.as_str());
    };
    if let Some(k) = &q.kind {
        let (lo, hi) = k.below();
        push(
            &mut sql,
            " AND (kind = ?0 OR (kind >= ?1 AND kind < ?2))",
            vec![
                Bind::Text(k.exact().to_owned()),
                Bind::Text(lo),
                Bind::Text(hi),
            ],
        );
    }
    for (column, value) in [
        ("subject", &q.subject),
        ("client_id", &q.client_id),
        ("actor", &q.actor),
    ] {
        if let Some(v) = value {
            push(
                &mut sql,
                &format!(" AND {column} = ?0"),
                vec![Bind::Text(v.clone())],
            );
        }
    }
    if let Some(t) = q.since {
        push(&mut sql, " AND at >= ?0", vec![Bind::Int(t)]);
    }
    if let Some(t) = q.until {
        push(&mut sql, " AND at < ?0", vec![Bind::Int(t)]);
    }
    if let Some((at, id)) = &q.after {
        push(
            &mut sql,
            " AND (at > ?0 OR (at = ?1 AND id > ?2))",
            vec![Bind::Int(*at), Bind::Int(*at), Bind::Text(id.clone())],
        );
    }
    push(
        &mut sql,
        " ORDER BY at, id LIMIT ?0",
        vec![Bind::Int(i64::from(q.limit))],
    );
    (sql, binds)
}

/// What [`Store::redeem_code`] decided, before decoding.
enum RedeemOutcome {
    Redeemed(Box<(CodeRow, GrantRow)>),
    Retried(Box<(CodeRow, GrantRow)>),
    AlreadyUsed(String),
    Unknown,
}

/// What spending a link decided, before decoding.
enum LinkOutcome {
    Done(UserRow),
    AddressChanged,
    /// The token did not win: what is stored under its hash, if anything.
    Refused(Option<LinkRow>),
}

/// Why a link token did not win its conditional update.
fn refusal(row: Option<LinkRow>, purpose: LinkPurpose) -> LinkRedemption {
    match row {
        Some((_, p, _, _, _, _, used_at)) if p == purpose.as_str() => {
            if used_at.is_some() {
                LinkRedemption::AlreadyUsed
            } else {
                // Unspent, so the update failed on `expires_at > now`.
                LinkRedemption::Expired
            }
        }
        _ => LinkRedemption::Unknown,
    }
}

fn link_redemption(
    outcome: LinkOutcome,
    purpose: LinkPurpose,
) -> Result<LinkRedemption, StoreError> {
    Ok(match outcome {
        LinkOutcome::Done(row) => LinkRedemption::Done(Box::new(rows::user_from_row(row)?)),
        LinkOutcome::AddressChanged => LinkRedemption::AddressChanged,
        LinkOutcome::Refused(row) => refusal(row, purpose),
    })
}

/// What [`Store::rotate_refresh`] decided, before decoding.
enum RotateOutcome {
    Rotated(RefreshRow, GrantRow),
    Retried(RefreshGrantRow),
    Reused(String),
    Unknown,
}

/// A stored count as the trait's `u32` (saturating; counts never go negative).
/// Whether a second spend at `now` of what was spent at `spent_at` is a
/// retry inside a window of `grace` seconds: strictly less than `grace`
/// after it, and never with a grace of 0 (off) — not even a spend whose
/// clock read before the first one's (`now < spent_at`: concurrent
/// requests, or nodes a second apart), which a bare `now − spent_at <
/// grace` would let through as a retry.
fn within_grace(spent_at: Option<UnixTime>, now: UnixTime, grace: i64) -> bool {
    grace > 0 && spent_at.is_some_and(|at| now.saturating_sub(at) < grace)
}

fn group_from_row((name, description, created_at): (String, String, i64)) -> Group {
    Group {
        name,
        description,
        created_at,
    }
}

fn upstream_link_from_row(row: UpstreamLinkRow) -> UpstreamLink {
    let (upstream, upstream_sub, sub, created_at, last_used_at) = row;
    UpstreamLink {
        upstream,
        upstream_sub,
        sub,
        created_at,
        last_used_at,
    }
}

fn passkey_from_row(row: PasskeyRow) -> PasskeyRecord {
    let (
        credential_id,
        sub,
        user_handle,
        name,
        credential,
        backup_eligible,
        created_at,
        last_used_at,
    ) = row;
    PasskeyRecord {
        credential_id,
        sub,
        user_handle,
        name,
        credential,
        backup_eligible,
        created_at,
        last_used_at,
    }
}

fn failure_count(count: i64) -> u32 {
    u32::try_from(count.max(0)).unwrap_or(u32::MAX)
}

impl Store for Db {
    async fn ping(&self) -> Result<(), StoreError> {
        on_backend!(self, read, |pool| {
            sqlx::query("SELECT 1").execute(pool).await.map(|_| ())
        })
    }

    // ----- clients -----

    async fn client(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        if let Some(hit) = self.clients.get(id) {
            return Ok(Some(hit));
        }
        self.client_refreshed(id).await
    }

    fn remembered_client(&self, id: &ClientId) -> Option<Client> {
        self.clients.get_any(id)
    }

    async fn client_refreshed(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        self.clients.forget(id);
        let rows = on_backend!(self, read, |pool| {
            sqlx::query_as::<_, ClientSecretRow>(CLIENT_BY_ID)
                .bind(id.as_str())
                .fetch_all(pool)
                .await
        })?;
        let found = rows::clients_from_rows(rows)?.into_iter().next();
        match &found {
            Some(c) => self.clients.put(c),
            None => self.clients.remove(id),
        }
        Ok(found)
    }

    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        let rows = on_backend!(self, read, |pool| {
            sqlx::query_as::<_, ClientSecretRow>(CLIENTS_ALL)
                .fetch_all(pool)
                .await
        })?;
        rows::clients_from_rows(rows)
    }

    async fn clients_page(
        &self,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Client>, StoreError> {
        let rows = on_backend!(self, read, |pool| {
            sqlx::query_as::<_, ClientSecretRow>(CLIENTS_PAGE)
                .bind(after.unwrap_or_default())
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
        })?;
        rows::clients_from_rows(rows)
    }

    async fn create_client(&self, client: &Client) -> Result<(), StoreError> {
        let metadata = rows::client_metadata(client)?;
        on_backend!(self, write, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(CLIENT_INSERT)
                .bind(client.client_id.as_str())
                .bind(&metadata)
                .bind(client.created_at)
                .bind(client.updated_at)
                .execute(&mut *tx)
                .await?;
            for secret in &client.secrets {
                sqlx::query(SECRET_INSERT)
                    .bind(client.client_id.as_str())
                    .bind(secret.hash.as_slice())
                    .bind(secret.created_at)
                    .bind(secret.expires_at)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        })
    }

    async fn update_client(&self, client: &Client) -> Result<Found, StoreError> {
        self.clients.forget(&client.client_id);
        let metadata = rows::client_metadata(client)?;
        let done = on_backend!(self, write, |pool| {
            let done = sqlx::query(CLIENT_UPDATE)
                .bind(client.client_id.as_str())
                .bind(&metadata)
                .bind(client.updated_at)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })?;
        if done {
            self.announce(crate::changes::Change::Client(&client.client_id))
                .await;
        }
        Ok(done)
    }

    async fn upsert_client(&self, client: &Client) -> Result<(), StoreError> {
        self.clients.forget(&client.client_id);
        let metadata = rows::client_metadata(client)?;
        on_backend!(self, write, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(CLIENT_UPSERT)
                .bind(client.client_id.as_str())
                .bind(&metadata)
                .bind(client.created_at)
                .bind(client.updated_at)
                .execute(&mut *tx)
                .await?;
            sqlx::query(SECRETS_DELETE_ALL)
                .bind(client.client_id.as_str())
                .execute(&mut *tx)
                .await?;
            for secret in &client.secrets {
                sqlx::query(SECRET_INSERT)
                    .bind(client.client_id.as_str())
                    .bind(secret.hash.as_slice())
                    .bind(secret.created_at)
                    .bind(secret.expires_at)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        })?;
        self.announce(crate::changes::Change::Client(&client.client_id))
            .await;
        Ok(())
    }

    async fn delete_client(&self, id: &ClientId) -> Result<Found, StoreError> {
        self.clients.remove(id);
        let done = on_backend!(self, write, |pool| {
            let done = sqlx::query(CLIENT_DELETE)
                .bind(id.as_str())
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })?;
        if done {
            self.announce(crate::changes::Change::Client(id)).await;
        }
        Ok(done)
    }

    async fn rotate_client_secret(
        &self,
        id: &ClientId,
        new: &ClientSecret,
        previous_valid_until: UnixTime,
        now: UnixTime,
    ) -> Result<Found, StoreError> {
        self.clients.forget(id);
        let done = on_backend!(self, write, |pool| {
            let mut tx = pool.begin_write().await?;
            let exists = sqlx::query(CLIENT_EXISTS)
                .bind(id.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            if !exists {
                tx.rollback().await?;
                return Ok(false);
            }
            sqlx::query(SECRETS_DELETE_EXPIRED)
                .bind(id.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(SECRETS_EXPIRE_OPEN)
                .bind(id.as_str())
                .bind(previous_valid_until)
                .execute(&mut *tx)
                .await?;
            sqlx::query(SECRET_INSERT)
                .bind(id.as_str())
                .bind(new.hash.as_slice())
                .bind(new.created_at)
                .bind(new.expires_at)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })?;
        if done {
            self.announce(crate::changes::Change::Client(id)).await;
        }
        Ok(done)
    }

    // ----- users -----

    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        let claims = rows::claims_json(&user.claims)?;
        let email = rows::email_key(&user.claims);
        on_backend!(self, write, |pool| {
            bind_user!(sqlx::query(USER_INSERT), user, &email, &claims)
                .execute(pool)
                .await
                .map(|_| ())
        })
    }

    async fn upsert_user(&self, user: &User) -> Result<User, StoreError> {
        let claims = rows::claims_json(&user.claims)?;
        let email = rows::email_key(&user.claims);
        let upsert = async || {
            on_backend!(self, write, |pool| {
                bind_user!(
                    sqlx::query_as::<_, UserRow>(USER_UPSERT),
                    user,
                    &email,
                    &claims
                )
                .fetch_one(pool)
                .await
            })
        };
        // Two nodes applying the same `[[users]]` at once: PostgreSQL may
        // find the other's uncommitted row through another unique index
        // (`sub`, `email`) first, wait for it, and then report that key —
        // not the username, the arbiter of ON CONFLICT — as taken. Once
        // that row is committed the same upsert updates it; a real conflict
        // (the address or `sub` is another user's) is reported again.
        let row = match upsert().await {
            Err(StoreError::Conflict(_)) => upsert().await?,
            other => other?,
        };
        rows::user_from_row(row)
    }

    async fn user(&self, sub: &str) -> Result<Option<User>, StoreError> {
        let row = on_backend!(self, read, |pool| {
            sqlx::query_as::<_, UserRow>(USER_BY_SUB)
                .bind(sub)
                .fetch_optional(pool)
                .await
        })?;
        row.map(rows::user_from_row).transpose()
    }

    async fn user_by_login(&self, login: &str) -> Result<Option<User>, StoreError> {
        let email = login.to_lowercase();
        let row = on_backend!(self, read, |pool| {
            sqlx::query_as::<_, UserRow>(USER_BY_LOGIN)
                .bind(login)
                .bind(&email)
                .fetch_optional(pool)
                .await
        })?;
        row.map(rows::user_from_row).transpose()
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        let rows = on_backend!(self, read, |pool| {
            sqlx::query_as::<_, UserRow>(USERS_ALL)
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter().map(rows::user_from_row).collect()
    }

    async fn users_page(&self, after: Option<&str>, limit: u32) -> Result<Vec<User>, StoreError> {
        let rows = on_backend!(self, read, |pool| {
            sqlx::query_as::<_, UserRow>(USERS_PAGE)
                .bind(after.unwrap_or_default())
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter().map(rows::user_from_row).collect()
    }

    async fn set_user_password(
        &self,
        sub: &str,
        password_hash: &str,
        now: UnixTime,
    ) -> Result<Found, StoreError> {
        on_backend!(self, write, |pool| {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query(USER_SET_PASSWORD)
                .bind(sub)
                .bind(password_hash)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            sqlx::query(SESSIONS_END_SUB)
                .bind(sub)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(GRANTS_REVOKE_SUB)
                .bind(sub)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    async fn set_user_disabled(
        &self,
        sub: &str,
        disabled: bool,
        now: UnixTime,
    ) -> Result<Found, StoreError> {
        on_backend!(self, write, |pool| {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query(USER_SET_DISABLED)
                .bind(sub)
                .bind(disabled)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            if disabled {
                sqlx::query(SESSIONS_END_SUB)
                    .bind(sub)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(GRANTS_REVOKE_SUB)
                    .bind(sub)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    async fn update_user_claims(
        &self,
        sub: &str,
        claims: &UserClaims,
        now: UnixTime,
    ) -> Result<Found, StoreError> {
        let email = rows::email_key(claims);
        let claims = rows::claims_json(claims)?;
        on_backend!(self, write, |pool| {
            let done = sqlx::query(USER_SET_CLAIMS)
                .bind(sub)
                .bind(&claims)
                .bind(&email)
                .bind(now)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    async fn delete_user(&self, sub: &str) -> Result<Found, StoreError> {
        on_backend!(self, write, |pool| {
            let mut tx = pool.begin_write().await?;
            // Also when the user row is already gone: nothing may outlive it.
            for dependent in [
                GRANTS_DELETE_SUB,
                SESSIONS_DELETE_SUB,
                CONSENTS_DELETE_SUB,
                TOTP_DELETE,
                RECOVERY_DELETE_SUB,
                PASSKEYS_DELETE_SUB,
                LINKS_DELETE_SUB,
                UPSTREAM_LINKS_DELETE_SUB,
                GROUP_MEMBERS_DELETE_SUB,
            ] {
                sqlx::query(dependent).bind(sub).execute(&mut *tx).await?;
            }
            let done = sqlx::query(USER_DELETE).bind(sub).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(done.rows_affected() > 0)
        })
    }

    // ----- signing keys -----

    async fn signing_keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        let rows = on_backend!(self, read, |pool| {
            sqlx::query_as::<_, KeyRow>(KEYS_ALL).fetch_all(pool).await
        })?;
        rows.into_iter().map(rows::key_from_row).collect()
    }

    async fn put_signing_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        // Through the trait method, which announces the change.
        Store::add_signing_keys_locked(self, |_| vec![key.clone()])
            .await
            .map(|_| ())
    }

    async fn add_signing_keys_locked<F>(&self, choose: F) -> Result<Vec<StoredKey>, StoreError>
    where
        F: FnOnce(&[StoredKey]) -> Vec<StoredKey> + Send,
    {
        let added = upkeep::add_signing_keys_locked(self, choose).await?;
        if !added.is_empty() {
            self.announce(crate::changes::Change::Keys).await;
        }
        Ok(added)
    }

    async fn delete_keys_retired_before(&self, cutoff: UnixTime) -> Result<u64, StoreError> {
        let done = on_backend!(self, write, |pool| {
            let done = sqlx::query(KEYS_DELETE_RETIRED)
                .bind(cutoff)
                .execute(pool)
                .await?;
            Ok(done.rows_affected())
        })?;
        if done > 0 {
            self.announce(crate::changes::Change::Keys).await;
        }
        Ok(done)
    }

    // ----- tokens -----

    async fn put_opaque_token(&self, token: &OpaqueToken) -> Result<(), StoreError> {
        let audience = rows::audience_json(&token.audience)?;
        on_backend!(self, write, |pool| {
            insert_opaque!(pool, TOKEN_INSERT, token, &audience).map(|_| ())
        })
    }

    async fn opaque_token(&self, token_hash: &[u8]) -> Result<Option<OpaqueToken>, StoreError> {
        let row = on_backend!(self, read, |pool| {
            sqlx::query_as::<_, TokenRow>(TOKEN_BY_HASH)
                .bind(token_hash)
                .fetch_optional(pool)
                .await
        })?;
        row.map(rows::token_from_row).transpose()
    }

    async fn revoke_opaque_token(
        &self,
        token_hash: &[u8],
        now: UnixTime,
    ) -> Result<Found, StoreError> {
        on_backend!(self, write, |pool| {
            let done = sqlx::query(TOKEN_REVOKE)
                .bind(token_hash)
                .bind(now)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    async fn revoke_jti(&self, jti: &str, expires_at: UnixTime) -> Result<(), StoreError> {
        on_backend!(self, write, |pool| {
            sqlx::query(JTI_REVOKE)
                .bind(jti)
                .bind(expires_at)
                .execute(pool)
                .await
                .map(|_| ())
        })
    }

    async fn is_jti_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        on_backend!(self, read, |pool| {
            let row = sqlx::query(JTI_EXISTS)
                .bind(jti)
                .fetch_optional(pool)
                .await?;
            Ok(row.is_some())
        })
    }

    async fn use_once(
        &self,
        replay_key: &[u8],
        expires_at: UnixTime,
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        on_backend!(self, write, |pool| {
            sqlx::query(DPOP_PROOF_USE)
                .bind(replay_key)
                .bind(expires_at)
                .bind(now)
                .execute(pool)
                .await
                .map(|r| r.rows_affected() == 1)
        })
    }

    async fn sweep_expired(
        &self,
        at: &SweepCutoffs,
        batch: u32,
    ) -> Result<Option<Swept>, StoreError> {
        upkeep::sweep_expired(self, at, batch).await
    }

    async fn table_rows(&self) -> Result<Vec<(&'static str, u64)>, StoreError> {
        upkeep::table_rows(self).await
    }

    // ----- SSO sessions -----

    async fn put_session(&self, session: &Session) -> Result<(), StoreError> {
        let amr = rows::strings_json("session amr", &session.amr)?;
        on_backend!(self, write, |pool| {
            sqlx::query(SESSION_INSERT)
                .bind(session.id_hash.as_slice())
                .bind(&session.sid)
                .bind(&session.sub)
                .bind(session.auth_time)
                .bind(&amr)
                .bind(session.created_at)
                .bind(session.expires_at)
                .bind(session.ended_at)
                .bind(&session.user_agent)
                .bind(&session.client_ip)
                .bind(session.last_seen_at)
                .bind(&session.idp)
                .execute(pool)
                .await
                .map(|_| ())
        })
    }

    async fn session(&self, id_hash: &[u8]) -> Result<Option<Session>, StoreError> {
        let row = on_backend!(self, read, |pool| {
            sqlx::query_as::<_, SessionRow>(SESSION_BY_HASH)
                .bind(id_hash)
                .fetch_optional(pool)
                .await
        })?;
        row.map(rows::session_from_row).transpose()
    }

    async fn end_session(&self, sid: &str, now: UnixTime) -> Result<Found, StoreError> {
        on_backend!(self, write, |pool| {
            let mut tx = pool.begin_write().await?;
            let ended = sqlx::query(SESSION_END)
                .bind(sid)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                > 0;
            // Even when the session had already ended: no grant of an ended
            // session stays live.
            sqlx::query(GRANTS_REVOKE_SID)
                .bind(sid)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(ended)
        })
    }

    async fn list_sessions(&self, sub: &str, now: UnixTime) -> Result<Vec<Session>, StoreError> {
        let rows = on_backend!(self, read, |pool| {
            sqlx::query_as::<_, SessionRow>(SESSIONS_LIVE_SUB)
                .bind(sub)
                .bind(now)
                .fetch_all(pool)
                .await
        })?;
        rows.into_iter().map(rows::session_from_row).collect()
    }

    async fn end_sessions_of(
        &self,
        sub: &str,
        now: UnixTime,
        except_sid: Option<&str>,
    ) -> Result<u64, StoreError> {
        let except = except_sid.unwrap_or_default();
        on_backend!(self, write, |pool| {
            let mut tx = pool.begin_write().await?;
            // Grants first: they are found through the sessions still live.
            sqlx::query(GRANTS_REVOKE_LIVE_SESSIONS)
                .bind(sub)
                .bind(now)
                .bind(except)
                .execute(&mut *tx)
                .await?;
            let ended = sqlx::query(SESSIONS_END_SUB_EXCEPT)
                .bind(sub)
                .bind(now)
                .bind(except)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            Ok(ended)
        })
    }

    // ----- authorization codes and grants -----

    async fn put_grant(&self, grant: &Grant) -> Result<(), StoreError> {
        let audience = rows::strings_json("grant audience", &grant.audience)?;
        let amr = rows::strings_json("grant amr", &grant.amr)?;
        let claims = rows::grant_claims_json(grant)?;
        on_backend!(self, write, |pool| {
            bind_grant!(sqlx::query(GRANT_INSERT), grant, &audience, &amr, &claims)
                .execute(pool)
                .await
                .map(|_| ())
        })
    }

    async fn put_authorization(
        &self,
        grant: &Grant,
        code: &AuthorizationCode,
    ) -> Result<(), StoreError> {
        let audience = rows::strings_json("grant audience", &grant.audience)?;
        let amr = rows::strings_json("grant amr", &grant.amr)?;
        let claims = rows::grant_claims_json(grant)?;
        on_backend!(self, write, |pool| {
            let mut tx = pool.begin_write().await?;
            insert_authorization!(tx, grant, code, &audience, &amr, &claims);
            tx.commit().await
        })
    }

    async fn code(
        &self,
        code_hash: &[u8],
    ) -> Result<Option<(AuthorizationCode, Grant)>, StoreError> {
        // One statement: on the token endpoint's path every round trip counts.
        let found = on_backend!(self, read, |pool| {
            sqlx::query_as::<_, CodeGrantRow>(CODE_WITH_GRANT)
                .bind(code_hash)
                .fetch_optional(pool)
                .await
        })?;
        found
            .map(|CodeGrantRow(code, grant)| {
                Ok((rows::code_from_row(code), rows::grant_from_row(grant)?))
            })
            .transpose()
    }

    async fn redeem_code(
        &self,
        code_hash: &[u8],
        now: UnixTime,
        issued: &Issued,
        retry_grace: Option<i64>,
    ) -> Result<Redemption, StoreError> {
        let audience = issued
            .opaque
            .as_ref()
            .map(|t| rows::audience_json(&t.audience))
            .transpose()?;
        let outcome = on_backend!(self, write, |pool| {
            let mut tx = pool.begin_write().await?;
            let redeemed = sqlx::query_as::<_, CodeRow>(CODE_REDEEM)
                .bind(code_hash)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
            let outcome = if let Some(code) = redeemed {
                let grant = sqlx::query_as::<_, GrantRow>(GRANT_BY_ID)
                    .bind(&code.1)
                    .fetch_one(&mut *tx)
                    .await?;
                if let Some(refresh) = &issued.refresh {
                    insert_refresh!(&mut *tx, refresh)?;
                }
                if let (Some(token), Some(audience)) = (&issued.opaque, &audience) {
                    insert_opaque!(&mut *tx, TOKEN_INSERT, token, audience)?;
                }
                RedeemOutcome::Redeemed(Box::new((code, grant)))
            } else if let Some(code) = sqlx::query_as::<_, CodeRow>(CODE_BY_HASH)
                .bind(code_hash)
                .fetch_optional(&mut *tx)
                .await?
            {
                // Strict on whole seconds, like the refresh grace window: a
                // grace of 0 accepts no retry at all — also not one whose
                // clock read a second before the winner's (`now < used_at`).
                let retry = retry_grace.is_some_and(|grace| within_grace(code.8, now, grace));
                if retry {
                    let grant = sqlx::query_as::<_, GrantRow>(GRANT_BY_ID)
                        .bind(&code.1)
                        .fetch_one(&mut *tx)
                        .await?;
                    RedeemOutcome::Retried(Box::new((code, grant)))
                } else {
                    // Replay: RFC 6749 §4.1.2 asks to revoke what the code issued.
                    sqlx::query(GRANT_REVOKE)
                        .bind(&code.1)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    RedeemOutcome::AlreadyUsed(code.1)
                }
            } else {
                RedeemOutcome::Unknown
            };
            tx.commit().await?;
            Ok(outcome)
        })?;
        Ok(match outcome {
            RedeemOutcome::Redeemed(found) => {
                let (code, grant) = *found;
                Redemption::Redeemed {
                    code: rows::code_from_row(code),
                    grant: rows::grant_from_row(grant)?,
                }
            }
            RedeemOutcome::Retried(found) => {
                let (code, grant) = *found;
                Redemption::Retried {
                    code: rows::code_from_row(code),
                    grant: rows::grant_from_row(grant)?,
                }
            }
            RedeemOutcome::AlreadyUsed(grant_id) => Redemption::AlreadyUsed { grant_id },
            RedeemOutcome::Unknown => Redemption::Unknown,
        })
    }

    async fn grant(&self, grant_id: &str) -> Result<Option<Grant>, StoreError> {
        let row = on_backend!(self, read, |pool| {
            sqlx::query_as::<_, GrantRow>(GRANT_BY_ID)
                .bind(grant_id)
                .fetch_optional(pool)
                .await
        })?;
        row.map(rows::grant_from_row).transpose()
    }

    async fn revoke_grant(&self, grant_id: &str, now: UnixTime) -> Result<Found, StoreError> {
        on_backend!(self, write, |pool| {
            let done = sqlx::query(GRANT_REVOKE)
                .bind(grant_id)
                .bind(now)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    // ----- refresh tokens -----

    async fn put_refresh_token(&self, token: &RefreshToken) -> Result<(), StoreError> {
        on_backend!(self, write, |pool| {
            insert_refresh!(pool, token).map(|_| ())
        })
    }

    async fn refresh_token(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<(RefreshToken, Grant)>, StoreError> {
        let row = on_backend!(self, read, |pool| {
            sqlx::query_as::<_, RefreshGrantRow>(REFRESH_WITH_GRANT)
                .bind(token_hash)
                .fetch_optional(pool)
                .await
        })?;
        row.map(|RefreshGrantRow(token, grant)| {
            Ok((rows::refresh_from_row(token), rows::grant_from_row(grant)?))
        })
        .transpose()
    }

    async fn renew_refresh(
        &self,
        token_hash: &[u8],
        expires_at: UnixTime,
        opaque: Option<&OpaqueToken>,
        now: UnixTime,
    ) -> Result<Found, StoreError> {
        let audience = opaque
            .map(|t| rows::audience_json(&t.audience))
            .transpose()?;
        on_backend!(self, write, |pool| {
            let mut tx = pool.begin_write().await?;
            let renewed = sqlx::query(REFRESH_RENEW)
                .bind(token_hash)
                .bind(expires_at)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                > 0;
            if renewed && let (Some(token), Some(audience)) = (opaque, &audience) {
                insert_opaque!(&mut *tx, TOKEN_INSERT, token, audience)?;
            }
            tx.commit().await?;
            Ok(renewed)
        })
    }

    async fn rotate_refresh(
        &self,
        old_hash: &[u8],
        new: &RefreshToken,
        opaque: Option<&OpaqueToken>,
        now: UnixTime,
        grace_secs: i64,
    ) -> Result<Rotation, StoreError> {
        let audience = opaque
            .map(|t| rows::audience_json(&t.audience))
            .transpose()?;
        let outcome = on_backend!(self, write, |pool| {
            let mut tx = pool.begin_write().await?;
            let consumed = sqlx::query_as::<_, RefreshRow>(REFRESH_CONSUME)
                .bind(old_hash)
                .bind(now)
                .bind(new.token_hash.as_slice())
                .fetch_optional(&mut *tx)
                .await?;
            let outcome = if let Some(old) = consumed {
                let grant = sqlx::query_as::<_, GrantRow>(GRANT_BY_ID)
                    .bind(&old.1)
                    .fetch_one(&mut *tx)
                    .await?;
                insert_refresh!(&mut *tx, new)?;
                if let (Some(token), Some(audience)) = (opaque, &audience) {
                    insert_opaque!(&mut *tx, TOKEN_INSERT, token, audience)?;
                }
                RotateOutcome::Rotated(old, grant)
            } else if let Some(row) = sqlx::query_as::<_, RefreshGrantRow>(REFRESH_WITH_GRANT)
                .bind(old_hash)
                .fetch_optional(&mut *tx)
                .await?
            {
                let RefreshGrantRow(old, _) = &row;
                let (consumed_at, replaced_by) = (old.6, old.7.as_deref());
                let same_successor = replaced_by == Some(new.token_hash.as_slice());
                // Strict: with whole seconds, `<=` would accept a reuse in
                // the same second even when the grace is 0 (off).
                let within_grace = within_grace(consumed_at, now, grace_secs);
                if same_successor && within_grace {
                    if let (Some(token), Some(audience)) = (opaque, &audience) {
                        insert_opaque!(&mut *tx, TOKEN_INSERT_ONCE, token, audience)?;
                    }
                    RotateOutcome::Retried(row)
                } else {
                    let grant_id = old.1.clone();
                    sqlx::query(GRANT_REVOKE)
                        .bind(&grant_id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    RotateOutcome::Reused(grant_id)
                }
            } else {
                RotateOutcome::Unknown
            };
            tx.commit().await?;
            Ok(outcome)
        })?;
        Ok(match outcome {
            RotateOutcome::Rotated(old, grant) => Rotation::Rotated {
                old: rows::refresh_from_row(old),
                grant: rows::grant_from_row(grant)?,
            },
            RotateOutcome::Retried(RefreshGrantRow(old, grant)) => Rotation::Retried {
                old: rows::refresh_from_row(old),
                grant: rows::grant_from_row(grant)?,
            },
            RotateOutcome::Reused(grant_id) => Rotation::Reused { grant_id },
            RotateOutcome::Unknown => Rotation::Unknown,
        })
    }

    // ----- consent -----

    async fn consent(
        &self,
        sub: &str,
        client_id: &ClientId,
    ) -> Result<Option<Consent>, StoreError> {
        let row = on_backend!(self, read, |pool| {
            sqlx::query_as::<_, ConsentRow>(CONSENT_BY_KEY)
                .bind(sub)
                .bind(client_id.as_str())
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(rows::consent_from_row))
    }

    async fn put_consent(&self, consent: &Consent) -> Result<(), StoreError> {
        on_backend!(self, write, |pool| {
            sqlx::query(CONSENT_UPSERT)
                .bind(&consent.sub)
                .bind(consent.client_id.as_str())
                .bind(&consent.scope)
                .bind(consent.granted_at)
                .execute(pool)
                .await
                .map(|_| ())
        })
    }

    async fn list_consents(&self, sub: &str) -> Result<Vec<Consent>, StoreError> {
        let rows = on_backend!(self, read, |pool| {
            sqlx::query_as::<_, ConsentRow>(CONSENTS_BY_SUB)
                .bind(sub)
                .fetch_all(pool)
                .await
        })?;
        Ok(rows.into_iter().map(rows::consent_from_row).collect())
    }

    async fn revoke_consent(
        &self,
        sub: &str,
        client_id: &ClientId,
        now: UnixTime,
    ) -> Result<Found, StoreError> {
        on_backend!(self, write, |pool| {
            let mut tx = pool.begin_write().await?;
            let consents = sqlx::query(CONSENT_DELETE)
                .bind(sub)
                .bind(client_id.as_str())
                .execute(&mut *tx)
                .await?;
            let grants = sqlx::query(GRANTS_REVOKE_SUB_CLIENT)
                .bind(sub)
                .bind(client_id.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(consents.rows_affected() > 0 || grants.rows_affected() > 0)
        })
    }

    // ----- e-mailed links -----

    async fn put_link_token(&self, token: &LinkToken) -> Result<(), StoreError> {
        on_backend!(self, write, |pool| {
            sqlx::query(LINK_INSERT)
                .bind(token.token_hash.as_slice())
                .bind(token.purpose.as_str())
                .bind(&token.sub)
                .bind(&token.email)
                .bind(token.created_at)
                .bind(token.expires_at)
                .bind(token.used_at)
                .execute(pool)
                .await
                .map(|_| ())
        })
    }

    async fn link_token(&self, token_hash: &[u8]) -> Result<Option<LinkToken>, StoreError> {
        let row = on_backend!(self, read, |pool| {
            sqlx::query_as::<_, LinkRow>(LINK_BY_HASH)
                .bind(token_hash)
                .fetch_optional(pool)
                .await
        })?;
        row.map(rows::link_from_row).transpose()
    }

    async fn reset_password_by_link(
        &self,
        token_hash: &[u8],
        password_hash: &str,
        now: UnixTime,
    ) -> Result<LinkRedemption, StoreError> {
        let purpose = LinkPurpose::ResetPassword;
        let outcome = on_backend!(self, write, |pool| {
            let mut tx = pool.begin_write().await?;
            let (sub, email) = spend_link!(tx, token_hash, purpose, now);
            let done = sqlx::query(USER_SET_PASSWORD)
                .bind(&sub)
                .bind(password_hash)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                // The user is gone (their tokens go with them).
                tx.rollback().await?;
                return Ok(LinkOutcome::Refused(None));
            }
            for end in [SESSIONS_END_SUB, GRANTS_REVOKE_SUB] {
                sqlx::query(end)
                    .bind(&sub)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(LINKS_SPEND_SUB)
                .bind(&sub)
                .bind(purpose.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let (current, claims) =
                sqlx::query_as::<_, (Option<String>, String)>(USER_EMAIL_CLAIMS)
                    .bind(&sub)
                    .fetch_one(&mut *tx)
                    .await?;
            if current.as_deref() == Some(email.as_str()) {
                mark_verified!(tx, sub, claims, now);
            }
            let user = sqlx::query_as::<_, UserRow>(USER_BY_SUB)
                .bind(&sub)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(LinkOutcome::Done(user))
        })?;
        link_redemption(outcome, purpose)
    }

    async fn verify_email_by_link(
        &self,
        token_hash: &[u8],
        now: UnixTime,
    ) -> Result<LinkRedemption, StoreError> {
        let purpose = LinkPurpose::VerifyEmail;
        let outcome = on_backend!(self, write, |pool| {
            let mut tx = pool.begin_write().await?;
            let (sub, email) = spend_link!(tx, token_hash, purpose, now);
            let found = sqlx::query_as::<_, (Option<String>, String)>(USER_EMAIL_CLAIMS)
                .bind(&sub)
                .fetch_optional(&mut *tx)
                .await?;
            let Some((current, claims)) = found else {
                tx.rollback().await?;
                return Ok(LinkOutcome::Refused(None));
            };
            if current.as_deref() != Some(email.as_str()) {
                // Spent all the same: the link is for an address this
                // account no longer has.
                tx.commit().await?;
                return Ok(LinkOutcome::AddressChanged);
            }
            mark_verified!(tx, sub, claims, now);
            let user = sqlx::query_as::<_, UserRow>(USER_BY_SUB)
                .bind(&sub)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(LinkOutcome::Done(user))
        })?;
        link_redemption(outcome, purpose)
    }

    // ----- pushed authorization requests -----

    async fn put_pushed_request(&self, r: &PushedRequest) -> Result<(), StoreError> {
        on_backend!(self, write, |pool| {
            sqlx::query(PUSHED_INSERT)
                .bind(r.uri_hash.as_slice())
                .bind(r.client_id.as_str())
                .bind(&r.params)
                .bind(r.created_at)
                .bind(r.expires_at)
                .bind(r.continuation_hash.as_deref())
                .bind(r.used_at)
                .execute(pool)
                .await
                .map(|_| ())
        })
    }

    async fn pushed_request(&self, uri_hash: &[u8]) -> Result<Option<PushedRequest>, StoreError> {
        let row = on_backend!(self, read, |pool| {
            sqlx::query_as::<_, PushedRow>(PUSHED_BY_HASH)
                .bind(uri_hash)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(rows::pushed_from_row))
    }

    async fn open_pushed_request(
        &self,
        uri_hash: &[u8],
        client_id: &ClientId,
        continuation_hash: &[u8],
        until: UnixTime,
        now: UnixTime,
    ) -> Result<Option<PushedRequest>, StoreError> {
        let row = on_backend!(self, write, |pool| {
            sqlx::query_as::<_, PushedRow>(PUSHED_OPEN)
                .bind(uri_hash)
                .bind(client_id.as_str())
                .bind(continuation_hash)
                .bind(until)
                .bind(now)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(rows::pushed_from_row))
    }

    async fn update_pushed_request(
        &self,
        uri_hash: &[u8],
        continuation_hash: &[u8],
        params: &str,
        now: UnixTime,
    ) -> Result<Found, StoreError> {
        on_backend!(self, write, |pool| {
            sqlx::query(PUSHED_UPDATE)
                .bind(uri_hash)
                .bind(continuation_hash)
                .bind(params)
                .bind(now)
                .execute(pool)
                .await
                .map(|r| r.rows_affected() > 0)
        })
    }

    async fn spend_pushed_request(
        &self,
        uri_hash: &[u8],
        continuation_hash: &[u8],
        now: UnixTime,
    ) -> Result<Found, StoreError> {
        on_backend!(self, write, |pool| {
            sqlx::query(PUSHED_SPEND)
                .bind(uri_hash)
                .bind(continuation_hash)
                .bind(now)
                .execute(pool)
                .await
                .map(|r| r.rows_affected() > 0)
        })
    }

    // ----- device authorization -----

    async fn put_device_authorization(&self, d: &DeviceAuthorization) -> Result<(), StoreError> {
        let audience = rows::strings_json("device audience", &d.audience)?;
        on_backend!(self, write, |pool| {
            sqlx::query(DEVICE_INSERT)
                .bind(d.device_code_hash.as_slice())
                .bind(d.user_code_hash.as_slice())
                .bind(d.code_hash.as_slice())
                .bind(d.client_id.as_str())
                .bind(&d.scope)
                .bind(&audience)
                .bind(d.created_at)
                .bind(d.expires_at)
                .bind(d.interval)
                .bind(d.last_poll_at)
                .bind(d.status.as_str())
                .bind(d.sub.as_deref())
                .execute(pool)
                .await
                .map(|_| ())
        })
    }

    async fn device_authorization(
        &self,
        device_code_hash: &[u8],
    ) -> Result<Option<DeviceAuthorization>, StoreError> {
        let row = on_backend!(self, read, |pool| {
            sqlx::query_as::<_, DeviceRow>(DEVICE_BY_CODE)
                .bind(device_code_hash)
                .fetch_optional(pool)
                .await
        })?;
        row.map(rows::device_from_row).transpose()
    }

    async fn device_by_user_code(
        &self,
        user_code_hash: &[u8],
    ) -> Result<Option<DeviceAuthorization>, StoreError> {
        let row = on_backend!(self, read, |pool| {
            sqlx::query_as::<_, DeviceRow>(DEVICE_BY_USER_CODE)
                .bind(user_code_hash)
                .fetch_optional(pool)
                .await
        })?;
        row.map(rows::device_from_row).transpose()
    }

    async fn note_device_poll(
        &self,
        device_code_hash: &[u8],
        seen: Option<UnixTime>,
        interval: i64,
        now: UnixTime,
    ) -> Result<Found, StoreError> {
        on_backend!(self, write, |pool| {
            sqlx::query(DEVICE_POLL)
                .bind(device_code_hash)
                .bind(seen)
                .bind(interval)
                .bind(now)
                .execute(pool)
                .await
                .map(|r| r.rows_affected() > 0)
        })
    }

    async fn approve_device(
        &self,
        user_code_hash: &[u8],
        grant: &Grant,
        code: &AuthorizationCode,
        now: UnixTime,
    ) -> Result<Found, StoreError> {
        let audience = rows::strings_json("grant audience", &grant.audience)?;
        let amr = rows::strings_json("grant amr", &grant.amr)?;
        let claims = rows::grant_claims_json(grant)?;
        on_backend!(self, write, |pool| {
            let mut tx = pool.begin_write().await?;
            let won = sqlx::query(DEVICE_DECIDE)
                .bind(user_code_hash)
                .bind(DeviceStatus::Approved.as_str())
                .bind(&grant.sub)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                > 0;
            if !won {
                return Ok(false);
            }
            insert_authorization!(tx, grant, code, &audience, &amr, &claims);
            tx.commit().await?;
            Ok(true)
        })
    }

    async fn deny_device(
        &self,
        user_code_hash: &[u8],
        sub: &str,
        now: UnixTime,
    ) -> Result<Found, StoreError> {
        on_backend!(self, write, |pool| {
            sqlx::query(DEVICE_DECIDE)
                .bind(user_code_hash)
                .bind(DeviceStatus::Denied.as_str())
                .bind(sub)
                .bind(now)
                .execute(pool)
                .await
                .map(|r| r.rows_affected() > 0)
        })
    }

    // ----- login throttling -----

    async fn note_login_failure(
        &self,
        key: &str,
        now: UnixTime,
        window_secs: i64,
    ) -> Result<u32, StoreError> {
        let (count,) = on_backend!(self, write, |pool| {
            sqlx::query_as::<_, (i64,)>(LOGIN_FAILURE_NOTE)
                .bind(key)
                .bind(now)
                .bind(window_secs)
                .fetch_one(pool)
                .await
        })?;
        Ok(failure_count(count))
    }

    async fn login_failures(
        &self,
        key: &str,
        now: UnixTime,
        window_secs: i64,
    ) -> Result<u32, StoreError> {
        let row = on_backend!(self, read, |pool| {
            sqlx::query_as::<_, (i64, i64)>(LOGIN_FAILURE_GET)
                .bind(key)
                .fetch_optional(pool)
                .await
        })?;
        Ok(match row {
            // Same boundary as the upsert: at window_start + window it has ended.
            Some((count, window_start)) if window_start.saturating_add(window_secs) > now => {
                failure_count(count)
            }
            _ => 0,
        })
    }

    async fn clear_login_failures(&self, key: &str) -> Result<(), StoreError> {
        on_backend!(self, write, |pool| {
            sqlx::query(LOGIN_FAILURE_CLEAR)
                .bind(key)
                .execute(pool)
                .await
                .map(|_| ())
        })
    }

    async fn forgive_login_failure(&self, key: &str) -> Result<(), StoreError> {
        on_backend!(self, write, |pool| {
            sqlx::query(LOGIN_FAILURE_FORGIVE)
                .bind(key)
                .execute(pool)
                .await
                .map(|_| ())
        })
    }

    // ----- second factors -----

    async fn totp_credential(&self, sub: &str) -> Result<Option<TotpCredential>, StoreError> {
        let row = on_backend!(self, read, |pool| {
            sqlx::query_as::<_, TotpRow>(TOTP_BY_SUB)
                .bind(sub)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(
            |(sub, secret_sealed, created_at, confirmed_at, last_step)| TotpCredential {
                sub,
                secret_sealed,
                created_at,
                confirmed_at,
                last_step,
            },
        ))
    }

    async fn put_totp_enrolment(
        &self,
        sub: &str,
        secret_sealed: &[u8],
        now: UnixTime,
    ) -> Result<Found, StoreError> {
        on_backend!(self, write, |pool| {
            sqlx::query(TOTP_ENROL)
                .bind(sub)
                .bind(secret_sealed)
                .bind(now)
                .execute(pool)
                .await
                .map(|r| r.rows_affected() > 0)
        })
    }

    async fn confirm_totp(
        &self,
        sub: &str,
        step: i64,
        recovery_hashes: &[Vec<u8>],
        now: UnixTime,
    ) -> Result<Found, StoreError> {
        on_backend!(self, write, |pool| {
            let mut tx = pool.begin_write().await?;
            let confirmed = sqlx::query(TOTP_CONFIRM)
                .bind(sub)
                .bind(now)
                .bind(step)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                > 0;
            if confirmed {
                sqlx::query(RECOVERY_DELETE_SUB)
                    .bind(sub)
                    .execute(&mut *tx)
                    .await?;
                for hash in recovery_hashes {
                    sqlx::query(RECOVERY_INSERT)
                        .bind(sub)
                        .bind(hash.as_slice())
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.commit().await?;
            Ok(confirmed)
        })
    }

    async fn use_totp_step(&self, sub: &str, step: i64) -> Result<bool, StoreError> {
        on_backend!(self, write, |pool| {
            sqlx::query(TOTP_USE_STEP)
                .bind(sub)
                .bind(step)
                .execute(pool)
                .await
                .map(|r| r.rows_affected() > 0)
        })
    }

    async fn remove_mfa(&self, sub: &str) -> Result<Found, StoreError> {
        on_backend!(self, write, |pool| {
            let mut tx = pool.begin_write().await?;
            let removed = sqlx::query(TOTP_DELETE)
                .bind(sub)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let codes = sqlx::query(RECOVERY_DELETE_SUB)
                .bind(sub)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            Ok(removed + codes > 0)
        })
    }

    async fn passkeys_of(&self, sub: &str) -> Result<Vec<PasskeyRecord>, StoreError> {
        let rows = on_backend!(self, read, |pool| {
            sqlx::query_as::<_, PasskeyRow>(PASSKEYS_OF)
                .bind(sub)
                .fetch_all(pool)
                .await
        })?;
        Ok(rows.into_iter().map(passkey_from_row).collect())
    }

    async fn passkey(&self, credential_id: &[u8]) -> Result<Option<PasskeyRecord>, StoreError> {
        let row = on_backend!(self, read, |pool| {
            sqlx::query_as::<_, PasskeyRow>(PASSKEY_BY_ID)
                .bind(credential_id)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(passkey_from_row))
    }

    async fn add_passkey(&self, p: &PasskeyRecord) -> Result<Found, StoreError> {
        on_backend!(self, write, |pool| {
            sqlx::query(PASSKEY_INSERT)
                .bind(&p.credential_id)
                .bind(&p.sub)
                .bind(&p.user_handle)
                .bind(&p.name)
                .bind(&p.credential)
                .bind(p.backup_eligible)
                .bind(p.created_at)
                .execute(pool)
                .await
                .map(|r| r.rows_affected() > 0)
        })
    }

    async fn use_passkey(
        &self,
        credential_id: &[u8],
        credential: &str,
        now: UnixTime,
    ) -> Result<Found, StoreError> {
        on_backend!(self, write, |pool| {
            sqlx::query(PASSKEY_USE)
                .bind(credential_id)
                .bind(credential)
                .bind(now)
                .execute(pool)
                .await
                .map(|r| r.rows_affected() > 0)
        })
    }

    async fn remove_passkey(&self, sub: &str, credential_id: &[u8]) -> Result<Found, StoreError> {
        on_backend!(self, write, |pool| {
            sqlx::query(PASSKEY_DELETE)
                .bind(sub)
                .bind(credential_id)
                .execute(pool)
                .await
                .map(|r| r.rows_affected() > 0)
        })
    }

    async fn remove_passkeys(&self, sub: &str) -> Result<u64, StoreError> {
        on_backend!(self, write, |pool| {
            sqlx::query(PASSKEYS_DELETE_SUB)
                .bind(sub)
                .execute(pool)
                .await
                .map(|r| r.rows_affected())
        })
    }

    async fn create_group(&self, group: &Group) -> Result<(), StoreError> {
        on_backend!(self, write, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(GROUP_INSERT)
                .bind(&group.name)
                .bind(&group.description)
                .bind(group.created_at)
                .execute(&mut *tx)
                .await?;
            sqlx::query(GROUP_MEMBERS_DELETE)
                .bind(&group.name)
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        })
    }

    async fn group(&self, name: &str) -> Result<Option<Group>, StoreError> {
        let row = on_backend!(self, read, |pool| {
            sqlx::query_as::<_, (String, String, i64)>(GROUP)
                .bind(name)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(group_from_row))
    }

    async fn groups_page(&self, after: Option<&str>, limit: u32) -> Result<Vec<Group>, StoreError> {
        let rows = on_backend!(self, read, |pool| {
            sqlx::query_as::<_, (String, String, i64)>(GROUPS_PAGE)
                .bind(after.unwrap_or_default())
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
        })?;
        Ok(rows.into_iter().map(group_from_row).collect())
    }

    async fn delete_group(&self, name: &str) -> Result<Found, StoreError> {
        on_backend!(self, write, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(GROUP_MEMBERS_DELETE)
                .bind(name)
                .execute(&mut *tx)
                .await?;
            let done = sqlx::query(GROUP_DELETE)
                .bind(name)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(done.rows_affected() > 0)
        })
    }

    async fn add_group_member(
        &self,
        name: &str,
        sub: &str,
        now: UnixTime,
    ) -> Result<Found, StoreError> {
        on_backend!(self, write, |pool| {
            sqlx::query(GROUP_MEMBER_INSERT)
                .bind(name)
                .bind(sub)
                .bind(now)
                .bind("")
                .execute(pool)
                .await
                .map(|r| r.rows_affected() > 0)
        })
    }

    async fn sync_group_members(
        &self,
        sub: &str,
        source: &str,
        groups: &[String],
        create: bool,
        now: UnixTime,
    ) -> Result<GroupSync, StoreError> {
        if source.is_empty() {
            return Err(StoreError::Internal(
                "sync_group_members needs a source".into(),
            ));
        }
        // Two sign-ins of one user through one source at once: the second
        // waits and replaces the first's rows, never adds to them.
        let key = format!("group-sync:{sub}:{source}");
        on_backend!(self, write, |pool| {
            let mut tx = pool.begin_write().await?;
            pool.lock_key(&mut tx, &key).await?;
            let had: Vec<(String,)> = sqlx::query_as(GROUPS_OF_SOURCE)
                .bind(sub)
                .bind(source)
                .fetch_all(&mut *tx)
                .await?;
            let mut change = GroupSync::default();
            for (name,) in had {
                if groups.contains(&name) {
                    continue;
                }
                sqlx::query(GROUP_MEMBER_DELETE_SOURCE)
                    .bind(&name)
                    .bind(sub)
                    .bind(source)
                    .execute(&mut *tx)
                    .await?;
                change.removed.push(name);
            }
            for name in groups {
                if create {
                    let made = sqlx::query(GROUP_INSERT_IF_MISSING)
                        .bind(name)
                        .bind(format!("from {source}"))
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    // A new group starts empty, as create_group's does.
                    if made.rows_affected() > 0 {
                        sqlx::query(GROUP_MEMBERS_DELETE)
                            .bind(name)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                let added = sqlx::query(GROUP_MEMBER_INSERT)
                    .bind(name)
                    .bind(sub)
                    .bind(now)
                    .bind(source)
                    .execute(&mut *tx)
                    .await?;
                if added.rows_affected() > 0 {
                    change.added.push(name.clone());
                }
            }
            tx.commit().await?;
            Ok(change)
        })
    }

    async fn remove_group_member(&self, name: &str, sub: &str) -> Result<Found, StoreError> {
        on_backend!(self, write, |pool| {
            sqlx::query(GROUP_MEMBER_DELETE)
                .bind(name)
                .bind(sub)
                .execute(pool)
                .await
                .map(|r| r.rows_affected() > 0)
        })
    }

    async fn group_members_page(
        &self,
        name: &str,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<GroupMember>, StoreError> {
        let rows = on_backend!(self, read, |pool| {
            sqlx::query_as::<_, (String, String, i64)>(GROUP_MEMBERS_PAGE)
                .bind(name)
                .bind(after.unwrap_or_default())
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(sub, username, added_at)| GroupMember {
                sub,
                username,
                added_at,
            })
            .collect())
    }

    async fn groups_of(&self, sub: &str) -> Result<Vec<String>, StoreError> {
        let rows = on_backend!(self, read, |pool| {
            sqlx::query_as::<_, (String,)>(GROUPS_OF)
                .bind(sub)
                .fetch_all(pool)
                .await
        })?;
        Ok(rows.into_iter().map(|(g,)| g).collect())
    }

    async fn upstream_link(
        &self,
        upstream: &str,
        upstream_sub: &str,
    ) -> Result<Option<UpstreamLink>, StoreError> {
        let row = on_backend!(self, read, |pool| {
            sqlx::query_as::<_, UpstreamLinkRow>(UPSTREAM_LINK)
                .bind(upstream)
                .bind(upstream_sub)
                .fetch_optional(pool)
                .await
        })?;
        Ok(row.map(upstream_link_from_row))
    }

    async fn upstream_links_of(&self, sub: &str) -> Result<Vec<UpstreamLink>, StoreError> {
        let rows = on_backend!(self, read, |pool| {
            sqlx::query_as::<_, UpstreamLinkRow>(UPSTREAM_LINKS_OF)
                .bind(sub)
                .fetch_all(pool)
                .await
        })?;
        Ok(rows.into_iter().map(upstream_link_from_row).collect())
    }

    async fn put_upstream_link(&self, link: &UpstreamLink) -> Result<Found, StoreError> {
        on_backend!(self, write, |pool| {
            bind_link!(sqlx::query(UPSTREAM_LINK_INSERT), link)
                .execute(pool)
                .await
                .map(|r| r.rows_affected() > 0)
        })
    }

    async fn provision_upstream_user(
        &self,
        user: &User,
        link: &UpstreamLink,
    ) -> Result<(), StoreError> {
        let claims = rows::claims_json(&user.claims)?;
        let email = rows::email_key(&user.claims);
        on_backend!(self, write, |pool| {
            let mut tx = pool.begin_write().await?;
            bind_user!(sqlx::query(USER_INSERT), user, &email, &claims)
                .execute(&mut *tx)
                .await?;
            bind_link!(sqlx::query(UPSTREAM_LINK_INSERT_STRICT), link)
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        })
    }

    async fn use_upstream_link(
        &self,
        upstream: &str,
        upstream_sub: &str,
        now: UnixTime,
    ) -> Result<Found, StoreError> {
        on_backend!(self, write, |pool| {
            sqlx::query(UPSTREAM_LINK_USE)
                .bind(upstream)
                .bind(upstream_sub)
                .bind(now)
                .execute(pool)
                .await
                .map(|r| r.rows_affected() > 0)
        })
    }

    async fn stored_upstreams(&self) -> Result<Vec<StoredUpstream>, StoreError> {
        let rows = on_backend!(self, read, |pool| {
            sqlx::query_as::<_, (String, String, Vec<u8>, i64)>(STORED_UPSTREAMS)
                .fetch_all(pool)
                .await
        })?;
        Ok(rows
            .into_iter()
            .map(|(id, spec, secret, created_at)| StoredUpstream {
                id,
                spec,
                secret,
                created_at,
            })
            .collect())
    }

    async fn create_upstream(&self, upstream: &StoredUpstream) -> Result<(), StoreError> {
        on_backend!(self, write, |pool| {
            sqlx::query(STORED_UPSTREAM_INSERT)
                .bind(&upstream.id)
                .bind(&upstream.spec)
                .bind(upstream.secret.as_slice())
                .bind(upstream.created_at)
                .execute(pool)
                .await
                .map(|_| ())
        })
    }

    async fn delete_upstream(&self, id: &str) -> Result<Option<UpstreamRemoval>, StoreError> {
        on_backend!(self, write, |pool| {
            let mut tx = pool.begin_write().await?;
            let gone = sqlx::query(STORED_UPSTREAM_DELETE)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            if gone.rows_affected() == 0 {
                return Ok(None);
            }
            let links = sqlx::query(UPSTREAM_LINKS_DELETE_UPSTREAM)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let memberships = sqlx::query(GROUP_MEMBERS_DELETE_SOURCE)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Some(UpstreamRemoval {
                links: links.rows_affected(),
                memberships: memberships.rows_affected(),
            }))
        })
    }

    async fn remove_upstream_link(&self, sub: &str, upstream: &str) -> Result<Found, StoreError> {
        on_backend!(self, write, |pool| {
            sqlx::query(UPSTREAM_LINK_DELETE)
                .bind(sub)
                .bind(upstream)
                .execute(pool)
                .await
                .map(|r| r.rows_affected() > 0)
        })
    }

    async fn replace_recovery_codes(
        &self,
        sub: &str,
        hashes: &[Vec<u8>],
        now: UnixTime,
    ) -> Result<(), StoreError> {
        on_backend!(self, write, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(RECOVERY_DELETE_SUB)
                .bind(sub)
                .execute(&mut *tx)
                .await?;
            for hash in hashes {
                sqlx::query(RECOVERY_INSERT)
                    .bind(sub)
                    .bind(hash.as_slice())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await
        })
    }

    async fn use_recovery_code(
        &self,
        sub: &str,
        code_hash: &[u8],
        now: UnixTime,
    ) -> Result<bool, StoreError> {
        on_backend!(self, write, |pool| {
            sqlx::query(RECOVERY_USE)
                .bind(sub)
                .bind(code_hash)
                .bind(now)
                .execute(pool)
                .await
                .map(|r| r.rows_affected() > 0)
        })
    }

    async fn recovery_codes_left(&self, sub: &str) -> Result<u32, StoreError> {
        let n: i64 = on_backend!(self, read, |pool| {
            sqlx::query_scalar(RECOVERY_LEFT)
                .bind(sub)
                .fetch_one(pool)
                .await
        })?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    async fn raise_session(
        &self,
        old_id_hash: &[u8],
        new_id_hash: &[u8],
        amr: &[String],
    ) -> Result<Found, StoreError> {
        let amr = rows::strings_json("session amr", amr)?;
        on_backend!(self, write, |pool| {
            sqlx::query(SESSION_RAISE)
                .bind(old_id_hash)
                .bind(new_id_hash)
                .bind(&amr)
                .execute(pool)
                .await
                .map(|r| r.rows_affected() > 0)
        })
    }

    async fn touch_session(&self, sid: &str, now: UnixTime) -> Result<(), StoreError> {
        on_backend!(self, write, |pool| {
            sqlx::query(SESSION_TOUCH)
                .bind(sid)
                .bind(now)
                .execute(pool)
                .await
                .map(|_| ())
        })
    }

    // ----- audit trail -----

    async fn record_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let detail = rows::audit_detail_json(event)?;
        on_backend!(self, write, |pool| {
            sqlx::query(AUDIT_INSERT)
                .bind(event.id())
                .bind(event.at())
                .bind(event.kind())
                .bind(event.outcome())
                .bind(event.request_id_value())
                .bind(event.actor_value())
                .bind(event.subject_value())
                .bind(event.client_id_value())
                .bind(event.peer_value())
                .bind(&detail)
                .execute(pool)
                .await
                .map(|_| ())
        })
    }

    async fn audit_events(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
        let (sql, binds) = audit_sql(query);
        let rows = on_backend!(self, read, |pool| {
            let mut q = sqlx::query_as::<_, AuditRow>(sqlx::AssertSqlSafe(sql.clone()));
            for b in &binds {
                q = match b {
                    Bind::Int(v) => q.bind(*v),
                    Bind::Text(v) => q.bind(v.as_str()),
                };
            }
            q.fetch_all(pool).await
        })?;
        rows.into_iter().map(rows::audit_from_row).collect()
    }

    async fn purge_audit(&self, before: UnixTime) -> Result<u64, StoreError> {
        on_backend!(self, write, |pool| {
            sqlx::query(AUDIT_PURGE)
                .bind(before)
                .execute(pool)
                .await
                .map(|d| d.rows_affected())
        })
    }
}
