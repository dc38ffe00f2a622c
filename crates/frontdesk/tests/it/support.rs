//! Test support: the real `frontdesk` binary on a free port, on SQLite or
//! PostgreSQL, driven over real HTTP.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::Value;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef-0123";
pub const PAYMENTS: &str = "https://payments.example.com";
pub const PHOTOS: &str = "https://photos.example.com";

/// Clients every test server starts with (declarative bootstrap).
pub const BASE_CONFIG: &str = r#"
admin_token = "test-admin-token-0123456789abcdef-0123"

[[clients]]
client_id = "order-service"
client_secret = "order-service-secret-0123456789"
client_name = "Order Service"
grant_types = ["client_credentials"]
scope = "photos:read charge:customer"
audience = ["https://payments.example.com", "https://photos.example.com"]

[[clients]]
client_id = "post-client"
client_secret = "post-client-secret-0123456789"
client_name = "Post Client"
grant_types = ["client_credentials"]
token_endpoint_auth_method = "client_secret_post"
scope = "photos:read"
audience = ["https://photos.example.com"]

[[clients]]
client_id = "opaque-client"
client_secret = "opaque-client-secret-0123456789"
client_name = "Opaque Client"
grant_types = ["client_credentials"]
scope = "photos:read"
access_token_format = "opaque"

[[clients]]
client_id = "short-lived"
client_secret = "short-lived-secret-0123456789"
client_name = "Short Lived"
grant_types = ["client_credentials"]
scope = "photos:read"
access_token_ttl = 1

[[clients]]
client_id = "web-app"
client_secret = "web-app-secret-0123456789"
client_name = "Web App"
grant_types = ["authorization_code"]
redirect_uris = ["https://app.example.com/cb"]
scope = "openid profile"

[[users]]
username = "alice"
password = "correct horse battery staple"
email = "alice@example.com"
email_verified = true
name = "Alice Example"
"#;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database for one server (or for several servers sharing it).
pub struct Database {
    pub url: String,
}

impl Database {
    /// A fresh database, or `None` (and a line on stderr) when PostgreSQL is
    /// requested but FRONTDESK_TEST_POSTGRES_URL is unset.
    pub async fn new(backend: Backend, dir: &Path) -> Option<Database> {
        match backend {
            Backend::Sqlite => Some(Database {
                url: format!("sqlite://{}", dir.join("frontdesk.db").display()),
            }),
            Backend::Postgres => {
                let url = frontdesk_store::testing::postgres_url_from_env()
                    .await
                    .expect("create a PostgreSQL test database")?;
                Some(Database { url })
            }
        }
    }
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_frontdesk")
}

/// A running `frontdesk serve`.
pub struct Server {
    pub base: String,
    pub admin: String,
    pub db_url: String,
    pub dir: tempfile::TempDir,
    pub http: reqwest::Client,
    /// The lines the server printed on stdout while starting.
    pub startup: Vec<String>,
    child: Child,
    log: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("reqwest client")
}

/// Writes `config` to `dir/frontdesk.toml` and runs `frontdesk serve` until
/// it prints `listening on` (and `admin API on` when `want_admin`), with
/// `issuer` as its issuer (`{port}` in it: the public port it picked; `None`:
/// `http://127.0.0.1:PORT`).
/// Returns the child, the public port, the admin URL, the log path and the
/// stdout lines seen.
fn spawn_server(
    dir: &Path,
    db_url: &str,
    config_text: &str,
    admin_listen: &str,
    want_admin: bool,
    issuer: Option<&str>,
) -> (Child, u16, Option<String>, PathBuf, Vec<String>) {
    let config = dir.join("frontdesk.toml");
    std::fs::write(&config, config_text).expect("write config");
    for attempt in 0..5 {
        let port = free_port();
        let log = dir.join(format!("server-{port}.log"));
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut child = Command::new(bin())
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.join("data"))
            .arg("--database")
            .arg(db_url)
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--admin-listen")
            .arg(admin_listen)
            .arg("--issuer")
            .arg(issuer.map_or_else(
                || format!("http://127.0.0.1:{port}"),
                |i| i.replace("{port}", &port.to_string()),
            ))
            .env("FRONTDESK_LOG_LEVEL", "info")
            // The test suite's own switch (real_browser.rs), not a setting:
            // the server would refuse it as an unknown FRONTDESK_* variable.
            .env_remove("FRONTDESK_UPDATE_SCREENSHOTS")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .expect("spawn frontdesk");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut admin = None;
        let mut listening = false;
        let mut startup = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline && !(listening && (admin.is_some() || !want_admin)) {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    if line.starts_with("listening on ") {
                        listening = true;
                    } else if let Some(a) = line.strip_prefix("admin API on ") {
                        admin = Some(a.to_owned());
                    }
                    startup.push(line);
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(_)) = child.try_wait() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
        if listening && !want_admin {
            // The admin line, if any, follows right after `listening on`.
            while let Ok(line) = rx.recv_timeout(Duration::from_millis(300)) {
                if let Some(a) = line.strip_prefix("admin API on ") {
                    admin = Some(a.to_owned());
                }
                startup.push(line);
            }
        }
        if listening && (admin.is_some() || !want_admin) {
            return (child, port, admin, log, startup);
        }
        let _ = child.kill();
        let _ = child.wait();
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if attempt == 4 || !text.contains("cannot bind") {
            panic!("frontdesk did not start:\n{text}");
        }
    }
    unreachable!("start loop returns or panics")
}

