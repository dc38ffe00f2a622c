use frontdesk_core::model::{ClientId, Redemption, UserClaims};
use frontdesk_core::store::{Store, StoreError};
use frontdesk_store::Db;

use crate::support::{NOW, consent, grant, refresh, seed, session, user};

contract!(
    user_create_get_list,
    user_conflicts,
    user_by_login,
    user_upsert_keeps_sub,
    user_updates,
    user_delete,
    user_password_change_signs_out,
    user_disable_signs_out,
    user_delete_takes_everything,
);

async fn user_create_get_list(db: &Db) {
    let bob = user("sub-bob", "bob", Some("Bob@Example.com"));
    let alice = user("sub-alice", "alice", None);
    db.create_user(&bob).await.unwrap();
    db.create_user(&alice).await.unwrap();
    // Claims keep the original case of the email.
    assert_eq!(db.user("sub-bob").await.unwrap(), Some(bob.clone()));
    assert_eq!(db.user("sub-alice").await.unwrap(), Some(alice.clone()));
    assert_eq!(db.user("nobody").await.unwrap(), None);
    // Ordered by username.
    assert_eq!(db.list_users().await.unwrap(), vec![alice, bob]);
}

async fn user_conflicts(db: &Db) {
    db.create_user(&user("s1", "alice", Some("Alice@Example.com")))
        .await
        .unwrap();
    // Several users without email are fine (NULLs are distinct).
    db.create_user(&user("s2", "bob", None)).await.unwrap();
    db.create_user(&user("s3", "carol", None)).await.unwrap();

    match db.create_user(&user("s4", "alice", None)).await {
        Err(StoreError::Conflict(what)) => assert!(what.contains("username"), "{what}"),
        other => panic!("expected Conflict on username, got {other:?}"),
    }
    match db
        .create_user(&user("s5", "alice2", Some("aLICE@example.COM")))
        .await
    {
        Err(StoreError::Conflict(what)) => assert!(what.contains("email"), "{what}"),
        other => panic!("expected Conflict on email, got {other:?}"),
    }
    match db.create_user(&user("s1", "dave", None)).await {
        Err(StoreError::Conflict(what)) => assert!(what.contains("sub"), "{what}"),
        other => panic!("expected Conflict on sub, got {other:?}"),
    }
    assert_eq!(db.list_users().await.unwrap().len(), 3);
}

