#![allow(clippy::unwrap_used)]
use super::*;
use crate::model::{AccessTokenFormat, AuthMethod};

fn client(uris: &[&str]) -> Client {
    Client {
        client_id: ClientId("c".into()),
        client_name: "C".into(),
        redirect_uris: uris.iter().map(|s| s.to_string()).collect(),
        grant_types: vec![GrantType::AuthorizationCode],
        response_types: vec!["code".into()],
        scope: Scope::parse("openid").unwrap(),
        token_endpoint_auth_method: AuthMethod::None,
        audience: vec![],
        access_token_format: AccessTokenFormat::Jwt,
        first_party: false,
        post_logout_redirect_uris: vec![],
        id_token_signed_response_alg: None,
        always_issue_refresh_token: false,
        refresh_grace_secs: None,
        require_mfa: None,
        require_pushed_authorization_requests: false,
        jwks: None,
        jwks_uri: None,
        token_endpoint_auth_signing_alg: None,
        request_object_signing_alg: None,
        require_signed_request_object: false,
        require_pkce: true,
        allowed_upstreams: None,
        local_login: true,
        required_groups: Vec::new(),
        released_groups: None,
        subject_type: Default::default(),
        sector_identifier_uri: None,
        logo_uri: None,
        client_uri: None,
        policy_uri: None,
        tos_uri: None,
        profile: None,
        access_token_ttl: 60,
        refresh_token_ttl: 60,
        secrets: vec![],
        created_at: 0,
        updated_at: 0,
        dpop_bound_access_tokens: false,
        token_exchange: None,
    }
}

/// SECURITY.md R1: only the byte-identical string matches.
#[test]
fn r1_exact_redirect_uri_matching() {
    let c = client(&["https://app.example.com/cb"]);
    assert!(match_redirect_uri(&c, "https://app.example.com/cb").is_some());
    for bad in [
        "https://app.example.com/cb/extra",
        "https://app.example.com/cb/..;/",
        "https://app.example.com/%2e%2e/cb",
        "https://app.example.com/CB",
        "https://app.example.com/cb/",
        "https://app.example.com/cb?",
        "https://app.example.com/cb?x=1",
        "https://app.example.com/cb#f",
        "http://app.example.com/cb",
        "https://APP.example.com/cb",
        "https://a@evil@app.example.com/cb",
        "https://app.example.com:443/cb",
        "https://аpp.example.com/cb",
    ] {
        assert!(match_redirect_uri(&c, bad).is_none(), "{bad}");
    }
}

/// SECURITY.md R2: loopback IP literals accept any port, nothing else varies.
#[test]
fn r2_loopback_any_port() {
    let c = client(&["http://127.0.0.1/cb", "http://[::1]/cb"]);
    for ok in [
        "http://127.0.0.1/cb",
        "http://127.0.0.1:51004/cb",
        "http://[::1]:8080/cb",
    ] {
        assert!(match_redirect_uri(&c, ok).is_some(), "{ok}");
    }
    for bad in [
        "http://127.0.0.1:51004/other",
        "http://127.0.0.1:51004/cb?x",
        "http://127.0.0.1.evil.com/cb",
        "http://127.0.0.1:/cb",
        "http://127.0.0.1:80a/cb",
        "http://localhost:8080/cb",
        "http://127a0b0c1/cb",
        "https://127.0.0.1:8080/cb",
    ] {
        assert!(match_redirect_uri(&c, bad).is_none(), "{bad}");
    }
}

/// Found by fuzzing (fuzz/ F4): `http://127.0.0.1:66531` matched a
/// registered `http://127.0.0.1`. No URL parser accepts that port, so the
/// response was sent to an unparsable URI without `code`, `state` or `iss`.
#[test]
fn loopback_port_must_be_a_real_port() {
    let c = client(&["http://127.0.0.1", "http://[::1]/cb"]);
    for ok in [
        "http://127.0.0.1:65535",
        "http://127.0.0.1:0",
        "http://[::1]:1/cb",
    ] {
        let v = match_redirect_uri(&c, ok).unwrap();
        assert!(v.with_params(&[("code", "c")]).contains("code=c"), "{ok}");
    }
    for bad in [
        "http://127.0.0.1:65536",
        "http://127.0.0.1:66531",
        "http://127.0.0.1:99999",
        "http://[::1]:70000/cb",
        "http://127.0.0.1:123456",
    ] {
        assert!(match_redirect_uri(&c, bad).is_none(), "{bad}");
    }
}

#[test]
fn response_params_keep_the_registered_query() {
    let v = ValidatedRedirectUri("https://app.example.com/cb?tenant=a".into());
    assert_eq!(
        v.with_params(&[("code", "x y"), ("state", "s&t")]),
        "https://app.example.com/cb?tenant=a&code=x+y&state=s%26t"
    );
}

#[test]
fn r11_repeat_watch_counts_consecutive_values() {
    let w = RepeatWatch::default();
    let c = ClientId("c".into());
    assert_eq!(w.observe(&c, "code_challenge", "a"), 1);
    assert_eq!(w.observe(&c, "code_challenge", "a"), 2);
    assert_eq!(w.observe(&c, "nonce", "a"), 1, "kinds are counted apart");
    assert_eq!(w.observe(&c, "code_challenge", "a"), 3);
    assert_eq!(w.observe(&c, "code_challenge", "b"), 1);
    assert_eq!(
        w.observe(&ClientId("d".into()), "code_challenge", "b"),
        1,
        "clients are counted apart"
    );
}
