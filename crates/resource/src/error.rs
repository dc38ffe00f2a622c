//! Errors: why a request was refused at the door (RFC 6750 §3), and why the
//! kit could not be set up.

/// Why a token was refused, in RFC 6750 §3.1 terms.
///
/// The `String` inside [`ValidationError::InvalidToken`] says which check
/// failed; it is for logs only. [`ValidationError::status`],
/// [`ValidationError::www_authenticate`] and [`ValidationError::body`] never
/// reveal it to the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// RFC 6750 §3.1: "If the request lacks any authentication information
    /// (e.g., the client was unaware that authentication is necessary ...),
    /// the resource server SHOULD NOT include an error code". → 401 with a
    /// bare `Bearer` challenge.
    #[error("no access token in the request")]
    MissingToken,
    /// "The access token provided is expired, revoked, malformed, or invalid
    /// for other reasons." → 401.
    #[error("invalid_token: {0}")]
    InvalidToken(String),
    /// "The request requires higher privileges than provided by the access
    /// token." → 403, with the scope needed.
    #[error("insufficient_scope: {0}")]
    InsufficientScope(String),
    /// "The request is missing a required parameter ... uses more than one
    /// method for including an access token, or is otherwise malformed." → 400.
    #[error("invalid_request: {0}")]
    InvalidRequest(String),
    /// The keys or the introspection endpoint could not be reached, so
    /// nothing can be verified: fail closed with 503 (no challenge, the
    /// token may well be fine).
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
}

/// The JSON body sent with a refusal: `{"error": …, "error_description": …}`
/// (the RFC 6749 §5.2 member names, which RFC 6750 §3 reuses for its codes).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ErrorBody {
    /// An error code: `invalid_token`, `insufficient_scope`,
    /// `invalid_request`, `temporarily_unavailable`, `unauthorized` (no token
    /// sent; the challenge then has no code, RFC 6750 §3.1), or (for the gateway's own
    /// errors) `not_found`, `bad_gateway`, `gateway_timeout`.
    pub error: String,
    /// Human-readable text; never says which token check failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

impl ErrorBody {
    /// A body with a code and a description.
    pub fn new(error: &str, description: &str) -> ErrorBody {
        ErrorBody {
            error: error.to_owned(),
            error_description: Some(description.to_owned()),
        }
    }

    /// The body as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| r#"{"error":"server_error"}"#.to_owned())
    }
}

impl ValidationError {
    /// The HTTP status RFC 6750 §3.1 assigns (503 when we could not check).
    pub fn status(&self) -> u16 {
        match self {
            ValidationError::MissingToken | ValidationError::InvalidToken(_) => 401,
            ValidationError::InsufficientScope(_) => 403,
            ValidationError::InvalidRequest(_) => 400,
            ValidationError::Unavailable(_) => 503,
        }
    }

    /// The RFC 6750 §3 error code, if any.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            ValidationError::MissingToken => None,
            ValidationError::InvalidToken(_) => Some("invalid_token"),
            ValidationError::InsufficientScope(_) => Some("insufficient_scope"),
            ValidationError::InvalidRequest(_) => Some("invalid_request"),
            ValidationError::Unavailable(_) => Some("temporarily_unavailable"),
        }
    }

    /// The `WWW-Authenticate` header value (RFC 6750 §3), or an empty string
    /// for [`ValidationError::Unavailable`], which carries no challenge.
    pub fn www_authenticate(&self) -> String {
        match self {
            ValidationError::MissingToken => "Bearer".to_owned(),
            ValidationError::InvalidToken(_) => r#"Bearer error="invalid_token""#.to_owned(),
            ValidationError::InvalidRequest(_) => r#"Bearer error="invalid_request""#.to_owned(),
            ValidationError::InsufficientScope(scope) => {
                // RFC 6750 §3: scope = 1*( %x21 / %x23-5B / %x5D-7E ) tokens;
                // drop anything else so the header stays well-formed.
                let scope: String = scope
                    .chars()
                    .filter(|c| *c == ' ' || (c.is_ascii_graphic() && *c != '"' && *c != '\\'))
                    .collect();
                format!(r#"Bearer error="insufficient_scope", scope="{scope}""#)
            }
            ValidationError::Unavailable(_) => String::new(),
        }
    }

    /// The JSON body. Descriptions are fixed texts: which check failed stays
    /// in the logs (RFC 8725 §3: do not help an attacker tune forgeries).
    pub fn body(&self) -> ErrorBody {
        match self {
            ValidationError::MissingToken => {
                ErrorBody::new("unauthorized", "this resource needs a Bearer access token")
            }
            ValidationError::InvalidToken(_) => ErrorBody::new(
                "invalid_token",
                "the access token is expired, revoked, malformed or not meant for this resource",
            ),
            ValidationError::InsufficientScope(scope) => ErrorBody::new(
                "insufficient_scope",
                &format!("the access token lacks the scope this request needs: {scope}"),
            ),
            ValidationError::InvalidRequest(_) => ErrorBody::new(
                "invalid_request",
                "the Authorization header is malformed or repeated",
            ),
            ValidationError::Unavailable(_) => ErrorBody::new(
                "temporarily_unavailable",
                "the access token cannot be checked right now; try again",
            ),
        }
    }

    /// A complete `http` response: status, `WWW-Authenticate` (when there
    /// is a challenge), `Cache-Control: no-store` and the JSON body.
    pub fn to_response<B: From<String>>(&self) -> http::Response<B> {
        let mut res = http::Response::new(B::from(self.body().to_json()));
        *res.status_mut() =
            http::StatusCode::from_u16(self.status()).unwrap_or(http::StatusCode::UNAUTHORIZED);
        let h = res.headers_mut();
        h.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        h.insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-store"),
        );
        let challenge = self.www_authenticate();
        if !challenge.is_empty()
            && let Ok(v) = http::HeaderValue::from_str(&challenge)
        {
            h.insert(http::header::WWW_AUTHENTICATE, v);
        }
        if matches!(self, ValidationError::Unavailable(_)) {
            h.insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_static("5"),
            );
        }
        res
    }
}

/// Why the kit could not be set up (discovery, bad URLs, HTTP client).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The URL is not an absolute http(s) URL.
    #[error("invalid URL {0:?}")]
    InvalidUrl(String),
    /// The discovery document could not be fetched or parsed.
    #[error("discovery: {0}")]
    Discovery(String),
    /// The HTTP client could not be built.
    #[error("http client: {0}")]
    Http(String),
}
