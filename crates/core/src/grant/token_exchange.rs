//! Token Exchange, RFC 8693: a service that received a user's token asks
//! for one to call the next service with — for another audience, never a
//! wider scope, never a longer life — acting for the user (delegation,
//! `act` naming it, nested after any earlier actor, §4.1) or, where its
//! policy allows, in their place (impersonation, no `act` added).
//!
//! Subject and actor tokens must be ours and live: an access token is
//! checked like introspection checks it (signature or stored row, expiry,
//! revocation, the grant behind it); an ID token by signature, issuer and
//! expiry. What a client may exchange is its `token_exchange` policy:
//! which subject-token audiences it may present, which audiences it may
//! ask for. Nothing without one. The new token is an RFC 9068 JWT access
//! token (the only kind that can carry `act`), on the subject token's
//! grant when it has one, so that ending the user's grant ends it too.

use frontdesk_jose::{Actor, IdTokenClaims};

use super::ensure_allowed;
use crate::access_token::{AccessGrant, TokenResponse, prepare_access_token};
use crate::error::{Error, ErrorCode, OAuthError};
use crate::introspect::{Known, find_live};
use crate::keys::KeyRing;
use crate::model::{
    AccessTokenFormat, AuthMethod, Client, ClientId, GrantType, SubjectType, UnixTime, to_u64,
};
use crate::params::Params;
use crate::scope::Scope;
use crate::store::Store;
use crate::{Core, mfa};

/// RFC 8693 §3 token type identifiers.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const ID_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:id_token";

/// What a checked subject token stands for.
struct Subject {
    /// The `sub` as the subject token has it, which the new token keeps:
    /// a pairwise one stays pairwise, so no service down the chain can
    /// link it to the user's other identifiers.
    sub: String,
    audience: Vec<String>,
    scope: Scope,
    exp: UnixTime,
    grant_id: Option<String>,
    auth_time: Option<UnixTime>,
    amr: Option<Vec<String>>,
    acr: Option<&'static str>,
    act: Option<Actor>,
    /// §4.4: who may act for the subject, when its token says.
    may_act: Option<Actor>,
    /// An ID token's live session (`sid`) and user.
    session: Option<(String, String)>,
}

fn refused(why: &str) -> Error {
    // §2.2.2: "If … either the subject_token or actor_token are invalid for
    // any reason, or are unacceptable based on policy, the invalid_request
    // error code MUST be used."
    OAuthError::invalid_request(why).into()
}

