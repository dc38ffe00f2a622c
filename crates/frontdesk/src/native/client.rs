//! The relying party's back channel: OIDC discovery, the JWKS, and the
//! token and introspection endpoints, over one hardened reqwest client.
//!
//! Redirects are not followed (an answer must come from the URL discovery
//! gave us), every request times out, bodies above [`MAX_BODY`] are refused
//! before they are parsed, and proxy environment variables are ignored, as
//! in `frontdesk-resource`. Error messages name the endpoint and the OAuth
//! error code; they never contain a token, a code or a secret.

use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use base64::Engine as _;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Largest response body read from the authorization server.
const MAX_BODY: usize = 1024 * 1024;

/// Timeout of one request, connect included.
const TIMEOUT: Duration = Duration::from_secs(15);

/// The parts of the OpenID Provider metadata we use (OIDC Discovery §3,
/// RFC 8414 §2, RFC 9207 §3).
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub introspection_endpoint: Option<String>,
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

/// A successful token response (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Debug, Clone, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    #[serde(default)]
    pub expires_in: Option<u64>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub refresh_token: Option<String>,
    #[serde(default)]
    pub id_token: Option<String>,
}

/// An OAuth error response (RFC 6749 §5.2), read to explain a refusal.
#[derive(Debug, Deserialize)]
struct OAuthError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// How the client authenticates at the token and introspection endpoints.
#[derive(Debug, Clone)]
pub struct ClientAuth {
    pub client_id: String,
    /// `None`: a public client (`token_endpoint_auth_method = none`), which
    /// sends its `client_id` in the form (RFC 6749 §3.2.1).
    pub client_secret: Option<String>,
}

impl ClientAuth {
    /// RFC 6749 §2.3.1: form-encode id and secret, then HTTP Basic.
    fn basic(&self) -> Option<String> {
        let secret = self.client_secret.as_deref()?;
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let raw = format!("{}:{}", enc(&self.client_id), enc(secret));
        Some(format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        ))
    }
}

/// The HTTP client of `frontdesk login` and `frontdesk token`.
pub struct Http {
    inner: reqwest::Client,
}

