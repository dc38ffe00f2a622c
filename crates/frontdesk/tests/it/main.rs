//! End-to-end tests: the real server over real HTTP, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod browser;
mod support;

mod accessibility;
mod admin;
mod admin_users;
mod audit;
mod cli;
mod client_auth_throttle;
mod client_credentials;
mod db_copy;
mod demo_rp;
mod discovery;
mod dpop;
mod fapi2;
mod gateway;
mod groups;
mod interop_node;
mod introspection;
mod jar;
mod ldap;
mod limits;
mod mail;
mod metrics;
mod mfa;
mod native;
mod nginx;
mod nodes;
mod oidc_interop;
mod outage;
mod par;
mod passkey_http;
mod passkeys;
mod private_key_jwt;
mod real_browser;
mod require_pkce;
mod resource;
mod security_authorize;
mod security_review;
mod security_token;
mod signin;
mod sweeper;
mod tidy;
mod upstream;
mod upstream_browser;
