use frontdesk_core::model::{RefreshToken, Rotation};
use frontdesk_core::store::{Store, StoreError};
use frontdesk_store::Db;

use crate::support::{NOW, code, grant, refresh, seed, token};

contract!(
    refresh_put_get,
    refresh_rotate_then_retry_then_reuse,
    refresh_rotate_grace_window,
    refresh_rotate_unknown,
    refresh_rotate_concurrent_same_successor,
    refresh_rotate_concurrent_different_successors,
    refresh_rotate_stores_its_opaque_token,
    refresh_renew_keeps_the_token,
);

fn hash(byte: u8) -> Vec<u8> {
    vec![byte; 32]
}

/// The successor of a rotation at `at`.
fn successor(byte: u8, of: &RefreshToken, at: i64) -> RefreshToken {
    RefreshToken {
        token_hash: hash(byte),
        issued_at: at,
        expires_at: at + 3600,
        ..of.clone()
    }
}

async fn refresh_put_get(db: &Db) {
    let g = grant("g1", "app", "alice", None);
    seed(db, &["app"], &[], &[&g]).await;
    let t = refresh(hash(1), &g);
    let mut consumed = refresh(hash(2), &g);
    consumed.consumed_at = Some(NOW - 1);
    consumed.replaced_by = Some(hash(3));
    db.put_refresh_token(&t).await.unwrap();
    db.put_refresh_token(&consumed).await.unwrap();

    assert_eq!(
        db.refresh_token(&hash(1)).await.unwrap(),
        Some((t.clone(), g.clone()))
    );
    assert_eq!(
        db.refresh_token(&hash(2)).await.unwrap(),
        Some((consumed, g.clone()))
    );
    assert_eq!(db.refresh_token(&hash(9)).await.unwrap(), None);
    match db.put_refresh_token(&t).await {
        Err(StoreError::Conflict(what)) => assert!(what.contains("token_hash"), "{what}"),
        other => panic!("expected Conflict on token_hash, got {other:?}"),
    }
    // The grant comes back as it is now.
    db.revoke_grant("g1", NOW).await.unwrap();
    let (_, grant) = db.refresh_token(&hash(1)).await.unwrap().unwrap();
    assert_eq!(grant.revoked_at, Some(NOW));
    // A token needs its grant.
    let orphan = refresh(hash(4), &grant_of_nothing());
    assert!(db.put_refresh_token(&orphan).await.is_err());
    assert_eq!(db.refresh_token(&hash(4)).await.unwrap(), None);
}

fn grant_of_nothing() -> frontdesk_core::model::Grant {
    grant("no-such-grant", "app", "alice", None)
}

async fn refresh_rotate_then_retry_then_reuse(db: &Db) {
    let g = grant("g1", "app", "alice", None);
    seed(db, &["app"], &[], &[&g]).await;
    let r1 = refresh(hash(1), &g);
    db.put_refresh_token(&r1).await.unwrap();

    let r2 = successor(2, &r1, NOW);
    let consumed_r1 = RefreshToken {
        consumed_at: Some(NOW),
        replaced_by: Some(hash(2)),
        ..r1.clone()
    };
    assert_eq!(
        db.rotate_refresh(&hash(1), &r2, None, NOW, 30)
            .await
            .unwrap(),
        Rotation::Rotated {
            old: consumed_r1.clone(),
            grant: g.clone()
        }
    );
    assert_eq!(
        db.refresh_token(&hash(1)).await.unwrap(),
        Some((consumed_r1.clone(), g.clone()))
    );
    assert_eq!(
        db.refresh_token(&hash(2)).await.unwrap(),
        Some((r2.clone(), g.clone()))
    );

    // The same request again (a lost response): nothing written — the
    // successor keeps its first issue time.
    let r2_again = successor(2, &r1, NOW + 5);
    assert_eq!(
        db.rotate_refresh(&hash(1), &r2_again, None, NOW + 5, 30)
            .await
            .unwrap(),
        Rotation::Retried {
            old: consumed_r1.clone(),
            grant: g.clone()
        }
    );
    assert_eq!(
        db.refresh_token(&hash(2)).await.unwrap(),
        Some((r2.clone(), g.clone()))
    );
    assert_eq!(db.grant("g1").await.unwrap().unwrap().revoked_at, None);

    // The chain goes on from the successor.
    let r3 = successor(3, &r2, NOW + 10);
    assert!(matches!(
        db.rotate_refresh(&hash(2), &r3, None, NOW + 10, 30)
            .await
            .unwrap(),
        Rotation::Rotated { .. }
    ));

    // The old token toward another successor: reuse, the grant is revoked.
    let other = successor(4, &r1, NOW + 12);
    assert_eq!(
        db.rotate_refresh(&hash(1), &other, None, NOW + 12, 30)
            .await
            .unwrap(),
        Rotation::Reused {
            grant_id: "g1".into()
        }
    );
    assert_eq!(db.refresh_token(&hash(4)).await.unwrap(), None);
    assert_eq!(
        db.grant("g1").await.unwrap().unwrap().revoked_at,
        Some(NOW + 12)
    );
    // The consumed token is unchanged by the failed attempt.
    assert_eq!(
        db.refresh_token(&hash(1)).await.unwrap().unwrap().0,
        consumed_r1
    );
}

