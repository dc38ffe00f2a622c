//! `frontdesk db copy`: a stopped SQLite install into an empty PostgreSQL
//! database, every row of every table the migrations create.
//!
//! Column-driven, not table-by-table: the tables, their columns and their
//! PostgreSQL types come from the target's catalog after [`Db::connect`] has
//! migrated it, and the SQLite source must have the same tables, the same
//! columns and the same applied migrations; a value is read from SQLite as
//! the PostgreSQL column's type says (`BOOLEAN` ← SQLite's `INTEGER` 0/1,
//! `BYTEA` ← `BLOB`, `BIGINT` ← `INTEGER`, `TEXT` ← `TEXT`; JSON is `TEXT`
//! on both). A new migration is copied without a change here, and a column
//! type this module cannot map is refused before anything is written.
//!
//! The source is opened read-only and read in one read transaction (one
//! snapshot); the target is written in one transaction (all or nothing),
//! table by table in foreign-key order, in batches of at most
//! [`BATCH_ROWS`] rows per `INSERT`, and the row count of every table is
//! compared with the source before COMMIT. Refused, with nothing written:
//! a target with any row in any table, a source whose write-ahead log is
//! not empty (a server still running on it, or one that did not stop
//! cleanly), a source that changed while it was read.
//!
//! URLs are never part of a message: a PostgreSQL URL may hold a password.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use frontdesk_core::store::StoreError;
use sqlx::postgres::{PgArguments, PgConnectOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteRow};
use sqlx::{AssertSqlSafe, Connection, PgConnection, Postgres, Row, SqliteConnection};

use crate::{Db, error};

/// Rows per `INSERT` (fewer for a table so wide that this many rows would
/// pass PostgreSQL's 65,535 bind parameters).
pub const BATCH_ROWS: usize = 500;

/// PostgreSQL's limit on bind parameters in one statement.
const MAX_BINDS: usize = 65_535;

/// The sqlx bookkeeping table, created by `Db::connect` on both sides;
/// compared, never copied.
const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// What a copy moved: every table in the order it was written, with its
/// row count (equal on both sides, checked before COMMIT).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyReport {
    pub tables: Vec<(String, u64)>,
}

impl CopyReport {
    /// Rows over all tables.
    pub fn total_rows(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

/// Why a copy did not happen. Either way nothing was written to the target
/// (beyond `Db::connect`'s migrations of an empty database).
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// A precondition does not hold (wrong scheme, non-empty target,
    /// source in use, schemas differ); the message says which and what to do.
    #[error("{0}")]
    Refused(String),
    /// A database error while reading or writing.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn refused(message: impl Into<String>) -> CopyError {
    CopyError::Refused(message.into())
}

/// A PostgreSQL column type this module maps from SQLite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `bigint` ← SQLite `INTEGER`.
    BigInt,
    /// `integer` ← SQLite `INTEGER`, range-checked.
    Int,
    /// `text` ← SQLite `TEXT`.
    Text,
    /// `bytea` ← SQLite `BLOB`.
    Bytes,
    /// `boolean` ← SQLite `INTEGER` 0 or 1 (anything else is refused).
    Bool,
}

impl Kind {
    fn from_postgres(data_type: &str) -> Option<Kind> {
        match data_type {
            "bigint" => Some(Kind::BigInt),
            "integer" => Some(Kind::Int),
            "text" => Some(Kind::Text),
            "bytea" => Some(Kind::Bytes),
            "boolean" => Some(Kind::Bool),
            _ => None,
        }
    }
}

