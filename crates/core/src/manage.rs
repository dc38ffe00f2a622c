//! Registration and administration of clients and users. The CLI, the
//! admin API and the declarative bootstrap all go through these functions,
//! so every path that writes a client applies the same rules.

use serde::{Deserialize, Serialize};

use crate::client::{MetadataError, validate_metadata};
use crate::error::Error;
use crate::mfa::RequireMfa;
use crate::model::{
    AccessTokenFormat, AuthMethod, Client, ClientId, ClientProfile, ClientSecret, GrantType, Jwks,
    SubjectType, UnixTime, User, UserClaims,
};
use crate::scope::Scope;
use crate::secret::{self, Pepper};

/// Default access-token lifetime: one hour.
pub const DEFAULT_ACCESS_TOKEN_TTL: i64 = 3600;
/// Default refresh-token lifetime: thirty days.
pub const DEFAULT_REFRESH_TOKEN_TTL: i64 = 30 * 24 * 3600;
/// Shortest client secret accepted when an operator supplies one.
pub const MIN_GIVEN_SECRET_LEN: usize = 16;

/// A client as an administrator describes it (RFC 7591 metadata names).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    /// Chosen by the server when absent.
    #[serde(default)]
    pub client_id: Option<String>,
    /// For declarative bootstrap only: a secret chosen by the operator.
    #[serde(default)]
    pub client_secret: Option<String>,
    pub client_name: String,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Default: `authorization_code` + `refresh_token` when redirect URIs
    /// are given, else `client_credentials`.
    #[serde(default)]
    pub grant_types: Option<Vec<GrantType>>,
    #[serde(default)]
    pub response_types: Option<Vec<String>>,
    #[serde(default)]
    pub scope: Scope,
    #[serde(default)]
    pub token_endpoint_auth_method: Option<AuthMethod>,
    #[serde(default)]
    pub audience: Vec<String>,
    #[serde(default)]
    pub access_token_format: AccessTokenFormat,
    #[serde(default)]
    pub first_party: bool,
    #[serde(default)]
    pub access_token_ttl: Option<i64>,
    #[serde(default)]
    pub refresh_token_ttl: Option<i64>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// `RS256` (default), `PS256`, `ES256` or `EdDSA`.
    #[serde(default)]
    pub id_token_signed_response_alg: Option<String>,
    #[serde(default)]
    pub always_issue_refresh_token: bool,
    /// Refresh grace window for this client; absent = the server's.
    #[serde(default)]
    pub refresh_grace_secs: Option<i64>,
    /// `never`, `if_enrolled` or `always`; absent = the server's `require_mfa`.
    #[serde(default)]
    pub require_mfa: Option<RequireMfa>,
    /// RFC 9449 §5.2: every token request must carry a DPoP proof.
    #[serde(default)]
    pub dpop_bound_access_tokens: bool,
    /// RFC 8693: which subject tokens and audiences its exchanges may use.
    #[serde(default)]
    pub token_exchange: Option<crate::model::TokenExchangePolicy>,
    /// RFC 9126 §6: authorization requests only through the PAR endpoint.
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    /// RFC 7591 §2: the client's public keys by value (`private_key_jwt`,
    /// signed request objects), as JSON: private members are refused.
    #[serde(default)]
    pub jwks: Option<serde_json::Value>,
    /// RFC 7591 §2: where the client publishes its public keys.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// The one algorithm of this client's client assertions.
    #[serde(default)]
    pub token_endpoint_auth_signing_alg: Option<String>,
    /// The one algorithm of this client's request objects.
    #[serde(default)]
    pub request_object_signing_alg: Option<String>,
    /// RFC 9101 §10.5: authorization requests only as signed request objects.
    #[serde(default)]
    pub require_signed_request_object: bool,
    /// `false`: this confidential client may leave PKCE out (then OpenID
    /// Connect requests need a nonce). Default true.
    #[serde(default)]
    pub require_pkce: Option<bool>,
    /// `fapi2`: the FAPI 2.0 Security Profile for this client.
    #[serde(default)]
    pub profile: Option<ClientProfile>,
    /// The upstreams this client's login page offers (default: all).
    #[serde(default)]
    pub allowed_upstreams: Option<Vec<String>>,
    /// `false`: users sign in through an upstream only. Default true.
    #[serde(default)]
    pub local_login: Option<bool>,
    /// Only members of one of these groups may sign in (default: anyone).
    #[serde(default)]
    pub required_groups: Vec<String>,
    /// The groups its `groups` claim may carry: names or `prefix*`
    /// (default: all of the user's).
    #[serde(default)]
    pub released_groups: Option<Vec<String>>,
    /// OIDC Core §8: `public` (default) or `pairwise` (`crate::subject`).
    #[serde(default)]
    pub subject_type: Option<SubjectType>,
    #[serde(default)]
    pub sector_identifier_uri: Option<String>,
    /// RFC 7591 §2 links shown on the consent page.
    #[serde(default)]
    pub logo_uri: Option<String>,
    #[serde(default)]
    pub client_uri: Option<String>,
    #[serde(default)]
    pub policy_uri: Option<String>,
    #[serde(default)]
    pub tos_uri: Option<String>,
}

