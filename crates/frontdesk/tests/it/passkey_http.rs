//! Passkeys over plain HTTP, without a browser: when they are on, the
//! options the ceremonies hand out, and the exact answers to bad input —
//! a missing CSRF token, a state that is forged, spent or another
//! ceremony's, a credential that is not one. The ceremonies themselves
//! (a real authenticator signing) are in `passkeys.rs`, in Chromium.

use std::process::{Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::browser::{ALICE, Browser, End, Page, page};
use crate::support::{Database, Server, bin, wait_blocking};

const PASSKEYS_ON: &str = "[features]\npasskeys = true\n";

/// A well-formed assertion that no authenticator made.
const FAKE_ASSERTION: &str = r#"{"id":"AAAAAAAAAAAAAAAAAAAAAA","rawId":"AAAAAAAAAAAAAAAAAAAAAA","type":"public-key","response":{"authenticatorData":"AAAA","clientDataJSON":"e30","signature":"AAAA","userHandle":null},"extensions":{}}"#;

async fn login_page(b: &Browser) -> Page {
    page(b.get(&format!("{}/login?next=account", b.base)).await)
}

async fn options(b: &Browser, path: &str, csrf: Option<&str>) -> (StatusCode, String, Value) {
    let form: Vec<(&str, &str)> = csrf.map(|c| vec![("csrf", c)]).unwrap_or_default();
    let r = b
        .http
        .post(format!("{}{path}", b.base))
        .form(&form)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let cache = r
        .headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, cache, r.json().await.unwrap())
}

async fn finish_sign_in(b: &Browser, csrf: &str, state: &str, credential: &str) -> Page {
    match b
        .post(
            "/login/passkey",
            &[
                ("csrf", csrf),
                ("request", ""),
                ("next", "account"),
                ("state", state),
                ("credential", credential),
            ],
        )
        .await
    {
        End::Page(p) => p,
        End::Redirect(u) => panic!("redirected to {u}"),
    }
}

