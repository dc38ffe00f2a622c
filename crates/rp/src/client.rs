//! The back channel of a registered client: the token endpoint (code
//! exchange, refresh), introspection (RFC 7662) and revocation (RFC 7009).

use frontdesk_resource::{FetchError, basic_authorization};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::dpop::{DpopKey, is_dpop, token_endpoint_nonce};
use crate::error::RpError;
use crate::provider::Provider;

/// How a confidential client proves itself (RFC 6749 §2.3.1, RFC 7523).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// `client_secret_basic`: HTTP Basic over the form-encoded id and secret.
    Basic,
    /// `client_secret_post`: `client_id` and `client_secret` in the form.
    Post,
    /// `private_key_jwt` (RFC 7523 §2.2, OIDC Core §9): a JWT signed with
    /// the client's key, made afresh for each request.
    PrivateKeyJwt,
}

/// RFC 7523 §2.2: the `client_assertion_type` of a JWT.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How long a client assertion is good for.
const ASSERTION_SECS: u64 = 60;

/// Who the client is at the token, introspection and revocation endpoints.
#[derive(Clone)]
pub struct ClientAuth {
    pub client_id: String,
    /// `None`: a public client (`token_endpoint_auth_method = none`), which
    /// sends its `client_id` in the form (RFC 6749 §3.2.1).
    pub client_secret: Option<String>,
    pub method: AuthMethod,
    /// The signing key of [`AuthMethod::PrivateKeyJwt`].
    key: Option<std::sync::Arc<frontdesk_jose::SigningKey>>,
}

impl std::fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientAuth")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "…"))
            .field("method", &self.method)
            .field("key", &self.key.as_ref().map(|k| k.kid().to_owned()))
            .finish()
    }
}

impl ClientAuth {
    /// A public client.
    #[must_use]
    pub fn public(client_id: &str) -> ClientAuth {
        ClientAuth {
            client_id: client_id.to_owned(),
            client_secret: None,
            method: AuthMethod::Basic,
            key: None,
        }
    }

    /// A confidential client with `client_secret_basic`.
    #[must_use]
    pub fn basic(client_id: &str, client_secret: &str) -> ClientAuth {
        ClientAuth {
            client_id: client_id.to_owned(),
            client_secret: Some(client_secret.to_owned()),
            method: AuthMethod::Basic,
            key: None,
        }
    }

    /// A confidential client with `client_secret_post`.
    #[must_use]
    pub fn post(client_id: &str, client_secret: &str) -> ClientAuth {
        ClientAuth {
            method: AuthMethod::Post,
            ..ClientAuth::basic(client_id, client_secret)
        }
    }

    /// A confidential client with `private_key_jwt`: every request carries
    /// a fresh assertion signed with `key` (whose public key the provider
    /// has registered for this client).
    #[must_use]
    pub fn private_key_jwt(
        client_id: &str,
        key: std::sync::Arc<frontdesk_jose::SigningKey>,
    ) -> ClientAuth {
        ClientAuth {
            client_id: client_id.to_owned(),
            client_secret: None,
            method: AuthMethod::PrivateKeyJwt,
            key: Some(key),
        }
    }

    /// RFC 7523 §3 for a request to `audience` (the endpoint it goes to,
    /// as Entra ID, Okta and Keycloak expect): `iss` = `sub` = the
    /// client id, a 128-bit random `jti`, `iat` `now` and `exp` a minute
    /// later. `None` unless the method is [`AuthMethod::PrivateKeyJwt`].
    ///
    /// # Errors
    /// Random numbers or signing failed.
    pub fn assertion(&self, audience: &str, now: u64) -> Result<Option<String>, RpError> {
        let Some(key) = self
            .key
            .as_ref()
            .filter(|_| self.method == AuthMethod::PrivateKeyJwt)
        else {
            return Ok(None);
        };
        let claims = serde_json::json!({
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": audience,
            "jti": crate::authorize::random_token(16)?,
            "iat": now,
            "exp": now + ASSERTION_SECS,
        });
        key.sign(Some("JWT"), &claims)
            .map(Some)
            .map_err(|e| RpError::Config(format!("cannot sign the client assertion: {e}")))
    }

