//! The loopback redirect (RFC 8252 §7.3): a listener on 127.0.0.1 that
//! serves exactly one path, `/callback`, takes the first authorization
//! response that arrives there, answers the browser with a small page, and
//! stops.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use tokio::sync::oneshot;

use crate::error::{RpError, one_line};
use crate::same;

/// `bail!` for callback errors: returns `RpError::Callback(format!(…))`.
macro_rules! refuse {
    ($($t:tt)*) => {
        return Err(RpError::Callback(format!($($t)*)))
    };
}

/// The one path the listener serves.
pub const CALLBACK_PATH: &str = "/callback";

/// What a callback must carry to be accepted.
#[derive(Debug, Clone)]
pub struct Check {
    /// The `state` this sign-in sent (RFC 6749 §10.12).
    pub state: String,
    /// The issuer, which the RFC 9207 `iss` parameter must equal.
    pub issuer: String,
    /// Refuse a response without `iss` (the issuer advertises
    /// `authorization_response_iss_parameter_supported`, RFC 9207 §2.4).
    pub require_iss: bool,
}

/// The authorization response (RFC 6749 §4.1.2 and §4.1.2.1, RFC 9207 §2).
/// A parameter given twice is refused (RFC 6749 §3.1).
#[derive(Debug, Deserialize)]
struct Params {
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

impl Check {
    /// The code of an acceptable callback, or why it is refused.
    fn evaluate(&self, uri: &Uri) -> Result<String, RpError> {
        let Query(p) = Query::<Params>::try_from_uri(uri).map_err(|e| {
            RpError::Callback(format!(
                "the callback is malformed: {}",
                one_line(&e.body_text())
            ))
        })?;
        let state_ok = p.state.as_deref().is_some_and(|s| same(s, &self.state));
        if !state_ok {
            refuse!(
                "the callback's state does not match this sign-in (a stale or forged callback); no tokens were requested"
            );
        }
        match p.iss.as_deref() {
            Some(iss) if iss == self.issuer => {}
            Some(iss) => refuse!(
                "the callback comes from issuer {:?}, not {:?} (RFC 9207 mix-up defence)",
                one_line(iss),
                self.issuer
            ),
            None if self.require_iss => {
                refuse!(
                    "the callback has no iss parameter although the issuer promises one (RFC 9207)"
                )
            }
            None => {}
        }
        if let Some(error) = p.error {
            let detail = p
                .error_description
                .map(|d| format!(": {}", one_line(&d)))
                .unwrap_or_default();
            refuse!("sign-in refused: {}{detail}", one_line(&error));
        }
        match p.code {
            Some(code) if !code.is_empty() => Ok(code),
            _ => refuse!("the callback carries no code"),
        }
    }
}

/// A bound loopback listener, not yet serving.
pub struct Loopback {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
}

type Slot = Arc<Mutex<Option<oneshot::Sender<Result<String, RpError>>>>>;

#[derive(Clone)]
struct AppState {
    check: Arc<Check>,
    slot: Slot,
}

impl Loopback {
    /// Binds `127.0.0.1:port` (port 0: any free port). The IP literal, not
    /// `localhost` (RFC 8252 §8.3).
    pub async fn bind(port: u16) -> Result<Loopback, RpError> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .await
            .map_err(|e| RpError::Callback(format!("cannot listen on 127.0.0.1:{port}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| RpError::Callback(format!("the loopback listener: {e}")))?;
        Ok(Loopback { listener, addr })
    }

    /// `http://127.0.0.1:PORT/callback`.
    pub fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}{CALLBACK_PATH}", self.addr.port())
    }

    /// Serves until the first callback (or `timeout`) and returns its code.
    pub async fn wait(self, check: Check, timeout: Duration) -> Result<String, RpError> {
        let (tx, rx) = oneshot::channel();
        let state = AppState {
            check: Arc::new(check),
            slot: Arc::new(Mutex::new(Some(tx))),
        };
        let app = Router::new()
            .route(CALLBACK_PATH, get(callback))
            .with_state(state);
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(self.listener, app)
                .with_graceful_shutdown(async {
                    let _ = stop_rx.await;
                })
                .await
        });
        let outcome = tokio::time::timeout(timeout, rx).await;
        // Let the page reach the browser, then stop listening.
        let _ = stop_tx.send(());
        let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
        match outcome {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => refuse!("the loopback listener stopped unexpectedly"),
            Err(_) => refuse!(
                "no sign-in within {} minutes: the browser never came back to {CALLBACK_PATH}",
                timeout.as_secs() / 60
            ),
        }
    }
}

async fn callback(State(st): State<AppState>, uri: Uri) -> Response {
    let result = st.check.evaluate(&uri);
    let sender = st.slot.lock().ok().and_then(|mut s| s.take());
    let Some(sender) = sender else {
        return page(
            StatusCode::CONFLICT,
            "Sign-in already finished",
            "This sign-in has already finished. You can close this window.",
        );
    };
    let response = match &result {
        Ok(_) => page(
            StatusCode::OK,
            "Signed in",
            "You are signed in. You can close this window and return to the terminal.",
        ),
        Err(e) => page(
            StatusCode::BAD_REQUEST,
            "Sign-in failed",
            &format!("{e}. You can close this window; the terminal shows what to do next."),
        ),
    };
    let _ = sender.send(result);
    response
}

/// A small self-contained page: no scripts, no external assets, not
/// cached, no referrer (the address bar holds the code).
fn page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t} · frontdesk</title></head>\
         <body style=\"font-family: system-ui, sans-serif; max-width: 32rem; margin: 4rem auto; padding: 0 1rem\">\
         <h1>{t}</h1><p>{m}</p></body></html>\n",
        t = escape(title),
        m = escape(message)
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
            ),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        body,
    )
        .into_response()
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    fn check() -> Check {
        Check {
            state: "s1".into(),
            issuer: "http://127.0.0.1:8080".into(),
            require_iss: true,
        }
    }

    const ISS: &str = "iss=http%3A%2F%2F127.0.0.1%3A8080";

    fn uri(q: &str) -> Uri {
        format!("/callback?{q}").parse().expect("uri")
    }

    #[test]
    fn a_good_callback_gives_the_code() {
        let code = check().evaluate(&uri(&format!("code=c1&state=s1&{ISS}")));
        assert_eq!(code.ok().as_deref(), Some("c1"));
    }

    #[test]
    fn bad_callbacks_are_refused() {
        let c = check();
        for q in [
            format!("code=c1&state=s2&{ISS}"),
            format!("code=c1&{ISS}"),
            "code=c1&state=s1".to_owned(),
            "code=c1&state=s1&iss=https%3A%2F%2Fevil.example".to_owned(),
            format!("code=c1&code=c2&state=s1&{ISS}"),
            format!("state=s1&{ISS}"),
            format!("error=access_denied&state=s1&{ISS}"),
        ] {
            assert!(c.evaluate(&uri(&q)).is_err(), "{q}");
        }
        assert!(c.evaluate(&"/callback".parse().expect("uri")).is_err());
        let lax = Check {
            require_iss: false,
            ..check()
        };
        assert!(lax.evaluate(&uri("code=c1&state=s1")).is_ok());
    }

    #[test]
    fn an_error_names_the_code_and_the_state_comes_first() {
        let c = check();
        let e = c
            .evaluate(&uri(&format!("error=access_denied&state=s1&{ISS}")))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("access_denied"), "{e}");
        let e = c
            .evaluate(&uri("error=access_denied&state=nope"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("state"), "{e}");
    }

    #[test]
    fn pages_escape() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#x27;"
        );
    }
}
