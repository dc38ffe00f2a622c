//! Claim types: the RFC 9068 access-token claim set and the `aud` claim.

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq as _, Serializer};

/// JWT access-token claims, RFC 9068 §2.2.
///
/// §2.2: "iss, exp, aud, sub, client_id, iat, jti" are REQUIRED; `auth_time`,
/// `acr` and `amr` (§2.2.1) and `scope` (§2.2.3) are present when applicable.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AccessTokenClaims {
    /// Issuer identifier (RFC 7519 §4.1.1).
    pub iss: String,
    /// Subject: the resource owner, or the client for client-credentials grants
    /// (RFC 9068 §2.2).
    pub sub: String,
    /// Audience: the resource server(s) (RFC 7519 §4.1.3).
    pub aud: Audience,
    /// Expiry, unix seconds (RFC 7519 §4.1.4).
    pub exp: u64,
    /// Issued-at, unix seconds (RFC 7519 §4.1.6).
    pub iat: u64,
    /// Unique token ID (RFC 7519 §4.1.7).
    pub jti: String,
    /// The OAuth client the token was issued to (RFC 8693 §4.3, RFC 9068 §2.2).
    pub client_id: String,
    /// Space-separated scopes (RFC 9068 §2.2.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Time of end-user authentication (RFC 9068 §2.2.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<u64>,
    /// Authentication context class reference (RFC 9068 §2.2.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// Authentication method references (RFC 9068 §2.2.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    /// The key the token is bound to (RFC 7800 §3.1; RFC 9449 §6.1: `jkt`
    /// for a DPoP-bound token). `None`: a bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// The user's groups the client may see (RFC 9068 §2.2.3.1, from
    /// SCIM's `groups`): present when the `groups` scope was granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<Vec<String>>,
    /// The acting party of a token from a token exchange (RFC 8693 §4.1):
    /// `{"sub": …}`, with the previous actor nested as its own `act` in a
    /// chain of delegations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
    /// RFC 8693 §4.4 `may_act`: who may act for the subject in a token
    /// exchange. frontdesk honours it in subject tokens and never mints it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub may_act: Option<Actor>,
}

/// RFC 8693 §4.1 `act`: who acts for the subject, and who acted before.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Actor {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Box<Actor>>,
}

/// The `cnf` claim (RFC 7800 §3.1) of a sender-constrained token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Confirmation {
    /// RFC 9449 §6.1: "the base64url encoding of the JWK SHA-256 Thumbprint
    /// ... of the DPoP public key (in which the access token is bound)".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jkt: Option<String>,
}

/// ID-token claims, OpenID Connect Core §2 and §3.1.3.6, plus the standard
/// claims of §5.1 that the granted scopes release (in `extra`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    /// "It MUST contain the OAuth 2.0 client_id of the Relying Party".
    pub aud: Audience,
    pub exp: u64,
    pub iat: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<u64>,
    /// Echoed from the authentication request (§3.1.2.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Authorized party: the client the token was issued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub azp: Option<String>,
    /// Session ID (OpenID Connect Front-Channel Logout §3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Access-token hash (§3.1.3.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// Profile and email claims (§5.4), flattened into the token.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The `aud` claim (RFC 7519 §4.1.3): "In the general case, the "aud" value is an
/// array of case-sensitive strings ... In the special case when the JWT has one
/// audience, the "aud" value MAY be a single case-sensitive string".
///
/// Deserializes from either form; serializes a single element as a plain string
/// and anything else as an array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience(pub Vec<String>);

impl Audience {
    /// Whether `aud` is one of the audiences (exact, case-sensitive comparison).
    #[must_use]
    pub fn contains(&self, aud: &str) -> bool {
        self.0.iter().any(|a| a == aud)
    }

    /// Iterates over the audiences.
    pub fn iter(&self) -> std::slice::Iter<'_, String> {
        self.0.iter()
    }
}

impl<'a> IntoIterator for &'a Audience {
    type Item = &'a String;
    type IntoIter = std::slice::Iter<'a, String>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl From<String> for Audience {
    fn from(aud: String) -> Self {
        Self(vec![aud])
    }
}

impl From<&str> for Audience {
    fn from(aud: &str) -> Self {
        Self(vec![aud.to_owned()])
    }
}

impl From<Vec<String>> for Audience {
    fn from(auds: Vec<String>) -> Self {
        Self(auds)
    }
}

impl serde::Serialize for Audience {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [single] => serializer.serialize_str(single),
            many => {
                let mut seq = serializer.serialize_seq(Some(many.len()))?;
                for a in many {
                    seq.serialize_element(a)?;
                }
                seq.end()
            }
        }
    }
}

impl<'de> serde::Deserialize<'de> for Audience {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Audience;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Audience, E> {
                Ok(Audience(vec![v.to_owned()]))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Audience, E> {
                Ok(Audience(vec![v]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Audience, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(16));
                while let Some(a) = seq.next_element::<String>()? {
                    out.push(a);
                }
                Ok(Audience(out))
            }
        }
        deserializer.deserialize_any(V)
    }
}
