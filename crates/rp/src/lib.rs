//! frontdesk-rp: the relying party's side of OAuth 2.0 and OpenID Connect,
//! written once for every client frontdesk ships — the demo app
//! (`frontdesk demo-rp`), the native-app sign-in (`frontdesk login`,
//! `frontdesk token`), and later the server itself as a client of upstream
//! identity providers.
//!
//! * [`Provider::discover`]: OIDC Discovery / RFC 8414 through
//!   `frontdesk_resource::discover` (the `issuer` compared exactly), every
//!   endpoint https (http only on loopback), PKCE S256 supported; the
//!   issuer's keys in a `frontdesk_resource::Keys` cache.
//! * [`AuthorizationRequest`]: `state`, `nonce` and a PKCE S256 verifier
//!   (RFC 7636 §4.1–4.2), and the authorization URL.
//! * [`Client`]: the code exchange, refresh, introspection (RFC 7662) and
//!   revocation (RFC 7009) calls, authenticated per [`ClientAuth`]
//!   (`client_secret_basic` with RFC 6749 §2.3.1 encoding,
//!   `client_secret_post`, or a public client).
//! * [`verify_id_token`] / [`Provider::verify_id_token`]: the one ID-token
//!   verification (OIDC Core §3.1.3.7): signature with the issuer's keys,
//!   `iss`, `aud`, `azp`, `exp`/`iat` with [`LEEWAY_SECS`], `nonce` and
//!   `at_hash` compared in constant time.
//! * [`Loopback`]: the RFC 8252 §7.3 redirect listener of a native app.
//! * [`Client::device_authorization`] and [`Client::poll_device`]: the
//!   Device Authorization Grant (RFC 8628) for apps without a browser.
//! * [`DpopKey`] and [`Client::with_dpop`]: DPoP (RFC 9449) — a proof key
//!   per session, a fresh proof per request through
//!   `frontdesk_jose::dpop::make`, server nonces retried once and kept per
//!   server (§8, §9), and [`dpop::get_resource`] for protected resources.
//!
//! It depends on `frontdesk-resource` and `frontdesk-jose` only, never on
//! the server's core or store: it talks to frontdesk (or any OpenID
//! provider) over HTTP, like any third-party client would.

mod authorize;
mod client;
mod device;
pub mod dpop;
mod error;
mod id_token;
mod loopback;
mod provider;

pub use authorize::{AuthorizationRequest, random_token};
pub use client::{AuthMethod, Client, ClientAuth, TokenResponse};
pub use device::{DEVICE_CODE_GRANT, DeviceAuthorization};
pub use dpop::{DpopKey, ResourceHeaders};
pub use error::{RpError, one_line};
pub use frontdesk_jose::IdTokenClaims;
pub use frontdesk_resource::HttpClient;
pub use id_token::{Expect, IdTokenError, LEEWAY_SECS, verify_id_token};
pub use loopback::{CALLBACK_PATH, Check, Loopback};
pub use provider::{Provider, check_url};

/// Constant-time comparison of two strings (for `state`, `nonce`,
/// `at_hash`): the time taken does not depend on where they differ.
#[must_use]
pub fn same(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq as _;
    a.as_bytes().ct_eq(b.as_bytes()).into()
}
