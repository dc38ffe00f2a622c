//! Domain types shared by the protocol, the store and the binary.
//!
//! Field names follow RFC 7591 client metadata and OIDC Core §5.1 standard
//! claims, so that the admin API and the config file speak the same words as
//! the specifications.

use serde::{Deserialize, Serialize};

use crate::scope::Scope;

/// A JWK Set (RFC 7517 §5), as clients register their keys.
pub use frontdesk_jose::Jwks;

/// Unix time in seconds. Time is always a parameter in core (never read here).
pub type UnixTime = i64;

/// A [`UnixTime`] as the unsigned seconds of JWT claims (RFC 7519 §2
/// NumericDate); instants before 1970 become 0.
pub(crate) fn to_u64(t: UnixTime) -> u64 {
    u64::try_from(t).unwrap_or_default()
}

/// A client identifier (RFC 6749 §2.2): an opaque, unique string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientId(pub String);

impl ClientId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ClientId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Grant types a client may use (RFC 7591 §2 `grant_types`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    /// RFC 8628 §3.4, named by its URN as RFC 7591 names grant types.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:device_code")]
    DeviceCode,
    /// RFC 8693 §2.1.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:token-exchange")]
    TokenExchange,
}

impl GrantType {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
            GrantType::DeviceCode => DEVICE_CODE_GRANT,
            GrantType::TokenExchange => TOKEN_EXCHANGE_GRANT,
        }
    }

    pub fn parse(s: &str) -> Option<GrantType> {
        match s {
            "authorization_code" => Some(GrantType::AuthorizationCode),
            "refresh_token" => Some(GrantType::RefreshToken),
            "client_credentials" => Some(GrantType::ClientCredentials),
            DEVICE_CODE_GRANT => Some(GrantType::DeviceCode),
            TOKEN_EXCHANGE_GRANT => Some(GrantType::TokenExchange),
            _ => None,
        }
    }
}

/// The Device Authorization Grant's `grant_type` (RFC 8628 §3.4).
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
/// Token Exchange's `grant_type` (RFC 8693 §2.1).
pub const TOKEN_EXCHANGE_GRANT: &str = "urn:ietf:params:oauth:grant-type:token-exchange";

/// What a client may exchange at the token endpoint (RFC 8693): nothing
/// unless both lists allow it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenExchangePolicy {
    /// Subject tokens are accepted only when one of their audiences is one
    /// of these (an API's own identifier: the tokens sent to it; for an ID
    /// token, the client id it was issued to).
    #[serde(default)]
    pub subject_audiences: Vec<String>,
    /// The audiences (RFC 8693 `audience`, RFC 8707 `resource`) the new
    /// token may be for.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// Without an `actor_token`, issue a token without `act` (the client
    /// impersonates the subject). Default false: the client is the actor.
    #[serde(default)]
    pub impersonation: bool,
}

/// How a client authenticates at the token endpoint (RFC 7591 §2
/// `token_endpoint_auth_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// HTTP Basic, RFC 6749 §2.3.1.
    ClientSecretBasic,
    /// Credentials in the form body, RFC 6749 §2.3.1 (NOT RECOMMENDED but allowed).
    ClientSecretPost,
    /// A signed JWT assertion with the client's own key (RFC 7523 §2.2,
    /// OIDC Core §9): the keys are registered as `jwks` or `jwks_uri`.
    PrivateKeyJwt,
    /// A public client: no secret (RFC 6749 §2.1).
    None,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
            AuthMethod::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<AuthMethod> {
        match s {
            "client_secret_basic" => Some(AuthMethod::ClientSecretBasic),
            "client_secret_post" => Some(AuthMethod::ClientSecretPost),
            "private_key_jwt" => Some(AuthMethod::PrivateKeyJwt),
            "none" => Some(AuthMethod::None),
            _ => None,
        }
    }
}

/// OIDC Core §8: the kind of `sub` a client's tokens carry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectType {
    /// The user's one identifier, the same for every client.
    #[default]
    Public,
    /// §8.1: a different identifier per sector (`client::sector_identifier`),
    /// so that clients of different sectors cannot correlate their users.
    Pairwise,
}

