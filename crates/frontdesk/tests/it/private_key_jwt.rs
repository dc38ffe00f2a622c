//! `private_key_jwt` client authentication (RFC 7523 §2.2 and §3, OIDC Core
//! §9) over real HTTP: registering key clients (CLI and admin API),
//! discovery, assertions at `/token`, `/introspect`, `/revoke` and `/par`
//! with their exact refusals (replay, foreign `aud`, another client's key),
//! and keys published at a `jwks_uri` served by the test itself (fetch
//! counts, rotation, made-up `kid`s, an unreachable or misbehaving key
//! server). The claim-by-claim table is core's
//! (crates/core/tests/it/client_assertion.rs). SECURITY.md R26, R27, §14.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use frontdesk_jose::{Algorithm, SigningKey};
use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::both;
use crate::browser::{ALICE, Browser, pkce, query};
use crate::support::{PHOTOS, Server, assert_no_store, invalid_client, jwt_parts, parts, unix_now};

/// `client_assertion_type` of a JWT assertion (RFC 7523 §2.2).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The one redirect URI of the key clients registered here.
const CB: &str = "https://keys.example.com/cb";

/// Enough room for the failures these tests cause on purpose: the
/// per-address throttle (SECURITY.md §5.6) is tested elsewhere.
const CONFIG: &str = "client_auth_max_failures_per_ip = 1000\n";

/// The challenge of every `invalid_client` (RFC 6749 §5.2).
const BASIC_CHALLENGE: &str = r#"Basic realm="frontdesk", charset="UTF-8""#;

pub fn key() -> SigningKey {
    SigningKey::generate(Algorithm::ES256).unwrap().0
}

/// The public JWK Set of `keys`.
pub fn jwks_of(keys: &[&SigningKey]) -> Value {
    json!({"keys": keys.iter().map(|k| serde_json::to_value(k.public_jwk()).unwrap()).collect::<Vec<_>>()})
}

/// What a client assertion carries (RFC 7523 §3): `iss` = `sub` = the
/// client, `aud`, a minute's `exp`, a fresh `jti`.
pub fn claims(client: &str, aud: &str) -> Value {
    let now = unix_now();
    json!({
        "iss": client,
        "sub": client,
        "aud": aud,
        "exp": now + 60,
        "iat": now,
        "jti": frontdesk_core::secret::random_string(16).unwrap(),
    })
}

/// A fresh assertion for `client` signed by `key`.
pub fn assertion(key: &SigningKey, client: &str, aud: &str) -> String {
    key.sign(None, &claims(client, aud)).unwrap()
}

/// POSTs `form` plus the assertion to `path`.
pub async fn with_assertion(
    s: &Server,
    path: &str,
    assertion: &str,
    form: &[(&str, &str)],
) -> (u16, HeaderMap, Value) {
    let mut f = vec![
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion),
    ];
    f.extend_from_slice(form);
    parts(s.post_form(path, None, &f).await).await
}

async fn client_credentials(s: &Server, assertion: &str) -> (u16, HeaderMap, Value) {
    with_assertion(
        s,
        "/token",
        assertion,
        &[("grant_type", "client_credentials")],
    )
    .await
}

/// Registers `id` as a `private_key_jwt` client through the admin API, with
/// `keys` (`{"jwks": …}` or `{"jwks_uri": …}`).
pub async fn register(s: &Server, id: &str, keys: Value) {
    register_as(s, id, CB, keys).await;
}

