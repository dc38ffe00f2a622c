//! Pushed authorization requests (RFC 9126): the client posts its
//! authorization request to the PAR endpoint, authenticated as at `/token`;
//! the request is validated exactly as `/authorize` validates
//! ([`super::validate`]), stored under the SHA-256 hash of a fresh
//! `request_uri`, and continued by `/authorize?client_id=…&request_uri=…`.
//!
//! The life of a pushed request, and what "one-time" means here:
//!
//! 1. **Pushed** at T: it must reach `/authorize` before T + [`EXPIRES_IN`]
//!    (§2.2 `expires_in`; §4: "An expired request_uri MUST be rejected as
//!    invalid").
//! 2. **Opened** by the browser's first arrival ([`Store::open_pushed_request`],
//!    one conditional update): the `request_uri` is used up at that moment
//!    (§4: "Authorization servers SHOULD treat request_uri values as
//!    one-time use"), and a continuation token — a fresh 256-bit random,
//!    stored by hash — is handed to that browser for the rest of the
//!    interaction (login, second factor, consent), which may last
//!    [`INTERACTION_TTL`]. The pages carry `client_id`, `request_uri` and
//!    the continuation, never the request's parameters; every step reads
//!    those from the store (§4: only the pushed parameters count, whatever
//!    else the query holds). A satisfied `prompt` value is removed from the
//!    stored request ([`satisfied`]), as the query-based flow drops it.
//! 3. **Spent** by its one authorization response, success or error
//!    ([`spend`], one conditional update before the response is made):
//!    after that neither the `request_uri` nor the continuation leads
//!    anywhere.
//!
//! An unknown, expired, used or another client's `request_uri` is an error
//! page, never a redirect: nothing in such a request is trusted.
//!
//! Request objects (RFC 9101, [`super::request_object`]) ride on the same
//! machinery. Pushed (RFC 9126 §3), the object's parameters are what is
//! stored. Sent by value to `/authorize`, the verified request is stored
//! here too, already opened, and the browser continues it like a pushed
//! one: so the object is checked once, at its arrival (its `exp` may pass
//! during a sign-in), `prompt` is satisfied as for a pushed request, and
//! its one authorization response spends it. A stored request made from a
//! verified object carries [`SIGNED_MARK`], which only this module writes
//! (a plain push stores only [`super::REQUEST_PARAMS`]), so every later
//! step knows it came signed (`require_signed_request_object`).

use serde::Serialize;

use super::{
    AuthorizeError, AuthorizeRequest, encode_params, known_client, request_object, validate,
};
use crate::client::KeySource;
use crate::error::{Error, ErrorCode, OAuthError};
use crate::model::{Client, ClientId, PushedRequest, UnixTime};
use crate::params::Params;
use crate::store::Store;
use crate::{Core, secret};

/// RFC 9126 §2.2: "a URN as defined in [RFC 3986] … urn:ietf:params:oauth:request_uri:".
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// Seconds a pushed request waits for the browser (§2.2 `expires_in`).
pub const EXPIRES_IN: i64 = 60;
/// Seconds an opened request may take to finish its interaction (login,
/// second factor or its enrolment, consent).
pub const INTERACTION_TTL: i64 = 1800;
/// The parameter that carries the continuation token between the pages.
pub const CONTINUE_PARAM: &str = "par_continue";
/// The stored pair that says a request came as a verified request object.
/// Never read from a query or a plain push (neither can store it).
const SIGNED_MARK: (&str, &str) = ("frontdesk_signed_request_object", "1");

/// A request as stored: its parameters ([`encode_params`]) and, when it
/// came as a verified request object, [`SIGNED_MARK`].
fn stored_params(params: &Params, drop_prompt: Option<&str>, signed: bool) -> String {
    let mut out = encode_params(params, drop_prompt, &["request_uri", CONTINUE_PARAM]);
    if signed {
        let mark = url::form_urlencoded::Serializer::new(String::new())
            .append_pair(SIGNED_MARK.0, SIGNED_MARK.1)
            .finish();
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&mark);
    }
    out
}

