//! The resource kit against a small in-process authorization server that
//! counts what it is asked: JWKS caching and refetch limits, introspection
//! caching, the hardened HTTP client and the tower layer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use frontdesk_jose::{AccessTokenClaims, Algorithm, Jwks, SigningKey};
use frontdesk_resource::{
    Clock, Guard, HttpClient, Introspector, Keys, KeysOptions, ValidationError, Validator,
    Verified, Via, discover, unix_now,
};
use serde_json::{Value, json};
use tower::ServiceExt as _;

const AUD: &str = "https://photos.example.com";

#[derive(Default)]
struct AsState {
    issuer: Mutex<String>,
    jwks: Mutex<Jwks>,
    cache_control: Mutex<String>,
    jwks_hits: AtomicU64,
    introspect_hits: AtomicU64,
    /// token → introspection answer
    answers: Mutex<HashMap<String, Value>>,
}

type Shared = Arc<AsState>;

async fn metadata(State(s): State<Shared>) -> Response {
    let iss = s.issuer.lock().unwrap().clone();
    axum::Json(json!({
        "issuer": iss,
        "jwks_uri": format!("{iss}/jwks.json"),
        "introspection_endpoint": format!("{iss}/introspect"),
    }))
    .into_response()
}

async fn jwks(State(s): State<Shared>) -> Response {
    s.jwks_hits.fetch_add(1, Ordering::SeqCst);
    // Real clock: a little latency, so that concurrent misses really overlap.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let body = serde_json::to_string(&*s.jwks.lock().unwrap()).unwrap();
    let cc = s.cache_control.lock().unwrap().clone();
    (
        [
            (header::CACHE_CONTROL, cc),
            (header::CONTENT_TYPE, "application/json".to_owned()),
        ],
        body,
    )
        .into_response()
}

async fn introspect(State(s): State<Shared>, headers: HeaderMap, body: String) -> Response {
    s.introspect_hits.fetch_add(1, Ordering::SeqCst);
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // rs:rs-secret
    if auth != "Basic cnM6cnMtc2VjcmV0" {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let token = form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let answer = s
        .answers
        .lock()
        .unwrap()
        .get(&token)
        .cloned()
        .unwrap_or(json!({"active": false}));
    axum::Json(answer).into_response()
}

async fn redirect() -> Response {
    (StatusCode::FOUND, [(header::LOCATION, "/jwks.json")]).into_response()
}

async fn big() -> Response {
    let keys: Vec<Value> = (0..2000)
        .map(|i| json!({"kty": "EC", "crv": "P-256", "kid": format!("k{i}"), "x": "AAAA", "y": "BBBB"}))
        .collect();
    axum::Json(json!({ "keys": keys })).into_response()
}

/// The kit's clock, moved by the test instead of waiting.
#[derive(Debug)]
struct ManualClock(Mutex<Instant>);

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        *self.0.lock().unwrap()
    }
}

