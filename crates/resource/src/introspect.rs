//! Remote validation: OAuth 2.0 Token Introspection (RFC 7662), with an
//! optional short, bounded cache.
//!
//! Introspection sees what a local check cannot: a token revoked at the
//! authorization server is `"active": false` at once. Each call costs a
//! round trip, so a route may accept answers up to a few seconds old
//! ([`Introspector::with_cache`]): the cache is keyed by SHA-256 of the
//! token, the required scopes and the audience (never the raw token), holds
//! at most `max_entries` answers, and keeps none beyond the smaller of its
//! TTL and the token's own `exp`.

use std::sync::Arc;
use std::time::Duration;

use frontdesk_jose::{AccessTokenClaims, Audience, Confirmation};
use moka::future::Cache;

use crate::discovery::check_url;
use crate::guard::Via;
use crate::http_client::{FetchError, HttpClient};
use crate::validator::require_scopes;
use crate::{SetupError, ValidationError};

/// An RFC 7662 client for one audience, authenticating with its own
/// client credentials (`client_secret_basic`).
#[derive(Clone)]
pub struct Introspector {
    inner: Arc<Inner>,
}

struct Inner {
    http: HttpClient,
    endpoint: String,
    client_id: String,
    client_secret: String,
    issuer: String,
    audience: String,
    leeway: u64,
    cache: Option<(Cache<[u8; 32], Answer>, Duration)>,
}

impl std::fmt::Debug for Introspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Introspector")
            .field("endpoint", &self.inner.endpoint)
            .field("client_id", &self.inner.client_id)
            .field("audience", &self.inner.audience)
            .field("cache_ttl", &self.inner.cache.as_ref().map(|c| c.1))
            .finish_non_exhaustive()
    }
}

/// A cached introspection answer and how long it may be kept.
#[derive(Clone)]
enum Answer {
    Active(Arc<AccessTokenClaims>, Duration),
    Inactive(Duration),
}

struct AnswerExpiry;

impl moka::Expiry<[u8; 32], Answer> for AnswerExpiry {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Answer,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(match value {
            Answer::Active(_, d) | Answer::Inactive(d) => *d,
        })
    }
}

/// RFC 7662 §2.2 response members we read.
#[derive(Debug, serde::Deserialize)]
struct Response {
    active: bool,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    aud: Option<Audience>,
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    exp: Option<u64>,
    #[serde(default)]
    iat: Option<u64>,
    #[serde(default)]
    nbf: Option<u64>,
    #[serde(default)]
    jti: Option<String>,
    /// RFC 9449 §6.2: a DPoP-bound token's answer carries `cnf.jkt`.
    #[serde(default)]
    cnf: Option<Confirmation>,
    /// The user's groups, when the server releases them (frontdesk: the
    /// `groups` scope).
    #[serde(default)]
    groups: Option<Vec<String>>,
    /// RFC 8693 §4.1: the acting party of an exchanged token.
    #[serde(default)]
    act: Option<frontdesk_jose::Actor>,
    /// RFC 9449 §6.2: `DPoP` for a DPoP-bound token.
    #[serde(default)]
    token_type: Option<String>,
}

impl Introspector {
    /// An uncached introspector. `endpoint` is the RFC 7662 endpoint (from
    /// discovery's `introspection_endpoint`); `issuer` and `audience` are
    /// checked against the answer.
    ///
    /// # Errors
    /// [`SetupError::InvalidUrl`] for an endpoint that is not http(s).
    pub fn new(
        http: HttpClient,
        endpoint: &str,
        client_id: &str,
        client_secret: &str,
        issuer: &str,
        audience: &str,
    ) -> Result<Introspector, SetupError> {
        check_url(endpoint)?;
        Ok(Introspector {
            inner: Arc::new(Inner {
                http,
                endpoint: endpoint.to_owned(),
                client_id: client_id.to_owned(),
                client_secret: client_secret.to_owned(),
                issuer: issuer.to_owned(),
                audience: audience.to_owned(),
                leeway: 10,
                cache: None,
            }),
        })
    }

    /// Caches answers for at most `ttl` (and never past the token's `exp`),
    /// keeping at most `max_entries`. A token revoked at the server may then
    /// be accepted for up to `ttl`.
    #[must_use]
    pub fn with_cache(self, ttl: Duration, max_entries: u64) -> Introspector {
        let cache = Cache::builder()
            .max_capacity(max_entries)
            .expire_after(AnswerExpiry)
            .build();
        let inner = Inner {
            http: self.inner.http.clone(),
            endpoint: self.inner.endpoint.clone(),
            client_id: self.inner.client_id.clone(),
            client_secret: self.inner.client_secret.clone(),
            issuer: self.inner.issuer.clone(),
            audience: self.inner.audience.clone(),
            leeway: self.inner.leeway,
            cache: Some((cache, ttl)),
        };
        Introspector {
            inner: Arc::new(inner),
        }
    }

    /// Number of cached answers (approximate; for metrics and tests).
    pub fn cached_entries(&self) -> u64 {
        self.inner
            .cache
            .as_ref()
            .map_or(0, |(c, _)| c.entry_count())
    }