pub async fn exchange<S: Store>(
    core: &Core,
    store: &S,
    keys: &KeyRing,
    client: &Client,
    params: &Params,
    jkt: Option<&str>,
    now: UnixTime,
) -> Result<TokenResponse, Error> {
    ensure_allowed(client, GrantType::TokenExchange)?;
    if client.token_endpoint_auth_method == AuthMethod::None {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "token exchange needs a confidential client",
        )
        .into());
    }
    let policy = client.token_exchange.clone().unwrap_or_default();
    let subject_token = params.required("subject_token")?;
    let subject_type = params.required("subject_token_type")?;
    if let Some(t) = params.get("requested_token_type")
        && t != ACCESS_TOKEN_TYPE
    {
        return Err(OAuthError::invalid_request(
            "requested_token_type: only urn:ietf:params:oauth:token-type:access_token is issued",
        )
        .into());
    }
    let actor = match (params.get("actor_token"), params.get("actor_token_type")) {
        (None, None) => None,
        (Some(token), Some(ACCESS_TOKEN_TYPE)) => Some(token),
        (Some(_), Some(_)) => {
            return Err(refused(
                "actor_token_type: only urn:ietf:params:oauth:token-type:access_token is accepted",
            ));
        }
        // §2.1: actor_token_type "is REQUIRED when the actor_token
        // parameter is present … and MUST NOT be included otherwise".
        (Some(_), None) => return Err(refused("actor_token_type is required with actor_token")),
        (None, Some(_)) => return Err(refused("actor_token_type without actor_token")),
    };

    // The target first: a request for an audience the client may never
    // have costs no token lookup.
    let mut audience: Vec<String> = Vec::new();
    for a in params.get_all("audience").chain(params.get_all("resource")) {
        if !policy.audiences.iter().any(|p| p == a) {
            return Err(OAuthError::new(
                ErrorCode::InvalidTarget,
                "this client may not exchange tokens for that audience",
            )
            .into());
        }
        if !audience.iter().any(|w| w == a) {
            audience.push(a.to_owned());
        }
    }
    if audience.is_empty() {
        return Err(OAuthError::invalid_request("audience or resource is required").into());
    }

    let subject = match subject_type {
        ACCESS_TOKEN_TYPE => access_subject(core, store, keys, subject_token, now).await?,
        ID_TOKEN_TYPE => id_token_subject(core, store, keys, subject_token, now).await?,
        _ => {
            return Err(refused(
                "subject_token_type: an access_token or id_token of this server is accepted",
            ));
        }
    };
    if !subject
        .audience
        .iter()
        .any(|a| policy.subject_audiences.contains(a))
    {
        return Err(refused(
            "the subject_token was not issued for an audience this client may exchange",
        ));
    }
    let scope = match params.get("scope") {
        None => subject.scope.clone(),
        Some(s) => {
            let asked = Scope::parse(s)
                .map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e.to_string()))?;
            if !asked.is_subset_of(&subject.scope) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    "the scope goes beyond the subject_token's",
                )
                .into());
            }
            asked
        }
    };

    // §4.1: the actor, the earlier chain below it.
    let actor_sub = match actor {
        Some(token) => Some(actor_of(core, store, keys, client, token, now).await?),
        None => None,
    };
    // §4.4: a subject token that names who may act for it is exchanged
    // only by that party.
    if let Some(may) = &subject.may_act {
        let acting = actor_sub.as_deref().unwrap_or(client.client_id.as_str());
        if may.sub != acting {
            return Err(refused(
                "the subject_token's may_act does not name this actor",
            ));
        }
    }
    let act = match actor_sub {
        Some(actor_sub) => Some(Actor {
            sub: actor_sub,
            act: subject.act.clone().map(Box::new),
        }),
        None if policy.impersonation => subject.act.clone(),
        None => Some(Actor {
            sub: client.client_id.0.clone(),
            act: subject.act.clone().map(Box::new),
        }),
    };

    // Never longer than the subject token: the chain ends where it began.
    let left = subject.exp - now;
    let mut issuing = client.clone();
    issuing.access_token_format = AccessTokenFormat::Jwt;
    issuing.access_token_ttl = issuing.access_token_ttl.min(left).max(1);
    // An ID token hangs on no grant: the exchange makes one in its
    // session, so that ending the session ends what was derived from it.
    let grant_id = match (&subject.grant_id, &subject.session) {
        (Some(g), _) => Some(g.clone()),
        (None, Some((sid, user_sub))) => {
            let grant = crate::model::Grant {
                grant_id: crate::secret::random_string(16)?,
                client_id: client.client_id.clone(),
                sub: user_sub.clone(),
                sid: Some(sid.clone()),
                scope: scope.to_string(),
                audience: audience.clone(),
                auth_time: subject.auth_time.unwrap_or(now),
                amr: subject.amr.clone().unwrap_or_default(),
                idp: None,
                claims: None,
                created_at: now,
                expires_at: subject.exp,
                revoked_at: None,
            };
            store.put_grant(&grant).await?;
            Some(grant.grant_id)
        }
        (None, None) => None,
    };
    let grant = AccessGrant {
        client: &issuing,
        sub: subject.sub.clone(),
        scope: scope.clone(),
        audience,
        auth_time: subject.auth_time,
        amr: subject.amr.clone(),
        acr: subject.acr,
        grant_id,
        jti_suffix: None,
        opaque_value: None,
        dpop_jkt: jkt.map(str::to_owned),
        groups: None,
        act,
    };
    let minted = prepare_access_token(core, keys, &grant, now)?;
    Ok(TokenResponse {
        access_token: minted.token,
        token_type: grant.token_type(),
        expires_in: minted.ttl,
        scope: scope.to_string(),
        refresh_token: None,
        id_token: None,
        issued_token_type: Some(ACCESS_TOKEN_TYPE),
    })
}

