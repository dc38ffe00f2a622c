//! LDAP directories at the login page (`[[ldap]]`): the password form's
//! password checked by a bind as the user's directory entry, through the
//! `ldap3` crate (tokio; TLS by rustls on aws-lc-rs).
//!
//! This module owns the configuration and the I/O; the rules are core's
//! (`frontdesk_core::login::check_login`: the throttle counted before any
//! directory is asked, never an empty password, an outage failing closed
//! without counting against the user; `frontdesk_core::upstream::resolve`:
//! which account the entry signs in to). One attempt is one connection:
//!
//! 1. connect (`ldap://`, `ldap://` + StartTLS, or `ldaps://`), then bind
//!    as the service account (or stay anonymous);
//! 2. search `user_base` with `user_filter`, the typed name escaped per
//!    RFC 4515 §3, for at most two entries: none → the next directory,
//!    two → refused as ambiguous;
//! 3. bind as the one entry's DN with the typed password (invalid
//!    credentials, result 49, is a failed login);
//! 4. the entry's groups (its `memberOf`-style attribute, or a group
//!    search as the service account).
//!
//! Every step is bounded by `timeout_secs`. Anything else the directory
//! does — no answer, a TLS failure, an unexpected result code — makes the
//! directory unavailable for that attempt: the caller shows a 503 and
//! never tries anything else.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail};
use frontdesk_core::login::{DirectoryAnswer, DirectoryUser};
use frontdesk_core::model::UserClaims;
use frontdesk_core::upstream::{Identity, Policy};
use ldap3::{LdapConnAsync, LdapConnSettings, LdapError, Scope, SearchEntry, SearchOptions};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde::Deserialize;
use zeroize::Zeroizing;

/// RFC 4511 §4.1.9 result codes this module tells apart.
const SUCCESS: u32 = 0;
const SIZE_LIMIT_EXCEEDED: u32 = 4;
const INVALID_CREDENTIALS: u32 = 49;
/// What some servers answer a user's bind with instead of 49: a password
/// policy's retry limit (19, constraintViolation), an account they will
/// not serve (50, insufficientAccessRights; 53, unwillingToPerform — 389
/// Directory Server's "account inactivated"). The user's refusal, counted,
/// not an outage.
const USER_REFUSED: [u32; 3] = [19, 50, 53];

/// Typed names longer than this never reach a directory.
const MAX_LOGIN_LEN: usize = 256;

/// Groups read from one group search, at most.
const MAX_GROUPS: i32 = 1000;

/// One `[[ldap]]` table, as written.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LdapConfig {
    /// `[a-z0-9_-]{1,32}`, unique among directories and upstreams: the
    /// directory's name in the link table, sessions and the audit trail.
    pub id: String,
    /// Shown in the session list. Default: the id.
    pub display_name: Option<String>,
    /// `ldap://HOST[:PORT]` or `ldaps://HOST[:PORT]`.
    pub url: String,
    /// Upgrade `ldap://` with StartTLS (RFC 4511 §4.14). Default false.
    pub starttls: Option<bool>,
    /// Extra trusted CA certificate(s), PEM, besides the system's.
    pub ca_file: Option<PathBuf>,
    /// Connect and per-operation timeout, seconds. Default 5, 1 to 60.
    pub timeout_secs: Option<i64>,
    /// The service account that searches. Default: anonymous search.
    pub bind_dn: Option<String>,
    pub bind_password: Option<String>,
    pub bind_password_file: Option<PathBuf>,
    /// Where users are searched (subtree). Required.
    pub user_base: Option<String>,
    /// Default `(uid={username})`; `{username}` is the typed name, escaped.
    pub user_filter: Option<String>,
    /// The entry's stable key (the link's subject). Default `entryUUID`.
    pub subject_attribute: Option<String>,
    /// `text` (default), `hex` or `guid` (binary values such as Active
    /// Directory's `objectGUID`).
    pub subject_format: Option<String>,
    /// Default `uid`.
    pub username_attribute: Option<String>,
    /// Default `mail`.
    pub email_attribute: Option<String>,
    /// Default `cn`.
    pub name_attribute: Option<String>,
    /// The directory's addresses count as verified. Default true.
    pub email_verified: Option<bool>,
    /// Group DNs on the user's entry. Default `memberOf` (unless
    /// `group_base` is set).
    pub group_attribute: Option<String>,
    /// A group search instead: its base and filter (`{dn}`: the user's
    /// DN, escaped), e.g. `(member={dn})`.
    pub group_base: Option<String>,
    pub group_filter: Option<String>,
    /// Put in front of each group's name here (`corp:staff`). Default the
    /// id and `:`; `""` maps the directory's groups onto groups that exist
    /// here by name (see the README: that trusts the directory with them).
    pub group_prefix: Option<String>,
    /// Create an account at the first sign-in. Default true.
    pub provision: Option<bool>,
}

impl std::fmt::Debug for LdapConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapConfig")
            .field("id", &self.id)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// How the connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// `ldap://` on a loopback address.
    Plain,
    /// `ldap://` upgraded with StartTLS before anything else is sent.
    StartTls,
    /// `ldaps://`: TLS from the first byte.
    Ldaps,
}

