//! `gateway.toml`: the gateway's own configuration (not the server's).
//!
//! ```toml
//! listen = "127.0.0.1:8000"
//! issuer = "https://id.example.com"          # discovery → jwks_uri, introspection_endpoint
//! client_id = "gateway"                      # for introspection (RFC 7662), if any route uses it
//! client_secret = "…"
//!
//! [[routes]]
//! method = "GET"                             # or "*"
//! path_prefix = "/photos"
//! upstream = "http://127.0.0.1:9000"
//! audience = "https://photos.example.com"
//! scopes = ["photos:read"]
//! mode = "local"                             # local | introspect | introspect-cached
//! # cache_ttl_secs = 5                       # introspect-cached only
//! # forward_token = false
//! # require_dpop = false                     # true: DPoP-bound tokens with a proof only
//! ```
//!
//! Optional top-level settings, with their defaults: `leeway_secs = 10`,
//! `jwks_min_refresh_secs = 60`, `upstream_connect_timeout_secs = 5`,
//! `upstream_timeout_secs = 30`, `header_read_timeout_secs = 10`,
//! `introspection_cache_max_entries = 10000`,
//! `verified_cache_max_entries = 10000` (0 turns off the memory of verified
//! tokens on `local` routes), `allow_path_parameters = false`,
//! `log_level = "info"`, and no `metrics_listen` (counters off).
//!
//! DPoP (RFC 9449): `public_url` is the URL clients address the gateway by
//! (`https://api.example.com`; the `htu` of their proofs is it followed by
//! the request path). Without it the gateway rebuilds the URI from `Host`
//! as `http://HOST/path`, which is right only when clients reach the
//! gateway directly over plain HTTP: behind the TLS proxy it needs, set it.
//! `dpop_proof_max_age_secs = 300` and `dpop_proof_leeway_secs = 60` bound a
//! proof's `iat`; `dpop_replay_max_entries = 100000` bounds the memory of
//! used proofs, one for all routes.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use http::Method;
use http::uri::{Authority, Scheme};

use super::normalize::normalize;

/// The file as written.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    /// Address to listen on. Default `127.0.0.1:8000`.
    listen: Option<String>,
    /// frontdesk's issuer identifier; its discovery document names the JWKS
    /// and the introspection endpoint.
    issuer: String,
    /// Override discovery's `jwks_uri`.
    jwks_uri: Option<String>,
    /// Override discovery's `introspection_endpoint`.
    introspection_endpoint: Option<String>,
    /// The gateway's own client credentials for introspection.
    client_id: Option<String>,
    client_secret: Option<String>,
    /// Clock leeway for exp/nbf/iat. Default 10.
    leeway_secs: Option<u64>,
    /// Least time between JWKS refetches caused by unknown `kid`s. Default 60.
    jwks_min_refresh_secs: Option<u64>,
    /// Upstream connect timeout. Default 5.
    upstream_connect_timeout_secs: Option<u64>,
    /// Time to wait for the upstream's response head. Default 30.
    upstream_timeout_secs: Option<u64>,
    /// Time a client has to send a request head. Default 10.
    header_read_timeout_secs: Option<u64>,
    /// Bound on each introspection cache. Default 10000 entries.
    introspection_cache_max_entries: Option<u64>,
    /// Bound on each `local` route's cache of verified tokens (a token is
    /// verified once, then remembered until `exp`). Default 10000; 0 = off.
    verified_cache_max_entries: Option<u64>,
    /// Serve Prometheus counters at `GET /metrics` on this separate
    /// address (e.g. `127.0.0.1:9465`). Default: off. The public listener
    /// never answers `/metrics` itself: it routes it like any path.
    metrics_listen: Option<String>,
    /// Removed (the counters were on the public listener); kept only to
    /// refuse old files with a message naming `metrics_listen`.
    metrics: Option<serde::de::IgnoredAny>,
    /// Accept `;` path parameters (`/a;x/b`): routed on the path without
    /// them (`/a/b`, as servlet containers read it), forwarded with them.
    /// Default false: such paths get 400.
    allow_path_parameters: Option<bool>,
    /// Tracing filter. Default `info`.
    log_level: Option<String>,
    /// The URL clients address the gateway by, for DPoP's `htu`.
    public_url: Option<String>,
    /// How old a DPoP proof's `iat` may be. Default 300.
    dpop_proof_max_age_secs: Option<u64>,
    /// How far ahead a DPoP proof's `iat` may be. Default 60.
    dpop_proof_leeway_secs: Option<u64>,
    /// Used DPoP proofs remembered at most. Default 100000.
    dpop_replay_max_entries: Option<usize>,
    #[serde(default)]
    routes: Vec<RawRoute>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoute {
    #[serde(default = "any_method")]
    method: String,
    path_prefix: String,
    upstream: String,
    audience: String,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default = "local")]
    mode: String,
    cache_ttl_secs: Option<u64>,
    #[serde(default)]
    forward_token: bool,
    #[serde(default)]
    require_dpop: bool,
}

