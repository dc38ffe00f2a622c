//! The sweeper (`Store::sweep_expired`): batches that remove everything
//! expired and nothing live, the grant-lifetime rule, table sizes, one
//! sweeper at a time; and the key lock (`Store::add_signing_keys_locked`).

use std::time::Duration;

use frontdesk_core::audit::{AuditEvent, AuditQuery, Kind};
use frontdesk_core::keys::first_keys_needed;
use frontdesk_core::model::{
    AuthorizationCode, ClientId, DeviceAuthorization, DeviceStatus, KeyUse, LinkPurpose, LinkToken,
    OpaqueToken, PushedRequest, Redemption, StoredKey,
};
use frontdesk_core::store::Store;
use frontdesk_core::sweep::{SWEPT_TABLES, SweepCutoffs, Swept};
use frontdesk_store::{Db, testing};

use crate::support::{
    NOW, code, grant, key, postgres_pair, refresh, seed, session, sqlite_pair, token,
};

contract!(
    sweep_in_batches_keeps_what_is_live,
    sweep_grant_lifetime,
    sweep_table_rows
);

/// The margin after a code's or refresh token's expiry in these tests.
const MARGIN: i64 = 1000;

fn cutoffs(now: i64) -> SweepCutoffs {
    SweepCutoffs {
        now,
        spent_before: now - MARGIN,
        audit_before: Some(now - 50),
    }
}

async fn sweep(db: &Db, now: i64, batch: u32) -> Swept {
    db.sweep_expired(&cutoffs(now), batch)
        .await
        .unwrap()
        .expect("no other sweeper")
}

fn opaque(i: u32, expires_at: i64) -> OpaqueToken {
    OpaqueToken {
        token_hash: format!("{i:032}").into_bytes(),
        jti: format!("jti-{i}"),
        ..token(1, expires_at)
    }
}

fn link(i: u32, expires_at: i64) -> LinkToken {
    LinkToken {
        token_hash: format!("{i:032}").into_bytes(),
        purpose: LinkPurpose::ResetPassword,
        sub: "alice".to_owned(),
        email: "alice@example.com".to_owned(),
        created_at: expires_at - 1800,
        expires_at,
        used_at: None,
    }
}

fn pushed(i: u32, expires_at: i64) -> PushedRequest {
    PushedRequest {
        uri_hash: format!("{i:032}").into_bytes(),
        client_id: ClientId("c".to_owned()),
        params: "client_id=c".to_owned(),
        created_at: expires_at - 60,
        expires_at,
        continuation_hash: None,
        used_at: None,
    }
}

fn device(i: u32, expires_at: i64) -> DeviceAuthorization {
    DeviceAuthorization {
        device_code_hash: format!("{i:032}").into_bytes(),
        user_code_hash: format!("u{i:031}").into_bytes(),
        code_hash: format!("c{i:031}").into_bytes(),
        client_id: ClientId("c".to_owned()),
        scope: "openid".to_owned(),
        audience: vec!["https://api.example".to_owned()],
        created_at: expires_at - 600,
        expires_at,
        interval: 5,
        last_poll_at: None,
        status: DeviceStatus::Pending,
        sub: None,
    }
}

