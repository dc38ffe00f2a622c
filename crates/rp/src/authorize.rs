//! The front channel: an authorization request with `state`, `nonce` and
//! PKCE S256, and the URL that sends the browser to the provider.

use aws_lc_rs::rand::SecureRandom as _;

use crate::error::RpError;
use crate::provider::Provider;

/// `bytes` random bytes from the operating system's CSPRNG, base64url.
///
/// # Errors
/// [`RpError::Random`] if the generator fails.
pub fn random_token(bytes: usize) -> Result<String, RpError> {
    let mut buf = vec![0u8; bytes];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| RpError::Random)?;
    Ok(frontdesk_jose::b64url(&buf))
}

/// RFC 7636 §4.2: `code_challenge = BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))`.
fn s256(code_verifier: &str) -> String {
    frontdesk_jose::b64url(&frontdesk_jose::sha256(code_verifier.as_bytes()))
}

/// One sign-in in progress: what the relying party keeps (server-side,
/// never in the browser) until the callback comes back.
#[derive(Clone)]
pub struct AuthorizationRequest {
    /// RFC 6749 §10.12: the callback must carry it back unchanged.
    pub state: String,
    /// OIDC Core §3.1.2.1: the ID token must carry it back unchanged.
    pub nonce: String,
    /// RFC 7636 §4.1: 32 random bytes, base64url (43 characters).
    pub code_verifier: String,
    /// The authorization URL to send the browser to.
    pub url: url::Url,
}

impl std::fmt::Debug for AuthorizationRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationRequest")
            .field("url", &self.url.as_str())
            .finish_non_exhaustive()
    }
}

impl AuthorizationRequest {
    /// A fresh request for the authorization code flow (RFC 6749 §4.1.1)
    /// with PKCE S256 (RFC 7636 §4.2: `code_challenge` =
    /// BASE64URL(SHA256(verifier))), a new `state` and a new `nonce`.
    ///
    /// # Errors
    /// [`RpError::Random`], or [`RpError::Config`] when the provider's
    /// authorization endpoint is not a URL.
    pub fn new(
        provider: &Provider,
        client_id: &str,
        redirect_uri: &str,
        scope: &str,
    ) -> Result<AuthorizationRequest, RpError> {
        let code_verifier = random_token(32)?;
        let state = random_token(32)?;
        let nonce = random_token(32)?;
        let challenge = s256(&code_verifier);
        let mut url = url::Url::parse(provider.authorization_endpoint())
            .map_err(|e| RpError::Config(format!("authorization_endpoint: {e}")))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", scope)
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(AuthorizationRequest {
            state,
            nonce,
            code_verifier,
            url,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_rfc_7636_appendix_b() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn random_tokens_are_long_and_distinct() {
        let a = random_token(32).unwrap_or_default();
        let b = random_token(32).unwrap_or_default();
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
    }
}
