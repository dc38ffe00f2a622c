//! authorize.rs's decisions (OIDC Core §3.1.2.3): login, consent or issue,
//! from the request, the SSO session and the remembered consent.

use frontdesk_core::authorize::{self, Next};
use frontdesk_core::error::ErrorCode;
use frontdesk_core::mfa::{ACR_MFA, ACR_PASSWORD, RequireMfa};
use frontdesk_core::model::Consent;
use frontdesk_core::scope::Scope;
use frontdesk_core::store::Store;

use crate::support::*;

struct Setup {
    /// Extra authorization-request parameters (scope is `openid profile`).
    params: &'static [(&'static str, &'static str)],
    /// Seconds between login and this request; `None`: not signed in.
    signed_in_ago: Option<i64>,
    /// The scope approved before, if any.
    consented: Option<&'static str>,
    first_party: bool,
    /// The policy that applies to the client.
    policy: RequireMfa,
    /// alice has a second factor.
    enrolled: bool,
    /// The session already proved a second factor.
    session_mfa: bool,
    /// alice has a passkey.
    passkey: bool,
    /// The session signed in with a passkey.
    session_passkey: bool,
    /// The client's `required_groups`.
    required: &'static [&'static str],
    /// alice's groups.
    member_of: &'static [&'static str],
}

const SETUP: Setup = Setup {
    params: &[],
    signed_in_ago: Some(10),
    consented: None,
    first_party: false,
    policy: RequireMfa::IfEnrolled,
    enrolled: false,
    session_mfa: false,
    passkey: false,
    session_passkey: false,
    required: &[],
    member_of: &[],
};

struct Case {
    description: &'static str,
    setup: Setup,
    expect: Result<Next, ErrorCode>,
}

fn consent_for(scope: &str) -> Next {
    Next::Consent(Scope::parse(scope).unwrap())
}

