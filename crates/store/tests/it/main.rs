//! The Store contract, run on SQLite (a temp file) and on PostgreSQL (a fresh
//! database per test when FRONTDESK_TEST_POSTGRES_URL is set).
//!
//! Each case is written once as `async fn case(db: &Db)`; `contract!` turns
//! it into a module with two tests, `<case>::sqlite` and `<case>::postgres`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// For each named case, a module with a `sqlite` and a `postgres` test.
macro_rules! contract {
    ($($case:ident),* $(,)?) => {
        $(
            mod $case {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    let (db, _dir) = crate::support::sqlite().await;
                    super::$case(&db).await;
                    db.close().await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    let Some(db) = crate::support::postgres().await else {
                        return;
                    };
                    super::$case(&db).await;
                    db.close().await;
                }
            }
        )*
    };
}

mod audit;
mod clients;
mod connect;
mod consents;
mod copy;
mod devices;
mod grants;
mod groups;
mod keys;
mod links;
mod passkeys;
mod pushed;
mod refresh;
mod sessions;
mod support;
mod sweep;
mod throttle;
mod tokens;
mod upstream_links;
mod users;
