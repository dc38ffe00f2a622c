//! frontdesk-store: the [`frontdesk_core::store::Store`] intents on SQLite and
//! PostgreSQL, behind one type, [`Db`].
//!
//! Each trait method matches on the backend once and runs one transaction (or
//! one statement). Most SQL text is shared between the backends (`$N`
//! placeholders, `ON CONFLICT`, `RETURNING`); the DDL differs, so each backend
//! has its own migrations under `migrations/`.
//!
//! The store answers "did the atomic update win?", never "is this grant
//! valid?": it takes hashes and times from the caller and decides nothing.

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use frontdesk_core::store::StoreError;
use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

mod breaker;
mod cache;
mod changes;
pub mod copy;
mod error;
mod rows;
mod store;
pub mod testing;

/// SQLite waits this long for a lock before reporting `SQLITE_BUSY`.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a caller waits for the single SQLite writer connection.
const SQLITE_WRITER_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections in the SQLite read pool (WAL lets readers run beside the writer).
const SQLITE_READERS: u32 = 4;

/// How a [`Db`] on PostgreSQL bounds its waits (SQLite keeps its own: one
/// writer, a 5 s busy timeout, a 10 s wait for the writer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DbOptions {
    /// Connections in the PostgreSQL pool.
    pub pool_size: u32,
    /// How long an operation waits for a connection (an idle one, or a new
    /// one being opened) before it is `Unavailable`.
    pub acquire_timeout: Duration,
    /// How long one statement may run: PostgreSQL's `statement_timeout`
    /// on every connection, and the node's own deadline on a whole store
    /// operation (`acquire_timeout` + this), which also ends an operation
    /// whose connection stopped answering (a COMMIT whose reply never
    /// comes) since sqlx offers no TCP keepalive on its sockets.
    pub statement_timeout: Duration,
}

impl Default for DbOptions {
    fn default() -> DbOptions {
        DbOptions {
            pool_size: 10,
            acquire_timeout: Duration::from_secs(2),
            statement_timeout: Duration::from_secs(5),
        }
    }
}

/// The database: one of two backends, plus a short-lived cache of client
/// records (see [`cache`]) and, on PostgreSQL, the circuit breaker that
/// answers at once while the database is known to be down (see
/// [`breaker`]). Cheap to clone (pools, cache and breaker are shared).
#[derive(Clone, Debug)]
pub struct Db {
    backend: Backend,
    clients: std::sync::Arc<cache::ClientCache>,
    breaker: std::sync::Arc<breaker::Breaker>,
    /// Woken when the signing keys changed (see [`changes`]).
    keys_changed: std::sync::Arc<tokio::sync::Notify>,
    /// The node's deadline on one PostgreSQL operation.
    deadline: Duration,
}

impl Db {
    fn new(backend: Backend, options: &DbOptions) -> Db {
        Db {
            backend,
            clients: std::sync::Arc::default(),
            breaker: std::sync::Arc::default(),
            keys_changed: std::sync::Arc::default(),
            deadline: options.acquire_timeout + options.statement_timeout,
        }
    }

    /// On PostgreSQL, starts following the changes other nodes (and the
    /// CLI) announce, so that this node's client cache and key ring follow
    /// them at once (see [`changes`]) on one connection of its own, beside
    /// the pool. `None` on SQLite, where one machine is the whole cluster.
    pub fn follow_changes(&self) -> Option<tokio::task::JoinHandle<()>> {
        match &self.backend {
            Backend::Postgres(pool) => Some(tokio::spawn(changes::follow(
                pool.clone(),
                std::sync::Arc::clone(&self.clients),
                std::sync::Arc::clone(&self.keys_changed),
            ))),
            Backend::Sqlite { .. } => None,
        }
    }

    /// Woken when an announcement says the signing keys changed.
    pub fn keys_changed(&self) -> &tokio::sync::Notify {
        &self.keys_changed
    }

