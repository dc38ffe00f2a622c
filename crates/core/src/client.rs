//! Clients: registration rules (RFC 7591 §2, RFC 8252, RFC 9700 §2.1) and
//! authentication at the token endpoint (RFC 6749 §2.3).

use std::sync::Arc;

use url::Url;

use crate::Core;
use crate::error::{Error, ErrorCode, OAuthError};
use crate::model::{AuthMethod, Client, ClientId, GrantType, Jwks, UnixTime};
use crate::secret::Pepper;
use crate::store::Store;

/// Schemes refused anywhere a redirect URI is registered (RFC 9700 §2.6,
/// SECURITY.md R29), compared case-insensitively.
const FORBIDDEN_SCHEMES: &[&str] = &["javascript", "data", "vbscript", "file", "blob", "about"];

/// Why registration metadata was refused. Shown to administrators as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MetadataError(pub String);

/// Checks one redirect URI for registration:
/// - `https` with a host;
/// - `http` only on a loopback IP literal (`127.0.0.1`, `[::1]`) — RFC 8252
///   §7.3; `localhost` is refused (RFC 8252 §8.3 prefers IP literals);
/// - a private-use scheme containing a period (reverse domain name, RFC 8252
///   §7.1), e.g. `com.example.app:/callback`;
/// - never a fragment (RFC 6749 §3.1.2), never `javascript:`, `data:`,
///   `file:` and the like.
pub fn validate_redirect_uri(uri: &str) -> Result<(), MetadataError> {
    let bad = |why: &str| MetadataError(format!("redirect_uri {uri:?}: {why}"));
    let scheme_end = uri.find(':').ok_or_else(|| bad("not an absolute URI"))?;
    let scheme = uri[..scheme_end].to_ascii_lowercase();
    if FORBIDDEN_SCHEMES.contains(&scheme.as_str()) {
        return Err(bad("this scheme is never allowed"));
    }
    if uri.contains('#') {
        return Err(bad("must not contain a fragment"));
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("must not contain whitespace"));
    }
    let url = Url::parse(uri).map_err(|_| bad("not an absolute URI"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not contain user information"));
    }
    let special = matches!(url.scheme(), "http" | "https");
    if special && !uri[scheme_end..].starts_with("://") || uri[scheme_end..].starts_with(":///") {
        return Err(bad("needs an authority: scheme://host/…"));
    }
    match url.scheme() {
        "https" => {
            if url.host_str().is_none_or(str::is_empty) {
                return Err(bad("https URIs need a host"));
            }
            Ok(())
        }
        "http" => match url.host() {
            Some(url::Host::Ipv4(ip)) if ip.is_loopback() && uri_host_is(uri, "127.0.0.1") => {
                Ok(())
            }
            Some(url::Host::Ipv6(ip)) if ip.is_loopback() && uri_host_is(uri, "[::1]") => Ok(()),
            _ => Err(bad(
                "http is allowed only on the loopback addresses 127.0.0.1 and [::1]; use https",
            )),
        },
        other => {
            if !other.contains('.') {
                return Err(bad(
                    "private-use schemes must be reverse domain names such as com.example.app",
                ));
            }
            Ok(())
        }
    }
}

