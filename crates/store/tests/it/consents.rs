use frontdesk_core::model::ClientId;
use frontdesk_core::store::Store;
use frontdesk_store::Db;

use crate::support::{NOW, consent, seed};

contract!(
    consent_put_get_list_delete,
    consent_unknown_client_is_rejected
);

async fn consent_put_get_list_delete(db: &Db) {
    seed(db, &["app", "blog", "crm"], &[], &[]).await;
    let app = ClientId("app".into());
    assert_eq!(db.consent("alice", &app).await.unwrap(), None);
    assert_eq!(db.list_consents("alice").await.unwrap(), vec![]);

    let first = consent("alice", "app", "openid", NOW - 100);
    db.put_consent(&first).await.unwrap();
    assert_eq!(db.consent("alice", &app).await.unwrap(), Some(first));
    // Put again replaces scope and time.
    let wider = consent("alice", "app", "openid profile email", NOW);
    db.put_consent(&wider).await.unwrap();
    assert_eq!(
        db.consent("alice", &app).await.unwrap(),
        Some(wider.clone())
    );

    let crm = consent("alice", "crm", "openid", NOW);
    let blog = consent("alice", "blog", "openid profile", NOW);
    let bobs = consent("bob", "app", "openid", NOW);
    db.put_consent(&crm).await.unwrap();
    db.put_consent(&blog).await.unwrap();
    db.put_consent(&bobs).await.unwrap();
    // One user's, ordered by client_id.
    assert_eq!(
        db.list_consents("alice").await.unwrap(),
        vec![wider, blog.clone(), crm.clone()]
    );
    assert_eq!(db.consent("bob", &app).await.unwrap(), Some(bobs.clone()));
    assert_eq!(db.consent("carol", &app).await.unwrap(), None);

    assert!(db.delete_consent("alice", &app).await.unwrap());
    assert!(!db.delete_consent("alice", &app).await.unwrap());
    assert!(
        !db.delete_consent("alice", &ClientId("nope".into()))
            .await
            .unwrap()
    );
    assert_eq!(db.consent("alice", &app).await.unwrap(), None);
    assert_eq!(db.list_consents("alice").await.unwrap(), vec![blog, crm]);
    assert_eq!(db.list_consents("bob").await.unwrap(), vec![bobs]);
}

async fn consent_unknown_client_is_rejected(db: &Db) {
    // consents.client_id references clients.
    assert!(
        db.put_consent(&consent("alice", "ghost", "openid", NOW))
            .await
            .is_err()
    );
    assert_eq!(db.list_consents("alice").await.unwrap(), vec![]);
}
