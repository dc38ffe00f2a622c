//! DPoP at the door (RFC 9449 §7): what a proof must match at this
//! resource, and the per-process memory of proofs already used.
//!
//! The proof itself is checked by [`frontdesk_jose::dpop::verify`], the one
//! implementation the server and our clients use too; this module supplies
//! what that check needs from the request (method, the URI as the client
//! addressed it, the presented token for `ath`), compares the proof's key
//! with the token's `cnf.jkt` (§7.1, §6.1), and remembers each accepted
//! proof until it is too old to pass again (§11.1).
//!
//! # The request URI (`htu`)
//!
//! A proof names the URI the client sent the request to (§4.2 `htu`). Behind
//! a TLS-terminating proxy or a load balancer the door cannot see that URI,
//! so set it with [`Dpop::with_public_url`] (`https://api.example.com`, or
//! with a path prefix the proxy strips, `https://example.com/api`): the URI
//! checked is that base followed by the request's path. Without it the URI
//! is rebuilt from the request: its scheme and authority when the request
//! line carries them (HTTP/2), otherwise `http://` and the `Host` header —
//! right only for a plain-HTTP resource reached directly.
//!
//! # The replay memory
//!
//! Not a moka cache: its admission policy may drop a new entry or evict a
//! live one at capacity, and a dropped entry is a proof that can be replayed.
//! [`ReplayCache`] keeps each proof's key ([`VerifiedProof::replay_key`])
//! until the moment its `iat` no longer passes ([`VerifiedProof::usable_until`]),
//! forgets expired entries first, and when it is still full evicts the
//! entry that would expire soonest and raises a floor: from then on a proof
//! that would expire no later than the evicted one is refused as too old for
//! the memory. So an eviction never re-opens a replay; under a flood the
//! accepted window narrows (fresh proofs still pass) instead of failing open.
//! Only proofs that passed every other check, with a token bound to their
//! key, are remembered, so filling the memory takes a valid bound token.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use frontdesk_jose::dpop::{self as proof, DpopError, Expect, VerifiedProof};
use frontdesk_jose::{AccessTokenClaims, Algorithm};

use crate::{SetupError, ValidationError};

/// How old a proof's `iat` may be by default, in seconds.
pub const DEFAULT_MAX_AGE_SECS: u64 = 300;
/// How far ahead of the door's clock a proof's `iat` may be by default.
pub const DEFAULT_LEEWAY_SECS: u64 = 60;
/// Proofs remembered at most, by default (about 100 bytes each).
pub const DEFAULT_REPLAY_CAPACITY: usize = 100_000;

/// The proof algorithms accepted: the asymmetric ones of
/// [`crate::error::DPOP_ALGS`], never `none` or HMAC (RFC 9449 §4.3 step 5).
const ALGORITHMS: [Algorithm; 4] = [
    Algorithm::ES256,
    Algorithm::EdDSA,
    Algorithm::PS256,
    Algorithm::RS256,
];

/// The door's DPoP settings and its replay memory.
///
/// Clones share the memory, so one `Dpop` cloned into every route of a
/// process makes a proof usable once across all of them.
#[derive(Debug, Clone)]
pub struct Dpop {
    max_age_secs: u64,
    leeway_secs: u64,
    required: bool,
    public_url: Option<Arc<str>>,
    replay: Arc<ReplayCache>,
}

impl Default for Dpop {
    fn default() -> Dpop {
        Dpop::new()
    }
}

/// The parts of a request the door reads.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// The request method (`htm`).
    pub method: &'a http::Method,
    /// The request target (its path is part of `htu`).
    pub uri: &'a http::Uri,
    /// The headers (`Authorization`, `DPoP`, `Host`).
    pub headers: &'a http::HeaderMap,
}

impl<'a, B> From<&'a http::Request<B>> for RequestParts<'a> {
    fn from(req: &'a http::Request<B>) -> RequestParts<'a> {
        RequestParts {
            method: req.method(),
            uri: req.uri(),
            headers: req.headers(),
        }
    }
}

