//! The deployment of docs/deploy.md, run: Debian's nginx with
//! `deploy/nginx/frontdesk.conf` terminating TLS (a certificate from a test
//! CA) in front of frontdesk nodes started from `deploy/frontdesk.toml`,
//! each file used as it is but for its addresses, ports and paths. On
//! PostgreSQL two nodes share the database and nginx balances them; on
//! SQLite (one machine, one node) nginx has one node.
//!
//! Needs `/usr/sbin/nginx` (Debian's `nginx`). Without it the tests say
//! they skipped, unless `FRONTDESK_TEST_NGINX=required` or `CI=true` (as
//! in CI, whose `.ci/run` installs it), when they fail.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::both;
use crate::browser::{APP1, APP1_CB, Browser, SIGNIN_CONFIG, page, params, pkce, query, redirect};
use crate::gateway::{Proc, spawn_listening};
use crate::support::{
    ADMIN_TOKEN, Database, basic_header, bin, free_port, jwt_parts, test_certificates, wait_for,
};

const NGINX: &str = "/usr/sbin/nginx";
/// The public name of deploy/*: the certificate's, nginx's `server_name`,
/// the issuer's host (resolved to 127.0.0.1 by the test's client).
const HOST: &str = "id.example.com";
/// A user of [`SIGNIN_CONFIG`].
const BOB: (&str, &str) = ("bob", "bob-password-123456");
/// The address the test's client connects from: nginx sees it as the peer
/// and appends it to `X-Forwarded-For`; the nodes trust only 127.0.0.1
/// (nginx's side of its upstream connections), so this is the client.
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);
/// What the client claims itself in `X-Forwarded-For` and `Forwarded`:
/// neither may become the client address.
const FORGED_XFF: &str = "203.0.113.66";
const FORGED_FORWARDED: &str = "198.51.100.77";

/// Whether nginx is there; fails instead when CI requires it.
fn nginx_available() -> bool {
    if Path::new(NGINX).is_file() {
        return true;
    }
    let required = std::env::var("FRONTDESK_TEST_NGINX").as_deref() == Ok("required")
        || std::env::var("CI").as_deref() == Ok("true");
    assert!(
        !required,
        "{NGINX} is missing but required here (CI=true or FRONTDESK_TEST_NGINX=required): apt-get install nginx"
    );
    eprintln!("skipped: {NGINX} is missing (apt-get install nginx)");
    false
}

fn workspace_file(path: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// `text` with each `(from, to)` replaced everywhere; a `from` that is not
/// in `text` fails the test, so the deploy files and this test cannot drift
/// apart silently.
fn substitute(text: &str, pairs: &[(&str, &str)]) -> String {
    let mut out = text.to_owned();
    for (from, to) in pairs {
        assert!(out.contains(from), "{from:?} is not in the file any more");
        out = out.replace(from, to);
    }
    out
}

/// One node: `deploy/frontdesk.toml` with this test's addresses, secrets
/// and database, plus the sign-in suite's clients and users.
struct Node {
    proc: Proc,
    admin: String,
    /// The node's data directory and files, kept while it runs.
    _dir: tempfile::TempDir,
}

impl Node {
    fn start(issuer: &str, db_url: &str, kek_file: &Path) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("admin_token");
        std::fs::write(&token_file, ADMIN_TOKEN).unwrap();
        let admin_port = free_port();
        let admin = format!("127.0.0.1:{admin_port}");
        let data = dir.path().join("data");
        let config = substitute(
            &workspace_file("deploy/frontdesk.toml"),
            &[
                ("https://id.example.com", issuer),
                ("10.0.0.11:8080", "127.0.0.1:0"),
                ("127.0.0.1:8081", &admin),
                ("10.0.0.11:9464", "127.0.0.1:0"),
                (
                    "/run/credentials/frontdesk.service/admin_token",
                    token_file.to_str().unwrap(),
                ),
                (
                    "/run/credentials/frontdesk.service/kek",
                    kek_file.to_str().unwrap(),
                ),
                ("/var/lib/frontdesk", data.to_str().unwrap()),
                ("[\"10.0.0.10\"]", "[\"127.0.0.1\"]"),
                (
                    "postgres://frontdesk@db.internal:5432/frontdesk?sslmode=verify-full&sslrootcert=/etc/frontdesk/db-ca.pem",
                    db_url,
                ),
            ],
        );
        let path = dir.path().join("frontdesk.toml");
        std::fs::write(&path, format!("{config}\n{SIGNIN_CONFIG}")).unwrap();
        let proc = spawn_listening(
            dir.path(),
            "frontdesk",
            &["--config", path.to_str().unwrap(), "serve"],
        );
        Node {
            proc,
            admin: format!("http://{admin}"),
            _dir: dir,
        }
    }

    fn addr(&self) -> String {
        self.proc.base.trim_start_matches("http://").to_owned()
    }
}

