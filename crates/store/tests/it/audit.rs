use std::net::IpAddr;

use frontdesk_core::audit::{Actor, AuditEvent, AuditQuery, Kind, KindFilter};
use frontdesk_core::model::ClientId;
use frontdesk_core::store::Store;
use frontdesk_store::Db;

use crate::support::NOW;

contract!(
    audit_record_and_read_back,
    audit_pages_across_ties_on_at,
    audit_filters,
    audit_purge_before
);

fn event(id: &str, kind: Kind, at: i64) -> AuditEvent {
    AuditEvent::new(id.to_owned(), kind, at)
}

fn ids(events: &[AuditEvent]) -> Vec<&str> {
    events.iter().map(AuditEvent::id).collect()
}

fn all(limit: u32) -> AuditQuery {
    AuditQuery {
        limit,
        ..AuditQuery::default()
    }
}

async fn audit_record_and_read_back(db: &Db) {
    let peer: IpAddr = "2001:db8::7".parse().unwrap();
    let full = event("e1", Kind::LoginSuccess, NOW)
        .actor(&Actor::User("sub-a".into()))
        .subject("sub-a")
        .client(&ClientId("app".into()))
        .peer(peer)
        .request_id("req-1")
        .sid("sid-1")
        .amr(&["pwd".to_owned()]);
    let bare = event("e2", Kind::AdminKeysRotate, NOW).actor(&Actor::Cli);
    db.record_audit(&full).await.unwrap();
    db.record_audit(&bare).await.unwrap();
    let got = db.audit_events(&all(10)).await.unwrap();
    assert_eq!(got, vec![full.clone(), bare]);
    let back = &got[0];
    assert_eq!(back.kind(), "login.success");
    assert_eq!(back.outcome(), "success");
    assert_eq!(back.peer_value(), Some("2001:db8::7"));
    assert_eq!(back.actor_value(), Some("sub-a"));
    assert_eq!(
        back.to_json()["detail"],
        serde_json::json!({"sid": "sid-1", "amr": ["pwd"]})
    );
    // Ids are unique.
    assert!(db.record_audit(&full).await.is_err());
}

/// Keyset pages over `(at, id)`: ties on `at` are ordered by id, no page
/// skips or repeats an event, and events inserted while paging (before the
/// cursor or after it) neither shift nor duplicate what follows.
async fn audit_pages_across_ties_on_at(db: &Db) {
    // Five in the same second, inserted out of id order, and two later.
    for (id, at) in [
        ("b", NOW),
        ("d", NOW),
        ("a", NOW),
        ("e", NOW),
        ("c", NOW),
        ("f", NOW + 1),
        ("g", NOW + 2),
    ] {
        db.record_audit(&event(id, Kind::LoginFailure, at))
            .await
            .unwrap();
    }
    let mut q = all(3);
    let page1 = db.audit_events(&q).await.unwrap();
    assert_eq!(ids(&page1), ["a", "b", "c"]);
    let last = page1.last().unwrap();
    q.after = Some((last.at(), last.id().to_owned()));
    // Inserted meanwhile: one sorting before the cursor, one after.
    db.record_audit(&event("aa", Kind::LoginFailure, NOW))
        .await
        .unwrap();
    db.record_audit(&event("h", Kind::LoginFailure, NOW + 3))
        .await
        .unwrap();
    let page2 = db.audit_events(&q).await.unwrap();
    assert_eq!(ids(&page2), ["d", "e", "f"]);
    let last = page2.last().unwrap();
    q.after = Some((last.at(), last.id().to_owned()));
    let page3 = db.audit_events(&q).await.unwrap();
    assert_eq!(ids(&page3), ["g", "h"]);
    q.after = Some((NOW + 3, "h".to_owned()));
    assert!(db.audit_events(&q).await.unwrap().is_empty());
}

