//! frontdesk-core: the OAuth 2.0 / OpenID Connect protocol, with no HTTP and
//! no SQL. Requests arrive as typed values, time arrives as a parameter, and
//! storage is reached through the [`store::Store`] intents.

pub mod access_token;
pub mod addr;
pub mod audit;
pub mod authorize;
pub mod claims_request;
pub mod client;
pub mod device;
pub mod discovery;
pub mod dpop;
pub mod email_link;
pub mod error;
pub mod grant;
pub mod groups;
pub mod id_token;
pub mod introspect;
pub mod keys;
pub mod login;
pub mod logout;
pub mod manage;
pub mod mfa;
pub mod model;
pub mod page;
pub mod params;
pub mod password;
pub mod pkce;
pub mod registration;
pub mod revoke;
pub mod scope;
pub mod secret;
pub mod session;
pub mod store;
pub mod subject;
pub mod sweep;
pub mod token;
pub mod upstream;
pub mod userinfo;

#[cfg(test)]
mod proptests;

use secret::Pepper;

/// Endpoint paths, shared by the router and the discovery document.
pub mod paths {
    pub const AUTHORIZE: &str = "/authorize";
    pub const LOGIN: &str = "/login";
    pub const CONSENT: &str = "/consent";
    pub const USERINFO: &str = "/userinfo";
    pub const LOGOUT: &str = "/logout";
    pub const TOKEN: &str = "/token";
    pub const INTROSPECT: &str = "/introspect";
    pub const REVOKE: &str = "/revoke";
    /// The pushed authorization request endpoint (RFC 9126 §2), at the
    /// issuer's root like every other endpoint.
    pub const PAR: &str = "/par";
    /// The device authorization endpoint (RFC 8628 §3.1).
    pub const DEVICE_AUTHORIZATION: &str = "/device_authorization";
    /// The page where people enter a device's user code (§3.2 `verification_uri`).
    pub const DEVICE: &str = "/device";
    pub const JWKS: &str = "/jwks.json";
    pub const FORGOT: &str = "/forgot";
    pub const RESET: &str = "/reset";
    pub const VERIFY_EMAIL: &str = "/verify-email";
    pub const REGISTER: &str = "/register";
    pub const OIDC_DISCOVERY: &str = "/.well-known/openid-configuration";
    pub const OAUTH_METADATA: &str = "/.well-known/oauth-authorization-server";
}

/// What this server offers. One value drives both the routes that are
/// mounted and the discovery document, so discovery advertises exactly what
/// works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// RFC 6749 §4.1 with PKCE, OpenID Connect sign-in, userinfo and logout.
    pub authorization_code: bool,
    /// RFC 6749 §6, with rotation.
    pub refresh_token: bool,
    /// RFC 6749 §4.4.
    pub client_credentials: bool,
    /// RFC 7662.
    pub introspection: bool,
    /// RFC 7009.
    pub revocation: bool,
    /// RFC 8628: the device authorization endpoint, its verification
    /// page and the `device_code` grant. Needs the sign-in pages
    /// (`authorization_code`).
    pub device_authorization: bool,
    /// Self-registration at `/register` (off by default). No discovery
    /// field describes it (`registration_endpoint` is RFC 7591 *client*
    /// registration), so it only mounts the route.
    pub registration: bool,
}

impl Default for Features {
    fn default() -> Features {
        Features {
            authorization_code: true,
            refresh_token: true,
            client_credentials: true,
            introspection: true,
            revocation: true,
            device_authorization: true,
            registration: false,
        }
    }
}

impl Features {
    /// The token endpoint exists when at least one grant is enabled.
    pub fn token_endpoint(&self) -> bool {
        self.client_credentials || self.authorization_code
    }

    /// The device flow runs on the sign-in pages.
    pub fn device(&self) -> bool {
        self.authorization_code && self.device_authorization
    }

    /// Refresh tokens are only issued from code grants.
    pub fn refresh(&self) -> bool {
        self.authorization_code && self.refresh_token
    }
}

/// Protocol settings, validated by the binary before they get here.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The issuer identifier: an https URL (or http on loopback for
    /// development) without query or fragment and without a trailing `/`.
    pub issuer: String,
    /// Clock leeway for time-based checks, seconds.
    pub leeway: i64,
    /// Upper bound for any token lifetime, seconds; key retention follows it.
    pub max_token_ttl: i64,
    /// Authorization-code lifetime, seconds (default 60).
    pub code_ttl: i64,
    /// ID-token lifetime, seconds.
    pub id_token_ttl: i64,
    /// SSO session lifetime, seconds.
    pub session_ttl: i64,
    /// A refresh token unused this long dies, seconds.
    pub refresh_idle_ttl: i64,
    /// A retry of a just-rotated refresh token within this window gets the
    /// same successor instead of revoking the family, seconds (default 2).
    /// Strict on whole seconds: a retry counts while `now − consumed_at <
    /// refresh_grace`, so 0 means no window at all. A client's own
    /// `refresh_grace_secs` replaces it.
    pub refresh_grace: i64,
    /// Window in which the same authorization-code redemption, retried
    /// (same client, redirect URI and PKCE verifier), gets the same tokens
    /// instead of counting as a replay, seconds; strict like
    /// `refresh_grace`. 0 (the default) turns it off: RFC 6749 §4.1.2 —
    /// every second use of a code is denied and revokes its grant.
    pub code_retry_grace: i64,
    /// When users need a second factor (`require_mfa`); a client's own
    /// setting replaces it.
    pub require_mfa: mfa::RequireMfa,
    /// DPoP proofs (RFC 9449): algorithms, age, nonces.
    pub dpop: dpop::DpopSettings,
    /// RFC 9126 §5 `require_pushed_authorization_requests`: every
    /// authorization request must come through the PAR endpoint.
    pub require_pushed_authorization_requests: bool,
    /// OIDC Discovery §3 `ui_locales_supported`: the languages of the
    /// pages (empty: not advertised).
    pub ui_locales_supported: Vec<String>,
    /// RFC 8628 §3.2 `expires_in` of a device code, seconds (default 600).
    pub device_code_ttl: i64,
    /// RFC 8628 §3.2 `interval`: the least time between polls, seconds
    /// (default 5).
    pub device_poll_interval: i64,
}

/// Everything the protocol needs that does not change per request.
#[derive(Debug)]
pub struct Core {
    pub settings: Settings,
    pub features: Features,
    pub pepper: Pepper,
}

impl Core {
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.settings.issuer, path)
    }
}