/// nginx as the current user, on its own prefix, config and ports, in the
/// foreground; dropping it stops it (its process group, by the group's id).
struct Nginx {
    child: Child,
    prefix: tempfile::TempDir,
    http_port: u16,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let pgid = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &pgid]).status();
        let _ = self.child.wait();
    }
}

impl Nginx {
    /// `deploy/nginx/frontdesk.conf` in front of `upstreams`, inside an
    /// `http { }` block like the one of Debian's /etc/nginx/nginx.conf.
    async fn start(upstreams: &[String], https_port: u16, cert: &Path, key: &Path) -> Nginx {
        use std::os::unix::process::CommandExt;
        let prefix = tempfile::tempdir().unwrap();
        let p = |name: &str| prefix.path().join(name).to_str().unwrap().to_owned();
        let http_port = free_port();
        let second = "    server 10.0.0.12:8080 max_fails=1 fail_timeout=10s;\n";
        let upstream_b = match upstreams.get(1) {
            Some(b) => second.replace("10.0.0.12:8080", b),
            None => String::new(),
        };
        let site = substitute(
            &workspace_file("deploy/nginx/frontdesk.conf"),
            &[
                (second, &upstream_b),
                ("10.0.0.11:8080", &upstreams[0]),
                ("listen 80;", &format!("listen 127.0.0.1:{http_port};")),
                (
                    "listen 443 ssl http2;",
                    &format!("listen 127.0.0.1:{https_port} ssl http2;"),
                ),
                ("/var/log/nginx/frontdesk.access.log", &p("access.log")),
                ("/etc/ssl/certs/id.example.com.pem", cert.to_str().unwrap()),
                ("/etc/ssl/private/id.example.com.key", key.to_str().unwrap()),
            ],
        );
        std::fs::write(prefix.path().join("frontdesk.conf"), site).unwrap();
        // Debian's nginx.conf, as far as it touches this site (gzip on, its
        // TLS defaults), with this test's paths. As root (CI), the master
        // would hand its workers to `nobody`, who cannot enter the
        // temporary directory.
        let user = if running_as_root() { "user root;" } else { "" };
        let conf = format!(
            "{user}
worker_processes 1;
events {{ worker_connections 256; }}
http {{
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;
    access_log {http_log};
    gzip on;
    client_body_temp_path {body};
    proxy_temp_path {proxy};
    fastcgi_temp_path {fastcgi};
    uwsgi_temp_path {uwsgi};
    scgi_temp_path {scgi};
    include {site};
}}
",
            http_log = p("http-access.log"),
            body = p("body"),
            proxy = p("proxy"),
            fastcgi = p("fastcgi"),
            uwsgi = p("uwsgi"),
            scgi = p("scgi"),
            site = p("frontdesk.conf"),
        );
        std::fs::write(prefix.path().join("nginx.conf"), conf).unwrap();
        let child = Command::new(NGINX)
            .args(["-p", &p(""), "-c", &p("nginx.conf"), "-e", &p("error.log")])
            .args(["-g", &format!("daemon off; pid {};", p("nginx.pid"))])
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(prefix.path().join("stderr.log")).unwrap(),
            ))
            .process_group(0)
            .spawn()
            .expect("spawn nginx");
        let mut nginx = Nginx {
            child,
            prefix,
            http_port,
        };
        let what = format!("nginx listening on 127.0.0.1:{https_port}");
        wait_for(&what, Duration::from_secs(10), async || {
            if let Ok(Some(status)) = nginx.child.try_wait() {
                panic!("nginx exited ({status}):\n{}", nginx.log("stderr.log"));
            }
            tokio::net::TcpStream::connect(("127.0.0.1", https_port))
                .await
                .map_err(|e| format!("{e}; {}", nginx.log("error.log")))
        })
        .await;
        nginx
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.prefix.path().join(name)).unwrap_or_default()
    }
}

