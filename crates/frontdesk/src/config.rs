//! Configuration: a TOML file (`--config`), then `FRONTDESK_*` environment
//! variables, then command-line flags — later sources win. Everything is
//! validated once, here, into [`Settings`]; a bad value stops start-up with
//! one line that names it.
//!
//! The rustdoc on each field of [`FileConfig`] is the configuration
//! reference.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use frontdesk_core::email_link::LinkPolicy;
use frontdesk_core::manage::{ClientSpec, UserSpec};
use frontdesk_core::registration::RegistrationPolicy;
use frontdesk_core::{Features, keys::RotationPolicy};
use serde::Deserialize;
use zeroize::Zeroizing;

/// How much longer than the JWKS `max-age` a new key must be published
/// before it signs (see the check in `validate`).
const KEY_PUBLICATION_SLACK_SECS: i64 = 2;

/// The configuration file's shape. Environment variables use the same names
/// upper-cased with a `FRONTDESK_` prefix (`FRONTDESK_ISSUER`,
/// `FRONTDESK_ADMIN_TOKEN`); nested tables use `__` (`FRONTDESK_FEATURES__INTROSPECTION=false`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Issuer identifier (OIDC Core §1.2): `https://…`, or `http://` on a
    /// loopback address for development. Default `http://127.0.0.1:PORT`,
    /// PORT being `listen`'s (so `http://127.0.0.1:8080`); required when
    /// `listen` is neither a loopback nor an unspecified address.
    pub issuer: Option<String>,
    /// Public listener. Default `127.0.0.1:8080`.
    pub listen: Option<String>,
    /// Admin API listener. Default `127.0.0.1:8081`. The admin API is off
    /// unless `admin_token` is set.
    pub admin_listen: Option<String>,
    /// Bearer token that guards the admin API (≥ 32 characters).
    pub admin_token: Option<String>,
    /// Prometheus metrics listener (`GET /metrics`), e.g. `127.0.0.1:9464`.
    /// Default: off (nothing is recorded).
    pub metrics_listen: Option<String>,
    /// File holding the admin token.
    pub admin_token_file: Option<PathBuf>,
    /// Data directory: the SQLite database and the generated
    /// key-encryption key live here. Default `./frontdesk-data`.
    pub data_dir: Option<PathBuf>,
    /// Database URL: `sqlite://PATH` or `postgres://…`. Default: SQLite in
    /// the data directory.
    pub database: Option<String>,
    /// 32-byte key-encryption key, base64 or base64url. Seals signing keys
    /// at rest and derives the client-secret pepper. Every node of a cluster
    /// needs the same one. Default: generated into `DATA_DIR/kek` (0600).
    pub key_encryption_key: Option<String>,
    /// File holding the key-encryption key.
    pub key_encryption_key_file: Option<PathBuf>,
    /// `text` (default) or `json` log lines.
    pub log_format: Option<String>,
    /// Log filter in `tracing` directive syntax, e.g. `info` or
    /// `warn,frontdesk=debug`. Default `info` for `serve`, `warn` for the CLI.
    pub log_level: Option<String>,
    /// Clock leeway in seconds for time checks. Default 10.
    pub leeway_secs: Option<i64>,
    /// Upper bound on any token lifetime, seconds. Retired signing keys stay
    /// published this long (plus leeway). Default 86400.
    pub max_token_ttl_secs: Option<i64>,
    /// JWKS `Cache-Control: max-age`, seconds. Default 300.
    pub jwks_max_age_secs: Option<i64>,
    /// How long `keys rotate` publishes a new key before it signs; at least
    /// `jwks_max_age_secs`. Default 600.
    pub key_prepublish_secs: Option<i64>,
    /// Scheduled rotation: each signing key signs this long, then its
    /// successor (published `key_prepublish_secs` before) takes over.
    /// More than `key_prepublish_secs`. Default: off (`keys rotate` only).
    pub key_rotation_period_secs: Option<i64>,
    /// Authorization-code lifetime, seconds. Default 60.
    pub code_ttl_secs: Option<i64>,
    /// RFC 8628 device codes: `expires_in`, seconds, 60 to 1800. Default 600.
    pub device_code_ttl_secs: Option<i64>,
    /// RFC 8628 `interval`: the least time between a device's polls,
    /// seconds, 1 to 60. Default 5.
    pub device_poll_interval_secs: Option<i64>,
    /// ID-token lifetime, seconds. Default 3600.
    pub id_token_ttl_secs: Option<i64>,
    /// SSO session lifetime, seconds. Default 86400 (one day).
    pub session_ttl_secs: Option<i64>,
    /// Refresh tokens unused this long expire, seconds. Default 1209600 (14 days).
    pub refresh_idle_ttl_secs: Option<i64>,
    /// Grace window in which a retried refresh gets the same new tokens,
    /// seconds (0 to 60). A reuse is a retry only while fewer than this many
    /// whole seconds have passed since the rotation; 0 turns the window off,
    /// so any reuse revokes the family. Default 2. Clients may override it
    /// (`refresh_grace_secs` on the client).
    pub refresh_grace_secs: Option<i64>,
    /// Window in which an authorization-code redemption retried by the same
    /// client with the same redirect URI and PKCE verifier gets the same
    /// tokens (a reply lost to an outage) instead of counting as a replay,
    /// seconds (0 to 60). Default 0: off, as RFC 6749 §4.1.2 asks — every
    /// second use of a code is denied and revokes what it issued.
    pub code_retry_grace_secs: Option<i64>,
    /// Algorithms a DPoP proof may be signed with (RFC 9449 §5.1), from
    /// `ES256`, `EdDSA`, `PS256`, `RS256`. Default: all four.
    pub dpop_signing_alg_values_supported: Option<Vec<String>>,
    /// How old a DPoP proof's `iat` may be, seconds (10 to 3600). Default
    /// 300. Each proof's `jti` is remembered this long, in the database.
    pub dpop_proof_max_age_secs: Option<i64>,
    /// Require server nonces in DPoP proofs (RFC 9449 §8): the token and
    /// userinfo endpoints answer `use_dpop_nonce` with a `DPoP-Nonce`
    /// header until the proof carries it. Default false.
    pub use_dpop_nonce: Option<bool>,
    /// How long one DPoP nonce is current, seconds (30 to 3600); the
    /// previous one is still accepted. Default 300.
    pub dpop_nonce_lifetime_secs: Option<i64>,
    /// Connections in the PostgreSQL pool (per node). Default 10.
    pub database_pool_size: Option<u32>,
    /// How long a request waits for a PostgreSQL connection before 503,
    /// milliseconds. Default 2000.
    pub database_acquire_timeout_ms: Option<u64>,
    /// How long one PostgreSQL statement may run (the server's
    /// `statement_timeout`), milliseconds; a store operation with no answer
    /// within acquire + statement timeout is 503 too. Default 5000.
    pub database_statement_timeout_ms: Option<u64>,
    /// Failed logins per account within `login_window_secs` before the
    /// account is locked for the rest of the window. Default 10.
    pub login_max_failures_per_account: Option<u32>,
    /// Failed logins per client IP within the window. Default 50.
    pub login_max_failures_per_ip: Option<u32>,
    /// Login-failure window, seconds. Default 900.
    pub login_window_secs: Option<i64>,
    /// Failed client authentications (`invalid_client` at `/token`,
    /// `/introspect`, `/revoke`) per peer IP address (IPv6: per /64) in a
    /// burst; past it the address gets 429 at those endpoints until
    /// `client_auth_failure_window_secs / client_auth_max_failures_per_ip`
    /// has passed. The address is the TCP peer's, or the client's as a
    /// trusted proxy reports it (`trusted_proxies`). Default 60.
    pub client_auth_max_failures_per_ip: Option<u32>,
    /// Time in which a spent client-authentication failure quota refills
    /// completely, seconds (one failure back every window / max).
    /// Default 60, at most 86400.
    pub client_auth_failure_window_secs: Option<i64>,
    /// Count failed client authentications per address in the database as
    /// well, so that the limit holds for the whole cluster rather than per
    /// node: once an address has more than `client_auth_max_failures_per_ip`
    /// failures on all nodes together within `client_auth_failure_window_secs`,
    /// each further failure on any node is answered 429. Costs one database
    /// write per failed authentication (successes cost nothing). Default false.
    pub client_auth_throttle_shared: Option<bool>,
    /// Time a client has to send a complete request head, seconds, on both
    /// listeners. It also bounds how long an idle keep-alive connection may
    /// wait for its next request (SECURITY.md §5.7: ≤ 10 s). Default 10,
    /// at most 3600.
    pub header_read_timeout_secs: Option<i64>,
    /// Time a client has to send a complete request body, seconds, counted
    /// from the end of its request head, on both listeners. A body still
    /// arriving after it gets `408 Request Timeout` (RFC 6749 §5.2
    /// `invalid_request` at the back-channel endpoints) and the connection
    /// is closed. Default 10, at most 3600.
    pub body_read_timeout_secs: Option<i64>,
    /// Reverse proxies (CIDRs or addresses) whose `Forwarded` /
    /// `X-Forwarded-For` headers name the client, for the throttles and the
    /// logs. Empty (default): those headers are ignored and the TCP peer is
    /// the client. In the environment: comma-separated.
    pub trusted_proxies: Option<Vec<String>>,
    /// When users need a second factor at sign-in: `never` (only when an
    /// application asks with `acr_values`), `if_enrolled` (default: every
    /// user who has set one up) or `always` (users without one set it up
    /// at their next sign-in). Clients may override it (`require_mfa`).
    pub require_mfa: Option<String>,
    /// RFC 9126 §5: accept authorization requests only through the pushed
    /// authorization request endpoint (`/par`); a plain `/authorize` is an
    /// error page. Advertised in discovery. Clients may also require it
    /// for themselves (`require_pushed_authorization_requests`). Default false.
    pub require_pushed_authorization_requests: Option<bool>,
    /// How recent a sign-in must be to change anything on the account page
    /// (password, two-step verification, sessions, applications), seconds;
    /// an older session is asked to sign in again first. Default 300.
    pub reauth_secs: Option<i64>,
    /// Profile claims users may edit on their account page, from `name`,
    /// `given_name`, `family_name`, `nickname`, `locale`. Default: all of
    /// those; `[]` makes the profile read-only. In the environment:
    /// comma-separated.
    pub account_editable_claims: Option<Vec<String>>,
    /// Mail the account's address when it is signed in to from a browser
    /// that was not used for it before, when its password is changed on the
    /// account page, and when a second factor (an authenticator app, a
    /// passkey) is added or removed. Default false.
    pub security_notices: Option<bool>,
    /// Users may change their e-mail address on the account page (saved
    /// unverified, with a verification link to it). Default true.
    pub account_email_change: Option<bool>,
    /// How often the sweeper deletes expired rows (tokens, codes, grants,
    /// sessions, login-failure windows, links, old audit events), seconds:
    /// once at start, then at this interval, in batches of at most 500 rows
    /// per transaction; on PostgreSQL one node at a time (the others skip
    /// the round). 0 turns it off (the database then only grows). Default
    /// 600, at most 86400.
    pub sweep_interval_secs: Option<i64>,
    /// Audit events (`GET /admin/audit`) older than this many days are
    /// deleted by the sweeper (`sweep_interval_secs`). 1 to 36500.
    /// Default 90. The log lines under the `audit` target are the log's to
    /// keep.
    pub audit_retention_days: Option<i64>,
    /// How long a password-reset link works, seconds. Default 1800 (30
    /// minutes), 60 to 86400.
    pub reset_link_ttl_secs: Option<i64>,
    /// How long an e-mail verification link works, seconds. Default 86400
    /// (24 hours), 60 to 2592000 (30 days).
    pub verify_link_ttl_secs: Option<i64>,
    /// Mails one account can be sent within `login_window_secs`: password
    /// resets asked for at `/forgot`, and verification links re-sent when an
    /// unverified account tries to sign in. Past it `/forgot` answers 429
    /// (whether or not the account exists). Default 5.
    pub mail_max_per_account: Option<u32>,
    /// `/forgot` requests per client address (IPv6: per /64) within
    /// `login_window_secs`; past it 429. Default 20.
    pub mail_max_per_ip: Option<u32>,
    /// With `features.registration`: only addresses at these domains may
    /// register (exact, case-insensitive; `example.com` does not admit
    /// `sub.example.com`). Empty (default): any. In the environment:
    /// comma-separated.
    pub registration_email_domains: Option<Vec<String>>,
    /// Registrations per client address (IPv6: per /64) within
    /// `login_window_secs`; past it `/register` answers 429. Default 10.
    pub registration_max_per_ip: Option<u32>,
    /// Outgoing mail (verification and password-reset links, notices).
    /// Without it, messages are written to `DATA_DIR/outbox/` as `.eml`
    /// files (mode 0600) and the log says where.
    pub smtp: Option<SmtpConfig>,
    #[serde(default)]
    pub features: FeaturesConfig,
    /// Clients applied idempotently at every start.
    #[serde(default)]
    pub clients: Vec<ClientSpec>,
    /// Users applied idempotently at every start.
    #[serde(default)]
    pub users: Vec<UserSpec>,
    /// What each scope means to a person, for the consent and account
    /// pages (`[[scopes]]`).
    #[serde(default)]
    pub scopes: Vec<ScopeConfig>,
    /// The product name, logo, colours and theme directory of the pages.
    #[serde(default)]
    pub branding: crate::branding::BrandingConfig,
    /// The pages' language when a request asks for none of the shipped
    /// ones (`en`, `de`, `fr`, `es`). Default `en`.
    pub default_locale: Option<String>,
    /// Upstream identity providers for "Sign in with …".
    #[serde(default)]
    pub upstreams: Vec<crate::upstream::UpstreamConfig>,
    /// LDAP directories that check the login page's password for accounts
    /// without a local one (`[[ldap]]`; the keys are
    /// [`crate::ldap::LdapConfig`]'s). Their ids share one namespace with
    /// the upstreams'.
    #[serde(default)]
    pub ldap: Vec<crate::ldap::LdapConfig>,
}

