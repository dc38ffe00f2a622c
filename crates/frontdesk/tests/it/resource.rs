//! `frontdesk-resource` against the real server: discovery, local checks,
//! introspection, and the demo API using the kit directly.

use serde_json::{Value, json};

use crate::both;
use crate::gateway::{demo_api, dpop_token, gw_proof_for};
use crate::support::{PAYMENTS, PHOTOS, Server, unix_now};
use frontdesk_resource::{Guard, HttpClient, Introspector, Validator, Via, discover};

async fn the_kit_checks_real_tokens_locally_and_by_introspection(s: &Server) {
    let v = Validator::from_issuer(&s.base, PAYMENTS).await.unwrap();
    let t = s.m2m_token(&[("resource", PAYMENTS)]).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let c = v
        .verify(&t, &["charge:customer"], unix_now())
        .await
        .unwrap();
    assert_eq!(c.sub, "order-service");
    assert_eq!(v.keys().fetch_count(), 1);
    let photos = Validator::with_keys(&s.base, PHOTOS, v.keys().clone());
    assert_eq!(
        photos
            .verify(&t, &[], unix_now())
            .await
            .unwrap_err()
            .status(),
        401
    );
    assert_eq!(
        v.keys().fetch_count(),
        1,
        "a wrong audience is no reason to refetch"
    );

    let http = HttpClient::new().unwrap();
    let meta = discover(&http, &s.base).await.unwrap();
    let endpoint = meta.introspection_endpoint.unwrap();
    let i = Guard::Introspect(
        Introspector::new(
            http.clone(),
            &endpoint,
            "order-service",
            "order-service-secret-0123456789",
            &s.base,
            PAYMENTS,
        )
        .unwrap(),
    );
    let ok = i.check(&t, &["charge:customer"], unix_now()).await.unwrap();
    assert_eq!((ok.sub(), ok.via), ("order-service", Via::Introspection));

    // Opaque tokens can only be introspected; with no audience configured
    // the client's tokens are for the issuer itself.
    let opaque = s.opaque_token().await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let at_issuer = Introspector::new(
        http,
        &endpoint,
        "order-service",
        "order-service-secret-0123456789",
        &s.base,
        &s.base,
    )
    .unwrap();
    let (c, _) = at_issuer
        .check(&opaque, &["photos:read"], unix_now())
        .await
        .unwrap();
    assert_eq!(c.client_id, "opaque-client");
    assert_eq!(
        v.verify(&opaque, &[], unix_now())
            .await
            .unwrap_err()
            .status(),
        401
    );

    // Revoked: introspection sees it, the local check cannot.
    s.post_form(
        "/revoke",
        Some(("order-service", "order-service-secret-0123456789")),
        &[("token", &t)],
    )
    .await;
    let err = i.check(&t, &[], unix_now()).await.unwrap_err();
    assert_eq!(err.www_authenticate(), r#"Bearer error="invalid_token""#);
    v.verify(&t, &[], unix_now()).await.unwrap();
}
both!(the_kit_checks_real_tokens_locally_and_by_introspection);

/// `frontdesk demo-api --issuer`: the demo checks tokens itself with the
/// kit's layer and extractor, and ignores X-Frontdesk-* headers.
async fn demo_api_with_the_kit_checks_tokens_itself(s: &Server) {
    let dir = tempfile::tempdir().unwrap();
    let demo = demo_api(dir.path(), &["--issuer", &s.base]);
    let http = reqwest::Client::new();
    let photos = format!("{}/photos", demo.base);

    let t = s
        .m2m_token(&[("resource", PHOTOS), ("scope", "photos:read")])
        .await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = http.get(&photos).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["caller"],
        json!({"sub": "order-service", "client_id": "order-service", "scope": "photos:read", "via": "demo-api/local"})
    );

    let r = http
        .get(&photos)
        .header("x-frontdesk-sub", "admin")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "forged gateway headers are not a token");
    assert_eq!(
        r.headers()["www-authenticate"],
        r#"Bearer, DPoP algs="ES256 EdDSA PS256 RS256""#
    );

    let r = http
        .post(format!("{}/charges", demo.base))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        401,
        "a photos token is not for the payment service"
    );
    let pay = s
        .m2m_token(&[("resource", PAYMENTS), ("scope", "photos:read")])
        .await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = http
        .post(format!("{}/charges", demo.base))
        .bearer_auth(&pay)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(
        r.headers()["www-authenticate"],
        r#"Bearer error="insufficient_scope", scope="charge:customer""#
    );
}
both!(demo_api_with_the_kit_checks_tokens_itself);