/// The owner of /proc/self is the effective user.
fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// A client of `https://id.example.com:PORT` that trusts the test CA,
/// connects from [`CLIENT_IP`] and forges both forwarding headers.
fn https_client(ca: &Path, port: u16, cookies: bool) -> reqwest::Client {
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
    let mut forged = reqwest::header::HeaderMap::new();
    forged.insert("x-forwarded-for", FORGED_XFF.parse().unwrap());
    forged.insert(
        "forwarded",
        format!("for={FORGED_FORWARDED}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .resolve(HOST, SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .local_address(IpAddr::V4(CLIENT_IP))
        .default_headers(forged)
        .cookie_store(cookies)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A whole sign-in through nginx: discovery, `/authorize`, the login form,
/// consent (unless the user `consented` before: it is remembered), the
/// code at `/token`, then a refresh. Returns the token response of the code.
async fn sign_in(issuer: &str, http: reqwest::Client, consented: bool) -> Value {
    let discovery: Value = http
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], issuer);
    assert_eq!(
        discovery["authorization_endpoint"],
        format!("{issuer}/authorize")
    );
    let token_endpoint = discovery["token_endpoint"].as_str().unwrap().to_owned();
    assert_eq!(token_endpoint, format!("{issuer}/token"));

    let b = Browser {
        http: http.clone(),
        base: issuer.to_owned(),
    };
    let (verifier, challenge) = pkce();
    let scope = "openid profile offline_access";
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params(APP1.0, APP1_CB, &challenge, &[("scope", scope)]))
        .finish();
    let login = page(b.get(&format!("{issuer}/authorize?{q}")).await);
    assert_eq!(login.status, 200, "{}", login.body);
    assert!(login.body.contains("name=\"password\""), "{}", login.body);
    // https issuer: the CSRF cookie is a __Host- cookie, Secure.
    let csrf_cookie = login
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("__Host-fd_csrf="))
        .unwrap_or_else(|| panic!("no __Host-fd_csrf cookie: {:?}", login.headers));
    assert!(csrf_cookie.contains("Secure"), "{csrf_cookie}");
    let after_login = b.login(&login, BOB).await;
    let cb = if consented {
        redirect(after_login)
    } else {
        let consent = page(after_login);
        assert!(
            consent.body.contains("action=\"/consent\""),
            "{}",
            consent.body
        );
        redirect(b.consent(&consent, "approve").await)
    };
    assert!(cb.as_str().starts_with(APP1_CB), "{cb}");
    assert_eq!(query(&cb, "iss").as_deref(), Some(issuer));
    let code = query(&cb, "code").unwrap();

    let token = |form: Vec<(&'static str, String)>| {
        let http = http.clone();
        let url = token_endpoint.clone();
        async move {
            let r = http
                .post(url)
                .header("authorization", basic_header(APP1.0, APP1.1))
                .form(&form)
                .send()
                .await
                .unwrap();
            let status = r.status();
            let body: Value = r.json().await.unwrap();
            assert_eq!(status, 200, "{body}");
            body
        }
    };
    let tokens = token(vec![
        ("grant_type", "authorization_code".into()),
        ("code", code),
        ("redirect_uri", APP1_CB.into()),
        ("code_verifier", verifier),
    ])
    .await;
    let (_, id_token) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["iss"], issuer);
    assert_eq!(id_token["aud"], APP1.0);
    let refreshed = token(vec![
        ("grant_type", "refresh_token".into()),
        (
            "refresh_token",
            tokens["refresh_token"].as_str().unwrap().into(),
        ),
    ])
    .await;
    assert!(refreshed["access_token"].is_string(), "{refreshed}");
    tokens
}

