//! The gateway's counters, recorded through the `metrics` facade and served
//! as Prometheus text at `GET /metrics` on `metrics_listen` by
//! `frontdesk_web::metrics`, the exposition the server uses too. Without
//! `metrics_listen` no recorder is installed and recording costs nothing.

use std::sync::OnceLock;

use frontdesk_resource::{CacheStats, Via};
use frontdesk_web::metrics::PrometheusHandle;
use metrics::{counter, describe_counter, describe_gauge, gauge};

use super::config::Mode;

const ADMITTED: &str = "frontdesk_gateway_admitted_total";
const REFUSED: &str = "frontdesk_gateway_refused_total";
const NO_ROUTE: &str = "frontdesk_gateway_no_route_total";
const BAD_PATH: &str = "frontdesk_gateway_bad_path_total";
const UPSTREAM_ERRORS: &str = "frontdesk_gateway_upstream_errors_total";
const JWKS_FETCHES: &str = "frontdesk_gateway_jwks_fetches_total";
const LOCAL_CHECKS: &str = "frontdesk_gateway_local_checks_total";
const VERIFIED_ENTRIES: &str = "frontdesk_gateway_verified_cache_entries";

/// Every (mode, via) pair a request can be admitted with.
const ADMITTED_LABELS: [(&str, &str); 4] = [
    ("local", "local"),
    ("introspect", "introspection"),
    ("introspect-cached", "introspection"),
    ("introspect-cached", "introspection_cache"),
];
const REFUSED_STATUSES: [&str; 4] = ["400", "401", "403", "503"];
const UPSTREAM_STATUSES: [&str; 2] = ["502", "504"];

#[derive(Debug, Default)]
pub struct Stats {
    handle: OnceLock<PrometheusHandle>,
}

impl Stats {
    /// Installs the process-wide recorder (with `metrics_listen` only) and
    /// registers every fixed series at 0, so a scrape sees them all.
    ///
    /// # Errors
    /// When a recorder is already installed in this process.
    pub fn install(&self) -> Result<(), String> {
        let handle = frontdesk_web::metrics::install(&[])?;
        describe_counter!(
            ADMITTED,
            "Requests let through, by route mode and by what answered."
        );
        describe_counter!(
            REFUSED,
            "Requests refused at the door (RFC 6750), by status."
        );
        describe_counter!(
            LOCAL_CHECKS,
            "Token checks on local routes: signature verified, or answered by the cache of verified tokens."
        );
        describe_gauge!(
            VERIFIED_ENTRIES,
            "Verified tokens remembered by local routes."
        );
        for (mode, via) in ADMITTED_LABELS {
            counter!(ADMITTED, "mode" => mode, "via" => via).increment(0);
        }
        for status in REFUSED_STATUSES {
            counter!(REFUSED, "status" => status).increment(0);
        }
        for status in UPSTREAM_STATUSES {
            counter!(UPSTREAM_ERRORS, "status" => status).increment(0);
        }
        counter!(NO_ROUTE).increment(0);
        counter!(BAD_PATH).increment(0);
        counter!(JWKS_FETCHES).increment(0);
        self.handle
            .set(handle)
            .map_err(|_| "metrics: installed twice".to_owned())
    }

    pub fn admitted(&self, mode: Mode, via: Via) {
        let (mode, via) = match (mode, via) {
            (Mode::Local, _) => ADMITTED_LABELS[0],
            (Mode::Introspect, _) => ADMITTED_LABELS[1],
            (Mode::IntrospectCached(_), Via::IntrospectionCache) => ADMITTED_LABELS[3],
            (Mode::IntrospectCached(_), _) => ADMITTED_LABELS[2],
        };
        counter!(ADMITTED, "mode" => mode, "via" => via).increment(1);
    }

    pub fn refused(&self, status: u16) {
        let status = match status {
            400 => "400",
            403 => "403",
            503 => "503",
            _ => "401",
        };
        counter!(REFUSED, "status" => status).increment(1);
    }

    pub fn no_route(&self) {
        counter!(NO_ROUTE).increment(1);
    }

    pub fn bad_path(&self) {
        counter!(BAD_PATH).increment(1);
    }

    pub fn upstream_error(&self, status: u16) {
        let status = if status == 504 { "504" } else { "502" };
        counter!(UPSTREAM_ERRORS, "status" => status).increment(1);
    }

    /// The exposition, with the figures other parts keep (JWKS fetches,
    /// the verified-token caches) brought up to date first. The local
    /// check series exist only with the memory of verified tokens on:
    /// without it every local check verifies, and `admitted_total` already
    /// counts them. Empty before [`Stats::install`].
    pub fn render(&self, jwks_fetches: u64, local: Option<CacheStats>) -> String {
        let Some(handle) = self.handle.get() else {
            return String::new();
        };
        counter!(JWKS_FETCHES).absolute(jwks_fetches);
        if let Some(local) = local {
            counter!(LOCAL_CHECKS, "result" => "verified").absolute(local.misses);
            counter!(LOCAL_CHECKS, "result" => "cache_hit").absolute(local.hits);
            #[allow(clippy::cast_precision_loss)]
            gauge!(VERIFIED_ENTRIES).set(local.entries as f64);
        }
        frontdesk_web::metrics::render(handle)
    }
}
