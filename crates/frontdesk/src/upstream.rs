//! Upstream identity providers: frontdesk as a relying party of another
//! OpenID provider ("Sign in with …" on the login page), through
//! `frontdesk-rp` and every check it makes — discovery with the exact
//! issuer, code + PKCE S256 + `state` + `nonce`, the ID token's signature,
//! `iss`, `aud`, `azp`, `exp`/`iat`, `nonce` and `at_hash`.
//!
//! This module owns the `[[upstreams]]` configuration, the lazily
//! discovered providers, the sealed state of a sign-in in progress, and
//! the mapping of the upstream's claims to a [`upstream::Identity`]; which
//! account that identity is belongs to `frontdesk_core::upstream`.
//!
//! The state of a flow travels with the browser in the `fd_upstream`
//! cookie, sealed under the KEK (AES-256-GCM, the associated data names
//! the upstream) with a 10-minute expiry, and is spent once through
//! `Store::use_once` at the callback: any node can finish a flow another
//! started, a callback cannot be replayed, and another browser (without
//! the cookie) cannot complete a victim's flow or plant its own.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{anyhow, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use frontdesk_core::error::Error;
use frontdesk_core::keys::Kek;
use frontdesk_core::model::{UnixTime, UserClaims};
use frontdesk_core::secret;
use frontdesk_core::store::Store;
use frontdesk_core::upstream::{Identity, Policy};
use frontdesk_rp::{
    AuthorizationRequest, Client, ClientAuth, Expect, HttpClient, Provider, RpError,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::Zeroizing;

/// How long a sign-in at the upstream may take, start to callback.
pub const FLOW_SECS: i64 = 600;

/// The profile claims an upstream may fill in (`copy_claims`).
const COPYABLE: [&str; 6] = [
    "given_name",
    "family_name",
    "nickname",
    "picture",
    "locale",
    "name",
];

/// One `[[upstreams]]` table, as written.
#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// `[a-z0-9_-]{1,32}`: the path segment of `/upstream/{id}/…`.
    pub id: String,
    /// The button says "Sign in with {display_name}".
    pub display_name: String,
    /// An image of the theme directory (`[branding] theme_dir`, served at
    /// `/theme/NAME`) shown on the button. Never another server's: the
    /// login page would tell it of every visit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icon: Option<String>,
    /// `oidc` (the default) or `oauth2` (a plain OAuth 2.0 server without
    /// ID tokens, e.g. GitHub: the endpoints below, and a userinfo call).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Fills in what a well-known provider needs: `github`, `google`,
    /// `microsoft` (with `tenant`), `gitlab` or `apple` (see [`PRESETS`]).
    /// Every key set here wins over the preset's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// The Microsoft Entra tenant id (`preset = "microsoft"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The upstream's issuer identifier (`oidc`); discovery must confirm
    /// it exactly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// `oauth2`: where the browser signs in (RFC 6749 §3.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    /// `oauth2`: where the code is exchanged (RFC 6749 §3.2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    /// `oauth2`: the JSON document about the user, fetched with the access
    /// token (GitHub's `/user`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userinfo_endpoint: Option<String>,
    /// `oauth2`: a list of `{email, primary, verified}` (GitHub's
    /// `/user/emails`), for an address the upstream verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emails_endpoint: Option<String>,
    pub client_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret_file: Option<PathBuf>,
    /// `private_key_jwt`: the client's private key, PKCS#8 PEM (EC P-256,
    /// RSA of 2048 bits or more, or Ed25519), whose public key is
    /// registered at the upstream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key_file: Option<PathBuf>,
    /// `client_secret_basic` (default), `client_secret_post` or
    /// `private_key_jwt` (RFC 7523).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<String>,
    /// How the upstream returns its answer: `query` (the default: a
    /// redirect to the callback) or `form_post` (OAuth 2.0 Form Post
    /// Response Mode: the browser POSTs it to the callback; Apple sends
    /// the user's name only so).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_mode: Option<String>,
    /// Default `["openid", "email", "profile"]`; `openid` is always sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// Create an account at the first sign-in (default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provision: Option<bool>,
    /// Join a first sign-in to the local account with the same address
    /// when both sides verified it (default false; see the README).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_by_email: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_claim: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_claim: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_claim: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username_claim: Option<String>,
    /// Further profile claims to keep on the account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub copy_claims: Option<Vec<String>>,
    /// The claim that lists the user's groups at the upstream (e.g.
    /// `groups`); unset, the upstream's groups are not read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub groups_claim: Option<String>,
    /// Put in front of each of its group names here. Default the id and
    /// `:`; `""` maps them onto groups that exist here by name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_prefix: Option<String>,
    /// Signing out of frontdesk also goes through the upstream's
    /// `end_session_endpoint` (OpenID Connect RP-Initiated Logout), when
    /// the session came from it. Default false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub propagate_logout: Option<bool>,
}

impl std::fmt::Debug for UpstreamConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamConfig")
            .field("id", &self.id)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Which upstream claims become what.
#[derive(Debug, Clone)]
pub struct Mapping {
    pub subject: String,
    pub email: String,
    pub name: String,
    pub username: String,
    pub copy: Vec<&'static str>,
    /// The groups claim, if the upstream's groups are read.
    pub groups: Option<String>,
    /// What its group names get in front of them here.
    pub group_prefix: String,
}

/// How frontdesk finds an upstream's endpoints.
#[derive(Debug, Clone)]
pub enum Endpoints {
    /// OpenID Connect: discovery at the issuer, ID tokens.
    Discovered { issuer: String },
    /// Plain OAuth 2.0: as configured; the user is read from userinfo.
    Configured {
        authorization: String,
        token: String,
        userinfo: String,
        emails: Option<String>,
    },
}

/// A well-known provider's endpoints and claim names: data only, applied
/// under the operator's own keys.
pub struct Preset {
    pub name: &'static str,
    pub kind: &'static str,
    /// `{tenant}` is replaced by the `tenant` key.
    pub issuer: Option<&'static str>,
    pub authorization_endpoint: Option<&'static str>,
    pub token_endpoint: Option<&'static str>,
    pub userinfo_endpoint: Option<&'static str>,
    pub emails_endpoint: Option<&'static str>,
    pub scopes: &'static [&'static str],
    pub subject_claim: &'static str,
    pub username_claim: &'static str,
    pub form_post: bool,
}

/// The built-in presets.
pub const PRESETS: [Preset; 5] = [
    Preset {
        name: "github",
        kind: "oauth2",
        issuer: None,
        authorization_endpoint: Some("https://github.com/login/oauth/authorize"),
        token_endpoint: Some("https://github.com/login/oauth/access_token"),
        userinfo_endpoint: Some("https://api.github.com/user"),
        emails_endpoint: Some("https://api.github.com/user/emails"),
        scopes: &["read:user", "user:email"],
        // GitHub's numeric account id: a login can be renamed.
        subject_claim: "id",
        username_claim: "login",
        form_post: false,
    },
    Preset {
        name: "google",
        kind: "oidc",
        issuer: Some("https://accounts.google.com"),
        authorization_endpoint: None,
        token_endpoint: None,
        userinfo_endpoint: None,
        emails_endpoint: None,
        scopes: &["openid", "email", "profile"],
        subject_claim: "sub",
        username_claim: "email",
        form_post: false,
    },
    Preset {
        name: "microsoft",
        kind: "oidc",
        // One tenant: "common" publishes a templated issuer that no exact
        // issuer check accepts.
        issuer: Some("https://login.microsoftonline.com/{tenant}/v2.0"),
        authorization_endpoint: None,
        token_endpoint: None,
        userinfo_endpoint: None,
        emails_endpoint: None,
        scopes: &["openid", "email", "profile"],
        subject_claim: "sub",
        username_claim: "preferred_username",
        form_post: false,
    },
    Preset {
        name: "gitlab",
        kind: "oidc",
        issuer: Some("https://gitlab.com"),
        authorization_endpoint: None,
        token_endpoint: None,
        userinfo_endpoint: None,
        emails_endpoint: None,
        scopes: &["openid", "email", "profile"],
        subject_claim: "sub",
        username_claim: "nickname",
        form_post: false,
    },
    Preset {
        name: "apple",
        kind: "oidc",
        issuer: Some("https://appleid.apple.com"),
        authorization_endpoint: None,
        token_endpoint: None,
        userinfo_endpoint: None,
        emails_endpoint: None,
        // Apple's scopes are `name` and `email`; it sends the name once,
        // at the first authorization, beside the code in a form post (the
        // `user` field), never in the ID token.
        scopes: &["openid", "name", "email"],
        subject_claim: "sub",
        username_claim: "preferred_username",
        form_post: true,
    },
];