/// Switches for optional endpoints; all on by default except
/// `registration`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeaturesConfig {
    pub authorization_code: Option<bool>,
    pub refresh_token: Option<bool>,
    pub client_credentials: Option<bool>,
    pub introspection: Option<bool>,
    pub revocation: Option<bool>,
    /// Self-registration at `/register` (default false). Needs
    /// `authorization_code`. With `[smtp]` a new account must verify its
    /// e-mail address before its first sign-in.
    pub registration: Option<bool>,
    /// The device flow (RFC 8628): `/device_authorization`, the `/device`
    /// page and the `device_code` grant, for clients that list it in
    /// `grant_types` (default true). Needs `authorization_code`.
    pub device_authorization: Option<bool>,
    /// Passkeys (WebAuthn) at sign-in and on the account page. Unset: on
    /// when the issuer can host WebAuthn (https with a domain name, or
    /// http://localhost), else off with a log line; `true`: a start-up
    /// error when it cannot; `false`: off.
    pub passkeys: Option<bool>,
}

/// The `[smtp]` table: the relay frontdesk hands its mail to.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Host name (or address) of the SMTP server. Required.
    pub host: Option<String>,
    /// Port. Default 587 for `starttls`, 465 for `tls`, 25 for `none`.
    pub port: Option<u16>,
    /// `starttls` (default: plain connection upgraded with STARTTLS, which
    /// the server must offer — never sent in the clear), `tls` (implicit
    /// TLS from the first byte, "SMTPS"), or `none` (no encryption, for a
    /// relay on the same machine; with credentials only to a loopback
    /// address). TLS is rustls on aws-lc-rs, certificates checked against
    /// the system's trust store plus `ca_file`.
    pub tls: Option<String>,
    /// Username for SMTP AUTH (PLAIN or LOGIN). Default: no authentication.
    pub username: Option<String>,
    /// Password for SMTP AUTH.
    pub password: Option<String>,
    /// File holding the SMTP password.
    pub password_file: Option<PathBuf>,
    /// The sender, e.g. `frontdesk <no-reply@example.com>`. Required.
    pub from: Option<String>,
    /// Connect and per-command timeout, seconds. Default 10, 1 to 60.
    pub timeout_secs: Option<i64>,
    /// Extra trusted CA certificate(s), PEM, for a relay with a private CA.
    pub ca_file: Option<PathBuf>,
}

