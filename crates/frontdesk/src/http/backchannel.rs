//! Back-channel endpoints: token (RFC 6749 §3.2), introspection (RFC 7662),
//! revocation (RFC 7009), pushed authorization requests (RFC 9126) and
//! device authorization (RFC 8628 §3.1). Each handler is extract → call
//! core → respond.
//!
//! All five authenticate the client, so all five run under the per-peer
//! throttle of failed client authentication (`crate::throttle`): a peer over
//! its limit is answered 429 unless its credentials verify against the
//! record this node holds of the client, and every `invalid_client` answer
//! counts against it. Failures against a known
//! client re-read it at most once a second (`client::Reread`).

use std::net::IpAddr;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use frontdesk_core::audit::{Actor, Kind};
use frontdesk_core::authorize::par;
use frontdesk_core::client::{Credentials, Endpoint};
use frontdesk_core::error::{Error, ErrorCode, OAuthError};
use frontdesk_core::params::{Params, parse_basic};
use frontdesk_core::store::Store;
use frontdesk_core::{client, dpop, introspect, logout, revoke, token};

use super::error::{ApiError, BodyError, NO_STORE, client_auth_throttled, with_dpop_nonce};
use crate::app::{AppState, now};
use crate::client_addr::ClientAddr;

/// The form body of a back-channel request: `application/x-www-form-urlencoded`
/// (RFC 6749 §3.2), parsed with duplicate detection. A body that is too
/// large (413), too slow (408) or unreadable (400) gets the §5.2 shape.
// The error is the finished response, built once on a cold path.
#[allow(clippy::result_large_err)]
fn form(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Params, Response> {
    let body = body.map_err(|e| BodyError::from(&e).oauth_response())?;
    if !super::is_form(headers) {
        return Err(ApiError::from(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ))
        .into_response());
    }
    Params::parse(&body).map_err(|e| ApiError::from(e).into_response())
}

/// Client credentials from the Authorization header and the form.
fn credentials(headers: &HeaderMap, params: &Params) -> Result<Credentials, ApiError> {
    let basic = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(v) => {
            let v = v.to_str().map_err(|_| OAuthError::invalid_client())?;
            Some(parse_basic(v)?)
        }
    };
    Ok(Credentials::from_parts(client::Presented {
        basic: basic
            .as_ref()
            .map(|(id, secret)| (id.as_str(), secret.as_str())),
        client_id: params.get("client_id"),
        client_secret: params.get("client_secret"),
        client_assertion_type: params.get("client_assertion_type"),
        client_assertion: params.get("client_assertion"),
    })?)
}

/// 429 while `peer` is over its limit of failed client authentications,
/// unless the request's credentials verify against the record this node
/// holds of that client (`client::admits_while_throttled`): then it goes on
/// to be authenticated as usual. A body that could not be read (`None`)
/// is never admitted.
fn refused(
    app: &AppState,
    peer: IpAddr,
    endpoint: Endpoint,
    headers: &HeaderMap,
    params: Option<&Params>,
    now: i64,
) -> Option<Response> {
    let wait = app.client_auth.refused(peer)?;
    let admitted = params
        .and_then(|p| credentials(headers, p).ok())
        .is_some_and(|creds| {
            let remembered = client::lookup_id(&creds).and_then(|id| app.db.remembered_client(&id));
            client::admits_while_throttled(
                &app.core,
                remembered,
                &creds,
                &app.client_jwks,
                endpoint,
                now,
            )
        });
    (!admitted).then(|| client_auth_throttled(label(endpoint), wait))
}

/// The endpoint's name in metrics and throttle answers.
fn label(endpoint: Endpoint) -> &'static str {
    match endpoint {
        Endpoint::Token => "token",
        Endpoint::Introspection => "introspect",
        Endpoint::Revocation => "revoke",
        Endpoint::PushedAuthorization => "par",
        Endpoint::DeviceAuthorization => "device_authorization",
    }
}