/// `expired` rows and 2 live ones in every table without grants; a batch
/// of 5 takes several transactions per table, and takes exactly the expired.
async fn sweep_in_batches_keeps_what_is_live(db: &Db) {
    let expired = 23u32;
    for i in 0..expired + 2 {
        // The last two of each table are live at NOW.
        let (gone_at, live) = if i < expired {
            (NOW - i64::from(i), false)
        } else {
            (NOW + 1, true)
        };
        db.put_opaque_token(&opaque(i, gone_at)).await.unwrap();
        db.revoke_jti(&format!("jti-{i}"), gone_at).await.unwrap();
        assert!(
            db.use_once(format!("{i:032}").as_bytes(), gone_at, gone_at - 300)
                .await
                .unwrap()
        );
        let mut s = session(1, &format!("sid-{i}"), "alice");
        s.id_hash = format!("{i:032}").into_bytes();
        s.expires_at = gone_at;
        db.put_session(&s).await.unwrap();
        // A window of 100 s ending at gone_at.
        db.note_login_failure(&format!("ip:{i}"), gone_at - 100, 100)
            .await
            .unwrap();
        db.put_link_token(&link(i, gone_at)).await.unwrap();
        db.put_pushed_request(&pushed(i, gone_at)).await.unwrap();
        // Device requests go a margin after their expiry.
        db.put_device_authorization(&device(i, gone_at - MARGIN))
            .await
            .unwrap();
        // Audit: kept while at >= now - 50.
        let at = if live {
            NOW - 50
        } else {
            NOW - 51 - i64::from(i)
        };
        db.record_audit(&AuditEvent::new(format!("ev-{i:03}"), Kind::SessionEnd, at))
            .await
            .unwrap();
    }

    let swept = sweep(db, NOW, 5).await;
    let n = u64::from(expired);
    assert_eq!(
        swept,
        Swept {
            opaque_tokens: n,
            revoked_jtis: n,
            dpop_proofs: n,
            authorization_codes: 0,
            refresh_tokens: 0,
            grants: 0,
            sessions: n,
            login_failures: n,
            link_tokens: n,
            pushed_requests: n,
            device_codes: n,
            audit_events: n,
            // 23 rows in batches of 5: 5 statements for each of the nine
            // tables, one that finds nothing for each of the other five.
            batches: 9 * 5 + 5,
        }
    );
    for i in expired..expired + 2 {
        let hash = format!("{i:032}").into_bytes();
        assert!(db.opaque_token(&hash).await.unwrap().is_some());
        assert!(db.is_jti_revoked(&format!("jti-{i}")).await.unwrap());
        assert!(db.session(&hash).await.unwrap().is_some());
        assert_eq!(
            db.login_failures(&format!("ip:{i}"), NOW, 100)
                .await
                .unwrap(),
            1
        );
        assert!(db.link_token(&hash).await.unwrap().is_some());
        // A live proof is still remembered: a replay.
        assert!(!db.use_once(&hash, NOW + 1, NOW).await.unwrap());
        assert!(db.pushed_request(&hash).await.unwrap().is_some());
        assert!(db.device_authorization(&hash).await.unwrap().is_some());
    }
    for i in [0, expired - 1] {
        let hash = format!("{i:032}").into_bytes();
        assert_eq!(db.opaque_token(&hash).await.unwrap(), None);
        assert!(!db.is_jti_revoked(&format!("jti-{i}")).await.unwrap());
        assert_eq!(db.session(&hash).await.unwrap(), None);
        assert_eq!(db.link_token(&hash).await.unwrap(), None);
        assert_eq!(db.pushed_request(&hash).await.unwrap(), None);
        assert_eq!(db.device_authorization(&hash).await.unwrap(), None);
    }
    let events = db
        .audit_events(&AuditQuery {
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(events.len(), 2);
    // Nothing left to do: one empty batch per table.
    let again = sweep(db, NOW, 5).await;
    assert_eq!(again.total(), 0);
    assert_eq!(again.batches, 14);
    // Without an audit cutoff the audit table is not visited.
    let keep_audit = SweepCutoffs {
        audit_before: None,
        ..cutoffs(NOW + 1000)
    };
    let later = db.sweep_expired(&keep_audit, 5).await.unwrap().unwrap();
    assert_eq!(later.audit_events, 0);
    assert_eq!(later.opaque_tokens, 2);
}

/// The grant rule: a grant goes at its own expiry with everything it has,
/// or once it has no code and no refresh token left, codes and refresh
/// tokens going `MARGIN` after their expiry; never while one is within it.
async fn sweep_grant_lifetime(db: &Db) {
    let spent = NOW - MARGIN;
    // Code spent, no refresh token ever: both go.
    let unused = grant("g-unused", "app", "alice", None);
    // Code expired, but less than the margin ago: both stay.
    let recent = grant("g-recent", "app", "alice", None);
    // Code spent, refresh token live: the code goes, grant and token stay.
    let refreshed = grant("g-refreshed", "app", "alice", None);
    // Code and a chain of three refresh tokens spent: all go.
    let done = grant("g-done", "app", "alice", None);
    // Code spent, refresh token expired within the margin: it stays, so does the grant.
    let idle = grant("g-idle", "app", "alice", None);
    // Past its own lifetime: goes with its live code and refresh token.
    let mut expired = grant("g-expired", "app", "alice", None);
    expired.expires_at = NOW;
    // Revoked, with a live refresh token: revocation is not expiry.
    let mut revoked = grant("g-revoked", "app", "alice", None);
    revoked.revoked_at = Some(NOW - 5);
    db.create_client(&crate::support::client("app"))
        .await
        .unwrap();
    let code_until =
        |byte: u8, g: &frontdesk_core::model::Grant, expires_at: i64| AuthorizationCode {
            expires_at,
            ..code(byte, g)
        };
    for (byte, g, code_expires) in [
        (1, &unused, spent),
        (2, &recent, spent + 1),
        (3, &refreshed, spent),
        (4, &done, spent - 100),
        (5, &idle, spent),
        (6, &expired, NOW + 50),
        (7, &revoked, spent),
    ] {
        db.put_authorization(g, &code_until(byte, g, code_expires))
            .await
            .unwrap();
    }
    let refresh_until = |byte: u8, g: &frontdesk_core::model::Grant, expires_at: i64| {
        let mut r = refresh(vec![byte; 32], g);
        r.expires_at = expires_at;
        r
    };
    for r in [
        refresh_until(30, &refreshed, NOW + 100),
        refresh_until(40, &done, spent - 50),
        refresh_until(41, &done, spent - 10),
        refresh_until(42, &done, spent),
        refresh_until(50, &idle, NOW - 1),
        refresh_until(60, &expired, NOW + 100),
        refresh_until(70, &revoked, NOW + 100),
    ] {
        db.put_refresh_token(&r).await.unwrap();
    }

    // Batches of 2, so the chain of g-done takes two.
    let swept = sweep(db, NOW, 2).await;
    assert_eq!(
        (
            swept.authorization_codes,
            swept.refresh_tokens,
            swept.grants
        ),
        // Codes: g-expired's, and the spent ones of g-unused, g-refreshed,
        // g-done, g-idle, g-revoked. Refresh: g-expired's and g-done's
        // three. Grants: g-expired, g-unused, g-done.
        (6, 4, 3),
        "{swept:?}"
    );
    let has_grant = async |id: &str| db.grant(id).await.unwrap().is_some();
    let has_refresh = async |b: u8| db.refresh_token(&[b; 32]).await.unwrap().is_some();
    for (id, stays) in [
        ("g-unused", false),
        ("g-recent", true),
        ("g-refreshed", true),
        ("g-done", false),
        ("g-idle", true),
        ("g-expired", false),
        ("g-revoked", true),
    ] {
        assert_eq!(has_grant(id).await, stays, "{id}");
    }
    for (b, stays) in [
        (30, true),
        (40, false),
        (41, false),
        (42, false),
        (50, true),
        (60, false),
        (70, true),
    ] {
        assert_eq!(has_refresh(b).await, stays, "refresh {b}");
    }
    // g-recent's code is still there, so a redemption finds it.
    assert!(matches!(
        db.redeem_code(
            &[2; 32],
            NOW,
            &frontdesk_core::model::Issued::default(),
            None
        )
        .await
        .unwrap(),
        Redemption::Redeemed { .. }
    ));
    assert_eq!(
        db.redeem_code(
            &[1; 32],
            NOW,
            &frontdesk_core::model::Issued::default(),
            None
        )
        .await
        .unwrap(),
        Redemption::Unknown
    );
    assert_eq!(sweep(db, NOW, 2).await.total(), 0);

    // One second later g-recent's code is spent: it goes, and the grant.
    let later = sweep(db, NOW + 1, 2).await;
    assert_eq!((later.authorization_codes, later.grants), (1, 1));
    assert!(!has_grant("g-recent").await);
    // When g-idle's refresh token is spent too, g-idle goes.
    let idle_gone = sweep(db, NOW - 1 + MARGIN, 2).await;
    assert_eq!((idle_gone.refresh_tokens, idle_gone.grants), (1, 1));
    assert!(!has_grant("g-idle").await);
    assert!(has_grant("g-refreshed").await);
    assert!(has_grant("g-revoked").await);
}

async fn sweep_table_rows(db: &Db) {
    let rows = |v: Vec<(&'static str, u64)>| v;
    let empty = rows(db.table_rows().await.unwrap());
    assert_eq!(
        empty,
        SWEPT_TABLES.iter().map(|t| (*t, 0)).collect::<Vec<_>>()
    );
    let g = grant("g-1", "app", "alice", None);
    seed(db, &["app"], &[], &[&g]).await;
    for i in 0..3 {
        db.put_opaque_token(&opaque(i, NOW + 10)).await.unwrap();
    }
    db.put_refresh_token(&refresh(vec![9; 32], &g))
        .await
        .unwrap();
    let got = db.table_rows().await.unwrap();
    let of = |t: &str| got.iter().find(|(n, _)| *n == t).map(|(_, c)| *c);
    assert_eq!(of("opaque_tokens"), Some(3));
    assert_eq!(of("grants"), Some(1));
    assert_eq!(of("authorization_codes"), Some(1));
    assert_eq!(of("refresh_tokens"), Some(1));
    assert_eq!(of("sessions"), Some(0));
    assert_eq!(got.len(), SWEPT_TABLES.len());
}

/// Expired rows in several tables, including grants that go with their
/// children: `n` opaque tokens and `n / 10` expired grants, each with a
/// code and a refresh token. Returns the rows a sweep must remove.
async fn plant_backlog(db: &Db, round: u32, n: u32) -> u64 {
    if round == 0 {
        db.create_client(&crate::support::client("app"))
            .await
            .unwrap();
    }
    for i in 0..n {
        db.put_opaque_token(&opaque(round * 100_000 + i, NOW - 1))
            .await
            .unwrap();
    }
    let grants = n / 10;
    for i in 0..grants {
        let mut g = grant(&format!("g-{round}-{i}"), "app", "alice", None);
        g.expires_at = NOW;
        let mut c = code(1, &g);
        c.code_hash = format!("c{round:015}{i:016}").into_bytes();
        db.put_authorization(&g, &c).await.unwrap();
        let r = refresh(format!("r{round:015}{i:016}").into_bytes(), &g);
        db.put_refresh_token(&r).await.unwrap();
    }
    u64::from(n + 3 * grants)
}

/// Two sweepers at once (two pools on one database, like two nodes), three
/// rounds: no error (no deadlock), and every row counted by exactly one of
/// them.
async fn concurrent_sweeps(a: &Db, b: &Db) {
    for round in 0..3 {
        let planted = plant_backlog(a, round, 400).await;
        let at = cutoffs(NOW);
        let (x, y) = tokio::join!(a.sweep_expired(&at, 50), b.sweep_expired(&at, 50));
        let (x, y) = (x.unwrap(), y.unwrap());
        let mut sum = Swept::default();
        for s in [x, y].into_iter().flatten() {
            sum.add(&s);
        }
        assert_eq!(sum.total(), planted, "round {round}: {x:?} + {y:?}");
        assert_eq!(sum.grants, 40, "round {round}");
        assert!(x.is_some() || y.is_some(), "someone swept");
        let left = a.table_rows().await.unwrap();
        assert!(
            left.iter().all(|(_, n)| *n == 0),
            "round {round}: left {left:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sweeps_count_each_row_once_sqlite() {
    let (a, b, _dir) = sqlite_pair().await;
    concurrent_sweeps(&a, &b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_sweeps_count_each_row_once_postgres() {
    let Some((a, b, _)) = postgres_pair().await else {
        return;
    };
    concurrent_sweeps(&a, &b).await;
}

/// While another node holds the sweeper's lock, a round does nothing and
/// says so; once it is released, the next round sweeps.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sweep_skips_while_another_node_sweeps_postgres() {
    let Some((a, _b, url)) = postgres_pair().await else {
        return;
    };
    db_put_expired(&a).await;
    let held = testing::hold_sweep_lock(&url).await.unwrap().expect("free");
    assert_eq!(a.sweep_expired(&cutoffs(NOW), 10).await.unwrap(), None);
    assert!(
        a.opaque_token(&opaque(1, 0).token_hash)
            .await
            .unwrap()
            .is_some()
    );
    held.release().await.unwrap();
    let swept = a.sweep_expired(&cutoffs(NOW), 10).await.unwrap().unwrap();
    assert_eq!(swept.opaque_tokens, 1);
    // A round that ended released the lock: another one can take it.
    assert!(testing::hold_sweep_lock(&url).await.unwrap().is_some());
}

async fn db_put_expired(db: &Db) {
    db.put_opaque_token(&opaque(1, NOW - 1)).await.unwrap();
}

/// Candidate first keys of one node: one per use, kids `{node}-at`, `{node}-id`.
fn candidates(node: &str) -> Vec<StoredKey> {
    vec![
        key(&format!("{node}-at"), KeyUse::AccessToken, NOW, NOW),
        key(&format!("{node}-id"), KeyUse::IdToken, NOW, NOW),
    ]
}

/// Two nodes create their first keys at once on an empty database: each
/// decides under the key lock, taking its time (the sleep keeps the other
/// waiting at the lock rather than deciding on the same empty table), so
/// exactly one key per use is stored and both see the same keys.
async fn first_keys_once(a: &Db, b: &Db) {
    let decide = |node: &'static str| {
        move |stored: &[StoredKey]| {
            // Holding the lock, as key generation would.
            std::thread::sleep(Duration::from_millis(200));
            first_keys_needed(stored, &candidates(node), NOW)
        }
    };
    let (x, y) = tokio::join!(
        a.add_signing_keys_locked(decide("a")),
        b.add_signing_keys_locked(decide("b"))
    );
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x, y, "both nodes end with the same keys");
    let stored = a.signing_keys().await.unwrap();
    assert_eq!(stored, x);
    for u in [KeyUse::AccessToken, KeyUse::IdToken] {
        assert_eq!(
            stored.iter().filter(|k| k.key_use == u).count(),
            1,
            "one {u:?} key: {stored:?}"
        );
    }
    // All from one node.
    let node = &stored[0].kid[..1];
    assert!(stored.iter().all(|k| k.kid.starts_with(node)), "{stored:?}");
    // A later start adds nothing.
    let again = b
        .add_signing_keys_locked(|s: &[StoredKey]| first_keys_needed(s, &candidates("c"), NOW))
        .await
        .unwrap();
    assert_eq!(again, stored);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn first_keys_created_once_sqlite() {
    let (a, b, _dir) = sqlite_pair().await;
    first_keys_once(&a, &b).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn first_keys_created_once_postgres() {
    for _ in 0..3 {
        let Some((a, b, _)) = postgres_pair().await else {
            return;
        };
        first_keys_once(&a, &b).await;
    }
}