/// An upstream's client authentication (`token_endpoint_auth_method`).
#[derive(Clone)]
enum Credential {
    /// `client_secret_basic`.
    Basic(Zeroizing<String>),
    /// `client_secret_post`.
    Post(Zeroizing<String>),
    /// `private_key_jwt`: every token request's assertion is signed with it.
    Key(Arc<frontdesk_jose::SigningKey>),
}

impl Credential {
    fn method(&self) -> &'static str {
        match self {
            Credential::Basic(_) => "client_secret_basic",
            Credential::Post(_) => "client_secret_post",
            Credential::Key(_) => "private_key_jwt",
        }
    }
}

/// One upstream, validated.
#[derive(Clone)]
pub struct Upstream {
    pub id: String,
    pub display_name: String,
    /// A theme file's name ([`icon_exists`] checked it is an image there).
    pub icon: Option<String>,
    pub endpoints: Endpoints,
    pub client_id: String,
    /// How frontdesk proves itself at the upstream's token endpoint.
    credential: Credential,
    /// `response_mode=form_post`: the answer comes as a POST to the
    /// callback (and the flow cookie is `SameSite=None`, since that POST
    /// comes from the upstream's site).
    pub form_post: bool,
    pub scopes: Vec<String>,
    pub policy: Policy,
    pub mapping: Mapping,
    pub propagate_logout: bool,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("id", &self.id)
            .field("endpoints", &self.endpoints)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

use frontdesk_core::upstream::valid_id;

/// Validates the `[[upstreams]]` tables.
///
/// # Errors
/// The first problem, naming the upstream and the key.
pub fn validate(raw: Vec<UpstreamConfig>) -> anyhow::Result<Vec<Upstream>> {
    let mut out: Vec<Upstream> = Vec::new();
    for u in raw {
        if out.iter().any(|o| o.id == u.id) {
            bail!("config: upstream id {:?} is used twice", u.id);
        }
        out.push(check(u).map_err(|e| anyhow!("config: {e}"))?);
    }
    Ok(out)
}

/// Validates one upstream's keys, wherever they were written (the
/// configuration file, the admin API, the CLI): one set of rules.
///
/// # Errors
/// The first problem, naming the upstream and the key.
pub fn check(u: UpstreamConfig) -> anyhow::Result<Upstream> {
    let name = format!("upstreams[{}]", u.id);
    if !valid_id(&u.id) {
        bail!("upstream id {:?} must be 1-32 of a-z, 0-9, - and _", u.id);
    }
    let preset = match u.preset.as_deref() {
        None => None,
        Some(p) => Some(PRESETS.iter().find(|x| x.name == p).ok_or_else(|| {
            let names: Vec<&str> = PRESETS.iter().map(|x| x.name).collect();
            anyhow!(
                "{name}: preset must be one of {}, not {p:?}",
                names.join(", ")
            )
        })?),
    };
    if u.display_name.trim().is_empty() {
        bail!("{name}: display_name is required");
    }
    if let Some(icon) = &u.icon
        && !crate::branding::valid_file_name(icon)
    {
        bail!("{name}: icon {icon:?} must be the name of an image in branding.theme_dir");
    }
    let url = |key: &str, v: Option<String>, from_preset: Option<&str>| {
        let v = v
            .or_else(|| from_preset.map(str::to_owned))
            .ok_or_else(|| anyhow!("{name}: {key} is required"))?;
        frontdesk_rp::check_url(key, &v).map_err(|e| anyhow!("{name}: {e}"))?;
        Ok::<String, anyhow::Error>(v)
    };
    let endpoints = match u
        .kind
        .as_deref()
        .or(preset.map(|p| p.kind))
        .unwrap_or("oidc")
    {
        "oidc" => {
            for (key, set) in [
                ("authorization_endpoint", &u.authorization_endpoint),
                ("token_endpoint", &u.token_endpoint),
                ("userinfo_endpoint", &u.userinfo_endpoint),
                ("emails_endpoint", &u.emails_endpoint),
            ] {
                if set.is_some() {
                    bail!(
                        "{name}: {key} is for kind = \"oauth2\"; an OpenID Connect upstream's endpoints come from discovery at its issuer"
                    );
                }
            }
            let templated = preset.and_then(|p| p.issuer).map(|i| match &u.tenant {
                Some(t) => Ok(i.replace("{tenant}", t)),
                None if i.contains("{tenant}") => Err(anyhow!(
                    "{name}: preset {:?} needs tenant (the directory's tenant id)",
                    u.preset.as_deref().unwrap_or_default()
                )),
                None => Ok(i.to_owned()),
            });
            let templated = templated.transpose()?;
            Endpoints::Discovered {
                issuer: url("issuer", u.issuer, templated.as_deref())?,
            }
        }
        "oauth2" => {
            if u.issuer.is_some() {
                bail!(
                    "{name}: a plain OAuth 2.0 upstream has no issuer to discover; set authorization_endpoint, token_endpoint and userinfo_endpoint"
                );
            }
            Endpoints::Configured {
                authorization: url(
                    "authorization_endpoint",
                    u.authorization_endpoint,
                    preset.and_then(|p| p.authorization_endpoint),
                )?,
                token: url(
                    "token_endpoint",
                    u.token_endpoint,
                    preset.and_then(|p| p.token_endpoint),
                )?,
                userinfo: url(
                    "userinfo_endpoint",
                    u.userinfo_endpoint,
                    preset.and_then(|p| p.userinfo_endpoint),
                )?,
                emails: match u
                    .emails_endpoint
                    .or_else(|| preset.and_then(|p| p.emails_endpoint).map(str::to_owned))
                {
                    Some(e) => Some(url("emails_endpoint", Some(e), None)?),
                    None => None,
                },
            }
        }
        other => bail!("{name}: kind must be \"oidc\" or \"oauth2\", not {other:?}"),
    };
    let oidc = matches!(endpoints, Endpoints::Discovered { .. });
    let propagate_logout = u.propagate_logout.unwrap_or(false);
    if propagate_logout && !oidc {
        bail!(
            "{name}: propagate_logout needs an OpenID Connect upstream (its end_session_endpoint); a plain OAuth 2.0 server has none"
        );
    }
    if u.client_id.trim().is_empty() {
        bail!("{name}: client_id is required");
    }
    let method = u
        .token_endpoint_auth_method
        .as_deref()
        .unwrap_or("client_secret_basic");
    if !matches!(
        method,
        "client_secret_basic" | "client_secret_post" | "private_key_jwt"
    ) {
        bail!(
            "{name}: token_endpoint_auth_method must be client_secret_basic, client_secret_post or private_key_jwt, not {method:?}"
        );
    }
    let credential = if method == "private_key_jwt" {
        if u.client_secret.is_some() || u.client_secret_file.is_some() {
            bail!(
                "{name}: private_key_jwt takes private_key or private_key_file, not a client secret"
            );
        }
        let pem = match (u.private_key, u.private_key_file) {
            (Some(p), None) => Zeroizing::new(p),
            (None, Some(f)) => Zeroizing::new(std::fs::read_to_string(&f).map_err(|e| {
                anyhow!(
                    "{name}: private_key_file {} cannot be read: {e}",
                    f.display()
                )
            })?),
            (Some(_), Some(_)) => bail!("{name}: set private_key or private_key_file, not both"),
            (None, None) => {
                bail!("{name}: private_key_jwt needs private_key or private_key_file")
            }
        };
        Credential::Key(Arc::new(private_key(&name, &pem)?))
    } else {
        if u.private_key.is_some() || u.private_key_file.is_some() {
            bail!("{name}: private_key is for token_endpoint_auth_method = \"private_key_jwt\"");
        }
        let secret = client_secret(&name, u.client_secret, u.client_secret_file)?;
        if method == "client_secret_post" {
            Credential::Post(secret)
        } else {
            Credential::Basic(secret)
        }
    };
    let form_post = match u.response_mode.as_deref() {
        None => preset.is_some_and(|p| p.form_post),
        Some("query") => false,
        Some("form_post") => true,
        Some(other) => bail!("{name}: response_mode must be query or form_post, not {other:?}"),
    };
    // OpenID Connect always asks for `openid`; a plain OAuth 2.0
    // server gets exactly the scopes configured.
    let mut scopes = if oidc {
        vec!["openid".to_owned()]
    } else {
        Vec::new()
    };
    let default_scopes = || match preset {
        Some(p) => p.scopes.iter().map(|s| (*s).to_owned()).collect(),
        None if oidc => vec!["email".to_owned(), "profile".to_owned()],
        None => Vec::new(),
    };
    for s in u.scopes.unwrap_or_else(default_scopes) {
        if s.is_empty() || s.contains(char::is_whitespace) {
            bail!("{name}: scope {s:?} is not a scope token");
        }
        if !scopes.contains(&s) {
            scopes.push(s);
        }
    }
    let mut copy = Vec::new();
    for c in u.copy_claims.unwrap_or_default() {
        let Some(known) = COPYABLE.iter().find(|k| **k == c) else {
            bail!(
                "{name}: copy_claims may name {}, not {c:?}",
                COPYABLE.join(", ")
            );
        };
        copy.push(*known);
    }
    let claim = |v: Option<String>, default: &str| v.unwrap_or_else(|| default.to_owned());
    if u.groups_claim
        .as_deref()
        .is_some_and(|c| c.trim().is_empty())
    {
        bail!("{name}: groups_claim is empty");
    }
    let group_prefix = group_prefix(&name, &u.id, u.group_prefix)?;
    Ok(Upstream {
        id: u.id,
        display_name: u.display_name,
        icon: u.icon,
        endpoints,
        client_id: u.client_id,
        credential,
        form_post,
        scopes,
        propagate_logout,
        policy: Policy {
            provision: u.provision.unwrap_or(true),
            link_by_email: u.link_by_email.unwrap_or(false),
        },
        mapping: Mapping {
            subject: claim(u.subject_claim, preset.map_or("sub", |p| p.subject_claim)),
            email: claim(u.email_claim, "email"),
            name: claim(u.name_claim, "name"),
            username: claim(
                u.username_claim,
                preset.map_or("preferred_username", |p| p.username_claim),
            ),
            copy,
            groups: u.groups_claim,
            group_prefix,
        },
    })
}

/// Whether `u`'s icon, if it has one, is an image the theme directory has
/// (`is_image`: the loaded theme's answer for a file name).
///
/// # Errors
/// It names no such image.
pub fn icon_exists(u: &Upstream, is_image: impl Fn(&str) -> bool) -> anyhow::Result<()> {
    match &u.icon {
        Some(icon) if !is_image(icon) => bail!(
            "upstreams[{}]: icon {icon:?} is not an image in branding.theme_dir",
            u.id
        ),
        _ => Ok(()),
    }
}

/// The client secret of `client_secret_basic` or `_post`: given, or read
/// from a file (trimmed), never empty.
fn client_secret(
    name: &str,
    secret: Option<String>,
    file: Option<PathBuf>,
) -> anyhow::Result<Zeroizing<String>> {
    let secret = match (secret, file) {
        (Some(s), None) => Zeroizing::new(s),
        (None, Some(f)) => Zeroizing::new(
            std::fs::read_to_string(&f)
                .map_err(|e| {
                    anyhow!(
                        "{name}: client_secret_file {} cannot be read: {e}",
                        f.display()
                    )
                })?
                .trim()
                .to_owned(),
        ),
        (Some(_), Some(_)) => {
            bail!("{name}: set client_secret or client_secret_file, not both")
        }
        (None, None) => {
            bail!("{name}: client_secret or client_secret_file is required")
        }
    };
    if secret.is_empty() {
        bail!("{name}: the client secret is empty");
    }
    Ok(secret)
}

/// A `private_key_jwt` key from PKCS#8 PEM: ES256 for P-256, RS256 for
/// RSA, EdDSA for Ed25519.
fn private_key(name: &str, pem: &str) -> anyhow::Result<frontdesk_jose::SigningKey> {
    use rustls::pki_types::PrivatePkcs8KeyDer;
    use rustls::pki_types::pem::PemObject;
    let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes()).map_err(|_| {
        anyhow!("{name}: the private key is not a PKCS#8 PEM key (-----BEGIN PRIVATE KEY-----)")
    })?;
    [
        frontdesk_jose::Algorithm::ES256,
        frontdesk_jose::Algorithm::RS256,
        frontdesk_jose::Algorithm::EdDSA,
    ]
    .into_iter()
    .find_map(|alg| frontdesk_jose::SigningKey::from_pkcs8(alg, der.secret_pkcs8_der()).ok())
    .ok_or_else(|| {
        anyhow!(
            "{name}: the private key is not an EC P-256, RSA (2048 bits or more) or Ed25519 key"
        )
    })
}

