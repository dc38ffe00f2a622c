//! grant/client_credentials.rs: RFC 6749 §4.4, scope narrowing and RFC
//! 8707 resources; and the dispatcher's client authentication.

use frontdesk_core::error::ErrorCode;
use frontdesk_core::model::GrantType;

use crate::support::*;

struct Case {
    description: &'static str,
    setup: &'static [(&'static str, &'static str)],
    expect: Result<(&'static str, &'static str), ErrorCode>,
}

#[tokio::test]
async fn client_credentials() {
    let cases = [
        Case {
            description: "no scope: everything the client may ask for, its audience",
            setup: &[],
            expect: Ok(("openid profile offline_access api:read api:write", API)),
        },
        Case {
            description: "a narrower scope",
            setup: &[("scope", "api:read")],
            expect: Ok(("api:read", API)),
        },
        Case {
            description: "partly allowed: narrowed to the allowed part",
            setup: &[("scope", "api:read admin")],
            expect: Ok(("api:read", API)),
        },
        Case {
            description: "nothing allowed",
            setup: &[("scope", "admin")],
            expect: Err(ErrorCode::InvalidScope),
        },
        Case {
            description: "the client's resource",
            setup: &[("resource", API)],
            expect: Ok(("openid profile offline_access api:read api:write", API)),
        },
        Case {
            description: "a resource the client may not address",
            setup: &[("resource", "https://elsewhere.example")],
            expect: Err(ErrorCode::InvalidTarget),
        },
        Case {
            description: "a resource with a fragment",
            setup: &[("resource", "https://api.example#x")],
            expect: Err(ErrorCode::InvalidTarget),
        },
    ];
    for case in cases {
        let env = env().await;
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend_from_slice(case.setup);
        let got = token(&env, &form, NOW).await;
        match (case.expect, got) {
            (Ok((scope, aud)), Ok(t)) => {
                assert_eq!(t.scope, scope, "{}", case.description);
                assert!(t.refresh_token.is_none() && t.id_token.is_none());
                let c = claims(&t.access_token);
                assert_eq!(c["sub"], "app", "{}: sub is the client", case.description);
                assert_eq!(c["aud"], aud, "{}", case.description);
                assert_eq!(c["exp"], NOW + ACCESS_TTL, "{}", case.description);
            }
            (Err(want), got) => assert_eq!(code_of(got), want, "{}", case.description),
            (Ok(_), Err(e)) => panic!("{}: {e:?}", case.description),
        }
    }
}

/// The lifetime is the client's, capped by the server's max_token_ttl.
#[tokio::test]
async fn lifetime_is_capped() {
    let env = env_with(|c| c.access_token_ttl = 999_999).await;
    let t = token(&env, &[("grant_type", "client_credentials")], NOW)
        .await
        .unwrap();
    assert_eq!(t.expires_in, 3600);
    assert_eq!(claims(&t.access_token)["exp"], NOW + 3600);
}

#[tokio::test]
async fn who_may_ask() {
    let form = [("grant_type", "client_credentials")];
    let limited = env_with(|c| c.grant_types = vec![GrantType::AuthorizationCode]).await;
    assert_eq!(
        code_of(token(&limited, &form, NOW).await),
        ErrorCode::UnauthorizedClient
    );
    let env = env().await;
    assert_eq!(
        code_of(token_as(&env, basic("app", "wrong"), &form, NOW).await),
        ErrorCode::InvalidClient
    );
    assert_eq!(
        code_of(token_as(&env, basic("nobody", SECRET), &form, NOW).await),
        ErrorCode::InvalidClient
    );
    assert_eq!(
        code_of(token(&env, &[("grant_type", "password")], NOW).await),
        ErrorCode::UnsupportedGrantType
    );
    assert_eq!(
        code_of(token(&env, &[], NOW).await),
        ErrorCode::InvalidRequest
    );
}

/// A secret stops authenticating at its expiry (rotation with grace).
#[tokio::test]
async fn an_expired_secret_fails() {
    let env = env_with(|c| c.secrets[0].expires_at = Some(NOW + 100)).await;
    let form = [("grant_type", "client_credentials")];
    assert!(token(&env, &form, NOW + 99).await.is_ok());
    assert_eq!(
        code_of(token(&env, &form, NOW + 100).await),
        ErrorCode::InvalidClient
    );
}
