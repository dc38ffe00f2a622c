//! upstream.rs: which account an upstream sign-in reaches — provisioning,
//! links, joining by address only when both sides verified it, and the
//! account page's link and unlink rules. Real in-memory SQLite, fixed clock.

use frontdesk_core::model::{User, UserClaims};
use frontdesk_core::store::Store;
use frontdesk_core::upstream::{self, Identity, Linking, Policy, Refusal, Resolved, Unlinked};

use crate::support::*;

const DAVE: &str = "sub-dave";

fn who(subject: &str, email: Option<&str>, verified: bool) -> Identity {
    Identity {
        upstream: "hotel".into(),
        subject: subject.into(),
        username: Some("carol".into()),
        email: email.map(str::to_owned),
        email_verified: verified,
        claims: UserClaims {
            name: Some("Carol Guest".into()),
            ..UserClaims::default()
        },
        auth_time: None,
    }
}

async fn add_dave(env: &Env, verified: bool, disabled: bool) {
    env.db
        .create_user(&User {
            sub: DAVE.into(),
            username: "dave".into(),
            password_hash: String::new(),
            disabled,
            claims: UserClaims {
                email: Some("dave@x.example".into()),
                email_verified: verified,
                ..UserClaims::default()
            },
            created_at: NOW - 10,
            updated_at: NOW - 10,
            mfa_enrolled: false,
            has_passkey: false,
            verify_before_sign_in: false,
        })
        .await
        .unwrap();
}

/// What a resolution came to, comparably.
#[derive(Debug, PartialEq, Eq)]
enum Got {
    Linked(String),
    ByEmail(String),
    Provisioned,
    Refused(Refusal),
}

fn got(r: Resolved) -> Got {
    match r {
        Resolved::Linked(u) => Got::Linked(u.sub),
        Resolved::LinkedByEmail(u) => Got::ByEmail(u.sub),
        Resolved::Provisioned(_) => Got::Provisioned,
        Resolved::Refused(why) => Got::Refused(why),
    }
}

/// (name, dave's address verified / disabled (None: no dave), policy,
/// upstream address, upstream says verified, expected)
type Case = (
    &'static str,
    Option<(bool, bool)>,
    Policy,
    Option<&'static str>,
    bool,
    Got,
);

#[tokio::test]
async fn first_sign_ins_by_address_and_policy() {
    let provision = Policy::default();
    let invite_only = Policy {
        provision: false,
        link_by_email: false,
    };
    let by_email = Policy {
        provision: true,
        link_by_email: true,
    };
    let cases: [Case; 11] = [
        (
            "new account",
            None,
            provision,
            Some("carol@x.example"),
            true,
            Got::Provisioned,
        ),
        (
            "no address at all",
            None,
            provision,
            None,
            false,
            Got::Provisioned,
        ),
        (
            "an unverified address is not kept",
            None,
            provision,
            Some("carol@x.example"),
            false,
            Got::Provisioned,
        ),
        (
            "invite only",
            None,
            invite_only,
            Some("carol@x.example"),
            true,
            Got::Refused(Refusal::NotProvisioned),
        ),
        (
            "address taken, joining off",
            Some((true, false)),
            provision,
            Some("dave@x.example"),
            true,
            Got::Refused(Refusal::EmailTaken),
        ),
        (
            "joining on, upstream unverified",
            Some((true, false)),
            by_email,
            Some("dave@x.example"),
            false,
            Got::Refused(Refusal::EmailTaken),
        ),
        (
            "joining on, local unverified (pre-hijacking)",
            Some((false, false)),
            by_email,
            Some("dave@x.example"),
            true,
            Got::Refused(Refusal::EmailTaken),
        ),
        (
            "joining on, local disabled",
            Some((true, true)),
            by_email,
            Some("dave@x.example"),
            true,
            Got::Refused(Refusal::EmailTaken),
        ),
        (
            "joining on, both verified",
            Some((true, false)),
            by_email,
            Some("dave@x.example"),
            true,
            Got::ByEmail(DAVE.into()),
        ),
        (
            "joining on, address in another case",
            Some((true, false)),
            by_email,
            Some("Dave@X.example"),
            true,
            Got::ByEmail(DAVE.into()),
        ),
        (
            "invite only still refuses a taken address",
            Some((true, false)),
            invite_only,
            Some("dave@x.example"),
            true,
            Got::Refused(Refusal::EmailTaken),
        ),
    ];
    for (name, dave, policy, email, verified, want) in cases {
        let env = env().await;
        if let Some((v, d)) = dave {
            add_dave(&env, v, d).await;
        }
        let users_before = env.db.list_users().await.unwrap().len();
        let identity = who("up-1", email, verified);
        let first = got(upstream::resolve(&env.db, &identity, policy, NOW)
            .await
            .unwrap());
        assert_eq!(first, want, "{name}");
        let users_after = env.db.list_users().await.unwrap().len();
        let link = env.db.upstream_link("hotel", "up-1").await.unwrap();
        match &first {
            Got::Refused(_) => {
                assert_eq!(users_after, users_before, "{name}: nothing created");
                assert!(link.is_none(), "{name}: nothing linked");
            }
            Got::Provisioned => {
                assert_eq!(users_after, users_before + 1, "{name}");
                let link = link.expect("provisioned with its link");
                let user = env.db.user(&link.sub).await.unwrap().unwrap();
                assert!(user.password_hash.is_empty(), "{name}: no password");
                let kept = email.filter(|_| verified);
                assert_eq!(user.claims.email.as_deref(), kept, "{name}");
                assert_eq!(
                    user.claims.email_verified,
                    email.is_some() && verified,
                    "{name}"
                );
                assert_eq!(user.claims.name.as_deref(), Some("Carol Guest"));
                assert_eq!(user.username, "carol", "{name}");
                // The second sign-in finds the same account.
                let again = upstream::resolve(&env.db, &identity, policy, NOW + 5)
                    .await
                    .unwrap();
                assert_eq!(got(again), Got::Linked(link.sub.clone()), "{name}");
            }
            Got::ByEmail(sub) => {
                assert_eq!(users_after, users_before, "{name}: joined, not created");
                assert_eq!(link.map(|l| l.sub), Some(sub.clone()), "{name}");
                let again = upstream::resolve(&env.db, &identity, invite_only, NOW + 5)
                    .await
                    .unwrap();
                assert_eq!(
                    got(again),
                    Got::Linked(sub.clone()),
                    "{name}: through the link now"
                );
            }
            Got::Linked(_) => unreachable!("no case starts linked"),
        }
    }
}