/// True when the authority of `uri` is literally `host` (with or without a
/// port), so that `http://127.1/`, `http://2130706433/` or `http://[::0:1]/`
/// — which the URL parser normalises to 127.0.0.1 or [::1] — are not
/// registered under a disguise (and the loopback port rule, which works on
/// the literal spelling, applies to every registered loopback URI).
fn uri_host_is(uri: &str, host: &str) -> bool {
    let Some(rest) = uri.split_once("://").map(|(_, r)| r) else {
        return false;
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    authority == host
        || authority
            .strip_prefix(host)
            .is_some_and(|p| p.starts_with(':'))
}

/// Whether a client's metadata hangs together. Called by every path that
/// writes a client (CLI, admin API, configuration).
pub fn validate_metadata(client: &Client) -> Result<(), MetadataError> {
    if client.client_id.0.is_empty() || client.client_id.0.len() > 255 {
        return Err(MetadataError(
            "client_id must be 1 to 255 characters".into(),
        ));
    }
    // RFC 6749 Appendix A.1: client-id = *VSCHAR (%x20-7E).
    if client
        .client_id
        .0
        .chars()
        .any(|c| !matches!(c, '\x20'..='\x7e'))
    {
        return Err(MetadataError(
            "client_id must be printable ASCII (RFC 6749 VSCHAR)".into(),
        ));
    }
    if client.client_name.trim().is_empty() {
        return Err(MetadataError("client_name must not be empty".into()));
    }
    for uri in client
        .redirect_uris
        .iter()
        .chain(&client.post_logout_redirect_uris)
    {
        validate_redirect_uri(uri)?;
    }
    if let Some(alg) = &client.id_token_signed_response_alg
        && !["RS256", "PS256", "ES256", "EdDSA"].contains(&alg.as_str())
    {
        return Err(MetadataError(format!(
            "id_token_signed_response_alg {alg:?} is not supported (RS256, PS256, ES256, EdDSA)"
        )));
    }
    if client.grant_types.is_empty() {
        return Err(MetadataError("at least one grant type is required".into()));
    }
    let public = client.token_endpoint_auth_method == AuthMethod::None;
    if public && client.grant_types.contains(&GrantType::ClientCredentials) {
        return Err(MetadataError(
            "client_credentials needs a confidential client (RFC 6749 §4.4); \
             token_endpoint_auth_method none is for public clients"
                .into(),
        ));
    }
    if public && client.grant_types.contains(&GrantType::TokenExchange) {
        return Err(MetadataError(
            "token exchange needs a confidential client (RFC 8693 §2.1: the client authenticates)"
                .into(),
        ));
    }
    if let Some(p) = &client.token_exchange {
        for a in p.subject_audiences.iter().chain(&p.audiences) {
            if a.is_empty() || a.len() > 2000 || a.chars().any(char::is_whitespace) {
                return Err(MetadataError(format!(
                    "token_exchange: {a:?} is not an audience (1-2000 characters, no spaces)"
                )));
            }
        }
    }
    if client.grant_types.contains(&GrantType::AuthorizationCode) && client.redirect_uris.is_empty()
    {
        return Err(MetadataError(
            "authorization_code needs at least one redirect_uri".into(),
        ));
    }
    for rt in &client.response_types {
        if rt != "code" {
            return Err(MetadataError(format!(
                "response_type {rt:?} is not supported (only \"code\")"
            )));
        }
    }
    for aud in &client.audience {
        validate_resource(aud)
            .map_err(|e| MetadataError(format!("audience: {}", e.description)))?;
    }
    if client.access_token_ttl <= 0 || client.refresh_token_ttl <= 0 {
        return Err(MetadataError("token lifetimes must be positive".into()));
    }
    if !client.require_pkce && public {
        return Err(MetadataError(
            "require_pkce = false is for confidential clients only: a public client \
             always sends a PKCE challenge (RFC 9700 §2.1.1)"
                .into(),
        ));
    }
    if !client.require_pkce && client.is_fapi2() {
        return Err(MetadataError(
            "a FAPI 2.0 client always sends a PKCE challenge (FAPI 2.0 §5.3.2.2)".into(),
        ));
    }
    if !client.local_login && client.allowed_upstreams.as_ref().is_some_and(Vec::is_empty) {
        return Err(MetadataError(
            "local_login = false needs an upstream to sign in through: allowed_upstreams is empty"
                .into(),
        ));
    }
    if let Some(ids) = &client.allowed_upstreams
        && let Some(bad) = ids.iter().find(|i| !crate::upstream::valid_id(i))
    {
        return Err(MetadataError(format!(
            "allowed_upstreams: {bad:?} is not an upstream id (1-32 of a-z, 0-9, - and _)"
        )));
    }
    if let Some(bad) = client
        .required_groups
        .iter()
        .find(|g| !crate::groups::valid_name(g))
    {
        return Err(MetadataError(format!(
            "required_groups: {bad:?} is not a group name (1-64 of A-Z, a-z, 0-9 and . _ - : / @, \
             starting with a letter or digit)"
        )));
    }
    if let Some(bad) = client
        .released_groups
        .iter()
        .flatten()
        .find(|p| !crate::groups::valid_pattern(p))
    {
        return Err(MetadataError(format!(
            "released_groups: {bad:?} is neither a group name nor a prefix followed by *"
        )));
    }
    for (name, uri) in [
        ("logo_uri", &client.logo_uri),
        ("client_uri", &client.client_uri),
        ("policy_uri", &client.policy_uri),
        ("tos_uri", &client.tos_uri),
    ] {
        if let Some(uri) = uri {
            validate_link(name, uri)?;
        }
    }
    validate_keys(client)?;
    crate::subject::validate(client)?;
    if client.is_fapi2() {
        validate_fapi2(client)?;
    }
    if client
        .refresh_grace_secs
        .is_some_and(|g| !(0..=MAX_REFRESH_GRACE_SECS).contains(&g))
    {
        return Err(MetadataError(format!(
            "refresh_grace_secs must be 0 (off) to {MAX_REFRESH_GRACE_SECS}"
        )));
    }
    Ok(())
}

/// The algorithms a client may sign with: its client assertions
/// (`token_endpoint_auth_signing_alg_values_supported`) and its request
/// objects (`request_object_signing_alg_values_supported`). Asymmetric
/// only: a shared-secret MAC would make the client secret a signing key.
pub const CLIENT_SIGNING_ALGS: [&str; 4] = ["ES256", "EdDSA", "PS256", "RS256"];

/// The client's keys and what needs them: RFC 7591 §2 ("The `jwks_uri` and
/// `jwks` parameters MUST NOT both be present in the same request or
/// response"), `private_key_jwt` and signed request objects need one of
/// them, a `jwks_uri` is `https` (or `http` on a loopback literal, for
/// tests and local tools) without user information or fragment.
fn validate_keys(client: &Client) -> Result<(), MetadataError> {
    if client.jwks.is_some() && client.jwks_uri.is_some() {
        return Err(MetadataError(
            "jwks and jwks_uri must not both be given (RFC 7591 §2)".into(),
        ));
    }
    let has_keys = client.jwks.is_some() || client.jwks_uri.is_some();
    if client.token_endpoint_auth_method == AuthMethod::PrivateKeyJwt && !has_keys {
        return Err(MetadataError(
            "private_key_jwt needs the client's public keys: jwks or jwks_uri".into(),
        ));
    }
    if client.require_signed_request_object && !has_keys {
        return Err(MetadataError(
            "require_signed_request_object needs the client's public keys: jwks or jwks_uri".into(),
        ));
    }
    if let Some(uri) = &client.jwks_uri {
        validate_jwks_uri(uri)?;
    }
    for (name, alg) in [
        (
            "token_endpoint_auth_signing_alg",
            &client.token_endpoint_auth_signing_alg,
        ),
        (
            "request_object_signing_alg",
            &client.request_object_signing_alg,
        ),
    ] {
        if let Some(alg) = alg
            && !CLIENT_SIGNING_ALGS.contains(&alg.as_str())
        {
            return Err(MetadataError(format!(
                "{name} {alg:?} is not supported ({})",
                CLIENT_SIGNING_ALGS.join(", ")
            )));
        }
    }
    Ok(())
}

/// The FAPI 2.0 Security Profile's registration rules (the request-time
/// ones are `Client::requires_par`, `requires_dpop`, `code_ttl`,
/// `refresh_grace` and `may_sign_with`):
/// - §5.3.2.1 items 3 and 6: a confidential client authenticating with
///   `private_key_jwt` (mutual TLS is not offered here);
/// - §5.3.2.2 item 5: no `http` redirect URI except the loopback ones of
///   RFC 8252 §7.3 (which registration already limits to 127.0.0.1 and
///   [::1]);
/// - §5.4.1: PS256, ES256 or EdDSA for every JWS, so RS256 is refused as
///   the ID-token, assertion and request-object algorithm.
fn validate_fapi2(client: &Client) -> Result<(), MetadataError> {
    if client.token_endpoint_auth_method != AuthMethod::PrivateKeyJwt {
        return Err(MetadataError(
            "profile fapi2 needs token_endpoint_auth_method private_key_jwt \
             (FAPI 2.0 §5.3.2.1)"
                .into(),
        ));
    }
    for (name, alg) in [
        (
            "id_token_signed_response_alg",
            client.id_token_signed_response_alg.as_deref(),
        ),
        (
            "token_endpoint_auth_signing_alg",
            client.token_endpoint_auth_signing_alg.as_deref(),
        ),
        (
            "request_object_signing_alg",
            client.request_object_signing_alg.as_deref(),
        ),
    ] {
        // An unset ID-token algorithm means the server's RS256.
        let rs256 = match (name, alg) {
            ("id_token_signed_response_alg", None) => true,
            (_, alg) => alg == Some("RS256"),
        };
        if rs256 {
            return Err(MetadataError(format!(
                "profile fapi2 allows PS256, ES256 or EdDSA only (FAPI 2.0 §5.4.1): \
                 set {name} to one of them"
            )));
        }
    }
    Ok(())
}

/// The longest link a client may register (RFC 7591 §2 `logo_uri`,
/// `client_uri`, `policy_uri`, `tos_uri`).
pub const MAX_LINK: usize = 2000;

/// A link the consent page shows (RFC 7591 §2, §5: a page the user is
/// sent to, a logo the browser loads): the same rule as `jwks_uri` — https
/// with a host, http only on the loopback addresses, no user information,
/// no fragment —, at most [`MAX_LINK`] characters.
pub fn validate_link(name: &str, uri: &str) -> Result<(), MetadataError> {
    if uri.len() > MAX_LINK {
        return Err(MetadataError(format!(
            "{name}: longer than {MAX_LINK} characters"
        )));
    }
    https_or_loopback(name, uri)
}

/// A `jwks_uri` the server may fetch: `https` with a host, or `http` on
/// `127.0.0.1` / `[::1]`; no user information, no fragment.
pub fn validate_jwks_uri(uri: &str) -> Result<(), MetadataError> {
    https_or_loopback("jwks_uri", uri)
}

/// An absolute https URL (http only on 127.0.0.1 and [::1]) without user
/// information or fragment; `name` names the field in the error.
fn https_or_loopback(name: &str, uri: &str) -> Result<(), MetadataError> {
    let bad = |why: &str| MetadataError(format!("{name} {uri:?}: {why}"));
    let url = Url::parse(uri).map_err(|_| bad("not an absolute URI"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not contain user information"));
    }
    if uri.contains('#') {
        return Err(bad("must not contain a fragment"));
    }
    // A host the URL standard allows but DNS never names (`*`, `;`, `,`,
    // `'`) could rewrite a Content-Security-Policy built from its origin.
    if let Some(url::Host::Domain(d)) = url.host()
        && !d
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        return Err(bad("the host must be a DNS name or an IP address"));
    }
    match (url.scheme(), url.host()) {
        ("https", Some(_)) => Ok(()),
        ("http", Some(url::Host::Ipv4(ip)))
            if ip.is_loopback() && uri_host_is(uri, "127.0.0.1") =>
        {
            Ok(())
        }
        ("http", Some(url::Host::Ipv6(ip))) if ip.is_loopback() && uri_host_is(uri, "[::1]") => {
            Ok(())
        }
        _ => Err(bad(
            "must be https (http only on the loopback addresses 127.0.0.1 and [::1])",
        )),
    }
}

/// Longest refresh grace window a client may have. The window exists for a
/// lost response or two tabs racing, which take seconds; RFC 9700 §4.14.2
/// wants reuse detected, so it stays short.
pub const MAX_REFRESH_GRACE_SECS: i64 = 60;

/// RFC 8707 §2: "Its value MUST be an absolute URI … MUST NOT include a
/// fragment component." We also accept plain identifiers without a scheme
/// nowhere: audiences are URIs.
pub fn validate_resource(resource: &str) -> Result<(), OAuthError> {
    let invalid = || {
        OAuthError::new(
            ErrorCode::InvalidTarget,
            "resource must be an absolute URI without a fragment",
        )
    };
    let url = Url::parse(resource).map_err(|_| invalid())?;
    if url.fragment().is_some() || resource.contains('#') {
        return Err(invalid());
    }
    Ok(())
}

/// `client_assertion_type` of a JWT client assertion (RFC 7523 §2.2).
pub const JWT_BEARER_ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// How the caller presented its credentials at a back-channel endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    /// `Authorization: Basic` (RFC 6749 §2.3.1).
    Basic { client_id: String, secret: String },
    /// `client_id` and `client_secret` in the form body.
    Post { client_id: String, secret: String },
    /// `client_assertion` with `client_assertion_type` jwt-bearer (RFC 7523
    /// §2.2), and the form's `client_id` if it sent one (optional there).
    /// `issuer` is the assertion's own unverified `iss`, when it equals its
    /// `sub` (RFC 7523 §3: both are the client_id), so the client can be
    /// looked up; nothing in the assertion counts before its signature
    /// verifies.
    Assertion {
        client_id: Option<String>,
        issuer: Option<String>,
        assertion: String,
    },
    /// Only `client_id` in the form: a public client.
    PublicId { client_id: String },
    /// Nothing at all.
    Absent,
}