/// The `group_prefix` of an upstream or a directory: as configured (a
/// valid prefix, or empty), else its id and `:`.
pub fn group_prefix(name: &str, id: &str, configured: Option<String>) -> anyhow::Result<String> {
    let prefix = configured.unwrap_or_else(|| format!("{id}:"));
    if !frontdesk_core::groups::valid_prefix(&prefix) {
        bail!(
            "{name}: group_prefix {prefix:?} must be empty or the start of a group name (letters, digits, . _ - : / @)"
        );
    }
    Ok(prefix)
}

/// The groups an upstream's claims list, when its `groups_claim` is
/// set: an array's strings, or a single string; an absent claim is no
/// groups (the sign-in then ends every membership from this upstream).
pub fn asserted_groups(
    config: &Upstream,
    claims: &serde_json::Map<String, Value>,
) -> Option<Vec<String>> {
    let claim = config.mapping.groups.as_deref()?;
    Some(match claims.get(claim) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    })
}

/// Why a step with the upstream failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// It could not be reached (discovery, keys, token endpoint): an
    /// outage, 503.
    #[error("{0}")]
    Unavailable(String),
    /// It answered, but not with what a sign-in needs (a refused code, an
    /// ID token that does not verify): 502.
    #[error("{0}")]
    Failed(String),
    /// Ours (random numbers, sealing).
    #[error("{0}")]
    Internal(String),
    /// The authorization request is too large to carry through the
    /// upstream in a cookie: the caller's, 400.
    #[error("the authorization request is too large to sign in through an upstream")]
    TooLarge,
}