/// Flags shared by every subcommand.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CommonArgs {
    /// TOML configuration file.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory (SQLite database, generated key-encryption key).
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL (sqlite://PATH or postgres://…).
    #[arg(long, global = true, value_name = "URL")]
    pub database: Option<String>,
    /// Log format: text or json.
    #[arg(long, global = true, value_name = "FORMAT")]
    pub log_format: Option<String>,
}

/// Flags of `serve`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// Public listen address.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Issuer URL.
    #[arg(long, value_name = "URL")]
    pub issuer: Option<String>,
    /// Admin API listen address.
    #[arg(long, value_name = "ADDR")]
    pub admin_listen: Option<String>,
    /// Prometheus metrics listen address (default: off).
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<String>,
}

/// Validated settings.
#[derive(Debug)]
pub struct Settings {
    pub issuer: String,
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub metrics_listen: Option<SocketAddr>,
    pub admin_token: Option<Zeroizing<String>>,
    pub data_dir: PathBuf,
    pub database: String,
    pub kek_source: KekSource,
    pub json_logs: bool,
    pub log_level: Option<String>,
    pub leeway: i64,
    pub max_token_ttl: i64,
    pub code_ttl: i64,
    pub id_token_ttl: i64,
    pub session_ttl: i64,
    pub refresh_idle_ttl: i64,
    pub refresh_grace: i64,
    pub code_retry_grace: i64,
    pub device_code_ttl: i64,
    pub device_poll_interval: i64,
    pub dpop: frontdesk_core::dpop::DpopSettings,
    pub database_options: frontdesk_store::DbOptions,
    pub login_max_failures_per_account: u32,
    pub login_max_failures_per_ip: u32,
    pub login_window: i64,
    /// Seconds an audit event is kept.
    pub audit_retention: i64,
    /// How often the sweeper runs; `None`: never.
    pub sweep_interval: Option<Duration>,
    pub client_auth_max_failures_per_ip: NonZeroU32,
    pub client_auth_throttle_shared: bool,
    pub client_auth_failure_window: Duration,
    pub header_read_timeout: Duration,
    pub body_read_timeout: Duration,
    pub trusted_proxies: crate::client_addr::TrustedProxies,
    pub require_mfa: frontdesk_core::mfa::RequireMfa,
    pub require_pushed_authorization_requests: bool,
    pub reauth_secs: i64,
    pub account_editable_claims: Vec<&'static str>,
    /// `security_notices`.
    pub security_notices: bool,
    /// `account_email_change`.
    pub account_email_change: bool,
    pub rotation: RotationPolicy,
    pub features: Features,
    pub clients: Vec<ClientSpec>,
    pub users: Vec<UserSpec>,
    /// Outgoing mail: SMTP or the outbox folder.
    pub mail: MailSettings,
    pub links: LinkPolicy,
    pub registration: RegistrationPolicy,
    /// `features.passkeys` as written (see [`FeaturesConfig::passkeys`]).
    pub passkeys: Option<bool>,
    /// `[[upstreams]]`, validated.
    pub upstreams: Vec<crate::upstream::Upstream>,
    /// `[[ldap]]`, validated.
    pub ldap: Vec<crate::ldap::Directory>,
    /// `[[scopes]]`: scope → what the consent page says it lets an
    /// application do.
    pub scope_descriptions: BTreeMap<String, String>,
    /// `[branding]`, with its theme directory read.
    pub branding: crate::branding::Branding,
    /// `default_locale`, one of `crate::http::i18n::supported()`.
    pub default_locale: String,
}

/// One `[[scopes]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeConfig {
    /// The scope token, as clients ask for it (`photos:read`).
    pub name: String,
    /// What it lets an application do, finishing "APP wants to: …"
    /// (`see your photos`).
    pub description: String,
}

/// The longest `[[scopes]]` description.
const MAX_SCOPE_DESCRIPTION: usize = 200;

/// `[[scopes]]` as a map: each name one RFC 6749 §3.3 scope token, once;
/// each description one line of at most 200 characters.
fn scope_descriptions(list: Vec<ScopeConfig>) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for s in list {
        let one_token =
            frontdesk_core::scope::Scope::parse(&s.name).is_ok_and(|t| t.iter().count() == 1);
        if !one_token {
            bail!(
                "config: [[scopes]] name {:?} is not one scope token",
                s.name
            );
        }
        let description = s.description.trim();
        if description.is_empty()
            || description.chars().count() > MAX_SCOPE_DESCRIPTION
            || description.chars().any(char::is_control)
        {
            bail!(
                "config: [[scopes]] {}: description must be one line of 1 to {MAX_SCOPE_DESCRIPTION} characters",
                s.name
            );
        }
        if out.insert(s.name.clone(), description.to_owned()).is_some() {
            bail!("config: [[scopes]] {} is described twice", s.name);
        }
    }
    Ok(out)
}

/// Where mail goes, validated.
#[derive(Debug)]
pub struct MailSettings {
    /// `None`: the outbox folder.
    pub smtp: Option<SmtpSettings>,
    /// `DATA_DIR/outbox`.
    pub outbox: PathBuf,
    /// The `From` mailbox.
    pub from: lettre::message::Mailbox,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    StartTls,
    Tls,
    None,
}

pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    pub credentials: Option<(String, Zeroizing<String>)>,
    pub timeout: Duration,
    /// PEM of extra trusted CAs.
    pub ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.credentials.as_ref().map(|(u, _)| u))
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Where the key-encryption key comes from.
pub enum KekSource {
    Given(Zeroizing<[u8; 32]>),
    File(PathBuf),
}

impl std::fmt::Debug for KekSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KekSource::Given(_) => f.write_str("Given(..)"),
            KekSource::File(p) => write!(f, "File({})", p.display()),
        }
    }
}

/// Loads file → env → flags and validates.
pub fn load(common: &CommonArgs, serve: &ServeArgs) -> anyhow::Result<Settings> {
    let mut builder = config::Config::builder();
    if let Some(path) = &common.config {
        if !path.exists() {
            bail!("config: file {} does not exist", path.display());
        }
        builder =
            builder.add_source(config::File::from(path.as_path()).format(config::FileFormat::Toml));
    }
    // FRONTDESK_TEST_* variables belong to the test suite, not to the server.
    let env: config::Map<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("FRONTDESK_") && !k.starts_with("FRONTDESK_TEST_"))
        .collect();
    let env_names: Vec<String> = env.keys().cloned().collect();
    builder = builder.add_source(
        config::Environment::with_prefix("FRONTDESK")
            .prefix_separator("_")
            .separator("__")
            .try_parsing(true)
            .list_separator(",")
            .with_list_parse_key("trusted_proxies")
            .with_list_parse_key("account_editable_claims")
            .with_list_parse_key("registration_email_domains")
            .source(Some(env)),
    );
    let overrides: [(&str, Option<String>); 7] = [
        (
            "data_dir",
            common.data_dir.as_ref().map(|p| p.display().to_string()),
        ),
        ("database", common.database.clone()),
        ("log_format", common.log_format.clone()),
        ("listen", serve.listen.clone()),
        ("issuer", serve.issuer.clone()),
        ("admin_listen", serve.admin_listen.clone()),
        ("metrics_listen", serve.metrics_listen.clone()),
    ];
    for (key, value) in overrides {
        if let Some(v) = value {
            builder = builder
                .set_override(key, v)
                .map_err(|e| anyhow!("config: {e}"))?;
        }
    }
    let raw: FileConfig = builder
        .build()
        .and_then(|c| c.try_deserialize())
        .map_err(|e| {
            anyhow!(
                "config: {}",
                name_unknown_variable(&e.to_string(), &env_names)
            )
        })?;
    validate(raw)
}

