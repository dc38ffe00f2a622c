//! One request through the gateway: route, check the token, rewrite the
//! headers, forward, stream the answer back.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use frontdesk_resource::{
    CacheStats, Dpop, ErrorBody, Guard, Keys, RequestParts, ValidationError, Verified, Via,
};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;

use super::config::RouteSpec;
use super::normalize::{normalize, prefix_matches};
use super::stats::Stats;

/// Upstream bodies stream through untouched; the gateway's own answers are small.
pub type Body = Either<Incoming, Full<Bytes>>;

pub struct Route {
    pub spec: RouteSpec,
    pub guard: Guard,
    /// DPoP settings (required or not) over the gateway's one replay memory.
    pub dpop: Dpop,
}

pub struct Gateway {
    routes: Vec<Route>,
    client: Client<HttpConnector, Incoming>,
    keys: Keys,
    pub(crate) stats: Stats,
    upstream_timeout: Duration,
    allow_path_parameters: bool,
}

/// RFC 9110 §7.6.1: "Connection", the fields it names, and these are
/// hop-by-hop: a proxy removes them before forwarding. `Proxy-Authorization`
/// (§11.7.2) is meant for us, never for the upstream.
const HOP_BY_HOP: [HeaderName; 7] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
];

/// Names are compared after [`canonical`]: lowercase, `_` read as `-`
/// (CGI and WSGI servers turn both into `HTTP_X_FRONTDESK_SUB` and merge
/// them, so `X_Frontdesk_Sub` would join the real `X-Frontdesk-Sub`).
const IDENTITY_PREFIX: &str = "x-frontdesk-";

/// Headers that make some frameworks serve another path or method than the
/// request line's (Symfony CVE-2018-14773, Rails/Express method override):
/// the route the gateway checked would not be the one served. Dropped.
const OVERRIDES: [&str; 6] = [
    "x-original-url",
    "x-original-uri",
    "x-rewrite-url",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// What a caller says about earlier hops. The gateway is the first hop it
/// knows, so these are dropped and set again from the TCP peer.
const FORWARDING_PREFIX: &str = "x-forwarded-";
const FORWARDING: [&str; 5] = [
    "forwarded",
    "x-real-ip",
    "x-client-ip",
    "true-client-ip",
    "x-cluster-client-ip",
];
static X_SUB: HeaderName = HeaderName::from_static("x-frontdesk-sub");
static X_CLIENT_ID: HeaderName = HeaderName::from_static("x-frontdesk-client-id");
static X_SCOPE: HeaderName = HeaderName::from_static("x-frontdesk-scope");
static X_VIA: HeaderName = HeaderName::from_static("x-frontdesk-via");
static X_DPOP_JKT: HeaderName = HeaderName::from_static("x-frontdesk-dpop-jkt");
static DPOP: HeaderName = HeaderName::from_static("dpop");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static FORWARDED: HeaderName = HeaderName::from_static("forwarded");

/// Whether header name `name` (lowercase, as `HeaderName` keeps it) starts
/// with `prefix` when read as CGI-style servers read it, `_` as `-`.
/// Compared byte by byte: no allocation per header on the request path.
fn canonical_starts_with(name: &[u8], prefix: &str) -> bool {
    name.len() >= prefix.len()
        && name
            .iter()
            .zip(prefix.as_bytes())
            .all(|(&a, &b)| (if a == b'_' { b'-' } else { a }) == b)
}

/// Whether a header the caller sent is removed before forwarding: identity
/// look-alikes, path and method overrides, and forwarding claims.
fn dropped_from_caller(name: &HeaderName) -> bool {
    let n = name.as_str().as_bytes();
    let is = |other: &&str| n.len() == other.len() && canonical_starts_with(n, other);
    canonical_starts_with(n, IDENTITY_PREFIX)
        || canonical_starts_with(n, FORWARDING_PREFIX)
        || OVERRIDES.iter().any(is)
        || FORWARDING.iter().any(is)
}

/// RFC 7239 §4: `for=…;host=…;proto=http`, IPv6 in quoted brackets (§6),
/// the host quoted (a `:` is not a token character).
fn forwarded_value(peer: SocketAddr, host: Option<&HeaderValue>) -> Option<HeaderValue> {
    let mut v = match peer.ip() {
        std::net::IpAddr::V4(ip) => format!("for={ip}"),
        std::net::IpAddr::V6(ip) => format!("for=\"[{ip}]\""),
    };
    if let Some(h) = host
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse::<http::uri::Authority>().ok())
    {
        v.push_str(&format!(";host=\"{h}\""));
    }
    v.push_str(";proto=http");
    HeaderValue::from_str(&v).ok()
}