/// RFC 9101 §10.5 per client: the refusal of a request that did not come
/// as a signed request object, at `/authorize` (an error page: nothing in
/// such a request is trusted) and at the PAR endpoint.
fn unsigned_refused() -> OAuthError {
    OAuthError::invalid_request(
        "this client must send its authorization requests as signed request objects (RFC 9101)",
    )
}

/// The §2.2 success response (sent with 201 Created).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PushResponse {
    pub request_uri: String,
    pub expires_in: i64,
}

/// RFC 9126 §2.1: validates the pushed request of the already authenticated
/// `client` as `/authorize` would, and stores it. Errors are the §2.3 ones:
/// the code the authorization endpoint would have used (`invalid_request`
/// for those it would only have shown, e.g. an unregistered redirect URI).
/// A `request` is a request object (§3): verified with the client's keys
/// ([`request_object::unpack`]), and then only its parameters count.
pub async fn push<S: Store>(
    core: &Core,
    store: &S,
    keys: &impl KeySource,
    client: &Client,
    params: &Params,
    hint_verifier: impl Fn(&str) -> Option<String>,
    now: UnixTime,
) -> Result<PushResponse, Error> {
    let no_proof = crate::dpop::Presented::None;
    push_with_dpop(
        core,
        store,
        keys,
        client,
        params,
        &no_proof,
        hint_verifier,
        now,
    )
    .await
}

/// [`push`] with the request's `DPoP` headers (RFC 9449 §10.1): a proof
/// for `POST` at this endpoint binds the code to its key, as `dpop_jkt`
/// does; both at once must name the same key (else `invalid_dpop_proof`).
/// The proof is checked like one at the token endpoint (algorithms,
/// `iat`, nonce, single use).
#[allow(clippy::too_many_arguments)]
pub async fn push_with_dpop<S: Store>(
    core: &Core,
    store: &S,
    keys: &impl KeySource,
    client: &Client,
    params: &Params,
    dpop: &crate::dpop::Presented,
    hint_verifier: impl Fn(&str) -> Option<String>,
    now: UnixTime,
) -> Result<PushResponse, Error> {
    // §2.1: "The request_uri authorization request parameter is one
    // exception, and it MUST NOT be provided."
    if params.get("request_uri").is_some() {
        return Err(OAuthError::invalid_request(
            "request_uri must not be sent in a pushed authorization request",
        )
        .into());
    }
    let unpacked;
    let (params, signed) = match params.get("request") {
        Some(object) => {
            // §3: the object names the client (its iss, checked against
            // the authenticated client's keys); an outer client_id, which
            // the example of §3 leaves out, must name it too.
            if params
                .get("client_id")
                .is_some_and(|id| id != client.client_id.as_str())
            {
                return Err(OAuthError::invalid_request(
                    "client_id does not name the authenticated client",
                )
                .into());
            }
            unpacked = request_object::unpack(core, client, keys, object, now).await?;
            (&unpacked, true)
        }
        None if client.require_signed_request_object => return Err(unsigned_refused().into()),
        None => (params, false),
    };
    // §2.1: client_id is "similarly required in a pushed authorization
    // request"; the credentials have already been checked to name it.
    let client_id = params.required("client_id")?;
    if client_id != client.client_id.as_str() {
        return Err(OAuthError::invalid_request(
            "client_id does not name the authenticated client",
        )
        .into());
    }
    match validate(store, params, hint_verifier).await {
        Ok(_) => {}
        Err(AuthorizeError::Show(o) | AuthorizeError::Redirect { error: o, .. }) => {
            return Err(o.into());
        }
        Err(AuthorizeError::Core(e)) => return Err(e),
    }
    let proof_jkt = crate::dpop::check_with(
        core,
        store,
        dpop,
        "POST",
        &core.endpoint(crate::paths::PAR),
        None,
        None,
        &crate::dpop::algorithms_for(core, client),
        now,
    )
    .await?;
    let mut stored = stored_params(params, None, signed);
    if let Some(jkt) = proof_jkt {
        match params.get("dpop_jkt") {
            Some(asked) if asked != jkt => {
                return Err(crate::dpop::invalid_proof(
                    "the DPoP proof's key is not the one dpop_jkt names",
                ));
            }
            Some(_) => {}
            None => {
                let pair = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("dpop_jkt", &jkt)
                    .finish();
                if !stored.is_empty() {
                    stored.push('&');
                }
                stored.push_str(&pair);
            }
        }
    }
    let request_uri = format!("{REQUEST_URI_PREFIX}{}", secret::random_string(32)?);
    store
        .put_pushed_request(&PushedRequest {
            uri_hash: secret::token_hash(&request_uri),
            client_id: client.client_id.clone(),
            params: stored,
            created_at: now,
            expires_at: now + EXPIRES_IN,
            continuation_hash: None,
            used_at: None,
        })
        .await?;
    Ok(PushResponse {
        request_uri,
        expires_in: EXPIRES_IN,
    })
}

