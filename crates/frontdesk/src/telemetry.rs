//! Server metrics in the Prometheus text format, served on their own
//! listener (`metrics_listen`), never on the public one.
//!
//! Recorded through the `metrics` facade; nothing is recorded (and the
//! request middleware is not even mounted) unless a listener is configured.
//! Labels are bounded sets: route templates (never raw paths), methods
//! (unknown ones are `other`), statuses, OAuth error codes, grant types and
//! client_ids (registered by operators). Never tokens, codes, secrets,
//! usernames or URLs with queries.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `frontdesk_http_requests_total` | counter | `route`, `method`, `status` |
//! | `frontdesk_http_request_duration_seconds` | histogram | `route` |
//! | `frontdesk_tokens_issued_total` | counter | `grant_type`, `client_id` |
//! | `frontdesk_oauth_errors_total` | counter | `error` (RFC 6749 §5.2 / §4.1.2.1 code) |
//! | `frontdesk_logins_total` | counter | `result`: `success`, `failure`, `throttled` |
//! | `frontdesk_client_auth_throttled_total` | counter | `endpoint`: `token`, `introspect`, `revoke` |
//! | `frontdesk_sweep_rounds_total` | counter | `result`: `swept`, `skipped` (another node was sweeping), `failed` |
//! | `frontdesk_swept_rows_total` | counter | `table` (one of `frontdesk_core::sweep::SWEPT_TABLES`) |
//! | `frontdesk_table_rows` | gauge | `table`: rows after this node's last round (see [`table_rows`]) |
//! | `frontdesk_build_info` | gauge (1) | `version` |

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::anyhow;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use frontdesk_web::metrics::PrometheusHandle;

const DURATION: &str = "frontdesk_http_request_duration_seconds";

/// Set once a recorder is installed: without one, callers skip building
/// label values on hot paths.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether metrics are being recorded.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// From 0.1 ms (a cached discovery answer) to 2.5 s (a login behind the
/// Argon2 pool under load).
const BUCKETS: [f64; 15] = [
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0,
];

/// Installs the process-wide recorder. Call once, before serving.
///
/// # Errors
/// When a recorder is already installed.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let handle =
        frontdesk_web::metrics::install(&[(DURATION, &BUCKETS)]).map_err(|e| anyhow!(e))?;
    metrics::gauge!("frontdesk_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    ENABLED.store(true, Ordering::Relaxed);
    Ok(handle)
}

/// The router of the metrics listener: `GET /metrics`, nothing else.
pub fn router(handle: PrometheusHandle) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .with_state(handle)
}

async fn render(State(handle): State<PrometheusHandle>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, frontdesk_web::metrics::CONTENT_TYPE)],
        frontdesk_web::metrics::render(&handle),
    )
        .into_response()
}

fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        _ => "other",
    }
}

/// Middleware: one count and one duration per request, labelled with the
/// route template (`/token`, not the requested path; `unmatched` for 404s).
pub async fn record_request(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = method_label(req.method());
    let started = Instant::now();
    let res = next.run(req).await;
    let elapsed = started.elapsed().as_secs_f64();
    metrics::counter!(
        "frontdesk_http_requests_total",
        "route" => route.clone(),
        "method" => method,
        "status" => res.status().as_str().to_owned()
    )
    .increment(1);
    metrics::histogram!(DURATION, "route" => route).record(elapsed);
    res
}

/// A token response was sent.
pub fn token_issued(grant_type: &str, client_id: &str) {
    if !enabled() {
        return;
    }
    metrics::counter!(
        "frontdesk_tokens_issued_total",
        "grant_type" => grant_type.to_owned(),
        "client_id" => client_id.to_owned()
    )
    .increment(1);
}

/// An OAuth error response was sent (token, introspection, revocation,
/// userinfo, or an authorization error redirect).
pub fn oauth_error(code: &'static str) {
    metrics::counter!("frontdesk_oauth_errors_total", "error" => code).increment(1);
}

/// The result of a password check on the login page.
pub fn login(result: &'static str) {
    metrics::counter!("frontdesk_logins_total", "result" => result).increment(1);
}

/// A back-channel request was answered 429 because its peer is over its
/// limit of failed client authentications.
pub fn client_auth_throttled(endpoint: &'static str) {
    metrics::counter!("frontdesk_client_auth_throttled_total", "endpoint" => endpoint).increment(1);
}

/// The end of a sweep round: `swept`, `skipped` or `failed`.
pub fn sweep_round(result: &'static str) {
    metrics::counter!("frontdesk_sweep_rounds_total", "result" => result).increment(1);
}

/// Rows a sweep round removed, per table (every table, so each series
/// exists from the first round on).
pub fn swept(swept: &frontdesk_core::sweep::Swept) {
    for (table, n) in swept.by_table() {
        metrics::counter!("frontdesk_swept_rows_total", "table" => table).increment(n);
    }
}

/// Table sizes, measured by the node that swept, right after its round:
/// exact on SQLite; on PostgreSQL exact below 10,000 rows and the
/// planner's estimate (`pg_class.reltuples`, as of the last VACUUM or
/// ANALYZE) above, so measuring never reads a large table. With several
/// nodes, take the value of the node whose `frontdesk_sweep_rounds_total
/// {result="swept"}` moved last.
pub fn table_rows(rows: &[(&'static str, u64)]) {
    for (table, n) in rows {
        // Row counts fit an f64 exactly up to 2^53.
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!("frontdesk_table_rows", "table" => *table).set(*n as f64);
    }
}