    /// Announces a committed change to the nodes that follow changes. A
    /// failure is only logged: the write stands, and the caches' time
    /// bounds cover a lost announcement.
    async fn announce(&self, change: changes::Change<'_>) {
        let Backend::Postgres(pool) = &self.backend else {
            return;
        };
        let payload = change.payload();
        let sent = self
            .guarded(async {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(changes::CHANNEL)
                    .bind(&payload)
                    .execute(pool)
                    .await
            })
            .await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, "announcing a change failed; other nodes see it within a second");
        }
    }

    /// Whether the circuit breaker is open: the last PostgreSQL operation
    /// found the database unreachable and no probe has reached it since.
    /// Operations fail at once with `Unavailable` meanwhile. Always `false`
    /// on SQLite.
    pub fn circuit_open(&self) -> bool {
        self.breaker.is_open()
    }

    /// Runs one PostgreSQL operation under the breaker and the deadline.
    async fn guarded<T>(
        &self,
        op: impl Future<Output = Result<T, sqlx::Error>>,
    ) -> Result<T, StoreError> {
        if self.breaker.is_open() {
            return Err(StoreError::Unavailable(
                "the database is unreachable (circuit open; probing in the background)".into(),
            ));
        }
        let (outcome, unreachable) = match tokio::time::timeout(self.deadline, op).await {
            Ok(Ok(v)) => (Ok(v), false),
            Ok(Err(e)) => {
                let unreachable = error::postgres_unreachable(&e);
                (Err(error::postgres(e)), unreachable)
            }
            Err(_) => (
                Err(StoreError::Unavailable(format!(
                    "no answer from the database within {} ms",
                    self.deadline.as_millis()
                ))),
                true,
            ),
        };
        // Only an unreachable database opens the circuit: a serialization
        // failure, a deadlock or one cancelled statement is answered 503
        // without failing everyone else.
        if unreachable && let Backend::Postgres(pool) = &self.backend {
            self.breaker.trip(pool.clone(), self.deadline);
        }
        outcome
    }
}

#[derive(Clone, Debug)]
enum Backend {
    /// SQLite in WAL mode: every write goes through `writer` (one connection,
    /// so writers queue in the pool instead of fighting over `SQLITE_BUSY`);
    /// plain reads use `reader`.
    Sqlite {
        writer: SqlitePool,
        reader: SqlitePool,
    },
    Postgres(PgPool),
}

impl Db {
    /// Connects and runs the backend's migrations.
    ///
    /// Accepted URLs: `sqlite://PATH` or `sqlite:PATH` (the file is created if
    /// missing; its directory must exist; `sqlite::memory:` gives a private
    /// in-memory database), and `postgres://…` or `postgresql://…`.
    pub async fn connect(url: &str) -> Result<Db, StoreError> {
        Db::connect_with(url, &DbOptions::default()).await
    }

    /// [`Db::connect`] with the pool size and timeouts of `options`.
    pub async fn connect_with(url: &str, options: &DbOptions) -> Result<Db, StoreError> {
        let db = if url.starts_with("sqlite:") {
            connect_sqlite(url, options).await?
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            connect_postgres(url, options).await?
        } else {
            // Name only the scheme: the rest of the URL may hold a password.
            let scheme = url.split_once(':').map(|(scheme, _)| scheme).filter(|s| {
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            });
            return Err(StoreError::Internal(match scheme {
                Some(scheme) => format!(
                    "unsupported database URL scheme {scheme:?}: expected sqlite: or postgres://"
                ),
                None => "database URL has no scheme: expected sqlite: or postgres://".to_owned(),
            }));
        };
        db.migrate().await?;
        Ok(db)
    }

