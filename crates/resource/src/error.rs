//! Errors: why a request was refused at the door (RFC 6750 §3, RFC 9449
//! §7.1), and why the kit could not be set up.

/// The `algs` of every DPoP challenge (RFC 9449 §7.1: "a space-delimited
/// list of JWS alg values ... that the resource server supports"): the
/// asymmetric algorithms the door accepts in proofs.
pub const DPOP_ALGS: &str = "ES256 EdDSA PS256 RS256";

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
    /// challenge for each scheme the door accepts, `Bearer, DPoP algs="…"`
    /// (RFC 9110 §11.6.1, RFC 9449 §7.2); wrapped in
    /// [`ValidationError::Dpop`] (a DPoP-only resource): `DPoP algs="…"`.
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
    /// RFC 9449 §7.1 `invalid_dpop_proof`: the `DPoP` header is missing or
    /// repeated, or its proof fails a check of §4.3 (signature, `typ`,
    /// `alg`, `htm`, `htu`, `iat`, `ath`) or was seen before (§11.1). → 401
    /// with `DPoP error="invalid_dpop_proof", algs="…"`.
    #[error("invalid_dpop_proof: {0}")]
    InvalidDpopProof(String),
    /// The inner refusal, answered under the DPoP scheme (RFC 9449 §7.1):
    /// the request used `Authorization: DPoP`, the token is DPoP-bound, or
    /// the resource accepts only DPoP. Same status and body as the inner
    /// error; the challenge is `DPoP …, algs="…"`.
    #[error("{0} (DPoP)")]
    Dpop(Box<ValidationError>),
}

/// The JSON body sent with a refusal: `{"error": …, "error_description": …}`
/// (the RFC 6749 §5.2 member names, which RFC 6750 §3 reuses for its codes).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ErrorBody {
    /// An error code: `invalid_token`, `insufficient_scope`,
    /// `invalid_request`, `invalid_dpop_proof`, `temporarily_unavailable`, `unauthorized` (no token
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
    /// This refusal under the DPoP scheme ([`ValidationError::Dpop`]);
    /// already-DPoP refusals are returned as they are.
    #[must_use]
    pub fn dpop(self) -> ValidationError {
        match self {
            e @ (ValidationError::Dpop(_) | ValidationError::InvalidDpopProof(_)) => e,
            e => ValidationError::Dpop(Box::new(e)),
        }
    }

    /// The refusal without its [`ValidationError::Dpop`] wrapping.
    pub fn unwrapped(&self) -> &ValidationError {
        match self {
            ValidationError::Dpop(inner) => inner.unwrapped(),
            e => e,
        }
    }

    /// The HTTP status RFC 6750 §3.1 and RFC 9449 §7.1 assign (503 when we
    /// could not check).
    pub fn status(&self) -> u16 {
        match self {
            ValidationError::MissingToken
            | ValidationError::InvalidToken(_)
            | ValidationError::InvalidDpopProof(_) => 401,
            ValidationError::InsufficientScope(_) => 403,
            ValidationError::InvalidRequest(_) => 400,
            ValidationError::Unavailable(_) => 503,
            ValidationError::Dpop(inner) => inner.status(),
        }
    }

    /// The RFC 6750 §3 / RFC 9449 §7.1 error code, if any.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            ValidationError::MissingToken => None,
            ValidationError::InvalidToken(_) => Some("invalid_token"),
            ValidationError::InsufficientScope(_) => Some("insufficient_scope"),
            ValidationError::InvalidRequest(_) => Some("invalid_request"),
            ValidationError::Unavailable(_) => Some("temporarily_unavailable"),
            ValidationError::InvalidDpopProof(_) => Some("invalid_dpop_proof"),
            ValidationError::Dpop(inner) => inner.code(),
        }
    }

    /// The auth-params of the challenge: `error="…"` and, for
    /// `insufficient_scope`, `scope="…"`; `None` without an error code.
    fn params(&self) -> Option<String> {
        match self {
            ValidationError::MissingToken | ValidationError::Unavailable(_) => None,
            ValidationError::InsufficientScope(scope) => {
                // RFC 6750 §3: scope = 1*( %x21 / %x23-5B / %x5D-7E ) tokens;
                // drop anything else so the header stays well-formed.
                let scope: String = scope
                    .chars()
                    .filter(|c| *c == ' ' || (c.is_ascii_graphic() && *c != '"' && *c != '\\'))
                    .collect();
                Some(format!(r#"error="insufficient_scope", scope="{scope}""#))
            }
            ValidationError::Dpop(inner) => inner.params(),
            e => e.code().map(|c| format!(r#"error="{c}""#)),
        }
    }

    /// The `WWW-Authenticate` header value (RFC 6750 §3; RFC 9449 §7.1 for
    /// the DPoP scheme, always with `algs`), or an empty string for
    /// [`ValidationError::Unavailable`], which carries no challenge.
    pub fn www_authenticate(&self) -> String {
        let dpop = |params: Option<String>| match params {
            Some(p) => format!(r#"DPoP {p}, algs="{DPOP_ALGS}""#),
            None => format!(r#"DPoP algs="{DPOP_ALGS}""#),
        };
        match self {
            ValidationError::Unavailable(_) => String::new(),
            ValidationError::MissingToken => format!(r#"Bearer, DPoP algs="{DPOP_ALGS}""#),
            ValidationError::Dpop(inner)
                if matches!(inner.unwrapped(), ValidationError::Unavailable(_)) =>
            {
                String::new()
            }
            ValidationError::Dpop(_) | ValidationError::InvalidDpopProof(_) => dpop(self.params()),
            e => match e.params() {
                Some(p) => format!("Bearer {p}"),
                None => "Bearer".to_owned(),
            },
        }
    }

    /// The JSON body. Descriptions are fixed texts: which check failed stays
    /// in the logs (RFC 8725 §3: do not help an attacker tune forgeries).
    pub fn body(&self) -> ErrorBody {
        match self {
            ValidationError::Dpop(inner) => match inner.unwrapped() {
                ValidationError::MissingToken => ErrorBody::new(
                    "unauthorized",
                    "this resource needs a DPoP-bound access token sent with Authorization: DPoP and a DPoP proof",
                ),
                ValidationError::InvalidToken(_) => ErrorBody::new(
                    "invalid_token",
                    "the access token is expired, revoked, malformed, not meant for this resource, or not bound to the key of the DPoP proof it came with",
                ),
                other => other.body(),
            },
            ValidationError::InvalidDpopProof(_) => ErrorBody::new(
                "invalid_dpop_proof",
                "the DPoP proof is missing, repeated, malformed, already used, or does not match this request",
            ),
            ValidationError::MissingToken => ErrorBody::new(
                "unauthorized",
                "this resource needs an access token: Bearer, or DPoP with a DPoP proof",
            ),
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
        if matches!(self.unwrapped(), ValidationError::Unavailable(_)) {
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
