use frontdesk_core::model::ClientId;
use frontdesk_core::store::Store;
use frontdesk_store::Db;

use crate::support::{NOW, consent, grant, seed};

contract!(
    consent_put_get_list_delete,
    consent_unknown_client_is_rejected,
    consent_revoke_revokes_that_clients_grants,
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

    assert!(db.revoke_consent("alice", &app, NOW).await.unwrap());
    assert!(!db.revoke_consent("alice", &app, NOW).await.unwrap());
    assert!(
        !db.revoke_consent("alice", &ClientId("nope".into()), NOW)
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

/// Issue 11 finding 9: withdrawing a consent revokes the user's live grants
/// to that client in the same transaction; other users' and other clients'
/// grants, and grants revoked earlier, are untouched.
async fn consent_revoke_revokes_that_clients_grants(db: &Db) {
    let mine = grant("g1", "app", "alice", Some("sid-1"));
    let mine_too = grant("g2", "app", "alice", None);
    let mut earlier = grant("g3", "app", "alice", None);
    earlier.revoked_at = Some(NOW - 50);
    let other_client = grant("g4", "blog", "alice", None);
    let other_user = grant("g5", "app", "bob", None);
    let first_party = grant("g6", "blog", "bob", None);
    seed(
        db,
        &["app", "blog"],
        &[],
        &[
            &mine,
            &mine_too,
            &earlier,
            &other_client,
            &other_user,
            &first_party,
        ],
    )
    .await;
    db.put_consent(&consent("alice", "app", "openid", NOW - 100))
        .await
        .unwrap();
    let app = ClientId("app".into());
    assert!(db.revoke_consent("alice", &app, NOW).await.unwrap());
    assert_eq!(db.consent("alice", &app).await.unwrap(), None);
    for id in ["g1", "g2"] {
        assert_eq!(
            db.grant(id).await.unwrap().unwrap().revoked_at,
            Some(NOW),
            "{id}"
        );
    }
    assert_eq!(
        db.grant("g3").await.unwrap().unwrap().revoked_at,
        Some(NOW - 50)
    );
    assert_eq!(db.grant("g4").await.unwrap(), Some(other_client));
    assert_eq!(db.grant("g5").await.unwrap(), Some(other_user));
    // Nothing left to withdraw: not found.
    assert!(!db.revoke_consent("alice", &app, NOW + 1).await.unwrap());
    // A first-party client has grants but no consent: they are revoked too.
    let blog = ClientId("blog".into());
    assert!(db.revoke_consent("bob", &blog, NOW).await.unwrap());
    assert_eq!(db.grant("g6").await.unwrap().unwrap().revoked_at, Some(NOW));
}