#[tokio::test]
async fn a_linked_account_follows_its_link_not_its_address() {
    let env = env().await;
    let first = upstream::resolve(
        &env.db,
        &who("up-1", Some("carol@x.example"), true),
        Policy::default(),
        NOW,
    )
    .await
    .unwrap();
    let Resolved::Provisioned(user) = first else {
        panic!("expected a new account, got {first:?}");
    };
    // The upstream now sends another address and name: same account; the
    // profile follows the upstream, the address stays the account's.
    let mut moved = who("up-1", Some("someone-else@x.example"), true);
    moved.claims.name = Some("Carol Renamed".into());
    let again = upstream::resolve(&env.db, &moved, Policy::default(), NOW + 10)
        .await
        .unwrap();
    assert_eq!(got(again), Got::Linked(user.sub.clone()));
    let stored = env.db.user(&user.sub).await.unwrap().unwrap();
    assert_eq!(stored.claims.email.as_deref(), Some("carol@x.example"));
    assert_eq!(stored.claims.name.as_deref(), Some("Carol Renamed"));
    let link = env
        .db
        .upstream_link("hotel", "up-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(link.last_used_at, Some(NOW + 10));
    // Disabled: refused, not provisioned anew.
    env.db
        .set_user_disabled(&user.sub, true, NOW + 20)
        .await
        .unwrap();
    let refused = upstream::resolve(&env.db, &moved, Policy::default(), NOW + 30)
        .await
        .unwrap();
    assert_eq!(got(refused), Got::Refused(Refusal::Disabled));
    // Deleting the account deletes its links: the next sign-in is new.
    env.db
        .set_user_disabled(&user.sub, false, NOW + 40)
        .await
        .unwrap();
    assert!(env.db.delete_user(&user.sub).await.unwrap());
    assert!(
        env.db
            .upstream_link("hotel", "up-1")
            .await
            .unwrap()
            .is_none()
    );
    let fresh = upstream::resolve(&env.db, &moved, Policy::default(), NOW + 50)
        .await
        .unwrap();
    assert_eq!(got(fresh), Got::Provisioned);
}

#[tokio::test]
async fn a_taken_username_gets_a_suffix() {
    let env = env().await;
    let mut identity = who("up-2", None, false);
    identity.username = Some("alice".into());
    let r = upstream::resolve(&env.db, &identity, Policy::default(), NOW)
        .await
        .unwrap();
    let Resolved::Provisioned(user) = r else {
        panic!("expected a new account, got {r:?}");
    };
    assert!(user.username.starts_with("alice-"), "{}", user.username);
    assert_ne!(user.sub, "sub-alice");
}

#[tokio::test]
async fn linking_and_unlinking_from_the_account_page() {
    let env = env().await;
    let carol = who("up-1", Some("carol@x.example"), true);
    // alice connects her upstream account; doing it twice is the same.
    for _ in 0..2 {
        assert_eq!(
            upstream::link(&env.db, "sub-alice", &carol, NOW)
                .await
                .unwrap(),
            Linking::Linked
        );
    }
    let r = upstream::resolve(&env.db, &carol, Policy::default(), NOW + 1)
        .await
        .unwrap();
    assert_eq!(got(r), Got::Linked("sub-alice".into()));
    // Never taken over by another account, and one account per upstream.
    add_dave(&env, true, false).await;
    assert_eq!(
        upstream::link(&env.db, DAVE, &carol, NOW).await.unwrap(),
        Linking::TakenByOther
    );
    assert_eq!(
        upstream::link(&env.db, "sub-alice", &who("up-9", None, false), NOW)
            .await
            .unwrap(),
        Linking::HasAnother
    );
    // alice has no password in this world and no passkey: the link is her
    // last way in, so it stays.
    let alice = alice(&env).await;
    assert_eq!(
        upstream::unlink(&env.db, &alice, "hotel").await.unwrap(),
        Unlinked::LastWay
    );
    let with_password = User {
        password_hash: frontdesk_core::password::hash("a long enough password").unwrap(),
        ..alice.clone()
    };
    assert_eq!(
        upstream::unlink(&env.db, &with_password, "other")
            .await
            .unwrap(),
        Unlinked::NotLinked
    );
    assert_eq!(
        upstream::unlink(&env.db, &with_password, "hotel")
            .await
            .unwrap(),
        Unlinked::Done
    );
    assert!(
        env.db
            .upstream_links_of("sub-alice")
            .await
            .unwrap()
            .is_empty()
    );
    // Disconnected: the next sign-in with that upstream account is new.
    let r = upstream::resolve(&env.db, &carol, Policy::default(), NOW + 2)
        .await
        .unwrap();
    assert_eq!(got(r), Got::Provisioned);
}

#[test]
fn client_upstream_policy_registration_rules() {
    use frontdesk_core::manage::{ClientSpec, build_client};
    let pepper = frontdesk_core::secret::Pepper::new(&[1u8; 32]);
    let spec = |allowed: Option<Vec<&str>>, local_login: Option<bool>| ClientSpec {
        client_name: "Staff".into(),
        redirect_uris: vec!["https://staff.example/cb".into()],
        allowed_upstreams: allowed.map(|v| v.into_iter().map(str::to_owned).collect()),
        local_login,
        ..ClientSpec::default()
    };
    let build = |s| {
        build_client(s, &pepper, NOW)
            .map(|n| n.client)
            .map_err(|e| e.to_string())
    };
    let ok = build(spec(None, None)).unwrap();
    assert!(ok.local_login && ok.allowed_upstreams.is_none(), "defaults");
    let cases = [
        (spec(Some(vec!["hotel"]), Some(false)), None),
        (spec(Some(vec![]), Some(true)), None),
        (spec(None, Some(false)), None),
        (
            spec(Some(vec![]), Some(false)),
            Some("allowed_upstreams is empty"),
        ),
        (
            spec(Some(vec!["Hotel SSO"]), None),
            Some("is not an upstream id"),
        ),
    ];
    for (s, want) in cases {
        let label = format!("{:?} {:?}", s.allowed_upstreams, s.local_login);
        match (build(s), want) {
            (Ok(_), None) => {}
            (Err(e), Some(w)) => assert!(e.contains(w), "{label}: {e}"),
            (got, want) => panic!("{label}: got {got:?}, want {want:?}"),
        }
    }
}

#[tokio::test]
async fn a_link_left_without_its_account_does_not_block_a_sign_in() {
    let env = env().await;
    // A link whose account is gone (written while it was being deleted).
    let orphan = frontdesk_core::model::UpstreamLink {
        upstream: "hotel".into(),
        upstream_sub: "up-7".into(),
        sub: "sub-gone".into(),
        created_at: NOW - 10,
        last_used_at: None,
    };
    assert!(env.db.put_upstream_link(&orphan).await.unwrap());
    let r = upstream::resolve(&env.db, &who("up-7", None, false), Policy::default(), NOW)
        .await
        .unwrap();
    assert_eq!(got(r), Got::Provisioned);
    let link = env
        .db
        .upstream_link("hotel", "up-7")
        .await
        .unwrap()
        .unwrap();
    assert_ne!(link.sub, "sub-gone");
}

#[tokio::test]
async fn which_sessions_a_client_admits() {
    let env = env().await;
    let local = sign_in(&env, NOW).await;
    let via = |idp: &str| frontdesk_core::model::Session {
        idp: Some(idp.into()),
        ..local.clone()
    };
    let configured = |id: &str| id == "hotel" || id == "github";
    let app = |allowed: Option<&[&str]>, local_login: bool| {
        let mut c = client(&env.core, "app");
        c.allowed_upstreams = allowed.map(|a| a.iter().map(|s| (*s).to_owned()).collect());
        c.local_login = local_login;
        c
    };
    // (client's allowed_upstreams, local_login, session, admitted)
    let cases = [
        (None, true, local.clone(), true),
        (None, true, via("hotel"), true),
        (Some(&["hotel"][..]), true, via("github"), false),
        (Some(&["hotel"][..]), false, via("hotel"), true),
        (Some(&["hotel"][..]), false, local.clone(), false),
        (None, false, via("github"), true),
        // A directory's session (not an upstream) is a local sign-in.
        (None, false, via("corp"), false),
        (Some(&[][..]), true, via("corp"), true),
    ];
    for (allowed, local_login, s, want) in cases {
        let c = app(allowed, local_login);
        assert_eq!(
            upstream::client_admits(&c, &s, configured),
            want,
            "{allowed:?} {local_login} {:?}",
            s.idp
        );
    }
}