    /// `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match &self.backend {
            Backend::Sqlite { .. } => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Closes the pools, waiting for checked-out connections to come back.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite { writer, reader } => {
                reader.close().await;
                writer.close().await;
            }
            Backend::Postgres(pool) => pool.close().await,
        }
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite { writer, .. } => sqlite_migrator()
                .run(writer)
                .await
                .map_err(|e| StoreError::Internal(format!("sqlite migration failed: {e}"))),
            Backend::Postgres(pool) => postgres_migrator().run(pool).await.map_err(|e| match e {
                sqlx::migrate::MigrateError::Execute(e) => error::postgres(e),
                e => StoreError::Internal(format!("postgres migration failed: {e}")),
            }),
        }
    }
}

/// The migrations are embedded in the binary. (`sqlx::migrate!` would need
/// sqlx's `macros` feature, which builds SQLite and AWS-LC a second time for
/// the proc-macro; `Migrator::with_migrations` is the documented equivalent.)
fn migrator(migrations: &[(i64, &'static str, &'static str)]) -> Migrator {
    Migrator::with_migrations(
        migrations
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    description.into(),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

fn sqlite_migrator() -> Migrator {
    migrator(&[
        (
            1,
            "init",
            include_str!("../migrations/sqlite/0001_init.sql"),
        ),
        (
            2,
            "signin",
            include_str!("../migrations/sqlite/0002_signin.sql"),
        ),
        (3, "mfa", include_str!("../migrations/sqlite/0003_mfa.sql")),
        (
            4,
            "audit",
            include_str!("../migrations/sqlite/0004_audit.sql"),
        ),
        (
            5,
            "mail",
            include_str!("../migrations/sqlite/0005_mail.sql"),
        ),
        (
            6,
            "dpop",
            include_str!("../migrations/sqlite/0006_dpop.sql"),
        ),
        (7, "par", include_str!("../migrations/sqlite/0007_par.sql")),
        (
            8,
            "passkeys",
            include_str!("../migrations/sqlite/0008_passkeys.sql"),
        ),
        (
            9,
            "upstreams",
            include_str!("../migrations/sqlite/0009_upstreams.sql"),
        ),
        (
            10,
            "groups",
            include_str!("../migrations/sqlite/0010_groups.sql"),
        ),
        (
            11,
            "stored_upstreams",
            include_str!("../migrations/sqlite/0011_stored_upstreams.sql"),
        ),
        (
            12,
            "grant_idp",
            include_str!("../migrations/sqlite/0012_grant_idp.sql"),
        ),
        (
            13,
            "grant_claims",
            include_str!("../migrations/sqlite/0013_grant_claims.sql"),
        ),
        (
            14,
            "device_codes",
            include_str!("../migrations/sqlite/0014_device_codes.sql"),
        ),
    ])
}

fn postgres_migrator() -> Migrator {
    migrator(&[
        (
            1,
            "init",
            include_str!("../migrations/postgres/0001_init.sql"),
        ),
        (
            2,
            "signin",
            include_str!("../migrations/postgres/0002_signin.sql"),
        ),
        (
            3,
            "mfa",
            include_str!("../migrations/postgres/0003_mfa.sql"),
        ),
        (
            4,
            "audit",
            include_str!("../migrations/postgres/0004_audit.sql"),
        ),
        (
            5,
            "mail",
            include_str!("../migrations/postgres/0005_mail.sql"),
        ),
        (
            6,
            "dpop",
            include_str!("../migrations/postgres/0006_dpop.sql"),
        ),
        (
            7,
            "par",
            include_str!("../migrations/postgres/0007_par.sql"),
        ),
        (
            8,
            "passkeys",
            include_str!("../migrations/postgres/0008_passkeys.sql"),
        ),
        (
            9,
            "upstreams",
            include_str!("../migrations/postgres/0009_upstreams.sql"),
        ),
        (
            10,
            "groups",
            include_str!("../migrations/postgres/0010_groups.sql"),
        ),
        (
            11,
            "stored_upstreams",
            include_str!("../migrations/postgres/0011_stored_upstreams.sql"),
        ),
        (
            12,
            "grant_idp",
            include_str!("../migrations/postgres/0012_grant_idp.sql"),
        ),
        (
            13,
            "grant_claims",
            include_str!("../migrations/postgres/0013_grant_claims.sql"),
        ),
        (
            14,
            "device_codes",
            include_str!("../migrations/postgres/0014_device_codes.sql"),
        ),
    ])
}

async fn connect_sqlite(url: &str, options: &DbOptions) -> Result<Db, StoreError> {
    let base = SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::Internal(format!("invalid sqlite URL: {e}")))?
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true);
    let rest = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let in_memory = rest.starts_with(":memory:") || rest.contains("mode=memory");

    let writer = SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(if in_memory { 1 } else { 0 })
        // An in-memory database lives as long as its connection.
        .idle_timeout(if in_memory {
            None
        } else {
            Some(Duration::from_secs(600))
        })
        .max_lifetime(if in_memory {
            None
        } else {
            Some(Duration::from_secs(1800))
        })
        .acquire_timeout(SQLITE_WRITER_ACQUIRE_TIMEOUT)
        .connect_with(
            base.clone()
                .create_if_missing(true)
                .journal_mode(if in_memory {
                    SqliteJournalMode::Memory
                } else {
                    SqliteJournalMode::Wal
                }),
        )
        .await
        .map_err(error::sqlite)?;
    if in_memory {
        // One connection is the whole database: reads share it.
        return Ok(Db::new(
            Backend::Sqlite {
                reader: writer.clone(),
                writer,
            },
            options,
        ));
    }
    let reader = SqlitePoolOptions::new()
        .max_connections(SQLITE_READERS)
        .acquire_timeout(SQLITE_BUSY_TIMEOUT)
        .connect_with(base.read_only(true))
        .await
        .map_err(error::sqlite)?;
    Ok(Db::new(Backend::Sqlite { writer, reader }, options))
}

