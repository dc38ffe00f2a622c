//! The FAPI 2.0 client profile (`profile = "fapi2"`): the registration
//! rules of `client::validate_fapi2` through `manage::build_client`, and
//! the request-time answers on `Client` the endpoints consult.

use frontdesk_core::manage::{ClientSpec, build_client};
use frontdesk_core::model::{AuthMethod, ClientProfile, FAPI2_MAX_CODE_TTL};
use frontdesk_core::secret::Pepper;
use serde_json::json;

use crate::support::*;

fn spec() -> ClientSpec {
    let (key, _) = frontdesk_jose::SigningKey::generate(frontdesk_jose::Algorithm::ES256).unwrap();
    ClientSpec {
        client_name: "Bank app".into(),
        redirect_uris: vec!["https://bank.example/cb".into()],
        token_endpoint_auth_method: Some(AuthMethod::PrivateKeyJwt),
        jwks: Some(json!({"keys": [key.public_jwk()]})),
        profile: Some(ClientProfile::Fapi2),
        ..ClientSpec::default()
    }
}

#[test]
fn registration_rules() {
    let pepper = Pepper::new(&[1u8; 32]);
    let build = |s: ClientSpec| {
        build_client(s, &pepper, NOW)
            .map(|n| n.client)
            .map_err(|e| e.to_string())
    };
    let rs256 = |name: &str| {
        Err(format!(
            "profile fapi2 allows PS256, ES256 or EdDSA only (FAPI 2.0 §5.4.1): set {name} to one of them"
        ))
    };
    let cases: Vec<(&str, ClientSpec, Result<(), String>)> = vec![
        ("private_key_jwt with keys, https redirect", spec(), Ok(())),
        (
            "loopback redirect (RFC 8252 §7.3, FAPI 2.0 §5.3.2.2 item 5)",
            ClientSpec { redirect_uris: vec!["http://127.0.0.1/cb".into()], ..spec() },
            Ok(()),
        ),
        (
            "a client secret",
            ClientSpec { token_endpoint_auth_method: Some(AuthMethod::ClientSecretBasic), jwks: None, ..spec() },
            Err("profile fapi2 needs token_endpoint_auth_method private_key_jwt (FAPI 2.0 §5.3.2.1)".into()),
        ),
        (
            "a public client",
            ClientSpec { token_endpoint_auth_method: Some(AuthMethod::None), jwks: None, ..spec() },
            Err("profile fapi2 needs token_endpoint_auth_method private_key_jwt (FAPI 2.0 §5.3.2.1)".into()),
        ),
        (
            "RS256 ID tokens",
            ClientSpec { id_token_signed_response_alg: Some("RS256".into()), ..spec() },
            rs256("id_token_signed_response_alg"),
        ),
        (
            "RS256 assertions",
            ClientSpec { token_endpoint_auth_signing_alg: Some("RS256".into()), ..spec() },
            rs256("token_endpoint_auth_signing_alg"),
        ),
        (
            "RS256 request objects",
            ClientSpec { request_object_signing_alg: Some("RS256".into()), ..spec() },
            rs256("request_object_signing_alg"),
        ),
        (
            "no PKCE",
            ClientSpec { require_pkce: Some(false), ..spec() },
            Err("a FAPI 2.0 client always sends a PKCE challenge (FAPI 2.0 §5.3.2.2)".into()),
        ),
    ];
    for (description, spec, expect) in cases {
        assert_eq!(build(spec).map(|_| ()), expect, "{description}");
    }
    // With no ID-token algorithm chosen, a FAPI 2.0 client gets ES256, not
    // the server's RS256.
    assert_eq!(
        build(spec())
            .unwrap()
            .id_token_signed_response_alg
            .as_deref(),
        Some("ES256")
    );
}

#[tokio::test]
async fn what_the_endpoints_ask_the_client() {
    let env = env().await;
    let plain = client(&env.core, "plain");
    let mut fapi = client(&env.core, "fapi");
    fapi.profile = Some(ClientProfile::Fapi2);
    // (question, plain client, FAPI 2.0 client)
    assert_eq!(
        (plain.requires_par(), fapi.requires_par()),
        (false, true),
        "PAR (§5.3.2.2 item 2)"
    );
    assert_eq!(
        (plain.requires_dpop(), fapi.requires_dpop()),
        (false, true),
        "sender-constrained (§5.3.2.1 item 4)"
    );
    assert_eq!(
        (plain.code_ttl(600), fapi.code_ttl(600)),
        (600, FAPI2_MAX_CODE_TTL),
        "60 s codes (§5.3.2.2 item 9)"
    );
    assert_eq!(
        (plain.code_ttl(30), fapi.code_ttl(30)),
        (30, 30),
        "a shorter server setting stays"
    );
    assert_eq!(
        (
            plain.rotates_refresh_tokens(),
            fapi.rotates_refresh_tokens()
        ),
        (true, false),
        "no refresh token rotation (§5.3.2.1)"
    );
    assert_eq!(
        (plain.may_sign_with("RS256"), fapi.may_sign_with("RS256")),
        (true, false),
        "§5.4.1"
    );
    assert!(
        fapi.may_sign_with("PS256") && fapi.may_sign_with("ES256") && fapi.may_sign_with("EdDSA")
    );
}
