//! Why a relying-party step failed. Messages name the endpoint and, for a
//! refusal, the OAuth error code (RFC 6749 §5.2); they never contain a
//! token, a code or a secret, and text from the server passes through
//! [`one_line`] first.

use frontdesk_resource::FetchError;

use crate::id_token::IdTokenError;

/// A relying-party error.
#[derive(Debug, thiserror::Error)]
pub enum RpError {
    /// A configuration value or a metadata URL is unusable.
    #[error("{0}")]
    Config(String),
    /// Discovery failed (unreachable, not JSON, another issuer, …).
    #[error("discovery at {issuer}: {detail}")]
    Discovery { issuer: String, detail: String },
    /// The endpoint could not be reached, or its answer was too large.
    #[error("cannot reach the {endpoint}: {cause}")]
    Unreachable {
        endpoint: &'static str,
        cause: FetchError,
    },
    /// The endpoint answered with an OAuth error (RFC 6749 §5.2).
    #[error("the {endpoint} refused the request (HTTP {status}): {}{}", one_line(.error), .description.as_deref().map(|d| format!(": {}", one_line(d))).unwrap_or_default())]
    Refused {
        endpoint: &'static str,
        status: u16,
        error: String,
        description: Option<String>,
    },
    /// The endpoint answered an unexpected status without an OAuth error.
    #[error("the {endpoint} answered HTTP {status}")]
    Status { endpoint: &'static str, status: u16 },
    /// The answer is not the JSON expected.
    #[error("{endpoint}: not the expected JSON: {detail}")]
    Malformed {
        endpoint: &'static str,
        detail: String,
    },
    /// RFC 6749 §7.1: only Bearer tokens are understood.
    #[error("the token endpoint issued a {:?} token; only Bearer is supported", one_line(.0))]
    NotBearer(String),
    /// RFC 9449 §5: a DPoP client got a token of another type (or Bearer,
    /// when it requires DPoP).
    #[error("the token endpoint issued a {:?} token to a DPoP request", one_line(.0))]
    NotDpop(String),
    /// A DPoP proof could not be made (RFC 9449 §4.2).
    #[error("cannot make a DPoP proof: {0}")]
    Proof(String),
    /// The issuer's keys could not be fetched.
    #[error("fetching the JWKS at {uri}: {detail}")]
    Keys { uri: String, detail: String },
    /// The ID token failed verification.
    #[error("the ID token is not valid: {0}")]
    IdToken(IdTokenError),
    /// The loopback redirect failed or carried an unacceptable callback.
    #[error("{0}")]
    Callback(String),
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed")]
    Random,
}

// Not `#[from]`: that would make the ID-token error a `source` too, and
// `{:#}` (anyhow's one-line chain) would print it twice.
impl From<IdTokenError> for RpError {
    fn from(e: IdTokenError) -> RpError {
        RpError::IdToken(e)
    }
}

impl RpError {
    /// The OAuth error code of a refusal (`invalid_grant`, …).
    #[must_use]
    pub fn oauth_error(&self) -> Option<&str> {
        match self {
            RpError::Refused { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// A value from the server, made safe for a one-line message: printable
/// ASCII only, at most 200 characters.
#[must_use]
pub fn one_line(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_strips_control_characters() {
        assert_eq!(one_line("bad\nthing\u{1b}[31m"), "badthing[31m");
    }

    #[test]
    fn a_refusal_names_its_code_and_sanitised_description() {
        let e = RpError::Refused {
            endpoint: "token endpoint",
            status: 400,
            error: "invalid_grant".into(),
            description: Some("bad\ncode".into()),
        };
        assert_eq!(
            e.to_string(),
            "the token endpoint refused the request (HTTP 400): invalid_grant: badcode"
        );
        assert_eq!(e.oauth_error(), Some("invalid_grant"));
    }
}
