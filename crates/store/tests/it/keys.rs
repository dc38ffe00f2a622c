use frontdesk_core::model::KeyUse;
use frontdesk_core::store::{Store, StoreError};
use frontdesk_store::Db;

use crate::support::{NOW, key};

contract!(
    signing_keys_rotation,
    signing_keys_duplicate_kid,
    signing_keys_delete_retired
);

async fn signing_keys_rotation(db: &Db) {
    assert_eq!(db.signing_keys().await.unwrap(), vec![]);
    let at1 = key("at-1", KeyUse::AccessToken, NOW - 300, NOW - 300);
    let id1 = key("id-1", KeyUse::IdToken, NOW - 200, NOW - 200);
    db.put_signing_key(&at1).await.unwrap();
    db.put_signing_key(&id1).await.unwrap();
    assert_eq!(
        db.signing_keys().await.unwrap(),
        vec![at1.clone(), id1.clone()]
    );

    // A new access-token key retires the old one at its activation; the
    // ID-token key is untouched.
    let at2 = key("at-2", KeyUse::AccessToken, NOW, NOW + 60);
    db.put_signing_key(&at2).await.unwrap();
    let mut at1_retired = at1.clone();
    at1_retired.retired_at = Some(NOW + 60);
    assert_eq!(
        db.signing_keys().await.unwrap(),
        vec![at1_retired.clone(), id1.clone(), at2.clone()]
    );

    // An already retired key keeps its retired_at.
    let at3 = key("at-3", KeyUse::AccessToken, NOW + 10, NOW + 100);
    db.put_signing_key(&at3).await.unwrap();
    let mut at2_retired = at2.clone();
    at2_retired.retired_at = Some(NOW + 100);
    assert_eq!(
        db.signing_keys().await.unwrap(),
        vec![at1_retired, id1, at2_retired, at3]
    );

    // Oldest first, by created_at (kid breaks ties), not by insertion.
    let old = key("id-0", KeyUse::IdToken, NOW - 1000, NOW - 1000);
    db.put_signing_key(&old).await.unwrap();
    let kids: Vec<_> = db
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, ["id-0", "at-1", "id-1", "at-2", "at-3"]);
}

async fn signing_keys_duplicate_kid(db: &Db) {
    let at1 = key("at-1", KeyUse::AccessToken, NOW, NOW);
    db.put_signing_key(&at1).await.unwrap();
    let dup = key("at-1", KeyUse::AccessToken, NOW + 5, NOW + 5);
    assert!(matches!(
        db.put_signing_key(&dup).await,
        Err(StoreError::Conflict(_))
    ));
    // The failed put retired nothing.
    assert_eq!(db.signing_keys().await.unwrap(), vec![at1]);
}

async fn signing_keys_delete_retired(db: &Db) {
    db.put_signing_key(&key("at-1", KeyUse::AccessToken, NOW - 300, NOW - 300))
        .await
        .unwrap();
    db.put_signing_key(&key("at-2", KeyUse::AccessToken, NOW - 200, NOW - 200))
        .await
        .unwrap();
    db.put_signing_key(&key("at-3", KeyUse::AccessToken, NOW - 100, NOW - 100))
        .await
        .unwrap();
    db.put_signing_key(&key("id-1", KeyUse::IdToken, NOW - 300, NOW - 300))
        .await
        .unwrap();
    // at-1 retired at NOW-200, at-2 at NOW-100; at-3 and id-1 are current.
    assert_eq!(db.delete_keys_retired_before(NOW - 200).await.unwrap(), 0);
    assert_eq!(db.delete_keys_retired_before(NOW - 199).await.unwrap(), 1);
    let kids: Vec<_> = db
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, ["id-1", "at-2", "at-3"]);
    assert_eq!(
        db.delete_keys_retired_before(NOW + 10_000).await.unwrap(),
        1
    );
    let kids: Vec<_> = db
        .signing_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, ["id-1", "at-3"], "current keys are never deleted");
}