    /// The form with this client's credentials added, and the
    /// `Authorization` header to send with it (an assertion, see
    /// [`ClientAuth::assertion`], is added by the caller).
    fn apply<'a>(
        &'a self,
        form: &[(&'a str, &'a str)],
    ) -> (Vec<(&'a str, &'a str)>, Option<String>) {
        let mut form = form.to_vec();
        if self.method == AuthMethod::PrivateKeyJwt {
            // RFC 7521 §4.2 lets client_id out; Entra ID needs it.
            form.push(("client_id", &self.client_id));
            return (form, None);
        }
        let header = match (&self.client_secret, self.method) {
            (Some(secret), AuthMethod::Basic) => Some(basic_authorization(&self.client_id, secret)),
            (Some(secret), AuthMethod::Post) => {
                form.push(("client_id", &self.client_id));
                form.push(("client_secret", secret));
                None
            }
            (None, _) | (Some(_), AuthMethod::PrivateKeyJwt) => {
                form.push(("client_id", &self.client_id));
                None
            }
        };
        (form, header)
    }
}

/// A successful token response (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// Any other member, kept as sent.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
}

/// An OAuth error response (RFC 6749 §5.2), read to explain a refusal.
#[derive(Debug, Deserialize)]
struct OAuthError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// A registered client of one provider.
#[derive(Debug, Clone)]
pub struct Client {
    provider: Provider,
    auth: ClientAuth,
    /// The proof key of this client's token requests (RFC 9449 §5), if it
    /// uses DPoP.
    dpop: Option<DpopKey>,
    /// Refuse a Bearer answer to a DPoP request ([`Client::requiring_dpop`]).
    require_dpop: bool,
}

impl Client {
    #[must_use]
    pub fn new(provider: Provider, auth: ClientAuth) -> Client {
        Client {
            provider,
            auth,
            dpop: None,
            require_dpop: false,
        }
    }

    /// This client with DPoP (RFC 9449): every token request (code
    /// exchange, refresh, any grant through [`Client::token`]) carries a
    /// proof of `key`, a `use_dpop_nonce` answer is retried once with the
    /// server's nonce (§8), and the answer may be a `DPoP` token.
    ///
    /// RFC 9449 §5 lets the server answer a proof with a Bearer token
    /// anyway ("token_type … Bearer": it does not bind tokens for this
    /// client or resource); such a client then uses the token as Bearer,
    /// which [`crate::dpop::get_resource`] does by its `token_type`. To
    /// refuse that instead, add [`Client::requiring_dpop`].
    #[must_use]
    pub fn with_dpop(mut self, key: DpopKey) -> Client {
        self.dpop = Some(key);
        self
    }

    /// With DPoP, a Bearer answer is [`RpError::NotDpop`] instead of a
    /// token (for clients that must never hold an unbound token).
    #[must_use]
    pub fn requiring_dpop(mut self) -> Client {
        self.require_dpop = true;
        self
    }

    /// The proof key of this client's token requests, if it uses DPoP.
    #[must_use]
    pub fn dpop_key(&self) -> Option<&DpopKey> {
        self.dpop.as_ref()
    }

    #[must_use]
    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    #[must_use]
    pub fn client_id(&self) -> &str {
        &self.auth.client_id
    }

