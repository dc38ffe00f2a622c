//! email_link.rs and registration.rs: link lifetimes, single use, the
//! forgot-password throttle, the sign-in gate of self-registered accounts.
//! Fixed `now`, real store; nothing waits.

use std::net::IpAddr;

use frontdesk_core::email_link::{self, LinkPolicy, LinkProblem, ResetRequest};
use frontdesk_core::login::{self, Checker, LoginCheck, LoginPolicy};
use frontdesk_core::model::{LinkPurpose, UserClaims};
use frontdesk_core::registration::{self, Registered, RegistrationPolicy};
use frontdesk_core::store::Store;

use crate::support::*;

const RESET_TTL: i64 = 1800;
const VERIFY_TTL: i64 = 86_400;
const WINDOW: i64 = 900;

fn policy() -> LinkPolicy {
    LinkPolicy {
        reset_ttl: RESET_TTL,
        verify_ttl: VERIFY_TTL,
        max_per_account: 2,
        max_per_ip: 4,
        window: WINDOW,
    }
}

/// alice with an address (the shared world's alice has none).
async fn with_address(env: &Env, email: &str, verified: bool) {
    let claims = UserClaims {
        email: Some(email.to_owned()),
        email_verified: verified,
        ..UserClaims::default()
    };
    assert!(
        env.db
            .update_user_claims("sub-alice", &claims, NOW - 500)
            .await
            .unwrap()
    );
}

/// Where a link issued at NOW is used, and what happens.
struct Case {
    description: &'static str,
    purpose: LinkPurpose,
    /// Seconds after NOW the link is checked and then used.
    at: i64,
    /// Used once before (at NOW).
    used_before: bool,
    expect: Result<(), LinkProblem>,
}

#[tokio::test]
async fn link_lifetimes_and_single_use() {
    let cases = [
        Case {
            description: "a reset link just after it was sent",
            purpose: LinkPurpose::ResetPassword,
            at: 0,
            used_before: false,
            expect: Ok(()),
        },
        Case {
            description: "a reset link one second before reset_link_ttl",
            purpose: LinkPurpose::ResetPassword,
            at: RESET_TTL - 1,
            used_before: false,
            expect: Ok(()),
        },
        Case {
            description: "a reset link at reset_link_ttl",
            purpose: LinkPurpose::ResetPassword,
            at: RESET_TTL,
            used_before: false,
            expect: Err(LinkProblem::Expired),
        },
        Case {
            description: "a reset link used before",
            purpose: LinkPurpose::ResetPassword,
            at: 10,
            used_before: true,
            expect: Err(LinkProblem::AlreadyUsed),
        },
        Case {
            description: "a verification link one second before verify_link_ttl",
            purpose: LinkPurpose::VerifyEmail,
            at: VERIFY_TTL - 1,
            used_before: false,
            expect: Ok(()),
        },
        Case {
            description: "a verification link at verify_link_ttl",
            purpose: LinkPurpose::VerifyEmail,
            at: VERIFY_TTL,
            used_before: false,
            expect: Err(LinkProblem::Expired),
        },
        Case {
            description: "a verification link used before",
            purpose: LinkPurpose::VerifyEmail,
            at: 10,
            used_before: true,
            expect: Err(LinkProblem::AlreadyUsed),
        },
    ];
    for c in cases {
        let env = env().await;
        with_address(&env, "Alice@Example.com", false).await;
        let user = alice(&env).await;
        let (token, to) = email_link::issue(&env.db, &policy(), c.purpose, &user, NOW)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(to, "Alice@Example.com", "{}", c.description);
        assert_eq!(token.len(), 43, "256 bits, base64url: {}", c.description);
        let spend = async |now| match c.purpose {
            LinkPurpose::ResetPassword => {
                email_link::reset_password(&env.db, &token, "$argon2id$new", now)
                    .await
                    .unwrap()
            }
            LinkPurpose::VerifyEmail => email_link::verify_email(&env.db, &token, now)
                .await
                .unwrap(),
        };
        if c.used_before {
            spend(NOW).await.unwrap();
        }
        let now = NOW + c.at;
        let checked = email_link::check(&env.db, c.purpose, &token, now)
            .await
            .unwrap();
        assert_eq!(checked.map(|_| ()), c.expect, "check: {}", c.description);
        let used = spend(now).await;
        assert_eq!(
            used.as_ref().map(|_| ()).map_err(|p| *p),
            c.expect,
            "use: {}",
            c.description
        );
        if let Ok(u) = used {
            // Either purpose proves the address: it is verified now.
            assert!(u.claims.email_verified, "{}", c.description);
        }
        // The other purpose never accepts it.
        let other = match c.purpose {
            LinkPurpose::ResetPassword => LinkPurpose::VerifyEmail,
            LinkPurpose::VerifyEmail => LinkPurpose::ResetPassword,
        };
        assert_eq!(
            email_link::check(&env.db, other, &token, NOW)
                .await
                .unwrap()
                .map(|_| ()),
            Err(LinkProblem::Unknown),
            "{}",
            c.description
        );
    }
}

