//! Interop with an OpenID Certified relying-party library: panva's
//! `openid-client` (Node.js, interop/node/rp.mjs), configured only from
//! discovery, runs the code + PKCE flow, verifies the ID token with its own
//! code, calls userinfo and refreshes. And DPoP (RFC 9449) with panva's
//! `oauth4webapi` (interop/node/dpop.mjs), a client whose proofs and checks
//! are its own: client credentials, code + PKCE with `dpop_jkt`, userinfo,
//! a key-bound refresh, and server nonces. Skipped (with a line saying so) when
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
    let installed = ["openid-client", "oauth4webapi"].iter().all(|p| {
        node_dir()
            .join("node_modules")
            .join(p)
            .join("package.json")
            .exists()
    });
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

/// The browser's part: Alice signs in at `url` and approves; the client
/// reads the callback URL on its stdin.
async fn sign_in_and_answer(s: &Server, url: &str, child: &mut std::process::Child) {
    let b = Browser::new(s);
    let login = page(b.get(url).await);
    let consent = page(b.login(&login, ALICE).await);
    let callback = redirect(b.consent(&consent, "approve").await);
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{callback}").unwrap();
}

/// openid-client's flow (rp.mjs) as app1, with `env` added (SCOPE,
/// CLAIMS): the authorization URL it built and what it reported.
fn spawn_openid_client(s: &Server, env: &[(&str, &str)]) -> std::process::Child {
    let mut cmd = Command::new("node");
    cmd.arg("rp.mjs")
        .current_dir(node_dir())
        .env("ISSUER", &s.base)
        .env("CLIENT_ID", "app1")
        .env("CLIENT_SECRET", "app1-secret-0123456789abcdef")
        .env("REDIRECT_URI", "https://app1.example.com/cb")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().expect("spawn node")
}

async fn run_openid_client(s: &Server, env: &[(&str, &str)]) -> (String, Value) {
    let mut child = spawn_openid_client(s, env);
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: Value = serde_json::from_str(&out.next().unwrap().unwrap()).unwrap();
    let url = first["authorization_url"]
        .as_str()
        .unwrap_or_else(|| panic!("{first}"))
        .to_owned();
    sign_in_and_answer(s, &url, &mut child).await;
    let result: Value = serde_json::from_str(&out.next().unwrap().unwrap()).unwrap();
    assert!(child.wait().unwrap().success(), "{result}");
    assert!(result.get("error").is_none(), "{result}");
    (url, result)
}

async fn openid_client_completes_the_flow(s: &Server) {
    if !available() {
        return;
    }
    let (url, result) = run_openid_client(s, &[]).await;
    assert!(url.contains("code_challenge_method=S256") && url.contains("nonce="));
    assert_eq!(result["claims"]["iss"], s.base.as_str());
    assert_eq!(result["claims"]["aud"], "app1");
    assert_eq!(result["userinfo"]["sub"], result["sub"]);
    assert_eq!(result["userinfo"]["email"], "alice@example.com");
    assert_eq!(result["refreshed"]["rotated"], true);
    assert_eq!(result["refreshed"]["sub"], result["sub"]);
}
both!(openid_client_completes_the_flow, SIGNIN_CONFIG);

/// `oidcc-claims-essential` with openid-client: the `claims` parameter
/// asks for `name` at userinfo and `email` in the ID token, with only
/// `openid` (and `offline_access`) as scope; openid-client verifies the ID
/// tokens, the first and the refreshed one, itself.
async fn oidcc_claims_essential_with_openid_client(s: &Server) {
    if !available() {
        return;
    }
    let claims =
        r#"{"userinfo":{"name":{"essential":true}},"id_token":{"email":{"essential":true}}}"#;
    let (url, result) =
        run_openid_client(s, &[("SCOPE", "openid offline_access"), ("CLAIMS", claims)]).await;
    let sent = url::Url::parse(&url).unwrap();
    let sent = sent.query_pairs().find(|(k, _)| k == "claims").unwrap().1;
    assert_eq!(sent, claims);
    assert_eq!(result["claims"]["email"], "alice@example.com");
    assert!(result["claims"].get("name").is_none(), "{result}");
    assert_eq!(result["userinfo"]["name"], "Alice Example");
    assert!(result["userinfo"].get("email").is_none(), "{result}");
    assert_eq!(result["refreshed"]["claims"]["email"], "alice@example.com");
}
both!(oidcc_claims_essential_with_openid_client, SIGNIN_CONFIG);

