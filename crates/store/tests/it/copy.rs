//! `copy::copy_sqlite_to_postgres`: every table, every column type, NULLs,
//! batches, the identity sequence; and each refusal with nothing written.
//!
//! The fixture is generated from the SQLite schema itself (two or more
//! rows in every table the migrations create, every nullable column once
//! NULL), so a table added by a later migration is copied and compared here
//! without a change to this file.

use std::collections::BTreeMap;

use frontdesk_core::store::Store;
use frontdesk_store::Db;
use frontdesk_store::copy::{BATCH_ROWS, CopyError, copy_sqlite_to_postgres};
use sqlx::{AssertSqlSafe, Connection, PgConnection, Row, SqliteConnection};

use crate::support::client;

/// Rows in `audit_events`: more than two batches and a partial one.
const BIG: usize = 2 * BATCH_ROWS + 201;

struct Source {
    _dir: tempfile::TempDir,
    url: String,
    path: std::path::PathBuf,
}

/// A migrated SQLite database, closed (so its WAL is merged).
async fn source() -> Source {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("frontdesk.db");
    let url = format!("sqlite://{}", path.display());
    Db::connect(&url).await.unwrap().close().await;
    Source {
        _dir: dir,
        url,
        path,
    }
}

/// A fresh, migrated PostgreSQL database, or `None` without the variable.
async fn target() -> Option<String> {
    let Some(url) = frontdesk_store::testing::postgres_url_from_env()
        .await
        .unwrap()
    else {
        eprintln!("skipped: FRONTDESK_TEST_POSTGRES_URL not set");
        return None;
    };
    Db::connect(&url).await.unwrap().close().await;
    Some(url)
}

/// `(table, [(column, postgres data type, nullable)])` of the migrated
/// PostgreSQL schema, the types the copy maps to.
async fn pg_schema(url: &str) -> BTreeMap<String, Vec<(String, String, bool)>> {
    let mut pg = PgConnection::connect(url).await.unwrap();
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text \
         FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations' \
         ORDER BY table_name, ordinal_position",
    )
    .fetch_all(&mut pg)
    .await
    .unwrap();
    pg.close().await.unwrap();
    let mut schema: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for (t, c, ty, nullable) in rows {
        schema
            .entry(t)
            .or_default()
            .push((c, ty, nullable == "YES"));
    }
    schema
}

/// Parents first, as the foreign keys need.
fn insert_order(schema: &BTreeMap<String, Vec<(String, String, bool)>>) -> Vec<String> {
    let first = ["clients", "grants"];
    let mut order: Vec<String> = first.iter().map(|s| (*s).to_owned()).collect();
    order.extend(
        schema
            .keys()
            .filter(|t| !first.contains(&t.as_str()))
            .cloned(),
    );
    order
}

/// Fills every table of the SQLite source: row `i` has distinct values of
/// the column's type (`bigint` past 32 bits, `boolean` 0/1, text with
/// quotes and non-ASCII, bytes with 0x00 and 0xff), and every odd row
/// leaves its nullable columns NULL.
async fn fill(src: &Source, schema: &BTreeMap<String, Vec<(String, String, bool)>>) {
    let mut conn = SqliteConnection::connect(&src.url).await.unwrap();
    let mut tx = conn.begin().await.unwrap();
    for table in insert_order(schema) {
        let columns = &schema[&table];
        let rows = if table == "audit_events" { BIG } else { 3 };
        let names: Vec<&str> = columns.iter().map(|(c, _, _)| c.as_str()).collect();
        let marks: Vec<String> = (1..=columns.len()).map(|n| format!("${n}")).collect();
        let sql = format!(
            "INSERT INTO {table} ({}) VALUES ({})",
            names.join(", "),
            marks.join(", ")
        );
        for i in 0..rows {
            let mut q = sqlx::query(AssertSqlSafe(sql.clone()));
            for (column, ty, nullable) in columns {
                let null = *nullable && i % 2 == 1;
                // Values the foreign keys and CHECK constraints need.
                let text = match column.as_str() {
                    "client_id" => format!("client-{}", i % 3),
                    "grant_id" => format!("grant-{}", i % 3),
                    "key_use" => ["access_token", "id_token"][i % 2].to_owned(),
                    "purpose" => ["verify_email", "reset_password"][i % 2].to_owned(),
                    _ => format!("{table}.{column}.{i} \"q\" 'ü' —"),
                };
                q = match ty.as_str() {
                    // Small ids, as a generated identity would give them
                    // (a sequence left at 1 would collide with them).
                    "bigint" if column == "id" => q.bind(i as i64 + 1),
                    "bigint" => q.bind((!null).then_some(5_000_000_000_i64 + i as i64)),
                    "integer" => q.bind((!null).then_some(i as i64)),
                    "boolean" => q.bind((!null).then_some((i % 2) as i64)),
                    "bytea" => {
                        q.bind((!null).then(|| vec![0, 255, (i % 256) as u8, (i / 256) as u8]))
                    }
                    "text" => q.bind((!null).then_some(text)),
                    other => panic!("the fixture has no value for {table}.{column} ({other})"),
                };
            }
            q.execute(&mut *tx).await.unwrap();
        }
    }
    tx.commit().await.unwrap();
    conn.close().await.unwrap();
}

