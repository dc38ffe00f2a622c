//! grant/authorization_code.rs: RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.6).

use frontdesk_core::error::ErrorCode;
use frontdesk_core::store::Store;

use crate::support::*;

/// What differs from a good redemption of a fresh code issued at NOW.
#[derive(Default)]
struct Setup {
    /// Seconds after issue when the code is redeemed.
    after: i64,
    redirect_uri: Option<&'static str>,
    /// `Some("")` leaves the verifier out.
    verifier: Option<&'static str>,
    code: Option<&'static str>,
    as_other_client: bool,
    disable_user: bool,
    redeem_twice: bool,
}

struct Case {
    description: &'static str,
    setup: Setup,
    expect: Result<(), ErrorCode>,
}

#[tokio::test]
async fn redeeming_a_code() {
    let cases = [
        Case {
            description: "a fresh code with its verifier",
            setup: Setup::default(),
            expect: Ok(()),
        },
        Case {
            description: "one second before the code expires",
            setup: Setup {
                after: CODE_TTL - 1,
                ..Setup::default()
            },
            expect: Ok(()),
        },
        Case {
            description: "the instant the code expires (code_ttl)",
            setup: Setup {
                after: CODE_TTL,
                ..Setup::default()
            },
            expect: Err(ErrorCode::InvalidGrant),
        },
        Case {
            description: "a redirect_uri other than the request's",
            setup: Setup {
                redirect_uri: Some("https://app.example/other"),
                ..Setup::default()
            },
            expect: Err(ErrorCode::InvalidGrant),
        },
        Case {
            description: "no code_verifier",
            setup: Setup {
                verifier: Some(""),
                ..Setup::default()
            },
            expect: Err(ErrorCode::InvalidGrant),
        },
        Case {
            description: "a well-formed but wrong code_verifier",
            setup: Setup {
                verifier: Some("wrong-verifier-0123456789-0123456789-012345"),
                ..Setup::default()
            },
            expect: Err(ErrorCode::InvalidGrant),
        },
        Case {
            description: "a malformed code_verifier (too short)",
            setup: Setup {
                verifier: Some("short"),
                ..Setup::default()
            },
            expect: Err(ErrorCode::InvalidRequest),
        },
        Case {
            description: "a code nobody issued",
            setup: Setup {
                code: Some("not-a-code"),
                ..Setup::default()
            },
            expect: Err(ErrorCode::InvalidGrant),
        },
        Case {
            description: "no code at all",
            setup: Setup {
                code: Some(""),
                ..Setup::default()
            },
            expect: Err(ErrorCode::InvalidRequest),
        },
        Case {
            description: "another client redeems it",
            setup: Setup {
                as_other_client: true,
                ..Setup::default()
            },
            expect: Err(ErrorCode::InvalidGrant),
        },
        Case {
            description: "the user was disabled in between",
            setup: Setup {
                disable_user: true,
                ..Setup::default()
            },
            expect: Err(ErrorCode::InvalidGrant),
        },
        Case {
            description: "the second redemption of one code",
            setup: Setup {
                redeem_twice: true,
                ..Setup::default()
            },
            expect: Err(ErrorCode::InvalidGrant),
        },
    ];
    for case in cases {
        let env = env().await;
        let s = &case.setup;
        let issued = authorization_code(&env, "openid offline_access", NOW).await;
        let at = NOW + s.after;
        if s.disable_user {
            env.db
                .set_user_disabled("sub-alice", true, at)
                .await
                .unwrap();
        }
        if s.redeem_twice {
            redeem(&env, &issued, at).await.unwrap();
        }
        let code = s.code.unwrap_or(&issued);
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("redirect_uri", s.redirect_uri.unwrap_or(REDIRECT)),
        ];
        if !code.is_empty() {
            form.push(("code", code));
        }
        match s.verifier.unwrap_or(VERIFIER) {
            "" => {}
            v => form.push(("code_verifier", v)),
        }
        let creds = if s.as_other_client {
            basic("other", SECRET)
        } else {
            basic("app", SECRET)
        };
        let got = token_as(&env, creds, &form, at).await;
        match (&case.expect, got) {
            (Ok(()), Ok(t)) => {
                assert_eq!(t.token_type, "Bearer", "{}", case.description);
                assert_eq!(t.expires_in, ACCESS_TTL, "{}", case.description);
                assert!(
                    t.id_token.is_some(),
                    "{}: openid → ID token",
                    case.description
                );
                assert!(
                    t.refresh_token.is_some(),
                    "{}: offline_access → refresh token",
                    case.description
                );
                let at_claims = claims(&t.access_token);
                assert_eq!(at_claims["sub"], "sub-alice", "{}", case.description);
                assert_eq!(at_claims["iat"], at, "{}", case.description);
                assert_eq!(at_claims["exp"], at + ACCESS_TTL, "{}", case.description);
                let id = claims(t.id_token.as_deref().unwrap());
                assert_eq!(id["nonce"], "n-1", "{}", case.description);
                assert_eq!(id["auth_time"], NOW, "{}", case.description);
                assert_eq!(
                    id["amr"],
                    serde_json::json!(["pwd"]),
                    "{}",
                    case.description
                );
            }
            (Err(want), got) => assert_eq!(code_of(got), *want, "{}", case.description),
            (Ok(()), Err(e)) => panic!("{}: {e:?}", case.description),
        }
    }
}

