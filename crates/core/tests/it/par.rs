//! Pushed authorization requests (RFC 9126) on core with a fixed clock:
//! validation at the push, the `expires_in` window, the one opening of a
//! `request_uri`, the interaction's own lifetime, the one spend, foreign
//! clients, and that only the pushed parameters count.

use frontdesk_core::authorize::par::{
    self, EXPIRES_IN, INTERACTION_TTL, REQUEST_URI_PREFIX, Resolved,
};
use frontdesk_core::authorize::{AuthorizeError, AuthorizeRequest};
use frontdesk_core::client::NoKeySource;
use frontdesk_core::error::{Error, ErrorCode};
use frontdesk_core::params::Params;
use frontdesk_core::store::Store;

use crate::support::*;

fn pushed_params(extra: &[(&str, &str)]) -> Params {
    let challenge = challenge(VERIFIER);
    let mut pairs = vec![
        ("client_id", "app"),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid profile"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("state", "st-pushed"),
        ("client_secret", SECRET),
    ];
    for (k, v) in extra {
        pairs.retain(|(n, _)| n != k);
        pairs.push((k, v));
    }
    params(&pairs)
}

async fn app(env: &Env) -> frontdesk_core::model::Client {
    env.db
        .client(&frontdesk_core::model::ClientId("app".into()))
        .await
        .unwrap()
        .unwrap()
}

/// `app` pushes the usual request at `now`; returns its `request_uri`.
async fn push(env: &Env, extra: &[(&str, &str)], now: i64) -> String {
    let resp = par::push(
        &env.core,
        &env.db,
        &NoKeySource,
        &app(env).await,
        &pushed_params(extra),
        |_| None,
        now,
    )
    .await
    .unwrap();
    assert_eq!(resp.expires_in, 60);
    assert!(resp.request_uri.starts_with(REQUEST_URI_PREFIX));
    resp.request_uri
}

async fn arrive(
    env: &Env,
    query: &[(&str, &str)],
    now: i64,
) -> Result<(AuthorizeRequest, Resolved), AuthorizeError> {
    par::validate_resolved(
        &env.core,
        &env.db,
        &NoKeySource,
        &params(query),
        |_| None,
        now,
    )
    .await
}

/// The error page's code and text (panics on anything but a page).
fn shown<T: std::fmt::Debug>(r: Result<T, AuthorizeError>) -> (ErrorCode, String) {
    match r {
        Err(AuthorizeError::Show(o)) => (o.code, o.description),
        other => panic!("expected an error page, got {other:?}"),
    }
}

fn carried(r: &Resolved) -> Params {
    Params::parse(r.carried().as_bytes()).unwrap()
}

fn pairs(p: &Params) -> Vec<(String, String)> {
    p.names()
        .flat_map(|n| p.get_all(n).map(move |v| (n.to_owned(), v.to_owned())))
        .collect()
}

#[tokio::test]
async fn a_pushed_request_waits_expires_in_for_the_browser() {
    let env = env().await;
    let uri = push(&env, &[], NOW).await;
    let q = [("client_id", "app"), ("request_uri", uri.as_str())];
    assert_eq!(
        shown(arrive(&env, &q, NOW + EXPIRES_IN).await),
        (
            ErrorCode::InvalidRequestUri,
            "request_uri has expired".into()
        )
    );
    let uri = push(&env, &[], NOW).await;
    let q = [("client_id", "app"), ("request_uri", uri.as_str())];
    let (req, resolved) = arrive(&env, &q, NOW + EXPIRES_IN - 1).await.unwrap();
    assert!(resolved.pushed().unwrap().opened_now);
    assert_eq!(req.state.as_deref(), Some("st-pushed"));
}

#[tokio::test]
async fn a_request_uri_opens_once_and_is_spent_by_one_response() {
    let env = env().await;
    let uri = push(&env, &[], NOW).await;
    let q = [("client_id", "app"), ("request_uri", uri.as_str())];
    let (_, opened) = arrive(&env, &q, NOW + 5).await.unwrap();
    // The request_uri itself works once (RFC 9126 §4 "one-time use").
    assert_eq!(
        shown(arrive(&env, &q, NOW + 6).await),
        (
            ErrorCode::InvalidRequestUri,
            "request_uri has already been used".into()
        )
    );
    // The pages carry only client_id, request_uri and the continuation.
    let next = carried(&opened);
    let names: Vec<&str> = next.names().collect();
    assert_eq!(names, ["client_id", "request_uri", par::CONTINUE_PARAM]);
    let next_pairs = pairs(&next);
    let as_query: Vec<(&str, &str)> = next_pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // The interaction may last INTERACTION_TTL from the first arrival.
    let (_, again) = arrive(&env, &as_query, NOW + 5 + INTERACTION_TTL - 1)
        .await
        .unwrap();
    assert!(!again.pushed().unwrap().opened_now);
    assert_eq!(
        shown(arrive(&env, &as_query, NOW + 5 + INTERACTION_TTL).await).1,
        "request_uri has expired"
    );
    // A forged continuation is not this browser's.
    let mut forged = as_query.clone();
    forged[2].1 = "not-the-token";
    assert_eq!(
        shown(arrive(&env, &forged, NOW + 10).await).1,
        "request_uri has already been used"
    );
    // One authorization response spends it; nothing continues afterwards.
    par::spend(&env.db, &again, NOW + 10).await.unwrap();
    assert_eq!(
        shown(par::spend(&env.db, &again, NOW + 10).await),
        (
            ErrorCode::InvalidRequestUri,
            "request_uri has expired or has already been used".into()
        )
    );
    assert_eq!(
        shown(arrive(&env, &as_query, NOW + 11).await).1,
        "request_uri has already been used"
    );
}

