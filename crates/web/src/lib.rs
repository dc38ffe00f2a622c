//! frontdesk-web: what every frontdesk listener shares — the server's, the
//! gateway's and the demo apps'.
//!
//! * [`accept_loop`] with [`HEAD_LIMIT`] / [`MAX_HEADERS`] for hyper's
//!   builders, and [`shutdown_signal`] (SIGTERM or Ctrl-C);
//! * [`security_headers`] and the [`CSP`] every HTML page carries;
//! * [`STYLE_CSS`], the one stylesheet of the server's and the demo's pages.
//!
//! No routers, no state, no store: the server, the gateway and the demo each
//! build their own on top.

mod headers;
mod listener;
pub mod metrics;

pub use headers::{CSP, STYLE_CSS, STYLE_HEADERS, security_headers};
pub use listener::{HEAD_LIMIT, MAX_HEADERS, accept_loop, shutdown_signal};
