//! grant/token_exchange.rs: RFC 8693 with a fixed clock — delegation (`act`,
//! nested along a chain), impersonation, the per-client policy of subject
//! and target audiences, and the subject tokens that are refused.

use frontdesk_core::error::ErrorCode;
use frontdesk_core::model::{ClientId, Consent, GrantType, TokenExchangePolicy};
use frontdesk_core::store::Store;
use serde_json::json;

use crate::support::*;

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const AT: &str = "urn:ietf:params:oauth:token-type:access_token";
const ID: &str = "urn:ietf:params:oauth:token-type:id_token";
const PRINTS: &str = "https://prints.example";
const LEDGER: &str = "https://ledger.example";

/// `app` may exchange tokens sent to [`API`] (or ID tokens issued to
/// itself) for [`PRINTS`]; `prints` — the next service — tokens for
/// [`PRINTS`] for [`LEDGER`].
async fn exchange_env(impersonation: bool) -> Env {
    let env = env_with(|c| {
        c.grant_types.push(GrantType::TokenExchange);
        c.token_exchange = Some(TokenExchangePolicy {
            subject_audiences: vec![API.to_owned(), "app".to_owned()],
            audiences: vec![PRINTS.to_owned()],
            impersonation,
        });
    })
    .await;
    let mut next = client(&env.core, "prints");
    next.grant_types = vec![GrantType::TokenExchange, GrantType::ClientCredentials];
    next.audience = vec![PRINTS.to_owned()];
    next.token_exchange = Some(TokenExchangePolicy {
        subject_audiences: vec![PRINTS.to_owned()],
        audiences: vec![LEDGER.to_owned()],
        impersonation: false,
    });
    env.db.create_client(&next).await.unwrap();
    env
}

async fn exchange_as(
    env: &Env,
    client_id: &str,
    extra: &[(&str, &str)],
    now: i64,
) -> Result<frontdesk_core::access_token::TokenResponse, frontdesk_core::error::Error> {
    let mut form = vec![("grant_type", EXCHANGE)];
    form.extend_from_slice(extra);
    token_as(env, basic(client_id, SECRET), &form, now).await
}

#[tokio::test]
async fn delegation_along_a_chain() {
    let env = exchange_env(false).await;
    let user = tokens(&env, "openid api:read api:write", NOW).await;
    // The photos API (`app`) calls prints for alice, with read only.
    let first = exchange_as(
        &env,
        "app",
        &[
            ("subject_token", &user.access_token),
            ("subject_token_type", AT),
            ("audience", PRINTS),
            ("scope", "api:read"),
        ],
        NOW + 10,
    )
    .await
    .unwrap();
    assert_eq!(first.issued_token_type, Some(AT));
    assert_eq!(
        (first.token_type, first.scope.as_str()),
        ("Bearer", "api:read")
    );
    assert!(first.refresh_token.is_none() && first.id_token.is_none());
    // Never longer than the subject token (issued at NOW, ACCESS_TTL).
    assert_eq!(first.expires_in, ACCESS_TTL - 10);
    let c = claims(&first.access_token);
    assert_eq!(c["sub"], "sub-alice");
    assert_eq!(c["aud"], PRINTS);
    assert_eq!(c["client_id"], "app");
    assert_eq!(c["act"], json!({"sub": "app"}));
    let user_jti = claims(&user.access_token)["jti"]
        .as_str()
        .unwrap()
        .to_owned();
    let grant = user_jti.split('.').next().unwrap();
    assert!(c["jti"].as_str().unwrap().starts_with(&format!("{grant}.")));

    // prints calls the ledger with that token: the chain nests.
    let second = exchange_as(
        &env,
        "prints",
        &[
            ("subject_token", &first.access_token),
            ("subject_token_type", AT),
            ("resource", LEDGER),
        ],
        NOW + 20,
    )
    .await
    .unwrap();
    let c = claims(&second.access_token);
    assert_eq!(c["sub"], "sub-alice");
    assert_eq!(c["aud"], LEDGER);
    assert_eq!(c["scope"], "api:read");
    assert_eq!(c["act"], json!({"sub": "prints", "act": {"sub": "app"}}));

    // Ending alice's grant ends the exchanged tokens too.
    env.db.revoke_grant(grant, NOW + 30).await.unwrap();
    let again = exchange_as(
        &env,
        "prints",
        &[
            ("subject_token", &first.access_token),
            ("subject_token_type", AT),
            ("resource", LEDGER),
        ],
        NOW + 31,
    )
    .await;
    assert_eq!(code_of(again), ErrorCode::InvalidRequest);
}