#[tokio::test]
async fn decisions() {
    let cases = [
        Case {
            description: "not signed in",
            setup: Setup {
                signed_in_ago: None,
                ..SETUP
            },
            expect: Ok(Next::Login),
        },
        Case {
            description: "not signed in, prompt=none",
            setup: Setup {
                signed_in_ago: None,
                params: &[("prompt", "none")],
                ..SETUP
            },
            expect: Err(ErrorCode::LoginRequired),
        },
        Case {
            description: "signed in, nothing approved yet",
            setup: SETUP,
            expect: Ok(consent_for("openid profile")),
        },
        Case {
            description: "signed in, no consent, prompt=none",
            setup: Setup {
                params: &[("prompt", "none")],
                ..SETUP
            },
            expect: Err(ErrorCode::ConsentRequired),
        },
        Case {
            description: "signed in and approved before",
            setup: Setup {
                consented: Some("openid profile email"),
                ..SETUP
            },
            expect: Ok(Next::Issue),
        },
        Case {
            description: "approved before, prompt=none: silent SSO",
            setup: Setup {
                consented: Some("openid profile"),
                params: &[("prompt", "none")],
                ..SETUP
            },
            expect: Ok(Next::Issue),
        },
        Case {
            description: "approved less than asked",
            setup: Setup {
                consented: Some("openid"),
                ..SETUP
            },
            expect: Ok(consent_for("openid profile")),
        },
        Case {
            description: "approved before, prompt=consent asks again",
            setup: Setup {
                consented: Some("openid profile"),
                params: &[("prompt", "consent")],
                ..SETUP
            },
            expect: Ok(consent_for("openid profile")),
        },
        Case {
            description: "first-party clients need no consent",
            setup: Setup {
                first_party: true,
                ..SETUP
            },
            expect: Ok(Next::Issue),
        },
        Case {
            description: "prompt=login re-authenticates a live session",
            setup: Setup {
                consented: Some("openid profile"),
                params: &[("prompt", "login")],
                ..SETUP
            },
            expect: Ok(Next::Login),
        },
        Case {
            description: "max_age not yet reached",
            setup: Setup {
                consented: Some("openid profile"),
                params: &[("max_age", "60")],
                signed_in_ago: Some(60),
                ..SETUP
            },
            expect: Ok(Next::Issue),
        },
        Case {
            description: "max_age exceeded",
            setup: Setup {
                consented: Some("openid profile"),
                params: &[("max_age", "60")],
                signed_in_ago: Some(61),
                ..SETUP
            },
            expect: Ok(Next::Login),
        },
        Case {
            description: "max_age exceeded, prompt=none",
            setup: Setup {
                consented: Some("openid profile"),
                params: &[("max_age", "60"), ("prompt", "none")],
                signed_in_ago: Some(61),
                ..SETUP
            },
            expect: Err(ErrorCode::LoginRequired),
        },
        Case {
            description: "if_enrolled: an enrolled user's password session is raised first",
            setup: Setup {
                consented: Some("openid profile"),
                enrolled: true,
                ..SETUP
            },
            expect: Ok(Next::SecondFactor),
        },
        Case {
            description: "if_enrolled: a raised session goes on",
            setup: Setup {
                consented: Some("openid profile"),
                enrolled: true,
                session_mfa: true,
                ..SETUP
            },
            expect: Ok(Next::Issue),
        },
        Case {
            description: "if_enrolled: a user without a second factor needs none",
            setup: Setup {
                consented: Some("openid profile"),
                ..SETUP
            },
            expect: Ok(Next::Issue),
        },
        Case {
            description: "never: an enrolled user signs in with the password alone",
            setup: Setup {
                consented: Some("openid profile"),
                policy: RequireMfa::Never,
                enrolled: true,
                ..SETUP
            },
            expect: Ok(Next::Issue),
        },
        Case {
            description: "always: a user without a second factor enrols",
            setup: Setup {
                consented: Some("openid profile"),
                policy: RequireMfa::Always,
                ..SETUP
            },
            expect: Ok(Next::EnrolSecondFactor),
        },
        Case {
            description: "acr_values asking for mfa steps a password session up (never)",
            setup: Setup {
                consented: Some("openid profile"),
                policy: RequireMfa::Never,
                enrolled: true,
                params: &[("acr_values", ACR_MFA)],
                ..SETUP
            },
            expect: Ok(Next::SecondFactor),
        },
        Case {
            description: "acr_values that accept the password level need nothing more",
            setup: Setup {
                consented: Some("openid profile"),
                policy: RequireMfa::Never,
                enrolled: true,
                params: &[(
                    "acr_values",
                    "urn:frontdesk:acr:mfa urn:frontdesk:acr:password",
                )],
                ..SETUP
            },
            expect: Ok(Next::Issue),
        },
        Case {
            description: "a phishing-resistant acr raises a code session with the user's passkey",
            setup: Setup {
                consented: Some("openid profile"),
                enrolled: true,
                passkey: true,
                session_mfa: true,
                params: &[("acr_values", "urn:frontdesk:acr:phishing-resistant")],
                ..SETUP
            },
            expect: Ok(Next::Passkey),
        },
        Case {
            description: "a phishing-resistant acr for a user without a passkey is unmet, not lowered",
            setup: Setup {
                consented: Some("openid profile"),
                enrolled: true,
                session_mfa: true,
                params: &[("acr_values", "urn:frontdesk:acr:phishing-resistant")],
                ..SETUP
            },
            expect: Err(ErrorCode::UnmetAuthenticationRequirements),
        },
        Case {
            description: "prompt=none cannot ask for the passkey",
            setup: Setup {
                consented: Some("openid profile"),
                passkey: true,
                params: &[
                    ("acr_values", "urn:frontdesk:acr:phishing-resistant"),
                    ("prompt", "none"),
                ],
                ..SETUP
            },
            expect: Err(ErrorCode::LoginRequired),
        },
        Case {
            description: "a passkey session meets every level",
            setup: Setup {
                consented: Some("openid profile"),
                passkey: true,
                session_passkey: true,
                policy: RequireMfa::Always,
                params: &[("acr_values", "urn:frontdesk:acr:phishing-resistant")],
                ..SETUP
            },
            expect: Ok(Next::Issue),
        },
        Case {
            description: "if_enrolled: a user whose only factor is a passkey is asked for it",
            setup: Setup {
                consented: Some("openid profile"),
                passkey: true,
                ..SETUP
            },
            expect: Ok(Next::SecondFactor),
        },
        Case {
            description: "unknown acr_values are ignored",
            setup: Setup {
                consented: Some("openid profile"),
                params: &[("acr_values", "urn:example:gold")],
                ..SETUP
            },
            expect: Ok(Next::Issue),
        },
        Case {
            description: "a step-up with prompt=none is login_required, never a silent downgrade",
            setup: Setup {
                consented: Some("openid profile"),
                enrolled: true,
                params: &[("acr_values", ACR_MFA), ("prompt", "none")],
                ..SETUP
            },
            expect: Err(ErrorCode::LoginRequired),
        },
        Case {
            description: "max_age exceeded on a raised session: the password again first",
            setup: Setup {
                consented: Some("openid profile"),
                enrolled: true,
                session_mfa: true,
                params: &[("max_age", "5")],
                ..SETUP
            },
            expect: Ok(Next::Login),
        },
        Case {
            description: "a member of one of the required groups goes on to consent",
            setup: Setup {
                required: &["staff", "admin"],
                member_of: &["admin"],
                ..SETUP
            },
            expect: Ok(consent_for("openid profile")),
        },
        Case {
            description: "a user in none of the required groups is refused, not asked to consent",
            setup: Setup {
                required: &["staff"],
                member_of: &["staffing", "Staff"],
                ..SETUP
            },
            expect: Ok(Next::NotAdmitted),
        },
        Case {
            description: "not admitted even with consent remembered and first party",
            setup: Setup {
                required: &["staff"],
                consented: Some("openid profile"),
                first_party: true,
                ..SETUP
            },
            expect: Ok(Next::NotAdmitted),
        },
        Case {
            description: "not admitted with prompt=none: access_denied for the client",
            setup: Setup {
                required: &["staff"],
                consented: Some("openid profile"),
                params: &[("prompt", "none")],
                ..SETUP
            },
            expect: Err(ErrorCode::AccessDenied),
        },
        Case {
            description: "required groups wait for the second factor: the step-up comes first",
            setup: Setup {
                required: &["staff"],
                enrolled: true,
                ..SETUP
            },
            expect: Ok(Next::SecondFactor),
        },
        Case {
            description: "required groups and no session: login first",
            setup: Setup {
                required: &["staff"],
                signed_in_ago: None,
                ..SETUP
            },
            expect: Ok(Next::Login),
        },
        Case {
            description: "no session at all: login before any second factor",
            setup: Setup {
                signed_in_ago: None,
                enrolled: true,
                params: &[("acr_values", ACR_PASSWORD)],
                ..SETUP
            },
            expect: Ok(Next::Login),
        },
    ];
    for case in cases {
        let s = &case.setup;
        let env = env_with(|c| {
            c.first_party = s.first_party;
            c.required_groups = s.required.iter().map(|g| (*g).to_owned()).collect();
        })
        .await;
        let member_of: Vec<String> = s.member_of.iter().map(|g| (*g).to_owned()).collect();
        let mut params = vec![("scope", "openid profile")];
        params.extend_from_slice(s.params);
        let req = request(&env, &params).await;
        let session = match s.signed_in_ago {
            Some(ago) => Some(sign_in(&env, NOW - ago).await),
            None => None,
        };
        let session = session.map(|mut x| {
            if s.session_mfa {
                x.amr = vec!["pwd".into(), "otp".into(), "mfa".into()];
            }
            if s.session_passkey {
                x.amr = vec!["hwk".into(), "user".into(), "mfa".into()];
            }
            x
        });
        let mut user = alice(&env).await;
        user.mfa_enrolled = s.enrolled;
        user.has_passkey = s.passkey;
        if let Some(scope) = s.consented {
            env.db
                .put_consent(&Consent {
                    sub: "sub-alice".to_owned(),
                    client_id: req.client.client_id.clone(),
                    scope: scope.to_owned(),
                    granted_at: NOW - 100,
                })
                .await
                .unwrap();
        }
        let consent = env
            .db
            .consent("sub-alice", &req.client.client_id)
            .await
            .unwrap();
        let got = authorize::decide(
            &req,
            session.as_ref().map(|x| (x, &user)),
            &member_of,
            consent.as_ref(),
            s.policy,
            &env.core.pepper,
            NOW,
        );
        match case.expect {
            Ok(next) => assert_eq!(got, Ok(next), "{}", case.description),
            Err(code) => assert_eq!(got.map_err(|e| e.code), Err(code), "{}", case.description),
        }
    }
}