async fn refresh_rotate_grace_window(db: &Db) {
    let g = grant("g1", "app", "alice", None);
    seed(db, &["app"], &[], &[&g]).await;
    let r1 = refresh(hash(1), &g);
    db.put_refresh_token(&r1).await.unwrap();
    let r2 = successor(2, &r1, NOW);
    assert!(matches!(
        db.rotate_refresh(&hash(1), &r2, None, NOW, 10)
            .await
            .unwrap(),
        Rotation::Rotated { .. }
    ));
    // now - consumed_at < grace: still a retry just inside the window...
    assert!(matches!(
        db.rotate_refresh(&hash(1), &r2, None, NOW + 9, 10)
            .await
            .unwrap(),
        Rotation::Retried { .. }
    ));
    assert_eq!(db.grant("g1").await.unwrap().unwrap().revoked_at, None);
    // ...at the boundary it is reuse (strict: never later than the grace).
    assert_eq!(
        db.rotate_refresh(&hash(1), &r2, None, NOW + 10, 10)
            .await
            .unwrap(),
        Rotation::Reused {
            grant_id: "g1".into()
        }
    );
    assert_eq!(
        db.grant("g1").await.unwrap().unwrap().revoked_at,
        Some(NOW + 10)
    );
    // Grace 0 is off: a reuse in the very same second is a replay (issue 11
    // finding 8; `<=` on whole seconds used to call it a retry).
    let g2 = grant("g2", "app", "alice", None);
    db.put_authorization(&g2, &code(50, &g2)).await.unwrap();
    let s1 = refresh(hash(11), &g2);
    db.put_refresh_token(&s1).await.unwrap();
    let s2 = successor(12, &s1, NOW);
    assert!(matches!(
        db.rotate_refresh(&hash(11), &s2, None, NOW, 0)
            .await
            .unwrap(),
        Rotation::Rotated { .. }
    ));
    assert!(matches!(
        db.rotate_refresh(&hash(11), &s2, None, NOW, 0)
            .await
            .unwrap(),
        Rotation::Reused { .. }
    ));
    assert!(db.grant("g2").await.unwrap().unwrap().revoked_at.is_some());
    // Nor one whose clock read a second before the rotation's (concurrent
    // requests): with the grace off, `now − consumed_at` = −1 is no retry.
    let g3 = grant("g3", "app", "alice", None);
    db.put_authorization(&g3, &code(51, &g3)).await.unwrap();
    let t1 = refresh(hash(21), &g3);
    db.put_refresh_token(&t1).await.unwrap();
    let t2 = successor(22, &t1, NOW);
    assert!(matches!(
        db.rotate_refresh(&hash(21), &t2, None, NOW, 0)
            .await
            .unwrap(),
        Rotation::Rotated { .. }
    ));
    assert!(matches!(
        db.rotate_refresh(&hash(21), &t2, None, NOW - 1, 0)
            .await
            .unwrap(),
        Rotation::Reused { .. }
    ));
}