/// SECURITY.md R19, DP1, DP2: the kit with the server's own DPoP-bound
/// token (RFC 9449 §5), checked locally and by introspection through
/// `Guard::check_request`: only with a proof of the bound key for this
/// request; the thief's key and the Bearer scheme are refused; after
/// `/revoke` introspection refuses it too.
async fn r19_the_kit_takes_a_real_dpop_token_only_with_its_proof(s: &Server) {
    use axum::http::{HeaderValue, Method, Request};
    use frontdesk_jose::{Algorithm, SigningKey, dpop};
    use frontdesk_resource::{Dpop, RequestParts};

    let proof = gw_proof_for;
    let (key, _) = SigningKey::generate(Algorithm::ES256).unwrap();
    let (thief, _) = SigningKey::generate(Algorithm::ES256).unwrap();
    let client = ("order-service", "order-service-secret-0123456789");
    let grant = [("grant_type", "client_credentials"), ("resource", PAYMENTS)];
    let t = dpop_token(s, client, &grant, &key).await;

    let http = HttpClient::new().unwrap();
    let endpoint = discover(&http, &s.base)
        .await
        .unwrap()
        .introspection_endpoint
        .unwrap();
    let local = Guard::Local(Validator::from_issuer(&s.base, PAYMENTS).await.unwrap());
    let remote = Guard::Introspect(
        Introspector::new(
            http,
            &endpoint,
            "order-service",
            "order-service-secret-0123456789",
            &s.base,
            PAYMENTS,
        )
        .unwrap(),
    );
    let api = "https://payments.example.com/charges";
    let door = Dpop::new()
        .with_public_url("https://payments.example.com")
        .unwrap();
    let request = |scheme: &str, proof: Option<String>| {
        let mut req = Request::builder()
            .method(Method::POST)
            .uri("/charges")
            .body(())
            .unwrap();
        let h = req.headers_mut();
        h.insert(
            "authorization",
            HeaderValue::from_str(&format!("{scheme} {t}")).unwrap(),
        );
        if let Some(p) = proof {
            h.insert("dpop", HeaderValue::from_str(&p).unwrap());
        }
        req
    };
    let refused = r#"DPoP error="invalid_token", algs="ES256 EdDSA PS256 RS256""#;
    let jkt = dpop::jkt(&key).unwrap();
    for (guard, via) in [(&local, Via::Local), (&remote, Via::Introspection)] {
        let check = async |req: Request<()>| {
            guard
                .check_request(
                    &door,
                    RequestParts::from(&req),
                    &["charge:customer"],
                    unix_now(),
                )
                .await
        };
        let ok = check(request("DPoP", Some(proof(&key, "POST", api, Some(&t)))))
            .await
            .unwrap();
        assert_eq!((ok.dpop_jkt(), ok.via), (Some(jkt.as_str()), via));
        let stolen = check(request("DPoP", Some(proof(&thief, "POST", api, Some(&t)))))
            .await
            .unwrap_err();
        assert_eq!(
            (stolen.status(), stolen.www_authenticate().as_str()),
            (401, refused)
        );
        // Under the Bearer scheme, Bearer's challenge (RFC 6750), as at /userinfo.
        let as_bearer = r#"Bearer error="invalid_token""#;
        let bearer = check(request("Bearer", None)).await.unwrap_err();
        assert_eq!(
            (bearer.status(), bearer.www_authenticate().as_str()),
            (401, as_bearer)
        );
        let bearer = guard.check(&t, &[], unix_now()).await.unwrap_err();
        assert_eq!(
            bearer.www_authenticate(),
            as_bearer,
            "Guard::check is Bearer"
        );
    }

    s.post_form(
        "/revoke",
        Some(("order-service", "order-service-secret-0123456789")),
        &[("token", &t)],
    )
    .await;
    let req = request("DPoP", Some(proof(&key, "POST", api, Some(&t))));
    let err = remote
        .check_request(&door, RequestParts::from(&req), &[], unix_now())
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.www_authenticate().as_str()),
        (401, refused)
    );
}
both!(r19_the_kit_takes_a_real_dpop_token_only_with_its_proof);
