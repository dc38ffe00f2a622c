//! `require_pkce = false` (issue 15, RFC 9700 §2.1.1): a confidential
//! OpenID Connect client that sends no PKCE challenge — what off-the-shelf
//! relying parties and the OpenID Foundation's certification plans do —
//! is served when its requests carry a `nonce`; a challenge that is sent is
//! still enforced; public clients and FAPI 2.0 clients cannot turn it off;
//! every other client still must send one. Over real HTTP, SQLite and
//! PostgreSQL.

use serde_json::{Value, json};

use crate::both;
use crate::browser::{ALICE, APP1, APP1_CB, Browser, authz, drive, pkce, query};
use crate::support::{Server, jwt_parts, parts};

const LEGACY: (&str, &str) = ("legacy", "legacy-secret-0123456789abcdef");
const LEGACY_CB: &str = "https://legacy.example.com/cb";

const CONFIG: &str = r#"
[[clients]]
client_id = "legacy"
client_secret = "legacy-secret-0123456789abcdef"
client_name = "Legacy RP"
grant_types = ["authorization_code"]
redirect_uris = ["https://legacy.example.com/cb"]
scope = "openid profile"
first_party = true
require_pkce = false

[[clients]]
client_id = "app1"
client_secret = "app1-secret-0123456789abcdef"
client_name = "APP1"
grant_types = ["authorization_code"]
redirect_uris = ["https://app1.example.com/cb"]
scope = "openid profile"
first_party = true
"#;

async fn redeem(s: &Server, code: &str, verifier: Option<&str>) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", LEGACY_CB),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    let (status, _, body) = parts(s.post_form("/token", Some(LEGACY), &form).await).await;
    (status, body)
}

/// The legacy client's request with `extra`, driven to its redirect.
async fn legacy(s: &Server, b: &Browser, extra: &[(&str, &str)]) -> url::Url {
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", LEGACY.0),
        ("redirect_uri", LEGACY_CB),
        ("state", "st-legacy"),
    ];
    pairs.extend_from_slice(extra);
    drive(b, &authz(s, &pairs), ALICE).await
}

fn error_of(to: &url::Url) -> (Option<String>, Option<String>) {
    (query(to, "error"), query(to, "error_description"))
}

async fn a_confidential_client_without_pkce_uses_a_nonce(s: &Server) {
    let b = Browser::new(s);

    // openid + nonce, no challenge: a code, redeemed without a verifier.
    let to = legacy(
        s,
        &b,
        &[("scope", "openid profile"), ("nonce", "n-legacy-1")],
    )
    .await;
    assert_eq!(query(&to, "state").as_deref(), Some("st-legacy"), "{to}");
    let code = query(&to, "code").unwrap_or_else(|| panic!("{to}"));
    let (status, tokens) = redeem(s, &code, None).await;
    assert_eq!(status, 200, "{tokens}");
    let (_, id) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["nonce"], "n-legacy-1");

    // Such a code with a verifier anyway: refused (RFC 9700 §2.1.1).
    let to = legacy(s, &b, &[("scope", "openid"), ("nonce", "n-legacy-2")]).await;
    let code = query(&to, "code").unwrap();
    let (status, body) = redeem(s, &code, Some(&pkce().0)).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"error": "invalid_grant",
               "error_description": "code_verifier was sent, but the authorization request had no code_challenge"})
    );

    // Without a nonce, or without openid: PKCE it is.
    let to = legacy(s, &b, &[("scope", "openid")]).await;
    assert_eq!(
        error_of(&to),
        (
            Some("invalid_request".into()),
            Some("nonce is required when no code_challenge is sent (RFC 9700 §2.1.1)".into())
        ),
        "{to}"
    );
    let to = legacy(s, &b, &[("scope", "profile"), ("nonce", "n")]).await;
    assert_eq!(
        error_of(&to).1.as_deref(),
        Some("code_challenge is required (PKCE with S256) for a request without openid"),
        "{to}"
    );

    // A challenge that is sent is enforced: no downgrade at the token endpoint.
    let (verifier, challenge) = pkce();
    let to = legacy(
        s,
        &b,
        &[
            ("scope", "openid"),
            ("nonce", "n-legacy-3"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    let code = query(&to, "code").unwrap();
    let (status, body) = redeem(s, &code, None).await;
    assert_eq!(status, 400);
    assert_eq!(body["error_description"], "code_verifier is required");
    let to = legacy(
        s,
        &b,
        &[
            ("scope", "openid"),
            ("nonce", "n-legacy-4"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )
    .await;
    let (status, body) = redeem(s, &query(&to, "code").unwrap(), Some(&verifier)).await;
    assert_eq!(status, 200, "{body}");

    // Every other client still must send one.
    let to = drive(
        &b,
        &authz(
            s,
            &[
                ("response_type", "code"),
                ("client_id", APP1.0),
                ("redirect_uri", APP1_CB),
                ("scope", "openid"),
                ("nonce", "n"),
            ],
        ),
        ALICE,
    )
    .await;
    assert_eq!(
        error_of(&to).1.as_deref(),
        Some("code_challenge is required (PKCE with S256)"),
        "{to}"
    );

    // Registration: a public client cannot turn PKCE off; the client view
    // shows the switch.
    let out = s.cli(
        &[
            "clients",
            "create",
            "--name",
            "Public",
            "--grant-type",
            "authorization_code",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--auth-method",
            "none",
            "--require-pkce",
            "false",
        ],
        None,
    );
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "frontdesk: require_pkce = false is for confidential clients only: a public client \
         always sends a PKCE challenge (RFC 9700 §2.1.1)\n"
    );
    let out = s.cli(&["clients", "show", "legacy"], None);
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["require_pkce"], false, "{shown}");
    let out = s.cli(&["clients", "show", "app1"], None);
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["require_pkce"], true, "{shown}");
}
both!(a_confidential_client_without_pkce_uses_a_nonce, CONFIG);