/// The PostgreSQL pool's size and timeouts, with bounds that keep a node
/// failing fast: a timeout of 0 would fail every request, one above a
/// minute would hold requests past any client's patience.
fn database_options(
    pool_size: Option<u32>,
    acquire_timeout_ms: Option<u64>,
    statement_timeout_ms: Option<u64>,
) -> anyhow::Result<frontdesk_store::DbOptions> {
    let defaults = frontdesk_store::DbOptions::default();
    let pool_size = pool_size.unwrap_or(defaults.pool_size);
    if !(1..=1000).contains(&pool_size) {
        bail!("config: database_pool_size must be 1 to 1000");
    }
    let millis = |name: &str, value: Option<u64>, default: Duration| -> anyhow::Result<Duration> {
        match value {
            None => Ok(default),
            Some(ms @ 100..=60_000) => Ok(Duration::from_millis(ms)),
            Some(_) => bail!("config: {name} must be 100 to 60000 (milliseconds)"),
        }
    };
    Ok(frontdesk_store::DbOptions {
        pool_size,
        acquire_timeout: millis(
            "database_acquire_timeout_ms",
            acquire_timeout_ms,
            defaults.acquire_timeout,
        )?,
        statement_timeout: millis(
            "database_statement_timeout_ms",
            statement_timeout_ms,
            defaults.statement_timeout,
        )?,
    })
}

/// The issuer when none is configured: `http://` on the loopback address
/// and the port the server listens on, so discovery names the port that
/// answers (`serve --listen 127.0.0.1:9000` → `http://127.0.0.1:9000`). An
/// address that is neither loopback nor unspecified, or port 0, cannot
/// name a public issuer: start-up asks for `issuer` then.
fn default_issuer(listen: SocketAddr) -> anyhow::Result<String> {
    let ip = listen.ip();
    if listen.port() == 0 {
        bail!("config: set issuer: it cannot be derived from listen = {listen} (port 0)");
    }
    let host = match ip {
        std::net::IpAddr::V6(v6) if v6.is_loopback() => "[::1]",
        _ if ip.is_loopback() || ip.is_unspecified() => "127.0.0.1",
        _ => bail!(
            "config: set issuer (this server's public URL, https://…): it cannot be derived from listen = {listen}"
        ),
    };
    Ok(format!("http://{host}:{}", listen.port()))
}

/// An unknown setting that came from the environment is named as the
/// variable the operator set (`FRONTDESK_BOGUS`), not as the field serde saw
/// (`bogus`), so it can be found and removed.
fn name_unknown_variable(message: &str, env_names: &[String]) -> String {
    let Some(field) = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next())
    else {
        return message.to_owned();
    };
    let from_env = env_names.iter().find(|name| {
        name.strip_prefix("FRONTDESK_")
            .and_then(|rest| rest.split("__").last())
            .is_some_and(|last| last.eq_ignore_ascii_case(field))
    });
    match from_env {
        Some(name) => format!(
            "unknown environment variable {name}: there is no setting `{field}` (every FRONTDESK_* variable except FRONTDESK_TEST_* is read as a setting)"
        ),
        None => message.to_owned(),
    }
}

