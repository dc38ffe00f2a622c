//! A database outage fails closed: 503 with `Retry-After`, no token issued,
//! readiness 503, discovery and JWKS still served from memory, and recovery
//! without a restart. PostgreSQL is reached through a TCP proxy the test can
//! cut, so the shared PostgreSQL server itself is never stopped.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use frontdesk_core::store::Store;

use crate::browser::{APP1, APP1_CB, Browser, SECURITY_CONFIG, code_for, pkce};
use crate::support::{Server, wait_for};

/// PostgreSQL's CommandComplete message for a COMMIT: `C`, length 11,
/// `COMMIT\0` (the reply that tells the client its transaction committed).
const COMMIT_COMPLETE: &[u8] = b"C\x00\x00\x00\x0bCOMMIT\x00";

/// A TCP proxy to PostgreSQL that can be cut and restored on the same port,
/// paused (bytes are held, in both directions, until it resumes), or told to
/// lose the reply of the next COMMIT (the server commits; the client sees
/// its connection close instead of the answer). The last two need
/// `sslmode=disable`, so the proxy can read the protocol.
struct Proxy {
    port: u16,
    target: String,
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
    paused: Arc<AtomicBool>,
    lose_next_commit: Arc<AtomicBool>,
    commits_lost: Arc<AtomicUsize>,
}

/// Copies `from` to `to`, holding bytes while `paused`; with `commit` set,
/// the first chunk that holds a COMMIT's CommandComplete while it is armed
/// is dropped and the copy ends (which closes the connection).
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    paused: Arc<AtomicBool>,
    commit: Option<(Arc<AtomicBool>, Arc<AtomicUsize>)>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while paused.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let chunk = &buf[..n];
        if let Some((armed, lost)) = &commit
            && chunk
                .windows(COMMIT_COMPLETE.len())
                .any(|w| w == COMMIT_COMPLETE)
            && armed.swap(false, Ordering::SeqCst)
        {
            lost.fetch_add(1, Ordering::SeqCst);
            return;
        }
        if to.write_all(chunk).await.is_err() {
            return;
        }
    }
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let p = Proxy {
            port,
            target,
            tasks: Arc::default(),
            paused: Arc::default(),
            lose_next_commit: Arc::default(),
            commits_lost: Arc::default(),
        };
        p.serve(listener);
        p
    }

    fn serve(&self, listener: TcpListener) {
        let target = self.target.clone();
        let tasks = Arc::clone(&self.tasks);
        let (paused, armed, lost) = (
            Arc::clone(&self.paused),
            Arc::clone(&self.lose_next_commit),
            Arc::clone(&self.commits_lost),
        );
        let accept = tokio::spawn(async move {
            loop {
                let Ok((inbound, _)) = listener.accept().await else {
                    return;
                };
                let target = target.clone();
                let (paused, armed, lost) =
                    (Arc::clone(&paused), Arc::clone(&armed), Arc::clone(&lost));
                let conn = tokio::spawn(async move {
                    if let Ok(outbound) = TcpStream::connect(&target).await {
                        let (client_read, client_write) = inbound.into_split();
                        let (server_read, server_write) = outbound.into_split();
                        // Either direction ending ends both: the halves drop.
                        tokio::select! {
                            _ = pump(client_read, server_write, Arc::clone(&paused), None) => {}
                            _ = pump(server_read, client_write, paused, Some((armed, lost))) => {}
                        }
                    }
                });
                tasks.lock().unwrap().push(conn.abort_handle());
            }
        });
        self.tasks.lock().unwrap().push(accept.abort_handle());
    }

    fn pause(&self, on: bool) {
        self.paused.store(on, Ordering::SeqCst);
    }

    fn lose_next_commit_reply(&self) {
        self.lose_next_commit.store(true, Ordering::SeqCst);
    }

    fn commit_replies_lost(&self) -> usize {
        self.commits_lost.load(Ordering::SeqCst)
    }

    /// Refuses new connections and drops the open ones.
    fn cut(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    /// Like a proxy whose backend is down: accepts each connection and
    /// closes it at once, without a byte (the open ones are dropped too).
    async fn slam(&self) {
        let listener = self.rebind().await;
        let accept = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                drop(inbound);
            }
        });
        self.tasks.lock().unwrap().push(accept.abort_handle());
    }

    async fn restore(&self) {
        let listener = self.rebind().await;
        self.serve(listener);
    }

    /// Stops what listens on the port now and binds it again (an aborted
    /// accept task drops its listener only when it next runs).
    async fn rebind(&self) -> TcpListener {
        self.cut();
        let port = self.port;
        wait_for(
            "the proxy's port is free again",
            Duration::from_secs(5),
            async || TcpListener::bind(("127.0.0.1", port)).await,
        )
        .await
    }
}