async fn refresh_rotate_unknown(db: &Db) {
    let g = grant("g1", "app", "alice", None);
    seed(db, &["app"], &[], &[&g]).await;
    let new = refresh(hash(2), &g);
    assert_eq!(
        db.rotate_refresh(&hash(1), &new, None, NOW, 30)
            .await
            .unwrap(),
        Rotation::Unknown
    );
    assert_eq!(db.refresh_token(&hash(2)).await.unwrap(), None);
    assert_eq!(db.grant("g1").await.unwrap().unwrap().revoked_at, None);
}

async fn refresh_rotate_concurrent_same_successor(db: &Db) {
    let g = grant("g1", "app", "alice", None);
    seed(db, &["app"], &[], &[&g]).await;
    let r1 = refresh(hash(1), &g);
    db.put_refresh_token(&r1).await.unwrap();
    let r2 = successor(2, &r1, NOW);

    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (db, r2) = (db.clone(), r2.clone());
            tokio::spawn(async move { db.rotate_refresh(&hash(1), &r2, None, NOW, 3600).await })
        })
        .collect();
    let (mut rotated, mut retried) = (0, 0);
    for task in tasks {
        match task.await.unwrap().unwrap() {
            Rotation::Rotated { .. } => rotated += 1,
            Rotation::Retried { .. } => retried += 1,
            other => panic!("expected Rotated or Retried, got {other:?}"),
        }
    }
    assert_eq!((rotated, retried), (1, 19));
    assert_eq!(db.grant("g1").await.unwrap().unwrap().revoked_at, None);
    assert_eq!(db.refresh_token(&hash(2)).await.unwrap(), Some((r2, g)));
}

async fn refresh_rotate_concurrent_different_successors(db: &Db) {
    let g = grant("g1", "app", "alice", None);
    seed(db, &["app"], &[], &[&g]).await;
    let r1 = refresh(hash(1), &g);
    db.put_refresh_token(&r1).await.unwrap();

    let tasks: Vec<_> = (0..20u8)
        .map(|i| {
            let (db, new) = (db.clone(), successor(100 + i, &r1, NOW));
            tokio::spawn(async move { db.rotate_refresh(&hash(1), &new, None, NOW, 3600).await })
        })
        .collect();
    let (mut rotated, mut reused) = (0, 0);
    for task in tasks {
        match task.await.unwrap().unwrap() {
            Rotation::Rotated { .. } => rotated += 1,
            Rotation::Reused { grant_id } => {
                assert_eq!(grant_id, "g1");
                reused += 1;
            }
            other => panic!("expected Rotated or Reused, got {other:?}"),
        }
    }
    assert_eq!((rotated, reused), (1, 19));
    assert_eq!(db.grant("g1").await.unwrap().unwrap().revoked_at, Some(NOW));
    // Only the winner's successor was stored, and it is the one recorded.
    let (old, _) = db.refresh_token(&hash(1)).await.unwrap().unwrap();
    let winner = old.replaced_by.unwrap();
    for i in 0..20u8 {
        let stored = db.refresh_token(&hash(100 + i)).await.unwrap().is_some();
        assert_eq!(stored, hash(100 + i) == winner, "successor {i}");
    }
}