/// Changes to an existing client; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientPatch {
    pub client_name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub grant_types: Option<Vec<GrantType>>,
    pub response_types: Option<Vec<String>>,
    pub scope: Option<Scope>,
    pub token_endpoint_auth_method: Option<AuthMethod>,
    pub audience: Option<Vec<String>>,
    pub access_token_format: Option<AccessTokenFormat>,
    pub first_party: Option<bool>,
    pub access_token_ttl: Option<i64>,
    pub refresh_token_ttl: Option<i64>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub id_token_signed_response_alg: Option<String>,
    pub always_issue_refresh_token: Option<bool>,
    pub refresh_grace_secs: Option<i64>,
    pub require_mfa: Option<RequireMfa>,
    pub dpop_bound_access_tokens: Option<bool>,
    /// `Some(None)`: no token exchange any more.
    #[serde(default, with = "double_option")]
    pub token_exchange: Option<Option<crate::model::TokenExchangePolicy>>,
    pub require_pushed_authorization_requests: Option<bool>,
    /// `Some(None)` removes the keys; so for `jwks_uri` and the algorithms.
    #[serde(default, with = "double_option")]
    pub jwks: Option<Option<serde_json::Value>>,
    #[serde(default, with = "double_option")]
    pub jwks_uri: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    pub token_endpoint_auth_signing_alg: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    pub request_object_signing_alg: Option<Option<String>>,
    pub require_signed_request_object: Option<bool>,
    #[serde(default)]
    pub require_pkce: Option<bool>,
    #[serde(default, with = "double_option")]
    pub profile: Option<Option<ClientProfile>>,
    /// `Some(None)`: every configured upstream again.
    #[serde(default, with = "double_option")]
    pub allowed_upstreams: Option<Option<Vec<String>>>,
    pub local_login: Option<bool>,
    /// `Some(vec![])`: anyone may sign in again.
    pub required_groups: Option<Vec<String>>,
    /// `Some(None)`: all of the user's groups again.
    #[serde(default, with = "double_option")]
    pub released_groups: Option<Option<Vec<String>>>,
    pub subject_type: Option<SubjectType>,
    #[serde(default, with = "double_option")]
    pub sector_identifier_uri: Option<Option<String>>,
    /// `Some(None)` removes the link; so for the other three.
    #[serde(default, with = "double_option")]
    pub logo_uri: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    pub client_uri: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    pub policy_uri: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    pub tos_uri: Option<Option<String>>,
}

/// A client's `jwks` as registered: public signing keys only
/// (`frontdesk_jose::parse_public_jwks`).
fn registered_jwks(value: &serde_json::Value) -> Result<Jwks, ManageError> {
    frontdesk_jose::parse_public_jwks(value)
        .map_err(|e| ManageError::Invalid(MetadataError(format!("jwks: {e}"))))
}

/// A patch field that can be absent (unchanged), `null` (removed) or a value.
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<T: Serialize, S: Serializer>(
        v: &Option<Option<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            None | Some(None) => s.serialize_none(),
            Some(Some(t)) => t.serialize(s),
        }
    }

    pub fn deserialize<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// A client built from a spec, with the plaintext secret to show once.
#[derive(Debug)]
pub struct NewClient {
    pub client: Client,
    /// `None` for public clients.
    pub client_secret: Option<String>,
}

