//! Second factors (crate::mfa) on a fixed clock: TOTP codes checked against
//! the RFC 6238 Appendix B test vectors (SHA-1, secret
//! "12345678901234567890"), each code accepted once and never one older
//! than an accepted code, ±1 step of drift, recovery codes spent once, the
//! throttle, and the step-up of a session.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use frontdesk_core::error::Error;
use frontdesk_core::login::{Checker, LoginPolicy};
use frontdesk_core::mfa::{self, Confirmation, Factor, FactorCheck};
use frontdesk_core::store::Store;

use crate::support::*;

/// RFC 6238 Appendix B: the SHA-1 seed.
const RFC_SECRET: &[u8] = b"12345678901234567890";

/// RFC 6238 Appendix B, SHA-1 rows, as 6-digit codes (the last six digits
/// of the 8-digit values in the RFC's table).
const T_59: (i64, &str) = (59, "287082");
const T_1111111109: (i64, &str) = (1_111_111_109, "081804");
const T_1111111111: (i64, &str) = (1_111_111_111, "050471");
const T_1234567890: (i64, &str) = (1_234_567_890, "005924");
const T_2000000000: (i64, &str) = (2_000_000_000, "279037");

const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));

const POLICY: LoginPolicy = LoginPolicy {
    max_per_account: 3,
    max_per_ip: 50,
    window: 900,
};

/// Checks nothing itself (no passwords here) and never waits.
struct NoWait;

impl Checker for NoWait {
    async fn verify(&self, _: String, _: String) -> Result<bool, Error> {
        Ok(false)
    }
    async fn delay(&self, _: Duration) {}
}

/// alice, enrolled with the RFC secret, confirmed at `confirmed_step`.
async fn enrolled(env: &Env, confirmed_step: i64) {
    let sealed = env.kek.seal("totp:sub-alice", RFC_SECRET).unwrap();
    assert!(
        env.db
            .put_totp_enrolment("sub-alice", &sealed, NOW)
            .await
            .unwrap()
    );
    assert!(
        env.db
            .confirm_totp("sub-alice", confirmed_step, &[], NOW)
            .await
            .unwrap()
    );
}