/// A security profile a client is registered under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientProfile {
    /// The FAPI 2.0 Security Profile (OpenID Foundation, final): the rules
    /// are [`Client`]'s `fapi2_*` answers and the registration checks in
    /// `client::validate_metadata`; docs/SECURITY.md §13 maps each to its
    /// clause.
    Fapi2,
}

impl ClientProfile {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientProfile::Fapi2 => "fapi2",
        }
    }
}

/// FAPI 2.0 Security Profile §5.3.2.2 item 9: "shall issue authorization
/// codes with a maximum lifetime of 60 seconds".
pub const FAPI2_MAX_CODE_TTL: i64 = 60;

/// The format of access tokens issued to a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessTokenFormat {
    /// RFC 9068 JWT, verifiable locally by resource servers.
    #[default]
    Jwt,
    /// A random reference token, checked by introspection only.
    Opaque,
}

fn yes() -> bool {
    true
}

/// A registered client. Secrets are never stored in plaintext: see
/// [`SecretHash`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    pub client_id: ClientId,
    pub client_name: String,
    pub redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub response_types: Vec<String>,
    /// Scopes the client may request (RFC 7591 `scope`).
    pub scope: Scope,
    pub token_endpoint_auth_method: AuthMethod,
    /// Audiences (RFC 8707 resources) the client may request tokens for.
    /// The first one is the default when the request names none.
    pub audience: Vec<String>,
    pub access_token_format: AccessTokenFormat,
    /// First-party clients skip the consent page.
    pub first_party: bool,
    /// Where RP-initiated logout may return (OpenID Connect RP-Initiated
    /// Logout 1.0 §3.1), matched exactly.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// ID-token signing algorithm (`RS256` default; `PS256`, `ES256`, `EdDSA`).
    #[serde(default)]
    pub id_token_signed_response_alg: Option<String>,
    /// Issue a refresh token on every code exchange, not only when
    /// `offline_access` is granted.
    #[serde(default)]
    pub always_issue_refresh_token: bool,
    /// This client's refresh grace window in seconds (see
    /// `Settings::refresh_grace`); `None` follows the server's setting,
    /// `Some(0)` makes every reuse of a rotated refresh token a replay.
    #[serde(default)]
    pub refresh_grace_secs: Option<i64>,
    /// When this client's users need a second factor; `None` follows the
    /// server's `require_mfa`.
    #[serde(default)]
    pub require_mfa: Option<crate::mfa::RequireMfa>,
    /// RFC 9449 §5.2 `dpop_bound_access_tokens`: every token request of
    /// this client must carry a DPoP proof.
    #[serde(default)]
    pub dpop_bound_access_tokens: bool,
    /// RFC 8693: the subject tokens and audiences of its token exchanges
    /// (`None`: none), with the grant type in `grant_types`.
    #[serde(default)]
    pub token_exchange: Option<TokenExchangePolicy>,
    /// RFC 9126 §6 `require_pushed_authorization_requests`: this client's
    /// authorization requests must come through the PAR endpoint.
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    /// RFC 7591 §2 `jwks`: the client's public keys, given by value (for
    /// `private_key_jwt` and signed request objects). Never with `jwks_uri`.
    #[serde(default)]
    pub jwks: Option<Jwks>,
    /// RFC 7591 §2 `jwks_uri`: where the client publishes its public keys
    /// (`https`, or `http` on a loopback literal).
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// OIDC Dynamic Client Registration §2
    /// `token_endpoint_auth_signing_alg`: the one algorithm this client's
    /// assertions may use; `None` accepts every supported one.
    #[serde(default)]
    pub token_endpoint_auth_signing_alg: Option<String>,
    /// OIDC Dynamic Client Registration §2 `request_object_signing_alg`:
    /// the one algorithm this client's request objects may use; `None`
    /// accepts every supported one.
    #[serde(default)]
    pub request_object_signing_alg: Option<String>,
    /// RFC 9101 §10.5 `require_signed_request_object`: this client's
    /// authorization requests must come as a signed request object (by
    /// value, or inside a pushed request).
    #[serde(default)]
    pub require_signed_request_object: bool,
    /// A security profile this client is held to beyond its own switches
    /// (`profile = "fapi2"`): see [`ClientProfile`].
    #[serde(default)]
    pub profile: Option<ClientProfile>,
    /// Every authorization request of this client carries a PKCE challenge
    /// (default). `false` only for a confidential client, whose OpenID
    /// Connect requests then need a `nonce` instead (RFC 9700 §2.1.1); a
    /// challenge that is sent is still enforced.
    #[serde(default = "yes")]
    pub require_pkce: bool,
    /// The upstream identity providers (`[[upstreams]]` ids) this client's
    /// login page offers; `None`: every configured one.
    #[serde(default)]
    pub allowed_upstreams: Option<Vec<String>>,
    /// `false`: an "upstream only" client — its users sign in through an
    /// upstream only, and its login page has no password or passkey form.
    #[serde(default = "yes")]
    pub local_login: bool,
    /// Only members of one of these groups may sign in to this client
    /// (empty: everyone); see [`crate::groups::admits`].
    #[serde(default)]
    pub required_groups: Vec<String>,
    /// OIDC Core §8 / OIDC Registration §2 `subject_type`.
    #[serde(default)]
    pub subject_type: SubjectType,
    /// OIDC Registration §2: a JSON array of redirect URIs whose host is the
    /// client's sector (§8.1), for a pairwise client whose redirect URIs
    /// have several hosts.
    #[serde(default)]
    pub sector_identifier_uri: Option<String>,
    /// Which of the user's groups this client's `groups` claim may carry:
    /// names, or prefixes ending in `*`; `None`: all of them. See
    /// [`crate::groups::released`].
    #[serde(default)]
    pub released_groups: Option<Vec<String>>,
    /// RFC 7591 §2: a logo, the client's home page, its privacy policy and
    /// its terms of service, shown on the consent page.
    #[serde(default)]
    pub logo_uri: Option<String>,
    #[serde(default)]
    pub client_uri: Option<String>,
    #[serde(default)]
    pub policy_uri: Option<String>,
    #[serde(default)]
    pub tos_uri: Option<String>,
    /// Access-token lifetime in seconds.
    pub access_token_ttl: i64,
    /// Refresh-token absolute lifetime in seconds.
    pub refresh_token_ttl: i64,
    /// Active secret hashes; at most two during a rotation.
    pub secrets: Vec<ClientSecret>,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