/// Where the parameters of an authorization request came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The query or form itself.
    Direct,
    /// A pushed request this browser continues.
    Pushed(Continuation),
}

/// A pushed request opened by this browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Continuation {
    client_id: String,
    request_uri: String,
    token: String,
    /// Opened by this very request (the browser's first arrival).
    pub opened_now: bool,
}

impl Continuation {
    fn uri_hash(&self) -> Vec<u8> {
        secret::token_hash(&self.request_uri)
    }

    fn token_hash(&self) -> Vec<u8> {
        secret::token_hash(&self.token)
    }
}

/// An authorization request's parameters and their source.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub params: Params,
    pub source: Source,
    /// The parameters came from a verified request object (RFC 9101).
    pub signed: bool,
}

impl Resolved {
    /// What the login, second-factor and consent pages carry: the request
    /// itself, or for a pushed one only its reference and continuation.
    pub fn carried(&self) -> String {
        match &self.source {
            Source::Direct => super::encode_request(&self.params, None),
            Source::Pushed(c) => continuation_query(c),
        }
    }

    pub fn pushed(&self) -> Option<&Continuation> {
        match &self.source {
            Source::Direct => None,
            Source::Pushed(c) => Some(c),
        }
    }
}

fn continuation_query(c: &Continuation) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", &c.client_id)
        .append_pair("request_uri", &c.request_uri)
        .append_pair(CONTINUE_PARAM, &c.token)
        .finish()
}

fn refused(description: &str) -> AuthorizeError {
    AuthorizeError::Show(OAuthError::new(ErrorCode::InvalidRequestUri, description))
}

/// Why a stored request cannot be continued with `client_id` (and, after
/// the first arrival, `token`), or `None` if it can.
fn why_not(
    found: Option<&PushedRequest>,
    client_id: &str,
    token: Option<&str>,
    now: UnixTime,
) -> Option<&'static str> {
    let Some(r) = found else {
        return Some("request_uri is unknown");
    };
    if r.client_id.as_str() != client_id {
        return Some("request_uri was pushed by another client");
    }
    if r.used_at.is_some() {
        return Some("request_uri has already been used");
    }
    match (token, &r.continuation_hash) {
        (None, Some(_)) => return Some("request_uri has already been used"),
        (Some(_), None) => return Some("request_uri has not been opened"),
        (Some(t), Some(h)) if secret::token_hash(t) != *h => {
            return Some("request_uri has already been used");
        }
        _ => {}
    }
    if r.expires_at <= now {
        return Some("request_uri has expired");
    }
    None
}