impl From<RpError> for UpstreamError {
    fn from(e: RpError) -> UpstreamError {
        let text = e.to_string();
        match e {
            RpError::Discovery { .. } | RpError::Unreachable { .. } | RpError::Keys { .. } => {
                UpstreamError::Unavailable(text)
            }
            RpError::Random => UpstreamError::Internal(text),
            _ => UpstreamError::Failed(text),
        }
    }
}

/// A configured upstream and, once discovered, its provider.
pub struct Live {
    pub config: Upstream,
    provider: tokio::sync::OnceCell<Provider>,
    http: HttpClient,
    /// When discovery last failed: for [`RETRY_AFTER_FAILURE`] every
    /// request fails at once instead of queueing for another attempt.
    failed_at: std::sync::Mutex<Option<std::time::Instant>>,
    /// The row it was loaded from, when added at run time; `None` for the
    /// configuration's. A refresh keeps this `Live` (and its discovered
    /// provider) only while the row is byte for byte the same, so an
    /// upstream removed and added again between two refreshes, perhaps
    /// for another provider, is never served from the old one.
    stored: Option<frontdesk_core::model::StoredUpstream>,
}

/// The longest sealed flow a cookie carries (the name and attributes need
/// the rest of a browser's 4096 bytes).
const MAX_FLOW_COOKIE: usize = 3800;

/// How long a failed discovery is remembered before the next try.
const RETRY_AFTER_FAILURE: std::time::Duration = std::time::Duration::from_secs(5);

/// Every upstream: the configuration's, in their order, then the ones
/// added at run time (admin API, CLI; stored, oldest first).
///
/// The stored ones are read again by [`Upstreams::refresh`], which `serve`
/// runs every second and the admin API right after a change: another
/// node's or the CLI's change is seen within a second, and an upstream's
/// discovered metadata survives a refresh that did not change it.
#[derive(Default)]
pub struct Upstreams {
    configured: Vec<Arc<Live>>,
    stored: std::sync::RwLock<Arc<Vec<Arc<Live>>>>,
    http: Option<HttpClient>,
    /// Stored rows that did not load, `(id, created_at)`: warned once.
    bad: std::sync::Mutex<std::collections::HashSet<(String, UnixTime)>>,
}
/// A sign-in at the upstream in progress: what the callback needs.
#[derive(Serialize, Deserialize)]
pub struct Flow {
    exp: UnixTime,
    pub state: String,
    nonce: String,
    verifier: String,
    /// The authorization request to continue (as the login form carries
    /// it), or empty.
    pub request: String,
    /// Where a sign-in without a request goes: `account` or nothing.
    pub next: String,
    /// Linking from the account page: the session that asked (its `sid`).
    pub link_sid: Option<String>,
    /// The `max_age` sent to the upstream: its ID token's `auth_time` must
    /// be within it (OIDC Core §3.1.2.1).
    #[serde(default)]
    max_age: Option<i64>,
    /// `prompt=login` was sent: an `auth_time` the ID token has must be
    /// from this flow.
    #[serde(default)]
    login: bool,
}

/// What a sign-in at the upstream is for, carried through it in the flow.
#[derive(Debug, Clone, Default)]
pub struct Begin {
    /// The authorization request to continue (as the login form carries
    /// it), or empty.
    pub request: String,
    /// Where a sign-in without a request goes: `account` or nothing.
    pub next: String,
    /// Connecting from the account page: the session that asked.
    pub link_sid: Option<String>,
    pub fresh: Fresh,
}

/// How fresh the sign-in at the upstream must be: what the application
/// asked of frontdesk (`prompt=login`, `max_age`), passed on — frontdesk
/// cannot re-authenticate a user whose sign-in happens elsewhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fresh {
    pub login: bool,
    pub max_age: Option<i64>,
}

impl Live {
    fn new(
        config: Upstream,
        http: &HttpClient,
        stored: Option<frontdesk_core::model::StoredUpstream>,
    ) -> Arc<Live> {
        Arc::new(Live {
            config,
            provider: tokio::sync::OnceCell::new(),
            http: http.clone(),
            failed_at: std::sync::Mutex::new(None),
            stored,
        })
    }
}

impl Upstreams {
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(config: Vec<Upstream>) -> anyhow::Result<Upstreams> {
        let http = HttpClient::new().map_err(|e| anyhow!("upstream HTTP client: {e}"))?;
        Ok(Upstreams {
            configured: config
                .into_iter()
                .map(|config| Live::new(config, &http, None))
                .collect(),
            http: Some(http),
            ..Upstreams::default()
        })
    }

    fn stored(&self) -> Arc<Vec<Arc<Live>>> {
        self.stored
            .read()
            .map(|s| Arc::clone(&s))
            .unwrap_or_default()
    }

    pub fn get(&self, id: &str) -> Option<Arc<Live>> {
        self.configured
            .iter()
            .find(|u| u.config.id == id)
            .cloned()
            .or_else(|| self.stored().iter().find(|u| u.config.id == id).cloned())
    }

    /// Every upstream, the configuration's first.
    pub fn all(&self) -> Vec<Arc<Live>> {
        let mut all = self.configured.clone();
        all.extend(self.stored().iter().cloned());
        all
    }

    pub fn is_empty(&self) -> bool {
        self.configured.is_empty() && self.stored().is_empty()
    }

    /// The configuration's upstreams (never changed at run time).
    pub fn configured(&self) -> impl Iterator<Item = &Upstream> {
        self.configured.iter().map(|l| &l.config)
    }

    /// Reads the stored upstreams again. An upstream whose row did not
    /// change keeps its discovered provider; a row that does not load (a
    /// KEK that no longer opens its secret, an id the configuration took
    /// since) is passed over with one warning. A database that cannot be
    /// read leaves the upstreams as they were.
    pub async fn refresh(&self, db: &impl Store, kek: &Kek) {
        let Some(http) = &self.http else { return };
        let rows = match db.stored_upstreams().await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::debug!(error = %e, "reading the stored upstreams failed; keeping them as they were");
                return;
            }
        };
        let current = self.stored();
        let mut next = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(same) = current.iter().find(|l| l.stored.as_ref() == Some(&row)) {
                next.push(Arc::clone(same));
                continue;
            }
            let configured = |id: &str| self.configured.iter().any(|l| l.config.id == id);
            match load_stored(&row, kek, configured) {
                Ok(config) => next.push(Live::new(config, http, Some(row))),
                Err(e) => {
                    let first = self
                        .bad
                        .lock()
                        .is_ok_and(|mut bad| bad.insert((row.id.clone(), row.created_at)));
                    if first {
                        tracing::warn!(upstream = %row.id, error = %e, "a stored upstream is not offered");
                    }
                }
            }
        }
        if let Ok(mut stored) = self.stored.write() {
            *stored = Arc::new(next);
        }
    }
}

/// The associated data of a stored upstream's sealed client secret.
fn secret_context(id: &str) -> String {
    format!("upstream-secret\u{0}{id}")
}