/// [`BASE_CONFIG`] plus `extra`. Top-level keys at the start of `extra`
/// (before its first `[table]` header, e.g. `code_ttl_secs = 1`) go above
/// BASE_CONFIG, since TOML cannot return to the root table after
/// BASE_CONFIG's `[[users]]`.
fn compose_config(extra: &str) -> String {
    let split = extra
        .lines()
        .scan(0, |at, l| {
            let start = *at;
            *at += l.len() + 1;
            Some((start, l))
        })
        .find(|(_, l)| l.trim_start().starts_with('['))
        .map_or(extra.len(), |(at, _)| at);
    let (top, rest) = extra.split_at(split);
    format!("{top}\n{BASE_CONFIG}\n{rest}")
}

impl Server {
    /// Starts a server with [`BASE_CONFIG`] plus `extra` TOML. Returns `None`
    /// when the backend is not available (PostgreSQL without its env var).
    pub async fn start(backend: Backend, extra: &str) -> Option<Server> {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Database::new(backend, dir.path()).await?;
        Some(Server::start_in(dir, &db.url, extra))
    }

    /// Starts a server on a given database and data directory.
    pub fn start_in(dir: tempfile::TempDir, db_url: &str, extra: &str) -> Server {
        Server::start_as(dir, db_url, None, extra)
    }

    /// [`Server::start_in`] with the issuer of another node (`None`: its
    /// own address), as nodes behind one load balancer are.
    pub fn start_as(
        dir: tempfile::TempDir,
        db_url: &str,
        issuer: Option<&str>,
        extra: &str,
    ) -> Server {
        let config = compose_config(extra);
        let (child, port, admin, log, startup) =
            spawn_server(dir.path(), db_url, &config, "127.0.0.1:0", true, issuer);
        Server {
            base: format!("http://127.0.0.1:{port}"),
            admin: admin.unwrap_or_default(),
            db_url: db_url.to_owned(),
            dir,
            http: http_client(),
            child,
            log,
            startup,
        }
    }

    /// [`Server::start_in`] with the issuer `http://localhost:PORT` (still
    /// listening on 127.0.0.1), for WebAuthn: an IP address is not a valid
    /// relying party ID, and `localhost` is a secure context.
    pub fn start_localhost(dir: tempfile::TempDir, db_url: &str, extra: &str) -> Server {
        let mut s = Server::start_as(dir, db_url, Some("http://localhost:{port}"), extra);
        s.base = s.base.replacen("http://127.0.0.1:", "http://localhost:", 1);
        s
    }

    /// Starts a server with [`BASE_CONFIG`] minus its `admin_token`, plus
    /// `extra`, with the admin listener pointed at a free port. `admin` is
    /// the URL the admin API would have had; nothing should listen there.
    pub fn start_without_admin(dir: tempfile::TempDir, db_url: &str, extra: &str) -> Server {
        let base: String = BASE_CONFIG
            .lines()
            .filter(|l| !l.starts_with("admin_token"))
            .map(|l| format!("{l}\n"))
            .collect();
        let config = format!("{base}\n{extra}");
        let admin_port = free_port();
        let (child, port, admin, log, startup) = spawn_server(
            dir.path(),
            db_url,
            &config,
            &format!("127.0.0.1:{admin_port}"),
            false,
            None,
        );
        assert_eq!(admin, None, "no admin listener without an admin token");
        Server {
            base: format!("http://127.0.0.1:{port}"),
            admin: format!("http://127.0.0.1:{admin_port}"),
            db_url: db_url.to_owned(),
            dir,
            http: http_client(),
            child,
            log,
            startup,
        }
    }

