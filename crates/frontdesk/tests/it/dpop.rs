//! DPoP (RFC 9449) at the authorization server, over real HTTP: bound
//! tokens from every grant, the proof checks of §4.3 with their exact
//! errors, the replay check, public clients' bound refresh tokens (§5),
//! `dpop_jkt` code binding (§10), `dpop_bound_access_tokens` (§5.2),
//! userinfo with the DPoP scheme (§7), nonces (§8) and introspection's
//! `cnf` (§6.2). SECURITY.md R19, J6, J7, J11.

use frontdesk_jose::dpop::{self, Proof};
use frontdesk_jose::{Algorithm, SigningKey, b64url};
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::both;
use crate::browser::{APP1, APP1_CB, Browser, NATIVE_CB, SIGNIN_CONFIG, code_for, pkce};
use crate::support::{Server, jwt_parts, unix_now};

const CC: (&str, &str) = ("order-service", "order-service-secret-0123456789");

pub(crate) fn key(alg: Algorithm) -> SigningKey {
    SigningKey::generate(alg).unwrap().0
}

/// A fresh proof by `key` for `method url`.
pub(crate) fn proof(
    key: &SigningKey,
    method: &str,
    url: &str,
    token: Option<&str>,
    nonce: Option<&str>,
) -> String {
    let jti = frontdesk_core::secret::random_string(16).unwrap();
    dpop::make(
        key,
        &Proof {
            method,
            uri: url,
            access_token: token,
            nonce,
            jti: &jti,
            iat: unix_now(),
        },
    )
    .unwrap()
}