/// What a back-channel request carried to authenticate the client.
#[derive(Debug, Default, Clone, Copy)]
pub struct Presented<'a> {
    /// The `Authorization: Basic` header, already parsed.
    pub basic: Option<(&'a str, &'a str)>,
    pub client_id: Option<&'a str>,
    pub client_secret: Option<&'a str>,
    pub client_assertion_type: Option<&'a str>,
    pub client_assertion: Option<&'a str>,
}

impl Credentials {
    /// Combines the Basic header with the form's `client_id`,
    /// `client_secret`, `client_assertion_type` and `client_assertion`.
    /// RFC 6749 §2.3: "The client MUST NOT use more than one authentication
    /// method in each request."
    pub fn from_parts(p: Presented<'_>) -> Result<Credentials, OAuthError> {
        let more_than_one =
            || OAuthError::invalid_request("the client used more than one authentication method");
        match (p.client_assertion_type, p.client_assertion) {
            (None, None) => {}
            (Some(_), None) | (None, Some(_)) => {
                return Err(OAuthError::invalid_request(
                    "client_assertion and client_assertion_type go together (RFC 7521 §4.2)",
                ));
            }
            (Some(kind), Some(assertion)) => {
                if p.basic.is_some() || p.client_secret.is_some() {
                    return Err(more_than_one());
                }
                // RFC 7521 §4.2.1: a client-authentication failure, of
                // whatever kind, is `invalid_client`.
                if kind != JWT_BEARER_ASSERTION {
                    return Err(OAuthError::new(
                        ErrorCode::InvalidClient,
                        "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ));
                }
                return Ok(Credentials::Assertion {
                    client_id: p.client_id.map(str::to_owned),
                    issuer: assertion::claimed_client(assertion),
                    assertion: assertion.to_owned(),
                });
            }
        }
        match (p.basic, p.client_id, p.client_secret) {
            (Some(_), _, Some(_)) => Err(more_than_one()),
            (Some((id, _)), Some(form_id), None) if form_id != id => Err(
                OAuthError::invalid_request("client_id does not match the Authorization header"),
            ),
            (Some((client_id, secret)), _, None) => Ok(Credentials::Basic {
                client_id: client_id.to_owned(),
                secret: secret.to_owned(),
            }),
            (None, Some(id), Some(secret)) => Ok(Credentials::Post {
                client_id: id.to_owned(),
                secret: secret.to_owned(),
            }),
            (None, Some(id), None) => Ok(Credentials::PublicId {
                client_id: id.to_owned(),
            }),
            (None, None, Some(_)) => Err(OAuthError::invalid_request(
                "client_secret was sent without client_id",
            )),
            (None, None, None) => Ok(Credentials::Absent),
        }
    }

    /// The client these credentials name: for an assertion, the form's
    /// `client_id`, else the assertion's `iss`.
    pub fn client_id(&self) -> Option<&str> {
        match self {
            Credentials::Basic { client_id, .. }
            | Credentials::Post { client_id, .. }
            | Credentials::PublicId { client_id } => Some(client_id),
            Credentials::Assertion {
                client_id, issuer, ..
            } => client_id.as_deref().or(issuer.as_deref()),
            Credentials::Absent => None,
        }
    }

    fn method(&self) -> Option<AuthMethod> {
        match self {
            Credentials::Basic { .. } => Some(AuthMethod::ClientSecretBasic),
            Credentials::Post { .. } => Some(AuthMethod::ClientSecretPost),
            Credentials::Assertion { .. } => Some(AuthMethod::PrivateKeyJwt),
            Credentials::PublicId { .. } => Some(AuthMethod::None),
            Credentials::Absent => None,
        }
    }
}

/// Authenticates `creds` against the registered `client` (looked up by the
/// caller from `creds.client_id()`; `None` when unknown). Every failure is
/// the same `invalid_client`, so the answer does not reveal which part was
/// wrong. The method used must be the one the client registered.
fn verify(
    pepper: &Pepper,
    client: Option<Client>,
    creds: &Credentials,
    now: UnixTime,
) -> Result<Client, OAuthError> {
    // Hash even when the client is unknown, so timing does not tell.
    let presented = match creds {
        Credentials::Basic { secret, .. } | Credentials::Post { secret, .. } => Some(secret),
        // An assertion proves nothing until its signature is checked, which
        // `assertion::check` does; it never passes here.
        Credentials::Assertion { .. } => return Err(OAuthError::invalid_client()),
        Credentials::PublicId { .. } | Credentials::Absent => None,
    };
    let Some(client) = client else {
        if let Some(s) = presented {
            let _ = pepper.hash_secret(s);
        }
        return Err(OAuthError::invalid_client());
    };
    if creds.method() != Some(client.token_endpoint_auth_method) {
        return Err(OAuthError::invalid_client());
    }
    match presented {
        None => Ok(client),
        Some(secret) => {
            let mut ok = false;
            for s in &client.secrets {
                let live = s.expires_at.is_none_or(|t| now < t);
                // Verify every secret (no early exit) to keep timing flat.
                ok |= pepper.verify_secret(secret, &s.hash) & live;
            }
            if ok {
                Ok(client)
            } else {
                Err(OAuthError::invalid_client())
            }
        }
    }
}

/// Decides whether a failed authentication against a stored client record
/// may read that client again from the database, bypassing the store's
/// cache (the record may predate a secret rotated elsewhere).
///
/// The answer is a budget, never a verdict on the client: when it says no,
/// the failure stands on the record already read, and a request with the
/// right secret still succeeds against that record. So failing on purpose
/// with someone else's `client_id` costs the database a bounded number of
/// reads and cannot lock the client out (SECURITY.md §5.6). The server
/// allows one re-read per `client_id` per second.
pub trait Reread: Sync {
    /// `true` to spend one re-read of `id` now.
    fn allow(&self, id: &ClientId) -> bool;
}

/// Where a back-channel request arrived, for what a client assertion's
/// `aud` may name: the issuer, the token endpoint, or this endpoint's URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Token,
    Introspection,
    Revocation,
    PushedAuthorization,
    DeviceAuthorization,
}

impl Endpoint {
    fn path(self) -> &'static str {
        match self {
            Endpoint::Token => crate::paths::TOKEN,
            Endpoint::Introspection => crate::paths::INTROSPECT,
            Endpoint::Revocation => crate::paths::REVOKE,
            Endpoint::PushedAuthorization => crate::paths::PAR,
            Endpoint::DeviceAuthorization => crate::paths::DEVICE_AUTHORIZATION,
        }
    }
}