/// How the subject attribute's value becomes the link's subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubjectFormat {
    /// A text value, as it is.
    Text,
    /// The value's bytes in lowercase hex.
    Hex,
    /// A 16-byte GUID in Microsoft's text form (the first three fields
    /// little-endian), as Active Directory tools show `objectGUID`.
    Guid,
}

/// Where a user's groups come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Groups {
    /// An attribute of the user's entry whose values are group DNs.
    Attribute(String),
    /// A subtree search under `base` with `filter` (`{dn}` replaced).
    Search { base: String, filter: String },
}

/// The entry attributes that are read.
#[derive(Debug, Clone)]
pub struct Attributes {
    pub subject: String,
    pub subject_format: SubjectFormat,
    pub username: String,
    pub email: String,
    pub name: String,
}

/// One directory, validated.
#[derive(Clone)]
pub struct Directory {
    pub id: String,
    pub display_name: String,
    url: String,
    pub transport: Transport,
    tls: Option<Arc<rustls::ClientConfig>>,
    pub timeout: Duration,
    service: Option<(String, Zeroizing<String>)>,
    pub user_base: String,
    pub user_filter: String,
    pub attributes: Attributes,
    pub email_verified: bool,
    pub groups: Groups,
    /// What the directory's group names get in front of them here.
    pub group_prefix: String,
    pub policy: Policy,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("transport", &self.transport)
            .field("bind_dn", &self.service.as_ref().map(|(dn, _)| dn))
            .field("user_base", &self.user_base)
            .finish_non_exhaustive()
    }
}

