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
use crate::support::{Server, bin, exit_within};

const CLI_CLIENT: &str = r#"
[[clients]]
client_id = "cli"
client_name = "Frontdesk CLI"
token_endpoint_auth_method = "none"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["http://127.0.0.1/callback"]
scope = "openid profile offline_access"
"#;

const URL_PREFIX: &str = "Open this URL to sign in: ";

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

async fn login_and_refresh(s: &Server) {
    let login = Login::spawn(s, &[]);
    let u = &login.url;
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
    assert_eq!(out["token_type"], "Bearer");
    assert_eq!(out["scope"], "openid profile offline_access");
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

    // The access token is live; the ID-token claims were verified and match.
    let intro = s.introspect(&at).await;
    assert_eq!(intro["active"], true);
    assert_eq!(intro["client_id"], "cli");
    let info: Value = s
        .http
        .get(s.url("/userinfo"))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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

    // `frontdesk token refresh` rotates the refresh token; the token comes
    // from stdin (`-`), out of `ps` and the shell history.
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
        &format!("{rt}\n"),
    );
    assert!(ok, "{err}");
    let new_rt = refreshed["refresh_token"]
        .as_str()
        .expect("a new refresh token");
    assert_ne!(new_rt, rt);
    let new_at = refreshed["access_token"].as_str().unwrap();
    assert_eq!(refreshed["token_type"], "Bearer");

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
