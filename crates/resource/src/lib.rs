//! frontdesk-resource: checks access tokens at the door of an API.
//!
//! This first part validates RFC 9068 JWT access tokens locally against a
//! JWKS the caller supplies: signature with an algorithm bound to the key
//! (never `none`, never HMAC), `typ: at+jwt`, `iss`, `aud`, `exp`/`nbf`/`iat`
//! with leeway, and required scopes (RFC 9068 §4). Failures map to the
//! RFC 6750 §3 challenge an API must send. Fetching and caching the JWKS
//! and remote introspection come next.
//!
//! ```
//! use frontdesk_resource::{Validator, ValidationError};
//! # fn demo(jwks: frontdesk_jose::Jwks, token: &str, now: u64) {
//! let v = Validator::new("https://id.example.com", "https://api.example.com", jwks);
//! match v.validate(token, &["photos:read"], now) {
//!     Ok(claims) => println!("hello {}", claims.sub),
//!     Err(e) => println!("{} {}", e.status(), e.www_authenticate()),
//! }
//! # }
//! ```

use frontdesk_jose::{AccessTokenClaims, Algorithm, Expectations, Jwks};

/// Why a token was refused, in RFC 6750 §3.1 terms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// "The access token provided is expired, revoked, malformed, or invalid
    /// for other reasons." → 401.
    #[error("invalid_token: {0}")]
    InvalidToken(String),
    /// "The request requires higher privileges than provided by the access
    /// token." → 403, with the scope needed.
    #[error("insufficient_scope: {0}")]
    InsufficientScope(String),
}

impl ValidationError {
    /// The HTTP status RFC 6750 §3.1 assigns.
    pub fn status(&self) -> u16 {
        match self {
            ValidationError::InvalidToken(_) => 401,
            ValidationError::InsufficientScope(_) => 403,
        }
    }

    /// The `WWW-Authenticate` header value (RFC 6750 §3).
    pub fn www_authenticate(&self) -> String {
        match self {
            ValidationError::InvalidToken(_) => r#"Bearer error="invalid_token""#.to_owned(),
            ValidationError::InsufficientScope(scope) => {
                format!(r#"Bearer error="insufficient_scope", scope="{scope}""#)
            }
        }
    }
}

/// Validates access tokens for one API (one audience).
#[derive(Debug, Clone)]
pub struct Validator {
    expect: Expectations,
    jwks: Jwks,
}

impl Validator {
    /// `issuer` is frontdesk's issuer identifier; `audience` this API's
    /// identifier as registered in clients' `audience`.
    pub fn new(issuer: &str, audience: &str, jwks: Jwks) -> Validator {
        Validator {
            expect: Expectations {
                issuer: issuer.to_owned(),
                audience: Some(vec![audience.to_owned()]),
                typ: Some("at+jwt".to_owned()),
                forbidden_typ: Vec::new(),
                algorithms: vec![
                    Algorithm::ES256,
                    Algorithm::EdDSA,
                    Algorithm::RS256,
                    Algorithm::PS256,
                ],
                leeway_secs: 10,
            },
            jwks,
        }
    }

    /// Clock leeway for exp/nbf/iat, seconds (default 10).
    pub fn with_leeway(mut self, secs: u64) -> Validator {
        self.expect.leeway_secs = secs;
        self
    }

    /// Replaces the key set (after a refetch).
    pub fn set_jwks(&mut self, jwks: Jwks) {
        self.jwks = jwks;
    }

    /// Checks `token` and that its `scope` holds every `required` scope.
    pub fn validate(
        &self,
        token: &str,
        required: &[&str],
        now: u64,
    ) -> Result<AccessTokenClaims, ValidationError> {
        let (_, claims) =
            frontdesk_jose::verify::<AccessTokenClaims>(token, &self.jwks, &self.expect, now)
                .map_err(|e| ValidationError::InvalidToken(e.to_string()))?;
        let granted = claims.scope.as_deref().unwrap_or_default();
        let missing = required
            .iter()
            .any(|r| !granted.split(' ').any(|g| g == *r));
        if missing {
            return Err(ValidationError::InsufficientScope(required.join(" ")));
        }
        Ok(claims)
    }
}
