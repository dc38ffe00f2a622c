use frontdesk_core::store::{Store, StoreError};
use frontdesk_store::Db;

use crate::support::{NOW, token};

contract!(opaque_tokens, revoked_jtis, purge_expired, ping);

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

async fn revoked_jtis(db: &Db) {
    assert!(!db.is_jti_revoked("j1").await.unwrap());
    db.revoke_jti("j1", NOW + 100).await.unwrap();
    db.revoke_jti("j1", NOW + 100).await.unwrap();
    assert!(db.is_jti_revoked("j1").await.unwrap());
    assert!(!db.is_jti_revoked("j2").await.unwrap());
    // A shorter second revocation does not shorten the record...
    db.revoke_jti("j1", NOW + 10).await.unwrap();
    assert_eq!(db.purge_expired(NOW + 50).await.unwrap(), 0);
    assert!(db.is_jti_revoked("j1").await.unwrap());
    // ...a longer one extends it.
    db.revoke_jti("j1", NOW + 200).await.unwrap();
    assert_eq!(db.purge_expired(NOW + 150).await.unwrap(), 0);
    assert!(db.is_jti_revoked("j1").await.unwrap());
    assert_eq!(db.purge_expired(NOW + 200).await.unwrap(), 1);
    assert!(!db.is_jti_revoked("j1").await.unwrap());
}

async fn purge_expired(db: &Db) {
    db.put_opaque_token(&token(1, NOW - 1)).await.unwrap();
    db.put_opaque_token(&token(2, NOW)).await.unwrap();
    db.put_opaque_token(&token(3, NOW + 1)).await.unwrap();
    db.revoke_jti("old", NOW - 10).await.unwrap();
    db.revoke_jti("new", NOW + 10).await.unwrap();

    // Tokens and records with expires_at <= now go.
    assert_eq!(db.purge_expired(NOW).await.unwrap(), 3);
    assert_eq!(db.opaque_token(&[1; 32]).await.unwrap(), None);
    assert_eq!(db.opaque_token(&[2; 32]).await.unwrap(), None);
    assert!(db.opaque_token(&[3; 32]).await.unwrap().is_some());
    assert!(!db.is_jti_revoked("old").await.unwrap());
    assert!(db.is_jti_revoked("new").await.unwrap());
    assert_eq!(db.purge_expired(NOW).await.unwrap(), 0);
    assert_eq!(db.purge_expired(NOW + 10).await.unwrap(), 2);
}

async fn ping(db: &Db) {
    db.ping().await.unwrap();
}
