//! Refreshing an Access Token, RFC 6749 §6, with rotation on every use
//! (RFC 9700 §4.14.2): the old token is consumed and a new one issued in one
//! atomic step; replaying a consumed token revokes the whole grant. A retry
//! of the same old token within a short grace window (a lost response, two
//! tabs) gets the same successor instead of killing the session: the
//! successor is derived from the old token with a server key, so nothing
//! secret is stored to make that possible.

use super::{derive, ensure_allowed, invalid_grant, not_admitted};
use crate::access_token::{AccessGrant, TokenResponse, prepare_access_token};
use crate::audit::Incident;
use crate::client::validate_resource;
use crate::error::{Error, ErrorCode, OAuthError};
use crate::id_token::{self, IdTokenInput};
use crate::keys::KeyRing;
use crate::model::{Client, GrantType, RefreshToken, Rotation, UnixTime};
use crate::params::Params;
use crate::scope::Scope;
use crate::store::Store;
use crate::{Core, dpop, groups, secret};

pub async fn exchange<S: Store>(
    core: &Core,
    store: &S,
    keys: &KeyRing,
    client: &Client,
    params: &Params,
    jkt: Option<&str>,
    now: UnixTime,
) -> Result<TokenResponse, Error> {
    ensure_allowed(client, GrantType::RefreshToken)?;
    let presented = params.required("refresh_token")?;
    let old_hash = secret::token_hash(presented);
    let Some((old, grant)) = store.refresh_token(&old_hash).await? else {
        return Err(invalid_grant("the refresh token is invalid"));
    };
    // §6: bound to the client it was issued to. Checked before anything is
    // consumed, so another client cannot burn it.
    if old.client_id != client.client_id {
        return Err(invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    if grant.revoked_at.is_some() || now >= grant.expires_at {
        return Err(invalid_grant(
            "the refresh token has been revoked or has expired",
        ));
    }
    if old.consumed_at.is_none() && now >= old.expires_at {
        return Err(invalid_grant("the refresh token has expired"));
    }
    // RFC 9449 §5: a public client's refresh token is used only with a
    // proof of the key it is bound to; checked before it is consumed. One
    // already consumed, presented without that key, is not its client
    // retrying: a replay (RFC 9700 §4.14.2), and the grant goes.
    if let Err(e) = dpop::check_refresh_binding(old.dpop_jkt.as_deref(), jkt) {
        if old.consumed_at.is_some() {
            store.revoke_grant(&grant.grant_id, now).await?;
            return Err(OAuthError::new(
                ErrorCode::InvalidGrant,
                "the refresh token was already used; the grant is revoked",
            )
            .with_incident(Incident::RefreshReuse {
                grant_id: grant.grant_id.clone(),
                sub: grant.sub.clone(),
                client_id: client.client_id.clone(),
            })
            .into());
        }
        return Err(e);
    }

    // §6: "The requested scope MUST NOT include any scope not originally
    // granted by the resource owner".
    let granted = Scope::parse(&old.scope).unwrap_or_default();
    let scope = match params.get("scope") {
        None => granted.clone(),
        Some(s) => {
            let asked = Scope::parse(s)
                .map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e.to_string()))?;
            if !asked.is_subset_of(&granted) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    "the requested scope exceeds the scope granted",
                )
                .into());
            }
            asked
        }
    };
    // RFC 8707 §2.2: a resource must be one the grant covered.
    let mut audience = Vec::new();
    for r in params.get_all("resource") {
        validate_resource(r)?;
        if !grant.audience.iter().any(|a| a == r) {
            return Err(OAuthError::new(
                ErrorCode::InvalidTarget,
                "the resource was not part of the original grant",
            )
            .into());
        }
        audience.push(r.to_owned());
    }
    if audience.is_empty() {
        audience = grant.audience.clone();
    }

    // Everything the refresh needs is read and checked before the old token
    // is consumed, and everything it writes is written in the transaction
    // that consumes it: once that commits, only the reply can be lost.
    let user = store
        .user(&grant.sub)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(|| invalid_grant("the user is no longer active"))?;
    // A user taken out of the client's required groups loses it at the
    // next refresh.
    let user_groups = groups::load(store, client, &scope, &user.sub).await?;
    if !groups::admits(client, &user_groups) {
        return Err(not_admitted());
    }
    let released = groups::claim(client, &scope, &user_groups);

    // FAPI 2.0 Security Profile §5.3.2.1: no rotation. The same token stays,
    // its idle expiry renewed, with a fresh access token; a consumed one (of
    // a client that rotated before) goes through rotation's reuse check.
    if !client.rotates_refresh_tokens() && old.consumed_at.is_none() {
        return renew(
            core, store, keys, client, presented, &old, &grant, &user, scope, audience, jkt,
            released, now,
        )
        .await;
    }

    // The successor: HMAC(pepper, "refresh-successor:" ‖ old), so a retry
    // computes the same one.
    let next = derive(core, "refresh-successor", presented);
    let new = RefreshToken {
        token_hash: secret::token_hash(&next),
        grant_id: grant.grant_id.clone(),
        client_id: client.client_id.clone(),
        // §6: "the refresh token scope MUST be identical to that of the
        // refresh token included by the client in the request".
        scope: old.scope.clone(),
        issued_at: now,
        expires_at: (now + core.settings.refresh_idle_ttl).min(grant.expires_at),
        consumed_at: None,
        replaced_by: None,
        // The successor stays bound to the same key (RFC 9449 §5); a
        // public client's first binding comes with its first proof.
        dpop_jkt: old
            .dpop_jkt
            .clone()
            .or_else(|| dpop::refresh_binding(client, jkt)),
    };
    // The access token's instant is the rotation's, so that a retry inside
    // the grace window answers with the same token (`jti`, `iat`, and for
    // an opaque token the same value, derived from the old token and what
    // this request asked for).
    let minted_at = old.consumed_at.unwrap_or(now);
    let opaque_value = derive(
        core,
        "refresh-access",
        &format!("{presented} {scope} {}", audience.join(" ")),
    );
    let access = AccessGrant {
        client,
        // The sub this client sees (OIDC Core §8).
        sub: crate::subject::subject(&core.pepper, client, &user.sub),
        scope: scope.clone(),
        audience,
        auth_time: Some(grant.auth_time),
        amr: Some(grant.amr.clone()),
        acr: Some(crate::mfa::grant_acr(&grant)),
        grant_id: Some(grant.grant_id.clone()),
        jti_suffix: Some(next.chars().take(22).collect()),
        opaque_value: Some(opaque_value),
        dpop_jkt: jkt.map(str::to_owned),
        groups: released.clone(),
        act: None,
    };
    let minted = prepare_access_token(core, keys, &access, minted_at)?;
    let (minted, grant) = match store
        .rotate_refresh(
            &old_hash,
            &new,
            minted.stored.as_ref(),
            now,
            client.refresh_grace(core.settings.refresh_grace),
        )
        .await?
    {
        // A retry read after the first rotation mints at that rotation's
        // instant; one that raced it (read before, rotated after) is off by
        // less than the grace window, with the same `jti` and opaque value.
        Rotation::Rotated { grant, .. } | Rotation::Retried { grant, .. } => (minted, grant),
        Rotation::Reused { grant_id } => {
            return Err(OAuthError::new(
                ErrorCode::InvalidGrant,
                "the refresh token was already used; the grant is revoked",
            )
            .with_incident(Incident::RefreshReuse {
                grant_id,
                sub: grant.sub.clone(),
                client_id: client.client_id.clone(),
            })
            .into());
        }
        Rotation::Unknown => return Err(invalid_grant("the refresh token is invalid")),
    };
    let access_token = minted.token;
    let expires_in = minted.ttl;

    // OIDC Core §12.2: a refreshed ID token keeps sub, auth_time; no nonce.
    let id_token = if scope.contains("openid") {
        Some(id_token::mint(
            core,
            keys,
            &IdTokenInput {
                client,
                user: &user,
                grant: &grant,
                scope: &scope,
                nonce: None,
                access_token: &access_token,
                groups: released.as_deref(),
            },
            minted_at,
        )?)
    } else {
        None
    };
    Ok(TokenResponse {
        access_token,
        token_type: access.token_type(),
        expires_in: expires_in - (now - minted_at),
        scope: scope.to_string(),
        refresh_token: Some(next),
        id_token,
        issued_token_type: None,
    })
}