    /// Stops the server (SIGKILL) and starts it again on the same data
    /// directory and database with [`BASE_CONFIG`] plus `extra`. The public
    /// port, and so the issuer, change.
    pub fn restart(&mut self, extra: &str) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let config = compose_config(extra);
        let (child, port, admin, log, startup) = spawn_server(
            self.dir.path(),
            &self.db_url,
            &config,
            "127.0.0.1:0",
            true,
            None,
        );
        self.child = child;
        self.base = format!("http://127.0.0.1:{port}");
        self.admin = admin.unwrap_or_default();
        self.log = log;
        self.startup = startup;
    }

    /// Sends SIGTERM and waits up to `timeout` for the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let child = &mut self.child;
        wait_blocking(timeout, || child.try_wait().ok().flatten())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Everything the server has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs a CLI command against this server's database and data dir.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> std::process::Output {
        cli_in(self.dir.path(), &self.db_url, args, stdin)
    }

    /// POSTs a form with optional Basic credentials.
    pub async fn post_form(
        &self,
        path: &str,
        basic: Option<(&str, &str)>,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut req = self
            .http
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some((id, secret)) = basic {
            req = req.header("authorization", basic_header(id, secret));
        }
        req.send().await.expect("request")
    }

    /// A client-credentials token for `order-service`.
    pub async fn m2m_token(&self, extra: &[(&str, &str)]) -> Value {
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend_from_slice(extra);
        let r = self
            .post_form(
                "/token",
                Some(("order-service", "order-service-secret-0123456789")),
                &form,
            )
            .await;
        assert_eq!(r.status(), 200);
        r.json().await.expect("json")
    }

    /// An opaque client-credentials token for `opaque-client` (stored by
    /// hash, so it is a row the sweeper removes at its expiry).
    pub async fn opaque_token(&self) -> Value {
        let r = self
            .post_form(
                "/token",
                Some(("opaque-client", "opaque-client-secret-0123456789")),
                &[("grant_type", "client_credentials")],
            )
            .await;
        assert_eq!(r.status(), 200);
        r.json().await.expect("json")
    }

    /// `GET path` on the public listener, as JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        let r = self.http.get(self.url(path)).send().await.expect("request");
        r.json().await.expect("json")
    }

    /// The status `/userinfo` answers for the bearer token `at`.
    pub async fn userinfo_status(&self, at: &str) -> u16 {
        self.http
            .get(self.url("/userinfo"))
            .bearer_auth(at)
            .send()
            .await
            .expect("userinfo request")
            .status()
            .as_u16()
    }

    /// Introspects `token` as `order-service`.
    pub async fn introspect(&self, token: &str) -> Value {
        let r = self
            .post_form(
                "/introspect",
                Some(("order-service", "order-service-secret-0123456789")),
                &[("token", token)],
            )
            .await;
        assert_eq!(r.status(), 200);
        r.json().await.expect("json")
    }

    /// An admin API call: its status and JSON body (`null` when empty).
    pub async fn admin_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let r = self.admin_req(method, path, body).await;
        let status = r.status().as_u16();
        let text = r.text().await.expect("admin body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// [`Server::admin_call`] that must answer `want`; the body.
    pub async fn admin_expect(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        want: u16,
    ) -> Value {
        let (status, v) = self.admin_call(method, path, body).await;
        assert_eq!(status, want, "{path}: {v}");
        v
    }

    pub async fn admin_req(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut req = self
            .http
            .request(method, format!("{}{}", self.admin, path))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("admin request")
    }
}

pub fn cli_in(
    dir: &Path,
    db_url: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(bin())
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--database")
        .arg(db_url)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn cli");
    if let Some(mut input) = child.stdin.take()
        && let Some(s) = stdin
    {
        input.write_all(s.as_bytes()).expect("stdin");
    }
    child.wait_with_output().expect("cli output")
}

/// RFC 6749 §2.3.1: form-encode, then Basic.
pub fn basic_header(id: &str, secret: &str) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let raw = format!("{}:{}", enc(id), enc(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// Decodes a JWT's header and payload without verifying (for assertions).
pub fn jwt_parts(token: &str) -> (Value, Value) {
    let mut it = token.split('.');
    let dec = |s: &str| -> Value {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .expect("b64");
        serde_json::from_slice(&bytes).expect("json")
    };
    let h = dec(it.next().expect("header"));
    let p = dec(it.next().expect("payload"));
    (h, p)
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Defines `NAME::sqlite` and `NAME::postgres` tests from
/// `async fn NAME(s: &Server)`, each on a fresh server and database.
/// `both!(with_db NAME)` instead calls `async fn NAME(dir: TempDir, db:
/// Database)` with a fresh data directory and database, for tests that start
/// (or restart) servers themselves.
#[macro_export]
macro_rules! both {
    (with_db $name:ident) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let dir = tempfile::tempdir().expect("tempdir");
                let db =
                    $crate::support::Database::new($crate::support::Backend::Sqlite, dir.path())
                        .await
                        .expect("sqlite is always available");
                super::$name(dir, db).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let dir = tempfile::tempdir().expect("tempdir");
                match $crate::support::Database::new($crate::support::Backend::Postgres, dir.path())
                    .await
                {
                    Some(db) => super::$name(dir, db).await,
                    None => eprintln!("skipped: FRONTDESK_TEST_POSTGRES_URL not set"),
                }
            }
        }
    };
    ($name:ident) => {
        $crate::both!($name, "");
    };
    ($name:ident, $extra:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let s = $crate::support::Server::start($crate::support::Backend::Sqlite, $extra)
                    .await
                    .expect("sqlite is always available");
                super::$name(&s).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                match $crate::support::Server::start($crate::support::Backend::Postgres, $extra)
                    .await
                {
                    Some(s) => super::$name(&s).await,
                    None => eprintln!("skipped: FRONTDESK_TEST_POSTGRES_URL not set"),
                }
            }
        }
    };
}