/// The parameters of an authorization request as the browser presents
/// it: its query (or form), or — with a `request_uri` — the pushed request
/// it names (RFC 9126 §4), opened on the first arrival. Refusals are error
/// pages. With `require_pushed_authorization_requests` set server-wide, a
/// request without `request_uri` is refused here (§5, §4: `invalid_request`).
pub async fn resolve<S: Store>(
    core: &Core,
    store: &S,
    query: &Params,
    now: UnixTime,
) -> Result<Resolved, AuthorizeError> {
    let Some(request_uri) = query.get("request_uri") else {
        if core.settings.require_pushed_authorization_requests {
            return Err(AuthorizeError::Show(OAuthError::invalid_request(
                "this server accepts only pushed authorization requests (RFC 9126)",
            )));
        }
        return Ok(Resolved {
            params: query.clone(),
            source: Source::Direct,
            signed: false,
        });
    };
    let client_id = query.get("client_id").ok_or_else(|| {
        AuthorizeError::Show(OAuthError::invalid_request("missing parameter: client_id"))
    })?;
    if !request_uri.starts_with(REQUEST_URI_PREFIX) {
        return Err(refused(
            "request_uri must come from the pushed authorization request endpoint of this server",
        ));
    }
    let uri_hash = secret::token_hash(request_uri);
    let (row, token, opened_now) = match query.get(CONTINUE_PARAM) {
        Some(token) => {
            let row = store.pushed_request(&uri_hash).await?;
            if let Some(why) = why_not(row.as_ref(), client_id, Some(token), now) {
                return Err(refused(why));
            }
            (row, token.to_owned(), false)
        }
        None => {
            let token = secret::random_string(32)?;
            let opened = store
                .open_pushed_request(
                    &uri_hash,
                    &ClientId(client_id.to_owned()),
                    &secret::token_hash(&token),
                    now + INTERACTION_TTL,
                    now,
                )
                .await?;
            if opened.is_none() {
                let row = store.pushed_request(&uri_hash).await?;
                return Err(refused(
                    why_not(row.as_ref(), client_id, None, now)
                        .unwrap_or("request_uri has already been used"),
                ));
            }
            (opened, token, true)
        }
    };
    let Some(row) = row else {
        return Err(refused("request_uri is unknown"));
    };
    let params = Params::parse(row.params.as_bytes()).map_err(|e| {
        AuthorizeError::Core(Error::Internal(format!(
            "stored pushed request: {}",
            e.description
        )))
    })?;
    let signed = params.get(SIGNED_MARK.0) == Some(SIGNED_MARK.1);
    Ok(Resolved {
        params,
        source: Source::Pushed(Continuation {
            client_id: client_id.to_owned(),
            request_uri: request_uri.to_owned(),
            token,
            opened_now,
        }),
        signed,
    })
}