/// A refresh that keeps the refresh token (no rotation): a new access token
/// (and ID token), the token's idle expiry renewed in the same write.
#[allow(clippy::too_many_arguments)]
async fn renew<S: Store>(
    core: &Core,
    store: &S,
    keys: &KeyRing,
    client: &Client,
    presented: &str,
    old: &RefreshToken,
    grant: &crate::model::Grant,
    user: &crate::model::User,
    scope: Scope,
    audience: Vec<String>,
    jkt: Option<&str>,
    released: Option<Vec<String>>,
    now: UnixTime,
) -> Result<TokenResponse, Error> {
    let access = AccessGrant {
        client,
        // The sub this client sees (OIDC Core §8).
        sub: crate::subject::subject(&core.pepper, client, &user.sub),
        scope: scope.clone(),
        audience,
        auth_time: Some(grant.auth_time),
        amr: Some(grant.amr.clone()),
        acr: Some(crate::mfa::grant_acr(grant)),
        grant_id: Some(grant.grant_id.clone()),
        jti_suffix: None,
        opaque_value: None,
        dpop_jkt: jkt.map(str::to_owned),
        groups: released.clone(),
        act: None,
    };
    let minted = prepare_access_token(core, keys, &access, now)?;
    let expires_at = (now + core.settings.refresh_idle_ttl).min(grant.expires_at);
    if !store
        .renew_refresh(&old.token_hash, expires_at, minted.stored.as_ref(), now)
        .await?
    {
        return Err(invalid_grant(
            "the refresh token has been revoked or has expired",
        ));
    }
    let access_token = minted.token;
    let id_token = if scope.contains("openid") {
        Some(id_token::mint(
            core,
            keys,
            &IdTokenInput {
                client,
                user,
                grant,
                scope: &scope,
                nonce: None,
                access_token: &access_token,
                groups: released.as_deref(),
            },
            now,
        )?)
    } else {
        None
    };
    Ok(TokenResponse {
        access_token,
        token_type: access.token_type(),
        expires_in: minted.ttl,
        scope: scope.to_string(),
        refresh_token: Some(presented.to_owned()),
        id_token,
        issued_token_type: None,
    })
}