async fn token_with(
    s: &Server,
    client: Option<(&str, &str)>,
    form: &[(&str, &str)],
    proofs: &[&str],
) -> (u16, HeaderMap, Value) {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut r = s
        .http
        .post(s.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body);
    if let Some((id, secret)) = client {
        r = r.header("authorization", crate::support::basic_header(id, secret));
    }
    for p in proofs {
        r = r.header("dpop", *p);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let h = r.headers().clone();
    assert_eq!(h["cache-control"], "no-store");
    (status, h, r.json().await.unwrap())
}

fn err(error: &str, description: &str) -> Value {
    json!({"error": error, "error_description": description})
}

async fn userinfo(s: &Server, auth: &str, proofs: &[&str]) -> (u16, HeaderMap, Value) {
    let mut r = s.http.get(s.url("/userinfo")).header("authorization", auth);
    for p in proofs {
        r = r.header("dpop", *p);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let h = r.headers().clone();
    (status, h, r.json().await.unwrap())
}

/// Client credentials with a proof: a DPoP token whose `cnf.jkt` is the
/// proof key's thumbprint, shown by introspection; without one, Bearer.
async fn client_credentials_tokens_are_bound_to_the_proof_key(s: &Server) {
    let meta = s.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        meta["dpop_signing_alg_values_supported"],
        json!(["ES256", "EdDSA", "PS256", "RS256"])
    );
    let token_url = s.url("/token");
    for alg in Algorithm::ALL {
        let k = key(alg);
        let p = proof(&k, "POST", &token_url, None, None);
        let (status, _, body) =
            token_with(s, Some(CC), &[("grant_type", "client_credentials")], &[&p]).await;
        assert_eq!(status, 200, "{alg}: {body}");
        assert_eq!(body["token_type"], "DPoP", "{alg}");
        let at = body["access_token"].as_str().unwrap();
        let (header, claims) = jwt_parts(at);
        assert_eq!(header["typ"], "at+jwt");
        assert_eq!(claims["cnf"], json!({"jkt": k.kid()}), "{alg}");
        let info = s.introspect(at).await;
        assert_eq!(info["active"], true);
        assert_eq!(info["token_type"], "DPoP");
        assert_eq!(info["cnf"], json!({"jkt": k.kid()}));
    }
    let bearer = s.m2m_token(&[]).await;
    assert_eq!(bearer["token_type"], "Bearer");
    let (_, claims) = jwt_parts(bearer["access_token"].as_str().unwrap());
    assert!(claims.get("cnf").is_none());
    let info = s.introspect(bearer["access_token"].as_str().unwrap()).await;
    assert_eq!(info["token_type"], "Bearer");
    assert!(info.get("cnf").is_none());

    // An opaque token is bound the same way, in its row.
    let k = key(Algorithm::ES256);
    let p = proof(&k, "POST", &token_url, None, None);
    let (status, _, body) = token_with(
        s,
        Some(("opaque-client", "opaque-client-secret-0123456789")),
        &[("grant_type", "client_credentials")],
        &[&p],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let info = s.introspect(body["access_token"].as_str().unwrap()).await;
    assert_eq!(info["token_type"], "DPoP");
    assert_eq!(info["cnf"], json!({"jkt": k.kid()}));
}
both!(client_credentials_tokens_are_bound_to_the_proof_key);

/// Every refused proof is 400 `invalid_dpop_proof` naming the failed check,
/// and a replayed proof is refused however often it is sent.
async fn refused_proofs_name_the_failed_check(s: &Server) {
    let token_url = s.url("/token");
    let k = key(Algorithm::ES256);
    let now = unix_now();
    let jwk = serde_json::to_value(k.public_jwk()).unwrap();
    let claims = |htm: &str, htu: &str, iat: u64| json!({"jti": frontdesk_core::secret::random_string(16).unwrap(), "htm": htm, "htu": htu, "iat": iat});
    let mut private = jwk.clone();
    private["d"] = json!("c2VjcmV0LWtleS1tYXRlcmlhbA");
    let none = format!(
        "{}.{}.",
        b64url(
            &serde_json::to_vec(&json!({"typ": "dpop+jwt", "alg": "none", "jwk": jwk})).unwrap()
        ),
        b64url(&serde_json::to_vec(&claims("POST", &token_url, now)).unwrap())
    );
    let replayed = proof(&k, "POST", &token_url, None, None);
    let first = token_with(
        s,
        Some(CC),
        &[("grant_type", "client_credentials")],
        &[&replayed],
    )
    .await;
    assert_eq!(first.0, 200, "{}", first.2);
    let other = key(Algorithm::ES256);
    let other_endpoint = format!("the DPoP proof's htu is not {token_url}");
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        (
            "replay",
            vec![replayed.clone()],
            "the DPoP proof has been used before",
        ),
        (
            "two headers",
            vec![
                proof(&k, "POST", &token_url, None, None),
                proof(&k, "POST", &token_url, None, None),
            ],
            "a request may carry one DPoP header only",
        ),
        (
            "GET",
            vec![proof(&k, "GET", &token_url, None, None)],
            "the DPoP proof's htm is not POST",
        ),
        (
            "other endpoint",
            vec![proof(&k, "POST", &s.url("/introspect"), None, None)],
            &other_endpoint,
        ),
        (
            "stale iat",
            vec![forge(
                &k,
                json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}),
                claims("POST", &token_url, now - 301),
            )],
            "the DPoP proof is too old",
        ),
        (
            "future iat",
            vec![forge(
                &k,
                json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}),
                claims("POST", &token_url, now + 120),
            )],
            "the DPoP proof's iat is in the future",
        ),
        (
            "private key",
            vec![forge(
                &k,
                json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": private}),
                claims("POST", &token_url, now),
            )],
            "the DPoP proof's jwk carries the private member `d`",
        ),
        (
            "alg none",
            vec![none],
            "the DPoP proof's alg `none` is not one of ES256, EdDSA, PS256, RS256",
        ),
        (
            "HS256",
            vec![forge(
                &k,
                json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": jwk}),
                claims("POST", &token_url, now),
            )],
            "the DPoP proof's alg `HS256` is not one of ES256, EdDSA, PS256, RS256",
        ),
        (
            "typ JWT",
            vec![forge(
                &k,
                json!({"typ": "JWT", "alg": "ES256", "jwk": jwk}),
                claims("POST", &token_url, now),
            )],
            "the DPoP proof's typ must be dpop+jwt",
        ),
        (
            "signed by another key",
            vec![forge(
                &other,
                json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}),
                claims("POST", &token_url, now),
            )],
            "the DPoP proof: invalid signature",
        ),
        (
            "not a JWT",
            vec!["not-a-jwt".to_owned()],
            "the DPoP proof is not a compact JWS",
        ),
    ];
    for (name, proofs, description) in cases {
        let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
        let (status, h, body) = token_with(
            s,
            Some(CC),
            &[("grant_type", "client_credentials")],
            &proofs,
        )
        .await;
        assert_eq!(status, 400, "{name}: {body}");
        assert_eq!(body, err("invalid_dpop_proof", description), "{name}");
        assert!(h.get("dpop-nonce").is_none(), "{name}");
    }
    // A bad proof costs nothing before the client is authenticated: wrong
    // credentials are `invalid_client` first.
    let p = proof(&k, "GET", &token_url, None, None);
    let (status, _, body) = token_with(
        s,
        Some(("order-service", "wrong-secret")),
        &[("grant_type", "client_credentials")],
        &[&p],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
}
both!(refused_proofs_name_the_failed_check);