async fn audit_filters(db: &Db) {
    let app = ClientId("app".into());
    let other = ClientId("other".into());
    let rows = [
        event("01", Kind::LoginFailure, NOW).subject("alice"),
        event("02", Kind::LoginSuccess, NOW + 1)
            .subject("alice")
            .client(&app)
            .actor(&Actor::User("alice".into())),
        event("03", Kind::ConsentGrant, NOW + 2)
            .subject("alice")
            .client(&app),
        event("04", Kind::LoginThrottled, NOW + 3).subject("bob"),
        event("05", Kind::AdminUserCreate, NOW + 4)
            .subject("bob")
            .actor(&Actor::AdminApi),
        event("06", Kind::AdminUserUnlock, NOW + 5)
            .subject("bob")
            .actor(&Actor::Cli),
        event("07", Kind::TokenRevoke, NOW + 6)
            .client(&other)
            .actor(&Actor::Client(other.clone())),
    ];
    for e in &rows {
        db.record_audit(e).await.unwrap();
    }
    let find = async |q: AuditQuery| -> Vec<String> {
        let q = AuditQuery { limit: 50, ..q };
        db.audit_events(&q)
            .await
            .unwrap()
            .iter()
            .map(|e| e.id().to_owned())
            .collect()
    };
    let kind = |k: &str| Some(KindFilter::parse(k).unwrap());
    let cases: Vec<(&str, AuditQuery, Vec<&str>)> = vec![
        (
            "everything",
            AuditQuery::default(),
            vec!["01", "02", "03", "04", "05", "06", "07"],
        ),
        (
            "kind prefix",
            AuditQuery {
                kind: kind("login"),
                ..Default::default()
            },
            vec!["01", "02", "04"],
        ),
        (
            "kind prefix .*",
            AuditQuery {
                kind: kind("admin.*"),
                ..Default::default()
            },
            vec!["05", "06"],
        ),
        (
            "exact kind",
            AuditQuery {
                kind: kind("login.success"),
                ..Default::default()
            },
            vec!["02"],
        ),
        // A prefix is whole segments: `log` is not `login`.
        (
            "partial segment",
            AuditQuery {
                kind: kind("log"),
                ..Default::default()
            },
            vec![],
        ),
        (
            "subject",
            AuditQuery {
                subject: Some("bob".into()),
                ..Default::default()
            },
            vec!["04", "05", "06"],
        ),
        (
            "client",
            AuditQuery {
                client_id: Some("app".into()),
                ..Default::default()
            },
            vec!["02", "03"],
        ),
        (
            "actor",
            AuditQuery {
                actor: Some("admin-api".into()),
                ..Default::default()
            },
            vec!["05"],
        ),
        (
            "client actor",
            AuditQuery {
                actor: Some("client:other".into()),
                ..Default::default()
            },
            vec!["07"],
        ),
        (
            "since is inclusive",
            AuditQuery {
                since: Some(NOW + 5),
                ..Default::default()
            },
            vec!["06", "07"],
        ),
        (
            "until is exclusive",
            AuditQuery {
                until: Some(NOW + 1),
                ..Default::default()
            },
            vec!["01"],
        ),
        (
            "combined",
            AuditQuery {
                subject: Some("alice".into()),
                kind: kind("login"),
                since: Some(NOW + 1),
                ..Default::default()
            },
            vec!["02"],
        ),
        (
            "nothing",
            AuditQuery {
                subject: Some("carol".into()),
                ..Default::default()
            },
            vec![],
        ),
    ];
    for (name, q, want) in cases {
        assert_eq!(find(q).await, want, "{name}");
    }
}

async fn audit_purge_before(db: &Db) {
    for (id, at) in [("a", NOW - 100), ("b", NOW - 1), ("c", NOW), ("d", NOW + 1)] {
        db.record_audit(&event(id, Kind::SessionEnd, at))
            .await
            .unwrap();
    }
    assert_eq!(db.purge_audit(NOW).await.unwrap(), 2);
    assert_eq!(ids(&db.audit_events(&all(10)).await.unwrap()), ["c", "d"]);
    assert_eq!(db.purge_audit(NOW).await.unwrap(), 0);
}
