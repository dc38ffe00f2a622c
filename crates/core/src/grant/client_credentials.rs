//! Client Credentials Grant, RFC 6749 §4.4: a confidential client asks for
//! a token on its own behalf. `sub` is the client, `aud` the API; no user,
//! no ID token, and no refresh token ("A refresh token SHOULD NOT be
//! included", §4.4.3).

use crate::Core;
use crate::access_token::{AccessGrant, TokenResponse, mint_access_token};
use crate::client::validate_resource;
use crate::error::{Error, ErrorCode, OAuthError};
use crate::keys::KeyRing;
use crate::model::{AuthMethod, Client, GrantType, UnixTime};
use crate::params::Params;
use crate::scope::Scope;
use crate::store::Store;

pub async fn exchange<S: Store>(
    core: &Core,
    store: &S,
    keys: &KeyRing,
    client: &Client,
    params: &Params,
    jkt: Option<&str>,
    now: UnixTime,
) -> Result<TokenResponse, Error> {
    // §4.4: "The client credentials grant type MUST only be used by
    // confidential clients."
    if !client.grant_types.contains(&GrantType::ClientCredentials)
        || client.token_endpoint_auth_method == AuthMethod::None
    {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client may not use the client_credentials grant",
        )
        .into());
    }

    // §4.4.2 scope, limited to what the client may ask for (§3.3: the server
    // "MAY fully or partially ignore the scope requested").
    let scope = granted_scope(client, params.get("scope"))?;

    let audience = audience(core, client, params)?;
    let grant = AccessGrant {
        dpop_jkt: jkt.map(str::to_owned),
        groups: None,
        ..AccessGrant::for_client(client, scope.clone(), audience)
    };
    let (access_token, expires_in) = mint_access_token(core, store, keys, &grant, now).await?;
    Ok(TokenResponse {
        access_token,
        token_type: grant.token_type(),
        expires_in,
        scope: scope.to_string(),
        refresh_token: None,
        id_token: None,
        issued_token_type: None,
    })
}

/// The requested scope narrowed to the client's allowed scope; no `scope`
/// parameter means all of it. A request none of whose scopes is allowed is
/// `invalid_scope`.
fn granted_scope(client: &Client, requested: Option<&str>) -> Result<Scope, OAuthError> {
    let Some(requested) = requested else {
        return Ok(client.scope.clone());
    };
    let requested = Scope::parse(requested)
        .map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e.to_string()))?;
    let granted = requested.intersect(&client.scope);
    if granted.is_empty() && !requested.is_empty() {
        return Err(OAuthError::new(
            ErrorCode::InvalidScope,
            "none of the requested scopes is allowed for this client",
        ));
    }
    Ok(granted)
}

/// RFC 8707 §2: every `resource` (and the compatibility `audience`
/// parameter) must be an absolute URI the client is allowed to address;
/// otherwise `invalid_target`. None requested: the client's audiences, or the
/// issuer itself when the client has none.
fn audience(core: &Core, client: &Client, params: &Params) -> Result<Vec<String>, OAuthError> {
    let mut wanted: Vec<String> = Vec::new();
    for r in params.get_all("resource").chain(params.get_all("audience")) {
        validate_resource(r)?;
        if !client.audience.iter().any(|a| a == r) {
            return Err(OAuthError::new(
                ErrorCode::InvalidTarget,
                "the requested resource is not allowed for this client",
            ));
        }
        if !wanted.iter().any(|w| w == r) {
            wanted.push(r.to_owned());
        }
    }
    if wanted.is_empty() {
        wanted = if client.audience.is_empty() {
            vec![core.settings.issuer.clone()]
        } else {
            client.audience.clone()
        };
    }
    Ok(wanted)
}