/// N nodes (two on PostgreSQL, one on SQLite) behind nginx with an https
/// issuer: discovery and a whole sign-in through nginx; the nodes took
/// turns; the client address the nodes log, throttle and audit on is the
/// one nginx appended, never a forged header; nginx's limits, TLS
/// headers, redirect and log format are the deploy file's; and with one of
/// two nodes stopped, sign-in keeps working through the other.
async fn nodes_behind_nginx(dir: tempfile::TempDir, db: Database) {
    if !nginx_available() {
        return;
    }
    let nodes_wanted = if db.url.starts_with("postgres") { 2 } else { 1 };
    let (ca, cert, key) = test_certificates(dir.path(), &format!("DNS:{HOST}"));
    let kek_file = dir.path().join("kek");
    std::fs::write(
        &kek_file,
        frontdesk_core::secret::random_string(32).unwrap(),
    )
    .unwrap();
    let https_port = free_port();
    let issuer = format!("https://{HOST}:{https_port}");
    let mut nodes: Vec<Node> = (0..nodes_wanted)
        .map(|_| Node::start(&issuer, &db.url, &kek_file))
        .collect();
    let upstreams: Vec<String> = nodes.iter().map(Node::addr).collect();
    let nginx = Nginx::start(&upstreams, https_port, &cert, &key).await;
    let http = https_client(&ca, https_port, false);

    let tokens = sign_in(&issuer, https_client(&ca, https_port, true), false).await;
    assert!(tokens["access_token"].is_string(), "{tokens}");

    // Every node served part of it (nginx's round robin), and each saw the
    // client nginx appended, none of the forged addresses.
    let client = CLIENT_IP.to_string();
    for (i, node) in nodes.iter().enumerate() {
        let log = node.proc.log();
        assert!(
            log.contains(&format!("\"client\":\"{client}\"")),
            "node {i} served no request from {client}:\n{log}"
        );
        for forged in [FORGED_XFF, FORGED_FORWARDED] {
            assert!(!log.contains(forged), "node {i} believed {forged}:\n{log}");
        }
    }
    let access = nginx.log("access.log");
    for up in &upstreams {
        assert!(
            access.contains(&format!("node={up}")),
            "nginx sent nothing to {up}:\n{access}"
        );
    }
    // The access log names paths only: no query string (state, hints).
    assert!(!access.contains("st-123"), "{access}");
    assert!(!access.contains('?'), "{access}");

    // The audit trail (and so the login throttle, which keys the same
    // ClientAddr) has the forwarded client.
    let audit: Value = reqwest::Client::new()
        .get(format!("{}/admin/audit?kind=login.success", nodes[0].admin))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let events = audit["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{audit}");
    assert_eq!(events[0]["peer"], client, "{audit}");

    // TLS is nginx's: HSTS on every answer, no gzip on pages with CSRF
    // tokens (Debian's nginx.conf turns it on), 64 KiB bodies at most,
    // plain http sent to https, and the nodes' admin and metrics listeners
    // are not behind it (they answer on their own addresses).
    let (_, challenge) = pkce();
    let q = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params(APP1.0, APP1_CB, &challenge, &[]))
        .finish();
    let r = http
        .get(format!("{issuer}/authorize?{q}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let login = r.headers()["location"].to_str().unwrap().to_owned();
    let r = http
        .get(format!("{issuer}{login}"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["strict-transport-security"], "max-age=63072000");
    assert!(r.headers().get("content-encoding").is_none(), "{r:?}");
    assert!(r.text().await.unwrap().contains("name=\"csrf\""));
    let r = http
        .post(format!("{issuer}/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&x={}",
            "a".repeat(70_000)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    // nginx's own page: the body never reached a node.
    let body = r.text().await.unwrap();
    assert!(body.contains("413 Request Entity Too Large"), "{body}");
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("http://127.0.0.1:{}/authorize", nginx.http_port))
        .header("host", HOST)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 301);
    assert_eq!(r.headers()["location"], format!("https://{HOST}/authorize"));
    for path in ["/admin/clients", "/metrics"] {
        let r = http.get(format!("{issuer}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path} through nginx");
    }
    let metrics = nodes[0].proc.metrics.clone().expect("metrics_listen is on");
    let r = reqwest::get(&metrics).await.unwrap();
    assert_eq!(r.status(), 200, "{metrics}");
    let r = reqwest::Client::new()
        .get(format!("{}/admin/clients", nodes[0].admin))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    if nodes.len() < 2 {
        return;
    }
    // One node stops (its port refuses): nginx's passive check moves every
    // request to the other, and a new sign-in goes through whole.
    let stopped = nodes.pop().unwrap();
    let stopped_addr = stopped.addr();
    drop(stopped);
    let tokens = sign_in(&issuer, https_client(&ca, https_port, true), true).await;
    assert!(tokens["refresh_token"].is_string(), "{tokens}");
    let errors = nginx.log("error.log");
    assert!(
        errors.contains("Connection refused") && errors.contains(&stopped_addr),
        "nginx never tried the stopped node {stopped_addr}:\n{errors}"
    );
}
both!(with_db nodes_behind_nginx);

/// `deploy/frontdesk.service` parses (`systemd-analyze verify`, with
/// ExecStart pointed at this build) and its hardening keeps systemd's
/// exposure score at "OK" or better (`systemd-analyze security`, ≤ 2.0).
/// Skipped without systemd-analyze.
#[test]
fn the_systemd_unit_parses_and_is_hardened() {
    let analyze = "/usr/bin/systemd-analyze";
    if !Path::new(analyze).is_file() {
        eprintln!("skipped: {analyze} is missing");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let unit: PathBuf = dir.path().join("frontdesk.service");
    let text = substitute(
        &workspace_file("deploy/frontdesk.service"),
        &[("/usr/local/bin/frontdesk", bin())],
    );
    std::fs::write(&unit, text).unwrap();
    let out = Command::new(analyze)
        .arg("verify")
        .arg(&unit)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "systemd-analyze verify: {stderr}");
    assert!(
        !stderr.contains("frontdesk.service"),
        "systemd-analyze verify complains: {stderr}"
    );
    let out = Command::new(analyze)
        .args(["security", "--offline=yes"])
        .arg(&unit)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let score: f64 = stdout
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for frontdesk.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in: {stdout}"));
    assert!(score <= 2.0, "exposure {score}:\n{stdout}");
}