impl<'a> From<&'a http::request::Parts> for RequestParts<'a> {
    fn from(parts: &'a http::request::Parts) -> RequestParts<'a> {
        RequestParts {
            method: &parts.method,
            uri: &parts.uri,
            headers: &parts.headers,
        }
    }
}

impl Dpop {
    /// Defaults: `iat` at most [`DEFAULT_MAX_AGE_SECS`] old and
    /// [`DEFAULT_LEEWAY_SECS`] ahead, [`DEFAULT_REPLAY_CAPACITY`] proofs
    /// remembered, Bearer tokens accepted too, the URI rebuilt from the
    /// request (see the module documentation).
    pub fn new() -> Dpop {
        Dpop {
            max_age_secs: DEFAULT_MAX_AGE_SECS,
            leeway_secs: DEFAULT_LEEWAY_SECS,
            required: false,
            public_url: None,
            replay: Arc::new(ReplayCache::new(DEFAULT_REPLAY_CAPACITY)),
        }
    }

    /// The `iat` window (RFC 9449 §4.3 step 11): at most `max_age_secs` old,
    /// at most `leeway_secs` ahead.
    #[must_use]
    pub fn with_window(mut self, max_age_secs: u64, leeway_secs: u64) -> Dpop {
        self.max_age_secs = max_age_secs;
        self.leeway_secs = leeway_secs;
        self
    }

    /// A new replay memory of at most `entries` proofs (at least 1).
    #[must_use]
    pub fn with_replay_capacity(mut self, entries: usize) -> Dpop {
        self.replay = Arc::new(ReplayCache::new(entries));
        self
    }

    /// Whether only DPoP-bound tokens with a proof are accepted: a Bearer
    /// request then gets 401 with a DPoP challenge only.
    #[must_use]
    pub fn required(mut self, required: bool) -> Dpop {
        self.required = required;
        self
    }

    /// The externally visible base URL of this resource (scheme, host,
    /// port, optionally a path prefix): `htu` must be this followed by the
    /// request's path. Set it behind any proxy.
    ///
    /// # Errors
    /// [`SetupError::InvalidUrl`] unless an `http(s)` URL with a host and no
    /// user info, query or fragment.
    pub fn with_public_url(mut self, url: &str) -> Result<Dpop, SetupError> {
        self.public_url = Some(Dpop::parse_public_url(url)?.into());
        Ok(self)
    }

    /// The check of [`Dpop::with_public_url`], for configuration loaders:
    /// the URL without its trailing `/`.
    ///
    /// # Errors
    /// [`SetupError::InvalidUrl`] unless an `http(s)` URL with a host and no
    /// user info, query or fragment.
    pub fn parse_public_url(url: &str) -> Result<String, SetupError> {
        let invalid = || SetupError::InvalidUrl(url.to_owned());
        let parsed = reqwest::Url::parse(url).map_err(|_| invalid())?;
        if !matches!(parsed.scheme(), "http" | "https")
            || parsed.host_str().is_none()
            || !parsed.username().is_empty()
            || parsed.password().is_some()
            || parsed.query().is_some()
            || parsed.fragment().is_some()
        {
            return Err(invalid());
        }
        Ok(parsed.as_str().trim_end_matches('/').to_owned())
    }

    /// Whether DPoP is required ([`Dpop::required`]).
    pub fn is_required(&self) -> bool {
        self.required
    }

    /// The configured public base URL, without a trailing `/`.
    pub fn public_url(&self) -> Option<&str> {
        self.public_url.as_deref()
    }

    /// Proofs remembered now.
    pub fn remembered(&self) -> usize {
        self.replay.len()
    }

    /// The URI the request was sent to, as `htu` must name it.
    fn request_uri(&self, req: &RequestParts<'_>) -> Result<String, ValidationError> {
        let path = match req.uri.path() {
            "" => "/",
            p => p,
        };
        if let Some(base) = &self.public_url {
            return Ok(format!("{base}{path}"));
        }
        let scheme = req.uri.scheme_str().unwrap_or("http");
        let authority = match req.uri.authority() {
            Some(a) => a.clone(),
            None => req
                .headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .and_then(|h| h.parse::<http::uri::Authority>().ok())
                .ok_or_else(|| {
                    ValidationError::InvalidDpopProof(
                        "no usable Host header, so the request URI is unknown (set the public URL)"
                            .to_owned(),
                    )
                })?,
        };
        Ok(format!("{scheme}://{authority}{path}"))
    }