/// An upstream to store: its keys (checked by [`check`]) as JSON without
/// the secret, and the secret sealed under the KEK.
///
/// # Errors
/// The upstream does not pass [`check`] (the message names the key), or
/// it names a `client_secret_file` (a path on one machine: send the
/// secret itself).
pub fn to_store(
    mut u: UpstreamConfig,
    kek: &Kek,
    now: UnixTime,
) -> anyhow::Result<(Upstream, frontdesk_core::model::StoredUpstream)> {
    if u.client_secret_file.is_some() || u.private_key_file.is_some() {
        bail!(
            "upstreams[{}]: client_secret_file and private_key_file are for the configuration file; send client_secret or private_key",
            u.id
        );
    }
    let private = u.token_endpoint_auth_method.as_deref() == Some("private_key_jwt");
    let slot = if private {
        &mut u.private_key
    } else {
        &mut u.client_secret
    };
    let Some(secret) = slot.take().map(Zeroizing::new) else {
        let what = if private {
            "private_key"
        } else {
            "client_secret"
        };
        bail!("upstreams[{}]: {what} is required", u.id);
    };
    let spec = serde_json::to_string(&u).map_err(|e| anyhow!("{e}"))?;
    if private {
        u.private_key = Some(secret.to_string());
    } else {
        u.client_secret = Some(secret.to_string());
    }
    let checked = check(u)?;
    let sealed = kek
        .seal(&secret_context(&checked.id), secret.as_bytes())
        .map_err(|e| anyhow!("sealing the client secret: {e}"))?;
    let row = frontdesk_core::model::StoredUpstream {
        id: checked.id.clone(),
        spec,
        secret: sealed,
        created_at: now,
    };
    Ok((checked, row))
}

/// A stored upstream as this server would offer it: [`from_stored`],
/// unless the configuration file (`configured`) has an upstream of its
/// id, which wins.
///
/// # Errors
/// Why it is not offered.
pub fn load_stored(
    row: &frontdesk_core::model::StoredUpstream,
    kek: &Kek,
    configured: impl Fn(&str) -> bool,
) -> anyhow::Result<Upstream> {
    if configured(&row.id) {
        bail!("the configuration file has an upstream of this id, which wins");
    }
    from_stored(row, kek)
}

/// A stored upstream, checked again as [`check`] checks every upstream.
///
/// # Errors
/// Its secret does not open under this KEK, or its keys no longer pass.
fn from_stored(row: &frontdesk_core::model::StoredUpstream, kek: &Kek) -> anyhow::Result<Upstream> {
    let mut u: UpstreamConfig =
        serde_json::from_str(&row.spec).map_err(|e| anyhow!("its stored keys: {e}"))?;
    if u.id != row.id {
        bail!("its stored keys name another id");
    }
    let secret = kek
        .open(&secret_context(&row.id), &row.secret)
        .map_err(|_| anyhow!("its client secret does not open under this KEK"))?;
    let secret =
        std::str::from_utf8(&secret).map_err(|_| anyhow!("its client secret is not text"))?;
    if u.token_endpoint_auth_method.as_deref() == Some("private_key_jwt") {
        u.private_key = Some(secret.to_owned());
    } else {
        u.client_secret = Some(secret.to_owned());
    }
    check(u)
}

impl Upstream {
    /// What the admin API and `frontdesk upstreams list` show: every
    /// setting in effect (a preset's filled in), never the secret.
    pub fn view(&self) -> Value {
        let mut v = serde_json::json!({
            "id": self.id,
            "display_name": self.display_name,
            "icon": self.icon,
            "client_id": self.client_id,
            "token_endpoint_auth_method": self.credential.method(),
            // What to register at the upstream for this client.
            "public_jwk": match &self.credential {
                Credential::Key(k) => Some(k.public_jwk()),
                Credential::Basic(_) | Credential::Post(_) => None,
            },
            "response_mode": if self.form_post { "form_post" } else { "query" },
            "scopes": self.scopes,
            "provision": self.policy.provision,
            "link_by_email": self.policy.link_by_email,
            "subject_claim": self.mapping.subject,
            "email_claim": self.mapping.email,
            "name_claim": self.mapping.name,
            "username_claim": self.mapping.username,
            "copy_claims": self.mapping.copy,
            "groups_claim": self.mapping.groups,
            "group_prefix": self.mapping.group_prefix,
            "propagate_logout": self.propagate_logout,
        });
        match &self.endpoints {
            Endpoints::Discovered { issuer } => {
                v["kind"] = "oidc".into();
                v["issuer"] = issuer.as_str().into();
            }
            Endpoints::Configured {
                authorization,
                token,
                userinfo,
                emails,
            } => {
                v["kind"] = "oauth2".into();
                v["authorization_endpoint"] = authorization.as_str().into();
                v["token_endpoint"] = token.as_str().into();
                v["userinfo_endpoint"] = userinfo.as_str().into();
                v["emails_endpoint"] = emails.as_deref().into();
            }
        }
        v
    }
}

fn flow_context(upstream: &str) -> String {
    format!("upstream-flow\u{0}{upstream}")
}

fn logout_context(upstream: &str) -> String {
    format!("upstream-logout\u{0}{upstream}")
}

/// Where the browser goes after the upstream's logout.
#[derive(Serialize, Deserialize)]
struct AfterLogout {
    exp: UnixTime,
    then: Option<String>,
}