/// RFC 6749 §4.1.2: a replayed code revokes what the first redemption issued.
#[tokio::test]
async fn a_replayed_code_revokes_the_refresh_token_it_issued() {
    let env = env().await;
    let code = authorization_code(&env, "openid offline_access", NOW).await;
    let first = redeem(&env, &code, NOW).await.unwrap();
    let rt = first.refresh_token.unwrap();
    assert_eq!(
        code_of(redeem(&env, &code, NOW + 1).await),
        ErrorCode::InvalidGrant
    );
    assert_eq!(
        code_of(refresh(&env, &rt, NOW + 2).await),
        ErrorCode::InvalidGrant,
        "the grant died with the replay"
    );
}

/// No `offline_access` and no `always_issue_refresh_token`: no refresh token.
#[tokio::test]
async fn refresh_tokens_only_for_offline_access() {
    let env = env().await;
    let t = tokens(&env, "openid", NOW).await;
    assert!(t.refresh_token.is_none());
    let t = tokens(&env, "api:read", NOW).await;
    assert!(t.id_token.is_none(), "no openid, no ID token");
}

#[tokio::test]
async fn a_client_without_the_grant_type_is_unauthorized() {
    let env = env_with(|c| {
        c.grant_types = vec![frontdesk_core::model::GrantType::ClientCredentials];
        c.redirect_uris.clear();
    })
    .await;
    let got = redeem(&env, "whatever", NOW).await;
    assert_eq!(code_of(got), ErrorCode::UnauthorizedClient);
}

/// The replay is reported for the audit trail (core records nothing): the
/// grant, whose user, which client; a first redemption or an unknown code
/// reports nothing.
#[tokio::test]
async fn a_replayed_code_is_reported_as_an_incident() {
    use frontdesk_core::audit::Incident;
    use frontdesk_core::error::Error;
    let env = env().await;
    let code = authorization_code(&env, "openid", NOW).await;
    redeem(&env, &code, NOW).await.unwrap();
    let Err(Error::OAuth(o)) = redeem(&env, &code, NOW + 1).await else {
        panic!("a replay fails");
    };
    let Some(incident) = o.incident.as_deref() else {
        panic!("no incident: {o:?}");
    };
    let Incident::CodeReuse {
        grant_id,
        sub,
        client_id,
    } = incident
    else {
        panic!("{incident:?}");
    };
    assert_eq!(sub.as_deref(), Some("sub-alice"));
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
    let Err(Error::OAuth(o)) = redeem(&env, "no-such-code", NOW + 2).await else {
        panic!("an unknown code fails");
    };
    assert_eq!(o.incident, None);
}

