//! `Db::connect` itself: URL forms, migrations on reopen, errors.

use frontdesk_core::store::{Store, StoreError};
use frontdesk_store::Db;

use crate::support::client;

#[tokio::test]
async fn sqlite_url_forms_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let db = Db::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    db.create_client(&client("app")).await.unwrap();
    db.close().await;
    assert!(path.exists());

    // Reopening (the other URL form) runs the migrations again harmlessly.
    let db = Db::connect(&format!("sqlite:{}", path.display()))
        .await
        .unwrap();
    assert_eq!(db.backend(), "sqlite");
    assert_eq!(db.list_clients().await.unwrap().len(), 1);
    db.close().await;
}

#[tokio::test]
async fn sqlite_in_memory() {
    let db = Db::connect("sqlite::memory:").await.unwrap();
    db.create_client(&client("app")).await.unwrap();
    assert_eq!(db.list_clients().await.unwrap().len(), 1);
    db.close().await;
}

#[tokio::test]
async fn sqlite_missing_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("no/such/dir/x.db").display());
    assert!(Db::connect(&url).await.is_err());
}

#[tokio::test]
async fn unknown_scheme_names_scheme_not_password() {
    let err = Db::connect("mysql://root:hunter2@localhost/db")
        .await
        .unwrap_err();
    let StoreError::Internal(msg) = &err else {
        panic!("expected Internal, got {err:?}");
    };
    assert!(msg.contains("mysql"), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
    let err = Db::connect("root:hunter2@localhost").await.unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[tokio::test]
async fn postgres_unreachable_is_unavailable() {
    // Port 1 on loopback: connection refused, no PostgreSQL needed.
    let err = Db::connect("postgres://u:hunter2@127.0.0.1:1/db")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

#[tokio::test]
async fn postgres_reconnect_runs_migrations_once() {
    let Some(url) = frontdesk_store::testing::postgres_url_from_env()
        .await
        .unwrap()
    else {
        eprintln!("skipped: FRONTDESK_TEST_POSTGRES_URL not set");
        return;
    };
    let db = Db::connect(&url).await.unwrap();
    assert_eq!(db.backend(), "postgres");
    db.create_client(&client("app")).await.unwrap();
    let again = Db::connect(&url).await.unwrap();
    assert_eq!(again.list_clients().await.unwrap().len(), 1);
    again.close().await;
    db.close().await;
}