/// A proof signed by `signer` with the given header and claims.
fn forge(signer: &SigningKey, header: Value, claims: Value) -> String {
    let mut input = b64url(&serde_json::to_vec(&header).unwrap());
    input.push('.');
    input.push_str(&b64url(&serde_json::to_vec(&claims).unwrap()));
    let sig = signer.sign_input(input.as_bytes()).unwrap();
    format!("{input}.{}", b64url(&sig))
}

/// §5.2: a `dpop_bound_access_tokens` client gets nothing without a proof.
async fn a_dpop_bound_client_must_send_a_proof(s: &Server) {
    let client = ("bound-service", "bound-service-secret-0123456789");
    let (status, _, body) = token_with(
        s,
        Some(client),
        &[("grant_type", "client_credentials")],
        &[],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        err(
            "invalid_dpop_proof",
            "this client's tokens must be DPoP-bound: send a DPoP proof"
        )
    );
    let k = key(Algorithm::EdDSA);
    let p = proof(&k, "POST", &s.url("/token"), None, None);
    let (status, _, body) = token_with(
        s,
        Some(client),
        &[("grant_type", "client_credentials")],
        &[&p],
    )
    .await;
    assert_eq!(
        (status, body["token_type"].as_str()),
        (200, Some("DPoP")),
        "{body}"
    );
}
const BOUND_CONFIG: &str = r#"
[[clients]]
client_id = "bound-service"
client_secret = "bound-service-secret-0123456789"
client_name = "Bound Service"
grant_types = ["client_credentials"]
scope = "photos:read"
dpop_bound_access_tokens = true
"#;
both!(a_dpop_bound_client_must_send_a_proof, BOUND_CONFIG);