/// Approving remembers the union of old and new scopes.
#[tokio::test]
async fn consent_accumulates() {
    let env = env().await;
    let app = frontdesk_core::model::ClientId("app".to_owned());
    let scope = Scope::parse("openid").unwrap();
    authorize::remember_consent(&env.db, "sub-alice", &app, &scope, None, NOW)
        .await
        .unwrap();
    let before = env.db.consent("sub-alice", &app).await.unwrap();
    let more = Scope::parse("profile openid").unwrap();
    authorize::remember_consent(&env.db, "sub-alice", &app, &more, before.as_ref(), NOW + 1)
        .await
        .unwrap();
    let after = env.db.consent("sub-alice", &app).await.unwrap().unwrap();
    assert_eq!(after.scope, "openid profile");
}

/// The code issued carries state and iss (RFC 9207) and expires after
/// code_ttl (tested in authorization_code.rs); the grant keeps the
/// session's auth_time and sid.
#[tokio::test]
async fn issuing_a_code() {
    let env = env().await;
    let session = sign_in(&env, NOW - 50).await;
    let req = request(&env, &[("scope", "openid")]).await;
    let resp = authorize::issue_code(&env.core, &env.db, &req, &session, NOW)
        .await
        .unwrap();
    let names: Vec<&str> = resp.params.iter().map(|(k, _)| *k).collect();
    assert_eq!(names, ["code", "state", "iss"]);
    assert_eq!(resp.params[2].1, ISSUER);
    let code = &resp.params[0].1;
    let t = redeem(&env, code, NOW + 1).await.unwrap();
    let id = claims(t.id_token.as_deref().unwrap());
    assert_eq!(id["auth_time"], NOW - 50);
    assert_eq!(id["sid"], session.sid.as_str());
}
