//! Upstream links: one frontdesk account per upstream account and one
//! account of each upstream per frontdesk account, never taken over;
//! provisioning writes the account and its link together or not at all
//! (a taken username or address names itself in the conflict); links go
//! with the account. A session records the upstream it came through.

use frontdesk_core::model::UpstreamLink;
use frontdesk_core::store::{Store, StoreError};
use frontdesk_store::Db;

use crate::support::{session, user};

contract!(upstream_links_are_never_taken_over);

fn link(upstream: &str, upstream_sub: &str, sub: &str, at: i64) -> UpstreamLink {
    UpstreamLink {
        upstream: upstream.to_owned(),
        upstream_sub: upstream_sub.to_owned(),
        sub: sub.to_owned(),
        created_at: at,
        last_used_at: None,
    }
}

async fn upstream_links_are_never_taken_over(db: &Db) {
    db.create_user(&user("sub-a", "alice", Some("alice@example.com")))
        .await
        .unwrap();
    db.create_user(&user("sub-b", "bob", None)).await.unwrap();

    assert!(
        db.put_upstream_link(&link("hotel", "u1", "sub-a", 100))
            .await
            .unwrap()
    );
    // The same upstream account for bob, or a second hotel account for
    // alice: refused, the first link untouched.
    assert!(
        !db.put_upstream_link(&link("hotel", "u1", "sub-b", 200))
            .await
            .unwrap()
    );
    assert!(
        !db.put_upstream_link(&link("hotel", "u2", "sub-a", 200))
            .await
            .unwrap()
    );
    assert!(
        db.put_upstream_link(&link("github", "u1", "sub-a", 300))
            .await
            .unwrap()
    );
    assert_eq!(
        db.upstream_link("hotel", "u1").await.unwrap().unwrap().sub,
        "sub-a"
    );
    let of_a: Vec<String> = db
        .upstream_links_of("sub-a")
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.upstream)
        .collect();
    assert_eq!(of_a, ["hotel", "github"], "oldest first");

    assert!(db.use_upstream_link("hotel", "u1", 400).await.unwrap());
    assert_eq!(
        db.upstream_link("hotel", "u1")
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        Some(400)
    );
    assert!(!db.use_upstream_link("hotel", "nobody", 400).await.unwrap());

    // Provisioning: account and link together.
    let carol = user("sub-c", "carol", Some("carol@example.com"));
    db.provision_upstream_user(&carol, &link("hotel", "u3", "sub-c", 500))
        .await
        .unwrap();
    assert_eq!(
        db.upstream_link("hotel", "u3").await.unwrap().unwrap().sub,
        "sub-c"
    );
    // Each conflict names what is taken, and writes nothing.
    let cases = [
        (
            user("sub-d", "carol", None),
            "hotel",
            "u4",
            "users.username",
        ),
        (
            user("sub-d", "dora", Some("Alice@example.com")),
            "hotel",
            "u4",
            "users.email",
        ),
        (user("sub-d", "dora", None), "hotel", "u1", "upstream_links"),
    ];
    for (u, up, up_sub, what) in cases {
        match db
            .provision_upstream_user(&u, &link(up, up_sub, "sub-d", 600))
            .await
        {
            Err(StoreError::Conflict(m)) => assert!(m.contains(what), "{what}: {m}"),
            other => panic!("{what}: expected a conflict, got {other:?}"),
        }
        assert!(
            db.user("sub-d").await.unwrap().is_none(),
            "{what}: no account"
        );
        assert!(
            db.upstream_links_of("sub-d").await.unwrap().is_empty(),
            "{what}"
        );
    }

    // Sessions keep the upstream they came through.
    let mut s = session(9, "sid-fed", "sub-c");
    s.idp = Some("hotel".to_owned());
    db.put_session(&s).await.unwrap();
    assert_eq!(
        db.session(&s.id_hash)
            .await
            .unwrap()
            .unwrap()
            .idp
            .as_deref(),
        Some("hotel")
    );

    assert!(db.remove_upstream_link("sub-a", "github").await.unwrap());
    assert!(!db.remove_upstream_link("sub-a", "github").await.unwrap());
    // Deleting the account deletes its links.
    assert!(db.delete_user("sub-a").await.unwrap());
    assert!(db.upstream_link("hotel", "u1").await.unwrap().is_none());
    assert!(
        db.put_upstream_link(&link("hotel", "u1", "sub-b", 700))
            .await
            .unwrap()
    );
}
