//! Several nodes on one PostgreSQL database (issue 17 items 3, 4 and 5):
//! nodes that start together on an empty database create one set of
//! signing keys and publish the same JWKS at once; nodes that sweep side by
//! side count every swept row once; what one node changes, the others
//! follow at once through `LISTEN`/`NOTIFY` instead of within their caches'
//! time bounds (0.9 s for a client record, one second for the key ring).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use frontdesk_core::model::KeyUse;
use frontdesk_core::store::Store;
use serde_json::Value;

use crate::metrics::sample;
use crate::support::{Backend, Database, Server, cli_in, jwt_parts, wait_for};
use crate::sweeper::{metrics_text, sweep_config};

/// The key-encryption key every node of a cluster shares.
const KEK: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

fn node_config() -> String {
    format!("key_encryption_key = \"{KEK}\"\n{}", sweep_config())
}

/// Starts two servers at the same moment on `url`, each with its own data
/// directory, as two nodes would.
fn start_two(url: &str, extra: &str) -> (Server, Server) {
    tokio::task::block_in_place(|| {
        std::thread::scope(|scope| {
            let a = scope.spawn(|| Server::start_in(tempfile::tempdir().unwrap(), url, extra));
            let b = scope.spawn(|| Server::start_in(tempfile::tempdir().unwrap(), url, extra));
            (a.join().unwrap(), b.join().unwrap())
        })
    })
}

fn kids(jwks: &Value) -> BTreeSet<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// Three rounds of two nodes starting at once on an empty database: one
/// key per use in the store, and both nodes publish exactly those keys
/// from their first answer on (no reload needed), so a token from one
/// carries a key the other publishes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_starting_together_create_one_key_per_use() {
    for round in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let Some(db) = Database::new(Backend::Postgres, dir.path()).await else {
            eprintln!("skipped: FRONTDESK_TEST_POSTGRES_URL not set");
            return;
        };
        let (a, b) = start_two(&db.url, &node_config());
        let (jwks_a, jwks_b) = (
            a.get_json("/jwks.json").await,
            b.get_json("/jwks.json").await,
        );
        let store = frontdesk_store::Db::connect(&db.url).await.unwrap();
        let keys = store.signing_keys().await.unwrap();
        let summary: Vec<_> = keys
            .iter()
            .map(|k| (k.kid.as_str(), k.key_use, k.retired_at))
            .collect();
        for u in [KeyUse::AccessToken, KeyUse::IdToken] {
            assert_eq!(
                keys.iter().filter(|k| k.key_use == u).count(),
                1,
                "round {round}: {u:?} keys in {summary:?}"
            );
        }
        assert_eq!(jwks_a, jwks_b, "round {round}: the nodes' JWKS differ");
        let stored: BTreeSet<String> = keys.iter().map(|k| k.kid.clone()).collect();
        assert_eq!(kids(&jwks_a), stored, "round {round}");
        let logs = [a.log(), b.log()];
        let generated: usize = logs
            .iter()
            .map(|l| l.matches("generated signing key").count())
            .sum();
        assert_eq!(generated, 2, "round {round}: one node generates both keys");

        // A token one node signs carries a kid the other publishes. (The
        // test's nodes have issuers of their own, one per port, so B would
        // not introspect A's token; the keys are the point here.)
        let t = a.m2m_token(&[]).await;
        let (header, _) = jwt_parts(t["access_token"].as_str().unwrap());
        assert!(
            kids(&jwks_b).contains(header["kid"].as_str().unwrap()),
            "round {round}: {header} not in {jwks_b}"
        );
        if round == 0 {
            count_each_swept_row_once(&a, &b).await;
        }
        store.close().await;
    }
}

