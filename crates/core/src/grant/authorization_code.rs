//! Authorization Code Grant, RFC 6749 §4.1.3–§4.1.4, with PKCE (RFC 7636
//! §4.5–§4.6) and OpenID Connect Core §3.1.3.

use super::{ensure_allowed, invalid_grant};
use crate::access_token::{AccessGrant, TokenResponse, mint_access_token};
use crate::audit::Incident;
use crate::error::{Error, ErrorCode, OAuthError};
use crate::id_token::{self, IdTokenInput};
use crate::keys::KeyRing;
use crate::model::{Client, GrantType, Redemption, RefreshToken, UnixTime};
use crate::params::Params;
use crate::scope::Scope;
use crate::store::Store;
use crate::{Core, pkce, secret};

pub async fn exchange<S: Store>(
    core: &Core,
    store: &S,
    keys: &KeyRing,
    client: &Client,
    params: &Params,
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

    // One atomic step: a second redemption revokes everything issued from it.
    let (code, grant) = match store.redeem_code(&secret::token_hash(code), now).await? {
        Redemption::Redeemed { code, grant } => (code, grant),
        // The store revoked the grant in the same transaction that saw the replay.
        Redemption::AlreadyUsed { grant_id } => {
            // Who the code was for, for the audit trail (a rare path; the
            // replay is already handled, so a failed read only leaves it out).
            let sub = store.grant(&grant_id).await.ok().flatten().map(|g| g.sub);
            return Err(OAuthError::new(
                ErrorCode::InvalidGrant,
                "the authorization code was already used",
            )
            .with_incident(Incident::CodeReuse {
                grant_id,
                sub,
                client_id: client.client_id.clone(),
            })
            .into());
        }
        Redemption::Unknown => return Err(invalid_grant("the authorization code is invalid")),
    };
    // RFC 9700 §4.5: the code is bound to the client, the redirect URI and
    // the PKCE challenge.
    if code.client_id != client.client_id {
        return Err(invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    if now >= code.expires_at {
        return Err(invalid_grant("the authorization code has expired"));
    }
    if code.redirect_uri != redirect_uri {
        return Err(invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    let Some(verifier) = verifier else {
        return Err(invalid_grant("code_verifier is required"));
    };
    if !pkce::verify_s256(verifier, &code.code_challenge) {
        return Err(invalid_grant(
            "code_verifier does not match the code_challenge",
        ));
    }
    if grant.revoked_at.is_some() {
        return Err(invalid_grant("the grant has been revoked"));
    }
    let user = store
        .user(&grant.sub)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(|| invalid_grant("the user is no longer active"))?;

    let scope = Scope::parse(&grant.scope).unwrap_or_default();
    let access = AccessGrant {
        client,
        sub: user.sub.clone(),
        scope: scope.clone(),
        audience: grant.audience.clone(),
        auth_time: Some(grant.auth_time),
        amr: Some(grant.amr.clone()),
        grant_id: Some(grant.grant_id.clone()),
        jti_suffix: None,
    };
    let (access_token, expires_in) = mint_access_token(core, store, keys, &access, now).await?;

    let id_token = if scope.contains("openid") {
        Some(id_token::mint(
            core,
            keys,
            &IdTokenInput {
                client,
                user: &user,
                grant: &grant,
                scope: &scope,
                nonce: code.nonce.as_deref(),
                access_token: &access_token,
            },
            now,
        )?)
    } else {
        None
    };

    // A refresh token when offline access was granted (OIDC Core §11) or
    // the client always gets one.
    let wants_refresh = scope.contains("offline_access") || client.always_issue_refresh_token;
    let refresh_token = if wants_refresh
        && core.features.refresh()
        && client.grant_types.contains(&GrantType::RefreshToken)
    {
        let token = secret::random_string(32)?;
        store
            .put_refresh_token(&RefreshToken {
                token_hash: secret::token_hash(&token),
                grant_id: grant.grant_id.clone(),
                client_id: client.client_id.clone(),
                scope: grant.scope.clone(),
                issued_at: now,
                expires_at: (now + core.settings.refresh_idle_ttl).min(grant.expires_at),
                consumed_at: None,
                replaced_by: None,
            })
            .await?;
        Some(token)
    } else {
        None
    };

    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in,
        scope: scope.to_string(),
        refresh_token,
        id_token,
    })
}