/// `value` as JSON, sealed under the KEK with `context` as associated
/// data, base64url.
fn seal<T: Serialize>(kek: &Kek, context: &str, value: &T) -> Result<String, UpstreamError> {
    let json = serde_json::to_vec(value).map_err(|e| UpstreamError::Internal(e.to_string()))?;
    let sealed = kek
        .seal(context, &json)
        .map_err(|e| UpstreamError::Internal(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(sealed))
}

/// [`seal`] undone: `None` for anything not sealed by us with `context`.
fn open<T: serde::de::DeserializeOwned>(kek: &Kek, context: &str, sealed: &str) -> Option<T> {
    let bytes = URL_SAFE_NO_PAD.decode(sealed.trim()).ok()?;
    let json = kek.open(context, &bytes).ok()?;
    serde_json::from_slice(&json).ok()
}

impl Live {
    /// The discovered provider; discovery runs at the first use and again
    /// after a failure (an upstream down at start-up does not stop us).
    async fn provider(&self) -> Result<&Provider, UpstreamError> {
        if let Some(p) = self.provider.get() {
            return Ok(p);
        }
        let recently =
            |at: &Option<std::time::Instant>| at.is_some_and(|t| t.elapsed() < RETRY_AFTER_FAILURE);
        if self.failed_at.lock().is_ok_and(|at| recently(&at)) {
            return Err(UpstreamError::Unavailable(format!(
                "discovery at {} failed moments ago",
                self.config.id
            )));
        }
        let found = self.discover().await;
        if found.is_err()
            && let Ok(mut at) = self.failed_at.lock()
        {
            *at = Some(std::time::Instant::now());
        }
        found
    }

    async fn discover(&self) -> Result<&Provider, UpstreamError> {
        self.provider
            .get_or_try_init(|| async {
                match &self.config.endpoints {
                    Endpoints::Discovered { issuer } => {
                        let p = Provider::discover(&self.http, issuer).await?;
                        p.load_keys().await?;
                        Ok::<_, UpstreamError>(p)
                    }
                    Endpoints::Configured {
                        authorization,
                        token,
                        userinfo,
                        ..
                    } => Ok(Provider::from_endpoints(
                        &self.http,
                        authorization,
                        token,
                        Some(userinfo),
                    )?),
                }
            })
            .await
    }

    fn client(&self, provider: &Provider) -> Client {
        let c = &self.config;
        let auth = match &c.credential {
            Credential::Basic(secret) => ClientAuth::basic(&c.client_id, secret),
            Credential::Post(secret) => ClientAuth::post(&c.client_id, secret),
            Credential::Key(key) => ClientAuth::private_key_jwt(&c.client_id, Arc::clone(key)),
        };
        Client::new(provider.clone(), auth)
    }

    /// Starts a sign-in: the upstream's authorization URL, and the sealed
    /// flow for the `fd_upstream` cookie.
    ///
    /// # Errors
    /// [`UpstreamError`]: the upstream unreachable, or sealing failed.
    pub async fn start(
        &self,
        kek: &Kek,
        redirect_uri: &str,
        begin: Begin,
        now: UnixTime,
    ) -> Result<(url::Url, String), UpstreamError> {
        let Begin {
            request,
            next,
            link_sid,
            fresh,
        } = begin;
        let provider = self.provider().await?;
        let mut ar = AuthorizationRequest::new(
            provider,
            &self.config.client_id,
            redirect_uri,
            &self.config.scopes.join(" "),
        )?;
        // OIDC Core §3.1.2.1; a plain OAuth 2.0 server has no such
        // parameters (README: it cannot be asked to re-authenticate).
        let oidc = matches!(self.config.endpoints, Endpoints::Discovered { .. });
        if oidc && fresh.login {
            ar.url.query_pairs_mut().append_pair("prompt", "login");
        }
        if self.config.form_post {
            ar.url
                .query_pairs_mut()
                .append_pair("response_mode", "form_post");
        }
        let max_age = fresh.max_age.filter(|_| oidc);
        if let Some(m) = max_age {
            ar.url
                .query_pairs_mut()
                .append_pair("max_age", &m.to_string());
        }
        let flow = Flow {
            exp: now + FLOW_SECS,
            state: ar.state.clone(),
            nonce: ar.nonce.clone(),
            verifier: ar.code_verifier.clone(),
            request,
            next,
            link_sid,
            max_age,
            login: oidc && fresh.login,
        };
        let sealed = seal(kek, &flow_context(&self.config.id), &flow)?;
        // A browser keeps cookies up to 4096 bytes and drops larger ones
        // without a word: a request that large (a big request object
        // carried along) is refused here, not lost at the callback.
        if sealed.len() > MAX_FLOW_COOKIE {
            return Err(UpstreamError::TooLarge);
        }
        Ok((ar.url, sealed))
    }

    /// RP-Initiated Logout at the upstream (`propagate_logout`): its
    /// `end_session_endpoint` with our `client_id`, the `post_logout_redirect_uri`
    /// `back` (registered there), and a `state` that seals where the
    /// browser goes after that (`then`, already validated). `Ok(None)`: not
    /// configured, or the upstream has no such endpoint.
    ///
    /// # Errors
    /// The upstream unreachable (its metadata is needed), or sealing.
    pub async fn end_session(
        &self,
        kek: &Kek,
        back: &str,
        then: Option<String>,
        now: UnixTime,
    ) -> Result<Option<url::Url>, UpstreamError> {
        if !self.config.propagate_logout {
            return Ok(None);
        }
        let provider = self.provider().await?;
        let Some(endpoint) = provider.metadata().end_session_endpoint.as_deref() else {
            return Ok(None);
        };
        let mut url = url::Url::parse(endpoint)
            .map_err(|e| UpstreamError::Failed(format!("end_session_endpoint: {e}")))?;
        let after = AfterLogout {
            exp: now + FLOW_SECS,
            then,
        };
        let state = seal(kek, &logout_context(&self.config.id), &after)?;
        url.query_pairs_mut()
            .append_pair("client_id", &self.config.client_id)
            .append_pair("post_logout_redirect_uri", back)
            .append_pair("state", &state);
        Ok(Some(url))
    }

    /// Where the browser goes once the upstream signed it out: the target
    /// sealed in `state` by [`Live::end_session`]; `None` when `state` is
    /// not one of ours (then a plain "signed out" page — never a redirect
    /// to something the query says).
    pub fn after_logout(&self, kek: &Kek, state: &str, now: UnixTime) -> Option<String> {
        let after: AfterLogout = open(kek, &logout_context(&self.config.id), state)?;
        (after.exp > now).then_some(after.then).flatten()
    }

    /// Opens the sealed flow of this upstream and, when the callback's
    /// `state` is its own (RFC 6749 §10.12, compared in constant time),
    /// spends it: `Ok(None)` when it is not one of ours for this upstream,
    /// expired, spent, or for another `state`. (The callback handler drops
    /// the browser's flow cookie whatever came of it: a forged callback
    /// costs the user a new start, never their account.)
    ///
    /// # Errors
    /// Only the store's.
    pub async fn open_flow<S: Store>(
        &self,
        kek: &Kek,
        store: &S,
        sealed: &str,
        state: &str,
        now: UnixTime,
    ) -> Result<Option<Flow>, Error> {
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(sealed.trim()) else {
            return Ok(None);
        };
        let Some(flow) = open::<Flow>(kek, &flow_context(&self.config.id), sealed) else {
            return Ok(None);
        };
        if flow.exp <= now || !frontdesk_rp::same(&flow.state, state) {
            return Ok(None);
        }
        let canonical = URL_SAFE_NO_PAD.encode(&bytes);
        let replay_key = secret::token_hash(&format!("upstream-flow\u{0}{canonical}"));
        if !store.use_once(&replay_key, flow.exp, now).await? {
            return Ok(None);
        }
        Ok(Some(flow))
    }

    /// RFC 9207 §2.4: the `iss` of the authorization response must be the
    /// upstream's issuer; it must be there when the upstream says it sends
    /// it. `Ok(false)`: refuse the response.
    ///
    /// # Errors
    /// The upstream unreachable (its metadata is needed).
    pub async fn iss_ok(&self, iss: Option<&str>) -> Result<bool, UpstreamError> {
        // A plain OAuth 2.0 server has no issuer to compare; each upstream
        // has a callback of its own (RFC 9700 §4.4.2.2), so an answer of
        // one cannot be presented as another's.
        if !matches!(self.config.endpoints, Endpoints::Discovered { .. }) {
            return Ok(true);
        }
        let provider = self.provider().await?;
        Ok(match iss {
            Some(i) => frontdesk_rp::same(i, provider.issuer()),
            None => {
                !provider
                    .metadata()
                    .authorization_response_iss_parameter_supported
            }
        })
    }

    /// Finishes a sign-in: exchanges the code (with the flow's PKCE
    /// verifier), verifies the ID token (with the flow's nonce) and maps
    /// its claims; with them the groups it lists, when its `groups_claim`
    /// is set ([`asserted_groups`]). `user` is the `user` field of a form
    /// post (Apple's: the name, sent once, unsigned), which fills in only
    /// name claims the ID token lacks.
    ///
    /// # Errors
    /// [`UpstreamError`].
    pub async fn finish(
        &self,
        flow: &Flow,
        code: &str,
        redirect_uri: &str,
        user: Option<&str>,
        now: UnixTime,
    ) -> Result<(Identity, Option<Vec<String>>), UpstreamError> {
        let provider = self.provider().await?;
        let tokens = self
            .client(provider)
            .exchange_code(code, redirect_uri, &flow.verifier)
            .await?;
        if let Endpoints::Configured {
            userinfo, emails, ..
        } = &self.config.endpoints
        {
            let about = read_user(
                provider.http(),
                userinfo,
                emails.as_deref(),
                &tokens.access_token,
            )
            .await?;
            return Ok((
                identity(&self.config, &about)?,
                asserted_groups(&self.config, &about),
            ));
        }
        let id_token = tokens.id_token.as_deref().ok_or_else(|| {
            UpstreamError::Failed("the token response has no ID token".to_owned())
        })?;
        let claims = provider
            .verify_id_token(
                id_token,
                &Expect {
                    issuer: provider.issuer(),
                    client_id: &self.config.client_id,
                    nonce: Some(&flow.nonce),
                    original_nonce: None,
                    access_token: Some(&tokens.access_token),
                },
                u64::try_from(now).unwrap_or(0),
            )
            .await?;
        fresh_enough(flow, claims.auth_time, now)?;
        let mut all = claims.extra.clone();
        all.insert("sub".to_owned(), Value::String(claims.sub.clone()));
        if let Some(user) = user.filter(|_| self.config.form_post) {
            posted_name(&mut all, user);
        }
        let mut found = identity(&self.config, &all)?;
        found.auth_time = claims.auth_time.and_then(|t| i64::try_from(t).ok());
        Ok((found, asserted_groups(&self.config, &all)))
    }
}

/// What a plain OAuth 2.0 upstream says about its user: the userinfo
/// document, and from an emails list (GitHub's shape) the primary verified
/// address as `email` with `email_verified: true`. Without a verified one,
/// the document's own `email` stays, unverified.
async fn read_user(
    http: &HttpClient,
    userinfo: &str,
    emails: Option<&str>,
    access_token: &str,
) -> Result<serde_json::Map<String, Value>, UpstreamError> {
    let fetch = |url: String| async move {
        let answer = http
            .get(&url, Some(access_token))
            .await
            .map_err(|e| UpstreamError::Unavailable(format!("cannot reach {url}: {e}")))?;
        if answer.status != 200 {
            return Err(UpstreamError::Failed(format!(
                "{url} answered HTTP {}",
                answer.status
            )));
        }
        answer
            .json::<Value>()
            .map_err(|e| UpstreamError::Failed(format!("{url}: not JSON: {e}")))
    };
    let Value::Object(mut about) = fetch(userinfo.to_owned()).await? else {
        return Err(UpstreamError::Failed(format!(
            "{userinfo}: not a JSON object"
        )));
    };
    // Only the list's word counts for verification, never the document's.
    about.remove("email_verified");
    if let Some(url) = emails {
        let list = fetch(url.to_owned()).await?;
        let verified_primary = list.as_array().and_then(|l| {
            l.iter().find(|e| {
                e.get("primary") == Some(&Value::Bool(true))
                    && e.get("verified") == Some(&Value::Bool(true))
            })
        });
        if let Some(address) = verified_primary.and_then(|e| e.get("email")).cloned() {
            about.insert("email".to_owned(), address);
            about.insert("email_verified".to_owned(), Value::Bool(true));
        }
    }
    Ok(about)
}

/// Apple's `user` form field, `{"name": {"firstName", "lastName"}, …}`:
/// `given_name`, `family_name` and `name` where the claims have none. Only
/// names: it is the browser's word, not the provider's signed one (its
/// `email` is never read; the ID token's counts).
fn posted_name(claims: &mut serde_json::Map<String, Value>, user: &str) {
    let Ok(Value::Object(user)) = serde_json::from_str::<Value>(user) else {
        return;
    };
    let part = |k: &str| {
        user.get("name")
            .and_then(|n| n.get(k))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.chars().take(100).collect::<String>())
    };
    let (given, family) = (part("firstName"), part("lastName"));
    let full = match (&given, &family) {
        (Some(g), Some(f)) => Some(format!("{g} {f}")),
        (Some(one), None) | (None, Some(one)) => Some(one.clone()),
        (None, None) => None,
    };
    for (claim, v) in [
        ("given_name", given),
        ("family_name", family),
        ("name", full),
    ] {
        if let Some(v) = v {
            claims.entry(claim).or_insert(Value::String(v));
        }
    }
}

