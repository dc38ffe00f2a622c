use frontdesk_core::model::{AuthorizationCode, Redemption};
use frontdesk_core::store::{Store, StoreError};
use frontdesk_store::Db;

use crate::support::{NOW, code, grant, refresh, seed, session, sweep_at, token};

contract!(
    opaque_tokens,
    dpop_jkt_round_trips,
    revoked_jtis,
    dpop_proofs_are_used_once,
    sweep_expired_tokens,
    sweep_expired_signin,
    ping
);

async fn opaque_tokens(db: &Db) {
    let t = token(1, NOW + 300);
    db.put_opaque_token(&t).await.unwrap();
    let mut empty_aud = token(2, NOW + 300);
    empty_aud.audience = vec![];
    db.put_opaque_token(&empty_aud).await.unwrap();
    assert_eq!(
        db.opaque_token(&t.token_hash).await.unwrap(),
        Some(t.clone())
    );
    assert_eq!(
        db.opaque_token(&empty_aud.token_hash).await.unwrap(),
        Some(empty_aud)
    );
    assert_eq!(db.opaque_token(&[9; 32]).await.unwrap(), None);
    assert!(matches!(
        db.put_opaque_token(&t).await,
        Err(StoreError::Conflict(_))
    ));

    assert!(db.revoke_opaque_token(&t.token_hash, NOW).await.unwrap());
    // Revoking again is fine and keeps the first time.
    assert!(
        db.revoke_opaque_token(&t.token_hash, NOW + 5)
            .await
            .unwrap()
    );
    let stored = db.opaque_token(&t.token_hash).await.unwrap().unwrap();
    assert_eq!(stored.revoked_at, Some(NOW));
    assert_eq!(stored.jti, t.jti);
    assert!(!db.revoke_opaque_token(&[9; 32], NOW).await.unwrap());
}

/// The DPoP binding of opaque tokens, codes and refresh tokens is stored
/// and read back; a successor keeps what the caller gave it.
async fn dpop_jkt_round_trips(db: &Db) {
    let mut t = token(3, NOW + 300);
    t.dpop_jkt = Some("jkt-opaque".to_owned());
    db.put_opaque_token(&t).await.unwrap();
    assert_eq!(db.opaque_token(&t.token_hash).await.unwrap(), Some(t));

    let g = grant("g-dpop", "app", "alice", None);
    seed(db, &["app"], &["alice"], &[]).await;
    let mut c = code(7, &g);
    c.dpop_jkt = Some("jkt-code".to_owned());
    db.put_authorization(&g, &c).await.unwrap();
    let (read, _) = db.code(&c.code_hash).await.unwrap().unwrap();
    assert_eq!(read.dpop_jkt.as_deref(), Some("jkt-code"));

    let mut r = refresh(vec![8; 32], &g);
    r.dpop_jkt = Some("jkt-refresh".to_owned());
    db.put_refresh_token(&r).await.unwrap();
    let (read, _) = db.refresh_token(&r.token_hash).await.unwrap().unwrap();
    assert_eq!(read.dpop_jkt.as_deref(), Some("jkt-refresh"));
}

/// RFC 9449 §11.1: one proof is accepted once while remembered; a row the
/// sweeper has not removed yet but whose time is up does not block it.
async fn dpop_proofs_are_used_once(db: &Db) {
    let key = [5u8; 32];
    assert!(db.use_once(&key, NOW + 100, NOW).await.unwrap());
    assert!(!db.use_once(&key, NOW + 100, NOW + 1).await.unwrap());
    assert!(!db.use_once(&key, NOW + 200, NOW + 99).await.unwrap());
    assert!(db.use_once(&[6u8; 32], NOW + 100, NOW).await.unwrap());
    // Expired but not swept: a fresh use, which extends the row.
    assert!(db.use_once(&key, NOW + 400, NOW + 100).await.unwrap());
    assert!(!db.use_once(&key, NOW + 400, NOW + 300).await.unwrap());
    assert_eq!(sweep_at(db, NOW + 400).await, 2);
    assert!(db.use_once(&key, NOW + 500, NOW + 400).await.unwrap());
}

async fn revoked_jtis(db: &Db) {
    assert!(!db.is_jti_revoked("j1").await.unwrap());
    db.revoke_jti("j1", NOW + 100).await.unwrap();
    db.revoke_jti("j1", NOW + 100).await.unwrap();
    assert!(db.is_jti_revoked("j1").await.unwrap());
    assert!(!db.is_jti_revoked("j2").await.unwrap());
    // A shorter second revocation does not shorten the record...
    db.revoke_jti("j1", NOW + 10).await.unwrap();
    assert_eq!(sweep_at(db, NOW + 50).await, 0);
    assert!(db.is_jti_revoked("j1").await.unwrap());
    // ...a longer one extends it.
    db.revoke_jti("j1", NOW + 200).await.unwrap();
    assert_eq!(sweep_at(db, NOW + 150).await, 0);
    assert!(db.is_jti_revoked("j1").await.unwrap());
    assert_eq!(sweep_at(db, NOW + 200).await, 1);
    assert!(!db.is_jti_revoked("j1").await.unwrap());
}