impl Client {
    /// Registered under the FAPI 2.0 Security Profile.
    pub fn is_fapi2(&self) -> bool {
        self.profile == Some(ClientProfile::Fapi2)
    }

    /// Authorization requests only through PAR: the client's switch, or
    /// FAPI 2.0 §5.3.2.2 item 2 ("shall require pushed authorization
    /// requests").
    pub fn requires_par(&self) -> bool {
        self.require_pushed_authorization_requests || self.is_fapi2()
    }

    /// Every token request with a DPoP proof: the client's switch, or FAPI
    /// 2.0 §5.3.2.1 items 4–5 (only sender-constrained access tokens; DPoP
    /// is the method offered here, mutual TLS is not).
    pub fn requires_dpop(&self) -> bool {
        self.dpop_bound_access_tokens || self.is_fapi2()
    }

    /// The lifetime of this client's codes, given the server's.
    pub fn code_ttl(&self, server: i64) -> i64 {
        if self.is_fapi2() {
            server.min(FAPI2_MAX_CODE_TTL)
        } else {
            server
        }
    }

    /// This client's refresh grace window, given the server's.
    pub fn refresh_grace(&self, server: i64) -> i64 {
        self.refresh_grace_secs.unwrap_or(server)
    }

    /// Whether a refresh replaces the refresh token (RFC 9700 §4.14.2).
    /// Not for a FAPI 2.0 client: "shall not use refresh token rotation
    /// except in extraordinary circumstances" (FAPI 2.0 Security Profile
    /// §5.3.2.1); its tokens are sender-constrained by DPoP instead, and
    /// a lost answer costs nothing (the same token works again).
    pub fn rotates_refresh_tokens(&self) -> bool {
        !self.is_fapi2()
    }

    /// Whether `alg` may sign what this client sends (client assertions,
    /// request objects, DPoP proofs): FAPI 2.0 §5.4.1 allows PS256, ES256
    /// and EdDSA only, so RS256 (PKCS#1 v1.5) is out for a FAPI 2.0 client.
    pub fn may_sign_with(&self, alg: &str) -> bool {
        !(self.is_fapi2() && alg == "RS256")
    }
}