/// What every endpoint but `/token` does first: read the form (under the
/// throttle), then authenticate the client.
async fn authenticated(
    app: &AppState,
    peer: IpAddr,
    endpoint: Endpoint,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    now: i64,
) -> Result<(Params, frontdesk_core::model::Client), Response> {
    let params = match form(headers, body) {
        Ok(p) => p,
        Err(r) => return Err(refused(app, peer, endpoint, headers, None, now).unwrap_or(r)),
    };
    if let Some(r) = refused(app, peer, endpoint, headers, Some(&params), now) {
        return Err(r);
    }
    let client = async {
        let creds = credentials(headers, &params)?;
        Ok::<_, ApiError>(
            client::authenticate(
                &app.core,
                &app.db,
                &creds,
                &app.client_auth,
                &app.client_jwks,
                endpoint,
                now,
            )
            .await?,
        )
    }
    .await;
    match client {
        Ok(c) => Ok((params, c)),
        Err(e) => Err(failure(app, peer, label(endpoint), e).await),
    }
}

/// The response to a failed request: an `invalid_client` outcome counts
/// against `peer` (on this node, and with `client_auth_throttle_shared` in
/// the database for every node), and one over the limit is answered 429.
async fn failure(app: &AppState, peer: IpAddr, endpoint: &'static str, e: ApiError) -> Response {
    match e {
        ApiError(Error::OAuth(o)) if o.code == ErrorCode::InvalidClient => {
            if let Some(wait) = app.client_auth.failed(peer) {
                return client_auth_throttled(endpoint, wait);
            }
            if let Some((key, max, window)) = app.client_auth.shared(peer) {
                let window = i64::try_from(window.as_secs()).unwrap_or(i64::MAX);
                match app.db.note_login_failure(&key, now(), window).await {
                    Ok(count) if count > max => {
                        return client_auth_throttled(endpoint, app.client_auth.block(peer));
                    }
                    Ok(_) => {}
                    // The node's own limit still holds; the answer stays
                    // `invalid_client`.
                    Err(e) => {
                        tracing::warn!(error = %e, "counting a failed client authentication in the store failed")
                    }
                }
            }
            ApiError::from(o).into_response()
        }
        other => other.into_response(),
    }
}

/// The token endpoint. With `use_dpop_nonce`, every answer carries the
/// current `DPoP-Nonce` (RFC 9449 §8).
pub async fn token(
    State(app): State<AppState>,
    Extension(ClientAddr(peer)): Extension<ClientAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let now = now();
    let nonce = dpop::announced_nonce(&app.core, now);
    with_dpop_nonce(token_response(&app, peer, &headers, body, now).await, nonce)
}

async fn token_response(
    app: &AppState,
    peer: IpAddr,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    now: i64,
) -> Response {
    let params = match form(headers, body) {
        Ok(p) => p,
        Err(r) => return refused(app, peer, Endpoint::Token, headers, None, now).unwrap_or(r),
    };
    if let Some(r) = refused(app, peer, Endpoint::Token, headers, Some(&params), now) {
        return r;
    }
    let result = async {
        let creds = credentials(headers, &params)?;
        // Only for the metric's label: no allocation when metrics are off.
        let client_id = crate::telemetry::enabled()
            .then(|| client::lookup_id(&creds))
            .flatten();
        let keys = app.keys();
        let reread = &app.client_auth;
        let proofs =
            dpop::Presented::from_values(headers.get_all("dpop").iter().map(|v| v.as_bytes()));
        let resp = token::exchange(
            &app.core,
            &app.db,
            &keys,
            creds,
            &params,
            &proofs,
            reread,
            &app.client_jwks,
            now,
        )
        .await?;
        Ok::<_, ApiError>((resp, client_id))
    }
    .await;
    match result {
        Ok((resp, client_id)) => {
            crate::telemetry::token_issued(
                params.get("grant_type").unwrap_or_default(),
                client_id.as_ref().map_or("", |c| c.as_str()),
            );
            (StatusCode::OK, NO_STORE, axum::Json(resp)).into_response()
        }
        Err(e) => {
            if let ApiError(Error::OAuth(o)) = &e
                && let Some(incident) = &o.incident
            {
                crate::audit::record(&app.db, crate::audit::incident(incident, now)).await;
            }
            failure(app, peer, "token", e).await
        }
    }
}