fn any_method() -> String {
    "*".to_owned()
}

fn local() -> String {
    "local".to_owned()
}

/// How a route checks tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// JWT signature and claims, locally.
    Local,
    /// RFC 7662 on every request: revocation takes effect at once.
    Introspect,
    /// RFC 7662 answers cached up to this long (and never past `exp`).
    IntrospectCached(Duration),
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Local => "local",
            Mode::Introspect => "introspect",
            Mode::IntrospectCached(_) => "introspect-cached",
        }
    }
}

/// One validated route.
#[derive(Debug, Clone)]
pub struct RouteSpec {
    /// `None` = any method.
    pub method: Option<Method>,
    /// The prefix in its normalised form (for logs).
    pub path_prefix: String,
    /// The prefix as requests are routed (`NormalPath::route`).
    pub route_prefix: Vec<u8>,
    pub upstream_scheme: Scheme,
    pub upstream_authority: Authority,
    /// The upstream URL's path without its trailing `/` (often empty),
    /// prepended to the request path.
    pub upstream_base: String,
    pub audience: String,
    pub scopes: Vec<String>,
    pub mode: Mode,
    pub forward_token: bool,
    /// Only DPoP-bound tokens with a valid proof (RFC 9449 §7.1).
    pub require_dpop: bool,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    pub listen: SocketAddr,
    pub issuer: String,
    pub jwks_uri: Option<String>,
    pub introspection_endpoint: Option<String>,
    pub credentials: Option<(String, String)>,
    pub leeway_secs: u64,
    pub jwks_min_refresh: Duration,
    pub connect_timeout: Duration,
    pub upstream_timeout: Duration,
    pub header_read_timeout: Duration,
    pub cache_max_entries: u64,
    pub verified_cache_max_entries: u64,
    pub metrics_listen: Option<SocketAddr>,
    pub allow_path_parameters: bool,
    pub log_level: String,
    /// The public base URL without a trailing `/` (DPoP `htu`).
    pub public_url: Option<String>,
    pub dpop_max_age_secs: u64,
    pub dpop_leeway_secs: u64,
    pub dpop_replay_max_entries: usize,
    pub routes: Vec<RouteSpec>,
}

/// Longest cache TTL a route may ask for: revocations must not linger.
const MAX_CACHE_TTL_SECS: u64 = 300;

pub fn load(path: &Path) -> anyhow::Result<GatewayConfig> {
    let raw: Raw = config::Config::builder()
        .add_source(config::File::from(path).format(config::FileFormat::Toml))
        .build()
        .with_context(|| format!("reading {}", path.display()))?
        .try_deserialize()
        .with_context(|| format!("{}", path.display()))?;
    validate(raw)
}