/// Code flow with DPoP, then userinfo: the DPoP scheme with a proof of the
/// bound key works; the token as Bearer, a thief's proof, a proof without
/// `ath`, a replayed proof do not (RFC 9449 §7, exact challenges).
async fn userinfo_takes_a_bound_token_only_with_its_proof(s: &Server) {
    let b = Browser::new(s);
    let (verifier, challenge) = pkce();
    let code = code_for(s, &b, APP1.0, APP1_CB, "openid email", &challenge, &[]).await;
    let k = key(Algorithm::ES256);
    let p = proof(&k, "POST", &s.url("/token"), None, None);
    let (status, _, tokens) = token_with(
        s,
        Some(APP1),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", APP1_CB),
            ("code_verifier", &verifier),
        ],
        &[&p],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "DPoP");
    let at = tokens["access_token"].as_str().unwrap();
    assert_eq!(jwt_parts(at).1["cnf"]["jkt"], k.kid());
    let url = s.url("/userinfo");
    let dpop_auth = format!("DPoP {at}");

    let good = proof(&k, "GET", &url, Some(at), None);
    let (status, _, info) = userinfo(s, &dpop_auth, &[&good]).await;
    assert_eq!(status, 200, "{info}");
    assert_eq!(info["email"], "alice@example.com");

    let algs = r#"algs="ES256 EdDSA PS256 RS256""#;
    let dpop_challenge = |error: &str, description: &str| {
        format!(
            r#"DPoP realm="frontdesk", error="{error}", error_description="{description}", {algs}"#
        )
    };
    let thief = key(Algorithm::ES256);
    // (name, Authorization, proofs, error, description, challenge)
    type Case<'a> = (&'a str, String, Vec<String>, &'a str, &'a str, String);
    let cases: Vec<Case> = vec![
        (
            "replayed proof",
            dpop_auth.clone(),
            vec![good.clone()],
            "invalid_dpop_proof",
            "the DPoP proof has been used before",
            dpop_challenge("invalid_dpop_proof", "the DPoP proof has been used before"),
        ),
        (
            "the thief's own key",
            dpop_auth.clone(),
            vec![proof(&thief, "GET", &url, Some(at), None)],
            "invalid_token",
            "the DPoP proof's key is not the one the access token is bound to",
            dpop_challenge("invalid_token", "the DPoP proof's key is not the one the access token is bound to"),
        ),
        (
            "no ath",
            dpop_auth.clone(),
            vec![proof(&k, "GET", &url, None, None)],
            "invalid_dpop_proof",
            "the DPoP proof must carry ath when it comes with an access token",
            dpop_challenge("invalid_dpop_proof", "the DPoP proof must carry ath when it comes with an access token"),
        ),
        (
            "no proof",
            dpop_auth.clone(),
            vec![],
            "invalid_dpop_proof",
            "a DPoP-bound access token needs a DPoP proof",
            dpop_challenge("invalid_dpop_proof", "a DPoP-bound access token needs a DPoP proof"),
        ),
        (
            "as a bearer token",
            format!("Bearer {at}"),
            vec![proof(&k, "GET", &url, Some(at), None)],
            "invalid_token",
            "the access token is DPoP-bound: send it with the DPoP scheme and a proof",
            r#"Bearer realm="frontdesk", error="invalid_token", error_description="the access token is DPoP-bound: send it with the DPoP scheme and a proof""#.to_owned(),
        ),
    ];
    for (name, auth, proofs, error, description, challenge) in cases {
        let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
        let (status, h, body) = userinfo(s, &auth, &proofs).await;
        assert_eq!(status, 401, "{name}: {body}");
        assert_eq!(body, err(error, description), "{name}");
        let challenges: Vec<_> = h.get_all("www-authenticate").iter().collect();
        if auth.starts_with("Bearer") {
            // The scheme used, then how to send a bound token (§7.2).
            let dpop_bare = format!(r#"DPoP realm="frontdesk", {algs}"#);
            assert_eq!(
                challenges,
                [challenge.as_str(), dpop_bare.as_str()],
                "{name}"
            );
        } else {
            assert_eq!(challenges, [challenge.as_str()], "{name}");
        }
    }

    // A proof whose ath is another token's hash; two Authorization headers.
    let other_ath = proof(&k, "GET", &url, Some("another"), None);
    let (status, _, body) = userinfo(s, &dpop_auth, &[&other_ath]).await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        err(
            "invalid_dpop_proof",
            "the DPoP proof's ath is not the hash of the access token"
        )
    );
    let r = s
        .http
        .get(&url)
        .header("authorization", &dpop_auth)
        .header("authorization", format!("Bearer {at}"))
        .header("dpop", proof(&k, "GET", &url, Some(at), None))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        err(
            "invalid_request",
            "a request may carry one Authorization header only"
        )
    );

    // A bearer token sent with the DPoP scheme is refused too.
    let (verifier, challenge) = pkce();
    let code = code_for(s, &b, APP1.0, APP1_CB, "openid", &challenge, &[]).await;
    let (status, _, tokens) = token_with(
        s,
        Some(APP1),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", APP1_CB),
            ("code_verifier", &verifier),
        ],
        &[],
    )
    .await;
    assert_eq!(
        (status, tokens["token_type"].as_str()),
        (200, Some("Bearer"))
    );
    let bearer = tokens["access_token"].as_str().unwrap();
    let (status, h, body) = userinfo(
        s,
        &format!("DPoP {bearer}"),
        &[&proof(&k, "GET", &url, Some(bearer), None)],
    )
    .await;
    assert_eq!(status, 401);
    let description = "the access token is not DPoP-bound: send it with the Bearer scheme";
    assert_eq!(body, err("invalid_token", description));
    assert_eq!(
        h["www-authenticate"],
        dpop_challenge("invalid_token", description).as_str()
    );
}
both!(
    userinfo_takes_a_bound_token_only_with_its_proof,
    SIGNIN_CONFIG
);