/// Every row of `table` with each value as text (bytes as lower-case hex,
/// booleans as 0/1), sorted: the same on both sides iff the copy is exact.
async fn dump(
    sqlite: &mut SqliteConnection,
    pg: &mut PgConnection,
    table: &str,
    columns: &[(String, String, bool)],
) -> (Vec<Vec<Option<String>>>, Vec<Vec<Option<String>>>) {
    let lite: Vec<String> = columns
        .iter()
        .map(|(c, ty, _)| match ty.as_str() {
            "bytea" => format!("CASE WHEN {c} IS NULL THEN NULL ELSE lower(hex({c})) END"),
            _ => format!("CAST({c} AS TEXT)"),
        })
        .collect();
    let post: Vec<String> = columns
        .iter()
        .map(|(c, ty, _)| match ty.as_str() {
            "bytea" => format!("encode({c}, 'hex')"),
            "boolean" => format!("({c}::int)::text"),
            _ => format!("{c}::text"),
        })
        .collect();
    let width = columns.len();
    let read = |rows: Vec<Vec<Option<String>>>| {
        let mut rows = rows;
        rows.sort();
        rows
    };
    let a = sqlx::query(AssertSqlSafe(format!(
        "SELECT {} FROM {table}",
        lite.join(", ")
    )))
    .fetch_all(&mut *sqlite)
    .await
    .unwrap()
    .iter()
    .map(|r| (0..width).map(|i| r.get::<Option<String>, _>(i)).collect())
    .collect();
    let b = sqlx::query(AssertSqlSafe(format!(
        "SELECT {} FROM {table}",
        post.join(", ")
    )))
    .fetch_all(&mut *pg)
    .await
    .unwrap()
    .iter()
    .map(|r| (0..width).map(|i| r.get::<Option<String>, _>(i)).collect())
    .collect();
    (read(a), read(b))
}

async fn pg_counts(url: &str, tables: &[String]) -> Vec<(String, i64)> {
    let mut pg = PgConnection::connect(url).await.unwrap();
    let mut out = Vec::new();
    for t in tables {
        let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(*) FROM {t}")))
            .fetch_one(&mut pg)
            .await
            .unwrap();
        out.push((t.clone(), n));
    }
    pg.close().await.unwrap();
    out
}