/// The opaque access token of a refresh is stored in the rotation's
/// transaction; a retry stores its own if it is not there yet, and the same
/// one again changes nothing.
async fn refresh_rotate_stores_its_opaque_token(db: &Db) {
    let g = grant("g1", "app", "alice", None);
    seed(db, &["app"], &[], &[&g]).await;
    let old = refresh(hash(1), &g);
    db.put_refresh_token(&old).await.unwrap();
    let next = successor(2, &old, NOW);
    let mut at = token(50, NOW + 300);
    at.jti = "g1.a".into();
    assert!(matches!(
        db.rotate_refresh(&hash(1), &next, Some(&at), NOW, 10)
            .await
            .unwrap(),
        Rotation::Rotated { .. }
    ));
    assert_eq!(db.opaque_token(&hash(50)).await.unwrap(), Some(at.clone()));
    // The same retry: nothing new, nothing lost.
    assert!(matches!(
        db.rotate_refresh(&hash(1), &next, Some(&at), NOW + 1, 10)
            .await
            .unwrap(),
        Rotation::Retried { .. }
    ));
    assert_eq!(db.opaque_token(&hash(50)).await.unwrap(), Some(at));
    // A retry that asked for less: its own token.
    let mut narrower = token(51, NOW + 300);
    narrower.scope = "openid".into();
    assert!(matches!(
        db.rotate_refresh(&hash(1), &next, Some(&narrower), NOW + 1, 10)
            .await
            .unwrap(),
        Rotation::Retried { .. }
    ));
    assert_eq!(db.opaque_token(&hash(51)).await.unwrap(), Some(narrower));
    // A replay stores nothing.
    let late = token(52, NOW + 300);
    assert!(matches!(
        db.rotate_refresh(&hash(1), &next, Some(&late), NOW + 20, 10)
            .await
            .unwrap(),
        Rotation::Reused { .. }
    ));
    assert_eq!(db.opaque_token(&hash(52)).await.unwrap(), None);
}

/// A refresh without rotation (FAPI 2.0): the live token's expiry moves and
/// the new opaque access token is stored, in one write; a consumed or
/// expired token, or one of a revoked grant, is not renewed and nothing is
/// stored.
async fn refresh_renew_keeps_the_token(db: &Db) {
    let g = grant("g1", "app", "alice", None);
    let dead = grant("g2", "app", "alice", None);
    seed(db, &["app"], &[], &[&g, &dead]).await;
    let live = refresh(hash(1), &g);
    let mut consumed = refresh(hash(2), &g);
    consumed.consumed_at = Some(NOW - 1);
    consumed.replaced_by = Some(hash(9));
    let mut expired = refresh(hash(3), &g);
    expired.expires_at = NOW;
    let of_revoked = refresh(hash(4), &dead);
    for t in [&live, &consumed, &expired, &of_revoked] {
        db.put_refresh_token(t).await.unwrap();
    }
    db.revoke_grant("g2", NOW - 5).await.unwrap();

    let mut at = token(50, NOW + 300);
    at.jti = "g1.a".into();
    assert!(
        db.renew_refresh(&hash(1), NOW + 7200, Some(&at), NOW)
            .await
            .unwrap()
    );
    let (renewed, _) = db.refresh_token(&hash(1)).await.unwrap().unwrap();
    assert_eq!(renewed.expires_at, NOW + 7200);
    assert_eq!(
        renewed.consumed_at, None,
        "not consumed: the same token goes on"
    );
    assert_eq!(db.opaque_token(&hash(50)).await.unwrap(), Some(at));
    assert!(
        db.renew_refresh(&hash(1), NOW + 7300, None, NOW + 1)
            .await
            .unwrap(),
        "again"
    );

    for (name, h, byte) in [
        ("consumed", 2u8, 51u8),
        ("expired", 3, 52),
        ("revoked grant", 4, 53),
        ("unknown", 8, 54),
    ] {
        let mut at = token(byte, NOW + 300);
        at.jti = format!("g1.{byte}");
        assert!(
            !db.renew_refresh(&hash(h), NOW + 7200, Some(&at), NOW)
                .await
                .unwrap(),
            "{name}"
        );
        assert_eq!(
            db.opaque_token(&hash(byte)).await.unwrap(),
            None,
            "{name}: nothing stored"
        );
    }
    let (still, _) = db.refresh_token(&hash(3)).await.unwrap().unwrap();
    assert_eq!(still.expires_at, NOW, "an expired token stays expired");
}