fn valid_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// An attribute description as RFC 4512 §2.5 writes one: a name (letter,
/// then letters, digits, hyphens) or a numeric OID, with `;options`.
fn valid_attribute(a: &str) -> bool {
    let mut parts = a.split(';');
    let base = parts.next().unwrap_or_default();
    let name = base.starts_with(|c: char| c.is_ascii_alphabetic())
        && base.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    let oid = !base.is_empty()
        && base
            .split('.')
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    (name || oid)
        && parts.all(|o| !o.is_empty() && o.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

/// `template` with `placeholder` replaced by `value` escaped per RFC 4515
/// §3 (`*`, `(`, `)`, `\` and NUL as `\XX`), in one pass: what is put in
/// is never read as a placeholder again.
pub fn fill_filter(template: &str, placeholder: &str, value: &str) -> String {
    template.replace(placeholder, &ldap3::ldap_escape(value))
}

/// The user search filter for the typed name.
pub fn user_filter(template: &str, username: &str) -> String {
    fill_filter(template, "{username}", username)
}

/// A filter template: it names `placeholder` and, filled in, parses.
fn check_filter(name: &str, key: &str, template: &str, placeholder: &str) -> anyhow::Result<()> {
    if !template.contains(placeholder) {
        bail!("config: {name}: {key} must contain {placeholder}");
    }
    if ldap3::parse_filter(fill_filter(template, placeholder, "x*()\\")).is_err() {
        bail!("config: {name}: {key} {template:?} is not an LDAP filter (RFC 4515)");
    }
    Ok(())
}

/// Whether `url` names this machine. (`ldap:` is not a special scheme to
/// the URL standard, so an IPv4 address arrives as an opaque host name.)
fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => {
            d.eq_ignore_ascii_case("localhost")
                || d.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        None => false,
    }
}

/// The TLS client of a directory: the system's trust store plus the PEM
/// certificates of `ca_pem`, rustls on aws-lc-rs.
fn tls_client(name: &str, ca_pem: Option<&[u8]>) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let extra = match ca_pem {
        None => Vec::new(),
        Some(pem) => {
            let certs = CertificateDer::pem_slice_iter(pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| anyhow!("config: {name}: ca_file is not PEM: {e}"))?;
            if certs.is_empty() {
                bail!("config: {name}: ca_file holds no certificate");
            }
            certs
        }
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra, Arc::clone(&provider))
            .map_err(|e| anyhow!("config: {name}: the TLS trust store: {e}"))?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow!("config: {name}: TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Validates the `[[ldap]]` tables; `upstream_ids` are the ids of the
/// `[[upstreams]]`, which directory ids may not repeat (one namespace in
/// the link table).
///
/// # Errors
/// The first problem, naming the directory and the key.
pub fn validate(raw: Vec<LdapConfig>, upstream_ids: &[&str]) -> anyhow::Result<Vec<Directory>> {
    let mut out: Vec<Directory> = Vec::new();
    for d in raw {
        let name = format!("ldap[{}]", d.id);
        if !valid_id(&d.id) {
            bail!(
                "config: directory id {:?} must be 1-32 of a-z, 0-9, - and _",
                d.id
            );
        }
        if out.iter().any(|o| o.id == d.id) {
            bail!("config: directory id {:?} is used twice", d.id);
        }
        if upstream_ids.contains(&d.id.as_str()) {
            bail!(
                "config: {name}: {:?} is already an upstream's id; upstreams and directories need different ids",
                d.id
            );
        }
        let display_name = d
            .display_name
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| d.id.clone());
        let url = url::Url::parse(&d.url)
            .map_err(|e| anyhow!("config: {name}: url {:?} is not a URL: {e}", d.url))?;
        if url.host_str().is_none_or(str::is_empty) {
            bail!("config: {name}: url {:?} must name a host", d.url);
        }
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            bail!(
                "config: {name}: url {:?} must be scheme://host[:port] only (the base and filter are user_base and user_filter)",
                d.url
            );
        }
        if !url.username().is_empty() || url.password().is_some() {
            bail!("config: {name}: url must not carry credentials (use bind_dn)");
        }
        let starttls = d.starttls.unwrap_or(false);
        let transport = match (url.scheme(), starttls) {
            ("ldaps", true) => bail!(
                "config: {name}: starttls is for ldap:// URLs; ldaps:// is TLS from the start"
            ),
            ("ldaps", false) => Transport::Ldaps,
            ("ldap", true) => Transport::StartTls,
            ("ldap", false) if is_loopback(&url) => Transport::Plain,
            ("ldap", false) => bail!(
                "config: {name}: url {:?} would send passwords in the clear; use ldaps:// or starttls = true (plain ldap:// is for a directory on a loopback address only)",
                d.url
            ),
            (other, _) => bail!("config: {name}: url must be ldap:// or ldaps://, not {other}://"),
        };
        let ca_pem = d
            .ca_file
            .map(|f| {
                std::fs::read(&f).map_err(|e| {
                    anyhow!(
                        "config: {name}: ca_file {} cannot be read: {e}",
                        f.display()
                    )
                })
            })
            .transpose()?;
        let tls = match transport {
            Transport::Plain => {
                if ca_pem.is_some() {
                    bail!("config: {name}: ca_file needs ldaps:// or starttls = true");
                }
                None
            }
            Transport::StartTls | Transport::Ldaps => Some(tls_client(&name, ca_pem.as_deref())?),
        };
        let timeout = d.timeout_secs.unwrap_or(5);
        if !(1..=60).contains(&timeout) {
            bail!("config: {name}: timeout_secs must be between 1 and 60");
        }
        let password = match (d.bind_password, d.bind_password_file) {
            (Some(_), Some(_)) => {
                bail!("config: {name}: set bind_password or bind_password_file, not both")
            }
            (Some(p), None) => Some(Zeroizing::new(p)),
            (None, Some(f)) => Some(Zeroizing::new(
                std::fs::read_to_string(&f)
                    .map_err(|e| {
                        anyhow!(
                            "config: {name}: bind_password_file {} cannot be read: {e}",
                            f.display()
                        )
                    })?
                    .trim()
                    .to_owned(),
            )),
            (None, None) => None,
        };
        let service = match (d.bind_dn, password) {
            (Some(dn), Some(pw)) => {
                if dn.trim().is_empty() {
                    bail!("config: {name}: bind_dn is empty");
                }
                // A name with an empty password is an unauthenticated bind
                // (RFC 4513 §5.1.2), which many servers let through.
                if pw.is_empty() {
                    bail!("config: {name}: the bind password is empty");
                }
                Some((dn, pw))
            }
            (None, None) => None,
            (Some(_), None) => {
                bail!("config: {name}: bind_dn needs bind_password or bind_password_file")
            }
            (None, Some(_)) => bail!("config: {name}: a bind password needs bind_dn"),
        };
        let user_base = d
            .user_base
            .filter(|b| !b.trim().is_empty())
            .ok_or_else(|| anyhow!("config: {name}: user_base is required"))?;
        let user_filter = d
            .user_filter
            .unwrap_or_else(|| "(uid={username})".to_owned());
        check_filter(&name, "user_filter", &user_filter, "{username}")?;
        let attribute = |key: &str, v: Option<String>, default: &str| -> anyhow::Result<String> {
            let a = v.unwrap_or_else(|| default.to_owned());
            if !valid_attribute(&a) {
                bail!("config: {name}: {key} {a:?} is not an attribute name");
            }
            Ok(a)
        };
        let subject_format = match d.subject_format.as_deref().unwrap_or("text") {
            "text" => SubjectFormat::Text,
            "hex" => SubjectFormat::Hex,
            "guid" => SubjectFormat::Guid,
            other => {
                bail!("config: {name}: subject_format must be text, hex or guid, not {other:?}")
            }
        };
        let attributes = Attributes {
            subject: attribute("subject_attribute", d.subject_attribute, "entryUUID")?,
            subject_format,
            username: attribute("username_attribute", d.username_attribute, "uid")?,
            email: attribute("email_attribute", d.email_attribute, "mail")?,
            name: attribute("name_attribute", d.name_attribute, "cn")?,
        };
        let groups = match (d.group_attribute, d.group_base, d.group_filter) {
            (None, Some(base), Some(filter)) => {
                if base.trim().is_empty() {
                    bail!("config: {name}: group_base is empty");
                }
                check_filter(&name, "group_filter", &filter, "{dn}")?;
                Groups::Search { base, filter }
            }
            (attr, None, None) => {
                Groups::Attribute(attribute("group_attribute", attr, "memberOf")?)
            }
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                bail!("config: {name}: set group_attribute or group_base + group_filter, not both")
            }
            (None, _, _) => bail!("config: {name}: group_base and group_filter go together"),
        };
        let group_prefix = crate::upstream::group_prefix(&name, &d.id, d.group_prefix)
            .map_err(|e| anyhow!("config: {e}"))?;
        out.push(Directory {
            id: d.id,
            display_name,
            url: d.url,
            transport,
            tls,
            timeout: Duration::from_secs(timeout.unsigned_abs()),
            service,
            user_base,
            user_filter,
            attributes,
            email_verified: d.email_verified.unwrap_or(true),
            groups,
            group_prefix,
            policy: Policy {
                provision: d.provision.unwrap_or(true),
                link_by_email: false,
            },
        });
    }
    Ok(out)
}

