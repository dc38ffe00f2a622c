//! Authorization-server metadata (RFC 8414, OpenID Connect Discovery 1.0).

use crate::SetupError;
use crate::http_client::HttpClient;

/// The parts of the metadata the door and the relying party
/// (`frontdesk-rp`) read. Only `issuer` and `jwks_uri` are required here;
/// the relying party requires its endpoints itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[non_exhaustive]
pub struct Discovery {
    /// The issuer identifier; equal to the one asked for (RFC 8414 §3.3).
    pub issuer: String,
    /// Where the signing keys are published (RFC 8414 §2 `jwks_uri`).
    pub jwks_uri: String,
    /// The RFC 7662 endpoint, when the server offers one.
    #[serde(default)]
    pub introspection_endpoint: Option<String>,
    /// RFC 8414 §2 `authorization_endpoint`.
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    /// RFC 8414 §2 `token_endpoint`.
    #[serde(default)]
    pub token_endpoint: Option<String>,
    /// OIDC Discovery §3 `userinfo_endpoint`.
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    /// RFC 7009 endpoint, RFC 8414 §2 `revocation_endpoint`.
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
    /// OIDC RP-Initiated Logout §2.1 `end_session_endpoint`.
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
    /// RFC 8628 §4 `device_authorization_endpoint`.
    #[serde(default)]
    pub device_authorization_endpoint: Option<String>,
    /// RFC 8414 §2 `code_challenge_methods_supported`.
    #[serde(default)]
    pub code_challenge_methods_supported: Option<Vec<String>>,
    /// RFC 9207 §3: the authorization response carries `iss`.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

/// Checks that `url` is an absolute `http` or `https` URL.
pub(crate) fn check_url(url: &str) -> Result<(), SetupError> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err(SetupError::InvalidUrl(url.to_owned())),
    }
}

/// Fetches `{issuer}/.well-known/openid-configuration` and checks it.
///
/// RFC 8414 §3.3: "The "issuer" value returned MUST be identical to the
/// authorization server's issuer identifier value into which the
/// well-known URI string was inserted"; otherwise the metadata is refused
/// (it could send us to someone else's keys).
///
/// # Errors
/// [`SetupError::Discovery`] when the document cannot be fetched, is not
/// JSON, names another issuer, or lacks `jwks_uri`.
pub async fn discover(http: &HttpClient, issuer: &str) -> Result<Discovery, SetupError> {
    check_url(issuer)?;
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let doc: Discovery = http
        .get_json(&url)
        .await
        .map_err(|e| SetupError::Discovery(format!("{url}: {e}")))?
        .value;
    if doc.issuer != issuer {
        return Err(SetupError::Discovery(format!(
            "the metadata names issuer {:?}, not {issuer:?} (RFC 8414 §3.3)",
            doc.issuer
        )));
    }
    check_url(&doc.jwks_uri)?;
    if let Some(i) = &doc.introspection_endpoint {
        check_url(i)?;
    }
    Ok(doc)
}
