//! session.rs: liveness, max_age, and creation at login.

use frontdesk_core::model::Session;
use frontdesk_core::session;
use frontdesk_core::store::Store;

use crate::support::*;

#[tokio::test]
async fn a_login_starts_a_fresh_session() {
    let env = env().await;
    let user = alice(&env).await;
    let a = session::start(&env.core, &env.db, &user, &[session::AMR_PASSWORD], NOW)
        .await
        .unwrap();
    let b = session::start(&env.core, &env.db, &user, &[session::AMR_PASSWORD], NOW)
        .await
        .unwrap();
    // RFC 6749 §10.12: every login a new id, never one brought along.
    assert_ne!(a.cookie, b.cookie);
    assert_ne!(a.session.sid, b.session.sid);
    assert!(a.cookie.len() >= 32);
    assert_eq!(a.session.sub, "sub-alice");
    assert_eq!(a.session.auth_time, NOW);
    assert_eq!(a.session.amr, vec!["pwd".to_owned()]);
    assert_eq!(a.session.expires_at, NOW + SESSION_TTL);
    assert_eq!(a.cookie_max_age(), SESSION_TTL);
    let stored = env.db.session(&a.session.id_hash).await.unwrap().unwrap();
    assert_eq!(stored, a.session, "stored as started, by the cookie's hash");
}

/// What happens to the session between login (at NOW) and the lookup.
#[derive(Clone, Copy)]
enum Setup {
    Nothing,
    Logout,
    DisableUser,
    UnknownCookie,
}

struct Case {
    description: &'static str,
    setup: (Setup, i64),
    expect: bool,
}

#[tokio::test]
async fn is_the_session_live() {
    let cases = [
        Case {
            description: "just after login",
            setup: (Setup::Nothing, 0),
            expect: true,
        },
        Case {
            description: "one second before it expires",
            setup: (Setup::Nothing, SESSION_TTL - 1),
            expect: true,
        },
        Case {
            description: "the instant it expires (session_ttl)",
            setup: (Setup::Nothing, SESSION_TTL),
            expect: false,
        },
        Case {
            description: "after logout",
            setup: (Setup::Logout, 10),
            expect: false,
        },
        Case {
            description: "its user was disabled",
            setup: (Setup::DisableUser, 10),
            expect: false,
        },
        Case {
            description: "a cookie naming no session",
            setup: (Setup::UnknownCookie, 10),
            expect: false,
        },
    ];
    for case in cases {
        let env = env().await;
        let user = alice(&env).await;
        let started = session::start(&env.core, &env.db, &user, &[session::AMR_PASSWORD], NOW)
            .await
            .unwrap();
        let (setup, after) = case.setup;
        let mut cookie = started.cookie.clone();
        match setup {
            Setup::Nothing => {}
            Setup::Logout => {
                assert!(
                    session::end(&env.db, &started.session, NOW + 5)
                        .await
                        .unwrap()
                );
            }
            Setup::DisableUser => {
                // Disabling through the store would also end the session;
                // a user row disabled by other means must still count.
                let mut u = user.clone();
                u.disabled = true;
                env.db.upsert_user(&u).await.unwrap();
            }
            Setup::UnknownCookie => cookie = "x".repeat(43),
        }
        let got = session::current(&env.db, &cookie, NOW + after)
            .await
            .unwrap();
        assert_eq!(got.is_some(), case.expect, "{}", case.description);
        if let Some((s, u)) = got {
            assert_eq!(s.sid, started.session.sid, "{}", case.description);
            assert_eq!(u.sub, "sub-alice", "{}", case.description);
        }
        assert_eq!(
            session::is_live(&started.session, NOW + after),
            after < SESSION_TTL,
            "{}: is_live on the record",
            case.description
        );
    }
}

#[test]
fn max_age() {
    let s = Session {
        id_hash: vec![],
        sid: "sid".into(),
        sub: "sub".into(),
        auth_time: NOW,
        amr: vec![],
        created_at: NOW,
        expires_at: NOW + SESSION_TTL,
        ended_at: None,
        user_agent: None,
        client_ip: None,
        last_seen_at: None,
        idp: None,
    };
    struct Case {
        description: &'static str,
        setup: (Option<i64>, i64),
        expect: bool,
    }
    let cases = [
        Case {
            description: "no max_age",
            setup: (None, 10_000),
            expect: true,
        },
        Case {
            description: "elapsed below max_age",
            setup: (Some(60), 59),
            expect: true,
        },
        Case {
            description: "elapsed equal to max_age (OIDC: only greater re-authenticates)",
            setup: (Some(60), 60),
            expect: true,
        },
        Case {
            description: "elapsed above max_age",
            setup: (Some(60), 61),
            expect: false,
        },
        Case {
            description: "max_age=0 one second later",
            setup: (Some(0), 1),
            expect: false,
        },
    ];
    for c in cases {
        let (max_age, after) = c.setup;
        assert_eq!(
            session::fresh_enough(&s, max_age, NOW + after),
            c.expect,
            "{}",
            c.description
        );
    }
}

/// A sign-in that happened at an upstream keeps the upstream's
/// `auth_time` (never later than now), so `max_age` and re-authentication
/// see the real age of the sign-in, not the moment frontdesk heard of it.
#[tokio::test]
async fn an_upstream_sign_in_keeps_its_auth_time() {
    let env = env().await;
    let user = alice(&env).await;
    // (authenticated at, session auth_time)
    let cases = [
        (None, NOW),
        (Some(NOW - 8 * 3600), NOW - 8 * 3600),
        (Some(NOW + 50), NOW),
    ];
    for (at, want) in cases {
        let origin = session::Origin {
            idp: Some("hotel".into()),
            authenticated_at: at,
            ..session::Origin::default()
        };
        let s = session::start_from(&env.core, &env.db, &user, &["fed"], &origin, NOW)
            .await
            .unwrap()
            .session;
        assert_eq!(s.auth_time, want, "{at:?}");
        assert_eq!(s.expires_at, NOW + SESSION_TTL, "the session's own life");
        let stored = env.db.session(&s.id_hash).await.unwrap().unwrap();
        assert_eq!(stored.auth_time, want);
        assert_eq!(stored.idp.as_deref(), Some("hotel"));
        assert!(!session::fresh_enough(&stored, Some(300), NOW) || want == NOW);
    }
}
