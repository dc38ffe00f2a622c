//! Counters, served as Prometheus text at `GET /metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use frontdesk_resource::{CacheStats, Via};

use super::config::Mode;

#[derive(Debug, Default)]
pub struct Stats {
    admitted_local: AtomicU64,
    admitted_introspect: AtomicU64,
    admitted_cached_remote: AtomicU64,
    admitted_cached_hit: AtomicU64,
    refused_400: AtomicU64,
    refused_401: AtomicU64,
    refused_403: AtomicU64,
    refused_503: AtomicU64,
    no_route: AtomicU64,
    bad_path: AtomicU64,
    upstream_502: AtomicU64,
    upstream_504: AtomicU64,
}

fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Stats {
    pub fn admitted(&self, mode: Mode, via: Via) {
        inc(match (mode, via) {
            (Mode::Local, _) => &self.admitted_local,
            (Mode::Introspect, _) => &self.admitted_introspect,
            (Mode::IntrospectCached(_), Via::IntrospectionCache) => &self.admitted_cached_hit,
            (Mode::IntrospectCached(_), _) => &self.admitted_cached_remote,
        });
    }

    pub fn refused(&self, status: u16) {
        inc(match status {
            400 => &self.refused_400,
            403 => &self.refused_403,
            503 => &self.refused_503,
            _ => &self.refused_401,
        });
    }

    pub fn no_route(&self) {
        inc(&self.no_route);
    }

    pub fn bad_path(&self) {
        inc(&self.bad_path);
    }

    pub fn upstream_error(&self, status: u16) {
        inc(if status == 504 {
            &self.upstream_504
        } else {
            &self.upstream_502
        });
    }

    /// Prometheus text exposition format 0.0.4.
    pub fn render(&self, jwks_fetches: u64, local: Option<CacheStats>) -> String {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP frontdesk_gateway_admitted_total Requests let through, by route mode and by what answered."
        );
        let _ = writeln!(out, "# TYPE frontdesk_gateway_admitted_total counter");
        for (mode, via, c) in [
            ("local", "local", &self.admitted_local),
            ("introspect", "introspection", &self.admitted_introspect),
            (
                "introspect-cached",
                "introspection",
                &self.admitted_cached_remote,
            ),
            (
                "introspect-cached",
                "introspection_cache",
                &self.admitted_cached_hit,
            ),
        ] {
            let _ = writeln!(
                out,
                "frontdesk_gateway_admitted_total{{mode=\"{mode}\",via=\"{via}\"}} {}",
                g(c)
            );
        }
        let _ = writeln!(
            out,
            "# HELP frontdesk_gateway_refused_total Requests refused at the door (RFC 6750), by status."
        );
        let _ = writeln!(out, "# TYPE frontdesk_gateway_refused_total counter");
        for (s, c) in [
            ("400", &self.refused_400),
            ("401", &self.refused_401),
            ("403", &self.refused_403),
            ("503", &self.refused_503),
        ] {
            let _ = writeln!(
                out,
                "frontdesk_gateway_refused_total{{status=\"{s}\"}} {}",
                g(c)
            );
        }
        let _ = writeln!(out, "# TYPE frontdesk_gateway_no_route_total counter");
        let _ = writeln!(
            out,
            "frontdesk_gateway_no_route_total {}",
            g(&self.no_route)
        );
        let _ = writeln!(out, "# TYPE frontdesk_gateway_bad_path_total counter");
        let _ = writeln!(
            out,
            "frontdesk_gateway_bad_path_total {}",
            g(&self.bad_path)
        );
        let _ = writeln!(
            out,
            "# TYPE frontdesk_gateway_upstream_errors_total counter"
        );
        for (s, c) in [("502", &self.upstream_502), ("504", &self.upstream_504)] {
            let _ = writeln!(
                out,
                "frontdesk_gateway_upstream_errors_total{{status=\"{s}\"}} {}",
                g(c)
            );
        }
        let _ = writeln!(out, "# TYPE frontdesk_gateway_jwks_fetches_total counter");
        let _ = writeln!(out, "frontdesk_gateway_jwks_fetches_total {jwks_fetches}");
        // Only with the memory of verified tokens on: without it every
        // local check verifies, and `admitted_total` already counts them.
        if let Some(local) = local {
            let _ = writeln!(
                out,
                "# HELP frontdesk_gateway_local_checks_total Token checks on local routes: signature verified, or answered by the cache of verified tokens."
            );
            let _ = writeln!(out, "# TYPE frontdesk_gateway_local_checks_total counter");
            let _ = writeln!(
                out,
                "frontdesk_gateway_local_checks_total{{result=\"verified\"}} {}",
                local.misses
            );
            let _ = writeln!(
                out,
                "frontdesk_gateway_local_checks_total{{result=\"cache_hit\"}} {}",
                local.hits
            );
            let _ = writeln!(out, "# TYPE frontdesk_gateway_verified_cache_entries gauge");
            let _ = writeln!(
                out,
                "frontdesk_gateway_verified_cache_entries {}",
                local.entries
            );
        }
        out
    }
}
