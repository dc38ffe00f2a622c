//! Passkeys: registered once per credential id (never taken over by another
//! account), found by credential id, updated on use, removed one at a time
//! or with the account; `User::has_passkey` is derived from them.

use frontdesk_core::model::PasskeyRecord;
use frontdesk_core::store::Store;
use frontdesk_store::Db;

use crate::support::user;

contract!(passkeys_register_use_and_remove);

fn passkey(id: u8, sub: &str, name: &str, created_at: i64) -> PasskeyRecord {
    PasskeyRecord {
        credential_id: vec![id; 16],
        sub: sub.to_owned(),
        user_handle: vec![7; 16],
        name: name.to_owned(),
        credential: format!("{{\"cred\":{id}}}"),
        backup_eligible: id.is_multiple_of(2),
        created_at,
        last_used_at: None,
    }
}

async fn passkeys_register_use_and_remove(db: &Db) {
    db.create_user(&user("sub-a", "alice", None)).await.unwrap();
    db.create_user(&user("sub-b", "bob", None)).await.unwrap();
    assert!(!db.user("sub-a").await.unwrap().unwrap().has_passkey);

    assert!(
        db.add_passkey(&passkey(1, "sub-a", "Laptop", 100))
            .await
            .unwrap()
    );
    assert!(
        db.add_passkey(&passkey(2, "sub-a", "Phone", 200))
            .await
            .unwrap()
    );
    // The same credential id, for bob: refused, alice's record untouched.
    assert!(
        !db.add_passkey(&passkey(1, "sub-b", "Stolen", 300))
            .await
            .unwrap()
    );
    assert_eq!(db.passkey(&[1; 16]).await.unwrap().unwrap().sub, "sub-a");
    assert!(db.user("sub-a").await.unwrap().unwrap().has_passkey);
    assert!(!db.user("sub-b").await.unwrap().unwrap().has_passkey);

    let listed = db.passkeys_of("sub-a").await.unwrap();
    assert_eq!(
        listed,
        vec![
            passkey(1, "sub-a", "Laptop", 100),
            passkey(2, "sub-a", "Phone", 200)
        ]
    );
    assert_eq!(db.passkey(&[9; 16]).await.unwrap(), None);

    assert!(
        db.use_passkey(&[1; 16], "{\"cred\":\"counter 2\"}", 500)
            .await
            .unwrap()
    );
    let used = db.passkey(&[1; 16]).await.unwrap().unwrap();
    assert_eq!(used.last_used_at, Some(500));
    assert_eq!(used.credential, "{\"cred\":\"counter 2\"}");
    assert!(!db.use_passkey(&[9; 16], "{}", 500).await.unwrap());

    // Only the owner removes it.
    assert!(!db.remove_passkey("sub-b", &[1; 16]).await.unwrap());
    assert!(db.remove_passkey("sub-a", &[1; 16]).await.unwrap());
    assert!(!db.remove_passkey("sub-a", &[1; 16]).await.unwrap());
    assert_eq!(db.passkeys_of("sub-a").await.unwrap().len(), 1);

    // Deleting the account deletes its passkeys.
    db.delete_user("sub-a").await.unwrap();
    assert_eq!(db.passkey(&[2; 16]).await.unwrap(), None);
    assert_eq!(db.remove_passkeys("sub-b").await.unwrap(), 0);
}
