use frontdesk_core::model::{ClientId, Redemption};
use frontdesk_core::store::{Store, StoreError};
use frontdesk_store::Db;

use crate::support::{NOW, client, code, grant, seed};

contract!(
    authorization_put_get,
    authorization_conflict_stores_nothing,
    authorization_unknown_client_is_rejected,
    grant_revoke,
    redeem_code_once,
    redeem_code_concurrent_one_winner,
);

async fn authorization_put_get(db: &Db) {
    seed(db, &["app"], &[], &[]).await;
    let g = grant("g1", "app", "alice", Some("sid-1"));
    db.put_authorization(&g, &code(1, &g)).await.unwrap();
    let mut bare = grant("g2", "app", "alice", None);
    bare.audience = vec![];
    bare.amr = vec![];
    bare.revoked_at = Some(NOW);
    let mut bare_code = code(2, &bare);
    bare_code.nonce = None;
    db.put_authorization(&bare, &bare_code).await.unwrap();

    assert_eq!(db.grant("g1").await.unwrap(), Some(g));
    assert_eq!(db.grant("g2").await.unwrap(), Some(bare.clone()));
    assert_eq!(db.grant("g3").await.unwrap(), None);
    // The code round-trips through its redemption.
    match db.redeem_code(&[2; 32], NOW).await.unwrap() {
        Redemption::Redeemed { code, grant } => {
            bare_code.used_at = Some(NOW);
            assert_eq!(code, bare_code);
            assert_eq!(grant, bare);
        }
        other => panic!("expected Redeemed, got {other:?}"),
    }
}

async fn authorization_conflict_stores_nothing(db: &Db) {
    seed(db, &["app"], &[], &[]).await;
    let g1 = grant("g1", "app", "alice", None);
    db.put_authorization(&g1, &code(1, &g1)).await.unwrap();

    // Same code hash under a new grant: the grant is not stored either.
    let g2 = grant("g2", "app", "alice", None);
    match db.put_authorization(&g2, &code(1, &g2)).await {
        Err(StoreError::Conflict(what)) => assert!(what.contains("code_hash"), "{what}"),
        other => panic!("expected Conflict on code_hash, got {other:?}"),
    }
    assert_eq!(db.grant("g2").await.unwrap(), None);
    // Same grant id: conflict on the grant.
    match db.put_authorization(&g1, &code(3, &g1)).await {
        Err(StoreError::Conflict(what)) => assert!(what.contains("grant_id"), "{what}"),
        other => panic!("expected Conflict on grant_id, got {other:?}"),
    }
    assert_eq!(
        db.redeem_code(&[3; 32], NOW).await.unwrap(),
        Redemption::Unknown
    );
}

async fn authorization_unknown_client_is_rejected(db: &Db) {
    // grants.client_id references clients: no grant for a client that is not there.
    let g = grant("g1", "ghost", "alice", None);
    assert!(db.put_authorization(&g, &code(1, &g)).await.is_err());
    assert_eq!(db.grant("g1").await.unwrap(), None);
    db.create_client(&client("ghost")).await.unwrap();
    db.put_authorization(&g, &code(1, &g)).await.unwrap();
    assert_eq!(
        db.grant("g1").await.unwrap().unwrap().client_id,
        ClientId("ghost".into())
    );
}

async fn grant_revoke(db: &Db) {
    let g1 = grant("g1", "app", "alice", None);
    let g2 = grant("g2", "app", "alice", None);
    seed(db, &["app"], &[], &[&g1, &g2]).await;
    assert!(db.revoke_grant("g1", NOW).await.unwrap());
    // Again: still found, the first time stays.
    assert!(db.revoke_grant("g1", NOW + 5).await.unwrap());
    assert_eq!(db.grant("g1").await.unwrap().unwrap().revoked_at, Some(NOW));
    assert_eq!(db.grant("g2").await.unwrap(), Some(g2));
    assert!(!db.revoke_grant("nope", NOW).await.unwrap());
}

async fn redeem_code_once(db: &Db) {
    let g = grant("g1", "app", "alice", Some("sid-1"));
    let other = grant("g2", "app", "alice", Some("sid-1"));
    seed(db, &["app"], &[], &[&other]).await;
    let c = code(1, &g);
    db.put_authorization(&g, &c).await.unwrap();

    match db.redeem_code(&[1; 32], NOW).await.unwrap() {
        Redemption::Redeemed { code, grant } => {
            assert_eq!(code.used_at, Some(NOW));
            assert_eq!(
                code,
                frontdesk_core::model::AuthorizationCode {
                    used_at: Some(NOW),
                    ..c.clone()
                }
            );
            assert_eq!(grant, g);
        }
        other => panic!("expected Redeemed, got {other:?}"),
    }
    assert_eq!(db.grant("g1").await.unwrap().unwrap().revoked_at, None);

    // A replay revokes the grant.
    assert_eq!(
        db.redeem_code(&[1; 32], NOW + 1).await.unwrap(),
        Redemption::AlreadyUsed {
            grant_id: "g1".into()
        }
    );
    assert_eq!(
        db.grant("g1").await.unwrap().unwrap().revoked_at,
        Some(NOW + 1)
    );
    // Another replay: same answer, the first revocation time stays.
    assert_eq!(
        db.redeem_code(&[1; 32], NOW + 2).await.unwrap(),
        Redemption::AlreadyUsed {
            grant_id: "g1".into()
        }
    );
    assert_eq!(
        db.grant("g1").await.unwrap().unwrap().revoked_at,
        Some(NOW + 1)
    );
    // Other grants are untouched.
    assert_eq!(db.grant("g2").await.unwrap(), Some(other));
    assert_eq!(
        db.redeem_code(&[9; 32], NOW).await.unwrap(),
        Redemption::Unknown
    );
    // Expiry is core's business: an expired code still redeems.
    let late = grant("g3", "app", "alice", None);
    let mut expired = code(3, &late);
    expired.expires_at = NOW - 100;
    db.put_authorization(&late, &expired).await.unwrap();
    assert!(matches!(
        db.redeem_code(&[3; 32], NOW).await.unwrap(),
        Redemption::Redeemed { .. }
    ));
}

async fn redeem_code_concurrent_one_winner(db: &Db) {
    let g = grant("g1", "app", "alice", None);
    seed(db, &["app"], &[], &[]).await;
    db.put_authorization(&g, &code(1, &g)).await.unwrap();

    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let db = db.clone();
            tokio::spawn(async move { db.redeem_code(&[1; 32], NOW + i).await })
        })
        .collect();
    let (mut redeemed, mut already_used) = (0, 0);
    for task in tasks {
        match task.await.unwrap().unwrap() {
            Redemption::Redeemed { grant, .. } => {
                assert_eq!(grant.grant_id, "g1");
                redeemed += 1;
            }
            Redemption::AlreadyUsed { grant_id } => {
                assert_eq!(grant_id, "g1");
                already_used += 1;
            }
            Redemption::Unknown => panic!("the code exists"),
        }
    }
    assert_eq!((redeemed, already_used), (1, 9));
    assert!(db.grant("g1").await.unwrap().unwrap().revoked_at.is_some());
}