async fn passkey_ceremonies_answer_bad_input_exactly(dir: tempfile::TempDir, db: Database) {
    let s = Server::start_localhost(dir, &db.url, PASSKEYS_ON);
    let b = Browser::new(&s);

    // The login page offers a passkey, with autofill, and loads the script.
    let login = login_page(&b).await;
    assert!(
        login.body.contains(r#"id="passkey-signin""#),
        "{}",
        login.body
    );
    assert!(login.body.contains(r#"autocomplete="username webauthn""#));
    assert!(
        login
            .body
            .contains(r#"<script src="/assets/passkey.js" defer></script>"#)
    );
    let script = s
        .http
        .get(s.url("/assets/passkey.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert!(
        script
            .text()
            .await
            .unwrap()
            .contains("navigator.credentials.get")
    );

    // Options need the session-bound CSRF token.
    let (status, _, body) = options(&b, "/login/passkey/options", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body, serde_json::json!({"error": "expired_form"}));
    let stranger = Browser::new(&s);
    let csrf = login.input("csrf").unwrap();
    let (status, _, _) = options(&stranger, "/login/passkey/options", Some(&csrf)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "another browser's token");

    // Discoverable sign-in: our RP ID, user verification required, no
    // credentials listed (the authenticator offers its own), not cached.
    let (status, cache, body) = options(&b, "/login/passkey/options", Some(&csrf)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(cache, "no-store");
    let pk = &body["options"]["publicKey"];
    assert_eq!(pk["rpId"], "localhost", "{body}");
    assert_eq!(pk["userVerification"], "required");
    assert!(pk["challenge"].as_str().unwrap().len() >= 43, "{body}");
    assert!(pk["allowCredentials"].as_array().is_none_or(Vec::is_empty));
    assert!(body["options"].get("mediation").is_none_or(Value::is_null));
    let state = body["state"].as_str().unwrap().to_owned();

    // Not a credential at all.
    let p = finish_sign_in(&b, &csrf, &state, "{}").await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    assert!(
        p.body.contains("That passkey could not be verified."),
        "{}",
        p.body
    );

    // A forged state; then the real one, spent by the first answer it got
    // (a wrong one): it never works twice.
    let p = finish_sign_in(&b, &csrf, "bm90IG91cnM", FAKE_ASSERTION).await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    assert!(
        p.body
            .contains("The passkey request has expired. Try again."),
        "{}",
        p.body
    );
    let (_, _, fresh) = options(&b, "/login/passkey/options", Some(&csrf)).await;
    let fresh = fresh["state"].as_str().unwrap().to_owned();
    let p = finish_sign_in(&b, &csrf, &fresh, FAKE_ASSERTION).await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    assert!(
        p.body.contains("That passkey could not be verified."),
        "{}",
        p.body
    );
    let p = finish_sign_in(&b, &csrf, &fresh, FAKE_ASSERTION).await;
    assert!(
        p.body
            .contains("The passkey request has expired. Try again."),
        "{}",
        p.body
    );
    // Spelled with whitespace around it, it is still the spent state.
    let padded = format!(" {fresh}\n");
    let p = finish_sign_in(&b, &csrf, &padded, FAKE_ASSERTION).await;
    assert!(
        p.body
            .contains("The passkey request has expired. Try again."),
        "{}",
        p.body
    );

    // The account's ceremonies need a signed-in user; the script is told
    // where to send the browser.
    let (status, _, body) = options(&b, "/account/passkeys/options", Some(&csrf)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        body,
        serde_json::json!({"error": "login_required", "location": "/login?next=account"})
    );
    let (status, _, body) = options(&b, "/login/mfa/passkey/options", Some(&csrf)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "login_required");

    // Signed in: registration options for alice, a discoverable credential
    // with user verification, and a sign-in state is not a registration's.
    let account = page(
        b.post(
            "/login",
            &[
                ("csrf", &csrf),
                ("request", ""),
                ("next", "account"),
                ("username", ALICE.0),
                ("password", ALICE.1),
            ],
        )
        .await,
    );
    assert!(
        account.body.contains(r#"id="passkey-add""#),
        "{}",
        account.body
    );
    assert!(account.body.contains("Passkeys"));
    let csrf = account.input("csrf").unwrap();
    let (status, _, body) = options(&b, "/account/passkeys/options", Some(&csrf)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let pk = &body["options"]["publicKey"];
    assert_eq!(pk["rp"]["id"], "localhost");
    assert_eq!(pk["user"]["name"], "alice");
    assert_ne!(pk["user"]["id"], Value::Null);
    assert_eq!(pk["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(pk["authenticatorSelection"]["userVerification"], "required");
    assert_eq!(pk["attestation"], "none");
    let (_, _, signin) = options(&b, "/login/passkey/options", Some(&csrf)).await;
    let r = b
        .post(
            "/account/passkeys",
            &[
                ("csrf", &csrf),
                ("state", signin["state"].as_str().unwrap()),
                ("credential", "{}"),
                ("name", "Laptop"),
            ],
        )
        .await;
    let p = page(r);
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(
        p.body.contains("That passkey could not be verified."),
        "{}",
        p.body
    );
    let r = b
        .post(
            "/account/passkeys",
            &[
                ("csrf", &csrf),
                ("state", signin["state"].as_str().unwrap()),
                (
                    "credential",
                    r#"{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"attestationObject":"AAAA","clientDataJSON":"e30"},"extensions":{}}"#,
                ),
                ("name", "Laptop"),
            ],
        )
        .await;
    let p = page(r);
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(
        p.body
            .contains("The passkey request has expired. Try again."),
        "{}",
        p.body
    );
    // Removing one that does not exist.
    let p = page(
        b.post(
            "/account/passkeys/remove",
            &[("csrf", &csrf), ("id", "AAAA")],
        )
        .await,
    );
    assert_eq!(p.status, StatusCode::BAD_REQUEST);
    assert!(p.body.contains("No such passkey."));
}
crate::both!(with_db passkey_ceremonies_answer_bad_input_exactly);

/// An issuer on an IP address cannot host WebAuthn: no passkey controls,
/// no passkey routes.
async fn passkeys_are_off_where_the_issuer_cannot_host_them(s: &Server) {
    let b = Browser::new(s);
    let login = login_page(&b).await;
    assert!(!login.body.contains("passkey"), "{}", login.body);
    assert!(login.body.contains(r#"autocomplete="username""#));
    let csrf = login.input("csrf").unwrap();
    let (status, _, body) = options(&b, "/login/passkey/options", Some(&csrf)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "not_found");
    assert!(s.log().contains("passkeys are off"), "{}", s.log());
}
crate::both!(passkeys_are_off_where_the_issuer_cannot_host_them);

/// `features.passkeys = true` where they cannot work is a start-up error
/// that says why, not a server without them.
#[test]
fn features_passkeys_true_needs_an_issuer_that_can_host_webauthn() {
    for (issuer, why) in [
        ("http://127.0.0.1:1", "WebAuthn needs a domain name"),
        ("http://[::1]:1", "WebAuthn needs a domain name"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("frontdesk.toml");
        std::fs::write(&config, PASSKEYS_ON).unwrap();
        let mut child = Command::new(bin())
            .arg("--config")
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--database")
            .arg(format!("sqlite://{}", dir.path().join("f.db").display()))
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--issuer", issuer])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if wait_blocking(Duration::from_secs(20), || child.try_wait().unwrap()).is_none() {
            let _ = child.kill();
            panic!("serve with {issuer} is still running");
        }
        let out = child.wait_with_output().unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("features.passkeys = true, but passkeys cannot work here")
                && err.contains(why),
            "{issuer}: {err}"
        );
        assert!(!String::from_utf8_lossy(&out.stdout).contains("listening on"));
    }
}
