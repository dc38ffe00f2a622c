//! The outbound HTTP client for discovery, JWKS and introspection.
//!
//! Hardened for talking to an authorization server: redirects are not
//! followed (a JWKS or introspection answer must come from the URL we were
//! configured with), every request times out after 5 s, bodies above
//! 64 KiB are refused before they are parsed, and proxy environment
//! variables are ignored (no surprise detours through `HTTPS_PROXY`).
//! These URLs come from the operator's configuration, never from a token.

use std::time::Duration;

use crate::SetupError;

/// Largest response body read from the authorization server.
pub const MAX_BODY: usize = 64 * 1024;

/// Default timeout for one request, connect included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A cheaply cloneable HTTP client with the limits above.
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: reqwest::Client,
    max_body: usize,
}

/// What went wrong talking to the authorization server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// No answer: connection, TLS or timeout trouble.
    #[error("request failed: {0}")]
    Transport(String),
    /// An answer with a status the caller did not accept.
    #[error("HTTP status {0}")]
    Status(u16),
    /// The body was larger than the client's cap.
    #[error("response body larger than {0} bytes")]
    TooLarge(usize),
    /// The body was not the JSON document expected.
    #[error("response is not the expected JSON: {0}")]
    Json(String),
}

/// A fetched document with its `Cache-Control: max-age`, if any.
pub(crate) struct Fetched<T> {
    pub value: T,
    pub max_age: Option<Duration>,
}

/// An answer read in full (within the body cap), whatever its status: for
/// callers that read OAuth error bodies (RFC 6749 §5.2) as well as successes.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    /// `Cache-Control: max-age`, if the answer had one.
    pub max_age: Option<Duration>,
    /// The `DPoP-Nonce` header (RFC 9449 §8), if the answer had one (the
    /// last one when it had several).
    pub dpop_nonce: Option<String>,
    /// Every `WWW-Authenticate` header value, in order (RFC 9110 §11.6.1),
    /// for a client that reads a resource's DPoP challenge (RFC 9449 §7.1, §9).
    pub www_authenticate: Vec<String>,
}

impl Answer {
    /// The body as JSON of type `T`.
    ///
    /// # Errors
    /// [`FetchError::Json`] when it is not.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, FetchError> {
        serde_json::from_slice(&self.body).map_err(|e| FetchError::Json(e.to_string()))
    }
}

/// The `Authorization` value of `client_secret_basic` (RFC 6749 §2.3.1):
/// "the client identifier is encoded using the
/// "application/x-www-form-urlencoded" encoding algorithm […] and the
/// encoded value is used as the username; the client password is encoded
/// using the same algorithm and used as the password", then HTTP Basic
/// (RFC 7617).
#[must_use]
pub fn basic_authorization(client_id: &str, client_secret: &str) -> String {
    use base64::Engine as _;
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            enc(client_id),
            enc(client_secret)
        ))
    )
}

impl HttpClient {
    /// The default client: 5 s timeout, 64 KiB bodies, no redirects, no proxy.
    ///
    /// # Errors
    /// [`SetupError::Http`] if the TLS backend cannot be initialised.
    pub fn new() -> Result<HttpClient, SetupError> {
        HttpClient::with_limits(DEFAULT_TIMEOUT, MAX_BODY)
    }

    /// A client with another timeout and body cap.
    ///
    /// # Errors
    /// [`SetupError::Http`] if the TLS backend cannot be initialised.
    pub fn with_limits(timeout: Duration, max_body: usize) -> Result<HttpClient, SetupError> {
        let inner = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .no_proxy()
            .user_agent(concat!("frontdesk-resource/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| SetupError::Http(e.to_string()))?;
        Ok(HttpClient { inner, max_body })
    }

    /// GET a JSON document; any status but 2xx is [`FetchError::Status`].
    pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
    ) -> Result<Fetched<T>, FetchError> {
        let a = self.get(url, None).await?;
        if !(200..300).contains(&a.status) {
            return Err(FetchError::Status(a.status));
        }
        Ok(Fetched {
            value: a.json()?,
            max_age: a.max_age,
        })
    }

    /// POST a form with HTTP Basic client credentials and read JSON; any
    /// status but 2xx is [`FetchError::Status`].
    pub(crate) async fn post_form_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        client_id: &str,
        client_secret: &str,
        form: &[(&str, &str)],
    ) -> Result<Fetched<T>, FetchError> {
        let basic = basic_authorization(client_id, client_secret);
        let a = self.post_form(url, Some(&basic), form).await?;
        if !(200..300).contains(&a.status) {
            return Err(FetchError::Status(a.status));
        }
        Ok(Fetched {
            value: a.json()?,
            max_age: a.max_age,
        })
    }