impl ManualClock {
    fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

/// Polls `done` until it holds or `within` has passed; whether it held.
/// For work the kit does in a background task the test cannot join.
async fn eventually(within: Duration, done: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + within;
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        // Real clock: the background task runs on its own; we can only look again.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    true
}

struct TestAs {
    issuer: String,
    state: Shared,
    key: SigningKey,
}

async fn start_as() -> TestAs {
    let (key, _) = SigningKey::generate(Algorithm::ES256).unwrap();
    let state: Shared = Arc::new(AsState::default());
    *state.jwks.lock().unwrap() = Jwks {
        keys: vec![key.public_jwk().clone()],
    };
    *state.cache_control.lock().unwrap() = "public, max-age=300".to_owned();
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(metadata))
        .route("/jwks.json", get(jwks))
        .route("/introspect", post(introspect))
        .route("/redirect", get(redirect))
        .route("/big", get(big))
        .with_state(Arc::clone(&state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    *state.issuer.lock().unwrap() = issuer.clone();
    tokio::spawn(async move { axum::serve(listener, app).await });
    TestAs { issuer, state, key }
}

fn claims(iss: &str, aud: &str, scope: &str, exp_in: i64) -> AccessTokenClaims {
    let now = unix_now();
    AccessTokenClaims {
        iss: iss.to_owned(),
        sub: "order-service".to_owned(),
        aud: aud.into(),
        exp: now.saturating_add_signed(exp_in),
        iat: now,
        jti: "jti-1".to_owned(),
        client_id: "order-service".to_owned(),
        scope: Some(scope.to_owned()),
        auth_time: None,
        acr: None,
        amr: None,
        cnf: None,
        groups: None,
        act: None,
        may_act: None,
    }
}

impl TestAs {
    fn token(&self, scope: &str) -> String {
        self.key
            .sign(Some("at+jwt"), &claims(&self.issuer, AUD, scope, 300))
            .unwrap()
    }

    fn jwks_hits(&self) -> u64 {
        self.state.jwks_hits.load(Ordering::SeqCst)
    }

    fn introspect_hits(&self) -> u64 {
        self.state.introspect_hits.load(Ordering::SeqCst)
    }

    /// A validator over the remote JWKS, with the clock its key set runs on.
    fn remote_validator(&self, min_refresh: Duration) -> (Validator, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock(Mutex::new(Instant::now())));
        let keys = Keys::remote_with_clock(
            &format!("{}/jwks.json", self.issuer),
            HttpClient::new().unwrap(),
            KeysOptions {
                min_refresh_interval: min_refresh,
                ..KeysOptions::default()
            },
            Arc::clone(&clock) as Arc<dyn Clock>,
        );
        (Validator::with_keys(&self.issuer, AUD, keys), clock)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn discovery_finds_the_keys_and_a_valid_token_passes() {
    let a = start_as().await;
    let v = Validator::from_issuer(&a.issuer, AUD).await.unwrap();
    assert_eq!(a.jwks_hits(), 1, "keys are loaded at construction");
    let c = v
        .verify(&a.token("photos:read"), &["photos:read"], unix_now())
        .await
        .unwrap();
    assert_eq!(c.sub, "order-service");
    // The sync path uses the same cached keys.
    v.validate(&a.token("photos:read"), &[], unix_now())
        .unwrap();
    assert_eq!(a.jwks_hits(), 1, "no fetch per request");

    // A metadata document naming another issuer is refused (RFC 8414 §3.3).
    let err = discover(&HttpClient::new().unwrap(), &format!("{}/", a.issuer))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("RFC 8414"), "{err}");
}

/// SECURITY.md J5: a flood of tokens with random kids makes at most one
/// JWKS fetch per interval, and concurrent misses share that fetch.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_unknown_kids_fetches_at_most_once_per_interval() {
    let a = start_as().await;
    let (v, _clock) = a.remote_validator(Duration::from_secs(60));
    v.keys().refresh().await.unwrap();
    assert_eq!(a.jwks_hits(), 1);

    let mut forged = Vec::new();
    for _ in 0..50 {
        let (k, _) = SigningKey::generate(Algorithm::ES256).unwrap();
        forged.push(
            k.sign(Some("at+jwt"), &claims(&a.issuer, AUD, "photos:read", 300))
                .unwrap(),
        );
    }
    for round in 0..3 {
        let mut tasks = Vec::new();
        for t in forged.clone() {
            let v = v.clone();
            tasks.push(tokio::spawn(
                async move { v.verify(&t, &[], unix_now()).await },
            ));
        }
        for t in tasks {
            let err = t.await.unwrap().unwrap_err();
            assert_eq!(err.status(), 401, "{err}");
            assert_eq!(err.www_authenticate(), r#"Bearer error="invalid_token""#);
        }
        assert!(
            a.jwks_hits() <= 2,
            "round {round}: {} fetches for 50 forged kids",
            a.jwks_hits()
        );
    }
    assert_eq!(v.keys().fetch_count(), a.jwks_hits());
}

/// A key the cache has not seen yet is picked up by the refetch, once the
/// interval has passed; before that it is refused (the documented limit).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_key_is_found_by_refetch_after_the_interval() {
    let a = start_as().await;
    let (v, clock) = a.remote_validator(Duration::from_secs(60));
    v.keys().refresh().await.unwrap();
    let (new_key, _) = SigningKey::generate(Algorithm::EdDSA).unwrap();
    a.state
        .jwks
        .lock()
        .unwrap()
        .keys
        .push(new_key.public_jwk().clone());
    let t = new_key
        .sign(Some("at+jwt"), &claims(&a.issuer, AUD, "photos:read", 300))
        .unwrap();
    assert_eq!(
        v.verify(&t, &[], unix_now()).await.unwrap_err().status(),
        401
    );
    clock.advance(Duration::from_secs(59));
    assert_eq!(
        v.verify(&t, &[], unix_now()).await.unwrap_err().status(),
        401
    );
    assert_eq!(a.jwks_hits(), 1, "within the interval: no refetch");
    clock.advance(Duration::from_secs(2));
    v.verify(&t, &["photos:read"], unix_now()).await.unwrap();
    assert_eq!(a.jwks_hits(), 2);
}

/// Cache-Control max-age drives a background refresh; requests are never
/// blocked by it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_age_drives_a_background_refresh() {
    let a = start_as().await;
    *a.state.cache_control.lock().unwrap() = "public, max-age=120".to_owned();
    let (v, clock) = a.remote_validator(Duration::from_secs(60));
    v.keys().refresh().await.unwrap();
    let t = a.token("photos:read");
    v.validate(&t, &[], unix_now()).unwrap();
    assert_eq!(a.jwks_hits(), 1);
    // The server publishes a second key; the cache learns it by refreshing.
    let (next, _) = SigningKey::generate(Algorithm::ES256).unwrap();
    a.state
        .jwks
        .lock()
        .unwrap()
        .keys
        .push(next.public_jwk().clone());
    clock.advance(Duration::from_secs(121));
    // Stale: this request is served from the old set and starts a refresh.
    v.validate(&t, &[], unix_now()).unwrap();
    assert!(
        eventually(Duration::from_secs(5), || v.keys().current().keys.len()
            == 2)
        .await,
        "the background refresh put the new set in place"
    );
    assert_eq!(a.jwks_hits(), 2);
    v.validate(&t, &[], unix_now()).unwrap();
    assert!(
        !eventually(Duration::from_millis(300), || a.jwks_hits() > 2).await,
        "fresh again: no further fetch"
    );
}

