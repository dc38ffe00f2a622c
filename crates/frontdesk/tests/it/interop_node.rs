//! Interop with an OpenID Certified relying-party library: panva's
//! `openid-client` (Node.js, interop/node/rp.mjs), configured only from
//! discovery, runs the code + PKCE flow, verifies the ID token with its own
//! code, calls userinfo and refreshes. Skipped (with a line saying so) when
//! Node or the installed package is missing, unless
//! FRONTDESK_TEST_NODE=required (as in CI, which runs `npm ci` first).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::both;
use crate::browser::{ALICE, Browser, SIGNIN_CONFIG, page, redirect};
use crate::support::Server;

fn node_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/node")
}

fn available() -> bool {
    let installed = node_dir()
        .join("node_modules/openid-client/package.json")
        .exists();
    let node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if installed && node {
        return true;
    }
    assert!(
        std::env::var("FRONTDESK_TEST_NODE").as_deref() != Ok("required"),
        "Node.js or interop/node/node_modules is missing (run `npm ci` in interop/node)"
    );
    eprintln!(
        "skipped: Node.js or interop/node/node_modules missing (npm ci --prefix interop/node)"
    );
    false
}

async fn openid_client_completes_the_flow(s: &Server) {
    if !available() {
        return;
    }
    let mut child = Command::new("node")
        .arg("rp.mjs")
        .current_dir(node_dir())
        .env("ISSUER", &s.base)
        .env("CLIENT_ID", "app1")
        .env("CLIENT_SECRET", "app1-secret-0123456789abcdef")
        .env("REDIRECT_URI", "https://app1.example.com/cb")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn node");
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: Value = serde_json::from_str(&out.next().unwrap().unwrap()).unwrap();
    let url = first["authorization_url"]
        .as_str()
        .unwrap_or_else(|| panic!("{first}"))
        .to_owned();
    assert!(url.contains("code_challenge_method=S256") && url.contains("nonce="));

    let b = Browser::new(s);
    let login = page(b.get(&url).await);
    let consent = page(b.login(&login, ALICE).await);
    let callback = redirect(b.consent(&consent, "approve").await);

    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{callback}").unwrap();
    drop(stdin);
    let result: Value = serde_json::from_str(&out.next().unwrap().unwrap()).unwrap();
    assert!(child.wait().unwrap().success(), "{result}");
    assert!(result.get("error").is_none(), "{result}");
    assert_eq!(result["claims"]["iss"], s.base.as_str());
    assert_eq!(result["claims"]["aud"], "app1");
    assert_eq!(result["userinfo"]["sub"], result["sub"]);
    assert_eq!(result["userinfo"]["email"], "alice@example.com");
    assert_eq!(result["refreshed"]["rotated"], true);
    assert_eq!(result["refreshed"]["sub"], result["sub"]);
}
both!(openid_client_completes_the_flow, SIGNIN_CONFIG);
