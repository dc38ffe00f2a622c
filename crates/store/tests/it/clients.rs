use frontdesk_core::model::{AuthMethod, ClientId, Issued, Redemption};
use frontdesk_core::scope::Scope;
use frontdesk_core::store::{Store, StoreError};
use frontdesk_store::Db;

use crate::support::{NOW, client, consent, grant, refresh, secret, seed};

contract!(
    client_create_get_list,
    client_update,
    client_delete,
    client_duplicate_is_conflict,
    client_upsert_is_idempotent,
    client_rotate_secret,
    client_concurrent_create_one_winner,
    client_signin_metadata_round_trips,
    client_delete_takes_grants_and_consents,
);

async fn client_create_get_list(db: &Db) {
    let mut a = client("app");
    a.secrets = vec![
        secret(1, NOW - 50, None),
        secret(2, NOW - 100, Some(NOW + 10)),
    ];
    let mut b = client("backend");
    b.secrets = vec![];
    b.token_endpoint_auth_method = AuthMethod::None;
    b.first_party = true;
    db.create_client(&b).await.unwrap();
    db.create_client(&a).await.unwrap();

    // Secrets come back in insertion order, field for field.
    assert_eq!(db.client(&a.client_id).await.unwrap(), Some(a.clone()));
    assert_eq!(db.client(&b.client_id).await.unwrap(), Some(b.clone()));
    assert_eq!(db.client(&ClientId("nope".into())).await.unwrap(), None);
    // Ordered by client_id.
    assert_eq!(db.list_clients().await.unwrap(), vec![a, b]);
}

async fn client_update(db: &Db) {
    let original = client("app");
    db.create_client(&original).await.unwrap();

    let mut changed = original.clone();
    changed.client_name = "Renamed".into();
    changed
        .redirect_uris
        .push("https://app.example/other".into());
    changed.scope = Scope::parse("openid").unwrap();
    changed.updated_at = NOW;
    changed.secrets = vec![secret(9, NOW, None)]; // ignored by update_client
    assert!(db.update_client(&changed).await.unwrap());

    let stored = db.client(&original.client_id).await.unwrap().unwrap();
    assert_eq!(stored.client_name, "Renamed");
    assert_eq!(stored.redirect_uris, changed.redirect_uris);
    assert_eq!(stored.scope, changed.scope);
    assert_eq!(stored.updated_at, NOW);
    assert_eq!(stored.created_at, original.created_at);
    assert_eq!(stored.secrets, original.secrets, "secrets untouched");

    assert!(!db.update_client(&client("unknown")).await.unwrap());
    assert_eq!(db.list_clients().await.unwrap().len(), 1);
}

async fn client_delete(db: &Db) {
    let a = client("app");
    db.create_client(&a).await.unwrap();
    db.create_client(&client("other")).await.unwrap();
    assert!(db.delete_client(&a.client_id).await.unwrap());
    assert_eq!(db.client(&a.client_id).await.unwrap(), None);
    assert!(!db.delete_client(&a.client_id).await.unwrap());

    // The secrets went with it: a new client of that id starts clean.
    let mut again = client("app");
    again.secrets = vec![];
    db.create_client(&again).await.unwrap();
    assert_eq!(
        db.client(&a.client_id).await.unwrap().unwrap().secrets,
        vec![]
    );
    assert_eq!(db.list_clients().await.unwrap().len(), 2);
}

async fn client_duplicate_is_conflict(db: &Db) {
    let a = client("app");
    db.create_client(&a).await.unwrap();
    let mut dup = client("app");
    dup.client_name = "Impostor".into();
    dup.secrets = vec![secret(5, NOW, None)];
    match db.create_client(&dup).await {
        Err(StoreError::Conflict(what)) => assert!(what.contains("client_id"), "{what}"),
        other => panic!("expected Conflict, got {other:?}"),
    }
    // Nothing of the failed insert remains.
    assert_eq!(db.client(&a.client_id).await.unwrap(), Some(a));
}

