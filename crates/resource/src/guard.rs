//! The door: find the bearer token in a request and check it, locally or by
//! introspection.

use frontdesk_jose::AccessTokenClaims;

use crate::ValidationError;
use crate::introspect::Introspector;
use crate::layer::BearerLayer;
use crate::validator::{Validator, require_scopes};

/// How a request was admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Via {
    /// The JWT was verified locally against the JWKS.
    Local,
    /// The authorization server answered an introspection request.
    Introspection,
    /// A cached introspection answer was used.
    IntrospectionCache,
}

impl Via {
    /// `local`, `introspection` or `introspection_cache`.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Local => "local",
            Via::Introspection => "introspection",
            Via::IntrospectionCache => "introspection_cache",
        }
    }
}

/// A verified access token: what a handler gets.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// The token's claims (RFC 9068 §2.2). For introspected tokens, built
    /// from the RFC 7662 answer; members it lacks are empty or zero.
    pub claims: AccessTokenClaims,
    /// How the token was checked.
    pub via: Via,
}

impl Verified {
    /// The subject (`sub`): a user, or the client for client credentials.
    pub fn sub(&self) -> &str {
        &self.claims.sub
    }

    /// The client the token was issued to.
    pub fn client_id(&self) -> &str {
        &self.claims.client_id
    }

    /// The granted scopes.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.claims
            .scope
            .as_deref()
            .unwrap_or_default()
            .split(' ')
            .filter(|s| !s.is_empty())
    }

    /// Whether `scope` was granted.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().any(|s| s == scope)
    }

    /// `Err(insufficient_scope)` unless every scope in `required` was
    /// granted: for handlers that need more than their layer required.
    ///
    /// # Errors
    /// [`ValidationError::InsufficientScope`].
    pub fn require(&self, required: &[&str]) -> Result<(), ValidationError> {
        require_scopes(self.claims.scope.as_deref(), required)
    }
}

/// A token check: local ([`Validator`]) or remote ([`Introspector`]).
#[derive(Debug, Clone)]
pub enum Guard {
    /// Verify the JWT locally: fast, but cannot see revocations before `exp`.
    Local(Validator),
    /// Ask the authorization server (possibly through a short cache).
    Introspect(Introspector),
}

impl From<Validator> for Guard {
    fn from(v: Validator) -> Guard {
        Guard::Local(v)
    }
}

impl From<Introspector> for Guard {
    fn from(i: Introspector) -> Guard {
        Guard::Introspect(i)
    }
}

impl Guard {
    /// Checks a bearer token and the required scopes. `now` is unix seconds.
    ///
    /// # Errors
    /// The RFC 6750 refusal.
    pub async fn check(
        &self,
        token: &str,
        required: &[&str],
        now: u64,
    ) -> Result<Verified, ValidationError> {
        match self {
            Guard::Local(v) => Ok(Verified {
                claims: v.verify(token, required, now).await?,
                via: Via::Local,
            }),
            Guard::Introspect(i) => {
                let (claims, via) = i.check(token, required, now).await?;
                Ok(Verified { claims, via })
            }
        }
    }

    /// Finds the bearer token in `headers` ([`bearer_token`]) and checks it.
    ///
    /// # Errors
    /// The RFC 6750 refusal.
    pub async fn check_headers(
        &self,
        headers: &http::HeaderMap,
        required: &[&str],
        now: u64,
    ) -> Result<Verified, ValidationError> {
        let token = bearer_token(headers)?;
        self.check(token, required, now).await
    }

    /// A tower layer that lets through only requests whose token passes this
    /// check with `scopes`, and puts the [`Verified`] token in the request
    /// extensions.
    pub fn layer(&self, scopes: &[&str]) -> BearerLayer {
        BearerLayer::new(self.clone(), scopes)
    }
}

/// The token from `Authorization: Bearer …` (RFC 6750 §2.1).
///
/// Only the header is read: tokens in the query or a form body (§2.2, §2.3)
/// end up in logs and caches and are refused by omission. The scheme is
/// case-insensitive (RFC 9110 §11.1); the token must match `b64token`.
///
/// # Errors
/// [`ValidationError::MissingToken`] without a Bearer `Authorization`
/// header; [`ValidationError::InvalidRequest`] for several `Authorization`
/// headers or an empty token; [`ValidationError::InvalidToken`] for
/// characters outside `b64token`.
pub fn bearer_token(headers: &http::HeaderMap) -> Result<&str, ValidationError> {
    let mut values = headers.get_all(http::header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(ValidationError::MissingToken);
    };
    if values.next().is_some() {
        return Err(ValidationError::InvalidRequest(
            "more than one Authorization header".to_owned(),
        ));
    }
    let value = value
        .to_str()
        .map_err(|_| ValidationError::InvalidRequest("Authorization is not ASCII".to_owned()))?;
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ValidationError::MissingToken);
    }
    let token = rest.trim_matches(' ');
    if token.is_empty() {
        return Err(ValidationError::InvalidRequest(
            "empty bearer token".to_owned(),
        ));
    }
    // b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
    let body = token.trim_end_matches('=');
    let ok = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b));
    if !ok {
        return Err(ValidationError::InvalidToken(
            "the token is not a b64token".to_owned(),
        ));
    }
    Ok(token)
}

/// The current time in unix seconds (what the layer passes as `now`).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for v in values {
            h.append(
                http::header::AUTHORIZATION,
                http::HeaderValue::from_str(v).unwrap_or(http::HeaderValue::from_static("x")),
            );
        }
        h
    }

    #[test]
    fn bearer_token_follows_rfc6750_2_1() {
        assert_eq!(
            bearer_token(&headers(&["Bearer abc.def-_~+/=="])),
            Ok("abc.def-_~+/==")
        );
        assert_eq!(bearer_token(&headers(&["bearer abc"])), Ok("abc"));
        assert_eq!(
            bearer_token(&headers(&[])),
            Err(ValidationError::MissingToken)
        );
        assert_eq!(
            bearer_token(&headers(&["Basic dXNlcjpwYXNz"])),
            Err(ValidationError::MissingToken)
        );
        assert!(matches!(
            bearer_token(&headers(&["Bearer a", "Bearer b"])),
            Err(ValidationError::InvalidRequest(_))
        ));
        assert!(matches!(
            bearer_token(&headers(&["Bearer "])),
            Err(ValidationError::InvalidRequest(_))
        ));
        assert!(matches!(
            bearer_token(&headers(&["Bearer a\"b"])),
            Err(ValidationError::InvalidToken(_))
        ));
    }
}