/// Looks the client up and authenticates it (RFC 6749 §2.3; RFC 7523 §3 for
/// `private_key_jwt`, with the keys from `keys` and the assertion's `jti`
/// recorded as used). Absent credentials are `invalid_client` too: every
/// back-channel endpoint here needs an identified client.
///
/// A failure against a known client re-reads it from the database when
/// `reread` allows; otherwise the failure stands (see [`Reread`]). Unknown
/// client_ids are never cached, so they always cost a read: the server
/// bounds those per peer address instead.
// One request's parts, each its own type; a struct would only rename them.
#[allow(clippy::too_many_arguments)]
pub async fn authenticate<S: Store>(
    core: &Core,
    store: &S,
    creds: &Credentials,
    reread: &impl Reread,
    keys: &impl KeySource,
    endpoint: Endpoint,
    now: UnixTime,
) -> Result<Client, Error> {
    let Some(id) = lookup_id(creds) else {
        return Ok(verify(&core.pepper, None, creds, now)?);
    };
    let found = store.client(&id).await?;
    let cached = found.is_some();
    let first = match (creds, found) {
        (Credentials::Assertion { assertion, .. }, Some(client)) => {
            assertion::verify(core, store, client, assertion, keys, endpoint, now).await
        }
        (_, found) => verify(&core.pepper, found, creds, now).map_err(Error::from),
    };
    match first {
        Ok(c) => Ok(c),
        // The record may be a cached copy that predates a secret rotation
        // (or new keys) made elsewhere: check once more against the
        // database, within the re-read budget. Nothing was recorded yet:
        // an assertion's `jti` is spent only by a success.
        Err(Error::OAuth(e))
            if e.code == ErrorCode::InvalidClient && cached && reread.allow(&id) =>
        {
            let fresh = store.client_refreshed(&id).await?;
            match (creds, fresh) {
                (Credentials::Assertion { assertion, .. }, Some(client)) => {
                    assertion::verify(core, store, client, assertion, keys, endpoint, now).await
                }
                (_, fresh) => Ok(verify(&core.pepper, fresh, creds, now)?),
            }
        }
        Err(e) => Err(e),
    }
}