pub async fn introspect(
    State(app): State<AppState>,
    Extension(ClientAddr(peer)): Extension<ClientAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let now = now();
    let (params, client) =
        match authenticated(&app, peer, Endpoint::Introspection, &headers, body, now).await {
            Ok(v) => v,
            Err(r) => return r,
        };
    let result = async {
        let token = params.required("token")?;
        let keys = app.keys();
        Ok::<_, ApiError>(
            introspect::introspect(&app.core, &app.db, &keys, &client, token, now).await?,
        )
    }
    .await;
    match result {
        Ok(resp) => (StatusCode::OK, NO_STORE, axum::Json(resp)).into_response(),
        Err(e) => failure(&app, peer, "introspect", e).await,
    }
}

pub async fn revoke(
    State(app): State<AppState>,
    Extension(ClientAddr(peer)): Extension<ClientAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let now = now();
    let (params, client) =
        match authenticated(&app, peer, Endpoint::Revocation, &headers, body, now).await {
            Ok(v) => v,
            Err(r) => return r,
        };
    let result = async {
        let token = params.required("token")?;
        let keys = app.keys();
        let revoked = revoke::revoke(&app.core, &app.db, &keys, &client, token, now).await?;
        Ok::<_, ApiError>((client, revoked))
    }
    .await;
    match result {
        Ok((client, revoked)) => {
            if let Some(r) = revoked {
                let mut e = crate::audit::event(Kind::TokenRevoke, now)
                    .actor(&Actor::Client(client.client_id.clone()))
                    .client(&client.client_id)
                    .label("token_type", r.token_type);
                if let Some(sub) = &r.sub {
                    e = e.subject(sub);
                }
                if let Some(g) = &r.grant_id {
                    e = e.grant_id(g);
                }
                crate::audit::record(&app.db, e).await;
            }
            (StatusCode::OK, NO_STORE).into_response()
        }
        Err(e) => failure(&app, peer, "revoke", e).await,
    }
}

/// RFC 9126 §2: the pushed authorization request endpoint. The client
/// authenticates as at `/token` (§2.1, public clients with their
/// `client_id`), the request is validated as `/authorize` validates it and
/// stored; the answer is 201 with `request_uri` and `expires_in` (§2.2),
/// errors are §2.3's (the token endpoint's JSON shape).
/// The PAR endpoint (RFC 9126). A `DPoP` proof here binds the code (RFC
/// 9449 §10.1); with `use_dpop_nonce`, every answer carries the current
/// `DPoP-Nonce`, as at the token endpoint.
pub async fn par(
    State(app): State<AppState>,
    Extension(ClientAddr(peer)): Extension<ClientAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let now = now();
    let nonce = dpop::announced_nonce(&app.core, now);
    with_dpop_nonce(par_response(&app, peer, &headers, body, now).await, nonce)
}

async fn par_response(
    app: &AppState,
    peer: IpAddr,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    now: i64,
) -> Response {
    let (params, client) =
        match authenticated(app, peer, Endpoint::PushedAuthorization, headers, body, now).await {
            Ok(v) => v,
            Err(r) => return r,
        };
    let result = async {
        let keys = app.keys();
        let proofs =
            dpop::Presented::from_values(headers.get_all("dpop").iter().map(|v| v.as_bytes()));
        let pushed = par::push_with_dpop(
            &app.core,
            &app.db,
            &app.client_jwks,
            &client,
            &params,
            &proofs,
            |hint| logout::verify_id_token_hint(&app.core, &keys, hint, now).map(|c| c.sub),
            now,
        )
        .await?;
        Ok::<_, ApiError>(pushed)
    }
    .await;
    match result {
        Ok(pushed) => (StatusCode::CREATED, NO_STORE, axum::Json(pushed)).into_response(),
        Err(e) => failure(app, peer, "par", e).await,
    }
}

/// The device authorization endpoint (RFC 8628 §3.1): a confidential
/// client authenticates, a public one names itself with `client_id`; the
/// answer (§3.2) is JSON, never cached.
pub async fn device_authorization(
    State(app): State<AppState>,
    Extension(ClientAddr(peer)): Extension<ClientAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let now = now();
    let (params, client) = match authenticated(
        &app,
        peer,
        Endpoint::DeviceAuthorization,
        &headers,
        body,
        now,
    )
    .await
    {
        Ok(v) => v,
        Err(r) => return r,
    };
    match frontdesk_core::device::authorize(&app.core, &app.db, &client, &params, now).await {
        Ok(answer) => (StatusCode::OK, NO_STORE, axum::Json(answer)).into_response(),
        Err(e) => failure(&app, peer, "device_authorization", e.into()).await,
    }
}
