//! Token Exchange (RFC 8693) at the token endpoint, over real HTTP on
//! SQLite and PostgreSQL: a user's access token got through the browser
//! code flow, exchanged by the photos API for prints and by prints for the
//! ledger (`act` nested), each issued JWT verified independently with
//! Python's `joserfc` against the JWKS; introspection's `act` and the
//! user's grant ending the exchanged tokens; the refused audiences,
//! subject and actor tokens with their exact bodies; impersonation; DPoP;
//! the policy through the admin API and the CLI. The same rules with a
//! fixed clock (the bound on the life, expiry at `exp`) are in
//! crates/core/tests/it/token_exchange.rs.

use std::process::Command;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::both;
use crate::browser::{Browser, code_for, pkce};
use crate::dpop::{key, proof};
use crate::support::{
    Backend, PAYMENTS, PHOTOS, Server, assert_no_store, basic_header, jwt_parts, parts, unix_now,
    wait_for,
};

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const AT: &str = "urn:ietf:params:oauth:token-type:access_token";
const ID: &str = "urn:ietf:params:oauth:token-type:id_token";
const RT: &str = "urn:ietf:params:oauth:token-type:refresh_token";
const PRINTS: &str = "https://prints.example.com";
const ALBUMS: &str = "https://albums.example.com";
const LEDGER: &str = "https://ledger.example.com";

const APP1: (&str, &str) = ("app1", "app1-secret-0123456789abcdef");
const APP1_CB: &str = "https://app1.example.com/cb";
const ALBUMS_WEB: (&str, &str) = ("albums-web", "albums-web-secret-0123456789");
const ALBUMS_CB: &str = "https://albums.example.com/cb";
const PAIRWISE_WEB: (&str, &str) = ("pairwise-web", "pairwise-web-secret-0123456789");
const PAIRWISE_CB: &str = "https://pairwise.example.com/cb";
const PHOTOS_API: (&str, &str) = ("photos-api", "photos-api-secret-0123456789");
const PRINTS_API: (&str, &str) = ("prints-api", "prints-api-secret-0123456789");
const PHOTOS_IMP: (&str, &str) = ("photos-imp", "photos-imp-secret-0123456789");
const NO_POLICY: (&str, &str) = ("no-policy-api", "no-policy-api-secret-0123456789");
const SHORT: (&str, &str) = ("short-photos", "short-photos-secret-0123456789");
const ORDERS: (&str, &str) = ("order-service", "order-service-secret-0123456789");

/// `app1` (JWT), `albums-web` (opaque) and `pairwise-web` sign users in
/// for the photos API. `photos-api` may exchange tokens sent to it (and ID
/// tokens issued to app1 or pairwise-web) for prints or albums;
/// `prints-api`, the next service, tokens for prints for the ledger;
/// `photos-imp` impersonates. `no-policy-api` has the grant type and no
/// policy; `short-photos` issues one-second photos tokens.
const CONFIG: &str = r#"
[[clients]]
client_id = "app1"
client_secret = "app1-secret-0123456789abcdef"
client_name = "APP1"
grant_types = ["authorization_code", "refresh_token"]
redirect_uris = ["https://app1.example.com/cb"]
scope = "openid profile email offline_access photos:read photos:write"
audience = ["https://photos.example.com"]
# Shorter than photos-api's own (3600 s): an exchanged token's life is the
# subject token's rest.
access_token_ttl = 600

[[clients]]
client_id = "albums-web"
client_secret = "albums-web-secret-0123456789"
client_name = "Albums"
grant_types = ["authorization_code"]
redirect_uris = ["https://albums.example.com/cb"]
scope = "openid photos:read"
audience = ["https://photos.example.com"]
access_token_format = "opaque"

[[clients]]
client_id = "pairwise-web"
client_secret = "pairwise-web-secret-0123456789"
client_name = "Pairwise"
subject_type = "pairwise"
grant_types = ["authorization_code"]
redirect_uris = ["https://pairwise.example.com/cb"]
scope = "openid photos:read"
audience = ["https://photos.example.com"]

[[clients]]
client_id = "photos-api"
client_secret = "photos-api-secret-0123456789"
client_name = "Photos API"
grant_types = ["urn:ietf:params:oauth:grant-type:token-exchange", "client_credentials"]
scope = "photos:read"
audience = ["https://photos.example.com"]
[clients.token_exchange]
subject_audiences = ["https://photos.example.com", "app1", "pairwise-web"]
audiences = ["https://prints.example.com", "https://albums.example.com"]

[[clients]]
client_id = "prints-api"
client_secret = "prints-api-secret-0123456789"
client_name = "Prints API"
grant_types = ["urn:ietf:params:oauth:grant-type:token-exchange", "client_credentials"]
scope = "photos:read"
audience = ["https://prints.example.com"]
[clients.token_exchange]
subject_audiences = ["https://prints.example.com"]
audiences = ["https://ledger.example.com"]

[[clients]]
client_id = "photos-imp"
client_secret = "photos-imp-secret-0123456789"
client_name = "Photos Impersonator"
grant_types = ["urn:ietf:params:oauth:grant-type:token-exchange", "client_credentials"]
scope = "photos:read"
audience = ["https://photos.example.com"]
[clients.token_exchange]
subject_audiences = ["https://photos.example.com", "https://prints.example.com"]
audiences = ["https://prints.example.com"]
impersonation = true

[[clients]]
client_id = "no-policy-api"
client_secret = "no-policy-api-secret-0123456789"
client_name = "No Policy"
grant_types = ["urn:ietf:params:oauth:grant-type:token-exchange"]
scope = "photos:read"

[[clients]]
client_id = "short-photos"
client_secret = "short-photos-secret-0123456789"
client_name = "Short Photos"
grant_types = ["client_credentials"]
scope = "photos:read"
audience = ["https://photos.example.com"]
access_token_ttl = 1
"#;

/// A case of a table: what it is, the form parameters it adds, the answer.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Value);

fn err(error: &str, description: &str) -> Value {
    json!({"error": error, "error_description": description})
}

