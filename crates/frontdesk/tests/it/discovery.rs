//! Discovery (OIDC Discovery 1.0 §3, RFC 8414), the JWKS (RFC 7517, RFC 7638
//! kids), health and unknown paths. A route exists iff it is advertised.

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::both;
use crate::support::Server;

fn not_found() -> Value {
    json!({"error": "not_found", "error_description": "no such endpoint"})
}

async fn body_json(r: reqwest::Response) -> Value {
    serde_json::from_str(&r.text().await.unwrap()).expect("JSON body")
}

async fn get(s: &Server, path: &str) -> (u16, HeaderMap, Value) {
    let r = s.http.get(s.url(path)).send().await.unwrap();
    let status = r.status().as_u16();
    let h = r.headers().clone();
    (status, h, r.json().await.expect("JSON body"))
}

fn assert_public_cache(h: &HeaderMap, max_age: u64, what: &str) {
    assert_eq!(
        h["cache-control"],
        format!("public, max-age={max_age}").as_str(),
        "{what}"
    );
    assert_eq!(h["access-control-allow-origin"], "*", "{what}");
    assert!(
        h["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{what}"
    );
}

/// A path under the issuer, from an advertised absolute URL.
fn path_of(s: &Server, url: &Value) -> String {
    let url = url.as_str().expect("endpoint is a string");
    url.strip_prefix(&s.base)
        .unwrap_or_else(|| panic!("{url} is not under the issuer {}", s.base))
        .to_owned()
}

async fn metadata_is_rfc8414_and_oidc(s: &Server) {
    let (status, h, oidc) = get(s, "/.well-known/openid-configuration").await;
    assert_eq!(status, 200);
    assert_public_cache(&h, 300, "openid-configuration");
    let (status, h, oauth) = get(s, "/.well-known/oauth-authorization-server").await;
    assert_eq!(status, 200);
    assert_public_cache(&h, 300, "oauth-authorization-server");
    assert_eq!(oidc, oauth, "both well-known URLs serve one document");

    let m = &oidc;
    assert_eq!(m["issuer"], s.base);
    assert_eq!(m["token_endpoint"], s.url("/token"));
    assert_eq!(m["introspection_endpoint"], s.url("/introspect"));
    assert_eq!(m["revocation_endpoint"], s.url("/revoke"));
    assert_eq!(m["jwks_uri"], s.url("/jwks.json"));
    assert_eq!(
        m["grant_types_supported"],
        json!([
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:token-exchange",
            "urn:ietf:params:oauth:grant-type:device_code"
        ])
    );
    assert_eq!(m["authorization_endpoint"], s.url("/authorize"));
    assert_eq!(m["userinfo_endpoint"], s.url("/userinfo"));
    assert_eq!(m["end_session_endpoint"], s.url("/logout"));
    assert_eq!(m["response_types_supported"], json!(["code"]));
    assert_eq!(m["response_modes_supported"], json!(["query", "form_post"]));
    assert_eq!(
        m["code_challenge_methods_supported"],
        json!(["S256"]),
        "SECURITY.md R8"
    );
    assert_eq!(
        m["authorization_response_iss_parameter_supported"], true,
        "SECURITY.md R6"
    );
    assert_eq!(m["subject_types_supported"], json!(["public", "pairwise"]));
    assert!(
        !m["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("password")),
        "SECURITY.md R25"
    );
    for key in [
        "token_endpoint_auth_methods_supported",
        "introspection_endpoint_auth_methods_supported",
        "revocation_endpoint_auth_methods_supported",
    ] {
        let methods = m[key].as_array().unwrap_or_else(|| panic!("{key}"));
        assert!(methods.contains(&json!("client_secret_basic")), "{key}");
        assert!(methods.contains(&json!("client_secret_post")), "{key}");
    }

    // Every advertised POST endpoint exists: an empty form is a JSON OAuth
    // error, never a 404.
    for key in [
        "token_endpoint",
        "introspection_endpoint",
        "revocation_endpoint",
    ] {
        let path = path_of(s, &m[key]);
        let r = s.post_form(&path, None, &[]).await;
        let status = r.status().as_u16();
        assert!(
            status == 400 || status == 401,
            "{key} {path}: status {status}"
        );
        let body: Value = r.json().await.unwrap();
        assert!(body["error"].is_string(), "{key}: {body}");
        assert_ne!(body["error"], "not_found", "{key}");
    }
    let (status, _, jwks) = get(s, &path_of(s, &m["jwks_uri"])).await;
    assert_eq!(status, 200);
    assert!(jwks["keys"].is_array());
}
both!(metadata_is_rfc8414_and_oidc);

async fn jwks_publishes_public_keys_named_by_thumbprint(s: &Server) {
    let (status, h, jwks) = get(s, "/jwks.json").await;
    assert_eq!(status, 200);
    assert_public_cache(&h, 300, "jwks");
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "one access-token key, one ID-token key");
    let mut algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    algs.sort_unstable();
    assert_eq!(algs, ["ES256", "RS256"]);
    for k in keys {
        let obj = k.as_object().unwrap();
        for private in ["d", "p", "q", "dp", "dq", "qi", "k", "oth"] {
            assert!(!obj.contains_key(private), "JWKS leaks {private}: {k}");
        }
        assert_eq!(k["use"], "sig", "{k}");
        let jwk: frontdesk_jose::Jwk = serde_json::from_value(k.clone()).unwrap();
        assert_eq!(
            k["kid"].as_str().unwrap(),
            frontdesk_jose::thumbprint(&jwk).unwrap(),
            "kid is the RFC 7638 thumbprint"
        );
        match k["alg"].as_str().unwrap() {
            "ES256" => {
                assert_eq!(k["kty"], "EC");
                assert_eq!(k["crv"], "P-256");
            }
            "RS256" => {
                assert_eq!(k["kty"], "RSA");
                let n = base64::Engine::decode(
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                    k["n"].as_str().unwrap(),
                )
                .unwrap();
                assert!(n.len() >= 256, "RSA ≥ 2048 bits (SECURITY.md J16)");
            }
            other => panic!("unexpected alg {other}"),
        }
    }
}
both!(jwks_publishes_public_keys_named_by_thumbprint);

async fn disabled_features_are_neither_advertised_nor_routed(s: &Server) {
    let (_, _, m) = get(s, "/.well-known/openid-configuration").await;
    for key in [
        "introspection_endpoint",
        "introspection_endpoint_auth_methods_supported",
        "revocation_endpoint",
        "revocation_endpoint_auth_methods_supported",
    ] {
        assert!(m.get(key).is_none(), "{key} advertised while disabled");
    }
    assert_eq!(m["token_endpoint"], s.url("/token"), "the rest stays");
    let (_, _, oauth) = get(s, "/.well-known/oauth-authorization-server").await;
    assert_eq!(m, oauth);

    for path in ["/introspect", "/revoke"] {
        let r = s
            .post_form(
                path,
                Some(("order-service", "order-service-secret-0123456789")),
                &[("token", "x")],
            )
            .await;
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(body_json(r).await, not_found(), "{path}");
    }
    // The token endpoint still works.
    let body = s.m2m_token(&[]).await;
    assert!(body["access_token"].is_string());
}
both!(
    disabled_features_are_neither_advertised_nor_routed,
    "[features]\nintrospection = false\nrevocation = false"
);

async fn health_and_unknown_paths(s: &Server) {
    for path in ["/health/live", "/health/ready"] {
        let (status, _, body) = get(s, path).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(body, json!({"status": "ok"}), "{path}");
    }
    for path in ["/nope", "/.well-known/nope", "/admin/clients", "/token/"] {
        let r = s.http.get(s.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json"),
            "{path}"
        );
        assert_eq!(body_json(r).await, not_found(), "{path}");
    }
    let r = s.post_form("/nope", None, &[]).await;
    assert_eq!(r.status(), 404);
    assert_eq!(body_json(r).await, not_found());
}
both!(health_and_unknown_paths);

/// Browser-facing endpoints are mounted exactly when the metadata names
/// them (until the authorization-code flow ships, neither).
async fn browser_routes_exist_iff_advertised(s: &Server) {
    let (_, _, m) = get(s, "/.well-known/openid-configuration").await;
    for (key, path) in [
        ("authorization_endpoint", "/authorize"),
        ("userinfo_endpoint", "/userinfo"),
    ] {
        let r = s.http.get(s.url(path)).send().await.unwrap();
        let status = r.status().as_u16();
        match m.get(key) {
            Some(url) => {
                assert_eq!(url, &json!(s.url(path)), "{key}");
                assert_ne!(status, 404, "{key} is advertised but {path} is 404");
            }
            None => {
                assert_eq!(status, 404, "{path} is routed but {key} is not advertised");
                assert_eq!(body_json(r).await, not_found(), "{path}");
            }
        }
    }
}
both!(browser_routes_exist_iff_advertised);
