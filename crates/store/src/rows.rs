//! Rows ↔ domain types. Rows are plain tuples so that the same decoding works
//! on both backends without sqlx's derive macros.

use frontdesk_core::mfa::RequireMfa;
use frontdesk_core::model::{
    AccessTokenFormat, AuthMethod, AuthorizationCode, Client, ClientId, ClientSecret, Consent,
    Grant, GrantType, KeyUse, LinkPurpose, LinkToken, OpaqueToken, PushedRequest, RefreshToken,
    Session, StoredKey, User, UserClaims,
};
use frontdesk_core::model::{
    ClientProfile, DeviceAuthorization, DeviceStatus, Jwks, SubjectType, TokenExchangePolicy,
};
use frontdesk_core::scope::Scope;
use frontdesk_core::store::StoreError;
use serde::{Deserialize, Serialize};
use sqlx::{ColumnIndex, Decode, FromRow, Row, Type};

/// `clients LEFT JOIN client_secrets`: client_id, metadata, created_at,
/// updated_at, then the secret's hash, created_at, expires_at (NULL when the
/// client has no secret).
pub(crate) type ClientSecretRow = (
    String,
    String,
    i64,
    i64,
    Option<Vec<u8>>,
    Option<i64>,
    Option<i64>,
);

/// sub, secret_sealed, created_at, confirmed_at, last_step.
pub(crate) type TotpRow = (String, Vec<u8>, i64, Option<i64>, i64);

/// sub, username, password_hash, disabled, claims, created_at, updated_at,
/// verify_before_sign_in, mfa_enrolled and has_passkey (both derived).
pub(crate) type UserRow = (
    String,
    String,
    String,
    bool,
    String,
    i64,
    i64,
    bool,
    bool,
    bool,
);

/// credential_id, sub, user_handle, name, credential, backup_eligible,
/// created_at, last_used_at.
pub(crate) type PasskeyRow = (
    Vec<u8>,
    String,
    Vec<u8>,
    String,
    String,
    bool,
    i64,
    Option<i64>,
);

/// upstream, upstream_sub, sub, created_at, last_used_at.
pub(crate) type UpstreamLinkRow = (String, String, String, i64, Option<i64>);

/// token_hash, purpose, sub, email, created_at, expires_at, used_at.
pub(crate) type LinkRow = (Vec<u8>, String, String, String, i64, i64, Option<i64>);

/// uri_hash, client_id, params, created_at, expires_at, continuation_hash,
/// used_at.
pub(crate) type PushedRow = (
    Vec<u8>,
    String,
    String,
    i64,
    i64,
    Option<Vec<u8>>,
    Option<i64>,
);

/// device_code_hash, user_code_hash, code_hash, client_id, scope, audience,
/// created_at, expires_at, interval_secs, last_poll_at, status, sub.
pub(crate) type DeviceRow = (
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
    String,
    String,
    String,
    i64,
    i64,
    i64,
    Option<i64>,
    String,
    Option<String>,
);

/// kid, alg, key_use, encrypted_private, public_jwk, created_at,
/// activates_at, retired_at.
pub(crate) type KeyRow = (
    String,
    String,
    String,
    Vec<u8>,
    String,
    i64,
    i64,
    Option<i64>,
);

/// token_hash, jti, client_id, sub, scope, audience, issued_at, expires_at,
/// revoked_at, dpop_jkt.
pub(crate) type TokenRow = (
    Vec<u8>,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    Option<String>,
);

/// id_hash, sid, sub, auth_time, amr, created_at, expires_at, ended_at,
/// user_agent, client_ip, last_seen_at, idp.
pub(crate) type SessionRow = (
    Vec<u8>,
    String,
    String,
    i64,
    String,
    i64,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
);

/// grant_id, client_id, sub, sid, scope, audience, auth_time, amr,
/// created_at, expires_at, revoked_at, idp, claims.
pub(crate) type GrantRow = (
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    i64,
    String,
    i64,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
);

/// code_hash, grant_id, client_id, redirect_uri, code_challenge, nonce,
/// created_at, expires_at, used_at, dpop_jkt.
pub(crate) type CodeRow = (
    Vec<u8>,
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    i64,
    Option<i64>,
    Option<String>,
);