/// Why a directory could not answer an attempt.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("connecting: {0}")]
    Connect(Box<LdapError>),
    #[error("{op}: {source}")]
    Protocol {
        op: &'static str,
        source: Box<LdapError>,
    },
    #[error("{op}: result code {rc} ({text})")]
    Refused {
        op: &'static str,
        rc: u32,
        text: String,
    },
    #[error("{0}: the directory sent an entry that cannot be read")]
    Malformed(&'static str),
}

/// What one directory said about a login.
#[derive(Debug)]
enum Found {
    /// No entry matches the name: ask the next directory.
    Nobody,
    /// The password is wrong, or the name cannot be signed in to.
    Rejected,
    Verified(Box<DirectoryUser>),
}

/// The configured directories, asked in order.
#[derive(Debug, Default)]
pub struct Directories {
    list: Vec<Directory>,
}

impl Directories {
    pub fn new(list: Vec<Directory>) -> Directories {
        Directories { list }
    }

    /// The group prefix of directory `id`.
    pub fn group_prefix(&self, id: &str) -> Option<&str> {
        self.list
            .iter()
            .find(|d| d.id == id)
            .map(|d| d.group_prefix.as_str())
    }

    /// The display name of directory `id`.
    pub fn display_name(&self, id: &str) -> Option<&str> {
        self.list
            .iter()
            .find(|d| d.id == id)
            .map(|d| d.display_name.as_str())
    }
}

impl frontdesk_core::login::Directories for Directories {
    fn configured(&self) -> bool {
        !self.list.is_empty()
    }

    fn owns(&self, id: &str) -> bool {
        self.list.iter().any(|d| d.id == id)
    }

    async fn check(&self, login: &str, password: &str) -> DirectoryAnswer {
        // Core never asks with an empty password; nor would this.
        // Printable ASCII only: directories compare names after RFC 4518
        // string preparation (width folding, characters mapped to nothing),
        // so `ｂｏｂ` or `bo\u{ad}b` would reach bob's entry under another
        // throttle key than `bob`'s.
        let plain = login.bytes().all(|b| (0x21..=0x7e).contains(&b));
        if login.is_empty() || password.is_empty() || login.len() > MAX_LOGIN_LEN || !plain {
            return DirectoryAnswer::Rejected;
        }
        for d in &self.list {
            match d.check(login, password).await {
                Ok(Found::Nobody) => {}
                Ok(Found::Rejected) => return DirectoryAnswer::Rejected,
                Ok(Found::Verified(u)) => return DirectoryAnswer::Verified(u),
                Err(e) => {
                    tracing::warn!(directory = %d.id, error = %e, "directory unavailable; the login fails closed");
                    return DirectoryAnswer::Unavailable;
                }
            }
        }
        DirectoryAnswer::Rejected
    }
}

/// `result`'s code, or the error: `op` names the step.
fn outcome(
    op: &'static str,
    r: Result<ldap3::LdapResult, LdapError>,
) -> Result<u32, DirectoryError> {
    match r {
        Ok(res) if res.rc == SUCCESS || res.rc == INVALID_CREDENTIALS => Ok(res.rc),
        Ok(res) => Err(DirectoryError::Refused {
            op,
            rc: res.rc,
            text: frontdesk_rp::one_line(&res.text),
        }),
        Err(e) => Err(DirectoryError::Protocol {
            op,
            source: Box::new(e),
        }),
    }
}

/// The entries of a search answer (references left out), parsed without
/// letting a malformed one take the request down.
fn entries(
    op: &'static str,
    r: Result<ldap3::SearchResult, LdapError>,
) -> Result<Vec<SearchEntry>, DirectoryError> {
    let ldap3::SearchResult(raw, res) = r.map_err(|e| DirectoryError::Protocol {
        op,
        source: Box::new(e),
    })?;
    if res.rc != SUCCESS && res.rc != SIZE_LIMIT_EXCEEDED {
        return Err(DirectoryError::Refused {
            op,
            rc: res.rc,
            text: frontdesk_rp::one_line(&res.text),
        });
    }
    raw.into_iter()
        .filter(|e| !e.is_ref() && !e.is_intermediate())
        .map(|e| {
            std::panic::catch_unwind(AssertUnwindSafe(|| SearchEntry::construct(e)))
                .map_err(|_| DirectoryError::Malformed(op))
        })
        .collect()
}