/// A keyed hash of a client secret (HMAC-SHA-256 under the server pepper).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientSecret {
    /// 32-byte HMAC output.
    pub hash: Vec<u8>,
    pub created_at: UnixTime,
    /// After this instant the secret no longer authenticates (set on the
    /// previous secret when a new one is rotated in).
    pub expires_at: Option<UnixTime>,
}

/// OIDC Core §5.1.1: a postal address, released by the `address` scope.
/// Every member is optional; an unknown one is refused, so a typo in an
/// administrator's update is an error and not a silently dropped field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

impl Address {
    pub fn is_empty(&self) -> bool {
        self == &Address::default()
    }
}

/// OIDC Core §5.1 standard claims held for a user: profile, email,
/// address and phone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserClaims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: bool,
    /// E.164 is recommended (OIDC Core §5.1), not enforced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub phone_number_verified: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
}

/// A user (resource owner). `sub` is stable and opaque (a UUID), never the
/// username, so a rename does not change the subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub sub: String,
    pub username: String,
    /// Argon2id PHC string.
    #[serde(skip_serializing)]
    pub password_hash: String,
    pub disabled: bool,
    pub claims: UserClaims,
    pub created_at: UnixTime,
    /// OIDC `updated_at`.
    pub updated_at: UnixTime,
    /// A confirmed TOTP credential is enrolled. Derived by the store from
    /// the credentials; ignored when writing a user.
    #[serde(default)]
    pub mfa_enrolled: bool,
    /// At least one passkey is registered. Derived like `mfa_enrolled`.
    #[serde(default)]
    pub has_passkey: bool,
    /// The user may not sign in until `claims.email_verified` is true: set
    /// for accounts made by self-registration while SMTP is configured,
    /// cleared when the address is verified ([`crate::email_link`]).
    #[serde(default)]
    pub verify_before_sign_in: bool,
}

/// What a signing key is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyUse {
    /// Signs JWT access tokens (ES256 by default).
    AccessToken,
    /// Signs ID tokens (RS256 by default, OIDC's mandatory algorithm).
    IdToken,
}

impl KeyUse {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyUse::AccessToken => "access_token",
            KeyUse::IdToken => "id_token",
        }
    }

    pub fn parse(s: &str) -> Option<KeyUse> {
        match s {
            "access_token" => Some(KeyUse::AccessToken),
            "id_token" => Some(KeyUse::IdToken),
            _ => None,
        }
    }
}

/// A signing key as stored: the private key is AES-256-GCM ciphertext under
/// the key-encryption key; the public JWK is plain JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// RFC 7638 thumbprint of the public key.
    pub kid: String,
    /// JOSE algorithm name (`ES256`, `RS256`, `PS256`, `EdDSA`).
    pub alg: String,
    pub key_use: KeyUse,
    /// nonce (12 bytes) ‖ ciphertext ‖ tag of the PKCS#8 DER.
    pub encrypted_private: Vec<u8>,
    /// The public JWK as JSON text.
    pub public_jwk: String,
    pub created_at: UnixTime,
    /// The key is published from `created_at` but signs only from here on.
    pub activates_at: UnixTime,
    /// When a newer key took over signing (None while current or pending).
    pub retired_at: Option<UnixTime>,
}

/// A reference (opaque) access token, stored by hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpaqueToken {
    /// SHA-256 of the token string.
    pub token_hash: Vec<u8>,
    pub jti: String,
    pub client_id: ClientId,
    pub sub: String,
    pub scope: String,
    pub audience: Vec<String>,
    pub issued_at: UnixTime,
    pub expires_at: UnixTime,
    pub revoked_at: Option<UnixTime>,
    /// The DPoP key the token is bound to (RFC 9449 §6: `cnf.jkt`).
    pub dpop_jkt: Option<String>,
}