pub async fn handle(
    gw: std::sync::Arc<Gateway>,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Result<Response<Body>, Infallible> {
    Ok(gw.serve(req, peer).await)
}

fn json(status: StatusCode, code: &str, description: &str) -> Response<Body> {
    let mut res = Response::new(Either::Right(Full::from(
        ErrorBody::new(code, description).to_json(),
    )));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn refusal(e: &ValidationError) -> Response<Body> {
    e.to_response::<Full<Bytes>>().map(Either::Right)
}

fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    for n in &HOP_BY_HOP {
        headers.remove(n);
    }
}

impl Gateway {
    pub fn new(
        routes: Vec<Route>,
        client: Client<HttpConnector, Incoming>,
        keys: Keys,
        upstream_timeout: Duration,
        allow_path_parameters: bool,
    ) -> Gateway {
        Gateway {
            routes,
            client,
            keys,
            stats: Stats::default(),
            upstream_timeout,
            allow_path_parameters,
        }
    }

    /// The metrics listener's one resource: `GET /metrics`, Prometheus text.
    pub fn metrics(&self, method: &http::Method, path: &str) -> Response<Body> {
        if method != http::Method::GET || path != "/metrics" {
            return json(StatusCode::NOT_FOUND, "not_found", "only GET /metrics here");
        }
        let mut res = Response::new(Either::Right(Full::from(
            self.stats
                .render(self.keys.fetch_count(), self.local_cache_stats()),
        )));
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(frontdesk_web::metrics::CONTENT_TYPE),
        );
        res
    }

    /// The verified-token caches of all `local` routes, summed; `None` when
    /// no route has one (`verified_cache_max_entries = 0`).
    fn local_cache_stats(&self) -> Option<CacheStats> {
        let mut sum: Option<CacheStats> = None;
        for r in &self.routes {
            if let Guard::Local(v) = &r.guard
                && let Some(s) = v.cache_stats()
            {
                let t = sum.get_or_insert_default();
                t.hits += s.hits;
                t.misses += s.misses;
                t.entries += s.entries;
            }
        }
        sum
    }

    /// Longest prefix wins (routes are sorted so); the method must match.
    /// `path` is the normalised path's route form.
    fn route(&self, method: &http::Method, path: &[u8]) -> Option<&Route> {
        self.routes.iter().find(|r| {
            r.spec.method.as_ref().is_none_or(|m| m == method)
                && prefix_matches(&r.spec.route_prefix, path)
        })
    }

    async fn serve(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        let started = Instant::now();
        let method = req.method().clone();
        // Routed on, and forwarded as, the normalised path: the route that
        // was checked is the resource that is served.
        let normal = match normalize(req.uri().path(), self.allow_path_parameters) {
            Ok(n) => n,
            Err(why) => {
                self.stats.bad_path();
                tracing::info!(%method, path = "(refused)", status = 400, reason = why.describe(), "unsafe path");
                return json(StatusCode::BAD_REQUEST, "invalid_request", why.describe());
            }
        };
        let path = normal.forward.as_str();
        let Some(route) = self.route(&method, &normal.route) else {
            self.stats.no_route();
            tracing::info!(%method, %path, status = 404, "no route");
            return json(
                StatusCode::NOT_FOUND,
                "not_found",
                "no route for this request",
            );
        };
        let mode = route.spec.mode;

        // The door.
        let required: Vec<&str> = route.spec.scopes.iter().map(String::as_str).collect();
        // The proof's `htu` is checked against the path as the client sent
        // it (`htu_matches` normalises both sides), under `public_url`.
        let checked = route
            .guard
            .check_request(
                &route.dpop,
                RequestParts::from(&req),
                &required,
                frontdesk_resource::unix_now(),
            )
            .await;
        let verified = match checked {
            Ok(v) => v,
            Err(e) => {
                self.stats.refused(e.status());
                tracing::info!(%method, %path, route = %route.spec.path_prefix, mode = mode.as_str(),
                    status = e.status(), reason = %e, "refused");
                return refusal(&e);
            }
        };

        let up = match self.upstream_request(req, path, route, &verified, peer) {
            Ok(r) => r,
            Err(e) => {
                self.stats.refused(e.status());
                return refusal(&e);
            }
        };
        let result = tokio::time::timeout(self.upstream_timeout, self.client.request(up)).await;
        let status;
        let res = match result {
            Ok(Ok(mut res)) => {
                remove_hop_by_hop(res.headers_mut());
                res.headers_mut().append(
                    header::VIA,
                    HeaderValue::from_static("1.1 frontdesk-gateway"),
                );
                status = res.status().as_u16();
                self.stats.admitted(mode, verified.via);
                res.map(Either::Left)
            }
            Ok(Err(e)) => {
                self.stats.upstream_error(502);
                tracing::warn!(%method, %path, error = %e, "upstream request failed");
                status = 502;
                json(
                    StatusCode::BAD_GATEWAY,
                    "bad_gateway",
                    "the upstream service could not be reached",
                )
            }
            Err(_) => {
                self.stats.upstream_error(504);
                tracing::warn!(%method, %path, timeout_secs = self.upstream_timeout.as_secs(), "upstream timed out");
                status = 504;
                json(
                    StatusCode::GATEWAY_TIMEOUT,
                    "gateway_timeout",
                    "the upstream service did not answer in time",
                )
            }
        };
        tracing::info!(
            %method,
            %path,
            route = %route.spec.path_prefix,
            mode = mode.as_str(),
            via = verified.via.as_str(),
            client_id = %verified.claims.client_id,
            dpop = verified.dpop_jkt().is_some(),
            status,
            latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            "admitted"
        );
        res
    }

    /// The request the upstream sees: the normalised `path` with the query
    /// as sent, hop-by-hop headers removed, the caller's identity
    /// look-alikes, overrides and forwarding claims removed, the verified
    /// identity and the gateway's own forwarding headers added,
    /// `Authorization` and `DPoP` kept only when the route forwards the
    /// token (the proof was spent here: its `jti` is in the gateway's replay
    /// memory, and its `htu` names the gateway, not the upstream).
    fn upstream_request(
        &self,
        req: Request<Incoming>,
        path: &str,
        route: &Route,
        verified: &Verified,
        peer: SocketAddr,
    ) -> Result<Request<Incoming>, ValidationError> {
        let (mut parts, body) = req.into_parts();
        let spec = &route.spec;
        let pq = match parts.uri.query() {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        };
        let original_host = parts.headers.get(header::HOST).cloned().or_else(|| {
            parts
                .uri
                .authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        });
        parts.uri = Uri::builder()
            .scheme(spec.upstream_scheme.clone())
            .authority(spec.upstream_authority.clone())
            .path_and_query(format!("{}{pq}", spec.upstream_base))
            .build()
            .map_err(|e| ValidationError::InvalidRequest(format!("upstream URI: {e}")))?;
        parts.version = Version::HTTP_11;

        let h = &mut parts.headers;
        remove_hop_by_hop(h);
        let spoofed: Vec<HeaderName> = h
            .keys()
            .filter(|k| dropped_from_caller(k))
            .cloned()
            .collect();
        for k in spoofed {
            h.remove(k);
        }
        if !spec.forward_token {
            h.remove(header::AUTHORIZATION);
            h.remove(&DPOP);
        }
        // The client sets Host from the upstream URI.
        h.remove(header::HOST);
        let value = |s: &str| {
            HeaderValue::from_bytes(s.as_bytes()).map_err(|_| {
                ValidationError::InvalidToken("a claim cannot be sent as a header".to_owned())
            })
        };
        h.insert(X_SUB.clone(), value(&verified.claims.sub)?);
        h.insert(X_CLIENT_ID.clone(), value(&verified.claims.client_id)?);
        h.insert(
            X_SCOPE.clone(),
            value(verified.claims.scope.as_deref().unwrap_or_default())?,
        );
        // The caller's own `X-Frontdesk-Dpop-Jkt` went with the other
        // look-alikes above; this one names the key whose proof was checked.
        if let Some(jkt) = verified.dpop_jkt() {
            h.insert(X_DPOP_JKT.clone(), value(jkt)?);
        }
        h.insert(
            X_VIA.clone(),
            HeaderValue::from_static(match verified.via {
                Via::Local => "local",
                Via::Introspection => "introspection",
                Via::IntrospectionCache => "introspection_cache",
            }),
        );
        // The caller's own forwarding claims are gone (above): these name
        // the TCP peer only.
        if let Ok(ip) = HeaderValue::from_str(&peer.ip().to_string()) {
            h.insert(X_FORWARDED_FOR.clone(), ip);
        }
        if let Some(v) = forwarded_value(peer, original_host.as_ref()) {
            h.insert(FORWARDED.clone(), v);
        }
        if let Some(host) = original_host {
            h.insert(X_FORWARDED_HOST.clone(), host);
        }
        h.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static("http"));
        // RFC 9110 §7.6.3: a proxy sends Via in each message it forwards.
        h.append(
            header::VIA,
            HeaderValue::from_static("1.1 frontdesk-gateway"),
        );
        Ok(Request::from_parts(parts, body))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn hop_by_hop_headers_are_removed() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, x-secret"),
        );
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        remove_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }

    #[test]
    fn caller_headers_are_read_as_cgi_servers_read_them() {
        for gone in [
            "x-frontdesk-sub",
            "x_frontdesk_sub",
            "x-frontdesk-dpop-jkt",
            "x_frontdesk_dpop_jkt",
            "x-frontdesk_client-id",
            "x_http_method_override",
            "x-original-url",
            "x_rewrite_url",
            "x-forwarded-for",
            "x_forwarded_host",
            "forwarded",
            "x-real-ip",
        ] {
            assert!(
                dropped_from_caller(&HeaderName::from_static(gone)),
                "{gone}"
            );
        }
        for kept in ["x-frontdesk", "x-api-key", "x_request_id", "accept"] {
            assert!(
                !dropped_from_caller(&HeaderName::from_static(kept)),
                "{kept}"
            );
        }
    }

    #[test]
    fn forwarded_names_the_peer_per_rfc7239() {
        let host = HeaderValue::from_static("gw.example.com:8000");
        let v4 = forwarded_value("192.0.2.1:5000".parse().unwrap(), Some(&host)).unwrap();
        assert_eq!(v4, "for=192.0.2.1;host=\"gw.example.com:8000\";proto=http");
        let v6 = forwarded_value("[2001:db8::1]:5000".parse().unwrap(), None).unwrap();
        assert_eq!(v6, "for=\"[2001:db8::1]\";proto=http");
    }
}
