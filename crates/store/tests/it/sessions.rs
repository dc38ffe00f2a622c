use frontdesk_core::store::{Store, StoreError};
use frontdesk_store::Db;

use crate::support::{NOW, grant, seed, session};

contract!(
    session_put_get,
    session_conflicts,
    session_end_revokes_its_grants
);

async fn session_put_get(db: &Db) {
    let live = session(1, "sid-1", "alice");
    let mut ended = session(2, "sid-2", "alice");
    ended.amr = vec![];
    ended.ended_at = Some(NOW - 5);
    db.put_session(&live).await.unwrap();
    db.put_session(&ended).await.unwrap();
    // Ended or not, field for field.
    assert_eq!(db.session(&[1; 32]).await.unwrap(), Some(live));
    assert_eq!(db.session(&[2; 32]).await.unwrap(), Some(ended));
    assert_eq!(db.session(&[3; 32]).await.unwrap(), None);
}

async fn session_conflicts(db: &Db) {
    db.put_session(&session(1, "sid-1", "alice")).await.unwrap();
    match db.put_session(&session(1, "sid-other", "bob")).await {
        Err(StoreError::Conflict(what)) => assert!(what.contains("id_hash"), "{what}"),
        other => panic!("expected Conflict on id_hash, got {other:?}"),
    }
    match db.put_session(&session(2, "sid-1", "bob")).await {
        Err(StoreError::Conflict(what)) => assert!(what.contains("sid"), "{what}"),
        other => panic!("expected Conflict on sid, got {other:?}"),
    }
    assert_eq!(db.session(&[2; 32]).await.unwrap(), None);
    assert_eq!(db.session(&[1; 32]).await.unwrap().unwrap().sub, "alice");
}

async fn session_end_revokes_its_grants(db: &Db) {
    let in_s1 = grant("g1", "app", "alice", Some("sid-1"));
    let mut in_s1_revoked = grant("g2", "app", "alice", Some("sid-1"));
    in_s1_revoked.revoked_at = Some(NOW - 5);
    let in_s2 = grant("g3", "app", "alice", Some("sid-2"));
    let no_session = grant("g4", "app", "alice", None);
    seed(
        db,
        &["app"],
        &["alice"],
        &[&in_s1, &in_s1_revoked, &in_s2, &no_session],
    )
    .await;
    db.put_session(&session(1, "sid-1", "alice")).await.unwrap();
    db.put_session(&session(2, "sid-2", "alice")).await.unwrap();

    assert!(db.end_session("sid-1", NOW).await.unwrap());
    assert_eq!(
        db.session(&[1; 32]).await.unwrap().unwrap().ended_at,
        Some(NOW)
    );
    assert_eq!(db.session(&[2; 32]).await.unwrap().unwrap().ended_at, None);
    let revoked_at =
        |id: &'static str| async move { db.grant(id).await.unwrap().unwrap().revoked_at };
    assert_eq!(revoked_at("g1").await, Some(NOW));
    assert_eq!(
        revoked_at("g2").await,
        Some(NOW - 5),
        "first revocation kept"
    );
    assert_eq!(revoked_at("g3").await, None);
    assert_eq!(revoked_at("g4").await, None);

    // Already ended: false, the end time stays.
    assert!(!db.end_session("sid-1", NOW + 10).await.unwrap());
    assert_eq!(
        db.session(&[1; 32]).await.unwrap().unwrap().ended_at,
        Some(NOW)
    );
    assert_eq!(revoked_at("g1").await, Some(NOW));
    assert!(!db.end_session("sid-unknown", NOW).await.unwrap());
}