#[tokio::test]
async fn another_clients_request_uri_is_refused_without_using_it_up() {
    let env = env().await;
    let uri = push(&env, &[], NOW).await;
    let foreign = [("client_id", "other"), ("request_uri", uri.as_str())];
    assert_eq!(
        shown(arrive(&env, &foreign, NOW + 1).await),
        (
            ErrorCode::InvalidRequestUri,
            "request_uri was pushed by another client".into()
        )
    );
    let own = [("client_id", "app"), ("request_uri", uri.as_str())];
    assert!(arrive(&env, &own, NOW + 2).await.is_ok());
    // Unknown and foreign-shaped values.
    let unknown = format!("{REQUEST_URI_PREFIX}nothing-pushed");
    assert_eq!(
        shown(
            arrive(
                &env,
                &[("client_id", "app"), ("request_uri", &unknown)],
                NOW
            )
            .await
        )
        .1,
        "request_uri is unknown"
    );
    assert_eq!(
        shown(
            arrive(
                &env,
                &[
                    ("client_id", "app"),
                    ("request_uri", "https://app.example/request.jwt")
                ],
                NOW
            )
            .await
        )
        .0,
        ErrorCode::InvalidRequestUri
    );
    assert_eq!(
        shown(arrive(&env, &[("request_uri", uri.as_str())], NOW).await),
        (
            ErrorCode::InvalidRequest,
            "missing parameter: client_id".into()
        )
    );
}

#[tokio::test]
async fn only_the_pushed_parameters_count() {
    let env = env().await;
    let uri = push(&env, &[("prompt", "login consent")], NOW).await;
    let q = [
        ("client_id", "app"),
        ("request_uri", uri.as_str()),
        ("scope", "openid profile email"),
        ("state", "st-from-the-query"),
        ("redirect_uri", "https://evil.example/cb"),
        ("prompt", "none"),
    ];
    let (req, resolved) = arrive(&env, &q, NOW + 1).await.unwrap();
    assert_eq!(req.state.as_deref(), Some("st-pushed"));
    assert_eq!(req.redirect_uri.as_str(), REDIRECT);
    assert_eq!(req.scope.to_string(), "openid profile");
    assert!(req.prompt.login && req.prompt.consent && !req.prompt.none);
    // Client authentication is no part of the stored request.
    assert_eq!(resolved.params.get("client_secret"), None);
    // A satisfied prompt value leaves the stored request, not the query.
    let next = par::satisfied(&env.db, &resolved, "login", NOW + 2)
        .await
        .unwrap();
    let next = Params::parse(next.as_bytes()).unwrap();
    let next_pairs = pairs(&next);
    let as_query: Vec<(&str, &str)> = next_pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (req, _) = arrive(&env, &as_query, NOW + 3).await.unwrap();
    assert!(!req.prompt.login && req.prompt.consent);
}

#[tokio::test]
async fn a_push_is_validated_like_an_authorization_request() {
    let env = env().await;
    let client = app(&env).await;
    let refused = |extra: &'static [(&'static str, &'static str)]| {
        let env = &env;
        let client = &client;
        async move {
            match par::push(
                &env.core,
                &env.db,
                &NoKeySource,
                client,
                &pushed_params(extra),
                |_| None,
                NOW,
            )
            .await
            {
                Err(Error::OAuth(o)) => (o.code, o.description),
                other => panic!("expected a refusal, got {other:?}"),
            }
        }
    };
    assert_eq!(
        refused(&[("request_uri", "urn:ietf:params:oauth:request_uri:x")]).await,
        (
            ErrorCode::InvalidRequest,
            "request_uri must not be sent in a pushed authorization request".into()
        )
    );
    assert_eq!(
        refused(&[("redirect_uri", "https://evil.example/cb")]).await,
        (
            ErrorCode::InvalidRequest,
            "redirect_uri is not registered for this client".into()
        )
    );
    assert_eq!(
        refused(&[("code_challenge_method", "plain")]).await,
        (
            ErrorCode::InvalidRequest,
            "code_challenge_method must be S256".into()
        )
    );
    assert_eq!(
        refused(&[("response_type", "token")]).await.0,
        ErrorCode::UnsupportedResponseType
    );
    assert_eq!(
        refused(&[("scope", "admin")]).await.0,
        ErrorCode::InvalidScope
    );
    assert_eq!(
        refused(&[("client_id", "other")]).await,
        (
            ErrorCode::InvalidRequest,
            "client_id does not name the authenticated client".into()
        )
    );
}

#[tokio::test]
async fn require_pushed_authorization_requests_per_client_and_server_wide() {
    let challenge = challenge(VERIFIER);
    let plain = [
        ("client_id", "app"),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let env = env_with(|c| c.require_pushed_authorization_requests = true).await;
    assert_eq!(
        shown(arrive(&env, &plain, NOW).await),
        (
            ErrorCode::InvalidRequest,
            "this client must push its authorization requests (RFC 9126)".into()
        )
    );
    let uri = push(&env, &[], NOW).await;
    assert!(
        arrive(&env, &[("client_id", "app"), ("request_uri", &uri)], NOW)
            .await
            .is_ok()
    );
    let mut env = crate::support::env().await;
    env.core.settings.require_pushed_authorization_requests = true;
    assert_eq!(
        shown(arrive(&env, &plain, NOW).await),
        (
            ErrorCode::InvalidRequest,
            "this server accepts only pushed authorization requests (RFC 9126)".into()
        )
    );
    let uri = push(&env, &[], NOW).await;
    assert!(
        arrive(&env, &[("client_id", "app"), ("request_uri", &uri)], NOW)
            .await
            .is_ok()
    );
}
