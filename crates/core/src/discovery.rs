//! Authorization server metadata: OpenID Connect Discovery 1.0 §3 and
//! RFC 8414 §2, built from the same [`Features`] that mounts the routes, so
//! it advertises exactly what works.

use serde_json::{Map, Value, json};

use crate::client::CLIENT_SIGNING_ALGS;
use crate::{Core, Features, paths};

/// Client authentication methods we accept at back-channel endpoints.
const AUTH_METHODS: [&str; 3] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
];

/// The metadata document. Both well-known URLs serve the same document.
pub fn metadata(core: &Core) -> Value {
    let f: Features = core.features;
    let mut m = Map::new();
    m.insert("issuer".into(), json!(core.settings.issuer));
    if f.authorization_code {
        m.insert(
            "authorization_endpoint".into(),
            json!(core.endpoint(paths::AUTHORIZE)),
        );
    }
    if f.token_endpoint() {
        m.insert("token_endpoint".into(), json!(core.endpoint(paths::TOKEN)));
        let mut methods = AUTH_METHODS.to_vec();
        if f.authorization_code {
            // Public clients (RFC 6749 §2.1), which must use PKCE.
            methods.push("none");
        }
        m.insert(
            "token_endpoint_auth_methods_supported".into(),
            json!(methods),
        );
        // RFC 8414 §2: required once private_key_jwt is listed.
        m.insert(
            "token_endpoint_auth_signing_alg_values_supported".into(),
            json!(CLIENT_SIGNING_ALGS),
        );
        // RFC 9449 §5.1: the algorithms DPoP proofs may be signed with.
        let algs: Vec<&str> = core
            .settings
            .dpop
            .algorithms
            .iter()
            .map(|a| a.as_str())
            .collect();
        m.insert("dpop_signing_alg_values_supported".into(), json!(algs));
    }
    if f.authorization_code {
        m.insert(
            "userinfo_endpoint".into(),
            json!(core.endpoint(paths::USERINFO)),
        );
        m.insert(
            "end_session_endpoint".into(),
            json!(core.endpoint(paths::LOGOUT)),
        );
    }
    m.insert("jwks_uri".into(), json!(core.endpoint(paths::JWKS)));

    let mut grants = Vec::new();
    if f.authorization_code {
        grants.push("authorization_code");
    }
    if f.refresh() {
        grants.push("refresh_token");
    }
    if f.client_credentials {
        grants.push("client_credentials");
    }
    if f.token_endpoint() {
        grants.push(crate::model::TOKEN_EXCHANGE_GRANT);
    }
    if f.device() {
        grants.push(crate::model::DEVICE_CODE_GRANT);
        // RFC 8628 §4.
        m.insert(
            "device_authorization_endpoint".into(),
            json!(core.endpoint(paths::DEVICE_AUTHORIZATION)),
        );
    }
    m.insert("grant_types_supported".into(), json!(grants));
    let response_types: &[&str] = if f.authorization_code { &["code"] } else { &[] };
    m.insert("response_types_supported".into(), json!(response_types));
    if f.authorization_code {
        m.insert(
            "response_modes_supported".into(),
            json!(["query", "form_post"]),
        );
        // OIDC Discovery §3: the levels `acr_values` may ask for (crate::mfa).
        m.insert("acr_values_supported".into(), json!(crate::mfa::ACR_VALUES));
        if !core.settings.ui_locales_supported.is_empty() {
            m.insert(
                "ui_locales_supported".into(),
                json!(core.settings.ui_locales_supported),
            );
        }
        // RFC 9700 §2.1.1: PKCE is required, and only S256 is accepted.
        m.insert("code_challenge_methods_supported".into(), json!(["S256"]));
        // RFC 9207: every authorization response carries `iss`.
        m.insert(
            "authorization_response_iss_parameter_supported".into(),
            json!(true),
        );
        let mut scopes = vec!["openid", "profile", "email", "address", "phone"];
        if f.refresh() {
            scopes.push("offline_access");
        }
        scopes.push(crate::groups::SCOPE);
        m.insert("scopes_supported".into(), json!(scopes));
        // The ID token's own claims, then those the scopes release.
        let mut claims = vec![
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "azp",
            "sid",
            "at_hash",
            "amr",
            "acr",
            "idp",
        ];
        for (_, released) in crate::id_token::SCOPE_CLAIMS {
            claims.extend_from_slice(released);
        }
        claims.push(crate::groups::CLAIM);
        m.insert("claims_supported".into(), json!(claims));
        m.insert(
            "prompt_values_supported".into(),
            json!(["none", "login", "consent", "select_account"]),
        );
        // RFC 9126 §5. PAR's `request_uri` is not OIDC's fetched
        // `request_uri`, so `request_uri_parameter_supported` stays false.
        m.insert(
            "pushed_authorization_request_endpoint".into(),
            json!(core.endpoint(paths::PAR)),
        );
        m.insert(
            "require_pushed_authorization_requests".into(),
            json!(core.settings.require_pushed_authorization_requests),
        );
        // RFC 9101 §5.1 by value, and inside PAR (RFC 9126 §3); signed with
        // a client's registered key only (`authorize::request_object`).
        m.insert("request_parameter_supported".into(), json!(true));
        m.insert(
            "request_object_signing_alg_values_supported".into(),
            json!(crate::client::CLIENT_SIGNING_ALGS),
        );
        // RFC 9101 §10.5 defines it as server metadata as well as client
        // metadata; no server-wide requirement here (the client's
        // `require_signed_request_object` is per client), so false.
        m.insert("require_signed_request_object".into(), json!(false));
        // OIDC Discovery §3: the default is true, so say false explicitly.
        m.insert("request_uri_parameter_supported".into(), json!(false));
        // OIDC Core §5.5 (`crate::claims_request`).
        m.insert("claims_parameter_supported".into(), json!(true));
    }
    // OIDC Core §8 (`crate::subject`).
    m.insert(
        "subject_types_supported".into(),
        json!(["public", "pairwise"]),
    );
    m.insert(
        "id_token_signing_alg_values_supported".into(),
        json!(["RS256", "PS256", "ES256", "EdDSA"]),
    );
    if f.introspection {
        m.insert(
            "introspection_endpoint".into(),
            json!(core.endpoint(paths::INTROSPECT)),
        );
        m.insert(
            "introspection_endpoint_auth_methods_supported".into(),
            json!(AUTH_METHODS),
        );
        m.insert(
            "introspection_endpoint_auth_signing_alg_values_supported".into(),
            json!(CLIENT_SIGNING_ALGS),
        );
    }
    if f.revocation {
        m.insert(
            "revocation_endpoint".into(),
            json!(core.endpoint(paths::REVOKE)),
        );
        m.insert(
            "revocation_endpoint_auth_methods_supported".into(),
            json!(AUTH_METHODS),
        );
        m.insert(
            "revocation_endpoint_auth_signing_alg_values_supported".into(),
            json!(CLIENT_SIGNING_ALGS),
        );
    }
    Value::Object(m)
}
