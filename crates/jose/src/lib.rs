//! JOSE for frontdesk: compact JWS signing with in-memory `aws-lc-rs` key pairs,
//! verification through `jsonwebtoken`, JWK/JWKS types, RFC 7638 thumbprints and
//! the RFC 9068 access-token claim set.
//!
//! Specifications implemented (sections are quoted on the items that implement them):
//!
//! * RFC 7515 — JSON Web Signature (JWS), compact serialization only.
//! * RFC 7517 — JSON Web Key (JWK) and JWK Set.
//! * RFC 7518 — JSON Web Algorithms: `ES256`, `RS256`, `PS256`.
//! * RFC 8037 — `EdDSA` with Ed25519 (`kty` = `OKP`).
//! * RFC 7638 — JWK thumbprints (used as `kid`, and as DPoP's `jkt`).
//! * RFC 9449 — DPoP proofs: creating and checking them ([`dpop`]).
//! * RFC 9068 — JWT profile for OAuth 2.0 access tokens.
//! * RFC 8725 — JWT best current practices (algorithm pinning, explicit typing,
//!   issuer/audience validation).
//!
//! This crate performs no I/O and never reads the clock: every time-dependent
//! check takes `now` (unix seconds) as a parameter.

mod alg;
mod claims;
pub mod dpop;
mod error;
mod jwk;
mod sign;
mod strict;
mod verify;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use base64::Engine as _;

pub use alg::Algorithm;
pub use claims::{AccessTokenClaims, Actor, Audience, Confirmation, IdTokenClaims};
pub use error::JoseError;
pub use jwk::{Jwk, Jwks, MAX_REGISTERED_KEYS, parse_public_jwks, thumbprint};
pub use sign::SigningKey;
pub use verify::{
    Expectations, Header, MAX_TOKEN_LEN, unverified_claims, unverified_header, verify, verify_keyed,
};

/// The base64url engine used everywhere in JOSE: URL-safe alphabet, no padding
/// (RFC 7515 §2, "Base64url Encoding": "with all trailing '=' characters omitted").
/// Decoding with it rejects padding and non-canonical trailing bits.
pub(crate) const B64: base64::engine::GeneralPurpose =
    base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Base64url-encodes `bytes` without padding (RFC 7515 §2).
#[must_use]
pub fn b64url(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// SHA-256 of `bytes` (FIPS 180-4), computed with `aws_lc_rs::digest`.
#[must_use]
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    // A SHA-256 digest is always 32 bytes; copy defensively without panicking.
    for (dst, src) in out.iter_mut().zip(digest.as_ref()) {
        *dst = *src;
    }
    out
}

/// OIDC Core §3.1.3.6 `at_hash`: "the base64url encoding of the left-most
/// half of the hash of the octets of the ASCII representation of the
/// access_token value, where the hash algorithm used is the hash algorithm
/// used in the alg Header Parameter of the ID Token's JOSE Header". EdDSA
/// over Ed25519 pairs with SHA-512 (as OpenID Connect registers it).
#[must_use]
pub fn at_hash(alg: Algorithm, access_token: &str) -> String {
    left_half_hash(alg, access_token)
}

/// OIDC Core §3.3.2.11 `c_hash`: the same computation as [`at_hash`], over
/// the authorization code.
#[must_use]
pub fn c_hash(alg: Algorithm, code: &str) -> String {
    left_half_hash(alg, code)
}

fn left_half_hash(alg: Algorithm, value: &str) -> String {
    let hash = match alg {
        Algorithm::EdDSA => &aws_lc_rs::digest::SHA512,
        Algorithm::ES256 | Algorithm::RS256 | Algorithm::PS256 => &aws_lc_rs::digest::SHA256,
    };
    let digest = aws_lc_rs::digest::digest(hash, value.as_bytes());
    let bytes = digest.as_ref();
    B64.encode(bytes.get(..bytes.len() / 2).unwrap_or(bytes))
}

/// Installs the `aws-lc-rs` crypto provider for `jsonwebtoken` as the process default.
///
/// Idempotent: if a provider is already installed (by us or by someone else), the
/// error is ignored. [`verify`] calls this itself, so callers cannot forget it;
/// binaries should still call it once at start-up.
pub fn install_crypto_provider() {
    let _ = jsonwebtoken::crypto::CryptoProvider::install_default(
        &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER,
    );
}
