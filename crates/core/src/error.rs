//! Protocol errors. [`ErrorCode`] is the closed set of codes the
//! specifications define; the binary maps them to statuses and headers in
//! one place (`http/error.rs`).

use crate::store::StoreError;

/// Error codes of RFC 6749 §4.1.2.1 / §5.2, RFC 6750 §3.1, RFC 7009 §2.2.1
/// and RFC 8707 §2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// "The request is missing a required parameter, includes an unsupported
    /// parameter value (other than grant type), repeats a parameter, includes
    /// multiple credentials, utilizes more than one mechanism for
    /// authenticating the client, or is otherwise malformed." (RFC 6749 §5.2)
    InvalidRequest,
    /// "Client authentication failed (e.g., unknown client, no client
    /// authentication included, or unsupported authentication method)."
    /// (RFC 6749 §5.2)
    InvalidClient,
    /// "The provided authorization grant … or refresh token is invalid,
    /// expired, revoked, …" (RFC 6749 §5.2)
    InvalidGrant,
    /// "The authenticated client is not authorized to use this authorization
    /// grant type." (RFC 6749 §5.2)
    UnauthorizedClient,
    /// "The authorization grant type is not supported by the authorization
    /// server." (RFC 6749 §5.2)
    UnsupportedGrantType,
    /// "The requested scope is invalid, unknown, malformed, or exceeds the
    /// scope granted by the resource owner." (RFC 6749 §5.2)
    InvalidScope,
    /// "The requested resource is invalid, missing, unknown, or malformed."
    /// (RFC 8707 §2)
    InvalidTarget,
    /// "The authorization server does not support the revocation of the
    /// presented token type." (RFC 7009 §2.2.1)
    UnsupportedTokenType,
    /// "The access token provided is expired, revoked, malformed, or invalid
    /// for other reasons." (RFC 6750 §3.1) — answered with 401.
    InvalidToken,
    /// "The request requires higher privileges than provided by the access
    /// token." (RFC 6750 §3.1) — answered with 403.
    InsufficientScope,
    /// "The resource owner or authorization server denied the request."
    /// (RFC 6749 §4.1.2.1)
    AccessDenied,
    /// "The authorization server does not support obtaining an authorization
    /// code using this method." (RFC 6749 §4.1.2.1)
    UnsupportedResponseType,
    /// "The Authorization Server requires End-User authentication." (OIDC
    /// Core §3.1.2.6, for `prompt=none`)
    LoginRequired,
    /// "The Authorization Server requires End-User consent." (OIDC Core §3.1.2.6)
    ConsentRequired,
    /// "The Authorization Server requires End-User interaction of some form
    /// to proceed." (OIDC Core §3.1.2.6)
    InteractionRequired,
    /// "The OP does not support use of the request parameter." (OIDC Core §3.1.2.6)
    RequestNotSupported,
    /// "The OP does not support use of the request_uri parameter." (OIDC Core §3.1.2.6)
    RequestUriNotSupported,
    /// "The request_uri in the Authorization Request returns an error or
    /// contains invalid data." (OIDC Core §3.1.2.6): a pushed request
    /// (RFC 9126 §4) that is unknown, expired, used or another client's.
    InvalidRequestUri,
    /// "The request parameter contains an invalid Request Object." (OIDC
    /// Core §3.1.2.6, RFC 9101 §6.3): not signed, signed with a key or an
    /// algorithm the client did not register, for another audience,
    /// expired, or naming another client.
    InvalidRequestObject,
    /// "The Authorization Server is unable to meet the requirements of the
    /// Relying Party for the authentication of the End-User" (OpenID
    /// Connect Unmet Authentication Requirements 1.0 §2): the request asks
    /// for a level (`acr_values`) the user has no factor for.
    UnmetAuthenticationRequirements,
    /// "The authorization server encountered an unexpected condition that
    /// prevented it from fulfilling the request." (RFC 6749 §4.1.2.1)
    ServerError,
    /// "The authorization server is currently unable to handle the request
    /// due to a temporary overloading or maintenance of the server."
    /// (RFC 6749 §4.1.2.1)
    TemporarilyUnavailable,
    /// "The DPoP proof is invalid" (RFC 9449 §5, §7.1): 400 at the token
    /// endpoint, 401 with a `DPoP` challenge at a protected resource.
    InvalidDpopProof,
    /// RFC 8628 §3.5: "The authorization request is still pending as the
    /// end user hasn't yet completed the user-interaction steps".
    AuthorizationPending,
    /// RFC 8628 §3.5: still pending, and the client polls too fast; "the
    /// interval MUST be increased by 5 seconds for this and all subsequent
    /// requests".
    SlowDown,
    /// RFC 8628 §3.5: "The device_code has expired".
    ExpiredToken,
    /// "... the authorization server requires a nonce in DPoP proofs"
    /// (RFC 9449 §8, §9), with the nonce in `DPoP-Nonce`.
    UseDpopNonce,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::UnsupportedTokenType => "unsupported_token_type",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::InteractionRequired => "interaction_required",
            ErrorCode::RequestNotSupported => "request_not_supported",
            ErrorCode::RequestUriNotSupported => "request_uri_not_supported",
            ErrorCode::InvalidRequestUri => "invalid_request_uri",
            ErrorCode::InvalidRequestObject => "invalid_request_object",
            ErrorCode::UnmetAuthenticationRequirements => "unmet_authentication_requirements",
            ErrorCode::ServerError => "server_error",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::InvalidDpopProof => "invalid_dpop_proof",
            ErrorCode::UseDpopNonce => "use_dpop_nonce",
            ErrorCode::AuthorizationPending => "authorization_pending",
            ErrorCode::SlowDown => "slow_down",
            ErrorCode::ExpiredToken => "expired_token",
        }
    }
}

/// An error that is the caller's fault and safe to show to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    pub code: ErrorCode,
    /// Human-readable `error_description` (RFC 6749 §5.2: ASCII, no `"`/`\`).
    pub description: String,
    /// What the failure revealed for the audit trail (a replayed refresh
    /// token or code), for the binary to record; never shown to the client.
    pub incident: Option<Box<crate::audit::Incident>>,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> OAuthError {
        OAuthError {
            code,
            description: description.into(),
            incident: None,
        }
    }

    /// The same error, carrying `incident` for the audit trail.
    pub fn with_incident(mut self, incident: crate::audit::Incident) -> OAuthError {
        self.incident = Some(Box::new(incident));
        self
    }

    pub fn invalid_request(description: impl Into<String>) -> OAuthError {
        OAuthError::new(ErrorCode::InvalidRequest, description)
    }

    pub fn invalid_client() -> OAuthError {
        OAuthError::new(ErrorCode::InvalidClient, "client authentication failed")
    }
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

/// Everything a protocol operation can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The caller's mistake: shown as an OAuth error.
    #[error("{0}")]
    OAuth(OAuthError),
    /// The store is unreachable: fail closed with 503, issue nothing.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Our fault: the client sees only `server_error`; the log sees this.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<OAuthError> for Error {
    fn from(e: OAuthError) -> Error {
        Error::OAuth(e)
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        match e {
            StoreError::Unavailable(m) => Error::Unavailable(m),
            StoreError::Conflict(m) | StoreError::Internal(m) => Error::Internal(m),
        }
    }
}