    /// RFC 6749 §4.1.3 with RFC 7636 §4.5: exchanges `code` for tokens.
    ///
    /// # Errors
    /// See [`Client::token`].
    pub async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
    ) -> Result<TokenResponse, RpError> {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", code_verifier),
        ])
        .await
    }

    /// RFC 6749 §6: uses a refresh token (frontdesk rotates it: keep the
    /// new one from the answer).
    ///
    /// # Errors
    /// See [`Client::token`].
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenResponse, RpError> {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    /// POSTs `form` to the token endpoint and checks the answer's shape
    /// (RFC 6749 §5.1): a Bearer access token, or with
    /// [`Client::with_dpop`] a `DPoP` one (RFC 9449 §5; `token_type` is
    /// case-insensitive, RFC 6749 §5.1) — or Bearer unless
    /// [`Client::requiring_dpop`].
    ///
    /// With DPoP, the request carries a fresh proof; a 400 `use_dpop_nonce`
    /// with a `DPoP-Nonce` header is retried once with a proof of that
    /// nonce, and every `DPoP-Nonce` the endpoint sends is remembered for
    /// the next request (RFC 9449 §8).
    ///
    /// # Errors
    /// [`RpError::Refused`] with the OAuth error code, or a transport,
    /// status or format error; [`RpError::NotBearer`], [`RpError::NotDpop`];
    /// [`RpError::Proof`] when no proof can be made.
    pub async fn token(&self, form: &[(&str, &str)]) -> Result<TokenResponse, RpError> {
        const ENDPOINT: &str = "token endpoint";
        let url = self.provider.token_endpoint().to_owned();
        let mut retried = false;
        let answer = loop {
            let proof = match &self.dpop {
                Some(key) => Some(key.proof("POST", &url, None)?),
                None => None,
            };
            let answer = self.send(&url, ENDPOINT, proof.as_deref(), form).await?;
            if let Some(key) = &self.dpop {
                key.note_answer(&url, &answer);
                if !retried && token_endpoint_nonce(&answer).is_some() {
                    retried = true;
                    continue;
                }
            }
            break answer;
        };
        if answer.status != 200 {
            return Err(refusal(ENDPOINT, &answer));
        }
        let t: TokenResponse = answer.json().map_err(|e: FetchError| RpError::Malformed {
            endpoint: ENDPOINT,
            detail: e.to_string(),
        })?;
        let bearer = t.token_type.eq_ignore_ascii_case("bearer");
        match (&self.dpop, self.require_dpop) {
            (None, _) if !bearer => Err(RpError::NotBearer(t.token_type)),
            (Some(_), _) if !bearer && !is_dpop(&t.token_type) => {
                Err(RpError::NotDpop(t.token_type))
            }
            (Some(_), true) if bearer => Err(RpError::NotDpop(t.token_type)),
            _ => Ok(t),
        }
    }

    /// RFC 7662 §2.1: asks the introspection endpoint about `token`; the
    /// answer as sent (`active`, and the claims when active).
    ///
    /// # Errors
    /// [`RpError::Config`] when the issuer advertises no endpoint or the
    /// client has no secret; otherwise as [`Client::token`].
    pub async fn introspect(&self, token: &str) -> Result<Value, RpError> {
        let Some(endpoint) = self.provider.metadata().introspection_endpoint.clone() else {
            return Err(RpError::Config(
                "the issuer advertises no introspection_endpoint".to_owned(),
            ));
        };
        if self.auth.client_secret.is_none() {
            return Err(RpError::Config(
                "introspection needs client credentials".to_owned(),
            ));
        }
        self.post(&endpoint, "introspection endpoint", &[("token", token)])
            .await
    }

    /// RFC 7009 §2.1: revokes `token` (`hint`: `access_token` or
    /// `refresh_token`). Unknown tokens are not an error (§2.2).
    ///
    /// # Errors
    /// [`RpError::Config`] when the issuer advertises no endpoint; a
    /// refusal or transport error.
    pub async fn revoke(&self, token: &str, hint: Option<&str>) -> Result<(), RpError> {
        let Some(endpoint) = self.provider.metadata().revocation_endpoint.clone() else {
            return Err(RpError::Config(
                "the issuer advertises no revocation_endpoint".to_owned(),
            ));
        };
        let mut form = vec![("token", token)];
        if let Some(h) = hint {
            form.push(("token_type_hint", h));
        }
        let answer = self
            .send(&endpoint, "revocation endpoint", None, &form)
            .await?;
        if answer.status == 200 {
            return Ok(());
        }
        Err(refusal("revocation endpoint", &answer))
    }

    async fn send(
        &self,
        url: &str,
        endpoint: &'static str,
        dpop: Option<&str>,
        form: &[(&str, &str)],
    ) -> Result<frontdesk_resource::Answer, RpError> {
        let (mut form, header) = self.auth.apply(form);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let assertion = self.auth.assertion(url, now)?;
        if let Some(a) = &assertion {
            form.push(("client_assertion_type", JWT_BEARER));
            form.push(("client_assertion", a));
        }
        self.provider
            .http()
            .post_form_with(url, header.as_deref(), dpop, &form)
            .await
            .map_err(|cause| RpError::Unreachable { endpoint, cause })
    }

    /// POSTs a form and returns the JSON answer of a 200.
    pub(crate) async fn post(
        &self,
        url: &str,
        endpoint: &'static str,
        form: &[(&str, &str)],
    ) -> Result<Value, RpError> {
        let answer = self.send(url, endpoint, None, form).await?;
        if answer.status != 200 {
            return Err(refusal(endpoint, &answer));
        }
        answer.json().map_err(|e: FetchError| RpError::Malformed {
            endpoint,
            detail: e.to_string(),
        })
    }
}

