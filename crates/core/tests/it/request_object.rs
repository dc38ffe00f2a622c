//! Request objects (RFC 9101) on core with a fixed clock: every check of
//! `request_object::unpack` as a table, then what `/authorize` and the PAR
//! endpoint make of a verified object — only its parameters count, errors
//! are pages until its signature and redirect URI are good, the by-value
//! request is continued like a pushed one and stays marked as signed
//! through every step, and `require_signed_request_object`.

use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use frontdesk_core::authorize::par::{self, Resolved};
use frontdesk_core::authorize::request_object::{self, MAX_LIFETIME_SECS};
use frontdesk_core::authorize::{AuthorizeError, AuthorizeRequest};
use frontdesk_core::client::{KeySource, NoKeySource};
use frontdesk_core::error::{Error, ErrorCode};
use frontdesk_core::model::{Client, ClientId, Jwks};
use frontdesk_core::params::Params;
use frontdesk_core::store::Store;
use frontdesk_jose::{Algorithm, SigningKey};
use serde_json::{Value, json};

use crate::support::*;

struct Keys {
    es: SigningKey,
    ed: SigningKey,
    stranger: SigningKey,
}

fn keys() -> Keys {
    let key = |alg| SigningKey::generate(alg).unwrap().0;
    Keys {
        es: key(Algorithm::ES256),
        ed: key(Algorithm::EdDSA),
        stranger: key(Algorithm::ES256),
    }
}

fn jwks(keys: &[&SigningKey]) -> Jwks {
    Jwks {
        keys: keys.iter().map(|k| k.public_jwk().clone()).collect(),
    }
}

