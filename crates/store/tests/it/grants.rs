use frontdesk_core::model::{ClientId, Issued, Redemption};
use frontdesk_core::store::{Store, StoreError};
use frontdesk_store::Db;

use crate::support::{NOW, client, code, grant, refresh, seed, token};

contract!(
    authorization_put_get,
    authorization_conflict_stores_nothing,
    authorization_unknown_client_is_rejected,
    grant_revoke,
    redeem_code_once,
    redeem_code_concurrent_one_winner,
    code_reads_without_spending,
    redeem_code_stores_what_it_issues_or_nothing,
    redeem_code_retry_window,
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
    match db
        .redeem_code(&[2; 32], NOW, &Issued::default(), None)
        .await
        .unwrap()
    {
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
        db.redeem_code(&[3; 32], NOW, &Issued::default(), None)
            .await
            .unwrap(),
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

    match db
        .redeem_code(&[1; 32], NOW, &Issued::default(), None)
        .await
        .unwrap()
    {
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
        db.redeem_code(&[1; 32], NOW + 1, &Issued::default(), None)
            .await
            .unwrap(),
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
        db.redeem_code(&[1; 32], NOW + 2, &Issued::default(), None)
            .await
            .unwrap(),
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
        db.redeem_code(&[9; 32], NOW, &Issued::default(), None)
            .await
            .unwrap(),
        Redemption::Unknown
    );
    // Expiry is core's business: an expired code still redeems.
    let late = grant("g3", "app", "alice", None);
    let mut expired = code(3, &late);
    expired.expires_at = NOW - 100;
    db.put_authorization(&late, &expired).await.unwrap();
    assert!(matches!(
        db.redeem_code(&[3; 32], NOW, &Issued::default(), None)
            .await
            .unwrap(),
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
            tokio::spawn(async move {
                db.redeem_code(&[1; 32], NOW + i, &Issued::default(), None)
                    .await
            })
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
            other => panic!("the code exists and no retry was vouched for: {other:?}"),
        }
    }
    assert_eq!((redeemed, already_used), (1, 9));
    assert!(db.grant("g1").await.unwrap().unwrap().revoked_at.is_some());
}

async fn code_reads_without_spending(db: &Db) {
    let g = grant("g1", "app", "alice", None);
    seed(db, &["app"], &[], &[]).await;
    let c = code(1, &g);
    db.put_authorization(&g, &c).await.unwrap();
    assert_eq!(
        db.code(&[1; 32]).await.unwrap(),
        Some((c.clone(), g.clone()))
    );
    assert_eq!(
        db.code(&[1; 32]).await.unwrap(),
        Some((c.clone(), g.clone()))
    );
    assert_eq!(db.code(&[2; 32]).await.unwrap(), None);
    db.redeem_code(&[1; 32], NOW, &Issued::default(), None)
        .await
        .unwrap();
    let (used, _) = db.code(&[1; 32]).await.unwrap().unwrap();
    assert_eq!(used.used_at, Some(NOW));
}

/// The refresh token and the opaque access token of a redemption are
/// written in the transaction that spends the code: both or neither.
async fn redeem_code_stores_what_it_issues_or_nothing(db: &Db) {
    let g = grant("g1", "app", "alice", None);
    seed(db, &["app"], &[], &[]).await;
    db.put_authorization(&g, &code(1, &g)).await.unwrap();
    let mut at = token(40, NOW + 300);
    at.jti = "g1.x".into();
    let issued = Issued {
        refresh: Some(refresh(vec![41; 32], &g)),
        opaque: Some(at.clone()),
    };
    assert!(matches!(
        db.redeem_code(&[1; 32], NOW, &issued, Some(2))
            .await
            .unwrap(),
        Redemption::Redeemed { .. }
    ));
    assert_eq!(db.opaque_token(&[40; 32]).await.unwrap(), Some(at.clone()));
    let (stored, _) = db.refresh_token(&[41; 32]).await.unwrap().unwrap();
    assert_eq!(stored, refresh(vec![41; 32], &g));

    // A second code whose issue collides with a stored token: the whole
    // redemption rolls back, the code stays unused.
    let g2 = grant("g2", "app", "alice", None);
    db.put_authorization(&g2, &code(2, &g2)).await.unwrap();
    let clash = Issued {
        refresh: Some(refresh(vec![42; 32], &g2)),
        opaque: Some(at),
    };
    assert!(matches!(
        db.redeem_code(&[2; 32], NOW, &clash, Some(2)).await,
        Err(StoreError::Conflict(_))
    ));
    let (unused, _) = db.code(&[2; 32]).await.unwrap().unwrap();
    assert_eq!(unused.used_at, None);
    assert_eq!(db.refresh_token(&[42; 32]).await.unwrap(), None);
}

/// A used code is `Retried` (nothing written or revoked) only when the
/// caller vouches for the request and it comes strictly within the grace
/// after the first use; anything else is a replay.
async fn redeem_code_retry_window(db: &Db) {
    seed(db, &["app"], &[], &[]).await;
    // Used at NOW.
    let cases: [(&str, Option<i64>, i64, bool); 8] = [
        ("vouched, at once", Some(2), NOW, true),
        ("vouched, last second of the grace", Some(2), NOW + 1, true),
        ("vouched, grace over", Some(2), NOW + 2, false),
        ("vouched, grace 0 (off)", Some(0), NOW, false),
        // Concurrent requests: this one read its clock a second before the
        // winner's. With the grace off it is a replay, not a retry.
        (
            "vouched, grace 0, a second before the first use",
            Some(0),
            NOW - 1,
            false,
        ),
        (
            "vouched, a second before the first use",
            Some(2),
            NOW - 1,
            true,
        ),
        ("not vouched, at once", None, NOW, false),
        (
            "not vouched, inside what would be the grace",
            None,
            NOW + 1,
            false,
        ),
    ];
    for (i, (what, grace, at, retried)) in cases.into_iter().enumerate() {
        let id = format!("r{i}");
        let g = grant(&id, "app", "alice", None);
        let byte = 60 + i as u8;
        db.put_authorization(&g, &code(byte, &g)).await.unwrap();
        let first = Issued {
            refresh: Some(refresh(vec![byte + 100; 32], &g)),
            opaque: None,
        };
        assert!(matches!(
            db.redeem_code(&[byte; 32], NOW, &first, grace)
                .await
                .unwrap(),
            Redemption::Redeemed { .. }
        ));
        // The retry carries the same rows; they are not written again.
        let outcome = db
            .redeem_code(&[byte; 32], at, &first, grace)
            .await
            .unwrap();
        let revoked = db.grant(&id).await.unwrap().unwrap().revoked_at;
        if retried {
            match outcome {
                Redemption::Retried { code, grant } => {
                    assert_eq!(code.used_at, Some(NOW), "{what}");
                    assert_eq!(grant.grant_id, id, "{what}");
                }
                other => panic!("{what}: expected Retried, got {other:?}"),
            }
            assert_eq!(revoked, None, "{what}");
        } else {
            assert_eq!(outcome, Redemption::AlreadyUsed { grant_id: id }, "{what}");
            assert_eq!(revoked, Some(at), "{what}");
        }
    }
}