async fn client_upsert_is_idempotent(db: &Db) {
    let mut first = client("app");
    first.secrets = vec![secret(1, NOW - 100, None), secret(2, NOW - 90, None)];
    db.upsert_client(&first).await.unwrap();
    db.upsert_client(&first).await.unwrap();
    assert_eq!(db.list_clients().await.unwrap(), vec![first.clone()]);

    let mut second = first.clone();
    second.client_name = "Second".into();
    second.secrets = vec![secret(3, NOW, None)];
    second.created_at = NOW; // the original creation time is kept
    second.updated_at = NOW;
    db.upsert_client(&second).await.unwrap();
    let stored = db.list_clients().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].client_name, "Second");
    assert_eq!(
        stored[0].secrets,
        vec![secret(3, NOW, None)],
        "secrets replaced"
    );
    assert_eq!(stored[0].created_at, first.created_at);
    assert_eq!(stored[0].updated_at, NOW);

    // Upsert of a new id creates it.
    db.upsert_client(&client("new")).await.unwrap();
    assert_eq!(db.list_clients().await.unwrap().len(), 2);
}

async fn client_rotate_secret(db: &Db) {
    let mut a = client("app");
    a.secrets = vec![
        secret(1, NOW - 1000, None),          // current: gets the grace expiry
        secret(2, NOW - 2000, Some(NOW - 1)), // expired: removed
        secret(3, NOW - 1500, Some(NOW)),     // valid until now inclusive: kept
    ];
    db.create_client(&a).await.unwrap();
    let mut b = client("bystander");
    b.secrets = vec![
        secret(8, NOW - 1000, None),
        secret(9, NOW - 2000, Some(NOW - 1)),
    ];
    db.create_client(&b).await.unwrap();

    let new = secret(4, NOW, None);
    assert!(
        db.rotate_client_secret(&a.client_id, &new, NOW + 3600, NOW)
            .await
            .unwrap()
    );
    let stored = db.client(&a.client_id).await.unwrap().unwrap();
    assert_eq!(
        stored.secrets,
        vec![
            secret(1, NOW - 1000, Some(NOW + 3600)),
            secret(3, NOW - 1500, Some(NOW)),
            new.clone(),
        ]
    );
    // Rotating again: the grace secret is still valid, the new one gets an expiry.
    let newer = secret(5, NOW + 10, None);
    assert!(
        db.rotate_client_secret(&a.client_id, &newer, NOW + 70, NOW + 10)
            .await
            .unwrap()
    );
    let stored = db.client(&a.client_id).await.unwrap().unwrap();
    assert_eq!(
        stored.secrets,
        vec![
            secret(1, NOW - 1000, Some(NOW + 3600)),
            secret(4, NOW, Some(NOW + 70)),
            newer,
        ]
    );
    // Other clients are untouched.
    assert_eq!(db.client(&b.client_id).await.unwrap(), Some(b));
    // Unknown client: false, nothing inserted.
    assert!(
        !db.rotate_client_secret(&ClientId("ghost".into()), &new, NOW + 3600, NOW)
            .await
            .unwrap()
    );
    assert_eq!(db.client(&ClientId("ghost".into())).await.unwrap(), None);
}

async fn client_concurrent_create_one_winner(db: &Db) {
    let tasks: Vec<_> = (0..20u8)
        .map(|i| {
            let db = db.clone();
            tokio::spawn(async move {
                let mut c = client("contested");
                c.client_name = format!("attempt {i}");
                c.secrets = vec![secret(i, NOW, None)];
                db.create_client(&c).await
            })
        })
        .collect();
    let mut ok = 0;
    let mut conflict = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => ok += 1,
            Err(StoreError::Conflict(_)) => conflict += 1,
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }
    assert_eq!((ok, conflict), (1, 19));
    let all = db.list_clients().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(
        all[0].secrets.len(),
        1,
        "only the winner's secret is stored"
    );
}