/// Builds and validates a client from `spec`: generates the client_id and a
/// 256-bit secret unless the spec carries them.
pub fn build_client(
    spec: ClientSpec,
    pepper: &Pepper,
    now: UnixTime,
) -> Result<NewClient, ManageError> {
    let grant_types = spec.grant_types.unwrap_or_else(|| {
        if spec.redirect_uris.is_empty() {
            vec![GrantType::ClientCredentials]
        } else {
            vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
        }
    });
    let response_types = spec.response_types.unwrap_or_else(|| {
        if grant_types.contains(&GrantType::AuthorizationCode) {
            vec!["code".to_owned()]
        } else {
            Vec::new()
        }
    });
    let method = spec
        .token_endpoint_auth_method
        .unwrap_or(AuthMethod::ClientSecretBasic);
    let client_id = match spec.client_id {
        Some(id) if uuid::Uuid::try_parse(id.trim()).is_ok() => {
            // RFC 9700 §4.15: a client-credentials token's `sub` is its
            // client_id, and user subjects are UUIDs, so a UUID-shaped
            // client_id could name a user to every API. The two namespaces
            // stay apart by refusing that shape here (generated ids are 22
            // base64url characters, never a UUID).
            return Err(ManageError::Invalid(MetadataError(
                "client_id must not be a UUID: UUIDs are the subjects of users".into(),
            )));
        }
        Some(id) => id,
        None => secret::new_client_id()?,
    };
    let client_secret = match (method, spec.client_secret) {
        (AuthMethod::None, Some(_)) => {
            return Err(ManageError::Invalid(MetadataError(
                "a public client (token_endpoint_auth_method none) has no client_secret".into(),
            )));
        }
        (AuthMethod::PrivateKeyJwt, Some(_)) => {
            return Err(ManageError::Invalid(MetadataError(
                "a private_key_jwt client authenticates with its keys and has no client_secret"
                    .into(),
            )));
        }
        (AuthMethod::None | AuthMethod::PrivateKeyJwt, None) => None,
        (_, Some(s)) if s.chars().count() < MIN_GIVEN_SECRET_LEN => {
            return Err(ManageError::Invalid(MetadataError(format!(
                "client_secret must be at least {MIN_GIVEN_SECRET_LEN} characters"
            ))));
        }
        (_, Some(s)) => Some(s),
        (_, None) => Some(secret::new_client_secret()?),
    };
    let secrets = client_secret
        .iter()
        .map(|s| ClientSecret {
            hash: pepper.hash_secret(s),
            created_at: now,
            expires_at: None,
        })
        .collect();
    let client = Client {
        client_id: ClientId(client_id),
        client_name: spec.client_name,
        redirect_uris: spec.redirect_uris,
        grant_types,
        response_types,
        scope: spec.scope,
        token_endpoint_auth_method: method,
        audience: spec.audience,
        access_token_format: spec.access_token_format,
        first_party: spec.first_party,
        access_token_ttl: spec.access_token_ttl.unwrap_or(DEFAULT_ACCESS_TOKEN_TTL),
        refresh_token_ttl: spec.refresh_token_ttl.unwrap_or(DEFAULT_REFRESH_TOKEN_TTL),
        post_logout_redirect_uris: spec.post_logout_redirect_uris,
        always_issue_refresh_token: spec.always_issue_refresh_token,
        refresh_grace_secs: spec.refresh_grace_secs,
        require_mfa: spec.require_mfa,
        dpop_bound_access_tokens: spec.dpop_bound_access_tokens,
        token_exchange: spec.token_exchange,
        require_pushed_authorization_requests: spec.require_pushed_authorization_requests,
        jwks: spec.jwks.as_ref().map(registered_jwks).transpose()?,
        jwks_uri: spec.jwks_uri,
        token_endpoint_auth_signing_alg: spec.token_endpoint_auth_signing_alg,
        request_object_signing_alg: spec.request_object_signing_alg,
        require_signed_request_object: spec.require_signed_request_object,
        require_pkce: spec.require_pkce.unwrap_or(true),
        allowed_upstreams: spec.allowed_upstreams,
        local_login: spec.local_login.unwrap_or(true),
        required_groups: spec.required_groups,
        released_groups: spec.released_groups,
        subject_type: spec.subject_type.unwrap_or_default(),
        sector_identifier_uri: spec.sector_identifier_uri,
        logo_uri: spec.logo_uri,
        client_uri: spec.client_uri,
        policy_uri: spec.policy_uri,
        tos_uri: spec.tos_uri,
        // FAPI 2.0 §5.4.1: a FAPI 2.0 client's ID tokens are ES256 unless
        // it chose PS256 or EdDSA (the server-wide default RS256 is out).
        id_token_signed_response_alg: match (spec.profile, spec.id_token_signed_response_alg) {
            (Some(ClientProfile::Fapi2), None) => Some("ES256".to_owned()),
            (_, alg) => alg,
        },
        profile: spec.profile,
        secrets,
        created_at: now,
        updated_at: now,
    };
    validate_metadata(&client)?;
    Ok(NewClient {
        client,
        client_secret,
    })
}

