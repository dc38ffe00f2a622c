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
pub(crate) enum FetchError {
    #[error("request failed: {0}")]
    Transport(String),
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("response body larger than {0} bytes")]
    TooLarge(usize),
    #[error("response is not the expected JSON: {0}")]
    Json(String),
}

/// A fetched document with its `Cache-Control: max-age`, if any.
pub(crate) struct Fetched<T> {
    pub value: T,
    pub max_age: Option<Duration>,
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

    /// GET a JSON document.
    pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
    ) -> Result<Fetched<T>, FetchError> {
        let req = self
            .inner
            .get(url)
            .header(http::header::ACCEPT, "application/json");
        self.send_json(req).await
    }

    /// POST a form with HTTP Basic client credentials (RFC 6749 §2.3.1:
    /// id and secret are form-encoded before Basic) and read JSON.
    pub(crate) async fn post_form_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        client_id: &str,
        client_secret: &str,
        form: &[(&str, &str)],
    ) -> Result<Fetched<T>, FetchError> {
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let req = self
            .inner
            .post(url)
            .basic_auth(enc(client_id), Some(enc(client_secret)))
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json")
            .body(body);
        self.send_json(req).await
    }

    async fn send_json<T: serde::de::DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<Fetched<T>, FetchError> {
        let mut res = req
            .send()
            .await
            .map_err(|e| FetchError::Transport(e.to_string()))?;
        let status = res.status();
        if !status.is_success() {
            return Err(FetchError::Status(status.as_u16()));
        }
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
        let value = serde_json::from_slice(&body).map_err(|e| FetchError::Json(e.to_string()))?;
        Ok(Fetched { value, max_age })
    }
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