/// One value on its way from SQLite to PostgreSQL.
enum Value {
    BigInt(Option<i64>),
    Int(Option<i32>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
    Bool(Option<bool>),
}

struct Column {
    name: String,
    kind: Kind,
    identity: bool,
}

struct Table {
    name: String,
    columns: Vec<Column>,
}

/// Copies the SQLite database at `from` (`sqlite:PATH` or `sqlite://PATH`)
/// into the PostgreSQL database at `to` (`postgres://…`), which is migrated
/// by [`Db::connect`] first and must hold no row in any table.
pub async fn copy_sqlite_to_postgres(from: &str, to: &str) -> Result<CopyReport, CopyError> {
    let source_options = source_options(from)?;
    if !to.starts_with("postgres://") && !to.starts_with("postgresql://") {
        return Err(refused(
            "--to must be a PostgreSQL URL (postgres://…): db copy moves SQLite into PostgreSQL",
        ));
    }
    let path = source_options.get_filename().to_path_buf();
    if !path.is_file() {
        return Err(refused(format!(
            "the SQLite database {} does not exist",
            path.display()
        )));
    }
    check_wal(&path)?;

    // Migrate the target to this version's schema, then write through a
    // connection of our own: no per-statement timeout of the server's pool
    // on a copy that may take minutes.
    Db::connect(to).await?.close().await;
    let target_options = PgConnectOptions::from_str(to)
        .map_err(|e| StoreError::Internal(format!("invalid postgres URL: {e}")))?;
    let mut pg = PgConnection::connect_with(&target_options)
        .await
        .map_err(error::postgres)?;
    let mut sqlite = SqliteConnection::connect_with(&source_options)
        .await
        .map_err(error::sqlite)?;

    let outcome = copy(&mut sqlite, &mut pg).await;
    // Both connections end here, whatever happened: a failed copy was
    // rolled back (the transaction is dropped before this), and the source
    // was only read.
    let _ = sqlite.close().await;
    let _ = pg.close().await;
    outcome
}

/// The source's connect options: read-only, never created.
fn source_options(from: &str) -> Result<SqliteConnectOptions, CopyError> {
    if !from.starts_with("sqlite:") {
        return Err(refused(
            "--from must be an SQLite URL (sqlite:PATH or sqlite://PATH): db copy moves SQLite into PostgreSQL",
        ));
    }
    let rest = from
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    if rest.starts_with(":memory:") || rest.contains("mode=memory") {
        return Err(refused(
            "--from names an in-memory SQLite database: there is nothing to copy",
        ));
    }
    Ok(SqliteConnectOptions::from_str(from)
        .map_err(|e| StoreError::Internal(format!("invalid sqlite URL: {e}")))?
        .read_only(true)
        .create_if_missing(false))
}

/// Refuses a source whose write-ahead log holds pages: a server stopped
/// cleanly merges and removes it (the last connection checkpoints), so
/// pages there mean a server still running on the file, or one that was
/// killed. (SQLite would read them correctly, but a running server goes
/// on writing after the copy, and those writes would be lost.)
fn check_wal(path: &Path) -> Result<(), CopyError> {
    let mut wal = PathBuf::from(path).into_os_string();
    wal.push("-wal");
    let wal = PathBuf::from(wal);
    match std::fs::metadata(&wal) {
        Ok(m) if m.len() > 0 => Err(refused(format!(
            "the SQLite database has a non-empty write-ahead log ({}): a server is still running \
             on it, or it did not stop cleanly. Stop the server (if it was killed, start it once \
             and stop it with SIGTERM or Ctrl-C) and run db copy again",
            wal.display()
        ))),
        _ => Ok(()),
    }
}

async fn copy(
    sqlite: &mut SqliteConnection,
    pg: &mut PgConnection,
) -> Result<CopyReport, CopyError> {
    // Bumped by every commit of another connection (PRAGMA data_version),
    // read once before the source snapshot and once after it.
    let version_before = data_version(sqlite).await?;
    let mut src = sqlite.begin().await.map_err(error::sqlite)?;
    let mut dst = pg.begin().await.map_err(error::postgres)?;

    check_migrations(&mut src, &mut dst).await?;
    let tables = target_tables(&mut dst).await?;
    check_source_schema(&mut src, &tables).await?;

    let names: Vec<String> = tables.iter().map(|t| quote(&t.name)).collect();
    exec(&mut dst, "SET LOCAL lock_timeout = '10s'").await?;
    // Nothing else writes the target until COMMIT (a server started on it
    // meanwhile waits), so "empty" stays true while we write.
    exec(
        &mut dst,
        &format!("LOCK TABLE {} IN EXCLUSIVE MODE", names.join(", ")),
    )
    .await?;
    let mut occupied = Vec::new();
    for t in &tables {
        let sql = format!("SELECT EXISTS (SELECT 1 FROM {})", quote(&t.name));
        let any: bool = sqlx::query_scalar(AssertSqlSafe(sql))
            .fetch_one(&mut *dst)
            .await
            .map_err(error::postgres)?;
        if any {
            occupied.push(t.name.as_str());
        }
    }
    if !occupied.is_empty() {
        return Err(refused(format!(
            "the target database is not empty (rows in {}): db copy writes only into an empty \
             database; nothing was written",
            occupied.join(", ")
        )));
    }

    let mut report = Vec::with_capacity(tables.len());
    for t in &tables {
        let copied = copy_table(&mut src, &mut dst, t).await?;
        let count = format!("SELECT count(*) FROM {}", quote(&t.name));
        let in_source: i64 = sqlx::query_scalar(AssertSqlSafe(count.clone()))
            .fetch_one(&mut *src)
            .await
            .map_err(error::sqlite)?;
        let in_target: i64 = sqlx::query_scalar(AssertSqlSafe(count))
            .fetch_one(&mut *dst)
            .await
            .map_err(error::postgres)?;
        if in_source != in_target || u64::try_from(in_target).ok() != Some(copied) {
            return Err(StoreError::Internal(format!(
                "row counts differ after copying {}: {in_source} in SQLite, {in_target} in \
                 PostgreSQL, {copied} copied; nothing was written",
                t.name
            ))
            .into());
        }
        for c in t.columns.iter().filter(|c| c.identity) {
            // The next generated value follows the copied ones.
            if copied > 0 {
                let sql = format!(
                    "SELECT setval(pg_get_serial_sequence($1, $2), (SELECT max({}) FROM {}))",
                    quote(&c.name),
                    quote(&t.name)
                );
                sqlx::query(AssertSqlSafe(sql))
                    .bind(quote(&t.name))
                    .bind(&c.name)
                    .execute(&mut *dst)
                    .await
                    .map_err(error::postgres)?;
            }
        }
        report.push((t.name.clone(), copied));
    }

    src.commit().await.map_err(error::sqlite)?;
    if data_version(sqlite).await? != version_before {
        return Err(refused(
            "the SQLite database changed while it was copied: a server is running on it. Stop \
             it and run db copy again; nothing was written",
        ));
    }
    dst.commit().await.map_err(error::postgres)?;
    Ok(CopyReport { tables: report })
}

async fn data_version(sqlite: &mut SqliteConnection) -> Result<i64, CopyError> {
    Ok(sqlx::query_scalar("PRAGMA data_version")
        .fetch_one(&mut *sqlite)
        .await
        .map_err(error::sqlite)?)
}

async fn exec(pg: &mut PgConnection, sql: &str) -> Result<(), CopyError> {
    sqlx::raw_sql(AssertSqlSafe(sql.to_owned()))
        .execute(&mut *pg)
        .await
        .map_err(error::postgres)?;
    Ok(())
}

/// A double-quoted SQL identifier. The names come from the catalogs, but
/// quoting keeps any name a name.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Both databases must be at the same schema version: the source at the
/// versions `Db::connect` has just brought the target to.
async fn check_migrations(
    src: &mut SqliteConnection,
    dst: &mut PgConnection,
) -> Result<(), CopyError> {
    let has_table: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1)",
    )
    .bind(MIGRATIONS_TABLE)
    .fetch_one(&mut *src)
    .await
    .map_err(error::sqlite)?;
    if !has_table {
        return Err(refused(
            "the SQLite database is not a frontdesk database (it has no _sqlx_migrations table)",
        ));
    }
    let sql = "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version";
    let source: Vec<i64> = sqlx::query_scalar(sql)
        .fetch_all(&mut *src)
        .await
        .map_err(error::sqlite)?;
    let target: Vec<i64> = sqlx::query_scalar(sql)
        .fetch_all(&mut *dst)
        .await
        .map_err(error::postgres)?;
    if source == target {
        return Ok(());
    }
    let last = |v: &[i64]| v.last().copied().unwrap_or(0);
    Err(refused(if last(&source) < last(&target) {
        format!(
            "the SQLite database is at schema version {} and this frontdesk at {}: start this \
             version's server on it once (it migrates the database), stop it, and run db copy again",
            last(&source),
            last(&target)
        )
    } else {
        format!(
            "the SQLite database's migrations ({source:?}) are not this frontdesk's ({target:?}): \
             copy it with the frontdesk version that wrote it"
        )
    }))
}

