//! SECURITY.md §5.6 at the back-channel endpoints: failed client
//! authentications are throttled per peer address (429 + `Retry-After`),
//! an address over its limit is still served for a client whose
//! credentials verify against the record the node holds (issue 11 finding
//! 3), successes never count, and failures for a client_id never lock that
//! client out.

use std::time::Duration;

use serde_json::{Value, json};

use crate::both;
use crate::support::{Server, invalid_client, parts, wait_for};

const ID: &str = "order-service";
const SECRET: &str = "order-service-secret-0123456789";

/// Five failures, then one more every 120 s: nothing refills during a test.
const LONG: &str = "client_auth_max_failures_per_ip = 5\n\
                    client_auth_failure_window_secs = 600\n\
                    metrics_listen = \"127.0.0.1:0\"\n";
/// Five failures, then one more every 3 s: short enough to wait out.
const SHORT: &str = "client_auth_max_failures_per_ip = 5\n\
                     client_auth_failure_window_secs = 15\n";
/// High enough that the per-address limit never triggers.
const HIGH: &str = "client_auth_max_failures_per_ip = 10000\n";

fn throttled_body() -> Value {
    json!({
        "error": "temporarily_unavailable",
        "error_description": "too many failed client authentications from this address; retry later",
    })
}

/// Asserts the exact 429 and returns its `Retry-After`, checked to be a
/// whole number of seconds in `1..=max`.
async fn assert_throttled(r: reqwest::Response, max: u64) -> u64 {
    let (status, h, body) = parts(r).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body, throttled_body());
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["pragma"], "no-cache");
    assert!(
        h["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert!(h.get("www-authenticate").is_none(), "no challenge on 429");
    let secs: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=max).contains(&secs), "Retry-After {secs}");
    secs
}

async fn assert_invalid_client(r: reqwest::Response) {
    let (status, h, body) = parts(r).await;
    assert_eq!((status, body), (401, invalid_client()));
    assert_eq!(
        h["www-authenticate"],
        r#"Basic realm="frontdesk", charset="UTF-8""#
    );
    assert!(h.get("retry-after").is_none());
}

async fn cc_token(s: &Server, secret: &str) -> reqwest::Response {
    s.post_form(
        "/token",
        Some((ID, secret)),
        &[("grant_type", "client_credentials")],
    )
    .await
}

async fn metric(s: &Server, series: &str) -> Option<f64> {
    let url = s
        .startup
        .iter()
        .find_map(|l| l.strip_prefix("metrics on "))
        .unwrap()
        .to_owned();
    let text = s.http.get(url).send().await.unwrap().text().await.unwrap();
    text.lines().find_map(|l| {
        let (name, value) = l.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok()).flatten()
    })
}

