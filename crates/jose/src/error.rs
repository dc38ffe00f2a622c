//! Error type for every fallible operation of this crate.

/// Errors from key handling, signing and verification.
///
/// Verification errors are deliberately fine-grained for logging and tests; an
/// HTTP layer should map all of them to a single `invalid_token` response and not
/// reveal which check failed.
#[derive(Debug, thiserror::Error)]
pub enum JoseError {
    /// The cryptographic library failed to generate a key.
    #[error("key generation failed")]
    KeyGeneration,
    /// A private key (PKCS#8) or a JWK could not be used.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// The cryptographic library failed to produce a signature.
    #[error("signing failed")]
    Signing,
    /// The token is not a well-formed compact JWS (segments, base64url, JSON, size).
    #[error("malformed token: {0}")]
    Malformed(String),
    /// The algorithm is not one of ours, is `none`, is symmetric (`HS*`), or is not
    /// among the algorithms the verifier accepts.
    #[error("unsupported algorithm: {0}")]
    UnsupportedAlgorithm(String),
    /// The header `alg` differs from the algorithm of the key selected by `kid`
    /// (RFC 8725 §3.1: the key determines the algorithm).
    #[error("header alg {header} does not match the key's alg {key}")]
    AlgorithmMismatch {
        /// `alg` from the JWS header.
        header: String,
        /// Algorithm of the selected JWK.
        key: String,
    },
    /// The header carries a parameter this verifier refuses: `crit` (RFC 7515
    /// §4.1.11, no extensions are understood) or a key-locating parameter
    /// (`jku`, `jwk`, `x5u`, `x5c`; RFC 8725 §3.10 — keys come only from our JWKS).
    #[error("forbidden header parameter: {0}")]
    ForbiddenHeader(String),
    /// No key in the JWKS matches the token's `kid`.
    #[error("no key matches the token's kid")]
    UnknownKey,
    /// The signature does not verify.
    #[error("invalid signature")]
    InvalidSignature,
    /// The header `typ` is missing, different from the required one, or forbidden
    /// (RFC 8725 §3.11, RFC 9068 §4).
    #[error("invalid typ: expected {expected}, found {found:?}")]
    InvalidType {
        /// What was required.
        expected: String,
        /// What the header carried.
        found: Option<String>,
    },
    /// `exp` is in the past (beyond leeway).
    #[error("token expired")]
    Expired,
    /// `nbf` or `iat` is in the future (beyond leeway).
    #[error("token not yet valid")]
    NotYetValid,
    /// `iss` differs from the expected issuer.
    #[error("invalid issuer")]
    InvalidIssuer,
    /// None of the token's audiences is accepted.
    #[error("invalid audience")]
    InvalidAudience,
    /// A required claim is absent.
    #[error("missing claim: {0}")]
    MissingClaim(String),
    /// A registered claim has the wrong JSON type (e.g. a string `exp`), or the
    /// claims to sign are not a JSON object.
    #[error("invalid claim: {0}")]
    InvalidClaim(String),
    /// JSON (de)serialization of claims failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}