fn validate(raw: FileConfig) -> anyhow::Result<Settings> {
    let dpop = dpop_settings(&raw)?;
    let listen = parse_addr("listen", raw.listen.as_deref().unwrap_or("127.0.0.1:8080"))?;
    let issuer = match raw.issuer.as_deref() {
        Some(issuer) => validate_issuer(issuer)?,
        None => validate_issuer(&default_issuer(listen)?)?,
    };
    let admin_listen = parse_addr(
        "admin_listen",
        raw.admin_listen.as_deref().unwrap_or("127.0.0.1:8081"),
    )?;
    let metrics_listen = raw
        .metrics_listen
        .as_deref()
        .map(|a| parse_addr("metrics_listen", a))
        .transpose()?;
    let admin_token = match (raw.admin_token, raw.admin_token_file) {
        (Some(_), Some(_)) => bail!("config: set admin_token or admin_token_file, not both"),
        (Some(t), None) => Some(Zeroizing::new(t)),
        (None, Some(f)) => Some(Zeroizing::new(read_secret_file("admin_token_file", &f)?)),
        (None, None) => None,
    };
    if let Some(t) = &admin_token
        && t.chars().count() < 32
    {
        bail!("config: admin_token must be at least 32 characters");
    }
    let database_options = database_options(
        raw.database_pool_size,
        raw.database_acquire_timeout_ms,
        raw.database_statement_timeout_ms,
    )?;
    let data_dir = raw
        .data_dir
        .unwrap_or_else(|| PathBuf::from("./frontdesk-data"));
    let database = match raw.database {
        Some(d) => {
            if !(d.starts_with("sqlite:")
                || d.starts_with("postgres://")
                || d.starts_with("postgresql://"))
            {
                bail!("config: database must be a sqlite:// or postgres:// URL");
            }
            d
        }
        None => format!("sqlite://{}", data_dir.join("frontdesk.db").display()),
    };
    let kek_source = match (raw.key_encryption_key, raw.key_encryption_key_file) {
        (Some(_), Some(_)) => {
            bail!("config: set key_encryption_key or key_encryption_key_file, not both")
        }
        (Some(k), None) => KekSource::Given(decode_kek("key_encryption_key", &k)?),
        (None, Some(f)) => {
            let text = read_secret_file("key_encryption_key_file", &f)?;
            KekSource::Given(decode_kek("key_encryption_key_file", &text)?)
        }
        (None, None) => KekSource::File(data_dir.join("kek")),
    };
    let json_logs = match raw.log_format.as_deref().unwrap_or("text") {
        "text" => false,
        "json" => true,
        other => bail!("config: log_format must be text or json, not {other:?}"),
    };
    let leeway = positive("leeway_secs", raw.leeway_secs.unwrap_or(10), 0)?;
    let max_token_ttl = positive(
        "max_token_ttl_secs",
        raw.max_token_ttl_secs.unwrap_or(86_400),
        1,
    )?;
    let jwks_max_age = positive("jwks_max_age_secs", raw.jwks_max_age_secs.unwrap_or(300), 0)?;
    let prepublish = positive(
        "key_prepublish_secs",
        raw.key_prepublish_secs.unwrap_or(600),
        0,
    )?;
    let rotation_period = match raw.key_rotation_period_secs {
        None => None,
        Some(p) if p > prepublish => Some(p),
        Some(_) => bail!(
            "config: key_rotation_period_secs must be more than key_prepublish_secs ({prepublish}): a key must sign before its successor is published"
        ),
    };
    let code_ttl = positive("code_ttl_secs", raw.code_ttl_secs.unwrap_or(60), 1)?;
    let id_token_ttl = positive(
        "id_token_ttl_secs",
        raw.id_token_ttl_secs.unwrap_or(3600),
        1,
    )?;
    let session_ttl = positive(
        "session_ttl_secs",
        raw.session_ttl_secs.unwrap_or(86_400),
        1,
    )?;
    let refresh_idle_ttl = positive(
        "refresh_idle_ttl_secs",
        raw.refresh_idle_ttl_secs.unwrap_or(14 * 86_400),
        1,
    )?;
    let refresh_grace = positive("refresh_grace_secs", raw.refresh_grace_secs.unwrap_or(2), 0)?;
    if refresh_grace > frontdesk_core::client::MAX_REFRESH_GRACE_SECS {
        bail!(
            "config: refresh_grace_secs must be at most {}",
            frontdesk_core::client::MAX_REFRESH_GRACE_SECS
        );
    }
    let code_retry_grace = positive(
        "code_retry_grace_secs",
        raw.code_retry_grace_secs.unwrap_or(0),
        0,
    )?;
    if code_retry_grace > frontdesk_core::client::MAX_REFRESH_GRACE_SECS {
        bail!(
            "config: code_retry_grace_secs must be at most {}",
            frontdesk_core::client::MAX_REFRESH_GRACE_SECS
        );
    }
    let device_code_ttl = within(
        "device_code_ttl_secs",
        raw.device_code_ttl_secs.unwrap_or(600),
        60,
        1800,
    )?;
    let device_poll_interval = within(
        "device_poll_interval_secs",
        raw.device_poll_interval_secs.unwrap_or(5),
        1,
        60,
    )?;
    let login_window = positive("login_window_secs", raw.login_window_secs.unwrap_or(900), 1)?;
    let audit_retention_days = positive(
        "audit_retention_days",
        raw.audit_retention_days.unwrap_or(90),
        1,
    )?;
    if audit_retention_days > 36_500 {
        bail!("config: audit_retention_days must be at most 36500");
    }
    let sweep_interval = within(
        "sweep_interval_secs",
        raw.sweep_interval_secs.unwrap_or(600),
        0,
        86_400,
    )?;
    let client_auth_max_failures_per_ip =
        NonZeroU32::new(raw.client_auth_max_failures_per_ip.unwrap_or(60))
            .ok_or_else(|| anyhow!("config: client_auth_max_failures_per_ip must be at least 1"))?;
    let client_auth_failure_window = positive(
        "client_auth_failure_window_secs",
        raw.client_auth_failure_window_secs.unwrap_or(60),
        1,
    )?;
    if client_auth_failure_window > 86_400 {
        bail!("config: client_auth_failure_window_secs must be at most 86400");
    }
    let header_read_timeout = positive(
        "header_read_timeout_secs",
        raw.header_read_timeout_secs.unwrap_or(10),
        1,
    )?;
    // hyper adds the timeout to the clock; an absurd value would overflow.
    if header_read_timeout > 3600 {
        bail!("config: header_read_timeout_secs must be at most 3600");
    }
    let body_read_timeout = positive(
        "body_read_timeout_secs",
        raw.body_read_timeout_secs.unwrap_or(10),
        1,
    )?;
    // tokio adds the timeout to the clock too.
    if body_read_timeout > 3600 {
        bail!("config: body_read_timeout_secs must be at most 3600");
    }
    if id_token_ttl > max_token_ttl {
        bail!("config: id_token_ttl_secs must not exceed max_token_ttl_secs");
    }
    // A new key must be in every cache before it signs: caches keep the
    // JWKS for max-age; nodes (and the one that rotated) reload keys once a
    // second; activation times are whole seconds. Hence max-age + 2.
    if prepublish < jwks_max_age + KEY_PUBLICATION_SLACK_SECS {
        bail!(
            "config: key_prepublish_secs must be at least jwks_max_age_secs + {KEY_PUBLICATION_SLACK_SECS} ({})",
            jwks_max_age + KEY_PUBLICATION_SLACK_SECS
        );
    }
    let require_mfa = match raw.require_mfa.as_deref() {
        None => frontdesk_core::mfa::RequireMfa::default(),
        Some(v) => frontdesk_core::mfa::RequireMfa::parse(v).ok_or_else(|| {
            anyhow!("config: require_mfa must be never, if_enrolled or always (got {v:?})")
        })?,
    };
    let reauth_secs = positive("reauth_secs", raw.reauth_secs.unwrap_or(300), 1)?;
    let account_editable_claims = match &raw.account_editable_claims {
        None => crate::http::account::EDITABLE_CLAIMS.to_vec(),
        Some(list) => {
            let mut out = Vec::new();
            for c in list.iter().map(|c| c.trim()).filter(|c| !c.is_empty()) {
                let known = crate::http::account::EDITABLE_CLAIMS
                    .iter()
                    .find(|k| **k == c)
                    .ok_or_else(|| {
                        anyhow!(
                            "config: account_editable_claims: {c:?} is not one of {}",
                            crate::http::account::EDITABLE_CLAIMS.join(", ")
                        )
                    })?;
                if !out.contains(known) {
                    out.push(*known);
                }
            }
            out
        }
    };
    let defaults = Features::default();
    let features = Features {
        authorization_code: raw
            .features
            .authorization_code
            .unwrap_or(defaults.authorization_code),
        refresh_token: raw.features.refresh_token.unwrap_or(defaults.refresh_token),
        client_credentials: raw
            .features
            .client_credentials
            .unwrap_or(defaults.client_credentials),
        introspection: raw.features.introspection.unwrap_or(defaults.introspection),
        revocation: raw.features.revocation.unwrap_or(defaults.revocation),
        registration: raw.features.registration.unwrap_or(defaults.registration),
        device_authorization: raw
            .features
            .device_authorization
            .unwrap_or(defaults.device_authorization),
    };
    if features.registration && !features.authorization_code {
        bail!(
            "config: features.registration needs features.authorization_code (the sign-in pages)"
        );
    }
    let reset_ttl = within(
        "reset_link_ttl_secs",
        raw.reset_link_ttl_secs.unwrap_or(1800),
        60,
        86_400,
    )?;
    let verify_ttl = within(
        "verify_link_ttl_secs",
        raw.verify_link_ttl_secs.unwrap_or(86_400),
        60,
        30 * 86_400,
    )?;
    let links = LinkPolicy {
        reset_ttl,
        verify_ttl,
        max_per_account: raw.mail_max_per_account.unwrap_or(5),
        max_per_ip: raw.mail_max_per_ip.unwrap_or(20),
        window: login_window,
    };
    let mail = mail_settings(raw.smtp, &data_dir, &issuer)?;
    let email_domains = raw
        .registration_email_domains
        .unwrap_or_default()
        .into_iter()
        .map(|d| d.trim().trim_start_matches('@').to_lowercase())
        .filter(|d| !d.is_empty())
        .collect::<Vec<_>>();
    for d in &email_domains {
        if frontdesk_core::registration::validate_email(&format!("x@{d}")).is_err() {
            bail!("config: registration_email_domains: {d:?} is not a domain name");
        }
    }
    let registration = RegistrationPolicy {
        email_domains,
        max_per_ip: raw.registration_max_per_ip.unwrap_or(10),
        window: login_window,
        // Only when mail really goes out: in outbox mode nobody could
        // follow the link without the operator.
        verify_before_sign_in: mail.smtp.is_some(),
    };
    let upstreams = crate::upstream::validate(raw.upstreams)?;
    let upstream_ids: Vec<&str> = upstreams.iter().map(|u| u.id.as_str()).collect();
    let ldap = crate::ldap::validate(raw.ldap, &upstream_ids)?;
    let scope_descriptions = scope_descriptions(raw.scopes)?;
    let branding = crate::branding::load(raw.branding)?;
    for u in &upstreams {
        crate::upstream::icon_exists(u, |f| crate::branding::is_image(&branding.assets, f))
            .map_err(|e| anyhow!("config: {e}"))?;
    }
    let default_locale = raw.default_locale.unwrap_or_else(|| "en".to_owned());
    if !crate::http::i18n::supported().contains(&default_locale.as_str()) {
        bail!(
            "config: default_locale {default_locale:?} is not one of {}",
            crate::http::i18n::supported().join(", ")
        );
    }
    Ok(Settings {
        issuer,
        listen,
        admin_listen,
        metrics_listen,
        admin_token,
        data_dir,
        database,
        kek_source,
        json_logs,
        log_level: raw.log_level,
        leeway,
        max_token_ttl,
        code_ttl,
        id_token_ttl,
        session_ttl,
        refresh_idle_ttl,
        refresh_grace,
        code_retry_grace,
        device_code_ttl,
        device_poll_interval,
        dpop,
        database_options,
        login_max_failures_per_account: raw.login_max_failures_per_account.unwrap_or(10),
        login_max_failures_per_ip: raw.login_max_failures_per_ip.unwrap_or(50),
        login_window,
        audit_retention: audit_retention_days * 86_400,
        sweep_interval: (sweep_interval > 0)
            .then(|| Duration::from_secs(sweep_interval.unsigned_abs())),
        client_auth_max_failures_per_ip,
        client_auth_throttle_shared: raw.client_auth_throttle_shared.unwrap_or(false),
        client_auth_failure_window: Duration::from_secs(client_auth_failure_window.unsigned_abs()),
        header_read_timeout: Duration::from_secs(header_read_timeout.unsigned_abs()),
        body_read_timeout: Duration::from_secs(body_read_timeout.unsigned_abs()),
        trusted_proxies: crate::client_addr::TrustedProxies::parse(
            raw.trusted_proxies.as_deref().unwrap_or_default(),
        )?,
        require_mfa,
        require_pushed_authorization_requests: raw
            .require_pushed_authorization_requests
            .unwrap_or(false),
        reauth_secs,
        account_editable_claims,
        security_notices: raw.security_notices.unwrap_or(false),
        account_email_change: raw.account_email_change.unwrap_or(true),
        rotation: RotationPolicy {
            jwks_max_age,
            prepublish,
            retain: max_token_ttl + leeway,
            period: rotation_period,
        },
        features,
        clients: raw.clients,
        users: raw.users,
        mail,
        links,
        registration,
        passkeys: raw.features.passkeys,
        upstreams,
        ldap,
        scope_descriptions,
        branding,
        default_locale,
    })
}