/// The whole check of an authorization request at `/authorize` and at every
/// step after it: [`resolve`], [`validate`] on the parameters it gives, and
/// the client's `require_pushed_authorization_requests` (RFC 9126 §6) and
/// `require_signed_request_object` (RFC 9101 §10.5) — error pages, since
/// nothing in such a request is trusted then. A pushed request that no
/// longer validates (its client changed) is spent by the error response it
/// gets. A request object by value is [`by_value`]'s.
pub async fn validate_resolved<S: Store>(
    core: &Core,
    store: &S,
    keys: &impl KeySource,
    query: &Params,
    hint_verifier: impl Fn(&str) -> Option<String>,
    now: UnixTime,
) -> Result<(AuthorizeRequest, Resolved), AuthorizeError> {
    if let Some(object) = query.get("request") {
        return by_value(core, store, keys, query, object, hint_verifier, now).await;
    }
    let resolved = resolve(core, store, query, now).await?;
    let req = match validate(store, &resolved.params, hint_verifier).await {
        Ok(r) => r,
        Err(e @ AuthorizeError::Redirect { .. }) => {
            spend(store, &resolved, now).await?;
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    if req.client.requires_par() && resolved.pushed().is_none() {
        return Err(pushing_required());
    }
    if req.client.require_signed_request_object && !resolved.signed {
        return Err(AuthorizeError::Show(unsigned_refused()));
    }
    Ok((req, resolved))
}

fn pushing_required() -> AuthorizeError {
    AuthorizeError::Show(OAuthError::invalid_request(
        "this client must push its authorization requests (RFC 9126)",
    ))
}

/// `/authorize?client_id=…&request=…` (RFC 9101 §5.1): the object is
/// verified with the keys of the client the outer `client_id` names — any
/// failure is an error page, since the redirect URI is inside it —, its
/// parameters are validated as any request's (errors then go to the
/// registered redirect URI it names), and the request is stored opened,
/// for the browser to continue ([`Continuation::opened_now`]).
async fn by_value<S: Store>(
    core: &Core,
    store: &S,
    keys: &impl KeySource,
    query: &Params,
    object: &str,
    hint_verifier: impl Fn(&str) -> Option<String>,
    now: UnixTime,
) -> Result<(AuthorizeRequest, Resolved), AuthorizeError> {
    // RFC 9101 §5: with request, "request_uri MUST NOT be present".
    if query.get("request_uri").is_some() {
        return Err(AuthorizeError::Show(OAuthError::invalid_request(
            "request and request_uri must not both be sent (RFC 9101)",
        )));
    }
    if core.settings.require_pushed_authorization_requests {
        return Err(AuthorizeError::Show(OAuthError::invalid_request(
            "this server accepts only pushed authorization requests (RFC 9126)",
        )));
    }
    let client = known_client(store, query).await?;
    let params = request_object::unpack(core, &client, keys, object, now)
        .await
        .map_err(AuthorizeError::Show)?;
    let req = validate(store, &params, hint_verifier).await?;
    if req.client.requires_par() {
        return Err(pushing_required());
    }
    let request_uri = format!("{REQUEST_URI_PREFIX}{}", secret::random_string(32)?);
    let token = secret::random_string(32)?;
    store
        .put_pushed_request(&PushedRequest {
            uri_hash: secret::token_hash(&request_uri),
            client_id: req.client.client_id.clone(),
            params: stored_params(&params, None, true),
            created_at: now,
            expires_at: now + INTERACTION_TTL,
            continuation_hash: Some(secret::token_hash(&token)),
            used_at: None,
        })
        .await?;
    let resolved = Resolved {
        params,
        source: Source::Pushed(Continuation {
            client_id: req.client.client_id.as_str().to_owned(),
            request_uri,
            token,
            opened_now: true,
        }),
        signed: true,
    };
    Ok((req, resolved))
}

/// The carried query once the user has satisfied `prompt` (`login` after a
/// sign-in, `consent` after approving): for a direct request, its
/// parameters without that value; for a pushed one, the same continuation,
/// the value removed from the stored request.
pub async fn satisfied<S: Store>(
    store: &S,
    resolved: &Resolved,
    prompt: &str,
    now: UnixTime,
) -> Result<String, AuthorizeError> {
    match &resolved.source {
        Source::Direct => Ok(super::encode_request(&resolved.params, Some(prompt))),
        Source::Pushed(c) => {
            let params = stored_params(&resolved.params, Some(prompt), resolved.signed);
            if !store
                .update_pushed_request(&c.uri_hash(), &c.token_hash(), &params, now)
                .await?
            {
                return Err(refused("request_uri has expired or has already been used"));
            }
            Ok(continuation_query(c))
        }
    }
}

/// Spends a pushed request just before its authorization response is
/// made; a request spent meanwhile (another tab) is an error page. Nothing
/// to do for a direct request.
pub async fn spend<S: Store>(
    store: &S,
    resolved: &Resolved,
    now: UnixTime,
) -> Result<(), AuthorizeError> {
    let Source::Pushed(c) = &resolved.source else {
        return Ok(());
    };
    if store
        .spend_pushed_request(&c.uri_hash(), &c.token_hash(), now)
        .await?
    {
        Ok(())
    } else {
        Err(refused("request_uri has expired or has already been used"))
    }
}
