//! E-mailed link tokens: stored by hash, spent once by one conditional
//! update, never after `expires_at`, and the reset and verification they
//! carry made in the same transaction.

use frontdesk_core::model::{LinkPurpose, LinkRedemption, LinkToken};
use frontdesk_core::store::Store;
use frontdesk_store::Db;

use crate::support::{NOW, grant, refresh, seed, session, user};

contract!(
    link_tokens_are_stored_by_hash,
    reset_spends_once_and_ends_everything,
    reset_refuses_expired_unknown_and_foreign_links,
    reset_marks_the_address_verified_only_if_unchanged,
    verify_sets_email_verified_once,
    verify_link_for_an_old_address_is_spent_without_verifying,
    concurrent_redemptions_have_one_winner,
    link_tokens_go_with_their_user_and_their_expiry,
    verify_before_sign_in_round_trips,
);

fn link(byte: u8, purpose: LinkPurpose, sub: &str, email: &str, expires_at: i64) -> LinkToken {
    LinkToken {
        token_hash: vec![byte; 32],
        purpose,
        sub: sub.to_owned(),
        email: email.to_owned(),
        created_at: expires_at - 1800,
        expires_at,
        used_at: None,
    }
}

fn done(r: LinkRedemption) -> frontdesk_core::model::User {
    match r {
        LinkRedemption::Done(u) => *u,
        other => panic!("expected Done, got {other:?}"),
    }
}

async fn link_tokens_are_stored_by_hash(db: &Db) {
    let t = link(
        1,
        LinkPurpose::ResetPassword,
        "s1",
        "a@example.com",
        NOW + 60,
    );
    db.put_link_token(&t).await.unwrap();
    assert_eq!(db.link_token(&[1; 32]).await.unwrap(), Some(t));
    assert_eq!(db.link_token(&[2; 32]).await.unwrap(), None);
    // A hash is a primary key: the same one twice is a conflict, not a second row.
    let again = link(1, LinkPurpose::VerifyEmail, "s2", "b@example.com", NOW + 60);
    assert!(db.put_link_token(&again).await.is_err());
}

async fn reset_spends_once_and_ends_everything(db: &Db) {
    let g = grant("g1", "app", "s1", Some("sid-1"));
    seed(db, &["app"], &[], &[&g]).await;
    db.create_user(&user("s1", "alice", Some("alice@example.com")))
        .await
        .unwrap();
    db.put_session(&session(7, "sid-1", "s1")).await.unwrap();
    db.put_refresh_token(&refresh(vec![9; 32], &g))
        .await
        .unwrap();
    for (byte, purpose) in [
        (1, LinkPurpose::ResetPassword),
        (2, LinkPurpose::ResetPassword),
        (3, LinkPurpose::VerifyEmail),
    ] {
        db.put_link_token(&link(byte, purpose, "s1", "alice@example.com", NOW + 60))
            .await
            .unwrap();
    }

    let u = done(
        db.reset_password_by_link(&[1; 32], "$argon2id$new", NOW)
            .await
            .unwrap(),
    );
    assert_eq!(
        (u.password_hash.as_str(), u.updated_at),
        ("$argon2id$new", NOW)
    );
    assert_eq!(
        db.link_token(&[1; 32]).await.unwrap().unwrap().used_at,
        Some(NOW)
    );
    // Sessions ended, grants (so refresh tokens) revoked, in the same transaction.
    assert_eq!(
        db.session(&[7; 32]).await.unwrap().unwrap().ended_at,
        Some(NOW)
    );
    assert_eq!(db.grant("g1").await.unwrap().unwrap().revoked_at, Some(NOW));
    let (_, g_now) = db.refresh_token(&[9; 32]).await.unwrap().unwrap();
    assert_eq!(g_now.revoked_at, Some(NOW));
    // The other reset link is spent too; the verification link is not.
    assert_eq!(
        db.link_token(&[2; 32]).await.unwrap().unwrap().used_at,
        Some(NOW)
    );
    assert_eq!(
        db.link_token(&[3; 32]).await.unwrap().unwrap().used_at,
        None
    );

    // Single use: a second redemption changes nothing.
    assert_eq!(
        db.reset_password_by_link(&[1; 32], "$argon2id$again", NOW + 1)
            .await
            .unwrap(),
        LinkRedemption::AlreadyUsed
    );
    assert_eq!(
        db.reset_password_by_link(&[2; 32], "$argon2id$again", NOW + 1)
            .await
            .unwrap(),
        LinkRedemption::AlreadyUsed
    );
    let u = db.user("s1").await.unwrap().unwrap();
    assert_eq!(
        (u.password_hash.as_str(), u.updated_at),
        ("$argon2id$new", NOW)
    );
    assert_eq!(
        db.link_token(&[1; 32]).await.unwrap().unwrap().used_at,
        Some(NOW)
    );
}