    /// Asks the authorization server about `token` (or the cache) and checks
    /// the answer: active, our issuer, our audience, not expired, and every
    /// required scope. Returns the claims and whether the cache answered.
    ///
    /// # Errors
    /// [`ValidationError::InvalidToken`] (inactive or not for us),
    /// [`ValidationError::InsufficientScope`], or
    /// [`ValidationError::Unavailable`] when the server cannot be asked.
    pub async fn check(
        &self,
        token: &str,
        required: &[&str],
        now: u64,
    ) -> Result<(AccessTokenClaims, Via), ValidationError> {
        let (answer, via) = match &self.inner.cache {
            None => (self.ask(token, now).await?, Via::Introspection),
            Some((cache, _)) => {
                let key = self.cache_key(token, required);
                if let Some(a) = cache.get(&key).await {
                    (a, Via::IntrospectionCache)
                } else {
                    // Concurrent misses for one key share one request.
                    let a = cache
                        .try_get_with(key, self.ask(token, now))
                        .await
                        .map_err(|e: Arc<ValidationError>| (*e).clone())?;
                    (a, Via::Introspection)
                }
            }
        };
        match answer {
            Answer::Inactive(_) => Err(ValidationError::InvalidToken(
                "introspection: inactive or not for this resource".to_owned(),
            )),
            Answer::Active(claims, _) => {
                // A cached answer is re-checked against the clock.
                if now > claims.exp.saturating_add(self.inner.leeway) {
                    return Err(ValidationError::InvalidToken("token expired".to_owned()));
                }
                require_scopes(claims.scope.as_deref(), required)?;
                Ok(((*claims).clone(), via))
            }
        }
    }

    /// SHA-256(token ‖ 0 ‖ scopes ‖ 0 ‖ audience): the raw token is never a key.
    fn cache_key(&self, token: &str, required: &[&str]) -> [u8; 32] {
        let mut input = Vec::with_capacity(token.len() + 64 + self.inner.audience.len());
        input.extend_from_slice(token.as_bytes());
        input.push(0);
        input.extend_from_slice(required.join(" ").as_bytes());
        input.push(0);
        input.extend_from_slice(self.inner.audience.as_bytes());
        frontdesk_jose::sha256(&input)
    }

    /// One request to the endpoint, turned into an [`Answer`] with its TTL.
    async fn ask(&self, token: &str, now: u64) -> Result<Answer, ValidationError> {
        let i = &self.inner;
        let res: Response = match i
            .http
            .post_form_json(
                &i.endpoint,
                &i.client_id,
                &i.client_secret,
                &[("token", token), ("token_type_hint", "access_token")],
            )
            .await
        {
            Ok(f) => f.value,
            Err(FetchError::Status(401)) => {
                tracing::error!(endpoint = %i.endpoint, client_id = %i.client_id, "introspection refused our client credentials");
                return Err(ValidationError::Unavailable(
                    "introspection: our client credentials were refused".to_owned(),
                ));
            }
            Err(e) => {
                tracing::warn!(endpoint = %i.endpoint, error = %e, "introspection failed");
                return Err(ValidationError::Unavailable(format!("introspection: {e}")));
            }
        };
        let ttl = |exp: u64| {
            let left = Duration::from_secs(exp.saturating_sub(now));
            i.cache
                .as_ref()
                .map_or(Duration::ZERO, |(_, t)| left.min(*t))
        };
        let inactive = Answer::Inactive(i.cache.as_ref().map_or(Duration::ZERO, |(_, t)| *t));
        if !res.active {
            return Ok(inactive);
        }
        // RFC 7662 §4: the resource server checks what the answer says
        // about issuer, audience and time, not only `active`.
        if res.iss.as_deref().is_some_and(|iss| iss != i.issuer) {
            return Ok(inactive);
        }
        let Some(aud) = res.aud.filter(|a| a.contains(&i.audience)) else {
            return Ok(inactive);
        };
        let Some(exp) = res.exp else {
            return Ok(inactive);
        };
        if now > exp.saturating_add(i.leeway)
            || res
                .nbf
                .is_some_and(|nbf| nbf > now.saturating_add(i.leeway))
        {
            return Ok(inactive);
        }
        // A token the server calls DPoP-bound must carry the key it is bound
        // to; without it the binding could not be checked (fail closed).
        let dpop_typed = res
            .token_type
            .as_deref()
            .is_some_and(|t| t.eq_ignore_ascii_case("dpop"));
        if dpop_typed && res.cnf.as_ref().and_then(|c| c.jkt.as_ref()).is_none() {
            tracing::warn!(endpoint = %i.endpoint, "introspection: token_type DPoP without cnf.jkt");
            return Ok(inactive);
        }
        let claims = AccessTokenClaims {
            iss: res.iss.unwrap_or_else(|| i.issuer.clone()),
            sub: res.sub.unwrap_or_default(),
            aud,
            exp,
            iat: res.iat.unwrap_or_default(),
            jti: res.jti.unwrap_or_default(),
            client_id: res.client_id.unwrap_or_default(),
            scope: res.scope,
            auth_time: None,
            acr: None,
            amr: None,
            // Kept in the cached answer too: every use re-checks the binding.
            cnf: res.cnf,
            groups: res.groups,
            act: res.act,
            may_act: None,
        };
        Ok(Answer::Active(Arc::new(claims), ttl(exp)))
    }
}