// DPoP (RFC 9449) with a stranger's client: panva's `oauth4webapi`
// (interop/node/dpop.mjs), configured only from discovery, makes and sends
// the proofs with its own code, binds the code with `dpop_jkt`, answers
// `use_dpop_nonce` with its documented retry, and checks our responses.

/// A confidential machine client that must present DPoP proofs (RFC 9449
/// §5.2 `dpop_bound_access_tokens`) and a public browser client that may.
const DPOP_CONFIG: &str = r#"
[[clients]]
client_id = "dpop-service"
client_secret = "dpop-service-secret-0123456789"
client_name = "DPoP Service"
grant_types = ["client_credentials"]
scope = "photos:read"
audience = ["https://photos.example.com"]
dpop_bound_access_tokens = true

[[clients]]
client_id = "dpop-spa"
client_name = "DPoP SPA"
token_endpoint_auth_method = "none"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["https://spa.example.com/cb"]
scope = "openid profile email offline_access"
"#;

const DPOP_SERVICE: (&str, &str) = ("dpop-service", "dpop-service-secret-0123456789");

/// `node dpop.mjs` in `mode` against `s`, with its stdin and stdout lines.
fn dpop_client(
    s: &Server,
    mode: &str,
    client_id: &str,
    secret: &str,
) -> (
    std::process::Child,
    std::io::Lines<BufReader<std::process::ChildStdout>>,
) {
    let mut child = Command::new("node")
        .arg("dpop.mjs")
        .current_dir(node_dir())
        .env("ISSUER", &s.base)
        .env("MODE", mode)
        .env("CLIENT_ID", client_id)
        .env("CLIENT_SECRET", secret)
        .env("REDIRECT_URI", "https://spa.example.com/cb")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn node");
    let out = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, out)
}

/// The last line of the client, after it exited successfully.
fn finish(
    mut child: std::process::Child,
    out: &mut std::io::Lines<BufReader<std::process::ChildStdout>>,
) -> Value {
    let result: Value = serde_json::from_str(&out.next().unwrap().unwrap()).unwrap();
    assert!(child.wait().unwrap().success(), "{result}");
    assert!(result.get("error").is_none(), "{result}");
    result
}

/// The thumbprint the library reports is the RFC 7638 thumbprint of the
/// public key it printed (our own implementation computes it).
fn reported_jkt(result: &Value) -> String {
    let jwk: frontdesk_jose::Jwk = serde_json::from_value(result["public_jwk"].clone()).unwrap();
    let jkt = frontdesk_jose::thumbprint(&jwk).unwrap();
    assert_eq!(result["jkt"], jkt.as_str(), "{result}");
    jkt
}

/// A DPoP token response: `token_type` DPoP (RFC 9449 §5) and a JWT access
/// token whose `cnf.jkt` (§6.1) is the client's key, which introspection
/// reports too (§6.2).
async fn assert_bound(s: &Server, token: &Value, jkt: &str) {
    assert_eq!(token["token_type"], "DPoP", "{token}");
    let at = token["access_token"].as_str().unwrap();
    let (_, claims) = crate::support::jwt_parts(at);
    assert_eq!(claims["cnf"], serde_json::json!({ "jkt": jkt }));
    let info = s.introspect(at).await;
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["token_type"], "DPoP", "{info}");
    assert_eq!(info["cnf"], serde_json::json!({ "jkt": jkt }), "{info}");
}

/// Client credentials with a DPoP proof made by oauth4webapi; returns the
/// library's report.
async fn dpop_client_credentials(s: &Server) -> Value {
    let (child, mut out) = dpop_client(s, "client_credentials", DPOP_SERVICE.0, DPOP_SERVICE.1);
    let result = finish(child, &mut out);
    let jkt = reported_jkt(&result);
    assert!(
        result["dpop_signing_alg_values_supported"]
            .as_array()
            .is_some_and(|a| a.contains(&Value::from("ES256"))),
        "{result}"
    );
    assert_bound(s, &result["token"], &jkt).await;
    assert_eq!(result["token"]["scope"], "photos:read");
    result
}