async fn sweep_expired_tokens(db: &Db) {
    db.put_opaque_token(&token(1, NOW - 1)).await.unwrap();
    db.put_opaque_token(&token(2, NOW)).await.unwrap();
    db.put_opaque_token(&token(3, NOW + 1)).await.unwrap();
    db.revoke_jti("old", NOW - 10).await.unwrap();
    db.revoke_jti("new", NOW + 10).await.unwrap();

    // Tokens and records with expires_at <= now go.
    assert_eq!(sweep_at(db, NOW).await, 3);
    assert_eq!(db.opaque_token(&[1; 32]).await.unwrap(), None);
    assert_eq!(db.opaque_token(&[2; 32]).await.unwrap(), None);
    assert!(db.opaque_token(&[3; 32]).await.unwrap().is_some());
    assert!(!db.is_jti_revoked("old").await.unwrap());
    assert!(db.is_jti_revoked("new").await.unwrap());
    assert_eq!(sweep_at(db, NOW).await, 0);
    assert_eq!(sweep_at(db, NOW + 10).await, 2);
}

async fn ping(db: &Db) {
    db.ping().await.unwrap();
}

async fn sweep_expired_signin(db: &Db) {
    // Grant expired at now: goes with its code and refresh token, though
    // those themselves are still within their lifetime.
    let mut expired = grant("g-expired", "app", "alice", None);
    expired.expires_at = NOW;
    // Grant live (though revoked: revocation is not expiry).
    let mut live = grant("g-live", "app", "alice", Some("sid-live"));
    live.revoked_at = Some(NOW - 5);
    seed(db, &["app"], &[], &[&expired, &live]).await; // codes [100], [101]
    let code_with = |byte: u8, expires_at: i64| AuthorizationCode {
        expires_at,
        ..code(byte, &live)
    };
    db.put_authorization(
        &grant("g-more", "app", "alice", None),
        &AuthorizationCode {
            grant_id: "g-more".into(),
            ..code_with(2, NOW - 1)
        },
    )
    .await
    .unwrap();
    let mut r_expired_grant = refresh(vec![10; 32], &expired);
    r_expired_grant.expires_at = NOW + 100;
    let mut r_old = refresh(vec![11; 32], &live);
    r_old.expires_at = NOW;
    let mut r_new = refresh(vec![12; 32], &live);
    r_new.expires_at = NOW + 1;
    for r in [&r_expired_grant, &r_old, &r_new] {
        db.put_refresh_token(r).await.unwrap();
    }
    let mut s_old = session(1, "sid-old", "alice");
    s_old.expires_at = NOW;
    let mut s_ended = session(2, "sid-live", "alice");
    s_ended.ended_at = Some(NOW - 30);
    db.put_session(&s_old).await.unwrap();
    db.put_session(&s_ended).await.unwrap();
    // Windows of 100 s: the first ends at now, the second at now + 50.
    db.note_login_failure("acct:old", NOW - 100, 100)
        .await
        .unwrap();
    db.note_login_failure("acct:new", NOW - 50, 100)
        .await
        .unwrap();

    // g-expired + its code [100] + its refresh [10], code [2] (expired)
    // and g-more, which it leaves without code or refresh token, refresh
    // [11], session 1, acct:old.
    assert_eq!(sweep_at(db, NOW).await, 8);
    assert_eq!(db.grant("g-expired").await.unwrap(), None);
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
    assert_eq!(db.refresh_token(&[10; 32]).await.unwrap(), None);
    assert_eq!(
        db.redeem_code(
            &[2; 32],
            NOW,
            &frontdesk_core::model::Issued::default(),
            None
        )
        .await
        .unwrap(),
        Redemption::Unknown
    );
    assert_eq!(
        db.grant("g-more").await.unwrap(),
        None,
        "a grant goes with its last code when it has no refresh token"
    );
    assert_eq!(db.refresh_token(&[11; 32]).await.unwrap(), None);
    assert!(db.refresh_token(&[12; 32]).await.unwrap().is_some());
    assert!(db.grant("g-live").await.unwrap().is_some());
    assert_eq!(db.session(&[1; 32]).await.unwrap(), None);
    assert!(
        db.session(&[2; 32]).await.unwrap().is_some(),
        "ended, not expired"
    );
    assert_eq!(db.login_failures("acct:new", NOW, 100).await.unwrap(), 1);
    assert_eq!(sweep_at(db, NOW).await, 0);
    // acct:old is gone, not merely outside its window: a new failure counts 1.
    assert_eq!(
        db.note_login_failure("acct:old", NOW, 1000).await.unwrap(),
        1
    );
    assert!(matches!(
        db.redeem_code(
            &[101; 32],
            NOW,
            &frontdesk_core::model::Issued::default(),
            None
        )
        .await
        .unwrap(),
        Redemption::Redeemed { .. }
    ));
}