/// The target's tables with their columns, in foreign-key order (a table
/// after every table it references; ties by name).
async fn target_tables(dst: &mut PgConnection) -> Result<Vec<Table>, CopyError> {
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT c.table_name::text, c.column_name::text, c.data_type::text, c.is_identity::text \
         FROM information_schema.columns c \
         JOIN information_schema.tables t \
           ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
         WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' \
           AND c.table_name <> $1 \
         ORDER BY c.table_name, c.ordinal_position",
    )
    .bind(MIGRATIONS_TABLE)
    .fetch_all(&mut *dst)
    .await
    .map_err(error::postgres)?;
    let mut tables: BTreeMap<String, Vec<Column>> = BTreeMap::new();
    for (table, column, data_type, identity) in rows {
        let Some(kind) = Kind::from_postgres(&data_type) else {
            return Err(refused(format!(
                "column {table}.{column} has the PostgreSQL type {data_type}, which db copy \
                 cannot map from SQLite yet"
            )));
        };
        tables.entry(table).or_default().push(Column {
            name: column,
            kind,
            identity: identity == "YES",
        });
    }
    let edges: Vec<(String, String)> = sqlx::query_as(
        "SELECT child.relname::text, parent.relname::text \
         FROM pg_constraint k \
         JOIN pg_class child ON child.oid = k.conrelid \
         JOIN pg_class parent ON parent.oid = k.confrelid \
         JOIN pg_namespace n ON n.oid = child.relnamespace \
         WHERE k.contype = 'f' AND n.nspname = current_schema()",
    )
    .fetch_all(&mut *dst)
    .await
    .map_err(error::postgres)?;
    let order = foreign_key_order(tables.keys().cloned().collect(), &edges)?;
    Ok(order
        .into_iter()
        .filter_map(|name| tables.remove(&name).map(|columns| Table { name, columns }))
        .collect())
}

