//! One request through the gateway: route, check the token, rewrite the
//! headers, forward, stream the answer back.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use frontdesk_resource::{
    CacheStats, ErrorBody, Guard, Keys, ValidationError, Verified, Via, bearer_token,
};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;

use super::config::{RouteSpec, prefix_matches};
use super::stats::Stats;

/// Upstream bodies stream through untouched; the gateway's own answers are small.
pub type Body = Either<Incoming, Full<Bytes>>;

pub struct Route {
    pub spec: RouteSpec,
    pub guard: Guard,
}

pub struct Gateway {
    routes: Vec<Route>,
    client: Client<HttpConnector, Incoming>,
    keys: Keys,
    stats: Stats,
    upstream_timeout: Duration,
    metrics: bool,
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

const IDENTITY_PREFIX: &str = "x-frontdesk-";
static X_SUB: HeaderName = HeaderName::from_static("x-frontdesk-sub");
static X_CLIENT_ID: HeaderName = HeaderName::from_static("x-frontdesk-client-id");
static X_SCOPE: HeaderName = HeaderName::from_static("x-frontdesk-scope");
static X_VIA: HeaderName = HeaderName::from_static("x-frontdesk-via");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

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

/// Dot segments and encoded slashes could make the upstream see another
/// path than the one routed on (`/photos/../charges` routed as `/photos`,
/// served as `/charges`): refuse them rather than guess how the upstream
/// normalises.
fn path_is_safe(path: &str) -> bool {
    if !path.starts_with('/') || path.contains("//") || path.contains('\\') {
        return false;
    }
    let lower = path.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") || lower.contains("%00") {
        return false;
    }
    !lower
        .split('/')
        .map(|seg| seg.replace("%2e", "."))
        .any(|seg| seg == "." || seg == "..")
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
        metrics: bool,
    ) -> Gateway {
        Gateway {
            routes,
            client,
            keys,
            stats: Stats::default(),
            upstream_timeout,
            metrics,
        }
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
    fn route(&self, method: &http::Method, path: &str) -> Option<&Route> {
        self.routes.iter().find(|r| {
            r.spec.method.as_ref().is_none_or(|m| m == method)
                && prefix_matches(&r.spec.path_prefix, path)
        })
    }

    async fn serve(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        let started = Instant::now();
        let method = req.method().clone();
        let path = req.uri().path().to_owned();

        if self.metrics && method == http::Method::GET && path == "/metrics" {
            let mut res = Response::new(Either::Right(Full::from(
                self.stats
                    .render(self.keys.fetch_count(), self.local_cache_stats()),
            )));
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            return res;
        }
        if !path_is_safe(&path) {
            self.stats.bad_path();
            tracing::info!(%method, path = "(refused)", status = 400, "unsafe path");
            return json(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the path has dot segments, empty segments or encoded separators",
            );
        }
        let Some(route) = self.route(&method, &path) else {
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
        let checked = match bearer_token(req.headers()) {
            Ok(token) => {
                route
                    .guard
                    .check(token, &required, frontdesk_resource::unix_now())
                    .await
            }
            Err(e) => Err(e),
        };
        let verified = match checked {
            Ok(v) => v,
            Err(e) => {
                self.stats.refused(e.status());
                tracing::info!(%method, %path, route = %route.spec.path_prefix, mode = mode.as_str(),
                    status = e.status(), reason = %e, "refused");
                return refusal(&e);
            }
        };

        let up = match self.upstream_request(req, route, &verified, peer) {
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
            status,
            latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
            "admitted"
        );
        res
    }

    /// The request the upstream sees: its URI, hop-by-hop headers removed,
    /// caller-sent `X-Frontdesk-*` removed, the verified identity added,
    /// `Authorization` kept only when the route forwards the token.
    fn upstream_request(
        &self,
        req: Request<Incoming>,
        route: &Route,
        verified: &Verified,
        peer: SocketAddr,
    ) -> Result<Request<Incoming>, ValidationError> {
        let (mut parts, body) = req.into_parts();
        let spec = &route.spec;
        let pq = parts
            .uri
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_owned();
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
            .filter(|k| k.as_str().starts_with(IDENTITY_PREFIX))
            .cloned()
            .collect();
        for k in spoofed {
            h.remove(k);
        }
        if !spec.forward_token {
            h.remove(header::AUTHORIZATION);
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
        h.insert(
            X_VIA.clone(),
            HeaderValue::from_static(match verified.via {
                Via::Local => "local",
                Via::Introspection => "introspection",
                Via::IntrospectionCache => "introspection_cache",
            }),
        );
        if let Ok(ip) = HeaderValue::from_str(&peer.ip().to_string()) {
            h.append(X_FORWARDED_FOR.clone(), ip);
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
    use super::*;

    #[test]
    fn unsafe_paths_are_refused() {
        for ok in ["/photos", "/photos/1", "/photos/a.b", "/", "/photos/..x"] {
            assert!(path_is_safe(ok), "{ok}");
        }
        for bad in [
            "/photos/../charges",
            "/photos/%2e%2e/charges",
            "/photos/%2E./charges",
            "/photos/./x",
            "//charges",
            "/photos%2fcharges",
            "/photos\\charges",
            "/photos/..",
        ] {
            assert!(!path_is_safe(bad), "{bad}");
        }
    }

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
    fn prefixes_match_on_segment_boundaries() {
        assert!(prefix_matches("/photos", "/photos"));
        assert!(prefix_matches("/photos", "/photos/1"));
        assert!(!prefix_matches("/photos", "/photosynthesis"));
        assert!(prefix_matches("/", "/anything"));
        assert!(prefix_matches("/api/", "/api/x"));
    }
}