async fn user_by_login(db: &Db) {
    let alice = user("s1", "alice", Some("Alice@Example.com"));
    let bob = user("s2", "bob", None);
    db.create_user(&alice).await.unwrap();
    db.create_user(&bob).await.unwrap();

    assert_eq!(
        db.user_by_login("alice").await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(db.user_by_login("bob").await.unwrap(), Some(bob));
    // Email, any case.
    assert_eq!(
        db.user_by_login("alice@example.com").await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(
        db.user_by_login("ALICE@EXAMPLE.COM").await.unwrap(),
        Some(alice)
    );
    // Usernames are exact.
    assert_eq!(db.user_by_login("ALICE").await.unwrap(), None);
    assert_eq!(db.user_by_login("nobody").await.unwrap(), None);
    assert_eq!(db.user_by_login("").await.unwrap(), None);

    // A username that looks like another user's email wins over the email.
    let tricky = user("s3", "carol@example.com", None);
    let carol = user("s4", "carol", Some("Carol@Example.com"));
    db.create_user(&carol).await.unwrap();
    db.create_user(&tricky).await.unwrap();
    assert_eq!(
        db.user_by_login("carol@example.com").await.unwrap(),
        Some(tricky)
    );
    assert_eq!(
        db.user_by_login("CAROL@example.com").await.unwrap(),
        Some(carol)
    );
}

async fn user_upsert_keeps_sub(db: &Db) {
    let first = user("sub-original", "alice", Some("alice@example.com"));
    assert_eq!(db.upsert_user(&first).await.unwrap(), first);
    assert_eq!(db.upsert_user(&first).await.unwrap(), first);

    let mut again = user("sub-other", "alice", Some("Alice@New.example"));
    again.password_hash = "$argon2id$new".into();
    again.disabled = true;
    again.created_at = NOW;
    again.updated_at = NOW;
    let stored = db.upsert_user(&again).await.unwrap();
    assert_eq!(stored.sub, "sub-original");
    assert_eq!(stored.created_at, first.created_at);
    assert_eq!(stored.updated_at, NOW);
    assert_eq!(stored.password_hash, "$argon2id$new");
    assert!(stored.disabled);
    assert_eq!(stored.claims, again.claims);
    assert_eq!(db.user("sub-original").await.unwrap(), Some(stored));
    assert_eq!(db.user("sub-other").await.unwrap(), None);
    assert_eq!(db.list_users().await.unwrap().len(), 1);
    // The email column followed the claims.
    assert_eq!(
        db.user_by_login("alice@new.example")
            .await
            .unwrap()
            .unwrap()
            .sub,
        "sub-original"
    );
    assert_eq!(db.user_by_login("alice@example.com").await.unwrap(), None);

    // Upsert taking another user's email is a conflict.
    db.create_user(&user("sub-bob", "bob", Some("bob@example.com")))
        .await
        .unwrap();
    let thief = user("sub-x", "mallory", Some("BOB@example.com"));
    assert!(matches!(
        db.upsert_user(&thief).await,
        Err(StoreError::Conflict(_))
    ));
}

async fn user_updates(db: &Db) {
    let alice = user("s1", "alice", Some("alice@example.com"));
    db.create_user(&alice).await.unwrap();
    db.create_user(&user("s2", "bob", Some("bob@example.com")))
        .await
        .unwrap();

    assert!(
        db.set_user_password("s1", "$argon2id$changed", NOW)
            .await
            .unwrap()
    );
    let u = db.user("s1").await.unwrap().unwrap();
    assert_eq!(
        (u.password_hash.as_str(), u.updated_at),
        ("$argon2id$changed", NOW)
    );

    assert!(db.set_user_disabled("s1", true, NOW + 1).await.unwrap());
    let u = db.user("s1").await.unwrap().unwrap();
    assert!(u.disabled);
    assert_eq!(u.updated_at, NOW + 1);
    assert!(db.set_user_disabled("s1", false, NOW + 2).await.unwrap());
    assert!(!db.user("s1").await.unwrap().unwrap().disabled);

    let claims = UserClaims {
        name: Some("Alice Liddell".into()),
        given_name: Some("Alice".into()),
        family_name: Some("Liddell".into()),
        nickname: Some("al".into()),
        picture: Some("https://img.example/a.png".into()),
        locale: Some("en-GB".into()),
        email: Some("Alice@Wonder.example".into()),
        email_verified: true,
        phone_number: Some("+44 20 7946 0000".into()),
        phone_number_verified: true,
        address: Some(frontdesk_core::model::Address {
            locality: Some("Oxford".into()),
            country: Some("GB".into()),
            ..Default::default()
        }),
    };
    assert!(db.update_user_claims("s1", &claims, NOW + 3).await.unwrap());
    let u = db.user("s1").await.unwrap().unwrap();
    assert_eq!(u.claims, claims);
    assert_eq!(u.updated_at, NOW + 3);
    assert_eq!(u.created_at, alice.created_at);
    assert_eq!(
        db.user_by_login("alice@wonder.EXAMPLE")
            .await
            .unwrap()
            .unwrap()
            .sub,
        "s1"
    );
    assert_eq!(db.user_by_login("alice@example.com").await.unwrap(), None);

    // Claims taking another user's email: conflict, nothing changed.
    let stolen = UserClaims {
        email: Some("BOB@example.com".into()),
        ..UserClaims::default()
    };
    assert!(matches!(
        db.update_user_claims("s1", &stolen, NOW + 4).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(db.user("s1").await.unwrap().unwrap().claims, claims);
    // Dropping the email frees it.
    assert!(
        db.update_user_claims("s1", &UserClaims::default(), NOW + 5)
            .await
            .unwrap()
    );
    assert_eq!(
        db.user_by_login("alice@wonder.example").await.unwrap(),
        None
    );

    assert!(!db.set_user_password("ghost", "x", NOW).await.unwrap());
    assert!(!db.set_user_disabled("ghost", true, NOW).await.unwrap());
    assert!(!db.update_user_claims("ghost", &claims, NOW).await.unwrap());
}

async fn user_delete(db: &Db) {
    db.create_user(&user("s1", "alice", Some("alice@example.com")))
        .await
        .unwrap();
    db.create_user(&user("s2", "bob", None)).await.unwrap();
    assert!(db.delete_user("s1").await.unwrap());
    assert!(!db.delete_user("s1").await.unwrap());
    assert_eq!(db.user("s1").await.unwrap(), None);
    assert_eq!(db.user_by_login("alice@example.com").await.unwrap(), None);
    assert_eq!(db.list_users().await.unwrap().len(), 1);
    // Username and email are free again.
    db.create_user(&user("s3", "alice", Some("ALICE@example.com")))
        .await
        .unwrap();
}

/// alice (s1) with two live sessions, an ended one, grants in and out of a
/// session (one already revoked) with refresh tokens; bob (s2) likewise with
/// one session and one grant. Returns nothing: the tests read back.
async fn two_signed_in_users(db: &Db) {
    let a1 = grant("a1", "app", "s1", Some("sid-a1"));
    let a2 = grant("a2", "app", "s1", None);
    let mut a3 = grant("a3", "app", "s1", Some("sid-a2"));
    a3.revoked_at = Some(NOW - 50);
    let b1 = grant("b1", "app", "s2", Some("sid-b1"));
    seed(db, &["app"], &[], &[&a1, &a2, &a3, &b1]).await;
    db.create_user(&user("s1", "alice", Some("alice@example.com")))
        .await
        .unwrap();
    db.create_user(&user("s2", "bob", None)).await.unwrap();
    db.put_session(&session(1, "sid-a1", "s1")).await.unwrap();
    db.put_session(&session(2, "sid-a2", "s1")).await.unwrap();
    let mut ended = session(3, "sid-a3", "s1");
    ended.ended_at = Some(NOW - 40);
    db.put_session(&ended).await.unwrap();
    db.put_session(&session(4, "sid-b1", "s2")).await.unwrap();
    db.put_refresh_token(&refresh(vec![11; 32], &a1))
        .await
        .unwrap();
    db.put_refresh_token(&refresh(vec![12; 32], &a2))
        .await
        .unwrap();
    db.put_refresh_token(&refresh(vec![21; 32], &b1))
        .await
        .unwrap();
    db.put_consent(&consent("s1", "app", "openid", NOW - 100))
        .await
        .unwrap();
    db.put_consent(&consent("s2", "app", "openid", NOW - 100))
        .await
        .unwrap();
}

async fn ended_at(db: &Db, byte: u8) -> Option<i64> {
    db.session(&[byte; 32]).await.unwrap().unwrap().ended_at
}

async fn revoked_at(db: &Db, grant_id: &str) -> Option<i64> {
    db.grant(grant_id).await.unwrap().unwrap().revoked_at
}

/// alice's sessions ended and grants revoked at `at`; bob's untouched.
async fn assert_alice_signed_out(db: &Db, at: i64) {
    assert_eq!(ended_at(db, 1).await, Some(at));
    assert_eq!(ended_at(db, 2).await, Some(at));
    assert_eq!(ended_at(db, 3).await, Some(NOW - 40), "already ended");
    assert_eq!(revoked_at(db, "a1").await, Some(at));
    assert_eq!(revoked_at(db, "a2").await, Some(at));
    assert_eq!(
        revoked_at(db, "a3").await,
        Some(NOW - 50),
        "already revoked"
    );
    // Refresh tokens go with their grant.
    let (_, g) = db.refresh_token(&[12; 32]).await.unwrap().unwrap();
    assert_eq!(g.revoked_at, Some(at));
    assert_eq!(ended_at(db, 4).await, None);
    assert_eq!(revoked_at(db, "b1").await, None);
}

async fn user_password_change_signs_out(db: &Db) {
    two_signed_in_users(db).await;
    assert!(
        db.set_user_password("s1", "$argon2id$new", NOW)
            .await
            .unwrap()
    );
    assert_eq!(
        db.user("s1").await.unwrap().unwrap().password_hash,
        "$argon2id$new"
    );
    assert_alice_signed_out(db, NOW).await;
    // Unknown user: false, nobody signed out.
    assert!(!db.set_user_password("ghost", "x", NOW + 1).await.unwrap());
    assert_eq!(ended_at(db, 4).await, None);
    assert_eq!(revoked_at(db, "b1").await, None);
}

async fn user_disable_signs_out(db: &Db) {
    two_signed_in_users(db).await;
    // Enabling an enabled user changes nothing else.
    assert!(db.set_user_disabled("s1", false, NOW - 1).await.unwrap());
    assert_eq!(ended_at(db, 1).await, None);
    assert_eq!(revoked_at(db, "a1").await, None);

    assert!(db.set_user_disabled("s1", true, NOW).await.unwrap());
    assert!(db.user("s1").await.unwrap().unwrap().disabled);
    assert_alice_signed_out(db, NOW).await;

    // Re-enabling does not bring anything back, nor end new sessions.
    db.put_session(&session(5, "sid-a5", "s1")).await.unwrap();
    assert!(db.set_user_disabled("s1", false, NOW + 1).await.unwrap());
    assert_eq!(ended_at(db, 5).await, None);
    assert_eq!(ended_at(db, 1).await, Some(NOW));
    assert_eq!(revoked_at(db, "a1").await, Some(NOW));
}

async fn user_delete_takes_everything(db: &Db) {
    two_signed_in_users(db).await;
    assert!(db.delete_user("s1").await.unwrap());
    for byte in [1, 2, 3] {
        assert_eq!(db.session(&[byte; 32]).await.unwrap(), None);
    }
    for id in ["a1", "a2", "a3"] {
        assert_eq!(db.grant(id).await.unwrap(), None);
    }
    assert_eq!(db.refresh_token(&[11; 32]).await.unwrap(), None);
    assert_eq!(db.refresh_token(&[12; 32]).await.unwrap(), None);
    // The codes went with the grants (seed gave a1 the code [100; 32]).
    assert_eq!(
        db.redeem_code(
            &[100; 32],
            NOW,
            &frontdesk_core::model::Issued::default(),
            None
        )
        .await
        .unwrap(),
        Redemption::Unknown
    );
    assert_eq!(db.list_consents("s1").await.unwrap(), vec![]);

    // bob keeps everything.
    assert_eq!(ended_at(db, 4).await, None);
    assert_eq!(revoked_at(db, "b1").await, None);
    assert!(db.refresh_token(&[21; 32]).await.unwrap().is_some());
    assert!(
        db.consent("s2", &ClientId("app".into()))
            .await
            .unwrap()
            .is_some()
    );
    assert!(matches!(
        db.redeem_code(
            &[103; 32],
            NOW,
            &frontdesk_core::model::Issued::default(),
            None
        )
        .await
        .unwrap(),
        Redemption::Redeemed { .. }
    ));
    assert!(!db.delete_user("s1").await.unwrap());
}

contract!(users_in_pages);

/// Keyset pages by username: each page starts strictly after the cursor,
/// and a user created meanwhile before the cursor does not shift the rest.
async fn users_in_pages(db: &Db) {
    for name in ["dave", "alice", "erin", "carol", "bob"] {
        db.create_user(&user(&format!("sub-{name}"), name, None))
            .await
            .unwrap();
    }
    let names = |v: Vec<frontdesk_core::model::User>| -> Vec<String> {
        v.into_iter().map(|u| u.username).collect()
    };
    assert_eq!(
        names(db.users_page(None, 2).await.unwrap()),
        ["alice", "bob"]
    );
    db.create_user(&user("sub-aaron", "aaron", None))
        .await
        .unwrap();
    assert_eq!(
        names(db.users_page(Some("bob"), 2).await.unwrap()),
        ["carol", "dave"]
    );
    assert_eq!(
        names(db.users_page(Some("dave"), 2).await.unwrap()),
        ["erin"]
    );
    assert!(db.users_page(Some("erin"), 2).await.unwrap().is_empty());
    // The full user, field for field.
    assert_eq!(
        db.users_page(None, 1).await.unwrap(),
        vec![db.user("sub-aaron").await.unwrap().unwrap()]
    );
}

contract!(the_same_user_upserted_at_once_by_many_nodes);

/// Nodes starting together apply the same `[[users]]`: every upsert of one
/// user succeeds (found once flaky: PostgreSQL reported the address, not
/// the username, as taken), and a real address clash is still refused.
async fn the_same_user_upserted_at_once_by_many_nodes(db: &Db) {
    for round in 0..5 {
        let sub = format!("sub-race-{round}");
        let name = format!("racer{round}");
        let email = format!("racer{round}@example.com");
        let u = user(&sub, &name, Some(&email));
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (db, u) = (db.clone(), u.clone());
            set.spawn(async move { db.upsert_user(&u).await });
        }
        while let Some(r) = set.join_next().await {
            assert_eq!(r.unwrap().unwrap().username, name, "round {round}");
        }
    }
    let clash = user("sub-other", "someone-else", Some("racer0@example.com"));
    assert!(matches!(
        db.upsert_user(&clash).await,
        Err(StoreError::Conflict(_))
    ));
}
