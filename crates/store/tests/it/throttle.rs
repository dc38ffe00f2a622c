use frontdesk_core::store::Store;
use frontdesk_store::Db;

use crate::support::NOW;

contract!(
    login_failures_window,
    login_failures_concurrent_count_all,
    a_forgiven_failure_is_taken_back_never_below_zero
);

const WINDOW: i64 = 300;

async fn login_failures_window(db: &Db) {
    let key = "acct:alice";
    assert_eq!(db.login_failures(key, NOW, WINDOW).await.unwrap(), 0);
    assert_eq!(db.note_login_failure(key, NOW, WINDOW).await.unwrap(), 1);
    assert_eq!(
        db.note_login_failure(key, NOW + 10, WINDOW).await.unwrap(),
        2
    );
    assert_eq!(
        db.note_login_failure(key, NOW + 299, WINDOW).await.unwrap(),
        3
    );
    assert_eq!(db.login_failures(key, NOW + 299, WINDOW).await.unwrap(), 3);
    // Keys count apart.
    assert_eq!(
        db.note_login_failure("ip:192.0.2.1", NOW, WINDOW)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        db.login_failures("ip:192.0.2.7", NOW, WINDOW)
            .await
            .unwrap(),
        0
    );

    // The window started at the first failure and lasts WINDOW seconds:
    // at NOW + WINDOW it has ended, later failures do not extend it.
    assert_eq!(
        db.login_failures(key, NOW + WINDOW, WINDOW).await.unwrap(),
        0
    );
    assert_eq!(
        db.note_login_failure(key, NOW + WINDOW, WINDOW)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        db.note_login_failure(key, NOW + WINDOW + 1, WINDOW)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        db.login_failures(key, NOW + 2 * WINDOW - 1, WINDOW)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        db.login_failures(key, NOW + 2 * WINDOW, WINDOW)
            .await
            .unwrap(),
        0
    );

    db.clear_login_failures(key).await.unwrap();
    db.clear_login_failures(key).await.unwrap();
    db.clear_login_failures("never-seen").await.unwrap();
    assert_eq!(
        db.login_failures(key, NOW + WINDOW + 2, WINDOW)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        db.note_login_failure(key, NOW + WINDOW + 2, WINDOW)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        db.login_failures("ip:192.0.2.1", NOW, WINDOW)
            .await
            .unwrap(),
        1
    );
}

async fn login_failures_concurrent_count_all(db: &Db) {
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let db = db.clone();
            tokio::spawn(
                async move { db.note_login_failure("acct:bob", NOW + i % 5, WINDOW).await },
            )
        })
        .collect();
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await.unwrap().unwrap());
    }
    seen.sort_unstable();
    // Every call saw a different count: 1..=50.
    assert_eq!(seen, (1..=50).collect::<Vec<u32>>());
    assert_eq!(
        db.login_failures("acct:bob", NOW + 5, WINDOW)
            .await
            .unwrap(),
        50
    );
}

async fn a_forgiven_failure_is_taken_back_never_below_zero(db: &Db) {
    let key = "ip:192.0.2.9";
    for _ in 0..3 {
        db.note_login_failure(key, NOW, WINDOW).await.unwrap();
    }
    db.forgive_login_failure(key).await.unwrap();
    assert_eq!(db.login_failures(key, NOW, WINDOW).await.unwrap(), 2);
    for _ in 0..5 {
        db.forgive_login_failure(key).await.unwrap();
    }
    assert_eq!(db.login_failures(key, NOW, WINDOW).await.unwrap(), 0);
    // The window is kept: the next failure counts 1 in the same window.
    assert_eq!(
        db.note_login_failure(key, NOW + 1, WINDOW).await.unwrap(),
        1
    );
    db.forgive_login_failure("never-seen").await.unwrap();
    assert_eq!(
        db.login_failures("never-seen", NOW, WINDOW).await.unwrap(),
        0
    );
}