/// §5: a public client's refresh token is bound to its key: refreshing
/// needs a proof of that key, and the successor stays bound.
async fn a_public_clients_refresh_token_is_bound(s: &Server) {
    let b = Browser::new(s);
    let (verifier, challenge) = pkce();
    let code = code_for(
        s,
        &b,
        "native",
        NATIVE_CB,
        "openid offline_access",
        &challenge,
        &[],
    )
    .await;
    let k = key(Algorithm::EdDSA);
    let token_url = s.url("/token");
    let (status, _, tokens) = token_with(
        s,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "native"),
            ("code", &code),
            ("redirect_uri", NATIVE_CB),
            ("code_verifier", &verifier),
        ],
        &[&proof(&k, "POST", &token_url, None, None)],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "DPoP");
    let rt = tokens["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |rt: String| {
        [
            ("grant_type", "refresh_token".to_owned()),
            ("client_id", "native".to_owned()),
            ("refresh_token", rt),
        ]
    };
    let bound = err(
        "invalid_grant",
        "the refresh token is bound to a DPoP key: send a proof of that key",
    );
    // Without a proof, or with another key: refused, and nothing is spent.
    for proofs in [
        vec![],
        vec![proof(
            &key(Algorithm::EdDSA),
            "POST",
            &token_url,
            None,
            None,
        )],
    ] {
        let form = refresh(rt.clone());
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let proofs: Vec<&str> = proofs.iter().map(String::as_str).collect();
        let (status, _, body) = token_with(s, None, &form, &proofs).await;
        assert_eq!((status, &body), (400, &bound));
    }
    let form = refresh(rt.clone());
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, next) = token_with(
        s,
        None,
        &form,
        &[&proof(&k, "POST", &token_url, None, None)],
    )
    .await;
    assert_eq!(status, 200, "{next}");
    assert_eq!(next["token_type"], "DPoP");
    assert_eq!(
        jwt_parts(next["access_token"].as_str().unwrap()).1["cnf"]["jkt"],
        k.kid()
    );
    // The successor is bound as well.
    let successor = next["refresh_token"].as_str().unwrap().to_owned();
    let form = refresh(successor.clone());
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, body) = token_with(s, None, &form, &[]).await;
    assert_eq!((status, &body), (400, &bound));
    // The spent first token shown again by a thief with his own key is a
    // replay: the grant goes, and the successor with it (RFC 9700 §4.14.2).
    let form = refresh(rt.clone());
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let thief = proof(&key(Algorithm::EdDSA), "POST", &token_url, None, None);
    let (status, _, body) = token_with(s, None, &form, &[&thief]).await;
    assert_eq!(
        (status, body),
        (
            400,
            err(
                "invalid_grant",
                "the refresh token was already used; the grant is revoked"
            )
        )
    );
    let form = refresh(successor);
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, _, body) = token_with(
        s,
        None,
        &form,
        &[&proof(&k, "POST", &token_url, None, None)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "{body}"
    );
}
both!(a_public_clients_refresh_token_is_bound, SIGNIN_CONFIG);

/// §10: `dpop_jkt` at /authorize binds the code to that key.
async fn dpop_jkt_binds_the_code(s: &Server) {
    let k = key(Algorithm::ES256);
    let token_url = s.url("/token");
    let redeem = |code: String, verifier: String, p: Option<String>| async move {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", APP1_CB),
            ("code_verifier", verifier.as_str()),
        ];
        let proofs: Vec<&str> = p.iter().map(String::as_str).collect();
        token_with(s, Some(APP1), &form, &proofs).await
    };
    let cases: [(&str, Option<String>, u16, Value); 3] = [
        (
            "another key",
            Some(proof(
                &key(Algorithm::ES256),
                "POST",
                &token_url,
                None,
                None,
            )),
            400,
            err(
                "invalid_dpop_proof",
                "the DPoP proof's key is not the dpop_jkt of the authorization request",
            ),
        ),
        (
            "no proof",
            None,
            400,
            err(
                "invalid_dpop_proof",
                "this code was requested with dpop_jkt: send a DPoP proof of that key",
            ),
        ),
        (
            "the key",
            Some(proof(&k, "POST", &token_url, None, None)),
            200,
            Value::Null,
        ),
    ];
    for (name, p, status, body) in cases {
        let b = Browser::new(s);
        let (verifier, challenge) = pkce();
        let code = code_for(
            s,
            &b,
            APP1.0,
            APP1_CB,
            "openid",
            &challenge,
            &[("dpop_jkt", k.kid())],
        )
        .await;
        let (got, _, answer) = redeem(code, verifier, p).await;
        assert_eq!(got, status, "{name}: {answer}");
        if status == 200 {
            assert_eq!(answer["token_type"], "DPoP");
        } else {
            assert_eq!(answer, body, "{name}");
        }
    }
    // A malformed dpop_jkt is refused at /authorize (redirected with
    // invalid_request, the client and redirect URI being valid).
    let b = Browser::new(s);
    let url = crate::browser::authorize_url(
        s,
        APP1.0,
        APP1_CB,
        "openid",
        &pkce().1,
        &[("dpop_jkt", "short")],
    );
    let to = crate::browser::redirect(b.get(&url).await);
    assert!(to.as_str().starts_with(APP1_CB), "{to}");
    assert_eq!(
        crate::browser::query(&to, "error").as_deref(),
        Some("invalid_request")
    );
}
both!(dpop_jkt_binds_the_code, SIGNIN_CONFIG);