/// OIDC Core §3.1.2.1 and §2: with `max_age` sent, the ID token MUST carry
/// `auth_time`, within `max_age` (plus the clock leeway); with
/// `prompt=login`, an `auth_time` it carries must be from this flow.
fn fresh_enough(flow: &Flow, auth_time: Option<u64>, now: UnixTime) -> Result<(), UpstreamError> {
    let leeway = i64::try_from(frontdesk_rp::LEEWAY_SECS).unwrap_or(60);
    let auth_time = auth_time.map(|t| i64::try_from(t).unwrap_or(i64::MAX));
    if let Some(m) = flow.max_age {
        match auth_time {
            Some(t) if now.saturating_sub(t) <= m.saturating_add(leeway) => {}
            Some(_) => {
                return Err(UpstreamError::Failed(format!(
                    "the upstream's sign-in is older than the max_age {m} it was sent"
                )));
            }
            None => {
                return Err(UpstreamError::Failed(
                    "max_age was sent but the ID token has no auth_time".to_owned(),
                ));
            }
        }
    }
    let started = flow.exp - FLOW_SECS;
    if flow.login && auth_time.is_some_and(|t| t < started - leeway) {
        return Err(UpstreamError::Failed(
            "prompt=login was sent but the upstream did not sign the user in again".to_owned(),
        ));
    }
    Ok(())
}