/// Polls `check` until it returns `Some` or `timeout` passes, for a state
/// another process reaches on its own time (a port, a process, a log line
/// flushed to disk, another process's cache) — never for expiry: expiry is
/// tested with a fixed clock in crates/core/tests. Every asynchronous wait
/// of that kind goes through here, so the suite has one polling pause.
pub async fn wait_until<T>(
    timeout: Duration,
    mut check: impl AsyncFnMut() -> Option<T>,
) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        // The pause between two looks at another process's state.
        tokio::time::sleep(POLL).await;
    }
}

/// How often [`wait_until`] and [`wait_blocking`] look again.
const POLL: Duration = Duration::from_millis(50);

/// [`wait_until`] for a check that says why it is not there yet: panics
/// with `what` and the last `Err` when `within` passes.
pub async fn wait_for<T, E: std::fmt::Debug>(
    what: &str,
    within: Duration,
    mut check: impl AsyncFnMut() -> Result<T, E>,
) -> T {
    let mut last = None;
    let found = wait_until(within, async || match check().await {
        Ok(v) => Some(v),
        Err(e) => {
            last = Some(e);
            None
        }
    })
    .await;
    match found {
        Some(v) => v,
        None => panic!("{what}: still {last:?} after {within:?}"),
    }
}

/// [`wait_until`] for synchronous code (outside any runtime, e.g. in
/// `Drop`): `None` when `check` found nothing within `within`.
pub fn wait_blocking<T>(within: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        // The same pause, on a thread.
        std::thread::sleep(POLL);
    }
}

/// Waits at most `timeout` for `child` to exit and returns its output
/// (streams taken before stay empty). No polling: the wait blocks on a
/// thread; on timeout the process is killed and `None` returned.
pub fn exit_within(child: Child, timeout: Duration) -> Option<std::process::Output> {
    let pid = child.id().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok(out)) => Some(out),
        _ => {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            None
        }
    }
}

/// A response taken apart: status, headers, and the body as JSON (`Null`
/// when empty; anything else that is not JSON fails the test).
pub async fn parts(r: reqwest::Response) -> (u16, reqwest::header::HeaderMap, Value) {
    let status = r.status().as_u16();
    let h = r.headers().clone();
    let text = r.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}"))
    };
    (status, h, body)
}

/// The one `invalid_client` body (RFC 6749 §5.2): it never says which part
/// of the authentication failed.
pub fn invalid_client() -> Value {
    serde_json::json!({"error": "invalid_client", "error_description": "client authentication failed"})
}

/// RFC 6749 §5.1: token-endpoint style answers are never cached.
pub fn assert_no_store(h: &reqwest::header::HeaderMap) {
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["pragma"], "no-cache");
}

/// A test CA and a server certificate it issued for `san` (`IP:127.0.0.1`,
/// `DNS:id.example.com`), by the openssl command line, in `dir`. Returns
/// (CA certificate, server certificate, server key), PEM files.
pub fn test_certificates(dir: &Path, san: &str) -> (PathBuf, PathBuf, PathBuf) {
    let p = |name: &str| dir.join(name);
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-days",
                "2",
                "-subj",
                "/CN=frontdesk test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign",
                "-keyout",
                "ca-key.pem",
                "-out",
                "ca.pem",
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-subj",
                "/CN=frontdesk test server",
                "-keyout",
                "server-key.pem",
                "-out",
                "server.csr",
            ],
        ]
        .concat(),
    );
    std::fs::write(
        p("server.ext"),
        format!("basicConstraints=CA:FALSE\nsubjectAltName={san}\nextendedKeyUsage=serverAuth\n"),
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca-key.pem",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.ext",
        "-out",
        "server.pem",
    ]);
    (p("ca.pem"), p("server.pem"), p("server-key.pem"))
}