/// A registered passkey (WebAuthn credential) of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyRecord {
    /// The authenticator's credential id (unique across users).
    pub credential_id: Vec<u8>,
    pub sub: String,
    /// The account's WebAuthn user handle: random, shared by its passkeys.
    pub user_handle: Vec<u8>,
    /// The user's name for it ("Laptop").
    pub name: String,
    /// webauthn-rs's credential record (public key, counter, flags), JSON.
    pub credential: String,
    /// Synced (backup eligible): RFC 8176 `swk`; else `hwk`.
    pub backup_eligible: bool,
    pub created_at: UnixTime,
    pub last_used_at: Option<UnixTime>,
}

impl User {
    /// A second factor of any kind: TOTP or a passkey.
    pub fn has_second_factor(&self) -> bool {
        self.mfa_enrolled || self.has_passkey
    }
}

/// A user's TOTP credential (RFC 6238). The secret is sealed under the
/// key-encryption key; until `confirmed_at` it is an enrolment in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpCredential {
    pub sub: String,
    /// AES-256-GCM under the KEK, associated data `totp:SUB`.
    pub secret_sealed: Vec<u8>,
    pub created_at: UnixTime,
    pub confirmed_at: Option<UnixTime>,
    /// The highest time step accepted so far (0: none).
    pub last_step: i64,
}

/// An SSO session at frontdesk. The browser's cookie holds a random value;
/// only its SHA-256 is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id_hash: Vec<u8>,
    /// Public session identifier: the `sid` claim of ID tokens.
    pub sid: String,
    pub sub: String,
    /// When the user last authenticated (OIDC `auth_time`).
    pub auth_time: UnixTime,
    /// Authentication methods (RFC 8176 values, e.g. `pwd`).
    pub amr: Vec<String>,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub ended_at: Option<UnixTime>,
    /// The browser's `User-Agent` at sign-in (at most 256 characters), for
    /// the account page.
    pub user_agent: Option<String>,
    /// The client address at sign-in.
    pub client_ip: Option<String>,
    /// The last time the session signed the user in to an application
    /// (updated at most every few minutes); `None` until then.
    pub last_seen_at: Option<UnixTime>,
    /// The upstream identity provider the user signed in through (its
    /// configured id); `None` for a sign-in at frontdesk itself.
    pub idp: Option<String>,
}

/// An upstream account joined to a frontdesk account: who signs in when
/// `upstream` asserts `upstream_sub`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamLink {
    /// The upstream's configured id.
    pub upstream: String,
    /// The subject the upstream asserted (its `sub`, or the configured claim).
    pub upstream_sub: String,
    /// The frontdesk account.
    pub sub: String,
    pub created_at: UnixTime,
    pub last_used_at: Option<UnixTime>,
}

/// An upstream identity provider added at run time (admin API, CLI);
/// `[[upstreams]]` in the configuration file are never stored.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredUpstream {
    /// Its id, unique among every upstream and directory.
    pub id: String,
    /// Its `[[upstreams]]` keys as a JSON object, without the client
    /// secret.
    pub spec: String,
    /// The client secret, sealed under the KEK with the id bound.
    pub secret: Vec<u8>,
    pub created_at: UnixTime,
}

impl std::fmt::Debug for StoredUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredUpstream")
            .field("id", &self.id)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// What removing a stored upstream removed with it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpstreamRemoval {
    /// Accounts' links to it.
    pub links: u64,
    /// Group memberships its sign-ins had made.
    pub memberships: u64,
}

/// A group of users (`crate::groups`): a name apps can authorise on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub created_at: UnixTime,
}

/// One member of a group, as a list of members shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMember {
    pub sub: String,
    pub username: String,
    pub added_at: UnixTime,
}

/// What [`crate::store::Store::sync_group_members`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupSync {
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// The part of an authorization request's `claims` parameter (OIDC Core
/// §5.5) that outlives the request, recorded on its grant so that every
/// ID token of the grant (refreshes too) and userinfo honour it: the
/// claims released one by one at each place (only ones the client may
/// have, `crate::claims_request`), and the `acr` values an essential `acr`
/// request listed (§5.5.1.1: the ID token's `acr` is one of them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestedClaims {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub userinfo: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub id_token: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub essential_acr: Vec<String>,
}

impl RequestedClaims {
    pub fn is_empty(&self) -> bool {
        self == &RequestedClaims::default()
    }
}