fn within(name: &str, v: i64, min: i64, max: i64) -> anyhow::Result<i64> {
    if !(min..=max).contains(&v) {
        bail!("config: {name} must be between {min} and {max}");
    }
    Ok(v)
}

/// `[smtp]`, or the outbox when it is absent.
fn mail_settings(
    smtp: Option<SmtpConfig>,
    data_dir: &Path,
    issuer: &str,
) -> anyhow::Result<MailSettings> {
    let outbox = data_dir.join("outbox");
    let Some(raw) = smtp else {
        // A sender for the files: the issuer's host when it is a domain name.
        let host = url::Url::parse(issuer)
            .ok()
            .and_then(|u| match u.host() {
                Some(url::Host::Domain(d)) if d.contains('.') => Some(d.to_owned()),
                _ => None,
            })
            .unwrap_or_else(|| "localhost".to_owned());
        let from = format!("frontdesk <no-reply@{host}>")
            .parse()
            .map_err(|e| anyhow!("config: cannot make a sender address from the issuer: {e}"))?;
        return Ok(MailSettings {
            smtp: None,
            outbox,
            from,
        });
    };
    let host = raw
        .host
        .filter(|h| !h.trim().is_empty())
        .ok_or_else(|| anyhow!("config: smtp.host is required"))?;
    let from = raw.from.ok_or_else(|| {
        anyhow!("config: smtp.from is required (e.g. \"frontdesk <no-reply@example.com>\")")
    })?;
    let from: lettre::message::Mailbox = from
        .parse()
        .map_err(|e| anyhow!("config: smtp.from {from:?} is not a mail address: {e}"))?;
    let tls = match raw.tls.as_deref().unwrap_or("starttls") {
        "starttls" => SmtpTls::StartTls,
        "tls" => SmtpTls::Tls,
        "none" => SmtpTls::None,
        other => bail!("config: smtp.tls must be starttls, tls or none, not {other:?}"),
    };
    let port = raw.port.unwrap_or(match tls {
        SmtpTls::StartTls => 587,
        SmtpTls::Tls => 465,
        SmtpTls::None => 25,
    });
    let password = match (raw.password, raw.password_file) {
        (Some(_), Some(_)) => bail!("config: set smtp.password or smtp.password_file, not both"),
        (Some(p), None) => Some(Zeroizing::new(p)),
        (None, Some(f)) => Some(Zeroizing::new(read_secret_file("smtp.password_file", &f)?)),
        (None, None) => None,
    };
    let credentials = match (raw.username, password) {
        (Some(u), Some(p)) => Some((u, p)),
        (None, None) => None,
        _ => bail!("config: smtp.username and a password go together"),
    };
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if tls == SmtpTls::None && credentials.is_some() && !loopback {
        bail!(
            "config: smtp.tls = \"none\" would send the SMTP password in the clear; use starttls or tls (none with credentials is for a relay on a loopback address only)"
        );
    }
    let timeout = within("smtp.timeout_secs", raw.timeout_secs.unwrap_or(10), 1, 60)?;
    let ca_pem = raw
        .ca_file
        .map(|f| {
            std::fs::read(&f)
                .with_context(|| format!("config: smtp.ca_file {} cannot be read", f.display()))
        })
        .transpose()?;
    Ok(MailSettings {
        smtp: Some(SmtpSettings {
            host,
            port,
            tls,
            credentials,
            timeout: Duration::from_secs(timeout.unsigned_abs()),
            ca_pem,
        }),
        outbox,
        from,
    })
}

/// OIDC Core §1.2 / RFC 8414 §2: an https URL with no query or fragment.
/// Plain http is accepted on loopback hosts for development.
fn validate_issuer(issuer: &str) -> anyhow::Result<String> {
    let bad = |why: &str| anyhow!("config: issuer {issuer:?} {why}");
    let url = url::Url::parse(issuer).map_err(|_| bad("is not an absolute URL"))?;
    if url.query().is_some()
        || url.fragment().is_some()
        || issuer.contains('?')
        || issuer.contains('#')
    {
        return Err(bad("must not have a query or fragment"));
    }
    let loopback = matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
        || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
        || url.host_str() == Some("localhost");
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err(bad("must use https (http is allowed on loopback only)")),
    }
    Ok(issuer.trim_end_matches('/').to_owned())
}

fn parse_addr(name: &str, value: &str) -> anyhow::Result<SocketAddr> {
    value
        .parse()
        .map_err(|_| anyhow!("config: {name} {value:?} is not an IP:port address"))
}

fn positive(name: &str, v: i64, min: i64) -> anyhow::Result<i64> {
    if v < min {
        bail!("config: {name} must be at least {min}");
    }
    Ok(v)
}

fn read_secret_file(name: &str, path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("config: {name} {} cannot be read", path.display()))?;
    Ok(text.trim().to_owned())
}

/// A 32-byte key in base64url (no padding) or standard base64.
pub fn decode_kek(name: &str, text: &str) -> anyhow::Result<Zeroizing<[u8; 32]>> {
    let text = text.trim();
    let bytes = Zeroizing::new(
        URL_SAFE_NO_PAD
            .decode(text)
            .or_else(|_| STANDARD.decode(text))
            .map_err(|_| anyhow!("config: {name} is not base64"))?,
    );
    let arr: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| anyhow!("config: {name} must decode to exactly 32 bytes"))?;
    Ok(Zeroizing::new(arr))
}

