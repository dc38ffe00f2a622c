//! Upstream links: one frontdesk account per upstream account and one
//! account of each upstream per frontdesk account, never taken over;
//! provisioning writes the account and its link together or not at all
//! (a taken username or address names itself in the conflict); links go
//! with the account. A session records the upstream it came through.

use frontdesk_core::model::{StoredUpstream, UpstreamLink, UpstreamRemoval};
use frontdesk_core::store::{Store, StoreError};
use frontdesk_store::Db;

use crate::support::{session, user};

contract!(
    upstream_links_are_never_taken_over,
    stored_upstreams_and_what_removing_one_removes,
);

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

fn stored(id: &str, at: i64) -> StoredUpstream {
    StoredUpstream {
        id: id.to_owned(),
        spec: format!(r#"{{"id":"{id}"}}"#),
        secret: vec![1, 2, 3, 0, 255],
        created_at: at,
    }
}

/// Stored upstreams come back oldest first, byte for byte; an id is stored
/// once; removing one removes every account's link to it and the group
/// memberships its sign-ins made, and nothing of another source's.
async fn stored_upstreams_and_what_removing_one_removes(db: &Db) {
    assert!(db.stored_upstreams().await.unwrap().is_empty());
    db.create_upstream(&stored("corp", 200)).await.unwrap();
    db.create_upstream(&stored("alpha", 300)).await.unwrap();
    db.create_upstream(&stored("hotel", 100)).await.unwrap();
    match db.create_upstream(&stored("corp", 400)).await {
        Err(StoreError::Conflict(what)) => assert_eq!(what, "upstreams.id"),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let all = db.stored_upstreams().await.unwrap();
    let ids: Vec<&str> = all.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, ["hotel", "corp", "alpha"]);
    assert_eq!(all[1], stored("corp", 200));

    db.create_user(&user("sub-a", "alice", None)).await.unwrap();
    db.create_user(&user("sub-b", "bob", None)).await.unwrap();
    for (upstream, upstream_sub, sub) in [
        ("corp", "c1", "sub-a"),
        ("corp", "c2", "sub-b"),
        ("hotel", "h1", "sub-a"),
    ] {
        assert!(
            db.put_upstream_link(&link(upstream, upstream_sub, sub, 100))
                .await
                .unwrap()
        );
    }
    let corp = ["corp:staff".to_owned()];
    db.sync_group_members("sub-a", "corp", &corp, true, 100)
        .await
        .unwrap();
    db.sync_group_members("sub-a", "hotel", &corp, true, 100)
        .await
        .unwrap();

    assert_eq!(
        db.delete_upstream("corp").await.unwrap(),
        Some(UpstreamRemoval {
            links: 2,
            memberships: 1,
        })
    );
    assert_eq!(db.delete_upstream("corp").await.unwrap(), None);
    assert_eq!(db.delete_upstream("nobody").await.unwrap(), None);
    let ids: Vec<String> = db
        .stored_upstreams()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(ids, ["hotel", "alpha"]);
    assert_eq!(db.upstream_link("corp", "c1").await.unwrap(), None);
    assert_eq!(db.upstream_link("corp", "c2").await.unwrap(), None);
    assert_eq!(
        db.upstream_link("hotel", "h1")
            .await
            .unwrap()
            .map(|l| l.sub),
        Some("sub-a".to_owned())
    );
    // hotel's membership of the same group stays.
    assert_eq!(db.groups_of("sub-a").await.unwrap(), ["corp:staff"]);
    // The id is free again: a new upstream of it starts with no links.
    db.create_upstream(&stored("corp", 500)).await.unwrap();
    assert_eq!(db.upstream_link("corp", "c1").await.unwrap(), None);
}