/// `code_retry_grace` (here 3 s): the same redemption again — same client,
/// redirect URI and verifier — strictly within the window after the first
/// gets the same tokens and revokes nothing; anything else is a replay,
/// which revokes the grant. Both token formats.
#[tokio::test]
async fn a_retried_redemption_inside_the_window_gets_the_same_tokens() {
    use frontdesk_core::model::AccessTokenFormat;
    const OTHER_VERIFIER: &str = "a-different-verifier-of-forty-three-characters-long";
    struct Retry {
        description: &'static str,
        after: i64,
        client: &'static str,
        verifier: &'static str,
        same_tokens: bool,
    }
    let retries = [
        Retry {
            description: "the same request at once",
            after: 0,
            client: "app",
            verifier: VERIFIER,
            same_tokens: true,
        },
        Retry {
            description: "the same request in the last second of the window",
            after: 2,
            client: "app",
            verifier: VERIFIER,
            same_tokens: true,
        },
        Retry {
            description: "the same request when the window has closed",
            after: 3,
            client: "app",
            verifier: VERIFIER,
            same_tokens: false,
        },
        Retry {
            description: "another verifier inside the window",
            after: 0,
            client: "app",
            verifier: OTHER_VERIFIER,
            same_tokens: false,
        },
        Retry {
            description: "another client inside the window",
            after: 0,
            client: "other",
            verifier: VERIFIER,
            same_tokens: false,
        },
    ];
    for format in [AccessTokenFormat::Jwt, AccessTokenFormat::Opaque] {
        for r in &retries {
            let what = format!("{format:?}: {}", r.description);
            let mut env = env_with(|c| c.access_token_format = format).await;
            env.core.settings.code_retry_grace = 3;
            let code = authorization_code(&env, "openid offline_access", NOW).await;
            let first = redeem(&env, &code, NOW).await.unwrap();
            let form = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT),
                ("code_verifier", r.verifier),
            ];
            let again = token_as(&env, basic(r.client, SECRET), &form, NOW + r.after).await;
            let rt = first.refresh_token.clone().unwrap();
            if r.same_tokens {
                let again = again.unwrap();
                assert_eq!(again.refresh_token, first.refresh_token, "{what}");
                assert_eq!(again.expires_in, first.expires_in - r.after, "{what}");
                match format {
                    AccessTokenFormat::Opaque => {
                        assert_eq!(again.access_token, first.access_token, "{what}")
                    }
                    AccessTokenFormat::Jwt => {
                        let (a, b) = (claims(&again.access_token), claims(&first.access_token));
                        assert_eq!((&a["jti"], &a["iat"]), (&b["jti"], &b["iat"]), "{what}");
                    }
                }
                let (mut a, mut b) = (
                    claims(again.id_token.as_deref().unwrap()),
                    claims(first.id_token.as_deref().unwrap()),
                );
                if format == AccessTokenFormat::Jwt {
                    // ES256 signatures are randomised, so the JWT and its
                    // hash differ; every other claim is the same.
                    a.as_object_mut().unwrap().remove("at_hash");
                    b.as_object_mut().unwrap().remove("at_hash");
                }
                assert_eq!(a, b, "{what}: the same ID token claims");
                // Nothing was revoked: the refresh token works.
                refresh(&env, &rt, NOW + 5).await.unwrap();
            } else {
                assert_eq!(code_of(again), ErrorCode::InvalidGrant, "{what}");
                assert_eq!(
                    code_of(refresh(&env, &rt, NOW + 5).await),
                    ErrorCode::InvalidGrant,
                    "{what}: the replay revoked the grant"
                );
            }
        }
    }
}