/// Both nodes sweep every second; 20 opaque tokens (2 s) issued on both
/// are swept, each counted by one node only, and further rounds count
/// nothing more.
async fn count_each_swept_row_once(a: &Server, b: &Server) {
    for s in [a, b] {
        for _ in 0..10 {
            s.opaque_token().await;
        }
    }
    let of = |text: &str, series: &str| sample(text, series).unwrap_or(0.0);
    let swept = async || {
        let mut sum = 0.0;
        let mut rounds = Vec::new();
        for s in [a, b] {
            let text = metrics_text(s).await;
            sum += of(
                &text,
                r#"frontdesk_swept_rows_total{table="opaque_tokens"}"#,
            );
            rounds.push(
                of(&text, r#"frontdesk_sweep_rounds_total{result="swept"}"#)
                    + of(&text, r#"frontdesk_sweep_rounds_total{result="skipped"}"#),
            );
        }
        (sum, rounds)
    };
    let rounds = wait_for(
        "both nodes' counts add up to 20",
        Duration::from_secs(30),
        async || {
            let (sum, rounds) = swept().await;
            assert!(sum <= 20.0, "counted twice: {sum}");
            if sum == 20.0 { Ok(rounds) } else { Err(sum) }
        },
    )
    .await;
    // Two more rounds on each node count nothing more.
    let (sum, _) = wait_for(
        "two more rounds on both nodes",
        Duration::from_secs(30),
        async || {
            let (sum, now) = swept().await;
            if now.iter().zip(&rounds).all(|(n, r)| *n >= r + 2.0) {
                Ok((sum, now))
            } else {
                Err(now)
            }
        },
    )
    .await;
    assert_eq!(sum, 20.0);
}

const ORDER: (&str, &str) = ("order-service", "order-service-secret-0123456789");

async fn order_token_status(s: &Server) -> u16 {
    s.post_form(
        "/token",
        Some(ORDER),
        &[("grant_type", "client_credentials")],
    )
    .await
    .status()
    .as_u16()
}

/// Two nodes on a fresh database sharing one key-encryption key (node B's
/// data directory starts with node A's `kek`), or `None` without PostgreSQL.
async fn two_nodes() -> Option<(Server, Server)> {
    let url = frontdesk_store::testing::postgres_url_from_env()
        .await
        .unwrap()?;
    let a = Server::start_in(tempfile::tempdir().unwrap(), &url, "");
    let b_dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(b_dir.path().join("data")).unwrap();
    std::fs::copy(a.dir.path().join("data/kek"), b_dir.path().join("data/kek")).unwrap();
    let b = Server::start_in(b_dir, &url, "");
    Some((a, b))
}

/// A client deleted through node A is refused by node B within 100 ms,
/// although B had just authenticated it from its cache; a key rotated
/// through the CLI is in B's JWKS within 200 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_node_follows_client_and_key_changes_at_once() {
    let Some((a, b)) = two_nodes().await else {
        eprintln!("skipped: FRONTDESK_TEST_POSTGRES_URL not set");
        return;
    };
    // B's cache holds the client now (a JWT needs no other read).
    assert_eq!(order_token_status(&b).await, 200);
    assert_eq!(order_token_status(&b).await, 200);

    let r = a
        .admin_req(
            reqwest::Method::DELETE,
            "/admin/clients/order-service",
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    let deleted = Instant::now();
    let status = wait_for(
        "node B refuses the client node A deleted",
        Duration::from_millis(100),
        async || match order_token_status(&b).await {
            200 => Err(200),
            other => Ok(other),
        },
    )
    .await;
    assert_eq!(status, 401, "invalid_client after {:?}", deleted.elapsed());

    // Keys: rotated by the CLI (through the database), announced, and
    // published by B at once rather than at its next one-second reload.
    let kids = |s: &Server| {
        let url = s.url("/jwks.json");
        let http = s.http.clone();
        async move {
            let jwks: serde_json::Value = http.get(url).send().await.unwrap().json().await.unwrap();
            jwks["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kid"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let before = kids(&b).await;
    let out = cli_in(a.dir.path(), &a.db_url, &["keys", "rotate"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rotated = Instant::now();
    let after = wait_for(
        "node B publishes the rotated key",
        Duration::from_millis(200),
        async || {
            let now = kids(&b).await;
            if now.len() > before.len() {
                Ok(now)
            } else {
                Err(now)
            }
        },
    )
    .await;
    assert!(
        after.iter().any(|k| !before.contains(k)),
        "a new kid after {:?}",
        rotated.elapsed()
    );
}

/// SECURITY.md J11: the DPoP replay check lives in the database, so a
/// proof accepted by node A is a replay at node B (both serve one issuer,
/// as behind a load balancer).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dpop_proof_used_at_one_node_is_a_replay_at_another() {
    let Some(url) = frontdesk_store::testing::postgres_url_from_env()
        .await
        .unwrap()
    else {
        eprintln!("skipped: FRONTDESK_TEST_POSTGRES_URL not set");
        return;
    };
    let a = Server::start_in(tempfile::tempdir().unwrap(), &url, "");
    let b_dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(b_dir.path().join("data")).unwrap();
    std::fs::copy(a.dir.path().join("data/kek"), b_dir.path().join("data/kek")).unwrap();
    let b = Server::start_as(b_dir, &url, Some(&a.base), "");
    let key = frontdesk_jose::SigningKey::generate(frontdesk_jose::Algorithm::ES256)
        .unwrap()
        .0;
    let proof = frontdesk_jose::dpop::make(
        &key,
        &frontdesk_jose::dpop::Proof {
            method: "POST",
            uri: &a.url("/token"),
            access_token: None,
            nonce: None,
            jti: "one-proof",
            iat: crate::support::unix_now(),
        },
    )
    .unwrap();
    let send = |s: &Server| {
        s.http
            .post(s.url("/token"))
            .header(
                "authorization",
                crate::support::basic_header(ORDER.0, ORDER.1),
            )
            .header("content-type", "application/x-www-form-urlencoded")
            .header("dpop", &proof)
            .body("grant_type=client_credentials")
            .send()
    };
    let first = send(&a).await.unwrap();
    assert_eq!(first.status(), 200);
    let again = send(&b).await.unwrap();
    assert_eq!(again.status(), 400);
    let body: Value = again.json().await.unwrap();
    assert_eq!(body["error"], "invalid_dpop_proof");
    assert_eq!(
        body["error_description"],
        "the DPoP proof has been used before"
    );
}

/// A client assertion's `jti` is spent in the store every node shares
/// (`Store::use_once`), so an assertion accepted by one node is a replay
/// at the other (RFC 7523 §3 item 7; SECURITY.md R27).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assertion_used_at_one_node_is_a_replay_at_another() {
    use crate::private_key_jwt::{assertion, jwks_of, key, register, with_assertion};
    let Some(url) = frontdesk_store::testing::postgres_url_from_env()
        .await
        .unwrap()
    else {
        eprintln!("skipped: FRONTDESK_TEST_POSTGRES_URL not set");
        return;
    };
    let a = Server::start_in(tempfile::tempdir().unwrap(), &url, "");
    let b_dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(b_dir.path().join("data")).unwrap();
    std::fs::copy(a.dir.path().join("data/kek"), b_dir.path().join("data/kek")).unwrap();
    let b = Server::start_as(b_dir, &url, Some(&a.base), "");
    let k = key();
    register(&a, "node-key", serde_json::json!({"jwks": jwks_of(&[&k])})).await;
    let one = assertion(&k, "node-key", &a.base);
    let form = [("grant_type", "client_credentials")];
    let (status, _, body) = with_assertion(&a, "/token", &one, &form).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = with_assertion(&b, "/token", &one, &form).await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        serde_json::json!({
            "error": "invalid_client",
            "error_description": "this client assertion was used before: each needs its own jti (RFC 7523 §3)",
        })
    );
    // A fresh one is fine at the other node.
    let (status, _, body) =
        with_assertion(&b, "/token", &assertion(&k, "node-key", &a.base), &form).await;
    assert_eq!(status, 200, "{body}");
}

/// Scheduled rotation (`key_rotation_period_secs`, issue 17 item 5) with
/// its shortest settings: a key signs 6 s, its successor is published 3 s
/// before (the JWKS `max-age` is 1 s).
fn rotation_config() -> String {
    format!(
        "key_encryption_key = \"{KEK}\"\njwks_max_age_secs = 1\nkey_prepublish_secs = 3\nkey_rotation_period_secs = 6\n"
    )
}

/// The signing keys stored for `use`, oldest first.
async fn stored_of(url: &str, key_use: KeyUse) -> Vec<frontdesk_core::model::StoredKey> {
    let store = frontdesk_store::Db::connect(url).await.unwrap();
    let keys = store.signing_keys().await.unwrap();
    store.close().await;
    keys.into_iter().filter(|k| k.key_use == key_use).collect()
}

/// One node, SQLite and PostgreSQL: the successor of each key appears in
/// the JWKS the pre-publication lead before it signs, tokens switch to it
/// when the period ends, the old key stays published, and an audit event
/// says the configuration did it.
async fn scheduled_rotation_publishes_then_switches(s: &Server, url: &str) {
    let first = s.m2m_token(&[]).await;
    let old_kid = jwt_parts(first["access_token"].as_str().unwrap()).0["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let published = wait_for(
        "a second access-token key",
        Duration::from_secs(8),
        async || {
            let keys = stored_of(url, KeyUse::AccessToken).await;
            match keys.len() {
                2 => Ok(keys),
                n => Err(n),
            }
        },
    )
    .await;
    let new = &published[1];
    assert_eq!(new.alg, published[0].alg, "the current key's algorithm");
    assert_eq!(new.activates_at - new.created_at, 3, "published 3 s ahead");
    assert_eq!(published[0].retired_at, Some(new.activates_at));
    // Every node publishes it within the slack the lead leaves for that
    // (KEY_PUBLICATION_SLACK_SECS, 2 s): the node that made it at once,
    // another at its next reload (its notification or the next tick).
    wait_for(
        "the new key in this node's JWKS",
        Duration::from_secs(2),
        async || {
            let jwks = kids(&s.get_json("/jwks.json").await);
            if jwks.contains(&new.kid) {
                Ok(())
            } else {
                Err(jwks)
            }
        },
    )
    .await;
    // Before it activates, tokens are still signed by the old key.
    if app_now() < new.activates_at {
        let t = s.m2m_token(&[]).await;
        assert_eq!(
            jwt_parts(t["access_token"].as_str().unwrap()).0["kid"],
            old_kid.as_str()
        );
    }
    let kid = wait_for(
        "tokens signed by the new key",
        Duration::from_secs(8),
        async || {
            let t = s.m2m_token(&[]).await;
            let kid = jwt_parts(t["access_token"].as_str().unwrap()).0["kid"]
                .as_str()
                .unwrap()
                .to_owned();
            if kid == new.kid { Ok(kid) } else { Err(kid) }
        },
    )
    .await;
    let jwks = kids(&s.get_json("/jwks.json").await);
    assert!(jwks.contains(&kid) && jwks.contains(&old_kid), "{jwks:?}");
    let trail = s
        .admin_expect(
            reqwest::Method::GET,
            "/admin/audit?kind=admin.keys.rotate",
            None,
            200,
        )
        .await;
    let events = trail["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["actor"] == "config" && e["detail"]["kid"] == new.kid.as_str()),
        "{trail}"
    );
}

fn app_now() -> i64 {
    crate::support::unix_now() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_rotation_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/rotation.db", dir.path().display());
    let s = Server::start_in(tempfile::tempdir().unwrap(), &url, &rotation_config());
    scheduled_rotation_publishes_then_switches(&s, &url).await;
}

/// Two nodes on PostgreSQL with the same schedule: each rotation is made
/// once (one key per use per period), both nodes publish it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_rotation_runs_once_across_two_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Database::new(Backend::Postgres, dir.path()).await else {
        eprintln!("skipped: FRONTDESK_TEST_POSTGRES_URL not set");
        return;
    };
    let (a, b) = start_two(&db.url, &rotation_config());
    scheduled_rotation_publishes_then_switches(&a, &db.url).await;
    // Both ticked every second through the rotation: still two keys per
    // use, and both nodes publish the same set.
    for u in [KeyUse::AccessToken, KeyUse::IdToken] {
        let keys = stored_of(&db.url, u).await;
        assert!(keys.len() <= 3, "{u:?}: {} keys", keys.len());
        let created: BTreeSet<i64> = keys.iter().map(|k| k.created_at).collect();
        assert_eq!(created.len(), keys.len(), "{u:?}: two keys made at once");
    }
    let (ja, jb) = (
        kids(&a.get_json("/jwks.json").await),
        kids(&b.get_json("/jwks.json").await),
    );
    let logs = [a.log(), b.log()];
    let rotations: usize = logs
        .iter()
        .map(|l| l.matches("scheduled key rotation").count())
        .sum();
    let stored_total = stored_of(&db.url, KeyUse::AccessToken).await.len()
        + stored_of(&db.url, KeyUse::IdToken).await.len();
    assert_eq!(
        rotations,
        stored_total - 2,
        "each new key logged by one node"
    );
    assert!(
        ja == jb || ja.is_subset(&jb) || jb.is_subset(&ja),
        "{ja:?} {jb:?}"
    );
}
