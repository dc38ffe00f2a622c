//! Device authorization requests (RFC 8628): stored under the hashes of
//! both codes (the user code's unique), polled by a compare-and-set on the
//! last poll, and decided once — an approval writes its grant and code in
//! the transaction that wins, and nothing when it loses.

use frontdesk_core::model::{ClientId, DeviceAuthorization, DeviceStatus};
use frontdesk_core::store::{Store, StoreError};
use frontdesk_store::Db;

use crate::support::{NOW, code, grant, seed};

contract!(
    device_requests_are_found_by_either_code,
    device_polls_compare_and_set,
    device_requests_are_decided_once,
    concurrent_approvals_have_one_winner,
);

fn device(byte: u8) -> DeviceAuthorization {
    DeviceAuthorization {
        device_code_hash: vec![byte; 32],
        user_code_hash: vec![byte + 100; 32],
        code_hash: vec![byte; 32],
        client_id: ClientId("tv".to_owned()),
        scope: "openid offline_access".to_owned(),
        audience: vec![
            "https://api.example".to_owned(),
            "https://id.example".to_owned(),
        ],
        created_at: NOW,
        expires_at: NOW + 600,
        interval: 5,
        last_poll_at: None,
        status: DeviceStatus::Pending,
        sub: None,
    }
}

async fn device_requests_are_found_by_either_code(db: &Db) {
    let d = device(1);
    db.put_device_authorization(&d).await.unwrap();
    assert_eq!(
        db.device_authorization(&[1; 32]).await.unwrap(),
        Some(d.clone())
    );
    assert_eq!(db.device_by_user_code(&[101; 32]).await.unwrap(), Some(d));
    assert_eq!(db.device_authorization(&[2; 32]).await.unwrap(), None);
    assert_eq!(db.device_by_user_code(&[1; 32]).await.unwrap(), None);
    // A second request with the same user code is refused (the caller
    // draws another code).
    let mut clash = device(2);
    clash.user_code_hash = vec![101; 32];
    assert!(matches!(
        db.put_device_authorization(&clash).await,
        Err(StoreError::Conflict(_))
    ));
}

async fn device_polls_compare_and_set(db: &Db) {
    db.put_device_authorization(&device(3)).await.unwrap();
    // The first poll saw no earlier one.
    assert!(
        db.note_device_poll(&[3; 32], None, 5, NOW + 1)
            .await
            .unwrap()
    );
    // A second poll that also saw none loses.
    assert!(
        !db.note_device_poll(&[3; 32], None, 5, NOW + 1)
            .await
            .unwrap()
    );
    // One that saw the first wins, and its interval sticks.
    assert!(
        db.note_device_poll(&[3; 32], Some(NOW + 1), 10, NOW + 2)
            .await
            .unwrap()
    );
    let d = db.device_authorization(&[3; 32]).await.unwrap().unwrap();
    assert_eq!((d.last_poll_at, d.interval), (Some(NOW + 2), 10));
    // Unknown codes, and decided requests, are not polled.
    assert!(!db.note_device_poll(&[9; 32], None, 5, NOW).await.unwrap());
    assert!(db.deny_device(&[103; 32], "alice", NOW + 3).await.unwrap());
    assert!(
        !db.note_device_poll(&[3; 32], Some(NOW + 2), 10, NOW + 20)
            .await
            .unwrap()
    );
}

async fn device_requests_are_decided_once(db: &Db) {
    let g = grant("g-tv", "tv", "alice", Some("sid-1"));
    seed(db, &["tv"], &["alice"], &[]).await;
    db.put_device_authorization(&device(4)).await.unwrap();
    db.put_device_authorization(&device(5)).await.unwrap();
    let c = code(4, &g);
    // Expired: neither decision counts, and no grant is written.
    assert!(
        !db.approve_device(&[104; 32], &g, &c, NOW + 600)
            .await
            .unwrap()
    );
    assert!(
        !db.deny_device(&[105; 32], "alice", NOW + 600)
            .await
            .unwrap()
    );
    assert_eq!(db.grant("g-tv").await.unwrap(), None);
    // Approved: the status, the user, the grant and its code.
    assert!(
        db.approve_device(&[104; 32], &g, &c, NOW + 1)
            .await
            .unwrap()
    );
    let d = db.device_authorization(&[4; 32]).await.unwrap().unwrap();
    assert_eq!(
        (d.status, d.sub.as_deref()),
        (DeviceStatus::Approved, Some("alice"))
    );
    assert_eq!(db.grant("g-tv").await.unwrap(), Some(g.clone()));
    let (stored, of) = db.code(&[4; 32]).await.unwrap().unwrap();
    assert_eq!((stored, of), (c.clone(), g.clone()));
    // Decided: later decisions lose.
    assert!(
        !db.deny_device(&[104; 32], "mallory", NOW + 2)
            .await
            .unwrap()
    );
    let mut other = g.clone();
    other.grant_id = "g-tv-2".to_owned();
    assert!(
        !db.approve_device(&[104; 32], &other, &code(6, &other), NOW + 2)
            .await
            .unwrap()
    );
    assert_eq!(db.grant("g-tv-2").await.unwrap(), None);
    // Declined.
    assert!(db.deny_device(&[105; 32], "alice", NOW + 3).await.unwrap());
    let d = db.device_authorization(&[5; 32]).await.unwrap().unwrap();
    assert_eq!(
        (d.status, d.sub.as_deref()),
        (DeviceStatus::Denied, Some("alice"))
    );
}

async fn concurrent_approvals_have_one_winner(db: &Db) {
    seed(db, &["tv"], &["alice"], &[]).await;
    db.put_device_authorization(&device(7)).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..8u8 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let g = grant(&format!("g-{i}"), "tv", "alice", None);
            let c = code(7, &g);
            db.approve_device(&[107; 32], &g, &c, NOW + 1)
                .await
                .unwrap()
        }));
    }
    let mut won = 0;
    for t in tasks {
        won += usize::from(t.await.unwrap());
    }
    assert_eq!(won, 1);
}