/// Where a client's registered public keys come from when they are
/// published at its `jwks_uri` (core does no I/O: the binary fetches and
/// caches them). Keys given by value (`jwks`) never reach this.
pub trait KeySource: Sync {
    /// The set published at `jwks_uri`, from the cache when it holds `kid`
    /// (or, without `kid`, when anything was loaded), else fetched first
    /// (rate-limited by the implementation). A failed fetch gives what was
    /// there before, possibly nothing: the signature check then fails.
    fn fetch(
        &self,
        jwks_uri: &str,
        kid: Option<&str>,
    ) -> impl std::future::Future<Output = Arc<Jwks>> + Send;
    /// What is cached for `jwks_uri` without fetching (for a decision that
    /// must not wait on the network).
    fn cached(&self, jwks_uri: &str) -> Option<Arc<Jwks>>;
}

/// A [`KeySource`] that knows no `jwks_uri` (tests, tools without network).
pub struct NoKeySource;

impl KeySource for NoKeySource {
    async fn fetch(&self, _: &str, _: Option<&str>) -> Arc<Jwks> {
        Arc::new(Jwks::default())
    }
    fn cached(&self, _: &str) -> Option<Arc<Jwks>> {
        None
    }
}

/// The public keys `client` registered, to verify something it signed that
/// names `kid`: its `jwks`, or what `source` has for its `jwks_uri`. An
/// empty set when it registered none.
pub async fn client_keys(client: &Client, source: &impl KeySource, kid: Option<&str>) -> Arc<Jwks> {
    match (&client.jwks, &client.jwks_uri) {
        (Some(jwks), _) => Arc::new(jwks.clone()),
        (None, Some(uri)) => source.fetch(uri, kid).await,
        (None, None) => Arc::new(Jwks::default()),
    }
}