/// What a user granted a client through one authorization. Codes, refresh
/// tokens and access tokens hang off it; revoking it revokes them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub grant_id: String,
    pub client_id: ClientId,
    pub sub: String,
    /// The SSO session the grant was made in (`sid`), if any.
    pub sid: Option<String>,
    pub scope: String,
    pub audience: Vec<String>,
    pub auth_time: UnixTime,
    pub amr: Vec<String>,
    /// The upstream identity provider the session signed in through (its
    /// id), for the ID token's `idp` claim; `None` for a sign-in here.
    pub idp: Option<String>,
    /// What the authorization request's `claims` parameter asked for
    /// (OIDC Core §5.5), as far as it is honoured; `None` without one.
    pub claims: Option<RequestedClaims>,
    pub created_at: UnixTime,
    /// Absolute end of the grant (the refresh-token lifetime).
    pub expires_at: UnixTime,
    pub revoked_at: Option<UnixTime>,
}

/// An authorization code (RFC 6749 §4.1.2), stored by hash, single use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    pub code_hash: Vec<u8>,
    pub grant_id: String,
    pub client_id: ClientId,
    pub redirect_uri: String,
    /// PKCE S256 challenge (RFC 7636 §4.2).
    pub code_challenge: String,
    pub nonce: Option<String>,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    pub used_at: Option<UnixTime>,
    /// `dpop_jkt` of the authorization request (RFC 9449 §10): the code is
    /// redeemed only with a proof of that key.
    pub dpop_jkt: Option<String>,
}

/// What a user grant writes in the transaction that spends its code or
/// refresh token, so that nothing is left to fail once that transaction
/// has committed (an outage then costs the reply, never half a grant).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Issued {
    /// The refresh token to store (authorization code grant only: a
    /// rotation's successor is its own argument).
    pub refresh: Option<RefreshToken>,
    /// The row of an opaque access token.
    pub opaque: Option<OpaqueToken>,
}

/// Outcome of [`crate::store::Store::redeem_code`].
// One value per redemption, returned once and destructured at once: boxing
// the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redemption {
    /// This call marked the code used and stored what it issued; here are
    /// the code and its grant.
    Redeemed {
        code: AuthorizationCode,
        grant: Grant,
    },
    /// The code had been used before, and the caller said the request is
    /// the same redemption again (same client, redirect URI and PKCE
    /// verifier) inside the retry window: nothing was written or revoked.
    /// `code.used_at` is when the first redemption happened.
    Retried {
        code: AuthorizationCode,
        grant: Grant,
    },
    /// The code had been used before; the store revoked its grant in the
    /// same transaction (RFC 6749 §4.1.2: "SHOULD revoke … all tokens
    /// previously issued based on that authorization code").
    AlreadyUsed {
        grant_id: String,
    },
    Unknown,
}

/// A refresh token, stored by hash, rotated on every use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    pub token_hash: Vec<u8>,
    pub grant_id: String,
    pub client_id: ClientId,
    /// The scope this token may refresh (never wider than the grant's).
    pub scope: String,
    pub issued_at: UnixTime,
    /// Idle expiry: unused past this instant, the token is dead.
    pub expires_at: UnixTime,
    pub consumed_at: Option<UnixTime>,
    /// Hash of the token that replaced this one.
    pub replaced_by: Option<Vec<u8>>,
    /// The DPoP key a public client's refresh token is bound to (RFC 9449
    /// §5); its successors keep it.
    pub dpop_jkt: Option<String>,
}

/// Outcome of [`crate::store::Store::rotate_refresh`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// This call consumed `old` and stored the successor.
    Rotated {
        old: RefreshToken,
        grant: Grant,
    },
    /// `old` was already consumed by the very same successor within the
    /// grace window (a lost response, a second tab): nothing was written
    /// but an opaque access token for this retry, if it was not there.
    Retried {
        old: RefreshToken,
        grant: Grant,
    },
    /// `old` was consumed before, outside the grace window or toward another
    /// successor: the store revoked the whole grant in the same transaction.
    Reused {
        grant_id: String,
    },
    Unknown,
}

/// Scopes a user approved for a client, remembered across sign-ins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub sub: String,
    pub client_id: ClientId,
    pub scope: String,
    pub granted_at: UnixTime,
}

