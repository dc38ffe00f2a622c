//! Random values and their hashes.
//!
//! Client secrets, opaque tokens and identifiers come from the operating
//! system's CSPRNG through aws-lc-rs. Client secrets carry 256 bits of
//! entropy, so a keyed hash (HMAC-SHA-256 under a server pepper) is all the
//! storage needs; a slow password hash would only cap the token endpoint.

use aws_lc_rs::{hmac, rand::SecureRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::Error;

/// `n` random bytes, base64url without padding.
pub fn random_string(n: usize) -> Result<String, Error> {
    let mut bytes = vec![0u8; n];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Internal("system random number generator failed".into()))?;
    Ok(URL_SAFE_NO_PAD.encode(&bytes))
}

/// A new client secret: 32 random bytes (256 bits).
pub fn new_client_secret() -> Result<String, Error> {
    random_string(32)
}

/// A new client identifier: 16 random bytes (128 bits), base64url. One in
/// 64 of those would start with `-`, which command lines read as a flag
/// (`frontdesk clients show -abc…`); such draws are discarded, so every id
/// starts with a letter, a digit or `_` (a negligible loss of entropy).
pub fn new_client_id() -> Result<String, Error> {
    loop {
        let id = random_string(16)?;
        if !id.starts_with('-') {
            return Ok(id);
        }
    }
}

/// SHA-256 of a token string, the lookup key for opaque tokens.
pub fn token_hash(token: &str) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes())
        .as_ref()
        .to_vec()
}

/// The server pepper under which client secrets are hashed.
pub struct Pepper(hmac::Key);

impl Pepper {
    pub fn new(key: &[u8]) -> Pepper {
        Pepper(hmac::Key::new(hmac::HMAC_SHA256, key))
    }

    /// HMAC-SHA-256(pepper, secret).
    pub fn hash_secret(&self, secret: &str) -> Vec<u8> {
        hmac::sign(&self.0, secret.as_bytes()).as_ref().to_vec()
    }

    /// Constant-time comparison of `secret` against a stored hash.
    pub fn verify_secret(&self, secret: &str, stored: &[u8]) -> bool {
        use subtle::ConstantTimeEq;
        let computed = self.hash_secret(secret);
        computed.len() == stored.len() && bool::from(computed.as_slice().ct_eq(stored))
    }
}

impl std::fmt::Debug for Pepper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pepper(..)")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn generated_client_ids_never_start_with_a_dash() {
        // 2,000 draws: with the old rule about 31 would start with `-`.
        for _ in 0..2000 {
            let id = super::new_client_id().unwrap();
            assert_eq!(id.len(), 22);
            assert!(!id.starts_with('-'), "{id}");
        }
    }
}