async fn reset_refuses_expired_unknown_and_foreign_links(db: &Db) {
    db.create_user(&user("s1", "alice", Some("alice@example.com")))
        .await
        .unwrap();
    let original = db.user("s1").await.unwrap().unwrap();
    db.put_link_token(&link(
        1,
        LinkPurpose::ResetPassword,
        "s1",
        "alice@example.com",
        NOW,
    ))
    .await
    .unwrap();
    db.put_link_token(&link(
        2,
        LinkPurpose::VerifyEmail,
        "s1",
        "alice@example.com",
        NOW + 60,
    ))
    .await
    .unwrap();
    // At expires_at the link is dead (it works while now < expires_at).
    assert_eq!(
        db.reset_password_by_link(&[1; 32], "$argon2id$x", NOW)
            .await
            .unwrap(),
        LinkRedemption::Expired
    );
    assert_eq!(
        db.reset_password_by_link(&[1; 32], "$argon2id$x", NOW + 1000)
            .await
            .unwrap(),
        LinkRedemption::Expired
    );
    // A verification link does not reset a password (and stays unspent).
    assert_eq!(
        db.reset_password_by_link(&[2; 32], "$argon2id$x", NOW)
            .await
            .unwrap(),
        LinkRedemption::Unknown
    );
    assert_eq!(
        db.link_token(&[2; 32]).await.unwrap().unwrap().used_at,
        None
    );
    // Nor does a reset link verify an address.
    assert_eq!(
        db.verify_email_by_link(&[1; 32], NOW - 10).await.unwrap(),
        LinkRedemption::Unknown
    );
    assert_eq!(
        db.reset_password_by_link(&[3; 32], "$argon2id$x", NOW)
            .await
            .unwrap(),
        LinkRedemption::Unknown
    );
    assert_eq!(db.user("s1").await.unwrap().unwrap(), original);
    assert_eq!(
        db.link_token(&[1; 32]).await.unwrap().unwrap().used_at,
        None
    );
    // One second before expiry it still works.
    done(
        db.reset_password_by_link(&[1; 32], "$argon2id$x", NOW - 1)
            .await
            .unwrap(),
    );
}

async fn reset_marks_the_address_verified_only_if_unchanged(db: &Db) {
    let mut a = user("s1", "alice", Some("Alice@Example.com"));
    a.claims.email_verified = false;
    a.verify_before_sign_in = true;
    db.create_user(&a).await.unwrap();
    let mut b = user("s2", "bob", Some("bob@example.com"));
    b.claims.email_verified = false;
    db.create_user(&b).await.unwrap();
    db.put_link_token(&link(
        1,
        LinkPurpose::ResetPassword,
        "s1",
        "alice@example.com",
        NOW + 60,
    ))
    .await
    .unwrap();
    // bob's link went to an address he no longer has.
    db.put_link_token(&link(
        2,
        LinkPurpose::ResetPassword,
        "s2",
        "old@example.com",
        NOW + 60,
    ))
    .await
    .unwrap();
    let u = done(
        db.reset_password_by_link(&[1; 32], "$argon2id$a", NOW)
            .await
            .unwrap(),
    );
    assert!(u.claims.email_verified);
    assert!(!u.verify_before_sign_in);
    assert_eq!(u.claims.email.as_deref(), Some("Alice@Example.com"));
    let u = done(
        db.reset_password_by_link(&[2; 32], "$argon2id$b", NOW)
            .await
            .unwrap(),
    );
    assert!(!u.claims.email_verified);
    assert_eq!(u.password_hash, "$argon2id$b");
}

async fn verify_sets_email_verified_once(db: &Db) {
    let mut a = user("s1", "alice", Some("alice@example.com"));
    a.claims.email_verified = false;
    a.verify_before_sign_in = true;
    db.create_user(&a).await.unwrap();
    db.put_link_token(&link(
        1,
        LinkPurpose::VerifyEmail,
        "s1",
        "alice@example.com",
        NOW + 60,
    ))
    .await
    .unwrap();
    db.put_link_token(&link(
        2,
        LinkPurpose::VerifyEmail,
        "s1",
        "alice@example.com",
        NOW,
    ))
    .await
    .unwrap();
    assert_eq!(
        db.verify_email_by_link(&[2; 32], NOW).await.unwrap(),
        LinkRedemption::Expired
    );
    assert!(!db.user("s1").await.unwrap().unwrap().claims.email_verified);
    let u = done(db.verify_email_by_link(&[1; 32], NOW).await.unwrap());
    assert!(u.claims.email_verified);
    assert!(!u.verify_before_sign_in);
    assert_eq!(u.updated_at, NOW);
    // The other claims and the password are untouched.
    assert_eq!(u.claims.name, a.claims.name);
    assert_eq!(u.password_hash, a.password_hash);
    assert_eq!(db.user("s1").await.unwrap().unwrap(), u);
    assert_eq!(
        db.verify_email_by_link(&[1; 32], NOW + 1).await.unwrap(),
        LinkRedemption::AlreadyUsed
    );
}