async fn token_status(s: &Server) -> (u16, reqwest::header::HeaderMap, Value) {
    let r = s
        .post_form(
            "/token",
            Some(("order-service", "order-service-secret-0123456789")),
            &[("grant_type", "client_credentials")],
        )
        .await;
    let status = r.status().as_u16();
    let h = r.headers().clone();
    (status, h, r.json().await.unwrap())
}

/// A server on a fresh PostgreSQL database reached through a new proxy,
/// with `extra` config; `None` when PostgreSQL is not configured.
async fn behind_proxy(extra: &str) -> Option<(Proxy, Server, String)> {
    let db_url = frontdesk_store::testing::postgres_url_from_env()
        .await
        .unwrap()?;
    let mut url = url::Url::parse(&db_url).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let proxy = Proxy::start(target).await;
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(proxy.port)).unwrap();
    url.query_pairs_mut().append_pair("sslmode", "disable");
    let s = Server::start_in(tempfile::tempdir().unwrap(), url.as_str(), extra);
    Some((proxy, s, db_url))
}

async fn token_call(s: &Server, form: &[(&str, &str)]) -> (u16, reqwest::header::HeaderMap, Value) {
    let r = s.post_form("/token", Some(APP1), form).await;
    let status = r.status().as_u16();
    let h = r.headers().clone();
    (status, h, r.json().await.unwrap())
}

/// The same token request until it is not a 503 (the breaker closes within
/// a probe or two once the database answers again).
async fn retried(s: &Server, form: &[(&str, &str)]) -> (u16, Value) {
    wait_for(
        "the retried grant is answered",
        Duration::from_secs(5),
        async || match token_call(s, form).await {
            (503, _, _) => Err(503),
            (status, _, body) => Ok((status, body)),
        },
    )
    .await
}

