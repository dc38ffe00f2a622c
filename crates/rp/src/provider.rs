//! The OpenID provider as the relying party sees it: discovered metadata
//! and the issuer's signing keys.

use frontdesk_jose::IdTokenClaims;
use frontdesk_resource::{Discovery, HttpClient, Keys, KeysOptions};

use crate::error::RpError;
use crate::id_token::{Expect, verify_id_token};

/// A discovered provider: cheap to clone (the key cache is shared).
#[derive(Debug, Clone)]
pub struct Provider {
    meta: Discovery,
    authorization_endpoint: String,
    token_endpoint: String,
    keys: Keys,
    http: HttpClient,
}

impl Provider {
    /// OIDC Discovery §4 / RFC 8414 §3 through
    /// `frontdesk_resource::discover`, whose `issuer` must equal `issuer`
    /// exactly (OIDC Discovery §4.3, RFC 8414 §3.3); then the relying
    /// party's own requirements: an authorization and a token endpoint,
    /// every URL safe to send credentials to ([`check_url`]), and PKCE S256
    /// among `code_challenge_methods_supported` when that is listed
    /// (RFC 7636 §4.2). The keys are not fetched yet: see
    /// [`Provider::load_keys`].
    ///
    /// # Errors
    /// [`RpError::Discovery`] or [`RpError::Config`].
    pub async fn discover(http: &HttpClient, issuer: &str) -> Result<Provider, RpError> {
        check_url("issuer", issuer)?;
        let meta = frontdesk_resource::discover(http, issuer)
            .await
            .map_err(|e| RpError::Discovery {
                issuer: issuer.to_owned(),
                detail: e.to_string(),
            })?;
        let required = |name: &str, v: &Option<String>| {
            v.clone().ok_or_else(|| RpError::Discovery {
                issuer: issuer.to_owned(),
                detail: format!("the metadata has no {name}"),
            })
        };
        let authorization_endpoint =
            required("authorization_endpoint", &meta.authorization_endpoint)?;
        let token_endpoint = required("token_endpoint", &meta.token_endpoint)?;
        check_url("authorization_endpoint", &authorization_endpoint)?;
        check_url("token_endpoint", &token_endpoint)?;
        check_url("jwks_uri", &meta.jwks_uri)?;
        for (name, url) in [
            ("introspection_endpoint", &meta.introspection_endpoint),
            ("revocation_endpoint", &meta.revocation_endpoint),
            ("userinfo_endpoint", &meta.userinfo_endpoint),
            ("end_session_endpoint", &meta.end_session_endpoint),
        ] {
            if let Some(u) = url {
                check_url(name, u)?;
            }
        }
        if let Some(methods) = &meta.code_challenge_methods_supported
            && !methods.iter().any(|m| m == "S256")
        {
            return Err(RpError::Config(
                "the issuer does not support PKCE with S256".to_owned(),
            ));
        }
        let keys = Keys::remote(&meta.jwks_uri, http.clone(), KeysOptions::default());
        Ok(Provider {
            meta,
            authorization_endpoint,
            token_endpoint,
            keys,
            http: http.clone(),
        })
    }

    /// A plain OAuth 2.0 authorization server that publishes no metadata
    /// (RFC 6749 alone, as GitHub's): its endpoints as configured, held to
    /// the same rule as discovered ones ([`check_url`]). It has no issuer
    /// identifier ([`Provider::issuer`] is empty) and no keys: it issues
    /// no ID tokens, so [`Provider::verify_id_token`] refuses every token.
    ///
    /// # Errors
    /// [`RpError::Config`] naming the endpoint that is not acceptable.
    pub fn from_endpoints(
        http: &HttpClient,
        authorization_endpoint: &str,
        token_endpoint: &str,
        userinfo_endpoint: Option<&str>,
    ) -> Result<Provider, RpError> {
        check_url("authorization_endpoint", authorization_endpoint)?;
        check_url("token_endpoint", token_endpoint)?;
        if let Some(u) = userinfo_endpoint {
            check_url("userinfo_endpoint", u)?;
        }
        // `Discovery` is the resource kit's (non-exhaustive) reading of
        // metadata documents; this one is written here, from the settings.
        let meta: Discovery = serde_json::from_value(serde_json::json!({
            "issuer": "",
            "jwks_uri": "",
            "authorization_endpoint": authorization_endpoint,
            "token_endpoint": token_endpoint,
            "userinfo_endpoint": userinfo_endpoint,
        }))
        .map_err(|e| RpError::Config(format!("endpoints: {e}")))?;
        Ok(Provider {
            meta,
            authorization_endpoint: authorization_endpoint.to_owned(),
            token_endpoint: token_endpoint.to_owned(),
            keys: Keys::fixed(frontdesk_jose::Jwks::default()),
            http: http.clone(),
        })
    }