/// token_hash, grant_id, client_id, scope, issued_at, expires_at,
/// consumed_at, replaced_by, dpop_jkt.
pub(crate) type RefreshRow = (
    Vec<u8>,
    String,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    Option<Vec<u8>>,
    Option<String>,
);

/// sub, client_id, scope, granted_at.
pub(crate) type ConsentRow = (String, String, String, i64);

/// Implements `FromRow` for a struct of two row tuples read from one
/// joined row: the first tuple's columns, then the second's, by index.
macro_rules! joined_row {
    ($name:ident, [$($i:literal),*], [$($j:literal),*]) => {
        impl<'r, R> FromRow<'r, R> for $name
        where
            R: Row,
            usize: ColumnIndex<R>,
            i64: Decode<'r, R::Database> + Type<R::Database>,
            String: Decode<'r, R::Database> + Type<R::Database>,
            Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
        {
            fn from_row(r: &'r R) -> Result<Self, sqlx::Error> {
                Ok($name(($(r.try_get($i)?,)*), ($(r.try_get($j)?,)*)))
            }
        }
    };
}

/// `refresh_tokens JOIN grants`: the [`RefreshRow`] columns, then the
/// [`GrantRow`] columns (22 in all, past sqlx's 16-tuple `FromRow`).
pub(crate) struct RefreshGrantRow(pub(crate) RefreshRow, pub(crate) GrantRow);
joined_row!(
    RefreshGrantRow,
    [0, 1, 2, 3, 4, 5, 6, 7, 8],
    [9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]
);

/// `authorization_codes JOIN grants`: the [`CodeRow`] columns, then the
/// [`GrantRow`] columns (23 in all).
pub(crate) struct CodeGrantRow(pub(crate) CodeRow, pub(crate) GrantRow);
joined_row!(
    CodeGrantRow,
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22]
);

/// The `clients.metadata` JSON: the client minus id, secrets and timestamps.
#[derive(Serialize)]
struct MetadataRef<'a> {
    client_name: &'a str,
    redirect_uris: &'a [String],
    grant_types: &'a [GrantType],
    response_types: &'a [String],
    scope: &'a Scope,
    token_endpoint_auth_method: AuthMethod,
    audience: &'a [String],
    access_token_format: AccessTokenFormat,
    first_party: bool,
    access_token_ttl: i64,
    refresh_token_ttl: i64,
    post_logout_redirect_uris: &'a [String],
    id_token_signed_response_alg: Option<&'a str>,
    always_issue_refresh_token: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_grace_secs: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    require_mfa: Option<RequireMfa>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    dpop_bound_access_tokens: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_exchange: Option<&'a TokenExchangePolicy>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    require_pushed_authorization_requests: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    jwks: Option<&'a Jwks>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jwks_uri: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_endpoint_auth_signing_alg: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_object_signing_alg: Option<&'a str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    require_signed_request_object: bool,
    /// Written only when off (the default is on).
    #[serde(skip_serializing_if = "Clone::clone")]
    require_pkce: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<ClientProfile>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_upstreams: Option<&'a [String]>,
    /// Written only when off (the default is on).
    #[serde(skip_serializing_if = "Clone::clone")]
    local_login: bool,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    required_groups: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    released_groups: Option<&'a [String]>,
    #[serde(skip_serializing_if = "is_public")]
    subject_type: SubjectType,
    #[serde(skip_serializing_if = "Option::is_none")]
    sector_identifier_uri: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    logo_uri: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_uri: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy_uri: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tos_uri: Option<&'a str>,
}

fn yes() -> bool {
    true
}

fn is_public(t: &SubjectType) -> bool {
    *t == SubjectType::Public
}