async fn client_signin_metadata_round_trips(db: &Db) {
    // Set (the fixture sets all three) and unset.
    let set = client("set");
    assert!(!set.post_logout_redirect_uris.is_empty());
    assert!(set.id_token_signed_response_alg.is_some());
    assert!(set.always_issue_refresh_token);
    let mut unset = client("unset");
    unset.post_logout_redirect_uris = vec![];
    unset.id_token_signed_response_alg = None;
    unset.always_issue_refresh_token = false;
    db.create_client(&set).await.unwrap();
    db.create_client(&unset).await.unwrap();
    assert_eq!(db.client(&set.client_id).await.unwrap(), Some(set.clone()));
    assert_eq!(
        db.client(&unset.client_id).await.unwrap(),
        Some(unset.clone())
    );

    // update_client carries them too.
    let mut changed = set.clone();
    changed.post_logout_redirect_uris = vec![
        "https://set.example/a".into(),
        "https://set.example/b".into(),
    ];
    changed.id_token_signed_response_alg = Some("EdDSA".into());
    changed.always_issue_refresh_token = false;
    assert!(db.update_client(&changed).await.unwrap());
    assert_eq!(db.client(&set.client_id).await.unwrap(), Some(changed));

    // Metadata written before these fields existed reads as the defaults.
    let legacy = r#"{"client_name":"Old","redirect_uris":["https://old.example/cb"],
        "grant_types":["authorization_code"],"response_types":["code"],"scope":"openid",
        "token_endpoint_auth_method":"none","audience":[],"access_token_ttl":300,
        "refresh_token_ttl":600}"#;
    let sql = "UPDATE clients SET metadata = $1 WHERE client_id = 'unset'";
    frontdesk_store::testing::execute_raw(db, sql, legacy)
        .await
        .unwrap();
    let old = db.client(&unset.client_id).await.unwrap().unwrap();
    assert_eq!(old.client_name, "Old");
    assert_eq!(old.post_logout_redirect_uris, Vec::<String>::new());
    assert_eq!(old.id_token_signed_response_alg, None);
    assert!(!old.always_issue_refresh_token);
}

async fn client_delete_takes_grants_and_consents(db: &Db) {
    let doomed = grant("g1", "app", "alice", None);
    let kept = grant("g2", "other", "alice", None);
    seed(db, &["app", "other"], &[], &[&doomed, &kept]).await;
    db.put_refresh_token(&refresh(vec![1; 32], &doomed))
        .await
        .unwrap();
    db.put_refresh_token(&refresh(vec![2; 32], &kept))
        .await
        .unwrap();
    db.put_consent(&consent("alice", "app", "openid", NOW))
        .await
        .unwrap();
    db.put_consent(&consent("alice", "other", "openid", NOW))
        .await
        .unwrap();

    assert!(db.delete_client(&ClientId("app".into())).await.unwrap());
    assert_eq!(db.grant("g1").await.unwrap(), None);
    assert_eq!(db.refresh_token(&[1; 32]).await.unwrap(), None);
    assert_eq!(
        db.redeem_code(&[100; 32], NOW, &Issued::default(), None)
            .await
            .unwrap(),
        Redemption::Unknown
    );
    let remaining = db.list_consents("alice").await.unwrap();
    assert_eq!(remaining.len(), 1);
    assert_eq!(remaining[0].client_id, ClientId("other".into()));
    // A new client under the old id inherits nothing.
    db.create_client(&client("app")).await.unwrap();
    assert_eq!(db.grant("g1").await.unwrap(), None);
    assert_eq!(
        db.consent("alice", &ClientId("app".into())).await.unwrap(),
        None
    );

    assert_eq!(db.grant("g2").await.unwrap(), Some(kept));
    assert!(db.refresh_token(&[2; 32]).await.unwrap().is_some());
    assert!(matches!(
        db.redeem_code(&[101; 32], NOW, &Issued::default(), None)
            .await
            .unwrap(),
        Redemption::Redeemed { .. }
    ));
}

contract!(clients_in_pages);

/// Keyset pages by client_id, each client with all of its secrets (the
/// page limit counts clients, not joined secret rows).
async fn clients_in_pages(db: &Db) {
    for id in ["c-3", "c-1", "c-4", "c-2"] {
        let mut c = client(id);
        c.secrets.push(secret(2, NOW - 50, Some(NOW + 50)));
        db.create_client(&c).await.unwrap();
    }
    let page = db.clients_page(None, 2).await.unwrap();
    let ids: Vec<&str> = page.iter().map(|c| c.client_id.as_str()).collect();
    assert_eq!(ids, ["c-1", "c-2"]);
    assert!(page.iter().all(|c| c.secrets.len() == 2), "{page:?}");
    let next = db.clients_page(Some("c-2"), 2).await.unwrap();
    let ids: Vec<&str> = next.iter().map(|c| c.client_id.as_str()).collect();
    assert_eq!(ids, ["c-3", "c-4"]);
    assert_eq!(
        next[0],
        db.client(&ClientId("c-3".into())).await.unwrap().unwrap()
    );
    assert!(db.clients_page(Some("c-4"), 2).await.unwrap().is_empty());
}
