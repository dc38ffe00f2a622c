//! The door: find the access token in a request (`Authorization: Bearer`,
//! RFC 6750 §2.1, or `Authorization: DPoP` with a `DPoP` proof, RFC 9449
//! §7.1) and check it, locally or by introspection.

use frontdesk_jose::AccessTokenClaims;

use crate::ValidationError;
use crate::dpop::{Dpop, RequestParts};
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

    /// The RFC 7638 thumbprint of the key the token is bound to (`cnf.jkt`,
    /// RFC 9449 §6), when it is DPoP-bound. A `Verified` the door made
    /// carries one only after a proof signed by that very key was checked
    /// for this request.
    pub fn dpop_jkt(&self) -> Option<&str> {
        self.claims.cnf.as_ref().and_then(|c| c.jkt.as_deref())
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
    /// Checks a token presented as `Authorization: Bearer` and the required
    /// scopes. `now` is unix seconds. A DPoP-bound token (one with `cnf`) is
    /// refused here: RFC 9449 §7.2, a resource "MUST reject a DPoP-bound
    /// access token received as a bearer token" (401 `Bearer
    /// error="invalid_token"`: the scheme the request used, as the server's
    /// `/userinfo` answers). Use [`Guard::check_request`] to accept DPoP.
    ///
    /// # Errors
    /// The RFC 6750 refusal.
    pub async fn check(
        &self,
        token: &str,
        required: &[&str],
        now: u64,
    ) -> Result<Verified, ValidationError> {
        let verified = self.verify_token(token, now).await?;
        if verified.claims.cnf.is_some() {
            return Err(ValidationError::InvalidToken(
                "a DPoP-bound token was sent as a Bearer token (RFC 9449 §7.2)".to_owned(),
            ));
        }
        require_scopes(verified.claims.scope.as_deref(), required)?;
        Ok(verified)
    }

    /// The token alone (signature and claims, or the introspection answer),
    /// scopes not yet checked.
    async fn verify_token(&self, token: &str, now: u64) -> Result<Verified, ValidationError> {
        match self {
            Guard::Local(v) => Ok(Verified {
                claims: v.verify(token, &[], now).await?,
                via: Via::Local,
            }),
            Guard::Introspect(i) => {
                let (claims, via) = i.check(token, &[], now).await?;
                Ok(Verified { claims, via })
            }
        }
    }

    /// Finds the bearer token in `headers` ([`bearer_token`]) and checks it
    /// with [`Guard::check`]. Bearer only: DPoP needs the request's method
    /// and URI, so use [`Guard::check_request`] for it.
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

    /// Checks a request's credentials, Bearer or DPoP, and the required
    /// scopes: what the layer and the gateway call.
    ///
    /// * `Authorization: Bearer` ([`Guard::check`]): a token without `cnf`;
    ///   with `dpop.required()`, refused with 401 and a DPoP challenge.
    /// * `Authorization: DPoP` (RFC 9449 §7.1, scheme case-insensitive):
    ///   exactly one `DPoP` header (else `invalid_dpop_proof`), a valid
    ///   token bound by `cnf.jkt` (a token bound to no key cannot match a
    ///   proof's key: `invalid_token`), a proof passing RFC 9449 §4.3 for this
    ///   method, this URI (see [`Dpop::with_public_url`]) and this token
    ///   (`ath`), fresh, signed by the token's key (else `invalid_token`), and
    ///   never seen before (else `invalid_dpop_proof`); then the scopes.
    ///
    /// # Errors
    /// The RFC 6750 or RFC 9449 §7.1 refusal.
    pub async fn check_request(
        &self,
        dpop: &Dpop,
        req: RequestParts<'_>,
        required: &[&str],
        now: u64,
    ) -> Result<Verified, ValidationError> {
        let only_dpop = |e: ValidationError| if dpop.is_required() { e.dpop() } else { e };
        match credentials(req.headers).map_err(only_dpop)? {
            Credentials::Bearer(_) if dpop.is_required() => Err(ValidationError::InvalidToken(
                "this resource accepts only DPoP-bound tokens with a DPoP proof".to_owned(),
            )
            .dpop()),
            Credentials::Bearer(token) => self.check(token, required, now).await,
            Credentials::Dpop(token) => {
                let proof = dpop_proof(req.headers)?;
                let verified = self
                    .verify_token(token, now)
                    .await
                    .map_err(ValidationError::dpop)?;
                dpop.check(proof, token, &verified.claims, &req, now)?;
                require_scopes(verified.claims.scope.as_deref(), required)
                    .map_err(ValidationError::dpop)?;
                Ok(verified)
            }
        }
    }

    /// A tower layer that lets through only requests whose token passes this
    /// check with `scopes`, and puts the [`Verified`] token in the request
    /// extensions.
    pub fn layer(&self, scopes: &[&str]) -> BearerLayer {
        BearerLayer::new(self.clone(), scopes)
    }
}

