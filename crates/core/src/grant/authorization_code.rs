//! Authorization Code Grant, RFC 6749 §4.1.3–§4.1.4, with PKCE (RFC 7636
//! §4.5–§4.6) and OpenID Connect Core §3.1.3.

use super::{derive, ensure_allowed, invalid_grant, not_admitted};
use crate::access_token::{AccessGrant, TokenResponse, prepare_access_token};
use crate::audit::Incident;
use crate::error::{Error, ErrorCode, OAuthError};
use crate::id_token::{self, IdTokenInput};
use crate::keys::KeyRing;
use crate::model::{
    AuthorizationCode, Client, Grant, GrantType, Issued, Redemption, RefreshToken, UnixTime,
};
use crate::params::Params;
use crate::scope::Scope;
use crate::store::Store;
use crate::{Core, dpop, groups, pkce, secret};

pub async fn exchange<S: Store>(
    core: &Core,
    store: &S,
    keys: &KeyRing,
    client: &Client,
    params: &Params,
    jkt: Option<&str>,
    now: UnixTime,
) -> Result<TokenResponse, Error> {
    ensure_allowed(client, GrantType::AuthorizationCode)?;
    // §4.1.3: code and redirect_uri (always sent in our authorization
    // requests, so always required here).
    let code = params.required("code")?;
    let redirect_uri = params.required("redirect_uri")?;
    // RFC 7636 §4.5; a malformed verifier is a malformed request, checked
    // before the code is spent.
    let verifier = params.get("code_verifier");
    if let Some(v) = verifier
        && !pkce::valid_verifier(v)
    {
        return Err(OAuthError::invalid_request(
            "code_verifier must be 43 to 128 unreserved characters",
        )
        .into());
    }

    let binding = Binding::Redirect {
        redirect_uri,
        verifier,
    };
    redeem(core, store, keys, client, code, binding, jkt, now).await
}

/// What a code was issued for, which its redemption must match: an
/// authorization response to a redirect URI (with PKCE), or a device
/// approval (RFC 8628, `crate::device`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Binding<'a> {
    Redirect {
        redirect_uri: &'a str,
        verifier: Option<&'a str>,
    },
    Device,
}

impl Binding<'_> {
    /// What the client presented, for the error descriptions.
    fn noun(self) -> &'static str {
        match self {
            Binding::Redirect { .. } => "the authorization code",
            Binding::Device => "the device_code",
        }
    }
}

