//! A database outage fails closed: 503 with `Retry-After`, no token issued,
//! readiness 503, discovery and JWKS still served from memory, and recovery
//! without a restart. PostgreSQL is reached through a TCP proxy the test can
//! cut, so the shared PostgreSQL server itself is never stopped.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

use crate::support::{Server, wait_for};

/// A TCP proxy to PostgreSQL that can be cut and restored on the same port.
struct Proxy {
    port: u16,
    target: String,
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let p = Proxy {
            port,
            target,
            tasks: Arc::default(),
        };
        p.serve(listener);
        p
    }

    fn serve(&self, listener: TcpListener) {
        let target = self.target.clone();
        let tasks = Arc::clone(&self.tasks);
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                let target = target.clone();
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().unwrap().push(conn.abort_handle());
            }
        });
        self.tasks.lock().unwrap().push(accept.abort_handle());
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
    assert_eq!(h["retry-after"], "5");
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
    assert_eq!(h["retry-after"], "5");
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
            assert_eq!(r.headers()["retry-after"], "5", "{path}");
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
