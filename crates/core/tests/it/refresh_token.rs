//! grant/refresh_token.rs: RFC 6749 §6 with rotation (RFC 9700 §4.14.2),
//! the idle lifetime and the retry grace window, all driven by `now`.

use frontdesk_core::error::ErrorCode;

use crate::support::*;

/// One refresh of a token issued at NOW (scope `openid offline_access
/// api:read`), `after` seconds later, with extra form fields.
struct Case {
    description: &'static str,
    setup: (i64, &'static [(&'static str, &'static str)]),
    expect: Result<&'static str, ErrorCode>,
}

#[tokio::test]
async fn refreshing() {
    let cases = [
        Case {
            description: "a fresh refresh token",
            setup: (10, &[]),
            expect: Ok("openid offline_access api:read"),
        },
        Case {
            description: "one second before the idle lifetime ends",
            setup: (REFRESH_IDLE_TTL - 1, &[]),
            expect: Ok("openid offline_access api:read"),
        },
        Case {
            description: "unused for the whole idle lifetime",
            setup: (REFRESH_IDLE_TTL, &[]),
            expect: Err(ErrorCode::InvalidGrant),
        },
        Case {
            description: "a narrower scope",
            setup: (10, &[("scope", "api:read")]),
            expect: Ok("api:read"),
        },
        Case {
            description: "a scope never granted",
            setup: (10, &[("scope", "api:read api:write")]),
            expect: Err(ErrorCode::InvalidScope),
        },
        Case {
            description: "a resource the grant covered",
            setup: (10, &[("resource", API)]),
            expect: Ok("openid offline_access api:read"),
        },
        Case {
            description: "a resource outside the grant",
            setup: (10, &[("resource", "https://elsewhere.example")]),
            expect: Err(ErrorCode::InvalidTarget),
        },
    ];
    for case in cases {
        let env = env().await;
        let first = tokens(&env, "openid offline_access api:read", NOW).await;
        let rt = first.refresh_token.unwrap();
        let (after, extra) = case.setup;
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", rt.as_str()),
        ];
        form.extend_from_slice(extra);
        let got = token(&env, &form, NOW + after).await;
        match (case.expect, got) {
            (Ok(scope), Ok(t)) => {
                assert_eq!(t.scope, scope, "{}", case.description);
                let next = t.refresh_token.unwrap();
                assert_ne!(next, rt, "{}: rotated", case.description);
                assert_eq!(t.expires_in, ACCESS_TTL, "{}", case.description);
                assert_eq!(
                    claims(&t.access_token)["iat"],
                    NOW + after,
                    "{}",
                    case.description
                );
                // The successor's idle lifetime starts at this refresh.
                let at = NOW + after + REFRESH_IDLE_TTL;
                assert!(
                    refresh(&env, &next, at - 1).await.is_ok(),
                    "{}",
                    case.description
                );
            }
            (Err(want), got) => assert_eq!(code_of(got), want, "{}", case.description),
            (Ok(_), Err(e)) => panic!("{}: {e:?}", case.description),
        }
    }
}

#[tokio::test]
async fn the_successor_dies_after_its_own_idle_lifetime() {
    let env = env().await;
    let rt = tokens(&env, "openid offline_access", NOW)
        .await
        .refresh_token
        .unwrap();
    let next = refresh(&env, &rt, NOW + 500)
        .await
        .unwrap()
        .refresh_token
        .unwrap();
    assert_eq!(
        code_of(refresh(&env, &next, NOW + 500 + REFRESH_IDLE_TTL).await),
        ErrorCode::InvalidGrant
    );
}

/// The grant's own lifetime (the client's refresh_token_ttl) caps every
/// successor, however often it is refreshed.
#[tokio::test]
async fn no_refresh_outlives_the_grant() {
    let env = env_with(|c| c.refresh_token_ttl = 1500).await;
    let mut rt = tokens(&env, "openid offline_access", NOW)
        .await
        .refresh_token
        .unwrap();
    for at in [NOW + 600, NOW + 1200] {
        rt = refresh(&env, &rt, at).await.unwrap().refresh_token.unwrap();
    }
    assert_eq!(
        code_of(refresh(&env, &rt, NOW + 1500).await),
        ErrorCode::InvalidGrant,
        "refreshed 300 s ago, but the grant ended"
    );
}