/// Kahn's algorithm over `(child, parent)` edges; self-references ignored.
fn foreign_key_order(
    tables: BTreeSet<String>,
    edges: &[(String, String)],
) -> Result<Vec<String>, CopyError> {
    let mut parents: BTreeMap<&str, BTreeSet<&str>> = tables
        .iter()
        .map(|t| (t.as_str(), BTreeSet::new()))
        .collect();
    for (child, parent) in edges {
        if child != parent
            && tables.contains(parent)
            && let Some(set) = parents.get_mut(child.as_str())
        {
            set.insert(parent.as_str());
        }
    }
    let mut order: Vec<String> = Vec::with_capacity(tables.len());
    while !parents.is_empty() {
        let ready: Vec<&str> = parents
            .iter()
            .filter(|(_, p)| p.is_empty())
            .map(|(t, _)| *t)
            .collect();
        if ready.is_empty() {
            let left: Vec<&str> = parents.keys().copied().collect();
            return Err(refused(format!(
                "the foreign keys between {} form a cycle: db copy cannot order them",
                left.join(", ")
            )));
        }
        for t in ready {
            parents.remove(t);
            for p in parents.values_mut() {
                p.remove(t);
            }
            order.push(t.to_owned());
        }
    }
    Ok(order)
}

/// The source must have exactly the target's tables and columns (the
/// migrations of both backends create the same ones).
async fn check_source_schema(
    src: &mut SqliteConnection,
    tables: &[Table],
) -> Result<(), CopyError> {
    let names: BTreeSet<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> $1",
    )
    .bind(MIGRATIONS_TABLE)
    .fetch_all(&mut *src)
    .await
    .map_err(error::sqlite)?
    .into_iter()
    .collect();
    let expected: BTreeSet<String> = tables.iter().map(|t| t.name.clone()).collect();
    if names != expected {
        let only = |a: &BTreeSet<String>, b: &BTreeSet<String>| {
            a.difference(b).cloned().collect::<Vec<_>>().join(", ")
        };
        return Err(refused(format!(
            "the databases' tables differ (only in SQLite: [{}]; only in PostgreSQL: [{}])",
            only(&names, &expected),
            only(&expected, &names)
        )));
    }
    for t in tables {
        let columns: BTreeSet<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_info($1)")
                .bind(&t.name)
                .fetch_all(&mut *src)
                .await
                .map_err(error::sqlite)?
                .into_iter()
                .collect();
        let expected: BTreeSet<String> = t.columns.iter().map(|c| c.name.clone()).collect();
        if columns != expected {
            return Err(refused(format!(
                "the columns of {} differ between SQLite ({}) and PostgreSQL ({})",
                t.name,
                columns.into_iter().collect::<Vec<_>>().join(", "),
                expected.into_iter().collect::<Vec<_>>().join(", ")
            )));
        }
    }
    Ok(())
}

