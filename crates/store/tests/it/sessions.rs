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

contract!(sessions_list_live, sessions_end_all_of_a_user_but_one);

async fn sessions_list_live(db: &Db) {
    let mut older = session(1, "sid-old", "alice");
    older.created_at = NOW - 500;
    let live = session(2, "sid-live", "alice");
    let mut ended = session(3, "sid-ended", "alice");
    ended.ended_at = Some(NOW - 1);
    // Expires exactly now: not live (core: live while now < expires_at).
    let mut expired = session(4, "sid-expired", "alice");
    expired.expires_at = NOW;
    let bobs = session(5, "sid-bob", "bob");
    for s in [&live, &older, &ended, &expired, &bobs] {
        db.put_session(s).await.unwrap();
    }
    let sids = |v: Vec<frontdesk_core::model::Session>| -> Vec<String> {
        v.into_iter().map(|s| s.sid).collect()
    };
    assert_eq!(
        sids(db.list_sessions("alice", NOW).await.unwrap()),
        ["sid-old", "sid-live"]
    );
    assert_eq!(
        db.list_sessions("alice", NOW).await.unwrap()[1],
        live,
        "field for field"
    );
    // A second earlier, the one expiring at NOW was live (ties on
    // created_at by sid); the ended one never is.
    assert_eq!(
        sids(db.list_sessions("alice", NOW - 1).await.unwrap()),
        ["sid-old", "sid-expired", "sid-live"]
    );
    assert!(db.list_sessions("carol", NOW).await.unwrap().is_empty());
}

async fn sessions_end_all_of_a_user_but_one(db: &Db) {
    let g_keep = grant("g-keep", "app", "alice", Some("sid-keep"));
    let g_a = grant("g-a", "app", "alice", Some("sid-a"));
    let g_b = grant("g-b", "app", "alice", Some("sid-b"));
    let g_none = grant("g-none", "app", "alice", None);
    let g_bob = grant("g-bob", "app", "bob", Some("sid-bob"));
    seed(
        db,
        &["app"],
        &["alice", "bob"],
        &[&g_keep, &g_a, &g_b, &g_none, &g_bob],
    )
    .await;
    for s in [
        session(1, "sid-keep", "alice"),
        session(2, "sid-a", "alice"),
        session(3, "sid-b", "alice"),
        session(4, "sid-bob", "bob"),
    ] {
        db.put_session(&s).await.unwrap();
    }
    let revoked = async |id: &str| db.grant(id).await.unwrap().unwrap().revoked_at;
    let live = async |sub: &str| -> Vec<String> {
        db.list_sessions(sub, NOW)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.sid)
            .collect()
    };

    assert_eq!(
        db.end_sessions_of("alice", NOW, Some("sid-keep"))
            .await
            .unwrap(),
        2
    );
    assert_eq!(live("alice").await, ["sid-keep"]);
    assert_eq!(
        db.session(&[2; 32]).await.unwrap().unwrap().ended_at,
        Some(NOW)
    );
    assert_eq!(revoked("g-a").await, Some(NOW));
    assert_eq!(revoked("g-b").await, Some(NOW));
    assert_eq!(revoked("g-keep").await, None, "the kept session's grant");
    assert_eq!(revoked("g-none").await, None, "not made in a session");
    assert_eq!(revoked("g-bob").await, None, "another user's");
    assert_eq!(live("bob").await, ["sid-bob"]);

    // Again: nothing left to end but the kept one; then all of them.
    assert_eq!(
        db.end_sessions_of("alice", NOW + 1, Some("sid-keep"))
            .await
            .unwrap(),
        0
    );
    assert_eq!(revoked("g-a").await, Some(NOW), "first revocation kept");
    assert_eq!(db.end_sessions_of("alice", NOW + 2, None).await.unwrap(), 1);
    assert!(live("alice").await.is_empty());
    assert_eq!(revoked("g-keep").await, Some(NOW + 2));
    assert_eq!(db.end_sessions_of("carol", NOW, None).await.unwrap(), 0);
}
