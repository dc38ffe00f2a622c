//! The one Prometheus exposition of every frontdesk process (server and
//! gateway): a process-wide `metrics` recorder from
//! `metrics-exporter-prometheus`, rendered as text format 0.0.4 on the
//! process's own metrics listener. What each process records stays its own.

pub use metrics_exporter_prometheus::PrometheusHandle;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

/// `Content-Type` of a rendered exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// Installs the process-wide recorder, with the given bucket bounds for
/// the named histograms (others are summaries). Call once, before serving.
///
/// # Errors
/// When a recorder is already installed, or a bucket list is empty.
pub fn install(histograms: &[(&str, &[f64])]) -> Result<PrometheusHandle, String> {
    let mut builder = PrometheusBuilder::new();
    for (name, buckets) in histograms {
        builder = builder
            .set_buckets_for_metric(Matcher::Full((*name).to_owned()), buckets)
            .map_err(|e| format!("metrics: {e}"))?;
    }
    builder
        .install_recorder()
        .map_err(|e| format!("metrics: {e}"))
}

/// The current exposition.
pub fn render(handle: &PrometheusHandle) -> String {
    handle.run_upkeep();
    handle.render()
}