impl Http {
    pub fn new() -> anyhow::Result<Http> {
        let inner = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .no_proxy()
            .user_agent(concat!("frontdesk-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(Http { inner })
    }

    /// OIDC Discovery §4: `ISSUER/.well-known/openid-configuration`, whose
    /// `issuer` must equal the one we asked for exactly (§4.3), and whose
    /// endpoints must be safe to send credentials to.
    pub async fn discover(&self, issuer: &str) -> anyhow::Result<Metadata> {
        check_url("--issuer", issuer)?;
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let (status, body) = self
            .send(self.inner.get(&url), "discovery")
            .await
            .with_context(|| format!("discovery at {url}"))?;
        if status != 200 {
            bail!("discovery at {url} answered HTTP {status}");
        }
        let meta: Metadata = parse_json(&body).with_context(|| format!("discovery at {url}"))?;
        if meta.issuer != issuer {
            bail!(
                "discovery at {url} names the issuer {:?}, not {issuer:?} (OpenID Connect Discovery §4.3)",
                meta.issuer
            );
        }
        check_url("authorization_endpoint", &meta.authorization_endpoint)?;
        check_url("token_endpoint", &meta.token_endpoint)?;
        check_url("jwks_uri", &meta.jwks_uri)?;
        if let Some(u) = &meta.introspection_endpoint {
            check_url("introspection_endpoint", u)?;
        }
        if let Some(methods) = &meta.code_challenge_methods_supported
            && !methods.iter().any(|m| m == "S256")
        {
            bail!("the issuer does not support PKCE with S256");
        }
        Ok(meta)
    }

    /// The issuer's signing keys.
    pub async fn jwks(&self, meta: &Metadata) -> anyhow::Result<frontdesk_jose::Jwks> {
        let (status, body) = self
            .send(self.inner.get(&meta.jwks_uri), "jwks_uri")
            .await?;
        if status != 200 {
            bail!("jwks_uri answered HTTP {status}");
        }
        parse_json(&body).context("jwks_uri")
    }

    /// POSTs a form to the token endpoint and returns the JSON answer.
    pub async fn token_request(
        &self,
        meta: &Metadata,
        auth: &ClientAuth,
        form: &[(&str, &str)],
    ) -> anyhow::Result<serde_json::Value> {
        self.post_form(&meta.token_endpoint, "token endpoint", auth, form)
            .await
    }

    /// RFC 7662: asks the introspection endpoint about `token`.
    pub async fn introspect(
        &self,
        meta: &Metadata,
        auth: &ClientAuth,
        token: &str,
    ) -> anyhow::Result<serde_json::Value> {
        let Some(endpoint) = &meta.introspection_endpoint else {
            bail!("the issuer advertises no introspection_endpoint");
        };
        if auth.client_secret.is_none() {
            bail!("introspection needs client credentials: pass --client-secret");
        }
        self.post_form(
            endpoint,
            "introspection endpoint",
            auth,
            &[("token", token)],
        )
        .await
    }

    async fn post_form(
        &self,
        url: &str,
        what: &str,
        auth: &ClientAuth,
        form: &[(&str, &str)],
    ) -> anyhow::Result<serde_json::Value> {
        let mut pairs = form_urlencoded::Serializer::new(String::new());
        pairs.extend_pairs(form);
        let mut req = self
            .inner
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json");
        match auth.basic() {
            Some(basic) => req = req.header("authorization", basic),
            None => {
                pairs.append_pair("client_id", &auth.client_id);
            }
        }
        let (status, body) = self.send(req.body(pairs.finish()), what).await?;
        if status == 200 {
            return parse_json(&body).with_context(|| what.to_owned());
        }
        match serde_json::from_slice::<OAuthError>(&body) {
            Ok(e) => {
                let detail = e
                    .error_description
                    .map(|d| format!(": {}", one_line(&d)))
                    .unwrap_or_default();
                Err(anyhow!(
                    "the {what} refused the request (HTTP {status}): {}{detail}",
                    one_line(&e.error)
                ))
            }
            Err(_) => Err(anyhow!("the {what} answered HTTP {status}")),
        }
    }

    /// Sends a request and reads at most [`MAX_BODY`] bytes of the answer.
    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        what: &str,
    ) -> anyhow::Result<(u16, Vec<u8>)> {
        let mut resp = req
            .send()
            .await
            .map_err(|e| anyhow!("cannot reach the {what}: {}", e.without_url()))?;
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| anyhow!("reading the {what}'s answer: {}", e.without_url()))?
        {
            if body.len() + chunk.len() > MAX_BODY {
                bail!("the {what}'s answer is larger than {MAX_BODY} bytes");
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, body))
    }
}

fn parse_json<T: DeserializeOwned>(body: &[u8]) -> anyhow::Result<T> {
    serde_json::from_slice(body).map_err(|e| anyhow!("not the expected JSON: {e}"))
}

/// Tokens and secrets go only over TLS, except to this machine (RFC 8252
/// §8.3 loopback literals, for development servers).
pub fn check_url(name: &str, raw: &str) -> anyhow::Result<()> {
    let url = url::Url::parse(raw).map_err(|e| anyhow!("{name} {raw:?} is not a URL: {e}"))?;
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        bail!("{name} {raw:?} must have no fragment and no user information");
    }
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if loopback => Ok(()),
        _ => bail!("{name} {raw:?} must be https (http only on this machine's loopback address)"),
    }
}

/// A value from the server, made safe for a one-line terminal message:
/// printable ASCII only, at most 200 characters.
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
    fn urls_must_be_https_or_loopback() {
        assert!(check_url("x", "https://id.example.com").is_ok());
        assert!(check_url("x", "http://127.0.0.1:8080").is_ok());
        assert!(check_url("x", "http://[::1]:8080/").is_ok());
        assert!(check_url("x", "http://id.example.com").is_err());
        assert!(check_url("x", "https://u:p@id.example.com").is_err());
        assert!(check_url("x", "ftp://id.example.com").is_err());
        assert!(check_url("x", "not a url").is_err());
    }

    #[test]
    fn basic_is_form_encoded_first() {
        let auth = ClientAuth {
            client_id: "a b".into(),
            client_secret: Some("s:é".into()),
        };
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("a+b:s%3A%C3%A9")
        );
        assert_eq!(auth.basic().as_deref(), Some(expected.as_str()));
        let public = ClientAuth {
            client_id: "a".into(),
            client_secret: None,
        };
        assert_eq!(public.basic(), None);
    }

    #[test]
    fn one_line_strips_control_characters() {
        assert_eq!(one_line("bad\nthing\u{1b}[31m"), "badthing[31m");
    }
}