/// No keys can be loaded at all: 503, fail closed, not 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_keys_fail_closed_with_503() {
    let a = start_as().await;
    let keys = Keys::remote(
        "http://127.0.0.1:9/jwks.json",
        HttpClient::new().unwrap(),
        KeysOptions::default(),
    );
    let v = Validator::with_keys(&a.issuer, AUD, keys);
    let err = v
        .verify(&a.token("photos:read"), &[], unix_now())
        .await
        .unwrap_err();
    assert_eq!(err.status(), 503, "{err}");
    assert_eq!(err.www_authenticate(), "");
}

/// The outbound client follows no redirect and refuses bodies over 64 KiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_client_is_hardened() {
    let a = start_as().await;
    for path in ["/redirect", "/big"] {
        let keys = Keys::remote(
            &format!("{}{path}", a.issuer),
            HttpClient::new().unwrap(),
            KeysOptions::default(),
        );
        let err = keys.refresh().await.unwrap_err();
        assert!(
            err.contains("302") || err.contains("larger than 65536"),
            "{path}: {err}"
        );
    }
    assert_eq!(a.jwks_hits(), 0, "the redirect was not followed");
}

fn introspector(a: &TestAs, secret: &str) -> Introspector {
    Introspector::new(
        HttpClient::new().unwrap(),
        &format!("{}/introspect", a.issuer),
        "rs",
        secret,
        &a.issuer,
        AUD,
    )
    .unwrap()
}