#[tokio::test]
async fn mangled_links_are_unknown_without_a_lookup_error() {
    let env = env().await;
    for token in [
        "",
        "x",
        &"a".repeat(129),
        "not-a-token-we-issued-0123456789abcdef-012",
    ] {
        for purpose in [LinkPurpose::ResetPassword, LinkPurpose::VerifyEmail] {
            assert_eq!(
                email_link::check(&env.db, purpose, token, NOW)
                    .await
                    .unwrap()
                    .map(|_| ()),
                Err(LinkProblem::Unknown),
                "{token:?}"
            );
        }
        assert_eq!(
            email_link::reset_password(&env.db, token, "$argon2id$x", NOW)
                .await
                .unwrap()
                .map(|_| ()),
            Err(LinkProblem::Unknown)
        );
        assert_eq!(
            email_link::verify_email(&env.db, token, NOW)
                .await
                .unwrap()
                .map(|_| ()),
            Err(LinkProblem::Unknown)
        );
    }
}

#[tokio::test]
async fn no_address_no_link() {
    let env = env().await;
    let user = alice(&env).await;
    assert_eq!(user.claims.email, None);
    assert!(
        email_link::issue(&env.db, &policy(), LinkPurpose::ResetPassword, &user, NOW)
            .await
            .unwrap()
            .is_none()
    );
}

/// A forgot-password request and its expected outcome.
struct Request {
    description: &'static str,
    login: &'static str,
    peer: &'static str,
    at: i64,
    expect: &'static str,
}

fn outcome(r: &ResetRequest) -> &'static str {
    match r {
        ResetRequest::Throttled => "throttled",
        ResetRequest::Send(_) => "send",
        ResetRequest::Nothing => "nothing",
    }
}