#[tokio::test]
async fn actor_tokens_and_impersonation() {
    let env = exchange_env(false).await;
    let user = tokens(&env, "openid api:read", NOW).await;
    let own = token(&env, &[("grant_type", "client_credentials")], NOW)
        .await
        .unwrap();
    let with_actor = exchange_as(
        &env,
        "app",
        &[
            ("subject_token", &user.access_token),
            ("subject_token_type", AT),
            ("actor_token", &own.access_token),
            ("actor_token_type", AT),
            ("audience", PRINTS),
        ],
        NOW + 1,
    )
    .await
    .unwrap();
    assert_eq!(
        claims(&with_actor.access_token)["act"],
        json!({"sub": "app"})
    );
    // Another client's token is no actor for app.
    let theirs = token_as(
        &env,
        basic("prints", SECRET),
        &[("grant_type", "client_credentials")],
        NOW,
    )
    .await
    .unwrap();
    let refused = exchange_as(
        &env,
        "app",
        &[
            ("subject_token", &user.access_token),
            ("subject_token_type", AT),
            ("actor_token", &theirs.access_token),
            ("actor_token_type", AT),
            ("audience", PRINTS),
        ],
        NOW + 1,
    )
    .await;
    assert_eq!(code_of(refused), ErrorCode::InvalidRequest);

    let env = exchange_env(true).await;
    let user = tokens(&env, "openid api:read", NOW).await;
    let imp = exchange_as(
        &env,
        "app",
        &[
            ("subject_token", &user.access_token),
            ("subject_token_type", AT),
            ("audience", PRINTS),
        ],
        NOW + 1,
    )
    .await
    .unwrap();
    let c = claims(&imp.access_token);
    assert_eq!(c["sub"], "sub-alice");
    assert!(c.get("act").is_none(), "{c}");
}

#[tokio::test]
async fn an_id_token_as_the_subject() {
    let env = exchange_env(false).await;
    let user = tokens(&env, "openid api:read api:write", NOW).await;
    let id_token = user.id_token.clone().unwrap();
    let form = [
        ("subject_token", id_token.as_str()),
        ("subject_token_type", ID),
        ("audience", PRINTS),
        ("scope", "api:read"),
    ];
    // Without a consent to app, an ID token is bound to nothing.
    assert_eq!(
        code_of(exchange_as(&env, "app", &form, NOW + 1).await),
        ErrorCode::InvalidRequest
    );
    env.db
        .put_consent(&Consent {
            sub: "sub-alice".to_owned(),
            client_id: ClientId("app".to_owned()),
            scope: "openid api:read".to_owned(),
            granted_at: NOW,
        })
        .await
        .unwrap();
    let t = exchange_as(&env, "app", &form, NOW + 1).await.unwrap();
    assert_eq!(claims(&t.access_token)["sub"], "sub-alice");
    // The consent is the bound: api:write was never approved for app.
    let wider = [
        ("subject_token", id_token.as_str()),
        ("subject_token_type", ID),
        ("audience", PRINTS),
        ("scope", "api:write"),
    ];
    assert_eq!(
        code_of(exchange_as(&env, "app", &wider, NOW + 1).await),
        ErrorCode::InvalidScope
    );
}

/// (what, client, form, seconds after NOW, expected error).
type Refusal<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, i64, ErrorCode);

