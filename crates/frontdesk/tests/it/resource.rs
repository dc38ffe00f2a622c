//! `frontdesk-resource` against the real server: discovery, local checks,
//! introspection, and the demo API using the kit directly.

use serde_json::{Value, json};

use crate::both;
use crate::gateway::demo_api;
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