/// What an e-mailed link is for. The stored purpose is checked at
/// redemption, so a verification link never resets a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkPurpose {
    /// `ISSUER/verify-email?token=…`: sets `email_verified`.
    VerifyEmail,
    /// `ISSUER/reset?token=…`: lets the user choose a new password.
    ResetPassword,
}

impl LinkPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::VerifyEmail => "verify_email",
            LinkPurpose::ResetPassword => "reset_password",
        }
    }

    pub fn parse(s: &str) -> Option<LinkPurpose> {
        match s {
            "verify_email" => Some(LinkPurpose::VerifyEmail),
            "reset_password" => Some(LinkPurpose::ResetPassword),
            _ => None,
        }
    }
}

/// The token of an e-mailed link, stored by SHA-256 hash only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkToken {
    pub token_hash: Vec<u8>,
    pub purpose: LinkPurpose,
    pub sub: String,
    /// The address the link was sent to, lower-cased: a verification link
    /// verifies this address only, not one the account has since changed to.
    pub email: String,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    /// Set once, by the one redemption that wins.
    pub used_at: Option<UnixTime>,
}

/// A pushed authorization request (RFC 9126), stored under the SHA-256
/// hash of its `request_uri`, never the value itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedRequest {
    pub uri_hash: Vec<u8>,
    /// The client that pushed it (authenticated at the PAR endpoint).
    pub client_id: ClientId,
    /// The validated authorization parameters, form-encoded.
    pub params: String,
    pub created_at: UnixTime,
    /// Until the browser arrives: `created_at` + `expires_in`; from then
    /// on, the end of the interaction (`authorize::par::INTERACTION_TTL`).
    pub expires_at: UnixTime,
    /// SHA-256 of the continuation token handed to the browser when it
    /// first arrived at `/authorize`; `None` until then.
    pub continuation_hash: Option<Vec<u8>>,
    /// Set once, by the authorization response (code or error) it ended in.
    pub used_at: Option<UnixTime>,
}

/// Where a device authorization request stands (RFC 8628 §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceStatus {
    /// Waiting for the user at the verification URI.
    Pending,
    /// The user approved: the grant and its code exist.
    Approved,
    /// The user declined.
    Denied,
}

impl DeviceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceStatus::Pending => "pending",
            DeviceStatus::Approved => "approved",
            DeviceStatus::Denied => "denied",
        }
    }

    pub fn parse(s: &str) -> Option<DeviceStatus> {
        match s {
            "pending" => Some(DeviceStatus::Pending),
            "approved" => Some(DeviceStatus::Approved),
            "denied" => Some(DeviceStatus::Denied),
            _ => None,
        }
    }
}

/// A device authorization request (RFC 8628 §3.1–§3.2), stored under the
/// hashes of its codes, never the codes themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceAuthorization {
    /// SHA-256 of the `device_code` (256 random bits).
    pub device_code_hash: Vec<u8>,
    /// HMAC under the pepper of the normalised `user_code`: a short code's
    /// plain hash would fall to a search of its 20^8 values.
    pub user_code_hash: Vec<u8>,
    /// SHA-256 of the authorization code the approval stores with its
    /// grant (derived from the `device_code` under the server key), which
    /// the token endpoint redeems like any other code.
    pub code_hash: Vec<u8>,
    pub client_id: ClientId,
    /// The scope granted if the user approves (already within the client's).
    pub scope: String,
    /// The audiences of the tokens it ends in.
    pub audience: Vec<String>,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    /// The polling interval, seconds; `slow_down` adds 5 (§3.5).
    pub interval: i64,
    /// The last token request for it.
    pub last_poll_at: Option<UnixTime>,
    pub status: DeviceStatus,
    /// Who approved or declined.
    pub sub: Option<String>,
}

/// Outcome of spending a link token ([`crate::store::Store::reset_password_by_link`],
/// [`crate::store::Store::verify_email_by_link`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkRedemption {
    /// This call spent the token and made the change; the user as it is now.
    Done(Box<User>),
    /// Spent before (single use): nothing changed.
    AlreadyUsed,
    /// Past `expires_at`: nothing changed.
    Expired,
    /// A verification link for an address the account no longer has: the
    /// token is spent, the current address stays unverified.
    AddressChanged,
    /// No such token (or one for another purpose).
    Unknown,
}
