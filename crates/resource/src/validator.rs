//! Local validation of RFC 9068 JWT access tokens.

use std::sync::Arc;

use frontdesk_jose::{AccessTokenClaims, Algorithm, Expectations, JoseError, Jwks};

use crate::discovery::discover;
use crate::http_client::HttpClient;
use crate::keys::{Keys, KeysOptions};
use crate::verified_cache::{CacheStats, VerifiedCache};
use crate::{SetupError, ValidationError};

/// Validates access tokens for one API (one audience), locally.
///
/// RFC 9068 §4 lists what a resource server checks, and this does all of
/// it: the header `typ` is `at+jwt` (so an ID token, `typ: JWT`, is refused
/// as an access token); the signature verifies with a key from the issuer's
/// JWKS, using the algorithm *of that key* (ES256, EdDSA, RS256 or PS256 —
/// never `none`, never an HMAC keyed with public-key bytes); `iss` equals
/// the issuer exactly; `aud` contains this API; `exp`, `nbf` and `iat` hold
/// with the leeway; and the `scope` claim contains every required scope.
///
/// With [`Validator::with_cache`], a token verified once is remembered until
/// it expires (see that method for the rules).
///
/// Cloning is cheap and clones share the key cache and the verification cache.
#[derive(Debug, Clone)]
pub struct Validator {
    expect: Arc<Expectations>,
    keys: Keys,
    cache: Option<Arc<VerifiedCache>>,
}

fn expectations(issuer: &str, audience: &str) -> Expectations {
    Expectations {
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
        require_iat: true,
    }
}

impl Validator {
    /// A validator with a fixed key set. `issuer` is frontdesk's issuer
    /// identifier; `audience` this API's identifier as registered in
    /// clients' `audience`.
    pub fn new(issuer: &str, audience: &str, jwks: Jwks) -> Validator {
        Validator::with_keys(issuer, audience, Keys::fixed(jwks))
    }

    /// A validator over a key set, fixed or remote ([`Keys::remote`]);
    /// several validators (one per audience) can share one [`Keys`].
    pub fn with_keys(issuer: &str, audience: &str, keys: Keys) -> Validator {
        Validator {
            expect: Arc::new(expectations(issuer, audience)),
            keys,
            cache: None,
        }
    }

    /// Remembers up to `max_entries` successful verifications, keyed by
    /// SHA-256 of the token, so a token used again is not verified again
    /// until it expires. On every hit `exp` is re-checked, the key that
    /// verified the token must still be in the key set, and the required
    /// scopes are checked as usual; failures are never remembered. A
    /// revoked token passes until `exp` with or without the cache (that is
    /// local validation). `0` turns the cache off.
    #[must_use]
    pub fn with_cache(mut self, max_entries: u64) -> Validator {
        self.cache = (max_entries > 0).then(|| Arc::new(VerifiedCache::new(max_entries)));
        self
    }

    /// Hits and misses of the verification cache (`None` without one).
    pub fn cache_stats(&self) -> Option<CacheStats> {
        self.cache.as_ref().map(|c| c.stats())
    }

    /// Discovers the issuer's `jwks_uri` (RFC 8414) and loads its keys.
    ///
    /// # Errors
    /// [`SetupError`] when discovery fails. A failure to load the keys
    /// themselves is only logged: they are fetched again on first use.
    pub async fn from_issuer(issuer: &str, audience: &str) -> Result<Validator, SetupError> {
        let http = HttpClient::new()?;
        let meta = discover(&http, issuer).await?;
        Ok(Validator::from_jwks_uri(issuer, audience, &meta.jwks_uri, http).await)
    }

    /// Uses the JWKS at `jwks_uri` (no discovery) and loads it.
    pub async fn from_jwks_uri(
        issuer: &str,
        audience: &str,
        jwks_uri: &str,
        http: HttpClient,
    ) -> Validator {
        let keys = Keys::remote(jwks_uri, http, KeysOptions::default());
        if let Err(e) = keys.refresh().await {
            tracing::warn!(error = %e, "the JWKS could not be loaded yet; retrying on first use");
        }
        Validator::with_keys(issuer, audience, keys)
    }

    /// Clock leeway for exp/nbf/iat, seconds (default 10).
    #[must_use]
    pub fn with_leeway(mut self, secs: u64) -> Validator {
        Arc::make_mut(&mut self.expect).leeway_secs = secs;
        self
    }

