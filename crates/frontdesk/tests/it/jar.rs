//! Signed request objects (RFC 9101) over real HTTP: a code + PKCE flow
//! whose authorization request is a request object — by value at
//! `/authorize` (GET and POST), and pushed to `/par` (RFC 9126 §3) —
//! through login and consent to tokens; keys registered inline (`jwks`)
//! and published at a `jwks_uri` served from inside the test; the
//! refusals with their exact texts (unsigned, HS256, another client's key,
//! wrong `aud`, expired, no `exp`, outer `client_id` ≠ inner, plain
//! parameters from a `require_signed_request_object` client); discovery.
//! Every check of the object is also a table in crates/core/tests/it/
//! request_object.rs, on a fixed clock. SECURITY.md §12 (JAR1–JAR7).

use frontdesk_jose::{Algorithm, SigningKey};
use serde_json::{Value, json};

use crate::browser::{ALICE, Browser, authz, drive, pkce, query};
use crate::security_authorize::{assert_error_page, raw_get};
use crate::support::{Server, assert_no_store, jwt_parts, parts, unix_now};

const CB: &str = "https://jar.example.com/cb";
const STRICT_CB: &str = "https://strict.example.com/cb";

fn key(alg: Algorithm) -> SigningKey {
    SigningKey::generate(alg).unwrap().0
}

/// Registers a confidential client through the admin API; its secret.
async fn register(s: &Server, id: &str, cb: &str, extra: Value) -> String {
    let mut spec = json!({
        "client_id": id,
        "client_name": format!("Client {id}"),
        "redirect_uris": [cb],
        "grant_types": ["authorization_code"],
        "scope": "openid profile",
    });
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    let (status, _, body) = parts(
        s.admin_req(reqwest::Method::POST, "/admin/clients", Some(spec))
            .await,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["client_secret"].as_str().unwrap().to_owned()
}

fn jwks(keys: &[&SigningKey]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.public_jwk()).collect::<Vec<_>>() })
}

/// The claims of a good request object from `client` to `s`.
fn claims(s: &Server, client: &str, cb: &str, challenge: &str) -> Value {
    let now = unix_now();
    json!({
        "iss": client,
        "aud": s.base,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "jti": frontdesk_core::secret::random_string(16).unwrap(),
        "client_id": client,
        "response_type": "code",
        "redirect_uri": cb,
        "scope": "openid profile",
        "state": "st-signed",
        "nonce": "n-signed",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "max_age": 3600,
    })
}

fn with(mut c: Value, changes: &[(&str, Value)]) -> Value {
    for (k, v) in changes {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(*k);
        } else {
            c[*k] = v.clone();
        }
    }
    c
}

fn sign(key: &SigningKey, claims: &Value) -> String {
    key.sign(Some("oauth-authz-req+jwt"), claims).unwrap()
}

fn b64(v: &Value) -> String {
    frontdesk_jose::b64url(&serde_json::to_vec(v).unwrap())
}

fn unsigned(claims: &Value) -> String {
    format!("{}.{}.", b64(&json!({"alg": "none"})), b64(claims))
}

/// HS256 with the client secret as the MAC key (alg confusion).
fn hs256(claims: &Value, secret: &str) -> String {
    let input = format!(
        "{}.{}",
        b64(&json!({"alg": "HS256", "typ": "oauth-authz-req+jwt"})),
        b64(claims)
    );
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", frontdesk_jose::b64url(tag.as_ref()))
}

/// The first answer to a request object by value: a 303 to the
/// continuation of the stored request, which no longer carries the object.
async fn first_arrival(s: &Server, r: reqwest::Response) -> String {
    assert_eq!(r.status(), 303);
    let next = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(next.starts_with("/authorize?client_id="), "{next}");
    assert!(
        next.contains("&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3A"),
        "{next}"
    );
    assert!(next.contains("&par_continue="), "{next}");
    for absent in ["request=", "scope=", "state=", "redirect_uri="] {
        assert!(!next.contains(absent), "{next}");
    }
    format!("{}{next}", s.base)
}