fn refused(e: CopyError) -> String {
    match e {
        CopyError::Refused(m) => m,
        CopyError::Store(e) => panic!("expected a refusal, got {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_every_table_exactly_and_refuses_a_second_time() {
    let Some(to) = target().await else { return };
    let schema = pg_schema(&to).await;
    let src = source().await;
    fill(&src, &schema).await;
    let before = std::fs::read(&src.path).unwrap();

    let report = copy_sqlite_to_postgres(&src.url, &to).await.unwrap();

    // The source file is byte for byte what it was.
    assert_eq!(std::fs::read(&src.path).unwrap(), before, "source changed");
    // Every table, parents before children, with its count.
    let tables: Vec<String> = report.tables.iter().map(|(t, _)| t.clone()).collect();
    let mut sorted = tables.clone();
    sorted.sort();
    assert_eq!(sorted, schema.keys().cloned().collect::<Vec<_>>());
    let at = |t: &str| tables.iter().position(|x| x == t).unwrap();
    assert!(at("clients") < at("grants") && at("grants") < at("refresh_tokens"));
    assert!(at("clients") < at("client_secrets") && at("clients") < at("consents"));
    assert!(at("grants") < at("authorization_codes"));
    for (t, n) in &report.tables {
        let want = if t == "audit_events" { BIG } else { 3 };
        assert_eq!(*n, want as u64, "{t}");
    }
    assert_eq!(report.total_rows(), (BIG + 3 * (schema.len() - 1)) as u64);

    // Every value, NULLs included, arrived as it was.
    let mut sqlite = SqliteConnection::connect(&src.url).await.unwrap();
    let mut pg = PgConnection::connect(&to).await.unwrap();
    for (table, columns) in &schema {
        let (a, b) = dump(&mut sqlite, &mut pg, table, columns).await;
        assert_eq!(a, b, "{table}");
    }
    sqlite.close().await.unwrap();
    pg.close().await.unwrap();

    // The identity sequence of client_secrets follows the copied ids: a
    // new client's secret gets a fresh id instead of colliding.
    let db = Db::connect(&to).await.unwrap();
    db.create_client(&client("after-copy")).await.unwrap();
    db.close().await;

    // A second copy into the now non-empty target is refused and writes
    // nothing.
    let counts = pg_counts(&to, &tables).await;
    let message = refused(copy_sqlite_to_postgres(&src.url, &to).await.unwrap_err());
    assert!(
        message.starts_with("the target database is not empty (rows in "),
        "{message}"
    );
    assert!(
        message.contains("clients") && message.contains("audit_events"),
        "{message}"
    );
    assert_eq!(pg_counts(&to, &tables).await, counts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_row_anywhere_in_the_target_is_refused_by_name() {
    let Some(to) = target().await else { return };
    let schema = pg_schema(&to).await;
    let src = source().await;
    fill(&src, &schema).await;
    let mut pg = PgConnection::connect(&to).await.unwrap();
    sqlx::query(
        "INSERT INTO login_failures (key, count, window_start, expires_at) VALUES ('ip:x', 1, 1, 2)",
    )
    .execute(&mut pg)
    .await
    .unwrap();
    pg.close().await.unwrap();

    let message = refused(copy_sqlite_to_postgres(&src.url, &to).await.unwrap_err());
    assert_eq!(
        message,
        "the target database is not empty (rows in login_failures): db copy writes only into \
         an empty database; nothing was written"
    );
    let tables: Vec<String> = schema.keys().cloned().collect();
    for (t, n) in pg_counts(&to, &tables).await {
        assert_eq!(n, i64::from(t == "login_failures"), "{t}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_in_use_is_refused_before_the_target_is_touched() {
    let src = source().await;
    // A server's Db, still open, with a write in its WAL.
    let live = Db::connect(&src.url).await.unwrap();
    live.create_client(&client("live")).await.unwrap();
    // The target is never reached: this URL points nowhere.
    let e = refused(
        copy_sqlite_to_postgres(&src.url, "postgres://u:hunter2@127.0.0.1:1/none")
            .await
            .unwrap_err(),
    );
    assert!(
        e.starts_with("the SQLite database has a non-empty write-ahead log"),
        "{e}"
    );
    assert!(!e.contains("hunter2"), "{e}");
    live.close().await;
    // Closed cleanly, the WAL is merged: now the copy gets as far as the
    // (unreachable) target.
    let e = copy_sqlite_to_postgres(&src.url, "postgres://u:hunter2@127.0.0.1:1/none")
        .await
        .unwrap_err();
    assert!(matches!(e, CopyError::Store(_)), "{e}");
    assert!(!e.to_string().contains("hunter2"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_source_or_one_at_another_schema_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let missing = format!("sqlite://{}", dir.path().join("nope.db").display());
    let e = refused(
        copy_sqlite_to_postgres(&missing, "postgres://u@127.0.0.1:1/none")
            .await
            .unwrap_err(),
    );
    assert!(e.ends_with("nope.db does not exist"), "{e}");
    assert!(
        !dir.path().join("nope.db").exists(),
        "the source is never created"
    );

    let Some(to) = target().await else { return };
    // An install one migration behind.
    let src = source().await;
    let mut conn = SqliteConnection::connect(&src.url).await.unwrap();
    let last: i64 = sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = $1")
        .bind(last)
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let e = refused(copy_sqlite_to_postgres(&src.url, &to).await.unwrap_err());
    assert_eq!(
        e,
        format!(
            "the SQLite database is at schema version {} and this frontdesk at {last}: start \
             this version's server on it once (it migrates the database), stop it, and run db \
             copy again",
            last - 1
        )
    );

    // Not a frontdesk database at all.
    let other = dir.path().join("other.db");
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", other.display()))
        .await
        .unwrap();
    sqlx::query("CREATE TABLE notes (x TEXT)")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let e = refused(
        copy_sqlite_to_postgres(&format!("sqlite://{}", other.display()), &to)
            .await
            .unwrap_err(),
    );
    assert!(e.contains("not a frontdesk database"), "{e}");
}
