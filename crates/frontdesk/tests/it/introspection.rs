//! Token introspection (RFC 7662) and revocation (RFC 7009).

use base64::Engine;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::both;
use crate::support::{
    PAYMENTS, PHOTOS, Server, assert_no_store, invalid_client, jwt_parts, parts, unix_now,
};

const ID: &str = "order-service";
const SECRET: &str = "order-service-secret-0123456789";
const OPAQUE: (&str, &str) = ("opaque-client", "opaque-client-secret-0123456789");

fn assert_basic_challenge(h: &HeaderMap) {
    assert_eq!(
        h["www-authenticate"],
        r#"Basic realm="frontdesk", charset="UTF-8""#
    );
}

async fn token_for(s: &Server, client: (&str, &str), extra: &[(&str, &str)]) -> String {
    let mut form = vec![("grant_type", "client_credentials")];
    form.extend_from_slice(extra);
    let r = s.post_form("/token", Some(client), &form).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// Revokes `token` over Basic as `client`; returns status and body.
async fn revoke_as(s: &Server, client: (&str, &str), form: &[(&str, &str)]) -> (u16, Value) {
    let r = s.post_form("/revoke", Some(client), form).await;
    let (status, _, body) = parts(r).await;
    (status, body)
}

async fn active_jwt_is_described(s: &Server) {
    let body = s.m2m_token(&[]).await;
    let token = body["access_token"].as_str().unwrap();
    let (_, claims) = jwt_parts(token);
    let r = s
        .post_form("/introspect", Some((ID, SECRET)), &[("token", token)])
        .await;
    let (status, h, info) = parts(r).await;
    assert_eq!(status, 200);
    assert_no_store(&h);
    assert!(
        h["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let iat = info["iat"].as_u64().unwrap();
    let now = unix_now();
    assert!(iat <= now && now - iat < 60, "iat {iat} is now ({now})");
    assert_eq!(
        info,
        json!({
            "active": true,
            "scope": "photos:read charge:customer",
            "client_id": ID,
            "sub": ID,
            "aud": [PAYMENTS, PHOTOS],
            "iss": s.base,
            "exp": iat + 3600,
            "iat": iat,
            "jti": claims["jti"],
            "token_type": "Bearer",
        })
    );
    assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));

    // One audience is still an array (RFC 7662 §2.2 allows either; we pin it).
    let body = s.m2m_token(&[("resource", PHOTOS)]).await;
    let info = s.introspect(body["access_token"].as_str().unwrap()).await;
    assert_eq!(info["aud"], json!([PHOTOS]));

    // Any authenticated client may introspect, with client_secret_post too.
    let r = s
        .post_form(
            "/introspect",
            None,
            &[
                ("token", token),
                ("client_id", "post-client"),
                ("client_secret", "post-client-secret-0123456789"),
            ],
        )
        .await;
    let (status, _, body) = parts(r).await;
    assert_eq!(status, 200);
    assert_eq!(body["active"], true);
}
both!(active_jwt_is_described);

/// Flips one character in the middle of the signature segment.
fn flip_signature(token: &str) -> String {
    let sig_start = token.rfind('.').unwrap() + 1;
    let at = sig_start + (token.len() - sig_start) / 2;
    let mut bytes = token.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

async fn anything_not_live_and_ours_is_just_inactive(s: &Server) {
    let good = s.m2m_token(&[]).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, claims) = jwt_parts(&good);

    // Signed by a key that is not in our JWKS, with our issuer and typ.
    let (foreign, _) =
        frontdesk_jose::SigningKey::generate(frontdesk_jose::Algorithm::ES256).unwrap();
    let now = unix_now();
    let forged_claims = frontdesk_jose::AccessTokenClaims {
        iss: s.base.clone(),
        sub: ID.into(),
        aud: frontdesk_jose::Audience(vec![PAYMENTS.into()]),
        exp: now + 600,
        iat: now,
        jti: "forged-jti-0001".into(),
        client_id: ID.into(),
        scope: Some("photos:read".into()),
        auth_time: None,
        acr: None,
        amr: None,
        cnf: None,
        groups: None,
        act: None,
        may_act: None,
    };
    let forged = foreign.sign(Some("at+jwt"), &forged_claims).unwrap();
    assert_eq!(jwt_parts(&forged).1["iss"], s.base, "only the key differs");

    // alg none, with our claims.
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let unsigned = format!(
        "{}.{}.",
        b64.encode(br#"{"alg":"none","typ":"at+jwt"}"#),
        good.split('.').nth(1).unwrap()
    );

    let cases = [
        ("garbage", "not-a-token".to_owned()),
        ("empty-looking jwt", "a.b.c".to_owned()),
        ("flipped signature byte", flip_signature(&good)),
        ("foreign key", forged),
        ("alg none", unsigned),
        ("jti alone", claims["jti"].as_str().unwrap().to_owned()),
    ];
    for (name, token) in &cases {
        let r = s
            .post_form("/introspect", Some((ID, SECRET)), &[("token", token)])
            .await;
        let (status, h, body) = parts(r).await;
        assert_eq!(status, 200, "{name}");
        assert_no_store(&h);
        assert_eq!(body, json!({"active": false}), "{name}");
    }
    // The unmodified token is still fine: the cases above were the only change.
    assert_eq!(s.introspect(&good).await["active"], true);
}
both!(anything_not_live_and_ours_is_just_inactive);

/// The configured lifetime reaches the token (`exp` = `iat` + 1 here).
/// That it is inactive from `exp` on, even within the clock leeway, is
/// tested with a fixed clock in crates/core/tests/it/introspect.rs.
async fn short_lived_token_carries_its_lifetime(s: &Server) {
    let token = token_for(s, ("short-lived", "short-lived-secret-0123456789"), &[]).await;
    let (_, claims) = jwt_parts(&token);
    assert_eq!(
        claims["exp"].as_u64().unwrap(),
        claims["iat"].as_u64().unwrap() + 1
    );
    // RFC 7009 §2.2: an invalid token is not an error at revocation.
    let (status, body) = revoke_as(
        s,
        ("short-lived", "short-lived-secret-0123456789"),
        &[("token", "not-a-token-we-issued")],
    )
    .await;
    assert_eq!((status, body), (200, Value::Null));
}
both!(short_lived_token_carries_its_lifetime);

async fn introspection_needs_client_auth_and_a_token(s: &Server) {
    let token = s.m2m_token(&[]).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for (name, basic) in [
        ("no credentials", None),
        ("wrong secret", Some((ID, "wrong-secret-0123456789"))),
        ("unknown client", Some(("nobody", SECRET))),
    ] {
        let r = s
            .post_form("/introspect", basic, &[("token", &token)])
            .await;
        let (status, h, body) = parts(r).await;
        assert_eq!(status, 401, "{name}");
        assert_basic_challenge(&h);
        assert_no_store(&h);
        assert_eq!(body, invalid_client(), "{name}");
        assert!(body.get("active").is_none(), "{name}: no token data");
    }
    let r = s.post_form("/introspect", Some((ID, SECRET)), &[]).await;
    let (status, h, body) = parts(r).await;
    assert_eq!(status, 400);
    assert_no_store(&h);
    assert!(h.get("www-authenticate").is_none());
    assert_eq!(
        body,
        json!({"error": "invalid_request", "error_description": "missing parameter: token"})
    );
}
both!(introspection_needs_client_auth_and_a_token);

async fn revoking_a_jwt_makes_it_inactive(s: &Server) {
    let token = s.m2m_token(&[]).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = s.m2m_token(&[]).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(s.introspect(&token).await["active"], true);
    let r = s
        .post_form("/revoke", Some((ID, SECRET)), &[("token", &token)])
        .await;
    let (status, h, body) = parts(r).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        Value::Null,
        "RFC 7009 §2.2: the content is ignored; we send none"
    );
    assert_no_store(&h);
    assert_eq!(s.introspect(&token).await, json!({"active": false}));
    assert_eq!(
        s.introspect(&other).await["active"],
        true,
        "only that token (by jti) is revoked"
    );
    // Revoking again: an invalid token, still 200.
    assert_eq!(
        revoke_as(s, (ID, SECRET), &[("token", &token)]).await,
        (200, Value::Null)
    );
}
both!(revoking_a_jwt_makes_it_inactive);

async fn revoking_an_opaque_token_makes_it_inactive(s: &Server) {
    let token = token_for(s, OPAQUE, &[]).await;
    assert_eq!(s.introspect(&token).await["active"], true);
    assert_eq!(
        revoke_as(s, OPAQUE, &[("token", &token)]).await,
        (200, Value::Null)
    );
    assert_eq!(s.introspect(&token).await, json!({"active": false}));
}
both!(revoking_an_opaque_token_makes_it_inactive);

async fn revoking_garbage_is_ok(s: &Server) {
    for token in ["garbage", "a.b.c"] {
        assert_eq!(
            revoke_as(s, (ID, SECRET), &[("token", token)]).await,
            (200, Value::Null),
            "{token:?}"
        );
    }
}
both!(revoking_garbage_is_ok);

async fn revoking_another_clients_token_is_refused(s: &Server) {
    let forbidden = json!({"error": "invalid_request", "error_description": "the token was not issued to this client"});
    let jwt = s.m2m_token(&[]).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let opaque = token_for(s, OPAQUE, &[]).await;
    for token in [&jwt, &opaque] {
        let r = s
            .post_form(
                "/revoke",
                None,
                &[
                    ("token", token),
                    ("client_id", "post-client"),
                    ("client_secret", "post-client-secret-0123456789"),
                ],
            )
            .await;
        let (status, h, body) = parts(r).await;
        assert_eq!(status, 400);
        assert_no_store(&h);
        assert_eq!(body, forbidden);
        assert_eq!(s.introspect(token).await["active"], true, "still active");
    }
}
both!(revoking_another_clients_token_is_refused);

async fn revocation_needs_client_auth(s: &Server) {
    let token = s.m2m_token(&[]).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    for (name, basic) in [
        ("no credentials", None),
        ("wrong secret", Some((ID, "wrong-secret-0123456789"))),
    ] {
        let r = s.post_form("/revoke", basic, &[("token", &token)]).await;
        let (status, h, body) = parts(r).await;
        assert_eq!(status, 401, "{name}");
        assert_basic_challenge(&h);
        assert_eq!(body, invalid_client(), "{name}");
    }
    assert_eq!(s.introspect(&token).await["active"], true, "not revoked");
    let r = s.post_form("/revoke", Some((ID, SECRET)), &[]).await;
    let (status, _, body) = parts(r).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"error": "invalid_request", "error_description": "missing parameter: token"})
    );
}
both!(revocation_needs_client_auth);