fn validate(raw: Raw) -> anyhow::Result<GatewayConfig> {
    let listen: SocketAddr = raw
        .listen
        .as_deref()
        .unwrap_or("127.0.0.1:8000")
        .parse()
        .map_err(|e| anyhow!("listen: {e}"))?;
    let issuer = raw.issuer;
    let issuer_url = url::Url::parse(&issuer).map_err(|e| anyhow!("issuer: {e}"))?;
    if !matches!(issuer_url.scheme(), "http" | "https") {
        bail!("issuer: must be an http(s) URL");
    }
    let credentials = match (raw.client_id, raw.client_secret) {
        (Some(id), Some(secret)) => Some((id, secret)),
        (None, None) => None,
        _ => bail!("client_id and client_secret go together"),
    };
    if raw.routes.is_empty() {
        bail!("routes: at least one [[routes]] is needed");
    }
    let mut routes = Vec::new();
    for (i, r) in raw.routes.into_iter().enumerate() {
        let at = |field: &str| format!("routes[{i}].{field}");
        let method = match r.method.as_str() {
            "*" => None,
            m => Some(
                Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                    .map_err(|_| anyhow!("{}: not a method", at("method")))?,
            ),
        };
        // Normalised like request paths, so `/%61dmin` and `/admin` are one
        // prefix; `;` is never part of a prefix.
        let prefix = normalize(&r.path_prefix, false)
            .map_err(|e| anyhow!("{}: {}", at("path_prefix"), e.describe()))?;
        let up = url::Url::parse(&r.upstream).map_err(|e| anyhow!("{}: {e}", at("upstream")))?;
        if up.scheme() != "http" || up.query().is_some() || up.fragment().is_some() {
            bail!(
                "{}: an http:// URL without query or fragment",
                at("upstream")
            );
        }
        let host = up
            .host_str()
            .ok_or_else(|| anyhow!("{}: no host", at("upstream")))?;
        let authority_text = match up.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        let upstream_authority: Authority = authority_text
            .parse()
            .map_err(|_| anyhow!("{}: bad host", at("upstream")))?;
        let mode = match r.mode.as_str() {
            "local" => Mode::Local,
            "introspect" => Mode::Introspect,
            "introspect-cached" => {
                let ttl = r.cache_ttl_secs.ok_or_else(|| {
                    anyhow!("{}: required for introspect-cached", at("cache_ttl_secs"))
                })?;
                if ttl == 0 || ttl > MAX_CACHE_TTL_SECS {
                    bail!("{}: 1..={MAX_CACHE_TTL_SECS}", at("cache_ttl_secs"));
                }
                Mode::IntrospectCached(Duration::from_secs(ttl))
            }
            other => bail!(
                "{}: {other:?} is not local, introspect or introspect-cached",
                at("mode")
            ),
        };
        if mode != Mode::Local && credentials.is_none() {
            bail!(
                "{}: introspection needs client_id and client_secret",
                at("mode")
            );
        }
        if r.cache_ttl_secs.is_some() && !matches!(mode, Mode::IntrospectCached(_)) {
            bail!("{}: only for introspect-cached", at("cache_ttl_secs"));
        }
        if r.audience.is_empty() {
            bail!("{}: required", at("audience"));
        }
        routes.push(RouteSpec {
            method,
            path_prefix: prefix.forward,
            route_prefix: prefix.route,
            upstream_scheme: Scheme::HTTP,
            upstream_authority,
            upstream_base: up.path().trim_end_matches('/').to_owned(),
            audience: r.audience,
            scopes: r.scopes,
            mode,
            forward_token: r.forward_token,
            require_dpop: r.require_dpop,
        });
    }
    // Longest prefix first; among equal prefixes, a specific method before "*".
    routes.sort_by(|a, b| {
        b.route_prefix
            .len()
            .cmp(&a.route_prefix.len())
            .then(b.method.is_some().cmp(&a.method.is_some()))
    });
    if raw.metrics.is_some() {
        bail!(
            "metrics: no longer supported; the counters are served on their own listener: set metrics_listen = \"127.0.0.1:9465\" (or remove the line)"
        );
    }
    let metrics_listen = raw
        .metrics_listen
        .as_deref()
        .map(|a| a.parse().map_err(|e| anyhow!("metrics_listen: {e}")))
        .transpose()?;
    if metrics_listen.is_some_and(|m| m == listen && listen.port() != 0) {
        bail!("metrics_listen: must differ from listen");
    }
    let public_url = raw
        .public_url
        .as_deref()
        .map(|u| {
            frontdesk_resource::Dpop::parse_public_url(u).map_err(|_| {
                anyhow!(
                    "public_url: an http(s) URL with a host and no user info, query or fragment"
                )
            })
        })
        .transpose()?;
    let dpop_replay_max_entries = raw.dpop_replay_max_entries.unwrap_or(100_000);
    if dpop_replay_max_entries == 0 {
        bail!("dpop_replay_max_entries: at least 1");
    }
    let secs = |v: Option<u64>, d: u64| Duration::from_secs(v.unwrap_or(d));
    Ok(GatewayConfig {
        listen,
        issuer,
        jwks_uri: raw.jwks_uri,
        introspection_endpoint: raw.introspection_endpoint,
        credentials,
        leeway_secs: raw.leeway_secs.unwrap_or(10),
        jwks_min_refresh: secs(raw.jwks_min_refresh_secs, 60),
        connect_timeout: secs(raw.upstream_connect_timeout_secs, 5),
        upstream_timeout: secs(raw.upstream_timeout_secs, 30),
        header_read_timeout: secs(raw.header_read_timeout_secs, 10),
        cache_max_entries: raw.introspection_cache_max_entries.unwrap_or(10_000),
        verified_cache_max_entries: raw.verified_cache_max_entries.unwrap_or(10_000),
        metrics_listen,
        allow_path_parameters: raw.allow_path_parameters.unwrap_or(false),
        log_level: raw.log_level.unwrap_or_else(|| "info".to_owned()),
        public_url,
        dpop_max_age_secs: raw.dpop_proof_max_age_secs.unwrap_or(300),
        dpop_leeway_secs: raw.dpop_proof_leeway_secs.unwrap_or(60),
        dpop_replay_max_entries,
        routes,
    })
}
