//! `impl Store for Db`: one match on the backend per method; the SQL text is
//! shared by both backends.

use std::future::Future;

use frontdesk_core::model::{
    Client, ClientId, ClientSecret, OpaqueToken, StoredKey, UnixTime, User, UserClaims,
};
use frontdesk_core::store::{Found, Store, StoreError};
use sqlx::postgres::{PgPool, Postgres};
use sqlx::sqlite::{Sqlite, SqlitePool};
use sqlx::{Database, Transaction};

use crate::Db;
use crate::rows::{self, ClientSecretRow, KeyRow, TokenRow, UserRow};

/// Runs `$body` (an `async` block body that returns `Result<_, sqlx::Error>`)
/// on the backend's read or write pool, bound to `$pool`, and maps the error
/// with that backend's mapping. The body is compiled once per backend.
macro_rules! on_backend {
    ($db:expr, read, |$pool:ident| $body:block) => {
        match $db {
            Db::Sqlite { reader: $pool, .. } => {
                let r: Result<_, sqlx::Error> = async $body.await;
                r.map_err(crate::error::sqlite)
            }
            Db::Postgres($pool) => {
                let r: Result<_, sqlx::Error> = async $body.await;
                r.map_err(crate::error::postgres)
            }
        }
    };
    ($db:expr, write, |$pool:ident| $body:block) => {
        match $db {
            Db::Sqlite { writer: $pool, .. } => {
                let r: Result<_, sqlx::Error> = async $body.await;
                r.map_err(crate::error::sqlite)
            }
            Db::Postgres($pool) => {
                let r: Result<_, sqlx::Error> = async $body.await;
                r.map_err(crate::error::postgres)
            }
        }
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
}

impl BeginWrite for SqlitePool {
    type Db = Sqlite;
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl BeginWrite for PgPool {
    type Db = Postgres;
    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.begin().await
    }
}

// ----- SQL, shared by both backends -----

const CLIENT_BY_ID: &str = "SELECT c.client_id, c.metadata, c.created_at, c.updated_at, \
     s.hash, s.created_at, s.expires_at \
     FROM clients c LEFT JOIN client_secrets s ON s.client_id = c.client_id \
     WHERE c.client_id = $1 ORDER BY s.id";
const CLIENTS_ALL: &str = "SELECT c.client_id, c.metadata, c.created_at, c.updated_at, \
     s.hash, s.created_at, s.expires_at \
     FROM clients c LEFT JOIN client_secrets s ON s.client_id = c.client_id \
     ORDER BY c.client_id, s.id";
const CLIENT_INSERT: &str = "INSERT INTO clients (client_id, metadata, created_at, updated_at) \
     VALUES ($1, $2, $3, $4)";
const CLIENT_UPSERT: &str = "INSERT INTO clients (client_id, metadata, created_at, updated_at) \
     VALUES ($1, $2, $3, $4) \
     ON CONFLICT (client_id) DO UPDATE \
     SET metadata = excluded.metadata, updated_at = excluded.updated_at";
const CLIENT_UPDATE: &str =
    "UPDATE clients SET metadata = $2, updated_at = $3 WHERE client_id = $1";
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

const USER_INSERT: &str = "INSERT INTO users \
     (sub, username, email, password_hash, disabled, claims, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
const USER_UPSERT: &str = "INSERT INTO users \
     (sub, username, email, password_hash, disabled, claims, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
     ON CONFLICT (username) DO UPDATE SET \
     email = excluded.email, password_hash = excluded.password_hash, \
     disabled = excluded.disabled, claims = excluded.claims, updated_at = excluded.updated_at \
     RETURNING sub, username, password_hash, disabled, claims, created_at, updated_at";
const USER_BY_SUB: &str = "SELECT sub, username, password_hash, disabled, claims, \
     created_at, updated_at FROM users WHERE sub = $1";
/// Username (exact) first, else the lower-cased email column.
const USER_BY_LOGIN: &str = "SELECT sub, username, password_hash, disabled, claims, \
     created_at, updated_at FROM users WHERE username = $1 OR email = $2 \
     ORDER BY CASE WHEN username = $1 THEN 0 ELSE 1 END LIMIT 1";
const USERS_ALL: &str = "SELECT sub, username, password_hash, disabled, claims, \
     created_at, updated_at FROM users ORDER BY username";
const USER_SET_PASSWORD: &str =
    "UPDATE users SET password_hash = $2, updated_at = $3 WHERE sub = $1";
const USER_SET_DISABLED: &str = "UPDATE users SET disabled = $2, updated_at = $3 WHERE sub = $1";
const USER_SET_CLAIMS: &str =
    "UPDATE users SET claims = $2, email = $3, updated_at = $4 WHERE sub = $1";
const USER_DELETE: &str = "DELETE FROM users WHERE sub = $1";

const KEYS_ALL: &str = "SELECT kid, alg, key_use, encrypted_private, public_jwk, \
     created_at, activates_at, retired_at FROM signing_keys ORDER BY created_at, kid";
const KEYS_RETIRE_USE: &str = "UPDATE signing_keys SET retired_at = $1 \
     WHERE key_use = $2 AND retired_at IS NULL";
const KEY_INSERT: &str = "INSERT INTO signing_keys \
     (kid, alg, key_use, encrypted_private, public_jwk, created_at, activates_at, retired_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
const KEYS_DELETE_RETIRED: &str = "DELETE FROM signing_keys WHERE retired_at < $1";

const TOKEN_INSERT: &str = "INSERT INTO opaque_tokens \
     (token_hash, jti, client_id, sub, scope, audience, issued_at, expires_at, revoked_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
const TOKEN_BY_HASH: &str = "SELECT token_hash, jti, client_id, sub, scope, audience, \
     issued_at, expires_at, revoked_at FROM opaque_tokens WHERE token_hash = $1";
/// Keeps the first revocation time when revoked twice.
const TOKEN_REVOKE: &str = "UPDATE opaque_tokens SET revoked_at = COALESCE(revoked_at, $2) \
     WHERE token_hash = $1";
const TOKENS_PURGE: &str = "DELETE FROM opaque_tokens WHERE expires_at <= $1";
/// Idempotent; a second revocation can only extend the record.
const JTI_REVOKE: &str = "INSERT INTO revoked_jtis (jti, expires_at) VALUES ($1, $2) \
     ON CONFLICT (jti) DO UPDATE SET expires_at = CASE \
     WHEN excluded.expires_at > revoked_jtis.expires_at THEN excluded.expires_at \
     ELSE revoked_jtis.expires_at END";
const JTI_EXISTS: &str = "SELECT jti FROM revoked_jtis WHERE jti = $1";
const JTIS_PURGE: &str = "DELETE FROM revoked_jtis WHERE expires_at <= $1";

impl Store for Db {
    async fn ping(&self) -> Result<(), StoreError> {
        on_backend!(self, read, |pool| {
            sqlx::query("SELECT 1").execute(pool).await.map(|_| ())
        })
    }

    // ----- clients -----

    async fn client(&self, id: &ClientId) -> Result<Option<Client>, StoreError> {
        let rows = on_backend!(self, read, |pool| {
            sqlx::query_as::<_, ClientSecretRow>(CLIENT_BY_ID)
                .bind(id.as_str())
                .fetch_all(pool)
                .await
        })?;
        Ok(rows::clients_from_rows(rows)?.into_iter().next())
    }

    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        let rows = on_backend!(self, read, |pool| {
            sqlx::query_as::<_, ClientSecretRow>(CLIENTS_ALL)
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
        let metadata = rows::client_metadata(client)?;
        on_backend!(self, write, |pool| {
            let done = sqlx::query(CLIENT_UPDATE)
                .bind(client.client_id.as_str())
                .bind(&metadata)
                .bind(client.updated_at)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    async fn upsert_client(&self, client: &Client) -> Result<(), StoreError> {
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
        })
    }

    async fn delete_client(&self, id: &ClientId) -> Result<Found, StoreError> {
        on_backend!(self, write, |pool| {
            let done = sqlx::query(CLIENT_DELETE)
                .bind(id.as_str())
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    async fn rotate_client_secret(
        &self,
        id: &ClientId,
        new: &ClientSecret,
        previous_valid_until: UnixTime,
        now: UnixTime,
    ) -> Result<Found, StoreError> {
        on_backend!(self, write, |pool| {
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
        })
    }

    // ----- users -----

    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        let claims = rows::claims_json(&user.claims)?;
        let email = rows::email_key(&user.claims);
        on_backend!(self, write, |pool| {
            sqlx::query(USER_INSERT)
                .bind(&user.sub)
                .bind(&user.username)
                .bind(&email)
                .bind(&user.password_hash)
                .bind(user.disabled)
                .bind(&claims)
                .bind(user.created_at)
                .bind(user.updated_at)
                .execute(pool)
                .await
                .map(|_| ())
        })
    }

    async fn upsert_user(&self, user: &User) -> Result<User, StoreError> {
        let claims = rows::claims_json(&user.claims)?;
        let email = rows::email_key(&user.claims);
        let row = on_backend!(self, write, |pool| {
            sqlx::query_as::<_, UserRow>(USER_UPSERT)
                .bind(&user.sub)
                .bind(&user.username)
                .bind(&email)
                .bind(&user.password_hash)
                .bind(user.disabled)
                .bind(&claims)
                .bind(user.created_at)
                .bind(user.updated_at)
                .fetch_one(pool)
                .await
        })?;
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

    async fn set_user_password(
        &self,
        sub: &str,
        password_hash: &str,
        now: UnixTime,
    ) -> Result<Found, StoreError> {
        on_backend!(self, write, |pool| {
            let done = sqlx::query(USER_SET_PASSWORD)
                .bind(sub)
                .bind(password_hash)
                .bind(now)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
    }

    async fn set_user_disabled(
        &self,
        sub: &str,
        disabled: bool,
        now: UnixTime,
    ) -> Result<Found, StoreError> {
        on_backend!(self, write, |pool| {
            let done = sqlx::query(USER_SET_DISABLED)
                .bind(sub)
                .bind(disabled)
                .bind(now)
                .execute(pool)
                .await?;
            Ok(done.rows_affected() > 0)
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
            let done = sqlx::query(USER_DELETE).bind(sub).execute(pool).await?;
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
        on_backend!(self, write, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(KEYS_RETIRE_USE)
                .bind(key.activates_at)
                .bind(key.key_use.as_str())
                .execute(&mut *tx)
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
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        })
    }

    async fn delete_keys_retired_before(&self, cutoff: UnixTime) -> Result<u64, StoreError> {
        on_backend!(self, write, |pool| {
            let done = sqlx::query(KEYS_DELETE_RETIRED)
                .bind(cutoff)
                .execute(pool)
                .await?;
            Ok(done.rows_affected())
        })
    }

    // ----- tokens -----

    async fn put_opaque_token(&self, token: &OpaqueToken) -> Result<(), StoreError> {
        let audience = rows::audience_json(&token.audience)?;
        on_backend!(self, write, |pool| {
            sqlx::query(TOKEN_INSERT)
                .bind(token.token_hash.as_slice())
                .bind(&token.jti)
                .bind(token.client_id.as_str())
                .bind(&token.sub)
                .bind(&token.scope)
                .bind(&audience)
                .bind(token.issued_at)
                .bind(token.expires_at)
                .bind(token.revoked_at)
                .execute(pool)
                .await
                .map(|_| ())
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

    async fn purge_expired(&self, now: UnixTime) -> Result<u64, StoreError> {
        on_backend!(self, write, |pool| {
            let mut tx = pool.begin_write().await?;
            let tokens = sqlx::query(TOKENS_PURGE)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let jtis = sqlx::query(JTIS_PURGE)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            Ok(tokens + jtis)
        })
    }
}