fn active(a: &TestAs, aud: &str, exp: u64) -> Value {
    json!({"active": true, "iss": a.issuer, "aud": [aud], "exp": exp, "iat": unix_now(),
           "sub": "order-service", "client_id": "order-service", "scope": "photos:read", "jti": "j"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_checks_the_answer_and_sees_revocation_at_once() {
    let a = start_as().await;
    let i = introspector(&a, "rs-secret");
    let now = unix_now();
    a.state
        .answers
        .lock()
        .unwrap()
        .insert("tok".into(), active(&a, AUD, now + 300));
    a.state
        .answers
        .lock()
        .unwrap()
        .insert("foreign".into(), active(&a, "https://other", now + 300));

    let (c, via) = i.check("tok", &["photos:read"], now).await.unwrap();
    assert_eq!((c.sub.as_str(), via), ("order-service", Via::Introspection));
    let err = i.check("tok", &["charge:customer"], now).await.unwrap_err();
    assert_eq!(err.status(), 403);
    assert_eq!(
        err.www_authenticate(),
        r#"Bearer error="insufficient_scope", scope="charge:customer""#
    );
    assert_eq!(
        i.check("foreign", &[], now).await.unwrap_err().status(),
        401
    );
    assert_eq!(
        i.check("unknown", &[], now).await.unwrap_err().status(),
        401
    );

    // Revoked at the server: refused on the next request.
    a.state
        .answers
        .lock()
        .unwrap()
        .insert("tok".into(), json!({"active": false}));
    assert_eq!(i.check("tok", &[], now).await.unwrap_err().status(), 401);

    // Our own credentials refused: 503, not the caller's fault.
    let bad = introspector(&a, "wrong");
    assert_eq!(bad.check("tok", &[], now).await.unwrap_err().status(), 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_introspection_cache_is_keyed_short_and_bounded_by_exp() {
    let a = start_as().await;
    let i = introspector(&a, "rs-secret").with_cache(Duration::from_secs(60), 100);
    let now = unix_now();
    a.state
        .answers
        .lock()
        .unwrap()
        .insert("tok".into(), active(&a, AUD, now + 300));

    assert_eq!(
        i.check("tok", &["photos:read"], now).await.unwrap().1,
        Via::Introspection
    );
    assert_eq!(
        i.check("tok", &["photos:read"], now).await.unwrap().1,
        Via::IntrospectionCache
    );
    assert_eq!(a.introspect_hits(), 1);
    // The key includes the required scopes.
    assert_eq!(
        i.check("tok", &[], now).await.unwrap().1,
        Via::Introspection
    );
    assert_eq!(a.introspect_hits(), 2);
    // Revocation is seen only when the cached answer ages out (the trade-off).
    a.state
        .answers
        .lock()
        .unwrap()
        .insert("tok".into(), json!({"active": false}));
    assert!(i.check("tok", &["photos:read"], now).await.is_ok());

    // Concurrent misses for one key share one request.
    a.state
        .answers
        .lock()
        .unwrap()
        .insert("burst".into(), active(&a, AUD, now + 300));
    let before = a.introspect_hits();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let i = i.clone();
            tokio::spawn(async move { i.check("burst", &[], now).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(a.introspect_hits() - before, 1);

    // Never cached beyond the token's exp.
    a.state
        .answers
        .lock()
        .unwrap()
        .insert("short".into(), active(&a, AUD, now + 1));
    i.check("short", &[], now).await.unwrap();
    let before = a.introspect_hits();
    // Real clock: the cache's time-to-live runs on its own clock (moka).
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let _ = i.check("short", &[], now).await;
    assert_eq!(
        a.introspect_hits() - before,
        1,
        "the entry expired with the token"
    );
}

async fn whoami(axum::Extension(v): axum::Extension<Verified>) -> String {
    format!("{} via {}", v.sub(), v.via.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layer_answers_rfc6750_and_passes_the_claims() {
    let a = start_as().await;
    let jwks = a.state.jwks.lock().unwrap().clone();
    let guard = Guard::Local(Validator::new(&a.issuer, AUD, jwks));
    let app = Router::new()
        .route("/photos", get(whoami))
        .route_layer(guard.layer(&["photos:read"]));
    let call = async |auth: Option<String>| {
        let (status, www, body) = send(&app, "GET", "/photos", auth.as_deref(), &[], None).await;
        (
            status,
            www,
            body.as_str()
                .map_or_else(|| body.to_string(), str::to_owned),
        )
    };
    let (s, w, b) = call(Some(format!("Bearer {}", a.token("photos:read")))).await;
    assert_eq!((s, w, b.as_str()), (200, None, "order-service via local"));

    // Both schemes are offered (RFC 9110 §11.6.1, RFC 9449 §7.2).
    let (s, w, b) = call(None).await;
    assert_eq!(
        (s, w.as_deref()),
        (401, Some(r#"Bearer, DPoP algs="ES256 EdDSA PS256 RS256""#))
    );
    assert_eq!(
        serde_json::from_str::<Value>(&b).unwrap()["error"],
        "unauthorized"
    );

    let (s, w, b) = call(Some("Bearer not.a.jwt".into())).await;
    assert_eq!(
        (s, w.as_deref()),
        (401, Some(r#"Bearer error="invalid_token""#))
    );
    let body: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(body["error"], "invalid_token");

    let (s, w, _) = call(Some(format!("Bearer {}", a.token("charge:customer")))).await;
    assert_eq!(
        (s, w.as_deref()),
        (
            403,
            Some(r#"Bearer error="insufficient_scope", scope="photos:read""#)
        )
    );
    let err = ValidationError::InsufficientScope("a\"b c".into());
    assert_eq!(
        err.www_authenticate(),
        r#"Bearer error="insufficient_scope", scope="ab c""#
    );
}

/// `Validator::with_cache`: a token is verified once, then answered from
/// memory — with `exp` and the scopes still checked on every use.
#[test]
fn a_verified_token_is_remembered_until_exp_with_scopes_checked_each_time() {
    let (key, _) = SigningKey::generate(Algorithm::ES256).unwrap();
    let jwks = Jwks {
        keys: vec![key.public_jwk().clone()],
    };
    let iss = "https://id.example.com";
    let token = key
        .sign(Some("at+jwt"), &claims(iss, AUD, "photos:read", 300))
        .unwrap();
    let now = unix_now();
    let v = Validator::new(iss, AUD, jwks.clone()).with_cache(100);
    assert_eq!(Validator::new(iss, AUD, jwks.clone()).cache_stats(), None);

    v.validate(&token, &["photos:read"], now).unwrap();
    let s = v.cache_stats().unwrap();
    assert_eq!((s.hits, s.misses), (0, 1));
    let c = v.validate(&token, &["photos:read"], now).unwrap();
    assert_eq!(c.sub, "order-service");
    assert_eq!(v.cache_stats().unwrap().hits, 1);

    // Scopes depend on the route, not the token: checked after the cache.
    let err = v.validate(&token, &["charge:customer"], now).unwrap_err();
    assert_eq!(err.status(), 403);
    assert_eq!(v.cache_stats().unwrap().hits, 2);

    // Past exp + leeway (10 s) the remembered token is refused like any other.
    let exp = c.exp;
    v.validate(&token, &[], exp + 10).unwrap();
    let err = v.validate(&token, &[], exp + 11).unwrap_err();
    assert_eq!(err.status(), 401);
    assert!(err.to_string().contains("expired"), "{err}");

    // Only the byte-identical token hits: a tampered one is verified and refused.
    let mut tampered = token.clone();
    tampered.replace_range(tampered.len() - 2.., "AA");
    assert_ne!(tampered, token);
    let before = v.cache_stats().unwrap();
    assert_eq!(v.validate(&tampered, &[], now).unwrap_err().status(), 401);
    let after = v.cache_stats().unwrap();
    assert_eq!((after.hits, after.misses), (before.hits, before.misses + 1));

    // Each validator (audience) has its own memory.
    let other = Validator::new(iss, "https://payments.example.com", jwks).with_cache(100);
    assert_eq!(other.validate(&token, &[], now).unwrap_err().status(), 401);
}

/// A remembered token stays accepted across a JWKS refresh that keeps its
/// key, and is refused as soon as a refresh withdraws that key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remembered_token_is_refused_once_its_key_leaves_the_set() {
    let a = start_as().await;
    let (v, _clock) = a.remote_validator(Duration::from_secs(60));
    let v = v.with_cache(1000);
    v.keys().refresh().await.unwrap();
    let t = a.token("photos:read");
    v.verify(&t, &["photos:read"], unix_now()).await.unwrap();
    v.verify(&t, &["photos:read"], unix_now()).await.unwrap();
    assert_eq!(v.cache_stats().unwrap().hits, 1);

    // Same keys, new fetch: still remembered.
    v.keys().refresh().await.unwrap();
    v.verify(&t, &["photos:read"], unix_now()).await.unwrap();
    assert_eq!(v.cache_stats().unwrap().hits, 2);

    // The key is withdrawn (say, after a compromise).
    let (replacement, _) = SigningKey::generate(Algorithm::ES256).unwrap();
    *a.state.jwks.lock().unwrap() = Jwks {
        keys: vec![replacement.public_jwk().clone()],
    };
    v.keys().refresh().await.unwrap();
    let err = v
        .verify(&t, &["photos:read"], unix_now())
        .await
        .unwrap_err();
    assert_eq!(err.status(), 401, "{err}");
    assert_eq!(v.cache_stats().unwrap().hits, 2);
}

/// A token signed by a key published after the last fetch, arriving when
/// the cached set is past its max-age: the due fetch happens at once (it
/// is not suppressed by the unknown-kid interval), so the token passes.
/// A current-thread runtime makes this deterministic: the background
/// refresh that `current()` queues cannot run before the refetch.
#[tokio::test(flavor = "current_thread")]
async fn an_unknown_kid_on_a_stale_set_fetches_at_once() {
    let a = start_as().await;
    *a.state.cache_control.lock().unwrap() = "max-age=30".to_owned();
    let (v, clock) = a.remote_validator(Duration::from_secs(60));
    v.keys().refresh().await.unwrap();
    let (new_key, _) = SigningKey::generate(Algorithm::ES256).unwrap();
    a.state
        .jwks
        .lock()
        .unwrap()
        .keys
        .push(new_key.public_jwk().clone());
    let t = new_key
        .sign(Some("at+jwt"), &claims(&a.issuer, AUD, "photos:read", 300))
        .unwrap();
    // Fresh, within the interval: the unknown kid is refused unfetched.
    assert_eq!(
        v.verify(&t, &[], unix_now()).await.unwrap_err().status(),
        401
    );
    assert_eq!(a.jwks_hits(), 1);
    // Past max-age, still within the interval: fetched at once.
    clock.advance(Duration::from_secs(31));
    v.verify(&t, &["photos:read"], unix_now()).await.unwrap();
    assert_eq!(a.jwks_hits(), 2);
}

// ---------------------------------------------------------------------------
// DPoP at the door (RFC 9449 §7): the layer with local validation and with
// introspection. Proofs are made by `frontdesk_jose::dpop::make`, the one
// implementation, with the real clock (the layer reads it).
// ---------------------------------------------------------------------------

/// The public URL the API is configured with (it is reached in-process).
const API: &str = "https://api.example.com";
const DPOP_PROOF: &str = r#"DPoP error="invalid_dpop_proof", algs="ES256 EdDSA PS256 RS256""#;
const DPOP_TOKEN: &str = r#"DPoP error="invalid_token", algs="ES256 EdDSA PS256 RS256""#;

fn proof_refused() -> Value {
    json!({"error": "invalid_dpop_proof",
           "error_description": "the DPoP proof is missing, repeated, malformed, already used, or does not match this request"})
}

const BEARER_TOKEN: &str = r#"Bearer error="invalid_token""#;

fn bearer_refused() -> Value {
    json!({"error": "invalid_token",
           "error_description": "the access token is expired, revoked, malformed or not meant for this resource"})
}

fn binding_refused() -> Value {
    json!({"error": "invalid_token",
           "error_description": "the access token is expired, revoked, malformed, not meant for this resource, or not bound to the key of the DPoP proof it came with"})
}

async fn whoami_dpop(axum::Extension(v): axum::Extension<Verified>) -> String {
    format!(
        "{} via {} jkt {}",
        v.sub(),
        v.via.as_str(),
        v.dpop_jkt().unwrap_or("-")
    )
}

/// One request through `app`: status, `WWW-Authenticate`, and the body
/// (JSON when it is JSON).
async fn send(
    app: &Router,
    method: &str,
    path: &str,
    auth: Option<&str>,
    proofs: &[&str],
    host: Option<&str>,
) -> (u16, Option<String>, Value) {
    let mut req = axum::http::Request::builder().method(method).uri(path);
    if let Some(a) = auth {
        req = req.header(header::AUTHORIZATION, a);
    }
    for p in proofs {
        req = req.header("DPoP", *p);
    }
    if let Some(h) = host {
        req = req.header(header::HOST, h);
    }
    let res = app
        .clone()
        .oneshot(req.body(axum::body::Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status().as_u16();
    let www = res
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 16)
        .await
        .unwrap();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, www, body)
}

/// A client's proof key and its thumbprint.
fn client_key() -> (SigningKey, String) {
    let (k, _) = SigningKey::generate(Algorithm::ES256).unwrap();
    let jkt = frontdesk_jose::dpop::jkt(&k).unwrap();
    (k, jkt)
}

static JTI: AtomicU64 = AtomicU64::new(0);

/// A proof by `key` for `method uri`, with `ath` of `token`, made `age`
/// seconds ago (negative: ahead), with a fresh jti.
fn proof_by(key: &SigningKey, method: &str, uri: &str, token: Option<&str>, age: i64) -> String {
    let jti = format!("jti-{}-{}", unix_now(), JTI.fetch_add(1, Ordering::SeqCst));
    frontdesk_jose::dpop::make(
        key,
        &frontdesk_jose::dpop::Proof {
            method,
            uri,
            access_token: token,
            nonce: None,
            jti: &jti,
            iat: unix_now().saturating_add_signed(-age),
        },
    )
    .unwrap()
}

impl TestAs {
    /// A JWT access token bound to `jkt` (RFC 9449 §6.1).
    fn bound_token(&self, scope: &str, jkt: &str) -> String {
        let mut c = claims(&self.issuer, AUD, scope, 300);
        c.cnf = Some(frontdesk_jose::Confirmation {
            jkt: Some(jkt.to_owned()),
        });
        self.key.sign(Some("at+jwt"), &c).unwrap()
    }
}

/// Replaces a proof's header (the signature no longer matters: the `alg`
/// check comes first).
fn with_header(proof: &str, header: Value) -> String {
    let mut parts = proof.splitn(2, '.');
    let _ = parts.next();
    format!(
        "{}.{}",
        frontdesk_jose::b64url(header.to_string().as_bytes()),
        parts.next().unwrap()
    )
}

/// SECURITY.md R19, J6, J7, J11 at the door: every RFC 9449 §7.1 refusal of
/// the layer with local validation, with its exact status, challenge and
/// body; the stolen-token case (the thief's own key) among them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r19_dpop_at_the_layer_refuses_per_rfc9449_7() {
    let a = start_as().await;
    let jwks = a.state.jwks.lock().unwrap().clone();
    let guard = Guard::Local(Validator::new(&a.issuer, AUD, jwks));
    let app = Router::new()
        .route("/photos", get(whoami_dpop))
        .route_layer(
            guard
                .layer(&["photos:read"])
                .with_public_url(&format!("{API}/"))
                .unwrap(),
        );
    let (key, jkt) = client_key();
    let (thief, _) = client_key();
    let bound = a.bound_token("photos:read", &jkt);
    let plain = a.token("photos:read");
    let narrow = a.bound_token("charge:customer", &jkt);
    // Bound by a confirmation method this door cannot check (mTLS, say).
    let mut mtls = claims(&a.issuer, AUD, "photos:read", 300);
    mtls.cnf = Some(frontdesk_jose::Confirmation { jkt: None });
    let other_cnf = a.key.sign(Some("at+jwt"), &mtls).unwrap();
    let uri = format!("{API}/photos");
    let p = |method: &str, uri: &str, token: Option<&str>, age: i64| {
        proof_by(&key, method, uri, token, age)
    };
    let good = p("GET", &uri, Some(&bound), 0);
    let dpop = |t: &str| format!("DPoP {t}");
    let ok = |t: &str| Value::String(format!("order-service via local jkt {t}"));
    let none_header = json!({"typ": "dpop+jwt", "alg": "none", "jwk": key.public_jwk()});
    let hs_header = json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": key.public_jwk()});
    let claims_only = good.rsplit_once('.').unwrap().0;

    // (name, path, Authorization, DPoP headers) → (status, challenge, body)
    type Expect = (u16, Option<&'static str>, Value);
    let refused_proof: Expect = (401, Some(DPOP_PROOF), proof_refused());
    let refused_token: Expect = (401, Some(DPOP_TOKEN), binding_refused());
    // A request under the Bearer scheme is answered under it (RFC 6750).
    let refused_bearer: Expect = (401, Some(BEARER_TOKEN), bearer_refused());
    let with_bound = |name, proofs: Vec<String>, expect: &Expect| {
        (name, "/photos", Some(dpop(&bound)), proofs, expect.clone())
    };
    type Case<'a> = (&'a str, &'a str, Option<String>, Vec<String>, Expect);
    let cases: Vec<Case> = vec![
        with_bound("good proof", vec![good.clone()], &(200, None, ok(&jkt))),
        with_bound("replayed proof", vec![good.clone()], &refused_proof),
        (
            "scheme in lower case, query not in htu",
            "/photos?page=2",
            Some(format!("dpop {bound}")),
            vec![p("GET", &uri, Some(&bound), 0)],
            (200, None, ok(&jkt)),
        ),
        with_bound(
            "wrong htu: another host",
            vec![p("GET", "https://evil.example.com/photos", Some(&bound), 0)],
            &refused_proof,
        ),
        with_bound(
            "wrong htu: another path",
            vec![p("GET", &format!("{API}/albums"), Some(&bound), 0)],
            &refused_proof,
        ),
        with_bound(
            "wrong htu: the address reached, not the public URL",
            vec![p("GET", "http://localhost/photos", Some(&bound), 0)],
            &refused_proof,
        ),
        with_bound(
            "wrong htm",
            vec![p("POST", &uri, Some(&bound), 0)],
            &refused_proof,
        ),
        with_bound(
            "stale iat",
            vec![p("GET", &uri, Some(&bound), 301)],
            &refused_proof,
        ),
        with_bound(
            "iat ahead",
            vec![p("GET", &uri, Some(&bound), -61)],
            &refused_proof,
        ),
        with_bound(
            "the thief's own key",
            vec![proof_by(&thief, "GET", &uri, Some(&bound), 0)],
            &refused_token,
        ),
        with_bound(
            "ath of another token",
            vec![p("GET", &uri, Some(&plain), 0)],
            &refused_proof,
        ),
        with_bound("no ath", vec![p("GET", &uri, None, 0)], &refused_proof),
        (
            "bound token as Bearer",
            "/photos",
            Some(format!("Bearer {bound}")),
            vec![],
            refused_bearer.clone(),
        ),
        (
            "bound token as Bearer, with a proof",
            "/photos",
            Some(format!("Bearer {bound}")),
            vec![p("GET", &uri, Some(&bound), 0)],
            refused_bearer.clone(),
        ),
        with_bound(
            "two DPoP headers",
            vec![
                p("GET", &uri, Some(&bound), 0),
                p("GET", &uri, Some(&bound), 0),
            ],
            &refused_proof,
        ),
        with_bound("no DPoP header", vec![], &refused_proof),
        with_bound("not a JWS", vec!["abc".into()], &refused_proof),
        with_bound(
            "alg none",
            vec![format!("{}.", with_header(claims_only, none_header))],
            &refused_proof,
        ),
        with_bound(
            "alg HS256",
            vec![with_header(&p("GET", &uri, Some(&bound), 0), hs_header)],
            &refused_proof,
        ),
        (
            "unbound token with the DPoP scheme",
            "/photos",
            Some(dpop(&plain)),
            vec![p("GET", &uri, Some(&plain), 0)],
            refused_token.clone(),
        ),
        (
            "bad token with the DPoP scheme",
            "/photos",
            Some(dpop("not.a.jwt")),
            vec![p("GET", &uri, Some("not.a.jwt"), 0)],
            refused_token.clone(),
        ),
        (
            "cnf without jkt, as Bearer",
            "/photos",
            Some(format!("Bearer {other_cnf}")),
            vec![],
            refused_bearer.clone(),
        ),
        (
            "cnf without jkt, as DPoP",
            "/photos",
            Some(dpop(&other_cnf)),
            vec![p("GET", &uri, Some(&other_cnf), 0)],
            refused_token.clone(),
        ),
        (
            "DPoP with a scope missing",
            "/photos",
            Some(dpop(&narrow)),
            vec![p("GET", &uri, Some(&narrow), 0)],
            (
                403,
                Some(
                    r#"DPoP error="insufficient_scope", scope="photos:read", algs="ES256 EdDSA PS256 RS256""#,
                ),
                json!({"error": "insufficient_scope", "error_description": "the access token lacks the scope this request needs: photos:read"}),
            ),
        ),
        (
            "unbound token as Bearer",
            "/photos",
            Some(format!("Bearer {plain}")),
            vec![],
            (
                200,
                None,
                Value::String("order-service via local jkt -".into()),
            ),
        ),
        (
            "no credentials",
            "/photos",
            None,
            vec![],
            (
                401,
                Some(r#"Bearer, DPoP algs="ES256 EdDSA PS256 RS256""#),
                json!({"error": "unauthorized", "error_description": "this resource needs an access token: Bearer, or DPoP with a DPoP proof"}),
            ),
        ),
    ];
    for (name, path, auth, proofs, (status, www, body)) in cases {
        let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
        let got = send(&app, "GET", path, auth.as_deref(), &proofs, None).await;
        assert_eq!(got, (status, www.map(str::to_owned), body), "{name}");
    }
}

/// A DPoP-only layer answers with the DPoP challenge alone; without a
/// public URL the URI is rebuilt from `Host` (plain HTTP).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r19_a_dpop_only_layer_and_the_uri_from_host() {
    let a = start_as().await;
    let jwks = a.state.jwks.lock().unwrap().clone();
    let guard = Guard::Local(Validator::new(&a.issuer, AUD, jwks));
    let app = Router::new()
        .route("/photos", get(whoami_dpop))
        .route_layer(guard.layer(&["photos:read"]).require_dpop());
    let (key, jkt) = client_key();
    let bound = a.bound_token("photos:read", &jkt);
    let host = Some("api.internal:8080");
    let here = "http://api.internal:8080/photos";
    let auth = format!("DPoP {bound}");
    let with_proof = async |uri: &str, host: Option<&str>| {
        let proof = proof_by(&key, "GET", uri, Some(&bound), 0);
        send(&app, "GET", "/photos", Some(&auth), &[&proof], host).await
    };

    assert_eq!(
        with_proof(here, host).await,
        (
            200,
            None,
            Value::String(format!("order-service via local jkt {jkt}"))
        )
    );
    let got = with_proof("https://api.internal:8080/photos", host).await;
    assert_eq!(
        (got.0, got.1.as_deref()),
        (401, Some(DPOP_PROOF)),
        "the scheme is http"
    );
    let got = with_proof(here, None).await;
    assert_eq!(
        (got.0, got.1.as_deref()),
        (401, Some(DPOP_PROOF)),
        "no Host, no URI"
    );

    let got = send(&app, "GET", "/photos", None, &[], host).await;
    assert_eq!(
        got,
        (
            401,
            Some(r#"DPoP algs="ES256 EdDSA PS256 RS256""#.to_owned()),
            json!({"error": "unauthorized", "error_description": "this resource needs a DPoP-bound access token sent with Authorization: DPoP and a DPoP proof"})
        )
    );
    let plain = format!("Bearer {}", a.token("photos:read"));
    let got = send(&app, "GET", "/photos", Some(&plain), &[], host).await;
    assert_eq!(got, (401, Some(DPOP_TOKEN.to_owned()), binding_refused()));
}

/// Introspection mode: `cnf.jkt` of the RFC 7662 answer binds the token,
/// also when the answer comes from the cache; `token_type: DPoP` without
/// `cnf.jkt` is not trusted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r19_dpop_with_introspection_binds_through_cnf_of_the_answer() {
    let a = start_as().await;
    let (key, jkt) = client_key();
    let (thief, _) = client_key();
    let now = unix_now();
    let mut answer = active(&a, AUD, now + 300);
    answer["cnf"] = json!({"jkt": jkt});
    answer["token_type"] = json!("DPoP");
    let mut no_jkt = active(&a, AUD, now + 300);
    no_jkt["token_type"] = json!("DPoP");
    {
        let mut answers = a.state.answers.lock().unwrap();
        answers.insert("bound-opaque".into(), answer);
        answers.insert("typed-unbound".into(), no_jkt);
        answers.insert("plain-opaque".into(), active(&a, AUD, now + 300));
    }
    let uri = format!("{API}/photos");
    for (cached, via) in [(false, "introspection"), (true, "introspection_cache")] {
        let i = introspector(&a, "rs-secret");
        let i = if cached {
            i.with_cache(Duration::from_secs(60), 100)
        } else {
            i
        };
        let app = Router::new()
            .route("/photos", get(whoami_dpop))
            .route_layer(
                Guard::Introspect(i)
                    .layer(&["photos:read"])
                    .with_public_url(API)
                    .unwrap(),
            );
        let auth = "DPoP bound-opaque";
        let call = |k: &SigningKey| proof_by(k, "GET", &uri, Some("bound-opaque"), 0);
        let got = send(&app, "GET", "/photos", Some(auth), &[&call(&key)], None).await;
        assert_eq!(got.0, 200, "{got:?}");
        // The second use reads the cache when there is one; the binding is
        // checked all the same.
        let got = send(&app, "GET", "/photos", Some(auth), &[&call(&key)], None).await;
        assert_eq!(
            got,
            (
                200,
                None,
                Value::String(format!("order-service via {via} jkt {jkt}"))
            )
        );
        let got = send(&app, "GET", "/photos", Some(auth), &[&call(&thief)], None).await;
        assert_eq!(
            got,
            (401, Some(DPOP_TOKEN.to_owned()), binding_refused()),
            "thief, cached={cached}"
        );
        let got = send(
            &app,
            "GET",
            "/photos",
            Some("Bearer bound-opaque"),
            &[],
            None,
        )
        .await;
        assert_eq!(
            got,
            (401, Some(BEARER_TOKEN.to_owned()), bearer_refused()),
            "as Bearer, cached={cached}"
        );
        let got = send(
            &app,
            "GET",
            "/photos",
            Some("Bearer typed-unbound"),
            &[],
            None,
        )
        .await;
        assert_eq!(
            (got.0, got.1.as_deref()),
            (401, Some(r#"Bearer error="invalid_token""#))
        );
        let got = send(
            &app,
            "GET",
            "/photos",
            Some("Bearer plain-opaque"),
            &[],
            None,
        )
        .await;
        assert_eq!(
            got,
            (
                200,
                None,
                Value::String(format!(
                    "order-service via {} jkt -",
                    if cached { "introspection" } else { via }
                ))
            )
        );
    }
}