    /// RFC 9449 §7.1 for a token sent with `Authorization: DPoP`: the proof
    /// passes §4.3 for this request and `token` (`ath`), its key is the one
    /// of `cnf.jkt`, and it has not been used before.
    pub(crate) fn check(
        &self,
        proof_text: &str,
        token: &str,
        claims: &AccessTokenClaims,
        req: &RequestParts<'_>,
        now: u64,
    ) -> Result<(), ValidationError> {
        let Some(jkt) = bound_jkt(claims).map_err(ValidationError::dpop)? else {
            // §7.1: the door "MUST ... check that the public key of the DPoP
            // proof matches the public key to which the access token is
            // bound"; a token bound to no key cannot pass that check.
            return Err(ValidationError::InvalidToken(
                "a token that is not DPoP-bound was sent with the DPoP scheme".to_owned(),
            )
            .dpop());
        };
        let uri = self.request_uri(req)?;
        let expect = Expect {
            method: req.method.as_str(),
            uri: &uri,
            access_token: Some(token),
            nonces: &[],
            algorithms: &ALGORITHMS,
            max_age_secs: self.max_age_secs,
            leeway_secs: self.leeway_secs,
        };
        let verified = proof::verify(proof_text, &expect, now).map_err(|e| match e {
            DpopError::Invalid(text) => ValidationError::InvalidDpopProof(text),
            // No nonces are asked for here, so this does not happen.
            DpopError::UseNonce => ValidationError::InvalidDpopProof(e.to_string()),
        })?;
        // §7.1 and §6.1; the RFC's own example answers a mismatch with
        // invalid_token ("Invalid DPoP key binding"): the proof is fine, the
        // token is not this key's.
        if verified.jkt != jkt {
            return Err(ValidationError::InvalidToken(
                "the DPoP proof's key is not the key the token is bound to".to_owned(),
            )
            .dpop());
        }
        self.replay.remember(&verified, self.max_age_secs, now)
    }
}

/// The `cnf.jkt` a token is bound to. `cnf` without `jkt` is a binding this
/// door cannot check (mTLS `x5t#S256`, say): refused, never ignored.
pub(crate) fn bound_jkt(claims: &AccessTokenClaims) -> Result<Option<&str>, ValidationError> {
    match &claims.cnf {
        None => Ok(None),
        Some(c) => match c.jkt.as_deref() {
            Some(jkt) if !jkt.is_empty() => Ok(Some(jkt)),
            _ => Err(ValidationError::InvalidToken(
                "the token is bound by a confirmation method other than DPoP".to_owned(),
            )),
        },
    }
}

/// The memory of used proofs (see the module documentation).
pub(crate) struct ReplayCache {
    capacity: usize,
    state: Mutex<ReplayState>,
}

/// Sizes only: the entries are many and of no use in a log.
impl std::fmt::Debug for ReplayCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayCache")
            .field("capacity", &self.capacity)
            .field("remembered", &self.len())
            .finish()
    }
}

#[derive(Default)]
struct ReplayState {
    /// replay key → until when it is kept
    seen: HashMap<[u8; 32], u64>,
    /// the same entries, soonest expiry first
    by_until: BTreeSet<(u64, [u8; 32])>,
    /// Proofs usable no later than this are refused: an entry that old may
    /// have been evicted.
    floor: u64,
}

