//! Native-app sign-in (RFC 8252): `frontdesk login` as a child process with
//! its loopback listener, driven through the real login and consent pages;
//! then the `frontdesk token` helpers.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::both;
use crate::browser::{ALICE, Browser, page, query, redirect};
use crate::support::{Server, bin, exit_within, jwt_parts};

const CLI_CLIENT: &str = r#"
[[clients]]
client_id = "cli"
client_name = "Frontdesk CLI"
token_endpoint_auth_method = "none"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["http://127.0.0.1/callback"]
scope = "openid profile offline_access"
"#;

/// The CLI client on a server that asks for DPoP nonces (RFC 9449 §8).
const CLI_CLIENT_WITH_NONCES: &str = r#"
use_dpop_nonce = true

[[clients]]
client_id = "cli"
client_name = "Frontdesk CLI"
token_endpoint_auth_method = "none"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["http://127.0.0.1/callback"]
scope = "openid profile offline_access"
"#;

const URL_PREFIX: &str = "Open this URL to sign in: ";

const ORDER_SECRET: &str = "order-service-secret-0123456789";

/// A running `frontdesk login`.
struct Login {
    child: Child,
    /// The authorization URL it printed.
    url: url::Url,
    stderr: Receiver<String>,
    seen: Vec<String>,
}

struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: Vec<String>,
}

