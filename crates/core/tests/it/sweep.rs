//! sweep.rs: the sweeper never changes an answer. Along each history, a
//! sweep at instant s (with the cutoffs core computes for s) leaves every
//! introspection answer at s as it was, the next protocol step still works,
//! and the grant goes exactly when the rule of `frontdesk_core::sweep`
//! says: at its own expiry, or once its last code and refresh token are
//! `spent_margin` past their expiry.

use std::collections::BTreeSet;

use frontdesk_core::introspect::introspect;
use frontdesk_core::model::{AccessTokenFormat, Client, ClientId};
use frontdesk_core::store::Store;
use frontdesk_core::sweep::{SweepCutoffs, spent_margin};

use crate::support::*;

/// What happens to the grant, all at NOW unless said otherwise.
#[derive(Debug, Clone, Copy)]
enum History {
    /// A code is issued and never redeemed.
    CodeOnly,
    /// The code is redeemed for an access token in this format (no
    /// refresh token: scope `openid`).
    Redeemed(AccessTokenFormat),
    /// The code is redeemed with `offline_access`; the refresh token is
    /// rotated at NOW + the offset, if any, then left alone.
    Refreshed(Option<i64>),
}

struct Case {
    description: &'static str,
    setup: (History, Option<i64>),
    /// Offset from NOW at which the grant is gone.
    expect: i64,
}

async fn caller(env: &Env) -> Client {
    env.db
        .client(&ClientId("other".to_owned()))
        .await
        .unwrap()
        .unwrap()
}

async fn grants(env: &Env) -> u64 {
    let rows = env.db.table_rows().await.unwrap();
    rows.iter()
        .find(|(t, _)| *t == "grants")
        .map(|(_, n)| *n)
        .unwrap()
}

async fn answers(env: &Env, tokens: &[String], now: i64) -> Vec<bool> {
    let caller = caller(env).await;
    let mut out = Vec::new();
    for t in tokens {
        let info = introspect(&env.core, &env.db, &env.keys, &caller, t, now)
            .await
            .unwrap();
        out.push(info.active);
    }
    out
}

#[tokio::test]
async fn sweeping_never_changes_an_answer() {
    // leeway 30, max_token_ttl 3600 (support::env).
    let m = spent_margin(3600, 30);
    let cases = [
        Case {
            description: "a code never redeemed: the grant goes when the code is spent",
            setup: (History::CodeOnly, None),
            expect: CODE_TTL + m,
        },
        Case {
            description: "a JWT access token and no refresh token: the grant outlives the token by the margin",
            setup: (History::Redeemed(AccessTokenFormat::Jwt), None),
            expect: CODE_TTL + m,
        },
        Case {
            description: "an opaque access token and no refresh token",
            setup: (History::Redeemed(AccessTokenFormat::Opaque), None),
            expect: CODE_TTL + m,
        },
        Case {
            description: "a refresh token never used: the grant lives until it is spent",
            setup: (History::Refreshed(None), None),
            expect: REFRESH_IDLE_TTL + m,
        },
        Case {
            description: "a refresh token rotated at +500: the successor keeps the grant",
            setup: (History::Refreshed(Some(500)), None),
            expect: 500 + REFRESH_IDLE_TTL + m,
        },
        Case {
            description: "a grant whose own lifetime ends first goes then",
            setup: (History::Refreshed(Some(500)), Some(2000)),
            expect: 2000,
        },
    ];
    for case in cases {
        let (history, grant_ttl) = case.setup;
        let env = env_with(|c| {
            if let History::Redeemed(format) = history {
                c.access_token_format = format;
            }
            if let Some(ttl) = grant_ttl {
                c.refresh_token_ttl = ttl;
            }
        })
        .await;
        let mut tokens: Vec<String> = Vec::new();
        let mut refresh_token = None;
        match history {
            History::CodeOnly => {
                authorization_code(&env, "openid", NOW).await;
            }
            History::Redeemed(_) => {
                tokens.push(tokens_of(&env, "openid").await.access_token);
            }
            History::Refreshed(_) => {
                let t = tokens_of(&env, "openid offline_access").await;
                tokens.push(t.access_token);
                let rt = t.refresh_token.unwrap();
                tokens.push(rt.clone());
                refresh_token = Some(rt);
            }
        }
        let rotate_at = match history {
            History::Refreshed(at) => at,
            _ => None,
        };
        // Every boundary: token expiries, the code's and refresh tokens'
        // spent instants, the rotation, the expected end, one second either side.
        let mut instants: BTreeSet<i64> = BTreeSet::new();
        let mut near = |t: i64| {
            for d in [-1, 0, 1] {
                if t + d >= 0 {
                    instants.insert(t + d);
                }
            }
        };
        for t in [
            0,
            ACCESS_TTL,
            CODE_TTL + m,
            REFRESH_IDLE_TTL,
            REFRESH_IDLE_TTL + m,
            case.expect,
        ] {
            near(t);
        }
        if let Some(r) = rotate_at {
            for t in [
                r,
                r + ACCESS_TTL,
                r + REFRESH_IDLE_TTL,
                r + REFRESH_IDLE_TTL + m,
            ] {
                near(t);
            }
        }
        for s in instants {
            let now = NOW + s;
            let before = answers(&env, &tokens, now).await;
            let at = SweepCutoffs::at(&env.core.settings, now, None);
            env.db.sweep_expired(&at, 2).await.unwrap().unwrap();
            let after = answers(&env, &tokens, now).await;
            assert_eq!(
                before, after,
                "{}: sweeping at +{s} changed an answer",
                case.description
            );
            assert_eq!(
                grants(&env).await,
                u64::from(s < case.expect),
                "{}: the grant at +{s}",
                case.description
            );
            if rotate_at == Some(s) {
                let rt = refresh_token.take().unwrap();
                let t = refresh(&env, &rt, now).await.unwrap_or_else(|e| {
                    panic!("{}: refresh at +{s} after a sweep: {e:?}", case.description)
                });
                tokens.push(t.access_token);
                tokens.push(t.refresh_token.unwrap());
            }
        }
    }
}

/// The tokens of a code redeemed at NOW.
async fn tokens_of(env: &Env, scope: &str) -> frontdesk_core::access_token::TokenResponse {
    tokens(env, scope, NOW).await
}