/// §8: with `use_dpop_nonce`, a proof without the server's nonce gets
/// `use_dpop_nonce` and the nonce; with it, the token.
async fn nonces_are_asked_for_and_then_accepted(s: &Server) {
    let k = key(Algorithm::ES256);
    let token_url = s.url("/token");
    let form = [("grant_type", "client_credentials")];
    let (status, h, body) = token_with(
        s,
        Some(CC),
        &form,
        &[&proof(&k, "POST", &token_url, None, None)],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        err(
            "use_dpop_nonce",
            "the DPoP proof must carry the nonce of the DPoP-Nonce header"
        )
    );
    let nonce = h["dpop-nonce"].to_str().unwrap().to_owned();
    assert_eq!(nonce.len(), 43, "{nonce}");
    let stale = proof(&k, "POST", &token_url, None, Some("not-the-nonce"));
    let (status, _, body) = token_with(s, Some(CC), &form, &[&stale]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("use_dpop_nonce"))
    );
    let (status, h, body) = token_with(
        s,
        Some(CC),
        &form,
        &[&proof(&k, "POST", &token_url, None, Some(&nonce))],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    assert_eq!(h["dpop-nonce"], nonce.as_str());
    // Bearer requests are unaffected.
    assert_eq!(s.m2m_token(&[]).await["token_type"], "Bearer");

    // A code redemption asked for a nonce loses nothing: the same code
    // works with the nonce; userinfo asks for it the same way (401, §9).
    let b = Browser::new(s);
    let (verifier, challenge) = pkce();
    let code = code_for(s, &b, APP1.0, APP1_CB, "openid", &challenge, &[]).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", APP1_CB),
        ("code_verifier", verifier.as_str()),
    ];
    let (status, h, body) = token_with(
        s,
        Some(APP1),
        &form,
        &[&proof(&k, "POST", &token_url, None, None)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("use_dpop_nonce"))
    );
    let nonce = h["dpop-nonce"].to_str().unwrap().to_owned();
    let (status, _, tokens) = token_with(
        s,
        Some(APP1),
        &form,
        &[&proof(&k, "POST", &token_url, None, Some(&nonce))],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let at = tokens["access_token"].as_str().unwrap();
    let url = s.url("/userinfo");
    let (status, h, body) = userinfo(
        s,
        &format!("DPoP {at}"),
        &[&proof(&k, "GET", &url, Some(at), None)],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("use_dpop_nonce"))
    );
    assert!(
        h["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with(r#"DPoP realm="frontdesk", error="use_dpop_nonce""#)
    );
    let nonce = h["dpop-nonce"].to_str().unwrap().to_owned();
    let (status, _, info) = userinfo(
        s,
        &format!("DPoP {at}"),
        &[&proof(&k, "GET", &url, Some(at), Some(&nonce))],
    )
    .await;
    assert_eq!(status, 200, "{info}");
}
both!(
    nonces_are_asked_for_and_then_accepted,
    &format!("use_dpop_nonce = true\n{SIGNIN_CONFIG}")
);

/// The README's DPoP script (docs/examples/dpop_token.py), a stranger's
/// client built on `joserfc`: the token it gets is bound to its key.
/// Skipped without python3 and joserfc unless FRONTDESK_TEST_PYTHON=required.
async fn the_readme_script_gets_a_bound_token_with_joserfc(s: &Server) {
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
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/examples/dpop_token.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .env("ISSUER", &s.base)
        .env("CLIENT_ID", CC.0)
        .env("CLIENT_SECRET", CC.1)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(printed["token_type"], "DPoP");
    let at = printed["access_token"].as_str().unwrap();
    assert_eq!(jwt_parts(at).1["cnf"]["jkt"], printed["jkt"]);
    let info = s.introspect(at).await;
    assert_eq!(info["cnf"]["jkt"], printed["jkt"]);
}
both!(the_readme_script_gets_a_bound_token_with_joserfc);