#[tokio::test]
async fn refused_exchanges() {
    let env = exchange_env(false).await;
    let user = tokens(&env, "openid offline_access api:read", NOW).await;
    let at = user.access_token.as_str();
    let rt = user.refresh_token.clone().unwrap();
    let prints_token = token_as(
        &env,
        basic("prints", SECRET),
        &[("grant_type", "client_credentials")],
        NOW,
    )
    .await
    .unwrap()
    .access_token;
    let foreign = {
        // The same claims under a signature this server never made.
        let mut parts: Vec<&str> = at.split('.').collect();
        parts[2] = "c2lnbmF0dXJl";
        parts.join(".")
    };
    let cases: [Refusal; 11] = [
        (
            "a target audience outside the policy",
            "app",
            vec![
                ("subject_token", at),
                ("subject_token_type", AT),
                ("audience", LEDGER),
            ],
            1,
            ErrorCode::InvalidTarget,
        ),
        (
            "no target at all",
            "app",
            vec![("subject_token", at), ("subject_token_type", AT)],
            1,
            ErrorCode::InvalidRequest,
        ),
        (
            "a subject token for an audience the client may not exchange",
            "app",
            vec![
                ("subject_token", &prints_token),
                ("subject_token_type", AT),
                ("audience", PRINTS),
            ],
            1,
            ErrorCode::InvalidRequest,
        ),
        (
            "an expired subject token",
            "app",
            vec![
                ("subject_token", at),
                ("subject_token_type", AT),
                ("audience", PRINTS),
            ],
            ACCESS_TTL,
            ErrorCode::InvalidRequest,
        ),
        (
            "a subject token with a signature that is not ours",
            "app",
            vec![
                ("subject_token", &foreign),
                ("subject_token_type", AT),
                ("audience", PRINTS),
            ],
            1,
            ErrorCode::InvalidRequest,
        ),
        (
            "a refresh token named an access token",
            "app",
            vec![
                ("subject_token", &rt),
                ("subject_token_type", AT),
                ("audience", PRINTS),
            ],
            1,
            ErrorCode::InvalidRequest,
        ),
        (
            "an access token named an ID token",
            "app",
            vec![
                ("subject_token", at),
                ("subject_token_type", ID),
                ("audience", PRINTS),
            ],
            1,
            ErrorCode::InvalidRequest,
        ),
        (
            "a token type we do not take",
            "app",
            vec![
                ("subject_token", at),
                (
                    "subject_token_type",
                    "urn:ietf:params:oauth:token-type:saml2",
                ),
                ("audience", PRINTS),
            ],
            1,
            ErrorCode::InvalidRequest,
        ),
        (
            "a wider scope than the subject token's",
            "app",
            vec![
                ("subject_token", at),
                ("subject_token_type", AT),
                ("audience", PRINTS),
                ("scope", "api:read api:write"),
            ],
            1,
            ErrorCode::InvalidScope,
        ),
        (
            "a client without the grant type",
            "other",
            vec![
                ("subject_token", at),
                ("subject_token_type", AT),
                ("audience", PRINTS),
            ],
            1,
            ErrorCode::UnauthorizedClient,
        ),
        (
            "an actor token without its type",
            "app",
            vec![
                ("subject_token", at),
                ("subject_token_type", AT),
                ("actor_token", at),
                ("audience", PRINTS),
            ],
            1,
            ErrorCode::InvalidRequest,
        ),
    ];
    for (description, client_id, form, after, expect) in cases {
        let got = exchange_as(&env, client_id, &form, NOW + after).await;
        assert_eq!(code_of(got), expect, "{description}");
    }
    // The token itself still works where it was meant to: nothing above
    // spent or revoked anything.
    assert!(
        exchange_as(
            &env,
            "app",
            &[
                ("subject_token", at),
                ("subject_token_type", AT),
                ("audience", PRINTS)
            ],
            NOW + 2,
        )
        .await
        .is_ok()
    );
}

/// §4.4: a subject token's `may_act` names the only party that may act
/// for it (frontdesk never mints one; a token from elsewhere in the
/// deployment, signed with our keys, may carry it).
#[tokio::test]
async fn may_act_is_honoured() {
    let env = exchange_env(false).await;
    let signer = env
        .keys
        .signer(frontdesk_core::model::KeyUse::AccessToken, NOW)
        .unwrap();
    let with = |may: &str| frontdesk_jose::AccessTokenClaims {
        iss: ISSUER.to_owned(),
        sub: "sub-alice".to_owned(),
        aud: frontdesk_jose::Audience(vec![API.to_owned()]),
        exp: u64::try_from(NOW + 300).unwrap(),
        iat: u64::try_from(NOW).unwrap(),
        jti: format!("may-act-{may}"),
        client_id: "app".to_owned(),
        scope: Some("api:read".to_owned()),
        auth_time: None,
        acr: None,
        amr: None,
        cnf: None,
        groups: None,
        act: None,
        may_act: Some(frontdesk_jose::Actor {
            sub: may.to_owned(),
            act: None,
        }),
    };
    for (may, ok) in [("someone-else", false), ("app", true)] {
        let jwt = signer.sign(Some("at+jwt"), &with(may)).unwrap();
        let got = exchange_as(
            &env,
            "app",
            &[
                ("subject_token", &jwt),
                ("subject_token_type", AT),
                ("audience", PRINTS),
            ],
            NOW + 1,
        )
        .await;
        if ok {
            assert_eq!(
                claims(&got.unwrap().access_token)["act"],
                json!({"sub": "app"})
            );
        } else {
            assert_eq!(code_of(got), ErrorCode::InvalidRequest, "may_act {may}");
        }
    }
}