/// The error for a non-200 answer: the OAuth error when the body is one.
fn refusal(endpoint: &'static str, answer: &frontdesk_resource::Answer) -> RpError {
    match answer.json::<OAuthError>() {
        Ok(e) => RpError::Refused {
            endpoint,
            status: answer.status,
            error: e.error,
            description: e.error_description,
        },
        Err(_) => RpError::Status {
            endpoint,
            status: answer.status,
        },
    }
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn credentials_go_where_the_method_says() {
        let public = ClientAuth::public("a");
        let (form, header) = public.apply(&[("x", "1")]);
        assert_eq!(form, [("x", "1"), ("client_id", "a")]);
        assert_eq!(header, None);

        let basic = ClientAuth::basic("a b", "s:é");
        let (form, header) = basic.apply(&[("x", "1")]);
        assert_eq!(form, [("x", "1")]);
        assert_eq!(header, Some(basic_authorization("a b", "s:é")));

        let post = ClientAuth::post("a", "s");
        let (form, header) = post.apply(&[]);
        assert_eq!(form, [("client_id", "a"), ("client_secret", "s")]);
        assert_eq!(header, None);
    }

    #[test]
    fn an_assertion_names_the_client_and_the_endpoint() {
        const NOW: u64 = 1_800_000_000;
        let (key, _) = frontdesk_jose::SigningKey::generate(frontdesk_jose::Algorithm::ES256)
            .unwrap_or_else(|e| panic!("{e}"));
        let jwks = frontdesk_jose::Jwks {
            keys: vec![key.public_jwk().clone()],
        };
        let auth = ClientAuth::private_key_jwt("app", std::sync::Arc::new(key));
        let (form, header) = auth.apply(&[("x", "1")]);
        assert_eq!(form, [("x", "1"), ("client_id", "app")]);
        assert_eq!(header, None, "no secret anywhere");
        let to = "https://id.example/token";
        let one = auth.assertion(to, NOW).ok().flatten().unwrap_or_default();
        let two = auth.assertion(to, NOW).ok().flatten().unwrap_or_default();
        let expect = frontdesk_jose::Expectations {
            issuer: "app".to_owned(),
            audience: Some(vec![to.to_owned()]),
            typ: None,
            forbidden_typ: Vec::new(),
            algorithms: vec![frontdesk_jose::Algorithm::ES256],
            leeway_secs: 0,
            require_iat: true,
        };
        let claims = |t: &str| {
            frontdesk_jose::verify::<Value>(t, &jwks, &expect, NOW)
                .map(|(_, c)| c)
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let (c1, c2) = (claims(&one), claims(&two));
        assert_eq!(c1["sub"], "app");
        assert_eq!(c1["iat"], NOW);
        assert_eq!(c1["exp"], NOW + 60);
        assert_eq!(c1["jti"].as_str().map(str::len), Some(22), "128 bits");
        assert_ne!(c1["jti"], c2["jti"], "a fresh jti each time");
        // Past its minute, or at another endpoint, it does not verify.
        assert!(frontdesk_jose::verify::<Value>(&one, &jwks, &expect, NOW + 61).is_err());
        let elsewhere = frontdesk_jose::Expectations {
            audience: Some(vec!["https://id.example/introspect".to_owned()]),
            ..expect
        };
        assert!(frontdesk_jose::verify::<Value>(&one, &jwks, &elsewhere, NOW).is_err());
        // Other methods make none.
        let basic = ClientAuth::basic("app", "s");
        assert_eq!(basic.assertion(to, NOW).ok().flatten(), None);
    }

    #[test]
    fn the_secret_stays_out_of_debug_output() {
        let text = format!("{:?}", ClientAuth::basic("a", "hunter2"));
        assert!(!text.contains("hunter2"), "{text}");
    }
}