#[tokio::test]
async fn forgot_password_requests_are_throttled_per_account_and_per_address() {
    let env = env().await;
    with_address(&env, "alice@example.com", true).await;
    // max_per_account 2, max_per_ip 4, window 900 (policy()).
    let steps = [
        Request {
            description: "by username",
            login: "alice",
            peer: "192.0.2.1",
            at: 0,
            expect: "send",
        },
        Request {
            description: "by address, any case: the same account",
            login: "ALICE@example.com",
            peer: "192.0.2.2",
            at: 1,
            expect: "send",
        },
        Request {
            description: "third for the account, from a fresh address",
            login: "alice",
            peer: "192.0.2.3",
            at: 2,
            expect: "throttled",
        },
        Request {
            description: "an unknown account: no mail",
            login: "nobody",
            peer: "192.0.2.1",
            at: 3,
            expect: "nothing",
        },
        Request {
            description: "unknown accounts count too",
            login: "nobody",
            peer: "192.0.2.4",
            at: 4,
            expect: "nothing",
        },
        Request {
            description: "and get the same 429",
            login: "NOBODY",
            peer: "192.0.2.5",
            at: 5,
            expect: "throttled",
        },
        Request {
            description: "an empty login",
            login: "",
            peer: "192.0.2.1",
            at: 6,
            expect: "nothing",
        },
        Request {
            description: "fourth from 192.0.2.1",
            login: "someone",
            peer: "192.0.2.1",
            at: 7,
            expect: "nothing",
        },
        Request {
            description: "fifth from 192.0.2.1: over max_per_ip",
            login: "other",
            peer: "192.0.2.1",
            at: 8,
            expect: "throttled",
        },
        Request {
            description: "IPv6 by its /64: one /64 is one address",
            login: "a1",
            peer: "2001:db8::1",
            at: 9,
            expect: "nothing",
        },
        Request {
            description: "",
            login: "a2",
            peer: "2001:db8::2",
            at: 9,
            expect: "nothing",
        },
        Request {
            description: "",
            login: "a3",
            peer: "2001:db8::ffff:3",
            at: 9,
            expect: "nothing",
        },
        Request {
            description: "",
            login: "a4",
            peer: "2001:db8::4:4",
            at: 9,
            expect: "nothing",
        },
        Request {
            description: "fifth from the /64",
            login: "a5",
            peer: "2001:db8::5",
            at: 9,
            expect: "throttled",
        },
        Request {
            description: "the account's window has ended",
            login: "alice",
            peer: "192.0.2.9",
            at: WINDOW,
            expect: "send",
        },
    ];
    for s in steps {
        let peer: IpAddr = s.peer.parse().unwrap();
        let r = email_link::request_reset(&env.db, &policy(), s.login, peer, NOW + s.at)
            .await
            .unwrap();
        assert_eq!(
            outcome(&r),
            s.expect,
            "{} ({} from {})",
            s.description,
            s.login,
            s.peer
        );
        if let ResetRequest::Send(u) = r {
            assert_eq!(u.sub, "sub-alice");
        }
    }
}

#[tokio::test]
async fn disabled_accounts_and_accounts_without_an_address_get_no_mail() {
    let env = env().await;
    let peer: IpAddr = "192.0.2.1".parse().unwrap();
    // No address.
    let r = email_link::request_reset(&env.db, &policy(), "alice", peer, NOW)
        .await
        .unwrap();
    assert_eq!(outcome(&r), "nothing");
    with_address(&env, "alice@example.com", true).await;
    assert!(
        env.db
            .set_user_disabled("sub-alice", true, NOW)
            .await
            .unwrap()
    );
    let r = email_link::request_reset(&env.db, &policy(), "alice", peer, NOW + 1)
        .await
        .unwrap();
    assert_eq!(outcome(&r), "nothing");
}

struct Pw;

impl Checker for Pw {
    async fn verify(
        &self,
        hash: String,
        password: String,
    ) -> Result<bool, frontdesk_core::error::Error> {
        Ok(hash == format!("plain:{password}"))
    }
    async fn delay(&self, _: std::time::Duration) {}
}

fn login_policy() -> LoginPolicy {
    LoginPolicy {
        max_per_account: 3,
        max_per_ip: 50,
        window: WINDOW,
    }
}

async fn sign_in_as(env: &Env, login: &str, password: &str, at: i64) -> &'static str {
    let peer: IpAddr = "198.51.100.1".parse().unwrap();
    match login::check_password(
        &env.db,
        &login_policy(),
        &Pw,
        "plain:",
        login,
        password,
        peer,
        NOW + at,
    )
    .await
    .unwrap()
    {
        LoginCheck::Ok(_) => "ok",
        LoginCheck::Failed => "failed",
        LoginCheck::Throttled => "throttled",
        LoginCheck::Unverified(_) => "unverified",
    }
}

#[tokio::test]
async fn a_reset_sets_the_password_and_lifts_a_lockout() {
    let env = env().await;
    with_address(&env, "alice@example.com", true).await;
    assert!(
        env.db
            .set_user_password("sub-alice", "plain:old password", NOW)
            .await
            .unwrap()
    );
    for i in 0..3 {
        assert_eq!(sign_in_as(&env, "alice", "wrong", i).await, "failed");
    }
    assert_eq!(
        sign_in_as(&env, "alice", "old password", 3).await,
        "throttled"
    );
    let user = alice(&env).await;
    let (token, _) = email_link::issue(
        &env.db,
        &policy(),
        LinkPurpose::ResetPassword,
        &user,
        NOW + 4,
    )
    .await
    .unwrap()
    .unwrap();
    let u = email_link::reset_password(&env.db, &token, "plain:new password", NOW + 5)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(u.password_hash, "plain:new password");
    assert_eq!(sign_in_as(&env, "alice", "old password", 6).await, "failed");
    assert_eq!(sign_in_as(&env, "alice", "new password", 7).await, "ok");
}