/// Spends `code` and answers with its tokens: the one redemption step of
/// the code grant and of an approved device request.
// The grant's parts, each its own type; a struct would only rename them.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn redeem<S: Store>(
    core: &Core,
    store: &S,
    keys: &KeyRing,
    client: &Client,
    code: &str,
    binding: Binding<'_>,
    jkt: Option<&str>,
    now: UnixTime,
) -> Result<TokenResponse, Error> {
    let code_hash = secret::token_hash(code);
    let Some((stored, grant)) = store.code(&code_hash).await? else {
        return Err(invalid_grant("the authorization code is invalid"));
    };
    // Everything the grant needs is read and checked before the code is
    // spent, and everything it writes is written in the transaction that
    // spends it: once that commits, only the reply itself can be lost.
    let ready = match check(client, &stored, &grant, binding, now)
        .and_then(|()| dpop::check_code_binding(stored.dpop_jkt.as_deref(), jkt))
    {
        Ok(()) => match store.user(&grant.sub).await? {
            Some(user) if !user.disabled => {
                let scope = Scope::parse(&grant.scope).unwrap_or_default();
                let groups = groups::load(store, client, &scope, &user.sub).await?;
                if groups::admits(client, &groups) {
                    Ok((user, groups))
                } else {
                    Err(not_admitted())
                }
            }
            _ => Err(invalid_grant("the user is no longer active")),
        },
        Err(e) => Err(e),
    };
    let (user, user_groups) = match ready {
        Ok(ready) => ready,
        Err(refusal) => {
            // A refused redemption still spends the code (single use), and
            // a refused one of a used code is a replay.
            return match store
                .redeem_code(&code_hash, now, &Issued::default(), None)
                .await?
            {
                Redemption::AlreadyUsed { grant_id } => {
                    Err(reused(client, binding, grant_id, grant.sub))
                }
                _ => Err(refusal),
            };
        }
    };

    let scope = Scope::parse(&grant.scope).unwrap_or_default();
    let released = groups::claim(client, &scope, &user_groups);
    // The same values for a retry as for the first redemption.
    let wants_refresh = scope.contains("offline_access") || client.always_issue_refresh_token;
    let refresh_token = (wants_refresh
        && core.features.refresh()
        && client.grant_types.contains(&GrantType::RefreshToken))
    .then(|| derive(core, "code-refresh", code));
    let access = AccessGrant {
        client,
        // The sub this client sees (OIDC Core §8).
        sub: crate::subject::subject(&core.pepper, client, &user.sub),
        scope: scope.clone(),
        audience: grant.audience.clone(),
        auth_time: Some(grant.auth_time),
        amr: Some(grant.amr.clone()),
        acr: Some(crate::mfa::grant_acr(&grant)),
        grant_id: Some(grant.grant_id.clone()),
        jti_suffix: Some(derive(core, "code-jti", code).chars().take(22).collect()),
        opaque_value: Some(derive(core, "code-access", code)),
        dpop_jkt: jkt.map(str::to_owned),
        groups: released.clone(),
        act: None,
    };
    let first = prepare_access_token(core, keys, &access, now)?;
    let issued = Issued {
        refresh: refresh_token.as_ref().map(|token| RefreshToken {
            token_hash: secret::token_hash(token),
            grant_id: grant.grant_id.clone(),
            client_id: client.client_id.clone(),
            scope: grant.scope.clone(),
            issued_at: now,
            expires_at: (now + core.settings.refresh_idle_ttl).min(grant.expires_at),
            consumed_at: None,
            replaced_by: None,
            dpop_jkt: dpop::refresh_binding(client, jkt),
        }),
        opaque: first.stored.clone(),
    };
    let grace = core.settings.code_retry_grace;
    // One atomic step: a second redemption revokes everything issued from
    // it, unless it is this same redemption retried (see `Redemption`).
    let (minted_at, access_token, ttl) = match store
        .redeem_code(&code_hash, now, &issued, Some(grace))
        .await?
    {
        Redemption::Redeemed { .. } => (now, first.token, first.ttl),
        Redemption::Retried { code: used, .. } => {
            let at = used.used_at.unwrap_or(now);
            let again = prepare_access_token(core, keys, &access, at)?;
            (at, again.token, again.ttl)
        }
        // The store revoked the grant in the same transaction that saw the replay.
        Redemption::AlreadyUsed { grant_id } => {
            return Err(reused(client, binding, grant_id, grant.sub));
        }
        Redemption::Unknown => return Err(invalid_grant("the authorization code is invalid")),
    };

    let id_token = if scope.contains("openid") {
        Some(id_token::mint(
            core,
            keys,
            &IdTokenInput {
                client,
                user: &user,
                grant: &grant,
                scope: &scope,
                nonce: stored.nonce.as_deref(),
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
        expires_in: ttl - (now - minted_at),
        scope: scope.to_string(),
        refresh_token,
        id_token,
        issued_token_type: None,
    })
}

/// RFC 9700 §4.5: the code is bound to the client, the redirect URI and
/// the PKCE challenge; an unused one must not have expired, and its grant
/// must stand.
fn check(
    client: &Client,
    code: &AuthorizationCode,
    grant: &Grant,
    binding: Binding<'_>,
    now: UnixTime,
) -> Result<(), Error> {
    if code.client_id != client.client_id {
        return Err(invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    if code.used_at.is_none() && now >= code.expires_at {
        return Err(invalid_grant(&format!("{} has expired", binding.noun())));
    }
    let (redirect_uri, verifier) = match binding {
        Binding::Device if code.redirect_uri == crate::device::DEVICE_REDIRECT => {
            return not_revoked(grant);
        }
        Binding::Device => return Err(invalid_grant("the device code is invalid")),
        Binding::Redirect { redirect_uri, .. }
            if code.redirect_uri == crate::device::DEVICE_REDIRECT
                || redirect_uri == crate::device::DEVICE_REDIRECT =>
        {
            return Err(invalid_grant("the authorization code is invalid"));
        }
        Binding::Redirect {
            redirect_uri,
            verifier,
        } => (redirect_uri, verifier),
    };
    if code.redirect_uri != redirect_uri {
        return Err(invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    // RFC 9700 §2.1.1: a code requested without a challenge (a confidential
    // client with require_pkce = false) is refused with a verifier, and
    // refused if the client requires PKCE by now.
    if code.code_challenge.is_empty() {
        if verifier.is_some() {
            return Err(invalid_grant(
                "code_verifier was sent, but the authorization request had no code_challenge",
            ));
        }
        if client.require_pkce {
            return Err(invalid_grant("code_verifier is required"));
        }
    } else {
        let Some(verifier) = verifier else {
            return Err(invalid_grant("code_verifier is required"));
        };
        if !pkce::verify_s256(verifier, &code.code_challenge) {
            return Err(invalid_grant(
                "code_verifier does not match the code_challenge",
            ));
        }
    }
    not_revoked(grant)
}

fn not_revoked(grant: &Grant) -> Result<(), Error> {
    if grant.revoked_at.is_some() {
        return Err(invalid_grant("the grant has been revoked"));
    }
    Ok(())
}

/// The answer to a replayed code, with what the audit trail needs.
fn reused(client: &Client, binding: Binding<'_>, grant_id: String, sub: String) -> Error {
    OAuthError::new(
        ErrorCode::InvalidGrant,
        format!("{} was already used", binding.noun()),
    )
    .with_incident(Incident::CodeReuse {
        grant_id,
        sub: Some(sub),
        client_id: client.client_id.clone(),
    })
    .into()
}
