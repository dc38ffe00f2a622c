//! `frontdesk gateway` in front of `frontdesk demo-api`, with the real
//! server: every refusal of RFC 6750 §3, identity forwarding, the
//! local-vs-introspection trade-off on revocation, key rotation, and the
//! gateway's own errors. All over real HTTP, on both databases.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use frontdesk_core::store::Store as _;
use frontdesk_jose::SigningKey;
use serde_json::{Value, json};

use crate::both;
use crate::support::{
    BASE_CONFIG, Backend, Database, PAYMENTS, PHOTOS, Server, bin, cli_in, jwt_parts, wait_until,
};

/// Short JWKS max-age and pre-publication, so a rotation completes in
/// seconds. Top-level keys, so they go before BASE_CONFIG's tables.
const ROTATION: &str = "jwks_max_age_secs = 1\nkey_prepublish_secs = 3\nlog_level = \"warn\"\n";

/// A child process (gateway or demo API) killed on drop.
pub struct Proc {
    child: Child,
    pub base: String,
    /// `http://ADDR/metrics` when it printed `metrics on …` first.
    pub metrics: Option<String>,
    log: PathBuf,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Runs `frontdesk ARGS…` until it prints `listening on http://ADDR`.
pub fn spawn_listening(dir: &Path, name: &str, args: &[&str]) -> Proc {
    let mut cmd = Command::new(bin());
    cmd.args(args);
    spawn_command(dir, name, cmd)
}

/// Runs `cmd` until it prints `listening on http://ADDR`.
pub fn spawn_command(dir: &Path, name: &str, mut cmd: Command) -> Proc {
    let log = dir.join(format!("{name}.log"));
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut metrics = None;
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) => {
                if let Some(m) = line.strip_prefix("metrics on ") {
                    metrics = Some(m.to_owned());
                }
                if let Some(base) = line.strip_prefix("listening on ") {
                    return Proc {
                        child,
                        base: base.to_owned(),
                        metrics,
                        log,
                    };
                }
            }
            Err(_) => {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "{name} did not start:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
}

/// `frontdesk gateway` with `toml` as its `gateway.toml` in `dir`.
pub fn spawn_gateway(dir: &Path, toml: &str) -> Proc {
    let cfg = dir.join("gateway.toml");
    std::fs::write(&cfg, toml).unwrap();
    spawn_listening(
        dir,
        "gateway",
        &["gateway", "--config", cfg.to_str().unwrap()],
    )
}

pub fn demo_api(dir: &Path, extra: &[&str]) -> Proc {
    let mut args = vec!["demo-api", "--listen", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    spawn_listening(dir, "demo-api", &args)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The gateway, the demo API behind it, and two broken upstreams.
struct Env {
    gw: Proc,
    demo: Proc,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
    /// Accepts connections (kernel backlog) and never answers: 504.
    _blackhole: std::net::TcpListener,
}

fn gateway_toml(issuer: &str, demo: &str, blackhole: u16, closed: u16) -> String {
    format!(
        r#"
listen = "127.0.0.1:0"
issuer = "{issuer}"
client_id = "order-service"
client_secret = "order-service-secret-0123456789"
leeway_secs = 1
upstream_timeout_secs = 1
log_level = "info"
metrics_listen = "127.0.0.1:0"

[[routes]]
method = "GET"
path_prefix = "/photos"
upstream = "{demo}"
audience = "{PHOTOS}"
scopes = ["photos:read"]
mode = "local"

[[routes]]
method = "POST"
path_prefix = "/charges"
upstream = "{demo}"
audience = "{PAYMENTS}"
scopes = ["charge:customer"]
mode = "introspect"

[[routes]]
method = "GET"
path_prefix = "/charges"
upstream = "{demo}"
audience = "{PAYMENTS}"
scopes = ["charge:customer"]
mode = "introspect-cached"
cache_ttl_secs = 30

[[routes]]
method = "GET"
path_prefix = "/health"
upstream = "{demo}"
audience = "{PHOTOS}"
mode = "local"
forward_token = true

[[routes]]
method = "*"
path_prefix = "/slow"
upstream = "http://127.0.0.1:{blackhole}"
audience = "{PHOTOS}"

[[routes]]
method = "*"
path_prefix = "/down"
upstream = "http://127.0.0.1:{closed}"
audience = "{PHOTOS}"
"#
    )
}

impl Env {
    fn start(s: &Server) -> Env {
        Env::start_for(&s.base)
    }

    fn start_for(issuer: &str) -> Env {
        let dir = tempfile::tempdir().unwrap();
        let demo = demo_api(dir.path(), &[]);
        let blackhole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let bh_port = blackhole.local_addr().unwrap().port();
        let gw = spawn_gateway(
            dir.path(),
            &gateway_toml(issuer, &demo.base, bh_port, free_port()),
        );
        Env {
            gw,
            demo,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            _dir: dir,
            _blackhole: blackhole,
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.gw.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if method == reqwest::Method::POST {
            req = req
                .header("content-type", "application/json")
                .body(r#"{"amount":1250}"#);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let h = r.headers().clone();
        let text = r.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, h, body)
    }

    async fn get(
        &self,
        path: &str,
        token: Option<&str>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        self.call(reqwest::Method::GET, path, token, &[]).await
    }

    async fn metrics(&self) -> String {
        self.http
            .get(self.gw.metrics.as_deref().unwrap())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no metric {name} in\n{text}"))
}

async fn token(s: &Server, form: &[(&str, &str)]) -> String {
    s.m2m_token(form).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn www(h: &reqwest::header::HeaderMap) -> Option<&str> {
    h.get("www-authenticate").map(|v| v.to_str().unwrap())
}

/// The server's own private key for `kid`, read from its database with the
/// key-encryption key it generated in its data directory. Tests use it to
/// sign tokens that differ from real ones in exactly one checked property
/// (issuer, `typ`).
pub async fn server_key(s: &Server, kid: &str) -> SigningKey {
    let text = std::fs::read_to_string(s.dir.path().join("data/kek")).unwrap();
    let bytes: [u8; 32] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim())
        .unwrap()
        .try_into()
        .unwrap();
    let db = frontdesk_store::Db::connect(&s.db_url).await.unwrap();
    let stored = db.signing_keys().await.unwrap();
    db.close().await;
    let k = stored.iter().find(|k| k.kid == kid).expect("kid in store");
    let kek = frontdesk_core::keys::Kek::new(&bytes).unwrap();
    let der = kek.open(&k.kid, &k.encrypted_private).unwrap();
    SigningKey::from_pkcs8(k.alg.parse().unwrap(), &der).unwrap()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn admits_valid_tokens_and_forwards_only_the_verified_identity(s: &Server) {
    let env = Env::start(s);
    let photos = token(s, &[("scope", "photos:read"), ("resource", PHOTOS)]).await;

    // Spoofed identity headers in any letter case are dropped; the token is not forwarded.
    let (status, h, body) = env
        .call(
            reqwest::Method::GET,
            "/photos",
            Some(&photos),
            &[
                ("X-Frontdesk-Sub", "admin"),
                ("x-FRONTDESK-client-id", "evil"),
                ("X-Frontdesk-Extra", "1"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["api"], "photos");
    assert_eq!(
        body["received"]["x_frontdesk"],
        json!({
            "x-frontdesk-sub": "order-service",
            "x-frontdesk-client-id": "order-service",
            "x-frontdesk-scope": "photos:read",
            "x-frontdesk-via": "local",
        })
    );
    assert_eq!(
        body["received"]["authorization"], false,
        "the token stays at the gateway"
    );
    assert!(h["via"].to_str().unwrap().contains("frontdesk-gateway"));

    // A route with forward_token = true passes it on.
    let (status, _, body) = env.get("/health", Some(&photos)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["received"]["authorization"], true);

    // High risk: introspection.
    let pay = token(s, &[("scope", "charge:customer"), ("resource", PAYMENTS)]).await;
    let (status, _, body) = env
        .call(reqwest::Method::POST, "/charges", Some(&pay), &[])
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["caller"]["via"], "gateway/introspection");
    assert_eq!(body["charge"]["amount"], 1250);
    let (status, _, body) = env.get("/charges", Some(&pay)).await;
    assert_eq!(
        (status, &body["caller"]["via"]),
        (200, &json!("gateway/introspection"))
    );
    let (status, _, body) = env.get("/charges", Some(&pay)).await;
    assert_eq!(
        (status, &body["caller"]["via"]),
        (200, &json!("gateway/introspection_cache"))
    );

    // The same token again on a local route: answered from the memory of
    // verified tokens, with the same identity.
    let (status, _, body) = env.get("/photos", Some(&photos)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["received"]["x_frontdesk"]["x-frontdesk-sub"],
        "order-service"
    );

    // Counted by mode (and logged).
    let m = env.metrics().await;
    assert_eq!(
        metric(
            &m,
            r#"frontdesk_gateway_admitted_total{mode="local",via="local"}"#
        ),
        3
    );
    // /photos and /health each verified the signature once (one memory per route).
    assert_eq!(
        metric(
            &m,
            r#"frontdesk_gateway_local_checks_total{result="verified"}"#
        ),
        2
    );
    assert_eq!(
        metric(
            &m,
            r#"frontdesk_gateway_local_checks_total{result="cache_hit"}"#
        ),
        1
    );
    assert_eq!(
        metric(
            &m,
            r#"frontdesk_gateway_admitted_total{mode="introspect",via="introspection"}"#
        ),
        1
    );
    assert_eq!(
        metric(
            &m,
            r#"frontdesk_gateway_admitted_total{mode="introspect-cached",via="introspection"}"#
        ),
        1
    );
    assert_eq!(
        metric(
            &m,
            r#"frontdesk_gateway_admitted_total{mode="introspect-cached",via="introspection_cache"}"#
        ),
        1
    );
    // The gateway's log reaches its file on the gateway's own time.
    let logged = |log: &str| log.contains("admitted") && log.contains("mode=\"introspect\"");
    let log = wait_until(Duration::from_secs(5), async || {
        Some(env.gw.log()).filter(|l| logged(l))
    })
    .await
    .unwrap_or_else(|| env.gw.log());
    assert!(logged(&log), "{log}");
    assert!(
        !log.contains(&photos) && !log.contains(&pay),
        "tokens never reach the log"
    );
    // The demo trusts headers only from the gateway; called directly without them it refuses.
    let r = env
        .http
        .get(format!("{}/photos", env.demo.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}
both!(admits_valid_tokens_and_forwards_only_the_verified_identity);

async fn refuses_every_bad_token_per_rfc6750(s: &Server) {
    let env = Env::start(s);
    let invalid = Some(r#"Bearer error="invalid_token""#);
    let good = token(s, &[("scope", "photos:read"), ("resource", PHOTOS)]).await;
    let (header, claims) = jwt_parts(&good);
    let kid = header["kid"].as_str().unwrap().to_owned();
    let key = server_key(s, &kid).await;
    let (h64, p64, _) = {
        let mut it = good.split('.');
        (
            it.next().unwrap().to_owned(),
            it.next().unwrap().to_owned(),
            it.next().unwrap().to_owned(),
        )
    };

    // No token: a bare challenge (RFC 6750 §3.1).
    let (status, h, body) = env.get("/photos", None).await;
    assert_eq!(
        (status, www(&h)),
        (401, Some(r#"Bearer, DPoP algs="ES256 EdDSA PS256 RS256""#))
    );
    assert_eq!(body["error"], "unauthorized");
    assert_eq!(h["content-type"], "application/json");

    let mut cases: Vec<(&str, String, u16, Option<&str>)> = Vec::new();

    // Expired: a client whose tokens live 1 s, for this audience.
    let out = s.cli(
        &[
            "clients",
            "create",
            "--name",
            "Short",
            "--client-id",
            "short-photos",
            "--grant-type",
            "client_credentials",
            "--scope",
            "photos:read",
            "--audience",
            PHOTOS,
            "--access-token-ttl",
            "1",
            "--json",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = s
        .post_form(
            "/token",
            Some(("short-photos", created["client_secret"].as_str().unwrap())),
            &[("grant_type", "client_credentials")],
        )
        .await;
    let short: Value = r.json().await.unwrap();
    let short = short["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        env.get("/photos", Some(&short)).await.0,
        200,
        "valid while fresh"
    );
    // A real clock is the point: the gateway, another process, compares
    // `exp` with its own clock (ttl 1 s + leeway 1 s, whole seconds).
    tokio::time::sleep(Duration::from_millis(3200)).await;
    cases.push(("expired", short, 401, invalid));

    cases.push((
        "wrong audience",
        token(s, &[("scope", "photos:read"), ("resource", PAYMENTS)]).await,
        401,
        invalid,
    ));
    let mut foreign = claims.clone();
    foreign["iss"] = json!("https://evil.example.com");
    cases.push((
        "wrong issuer",
        key.sign(Some("at+jwt"), &foreign).unwrap(),
        401,
        invalid,
    ));
    let mut trailing = claims.clone();
    trailing["iss"] = json!(format!("{}/", s.base));
    cases.push((
        "issuer with a trailing slash",
        key.sign(Some("at+jwt"), &trailing).unwrap(),
        401,
        invalid,
    ));
    cases.push((
        "missing scope",
        token(s, &[("scope", "charge:customer"), ("resource", PHOTOS)]).await,
        403,
        Some(r#"Bearer error="insufficient_scope", scope="photos:read""#),
    ));
    let mut tampered_claims = claims.clone();
    tampered_claims["scope"] = json!("photos:read admin");
    let tampered = format!(
        "{h64}.{}.{}",
        b64(tampered_claims.to_string().as_bytes()),
        good.rsplit('.').next().unwrap()
    );
    cases.push(("tampered payload", tampered, 401, invalid));
    let mut sig_flip = good.clone();
    let last = sig_flip.pop().unwrap();
    sig_flip.push(if last == 'A' { 'B' } else { 'A' });
    cases.push(("tampered signature", sig_flip, 401, invalid));
    for none in ["none", "None", "NONE"] {
        let h = b64(json!({"alg": none, "typ": "at+jwt", "kid": kid})
            .to_string()
            .as_bytes());
        cases.push(("alg none", format!("{h}.{p64}."), 401, invalid));
    }
    // HS256 keyed with the public key, in the encodings an attacker would try.
    let jwks: Value = s
        .http
        .get(s.url("/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .unwrap()
        .clone();
    let xy = [
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwk["x"].as_str().unwrap())
            .unwrap(),
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(jwk["y"].as_str().unwrap())
            .unwrap(),
    ]
    .concat();
    for secret in [jwk.to_string().into_bytes(), xy] {
        let h = b64(json!({"alg": "HS256", "typ": "at+jwt", "kid": kid})
            .to_string()
            .as_bytes());
        let input = format!("{h}.{p64}");
        let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret);
        let sig = aws_lc_rs::hmac::sign(&k, input.as_bytes());
        cases.push((
            "HS256 with the public key",
            format!("{input}.{}", b64(sig.as_ref())),
            401,
            invalid,
        ));
    }
    // Signed by the real key, but typed as an ID token (or untyped).
    cases.push((
        "typ JWT (ID token)",
        key.sign(Some("JWT"), &claims).unwrap(),
        401,
        invalid,
    ));
    cases.push(("no typ", key.sign(None, &claims).unwrap(), 401, invalid));
    // Signed by a key frontdesk never published.
    let (stranger, _) = SigningKey::generate(frontdesk_jose::Algorithm::ES256).unwrap();
    cases.push((
        "unknown kid",
        stranger.sign(Some("at+jwt"), &claims).unwrap(),
        401,
        invalid,
    ));
    cases.push(("garbage", "not-a-jwt".to_owned(), 401, invalid));

    for (name, t, status, challenge) in &cases {
        let (got, h, body) = env.get("/photos", Some(t)).await;
        assert_eq!(got, *status, "{name}: {body}");
        assert_eq!(www(&h), *challenge, "{name}");
        let expected = if *status == 403 {
            "insufficient_scope"
        } else {
            "invalid_token"
        };
        assert_eq!(body["error"], expected, "{name}");
        assert!(
            !body["error_description"]
                .as_str()
                .unwrap()
                .contains("signature"),
            "{name}: which check failed stays in the log"
        );
    }
    // The real token still passes after all that.
    assert_eq!(env.get("/photos", Some(&good)).await.0, 200);

    // A flood of forged kids does not turn the gateway into a JWKS-fetch amplifier.
    let before = metric(&env.metrics().await, "frontdesk_gateway_jwks_fetches_total");
    let mut tasks = Vec::new();
    for _ in 0..30 {
        let (k, _) = SigningKey::generate(frontdesk_jose::Algorithm::ES256).unwrap();
        let t = k.sign(Some("at+jwt"), &claims).unwrap();
        let (http, url) = (env.http.clone(), format!("{}/photos", env.gw.base));
        tasks.push(tokio::spawn(async move {
            http.get(url)
                .bearer_auth(t)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 401);
    }
    let after = metric(&env.metrics().await, "frontdesk_gateway_jwks_fetches_total");
    assert!(
        after - before <= 1,
        "{before} → {after} JWKS fetches for 30 forged kids"
    );
    let m = env.metrics().await;
    assert!(metric(&m, r#"frontdesk_gateway_refused_total{status="401"}"#) >= 40);
    assert_eq!(
        metric(&m, r#"frontdesk_gateway_refused_total{status="403"}"#),
        1
    );
}
both!(refuses_every_bad_token_per_rfc6750);

/// The documented trade-off: after revocation at frontdesk, an `introspect`
/// route refuses the token at once; a `local` route accepts it until it
/// expires; an `introspect-cached` route until its cached answer ages out.
async fn revocation_is_seen_at_once_only_where_the_gateway_introspects(s: &Server) {
    let env = Env::start(s);
    let t = token(s, &[]).await; // both audiences, both scopes
    let (_, claims) = jwt_parts(&t);
    assert_eq!(claims["aud"], json!([PAYMENTS, PHOTOS]));
    assert_eq!(
        env.call(reqwest::Method::POST, "/charges", Some(&t), &[])
            .await
            .0,
        201
    );
    assert_eq!(env.get("/charges", Some(&t)).await.0, 200);
    assert_eq!(env.get("/photos", Some(&t)).await.0, 200);

    let r = s
        .post_form(
            "/revoke",
            Some(("order-service", "order-service-secret-0123456789")),
            &[("token", &t)],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(s.introspect(&t).await["active"], false);

    let (status, h, body) = env
        .call(reqwest::Method::POST, "/charges", Some(&t), &[])
        .await;
    assert_eq!(
        (status, www(&h)),
        (401, Some(r#"Bearer error="invalid_token""#)),
        "{body}"
    );
    let (status, _, body) = env.get("/photos", Some(&t)).await;
    assert_eq!(status, 200, "local: accepted until exp ({body})");
    let (status, _, body) = env.get("/charges", Some(&t)).await;
    assert_eq!(
        (status, &body["caller"]["via"]),
        (200, &json!("gateway/introspection_cache")),
        "introspect-cached: accepted until the cached answer ages out"
    );
}
both!(revocation_is_seen_at_once_only_where_the_gateway_introspects);

/// `frontdesk keys rotate` while tokens are in flight: every token, old key
/// or new, keeps passing the gateway. The server runs with a 1 s JWKS
/// max-age and a 2 s pre-publication window (top-level settings that the
/// shared `Server` cannot take, so this test starts its own).
async fn key_rotation_never_breaks_validation(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let Some(db) = Database::new(backend, dir.path()).await else {
        eprintln!("skipped: FRONTDESK_TEST_POSTGRES_URL not set");
        return;
    };
    std::fs::write(
        dir.path().join("frontdesk.toml"),
        format!("{ROTATION}{BASE_CONFIG}"),
    )
    .unwrap();
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let (cfg, data) = (dir.path().join("frontdesk.toml"), dir.path().join("data"));
    let _server = spawn_listening(
        dir.path(),
        "server",
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
            "--database",
            &db.url,
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--issuer",
            &issuer,
            "--admin-listen",
            "127.0.0.1:0",
        ],
    );
    let env = Env::start_for(&issuer);
    let get_token = || async {
        let r = env
            .http
            .post(format!("{issuer}/token"))
            .basic_auth("order-service", Some("order-service-secret-0123456789"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("scope", "photos:read"),
                ("resource", PHOTOS),
            ])
            .send()
            .await
            .unwrap();
        r.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let old = get_token().await;
    let old_kid = jwt_parts(&old).0["kid"].clone();
    assert_eq!(env.get("/photos", Some(&old)).await.0, 200);

    let out = cli_in(
        dir.path(),
        &db.url,
        &[
            "--config",
            cfg.to_str().unwrap(),
            "keys",
            "rotate",
            "--use",
            "access_token",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Until the new key signs (the server's pre-publication window, on its
    // clock), every token, old key or new, passes the gateway.
    let mut checked = 0;
    let new_seen = wait_until(Duration::from_secs(15), async || {
        let t = get_token().await;
        let (status, _, body) = env.get("/photos", Some(&t)).await;
        assert_eq!(status, 200, "token {checked} after rotation: {body}");
        checked += 1;
        (jwt_parts(&t).0["kid"] != old_kid).then_some(())
    })
    .await
    .is_some();
    assert!(
        new_seen,
        "the new key signs within the pre-publication window"
    );
    assert_eq!(
        env.get("/photos", Some(&old)).await.0,
        200,
        "the old key stays published"
    );
}

mod key_rotation_never_breaks_validation {
    use crate::support::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::key_rotation_never_breaks_validation(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::key_rotation_never_breaks_validation(Backend::Postgres).await;
    }
}

async fn gateway_errors_are_json(s: &Server) {
    let env = Env::start(s);
    let t = token(s, &[("scope", "photos:read"), ("resource", PHOTOS)]).await;
    for (path, status, code) in [
        ("/nowhere", 404, "not_found"),
        ("/photosynthesis", 404, "not_found"),
        ("/down/x", 502, "bad_gateway"),
        ("/slow/x", 504, "gateway_timeout"),
    ] {
        let (got, h, body) = env.get(path, Some(&t)).await;
        assert_eq!(got, status, "{path}: {body}");
        assert_eq!(body["error"], code, "{path}");
        assert_eq!(h["content-type"], "application/json", "{path}");
    }
    // Paths the upstream might normalise into another route are refused
    // (sent raw: HTTP clients normalise them away).
    for path in [
        "/photos/../charges",
        "/photos/%2e%2e/charges",
        "/photos//x",
        "/photos%2fx",
    ] {
        let (status, body) = raw_get(&env.gw.base, path, &t).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(
            body.contains(r#""error":"invalid_request""#),
            "{path}: {body}"
        );
    }
    // A method the prefix does not route has no route either.
    let (got, _, _) = env
        .call(reqwest::Method::DELETE, "/photos", Some(&t), &[])
        .await;
    assert_eq!(got, 404);
    let m = env.metrics().await;
    assert_eq!(
        metric(
            &m,
            r#"frontdesk_gateway_upstream_errors_total{status="502"}"#
        ),
        1
    );
    assert_eq!(
        metric(
            &m,
            r#"frontdesk_gateway_upstream_errors_total{status="504"}"#
        ),
        1
    );
    assert_eq!(metric(&m, "frontdesk_gateway_no_route_total"), 3);
}
both!(gateway_errors_are_json);

/// A GET written byte for byte on a fresh connection.
async fn raw_get(base: &str, path: &str, token: &str) -> (u16, String) {
    raw_request(base, path, token, &[]).await
}

/// A GET with extra header lines, written byte for byte (no client
/// normalises the path or the header names on the way).
async fn raw_request(
    base: &str,
    path: &str,
    token: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n{extra}Connection: close\r\n\r\n"
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    stream.read_to_string(&mut out).await.unwrap();
    let status = out
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, out)
}

/// The gateway's listener closes a connection that never sends a request
/// head, and one that sends half of it, after `header_read_timeout_secs`
/// (HTTP/1.1 only: an h2c-sniffing listener would wait forever).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_closes_idle_and_slow_connections() {
    use tokio::io::AsyncWriteExt;

    use crate::limits::{connect, read_until_closed};

    let s = Server::start(crate::support::Backend::Sqlite, "")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let gw = spawn_gateway(
        dir.path(),
        &format!(
            "listen = \"127.0.0.1:0\"\nissuer = \"{}\"\nheader_read_timeout_secs = 1\n\
             verified_cache_max_entries = 0\nmetrics_listen = \"127.0.0.1:0\"\n\
             [[routes]]\npath_prefix = \"/photos\"\nupstream = \"http://127.0.0.1:9\"\n\
             audience = \"{PHOTOS}\"\n",
            s.base
        ),
    );
    for partial in [&b""[..], b"GET /photos HTTP/1.1\r\nHost: x\r\n"] {
        let started = Instant::now();
        let mut stream = connect(&gw.base).await;
        stream.write_all(partial).await.unwrap();
        let got = read_until_closed(&mut stream).await;
        let took = started.elapsed();
        let what = String::from_utf8_lossy(partial);
        assert!(
            took >= Duration::from_millis(900),
            "{what:?}: closed after {took:?}"
        );
        assert_eq!(String::from_utf8_lossy(&got), "", "{what:?}");
    }
    // The start of an HTTP/2 preface is just a bad HTTP/1.1 request.
    let mut stream = connect(&gw.base).await;
    stream.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    let got = read_until_closed(&mut stream).await;
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 400"), "{text}");

    // With `verified_cache_max_entries = 0` there is no memory to report on.
    let m = reqwest::get(gw.metrics.as_deref().unwrap())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(m.contains("frontdesk_gateway_jwks_fetches_total"), "{m}");
    assert!(!m.contains("frontdesk_gateway_local_checks_total"), "{m}");
    assert!(
        !m.contains("frontdesk_gateway_verified_cache_entries"),
        "{m}"
    );
}

// ----- Issue 11: path and header confusion, behind an upstream that reads
// requests the way WSGI servers do (`wsgi_upstream.py`, Python's wsgiref).

/// `python3 tests/it/wsgi_upstream.py`: echoes the raw target, the decoded
/// PATH_INFO and every HTTP_* value as JSON.
fn wsgi_upstream(dir: &Path) -> Proc {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/wsgi_upstream.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script);
    spawn_command(dir, "wsgi-upstream", cmd)
}

/// The gateway in front of the WSGI upstream: `/` needs `photos:read`,
/// `/admin` needs `charge:customer` (the "admin" scope of these tests).
struct Wsgi {
    gw: Proc,
    _up: Proc,
    _dir: tempfile::TempDir,
}

impl Wsgi {
    /// `extra` goes before the two routes; `{up}` in it is the upstream's
    /// URL, so it may add `[[routes]]` of its own.
    fn start(s: &Server, extra: &str) -> Wsgi {
        let dir = tempfile::tempdir().unwrap();
        let up = wsgi_upstream(dir.path());
        let extra = extra.replace("{up}", &up.base);
        let gw = spawn_gateway(
            dir.path(),
            &format!(
                r#"
listen = "127.0.0.1:0"
issuer = "{issuer}"
log_level = "info"
{extra}

[[routes]]
path_prefix = "/"
upstream = "{up}"
audience = "{PHOTOS}"
scopes = ["photos:read"]

[[routes]]
path_prefix = "/admin"
upstream = "{up}"
audience = "{PHOTOS}"
scopes = ["charge:customer"]
"#,
                issuer = s.base,
                up = up.base,
            ),
        );
        Wsgi {
            gw,
            _up: up,
            _dir: dir,
        }
    }

    /// A raw GET through the gateway: status and JSON body.
    async fn get(&self, path: &str, token: &str, headers: &[(&str, &str)]) -> (u16, Value) {
        let (status, text) = raw_request(&self.gw.base, path, token, headers).await;
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let json = serde_json::from_str(body).unwrap_or_else(|_| Value::String(text.clone()));
        (status, json)
    }
}

/// Issue 11 finding 1: `%61` and `a` are the same path (RFC 3986
/// §6.2.2.2), so `/%61dmin/users` is routed as `/admin/users`, and it is
/// forwarded in that form; `;` parameters, dot segments (encoded too) and
/// encoded separators are refused; `allow_path_parameters` routes
/// `/admin;x/users` as `/admin/users`.
async fn f11_1_gateway_routes_and_forwards_the_normalised_path(s: &Server) {
    let env = Wsgi::start(s, "");
    let read = token(s, &[("scope", "photos:read"), ("resource", PHOTOS)]).await;
    let admin = token(
        s,
        &[
            ("scope", "photos:read charge:customer"),
            ("resource", PHOTOS),
        ],
    )
    .await;

    for path in [
        "/admin/users",
        "/%61dmin/users",
        "/ad%6Din/users",
        "/%61%64%6d%69%6e/users",
        "/%61dmin",
    ] {
        let (status, body) = env.get(path, &read, &[]).await;
        assert_eq!(status, 403, "{path} is /admin: {body}");
        assert_eq!(body["error"], "insufficient_scope", "{path}");
    }
    for path in [
        "/admin;x/users",
        "/%61dmin;x/users",
        "/admin%3bx/users",
        "/%2e%2e/admin/users",
        "/x/%2E%2e/admin/users",
        "/x/.%2e/admin",
        "/x/./admin",
        "//admin/users",
        "/admin%2fusers",
        "/x%5c..%5cadmin",
        "/x%00",
        "/x%g1",
        "/x%4",
    ] {
        let (status, body) = env.get(path, &admin, &[]).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"], "invalid_request", "{path}");
    }

    // What was routed is what is served: the upstream gets the normalised
    // path (unreserved decoded, other escapes in uppercase hex), the query
    // as sent.
    let (status, body) = env.get("/%61dmin/users", &admin, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["raw"], "/admin/users");
    assert_eq!(body["path"], "/admin/users");
    for (sent, raw, path) in [
        (
            "/photos/%7euser?q=%61&b=1",
            "/photos/~user?q=%61&b=1",
            "/photos/~user",
        ),
        ("/photos/a%3fb%2c", "/photos/a%3Fb%2C", "/photos/a?b,"),
        ("/admin-x", "/admin-x", "/admin-x"),
        ("/%61dmin%2dx/", "/admin-x/", "/admin-x/"),
    ] {
        let (status, body) = env.get(sent, &read, &[]).await;
        assert_eq!(status, 200, "{sent}: {body}");
        assert_eq!(body["raw"], raw, "{sent}");
        assert_eq!(body["path"], path, "{sent}");
    }

    // Path parameters, where the operator allows them: routed without
    // them (as servlet containers read them), forwarded with them.
    let env = Wsgi::start(s, "allow_path_parameters = true");
    let (status, body) = env.get("/admin;x/users", &read, &[]).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = env.get("/%61dmin;jsessionid=1/users", &admin, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["raw"], "/admin;jsessionid=1/users");
    let (status, _) = env.get("/x/..;/admin/users", &admin, &[]).await;
    assert_eq!(status, 400, "`..;` is still a dot segment");
}
both!(f11_1_gateway_routes_and_forwards_the_normalised_path);

/// Issue 11 finding 2: header names are read as CGI/WSGI servers read them
/// (`_` = `-`), so `X_Frontdesk_Sub` never joins the real identity; path
/// and method overrides never reach the upstream; the caller's forwarding
/// claims are replaced by the TCP peer.
async fn f11_2_gateway_drops_look_alike_identity_override_and_forwarding_headers(s: &Server) {
    let env = Wsgi::start(s, "");
    let read = token(s, &[("scope", "photos:read"), ("resource", PHOTOS)]).await;
    let (status, body) = env
        .get(
            "/photos",
            &read,
            &[
                ("X_Frontdesk_Sub", "evil-admin"),
                ("x_frontdesk_client_id", "evil"),
                ("X-Frontdesk_Scope", "charge:customer"),
                ("X-Frontdesk-Via", "local"),
                ("X-Original-URL", "/admin/users"),
                ("X_Original_URL", "/admin/users"),
                ("X-Rewrite-URL", "/admin/users"),
                ("X-HTTP-Method-Override", "DELETE"),
                ("X_HTTP_Method_Override", "DELETE"),
                ("X-HTTP-Method", "DELETE"),
                ("X-Method-Override", "DELETE"),
                ("X-Forwarded-For", "203.0.113.9"),
                ("X_Forwarded_For", "203.0.113.9"),
                ("X-Forwarded-Host", "evil.example"),
                ("X-Forwarded-Proto", "https"),
                ("Forwarded", "for=203.0.113.9;proto=https"),
                ("X-Real-IP", "203.0.113.9"),
                ("X_Real_IP", "203.0.113.9"),
                ("X_Request_Id", "kept"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let h = &body["headers"];
    assert_eq!(h["HTTP_X_FRONTDESK_SUB"], "order-service", "{h}");
    assert_eq!(h["HTTP_X_FRONTDESK_CLIENT_ID"], "order-service", "{h}");
    assert_eq!(h["HTTP_X_FRONTDESK_SCOPE"], "photos:read", "{h}");
    assert_eq!(h["HTTP_X_FRONTDESK_VIA"], "local", "{h}");
    for gone in [
        "HTTP_X_ORIGINAL_URL",
        "HTTP_X_REWRITE_URL",
        "HTTP_X_HTTP_METHOD_OVERRIDE",
        "HTTP_X_HTTP_METHOD",
        "HTTP_X_METHOD_OVERRIDE",
        "HTTP_X_REAL_IP",
        "HTTP_AUTHORIZATION",
    ] {
        assert!(h.get(gone).is_none(), "{gone} reached the upstream: {h}");
    }
    assert_eq!(body["method"], "GET");
    assert_eq!(body["path"], "/photos");
    let addr = env.gw.base.trim_start_matches("http://");
    assert_eq!(h["HTTP_X_FORWARDED_FOR"], "127.0.0.1", "{h}");
    assert_eq!(h["HTTP_X_FORWARDED_HOST"], addr, "{h}");
    assert_eq!(h["HTTP_X_FORWARDED_PROTO"], "http", "{h}");
    assert_eq!(
        h["HTTP_FORWARDED"],
        format!("for=127.0.0.1;host=\"{addr}\";proto=http"),
        "{h}"
    );
    // Other names with `_` are the caller's own business.
    assert_eq!(h["HTTP_X_REQUEST_ID"], "kept", "{h}");
}
both!(f11_2_gateway_drops_look_alike_identity_override_and_forwarding_headers);

/// Issue 11, metrics: the counters are on their own listener and only when
/// `metrics_listen` is set; the public listener routes `/metrics` like any
/// path (here to the upstream); the removed `metrics` key stops start-up
/// with a message naming `metrics_listen`.
async fn f11_m_gateway_metrics_only_on_their_own_listener(s: &Server) {
    let read = token(s, &[("scope", "photos:read"), ("resource", PHOTOS)]).await;
    // Off by default: the public listener's /metrics is the upstream's.
    let plain = Wsgi::start(s, "");
    assert!(plain.gw.metrics.is_none());
    let (status, body) = plain.get("/metrics", &read, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["path"], "/metrics", "the upstream's /metrics: {body}");
    drop(plain);

    let env = Wsgi::start(s, "metrics_listen = \"127.0.0.1:0\"");
    let (status, body) = env.get("/metrics", &read, &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["path"], "/metrics", "the upstream's /metrics: {body}");
    let (status, _) = env.get("/metrics", "not-a-token", &[]).await;
    assert_eq!(status, 401, "checked like any path");

    let metrics = env.gw.metrics.clone().expect("metrics on …");
    assert_ne!(metrics, format!("{}/metrics", env.gw.base));
    let m = reqwest::get(&metrics).await.unwrap().text().await.unwrap();
    assert_eq!(
        metric(
            &m,
            r#"frontdesk_gateway_admitted_total{mode="local",via="local"}"#
        ),
        1
    );
    assert_eq!(
        metric(&m, r#"frontdesk_gateway_refused_total{status="401"}"#),
        1
    );
    let other = reqwest::get(metrics.replace("/metrics", "/photos"))
        .await
        .unwrap();
    assert_eq!(other.status(), 404);

    // A file from before: a clear refusal, not a silent change.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("gateway.toml");
    std::fs::write(
        &cfg,
        format!(
            "issuer = \"{}\"\nmetrics = true\n[[routes]]\npath_prefix = \"/\"\n\
             upstream = \"http://127.0.0.1:9\"\naudience = \"{PHOTOS}\"\n",
            s.base
        ),
    )
    .unwrap();
    let out = Command::new(bin())
        .args(["gateway", "--config", cfg.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("metrics_listen"), "{err}");
}
both!(f11_m_gateway_metrics_only_on_their_own_listener);

const DPOP_ALGS: &str = r#"algs="ES256 EdDSA PS256 RS256""#;

/// The JSON refusals of RFC 9449 §7.1 the gateway answers.
fn dpop_refusal(code: &str) -> Value {
    match code {
        "bearer" => json!({"error": "invalid_token",
            "error_description": "the access token is expired, revoked, malformed or not meant for this resource"}),
        "invalid_dpop_proof" => json!({"error": "invalid_dpop_proof",
            "error_description": "the DPoP proof is missing, repeated, malformed, already used, or does not match this request"}),
        _ => json!({"error": "invalid_token",
            "error_description": "the access token is expired, revoked, malformed, not meant for this resource, or not bound to the key of the DPoP proof it came with"}),
    }
}

/// A DPoP proof by `key` for `GET uri` with `ath` of `token`, fresh.
fn gw_proof(key: &SigningKey, uri: &str, token: &str) -> String {
    gw_proof_for(key, "GET", uri, Some(token))
}

/// A client-credentials token the server binds to `key` (RFC 9449 §5: a
/// proof at `/token`); checks that it says `token_type: DPoP`.
pub async fn dpop_token(
    s: &Server,
    client: (&str, &str),
    form: &[(&str, &str)],
    key: &SigningKey,
) -> String {
    let token_url = s.url("/token");
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let r = s
        .http
        .post(&token_url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header(
            "authorization",
            crate::support::basic_header(client.0, client.1),
        )
        .header("dpop", gw_proof_for(key, "POST", &token_url, None))
        .body(body)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["token_type"], "DPoP", "{v}");
    v["access_token"].as_str().unwrap().to_owned()
}

/// A fresh DPoP proof by `key` for `method uri` (`ath` of `token`, if any).
pub fn gw_proof_for(key: &SigningKey, method: &str, uri: &str, token: Option<&str>) -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let jti = format!("gw-{}-{n}", frontdesk_resource::unix_now());
    frontdesk_jose::dpop::make(
        key,
        &frontdesk_jose::dpop::Proof {
            method,
            uri,
            access_token: token,
            nonce: None,
            jti: &jti,
            iat: frontdesk_resource::unix_now(),
        },
    )
    .unwrap()
}

/// SECURITY.md R19 at the gateway (RFC 9449 §7): a DPoP-bound token passes
/// only with a fresh, unused proof of its own key for the public URL; the
/// stolen token with the thief's key, a replay, a proof for the address
/// the gateway listens on, and the bound token as Bearer are refused;
/// `require_dpop` routes refuse Bearer tokens with a DPoP challenge; the
/// upstream gets the checked thumbprint in `X-Frontdesk-Dpop-Jkt`, never a
/// caller's look-alike, and the proof only where the route forwards the
/// token. The bound token is the server's own, re-signed with its key and a
/// `cnf.jkt`; then the server's own DPoP-bound tokens, a JWT (local and
/// cached introspection) and an opaque one (introspection).
async fn r19_dpop_at_the_gateway_require_dpop_and_the_forwarded_thumbprint(s: &Server) {
    let env = Wsgi::start(
        s,
        &format!(
            r#"
public_url = "https://api.example.com/"
client_id = "order-service"
client_secret = "order-service-secret-0123456789"

[[routes]]
path_prefix = "/opaque"
upstream = "{{up}}"
audience = "{issuer}"
scopes = ["photos:read"]
mode = "introspect"

[[routes]]
path_prefix = "/cached"
upstream = "{{up}}"
audience = "{PHOTOS}"
scopes = ["photos:read"]
mode = "introspect-cached"
cache_ttl_secs = 30

[[routes]]
path_prefix = "/bound"
upstream = "{{up}}"
audience = "{PHOTOS}"
scopes = ["photos:read"]
require_dpop = true

[[routes]]
path_prefix = "/passthrough"
upstream = "{{up}}"
audience = "{PHOTOS}"
forward_token = true
"#,
            issuer = s.base,
        ),
    );
    let gw = &env.gw;
    let plain = token(s, &[("scope", "photos:read"), ("resource", PHOTOS)]).await;
    let (header, mut claims) = jwt_parts(&plain);
    let server = server_key(s, header["kid"].as_str().unwrap()).await;
    let (key, _) = SigningKey::generate(frontdesk_jose::Algorithm::ES256).unwrap();
    let (thief, _) = SigningKey::generate(frontdesk_jose::Algorithm::EdDSA).unwrap();
    let jkt = frontdesk_jose::dpop::jkt(&key).unwrap();
    claims["cnf"] = json!({"jkt": jkt});
    let bound = server.sign(Some("at+jwt"), &claims).unwrap();
    let http = reqwest::Client::new();
    let call = async |path: &str, auth: Option<String>, headers: &[(&str, String)]| {
        let mut req = http.get(format!("{}{path}", gw.base));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let www = r
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        (status, www, r.json::<Value>().await.unwrap())
    };
    let dpop = Some(format!("DPoP {bound}"));
    let public = "https://api.example.com/photos";
    let proof_refused = Some(format!(r#"DPoP error="invalid_dpop_proof", {DPOP_ALGS}"#));
    let token_refused = Some(format!(r#"DPoP error="invalid_token", {DPOP_ALGS}"#));
    // Under the Bearer scheme the answer is Bearer's (RFC 6750), as at /userinfo.
    let bearer_refused = Some(r#"Bearer error="invalid_token""#.to_owned());

    // The owner's proof: admitted, the thumbprint forwarded, the caller's
    // look-alikes (either spelling) dropped, the proof not forwarded.
    let good = gw_proof(&key, public, &bound);
    let (status, www, body) = call(
        "/photos?page=2",
        dpop.clone(),
        &[
            ("DPoP", good.clone()),
            ("X-Frontdesk-Dpop-Jkt", "forged".into()),
            ("X_Frontdesk_Dpop_Jkt", "forged".into()),
        ],
    )
    .await;
    assert_eq!((status, www), (200, None), "{body}");
    let h = &body["headers"];
    assert_eq!(h["HTTP_X_FRONTDESK_DPOP_JKT"], jkt.as_str(), "{h}");
    assert_eq!(h["HTTP_X_FRONTDESK_SUB"], "order-service", "{h}");
    assert!(
        h.get("HTTP_DPOP").is_none(),
        "the proof stays at the gateway: {h}"
    );
    assert!(h.get("HTTP_AUTHORIZATION").is_none(), "{h}");

    // (name, path, Authorization, headers, status, challenge, body)
    type Refusal<'a> = (
        &'a str,
        &'a str,
        Option<String>,
        Vec<(&'a str, String)>,
        u16,
        Option<String>,
        Value,
    );
    let refusals: Vec<Refusal> = vec![
        (
            "the same proof again",
            "/photos?page=2",
            dpop.clone(),
            vec![("DPoP", good.clone())],
            401,
            proof_refused.clone(),
            dpop_refusal("invalid_dpop_proof"),
        ),
        (
            "the stolen token with the thief's own key",
            "/photos",
            dpop.clone(),
            vec![("DPoP", gw_proof(&thief, public, &bound))],
            401,
            token_refused.clone(),
            dpop_refusal("invalid_token"),
        ),
        (
            "a proof for the address the gateway listens on",
            "/photos",
            dpop.clone(),
            vec![(
                "DPoP",
                gw_proof(&key, &format!("{}/photos", gw.base), &bound),
            )],
            401,
            proof_refused.clone(),
            dpop_refusal("invalid_dpop_proof"),
        ),
        (
            "a proof for another token",
            "/photos",
            dpop.clone(),
            vec![("DPoP", gw_proof(&key, public, &plain))],
            401,
            proof_refused.clone(),
            dpop_refusal("invalid_dpop_proof"),
        ),
        (
            "two proofs",
            "/photos",
            dpop.clone(),
            vec![
                ("DPoP", gw_proof(&key, public, &bound)),
                ("DPoP", gw_proof(&key, public, &bound)),
            ],
            401,
            proof_refused.clone(),
            dpop_refusal("invalid_dpop_proof"),
        ),
        (
            "no proof",
            "/photos",
            dpop.clone(),
            vec![],
            401,
            proof_refused.clone(),
            dpop_refusal("invalid_dpop_proof"),
        ),
        (
            "the bound token as Bearer",
            "/photos",
            Some(format!("Bearer {bound}")),
            vec![],
            401,
            bearer_refused.clone(),
            dpop_refusal("bearer"),
        ),
        (
            "a Bearer token on a require_dpop route",
            "/bound/x",
            Some(format!("Bearer {plain}")),
            vec![],
            401,
            token_refused.clone(),
            dpop_refusal("invalid_token"),
        ),
        (
            "nothing on a require_dpop route",
            "/bound/x",
            None,
            vec![],
            401,
            Some(format!("DPoP {DPOP_ALGS}")),
            json!({"error": "unauthorized", "error_description": "this resource needs a DPoP-bound access token sent with Authorization: DPoP and a DPoP proof"}),
        ),
        (
            "nothing on a route that takes both",
            "/photos",
            None,
            vec![],
            401,
            Some(format!("Bearer, DPoP {DPOP_ALGS}")),
            json!({"error": "unauthorized", "error_description": "this resource needs an access token: Bearer, or DPoP with a DPoP proof"}),
        ),
    ];
    for (name, path, auth, headers, status, www, body) in refusals {
        let got = call(path, auth, &headers).await;
        assert_eq!(got, (status, www, body), "{name}");
    }

    // A require_dpop route with the owner's proof.
    let (status, _, body) = call(
        "/bound/x",
        dpop.clone(),
        &[(
            "DPoP",
            gw_proof(&key, "https://api.example.com/bound/x", &bound),
        )],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["headers"]["HTTP_X_FRONTDESK_DPOP_JKT"], jkt.as_str());
    // A bearer token elsewhere: no thumbprint, a forged one dropped.
    let (status, _, body) = call(
        "/photos",
        Some(format!("Bearer {plain}")),
        &[("X-Frontdesk-Dpop-Jkt", "forged".into())],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["headers"].get("HTTP_X_FRONTDESK_DPOP_JKT").is_none(),
        "{body}"
    );
    // forward_token passes the credentials on as sent: token and proof.
    let pass = gw_proof(&key, "https://api.example.com/passthrough", &bound);
    let (status, _, body) = call("/passthrough", dpop.clone(), &[("DPoP", pass.clone())]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["headers"]["HTTP_DPOP"], pass.as_str());
    assert_eq!(
        body["headers"]["HTTP_AUTHORIZATION"],
        format!("DPoP {bound}")
    );

    // Tokens the server bound itself (RFC 9449 §5, proof at /token): a JWT
    // checked locally and through cached introspection (`cnf` of the RFC
    // 7662 answer, then of the cached answer), an opaque one introspected.
    let issue = async |client, form: &[(&str, &str)]| dpop_token(s, client, form, &key).await;
    let grant = [
        ("grant_type", "client_credentials"),
        ("scope", "photos:read"),
    ];
    let jwt = issue(
        ("order-service", "order-service-secret-0123456789"),
        &[grant[0], grant[1], ("resource", PHOTOS)],
    )
    .await;
    let opaque = issue(("opaque-client", "opaque-client-secret-0123456789"), &grant).await;
    for (path, t, via) in [
        ("/photos", &jwt, "local"),
        ("/cached", &jwt, "introspection"),
        ("/cached", &jwt, "introspection_cache"),
        ("/opaque", &opaque, "introspection"),
    ] {
        let here = format!("https://api.example.com{path}");
        let auth = Some(format!("DPoP {t}"));
        let (status, _, body) =
            call(path, auth.clone(), &[("DPoP", gw_proof(&key, &here, t))]).await;
        assert_eq!(status, 200, "{path} {via}: {body}");
        assert_eq!(
            body["headers"]["HTTP_X_FRONTDESK_DPOP_JKT"],
            jkt.as_str(),
            "{path}"
        );
        assert_eq!(body["headers"]["HTTP_X_FRONTDESK_VIA"], via, "{path}");
        let thief_proof = gw_proof(&thief, &here, t);
        let got = call(path, auth, &[("DPoP", thief_proof)]).await;
        assert_eq!(
            got,
            (401, token_refused.clone(), dpop_refusal("invalid_token")),
            "{path} {via}: thief"
        );
        let got = call(path, Some(format!("Bearer {t}")), &[]).await;
        assert_eq!(
            got,
            (401, bearer_refused.clone(), dpop_refusal("bearer")),
            "{path} {via}: as Bearer"
        );
    }
}
both!(r19_dpop_at_the_gateway_require_dpop_and_the_forwarded_thumbprint);

/// `public_url` must be an http(s) URL without user info, query or
/// fragment, and the replay memory cannot be turned off: the gateway
/// refuses to start otherwise, naming the key.
#[test]
fn a_bad_public_url_or_replay_bound_stops_the_gateway() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("gateway.toml");
    for (line, key) in [
        ("public_url = \"ftp://api.example.com\"", "public_url"),
        (
            "public_url = \"https://api.example.com/?a=b\"",
            "public_url",
        ),
        (
            "public_url = \"https://user@api.example.com\"",
            "public_url",
        ),
        ("dpop_replay_max_entries = 0", "dpop_replay_max_entries"),
    ] {
        std::fs::write(
            &cfg,
            format!(
                "issuer = \"http://127.0.0.1:9\"\n{line}\n[[routes]]\npath_prefix = \"/\"\n\
                 upstream = \"http://127.0.0.1:9\"\naudience = \"{PHOTOS}\"\n"
            ),
        )
        .unwrap();
        let out = Command::new(bin())
            .args(["gateway", "--config", cfg.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{line}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key), "{line}: {err}");
    }
}