/// The code at the client's redirect, checked; then exchanged.
async fn tokens(s: &Server, cb: &url::Url, basic: (&str, &str), verifier: &str) -> Value {
    assert_eq!(
        format!("{}://{}{}", cb.scheme(), cb.host_str().unwrap(), cb.path()),
        CB
    );
    assert_eq!(query(cb, "state").as_deref(), Some("st-signed"));
    assert_eq!(query(cb, "iss").as_deref(), Some(s.base.as_str()));
    let code = query(cb, "code").unwrap_or_else(|| panic!("{cb}"));
    let (status, _, body) = parts(
        s.post_form(
            "/token",
            Some(basic),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CB),
                ("code_verifier", verifier),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "openid profile");
    let (_, id) = jwt_parts(body["id_token"].as_str().unwrap());
    assert_eq!(id["nonce"], "n-signed");
    body
}

/// By value, GET and POST: the object's parameters are the request (the
/// outer scope, state and redirect URI are ignored), the first answer
/// sends the browser on without the object, and login and consent end in
/// a code that PKCE redeems.
async fn request_object_by_value_ends_in_tokens(s: &Server) {
    let k = key(Algorithm::ES256);
    let secret = register(s, "jar", CB, json!({"jwks": jwks(&[&k])})).await;
    for method in ["GET", "POST"] {
        let (verifier, challenge) = pkce();
        let object = sign(&k, &claims(s, "jar", CB, &challenge));
        let outer = [
            ("client_id", "jar"),
            ("request", object.as_str()),
            ("scope", "openid offline_access"),
            ("state", "st-outer"),
            ("redirect_uri", "https://evil.example/cb"),
        ];
        let r = if method == "GET" {
            raw_get(s, &authz(s, &outer)).await
        } else {
            s.post_form("/authorize", None, &outer).await
        };
        let next = first_arrival(s, r).await;
        let b = Browser::new(s);
        let cb = drive(&b, &next, ALICE).await;
        tokens(s, &cb, ("jar", secret.as_str()), &verifier).await;
        // The continuation answered once; the object opens a new request.
        assert_error_page(
            raw_get(s, &next).await,
            "request_uri has already been used",
            "the spent continuation",
        )
        .await;
    }
}
crate::both!(request_object_by_value_ends_in_tokens);