/// The values of attribute `name` (compared case-insensitively, as LDAP
/// does), as bytes.
fn values<'a>(entry: &'a SearchEntry, name: &str) -> Vec<&'a [u8]> {
    let text = entry
        .attrs
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.iter().map(String::as_bytes));
    let binary = entry
        .bin_attrs
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .flat_map(|(_, v)| v.iter().map(Vec::as_slice));
    text.chain(binary).collect()
}

/// The first text value of attribute `name`, trimmed, if not empty.
fn text_value(entry: &SearchEntry, name: &str) -> Option<String> {
    values(entry, name)
        .into_iter()
        .filter_map(|v| std::str::from_utf8(v).ok())
        .map(str::trim)
        .find(|v| !v.is_empty())
        .map(str::to_owned)
}

/// The link subject of a value of the subject attribute, or `None` when
/// the value does not fit the format.
pub fn subject_of(value: &[u8], format: SubjectFormat) -> Option<String> {
    use std::fmt::Write as _;
    match format {
        SubjectFormat::Text => std::str::from_utf8(value)
            .ok()
            .map(str::trim)
            .filter(|s| !s.is_empty() && !s.chars().any(char::is_control))
            .map(str::to_owned),
        SubjectFormat::Hex => (!value.is_empty()).then(|| {
            value.iter().fold(String::new(), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            })
        }),
        SubjectFormat::Guid => {
            let b: &[u8; 16] = value.try_into().ok()?;
            Some(format!(
                "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
                b[3],
                b[2],
                b[1],
                b[0],
                b[5],
                b[4],
                b[7],
                b[6],
                b[8],
                b[9],
                b[10],
                b[11],
                b[12],
                b[13],
                b[14],
                b[15]
            ))
        }
    }
}

/// The value of a DN's first RDN (`cn=staff,ou=groups,…` → `staff`), its
/// RFC 4514 escapes undone; `None` for a DN that does not parse so.
pub fn first_rdn_value(dn: &str) -> Option<String> {
    let (_, rest) = dn.split_once('=')?;
    let mut out: Vec<u8> = Vec::new();
    let mut bytes = rest.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b',' | b'+' => break,
            b'\\' => {
                let first = bytes.next()?;
                if first.is_ascii_hexdigit() {
                    let second = bytes.next()?;
                    let hex = [first, second];
                    let s = std::str::from_utf8(&hex).ok()?;
                    out.push(u8::from_str_radix(s, 16).ok()?);
                } else {
                    out.push(first);
                }
            }
            other => out.push(other),
        }
    }
    let value = String::from_utf8(out).ok()?;
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