async fn oauth4webapi_dpop_client_credentials(s: &Server) {
    if !available() {
        return;
    }
    let result = dpop_client_credentials(s).await;
    assert_eq!(result["nonce_retries"]["token"], 0, "{result}");
    // The client is dpop_bound_access_tokens: without a proof, no token.
    let r = s
        .post_form(
            "/token",
            Some(DPOP_SERVICE),
            &[("grant_type", "client_credentials")],
        )
        .await;
    let (status, _, body) = crate::support::parts(r).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        serde_json::json!({
            "error": "invalid_dpop_proof",
            "error_description": "this client's tokens must be DPoP-bound: send a DPoP proof",
        })
    );
}
both!(oauth4webapi_dpop_client_credentials, DPOP_CONFIG);

/// Code + PKCE with `dpop_jkt` for a public client, DPoP at the token
/// endpoint and at userinfo, then a DPoP refresh; returns the library's
/// report once the server's side of the binding is checked too.
async fn dpop_code_flow(s: &Server) -> Value {
    let (mut child, mut out) = dpop_client(s, "code", "dpop-spa", "");
    let first: Value = serde_json::from_str(&out.next().unwrap().unwrap()).unwrap();
    let url = first["authorization_url"]
        .as_str()
        .unwrap_or_else(|| panic!("{first}"))
        .to_owned();
    let jkt = first["jkt"].as_str().unwrap().to_owned();
    let parsed = url::Url::parse(&url).unwrap();
    assert_eq!(
        crate::browser::query(&parsed, "dpop_jkt").as_deref(),
        Some(jkt.as_str())
    );

    sign_in_and_answer(s, &url, &mut child).await;
    let result = finish(child, &mut out);
    assert_eq!(reported_jkt(&result), jkt);

    assert_eq!(result["claims"]["iss"], s.base.as_str());
    assert_eq!(result["claims"]["aud"], "dpop-spa");
    assert_eq!(result["userinfo"]["sub"], result["claims"]["sub"]);
    assert_eq!(result["userinfo"]["email"], "alice@example.com");
    assert_bound(s, &result["token"], &jkt).await;
    assert_bound(s, &result["refreshed"], &jkt).await;
    let old = result["token"]["refresh_token"].as_str().unwrap();
    let new = result["refreshed"]["refresh_token"].as_str().unwrap();
    assert_ne!(old, new, "the refresh token rotates");

    // §5: a public client's refresh token is bound to the key too.
    let info = s.introspect(new).await;
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["cnf"], serde_json::json!({ "jkt": jkt }), "{info}");
    // Without a proof of that key the refresh token is refused, and not
    // spent: it is still active afterwards.
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", new),
        ("client_id", "dpop-spa"),
    ];
    let (status, _, body) = crate::support::parts(s.post_form("/token", None, &form).await).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        serde_json::json!({
            "error": "invalid_grant",
            "error_description": "the refresh token is bound to a DPoP key: send a proof of that key",
        })
    );
    assert_eq!(s.introspect(new).await["active"], true);

    // §7.2: the DPoP-bound access token is no bearer token.
    let at = result["refreshed"]["access_token"].as_str().unwrap();
    let r = s
        .http
        .get(s.url("/userinfo"))
        .bearer_auth(at)
        .send()
        .await
        .unwrap();
    let (status, h, body) = crate::support::parts(r).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_token", "{body}");
    assert_eq!(
        h["www-authenticate"],
        r#"Bearer realm="frontdesk", error="invalid_token", error_description="the access token is DPoP-bound: send it with the DPoP scheme and a proof""#
    );
    result
}

async fn oauth4webapi_dpop_code_flow(s: &Server) {
    if !available() {
        return;
    }
    let result = dpop_code_flow(s).await;
    assert_eq!(
        result["nonce_retries"],
        serde_json::json!({ "token": 0, "userinfo": 0 })
    );
}
both!(oauth4webapi_dpop_code_flow, DPOP_CONFIG);