/// The code flow of `client` for `scope` in browser `b` (alice signs in
/// and consents when asked): the token response.
async fn sign_in(s: &Server, b: &Browser, client: (&str, &str), cb: &str, scope: &str) -> Value {
    let (verifier, challenge) = pkce();
    let code = code_for(s, b, client.0, cb, scope, &challenge, &[]).await;
    let (status, _, body) = parts(
        s.post_form(
            "/token",
            Some(client),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", cb),
                ("code_verifier", &verifier),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// alice's app1 tokens (access token for the photos API, ID token,
/// refresh token) from a fresh browser.
async fn alice_at_app1(s: &Server) -> Value {
    let b = Browser::new(s);
    sign_in(
        s,
        &b,
        APP1,
        APP1_CB,
        "openid profile offline_access photos:read photos:write",
    )
    .await
}

fn str_of<'a>(v: &'a Value, name: &str) -> &'a str {
    v[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {v}"))
}

/// A token-exchange request by `client` with `form` (and DPoP `proofs`):
/// status, headers, body.
async fn exchange_with(
    s: &Server,
    client: (&str, &str),
    form: &[(&str, &str)],
    proofs: &[&str],
) -> (u16, HeaderMap, Value) {
    let mut all = vec![("grant_type", EXCHANGE)];
    all.extend_from_slice(form);
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&all)
        .finish();
    let mut r = s
        .http
        .post(s.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", basic_header(client.0, client.1))
        .body(body);
    for p in proofs {
        r = r.header("dpop", *p);
    }
    parts(r.send().await.unwrap()).await
}

/// A refused exchange: 400, never cached, `{error, error_description}`.
async fn refused(s: &Server, client: (&str, &str), form: &[(&str, &str)]) -> Value {
    let (status, h, body) = exchange_with(s, client, form, &[]).await;
    assert_eq!(status, 400, "{form:?}: {body}");
    assert_no_store(&h);
    body
}

/// A successful exchange: its response, checked for RFC 8693 §2.2.1's
/// members and nothing else (no refresh token, no ID token).
async fn exchanged(s: &Server, client: (&str, &str), form: &[(&str, &str)]) -> Value {
    let (status, h, body) = exchange_with(s, client, form, &[]).await;
    assert_eq!(status, 200, "{form:?}: {body}");
    assert_no_store(&h);
    assert_response_shape(&body, "Bearer");
    body
}

fn assert_response_shape(body: &Value, token_type: &str) {
    let mut members: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    members.sort_unstable();
    assert_eq!(
        members,
        [
            "access_token",
            "expires_in",
            "issued_token_type",
            "scope",
            "token_type"
        ],
        "{body}"
    );
    assert_eq!(body["issued_token_type"], AT);
    assert_eq!(body["token_type"], token_type);
    let (header, _) = jwt_parts(str_of(body, "access_token"));
    assert_eq!(header["typ"], "at+jwt", "always an RFC 9068 JWT");
}

/// The claims of an exchange's access token (unverified: for assertions).
fn claims_of(body: &Value) -> Value {
    jwt_parts(str_of(body, "access_token")).1
}

/// A client-credentials access token of `client`.
async fn own_token(s: &Server, client: (&str, &str)) -> String {
    let (status, _, body) = parts(
        s.post_form(
            "/token",
            Some(client),
            &[("grant_type", "client_credentials")],
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    str_of(&body, "access_token").to_owned()
}

/// The grant id in a user token's `jti` (`GRANT.RANDOM`).
fn grant_of(claims: &Value) -> String {
    let jti = str_of(claims, "jti");
    let (grant, rest) = jti
        .split_once('.')
        .unwrap_or_else(|| panic!("not on a grant: {jti}"));
    assert!(!rest.is_empty());
    grant.to_owned()
}

// ----- joserfc -----

/// Verifies an access token as a stranger's resource server would, with
/// nothing but the issuer's JWKS: the signature by a key of the set, `typ`
/// `at+jwt` (RFC 9068 §2.1), and `iss`, `aud`, `sub`, `exp` (in the
/// future, and not after `not_after`), `iat` and `act` as expected. Prints
/// `{"claims": …}`, `{"refused": …}` when the signature does not verify,
/// and exits non-zero (with why) for any claim that is wrong.
const JOSERFC_VERIFY: &str = r#"
import json, sys, time
from joserfc import jwt
from joserfc.jwk import KeySet

jwks, token, want = json.loads(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
try:
    t = jwt.decode(token, KeySet.import_key_set(jwks),
                   algorithms=["ES256", "EdDSA", "RS256", "PS256"])
except Exception as e:
    print(json.dumps({"refused": "%s: %s" % (type(e).__name__, e)}))
    sys.exit(0)
if t.header.get("typ") != "at+jwt":
    sys.exit("typ: %r" % (t.header,))
jwt.JWTClaimsRegistry(
    iss={"essential": True, "value": want["iss"]},
    aud={"essential": True, "value": want["aud"]},
    sub={"essential": True, "value": want["sub"]},
    exp={"essential": True},
    iat={"essential": True},
).validate(t.claims)
if t.claims["exp"] > want["not_after"]:
    sys.exit("exp %r is after %r" % (t.claims["exp"], want["not_after"]))
if t.claims.get("act") != want["act"]:
    sys.exit("act: %r, not %r" % (t.claims.get("act"), want["act"]))
print(json.dumps({"claims": t.claims}))
"#;

/// Whether python3 with joserfc is here. Without it the joserfc checks
/// are skipped, with a line, unless FRONTDESK_TEST_PYTHON=required.
fn has_joserfc() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import joserfc"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("FRONTDESK_TEST_PYTHON").as_deref() != Ok("required"),
            "python3 with joserfc is missing (python3 -m pip install joserfc)"
        );
        eprintln!("skipped: python3 with joserfc missing (python3 -m pip install joserfc)");
    }
    ok
}

/// [`JOSERFC_VERIFY`] on `token` against `jwks`: `Ok(claims)` when it
/// verifies, `Err(why)` when joserfc refuses its signature; panics when a
/// verified token's claims are not `want`.
fn joserfc_verify(jwks: &Value, token: &str, want: &Value) -> Result<Value, String> {
    let out = Command::new("python3")
        .args([
            "-c",
            JOSERFC_VERIFY,
            &jwks.to_string(),
            token,
            &want.to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "joserfc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    match v.get("refused") {
        Some(why) => Err(why.as_str().unwrap().to_owned()),
        None => Ok(v["claims"].clone()),
    }
}

// ----- the tests -----

/// The chain of RFC 8693 §1.1: the photos API, called with alice's token,
/// calls prints for her (`act` naming the photos API), and prints calls
/// the ledger with that token (`act` nested, §4.1). Every token is on
/// alice's grant, never outlives her token, and verifies with joserfc
/// against the JWKS alone.
async fn a_delegation_chain_verifies_with_joserfc(s: &Server) {
    let meta = s.get_json("/.well-known/openid-configuration").await;
    assert!(
        meta["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!(EXCHANGE)),
        "{meta}"
    );
    let user = alice_at_app1(s).await;
    let user_at = str_of(&user, "access_token");
    let (_, user_claims) = jwt_parts(user_at);
    let alice = str_of(&user_claims, "sub").to_owned();
    assert_eq!(user_claims["aud"], json!([PHOTOS, s.base]));
    let grant = grant_of(&user_claims);
    let user_exp = user_claims["exp"].as_u64().unwrap();

    // The photos API calls prints for alice, with read only.
    let first = exchanged(
        s,
        PHOTOS_API,
        &[
            ("subject_token", user_at),
            ("subject_token_type", AT),
            ("audience", PRINTS),
            ("scope", "photos:read"),
        ],
    )
    .await;
    assert_eq!(first["scope"], "photos:read");
    let c1 = claims_of(&first);
    assert_eq!(c1["iss"], s.base);
    assert_eq!(c1["sub"], alice.as_str());
    assert_eq!(c1["aud"], PRINTS, "a single audience is a string");
    assert_eq!(c1["client_id"], "photos-api");
    assert_eq!(c1["scope"], "photos:read");
    assert_eq!(c1["act"], json!({"sub": "photos-api"}));
    assert_eq!(grant_of(&c1), grant, "on alice's grant");
    assert_ne!(c1["jti"], user_claims["jti"]);
    // app1's tokens live 600 s, photos-api's 3600 s: the exchanged one
    // ends when alice's does.
    assert_eq!(c1["exp"].as_u64().unwrap(), user_exp);
    let ttl1 = first["expires_in"].as_u64().unwrap();
    assert!(ttl1 <= 600, "{first}");
    assert_eq!(ttl1, user_exp - c1["iat"].as_u64().unwrap());

    // prints calls the ledger with that token; its scope is the default,
    // the subject token's.
    let second = exchanged(
        s,
        PRINTS_API,
        &[
            ("subject_token", str_of(&first, "access_token")),
            ("subject_token_type", AT),
            ("resource", LEDGER),
            ("requested_token_type", AT),
        ],
    )
    .await;
    assert_eq!(second["scope"], "photos:read");
    let c2 = claims_of(&second);
    assert_eq!(c2["sub"], alice.as_str());
    assert_eq!(c2["aud"], LEDGER);
    assert_eq!(c2["client_id"], "prints-api");
    assert_eq!(
        c2["act"],
        json!({"sub": "prints-api", "act": {"sub": "photos-api"}})
    );
    assert_eq!(grant_of(&c2), grant, "still on alice's grant");
    assert_eq!(c2["exp"].as_u64().unwrap(), user_exp);
    assert!(second["expires_in"].as_u64().unwrap() <= ttl1);

    // A stranger's check of each, with the JWKS alone.
    if !has_joserfc() {
        return;
    }
    let jwks = s.get_json("/jwks.json").await;
    for (what, token, aud, act) in [
        (
            "photos-api for prints",
            str_of(&first, "access_token"),
            PRINTS,
            json!({"sub": "photos-api"}),
        ),
        (
            "prints-api for the ledger",
            str_of(&second, "access_token"),
            LEDGER,
            json!({"sub": "prints-api", "act": {"sub": "photos-api"}}),
        ),
    ] {
        let want = json!({
            "iss": s.base, "aud": aud, "sub": alice, "act": act, "not_after": user_exp,
        });
        let verified = joserfc_verify(&jwks, token, &want)
            .unwrap_or_else(|why| panic!("{what}: joserfc refused it: {why}"));
        assert_eq!(verified, jwt_parts(token).1, "{what}");
    }
    // The check is a real one: the same claims under another signature
    // do not verify.
    let tampered = flip_signature(str_of(&second, "access_token"));
    let want = json!({
        "iss": s.base, "aud": LEDGER, "sub": alice, "act": null, "not_after": user_exp,
    });
    assert!(joserfc_verify(&jwks, &tampered, &want).is_err());
}
both!(a_delegation_chain_verifies_with_joserfc, CONFIG);

/// Introspection of exchanged tokens: active, with `act`; revoking alice's
/// refresh token at `/revoke` ends her grant (RFC 7009 §2.1), and with it
/// every token exchanged from her token. Revoking one exchanged token ends
/// only that one.
async fn introspection_shows_act_and_the_grant_ends_it(s: &Server) {
    let user = alice_at_app1(s).await;
    let user_at = str_of(&user, "access_token");
    let rt = str_of(&user, "refresh_token");
    let alice = str_of(&jwt_parts(user_at).1, "sub").to_owned();
    let to_prints = [
        ("subject_token", user_at),
        ("subject_token_type", AT),
        ("audience", PRINTS),
    ];
    let first = exchanged(s, PHOTOS_API, &to_prints).await;
    let first_at = str_of(&first, "access_token");
    let second = exchanged(
        s,
        PRINTS_API,
        &[
            ("subject_token", first_at),
            ("subject_token_type", AT),
            ("audience", LEDGER),
        ],
    )
    .await;
    let second_at = str_of(&second, "access_token");

    let info = s.introspect(first_at).await;
    let c1 = claims_of(&first);
    assert_eq!(
        info,
        json!({
            "active": true,
            "token_type": "Bearer",
            "scope": c1["scope"],
            "client_id": "photos-api",
            "exp": c1["exp"],
            "iat": c1["iat"],
            "sub": alice,
            "aud": [PRINTS],
            "iss": s.base,
            "jti": c1["jti"],
            "act": {"sub": "photos-api"},
        })
    );
    let info = s.introspect(second_at).await;
    assert_eq!(info["active"], true, "{info}");
    assert_eq!(info["client_id"], "prints-api");
    assert_eq!(
        info["act"],
        json!({"sub": "prints-api", "act": {"sub": "photos-api"}})
    );
    // alice's own token has no actor.
    let info = s.introspect(user_at).await;
    assert_eq!(info["active"], true);
    assert!(info.get("act").is_none(), "{info}");

    // The photos API takes back one token it was given: that one only.
    let spare = exchanged(s, PHOTOS_API, &to_prints).await;
    let spare_at = str_of(&spare, "access_token");
    let r = s
        .post_form("/revoke", Some(PHOTOS_API), &[("token", spare_at)])
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(s.introspect(spare_at).await, json!({"active": false}));
    for t in [user_at, first_at, second_at] {
        assert_eq!(s.introspect(t).await["active"], true);
    }

    // alice's app ends her grant: the exchanged tokens end with it.
    let r = s
        .post_form(
            "/revoke",
            Some(APP1),
            &[("token", rt), ("token_type_hint", "refresh_token")],
        )
        .await;
    assert_eq!(r.status(), 200);
    for (what, t) in [
        ("alice's token", user_at),
        ("photos-api's", first_at),
        ("prints-api's", second_at),
    ] {
        assert_eq!(s.introspect(t).await, json!({"active": false}), "{what}");
    }
    // And nothing can be exchanged from them any more.
    let gone = err(
        "invalid_request",
        "the subject_token is not an active access token of this server",
    );
    assert_eq!(refused(s, PHOTOS_API, &to_prints).await, gone);
    assert_eq!(
        refused(
            s,
            PRINTS_API,
            &[
                ("subject_token", first_at),
                ("subject_token_type", AT),
                ("audience", LEDGER),
            ],
        )
        .await,
        gone
    );
}
both!(introspection_shows_act_and_the_grant_ends_it, CONFIG);

/// What a client may ask for is its policy: `audience` and `resource`
/// each within its `audiences` (several at once make an `aud` array), at
/// least one of them, a scope no wider than the subject token's, only an
/// access token; the grant type and a policy are needed at all.
async fn targets_scopes_and_clients_are_checked(s: &Server) {
    let user = alice_at_app1(s).await;
    let at = str_of(&user, "access_token");
    let subject = [("subject_token", at), ("subject_token_type", AT)];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut f = subject.to_vec();
        f.extend_from_slice(extra);
        f
    };
    let outside = err(
        "invalid_target",
        "this client may not exchange tokens for that audience",
    );
    for (what, client, extra) in [
        (
            "an audience outside the policy",
            PHOTOS_API,
            vec![("audience", LEDGER)],
        ),
        (
            "a resource outside the policy",
            PHOTOS_API,
            vec![("resource", LEDGER)],
        ),
        (
            "one of two outside the policy",
            PHOTOS_API,
            vec![("audience", PRINTS), ("resource", LEDGER)],
        ),
        (
            "the subject token's own audience",
            PHOTOS_API,
            vec![("audience", PHOTOS)],
        ),
        (
            "a resource allowed to the next service only",
            PRINTS_API,
            vec![("resource", PRINTS)],
        ),
        (
            "a client with the grant type and no policy",
            NO_POLICY,
            vec![("audience", PRINTS)],
        ),
    ] {
        assert_eq!(refused(s, client, &with(&extra)).await, outside, "{what}");
    }
    // The target is checked before any token: a garbage subject token
    // gets the same answer.
    assert_eq!(
        refused(
            s,
            NO_POLICY,
            &[
                ("subject_token", "garbage"),
                ("subject_token_type", AT),
                ("audience", PRINTS),
            ],
        )
        .await,
        outside
    );
    let cases = [
        (
            "no audience nor resource",
            PHOTOS_API,
            vec![],
            err("invalid_request", "audience or resource is required"),
        ),
        (
            "a scope beyond the subject token's",
            PHOTOS_API,
            vec![("audience", PRINTS), ("scope", "photos:read photos:delete")],
            err("invalid_scope", "the scope goes beyond the subject_token's"),
        ),
        (
            "an ID token asked for",
            PHOTOS_API,
            vec![("audience", PRINTS), ("requested_token_type", ID)],
            err(
                "invalid_request",
                "requested_token_type: only urn:ietf:params:oauth:token-type:access_token is issued",
            ),
        ),
        (
            "a refresh token asked for",
            PHOTOS_API,
            vec![("audience", PRINTS), ("requested_token_type", RT)],
            err(
                "invalid_request",
                "requested_token_type: only urn:ietf:params:oauth:token-type:access_token is issued",
            ),
        ),
        (
            "a client without the grant type",
            ORDERS,
            vec![("audience", PRINTS)],
            err(
                "unauthorized_client",
                "this client may not use the urn:ietf:params:oauth:grant-type:token-exchange grant",
            ),
        ),
    ];
    for (what, client, extra, want) in cases {
        assert_eq!(refused(s, client, &with(&extra)).await, want, "{what}");
    }
    // Without client authentication there is no exchange at all.
    let (status, _, body) = parts(
        s.post_form(
            "/token",
            None,
            &[
                ("grant_type", EXCHANGE),
                ("client_id", "photos-api"),
                ("subject_token", at),
                ("subject_token_type", AT),
                ("audience", PRINTS),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );

    // Two audiences of the policy at once, by `audience` and `resource`
    // (or `resource` twice): both in `aud`, each once.
    for extra in [
        vec![("audience", PRINTS), ("resource", ALBUMS)],
        vec![
            ("resource", PRINTS),
            ("resource", ALBUMS),
            ("resource", PRINTS),
        ],
    ] {
        let t = exchanged(s, PHOTOS_API, &with(&extra)).await;
        assert_eq!(claims_of(&t)["aud"], json!([PRINTS, ALBUMS]), "{extra:?}");
    }
    // The default scope is the subject token's, all of it; a narrower one
    // is what is asked.
    let all = exchanged(s, PHOTOS_API, &with(&[("audience", PRINTS)])).await;
    assert_eq!(all["scope"], jwt_parts(at).1["scope"]);
    let write = exchanged(
        s,
        PHOTOS_API,
        &with(&[("audience", PRINTS), ("scope", "photos:write")]),
    )
    .await;
    assert_eq!(write["scope"], "photos:write");
    assert_eq!(claims_of(&write)["scope"], "photos:write");
    // Nothing refused above spent or changed the subject token.
    assert_eq!(s.introspect(at).await["active"], true);
}
both!(targets_scopes_and_clients_are_checked, CONFIG);

/// Flips one character in the middle of a JWT's signature.
fn flip_signature(token: &str) -> String {
    let start = token.rfind('.').unwrap() + 1;
    let at = start + (token.len() - start) / 2;
    let mut bytes = token.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

/// Subject tokens that are not live access tokens (or ID tokens) of this
/// server, each with the answer of §2.2.2 (`invalid_request`): expired,
/// another issuer's, tampered with, revoked, of the wrong type, for an
/// audience the client may not exchange; and the parameters missing.
async fn subject_tokens_that_are_refused(s: &Server) {
    // Issued with a one-second life now, presented after it; the server's
    // own clock is the point (the same at `exp` exactly, within the
    // leeway, is tested with a fixed clock in crates/core/tests).
    let short = own_token(s, SHORT).await;
    let (_, short_claims) = jwt_parts(&short);
    assert_eq!(
        short_claims["exp"].as_u64().unwrap(),
        short_claims["iat"].as_u64().unwrap() + 1
    );
    let expired_at = tokio::time::Instant::now() + Duration::from_millis(2100);

    let user = alice_at_app1(s).await;
    let at = str_of(&user, "access_token");
    let id_token = str_of(&user, "id_token");
    let rt = str_of(&user, "refresh_token");

    // Another frontdesk (its own keys and issuer) with the same clients:
    // its token for the photos API is nothing here.
    let other = Server::start(Backend::Sqlite, CONFIG).await.unwrap();
    let foreign = own_token(&other, ORDERS).await;
    assert_eq!(jwt_parts(&foreign).1["aud"], json!([PAYMENTS, PHOTOS]));
    // Our own order-service's token is exchangeable: what is refused
    // below is the issuer, not the audience.
    let ours = own_token(s, ORDERS).await;
    let t = exchanged(
        s,
        PHOTOS_API,
        &[
            ("subject_token", &ours),
            ("subject_token_type", AT),
            ("audience", PRINTS),
        ],
    )
    .await;
    let c = claims_of(&t);
    assert_eq!(
        c["sub"], "order-service",
        "a client's own token: the client"
    );
    assert_eq!(c["act"], json!({"sub": "photos-api"}));
    assert!(!str_of(&c, "jti").contains('.'), "on no grant: {c}");

    // The same claims as our token, tampered: a byte of the signature, or
    // the scope widened under the old signature.
    let widened = {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut claims = jwt_parts(at).1;
        claims["scope"] = json!("photos:read photos:write photos:delete");
        let parts: Vec<&str> = at.split('.').collect();
        format!(
            "{}.{}.{}",
            parts[0],
            b64.encode(claims.to_string()),
            parts[2]
        )
    };
    let flipped = flip_signature(at);
    // A JWT our order-service revoked.
    let revoked = own_token(s, ORDERS).await;
    let r = s
        .post_form("/revoke", Some(ORDERS), &[("token", &revoked)])
        .await;
    assert_eq!(r.status(), 200);
    // A live token of ours for an audience the photos API may not
    // exchange: order-service's for payments only.
    let not_for_photos = str_of(
        &s.m2m_token(&[("resource", PAYMENTS)]).await,
        "access_token",
    )
    .to_owned();
    assert_eq!(jwt_parts(&not_for_photos).1["aud"], PAYMENTS);

    let not_access = err(
        "invalid_request",
        "the subject_token is not an active access token of this server",
    );
    let not_id = err(
        "invalid_request",
        "the subject_token is not a valid ID token of this server",
    );
    let cases: Vec<Case> = vec![
        (
            "another issuer's token",
            vec![("subject_token", &foreign), ("subject_token_type", AT)],
            not_access.clone(),
        ),
        (
            "a flipped signature byte",
            vec![("subject_token", &flipped), ("subject_token_type", AT)],
            not_access.clone(),
        ),
        (
            "a widened scope under the old signature",
            vec![("subject_token", &widened), ("subject_token_type", AT)],
            not_access.clone(),
        ),
        (
            "a revoked token",
            vec![("subject_token", &revoked), ("subject_token_type", AT)],
            not_access.clone(),
        ),
        (
            "an ID token named an access token",
            vec![("subject_token", id_token), ("subject_token_type", AT)],
            not_access.clone(),
        ),
        (
            "a refresh token named an access token",
            vec![("subject_token", rt), ("subject_token_type", AT)],
            not_access.clone(),
        ),
        (
            "something that is no token at all",
            vec![("subject_token", "not-a-token"), ("subject_token_type", AT)],
            not_access.clone(),
        ),
        (
            "an access token named an ID token",
            vec![("subject_token", at), ("subject_token_type", ID)],
            not_id.clone(),
        ),
        (
            "a refresh token named an ID token",
            vec![("subject_token", rt), ("subject_token_type", ID)],
            not_id.clone(),
        ),
        (
            "another issuer's token named an ID token",
            vec![("subject_token", &foreign), ("subject_token_type", ID)],
            not_id.clone(),
        ),
        (
            "a refresh token as what it is",
            vec![("subject_token", rt), ("subject_token_type", RT)],
            err(
                "invalid_request",
                "subject_token_type: an access_token or id_token of this server is accepted",
            ),
        ),
        (
            "a token type we do not take",
            vec![
                ("subject_token", at),
                (
                    "subject_token_type",
                    "urn:ietf:params:oauth:token-type:saml2",
                ),
            ],
            err(
                "invalid_request",
                "subject_token_type: an access_token or id_token of this server is accepted",
            ),
        ),
        (
            "a token for an audience the client may not exchange",
            vec![
                ("subject_token", &not_for_photos),
                ("subject_token_type", AT),
            ],
            err(
                "invalid_request",
                "the subject_token was not issued for an audience this client may exchange",
            ),
        ),
        (
            "no subject_token",
            vec![("subject_token_type", AT)],
            err("invalid_request", "missing parameter: subject_token"),
        ),
        (
            "no subject_token_type",
            vec![("subject_token", at)],
            err("invalid_request", "missing parameter: subject_token_type"),
        ),
    ];
    for (what, mut form, want) in cases {
        form.push(("audience", PRINTS));
        assert_eq!(refused(s, PHOTOS_API, &form).await, want, "{what}");
    }

    // joserfc agrees the foreign token is not ours (and is its issuer's).
    if has_joserfc() {
        let jwks = s.get_json("/jwks.json").await;
        let want = json!({
            "iss": other.base, "aud": PHOTOS, "sub": "order-service", "act": null,
            "not_after": unix_now() + 3600,
        });
        assert!(joserfc_verify(&jwks, &foreign, &want).is_err());
        let theirs = other.get_json("/jwks.json").await;
        assert!(joserfc_verify(&theirs, &foreign, &want).is_ok());
    }

    // The one-second token, exchangeable while it lived, is not now.
    tokio::time::sleep_until(expired_at).await;
    assert_eq!(
        refused(
            s,
            PHOTOS_API,
            &[
                ("subject_token", &short),
                ("subject_token_type", AT),
                ("audience", PRINTS),
            ],
        )
        .await,
        not_access
    );
    // Nothing above spent the good one.
    exchanged(
        s,
        PHOTOS_API,
        &[
            ("subject_token", at),
            ("subject_token_type", AT),
            ("audience", PRINTS),
        ],
    )
    .await;
}
both!(subject_tokens_that_are_refused, CONFIG);

/// Other subject tokens: an opaque access token (from a client issuing
/// opaque ones) gives a JWT on the same grant; an ID token issued to app1
/// gives a token bounded by alice's consent to app1; a pairwise client's
/// ID token names nobody outside its sector and is refused.
async fn opaque_access_tokens_and_id_tokens_as_subjects(s: &Server) {
    let b = Browser::new(s);
    let app1 = sign_in(s, &b, APP1, APP1_CB, "openid photos:read").await;
    let alice = str_of(&jwt_parts(str_of(&app1, "access_token")).1, "sub").to_owned();

    // albums-web's tokens are opaque; what is exchanged for one is a JWT.
    let albums = sign_in(s, &b, ALBUMS_WEB, ALBUMS_CB, "openid photos:read").await;
    let opaque = str_of(&albums, "access_token");
    assert_eq!(opaque.matches('.').count(), 0, "opaque: {opaque}");
    let info = s.introspect(opaque).await;
    assert_eq!(info["aud"], json!([PHOTOS, s.base]));
    let t = exchanged(
        s,
        PHOTOS_API,
        &[
            ("subject_token", opaque),
            ("subject_token_type", AT),
            ("audience", PRINTS),
        ],
    )
    .await;
    let c = claims_of(&t);
    assert_eq!(c["sub"], alice.as_str());
    assert_eq!(c["scope"], "openid photos:read");
    assert_eq!(c["act"], json!({"sub": "photos-api"}));
    assert_eq!(grant_of(&c), grant_of(&info), "on the opaque token's grant");
    assert!(c["exp"].as_i64().unwrap() <= info["exp"].as_i64().unwrap());

    // app1's ID token: alice consented to app1 for `openid photos:read`
    // (in the browser above), and that is the bound.
    let id_token = str_of(&app1, "id_token");
    let t = exchanged(
        s,
        PHOTOS_API,
        &[
            ("subject_token", id_token),
            ("subject_token_type", ID),
            ("audience", PRINTS),
        ],
    )
    .await;
    let c = claims_of(&t);
    assert_eq!(c["sub"], alice.as_str());
    assert_eq!(c["aud"], PRINTS);
    assert_eq!(c["act"], json!({"sub": "photos-api"}));
    assert_eq!(t["scope"], "openid photos:read");
    assert!(c["exp"].as_u64().unwrap() <= jwt_parts(id_token).1["exp"].as_u64().unwrap());
    assert_eq!(
        s.introspect(str_of(&t, "access_token")).await["active"],
        true
    );
    assert_eq!(
        refused(
            s,
            PHOTOS_API,
            &[
                ("subject_token", id_token),
                ("subject_token_type", ID),
                ("audience", PRINTS),
                ("scope", "photos:read photos:write"),
            ],
        )
        .await,
        err("invalid_scope", "the scope goes beyond the subject_token's")
    );

    // An ID token issued to a pairwise client.
    let pairwise = sign_in(s, &b, PAIRWISE_WEB, PAIRWISE_CB, "openid photos:read").await;
    let pairwise_id = str_of(&pairwise, "id_token");
    assert_ne!(jwt_parts(pairwise_id).1["sub"], alice.as_str());
    assert_eq!(
        refused(
            s,
            PHOTOS_API,
            &[
                ("subject_token", pairwise_id),
                ("subject_token_type", ID),
                ("audience", PRINTS),
            ],
        )
        .await,
        err(
            "invalid_request",
            "an ID token with a pairwise sub cannot be exchanged"
        )
    );
    // An ID token issued to a client the photos API may not exchange for:
    // a flow of albums-web (its ID token's audience is albums-web).
    assert_eq!(
        refused(
            s,
            PHOTOS_API,
            &[
                ("subject_token", str_of(&albums, "id_token")),
                ("subject_token_type", ID),
                ("audience", PRINTS),
            ],
        )
        .await,
        err(
            "invalid_request",
            "the subject_token was not issued for an audience this client may exchange",
        )
    );
}
both!(opaque_access_tokens_and_id_tokens_as_subjects, CONFIG);

/// An `actor_token` (§2.1): the requesting client's own live access token,
/// whose `sub` becomes `act.sub`; anyone else's is refused, as is an
/// actor token without its type or of another type.
async fn actor_tokens(s: &Server) {
    let user = alice_at_app1(s).await;
    let at = str_of(&user, "access_token");
    let mine = own_token(s, PHOTOS_API).await;
    let t = exchanged(
        s,
        PHOTOS_API,
        &[
            ("subject_token", at),
            ("subject_token_type", AT),
            ("actor_token", &mine),
            ("actor_token_type", AT),
            ("audience", PRINTS),
        ],
    )
    .await;
    assert_eq!(claims_of(&t)["act"], json!({"sub": "photos-api"}));
    assert_eq!(
        s.introspect(str_of(&t, "access_token")).await["act"],
        json!({"sub": "photos-api"})
    );

    // The impersonating client names no actor of its own, but one it is
    // given: its own token makes it the actor.
    let imp_own = own_token(s, PHOTOS_IMP).await;
    let t = exchanged(
        s,
        PHOTOS_IMP,
        &[
            ("subject_token", at),
            ("subject_token_type", AT),
            ("actor_token", &imp_own),
            ("actor_token_type", AT),
            ("audience", PRINTS),
        ],
    )
    .await;
    assert_eq!(claims_of(&t)["act"], json!({"sub": "photos-imp"}));
    // Down the chain, prints-api's own token acts after photos-api.
    let first = exchanged(
        s,
        PHOTOS_API,
        &[
            ("subject_token", at),
            ("subject_token_type", AT),
            ("audience", PRINTS),
        ],
    )
    .await;
    let prints_own = own_token(s, PRINTS_API).await;
    let t = exchanged(
        s,
        PRINTS_API,
        &[
            ("subject_token", str_of(&first, "access_token")),
            ("subject_token_type", AT),
            ("actor_token", &prints_own),
            ("actor_token_type", AT),
            ("audience", LEDGER),
        ],
    )
    .await;
    assert_eq!(
        claims_of(&t)["act"],
        json!({"sub": "prints-api", "act": {"sub": "photos-api"}})
    );

    let theirs = own_token(s, ORDERS).await;
    let mine_flipped = flip_signature(&mine);
    let revoked = own_token(s, PHOTOS_API).await;
    let r = s
        .post_form("/revoke", Some(PHOTOS_API), &[("token", &revoked)])
        .await;
    assert_eq!(r.status(), 200);
    let not_active = err(
        "invalid_request",
        "the actor_token is not an active access token of this server",
    );
    let cases: Vec<Case> = vec![
        (
            "another client's token",
            vec![("actor_token", &theirs), ("actor_token_type", AT)],
            err(
                "invalid_request",
                "the actor_token was issued to another client",
            ),
        ),
        (
            "alice's token, issued to app1",
            vec![("actor_token", at), ("actor_token_type", AT)],
            err(
                "invalid_request",
                "the actor_token was issued to another client",
            ),
        ),
        (
            "its own token, revoked",
            vec![("actor_token", &revoked), ("actor_token_type", AT)],
            not_active.clone(),
        ),
        (
            "its own token, tampered",
            vec![("actor_token", &mine_flipped), ("actor_token_type", AT)],
            not_active.clone(),
        ),
        (
            "a refresh token",
            vec![
                ("actor_token", str_of(&user, "refresh_token")),
                ("actor_token_type", AT),
            ],
            not_active.clone(),
        ),
        (
            "an ID token",
            vec![
                ("actor_token", str_of(&user, "id_token")),
                ("actor_token_type", ID),
            ],
            err(
                "invalid_request",
                "actor_token_type: only urn:ietf:params:oauth:token-type:access_token is accepted",
            ),
        ),
        (
            "an actor token without its type",
            vec![("actor_token", &mine)],
            err(
                "invalid_request",
                "actor_token_type is required with actor_token",
            ),
        ),
        (
            "a type without an actor token",
            vec![("actor_token_type", AT)],
            err("invalid_request", "actor_token_type without actor_token"),
        ),
    ];
    for (what, extra, want) in cases {
        let mut form = vec![
            ("subject_token", at),
            ("subject_token_type", AT),
            ("audience", PRINTS),
        ];
        form.extend(extra);
        assert_eq!(refused(s, PHOTOS_API, &form).await, want, "{what}");
    }
}
both!(actor_tokens, CONFIG);

/// `impersonation = true`: without an actor token the new token has no
/// `act` — the client stands in for alice — and an `act` the subject token
/// already had is kept.
async fn impersonation_adds_no_actor(s: &Server) {
    let user = alice_at_app1(s).await;
    let at = str_of(&user, "access_token");
    let alice = str_of(&jwt_parts(at).1, "sub").to_owned();
    let t = exchanged(
        s,
        PHOTOS_IMP,
        &[
            ("subject_token", at),
            ("subject_token_type", AT),
            ("audience", PRINTS),
        ],
    )
    .await;
    let c = claims_of(&t);
    assert_eq!(c["sub"], alice.as_str());
    assert_eq!(c["aud"], PRINTS);
    assert_eq!(c["client_id"], "photos-imp");
    assert!(c.get("act").is_none(), "{c}");
    let info = s.introspect(str_of(&t, "access_token")).await;
    assert_eq!(info["active"], true);
    assert!(info.get("act").is_none(), "{info}");

    // A token photos-api got for prints, exchanged again by the
    // impersonator: photos-api stays the actor.
    let delegated = exchanged(
        s,
        PHOTOS_API,
        &[
            ("subject_token", at),
            ("subject_token_type", AT),
            ("audience", PRINTS),
        ],
    )
    .await;
    let again = exchanged(
        s,
        PHOTOS_IMP,
        &[
            ("subject_token", str_of(&delegated, "access_token")),
            ("subject_token_type", AT),
            ("audience", PRINTS),
        ],
    )
    .await;
    assert_eq!(claims_of(&again)["act"], json!({"sub": "photos-api"}));
}
both!(impersonation_adds_no_actor, CONFIG);

/// An exchange with a DPoP proof (RFC 9449 §5) gets a DPoP-bound token:
/// `token_type: DPoP`, `cnf.jkt` the proof key's thumbprint, shown by
/// introspection too.
async fn a_dpop_proof_binds_the_exchanged_token(s: &Server) {
    let user = alice_at_app1(s).await;
    let at = str_of(&user, "access_token");
    let k = key(frontdesk_jose::Algorithm::ES256);
    let p = proof(&k, "POST", &s.url("/token"), None, None);
    let form = [
        ("subject_token", at),
        ("subject_token_type", AT),
        ("audience", PRINTS),
    ];
    let (status, h, body) = exchange_with(s, PHOTOS_API, &form, &[&p]).await;
    assert_eq!(status, 200, "{body}");
    assert_no_store(&h);
    assert_response_shape(&body, "DPoP");
    let c = claims_of(&body);
    assert_eq!(c["cnf"], json!({"jkt": k.kid()}));
    assert_eq!(c["act"], json!({"sub": "photos-api"}));
    let info = s.introspect(str_of(&body, "access_token")).await;
    assert_eq!(info["token_type"], "DPoP");
    assert_eq!(info["cnf"], json!({"jkt": k.kid()}));
    assert_eq!(info["act"], json!({"sub": "photos-api"}));

    // The proof is checked like any other: replayed, it is refused.
    let (status, _, body) = exchange_with(s, PHOTOS_API, &form, &[&p]).await;
    assert_eq!(
        body,
        err("invalid_dpop_proof", "the DPoP proof has been used before"),
        "{status}"
    );
    assert_eq!(status, 400);
    // Without one, Bearer and no cnf.
    let plain = exchanged(s, PHOTOS_API, &form).await;
    assert!(claims_of(&plain).get("cnf").is_none());
}
both!(a_dpop_proof_binds_the_exchanged_token, CONFIG);

/// The policy through the admin API: set at registration, shown, changed,
/// removed by `token_exchange: null`, each taking effect on the next
/// exchange; malformed audiences and public clients refused.
async fn the_policy_through_the_admin_api(s: &Server) {
    let user = alice_at_app1(s).await;
    let at = str_of(&user, "access_token");
    let form = [
        ("subject_token", at),
        ("subject_token_type", AT),
        ("audience", LEDGER),
    ];
    let created = s
        .admin_expect(
            Method::POST,
            "/admin/clients",
            Some(json!({
                "client_id": "search-api",
                "client_name": "Search API",
                "grant_types": [EXCHANGE, "client_credentials"],
                "scope": "photos:read",
                "token_exchange": {"subject_audiences": [PHOTOS], "audiences": [LEDGER]},
            })),
            201,
        )
        .await;
    assert_eq!(
        created["token_exchange"],
        json!({"subject_audiences": [PHOTOS], "audiences": [LEDGER], "impersonation": false})
    );
    let secret = str_of(&created, "client_secret").to_owned();
    let search = ("search-api", secret.as_str());
    let shown = s
        .admin_expect(Method::GET, "/admin/clients/search-api", None, 200)
        .await;
    assert_eq!(shown["token_exchange"], created["token_exchange"]);
    let t = exchanged(s, search, &form).await;
    assert_eq!(claims_of(&t)["act"], json!({"sub": "search-api"}));
    assert_eq!(claims_of(&t)["aud"], LEDGER);

    let patched = s
        .admin_expect(
            Method::PATCH,
            "/admin/clients/search-api",
            Some(json!({"token_exchange": {
                "subject_audiences": [PHOTOS], "audiences": [LEDGER, PRINTS], "impersonation": true,
            }})),
            200,
        )
        .await;
    assert_eq!(patched["token_exchange"]["impersonation"], true);
    assert_eq!(patched["client_name"], "Search API", "the rest unchanged");
    let t = exchanged(s, search, &form).await;
    assert!(claims_of(&t).get("act").is_none(), "impersonation now");
    exchanged(
        s,
        search,
        &[
            ("subject_token", at),
            ("subject_token_type", AT),
            ("audience", PRINTS),
        ],
    )
    .await;

    let removed = s
        .admin_expect(
            Method::PATCH,
            "/admin/clients/search-api",
            Some(json!({"token_exchange": null})),
            200,
        )
        .await;
    assert_eq!(removed["token_exchange"], Value::Null, "{removed}");
    assert_eq!(
        refused(s, search, &form).await,
        err(
            "invalid_target",
            "this client may not exchange tokens for that audience"
        )
    );
    // Its other grant is untouched.
    own_token(s, search).await;

    let bad = s
        .admin_expect(
            Method::PATCH,
            "/admin/clients/search-api",
            Some(json!({"token_exchange": {"subject_audiences": ["a b"], "audiences": [LEDGER]}})),
            400,
        )
        .await;
    assert_eq!(bad["error"], "invalid_request");
    assert!(
        str_of(&bad, "error_description")
            .contains(r#"token_exchange: "a b" is not an audience (1-2000 characters, no spaces)"#),
        "{bad}"
    );
    let bad = s
        .admin_expect(
            Method::PATCH,
            "/admin/clients/search-api",
            Some(json!({"token_exchange": {"audiences": [LEDGER], "actors": ["x"]}})),
            400,
        )
        .await;
    assert!(
        str_of(&bad, "error_description").contains("actors"),
        "{bad}"
    );

    // A public client may not have the grant: at registration, and by
    // becoming public later.
    let confidential =
        "token exchange needs a confidential client (RFC 8693 §2.1: the client authenticates)";
    let bad = s
        .admin_expect(
            Method::POST,
            "/admin/clients",
            Some(json!({
                "client_id": "spa",
                "client_name": "SPA",
                "token_endpoint_auth_method": "none",
                "grant_types": [EXCHANGE],
                "token_exchange": {"subject_audiences": [PHOTOS], "audiences": [PRINTS]},
            })),
            400,
        )
        .await;
    assert_eq!(bad["error"], "invalid_request");
    assert!(
        str_of(&bad, "error_description").contains(confidential),
        "{bad}"
    );
    s.admin_expect(Method::GET, "/admin/clients/spa", None, 404)
        .await;
    // Nor a public client registered without it, by adding it later.
    s.admin_expect(
        Method::POST,
        "/admin/clients",
        Some(json!({
            "client_id": "spa",
            "client_name": "SPA",
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code"],
            "redirect_uris": ["https://spa.example.com/cb"],
        })),
        201,
    )
    .await;
    let bad = s
        .admin_expect(
            Method::PATCH,
            "/admin/clients/spa",
            Some(json!({"grant_types": ["authorization_code", EXCHANGE]})),
            400,
        )
        .await;
    assert_eq!(bad["error"], "invalid_request");
    assert!(
        str_of(&bad, "error_description").contains(confidential),
        "{bad}"
    );
    let spa = s
        .admin_expect(Method::GET, "/admin/clients/spa", None, 200)
        .await;
    assert_eq!(spa["grant_types"], json!(["authorization_code"]));
}
both!(the_policy_through_the_admin_api, CONFIG);

fn cli_ok(s: &Server, args: &[&str]) -> String {
    let o = s.cli(args, None);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

fn cli_show(s: &Server, id: &str) -> Value {
    serde_json::from_str(&cli_ok(s, &["clients", "show", id])).unwrap()
}

/// Polls until an exchange by `client` with `form` is answered `status`
/// (the running server rereads a client the CLI changed within its cache
/// time); the body.
async fn exchange_becomes(
    s: &Server,
    client: (&str, &str),
    form: &[(&str, &str)],
    status: u16,
) -> Value {
    wait_for(
        &format!("exchange answered {status}"),
        Duration::from_secs(10),
        async || {
            let (got, _, body) = exchange_with(s, client, form, &[]).await;
            if got == status {
                Ok(body)
            } else {
                Err((got, body))
            }
        },
    )
    .await
}

/// The policy through the CLI: `clients create --exchange-*`, `clients
/// update` replacing it and `--no-token-exchange` removing it, against the
/// running server; a public client with the grant type refused.
async fn the_policy_through_the_cli(s: &Server) {
    let user = alice_at_app1(s).await;
    let at = str_of(&user, "access_token");
    let form = [
        ("subject_token", at),
        ("subject_token_type", AT),
        ("audience", LEDGER),
    ];
    let out = cli_ok(
        s,
        &[
            "clients",
            "create",
            "--client-id",
            "cli-api",
            "--name",
            "CLI API",
            "--grant-type",
            EXCHANGE,
            "--grant-type",
            "client_credentials",
            "--scope",
            "photos:read",
            "--exchange-subject-audience",
            PHOTOS,
            "--exchange-audience",
            PRINTS,
            "--exchange-audience",
            LEDGER,
            "--json",
        ],
    );
    let created: Value = serde_json::from_str(out.trim_end()).unwrap();
    assert_eq!(created["client_id"], "cli-api");
    let secret = str_of(&created, "client_secret").to_owned();
    let cli_api = ("cli-api", secret.as_str());
    assert_eq!(
        cli_show(s, "cli-api")["token_exchange"],
        json!({"subject_audiences": [PHOTOS], "audiences": [PRINTS, LEDGER], "impersonation": false})
    );
    let t = exchange_becomes(s, cli_api, &form, 200).await;
    assert_eq!(claims_of(&t)["act"], json!({"sub": "cli-api"}));
    assert_eq!(claims_of(&t)["aud"], LEDGER);

    // Update: the --exchange flags replace the policy.
    cli_ok(
        s,
        &[
            "clients",
            "update",
            "cli-api",
            "--exchange-subject-audience",
            PHOTOS,
            "--exchange-audience",
            LEDGER,
            "--exchange-impersonation",
            "true",
        ],
    );
    assert_eq!(
        cli_show(s, "cli-api")["token_exchange"],
        json!({"subject_audiences": [PHOTOS], "audiences": [LEDGER], "impersonation": true})
    );
    let prints = [
        ("subject_token", at),
        ("subject_token_type", AT),
        ("audience", PRINTS),
    ];
    exchange_becomes(s, cli_api, &prints, 400).await;
    let t = exchange_becomes(s, cli_api, &form, 200).await;
    assert!(claims_of(&t).get("act").is_none(), "impersonation: {t}");

    // --no-token-exchange conflicts with the flags that set one.
    let o = s.cli(
        &[
            "clients",
            "update",
            "cli-api",
            "--no-token-exchange",
            "--exchange-audience",
            LEDGER,
        ],
        None,
    );
    assert!(!o.status.success());
    assert!(cli_show(s, "cli-api")["token_exchange"].is_object());

    cli_ok(s, &["clients", "update", "cli-api", "--no-token-exchange"]);
    let shown = cli_show(s, "cli-api");
    assert_eq!(shown["token_exchange"], Value::Null, "{shown}");
    assert_eq!(
        shown["grant_types"],
        json!([EXCHANGE, "client_credentials"])
    );
    let body = exchange_becomes(s, cli_api, &form, 400).await;
    assert_eq!(
        body,
        err(
            "invalid_target",
            "this client may not exchange tokens for that audience"
        )
    );

    // A public client with the grant type is refused, in one line.
    let o = s.cli(
        &[
            "clients",
            "create",
            "--client-id",
            "cli-spa",
            "--name",
            "CLI SPA",
            "--auth-method",
            "none",
            "--grant-type",
            EXCHANGE,
            "--exchange-subject-audience",
            PHOTOS,
            "--exchange-audience",
            PRINTS,
        ],
        None,
    );
    assert!(!o.status.success());
    let stderr = String::from_utf8(o.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("frontdesk: "), "{stderr}");
    assert!(
        stderr.contains(
            "token exchange needs a confidential client (RFC 8693 §2.1: the client authenticates)"
        ),
        "{stderr}"
    );
    let o = s.cli(&["clients", "show", "cli-spa"], None);
    assert!(!o.status.success(), "not created");
}
both!(the_policy_through_the_cli, CONFIG);

/// Review follow-ups: `audience` may repeat (RFC 8693 §2.1); a token
/// exchanged from an ID token hangs on a grant of the ID token's session,
/// so ending that session ends it, and the ended session's ID token is no
/// subject any more; a pairwise `sub` stays the pairwise one down the chain
/// (no service can link it to the user's public identifier).
async fn sessions_audiences_and_pairwise_subjects(s: &Server) {
    let app1 = alice_at_app1(s).await;
    let at = str_of(&app1, "access_token");
    let t = exchanged(
        s,
        PHOTOS_API,
        &[
            ("subject_token", at),
            ("subject_token_type", AT),
            ("audience", PRINTS),
            ("audience", ALBUMS),
        ],
    )
    .await;
    assert_eq!(claims_of(&t)["aud"], json!([PRINTS, ALBUMS]));

    let id_token = str_of(&app1, "id_token");
    let id_form = [
        ("subject_token", id_token),
        ("subject_token_type", ID),
        ("audience", PRINTS),
    ];
    let from_id = exchanged(s, PHOTOS_API, &id_form).await;
    let from_id_at = str_of(&from_id, "access_token");
    assert_eq!(s.introspect(from_id_at).await["active"], true);
    // alice's session ends (the administrator ends every session of hers).
    let sub = jwt_parts(id_token).1["sub"].as_str().unwrap().to_owned();
    s.admin_expect(
        Method::DELETE,
        &format!("/admin/users/{sub}/sessions"),
        None,
        200,
    )
    .await;
    assert_eq!(s.introspect(from_id_at).await["active"], false);
    assert_eq!(
        refused(s, PHOTOS_API, &id_form).await,
        err("invalid_request", "the subject_token's session has ended")
    );

    // A pairwise client's access token: the exchanged token keeps its sub.
    let b = Browser::new(s);
    let pairwise = sign_in(s, &b, PAIRWISE_WEB, PAIRWISE_CB, "openid photos:read").await;
    let pairwise_at = str_of(&pairwise, "access_token");
    let pairwise_sub = jwt_parts(pairwise_at).1["sub"].clone();
    assert_ne!(pairwise_sub, json!(sub));
    let t = exchanged(
        s,
        PHOTOS_API,
        &[
            ("subject_token", pairwise_at),
            ("subject_token_type", AT),
            ("audience", PRINTS),
        ],
    )
    .await;
    assert_eq!(claims_of(&t)["sub"], pairwise_sub);
}
both!(sessions_audiences_and_pairwise_subjects, CONFIG);
