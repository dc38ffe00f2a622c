//! Signing keys: encryption at rest, the in-memory key ring, and the
//! rotation policy.
//!
//! Every key's state is derived from three instants, so every node agrees
//! without coordination:
//! - **pending**: published in JWKS, not yet signing (`now < activates_at`);
//! - **active**: signing (`activates_at <= now < retired_at`);
//! - **retired**: superseded, still published while tokens it signed may
//!   live (`retired_at + retain > now`);
//! - **expired**: no longer published; may be deleted.
//!
//! A rotation inserts the next key with `activates_at = now + prepublish`, and
//! `prepublish` is at least the JWKS `Cache-Control: max-age`, so every cache
//! holds the new key before any token carries its `kid`.

use std::collections::HashMap;
use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use frontdesk_jose::{Algorithm, Jwk, Jwks, SigningKey};
use zeroize::Zeroizing;

use crate::error::Error;
use crate::model::{KeyUse, StoredKey, UnixTime};

/// The 256-bit key-encryption key that seals private keys at rest
/// (AES-256-GCM, a random 96-bit nonce per key).
pub struct Kek(LessSafeKey);

impl Kek {
    pub fn new(bytes: &[u8; 32]) -> Result<Kek, Error> {
        let key = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| Error::Internal("invalid key-encryption key".into()))?;
        Ok(Kek(LessSafeKey::new(key)))
    }

    /// nonce ‖ ciphertext ‖ tag. The kid is bound as associated data, so a
    /// ciphertext moved to another row does not decrypt.
    pub fn seal(&self, kid: &str, plaintext: &[u8]) -> Result<Vec<u8>, Error> {
        let mut nonce = [0u8; 12];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| Error::Internal("random nonce".into()))?;
        let mut buf = plaintext.to_vec();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(kid.as_bytes()),
                &mut buf,
            )
            .map_err(|_| Error::Internal("key encryption failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(out)
    }

    pub fn open(&self, kid: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        let fail = || {
            Error::Internal(format!(
                "cannot decrypt signing key {kid}: wrong key-encryption key or corrupted row"
            ))
        };
        let (nonce, body) = sealed.split_at_checked(12).ok_or_else(fail)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| fail())?;
        let mut buf = Zeroizing::new(body.to_vec());
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut buf)
            .map_err(|_| fail())?;
        Ok(Zeroizing::new(plain.to_vec()))
    }
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(..)")
    }
}

/// How long keys are announced before use and kept after retirement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationPolicy {
    /// JWKS `Cache-Control: max-age`, seconds.
    pub jwks_max_age: i64,
    /// How long a new key is published before it signs (≥ `jwks_max_age`).
    pub prepublish: i64,
    /// How long a retired key stays published: the longest token lifetime
    /// plus clock leeway.
    pub retain: i64,
    /// Scheduled rotation: how long a key signs before its successor takes
    /// over ([`rotations_due`]); `None`: only `keys rotate` rotates.
    pub period: Option<i64>,
}

/// A key's state at some instant (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    Pending,
    Active,
    Retired,
    Expired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Pending => "pending",
            KeyState::Active => "active",
            KeyState::Retired => "retired",
            KeyState::Expired => "expired",
        }
    }
}

impl RotationPolicy {
    pub fn state(&self, key: &StoredKey, now: UnixTime) -> KeyState {
        match key.retired_at {
            Some(r) if r.saturating_add(self.retain) <= now => KeyState::Expired,
            Some(r) if r <= now => KeyState::Retired,
            _ if now < key.activates_at => KeyState::Pending,
            _ => KeyState::Active,
        }
    }
}

/// Generates a key and seals it for storage. `activates_at = now` is for the
/// very first keys (no cache can hold an older JWKS yet); rotations pass
/// `now + policy.prepublish`.
pub fn generate(
    kek: &Kek,
    alg: Algorithm,
    key_use: KeyUse,
    now: UnixTime,
    activates_at: UnixTime,
) -> Result<StoredKey, Error> {
    let (key, der) =
        SigningKey::generate(alg).map_err(|e| Error::Internal(format!("key generation: {e}")))?;
    let der = Zeroizing::new(der);
    let public_jwk = serde_json::to_string(key.public_jwk())
        .map_err(|e| Error::Internal(format!("jwk: {e}")))?;
    Ok(StoredKey {
        kid: key.kid().to_owned(),
        alg: alg.as_str().to_owned(),
        key_use,
        encrypted_private: kek.seal(key.kid(), &der)?,
        public_jwk,
        created_at: now,
        activates_at,
        retired_at: None,
    })
}

/// A key not retired by `now` is active now or will be.
fn signs_now_or_later(retired_at: Option<UnixTime>, now: UnixTime) -> bool {
    retired_at.is_none_or(|r| now < r)
}

/// Scheduled rotation: the uses (with the algorithm their current key has)
/// whose newest key — the one that signs now, or will — started signing
/// `period` ago less the pre-publication lead, so that its successor,
/// published now, takes over `period` after it (`activates_at = now +
/// prepublish`). A use with a key still pending is not due (the next
/// rotation is under way); a use without any key is first-start key
/// generation's ([`first_keys_needed`]). Checked first without the key
/// lock, then again under it by [`rotation_needed`], so that of several
/// nodes exactly one rotates.
pub fn rotations_due(
    stored: &[StoredKey],
    policy: &RotationPolicy,
    now: UnixTime,
) -> Vec<(KeyUse, String)> {
    let Some(period) = policy.period else {
        return Vec::new();
    };
    let mut due = Vec::new();
    for key_use in [KeyUse::AccessToken, KeyUse::IdToken] {
        let newest = stored
            .iter()
            .filter(|k| k.key_use == key_use && signs_now_or_later(k.retired_at, now))
            .max_by_key(|k| k.activates_at);
        if let Some(k) = newest
            && k.activates_at <= now
            && k.activates_at.saturating_add(period) <= now.saturating_add(policy.prepublish)
        {
            due.push((key_use, k.alg.clone()));
        }
    }
    due
}