/// issue 17 item 2 (ARCHITECTURE.md "the retry rule"): the database
/// commits a code redemption and a refresh rotation, but the reply of the
/// COMMIT never reaches the node. The client gets 503 with `Retry-After:
/// 1` and no token; its retry of the same request gets the tokens the
/// commit stored (the refresh token the code issued, the same successor),
/// and the grant is not revoked as a replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_commit_reply_is_retried_into_the_same_grant() {
    let config = format!("code_retry_grace_secs = 10\nrefresh_grace_secs = 10\n{SECURITY_CONFIG}");
    let Some((proxy, s, db_url)) = behind_proxy(&config).await else {
        eprintln!("skipped: FRONTDESK_TEST_POSTGRES_URL not set");
        return;
    };
    let direct = frontdesk_store::Db::connect(&db_url).await.unwrap();
    let b = Browser::new(&s);
    let (verifier, challenge) = pkce();
    let code = code_for(
        &s,
        &b,
        APP1.0,
        APP1_CB,
        "openid offline_access",
        &challenge,
        &[],
    )
    .await;
    let redeem = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", APP1_CB),
        ("code_verifier", verifier.as_str()),
    ];

    proxy.lose_next_commit_reply();
    let (status, h, body) = token_call(&s, &redeem).await;
    assert_eq!(
        proxy.commit_replies_lost(),
        1,
        "the redemption's COMMIT reply was lost"
    );
    assert_eq!(
        (status, &h["retry-after"]),
        (503, &"1".parse().unwrap()),
        "{body}"
    );
    assert_eq!(body["error"], "temporarily_unavailable");
    assert!(body.get("access_token").is_none());
    // The database did commit: the code is spent and its refresh token stored.
    let (spent, _) = direct
        .code(&frontdesk_core::secret::token_hash(&code))
        .await
        .unwrap()
        .unwrap();
    assert!(spent.used_at.is_some());

    let (status, tokens) = retried(&s, &redeem).await;
    assert_eq!(status, 200, "{tokens}");
    let rt = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (stored, grant) = direct
        .refresh_token(&frontdesk_core::secret::token_hash(&rt))
        .await
        .unwrap()
        .expect("the retry answers with the refresh token the commit stored");
    assert_eq!((stored.consumed_at, grant.revoked_at), (None, None));

    // The same for a refresh: the rotation commits, its reply is lost.
    let rotate = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt.as_str()),
    ];
    proxy.lose_next_commit_reply();
    let (status, _, _) = token_call(&s, &rotate).await;
    assert_eq!((status, proxy.commit_replies_lost()), (503, 2));
    let (status, rotated) = retried(&s, &rotate).await;
    assert_eq!(status, 200, "{rotated}");
    let next = rotated["refresh_token"].as_str().unwrap();
    let (old, _) = direct
        .refresh_token(&frontdesk_core::secret::token_hash(&rt))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        old.replaced_by,
        Some(frontdesk_core::secret::token_hash(next)),
        "the retry got the successor the lost commit stored"
    );
    // The grant is alive: the successor refreshes.
    let (status, _, body) = token_call(
        &s,
        &[("grant_type", "refresh_token"), ("refresh_token", next)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

/// issue 17 item 1: a database that stops answering (the proxy holds every
/// byte) costs a request at most the configured bound (acquire + statement
/// timeout, here 0.5 + 1 s), then 503; requests during the stall get 503
/// at once from the circuit breaker; when bytes flow again the node serves
/// without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_database_fails_within_the_bound_and_recovers() {
    let config = "database_acquire_timeout_ms = 500\ndatabase_statement_timeout_ms = 1000\n";
    let Some((proxy, s, _)) = behind_proxy(config).await else {
        eprintln!("skipped: FRONTDESK_TEST_POSTGRES_URL not set");
        return;
    };
    let (status, _, _) = token_status(&s).await;
    assert_eq!(status, 200);

    proxy.pause(true);
    // The client record may come from the node's cache for 0.9 s (and a JWT
    // needs no write): ask until the store is needed.
    let (started, status, h) = wait_for(
        "a request needs the stalled store",
        Duration::from_secs(5),
        async || {
            let started = Instant::now();
            let r = s.http.get(s.url("/health/ready")).send().await.unwrap();
            let status = r.status().as_u16();
            if status == 200 {
                Err(status)
            } else {
                Ok((started, status, r.headers().clone()))
            }
        },
    )
    .await;
    let waited = started.elapsed();
    assert_eq!(status, 503, "{h:?}");
    assert!(
        waited < Duration::from_millis(2500),
        "bounded by 1.5 s (+ slack): {waited:?}"
    );
    // The breaker is open now: the next answers come at once (a revocation
    // always needs the store).
    for _ in 0..3 {
        let started = Instant::now();
        let r = s
            .post_form(
                "/revoke",
                Some(("order-service", "order-service-secret-0123456789")),
                &[("token", "not-a-token")],
            )
            .await;
        assert_eq!(
            (r.status().as_u16(), &r.headers()["retry-after"]),
            (503, &"1".parse().unwrap())
        );
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{:?}",
            started.elapsed()
        );
    }

    proxy.pause(false);
    wait_for(
        "recovery once the database answers",
        Duration::from_secs(10),
        async || match token_status(&s).await {
            (200, _, _) => Ok(()),
            (status, _, _) => Err(status),
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_fails_closed_and_recovers() {
    let Some(db_url) = frontdesk_store::testing::postgres_url_from_env()
        .await
        .unwrap()
    else {
        eprintln!("skipped: FRONTDESK_TEST_POSTGRES_URL not set");
        return;
    };
    let mut url = url::Url::parse(&db_url).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let proxy = Proxy::start(target).await;
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(proxy.port)).unwrap();
    let s = Server::start_in(tempfile::tempdir().unwrap(), url.as_str(), "");

    let (status, _, issued) = token_status(&s).await;
    assert_eq!(status, 200);
    let issued = issued["access_token"].as_str().unwrap().to_owned();

    proxy.cut();
    // A client record may be served from the store's cache for up to 0.9 s
    // (and a JWT needs no write); past that (the poll's deadline), everything
    // fails closed. Each request must answer fast, whatever it answers.
    let (status, h, body) = wait_for(
        "token fails closed",
        Duration::from_millis(1500),
        async || {
            let started = Instant::now();
            let got = token_status(&s).await;
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "fails fast, does not hang"
            );
            if got.0 == 200 { Err(got.0) } else { Ok(got) }
        },
    )
    .await;
    assert_eq!(status, 503);
    assert_eq!(h["retry-after"], "1");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(
        body,
        json!({"error": "temporarily_unavailable", "error_description": "the service is temporarily unavailable; retry later"})
    );
    assert!(body.get("access_token").is_none());

    // SECURITY.md R40: a revocation that cannot be persisted is never a 200.
    let r = s
        .post_form(
            "/revoke",
            Some(("order-service", "order-service-secret-0123456789")),
            &[("token", &issued)],
        )
        .await;
    assert_eq!(r.status(), 503);

    let ready = s.http.get(s.url("/health/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert_eq!(
        s.http
            .get(s.url("/health/live"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let jwks = s.http.get(s.url("/jwks.json")).send().await.unwrap();
    assert_eq!(jwks.status(), 200, "JWKS is served from memory");
    let meta = s
        .http
        .get(s.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(meta.status(), 200, "discovery is served from memory");

    proxy.restore().await;
    wait_for(
        "recovery after the database came back",
        Duration::from_secs(15),
        async || match token_status(&s).await {
            (200, _, _) => Ok(()),
            (status, _, _) => Err(status),
        },
    )
    .await;
    assert_eq!(
        s.http
            .get(s.url("/health/ready"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

/// issue 17 item 1: a peer in front of PostgreSQL that accepts and closes
/// (a proxy whose backend is down) gives 503 with `Retry-After` at every
/// endpoint that needs the store, never a 500; and the server recovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_that_accepts_and_closes_gives_503_never_500() {
    let Some(db_url) = frontdesk_store::testing::postgres_url_from_env()
        .await
        .unwrap()
    else {
        eprintln!("skipped: FRONTDESK_TEST_POSTGRES_URL not set");
        return;
    };
    let mut url = url::Url::parse(&db_url).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let proxy = Proxy::start(target).await;
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(proxy.port)).unwrap();
    let s = Server::start_in(tempfile::tempdir().unwrap(), url.as_str(), "");
    let (status, _, issued) = token_status(&s).await;
    assert_eq!(status, 200);
    let issued = issued["access_token"].as_str().unwrap().to_owned();

    proxy.slam().await;
    let client = Some(("order-service", "order-service-secret-0123456789"));
    // Past the client cache (0.9 s) every request below needs the store.
    let (status, h, body) = wait_for(
        "token fails closed behind a slamming proxy",
        Duration::from_millis(3000),
        async || {
            let got = token_status(&s).await;
            assert_ne!(got.0, 500, "{:?}", got.2);
            if got.0 == 200 { Err(got.0) } else { Ok(got) }
        },
    )
    .await;
    assert_eq!(status, 503);
    assert_eq!(h["retry-after"], "1");
    assert_eq!(
        body,
        json!({"error": "temporarily_unavailable", "error_description": "the service is temporarily unavailable; retry later"})
    );
    for _ in 0..5 {
        for (path, form) in [
            ("/token", vec![("grant_type", "client_credentials")]),
            ("/introspect", vec![("token", issued.as_str())]),
            ("/revoke", vec![("token", issued.as_str())]),
        ] {
            let r = s.post_form(path, client, &form).await;
            assert_eq!(r.status(), 503, "{path}");
            assert_eq!(r.headers()["retry-after"], "1", "{path}");
        }
        let ready = s.http.get(s.url("/health/ready")).send().await.unwrap();
        assert_eq!(ready.status(), 503);
    }
    assert!(
        !s.log().contains("status=500"),
        "no 500 in the request log:\n{}",
        s.log()
    );

    proxy.restore().await;
    wait_for(
        "recovery after the proxy's backend came back",
        Duration::from_secs(15),
        async || match token_status(&s).await {
            (200, _, _) => Ok(()),
            (status, _, _) => Err(status),
        },
    )
    .await;
}

/// SIGTERM: the server finishes and exits cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_shuts_down_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("frontdesk.db").display());
    let mut s = Server::start_in(dir, &db, "");
    assert_eq!(
        s.http
            .get(s.url("/health/live"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let status = s.terminate(std::time::Duration::from_secs(10));
    assert_eq!(
        status.and_then(|st| st.code()),
        Some(0),
        "exit code 0 after SIGTERM"
    );
    assert!(s.log().contains("shutting down"));
}