#[derive(Deserialize)]
struct Metadata {
    client_name: String,
    redirect_uris: Vec<String>,
    grant_types: Vec<GrantType>,
    response_types: Vec<String>,
    scope: Scope,
    token_endpoint_auth_method: AuthMethod,
    audience: Vec<String>,
    #[serde(default)]
    access_token_format: AccessTokenFormat,
    #[serde(default)]
    first_party: bool,
    access_token_ttl: i64,
    refresh_token_ttl: i64,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    id_token_signed_response_alg: Option<String>,
    #[serde(default)]
    always_issue_refresh_token: bool,
    #[serde(default)]
    refresh_grace_secs: Option<i64>,
    #[serde(default)]
    require_mfa: Option<RequireMfa>,
    #[serde(default)]
    dpop_bound_access_tokens: bool,
    #[serde(default)]
    token_exchange: Option<TokenExchangePolicy>,
    #[serde(default)]
    require_pushed_authorization_requests: bool,
    #[serde(default)]
    jwks: Option<Jwks>,
    #[serde(default)]
    jwks_uri: Option<String>,
    #[serde(default)]
    token_endpoint_auth_signing_alg: Option<String>,
    #[serde(default)]
    request_object_signing_alg: Option<String>,
    #[serde(default)]
    require_signed_request_object: bool,
    #[serde(default = "yes")]
    require_pkce: bool,
    #[serde(default)]
    profile: Option<ClientProfile>,
    #[serde(default)]
    allowed_upstreams: Option<Vec<String>>,
    #[serde(default = "yes")]
    local_login: bool,
    #[serde(default)]
    required_groups: Vec<String>,
    #[serde(default)]
    released_groups: Option<Vec<String>>,
    #[serde(default)]
    subject_type: SubjectType,
    #[serde(default)]
    sector_identifier_uri: Option<String>,
    #[serde(default)]
    logo_uri: Option<String>,
    #[serde(default)]
    client_uri: Option<String>,
    #[serde(default)]
    policy_uri: Option<String>,
    #[serde(default)]
    tos_uri: Option<String>,
}

pub(crate) fn client_metadata(c: &Client) -> Result<String, StoreError> {
    serde_json::to_string(&MetadataRef {
        client_name: &c.client_name,
        redirect_uris: &c.redirect_uris,
        grant_types: &c.grant_types,
        response_types: &c.response_types,
        scope: &c.scope,
        token_endpoint_auth_method: c.token_endpoint_auth_method,
        audience: &c.audience,
        access_token_format: c.access_token_format,
        first_party: c.first_party,
        access_token_ttl: c.access_token_ttl,
        refresh_token_ttl: c.refresh_token_ttl,
        post_logout_redirect_uris: &c.post_logout_redirect_uris,
        id_token_signed_response_alg: c.id_token_signed_response_alg.as_deref(),
        always_issue_refresh_token: c.always_issue_refresh_token,
        refresh_grace_secs: c.refresh_grace_secs,
        require_mfa: c.require_mfa,
        dpop_bound_access_tokens: c.dpop_bound_access_tokens,
        token_exchange: c.token_exchange.as_ref(),
        require_pushed_authorization_requests: c.require_pushed_authorization_requests,
        jwks: c.jwks.as_ref(),
        jwks_uri: c.jwks_uri.as_deref(),
        token_endpoint_auth_signing_alg: c.token_endpoint_auth_signing_alg.as_deref(),
        request_object_signing_alg: c.request_object_signing_alg.as_deref(),
        require_signed_request_object: c.require_signed_request_object,
        require_pkce: c.require_pkce,
        profile: c.profile,
        allowed_upstreams: c.allowed_upstreams.as_deref(),
        local_login: c.local_login,
        required_groups: &c.required_groups,
        released_groups: c.released_groups.as_deref(),
        subject_type: c.subject_type,
        sector_identifier_uri: c.sector_identifier_uri.as_deref(),
        logo_uri: c.logo_uri.as_deref(),
        client_uri: c.client_uri.as_deref(),
        policy_uri: c.policy_uri.as_deref(),
        tos_uri: c.tos_uri.as_deref(),
    })
    .map_err(|e| StoreError::Internal(format!("encoding client metadata: {e}")))
}