/// The `dpop_*` keys: algorithms from our four, bounded windows.
fn dpop_settings(raw: &FileConfig) -> anyhow::Result<frontdesk_core::dpop::DpopSettings> {
    let mut dpop = frontdesk_core::dpop::DpopSettings::default();
    if let Some(names) = &raw.dpop_signing_alg_values_supported {
        let mut algorithms = Vec::new();
        for name in names {
            let alg: frontdesk_jose::Algorithm = name.parse().map_err(|_| {
                anyhow!(
                    "config: dpop_signing_alg_values_supported: {name:?} is not one of ES256, EdDSA, PS256, RS256"
                )
            })?;
            if !algorithms.contains(&alg) {
                algorithms.push(alg);
            }
        }
        if algorithms.is_empty() {
            bail!("config: dpop_signing_alg_values_supported may not be empty");
        }
        dpop.algorithms = algorithms;
    }
    let within = |key: &str, v: Option<i64>, default: i64, min: i64, max: i64| {
        let v = v.unwrap_or(default);
        if (min..=max).contains(&v) {
            Ok(v)
        } else {
            Err(anyhow!("config: {key} must be {min} to {max}"))
        }
    };
    dpop.max_age = within(
        "dpop_proof_max_age_secs",
        raw.dpop_proof_max_age_secs,
        dpop.max_age,
        10,
        3600,
    )?;
    dpop.nonce_lifetime = within(
        "dpop_nonce_lifetime_secs",
        raw.dpop_nonce_lifetime_secs,
        dpop.nonce_lifetime,
        30,
        3600,
    )?;
    dpop.use_nonce = raw.use_dpop_nonce.unwrap_or(false);
    Ok(dpop)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn issuer_rules() {
        assert_eq!(
            validate_issuer("https://id.example.com/").unwrap(),
            "https://id.example.com"
        );
        assert!(validate_issuer("http://127.0.0.1:8080").is_ok());
        assert!(validate_issuer("http://id.example.com").is_err());
        assert!(validate_issuer("https://id.example.com?x=1").is_err());
        assert!(validate_issuer("nonsense").is_err());
    }

    /// `text` as a configuration file, through the same loader as `load`.
    fn from_toml(text: &str) -> FileConfig {
        config::Config::builder()
            .add_source(config::File::from_str(text, config::FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize())
            .unwrap()
    }

    #[test]
    fn scope_descriptions_are_one_token_and_one_line_each() {
        let s = validate(from_toml(
            "[[scopes]]\nname = \"photos:read\"\ndescription = \" see your photos \"\n",
        ))
        .unwrap();
        assert_eq!(
            s.scope_descriptions.get("photos:read").map(String::as_str),
            Some("see your photos")
        );
        for (entry, why) in [
            (
                "name = \"a b\"\ndescription = \"x\"",
                "is not one scope token",
            ),
            ("name = \"\"\ndescription = \"x\"", "is not one scope token"),
            (
                "name = \"a\"\ndescription = \"  \"",
                "description must be one line",
            ),
            (
                "name = \"a\"\ndescription = \"two\\nlines\"",
                "description must be one line",
            ),
            (
                "name = \"a\"\ndescription = \"x\"\nicon = \"y\"",
                "unknown field",
            ),
        ] {
            let text = format!("[[scopes]]\n{entry}\n");
            let parsed = config::Config::builder()
                .add_source(config::File::from_str(&text, config::FileFormat::Toml))
                .build()
                .and_then(|c| c.try_deserialize::<FileConfig>());
            let err = match parsed {
                Err(e) => e.to_string(),
                Ok(raw) => validate(raw).map(|_| ()).unwrap_err().to_string(),
            };
            assert!(err.contains(why), "{entry}: {err}");
        }
        let twice = "[[scopes]]\nname = \"a\"\ndescription = \"x\"\n[[scopes]]\nname = \"a\"\ndescription = \"y\"\n";
        let err = validate(from_toml(twice))
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(err.contains("described twice"), "{err}");
    }

    #[test]
    fn ldap_tables_are_read_and_share_the_upstreams_namespace() {
        let directory = r#"
[[ldap]]
id = "corp"
display_name = "Corp Directory"
url = "ldaps://ldap.example.com:636"
bind_dn = "cn=reader,dc=example,dc=com"
bind_password = "reader-secret"
user_base = "ou=people,dc=example,dc=com"
user_filter = "(&(objectClass=inetOrgPerson)(uid={username}))"
subject_attribute = "entryUUID"
email_verified = false
provision = false
"#;
        let s = validate(from_toml(directory)).unwrap();
        assert_eq!(s.ldap.len(), 1);
        let d = &s.ldap[0];
        assert_eq!(d.id, "corp");
        assert_eq!(d.display_name, "Corp Directory");
        assert_eq!(d.transport, crate::ldap::Transport::Ldaps);
        assert_eq!(
            d.user_filter,
            "(&(objectClass=inetOrgPerson)(uid={username}))"
        );
        assert!(!d.email_verified);
        assert!(!d.policy.provision);
        assert!(validate(FileConfig::default()).unwrap().ldap.is_empty());

        let upstream = r#"
[[upstreams]]
id = "corp"
display_name = "Corp SSO"
issuer = "https://sso.example.com"
client_id = "frontdesk"
client_secret = "upstream-secret"
"#;
        let both = from_toml(&format!("{upstream}\n{directory}"));
        let e = validate(both).unwrap_err().to_string();
        assert!(e.contains("already an upstream's id"), "{e}");

        let unknown = config::Config::builder()
            .add_source(config::File::from_str(
                "[[ldap]]\nid = \"x\"\nurl = \"ldap://127.0.0.1\"\nuser_base = \"dc=x\"\nbind_pasword = \"typo\"\n",
                config::FileFormat::Toml,
            ))
            .build()
            .and_then(|c| c.try_deserialize::<FileConfig>());
        assert!(unknown.is_err(), "unknown keys are refused");
    }

    fn smtp(f: impl FnOnce(&mut SmtpConfig)) -> FileConfig {
        let mut c = SmtpConfig {
            host: Some("smtp.example.com".into()),
            from: Some("frontdesk <no-reply@example.com>".into()),
            ..SmtpConfig::default()
        };
        f(&mut c);
        FileConfig {
            smtp: Some(c),
            ..FileConfig::default()
        }
    }

    #[test]
    fn smtp_rules() {
        let s = validate(smtp(|_| {})).unwrap();
        let t = s.mail.smtp.unwrap();
        assert_eq!(
            (t.port, t.tls, t.timeout),
            (587, SmtpTls::StartTls, Duration::from_secs(10))
        );
        assert!(
            s.registration.verify_before_sign_in,
            "with SMTP, verify first"
        );
        let port = |tls: &str| {
            validate(smtp(|c| c.tls = Some(tls.into())))
                .unwrap()
                .mail
                .smtp
                .unwrap()
                .port
        };
        assert_eq!((port("tls"), port("none")), (465, 25));
        let refused: [(&str, FileConfig, &str); 8] = [
            ("no host", smtp(|c| c.host = None), "smtp.host is required"),
            ("no from", smtp(|c| c.from = None), "smtp.from is required"),
            (
                "bad from",
                smtp(|c| c.from = Some("not an address".into())),
                "is not a mail address",
            ),
            (
                "bad tls",
                smtp(|c| c.tls = Some("ssl".into())),
                "smtp.tls must be starttls, tls or none",
            ),
            (
                "user without password",
                smtp(|c| c.username = Some("u".into())),
                "go together",
            ),
            (
                "a password in the clear to another host",
                smtp(|c| {
                    c.tls = Some("none".into());
                    c.username = Some("u".into());
                    c.password = Some("p".into());
                }),
                "in the clear",
            ),
            (
                "timeout 0",
                smtp(|c| c.timeout_secs = Some(0)),
                "smtp.timeout_secs must be between 1 and 60",
            ),
            (
                "registration without sign-in pages",
                FileConfig {
                    features: FeaturesConfig {
                        authorization_code: Some(false),
                        registration: Some(true),
                        ..FeaturesConfig::default()
                    },
                    ..FileConfig::default()
                },
                "features.registration needs features.authorization_code",
            ),
        ];
        for (what, raw, says) in refused {
            let e = validate(raw)
                .err()
                .unwrap_or_else(|| panic!("{what} accepted"));
            assert!(e.to_string().contains(says), "{what}: {e}");
        }
        // A relay on loopback may take a password without TLS.
        for host in ["127.0.0.1", "localhost", "[::1]"] {
            validate(smtp(|c| {
                c.host = Some(host.into());
                c.tls = Some("none".into());
                c.username = Some("u".into());
                c.password = Some("p".into());
            }))
            .unwrap();
        }
    }

    #[test]
    fn mail_defaults_without_smtp() {
        let s = validate(FileConfig::default()).unwrap();
        assert!(s.mail.smtp.is_none());
        assert_eq!(s.mail.outbox, PathBuf::from("./frontdesk-data/outbox"));
        assert_eq!(s.mail.from.to_string(), "frontdesk <no-reply@localhost>");
        assert!(
            !s.registration.verify_before_sign_in,
            "outbox mode: no one could verify"
        );
        assert_eq!((s.links.reset_ttl, s.links.verify_ttl), (1800, 86_400));
        assert_eq!((s.links.max_per_account, s.links.max_per_ip), (5, 20));
        assert!(!s.features.registration, "registration is off by default");
        let s = validate(FileConfig {
            issuer: Some("https://id.example.com".into()),
            registration_email_domains: Some(vec![" Example.COM ".into(), "@corp.example".into()]),
            ..FileConfig::default()
        })
        .unwrap();
        assert_eq!(
            s.mail.from.to_string(),
            "frontdesk <no-reply@id.example.com>"
        );
        assert_eq!(
            s.registration.email_domains,
            ["example.com", "corp.example"]
        );
        for ttl in [59, 86_401] {
            let e = validate(FileConfig {
                reset_link_ttl_secs: Some(ttl),
                ..FileConfig::default()
            })
            .err()
            .unwrap();
            assert!(
                e.to_string()
                    .contains("reset_link_ttl_secs must be between 60 and 86400"),
                "{e}"
            );
        }
        let e = validate(FileConfig {
            registration_email_domains: Some(vec!["not a domain".into()]),
            ..FileConfig::default()
        })
        .err()
        .unwrap();
        assert!(e.to_string().contains("is not a domain name"), "{e}");
    }

    #[test]
    fn database_options_and_code_retry_default_and_bounds() {
        let s = validate(FileConfig::default()).unwrap();
        assert_eq!(s.database_options, frontdesk_store::DbOptions::default());
        assert_eq!(s.database_options.acquire_timeout, Duration::from_secs(2));
        assert_eq!(s.database_options.statement_timeout, Duration::from_secs(5));
        assert_eq!(
            s.code_retry_grace, 0,
            "off unless asked for (RFC 6749 §4.1.2)"
        );
        let cases: [(FileConfig, Option<&str>); 8] = [
            (
                FileConfig {
                    database_pool_size: Some(0),
                    ..FileConfig::default()
                },
                Some("database_pool_size"),
            ),
            (
                FileConfig {
                    database_pool_size: Some(1),
                    ..FileConfig::default()
                },
                None,
            ),
            (
                FileConfig {
                    database_acquire_timeout_ms: Some(99),
                    ..FileConfig::default()
                },
                Some("database_acquire_timeout_ms"),
            ),
            (
                FileConfig {
                    database_acquire_timeout_ms: Some(100),
                    ..FileConfig::default()
                },
                None,
            ),
            (
                FileConfig {
                    database_statement_timeout_ms: Some(60_001),
                    ..FileConfig::default()
                },
                Some("database_statement_timeout_ms"),
            ),
            (
                FileConfig {
                    database_statement_timeout_ms: Some(60_000),
                    ..FileConfig::default()
                },
                None,
            ),
            (
                FileConfig {
                    code_retry_grace_secs: Some(61),
                    ..FileConfig::default()
                },
                Some("code_retry_grace_secs"),
            ),
            (
                FileConfig {
                    code_retry_grace_secs: Some(-1),
                    ..FileConfig::default()
                },
                Some("code_retry_grace_secs"),
            ),
        ];
        for (raw, refused) in cases {
            match (validate(raw), refused) {
                (Ok(_), None) => {}
                (Err(e), Some(key)) => assert!(e.to_string().contains(key), "{e}"),
                (Ok(_), Some(key)) => panic!("{key}: accepted"),
                (Err(e), None) => panic!("refused: {e}"),
            }
        }
    }

    #[test]
    fn read_timeouts_default_and_bounds() {
        let s = validate(FileConfig::default()).unwrap();
        assert_eq!(s.header_read_timeout, Duration::from_secs(10));
        assert_eq!(s.body_read_timeout, Duration::from_secs(10));
        type Set = fn(&mut FileConfig, i64);
        type Get = fn(&Settings) -> Duration;
        let knobs: [(&str, Set, Get); 2] = [
            (
                "header_read_timeout_secs",
                |c, v| c.header_read_timeout_secs = Some(v),
                |s| s.header_read_timeout,
            ),
            (
                "body_read_timeout_secs",
                |c, v| c.body_read_timeout_secs = Some(v),
                |s| s.body_read_timeout,
            ),
        ];
        for (name, set, get) in knobs {
            for (v, ok) in [
                (0, false),
                (1, true),
                (3600, true),
                (3601, false),
                (-5, false),
            ] {
                let mut raw = FileConfig::default();
                set(&mut raw, v);
                match validate(raw) {
                    Ok(s) => {
                        assert!(ok, "{name} = {v} accepted");
                        assert_eq!(get(&s), Duration::from_secs(v.unsigned_abs()), "{name}");
                    }
                    Err(e) => {
                        assert!(!ok, "{name} = {v} refused: {e}");
                        assert!(e.to_string().contains(name), "{e}");
                    }
                }
            }
        }
    }

    #[test]
    fn sweep_interval_default_off_and_bounds() {
        let s = validate(FileConfig::default()).unwrap();
        assert_eq!(s.sweep_interval, Some(Duration::from_secs(600)));
        for (v, want) in [
            (0, Ok(None)),
            (1, Ok(Some(1))),
            (86_400, Ok(Some(86_400))),
            (86_401, Err(())),
            (-1, Err(())),
        ] {
            let raw = FileConfig {
                sweep_interval_secs: Some(v),
                ..FileConfig::default()
            };
            match (validate(raw), want) {
                (Ok(s), Ok(want)) => assert_eq!(
                    s.sweep_interval,
                    want.map(Duration::from_secs),
                    "sweep_interval_secs = {v}"
                ),
                (Err(e), Err(())) => assert!(e.to_string().contains("sweep_interval_secs"), "{e}"),
                (got, want) => panic!("sweep_interval_secs = {v}: {got:?}, wanted {want:?}"),
            }
        }
    }

    #[test]
    fn audit_retention_default_and_bounds() {
        let s = validate(FileConfig::default()).unwrap();
        assert_eq!(s.audit_retention, 90 * 86_400);
        for (v, ok) in [
            (0, false),
            (1, true),
            (36_500, true),
            (36_501, false),
            (-1, false),
        ] {
            let raw = FileConfig {
                audit_retention_days: Some(v),
                ..FileConfig::default()
            };
            match validate(raw) {
                Ok(s) => {
                    assert!(ok, "{v} accepted");
                    assert_eq!(s.audit_retention, v * 86_400);
                }
                Err(e) => {
                    assert!(!ok, "{v} refused: {e}");
                    assert!(e.to_string().contains("audit_retention_days"), "{e}");
                }
            }
        }
    }
}
