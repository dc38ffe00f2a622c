use frontdesk_core::model::UserClaims;
use frontdesk_core::store::{Store, StoreError};
use frontdesk_store::Db;

use crate::support::{NOW, user};

contract!(
    user_create_get_list,
    user_conflicts,
    user_by_login,
    user_upsert_keeps_sub,
    user_updates,
    user_delete,
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