/// Whether a request from an address over its limit of failed client
/// authentications is still worth serving (SECURITY.md §5.6, issue 11
/// finding 3): yes when the credentials verify against the record this node
/// `remembered` of that client (one HMAC, no database read). Wrong secrets,
/// unknown or never-seen client_ids and missing credentials are refused
/// without further cost, so a flood of failures from behind a shared proxy
/// no longer shuts out the clients whose credentials are right. An admitted
/// request is then authenticated as usual, against a fresh record.
///
/// A client assertion is admitted when its signature and claims check out
/// against the keys at hand — the record's `jwks`, or what `keys` has
/// cached for its `jwks_uri` — without fetching and without spending its
/// `jti` (the authentication that follows does).
pub fn admits_while_throttled(
    core: &Core,
    remembered: Option<Client>,
    creds: &Credentials,
    keys: &impl KeySource,
    endpoint: Endpoint,
    now: UnixTime,
) -> bool {
    let Some(client) = remembered else {
        return false;
    };
    match creds {
        Credentials::Assertion { assertion, .. } => {
            let jwks = match (&client.jwks, &client.jwks_uri) {
                (Some(jwks), _) => Arc::new(jwks.clone()),
                (None, Some(uri)) => match keys.cached(uri) {
                    Some(jwks) => jwks,
                    None => return false,
                },
                (None, None) => return false,
            };
            assertion::check(core, &client, assertion, &jwks, endpoint, now).is_ok()
        }
        _ => verify(&core.pepper, Some(client), creds, now).is_ok(),
    }
}

/// The client named by `creds`, as a lookup key.
pub fn lookup_id(creds: &Credentials) -> Option<ClientId> {
    creds.client_id().map(|s| ClientId(s.to_owned()))
}

mod assertion;

#[cfg(test)]
mod tests;