/// Applies a patch and validates the result.
pub fn patch_client(
    mut client: Client,
    patch: ClientPatch,
    now: UnixTime,
) -> Result<Client, ManageError> {
    let ClientPatch {
        client_name,
        redirect_uris,
        grant_types,
        response_types,
        scope,
        token_endpoint_auth_method,
        audience,
        access_token_format,
        first_party,
        access_token_ttl,
        refresh_token_ttl,
        post_logout_redirect_uris,
        id_token_signed_response_alg,
        always_issue_refresh_token,
        refresh_grace_secs,
        require_mfa,
        dpop_bound_access_tokens,
        token_exchange,
        require_pushed_authorization_requests,
        jwks,
        jwks_uri,
        token_endpoint_auth_signing_alg,
        request_object_signing_alg,
        require_signed_request_object,
        require_pkce,
        profile,
        allowed_upstreams,
        local_login,
        required_groups,
        released_groups,
        subject_type,
        sector_identifier_uri,
        logo_uri,
        client_uri,
        policy_uri,
        tos_uri,
    } = patch;
    if let Some(v) = client_name {
        client.client_name = v;
    }
    if let Some(v) = redirect_uris {
        client.redirect_uris = v;
    }
    if let Some(v) = grant_types {
        client.grant_types = v;
    }
    if let Some(v) = response_types {
        client.response_types = v;
    }
    if let Some(v) = scope {
        client.scope = v;
    }
    if let Some(v) = token_endpoint_auth_method {
        if (v == AuthMethod::None) != (client.token_endpoint_auth_method == AuthMethod::None) {
            return Err(ManageError::Invalid(MetadataError(
                "a client cannot switch between public and confidential; create a new one".into(),
            )));
        }
        // A secret does not become a key or the other way round: the
        // credentials would be missing (or left behind) after the switch.
        if (v == AuthMethod::PrivateKeyJwt)
            != (client.token_endpoint_auth_method == AuthMethod::PrivateKeyJwt)
        {
            return Err(ManageError::Invalid(MetadataError(
                "a client cannot switch between a client secret and private_key_jwt; \
                 create a new one"
                    .into(),
            )));
        }
        client.token_endpoint_auth_method = v;
    }
    if let Some(v) = audience {
        client.audience = v;
    }
    if let Some(v) = access_token_format {
        client.access_token_format = v;
    }
    if let Some(v) = first_party {
        client.first_party = v;
    }
    if let Some(v) = access_token_ttl {
        client.access_token_ttl = v;
    }
    if let Some(v) = refresh_token_ttl {
        client.refresh_token_ttl = v;
    }
    if let Some(v) = post_logout_redirect_uris {
        client.post_logout_redirect_uris = v;
    }
    if let Some(v) = id_token_signed_response_alg {
        client.id_token_signed_response_alg = Some(v);
    }
    if let Some(v) = always_issue_refresh_token {
        client.always_issue_refresh_token = v;
    }
    if let Some(v) = refresh_grace_secs {
        client.refresh_grace_secs = Some(v);
    }
    if let Some(v) = require_mfa {
        client.require_mfa = Some(v);
    }
    if let Some(v) = dpop_bound_access_tokens {
        client.dpop_bound_access_tokens = v;
    }
    if let Some(v) = token_exchange {
        client.token_exchange = v;
    }
    if let Some(v) = require_pushed_authorization_requests {
        client.require_pushed_authorization_requests = v;
    }
    if let Some(v) = jwks {
        client.jwks = v.as_ref().map(registered_jwks).transpose()?;
    }
    if let Some(v) = jwks_uri {
        client.jwks_uri = v;
    }
    if let Some(v) = token_endpoint_auth_signing_alg {
        client.token_endpoint_auth_signing_alg = v;
    }
    if let Some(v) = request_object_signing_alg {
        client.request_object_signing_alg = v;
    }
    if let Some(v) = require_signed_request_object {
        client.require_signed_request_object = v;
    }
    if let Some(v) = require_pkce {
        client.require_pkce = v;
    }
    if let Some(v) = profile {
        client.profile = v;
    }
    if let Some(v) = allowed_upstreams {
        client.allowed_upstreams = v;
    }
    if let Some(v) = local_login {
        client.local_login = v;
    }
    if let Some(v) = required_groups {
        client.required_groups = v;
    }
    if let Some(v) = released_groups {
        client.released_groups = v;
    }
    if let Some(v) = subject_type {
        client.subject_type = v;
    }
    if let Some(v) = sector_identifier_uri {
        client.sector_identifier_uri = v;
    }
    for (field, v) in [
        (&mut client.logo_uri, logo_uri),
        (&mut client.client_uri, client_uri),
        (&mut client.policy_uri, policy_uri),
        (&mut client.tos_uri, tos_uri),
    ] {
        if let Some(v) = v {
            *field = v;
        }
    }
    client.updated_at = now;
    validate_metadata(&client)?;
    Ok(client)
}

