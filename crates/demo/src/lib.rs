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
