//! frontdesk-demo: the story of the README, runnable.
//!
//! * [`api`] — `frontdesk demo-api`: the photos API and the payment service.
//! * [`rp`] — `frontdesk demo-rp`: a web app that signs in with frontdesk as
//!   a backend-for-frontend, over `frontdesk-rp`.
//! * [`launch`] — `frontdesk demo`: all of it, with the server and the
//!   gateway, as child processes of the one binary.
//!
//! Like the gateway, a client of frontdesk: it depends on `frontdesk-rp`,
//! `frontdesk-resource` and `frontdesk-web`, never on the server's core or
//! store.

pub mod api;
pub mod launch;
pub mod rp;

/// What each demo program does first: logs at `info` on stderr, and the
/// one crypto provider for JOSE.
fn start() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
    frontdesk_resource::install_crypto_provider();
}