/// [`register`] with the redirect URI `cb`.
pub async fn register_as(s: &Server, id: &str, cb: &str, keys: Value) {
    let mut body = json!({
        "client_id": id,
        "client_name": id,
        "token_endpoint_auth_method": "private_key_jwt",
        "grant_types": ["client_credentials", "authorization_code", "refresh_token"],
        "redirect_uris": [cb],
        "scope": "openid profile email offline_access photos:read",
        "audience": [PHOTOS],
    });
    for (k, v) in keys.as_object().unwrap() {
        body[k] = v.clone();
    }
    let (status, _, created) = parts(
        s.admin_req(Method::POST, "/admin/clients", Some(body))
            .await,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert!(created.get("client_secret").is_none(), "{created}");
}

/// A refused client authentication: 401, the body, the Basic challenge,
/// never cached.
fn assert_refused(got: &(u16, HeaderMap, Value), description: &str, what: &str) {
    let (status, h, body) = got;
    assert_eq!(*status, 401, "{what}: {body}");
    assert_eq!(
        *body,
        json!({"error": "invalid_client", "error_description": description}),
        "{what}"
    );
    assert_eq!(h["www-authenticate"], BASIC_CHALLENGE, "{what}");
    assert_no_store(h);
}

const REPLAY: &str = "this client assertion was used before: each needs its own jti (RFC 7523 §3)";
const FOREIGN_AUD: &str =
    "the client assertion's aud must be this server's issuer identifier (RFC 7523 §3)";
const UNVERIFIED: &str = "the client assertion does not verify with the client's registered keys";

// ----- registration -----

fn cli_ok(s: &Server, args: &[&str]) -> String {
    let o = s.cli(args, None);
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}{out}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// The CLI's one line on stderr for a refused command.
fn cli_refusal(s: &Server, args: &[&str]) -> String {
    let o = s.cli(args, None);
    assert!(
        !o.status.success(),
        "{args:?} succeeded: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8(o.stderr).unwrap()
}

/// Key clients are registered with public keys only, by value or by an
/// `https` URI, never both, never without; the same rules and messages for
/// the CLI and the admin API.
async fn key_clients_are_registered_with_public_keys_only(s: &Server) {
    let k = key();
    let file = s.dir.path().join("client.jwks.json");
    std::fs::write(&file, jwks_of(&[&k]).to_string()).unwrap();
    let file = file.to_str().unwrap();
    let out = cli_ok(
        s,
        &[
            "clients",
            "create",
            "--client-id",
            "cli-key",
            "--name",
            "CLI Key",
            "--grant-type",
            "client_credentials",
            "--scope",
            "photos:read",
            "--auth-method",
            "private_key_jwt",
            "--jwks-file",
            file,
            "--token-endpoint-auth-signing-alg",
            "ES256",
            "--json",
        ],
    );
    let created: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        created,
        json!({"client_id": "cli-key", "client_secret": null})
    );
    // Without --json, no secret and no "public client" either.
    let out = cli_ok(
        s,
        &[
            "clients",
            "create",
            "--client-id",
            "cli-key-2",
            "--name",
            "CLI Key 2",
            "--grant-type",
            "client_credentials",
            "--auth-method",
            "private_key_jwt",
            "--jwks-file",
            file,
        ],
    );
    assert_eq!(
        out,
        "client_id:     cli-key-2\n(private_key_jwt: no secret; the client signs with its own keys)\n"
    );
    let shown: Value = serde_json::from_str(&cli_ok(s, &["clients", "show", "cli-key"])).unwrap();
    assert_eq!(shown["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(shown["jwks"], jwks_of(&[&k]));
    assert_eq!(shown["jwks_uri"], Value::Null);
    assert_eq!(shown["token_endpoint_auth_signing_alg"], "ES256");
    assert_eq!(shown["secrets"], json!([]));
    // The client signs in with its key at once.
    let (status, _, body) = client_credentials(s, &assertion(&k, "cli-key", &s.base)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        jwt_parts(body["access_token"].as_str().unwrap()).1["sub"],
        "cli-key"
    );
    // A secret for it is refused: it authenticates with its keys.
    let err = cli_refusal(s, &["clients", "rotate-secret", "cli-key"]);
    assert_eq!(
        err,
        "frontdesk: a private_key_jwt client has no secret: it authenticates with its keys\n"
    );

    let mut private = jwks_of(&[&k]);
    private["keys"][0]["d"] = json!("c2VjcmV0LWtleS1tYXRlcmlhbC0wMTIzNDU2Nzg5YWI");
    let private_file = s.dir.path().join("private.jwks.json");
    std::fs::write(&private_file, private.to_string()).unwrap();
    let private_file = private_file.to_str().unwrap();
    let private_msg =
        "jwks: invalid key: key 0 carries the private member `d`: register public keys only";
    let both_msg = "jwks and jwks_uri must not both be given (RFC 7591 §2)";
    let none_msg = "private_key_jwt needs the client's public keys: jwks or jwks_uri";
    let http_msg = "jwks_uri \"http://example.com/jwks\": must be https (http only on the loopback addresses 127.0.0.1 and [::1])";
    let hs_msg =
        "token_endpoint_auth_signing_alg \"HS256\" is not supported (ES256, EdDSA, PS256, RS256)";
    let base = [
        "clients",
        "create",
        "--name",
        "Refused",
        "--grant-type",
        "client_credentials",
        "--auth-method",
        "private_key_jwt",
    ];
    let cli_cases: [(&[&str], &str); 5] = [
        (&["--jwks-file", private_file], private_msg),
        (
            &[
                "--jwks-file",
                file,
                "--jwks-uri",
                "https://keys.example.com/jwks",
            ],
            both_msg,
        ),
        (&[], none_msg),
        (&["--jwks-uri", "http://example.com/jwks"], http_msg),
        (
            &[
                "--jwks-file",
                file,
                "--token-endpoint-auth-signing-alg",
                "HS256",
            ],
            hs_msg,
        ),
    ];
    for (extra, msg) in cli_cases {
        let args = [&base[..], extra].concat();
        assert_eq!(
            cli_refusal(s, &args),
            format!("frontdesk: {msg}\n"),
            "{extra:?}"
        );
    }

    // `none` removes a key field on update: the keys alone cannot go (the
    // client would have none), but they can move to a jwks_uri, and the
    // algorithm pin can be lifted.
    assert_eq!(
        cli_refusal(s, &["clients", "update", "cli-key", "--jwks-file", "none"]),
        format!("frontdesk: {none_msg}\n")
    );
    cli_ok(
        s,
        &[
            "clients",
            "update",
            "cli-key",
            "--jwks-file",
            "none",
            "--jwks-uri",
            "https://keys.example.com/jwks",
            "--token-endpoint-auth-signing-alg",
            "none",
        ],
    );
    let shown: Value = serde_json::from_str(&cli_ok(s, &["clients", "show", "cli-key"])).unwrap();
    assert_eq!(shown["jwks"], Value::Null, "{shown}");
    assert_eq!(
        shown["jwks_uri"], "https://keys.example.com/jwks",
        "{shown}"
    );
    assert_eq!(
        shown["token_endpoint_auth_signing_alg"],
        Value::Null,
        "{shown}"
    );

    let spec = |extra: Value| {
        let mut b = json!({
            "client_name": "Refused",
            "grant_types": ["client_credentials"],
            "token_endpoint_auth_method": "private_key_jwt",
        });
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let admin_cases = [
        (json!({"jwks": private}), private_msg),
        (
            json!({"jwks": jwks_of(&[&k]), "jwks_uri": "https://keys.example.com/jwks"}),
            both_msg,
        ),
        (json!({}), none_msg),
        (json!({"jwks_uri": "http://example.com/jwks"}), http_msg),
        (
            json!({"jwks": jwks_of(&[&k]), "token_endpoint_auth_signing_alg": "HS256"}),
            hs_msg,
        ),
        (
            json!({"jwks": jwks_of(&[&k]), "client_secret": "a-secret-of-enough-length-0123"}),
            "a private_key_jwt client authenticates with its keys and has no client_secret",
        ),
    ];
    for (extra, msg) in admin_cases {
        let (status, _, body) = parts(
            s.admin_req(Method::POST, "/admin/clients", Some(spec(extra.clone())))
                .await,
        )
        .await;
        assert_eq!(status, 400, "{extra}: {body}");
        assert_eq!(
            body,
            json!({"error": "invalid_request", "error_description": msg}),
            "{extra}"
        );
    }
    // A secret client does not become a key client (nor the reverse).
    let (status, _, body) = parts(
        s.admin_req(
            Method::PATCH,
            "/admin/clients/order-service",
            Some(json!({"token_endpoint_auth_method": "private_key_jwt", "jwks": jwks_of(&[&k])})),
        )
        .await,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error_description"],
        "a client cannot switch between a client secret and private_key_jwt; create a new one"
    );
    // The admin API registers the same client the CLI did.
    let (status, _, created) = parts(
        s.admin_req(
            Method::POST,
            "/admin/clients",
            Some(json!({
                "client_id": "api-key",
                "client_name": "API Key",
                "grant_types": ["client_credentials"],
                "token_endpoint_auth_method": "private_key_jwt",
                "jwks_uri": "https://keys.example.com/jwks",
            })),
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["jwks_uri"], "https://keys.example.com/jwks");
    assert_eq!(created["jwks"], Value::Null);
    assert!(created.get("client_secret").is_none(), "{created}");
    // From a URI to keys by value: the URI goes in the same change, and the
    // new key works at once.
    let (status, _, patched) = parts(
        s.admin_req(
            Method::PATCH,
            "/admin/clients/api-key",
            Some(json!({"jwks_uri": null, "jwks": jwks_of(&[&k])})),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["jwks_uri"], Value::Null);
    let (status, _, body) = client_credentials(s, &assertion(&k, "api-key", &s.base)).await;
    assert_eq!(status, 200, "{body}");

    let list: Value = serde_json::from_str(&cli_ok(s, &["clients", "list", "--json"])).unwrap();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .filter(|id| id.contains("key"))
        .collect();
    assert_eq!(ids.len(), 3, "only the three accepted: {ids:?}");
}
both!(key_clients_are_registered_with_public_keys_only, CONFIG);

/// A key client declared in the configuration, as the other clients are.
async fn a_key_client_can_be_declared_in_the_configuration(
    dir: tempfile::TempDir,
    db: crate::support::Database,
) {
    let k = key();
    let jwk = serde_json::to_value(k.public_jwk()).unwrap();
    let members: Vec<String> = jwk
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, v)| format!("{name} = {v}"))
        .collect();
    let config = format!(
        r#"
[[clients]]
client_id = "configured-key"
client_name = "Configured Key"
grant_types = ["client_credentials"]
token_endpoint_auth_method = "private_key_jwt"
scope = "photos:read"
jwks = {{ keys = [{{ {} }}] }}
"#,
        members.join(", ")
    );
    let s = Server::start_in(dir, &db.url, &config);
    let (status, _, body) = client_credentials(&s, &assertion(&k, "configured-key", &s.base)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "photos:read");
}
both!(with_db a_key_client_can_be_declared_in_the_configuration);

/// Discovery names the method for every endpoint that authenticates
/// clients, with the algorithms (RFC 8414 §2: required with
/// `private_key_jwt`).
async fn discovery_lists_private_key_jwt(s: &Server) {
    let m = s.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        m["token_endpoint_auth_methods_supported"],
        json!([
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "none"
        ])
    );
    for endpoint in ["introspection", "revocation"] {
        assert_eq!(
            m[format!("{endpoint}_endpoint_auth_methods_supported")],
            json!([
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt"
            ]),
            "{endpoint}"
        );
    }
    for endpoint in ["token", "introspection", "revocation"] {
        assert_eq!(
            m[format!("{endpoint}_endpoint_auth_signing_alg_values_supported")],
            json!(["ES256", "EdDSA", "PS256", "RS256"]),
            "{endpoint}"
        );
    }
    assert_eq!(
        s.get_json("/.well-known/oauth-authorization-server").await,
        m
    );
}
both!(discovery_lists_private_key_jwt, CONFIG);

// ----- assertions at the token endpoint -----

/// Client credentials with an assertion; then a replay, foreign audiences,
/// another client's key, and the other methods mixed in: each an exact
/// `invalid_client` (SECURITY.md R27, PK1–PK3).
async fn pkj_client_credentials_replay_audience_and_key_confusion(s: &Server) {
    let (ka, kb) = (key(), key());
    register(s, "key-a", json!({"jwks": jwks_of(&[&ka])})).await;
    register(s, "key-b", json!({"jwks": jwks_of(&[&kb])})).await;

    let first = assertion(&ka, "key-a", &s.base);
    let (status, h, body) = client_credentials(s, &first).await;
    assert_eq!(status, 200, "{body}");
    assert_no_store(&h);
    assert_eq!(body["token_type"], "Bearer");
    let (_, at) = jwt_parts(body["access_token"].as_str().unwrap());
    assert_eq!(at["sub"], "key-a");
    assert_eq!(at["client_id"], "key-a");

    // R27: the same assertion again, at once and with the form's client_id.
    assert_refused(&client_credentials(s, &first).await, REPLAY, "replay");
    let again = with_assertion(
        s,
        "/token",
        &first,
        &[("grant_type", "client_credentials"), ("client_id", "key-a")],
    )
    .await;
    assert_refused(&again, REPLAY, "replay with client_id");

    // Every accepted audience, each once; the token endpoint with the
    // form's client_id too.
    for aud in [s.base.clone(), s.url("/token")] {
        let (status, _, body) = with_assertion(
            s,
            "/token",
            &assertion(&ka, "key-a", &aud),
            &[("grant_type", "client_credentials"), ("client_id", "key-a")],
        )
        .await;
        assert_eq!(status, 200, "aud {aud}: {body}");
    }
    // PK2: audiences that are not this server's token endpoint or issuer.
    for aud in [
        "https://other-idp.example.com".to_owned(),
        format!("{}/", s.base),
        s.url("/introspect"),
        s.url("/par"),
        format!("{}/token", "http://localhost:1"),
    ] {
        assert_refused(
            &client_credentials(s, &assertion(&ka, "key-a", &aud)).await,
            FOREIGN_AUD,
            &aud,
        );
    }

    // PK3: B's key, claiming to be A, with and without the form naming A.
    let forged = assertion(&kb, "key-a", &s.base);
    assert_refused(&client_credentials(s, &forged).await, UNVERIFIED, "B as A");
    let forged = with_assertion(
        s,
        "/token",
        &assertion(&kb, "key-a", &s.base),
        &[("grant_type", "client_credentials"), ("client_id", "key-a")],
    )
    .await;
    assert_refused(&forged, UNVERIFIED, "B as A, client_id A");
    // B's own assertion sent in A's name: the form and the assertion differ.
    let mixed = with_assertion(
        s,
        "/token",
        &assertion(&kb, "key-b", &s.base),
        &[("grant_type", "client_credentials"), ("client_id", "key-a")],
    )
    .await;
    assert_refused(&mixed, UNVERIFIED, "B's assertion, client_id A");
    // B's own assertion is fine.
    let (status, _, body) = client_credentials(s, &assertion(&kb, "key-b", &s.base)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        jwt_parts(body["access_token"].as_str().unwrap()).1["sub"],
        "key-b"
    );

    // A secret client's name in a key-signed assertion, and a key client
    // presenting a secret: neither method stands in for the other.
    assert_refused(
        &client_credentials(s, &assertion(&ka, "order-service", &s.base)).await,
        "client authentication failed",
        "assertion for a secret client",
    );
    let r = s
        .post_form(
            "/token",
            Some(("key-a", "a-guessed-secret-0123456789")),
            &[("grant_type", "client_credentials")],
        )
        .await;
    let got = parts(r).await;
    assert_eq!(got.2, invalid_client());
    assert_refused(
        &got,
        "client authentication failed",
        "secret for a key client",
    );
    // A secret next to an assertion: two methods (RFC 6749 §2.3).
    let (status, _, body) = with_assertion(
        s,
        "/token",
        &assertion(&ka, "key-a", &s.base),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "key-a"),
            ("client_secret", "x"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"error": "invalid_request", "error_description": "the client used more than one authentication method"})
    );
}
both!(
    pkj_client_credentials_replay_audience_and_key_confusion,
    CONFIG
);

/// `/introspect`, `/revoke` and `/par` take assertions whose `aud` is the
/// issuer or that endpoint's URL; an assertion made for one endpoint is
/// refused at another (PK2); and a code flow pushed with an assertion is
/// redeemed with one.
async fn pkj_at_introspection_revocation_and_par(s: &Server) {
    let k = key();
    register(s, "key-c", json!({"jwks": jwks_of(&[&k])})).await;
    let sign = |aud: &str| assertion(&k, "key-c", aud);
    let (status, _, body) = client_credentials(s, &sign(&s.base)).await;
    assert_eq!(status, 200, "{body}");
    let at = body["access_token"].as_str().unwrap().to_owned();

    for aud in [s.base.clone(), s.url("/introspect"), s.url("/token")] {
        let (status, h, info) =
            with_assertion(s, "/introspect", &sign(&aud), &[("token", &at)]).await;
        assert_eq!(status, 200, "aud {aud}: {info}");
        assert_no_store(&h);
        assert_eq!(info["active"], true, "{info}");
        assert_eq!(info["client_id"], "key-c");
    }
    for aud in [s.url("/par"), s.url("/revoke")] {
        assert_refused(
            &with_assertion(s, "/introspect", &sign(&aud), &[("token", &at)]).await,
            FOREIGN_AUD,
            &format!("{aud} at /introspect"),
        );
    }
    let spent = sign(&s.base);
    let (status, _, _) = with_assertion(s, "/introspect", &spent, &[("token", &at)]).await;
    assert_eq!(status, 200);
    assert_refused(
        &with_assertion(s, "/introspect", &spent, &[("token", &at)]).await,
        REPLAY,
        "replay at /introspect",
    );
    // One jti for every endpoint: an assertion spent at /introspect is a
    // replay at /token.
    assert_refused(
        &client_credentials(s, &spent).await,
        REPLAY,
        "replay at /token",
    );

    assert_refused(
        &with_assertion(
            s,
            "/revoke",
            &sign(&s.url("/introspect")),
            &[("token", &at)],
        )
        .await,
        FOREIGN_AUD,
        "/introspect's aud at /revoke",
    );
    let (status, h, body) =
        with_assertion(s, "/revoke", &sign(&s.url("/revoke")), &[("token", &at)]).await;
    assert_eq!(status, 200, "{body}");
    assert_no_store(&h);
    let (_, _, info) = with_assertion(s, "/introspect", &sign(&s.base), &[("token", &at)]).await;
    assert_eq!(info, json!({"active": false}));
    let (status, _, _) = with_assertion(s, "/revoke", &sign(&s.base), &[("token", &at)]).await;
    assert_eq!(status, 200, "aud = issuer at /revoke");

    // PAR with an assertion, then the code redeemed with another.
    let (verifier, challenge) = pkce();
    let push = [
        ("response_type", "code"),
        ("client_id", "key-c"),
        ("redirect_uri", CB),
        ("scope", "openid email"),
        ("state", "st-key"),
        ("nonce", "n-key"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    assert_refused(
        &with_assertion(s, "/par", &sign(&s.url("/introspect")), &push).await,
        FOREIGN_AUD,
        "/introspect's aud at /par",
    );
    let pushed_with = sign(&s.url("/par"));
    let (status, h, body) = with_assertion(s, "/par", &pushed_with, &push).await;
    assert_eq!(status, 201, "{body}");
    assert_no_store(&h);
    assert_refused(
        &with_assertion(s, "/par", &pushed_with, &push).await,
        REPLAY,
        "replay at /par",
    );
    let (status, _, _) = with_assertion(s, "/par", &sign(&s.base), &push).await;
    assert_eq!(status, 201, "aud = issuer at /par");
    let request_uri = body["request_uri"].as_str().unwrap();
    let url = crate::browser::authz(s, &[("client_id", "key-c"), ("request_uri", request_uri)]);
    let cb = crate::browser::drive(&Browser::new(s), &url, ALICE).await;
    assert!(cb.as_str().starts_with(CB), "{cb}");
    assert_eq!(query(&cb, "state").as_deref(), Some("st-key"));
    let code = query(&cb, "code").unwrap();
    let (status, _, tokens) = with_assertion(
        s,
        "/token",
        &sign(&s.url("/token")),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let (_, id_token) = jwt_parts(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["aud"], "key-c");
    assert_eq!(id_token["nonce"], "n-key");
}
both!(pkj_at_introspection_revocation_and_par, CONFIG);

// ----- keys at a jwks_uri -----

/// What the test's key server serves, and how often it was asked.
#[derive(Default)]
struct Published {
    jwks: Mutex<Value>,
    max_age: Mutex<u64>,
    hits: AtomicUsize,
    others: AtomicUsize,
}

/// A JWKS server on 127.0.0.1: `/jwks` serves `Published` (counted), and
/// four that misbehave (counted together): `/down` (503), `/redirect` (to
/// `/jwks`), `/big` (over 64 KiB), `/slow` (answers after 30 s).
async fn key_server(state: Arc<Published>) -> String {
    use axum::extract::State;
    use axum::http::{StatusCode, header};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    type Shared = State<Arc<Published>>;
    async fn jwks(State(p): Shared) -> Response {
        p.hits.fetch_add(1, Ordering::SeqCst);
        let body = p.jwks.lock().unwrap().to_string();
        let max_age = *p.max_age.lock().unwrap();
        (
            [
                (header::CONTENT_TYPE, "application/json".to_owned()),
                (header::CACHE_CONTROL, format!("max-age={max_age}")),
            ],
            body,
        )
            .into_response()
    }
    async fn down(State(p): Shared) -> Response {
        p.others.fetch_add(1, Ordering::SeqCst);
        StatusCode::SERVICE_UNAVAILABLE.into_response()
    }
    async fn redirect(State(p): Shared) -> Response {
        p.others.fetch_add(1, Ordering::SeqCst);
        (StatusCode::FOUND, [(header::LOCATION, "/jwks")]).into_response()
    }
    async fn big(State(p): Shared) -> Response {
        p.others.fetch_add(1, Ordering::SeqCst);
        let filler = "x".repeat(70 * 1024);
        (
            [(header::CONTENT_TYPE, "application/json")],
            format!(r#"{{"keys": [], "filler": "{filler}"}}"#),
        )
            .into_response()
    }
    async fn slow(State(p): Shared) -> Response {
        p.others.fetch_add(1, Ordering::SeqCst);
        // Longer than the server's 5 s fetch timeout.
        tokio::time::sleep(Duration::from_secs(30)).await;
        "{}".into_response()
    }
    let app = axum::Router::new()
        .route("/jwks", get(jwks))
        .route("/down", get(down))
        .route("/redirect", get(redirect))
        .route("/big", get(big))
        .route("/slow", get(slow))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// Keys at a `jwks_uri`: fetched once, then cached; a key the client
/// publishes later is found once the set is stale; made-up `kid`s cost at
/// most one fetch; a key server that is down, redirects, answers too much
/// or too slowly gives `invalid_client`, never a 5xx (PK4, PK5).
async fn pkj_keys_at_a_jwks_uri(s: &Server) {
    let (k1, k2) = (key(), key());
    let published = Arc::new(Published::default());
    *published.jwks.lock().unwrap() = jwks_of(&[&k1]);
    *published.max_age.lock().unwrap() = 1;
    let keys = key_server(Arc::clone(&published)).await;
    let hits = || published.hits.load(Ordering::SeqCst);
    register(s, "uri-key", json!({"jwks_uri": format!("{keys}/jwks")})).await;
    assert_eq!(hits(), 0, "registration fetches nothing");

    let (status, _, body) = client_credentials(s, &assertion(&k1, "uri-key", &s.base)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(hits(), 1, "the first assertion fetches the set");

    // The client publishes a second key; from now on the set may be
    // cached for five minutes. The set fetched first said max-age=1: only
    // after that second has passed may the server look again (a `kid` it
    // has not seen refetches at most once per 10 s, or at once when the
    // set is stale). Nothing in the server can be told to skip the wait,
    // so this is the test's one real pause.
    *published.jwks.lock().unwrap() = jwks_of(&[&k1, &k2]);
    *published.max_age.lock().unwrap() = 300;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, _, body) = client_credentials(s, &assertion(&k2, "uri-key", &s.base)).await;
    assert_eq!(status, 200, "the new key: {body}");
    assert_eq!(hits(), 2, "one fetch for the stale set");

    // Twenty more, with either key: from the cache.
    for i in 0..20 {
        let k = if i % 2 == 0 { &k1 } else { &k2 };
        let (status, _, body) = client_credentials(s, &assertion(k, "uri-key", &s.base)).await;
        assert_eq!(status, 200, "{i}: {body}");
    }
    assert_eq!(hits(), 2, "twenty assertions, no fetch");

    // A burst of assertions naming keys the client never published: all
    // refused, and at most one fetch between them (none while the last
    // fetch is under 10 s old).
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let forged = assertion(&key(), "uri-key", &s.base);
        let (http, url) = (s.http.clone(), s.url("/token"));
        burst.spawn(async move {
            let form = [
                ("grant_type", "client_credentials"),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", forged.as_str()),
            ];
            parts(http.post(url).form(&form).send().await.unwrap()).await
        });
    }
    for got in burst.join_all().await {
        assert_refused(&got, UNVERIFIED, "a made-up kid");
    }
    assert!(
        hits() <= 3,
        "{} fetches for a burst of made-up kids",
        hits() - 2
    );

    // Key servers that fail: never loaded, so nothing verifies.
    let dead = format!("http://127.0.0.1:{}/jwks", crate::support::free_port());
    let failing = [
        ("nothing listening", dead),
        ("503", format!("{keys}/down")),
        ("a redirect", format!("{keys}/redirect")),
        ("over 64 KiB", format!("{keys}/big")),
    ];
    let before = hits();
    for (i, (what, uri)) in failing.iter().enumerate() {
        let id = format!("failing-{i}");
        register(s, &id, json!({"jwks_uri": uri})).await;
        let got = client_credentials(s, &assertion(&k1, &id, &s.base)).await;
        assert_refused(&got, UNVERIFIED, what);
    }
    assert_eq!(hits(), before, "the redirect was not followed");
    assert_eq!(
        published.others.load(Ordering::SeqCst),
        3,
        "each asked once"
    );
    register(
        s,
        "failing-slow",
        json!({"jwks_uri": format!("{keys}/slow")}),
    )
    .await;
    let started = Instant::now();
    let got = client_credentials(s, &assertion(&k1, "failing-slow", &s.base)).await;
    assert_refused(&got, UNVERIFIED, "a key server that does not answer");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(4) && waited < Duration::from_secs(10),
        "the fetch gives up after 5 s, once: {waited:?}"
    );
    assert_eq!(published.others.load(Ordering::SeqCst), 4, "asked once");
}
both!(pkj_keys_at_a_jwks_uri, CONFIG);

/// The README's script (docs/examples/private_key_jwt.py), a stranger's
/// client built on `joserfc`: its key generation, the JWK Set it prints,
/// registered by the CLI, and the token its assertion gets. Skipped
/// without python3 and joserfc unless FRONTDESK_TEST_PYTHON=required.
async fn the_readme_script_authenticates_with_its_key(s: &Server) {
    let has_joserfc = std::process::Command::new("python3")
        .args(["-c", "import joserfc"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_joserfc {
        assert!(
            std::env::var("FRONTDESK_TEST_PYTHON").as_deref() != Ok("required"),
            "python3 with joserfc is missing (python3 -m pip install joserfc)"
        );
        eprintln!("skipped: python3 with joserfc missing (python3 -m pip install joserfc)");
        return;
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/examples/private_key_jwt.py");
    let key_file = s.dir.path().join("client-key.json");
    let run = |args: &[&str]| {
        let out = std::process::Command::new("python3")
            .arg(&script)
            .args(args)
            .env("ISSUER", &s.base)
            .env("CLIENT_ID", "script-key")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let jwks = run(&["keygen", key_file.to_str().unwrap()]);
    let jwks_file = s.dir.path().join("client-jwks.json");
    std::fs::write(&jwks_file, &jwks).unwrap();
    let printed: Value = serde_json::from_slice(&jwks).unwrap();
    assert!(printed["keys"][0].get("d").is_none(), "{printed}");
    cli_ok(
        s,
        &[
            "clients",
            "create",
            "--client-id",
            "script-key",
            "--name",
            "Script",
            "--grant-type",
            "client_credentials",
            "--scope",
            "photos:read",
            "--auth-method",
            "private_key_jwt",
            "--jwks-file",
            jwks_file.to_str().unwrap(),
        ],
    );
    let tokens: Value =
        serde_json::from_slice(&run(&["token", key_file.to_str().unwrap()])).unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    let at = tokens["access_token"].as_str().unwrap();
    assert_eq!(jwt_parts(at).1["sub"], "script-key");
    assert_eq!(s.introspect(at).await["active"], true);
}
both!(the_readme_script_authenticates_with_its_key, CONFIG);