/// An access token of ours that still stands, as a subject.
async fn access_subject<S: Store>(
    core: &Core,
    store: &S,
    keys: &KeyRing,
    token: &str,
    now: UnixTime,
) -> Result<Subject, Error> {
    let invalid = || refused("the subject_token is not an active access token of this server");
    match find_live(core, store, keys, token, now).await? {
        Some(Known::Jwt(c, grant)) => Ok(Subject {
            sub: c.sub,
            audience: c.aud.0,
            scope: Scope::parse(c.scope.as_deref().unwrap_or_default()).unwrap_or_default(),
            exp: i64::try_from(c.exp).unwrap_or(now),
            grant_id: grant.as_ref().map(|g| g.grant_id.clone()),
            auth_time: c.auth_time.and_then(|t| i64::try_from(t).ok()),
            amr: c.amr,
            acr: grant.as_ref().map(mfa::grant_acr),
            act: c.act,
            may_act: c.may_act,
            session: None,
        }),
        Some(Known::Opaque(t, grant)) => Ok(Subject {
            sub: t.sub,
            audience: t.audience,
            scope: Scope::parse(&t.scope).unwrap_or_default(),
            exp: t.expires_at,
            grant_id: grant.as_ref().map(|g| g.grant_id.clone()),
            auth_time: grant.as_ref().map(|g| g.auth_time),
            amr: grant.as_ref().map(|g| g.amr.clone()),
            acr: grant.as_ref().map(mfa::grant_acr),
            act: None,
            may_act: None,
            session: None,
        }),
        Some(Known::Refresh(..)) | None => Err(invalid()),
    }
}

/// An ID token of ours, unexpired, for a client with public subjects (a
/// pairwise `sub` names nobody outside its sector), whose user is active.
async fn id_token_subject<S: Store>(
    core: &Core,
    store: &S,
    keys: &KeyRing,
    token: &str,
    now: UnixTime,
) -> Result<Subject, Error> {
    let invalid = || refused("the subject_token is not a valid ID token of this server");
    let expect = crate::logout::id_token_expectations(core, to_u64(core.settings.leeway));
    let Ok((_, claims)) =
        frontdesk_jose::verify::<IdTokenClaims>(token, &keys.jwks(now), &expect, to_u64(now))
    else {
        return Err(invalid());
    };
    // Leeway helps other nodes' clocks, never a token past its exp.
    if claims.exp <= to_u64(now) {
        return Err(invalid());
    }
    let [issued_to] = claims.aud.0.as_slice() else {
        return Err(invalid());
    };
    let Some(rp) = store.client(&ClientId(issued_to.clone())).await? else {
        return Err(invalid());
    };
    if rp.subject_type == SubjectType::Pairwise {
        return Err(refused(
            "an ID token with a pairwise sub cannot be exchanged",
        ));
    }
    match store.user(&claims.sub).await? {
        Some(u) if !u.disabled => {}
        _ => return Err(invalid()),
    }
    // The session it was issued in must still be live: after signing out,
    // the ID token is no key to new tokens.
    let Some(sid) = claims.sid.clone() else {
        return Err(invalid());
    };
    if !store
        .list_sessions(&claims.sub, now)
        .await?
        .iter()
        .any(|s| s.sid == sid)
    {
        return Err(refused("the subject_token's session has ended"));
    }
    // An ID token carries no scope: the bound is what the user approved
    // for the application it was issued to (all of its scope for a first
    // party one, which never asks).
    let scope = if rp.first_party {
        rp.scope.clone()
    } else {
        match store.consent(&claims.sub, &rp.client_id).await? {
            Some(c) => Scope::parse(&c.scope).unwrap_or_default(),
            None => return Err(invalid()),
        }
    };
    Ok(Subject {
        session: Some((sid, claims.sub.clone())),
        sub: claims.sub,
        audience: claims.aud.0,
        scope,
        exp: i64::try_from(claims.exp).unwrap_or(now),
        grant_id: None,
        auth_time: claims.auth_time.and_then(|t| i64::try_from(t).ok()),
        amr: claims.amr,
        acr: None,
        act: None,
        may_act: None,
    })
}

/// The actor token's subject: an access token of ours, live, issued to the
/// client making the request (no one acts with another client's token).
async fn actor_of<S: Store>(
    core: &Core,
    store: &S,
    keys: &KeyRing,
    client: &Client,
    token: &str,
    now: UnixTime,
) -> Result<String, Error> {
    let (sub, issued_to) = match find_live(core, store, keys, token, now).await? {
        Some(Known::Jwt(c, _)) => (c.sub, c.client_id),
        Some(Known::Opaque(t, _)) => (t.sub, t.client_id.0),
        _ => {
            return Err(refused(
                "the actor_token is not an active access token of this server",
            ));
        }
    };
    if issued_to != client.client_id.0 {
        return Err(refused("the actor_token was issued to another client"));
    }
    Ok(sub)
}
