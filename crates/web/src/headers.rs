//! The headers every HTML page carries, and the shared stylesheet.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// RFC 9700 §4.16 (clickjacking) and §4.2 (referrer leakage): no framing, no
/// third-party loads, no referrer, no caching.
pub const CSP: &str =
    "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// Sets the CSP `csp`, `X-Frame-Options: DENY`, `Referrer-Policy:
/// no-referrer`, `Cache-Control: no-store` and `X-Content-Type-Options:
/// nosniff` on a page's headers.
pub fn security_headers(h: &mut HeaderMap, csp: &str) {
    let set = |h: &mut HeaderMap, k: HeaderName, v: &str| {
        if let Ok(v) = HeaderValue::from_str(v) {
            h.insert(k, v);
        }
    };
    set(h, header::CONTENT_SECURITY_POLICY, csp);
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::CACHE_CONTROL, "no-store");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
}

/// The stylesheet served at `/assets/style.css` by the server and the demo
/// app, embedded at build time.
pub const STYLE_CSS: &str = include_str!("style.css");

/// The headers `/assets/style.css` is served with (an axum handler answers
/// `(STYLE_HEADERS, STYLE_CSS)`).
pub const STYLE_HEADERS: [(HeaderName, &str); 2] = [
    (header::CONTENT_TYPE, "text/css; charset=utf-8"),
    (header::CACHE_CONTROL, "public, max-age=3600"),
];
