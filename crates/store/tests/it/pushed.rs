//! Pushed authorization requests (RFC 9126): stored by hash, opened once by
//! one conditional update (by its own client, before it expires), then
//! updated and spent only with the continuation that opened it.

use frontdesk_core::model::{ClientId, PushedRequest};
use frontdesk_core::store::Store;
use frontdesk_store::Db;

use crate::support::NOW;

contract!(
    pushed_requests_open_once_and_spend_once,
    pushed_requests_refuse_other_clients_and_expiry,
    concurrent_opens_have_one_winner,
);

fn pushed(byte: u8, expires_at: i64) -> PushedRequest {
    PushedRequest {
        uri_hash: vec![byte; 32],
        client_id: ClientId("app".to_owned()),
        params: "client_id=app&scope=openid".to_owned(),
        created_at: expires_at - 60,
        expires_at,
        continuation_hash: None,
        used_at: None,
    }
}

async fn pushed_requests_open_once_and_spend_once(db: &Db) {
    let r = pushed(1, NOW + 60);
    db.put_pushed_request(&r).await.unwrap();
    assert_eq!(db.pushed_request(&[1; 32]).await.unwrap(), Some(r.clone()));
    assert_eq!(db.pushed_request(&[2; 32]).await.unwrap(), None);
    let app = ClientId("app".to_owned());
    // Not opened yet: neither update nor spend has a continuation to match.
    assert!(
        !db.spend_pushed_request(&[1; 32], &[7; 32], NOW)
            .await
            .unwrap()
    );
    let opened = db
        .open_pushed_request(&[1; 32], &app, &[7; 32], NOW + 1800, NOW)
        .await
        .unwrap()
        .expect("the first arrival opens it");
    assert_eq!(opened.continuation_hash, Some(vec![7; 32]));
    assert_eq!(opened.expires_at, NOW + 1800);
    assert_eq!(opened.params, r.params);
    // A second arrival with the request_uri alone: refused.
    assert_eq!(
        db.open_pushed_request(&[1; 32], &app, &[8; 32], NOW + 1800, NOW)
            .await
            .unwrap(),
        None
    );
    // Only the continuation that opened it updates and spends it.
    assert!(
        !db.update_pushed_request(&[1; 32], &[8; 32], "x=1", NOW)
            .await
            .unwrap()
    );
    assert!(
        db.update_pushed_request(&[1; 32], &[7; 32], "client_id=app", NOW)
            .await
            .unwrap()
    );
    assert!(
        !db.spend_pushed_request(&[1; 32], &[8; 32], NOW)
            .await
            .unwrap()
    );
    assert!(
        db.spend_pushed_request(&[1; 32], &[7; 32], NOW)
            .await
            .unwrap()
    );
    assert!(
        !db.spend_pushed_request(&[1; 32], &[7; 32], NOW)
            .await
            .unwrap()
    );
    assert!(
        !db.update_pushed_request(&[1; 32], &[7; 32], "x=1", NOW)
            .await
            .unwrap()
    );
    let after = db.pushed_request(&[1; 32]).await.unwrap().unwrap();
    assert_eq!(after.used_at, Some(NOW));
    assert_eq!(after.params, "client_id=app");
    // A hash is a primary key.
    assert!(db.put_pushed_request(&r).await.is_err());
}

async fn pushed_requests_refuse_other_clients_and_expiry(db: &Db) {
    db.put_pushed_request(&pushed(1, NOW + 60)).await.unwrap();
    let other = ClientId("other".to_owned());
    let app = ClientId("app".to_owned());
    assert_eq!(
        db.open_pushed_request(&[1; 32], &other, &[7; 32], NOW + 1800, NOW)
            .await
            .unwrap(),
        None
    );
    // Another client's attempt did not use it up.
    assert_eq!(
        db.pushed_request(&[1; 32])
            .await
            .unwrap()
            .unwrap()
            .continuation_hash,
        None
    );
    // `expires_at > now`, strictly: at NOW + 60 it is gone.
    assert_eq!(
        db.open_pushed_request(&[1; 32], &app, &[7; 32], NOW + 1800, NOW + 60)
            .await
            .unwrap(),
        None
    );
    assert!(
        db.open_pushed_request(&[1; 32], &app, &[7; 32], NOW + 100, NOW + 59)
            .await
            .unwrap()
            .is_some()
    );
    // The interaction's own end holds as well.
    assert!(
        !db.spend_pushed_request(&[1; 32], &[7; 32], NOW + 100)
            .await
            .unwrap()
    );
    assert!(
        db.spend_pushed_request(&[1; 32], &[7; 32], NOW + 99)
            .await
            .unwrap()
    );
}

async fn concurrent_opens_have_one_winner(db: &Db) {
    db.put_pushed_request(&pushed(3, NOW + 60)).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..8u8 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            db.open_pushed_request(
                &[3; 32],
                &ClientId("app".to_owned()),
                &[i; 32],
                NOW + 1800,
                NOW,
            )
            .await
            .unwrap()
            .is_some()
        }));
    }
    let mut winners = 0;
    for t in tasks {
        winners += usize::from(t.await.unwrap());
    }
    assert_eq!(winners, 1);
}
