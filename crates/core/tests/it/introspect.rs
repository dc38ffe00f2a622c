//! introspect.rs (RFC 7662): a token is active until its `exp`, with no
//! leeway (the leeway is for clocks elsewhere, not for our own answer).

use frontdesk_core::introspect::introspect;
use frontdesk_core::model::AccessTokenFormat;

use crate::support::*;

/// The resource server asking: the confidential client `other`.
async fn caller(env: &Env) -> frontdesk_core::model::Client {
    use frontdesk_core::store::Store;
    env.db
        .client(&frontdesk_core::model::ClientId("other".to_owned()))
        .await
        .unwrap()
        .unwrap()
}

struct Case {
    description: &'static str,
    setup: (AccessTokenFormat, i64),
    expect: bool,
}

#[tokio::test]
async fn active_until_exp() {
    let cases = [
        Case {
            description: "a JWT one second before exp",
            setup: (AccessTokenFormat::Jwt, ACCESS_TTL - 1),
            expect: true,
        },
        Case {
            description: "a JWT at exp, within the clock leeway",
            setup: (AccessTokenFormat::Jwt, ACCESS_TTL),
            expect: false,
        },
        Case {
            description: "an opaque token one second before exp",
            setup: (AccessTokenFormat::Opaque, ACCESS_TTL - 1),
            expect: true,
        },
        Case {
            description: "an opaque token at exp",
            setup: (AccessTokenFormat::Opaque, ACCESS_TTL),
            expect: false,
        },
    ];
    for case in cases {
        let (format, after) = case.setup;
        let env = env_with(|c| c.access_token_format = format).await;
        let t = token(&env, &[("grant_type", "client_credentials")], NOW)
            .await
            .unwrap();
        let info = introspect(
            &env.core,
            &env.db,
            &env.keys,
            &caller(&env).await,
            &t.access_token,
            NOW + after,
        )
        .await
        .unwrap();
        assert_eq!(info.active, case.expect, "{}", case.description);
        if case.expect {
            assert_eq!(info.exp, Some(NOW + ACCESS_TTL), "{}", case.description);
        }
    }
}

/// A refresh token introspects as active until its idle expiry.
#[tokio::test]
async fn refresh_tokens_until_idle_expiry() {
    let env = env().await;
    let rt = tokens(&env, "openid offline_access", NOW)
        .await
        .refresh_token
        .unwrap();
    for (after, active) in [(REFRESH_IDLE_TTL - 1, true), (REFRESH_IDLE_TTL, false)] {
        let info = introspect(
            &env.core,
            &env.db,
            &env.keys,
            &caller(&env).await,
            &rt,
            NOW + after,
        )
        .await
        .unwrap();
        assert_eq!(info.active, active, "{after} s after issue");
    }
}