/// RFC 7009 §2.1: a wrong `token_type_hint` only widens the search.
async fn wrong_type_hint_still_revokes(s: &Server) {
    let jwt = s.m2m_token(&[]).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        revoke_as(
            s,
            (ID, SECRET),
            &[("token", &jwt), ("token_type_hint", "refresh_token")]
        )
        .await,
        (200, Value::Null)
    );
    assert_eq!(s.introspect(&jwt).await, json!({"active": false}));

    let opaque = token_for(s, OPAQUE, &[]).await;
    assert_eq!(
        revoke_as(
            s,
            OPAQUE,
            &[("token", &opaque), ("token_type_hint", "refresh_token")]
        )
        .await,
        (200, Value::Null)
    );
    assert_eq!(s.introspect(&opaque).await, json!({"active": false}));
}
both!(wrong_type_hint_still_revokes);

/// Deleting a client deactivates its tokens at once, JWT and opaque alike.
async fn deleting_a_client_deactivates_its_tokens(s: &Server) {
    for format in ["jwt", "opaque"] {
        let created: Value = s
            .admin_req(
                reqwest::Method::POST,
                "/admin/clients",
                Some(json!({"client_name": "Doomed", "grant_types": ["client_credentials"], "access_token_format": format})),
            )
            .await
            .json()
            .await
            .unwrap();
        let id = created["client_id"].as_str().unwrap().to_owned();
        let secret = created["client_secret"].as_str().unwrap().to_owned();
        let r = s
            .post_form(
                "/token",
                Some((&id, &secret)),
                &[("grant_type", "client_credentials")],
            )
            .await;
        assert_eq!(r.status(), 200);
        let token = r.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(s.introspect(&token).await["active"], true, "{format}");
        let r = s
            .admin_req(
                reqwest::Method::DELETE,
                &format!("/admin/clients/{id}"),
                None,
            )
            .await;
        assert_eq!(r.status(), 204);
        assert_eq!(
            s.introspect(&token).await,
            json!({"active": false}),
            "{format}"
        );
    }
}
both!(deleting_a_client_deactivates_its_tokens);
