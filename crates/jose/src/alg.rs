//! The JWS algorithms this crate signs and verifies.

use crate::JoseError;

/// A JWS `alg` value (RFC 7518 §3.1, RFC 8037 §3.1).
///
/// Only asymmetric algorithms are supported: `none` and the `HS*` family are
/// never accepted (RFC 8725 §3.1, §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Algorithm {
    /// ECDSA using P-256 and SHA-256 (RFC 7518 §3.4).
    ES256,
    /// RSASSA-PKCS1-v1_5 using SHA-256 (RFC 7518 §3.3).
    RS256,
    /// RSASSA-PSS using SHA-256 and MGF1 with SHA-256 (RFC 7518 §3.5).
    PS256,
    /// Edwards-curve signatures, here Ed25519 only (RFC 8037 §3.1).
    EdDSA,
}

impl Algorithm {
    /// All supported algorithms.
    pub const ALL: [Algorithm; 4] = [Self::ES256, Self::RS256, Self::PS256, Self::EdDSA];

    /// The registered JOSE name.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
            Self::PS256 => "PS256",
            Self::EdDSA => "EdDSA",
        }
    }

    pub(crate) fn to_jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        match self {
            Self::ES256 => jsonwebtoken::Algorithm::ES256,
            Self::RS256 => jsonwebtoken::Algorithm::RS256,
            Self::PS256 => jsonwebtoken::Algorithm::PS256,
            Self::EdDSA => jsonwebtoken::Algorithm::EdDSA,
        }
    }
}

impl std::str::FromStr for Algorithm {
    type Err = JoseError;

    /// Parses the exact, case-sensitive JOSE name (RFC 7515 §4.1.1: "The "alg"
    /// value is a case-sensitive ASCII string").
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ES256" => Ok(Self::ES256),
            "RS256" => Ok(Self::RS256),
            "PS256" => Ok(Self::PS256),
            "EdDSA" => Ok(Self::EdDSA),
            other => Err(JoseError::UnsupportedAlgorithm(other.to_owned())),
        }
    }
}

impl std::fmt::Display for Algorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