async fn connect_postgres(url: &str, db_options: &DbOptions) -> Result<Db, StoreError> {
    let options = sqlx::postgres::PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::Internal(format!("invalid postgres URL: {e}")))?;
    if db_options.pool_size == 0 {
        return Err(StoreError::Internal(
            "the PostgreSQL pool needs at least one connection".into(),
        ));
    }
    // Set once per connection, by statement rather than as startup
    // `options` (which pgbouncer and some cloud proxies refuse): a statement
    // that runs past the timeout is cancelled by the server, and a session
    // left idle inside a transaction (a node that vanished mid-transaction)
    // is ended so its row locks do not outlive it.
    let statement_ms = db_options.statement_timeout.as_millis().max(1);
    let session_setup = format!(
        "SET statement_timeout = {statement_ms}; \
         SET idle_in_transaction_session_timeout = {}",
        statement_ms.saturating_mul(2)
    );
    let pool = match PgPoolOptions::new()
        .max_connections(db_options.pool_size)
        .acquire_timeout(db_options.acquire_timeout)
        .after_connect(move |conn, _meta| {
            let setup = session_setup.clone();
            Box::pin(async move {
                use sqlx::Executor;
                conn.execute(sqlx::raw_sql(sqlx::AssertSqlSafe(setup)))
                    .await?;
                Ok(())
            })
        })
        .connect_with(options.clone())
        .await
    {
        Ok(pool) => pool,
        // The pool only says it timed out; one direct connection names the
        // cause (refused, no such host, authentication, TLS).
        Err(sqlx::Error::PoolTimedOut) => {
            use sqlx::Connection;
            let cause = match sqlx::postgres::PgConnection::connect_with(&options).await {
                Ok(_) => "no connection within the pool's timeout".to_owned(),
                Err(e) => e.to_string(),
            };
            return Err(StoreError::Unavailable(format!(
                "cannot reach PostgreSQL at {}:{}: {cause}",
                options.get_host(),
                options.get_port()
            )));
        }
        Err(e) => return Err(error::postgres(e)),
    };
    Ok(Db::new(Backend::Postgres(pool), db_options))
}