impl Directory {
    /// One attempt at this directory, on a connection of its own.
    async fn check(&self, login: &str, password: &str) -> Result<Found, DirectoryError> {
        let mut settings = LdapConnSettings::new()
            .set_conn_timeout(self.timeout)
            .set_starttls(self.transport == Transport::StartTls);
        if let Some(tls) = &self.tls {
            settings = settings.set_config(Arc::clone(tls));
        }
        let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &self.url)
            .await
            .map_err(|e| DirectoryError::Connect(Box::new(e)))?;
        let id = self.id.clone();
        tokio::spawn(async move {
            if let Err(e) = conn.drive().await {
                tracing::debug!(directory = %id, error = %e, "directory connection closed");
            }
        });
        let found = self.check_on(&mut ldap, login, password).await;
        // The answer is in; a failed goodbye changes nothing.
        let _ = tokio::time::timeout(self.timeout, ldap.unbind()).await;
        found
    }

    async fn service_bind(&self, ldap: &mut ldap3::Ldap) -> Result<(), DirectoryError> {
        let Some((dn, pw)) = &self.service else {
            return Ok(());
        };
        let r = ldap.with_timeout(self.timeout).simple_bind(dn, pw).await;
        match outcome("service account bind", r)? {
            SUCCESS => Ok(()),
            rc => Err(DirectoryError::Refused {
                op: "service account bind",
                rc,
                text: "the service account's credentials were refused".to_owned(),
            }),
        }
    }

    async fn check_on(
        &self,
        ldap: &mut ldap3::Ldap,
        login: &str,
        password: &str,
    ) -> Result<Found, DirectoryError> {
        self.service_bind(ldap).await?;
        let a = &self.attributes;
        let mut wanted = vec![
            a.subject.as_str(),
            a.username.as_str(),
            a.email.as_str(),
            a.name.as_str(),
        ];
        if let Groups::Attribute(g) = &self.groups {
            wanted.push(g.as_str());
        }
        let filter = user_filter(&self.user_filter, login);
        let r = ldap
            .with_search_options(SearchOptions::new().sizelimit(2))
            .with_timeout(self.timeout)
            .search(&self.user_base, Scope::Subtree, &filter, wanted)
            .await;
        let mut found = entries("user search", r)?;
        let entry = match found.len() {
            0 => return Ok(Found::Nobody),
            1 => found.remove(0),
            _ => {
                tracing::warn!(directory = %self.id, "more than one directory entry matches the login; refused");
                return Ok(Found::Rejected);
            }
        };
        if entry.dn.trim().is_empty() {
            tracing::warn!(directory = %self.id, "the directory entry has an empty DN; refused");
            return Ok(Found::Rejected);
        }
        let Some(subject) = values(&entry, &a.subject)
            .into_iter()
            .find_map(|v| subject_of(v, a.subject_format))
        else {
            tracing::error!(
                directory = %self.id,
                subject_attribute = %a.subject,
                "the directory entry has no usable subject attribute (missing, or not in subject_format); refused"
            );
            tracing::debug!(directory = %self.id, dn = %entry.dn, "entry without a subject");
            return Ok(Found::Rejected);
        };
        // The entry's own DN and the typed password; never an empty one
        // (checked above and in core: RFC 4513 §5.1.2).
        if password.is_empty() {
            return Ok(Found::Rejected);
        }
        tracing::debug!(directory = %self.id, dn = %entry.dn, "binding as the directory entry");
        let r = ldap
            .with_timeout(self.timeout)
            .simple_bind(&entry.dn, password)
            .await;
        if let Ok(res) = &r
            && USER_REFUSED.contains(&res.rc)
        {
            tracing::info!(directory = %self.id, rc = res.rc, "the directory refused the user's bind");
            return Ok(Found::Rejected);
        }
        if outcome("user bind", r)? == INVALID_CREDENTIALS {
            return Ok(Found::Rejected);
        }
        let groups = self.groups_of(ldap, &entry).await?;
        let email = text_value(&entry, &a.email);
        let identity = Identity {
            upstream: self.id.clone(),
            subject,
            username: text_value(&entry, &a.username),
            email_verified: self.email_verified && email.is_some(),
            email,
            claims: UserClaims {
                name: text_value(&entry, &a.name),
                ..UserClaims::default()
            },
            // The bind just now.
            auth_time: None,
        };
        Ok(Found::Verified(Box::new(DirectoryUser {
            identity,
            policy: self.policy,
            groups,
        })))
    }

    /// The entry's group names: from its group attribute, or a group
    /// search as the service account (anonymous again without one).
    async fn groups_of(
        &self,
        ldap: &mut ldap3::Ldap,
        entry: &SearchEntry,
    ) -> Result<Vec<String>, DirectoryError> {
        let dns: Vec<String> = match &self.groups {
            Groups::Attribute(attr) => values(entry, attr)
                .into_iter()
                .filter_map(|v| std::str::from_utf8(v).ok().map(str::to_owned))
                .collect(),
            Groups::Search { base, filter } => {
                match &self.service {
                    Some(_) => self.service_bind(ldap).await?,
                    None => {
                        // RFC 4513 §5.1.1: back to anonymous.
                        let r = ldap.with_timeout(self.timeout).simple_bind("", "").await;
                        if outcome("anonymous bind", r)? != SUCCESS {
                            return Err(DirectoryError::Refused {
                                op: "anonymous bind",
                                rc: INVALID_CREDENTIALS,
                                text: "anonymous bind refused".to_owned(),
                            });
                        }
                    }
                }
                let filter = fill_filter(filter, "{dn}", &entry.dn);
                let r = ldap
                    .with_search_options(SearchOptions::new().sizelimit(MAX_GROUPS))
                    .with_timeout(self.timeout)
                    .search(base, Scope::Subtree, &filter, vec!["1.1"])
                    .await;
                entries("group search", r)?
                    .into_iter()
                    .map(|g| g.dn)
                    .collect()
            }
        };
        let mut names: Vec<String> = dns.iter().filter_map(|dn| first_rdn_value(dn)).collect();
        names.sort();
        names.dedup();
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn base() -> LdapConfig {
        LdapConfig {
            id: "corp".into(),
            url: "ldap://127.0.0.1:3890".into(),
            user_base: Some("ou=people,dc=example,dc=com".into()),
            ..LdapConfig::default()
        }
    }

    fn one(c: LdapConfig) -> anyhow::Result<Directory> {
        validate(vec![c], &["hotel"]).map(|mut v| v.remove(0))
    }

    fn refused(c: LdapConfig, needle: &str) {
        match one(c) {
            Ok(d) => panic!("accepted {d:?}, expected {needle:?}"),
            Err(e) => assert!(e.to_string().contains(needle), "{e} lacks {needle:?}"),
        }
    }

    #[test]
    fn defaults() {
        let d = one(base()).unwrap();
        assert_eq!(d.display_name, "corp");
        assert_eq!(d.transport, Transport::Plain);
        assert_eq!(d.timeout, Duration::from_secs(5));
        assert!(d.service.is_none(), "anonymous search");
        assert_eq!(d.user_filter, "(uid={username})");
        assert_eq!(d.attributes.subject, "entryUUID");
        assert_eq!(d.attributes.subject_format, SubjectFormat::Text);
        assert_eq!(d.attributes.username, "uid");
        assert_eq!(d.attributes.email, "mail");
        assert_eq!(d.attributes.name, "cn");
        assert!(d.email_verified);
        assert_eq!(d.groups, Groups::Attribute("memberOf".into()));
        assert!(d.policy.provision);
        assert!(!d.policy.link_by_email);
    }

    #[test]
    fn ids_are_checked_and_shared_with_upstreams() {
        refused(
            LdapConfig {
                id: "Corp".into(),
                ..base()
            },
            "must be 1-32",
        );
        refused(
            LdapConfig {
                id: "x".repeat(33),
                ..base()
            },
            "must be 1-32",
        );
        refused(
            LdapConfig {
                id: "hotel".into(),
                ..base()
            },
            "already an upstream's id",
        );
        let twice = validate(vec![base(), base()], &[]).unwrap_err();
        assert!(twice.to_string().contains("used twice"), "{twice}");
    }

    #[test]
    fn urls_and_transport() {
        let url = |u: &str| LdapConfig {
            url: u.into(),
            ..base()
        };
        refused(url("http://127.0.0.1"), "ldap:// or ldaps://");
        refused(
            url("ldap://127.0.0.1/dc=example"),
            "scheme://host[:port] only",
        );
        refused(url("ldap://127.0.0.1/?uid"), "scheme://host[:port] only");
        refused(url("ldap:///"), "must name a host");
        refused(url("not a url"), "is not a URL");
        refused(url("ldap://ldap.example.com"), "in the clear");
        refused(url("ldap://192.0.2.10:389"), "in the clear");
        refused(url("ldap://127.0.0.1.example.com"), "in the clear");
        assert_eq!(
            one(url("ldap://127.0.0.1:3890")).unwrap().transport,
            Transport::Plain
        );
        assert_eq!(
            one(url("ldap://localhost")).unwrap().transport,
            Transport::Plain
        );
        assert_eq!(
            one(url("ldap://[::1]:389")).unwrap().transport,
            Transport::Plain
        );
        let tls = one(url("ldaps://ldap.example.com")).unwrap();
        assert_eq!(tls.transport, Transport::Ldaps);
        assert!(tls.tls.is_some());
        let start = one(LdapConfig {
            starttls: Some(true),
            ..url("ldap://ldap.example.com")
        })
        .unwrap();
        assert_eq!(start.transport, Transport::StartTls);
        refused(
            LdapConfig {
                starttls: Some(true),
                ..url("ldaps://ldap.example.com")
            },
            "starttls is for ldap://",
        );
    }

    #[test]
    fn ca_files_and_timeouts() {
        let dir = tempfile::tempdir().unwrap();
        let not_pem = dir.path().join("x.pem");
        std::fs::write(&not_pem, "hello").unwrap();
        refused(
            LdapConfig {
                url: "ldaps://ldap.example.com".into(),
                ca_file: Some(not_pem.clone()),
                ..base()
            },
            "no certificate",
        );
        refused(
            LdapConfig {
                ca_file: Some(not_pem),
                ..base()
            },
            "ca_file needs ldaps",
        );
        refused(
            LdapConfig {
                url: "ldaps://ldap.example.com".into(),
                ca_file: Some(dir.path().join("missing.pem")),
                ..base()
            },
            "cannot be read",
        );
        for bad in [0, 61, -1] {
            refused(
                LdapConfig {
                    timeout_secs: Some(bad),
                    ..base()
                },
                "between 1 and 60",
            );
        }
        let d = one(LdapConfig {
            timeout_secs: Some(60),
            ..base()
        })
        .unwrap();
        assert_eq!(d.timeout, Duration::from_secs(60));
    }

    #[test]
    fn service_account() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "s3cret\n").unwrap();
        let d = one(LdapConfig {
            bind_dn: Some("cn=svc,dc=example,dc=com".into()),
            bind_password_file: Some(file.clone()),
            ..base()
        })
        .unwrap();
        let (dn, pw) = d.service.as_ref().unwrap();
        assert_eq!(dn, "cn=svc,dc=example,dc=com");
        assert_eq!(pw.as_str(), "s3cret");
        assert!(!format!("{d:?}").contains("s3cret"), "no secret in Debug");
        refused(
            LdapConfig {
                bind_dn: Some("cn=svc".into()),
                bind_password: Some("a".into()),
                bind_password_file: Some(file),
                ..base()
            },
            "not both",
        );
        refused(
            LdapConfig {
                bind_dn: Some("cn=svc".into()),
                ..base()
            },
            "needs bind_password",
        );
        refused(
            LdapConfig {
                bind_password: Some("a".into()),
                ..base()
            },
            "needs bind_dn",
        );
        refused(
            LdapConfig {
                bind_dn: Some("cn=svc".into()),
                bind_password: Some(String::new()),
                ..base()
            },
            "bind password is empty",
        );
    }

    #[test]
    fn search_and_attributes() {
        refused(
            LdapConfig {
                user_base: None,
                ..base()
            },
            "user_base is required",
        );
        refused(
            LdapConfig {
                user_filter: Some("(uid=alice)".into()),
                ..base()
            },
            "must contain {username}",
        );
        refused(
            LdapConfig {
                user_filter: Some("(uid={username}".into()),
                ..base()
            },
            "is not an LDAP filter",
        );
        for good in [
            "(&(objectClass=person)(|(uid={username})(mail={username})))",
            // Active Directory: enabled user accounts only (the README's example).
            "(&(objectCategory=person)(objectClass=user)(sAMAccountName={username})(!(userAccountControl:1.2.840.113556.1.4.803:=2)))",
        ] {
            let ok = one(LdapConfig {
                user_filter: Some(good.into()),
                ..base()
            });
            assert!(ok.is_ok(), "{good}: {ok:?}");
        }
        refused(
            LdapConfig {
                email_attribute: Some("mail)(x".into()),
                ..base()
            },
            "is not an attribute name",
        );
        refused(
            LdapConfig {
                subject_format: Some("base64".into()),
                ..base()
            },
            "text, hex or guid",
        );
        for good in [
            "objectGUID",
            "userCertificate;binary",
            "2.5.4.3",
            "sAMAccountName",
        ] {
            assert!(valid_attribute(good), "{good}");
        }
        for bad in ["", "1a", "a b", "a;", "2.5..3", "*"] {
            assert!(!valid_attribute(bad), "{bad}");
        }
    }

    #[test]
    fn groups_by_attribute_or_search() {
        let d = one(LdapConfig {
            group_base: Some("ou=groups,dc=example,dc=com".into()),
            group_filter: Some("(member={dn})".into()),
            ..base()
        })
        .unwrap();
        assert_eq!(
            d.groups,
            Groups::Search {
                base: "ou=groups,dc=example,dc=com".into(),
                filter: "(member={dn})".into()
            }
        );
        refused(
            LdapConfig {
                group_base: Some("ou=groups".into()),
                ..base()
            },
            "go together",
        );
        refused(
            LdapConfig {
                group_base: Some("ou=groups".into()),
                group_filter: Some("(member=x)".into()),
                ..base()
            },
            "must contain {dn}",
        );
        refused(
            LdapConfig {
                group_attribute: Some("memberOf".into()),
                group_base: Some("ou=groups".into()),
                group_filter: Some("(member={dn})".into()),
                ..base()
            },
            "not both",
        );
        let d = one(LdapConfig {
            group_attribute: Some("isMemberOf".into()),
            provision: Some(false),
            email_verified: Some(false),
            ..base()
        })
        .unwrap();
        assert_eq!(d.groups, Groups::Attribute("isMemberOf".into()));
        assert!(!d.policy.provision);
        assert!(!d.email_verified);
    }

    #[test]
    fn the_typed_name_is_escaped_in_the_filter() {
        let t = "(uid={username})";
        assert_eq!(user_filter(t, "alice"), "(uid=alice)");
        assert_eq!(user_filter(t, "*"), "(uid=\\2a)");
        assert_eq!(
            user_filter(t, "alice)(uid=*"),
            "(uid=alice\\29\\28uid=\\2a)"
        );
        assert_eq!(user_filter(t, "a\\b\0"), "(uid=a\\5cb\\00)");
        // What is put in is not read as a placeholder again.
        assert_eq!(user_filter(t, "{username}"), "(uid={username})");
        assert_eq!(
            user_filter("(|(uid={username})(mail={username}))", "x*"),
            "(|(uid=x\\2a)(mail=x\\2a))"
        );
        // Every filled-in filter still parses as one equality filter.
        for hostile in [
            "*",
            "alice)(uid=*",
            ")(|(uid=*",
            "\\",
            "a\0b",
            "(",
            "*)(objectClass=*",
        ] {
            assert!(
                ldap3::parse_filter(user_filter(t, hostile)).is_ok(),
                "{hostile}"
            );
        }
        assert_eq!(
            fill_filter("(member={dn})", "{dn}", "cn=a\\,b (x),dc=example"),
            "(member=cn=a\\5c,b \\28x\\29,dc=example)"
        );
    }

    #[test]
    fn group_names_are_the_first_rdn_value() {
        assert_eq!(
            first_rdn_value("cn=staff,ou=groups,dc=example,dc=com").as_deref(),
            Some("staff")
        );
        assert_eq!(
            first_rdn_value("CN=Domain Users,CN=Users,DC=corp,DC=example").as_deref(),
            Some("Domain Users")
        );
        assert_eq!(
            first_rdn_value("cn=R\\26D\\, Europe,ou=groups").as_deref(),
            Some("R&D, Europe")
        );
        assert_eq!(first_rdn_value("cn=a+uid=b,dc=x").as_deref(), Some("a"));
        assert_eq!(first_rdn_value("no equals sign"), None);
        assert_eq!(first_rdn_value("cn=,dc=x"), None);
        assert_eq!(first_rdn_value("cn=bad\\"), None);
    }

    #[test]
    fn subjects_by_format() {
        let guid: [u8; 16] = [
            0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd,
            0xee, 0xff,
        ];
        assert_eq!(
            subject_of(&guid, SubjectFormat::Guid).as_deref(),
            Some("00112233-4455-6677-8899-aabbccddeeff")
        );
        assert_eq!(subject_of(&guid[..15], SubjectFormat::Guid), None);
        assert_eq!(
            subject_of(&[0x01, 0xab], SubjectFormat::Hex).as_deref(),
            Some("01ab")
        );
        assert_eq!(subject_of(&[], SubjectFormat::Hex), None);
        assert_eq!(
            subject_of(b"5f0c-uuid", SubjectFormat::Text).as_deref(),
            Some("5f0c-uuid")
        );
        assert_eq!(subject_of(&guid, SubjectFormat::Text), None, "binary");
        assert_eq!(subject_of(b"a\0b", SubjectFormat::Text), None, "control");
        assert_eq!(subject_of(b"  ", SubjectFormat::Text), None);
    }
}