/// The credentials of a request: the token and the scheme it came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credentials<'a> {
    /// `Authorization: Bearer <token>` (RFC 6750 §2.1).
    Bearer(&'a str),
    /// `Authorization: DPoP <token>` (RFC 9449 §7.1).
    Dpop(&'a str),
}

/// The token from `Authorization: Bearer …` (RFC 6750 §2.1) or
/// `Authorization: DPoP …` (RFC 9449 §7.1), schemes compared
/// case-insensitively (RFC 9110 §11.1). Both carry `token68`
/// (= RFC 6750's `b64token`).
///
/// # Errors
/// [`ValidationError::MissingToken`] without an `Authorization` header of
/// either scheme; [`ValidationError::InvalidRequest`] for several
/// `Authorization` headers or an empty token; [`ValidationError::InvalidToken`]
/// for characters outside `token68`. Errors about a DPoP credential come
/// wrapped in [`ValidationError::Dpop`].
pub fn credentials(headers: &http::HeaderMap) -> Result<Credentials<'_>, ValidationError> {
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
    let dpop = if scheme.eq_ignore_ascii_case("bearer") {
        false
    } else if scheme.eq_ignore_ascii_case("dpop") {
        true
    } else {
        return Err(ValidationError::MissingToken);
    };
    let scheme_error = |e: ValidationError| if dpop { e.dpop() } else { e };
    let token = rest.trim_matches(' ');
    if token.is_empty() {
        return Err(scheme_error(ValidationError::InvalidRequest(
            "empty access token".to_owned(),
        )));
    }
    // b64token = token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
    let body = token.trim_end_matches('=');
    let ok = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b));
    if !ok {
        return Err(scheme_error(ValidationError::InvalidToken(
            "the token is not a token68".to_owned(),
        )));
    }
    Ok(if dpop {
        Credentials::Dpop(token)
    } else {
        Credentials::Bearer(token)
    })
}

/// The one `DPoP` header of a request (RFC 9449 §4.3 step 1: "there is not
/// more than one DPoP HTTP request header field").
///
/// # Errors
/// [`ValidationError::InvalidDpopProof`] when there is none, more than one,
/// or one that is not ASCII or empty.
pub fn dpop_proof(headers: &http::HeaderMap) -> Result<&str, ValidationError> {
    let mut values = headers.get_all(frontdesk_jose::dpop::HEADER).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(ValidationError::InvalidDpopProof(
            "a DPoP request needs exactly one DPoP header".to_owned(),
        ));
    };
    match value.to_str().map(str::trim) {
        Ok(v) if !v.is_empty() => Ok(v),
        _ => Err(ValidationError::InvalidDpopProof(
            "the DPoP header is empty or not ASCII".to_owned(),
        )),
    }
}

/// The token from `Authorization: Bearer …` (RFC 6750 §2.1).
///
/// Only the header is read: tokens in the query or a form body (§2.2, §2.3)
/// end up in logs and caches and are refused by omission. The scheme is
/// case-insensitive (RFC 9110 §11.1); the token must match `b64token`.
/// `Authorization: DPoP` is not a bearer token ([`credentials`] reads both).
///
/// # Errors
/// [`ValidationError::MissingToken`] without a Bearer `Authorization`
/// header; [`ValidationError::InvalidRequest`] for several `Authorization`
/// headers or an empty token; [`ValidationError::InvalidToken`] for
/// characters outside `b64token`.
pub fn bearer_token(headers: &http::HeaderMap) -> Result<&str, ValidationError> {
    match credentials(headers) {
        Ok(Credentials::Bearer(token)) => Ok(token),
        Ok(Credentials::Dpop(_)) | Err(ValidationError::Dpop(_)) => {
            Err(ValidationError::MissingToken)
        }
        Err(e) => Err(e),
    }
}

/// The current time in unix seconds (what the layer passes as `now`).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
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
    fn credentials_read_both_schemes_and_one_dpop_header() {
        assert_eq!(
            credentials(&headers(&["DPoP abc"])),
            Ok(Credentials::Dpop("abc"))
        );
        assert_eq!(
            credentials(&headers(&["dpop abc"])),
            Ok(Credentials::Dpop("abc"))
        );
        assert_eq!(
            credentials(&headers(&["BEARER abc"])),
            Ok(Credentials::Bearer("abc"))
        );
        assert_eq!(
            bearer_token(&headers(&["DPoP abc"])),
            Err(ValidationError::MissingToken)
        );
        let empty = credentials(&headers(&["DPoP "])).unwrap_err();
        assert_eq!(
            (empty.status(), empty.www_authenticate().as_str()),
            (
                400,
                r#"DPoP error="invalid_request", algs="ES256 EdDSA PS256 RS256""#
            )
        );
        let mut h = headers(&["DPoP abc"]);
        assert!(matches!(
            dpop_proof(&h),
            Err(ValidationError::InvalidDpopProof(_))
        ));
        h.append("dpop", http::HeaderValue::from_static("a.b.c"));
        assert_eq!(dpop_proof(&h), Ok("a.b.c"));
        h.append("DPoP", http::HeaderValue::from_static("d.e.f"));
        let two = dpop_proof(&h).unwrap_err();
        assert_eq!(two.status(), 401);
        assert_eq!(
            two.www_authenticate(),
            r#"DPoP error="invalid_dpop_proof", algs="ES256 EdDSA PS256 RS256""#
        );
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
