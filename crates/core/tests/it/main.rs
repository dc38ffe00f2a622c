//! Grant, session and authorization decisions, called on core directly
//! with a fixed clock on a real SQLite store (issue 10 item 7). Expiry,
//! idle time and grace windows are tested here by moving `now`; the
//! end-to-end suite in crates/frontdesk/tests keeps the HTTP behaviour.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod authorization_code;
mod authorize;
mod client_assertion;
mod client_credentials;
mod device;
mod email_link;
mod fapi2;
mod introspect;
mod mfa;
mod par;
mod refresh_token;
mod request_object;
mod session;
mod support;
mod sweep;
mod token_exchange;
mod upstream;
