//! device.rs and grant/device_code.rs: RFC 8628 with a fixed clock — the
//! polling answers of §3.5 (`authorization_pending`, `slow_down` and its
//! lasting interval, `expired_token`, `access_denied`), the approval's
//! one-time redemption, and the user code of §6.1.

use frontdesk_core::device::{self, DeviceAuthorizationResponse};
use frontdesk_core::error::ErrorCode;
use frontdesk_core::model::{ClientId, GrantType};
use frontdesk_core::store::Store;

use crate::support::*;

/// One thing that happens to a device request created at NOW.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// The device polls this many seconds after the request.
    Poll(i64),
    /// A client other than the one it was issued to polls with its code.
    PollAsOther(i64),
    /// alice (signed in at NOW) approves / declines.
    Approve(i64),
    Deny(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Tokens,
    Error(ErrorCode),
    /// What an approval or a refusal returned (`true`: it decided).
    Decided(bool),
}

struct Case {
    description: &'static str,
    steps: &'static [(Step, Expect)],
}

use Expect::{Decided, Error as Fails, Tokens};
use Step::{Approve, Deny, Poll, PollAsOther};

const PENDING: Expect = Fails(ErrorCode::AuthorizationPending);
const SLOW_DOWN: Expect = Fails(ErrorCode::SlowDown);

/// The device client: `app` with the device grant.
async fn device_env() -> Env {
    let env = env_with(|c| c.grant_types.push(GrantType::DeviceCode)).await;
    let mut third = client(&env.core, "tv");
    third.grant_types.push(GrantType::DeviceCode);
    env.db.create_client(&third).await.unwrap();
    env
}

async fn start(env: &Env, scope: &str) -> DeviceAuthorizationResponse {
    let app = env
        .db
        .client(&ClientId("app".to_owned()))
        .await
        .unwrap()
        .unwrap();
    device::authorize(&env.core, &env.db, &app, &params(&[("scope", scope)]), NOW)
        .await
        .unwrap()
}

async fn poll_as(
    env: &Env,
    client_id: &str,
    device_code: &str,
    at: i64,
) -> Result<frontdesk_core::access_token::TokenResponse, frontdesk_core::error::Error> {
    token_as(
        env,
        basic(client_id, SECRET),
        &[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device_code),
        ],
        NOW + at,
    )
    .await
}