/// The upstream's claims through the configured mapping.
fn identity(
    config: &Upstream,
    claims: &serde_json::Map<String, Value>,
) -> Result<Identity, UpstreamError> {
    let text = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let m = &config.mapping;
    // A subject may be a number (GitHub's account id). It is the link's
    // key as sent: never trimmed, so "abc " and "abc" stay two accounts.
    let subject = match claims.get(&m.subject) {
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let subject = subject.ok_or_else(|| {
        UpstreamError::Failed(format!(
            "the ID token has no {:?} claim to know the account by",
            m.subject
        ))
    })?;
    let email = text(&m.email).filter(|e| frontdesk_core::registration::validate_email(e).is_ok());
    // OIDC Core §5.1: `email_verified` speaks of `email` only, so an
    // address mapped from another claim is never verified; a boolean, or
    // the string "true" some providers send.
    let email_verified = email.is_some()
        && m.email == "email"
        && match claims.get("email_verified") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s == "true",
            _ => false,
        };
    let mut profile = UserClaims {
        name: text(&m.name),
        ..UserClaims::default()
    };
    for c in &m.copy {
        let v = text(c);
        match *c {
            "given_name" => profile.given_name = v,
            "family_name" => profile.family_name = v,
            "nickname" => profile.nickname = v,
            "picture" => profile.picture = v,
            "locale" => profile.locale = v,
            "name" => profile.name = v.or(profile.name),
            _ => {}
        }
    }
    Ok(Identity {
        upstream: config.id.clone(),
        subject,
        username: text(&m.username),
        email,
        email_verified,
        claims: profile,
        auth_time: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct File {
        upstreams: Vec<UpstreamConfig>,
    }

    fn parse(text: &str) -> anyhow::Result<Vec<Upstream>> {
        let f: File = ::config::Config::builder()
            .add_source(::config::File::from_str(text, ::config::FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize())?;
        validate(f.upstreams)
    }

    fn config(extra: &str) -> anyhow::Result<Vec<Upstream>> {
        parse(&format!(
            "[[upstreams]]\nid = \"hotel\"\ndisplay_name = \"Hotel\"\nissuer = \"https://sso.example.com\"\nclient_id = \"fd\"\n{extra}"
        ))
    }

    #[test]
    fn configuration_rules() {
        let ok = config("client_secret = \"s\"").unwrap_or_default();
        assert_eq!(ok[0].scopes, ["openid", "email", "profile"]);
        assert!(ok[0].policy.provision && !ok[0].policy.link_by_email);
        assert_eq!(ok[0].credential.method(), "client_secret_basic");
        let refused = [
            ("", "client_secret or client_secret_file is required"),
            (
                "client_secret = \"s\"\nclient_secret_file = \"/x\"",
                "not both",
            ),
            (
                "client_secret = \"s\"\nkind = \"oauth2\"",
                "a plain OAuth 2.0 upstream has no issuer",
            ),
            (
                "client_secret = \"s\"\ntoken_endpoint = \"https://x.example/t\"",
                "token_endpoint is for kind = \"oauth2\"",
            ),
            (
                "client_secret = \"s\"\npreset = \"myspace\"",
                "preset must be one of",
            ),
            (
                "client_secret = \"s\"\ntoken_endpoint_auth_method = \"none\"",
                "client_secret_basic, client_secret_post or private_key_jwt, not \"none\"",
            ),
            (
                "client_secret = \"s\"\ncopy_claims = [\"email\"]",
                "copy_claims",
            ),
            (
                "client_secret = \"s\"\nscopes = [\"a b\"]",
                "not a scope token",
            ),
            ("client_secret = \"s\"\ngroups = 1", "unknown field"),
            (
                "client_secret = \"s\"\nresponse_mode = \"fragment\"",
                "response_mode must be query or form_post, not \"fragment\"",
            ),
        ];
        for (extra, want) in refused {
            let e = config(extra)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(want), "{extra:?}: {e}");
        }
        let http = "[[upstreams]]\nid = \"x\"\ndisplay_name = \"X\"\nissuer = \"http://sso.example.com\"\nclient_id = \"c\"\nclient_secret = \"s\"";
        assert!(parse(http).is_err(), "http only on loopback");
        let no_issuer = |extra: &str| {
            parse(&format!(
                "[[upstreams]]\nid = \"gh\"\ndisplay_name = \"GitHub\"\nclient_id = \"c\"\nclient_secret = \"s\"\n{extra}"
            ))
            .map_err(|e| e.to_string())
        };
        // GitHub from its preset: endpoints, scopes and the numeric id.
        let gh = no_issuer("preset = \"github\"").unwrap_or_default();
        assert!(matches!(
            &gh[0].endpoints,
            Endpoints::Configured { token, emails: Some(_), .. } if token == "https://github.com/login/oauth/access_token"
        ));
        assert_eq!(gh[0].scopes, ["read:user", "user:email"]);
        assert_eq!(gh[0].mapping.subject, "id");
        assert_eq!(gh[0].mapping.username, "login");
        // The operator's keys win over the preset's.
        let ghe = no_issuer(
            "preset = \"github\"\nuserinfo_endpoint = \"https://ghe.example/api/v3/user\"\nscopes = [\"read:user\"]",
        )
        .unwrap_or_default();
        assert!(matches!(
            &ghe[0].endpoints,
            Endpoints::Configured { userinfo, .. } if userinfo == "https://ghe.example/api/v3/user"
        ));
        assert_eq!(ghe[0].scopes, ["read:user"]);
        // Microsoft needs its tenant; then the issuer is the tenant's.
        let e = no_issuer("preset = \"microsoft\"")
            .err()
            .unwrap_or_default();
        assert!(e.contains("needs tenant"), "{e}");
        let ms = no_issuer("preset = \"microsoft\"\ntenant = \"0b1d\"").unwrap_or_default();
        assert!(matches!(
            &ms[0].endpoints,
            Endpoints::Discovered { issuer } if issuer == "https://login.microsoftonline.com/0b1d/v2.0"
        ));
        assert_eq!(ms[0].scopes, ["openid", "email", "profile"]);
        // A plain OAuth 2.0 upstream needs its three endpoints.
        let e = no_issuer("kind = \"oauth2\"\nauthorization_endpoint = \"https://a.example/a\"")
            .err()
            .unwrap_or_default();
        assert!(e.contains("token_endpoint is required"), "{e}");
        for p in PRESETS {
            let extra = format!("preset = \"{}\"\ntenant = \"t\"", p.name);
            assert!(no_issuer(&extra).is_ok(), "{}", p.name);
        }
        assert!(!valid_id("Hotel") && !valid_id("") && !valid_id("a/b") && valid_id("hotel-1"));
        // Apple answers by form post, with its own scopes; a key wins.
        let apple = no_issuer("preset = \"apple\"").unwrap_or_default();
        assert!(apple[0].form_post);
        assert_eq!(apple[0].scopes, ["openid", "name", "email"]);
        let q = no_issuer("preset = \"apple\"\nresponse_mode = \"query\"").unwrap_or_default();
        assert!(!q[0].form_post);
        assert!(!ok[0].form_post, "query by default");
    }

    #[test]
    fn a_posted_user_fills_in_missing_names_only() {
        let claims = |v: Value| v.as_object().cloned().unwrap_or_default();
        // (ID token claims, posted `user`, name, given_name, family_name)
        let cases = [
            (
                serde_json::json!({}),
                r#"{"name":{"firstName":"Carol","lastName":"Apple"},"email":"x@evil.example"}"#,
                Some("Carol Apple"),
                Some("Carol"),
                Some("Apple"),
            ),
            (
                serde_json::json!({"name": "Carol Token"}),
                r#"{"name":{"firstName":"Other"}}"#,
                Some("Carol Token"),
                Some("Other"),
                None,
            ),
            (
                serde_json::json!({}),
                r#"{"name":{"lastName":" "}}"#,
                None,
                None,
                None,
            ),
            (serde_json::json!({}), "not json", None, None, None),
            (serde_json::json!({}), r#"["a"]"#, None, None, None),
        ];
        for (token, user, name, given, family) in cases {
            let mut all = claims(token);
            posted_name(&mut all, user);
            let get = |k: &str| all.get(k).and_then(Value::as_str).map(str::to_owned);
            assert_eq!(get("name").as_deref(), name, "{user}");
            assert_eq!(get("given_name").as_deref(), given, "{user}");
            assert_eq!(get("family_name").as_deref(), family, "{user}");
            assert_eq!(get("email"), None, "{user}: never the posted address");
        }
    }

    #[test]
    fn freshness_the_upstream_was_asked_for() {
        const NOW: UnixTime = 1_800_000_000;
        let flow = |max_age: Option<i64>, login: bool| Flow {
            exp: NOW - 10 + FLOW_SECS,
            state: String::new(),
            nonce: String::new(),
            verifier: String::new(),
            request: String::new(),
            next: String::new(),
            link_sid: None,
            max_age,
            login,
        };
        let at = |secs_ago: i64| Some(u64::try_from(NOW - secs_ago).unwrap_or(0));
        // (max_age, prompt=login, auth_time, accepted)
        let cases = [
            (None, false, None, true),
            (None, false, at(86_400), true),
            (Some(300), false, at(100), true),
            (Some(300), false, at(300 + 60), true),
            (Some(300), false, at(300 + 61), false),
            (Some(0), false, None, false),
            (None, true, None, true),
            (None, true, at(5), true),
            (None, true, at(10 + 60 + 1), false),
        ];
        for (max_age, login, auth_time, ok) in cases {
            let got = fresh_enough(&flow(max_age, login), auth_time, NOW).is_ok();
            assert_eq!(got, ok, "{max_age:?} {login} {auth_time:?}");
        }
    }

    #[test]
    fn claims_map_through_the_configuration() {
        let up =
            config("client_secret = \"s\"\nsubject_claim = \"oid\"\ncopy_claims = [\"locale\"]")
                .unwrap_or_default()
                .remove(0);
        let claims = |v: Value| v.as_object().cloned().unwrap_or_default();
        let got = identity(
            &up,
            &claims(serde_json::json!({
                "sub": "pairwise", "oid": "object-1", "email": "c@x.example",
                "email_verified": "true", "name": "Carol", "locale": "fr",
                "preferred_username": "carol"
            })),
        )
        .ok();
        let got = got.unwrap_or_default();
        assert_eq!(got.subject, "object-1");
        assert_eq!(got.email.as_deref(), Some("c@x.example"));
        assert!(got.email_verified);
        assert_eq!(got.claims.locale.as_deref(), Some("fr"));
        assert_eq!(got.username.as_deref(), Some("carol"));
        // No subject: refused; a malformed address is dropped, unverified.
        assert!(identity(&up, &claims(serde_json::json!({"sub": "s"}))).is_err());
        let odd = identity(
            &up,
            &claims(
                serde_json::json!({"oid": "o", "email": "not-an-address", "email_verified": true}),
            ),
        )
        .ok()
        .unwrap_or_default();
        assert_eq!(odd.email, None);
        assert!(!odd.email_verified);
    }
}