/// Copies one table in pages of rowids (one snapshot: the read
/// transaction), one multi-row `INSERT` per page. Returns the rows copied.
async fn copy_table(
    src: &mut SqliteConnection,
    dst: &mut PgConnection,
    t: &Table,
) -> Result<u64, CopyError> {
    let columns: Vec<String> = t.columns.iter().map(|c| quote(&c.name)).collect();
    let batch = BATCH_ROWS.min(MAX_BINDS / t.columns.len().max(1)).max(1);
    let select = format!(
        "SELECT rowid, {} FROM {} WHERE rowid > $1 ORDER BY rowid LIMIT {batch}",
        columns.join(", "),
        quote(&t.name)
    );
    let insert_head = format!(
        "INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE VALUES ",
        quote(&t.name),
        columns.join(", ")
    );
    let mut after = i64::MIN;
    let mut copied = 0u64;
    loop {
        let rows: Vec<SqliteRow> = sqlx::query(AssertSqlSafe(select.clone()))
            .bind(after)
            .fetch_all(&mut *src)
            .await
            .map_err(error::sqlite)?;
        let Some(last) = rows.last() else {
            return Ok(copied);
        };
        after = last.try_get(0).map_err(error::sqlite)?;
        let mut values = Vec::with_capacity(rows.len() * t.columns.len());
        for row in &rows {
            for (i, c) in t.columns.iter().enumerate() {
                values.push(read(row, i + 1, c, &t.name)?);
            }
        }
        let sql = insert_sql(&insert_head, rows.len(), t.columns.len());
        let mut query: sqlx::query::Query<'_, Postgres, PgArguments> =
            sqlx::query(AssertSqlSafe(sql));
        for v in values {
            query = match v {
                Value::BigInt(v) => query.bind(v),
                Value::Int(v) => query.bind(v),
                Value::Text(v) => query.bind(v),
                Value::Bytes(v) => query.bind(v),
                Value::Bool(v) => query.bind(v),
            };
        }
        let done = query.execute(&mut *dst).await.map_err(error::postgres)?;
        copied += done.rows_affected();
        if rows.len() < batch {
            return Ok(copied);
        }
    }
}