    /// Replaces the key set with a fixed one.
    pub fn set_jwks(&mut self, jwks: Jwks) {
        self.keys = Keys::fixed(jwks);
    }

    /// The key set (for its fetch count, or to share with another validator).
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The expected issuer.
    pub fn issuer(&self) -> &str {
        &self.expect.issuer
    }

    /// Checks `token` against the keys at hand (never fetches; a stale remote
    /// set starts a background refresh) and that its `scope` holds every
    /// `required` scope. `now` is unix seconds.
    ///
    /// # Errors
    /// [`ValidationError::InvalidToken`] or [`ValidationError::InsufficientScope`].
    pub fn validate(
        &self,
        token: &str,
        required: &[&str],
        now: u64,
    ) -> Result<AccessTokenClaims, ValidationError> {
        let jwks = self.keys.current();
        let key = self.cache_key(token);
        let claims = self
            .verify_with(&jwks, token, key.as_ref(), now)
            .map_err(invalid)?;
        require_scopes(claims.scope.as_deref(), required)?;
        Ok(claims)
    }

    /// Like [`Validator::validate`], but a token signed by a key the cached
    /// set does not know triggers one refetch of the JWKS (rate-limited, see
    /// [`Keys`]) before it is refused. This is the method servers call.
    ///
    /// # Errors
    /// As [`Validator::validate`], plus [`ValidationError::Unavailable`]
    /// when no key set could ever be loaded.
    pub async fn verify(
        &self,
        token: &str,
        required: &[&str],
        now: u64,
    ) -> Result<AccessTokenClaims, ValidationError> {
        let generation = self.keys.generation();
        let jwks = self.keys.current();
        let key = self.cache_key(token);
        let claims = match self.verify_with(&jwks, token, key.as_ref(), now) {
            Ok(c) => c,
            Err(JoseError::UnknownKey) if self.keys.is_remote() => {
                let outcome = self.keys.refetch_for_unknown_kid(generation).await;
                let jwks = self.keys.current();
                match self.verify_with(&jwks, token, key.as_ref(), now) {
                    Ok(c) => c,
                    Err(JoseError::UnknownKey) => {
                        let (loaded, last_error) = self.keys.status();
                        if !loaded {
                            return Err(ValidationError::Unavailable(
                                last_error.unwrap_or_else(|| "no JWKS loaded".to_owned()),
                            ));
                        }
                        return Err(ValidationError::InvalidToken(format!(
                            "no key matches the token's kid (refetch: {outcome:?})"
                        )));
                    }
                    Err(e) => return Err(invalid(e)),
                }
            }
            Err(e) => return Err(invalid(e)),
        };
        require_scopes(claims.scope.as_deref(), required)?;
        Ok(claims)
    }

    fn cache_key(&self, token: &str) -> Option<[u8; 32]> {
        self.cache.as_ref().map(|_| VerifiedCache::key(token))
    }

    /// The cache (when there is one and it knows the token), else the full
    /// verification, remembered when it succeeds.
    fn verify_with(
        &self,
        jwks: &Arc<Jwks>,
        token: &str,
        cache_key: Option<&[u8; 32]>,
        now: u64,
    ) -> Result<AccessTokenClaims, JoseError> {
        let cached = self.cache.as_ref().zip(cache_key);
        if let Some((cache, key)) = cached
            && let Some(claims) = cache.get(key, jwks, now)
        {
            return Ok(claims);
        }
        let (_, claims, key_index) =
            frontdesk_jose::verify_keyed::<AccessTokenClaims>(token, jwks, &self.expect, now)?;
        if let Some((cache, key)) = cached {
            cache.insert(
                *key,
                &claims,
                self.expect.leeway_secs,
                Arc::clone(jwks),
                key_index,
            );
        }
        Ok(claims)
    }
}

fn invalid(e: JoseError) -> ValidationError {
    ValidationError::InvalidToken(e.to_string())
}

/// RFC 6750 §3.1 `insufficient_scope` unless `granted` (space-separated,
/// RFC 6749 §3.3) holds every `required` scope.
pub(crate) fn require_scopes(
    granted: Option<&str>,
    required: &[&str],
) -> Result<(), ValidationError> {
    let granted = granted.unwrap_or_default();
    let missing = required
        .iter()
        .any(|r| !granted.split(' ').any(|g| g == *r));
    if missing {
        return Err(ValidationError::InsufficientScope(required.join(" ")));
    }
    Ok(())
}