impl Login {
    fn spawn(s: &Server, extra: &[&str]) -> Login {
        let mut child = Command::new(bin())
            .args(["login", "--issuer", &s.base, "--client-id", "cli"])
            .args(["--no-browser", "--output", "json"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn frontdesk login");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    let url = line.strip_prefix(URL_PREFIX).map(str::to_owned);
                    seen.push(line);
                    if let Some(u) = url {
                        return Login {
                            child,
                            url: url::Url::parse(&u).expect("authorization URL"),
                            stderr: rx,
                            seen,
                        };
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("frontdesk login printed no URL:\n{}", seen.join("\n"));
    }

    fn redirect_uri(&self) -> String {
        query(&self.url, "redirect_uri").expect("redirect_uri")
    }

    /// Waits (at most 60 s) for the process to exit.
    fn finish(self) -> Finished {
        let Some(out) = exit_within(self.child, Duration::from_secs(60)) else {
            panic!("frontdesk login did not exit:\n{}", self.seen.join("\n"));
        };
        let status = out.status;
        let mut stderr = self.seen;
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_secs(5)) {
            stderr.push(line);
        }
        Finished {
            status,
            stdout: String::from_utf8(out.stdout).expect("utf-8"),
            stderr,
        }
    }
}

fn run(args: &[&str]) -> (bool, Value, String) {
    run_with_stdin(args, "")
}

/// [`run`] with `input` on stdin (for `--refresh-token -`).
fn run_with_stdin(args: &[&str], input: &str) -> (bool, Value, String) {
    use std::io::Write;
    let mut child = Command::new(bin())
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (out.status.success(), json, stderr)
}

fn plain_http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in as Alice and approves in "the browser", which then follows
/// the redirect to the loopback listener; returns the callback URL.
async fn approve(s: &Server, login: &Login) -> url::Url {
    let b = Browser::new(s);
    let login_page = page(b.get(login.url.as_str()).await);
    assert_eq!(login_page.status, 200);
    let consent = page(b.login(&login_page, ALICE).await);
    let cb = redirect(b.consent(&consent, "approve").await);
    let r = plain_http().get(cb.as_str()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    cb
}

/// `frontdesk token proof` for one request with `token` (from stdin).
fn proof(key_file: &str, method: &str, url: &str, token: &str) -> String {
    let out = Command::new(bin())
        .args(["token", "proof", "--dpop-key", key_file])
        .args(["--method", method, "--url", url, "--access-token", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .unwrap()
                .write_all(format!("{token}\n").as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "one line: {text}");
    text.trim().to_owned()
}

async fn userinfo_with(s: &Server, auth: &str, proof: Option<&str>) -> (u16, Value) {
    let mut req = s.http.get(s.url("/userinfo")).header("authorization", auth);
    if let Some(p) = proof {
        req = req.header("dpop", p);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// `frontdesk login` uses DPoP by default (RFC 9449): the tokens are bound
/// to the key kept in `--dpop-key`, which `frontdesk token proof` and
/// `frontdesk token refresh` then use.
async fn login_and_refresh(s: &Server) {
    let key_path = s.dir.path().join("cli-dpop.json");
    let key_file = key_path.to_str().unwrap();
    let login = Login::spawn(s, &["--dpop-key", key_file]);
    let auth_url = login.url.clone();
    let u = &auth_url;
    assert_eq!(
        u.as_str().split('?').next(),
        Some(s.url("/authorize").as_str())
    );
    assert_eq!(query(u, "client_id").as_deref(), Some("cli"));
    assert_eq!(query(u, "code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(
        query(u, "scope").as_deref(),
        Some("openid profile offline_access")
    );
    let redirect_uri = login.redirect_uri();
    let loop_url = url::Url::parse(&redirect_uri).unwrap();
    assert_eq!(loop_url.host_str(), Some("127.0.0.1"));
    assert_eq!(loop_url.path(), "/callback");
    assert_ne!(loop_url.port(), None, "a port the OS picked");
    let nonce = query(u, "nonce").expect("nonce");
    let state = query(u, "state").expect("state");
    assert!(
        state.len() >= 20 && nonce.len() >= 20,
        "random state and nonce"
    );

    // The user signs in and approves in "their browser".
    let b = Browser::new(s);
    let login_page = page(b.get(u.as_str()).await);
    assert_eq!(login_page.status, 200);
    assert!(login_page.body.contains("Frontdesk CLI"));
    let consent = page(b.login(&login_page, ALICE).await);
    assert_eq!(consent.status, 200);
    let cb = redirect(b.consent(&consent, "approve").await);
    assert_eq!(cb.as_str().split('?').next(), Some(redirect_uri.as_str()));
    assert_eq!(query(&cb, "state"), Some(state));

    // The browser follows the redirect to the loopback listener.
    let r = plain_http().get(cb.as_str()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("You can close this window")
    );

    let done = login.finish();
    assert!(done.status.success(), "{}", done.stderr.join("\n"));
    let out: Value = serde_json::from_str(&done.stdout).expect("one JSON object on stdout");
    assert_eq!(out["token_type"], "DPoP");
    assert_eq!(out["scope"], "openid profile offline_access");
    // The key is in its file (0600), not on stdout; the tokens name it.
    let file: Value = serde_json::from_slice(&std::fs::read(&key_path).unwrap()).unwrap();
    let jkt = file["jkt"].as_str().expect("jkt").to_owned();
    assert_eq!(file["alg"], "ES256");
    assert_eq!(out["dpop_jkt"], jkt.as_str());
    assert_eq!(out.get("dpop_key"), None);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The authorization request named it (RFC 9449 §10), binding the code.
    assert_eq!(query(u, "dpop_jkt"), Some(jkt.clone()));
    assert!(out["expires_in"].as_u64().unwrap() > 0);
    let at = out["access_token"].as_str().unwrap().to_owned();
    let rt = out["refresh_token"]
        .as_str()
        .expect("refresh_token")
        .to_owned();
    let id_token = out["id_token"].as_str().expect("id_token").to_owned();
    let stderr = done.stderr.join("\n");
    for secret in [&at, &rt, &id_token] {
        assert!(!stderr.contains(secret.as_str()), "no token on stderr");
    }

    // The access token is live and bound to the key; the ID-token claims
    // were verified and match.
    let intro = s.introspect(&at).await;
    assert_eq!(intro["active"], true);
    assert_eq!(intro["client_id"], "cli");
    assert_eq!(intro["cnf"]["jkt"], jkt.as_str());
    assert_eq!(jwt_parts(&at).1["cnf"]["jkt"], jkt.as_str());
    let userinfo = s.url("/userinfo");
    // As Bearer it is refused; with the DPoP scheme and a proof of the
    // key made by `frontdesk token proof`, it works.
    let (status, body) = userinfo_with(s, &format!("Bearer {at}"), None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );
    let (status, info) = userinfo_with(
        s,
        &format!("DPoP {at}"),
        Some(&proof(key_file, "GET", &userinfo, &at)),
    )
    .await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["preferred_username"], "alice");
    let claims = &out["id_token_claims"];
    assert_eq!(claims["iss"], s.base);
    assert_eq!(claims["sub"], info["sub"]);
    assert_eq!(intro["sub"], info["sub"]);
    assert!(claims["aud"] == "cli" || claims["aud"] == serde_json::json!(["cli"]));
    assert_eq!(claims["nonce"], nonce);
    assert_eq!(claims["azp"], "cli");
    assert_eq!(claims["name"], "Alice Example");

    // The loopback listener is gone.
    assert!(plain_http().get(cb.as_str()).send().await.is_err());

    // The public client's refresh token is bound too (RFC 9449 §5): without
    // the key it is refused, and nothing is spent.
    let refresh = [
        "token",
        "refresh",
        "--issuer",
        &s.base,
        "--client-id",
        "cli",
        "--refresh-token",
        "-",
    ];
    let (ok, _, err) = run_with_stdin(&refresh, &format!("{rt}\n"));
    assert!(!ok);
    assert!(
        err.contains("invalid_grant") && err.contains("bound to a DPoP key"),
        "{err}"
    );
    // `frontdesk token refresh --dpop-key` rotates it; the token comes from
    // stdin (`-`), out of `ps` and the shell history.
    let mut with_key = refresh.to_vec();
    with_key.extend(["--dpop-key", key_file]);
    let (ok, refreshed, err) = run_with_stdin(&with_key, &format!("{rt}\n"));
    assert!(ok, "{err}");
    assert_eq!(refreshed["dpop_jkt"], jkt.as_str());
    assert_eq!(refreshed.get("dpop_key"), None);
    let new_rt = refreshed["refresh_token"]
        .as_str()
        .expect("a new refresh token");
    assert_ne!(new_rt, rt);
    let new_at = refreshed["access_token"].as_str().unwrap();
    assert_eq!(refreshed["token_type"], "DPoP");
    assert_eq!(jwt_parts(new_at).1["cnf"]["jkt"], jkt.as_str());

    // `frontdesk token introspect` with a resource server's credentials,
    // the secret read from a file.
    let secret_file = s.dir.path().join("order-service.secret");
    std::fs::write(&secret_file, "order-service-secret-0123456789\n").unwrap();
    let (ok, intro, err) = run(&[
        "token",
        "introspect",
        "--issuer",
        &s.base,
        "--client-id",
        "order-service",
        "--client-secret-file",
        secret_file.to_str().unwrap(),
        "--token",
        new_at,
    ]);
    assert!(ok, "{err}");
    assert_eq!(intro["active"], true);
    assert_eq!(intro["sub"], info["sub"]);

    // Introspection needs a secret; a refused refresh is one clear line.
    let (ok, _, err) = run(&[
        "token",
        "introspect",
        "--issuer",
        &s.base,
        "--client-id",
        "cli",
        "--token",
        new_at,
    ]);
    assert!(!ok);
    assert!(err.contains("--client-secret"), "{err}");
    let (ok, out, err) = run(&[
        "token",
        "refresh",
        "--issuer",
        &s.base,
        "--client-id",
        "cli",
        "--refresh-token",
        "not-a-refresh-token",
    ]);
    assert!(!ok);
    assert_eq!(out, Value::Null, "nothing on stdout");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("invalid_grant"), "{err}");
}
both!(login_and_refresh, CLI_CLIENT);

/// `--no-dpop`: Bearer tokens, no key, and a refresh without one.
async fn login_without_dpop_gets_bearer_tokens(s: &Server) {
    let login = Login::spawn(s, &["--no-dpop"]);
    let login_url = login.url.clone();
    approve(s, &login).await;
    let done = login.finish();
    assert!(done.status.success(), "{}", done.stderr.join("\n"));
    let out: Value = serde_json::from_str(&done.stdout).unwrap();
    assert_eq!(out["token_type"], "Bearer");
    assert_eq!(out.get("dpop_jkt"), None);
    assert_eq!(out.get("dpop_key"), None);
    assert_eq!(query(&login_url, "dpop_jkt"), None);
    let at = out["access_token"].as_str().unwrap();
    assert_eq!(jwt_parts(at).1.get("cnf"), None);
    let (status, info) = userinfo_with(s, &format!("Bearer {at}"), None).await;
    assert_eq!(
        (status, info["preferred_username"].as_str()),
        (200, Some("alice"))
    );
    let (ok, refreshed, err) = run_with_stdin(
        &[
            "token",
            "refresh",
            "--issuer",
            &s.base,
            "--client-id",
            "cli",
            "--refresh-token",
            "-",
        ],
        &format!("{}\n", out["refresh_token"].as_str().unwrap()),
    );
    assert!(ok, "{err}");
    assert_eq!(refreshed["token_type"], "Bearer");
}
both!(login_without_dpop_gets_bearer_tokens, CLI_CLIENT);

/// RFC 9449 §8 on a server with `use_dpop_nonce`: the first proof of the
/// login's code exchange has no nonce and is answered `use_dpop_nonce`;
/// `frontdesk login` retries once with the `DPoP-Nonce` it got. Without a
/// `--dpop-key`, the key is printed with the tokens (`dpop_key`), in the
/// key file's form, and works as one.
async fn login_retries_once_with_the_servers_nonce(s: &Server) {
    let login = Login::spawn(s, &[]);
    approve(s, &login).await;
    let done = login.finish();
    assert!(done.status.success(), "{}", done.stderr.join("\n"));
    let out: Value = serde_json::from_str(&done.stdout).unwrap();
    assert_eq!(out["token_type"], "DPoP");
    let key = &out["dpop_key"];
    assert_eq!(key["alg"], "ES256");
    assert_eq!(key["jkt"], out["dpop_jkt"]);
    let at = out["access_token"].as_str().unwrap();
    assert_eq!(jwt_parts(at).1["cnf"]["jkt"], key["jkt"]);

    // The printed key is a key file: the refresh works with it, and its
    // own first proof (a new process, no nonce yet) is retried too.
    let key_path = s.dir.path().join("printed-key.json");
    std::fs::write(&key_path, key.to_string()).unwrap();
    let (ok, refreshed, err) = run_with_stdin(
        &[
            "token",
            "refresh",
            "--issuer",
            &s.base,
            "--client-id",
            "cli",
            "--refresh-token",
            "-",
            "--dpop-key",
            key_path.to_str().unwrap(),
        ],
        &format!("{}\n", out["refresh_token"].as_str().unwrap()),
    );
    assert!(ok, "{err}");
    assert_eq!(refreshed["token_type"], "DPoP");
    // Client credentials with a fresh key: the same round.
    let (ok, cc, err) = run_with_stdin(
        &[
            "token",
            "client-credentials",
            "--issuer",
            &s.base,
            "--client-id",
            "order-service",
            "--client-secret",
            "-",
            "--dpop",
        ],
        &format!("{ORDER_SECRET}\n"),
    );
    assert!(ok, "{err}");
    assert_eq!(cc["token_type"], "DPoP");
    // A proof without the nonce is what the server refuses: the retry was
    // needed (the helper's proof carries no nonce unless given one).
    let userinfo = s.url("/userinfo");
    let rt_at = refreshed["access_token"].as_str().unwrap();
    let bare = proof(key_path.to_str().unwrap(), "GET", &userinfo, rt_at);
    let r = s
        .http
        .get(&userinfo)
        .header("authorization", format!("DPoP {rt_at}"))
        .header("dpop", bare)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(
        challenge.contains(r#"error="use_dpop_nonce""#),
        "{challenge}"
    );
    let nonce = r.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    // `frontdesk token proof` with `args` after the key file: the proof.
    let proof_with = |args: &[&str]| {
        let out = Command::new(bin())
            .args(["token", "proof", "--dpop-key", key_path.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    // Nonces (and tokens) are base64url: one may start with `-`, and it is
    // a value, not a flag (a 1-in-64 failure before).
    let hyphen = proof_with(&["--url", &userinfo, "--nonce", "-starts-with-a-hyphen"]);
    assert_eq!(jwt_parts(hyphen.trim()).1["nonce"], "-starts-with-a-hyphen");
    let with_nonce = proof_with(&[
        "--url",
        &userinfo,
        "--access-token",
        rt_at,
        "--nonce",
        &nonce,
    ]);
    let (status, info) = userinfo_with(s, &format!("DPoP {rt_at}"), Some(with_nonce.trim())).await;
    assert_eq!(status, 200, "{info}");
}
both!(
    login_retries_once_with_the_servers_nonce,
    CLI_CLIENT_WITH_NONCES
);

/// `frontdesk token client-credentials`: Bearer by default; `--dpop`
/// binds the token to a new key printed with it; `--dpop-key` to the key
/// in a file, created on first use and reused after.
async fn client_credentials_with_and_without_dpop(s: &Server) {
    let cc = |extra: &[&str]| {
        let mut args = vec![
            "token",
            "client-credentials",
            "--issuer",
            &s.base,
            "--client-id",
            "order-service",
            "--client-secret",
            "-",
            "--scope",
            "photos:read",
        ];
        args.extend_from_slice(extra);
        let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
        let (ok, out, err) = run_with_stdin(
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
            &format!("{ORDER_SECRET}\n"),
        );
        assert!(ok, "{err}");
        out
    };
    let bearer = cc(&[]);
    assert_eq!(bearer["token_type"], "Bearer");
    assert_eq!(bearer["scope"], "photos:read");
    assert_eq!(bearer.get("dpop_jkt"), None);
    let at = bearer["access_token"].as_str().unwrap();
    assert_eq!(jwt_parts(at).1.get("cnf"), None);

    let fresh = cc(&["--dpop"]);
    assert_eq!(fresh["token_type"], "DPoP");
    let jkt = fresh["dpop_key"]["jkt"].as_str().unwrap();
    assert_eq!(fresh["dpop_jkt"], jkt);
    let at = fresh["access_token"].as_str().unwrap();
    assert_eq!(jwt_parts(at).1["cnf"]["jkt"], jkt);
    assert_eq!(s.introspect(at).await["cnf"]["jkt"], jkt);

    let path = s.dir.path().join("m2m-key.json");
    let file = path.to_str().unwrap();
    let first = cc(&["--dpop-key", file]);
    let again = cc(&["--dpop-key", file]);
    assert_eq!(first["token_type"], "DPoP");
    assert_eq!(first.get("dpop_key"), None, "the key stays in its file");
    assert_eq!(first["dpop_jkt"], again["dpop_jkt"], "the same key");
    assert_ne!(first["dpop_jkt"], jkt);
    for t in [&first, &again] {
        let at = t["access_token"].as_str().unwrap();
        assert_eq!(jwt_parts(at).1["cnf"]["jkt"], first["dpop_jkt"]);
    }

    // A proof needs an existing key; a key file with another jkt is refused.
    let missing = s.dir.path().join("no-such-key.json");
    let (ok, _, err) = run(&[
        "token",
        "proof",
        "--dpop-key",
        missing.to_str().unwrap(),
        "--url",
        "https://api.example.com/x",
    ]);
    assert!(!ok && err.contains("no such file"), "{err}");
    assert!(!missing.exists());
    let mut tampered: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    tampered["jkt"] = Value::from(jkt);
    let bad = s.dir.path().join("tampered.json");
    std::fs::write(&bad, tampered.to_string()).unwrap();
    let (ok, _, err) = run(&[
        "token",
        "proof",
        "--dpop-key",
        bad.to_str().unwrap(),
        "--url",
        "https://api.example.com/x",
    ]);
    assert!(!ok && err.contains("thumbprint"), "{err}");
}
both!(client_credentials_with_and_without_dpop, CLI_CLIENT);

/// Asserts a failed login: non-zero exit, nothing on stdout, and one
/// `frontdesk: …` line naming the problem.
fn assert_refused(done: &Finished, words: &[&str]) {
    assert!(!done.status.success(), "login must fail");
    assert_eq!(done.stdout.trim(), "", "no tokens on stdout");
    let last = done.stderr.last().expect("an error line");
    assert!(last.starts_with("frontdesk: "), "{last}");
    for w in words {
        assert!(last.contains(w), "{last}");
    }
}

async fn forged_callback_stops_login(s: &Server) {
    // A callback with someone else's state: refused, no code exchange.
    let login = Login::spawn(s, &[]);
    let mut forged = url::Url::parse(&login.redirect_uri()).unwrap();
    forged
        .query_pairs_mut()
        .append_pair("code", "forged-code")
        .append_pair("state", "not-the-state")
        .append_pair("iss", &s.base);
    let r = plain_http().get(forged.as_str()).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("state"));
    assert_refused(&login.finish(), &["state"]);

    // The right state but another issuer (RFC 9207 mix-up).
    let login = Login::spawn(s, &[]);
    let state = query(&login.url, "state").unwrap();
    let mut forged = url::Url::parse(&login.redirect_uri()).unwrap();
    forged
        .query_pairs_mut()
        .append_pair("code", "forged-code")
        .append_pair("state", &state)
        .append_pair("iss", "https://evil.example.com");
    let r = plain_http().get(forged.as_str()).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_refused(&login.finish(), &["issuer"]);

    // An issuer that is not exactly the discovered one never gets that far.
    let out = Command::new(bin())
        .args(["login", "--issuer", &format!("{}/", s.base)])
        .args(["--client-id", "cli", "--no-browser", "--output", "json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("issuer"), "{err}");
    assert!(
        !err.contains(URL_PREFIX),
        "no URL before discovery succeeds"
    );
}
both!(forged_callback_stops_login, CLI_CLIENT);

async fn denied_consent_stops_login(s: &Server) {
    let login = Login::spawn(s, &[]);
    let b = Browser::new(s);
    let login_page = page(b.get(login.url.as_str()).await);
    let consent = page(b.login(&login_page, ALICE).await);
    let cb = redirect(b.consent(&consent, "deny").await);
    assert_eq!(query(&cb, "error").as_deref(), Some("access_denied"));
    let r = plain_http().get(cb.as_str()).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_refused(&login.finish(), &["access_denied"]);
}
both!(denied_consent_stops_login, CLI_CLIENT);