/// `INSERT … VALUES ($1, $2), ($3, $4)` for `rows` rows of `width` columns.
fn insert_sql(head: &str, rows: usize, width: usize) -> String {
    let mut sql = String::with_capacity(head.len() + rows * width * 6);
    sql.push_str(head);
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..width {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&(r * width + c + 1).to_string());
        }
        sql.push(')');
    }
    sql
}

/// Reads column `i` of an SQLite row as the target column's type says.
fn read(row: &SqliteRow, i: usize, c: &Column, table: &str) -> Result<Value, CopyError> {
    let bad = |e: sqlx::Error| {
        CopyError::Store(StoreError::Internal(format!(
            "{table}.{}: cannot read the SQLite value as {:?}: {e}",
            c.name, c.kind
        )))
    };
    Ok(match c.kind {
        Kind::BigInt => Value::BigInt(row.try_get(i).map_err(bad)?),
        Kind::Int => {
            let v: Option<i64> = row.try_get(i).map_err(bad)?;
            Value::Int(
                v.map(i32::try_from)
                    .transpose()
                    .map_err(|_| out_of_range(table, &c.name, "a 32-bit integer"))?,
            )
        }
        Kind::Text => Value::Text(row.try_get(i).map_err(bad)?),
        Kind::Bytes => Value::Bytes(row.try_get(i).map_err(bad)?),
        Kind::Bool => {
            let v: Option<i64> = row.try_get(i).map_err(bad)?;
            Value::Bool(match v {
                None => None,
                Some(0) => Some(false),
                Some(1) => Some(true),
                Some(_) => return Err(out_of_range(table, &c.name, "0 or 1 (a boolean)")),
            })
        }
    })
}

fn out_of_range(table: &str, column: &str, what: &str) -> CopyError {
    CopyError::Store(StoreError::Internal(format!(
        "{table}.{column}: an SQLite value is not {what}"
    )))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn names(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn foreign_key_order_puts_parents_first() {
        let edges = [
            ("grants".to_owned(), "clients".to_owned()),
            ("refresh_tokens".to_owned(), "grants".to_owned()),
            ("consents".to_owned(), "clients".to_owned()),
            ("users".to_owned(), "users".to_owned()),
        ];
        let order = foreign_key_order(
            names(&["refresh_tokens", "consents", "grants", "clients", "users"]),
            &edges,
        )
        .unwrap();
        assert_eq!(
            order,
            ["clients", "users", "consents", "grants", "refresh_tokens"]
        );
    }

    #[test]
    fn foreign_key_cycle_is_refused() {
        let edges = [
            ("a".to_owned(), "b".to_owned()),
            ("b".to_owned(), "a".to_owned()),
        ];
        let e = foreign_key_order(names(&["a", "b", "c"]), &edges).unwrap_err();
        assert!(e.to_string().contains("a, b form a cycle"), "{e}");
    }

    #[test]
    fn insert_sql_numbers_every_placeholder() {
        assert_eq!(
            insert_sql("INSERT INTO t (a, b) VALUES ", 2, 2),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)"
        );
    }

    #[test]
    fn schemes_are_checked_before_anything_opens() {
        let run = |from: &'static str, to: &'static str| async move {
            copy_sqlite_to_postgres(from, to)
                .await
                .unwrap_err()
                .to_string()
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let e = rt.block_on(run("postgres://u:hunter2@h/db", "postgres://u:pw@h/db"));
        assert!(e.starts_with("--from must be an SQLite URL"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        let e = rt.block_on(run("sqlite:/tmp/x.db", "mysql://u:hunter2@h/db"));
        assert!(e.starts_with("--to must be a PostgreSQL URL"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
        let e = rt.block_on(run("sqlite::memory:", "postgres://u:pw@h/db"));
        assert!(e.contains("in-memory"), "{e}");
    }
}