/// Pushed (RFC 9126 §3): `/par` with Basic and nothing but `request`; the
/// object's parameters are stored, the outer ones ignored.
async fn pushed_request_object_ends_in_tokens(s: &Server) {
    let k = key(Algorithm::EdDSA);
    let secret = register(
        s,
        "jar",
        CB,
        json!({"jwks": jwks(&[&k]), "request_object_signing_alg": "EdDSA"}),
    )
    .await;
    let (verifier, challenge) = pkce();
    let object = sign(&k, &claims(s, "jar", CB, &challenge));
    let (status, h, body) = parts(
        s.post_form(
            "/par",
            Some(("jar", secret.as_str())),
            &[("request", &object), ("scope", "openid offline_access")],
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_no_store(&h);
    let uri = body["request_uri"].as_str().unwrap();
    let b = Browser::new(s);
    let cb = drive(
        &b,
        &authz(s, &[("client_id", "jar"), ("request_uri", uri)]),
        ALICE,
    )
    .await;
    tokens(s, &cb, ("jar", secret.as_str()), &verifier).await;
}
crate::both!(pushed_request_object_ends_in_tokens);

fn refusal(description: &str) -> Value {
    json!({"error": "invalid_request_object", "error_description": description})
}

/// Every refusal, at `/authorize` (an error page: the redirect URI is
/// inside an object that did not verify) and at `/par` (RFC 9126 §2.3
/// JSON), with its exact text.
async fn bad_request_objects_are_refused(s: &Server) {
    let k = key(Algorithm::ES256);
    let other = key(Algorithm::ES256);
    let secret = register(s, "jar", CB, json!({"jwks": jwks(&[&k])})).await;
    register(
        s,
        "jar2",
        "https://jar2.example.com/cb",
        json!({"jwks": jwks(&[&other])}),
    )
    .await;
    let (_, challenge) = pkce();
    let good = claims(s, "jar", CB, &challenge);
    let now = unix_now();
    let verify_fails =
        "the signature of the request object does not verify with the keys the client registered";
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "unsigned (alg none)",
            unsigned(&good),
            "unsigned request objects (alg none) are refused (RFC 9101)",
        ),
        (
            "HS256 keyed with the client secret",
            hs256(&good, &secret),
            "the request object must be signed with one of: ES256, EdDSA, PS256, RS256",
        ),
        (
            "signed with another client's key",
            sign(&other, &good),
            verify_fails,
        ),
        (
            "for another audience",
            sign(
                &k,
                &with(good.clone(), &[("aud", json!("https://other.example"))]),
            ),
            "the aud of the request object must be the issuer of this server",
        ),
        (
            "expired",
            sign(
                &k,
                &with(
                    good.clone(),
                    &[
                        ("iat", json!(now - 600)),
                        ("nbf", json!(now - 600)),
                        ("exp", json!(now - 300)),
                    ],
                ),
            ),
            "the request object has expired",
        ),
        (
            "without exp",
            sign(&k, &with(good.clone(), &[("exp", Value::Null)])),
            "the request object has no exp claim",
        ),
        (
            "naming another client inside",
            sign(&k, &with(good.clone(), &[("client_id", json!("jar2"))])),
            "the client_id of the request object differs from the client_id parameter",
        ),
        (
            "typed as an access token",
            k.sign(Some("at+jwt"), &good).unwrap(),
            "the typ of the request object must be oauth-authz-req+jwt",
        ),
    ];
    for (what, object, description) in &cases {
        let r = raw_get(
            s,
            &authz(s, &[("client_id", "jar"), ("request", object.as_str())]),
        )
        .await;
        assert_eq!(r.status(), 400, "/authorize: {what}");
        assert!(r.headers().get("location").is_none(), "/authorize: {what}");
        let text = r.text().await.unwrap();
        assert!(
            text.contains("This sign-in link is not valid"),
            "{what}: {text}"
        );
        assert!(text.contains("invalid_request_object"), "{what}: {text}");
        assert!(text.contains(description), "{what}: {text}");
        let (status, h, body) = parts(
            s.post_form(
                "/par",
                Some(("jar", secret.as_str())),
                &[("request", object.as_str())],
            )
            .await,
        )
        .await;
        assert_eq!(status, 400, "/par: {what}");
        assert_no_store(&h);
        assert_eq!(body, refusal(description), "/par: {what}");
    }
    // Error pages, never a redirect, with the page headers.
    assert_error_page(
        raw_get(
            s,
            &authz(s, &[("client_id", "jar"), ("request", &unsigned(&good))]),
        )
        .await,
        "unsigned request objects (alg none) are refused (RFC 9101)",
        "unsigned, page",
    )
    .await;
    // The outer client_id names the keys: jar's object under jar2's name
    // does not verify, and jar2 cannot push it either.
    let object = sign(&k, &good);
    assert_error_page(
        raw_get(s, &authz(s, &[("client_id", "jar2"), ("request", &object)])).await,
        verify_fails,
        "outer client_id of another client",
    )
    .await;
    let (status, _, body) = parts(
        s.post_form(
            "/par",
            Some(("jar", secret.as_str())),
            &[("client_id", "jar2"), ("request", &object)],
        )
        .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"error": "invalid_request", "error_description": "client_id does not match the Authorization header"})
    );
    // A verified object whose redirect URI is not registered: a page too.
    assert_error_page(
        raw_get(
            s,
            &authz(
                s,
                &[
                    ("client_id", "jar"),
                    (
                        "request",
                        &sign(
                            &k,
                            &with(
                                good.clone(),
                                &[("redirect_uri", json!("https://evil.example/cb"))],
                            ),
                        ),
                    ),
                ],
            ),
        )
        .await,
        "redirect_uri is not registered for this client",
        "unregistered redirect_uri inside",
    )
    .await;
    // With request_uri beside it (RFC 9101 §5).
    assert_error_page(
        raw_get(
            s,
            &authz(
                s,
                &[
                    ("client_id", "jar"),
                    ("request", &object),
                    ("request_uri", "urn:ietf:params:oauth:request_uri:x"),
                ],
            ),
        )
        .await,
        "request and request_uri must not both be sent (RFC 9101)",
        "request and request_uri",
    )
    .await;
}
crate::both!(bad_request_objects_are_refused);