#[tokio::test]
async fn polling_a_device_request() {
    let cases = [
        Case {
            description: "the first poll is pending",
            steps: &[(Poll(0), PENDING)],
        },
        Case {
            description: "a poll one interval after the last is pending",
            steps: &[(Poll(0), PENDING), (Poll(5), PENDING), (Poll(10), PENDING)],
        },
        Case {
            description: "sooner than the interval: slow_down, and the interval grows by 5 for good",
            steps: &[
                (Poll(0), PENDING),
                (Poll(4), SLOW_DOWN),
                // 10 s now: 13 − 4 = 9 is too soon again, and it grows to 15.
                (Poll(13), SLOW_DOWN),
                (Poll(27), SLOW_DOWN),
                // 27 + 20 (the interval after three slow_downs).
                (Poll(47), PENDING),
            ],
        },
        Case {
            description: "one second before the code expires: pending",
            steps: &[(Poll(599), PENDING)],
        },
        Case {
            description: "the instant it expires (device_code_ttl): expired_token",
            steps: &[(Poll(600), Fails(ErrorCode::ExpiredToken))],
        },
        Case {
            description: "approved: tokens, whatever the interval",
            steps: &[
                (Poll(0), PENDING),
                (Approve(1), Decided(true)),
                (Poll(2), Tokens),
            ],
        },
        Case {
            description: "a second redemption after the tokens is a replay",
            steps: &[
                (Approve(0), Decided(true)),
                (Poll(5), Tokens),
                (Poll(10), Fails(ErrorCode::InvalidGrant)),
            ],
        },
        Case {
            description: "declined: access_denied, on every poll",
            steps: &[
                (Deny(3), Decided(true)),
                (Poll(5), Fails(ErrorCode::AccessDenied)),
                (Poll(10), Fails(ErrorCode::AccessDenied)),
            ],
        },
        Case {
            description: "decided once: a later decision changes nothing",
            steps: &[
                (Approve(0), Decided(true)),
                (Deny(1), Decided(false)),
                (Approve(2), Decided(false)),
                (Poll(5), Tokens),
            ],
        },
        Case {
            description: "an approval after expiry does not count",
            steps: &[
                (Approve(600), Decided(false)),
                (Poll(605), Fails(ErrorCode::ExpiredToken)),
            ],
        },
        Case {
            description: "approved just before expiry: redeemable one interval plus code_ttl later",
            steps: &[(Approve(599), Decided(true)), (Poll(599 + 5 + 59), Tokens)],
        },
        Case {
            description: "approved, but not redeemed within an interval plus code_ttl",
            steps: &[
                (Approve(0), Decided(true)),
                (Poll(5 + CODE_TTL), Fails(ErrorCode::InvalidGrant)),
            ],
        },
        Case {
            description: "another client's device code, pending or approved",
            steps: &[
                (PollAsOther(0), Fails(ErrorCode::InvalidGrant)),
                (Approve(1), Decided(true)),
                (PollAsOther(2), Fails(ErrorCode::InvalidGrant)),
                (Poll(3), Tokens),
            ],
        },
    ];
    for case in cases {
        let env = device_env().await;
        let started = start(&env, "openid offline_access api:read").await;
        let session = sign_in(&env, NOW).await;
        for (i, (step, expect)) in case.steps.iter().enumerate() {
            let got = match *step {
                Poll(at) => match poll_as(&env, "app", &started.device_code, at).await {
                    Ok(_) => Tokens,
                    Err(e) => Fails(code_of::<()>(Err(e))),
                },
                PollAsOther(at) => match poll_as(&env, "tv", &started.device_code, at).await {
                    Ok(_) => Tokens,
                    Err(e) => Fails(code_of::<()>(Err(e))),
                },
                Approve(at) | Deny(at) => {
                    // What the page finds for the typed code, at that time.
                    let found = device::pending(&env.core, &env.db, &started.user_code, NOW + at)
                        .await
                        .unwrap();
                    match found {
                        None => Decided(false),
                        Some(p) => Decided(if matches!(step, Approve(_)) {
                            device::approve(&env.core, &env.db, &p, &session, NOW + at)
                                .await
                                .unwrap()
                        } else {
                            device::deny(&env.db, &p, &session, NOW + at).await.unwrap()
                        }),
                    }
                }
            };
            assert_eq!(got, *expect, "{} (step {i}: {step:?})", case.description);
        }
    }
}

#[tokio::test]
async fn slow_down_names_the_new_interval() {
    let env = device_env().await;
    let started = start(&env, "openid").await;
    assert!(poll_as(&env, "app", &started.device_code, 0).await.is_err());
    let Err(frontdesk_core::error::Error::OAuth(e)) =
        poll_as(&env, "app", &started.device_code, 1).await
    else {
        panic!("expected slow_down");
    };
    assert_eq!(e.code, ErrorCode::SlowDown);
    assert_eq!(e.description, "poll at most every 10 seconds");
}

#[tokio::test]
async fn the_tokens_of_an_approval() {
    let env = device_env().await;
    let started = start(&env, "openid offline_access api:read").await;
    let session = sign_in(&env, NOW).await;
    let p = device::pending(&env.core, &env.db, &started.user_code, NOW + 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.client.client_id.as_str(), "app");
    assert_eq!(p.scope().to_string(), "openid offline_access api:read");
    assert!(
        device::approve(&env.core, &env.db, &p, &session, NOW + 1)
            .await
            .unwrap()
    );
    // Decided: the code finds nothing any more.
    assert!(
        device::pending(&env.core, &env.db, &started.user_code, NOW + 2)
            .await
            .unwrap()
            .is_none()
    );
    let t = poll_as(&env, "app", &started.device_code, 6).await.unwrap();
    assert_eq!(t.scope, "openid offline_access api:read");
    let id = claims(t.id_token.as_deref().unwrap());
    assert_eq!(id["sub"], "sub-alice");
    assert_eq!(id["aud"], "app");
    assert_eq!(id["sid"], session.sid.as_str());
    assert!(id.get("nonce").is_none());
    let at = claims(&t.access_token);
    assert_eq!(at["aud"], serde_json::json!([API, ISSUER]));
    // The refresh token works, and a replay of the device code revokes it.
    let rt = t.refresh_token.clone().unwrap();
    let again = refresh(&env, &rt, NOW + 7).await.unwrap();
    assert!(poll_as(&env, "app", &started.device_code, 8).await.is_err());
    let rt2 = again.refresh_token.unwrap();
    assert_eq!(
        code_of(refresh(&env, &rt2, NOW + 9).await),
        ErrorCode::InvalidGrant
    );
}