fn client_from_parts(
    client_id: String,
    metadata: &str,
    created_at: i64,
    updated_at: i64,
) -> Result<Client, StoreError> {
    let m: Metadata = serde_json::from_str(metadata).map_err(|e| {
        StoreError::Internal(format!("decoding metadata of client {client_id:?}: {e}"))
    })?;
    Ok(Client {
        client_id: ClientId(client_id),
        client_name: m.client_name,
        redirect_uris: m.redirect_uris,
        grant_types: m.grant_types,
        response_types: m.response_types,
        scope: m.scope,
        token_endpoint_auth_method: m.token_endpoint_auth_method,
        audience: m.audience,
        access_token_format: m.access_token_format,
        first_party: m.first_party,
        access_token_ttl: m.access_token_ttl,
        refresh_token_ttl: m.refresh_token_ttl,
        post_logout_redirect_uris: m.post_logout_redirect_uris,
        id_token_signed_response_alg: m.id_token_signed_response_alg,
        always_issue_refresh_token: m.always_issue_refresh_token,
        refresh_grace_secs: m.refresh_grace_secs,
        require_mfa: m.require_mfa,
        dpop_bound_access_tokens: m.dpop_bound_access_tokens,
        token_exchange: m.token_exchange,
        require_pushed_authorization_requests: m.require_pushed_authorization_requests,
        jwks: m.jwks,
        jwks_uri: m.jwks_uri,
        token_endpoint_auth_signing_alg: m.token_endpoint_auth_signing_alg,
        request_object_signing_alg: m.request_object_signing_alg,
        require_signed_request_object: m.require_signed_request_object,
        require_pkce: m.require_pkce,
        profile: m.profile,
        allowed_upstreams: m.allowed_upstreams,
        local_login: m.local_login,
        required_groups: m.required_groups,
        released_groups: m.released_groups,
        subject_type: m.subject_type,
        sector_identifier_uri: m.sector_identifier_uri,
        logo_uri: m.logo_uri,
        client_uri: m.client_uri,
        policy_uri: m.policy_uri,
        tos_uri: m.tos_uri,
        secrets: Vec::new(),
        created_at,
        updated_at,
    })
}

/// Folds joined rows, ordered by client_id then secret id, into clients.
pub(crate) fn clients_from_rows(rows: Vec<ClientSecretRow>) -> Result<Vec<Client>, StoreError> {
    let mut clients: Vec<Client> = Vec::new();
    for (client_id, metadata, created_at, updated_at, hash, secret_created, expires_at) in rows {
        let same = clients
            .last()
            .is_some_and(|c| c.client_id.as_str() == client_id);
        if !same {
            clients.push(client_from_parts(
                client_id, &metadata, created_at, updated_at,
            )?);
        }
        if let (Some(hash), Some(secret_created), Some(client)) =
            (hash, secret_created, clients.last_mut())
        {
            client.secrets.push(ClientSecret {
                hash,
                created_at: secret_created,
                expires_at,
            });
        }
    }
    Ok(clients)
}

pub(crate) fn claims_json(claims: &UserClaims) -> Result<String, StoreError> {
    serde_json::to_string(claims)
        .map_err(|e| StoreError::Internal(format!("encoding user claims: {e}")))
}

/// The `users.email` lookup column: the claim, lower-cased.
pub(crate) fn email_key(claims: &UserClaims) -> Option<String> {
    claims.email.as_deref().map(str::to_lowercase)
}

pub(crate) fn user_from_row(row: UserRow) -> Result<User, StoreError> {
    let (
        sub,
        username,
        password_hash,
        disabled,
        claims,
        created_at,
        updated_at,
        verify_before_sign_in,
        mfa_enrolled,
        has_passkey,
    ) = row;
    let claims: UserClaims = serde_json::from_str(&claims)
        .map_err(|e| StoreError::Internal(format!("decoding claims of user {sub:?}: {e}")))?;
    Ok(User {
        sub,
        username,
        password_hash,
        disabled,
        claims,
        created_at,
        updated_at,
        mfa_enrolled,
        has_passkey,
        verify_before_sign_in,
    })
}