/// With `use_dpop_nonce` (§8), the library's first proof at each endpoint
/// has no nonce; the server answers `use_dpop_nonce` with a `DPoP-Nonce`
/// (400 at the token endpoint, a 401 `DPoP` challenge at userinfo), the
/// library retries once with it, and everything else goes as without.
async fn oauth4webapi_answers_dpop_nonces(s: &Server) {
    if !available() {
        return;
    }
    let result = dpop_client_credentials(s).await;
    assert_eq!(result["nonce_retries"]["token"], 1, "{result}");
    // The code exchange retries once; the refresh reuses the nonce of the
    // exchange's answer. Userinfo, asked with a handle that has no nonce
    // yet, retries once on its own challenge.
    let result = dpop_code_flow(s).await;
    assert_eq!(
        result["nonce_retries"],
        serde_json::json!({ "token": 1, "userinfo": 1 })
    );
}
both!(
    oauth4webapi_answers_dpop_nonces,
    &format!("use_dpop_nonce = true\n{DPOP_CONFIG}")
);

// private_key_jwt (RFC 7523, OIDC Core §9) with oauth4webapi
// (interop/node/private_key_jwt.mjs): the library signs the assertions with
// a key it made, pushes the authorization request (RFC 9126), binds the
// code and the tokens to a DPoP key of its own, and checks our answers.

/// Client credentials, then PAR + code + PKCE + DPoP, userinfo with DPoP
/// and a DPoP-bound refresh, every client authentication a private_key_jwt
/// assertion made by the library.
async fn oauth4webapi_private_key_jwt(s: &Server) {
    if !available() {
        return;
    }
    const CB: &str = "https://pkj.example.com/cb";
    let mut child = Command::new("node")
        .arg("private_key_jwt.mjs")
        .current_dir(node_dir())
        .env("ISSUER", &s.base)
        .env("CLIENT_ID", "pkj-node")
        .env("REDIRECT_URI", CB)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn node");
    let mut stdin = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = || -> Value { serde_json::from_str(&out.next().unwrap().unwrap()).unwrap() };

    // The library's public key, registered as it printed it (WebCrypto's
    // export: no `kid`, `alg` or `use`, plus `ext` and `key_ops`).
    let first = next();
    let jwk = first["public_jwk"].clone();
    assert!(jwk.get("d").is_none(), "{first}");
    crate::private_key_jwt::register_as(
        s,
        "pkj-node",
        CB,
        serde_json::json!({"jwks": {"keys": [jwk]}}),
    )
    .await;
    writeln!(stdin, "registered").unwrap();

    let second = next();
    let cc = &second["client_credentials"];
    assert!(second.get("error").is_none(), "{second}");
    assert_eq!(
        cc["token_type"]
            .as_str()
            .map(str::to_ascii_lowercase)
            .as_deref(),
        Some("bearer")
    );
    let (_, at) = crate::support::jwt_parts(cc["access_token"].as_str().unwrap());
    assert_eq!(at["sub"], "pkj-node");
    assert_eq!(at["scope"], "photos:read");
    let url = second["authorization_url"]
        .as_str()
        .unwrap_or_else(|| panic!("{second}"))
        .to_owned();
    let parsed = url::Url::parse(&url).unwrap();
    let mut names: Vec<String> = parsed.query_pairs().map(|(k, _)| k.into_owned()).collect();
    names.sort();
    assert_eq!(names, ["client_id", "request_uri"], "pushed: {url}");
    let jkt = second["jkt"].as_str().unwrap().to_owned();

    let b = Browser::new(s);
    let callback = crate::browser::drive(&b, &url, ALICE).await;
    assert!(callback.as_str().starts_with(CB), "{callback}");
    writeln!(stdin, "{callback}").unwrap();

    let result = next();
    assert!(child.wait().unwrap().success(), "{result}");
    assert!(result.get("error").is_none(), "{result}");
    let dpop_jwk: frontdesk_jose::Jwk =
        serde_json::from_value(result["dpop_public_jwk"].clone()).unwrap();
    assert_eq!(frontdesk_jose::thumbprint(&dpop_jwk).unwrap(), jkt);
    assert_eq!(result["claims"]["iss"], s.base.as_str());
    assert_eq!(result["claims"]["aud"], "pkj-node");
    assert_eq!(result["userinfo"]["sub"], result["claims"]["sub"]);
    assert_eq!(result["userinfo"]["email"], "alice@example.com");
    assert_bound(s, &result["token"], &jkt).await;
    assert_bound(s, &result["refreshed"], &jkt).await;
    assert_ne!(
        result["token"]["refresh_token"], result["refreshed"]["refresh_token"],
        "the refresh token rotates"
    );
}
both!(oauth4webapi_private_key_jwt, SIGNIN_CONFIG);