#[tokio::test]
async fn the_device_authorization_response() {
    let env = device_env().await;
    let r = start(&env, "openid profile").await;
    assert_eq!(r.verification_uri, format!("{ISSUER}/device"));
    assert_eq!(
        r.verification_uri_complete,
        format!("{ISSUER}/device?user_code={}", r.user_code)
    );
    assert_eq!((r.expires_in, r.interval), (600, 5));
    assert_eq!(r.user_code.len(), 9);
    assert_eq!(&r.user_code[4..5], "-");
    assert!(r.device_code.len() >= 43);
    let normalised = device::normalize_user_code(&r.user_code).unwrap();
    assert!(
        normalised
            .bytes()
            .all(|b| device::USER_CODE_ALPHABET.contains(&b))
    );
    // Typed in lower case with spaces, it is the same code.
    let typed = format!(" {} ", r.user_code.to_lowercase().replace('-', " "));
    assert!(
        device::pending(&env.core, &env.db, &typed, NOW)
            .await
            .unwrap()
            .is_some()
    );
}

/// (what, client, form, expected error).
type RefusedCase<'a> = (
    &'a str,
    &'a frontdesk_core::model::Client,
    &'a [(&'a str, &'a str)],
    ErrorCode,
);

#[tokio::test]
async fn refused_device_requests() {
    let env = device_env().await;
    let app = env
        .db
        .client(&ClientId("app".to_owned()))
        .await
        .unwrap()
        .unwrap();
    let other = env
        .db
        .client(&ClientId("other".to_owned()))
        .await
        .unwrap()
        .unwrap();
    let cases: [RefusedCase; 5] = [
        (
            "no scope (there is no default, RFC 6749 §3.3)",
            &app,
            &[],
            ErrorCode::InvalidScope,
        ),
        (
            "a client without the device grant",
            &other,
            &[("scope", "openid")],
            ErrorCode::UnauthorizedClient,
        ),
        (
            "only scopes the client may not have",
            &app,
            &[("scope", "admin")],
            ErrorCode::InvalidScope,
        ),
        (
            "a resource the client may not have",
            &app,
            &[
                ("scope", "openid"),
                ("resource", "https://elsewhere.example"),
            ],
            ErrorCode::InvalidTarget,
        ),
        (
            "a malformed resource",
            &app,
            &[("scope", "openid"), ("resource", "not a uri")],
            ErrorCode::InvalidTarget,
        ),
    ];
    for (description, client, form, expect) in cases {
        let got = device::authorize(&env.core, &env.db, client, &params(form), NOW).await;
        assert_eq!(code_of(got), expect, "{description}");
    }
}

#[test]
fn user_codes() {
    let cases = [
        ("BCDF-GHJK", Some("BCDFGHJK")),
        ("bcdfghjk", Some("BCDFGHJK")),
        ("bcdf ghjk", Some("BCDFGHJK")),
        ("BCDF-GHJ", None),
        ("BCDF-GHJKL", None),
        // Vowels and digits are not in the alphabet.
        ("BCDF-GHJA", None),
        ("BCDF-GHJ0", None),
        ("", None),
    ];
    for (typed, expect) in cases {
        assert_eq!(
            device::normalize_user_code(typed).as_deref(),
            expect,
            "{typed:?}"
        );
    }
    let mut seen = std::collections::HashSet::new();
    for _ in 0..200 {
        let c = device::new_user_code().unwrap();
        assert_eq!(c.len(), device::USER_CODE_LEN);
        assert!(device::normalize_user_code(&c).as_deref() == Some(c.as_str()));
        seen.extend(c.bytes());
    }
    // 1,600 letters drawn: every one of the 20 turns up.
    assert_eq!(seen.len(), 20);
}