    /// GET `url` (with `Authorization: Bearer` when `bearer` is given,
    /// RFC 6750 §2.1) and read the answer, whatever its status.
    ///
    /// # Errors
    /// [`FetchError::Transport`] or [`FetchError::TooLarge`].
    pub async fn get(&self, url: &str, bearer: Option<&str>) -> Result<Answer, FetchError> {
        let mut req = self
            .inner
            .get(url)
            .header(http::header::ACCEPT, "application/json");
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        self.send(req).await
    }

    /// GET `url` with `authorization` as the whole `Authorization` value
    /// (e.g. `DPoP <token>`, RFC 9449 §7.1) and `dpop` as the `DPoP` header
    /// (a proof, RFC 9449 §4.1), each when given; read the answer, whatever
    /// its status.
    ///
    /// # Errors
    /// [`FetchError::Transport`] or [`FetchError::TooLarge`].
    pub async fn get_with(
        &self,
        url: &str,
        authorization: Option<&str>,
        dpop: Option<&str>,
    ) -> Result<Answer, FetchError> {
        let req = self
            .inner
            .get(url)
            .header(http::header::ACCEPT, "application/json");
        self.send(with_headers(req, authorization, dpop)).await
    }

    /// POST `form` (`application/x-www-form-urlencoded`) to `url`, with
    /// `authorization` as the `Authorization` header when given (see
    /// [`basic_authorization`]), and read the answer, whatever its status.
    ///
    /// # Errors
    /// [`FetchError::Transport`] or [`FetchError::TooLarge`].
    pub async fn post_form(
        &self,
        url: &str,
        authorization: Option<&str>,
        form: &[(&str, &str)],
    ) -> Result<Answer, FetchError> {
        self.post_form_with(url, authorization, None, form).await
    }

    /// [`HttpClient::post_form`] with a `DPoP` proof header (RFC 9449 §4.1,
    /// §5) when `dpop` is given.
    ///
    /// # Errors
    /// [`FetchError::Transport`] or [`FetchError::TooLarge`].
    pub async fn post_form_with(
        &self,
        url: &str,
        authorization: Option<&str>,
        dpop: Option<&str>,
        form: &[(&str, &str)],
    ) -> Result<Answer, FetchError> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let req = self
            .inner
            .post(url)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json")
            .body(body);
        self.send(with_headers(req, authorization, dpop)).await
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Answer, FetchError> {
        let mut res = req
            .send()
            .await
            .map_err(|e| FetchError::Transport(e.to_string()))?;
        let status = res.status().as_u16();
        let dpop_nonce = res
            .headers()
            .get_all(frontdesk_jose::dpop::NONCE_HEADER)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .next_back()
            .map(str::to_owned);
        let www_authenticate = res
            .headers()
            .get_all(http::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_owned)
            .collect();
        let max_age = res
            .headers()
            .get_all(http::header::CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(parse_max_age);
        if res
            .content_length()
            .is_some_and(|n| n > self.max_body as u64)
        {
            return Err(FetchError::TooLarge(self.max_body));
        }
        let mut body = Vec::new();
        while let Some(chunk) = res
            .chunk()
            .await
            .map_err(|e| FetchError::Transport(e.to_string()))?
        {
            if body.len() + chunk.len() > self.max_body {
                return Err(FetchError::TooLarge(self.max_body));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            body,
            max_age,
            dpop_nonce,
            www_authenticate,
        })
    }
}

/// The `Authorization` and `DPoP` headers of a request, each when given.
fn with_headers(
    mut req: reqwest::RequestBuilder,
    authorization: Option<&str>,
    dpop: Option<&str>,
) -> reqwest::RequestBuilder {
    if let Some(a) = authorization {
        req = req.header(http::header::AUTHORIZATION, a);
    }
    if let Some(p) = dpop {
        req = req.header(frontdesk_jose::dpop::HEADER, p);
    }
    req
}

/// The freshness lifetime from one `Cache-Control` header value (RFC 9111
/// §5.2.2.1 `max-age`); `no-cache` and `no-store` count as 0.
pub(crate) fn parse_max_age(value: &str) -> Option<Duration> {
    let mut found = None;
    for directive in value.split(',') {
        let d = directive.trim();
        let (name, arg) = match d.split_once('=') {
            Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
            None => (d, None),
        };
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            return Some(Duration::ZERO);
        }
        if name.eq_ignore_ascii_case("max-age")
            && let Some(secs) = arg.and_then(|a| a.parse::<u64>().ok())
        {
            found = Some(Duration::from_secs(secs));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_is_form_encoded_first() {
        use base64::Engine as _;
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("a+b:s%3A%C3%A9")
        );
        assert_eq!(basic_authorization("a b", "s:é"), expected);
    }

    #[test]
    fn max_age_is_parsed() {
        assert_eq!(
            parse_max_age("public, max-age=300"),
            Some(Duration::from_secs(300))
        );
        assert_eq!(parse_max_age("Max-Age=\"5\""), Some(Duration::from_secs(5)));
        assert_eq!(parse_max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(parse_max_age("public"), None);
        assert_eq!(parse_max_age("max-age=abc"), None);
    }
}