impl ReplayCache {
    pub(crate) fn new(capacity: usize) -> ReplayCache {
        ReplayCache {
            capacity: capacity.max(1),
            state: Mutex::new(ReplayState::default()),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .seen
            .len()
    }

    /// Remembers `proof`, or refuses it as a replay (RFC 9449 §11.1) or as
    /// older than what the memory can vouch for.
    pub(crate) fn remember(
        &self,
        proof: &VerifiedProof,
        max_age_secs: u64,
        now: u64,
    ) -> Result<(), ValidationError> {
        self.remember_key(proof.replay_key(), proof.usable_until(max_age_secs), now)
    }

    fn remember_key(&self, key: [u8; 32], until: u64, now: u64) -> Result<(), ValidationError> {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        // A proof passes the iat check only while now < usable_until.
        while let Some(&(u, k)) = s.by_until.first() {
            if u > now {
                break;
            }
            s.by_until.pop_first();
            s.seen.remove(&k);
        }
        if s.seen.contains_key(&key) {
            return Err(ValidationError::InvalidDpopProof(
                "the DPoP proof was used before (jti replay)".to_owned(),
            ));
        }
        let crowded = || {
            ValidationError::InvalidDpopProof(
                "the DPoP proof is older than the replay memory can vouch for; send a fresh one"
                    .to_owned(),
            )
        };
        if until <= s.floor {
            return Err(crowded());
        }
        if s.seen.len() >= self.capacity {
            if let Some((u, k)) = s.by_until.pop_first() {
                s.seen.remove(&k);
                if s.floor <= now {
                    // Logged once per crowded spell, not per eviction.
                    tracing::warn!(
                        capacity = self.capacity,
                        "the DPoP replay memory is full: proofs older than the evicted ones are refused"
                    );
                }
                s.floor = s.floor.max(u);
            }
            if until <= s.floor {
                return Err(crowded());
            }
        }
        s.seen.insert(key, until);
        s.by_until.insert((until, key));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn key(n: u8) -> [u8; 32] {
        [n; 32]
    }

    #[test]
    fn j11_a_proof_is_refused_until_it_expires() {
        let c = ReplayCache::new(10);
        c.remember_key(key(1), NOW + 301, NOW).unwrap();
        let again = c.remember_key(key(1), NOW + 301, NOW + 300).unwrap_err();
        assert!(again.to_string().contains("used before"), "{again}");
        // At NOW + 301 the proof no longer passes iat, and is forgotten.
        c.remember_key(key(2), NOW + 600, NOW + 301).unwrap();
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn j11_a_full_memory_evicts_the_oldest_and_refuses_proofs_that_old() {
        let c = ReplayCache::new(2);
        c.remember_key(key(1), NOW + 100, NOW).unwrap();
        c.remember_key(key(2), NOW + 200, NOW).unwrap();
        // Full: key 1 (soonest expiry) goes, and the floor rises to NOW + 100.
        c.remember_key(key(3), NOW + 300, NOW).unwrap();
        assert_eq!(c.len(), 2);
        // The evicted proof cannot come back ...
        let replay = c.remember_key(key(1), NOW + 100, NOW).unwrap_err();
        assert!(replay.to_string().contains("older than"), "{replay}");
        assert_eq!(replay.code(), Some("invalid_dpop_proof"));
        // ... nor anything as old; the remembered ones are still replays;
        // a fresher proof evicts the next oldest.
        assert!(c.remember_key(key(4), NOW + 90, NOW).is_err());
        assert!(
            c.remember_key(key(2), NOW + 200, NOW)
                .unwrap_err()
                .to_string()
                .contains("used before")
        );
        c.remember_key(key(5), NOW + 301, NOW).unwrap();
        assert!(c.remember_key(key(2), NOW + 200, NOW).is_err());
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn debug_shows_sizes_not_entries() {
        let d = Dpop::new().with_replay_capacity(3);
        d.replay.remember_key(key(7), NOW + 10, NOW).unwrap();
        assert_eq!(
            format!("{:?}", d.replay),
            "ReplayCache { capacity: 3, remembered: 1 }"
        );
    }

    #[test]
    fn the_public_url_is_checked_and_trimmed() {
        for ok in [
            ("https://api.example.com", "https://api.example.com"),
            ("https://api.example.com/", "https://api.example.com"),
            ("http://127.0.0.1:8000/api/", "http://127.0.0.1:8000/api"),
        ] {
            assert_eq!(Dpop::parse_public_url(ok.0).unwrap(), ok.1);
        }
        for bad in [
            "api.example.com",
            "ftp://api.example.com",
            "https://u:p@api.example.com",
            "https://api.example.com/?x=1",
            "https://api.example.com/#f",
        ] {
            assert!(Dpop::parse_public_url(bad).is_err(), "{bad}");
        }
    }
}