    /// The issuer identifier, as discovery confirmed it.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.meta.issuer
    }

    /// The whole metadata (optional endpoints, RFC 9207 support, …).
    #[must_use]
    pub fn metadata(&self) -> &Discovery {
        &self.meta
    }

    #[must_use]
    pub fn authorization_endpoint(&self) -> &str {
        &self.authorization_endpoint
    }

    #[must_use]
    pub fn token_endpoint(&self) -> &str {
        &self.token_endpoint
    }

    /// The client the provider was discovered with (used for every call).
    #[must_use]
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// The issuer's key cache.
    #[must_use]
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Fetches the issuer's JWKS now.
    ///
    /// # Errors
    /// [`RpError::Keys`] when it cannot be fetched.
    pub async fn load_keys(&self) -> Result<(), RpError> {
        self.keys.refresh().await.map_err(|detail| RpError::Keys {
            uri: self.meta.jwks_uri.clone(),
            detail,
        })
    }

    /// [`verify_id_token`] with this issuer's keys; a token signed by a key
    /// the cached set lacks fetches the JWKS once more (the issuer may have
    /// rotated its keys). ID tokens come from the token endpoint over the
    /// back channel, never from the browser, so that refetch is not a lever
    /// for outsiders.
    ///
    /// # Errors
    /// [`RpError::IdToken`], or [`RpError::Keys`] when the refetch fails.
    pub async fn verify_id_token(
        &self,
        token: &str,
        expect: &Expect<'_>,
        now: u64,
    ) -> Result<IdTokenClaims, RpError> {
        match verify_id_token(token, &self.keys.current(), expect, now) {
            Err(e) if e.unknown_key() => {
                self.load_keys().await?;
                Ok(verify_id_token(token, &self.keys.current(), expect, now)?)
            }
            other => Ok(other?),
        }
    }
}

/// Tokens and secrets go only over TLS, except to this machine (RFC 8252
/// §8.3 loopback, for development servers): `url` must be `https` with a
/// host, or `http` on a loopback address or `localhost`, without fragment
/// or user information.
///
/// # Errors
/// [`RpError::Config`] naming `name`.
pub fn check_url(name: &str, raw: &str) -> Result<(), RpError> {
    let url = url::Url::parse(raw)
        .map_err(|e| RpError::Config(format!("{name} {raw:?} is not a URL: {e}")))?;
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(RpError::Config(format!(
            "{name} {raw:?} must have no fragment and no user information"
        )));
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
        _ => Err(RpError::Config(format!(
            "{name} {raw:?} must be https (http only on this machine's loopback address)"
        ))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_https_or_loopback() {
        assert!(check_url("x", "https://id.example.com").is_ok());
        assert!(check_url("x", "http://127.0.0.1:8080").is_ok());
        assert!(check_url("x", "http://[::1]:8080/").is_ok());
        assert!(check_url("x", "http://id.example.com").is_err());
        assert!(check_url("x", "https://u:p@id.example.com").is_err());
        assert!(check_url("x", "https://id.example.com/#f").is_err());
        assert!(check_url("x", "ftp://id.example.com").is_err());
        assert!(check_url("x", "not a url").is_err());
    }

    #[test]
    fn configured_endpoints_follow_the_same_rule() {
        let http = HttpClient::new().unwrap();
        let p = Provider::from_endpoints(
            &http,
            "https://github.example/login/oauth/authorize",
            "https://github.example/login/oauth/access_token",
            Some("https://api.github.example/user"),
        )
        .unwrap();
        assert_eq!(p.issuer(), "");
        assert_eq!(
            p.token_endpoint(),
            "https://github.example/login/oauth/access_token"
        );
        assert!(p.keys().current().keys.is_empty());
        let plain = Provider::from_endpoints(
            &http,
            "https://github.example/authorize",
            "http://github.example/token",
            None,
        );
        assert!(matches!(plain, Err(RpError::Config(_))));
    }
}