#[tokio::test]
async fn self_registered_accounts_sign_in_only_once_verified() {
    let env = env().await;
    let policy_on = RegistrationPolicy {
        email_domains: vec![],
        max_per_ip: 2,
        window: WINDOW,
        verify_before_sign_in: true,
    };
    let r = registration::register(
        &env.db,
        &policy_on,
        "carol",
        "Carol@Example.com",
        "plain:carol password".into(),
        NOW,
    )
    .await
    .unwrap();
    let Registered::Created(carol) = r else {
        panic!("expected Created, got {r:?}");
    };
    assert!(carol.verify_before_sign_in);
    assert!(!carol.claims.email_verified);
    assert_eq!(carol.claims.email.as_deref(), Some("Carol@Example.com"));
    // The right password is not enough yet; a wrong one is still a failure.
    assert_eq!(
        sign_in_as(&env, "carol", "carol password", 1).await,
        "unverified"
    );
    assert_eq!(
        sign_in_as(&env, "carol@example.com", "carol password", 2).await,
        "unverified"
    );
    assert_eq!(sign_in_as(&env, "carol", "wrong", 3).await, "failed");
    let (token, _) = email_link::issue(
        &env.db,
        &policy(),
        LinkPurpose::VerifyEmail,
        &carol,
        NOW + 4,
    )
    .await
    .unwrap()
    .unwrap();
    email_link::verify_email(&env.db, &token, NOW + 5)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(sign_in_as(&env, "carol", "carol password", 6).await, "ok");

    // Without the requirement (no SMTP), the account signs in at once.
    let policy_off = RegistrationPolicy {
        verify_before_sign_in: false,
        ..policy_on.clone()
    };
    let r = registration::register(
        &env.db,
        &policy_off,
        "dave",
        "dave@example.com",
        "plain:dave password".into(),
        NOW,
    )
    .await
    .unwrap();
    assert!(matches!(r, Registered::Created(_)), "{r:?}");
    assert_eq!(sign_in_as(&env, "dave", "dave password", 7).await, "ok");
}

#[tokio::test]
async fn registering_a_taken_name_or_address() {
    let env = env().await;
    let p = RegistrationPolicy {
        max_per_ip: 2,
        window: WINDOW,
        ..RegistrationPolicy::default()
    };
    let reg = async |username: &str, email: &str| {
        registration::register(&env.db, &p, username, email, "plain:x".into(), NOW)
            .await
            .unwrap()
    };
    assert!(matches!(
        reg("carol", "carol@example.com").await,
        Registered::Created(_)
    ));
    // The username first, whatever the address: its answer never depends on it.
    assert!(matches!(
        reg("carol", "new@example.com").await,
        Registered::UsernameTaken
    ));
    assert!(matches!(
        reg("carol", "carol@example.com").await,
        Registered::UsernameTaken
    ));
    // A taken address (any case) under a new name: the neutral outcome.
    match reg("carol2", "CAROL@example.com").await {
        Registered::EmailTaken { email } => assert_eq!(email, "CAROL@example.com"),
        other => panic!("expected EmailTaken, got {other:?}"),
    }
    assert!(env.db.user_by_login("carol2").await.unwrap().is_none());
    // alice exists with no address: her name is taken.
    assert!(matches!(
        reg("alice", "alice@example.com").await,
        Registered::UsernameTaken
    ));

    // Two registrations per address and window.
    let peer: IpAddr = "203.0.113.5".parse().unwrap();
    assert!(registration::admit(&env.db, &p, peer, NOW).await.unwrap());
    assert!(
        registration::admit(&env.db, &p, peer, NOW + 1)
            .await
            .unwrap()
    );
    assert!(
        !registration::admit(&env.db, &p, peer, NOW + 2)
            .await
            .unwrap()
    );
    assert!(
        registration::admit(&env.db, &p, peer, NOW + WINDOW)
            .await
            .unwrap()
    );
}