/// The 6th failure at `/token` is 429; from then on the address is refused
/// at all three endpoints for every request whose credentials do not verify
/// against the client record the node holds, with a forged
/// `X-Forwarded-For` too, while the right secret is still served.
async fn sixth_failure_at_token_is_429(s: &Server) {
    for _ in 0..5 {
        assert_invalid_client(cc_token(s, "wrong-secret").await).await;
    }
    assert_throttled(cc_token(s, "wrong-secret").await, 120).await;
    // The right secret from the same address is served at all three.
    assert_eq!(cc_token(s, SECRET).await.status(), 200);
    for path in ["/introspect", "/revoke"] {
        let r = s
            .post_form(path, Some((ID, SECRET)), &[("token", "x")])
            .await;
        assert_eq!(r.status(), 200, "{path}");
        let r = s
            .post_form(path, Some((ID, "wrong")), &[("token", "x")])
            .await;
        assert_throttled(r, 120).await;
    }
    // X-Forwarded-For is not trusted: the TCP peer is still 127.0.0.1.
    let r = s
        .http
        .post(s.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-forwarded-for", "203.0.113.9")
        .header("authorization", crate::support::basic_header(ID, "wrong"))
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_throttled(r, 120).await;
    // A request that cannot even be read is 429 too, not 400.
    let r = s
        .http
        .post(s.url("/token"))
        .header("content-type", "text/plain")
        .body("nonsense")
        .send()
        .await
        .unwrap();
    assert_throttled(r, 120).await;

    let series = |e: &str| format!("frontdesk_client_auth_throttled_total{{endpoint=\"{e}\"}}");
    assert_eq!(metric(s, &series("token")).await, Some(3.0));
    assert_eq!(metric(s, &series("introspect")).await, Some(1.0));
    assert_eq!(metric(s, &series("revoke")).await, Some(1.0));
}
both!(sixth_failure_at_token_is_429, LONG);

/// The same at `/introspect`, with the failures an unknown client_id,
/// missing credentials and a malformed Basic header: every `invalid_client`
/// counts.
async fn sixth_failure_at_introspect_is_429(s: &Server) {
    let unknown = Some(("no-such-client", "whatever"));
    for basic in [unknown, None, unknown] {
        let r = s.post_form("/introspect", basic, &[("token", "x")]).await;
        assert_invalid_client(r).await;
    }
    let r = s
        .http
        .post(s.url("/introspect"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", "Basic %%%")
        .body("token=x")
        .send()
        .await
        .unwrap();
    assert_invalid_client(r).await;
    let r = s
        .post_form("/introspect", Some((ID, "wrong")), &[("token", "x")])
        .await;
    assert_invalid_client(r).await;

    let r = s
        .post_form("/introspect", Some((ID, "wrong")), &[("token", "x")])
        .await;
    assert_throttled(r, 120).await;
    // Over the limit, unknown clients and missing credentials are refused
    // without a database read; the known client with its secret is served.
    for basic in [unknown, None] {
        let r = s.post_form("/introspect", basic, &[("token", "x")]).await;
        assert_throttled(r, 120).await;
    }
    let r = s
        .post_form("/introspect", Some((ID, SECRET)), &[("token", "x")])
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(cc_token(s, SECRET).await.status(), 200);
}
both!(sixth_failure_at_introspect_is_429, LONG);

/// Successful authentications never consume quota: many in a row stay 200,
/// and afterwards the address still has all five failures before a 429.
async fn successes_never_count(s: &Server) {
    for _ in 0..30 {
        assert_eq!(cc_token(s, SECRET).await.status(), 200);
    }
    for _ in 0..4 {
        assert_invalid_client(cc_token(s, "wrong-secret").await).await;
    }
    for _ in 0..10 {
        assert_eq!(cc_token(s, SECRET).await.status(), 200);
        let token = s.m2m_token(&[]).await;
        let active = s.introspect(token["access_token"].as_str().unwrap()).await;
        assert_eq!(active["active"], true);
    }
    assert_invalid_client(cc_token(s, "wrong-secret").await).await;
    assert_throttled(cc_token(s, "wrong-secret").await, 120).await;
}
both!(successes_never_count, LONG);

/// After the `Retry-After` wait the address is served again: a client this
/// node has never seen (refused while the address is blocked, since there
/// is no record to check it against) gets its token, and a wrong secret is
/// an ordinary 401 again.
async fn blocked_address_is_served_again_after_the_wait(s: &Server) {
    const POST: (&str, &str) = ("post-client", "post-client-secret-0123456789");
    let post_token = || async {
        s.post_form(
            "/token",
            None,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", POST.0),
                ("client_secret", POST.1),
            ],
        )
        .await
    };
    for _ in 0..5 {
        assert_invalid_client(cc_token(s, "wrong-secret").await).await;
    }
    let mut wait = assert_throttled(cc_token(s, "wrong-secret").await, 3).await;
    wait = wait.max(assert_throttled(post_token().await, 3).await);
    // A real clock is the point: the limiter lives in the server process and
    // forgives on its own time, which no request can move forward.
    tokio::time::sleep(Duration::from_secs(wait) + Duration::from_millis(200)).await;
    let (status, _, body) = parts(post_token().await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_invalid_client(cc_token(s, "wrong-secret").await).await;
}
both!(blocked_address_is_served_again_after_the_wait, SHORT);

/// Someone failing on purpose with a client's id does not lock that client
/// out, and a secret rotated by another process (the CLI) is still accepted
/// once the bounded re-read happens.
async fn failures_for_a_client_never_lock_it_out(s: &Server) {
    for _ in 0..100 {
        assert_invalid_client(cc_token(s, "wrong-secret").await).await;
    }
    let (status, _, body) = parts(cc_token(s, SECRET).await).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["access_token"].is_string());

    let out = s.cli(
        &[
            "clients",
            "rotate-secret",
            ID,
            "--grace-secs",
            "0",
            "--json",
        ],
        None,
    );
    assert!(out.status.success(), "{out:?}");
    let rotated: Value = serde_json::from_slice(&out.stdout).unwrap();
    let new = rotated["client_secret"].as_str().unwrap().to_owned();
    // Keep failing with wrong secrets while the client uses its new one:
    // it gets through within the cache TTL plus one re-read interval.
    wait_for(
        "the new secret is accepted",
        Duration::from_secs(5),
        async || {
            assert_invalid_client(cc_token(s, "wrong-secret").await).await;
            let (status, _, body) = parts(cc_token(s, &new).await).await;
            if status == 200 {
                return Ok(());
            }
            assert_eq!((status, &body), (401, &invalid_client()));
            Err(body)
        },
    )
    .await;
}
both!(failures_for_a_client_never_lock_it_out, HIGH);

/// `client_auth_throttle_shared`: two nodes on one PostgreSQL count one
/// address's failures together, so the limit (here 5) holds for the
/// cluster: three failures on node A and two on node B exhaust it, and the
/// next failure on either node is 429 although neither node has seen more
/// than three. Without sharing each node would admit five of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_limit_holds_across_nodes() {
    let Some(url) = frontdesk_store::testing::postgres_url_from_env()
        .await
        .unwrap()
    else {
        eprintln!("skipped: FRONTDESK_TEST_POSTGRES_URL not set");
        return;
    };
    // One cluster: one key-encryption key.
    let config = format!(
        "{LONG}client_auth_throttle_shared = true\n\
         key_encryption_key = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\"\n"
    );
    let a = Server::start_in(tempfile::tempdir().unwrap(), &url, &config);
    let b = Server::start_in(tempfile::tempdir().unwrap(), &url, &config);
    for _ in 0..3 {
        assert_invalid_client(cc_token(&a, "wrong-secret").await).await;
    }
    for _ in 0..2 {
        assert_invalid_client(cc_token(&b, "wrong-secret").await).await;
    }
    // The sixth failure in the cluster, the third on B.
    assert_throttled(cc_token(&b, "wrong-secret").await, 120).await;
    // And A, at its fourth.
    assert_throttled(cc_token(&a, "wrong-secret").await, 120).await;
    // The right secret is still served on both.
    assert_eq!(cc_token(&a, SECRET).await.status(), 200);
    assert_eq!(cc_token(&b, SECRET).await.status(), 200);
}

/// The same setting on one SQLite node: the node's own limit and the
/// stored count agree, the sixth failure is 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_limit_on_one_sqlite_node() {
    let config = format!("{LONG}client_auth_throttle_shared = true\n");
    let s = Server::start(crate::support::Backend::Sqlite, &config)
        .await
        .unwrap();
    for _ in 0..5 {
        assert_invalid_client(cc_token(&s, "wrong-secret").await).await;
    }
    assert_throttled(cc_token(&s, "wrong-secret").await, 120).await;
}
