//! Authorization server metadata: OpenID Connect Discovery 1.0 §3 and
//! RFC 8414 §2, built from the same [`Features`] that mounts the routes.

use serde_json::{Map, Value, json};

use crate::{Core, Features, paths};

/// Client authentication methods we accept at back-channel endpoints.
const AUTH_METHODS: [&str; 2] = ["client_secret_basic", "client_secret_post"];

/// The metadata document. Both well-known URLs serve the same document.
pub fn metadata(core: &Core) -> Value {
    let f: Features = core.features;
    let mut m = Map::new();
    m.insert("issuer".into(), json!(core.settings.issuer));
    m.insert("jwks_uri".into(), json!(core.endpoint(paths::JWKS)));
    if f.token_endpoint() {
        m.insert("token_endpoint".into(), json!(core.endpoint(paths::TOKEN)));
        m.insert(
            "token_endpoint_auth_methods_supported".into(),
            json!(AUTH_METHODS),
        );
    }
    let mut grants = Vec::new();
    if f.client_credentials {
        grants.push("client_credentials");
    }
    m.insert("grant_types_supported".into(), json!(grants));
    // No authorization endpoint is offered yet, so no response type works.
    m.insert("response_types_supported".into(), json!([] as [&str; 0]));
    m.insert("subject_types_supported".into(), json!(["public"]));
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
    }
    Value::Object(m)
}