/// A retry of the same old token within the grace window gets the same
/// successor; after it, the retry is a replay and revokes the family.
#[tokio::test]
async fn retry_grace_and_replay() {
    struct Case {
        description: &'static str,
        setup: i64,
        expect: Result<(), ErrorCode>,
    }
    let cases = [
        Case {
            description: "a retry one second later",
            setup: 1,
            expect: Ok(()),
        },
        Case {
            description: "a retry long after the grace window",
            setup: REFRESH_GRACE + 10,
            expect: Err(ErrorCode::InvalidGrant),
        },
    ];
    for case in cases {
        let env = env().await;
        let rt = tokens(&env, "openid offline_access", NOW)
            .await
            .refresh_token
            .unwrap();
        let first = refresh(&env, &rt, NOW + 10).await.unwrap();
        let successor = first.refresh_token.clone().unwrap();
        let retry = refresh(&env, &rt, NOW + 10 + case.setup).await;
        match case.expect {
            Ok(()) => {
                let retry = retry.unwrap();
                assert_eq!(
                    retry.refresh_token.as_deref(),
                    Some(successor.as_str()),
                    "{}: same successor",
                    case.description
                );
                // ECDSA signatures differ per signing; the claims do not.
                assert_eq!(
                    claims(&retry.access_token),
                    claims(&first.access_token),
                    "{}: the same token (jti, iat, exp), minted at the first rotation",
                    case.description
                );
                assert_eq!(
                    retry.expires_in,
                    ACCESS_TTL - case.setup,
                    "{}: its remaining lifetime",
                    case.description
                );
                assert!(refresh(&env, &successor, NOW + 20).await.is_ok());
            }
            Err(want) => {
                assert_eq!(code_of(retry), want, "{}", case.description);
                assert_eq!(
                    code_of(refresh(&env, &successor, NOW + 30).await),
                    ErrorCode::InvalidGrant,
                    "{}: the replay revoked the family",
                    case.description
                );
            }
        }
    }
}

#[tokio::test]
async fn bound_to_its_client_and_unknown_tokens() {
    let env = env().await;
    let rt = tokens(&env, "openid offline_access", NOW)
        .await
        .refresh_token
        .unwrap();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt.as_str()),
    ];
    assert_eq!(
        code_of(token_as(&env, basic("other", SECRET), &form, NOW + 1).await),
        ErrorCode::InvalidGrant
    );
    assert!(
        refresh(&env, &rt, NOW + 2).await.is_ok(),
        "another client's attempt did not burn it"
    );
    assert_eq!(
        code_of(refresh(&env, "never-issued", NOW).await),
        ErrorCode::InvalidGrant
    );
    assert_eq!(
        code_of(token(&env, &[("grant_type", "refresh_token")], NOW).await),
        ErrorCode::InvalidRequest
    );
}

#[tokio::test]
async fn a_disabled_user_cannot_refresh() {
    let env = env().await;
    let rt = tokens(&env, "openid offline_access", NOW)
        .await
        .refresh_token
        .unwrap();
    use frontdesk_core::store::Store;
    env.db
        .set_user_disabled("sub-alice", true, NOW + 5)
        .await
        .unwrap();
    assert_eq!(
        code_of(refresh(&env, &rt, NOW + 10).await),
        ErrorCode::InvalidGrant
    );
}

/// A reuse outside the grace window is reported for the audit trail with
/// the revoked grant, its user and the client; a retry inside it is not.
#[tokio::test]
async fn a_reused_refresh_token_is_reported_as_an_incident() {
    use frontdesk_core::audit::Incident;
    use frontdesk_core::error::Error;
    use frontdesk_core::store::Store;
    let env = env().await;
    let rt = tokens(&env, "openid offline_access", NOW)
        .await
        .refresh_token
        .unwrap();
    refresh(&env, &rt, NOW + 10).await.unwrap();
    assert!(refresh(&env, &rt, NOW + 11).await.is_ok(), "a retry");
    let Err(Error::OAuth(o)) = refresh(&env, &rt, NOW + 10 + REFRESH_GRACE).await else {
        panic!("a reuse fails");
    };
    match o.incident.as_deref() {
        Some(Incident::RefreshReuse {
            grant_id,
            sub,
            client_id,
        }) => {
            assert_eq!(sub, "sub-alice");
            assert_eq!(client_id.as_str(), "app");
            assert!(
                env.db
                    .grant(grant_id)
                    .await
                    .unwrap()
                    .unwrap()
                    .revoked_at
                    .is_some()
            );
        }
        other => panic!("{other:?}"),
    }
}