/// How long the previous secret keeps working after a rotation, by default.
pub const DEFAULT_SECRET_GRACE: i64 = 24 * 3600;

/// A user as an administrator describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    pub username: String,
    /// Plaintext, hashed with Argon2id before storage.
    #[serde(default)]
    pub password: Option<String>,
    /// An Argon2id PHC string, stored as is.
    #[serde(default)]
    pub password_hash: Option<String>,
    #[serde(default)]
    pub disabled: bool,
    /// The groups the user is in (`crate::groups`); absent: unchanged.
    /// In `[[users]]`, the whole set: groups left out are left.
    #[serde(default)]
    pub groups: Option<Vec<String>>,
    #[serde(flatten)]
    pub claims: UserClaims,
}

/// Shortest password accepted (NIST SP 800-63B §5.1.1.2 asks for ≥ 8).
pub const MIN_PASSWORD_LEN: usize = 8;

pub fn validate_password(password: &str) -> Result<(), ManageError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(ManageError::Invalid(MetadataError(format!(
            "password must be at least {MIN_PASSWORD_LEN} characters"
        ))));
    }
    if password.len() > 1024 {
        return Err(ManageError::Invalid(MetadataError(
            "password is too long".into(),
        )));
    }
    Ok(())
}

/// Validates a username: 1–64 characters, no whitespace or control chars.
pub fn validate_username(username: &str) -> Result<(), ManageError> {
    let n = username.chars().count();
    if n == 0
        || n > 64
        || username
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ManageError::Invalid(MetadataError(
            "username must be 1 to 64 characters without spaces".into(),
        )));
    }
    Ok(())
}

/// Builds a user from a spec. Hashing is CPU-heavy: call from a blocking
/// thread. `sub` is a fresh random identifier.
pub fn build_user(spec: UserSpec, now: UnixTime) -> Result<User, ManageError> {
    validate_username(&spec.username)?;
    let password_hash = match (spec.password, spec.password_hash) {
        (Some(_), Some(_)) => {
            return Err(ManageError::Invalid(MetadataError(
                "give either password or password_hash, not both".into(),
            )));
        }
        (Some(p), None) => {
            validate_password(&p)?;
            crate::password::hash(&p)?
        }
        (None, Some(h)) if crate::password::is_valid_hash(&h) => h,
        (None, Some(_)) => {
            return Err(ManageError::Invalid(MetadataError(
                "password_hash must be an Argon2id PHC string".into(),
            )));
        }
        // No password: the account exists but cannot sign in until one is set.
        (None, None) => String::new(),
    };
    Ok(User {
        sub: uuid::Uuid::new_v4().to_string(),
        username: spec.username,
        password_hash,
        disabled: spec.disabled,
        claims: spec.claims,
        created_at: now,
        updated_at: now,
        mfa_enrolled: false,
        has_passkey: false,
        verify_before_sign_in: false,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    #[error("{0}")]
    Invalid(#[from] MetadataError),
    #[error(transparent)]
    Core(#[from] Error),
}