/// The keys of `candidates` (made for [`rotations_due`]'s answer) whose
/// use is still due once `stored` is read again under the key lock.
pub fn rotation_needed(
    stored: &[StoredKey],
    candidates: &[StoredKey],
    policy: &RotationPolicy,
    now: UnixTime,
) -> Vec<StoredKey> {
    let due = rotations_due(stored, policy, now);
    candidates
        .iter()
        .filter(|c| due.iter().any(|(u, _)| *u == c.key_use))
        .cloned()
        .collect()
}

/// The keys of `candidates` still needed once `stored` is known: those
/// whose use has no stored key that is active at `now` or will be (the rule
/// of [`KeyRing::needs_key`], on stored keys, at most one per use). This is
/// what first-start key generation decides under the store's key lock
/// ([`crate::store::Store::add_signing_keys_locked`]), so that of several
/// nodes starting at once on an empty database exactly one adds keys and
/// the others load them.
pub fn first_keys_needed(
    stored: &[StoredKey],
    candidates: &[StoredKey],
    now: UnixTime,
) -> Vec<StoredKey> {
    let mut chosen: Vec<StoredKey> = Vec::new();
    for c in candidates {
        let covered = stored
            .iter()
            .chain(chosen.iter())
            .any(|k| k.key_use == c.key_use && signs_now_or_later(k.retired_at, now));
        if !covered {
            chosen.push(c.clone());
        }
    }
    chosen
}

struct LoadedKey {
    key: Arc<SigningKey>,
    key_use: KeyUse,
    activates_at: UnixTime,
    retired_at: Option<UnixTime>,
}

/// Parsed keys kept in memory: signing never re-parses a private key
/// (DEPENDENCIES.md §2).
pub struct KeyRing {
    keys: Vec<LoadedKey>,
    policy: RotationPolicy,
}

impl KeyRing {
    /// Decrypts and parses every key that is not expired. Keys already
    /// parsed in `previous` (same kid) are reused rather than decrypted again.
    pub fn load(
        stored: &[StoredKey],
        kek: &Kek,
        policy: RotationPolicy,
        now: UnixTime,
        previous: Option<&KeyRing>,
    ) -> Result<KeyRing, Error> {
        let mut reuse: HashMap<&str, &Arc<SigningKey>> = HashMap::new();
        if let Some(prev) = previous {
            for k in &prev.keys {
                reuse.insert(k.key.kid(), &k.key);
            }
        }
        let mut keys = Vec::new();
        for s in stored {
            if policy.state(s, now) == KeyState::Expired {
                continue;
            }
            let key = match reuse.get(s.kid.as_str()) {
                Some(k) => Arc::clone(k),
                None => {
                    let alg: Algorithm = s.alg.parse().map_err(|_| {
                        Error::Internal(format!("key {}: unknown alg {}", s.kid, s.alg))
                    })?;
                    let der = kek.open(&s.kid, &s.encrypted_private)?;
                    Arc::new(
                        SigningKey::from_pkcs8(alg, &der)
                            .map_err(|e| Error::Internal(format!("key {}: {e}", s.kid)))?,
                    )
                }
            };
            keys.push(LoadedKey {
                key,
                key_use: s.key_use,
                activates_at: s.activates_at,
                retired_at: s.retired_at,
            });
        }
        Ok(KeyRing { keys, policy })
    }

    /// The key that signs `key_use` tokens at `now`: the most recently
    /// activated one that is active.
    pub fn signer(&self, key_use: KeyUse, now: UnixTime) -> Option<&SigningKey> {
        self.keys
            .iter()
            .filter(|k| k.key_use == key_use)
            .filter(|k| k.activates_at <= now && k.retired_at.is_none_or(|r| now < r))
            .max_by_key(|k| k.activates_at)
            .map(|k| k.key.as_ref())
    }

    /// The signer for `key_use` with a specific algorithm (per-client ID
    /// token algorithms), falling back to none.
    pub fn signer_with_alg(
        &self,
        key_use: KeyUse,
        alg: Algorithm,
        now: UnixTime,
    ) -> Option<&SigningKey> {
        self.keys
            .iter()
            .filter(|k| k.key_use == key_use && k.key.alg() == alg)
            .filter(|k| k.activates_at <= now && k.retired_at.is_none_or(|r| now < r))
            .max_by_key(|k| k.activates_at)
            .map(|k| k.key.as_ref())
    }

    /// The public keys to publish at `now`: pending, active and retired.
    pub fn jwks(&self, now: UnixTime) -> Jwks {
        let keys: Vec<Jwk> = self
            .keys
            .iter()
            .filter(|k| {
                k.retired_at
                    .is_none_or(|r| now < r.saturating_add(self.policy.retain))
            })
            .map(|k| k.key.public_jwk().clone())
            .collect();
        Jwks { keys }
    }

    /// True when `key_use` has no key that is active now or will be.
    pub fn needs_key(&self, key_use: KeyUse, now: UnixTime) -> bool {
        !self
            .keys
            .iter()
            .any(|k| k.key_use == key_use && signs_now_or_later(k.retired_at, now))
    }

    pub fn policy(&self) -> RotationPolicy {
        self.policy
    }
}

#[cfg(test)]
mod tests;