/// The stored claims JSON with `email_verified` set, inside a transaction
/// (hence a driver error: the caller is in `on_backend!`).
pub(crate) fn claims_with_email_verified(json: &str) -> Result<String, sqlx::Error> {
    let mut claims: UserClaims =
        serde_json::from_str(json).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    claims.email_verified = true;
    serde_json::to_string(&claims).map_err(|e| sqlx::Error::Encode(Box::new(e)))
}

pub(crate) fn link_from_row(row: LinkRow) -> Result<LinkToken, StoreError> {
    let (token_hash, purpose, sub, email, created_at, expires_at, used_at) = row;
    let purpose = LinkPurpose::parse(&purpose)
        .ok_or_else(|| StoreError::Internal(format!("unknown link purpose {purpose:?}")))?;
    Ok(LinkToken {
        token_hash,
        purpose,
        sub,
        email,
        created_at,
        expires_at,
        used_at,
    })
}

pub(crate) fn pushed_from_row(row: PushedRow) -> PushedRequest {
    let (uri_hash, client_id, params, created_at, expires_at, continuation_hash, used_at) = row;
    PushedRequest {
        uri_hash,
        client_id: ClientId(client_id),
        params,
        created_at,
        expires_at,
        continuation_hash,
        used_at,
    }
}

pub(crate) fn device_from_row(row: DeviceRow) -> Result<DeviceAuthorization, StoreError> {
    let (
        device_code_hash,
        user_code_hash,
        code_hash,
        client_id,
        scope,
        audience,
        created_at,
        expires_at,
        interval,
        last_poll_at,
        status,
        sub,
    ) = row;
    let status = DeviceStatus::parse(&status)
        .ok_or_else(|| StoreError::Internal(format!("unknown device status {status:?}")))?;
    Ok(DeviceAuthorization {
        device_code_hash,
        user_code_hash,
        code_hash,
        client_id: ClientId(client_id),
        scope,
        audience: strings_from_json(&audience, || "device audience".to_owned())?,
        created_at,
        expires_at,
        interval,
        last_poll_at,
        status,
        sub,
    })
}

pub(crate) fn key_from_row(row: KeyRow) -> Result<StoredKey, StoreError> {
    let (kid, alg, key_use, encrypted_private, public_jwk, created_at, activates_at, retired_at) =
        row;
    let key_use = KeyUse::parse(&key_use).ok_or_else(|| {
        StoreError::Internal(format!(
            "signing key {kid:?} has unknown key_use {key_use:?}"
        ))
    })?;
    Ok(StoredKey {
        kid,
        alg,
        key_use,
        encrypted_private,
        public_jwk,
        created_at,
        activates_at,
        retired_at,
    })
}

pub(crate) fn audience_json(audience: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(audience)
        .map_err(|e| StoreError::Internal(format!("encoding token audience: {e}")))
}

pub(crate) fn token_from_row(row: TokenRow) -> Result<OpaqueToken, StoreError> {
    let (
        token_hash,
        jti,
        client_id,
        sub,
        scope,
        audience,
        issued_at,
        expires_at,
        revoked_at,
        dpop_jkt,
    ) = row;
    let audience: Vec<String> = serde_json::from_str(&audience)
        .map_err(|e| StoreError::Internal(format!("decoding audience of token {jti:?}: {e}")))?;
    Ok(OpaqueToken {
        token_hash,
        jti,
        client_id: ClientId(client_id),
        sub,
        scope,
        audience,
        issued_at,
        expires_at,
        revoked_at,
        dpop_jkt,
    })
}

/// A JSON array of strings (`amr`, `audience`).
pub(crate) fn strings_json(what: &str, values: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(values).map_err(|e| StoreError::Internal(format!("encoding {what}: {e}")))
}

fn strings_from_json(json: &str, what: impl FnOnce() -> String) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(json)
        .map_err(|e| StoreError::Internal(format!("decoding {}: {e}", what())))
}