async fn verify_link_for_an_old_address_is_spent_without_verifying(db: &Db) {
    let mut a = user("s1", "alice", Some("new@example.com"));
    a.claims.email_verified = false;
    db.create_user(&a).await.unwrap();
    db.put_link_token(&link(
        1,
        LinkPurpose::VerifyEmail,
        "s1",
        "old@example.com",
        NOW + 60,
    ))
    .await
    .unwrap();
    assert_eq!(
        db.verify_email_by_link(&[1; 32], NOW).await.unwrap(),
        LinkRedemption::AddressChanged
    );
    assert!(!db.user("s1").await.unwrap().unwrap().claims.email_verified);
    assert_eq!(
        db.verify_email_by_link(&[1; 32], NOW).await.unwrap(),
        LinkRedemption::AlreadyUsed
    );
}

async fn concurrent_redemptions_have_one_winner(db: &Db) {
    db.create_user(&user("s1", "alice", Some("alice@example.com")))
        .await
        .unwrap();
    db.put_link_token(&link(
        1,
        LinkPurpose::ResetPassword,
        "s1",
        "alice@example.com",
        NOW + 60,
    ))
    .await
    .unwrap();
    db.put_link_token(&link(
        2,
        LinkPurpose::VerifyEmail,
        "s1",
        "alice@example.com",
        NOW + 60,
    ))
    .await
    .unwrap();
    let resets = (0..16).map(|i| {
        let db = db.clone();
        tokio::spawn(async move {
            db.reset_password_by_link(&[1; 32], &format!("$argon2id${i}"), NOW)
                .await
                .unwrap()
        })
    });
    let verifies = (0..16).map(|_| {
        let db = db.clone();
        tokio::spawn(async move { db.verify_email_by_link(&[2; 32], NOW).await.unwrap() })
    });
    for handles in [resets.collect::<Vec<_>>(), verifies.collect::<Vec<_>>()] {
        let mut won = 0;
        for h in handles {
            match h.await.unwrap() {
                LinkRedemption::Done(_) => won += 1,
                LinkRedemption::AlreadyUsed => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(won, 1);
    }
}

async fn link_tokens_go_with_their_user_and_their_expiry(db: &Db) {
    db.create_user(&user("s1", "alice", Some("alice@example.com")))
        .await
        .unwrap();
    db.create_user(&user("s2", "bob", Some("bob@example.com")))
        .await
        .unwrap();
    db.put_link_token(&link(
        1,
        LinkPurpose::ResetPassword,
        "s1",
        "alice@example.com",
        NOW + 60,
    ))
    .await
    .unwrap();
    db.put_link_token(&link(
        2,
        LinkPurpose::VerifyEmail,
        "s2",
        "bob@example.com",
        NOW + 10,
    ))
    .await
    .unwrap();
    db.put_link_token(&link(
        3,
        LinkPurpose::VerifyEmail,
        "s2",
        "bob@example.com",
        NOW + 60,
    ))
    .await
    .unwrap();
    assert!(db.delete_user("s1").await.unwrap());
    assert_eq!(db.link_token(&[1; 32]).await.unwrap(), None);
    // Purged at expires_at, not before.
    crate::support::sweep_at(db, NOW + 9).await;
    assert!(db.link_token(&[2; 32]).await.unwrap().is_some());
    assert!(crate::support::sweep_at(db, NOW + 10).await >= 1);
    assert_eq!(db.link_token(&[2; 32]).await.unwrap(), None);
    assert!(db.link_token(&[3; 32]).await.unwrap().is_some());
}

async fn verify_before_sign_in_round_trips(db: &Db) {
    let mut a = user("s1", "alice", Some("alice@example.com"));
    a.verify_before_sign_in = true;
    db.create_user(&a).await.unwrap();
    assert!(db.user("s1").await.unwrap().unwrap().verify_before_sign_in);
    assert!(
        db.user_by_login("ALICE@example.com")
            .await
            .unwrap()
            .unwrap()
            .verify_before_sign_in
    );
    assert!(db.list_users().await.unwrap()[0].verify_before_sign_in);
    let mut b = user("s2", "bob", None);
    b.verify_before_sign_in = true;
    assert!(db.upsert_user(&b).await.unwrap().verify_before_sign_in);
    b.verify_before_sign_in = false;
    assert!(!db.upsert_user(&b).await.unwrap().verify_before_sign_in);
    assert!(!db.user("s2").await.unwrap().unwrap().verify_before_sign_in);
}