/// RFC 9101 §10.5 per client: plain parameters from a client with
/// `require_signed_request_object` are refused at `/authorize` (a page)
/// and at `/par`; its signed objects work.
async fn require_signed_request_object_refuses_plain_parameters(s: &Server) {
    let k = key(Algorithm::PS256);
    let secret = register(
        s,
        "strict",
        STRICT_CB,
        json!({"jwks": jwks(&[&k]), "require_signed_request_object": true}),
    )
    .await;
    let (_, challenge) = pkce();
    let plain = [
        ("response_type", "code"),
        ("client_id", "strict"),
        ("redirect_uri", STRICT_CB),
        ("scope", "openid"),
        ("state", "st-plain"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let refused =
        "this client must send its authorization requests as signed request objects (RFC 9101)";
    assert_error_page(raw_get(s, &authz(s, &plain)).await, refused, "plain GET").await;
    assert_error_page(
        s.post_form("/authorize", None, &plain).await,
        refused,
        "plain POST",
    )
    .await;
    let (status, _, body) = parts(
        s.post_form("/par", Some(("strict", secret.as_str())), &plain)
            .await,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"error": "invalid_request", "error_description": refused})
    );
    // Signed, by value and pushed, it reaches the login page.
    let object = sign(&k, &claims(s, "strict", STRICT_CB, &challenge));
    let next = first_arrival(
        s,
        raw_get(
            s,
            &authz(s, &[("client_id", "strict"), ("request", &object)]),
        )
        .await,
    )
    .await;
    let login = crate::browser::page(Browser::new(s).get(&next).await);
    assert!(login.body.contains("name=\"password\""), "{}", login.body);
    let (status, _, body) = parts(
        s.post_form(
            "/par",
            Some(("strict", secret.as_str())),
            &[("request", &object)],
        )
        .await,
    )
    .await;
    assert_eq!(status, 201, "{body}");
}
crate::both!(require_signed_request_object_refuses_plain_parameters);

/// A JWKS served on 127.0.0.1 by a small axum server inside the test.
async fn serve_jwks(jwks: Value) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let jwks = jwks.clone();
            async move { axum::Json(jwks) }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://127.0.0.1:{port}/jwks.json")
}

/// Keys published at the client's `jwks_uri`: the server fetches them
/// (through `client_keys`) and verifies the object; a key that is not
/// published is refused.
async fn keys_from_the_jwks_uri(s: &Server) {
    let k = key(Algorithm::RS256);
    let uri = serve_jwks(jwks(&[&k])).await;
    let secret = register(s, "jar", CB, json!({"jwks_uri": uri})).await;
    let (verifier, challenge) = pkce();
    let object = sign(&k, &claims(s, "jar", CB, &challenge));
    let next = first_arrival(
        s,
        raw_get(s, &authz(s, &[("client_id", "jar"), ("request", &object)])).await,
    )
    .await;
    let cb = drive(&Browser::new(s), &next, ALICE).await;
    tokens(s, &cb, ("jar", secret.as_str()), &verifier).await;
    let stranger = key(Algorithm::RS256);
    assert_error_page(
        raw_get(
            s,
            &authz(
                s,
                &[
                    ("client_id", "jar"),
                    (
                        "request",
                        &sign(&stranger, &claims(s, "jar", CB, &challenge)),
                    ),
                ],
            ),
        )
        .await,
        "the signature of the request object does not verify with the keys the client registered",
        "a key not published",
    )
    .await;
}
crate::both!(keys_from_the_jwks_uri);

/// Discovery says request objects work, with which algorithms, and that
/// the server as a whole does not require them (RFC 9101 §10.5).
async fn discovery_advertises_request_objects(s: &Server) {
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let m = s.get_json(path).await;
        assert_eq!(m["request_parameter_supported"], true, "{path}");
        assert_eq!(
            m["request_object_signing_alg_values_supported"],
            json!(["ES256", "EdDSA", "PS256", "RS256"]),
            "{path}"
        );
        assert_eq!(m["require_signed_request_object"], false, "{path}");
        assert_eq!(m["request_uri_parameter_supported"], false, "{path}");
    }
}
crate::both!(discovery_advertises_request_objects);