pub(crate) fn session_from_row(row: SessionRow) -> Result<Session, StoreError> {
    let (
        id_hash,
        sid,
        sub,
        auth_time,
        amr,
        created_at,
        expires_at,
        ended_at,
        user_agent,
        client_ip,
        last_seen_at,
        idp,
    ) = row;
    let amr = strings_from_json(&amr, || format!("amr of session {sid:?}"))?;
    Ok(Session {
        id_hash,
        sid,
        sub,
        auth_time,
        amr,
        created_at,
        expires_at,
        ended_at,
        user_agent,
        client_ip,
        last_seen_at,
        idp,
    })
}

pub(crate) fn grant_from_row(row: GrantRow) -> Result<Grant, StoreError> {
    let (
        grant_id,
        client_id,
        sub,
        sid,
        scope,
        audience,
        auth_time,
        amr,
        created_at,
        expires_at,
        revoked_at,
        idp,
        claims,
    ) = row;
    let audience = strings_from_json(&audience, || format!("audience of grant {grant_id:?}"))?;
    let amr = strings_from_json(&amr, || format!("amr of grant {grant_id:?}"))?;
    let claims = claims
        .map(|c| {
            serde_json::from_str(&c).map_err(|e| {
                StoreError::Internal(format!("decoding claims of grant {grant_id:?}: {e}"))
            })
        })
        .transpose()?;
    Ok(Grant {
        grant_id,
        client_id: ClientId(client_id),
        sub,
        sid,
        scope,
        audience,
        auth_time,
        amr,
        idp,
        claims,
        created_at,
        expires_at,
        revoked_at,
    })
}

/// The `grants.claims` JSON; `None` for a grant without a claims request.
pub(crate) fn grant_claims_json(grant: &Grant) -> Result<Option<String>, StoreError> {
    grant
        .claims
        .as_ref()
        .map(|c| {
            serde_json::to_string(c)
                .map_err(|e| StoreError::Internal(format!("encoding grant claims: {e}")))
        })
        .transpose()
}

pub(crate) fn code_from_row(row: CodeRow) -> AuthorizationCode {
    let (
        code_hash,
        grant_id,
        client_id,
        redirect_uri,
        code_challenge,
        nonce,
        created_at,
        expires_at,
        used_at,
        dpop_jkt,
    ) = row;
    AuthorizationCode {
        code_hash,
        grant_id,
        client_id: ClientId(client_id),
        redirect_uri,
        code_challenge,
        nonce,
        created_at,
        expires_at,
        used_at,
        dpop_jkt,
    }
}

pub(crate) fn refresh_from_row(row: RefreshRow) -> RefreshToken {
    let (
        token_hash,
        grant_id,
        client_id,
        scope,
        issued_at,
        expires_at,
        consumed_at,
        replaced_by,
        dpop_jkt,
    ) = row;
    RefreshToken {
        token_hash,
        grant_id,
        client_id: ClientId(client_id),
        scope,
        issued_at,
        expires_at,
        consumed_at,
        replaced_by,
        dpop_jkt,
    }
}

pub(crate) fn consent_from_row(row: ConsentRow) -> Consent {
    let (sub, client_id, scope, granted_at) = row;
    Consent {
        sub,
        client_id: ClientId(client_id),
        scope,
        granted_at,
    }
}

/// id, at, kind, outcome, request_id, actor, subject, client_id, peer, detail.
pub(crate) type AuditRow = (
    String,
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
);

pub(crate) fn audit_detail_json(
    event: &frontdesk_core::audit::AuditEvent,
) -> Result<String, StoreError> {
    serde_json::to_string(event.detail())
        .map_err(|e| StoreError::Internal(format!("encoding audit detail: {e}")))
}

pub(crate) fn audit_from_row(
    row: AuditRow,
) -> Result<frontdesk_core::audit::AuditEvent, StoreError> {
    let (id, at, kind, outcome, request_id, actor, subject, client_id, peer, detail) = row;
    let detail = serde_json::from_str(&detail)
        .map_err(|e| StoreError::Internal(format!("decoding detail of audit event {id:?}: {e}")))?;
    Ok(frontdesk_core::audit::AuditEvent::restore(
        frontdesk_core::audit::StoredAuditEvent {
            id,
            at,
            kind,
            outcome,
            request_id,
            actor,
            subject,
            client_id,
            peer,
            detail,
        },
    ))
}