/// The claims of a good request object from `app`.
fn claims() -> Value {
    json!({
        "iss": "app",
        "aud": ISSUER,
        "iat": NOW,
        "exp": NOW + 300,
        "client_id": "app",
        "response_type": "code",
        "redirect_uri": REDIRECT,
        "scope": "openid profile",
        "state": "st-signed",
        "nonce": "n-signed",
        "code_challenge": challenge(VERIFIER),
        "code_challenge_method": "S256",
        "max_age": 600,
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

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

/// A JWS with a header of our choosing, signed by `key` (or with a bogus
/// signature when `None`).
fn forge(header: Value, claims: &Value, key: Option<&SigningKey>) -> String {
    let input = format!("{}.{}", b64(&header), b64(claims));
    let sig = match key {
        Some(k) => k.sign_input(input.as_bytes()).unwrap(),
        None => vec![0u8; 32],
    };
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// HS256 over the object with `secret` as the MAC key: the alg-confusion
/// attack on a client secret.
fn hs256(claims: &Value, secret: &str) -> String {
    let input = format!("{}.{}", b64(&json!({"alg": "HS256"})), b64(claims));
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

fn signed(key: &SigningKey, claims: &Value) -> String {
    key.sign(Some("oauth-authz-req+jwt"), claims).unwrap()
}

async fn app(env: &Env) -> Client {
    env.db
        .client(&ClientId("app".into()))
        .await
        .unwrap()
        .unwrap()
}

/// Every check, as a table: what the object is, and the refusal's text
/// (`None`: accepted).
#[tokio::test]
async fn request_object_checks() {
    let k = keys();
    let registered = jwks(&[&k.es, &k.ed]);
    let env = env_with(|c| c.jwks = Some(registered.clone())).await;
    let client = app(&env).await;
    let good = claims();
    let none = format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&good));
    let cases: Vec<(&str, String, Option<&str>)> = vec![
        ("a good ES256 object", signed(&k.es, &good), None),
        ("a good EdDSA object", signed(&k.ed, &good), None),
        ("no typ", k.es.sign(None, &good).unwrap(), None),
        (
            "typ with the application/ prefix",
            k.es.sign(Some("application/oauth-authz-req+jwt"), &good)
                .unwrap(),
            None,
        ),
        (
            "aud as an array holding the issuer",
            signed(
                &k.es,
                &with(
                    good.clone(),
                    &[("aud", json!(["https://x.example", ISSUER]))],
                ),
            ),
            None,
        ),
        (
            "no client_id claim",
            signed(&k.es, &with(good.clone(), &[("client_id", Value::Null)])),
            None,
        ),
        (
            "exp exactly 60 minutes ahead",
            signed(
                &k.es,
                &with(good.clone(), &[("exp", json!(NOW + MAX_LIFETIME_SECS))]),
            ),
            None,
        ),
        (
            "alg none",
            none,
            Some("unsigned request objects (alg none) are refused (RFC 9101)"),
        ),
        (
            "alg none with a signature anyway",
            forge(json!({"alg": "none"}), &good, Some(&k.es)),
            Some("unsigned request objects (alg none) are refused (RFC 9101)"),
        ),
        (
            "HS256 keyed with the client secret",
            hs256(&good, SECRET),
            Some("the request object must be signed with one of: ES256, EdDSA, PS256, RS256"),
        ),
        (
            "an encrypted object (JWE)",
            "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d".to_owned(),
            Some("encrypted request objects (JWE) are not supported"),
        ),
        (
            "not a JWT",
            "hello".to_owned(),
            Some("the request object is not a signed JWT (JWS compact serialization)"),
        ),
        (
            "signed by a key the client did not register",
            signed(&k.stranger, &good),
            Some(
                "the signature of the request object does not verify with the keys the client registered",
            ),
        ),
        (
            "the stranger's key under the client's kid",
            forge(
                json!({"alg": "ES256", "kid": k.es.kid(), "typ": "oauth-authz-req+jwt"}),
                &good,
                Some(&k.stranger),
            ),
            Some(
                "the signature of the request object does not verify with the keys the client registered",
            ),
        ),
        (
            "a header alg that is not the key's",
            forge(
                json!({"alg": "RS256", "kid": k.es.kid()}),
                &good,
                Some(&k.es),
            ),
            Some("the request object must be signed with one of: ES256, EdDSA, PS256, RS256"),
        ),
        (
            "a key in the header (jwk)",
            forge(
                json!({"alg": "ES256", "kid": k.es.kid(), "jwk": k.stranger.public_jwk()}),
                &good,
                Some(&k.es),
            ),
            Some("the header of the request object must not carry jwk"),
        ),
        (
            "typ at+jwt",
            k.es.sign(Some("at+jwt"), &good).unwrap(),
            Some("the typ of the request object must be oauth-authz-req+jwt"),
        ),
        (
            "typ dpop+jwt",
            k.es.sign(Some("dpop+jwt"), &good).unwrap(),
            Some("the typ of the request object must be oauth-authz-req+jwt"),
        ),
        (
            "the generic typ JWT (OpenID Connect clients)",
            k.es.sign(Some("JWT"), &good).unwrap(),
            None,
        ),
        (
            "typ JWT with a trailing comment",
            k.es.sign(Some("JWT; x"), &good).unwrap(),
            Some("the typ of the request object must be oauth-authz-req+jwt"),
        ),
        (
            "iss of another client",
            signed(&k.es, &with(good.clone(), &[("iss", json!("other"))])),
            Some("the iss of the request object must be the client_id"),
        ),
        (
            "no iss",
            signed(&k.es, &with(good.clone(), &[("iss", Value::Null)])),
            Some("the request object has no iss claim"),
        ),
        (
            "aud of another server",
            signed(
                &k.es,
                &with(good.clone(), &[("aud", json!("https://other.example"))]),
            ),
            Some("the aud of the request object must be the issuer of this server"),
        ),
        (
            "aud as the authorization endpoint",
            signed(
                &k.es,
                &with(
                    good.clone(),
                    &[("aud", json!(format!("{ISSUER}/authorize")))],
                ),
            ),
            Some("the aud of the request object must be the issuer of this server"),
        ),
        (
            "no aud",
            signed(&k.es, &with(good.clone(), &[("aud", Value::Null)])),
            Some("the request object has no aud claim"),
        ),
        (
            "expired beyond the leeway",
            signed(&k.es, &with(good.clone(), &[("exp", json!(NOW - 31))])),
            Some("the request object has expired"),
        ),
        (
            "no exp",
            signed(&k.es, &with(good.clone(), &[("exp", Value::Null)])),
            Some("the request object has no exp claim"),
        ),
        (
            "exp a day ahead",
            signed(&k.es, &with(good.clone(), &[("exp", json!(NOW + 86_400))])),
            Some("the exp of the request object is more than 60 minutes away"),
        ),
        (
            "exp more than 60 minutes after nbf",
            signed(
                &k.es,
                &with(
                    good.clone(),
                    &[("nbf", json!(NOW - 3000)), ("exp", json!(NOW + 601))],
                ),
            ),
            Some("the exp of the request object is more than 60 minutes after its nbf"),
        ),
        (
            "nbf in the future",
            signed(&k.es, &with(good.clone(), &[("nbf", json!(NOW + 60))])),
            Some("the request object is not valid yet"),
        ),
        (
            "client_id claim of another client",
            signed(&k.es, &with(good.clone(), &[("client_id", json!("other"))])),
            Some("the client_id of the request object differs from the client_id parameter"),
        ),
        (
            "a request_uri inside",
            signed(
                &k.es,
                &with(good.clone(), &[("request_uri", json!("urn:x"))]),
            ),
            Some("a request object must not contain request_uri"),
        ),
        (
            "a request inside",
            signed(&k.es, &with(good.clone(), &[("request", json!("a.b.c"))])),
            Some("a request object must not contain request"),
        ),
        (
            "resource as an array of numbers",
            signed(&k.es, &with(good.clone(), &[("resource", json!([1, 2]))])),
            Some("the resource of the request object must be a string or an array of strings"),
        ),
    ];
    for (what, object, expect) in cases {
        let got = request_object::unpack(&env.core, &client, &NoKeySource, &object, NOW).await;
        match (got, expect) {
            (Ok(p), None) => {
                assert_eq!(p.get("client_id"), Some("app"), "{what}");
                assert_eq!(p.get("state"), Some("st-signed"), "{what}");
            }
            (Err(e), Some(text)) => {
                assert_eq!(e.code, ErrorCode::InvalidRequestObject, "{what}");
                assert_eq!(e.description, text, "{what}");
            }
            (got, expect) => panic!("{what}: got {got:?}, expected {expect:?}"),
        }
    }

    // The client's request_object_signing_alg narrows the algorithms.
    let mut pinned = client.clone();
    pinned.request_object_signing_alg = Some("ES256".into());
    let e = request_object::unpack(&env.core, &pinned, &NoKeySource, &signed(&k.ed, &good), NOW)
        .await
        .unwrap_err();
    assert_eq!(
        e.description,
        "the request object must be signed with one of: ES256"
    );
    request_object::unpack(&env.core, &pinned, &NoKeySource, &signed(&k.es, &good), NOW)
        .await
        .unwrap();
    // A client without keys verifies nothing.
    let mut keyless = client.clone();
    keyless.jwks = None;
    let e = request_object::unpack(
        &env.core,
        &keyless,
        &NoKeySource,
        &signed(&k.es, &good),
        NOW,
    )
    .await
    .unwrap_err();
    assert_eq!(
        e.description,
        "the signature of the request object does not verify with the keys the client registered"
    );
}

/// Claims that are not strings become the query's text; JWT bookkeeping
/// claims are not parameters.
#[tokio::test]
async fn claims_become_parameters() {
    let k = keys();
    let env = env_with(|c| c.jwks = Some(jwks(&[&k.es]))).await;
    let client = app(&env).await;
    let object = signed(
        &k.es,
        &with(
            claims(),
            &[
                ("resource", json!([API])),
                ("claims", json!({"userinfo": {"email": null}})),
                ("jti", json!("j-1")),
                ("nbf", json!(NOW - 10)),
                ("login_hint", json!("")),
                ("ui_locales", Value::Null),
            ],
        ),
    );
    let p = request_object::unpack(&env.core, &client, &NoKeySource, &object, NOW)
        .await
        .unwrap();
    assert_eq!(p.get("max_age"), Some("600"));
    assert_eq!(p.get_all("resource").collect::<Vec<_>>(), [API]);
    assert_eq!(p.get("claims"), Some(r#"{"userinfo":{"email":null}}"#));
    for absent in ["iss", "aud", "exp", "iat", "nbf", "jti", "login_hint"] {
        assert_eq!(p.get(absent), None, "{absent}");
    }
    // What the validator makes of them.
    let req = frontdesk_core::authorize::validate(&env.db, &p, |_| None)
        .await
        .unwrap();
    assert_eq!(req.max_age, Some(600));
    assert_eq!(req.resources, [API]);
    assert_eq!(req.state.as_deref(), Some("st-signed"));
}

/// A `KeySource` serving one JWKS at one URI, remembering the `kid`s asked.
struct Published {
    uri: &'static str,
    jwks: Jwks,
    asked: Mutex<Vec<Option<String>>>,
}

impl KeySource for Published {
    async fn fetch(&self, jwks_uri: &str, kid: Option<&str>) -> Arc<Jwks> {
        self.asked.lock().unwrap().push(kid.map(str::to_owned));
        if jwks_uri == self.uri {
            Arc::new(self.jwks.clone())
        } else {
            Arc::new(Jwks::default())
        }
    }
    fn cached(&self, _: &str) -> Option<Arc<Jwks>> {
        None
    }
}

#[tokio::test]
async fn keys_from_the_jwks_uri_by_kid() {
    let k = keys();
    let uri = "https://app.example/jwks.json";
    let env = env_with(|c| c.jwks_uri = Some(uri.into())).await;
    let client = app(&env).await;
    let source = Published {
        uri,
        jwks: jwks(&[&k.ed]),
        asked: Mutex::new(Vec::new()),
    };
    request_object::unpack(&env.core, &client, &source, &signed(&k.ed, &claims()), NOW)
        .await
        .unwrap();
    let e = request_object::unpack(&env.core, &client, &source, &signed(&k.es, &claims()), NOW)
        .await
        .unwrap_err();
    assert_eq!(
        e.description,
        "the signature of the request object does not verify with the keys the client registered"
    );
    assert_eq!(
        *source.asked.lock().unwrap(),
        [Some(k.ed.kid().to_owned()), Some(k.es.kid().to_owned())]
    );
}

async fn arrive(
    env: &Env,
    query: &[(&str, &str)],
    now: i64,
) -> Result<(AuthorizeRequest, Resolved), AuthorizeError> {
    par::validate_resolved(
        &env.core,
        &env.db,
        &NoKeySource,
        &params(query),
        |_| None,
        now,
    )
    .await
}

fn shown<T: std::fmt::Debug>(r: Result<T, AuthorizeError>) -> (ErrorCode, String) {
    match r {
        Err(AuthorizeError::Show(o)) => (o.code, o.description),
        other => panic!("expected an error page, got {other:?}"),
    }
}

fn continuation(r: &Resolved) -> Vec<(String, String)> {
    let p = Params::parse(r.carried().as_bytes()).unwrap();
    p.names()
        .map(|n| (n.to_owned(), p.get(n).unwrap().to_owned()))
        .collect()
}

/// By value at /authorize: only the object's parameters count, the request
/// is stored opened and continued like a pushed one, every step still
/// sees it as signed (also after a satisfied prompt), and its one
/// response spends it.
#[tokio::test]
async fn by_value_is_continued_like_a_pushed_request() {
    let k = keys();
    let env = env_with(|c| {
        c.jwks = Some(jwks(&[&k.es]));
        c.require_signed_request_object = true;
    })
    .await;
    let object = signed(&k.es, &with(claims(), &[("prompt", json!("login"))]));
    let (req, resolved) = arrive(
        &env,
        &[
            ("client_id", "app"),
            ("request", &object),
            // Outer parameters are ignored (RFC 9101 §5).
            ("scope", "openid offline_access"),
            ("state", "st-outer"),
            ("redirect_uri", "https://evil.example/cb"),
        ],
        NOW,
    )
    .await
    .unwrap();
    assert_eq!(req.state.as_deref(), Some("st-signed"));
    assert_eq!(req.scope.to_string(), "openid profile");
    assert_eq!(req.redirect_uri.as_str(), REDIRECT);
    assert_eq!(req.max_age, Some(600));
    assert!(req.prompt.login);
    assert!(resolved.signed);
    let opened = resolved.pushed().unwrap();
    assert!(opened.opened_now);
    let next = continuation(&resolved);
    let names: Vec<&str> = next.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["client_id", "request_uri", "par_continue"]);
    let next: Vec<(&str, &str)> = next.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();

    // The next step (after the object's exp, even): the stored request.
    let (req, step) = arrive(&env, &next, NOW + 400).await.unwrap();
    assert!(step.signed);
    assert!(!step.pushed().unwrap().opened_now);
    assert_eq!(req.state.as_deref(), Some("st-signed"));
    // prompt=login satisfied: gone from the stored request, still signed.
    let carried = par::satisfied(&env.db, &step, "login", NOW + 401)
        .await
        .unwrap();
    let carried = params_of(&carried);
    let carried: Vec<(&str, &str)> = carried
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let (req, step) = arrive(&env, &carried, NOW + 402).await.unwrap();
    assert!(!req.prompt.login);
    assert!(step.signed, "the mark survives the update");
    // One response spends it.
    par::spend(&env.db, &step, NOW + 403).await.unwrap();
    assert_eq!(
        shown(arrive(&env, &carried, NOW + 404).await),
        (
            ErrorCode::InvalidRequestUri,
            "request_uri has already been used".into()
        )
    );
}

fn params_of(query: &str) -> Vec<(String, String)> {
    let p = Params::parse(query.as_bytes()).unwrap();
    p.names()
        .map(|n| (n.to_owned(), p.get(n).unwrap().to_owned()))
        .collect()
}

/// Where errors go: an object that does not verify, or names a redirect
/// URI that is not registered, is an error page; a verified object's other
/// errors go to its redirect URI.
#[tokio::test]
async fn errors_are_pages_until_the_object_and_its_redirect_uri_are_good() {
    let k = keys();
    let env = env_with(|c| c.jwks = Some(jwks(&[&k.es]))).await;
    let q = |object: &str| {
        vec![
            ("client_id", "app".to_owned()),
            ("request", object.to_owned()),
        ]
    };
    let run = |pairs: Vec<(&'static str, String)>| {
        let env = &env;
        async move {
            let pairs: Vec<(&str, &str)> = pairs.iter().map(|(a, b)| (*a, b.as_str())).collect();
            arrive(env, &pairs, NOW).await
        }
    };
    assert_eq!(
        shown(run(q(&signed(&k.stranger, &claims()))).await),
        (
            ErrorCode::InvalidRequestObject,
            "the signature of the request object does not verify with the keys the client registered"
                .into()
        )
    );
    assert_eq!(
        shown(
            run(q(&signed(
                &k.es,
                &with(
                    claims(),
                    &[("redirect_uri", json!("https://evil.example/cb"))]
                )
            )))
            .await
        ),
        (
            ErrorCode::InvalidRequest,
            "redirect_uri is not registered for this client".into()
        )
    );
    // The outer client_id names the client whose keys verify: another
    // client's object under it is a page.
    let mut other = q(&signed(&k.es, &claims()));
    other[0].1 = "other".into();
    assert_eq!(
        shown(run(other).await),
        (
            ErrorCode::InvalidRequestObject,
            "the signature of the request object does not verify with the keys the client registered"
                .into()
        )
    );
    let mut both = q(&signed(&k.es, &claims()));
    both.push(("request_uri", "urn:ietf:params:oauth:request_uri:x".into()));
    assert_eq!(
        shown(run(both).await),
        (
            ErrorCode::InvalidRequest,
            "request and request_uri must not both be sent (RFC 9101)".into()
        )
    );
    match run(q(&signed(
        &k.es,
        &with(claims(), &[("scope", json!("admin"))]),
    )))
    .await
    {
        Err(AuthorizeError::Redirect {
            to, state, error, ..
        }) => {
            assert_eq!(to.as_str(), REDIRECT);
            assert_eq!(state.as_deref(), Some("st-signed"));
            assert_eq!(error.code, ErrorCode::InvalidScope);
        }
        other => panic!("{other:?}"),
    }
}

/// `require_signed_request_object`: plain parameters are refused at
/// /authorize (a page) and at the PAR endpoint; a pushed object is stored
/// as signed and continued.
#[tokio::test]
async fn require_signed_request_object_per_client() {
    let k = keys();
    let env = env_with(|c| {
        c.jwks = Some(jwks(&[&k.es]));
        c.require_signed_request_object = true;
    })
    .await;
    let plain: Vec<(String, String)> = claims()
        .as_object()
        .unwrap()
        .iter()
        .filter(|(n, _)| !["iss", "aud", "iat", "exp"].contains(&n.as_str()))
        .map(|(n, v)| {
            (
                n.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_owned),
            )
        })
        .collect();
    let plain: Vec<(&str, &str)> = plain
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let refused =
        "this client must send its authorization requests as signed request objects (RFC 9101)";
    assert_eq!(
        shown(arrive(&env, &plain, NOW).await),
        (ErrorCode::InvalidRequest, refused.into())
    );
    let client = app(&env).await;
    let push = async |form: &[(&str, &str)]| {
        par::push(
            &env.core,
            &env.db,
            &NoKeySource,
            &client,
            &params(form),
            |_| None,
            NOW,
        )
        .await
    };
    match push(&plain).await {
        Err(Error::OAuth(o)) => {
            assert_eq!(
                (o.code, o.description.as_str()),
                (ErrorCode::InvalidRequest, refused)
            );
        }
        other => panic!("{other:?}"),
    }
    // A pushed object: client_id outside is optional, but must be the client's.
    let object = signed(&k.es, &claims());
    match push(&[("client_id", "other"), ("request", &object)]).await {
        Err(Error::OAuth(o)) => assert_eq!(
            o.description,
            "client_id does not name the authenticated client"
        ),
        other => panic!("{other:?}"),
    }
    match push(&[("request", &signed(&k.stranger, &claims()))]).await {
        Err(Error::OAuth(o)) => assert_eq!(o.code, ErrorCode::InvalidRequestObject),
        other => panic!("{other:?}"),
    }
    let pushed = push(&[("request", &object), ("scope", "offline_access")])
        .await
        .unwrap();
    let (req, resolved) = arrive(
        &env,
        &[("client_id", "app"), ("request_uri", &pushed.request_uri)],
        NOW + 1,
    )
    .await
    .unwrap();
    assert!(resolved.signed);
    assert_eq!(
        req.scope.to_string(),
        "openid profile",
        "only the object's scope"
    );
    // A plain push by a client that needs no object is not marked, whatever
    // it sends.
    let env = env_with(|c| c.jwks = Some(jwks(&[&k.es]))).await;
    let client = app(&env).await;
    let mut form = plain.clone();
    form.push(("frontdesk_signed_request_object", "1"));
    let pushed = par::push(
        &env.core,
        &env.db,
        &NoKeySource,
        &client,
        &params(&form),
        |_| None,
        NOW,
    )
    .await
    .unwrap();
    let (_, resolved) = arrive(
        &env,
        &[("client_id", "app"), ("request_uri", &pushed.request_uri)],
        NOW + 1,
    )
    .await
    .unwrap();
    assert!(!resolved.signed);
    // Nor is a direct request that claims to be.
    let (_, resolved) = arrive(&env, &form, NOW).await.unwrap();
    assert!(!resolved.signed);
}
