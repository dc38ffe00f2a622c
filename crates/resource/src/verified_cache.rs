//! Remembered local verifications: a token whose signature and claims were
//! checked once is not checked again until it expires.
//!
//! A client reuses one access token for many calls, and the signature check
//! is nearly all of the cost of a local validation (an ES256 verification is
//! ~40–60 µs; a lookup here is ~1 µs). This is what Envoy's `jwt_authn`
//! cache does, with these rules:
//!
//! * **Keyed by SHA-256 of the whole token**, so only the byte-identical
//!   token hits; a tampered or re-encoded token is a miss and is verified.
//! * **Per validator**, so per issuer and audience: a token verified for one
//!   API is not thereby accepted by another.
//! * **`exp` is re-checked on every hit** (with the validator's leeway); an
//!   entry also leaves the cache at that moment. `nbf` and `iat` need no
//!   re-check: they held when the entry was made and time only moves on.
//! * **The key must still be published.** An entry remembers the JWK that
//!   verified it; when the key set changes and that key is gone (a key
//!   withdrawn after a compromise), the entry is dropped and the token is
//!   verified again — and refused — exactly as without the cache.
//! * **Scopes are checked on every request**, after the cache, because they
//!   depend on the route, not on the token.
//! * **Bounded**: at most `max_entries` entries (least recently used go
//!   first); failures are never cached.
//!
//! A revoked token is accepted until `exp` with or without this cache: that
//! is the trade-off of local validation, unchanged.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use frontdesk_jose::{AccessTokenClaims, Jwks};
use moka::Expiry;
use moka::sync::Cache;

/// Hit and miss counts of a validator's verification cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Validations answered by the cache.
    pub hits: u64,
    /// Validations that verified the signature (successful or not).
    pub misses: u64,
    /// Entries held now (approximate).
    pub entries: u64,
}

#[derive(Debug, Clone)]
struct Entry {
    claims: Arc<AccessTokenClaims>,
    /// `exp` plus the leeway: the last second the token is accepted.
    valid_until: u64,
    /// The key set and position of the key that verified the signature.
    jwks: Arc<Jwks>,
    key_index: usize,
}

struct UntilExpiry;

impl Expiry<[u8; 32], Entry> for UntilExpiry {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Entry,
        _created_at: Instant,
    ) -> Option<Duration> {
        let now = crate::unix_now();
        Some(Duration::from_secs(
            value.valid_until.saturating_sub(now).saturating_add(1),
        ))
    }
}

#[derive(Debug)]
pub(crate) struct VerifiedCache {
    cache: Cache<[u8; 32], Entry>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl VerifiedCache {
    pub(crate) fn new(max_entries: u64) -> VerifiedCache {
        VerifiedCache {
            cache: Cache::builder()
                .max_capacity(max_entries)
                .expire_after(UntilExpiry)
                .build(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    pub(crate) fn key(token: &str) -> [u8; 32] {
        frontdesk_jose::sha256(token.as_bytes())
    }

    /// The remembered claims of `token`, if it was verified before, has not
    /// expired at `now`, and the key that verified it is still in `jwks`.
    pub(crate) fn get(
        &self,
        key: &[u8; 32],
        jwks: &Arc<Jwks>,
        now: u64,
    ) -> Option<AccessTokenClaims> {
        let Some(entry) = self.cache.get(key) else {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let key_still_published = Arc::ptr_eq(&entry.jwks, jwks)
            || entry
                .jwks
                .keys
                .get(entry.key_index)
                .is_some_and(|k| jwks.keys.contains(k));
        if now > entry.valid_until || !key_still_published {
            self.cache.invalidate(key);
            self.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        self.hits.fetch_add(1, Ordering::Relaxed);
        Some(AccessTokenClaims::clone(&entry.claims))
    }

    pub(crate) fn insert(
        &self,
        key: [u8; 32],
        claims: &AccessTokenClaims,
        leeway_secs: u64,
        jwks: Arc<Jwks>,
        key_index: usize,
    ) {
        self.cache.insert(
            key,
            Entry {
                claims: Arc::new(claims.clone()),
                valid_until: claims.exp.saturating_add(leeway_secs),
                jwks,
                key_index,
            },
        );
    }

    pub(crate) fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.cache.entry_count(),
        }
    }
}
