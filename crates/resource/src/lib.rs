//! frontdesk-resource: checks access tokens at the door of an API.
//!
//! An API protected by frontdesk receives `Authorization: Bearer <token>` and
//! must decide, on every request, whether the token lets this caller do this
//! thing. This crate makes that decision two ways:
//!
//! * **Locally** ([`Validator`]): the token is an RFC 9068 JWT; its signature
//!   is checked against the issuer's JWKS (fetched through discovery and
//!   cached, see [`Keys`]), then `typ: at+jwt`, `iss`, `aud`, `exp`/`nbf`/`iat`
//!   and the required scopes (RFC 9068 §4). Fast (no network on the hot
//!   path), but a token revoked at frontdesk stays valid here until it expires.
//! * **By introspection** ([`Introspector`], RFC 7662): ask frontdesk each
//!   time, optionally through a short bounded cache. A revocation takes
//!   effect at once (or within the cache TTL), at the cost of a round trip.
//!
//! [`Guard`] is either of the two; [`Guard::layer`] gives a tower layer that
//! refuses bad requests per RFC 6750 §3 and RFC 9449 §7.1 and hands the
//! [`Verified`] token to the handler (an axum extractor with the `axum`
//! feature):
//!
//! | situation | status | `WWW-Authenticate` |
//! |---|---|---|
//! | no `Authorization: Bearer` or `DPoP` | 401 | `Bearer, DPoP algs="ES256 EdDSA PS256 RS256"` |
//! | bad, expired, revoked, foreign token, or a DPoP-bound one (RFC 9449 §7.2), sent as Bearer | 401 | `Bearer error="invalid_token"` |
//! | token lacks a scope (Bearer) | 403 | `Bearer error="insufficient_scope", scope="…"` |
//! | two `Authorization` headers | 400 | `Bearer error="invalid_request"` |
//! | DPoP proof missing, repeated (two `DPoP` headers), malformed, wrong `htm`/`htu`/`ath`, stale, replayed | 401 | `DPoP error="invalid_dpop_proof", algs="…"` |
//! | proof key ≠ `cnf.jkt`; an unbound or bad token sent with `DPoP` | 401 | `DPoP error="invalid_token", algs="…"` |
//! | token lacks a scope (DPoP) | 403 | `DPoP error="insufficient_scope", scope="…", algs="…"` |
//! | keys or introspection unreachable | 503 | none (`Retry-After: 5`) |
//!
//! A DPoP-only layer ([`BearerLayer::require_dpop`]) answers a request
//! without credentials with `DPoP algs="…"` alone, and a Bearer token with
//! `DPoP error="invalid_token"`. DPoP needs the URI clients address
//! ([`Dpop`], [`BearerLayer::with_public_url`]: set it behind a proxy) and
//! keeps a bounded per-process memory of used proofs.
//!
//! The body is JSON ([`ErrorBody`]): `{"error":"invalid_token","error_description":"…"}`.
//! Which check failed is logged, never told to the caller.
//!
//! # A complete API (feature `axum`)
//!
//! ```no_run
//! # #[cfg(feature = "axum")] {
//! use axum::{Json, Router, routing::{get, post}};
//! use frontdesk_resource::{Guard, Introspector, HttpClient, Validator, Verified, discover};
//! use serde_json::{Value, json};
//!
//! async fn list_photos(token: Verified) -> Json<Value> {
//!     Json(json!({"owner": token.sub(), "photos": ["beach.jpg"]}))
//! }
//!
//! async fn charge(token: Verified) -> Json<Value> {
//!     Json(json!({"charged_by": token.client_id()}))
//! }
//!
//! async fn app() -> Result<Router, Box<dyn std::error::Error>> {
//!     let issuer = "https://id.example.com";
//!     // Low risk: check the JWT locally.
//!     let photos = Guard::Local(Validator::from_issuer(issuer, "https://photos.example.com").await?);
//!     // High risk: ask frontdesk every time (revocation is immediate).
//!     let http = HttpClient::new()?;
//!     let meta = discover(&http, issuer).await?;
//!     let endpoint = meta.introspection_endpoint.ok_or("no introspection endpoint")?;
//!     let payments = Guard::Introspect(Introspector::new(
//!         http, &endpoint, "payment-service", "its-secret", issuer, "https://payments.example.com",
//!     )?);
//!     Ok(Router::new()
//!         // The URL clients call, for the `htu` of DPoP proofs (behind a proxy).
//!         .route("/photos", get(list_photos).route_layer(
//!             photos.layer(&["photos:read"]).with_public_url("https://photos.example.com")?,
//!         ))
//!         .route("/charges", post(charge).route_layer(payments.layer(&["charge:customer"]))))
//! }
//! # }
//! ```
//!
//! `examples/photos_api.rs` is the same API as a runnable program.
//!
//! # Without a framework
//!
//! ```
//! use frontdesk_resource::{Validator, ValidationError};
//! # fn demo(jwks: frontdesk_jose::Jwks, token: &str, now: u64) {
//! let v = Validator::new("https://id.example.com", "https://api.example.com", jwks);
//! match v.validate(token, &["photos:read"], now) {
//!     Ok(claims) => println!("hello {}", claims.sub),
//!     Err(e) => println!("{} {}", e.status(), e.www_authenticate()),
//! }
//! # }
//! ```
//!
//! # Outbound requests
//!
//! Discovery, JWKS and introspection go through [`HttpClient`]: no
//! redirects, 5 s timeout, 64 KiB response cap, proxy variables ignored.

#[cfg(feature = "axum")]
mod axum;
mod discovery;
mod dpop;
mod error;
mod guard;
mod http_client;
mod introspect;
mod keys;
mod layer;
mod validator;
mod verified_cache;

pub use discovery::{Discovery, discover};
pub use dpop::{
    DEFAULT_LEEWAY_SECS, DEFAULT_MAX_AGE_SECS, DEFAULT_REPLAY_CAPACITY, Dpop, RequestParts,
};
pub use error::{DPOP_ALGS, ErrorBody, SetupError, ValidationError};
pub use frontdesk_jose::{AccessTokenClaims, Jwks, install_crypto_provider};
pub use guard::{
    Credentials, Guard, Verified, Via, bearer_token, credentials, dpop_proof, unix_now,
};
pub use http_client::{
    Answer, DEFAULT_TIMEOUT, FetchError, HttpClient, MAX_BODY, basic_authorization,
};
pub use introspect::Introspector;
pub use keys::{Clock, Keys, KeysOptions};
pub use layer::{BearerLayer, BearerService};
pub use validator::Validator;
pub use verified_cache::CacheStats;