async fn check(env: &Env, code: &str, now: i64) -> FactorCheck {
    let user = alice(env).await;
    assert!(user.mfa_enrolled, "the store derives enrolment");
    mfa::check_second_factor(
        &env.core, &env.kek, &env.db, &POLICY, &NoWait, &user, code, PEER, now,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn rfc_6238_vectors_within_one_step_of_drift() {
    struct Case {
        description: &'static str,
        code: &'static str,
        now: i64,
        expect: FactorCheck,
    }
    let ok = FactorCheck::Ok(Factor::Totp);
    let cases = [
        Case {
            description: "T=59, at its own time",
            code: T_59.1,
            now: T_59.0,
            expect: ok.clone(),
        },
        Case {
            description: "T=1234567890's code one step later (a slow typist)",
            code: T_1234567890.1,
            now: T_1234567890.0 + 30,
            expect: ok.clone(),
        },
        Case {
            description: "T=1234567890's code two steps later",
            code: T_1234567890.1,
            now: T_1234567890.0 + 60,
            expect: FactorCheck::Failed,
        },
        Case {
            description: "T=2000000000's code one step early (a phone clock ahead)",
            code: T_2000000000.1,
            now: T_2000000000.0 - 30,
            expect: ok.clone(),
        },
        Case {
            description: "T=2000000000's code two steps early",
            code: T_2000000000.1,
            now: T_2000000000.0 - 60,
            expect: FactorCheck::Failed,
        },
        Case {
            description: "typed with spaces",
            code: "279 037",
            now: T_2000000000.0,
            expect: ok.clone(),
        },
        Case {
            description: "a wrong code",
            code: "000000",
            now: T_2000000000.0,
            expect: FactorCheck::Failed,
        },
        Case {
            description: "empty",
            code: "",
            now: T_2000000000.0,
            expect: FactorCheck::Failed,
        },
    ];
    for case in cases {
        // A fresh world each: acceptance moves `last_step`.
        let env = env().await;
        enrolled(&env, 0).await;
        assert_eq!(
            check(&env, case.code, case.now).await,
            case.expect,
            "{}",
            case.description
        );
    }
}

#[tokio::test]
async fn each_code_is_accepted_once_and_never_an_older_one() {
    let env = env().await;
    enrolled(&env, 0).await;
    let (t1, c1) = T_1111111109;
    let (t2, c2) = T_1111111111;
    assert_eq!(check(&env, c1, t1).await, FactorCheck::Ok(Factor::Totp));
    assert_eq!(
        check(&env, c1, t1).await,
        FactorCheck::Failed,
        "the same code again is a replay (RFC 6238 §5.2)"
    );
    assert_eq!(
        check(&env, c2, t2).await,
        FactorCheck::Ok(Factor::Totp),
        "the next step's code"
    );
    assert_eq!(
        check(&env, c1, t2).await,
        FactorCheck::Failed,
        "an older step's code, though within the drift window"
    );
}

#[tokio::test]
async fn recovery_codes_are_spent_once_and_any_case_works() {
    let env = env().await;
    enrolled(&env, 0).await;
    let user = alice(&env).await;
    let codes = mfa::regenerate_recovery_codes(&env.core, &env.db, &user, NOW)
        .await
        .unwrap();
    assert_eq!(codes.len(), 10);
    assert_eq!(env.db.recovery_codes_left("sub-alice").await.unwrap(), 10);
    let typed = codes[3].to_uppercase();
    assert_eq!(
        check(&env, &typed, NOW).await,
        FactorCheck::Ok(Factor::RecoveryCode)
    );
    assert_eq!(check(&env, &codes[3], NOW).await, FactorCheck::Failed);
    assert_eq!(env.db.recovery_codes_left("sub-alice").await.unwrap(), 9);
    // New codes replace every old one.
    let fresh = mfa::regenerate_recovery_codes(&env.core, &env.db, &user, NOW)
        .await
        .unwrap();
    assert_eq!(check(&env, &codes[4], NOW).await, FactorCheck::Failed);
    assert_eq!(
        check(&env, &fresh[0], NOW).await,
        FactorCheck::Ok(Factor::RecoveryCode)
    );
}

#[tokio::test]
async fn wrong_codes_are_throttled_per_account_before_checking() {
    let env = env().await;
    enrolled(&env, 0).await;
    let (t, good) = T_2000000000;
    for _ in 0..POLICY.max_per_account {
        assert_eq!(check(&env, "000000", t).await, FactorCheck::Failed);
    }
    assert_eq!(
        check(&env, good, t).await,
        FactorCheck::Throttled,
        "over the limit even the right code is not checked"
    );
    // The window ends.
    assert_eq!(
        check(&env, good, t + POLICY.window).await,
        FactorCheck::Failed,
        "{good} belongs to T={t}, not to a window later"
    );
}

#[tokio::test]
async fn enrolment_is_confirmed_by_a_code_and_gives_recovery_codes() {
    let env = env().await;
    let user = alice(&env).await;
    assert!(!user.mfa_enrolled);
    let enrolment = mfa::start_totp(&env.core, &env.kek, &env.db, &user, NOW)
        .await
        .unwrap()
        .expect("not enrolled yet");
    assert!(
        enrolment
            .otpauth_uri
            .starts_with("otpauth://totp/id.example:alice?secret="),
        "{}",
        enrolment.otpauth_uri
    );
    assert_eq!(
        mfa::pending_totp(&env.core, &env.kek, &env.db, &user)
            .await
            .unwrap(),
        Some(enrolment.clone()),
        "a reload shows the same secret"
    );
    let stored = env.db.totp_credential("sub-alice").await.unwrap().unwrap();
    assert!(
        !stored
            .secret_sealed
            .windows(8)
            .any(|w| enrolment.secret_base32.as_bytes().starts_with(w)),
        "the secret is sealed at rest"
    );
    let confirm = |code: &'static str| {
        let (env, user) = (&env, &user);
        async move {
            mfa::confirm_totp(
                &env.core, &env.kek, &env.db, &POLICY, &NoWait, user, code, PEER, NOW,
            )
            .await
            .unwrap()
        }
    };
    assert!(matches!(confirm("000000").await, Confirmation::Failed));
    assert!(!alice(&env).await.mfa_enrolled, "not before confirmation");
    // The right code needs the secret: swap in the RFC one, sealed the same way.
    let sealed = env.kek.seal("totp:sub-alice", RFC_SECRET).unwrap();
    env.db
        .put_totp_enrolment("sub-alice", &sealed, NOW)
        .await
        .unwrap();
    let at = |t: i64| {
        let (env, user) = (&env, &user);
        async move {
            mfa::confirm_totp(
                &env.core, &env.kek, &env.db, &POLICY, &NoWait, user, T_59.1, PEER, t,
            )
            .await
            .unwrap()
        }
    };
    match at(T_59.0).await {
        Confirmation::Confirmed(codes) => assert_eq!(codes.len(), 10),
        other => panic!("{other:?}"),
    }
    assert!(alice(&env).await.mfa_enrolled);
    assert!(matches!(at(T_59.0).await, Confirmation::NothingPending));
    assert!(
        mfa::start_totp(&env.core, &env.kek, &env.db, &user, NOW)
            .await
            .unwrap()
            .is_none(),
        "a confirmed credential is never replaced by a new enrolment"
    );
    assert_eq!(
        check(&env, T_59.1, T_59.0).await,
        FactorCheck::Failed,
        "the confirming code was spent"
    );
}

#[tokio::test]
async fn step_up_raises_the_same_session_under_a_new_cookie() {
    let env = env().await;
    let s = sign_in(&env, NOW).await;
    let raised = mfa::raise(&env.db, &s, Factor::Totp)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(raised.session.sid, s.sid, "same sid: its grants stay");
    assert_eq!(raised.session.auth_time, s.auth_time);
    assert_eq!(raised.session.amr, vec!["pwd", "otp", "mfa"]);
    assert_eq!(mfa::acr_of(&raised.session.amr), mfa::ACR_MFA);
    assert!(
        env.db.session(&s.id_hash).await.unwrap().is_none(),
        "the old cookie names nothing any more"
    );
    let stored = env
        .db
        .session(&raised.session.id_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.amr, raised.session.amr);
    assert!(
        mfa::raise(&env.db, &s, Factor::Totp)
            .await
            .unwrap()
            .is_none(),
        "the old cookie cannot be raised again"
    );
}
