//! A tower layer that admits only requests with a good access token: Bearer
//! (RFC 6750), or DPoP-bound with its proof (RFC 9449 §7).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::SetupError;
use crate::dpop::{Dpop, RequestParts};
use crate::guard::{Guard, unix_now};

/// Wraps a service: checks the request's token with a [`Guard`] and the
/// layer's scopes ([`Guard::check_request`]: Bearer, or DPoP with its
/// proof), answers refusals itself (RFC 6750 §3 and RFC 9449 §7.1: status,
/// `WWW-Authenticate`, JSON body), and otherwise calls the inner service
/// with the [`crate::Verified`] token in the request extensions.
///
/// For DPoP the layer needs the URI clients address: set it with
/// [`BearerLayer::with_public_url`] whenever the service runs behind a proxy
/// (see [`Dpop`]). Each layer has its own replay memory unless given a
/// shared one with [`BearerLayer::with_dpop`].
#[derive(Debug, Clone)]
pub struct BearerLayer {
    guard: Guard,
    scopes: Arc<[String]>,
    dpop: Dpop,
}

impl BearerLayer {
    /// A layer requiring `scopes` (all of them), with [`Dpop::new`]'s
    /// defaults.
    pub fn new(guard: Guard, scopes: &[&str]) -> BearerLayer {
        BearerLayer {
            guard,
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
            dpop: Dpop::new(),
        }
    }

    /// Uses these DPoP settings (and their replay memory, shared with
    /// every clone).
    #[must_use]
    pub fn with_dpop(mut self, dpop: Dpop) -> BearerLayer {
        self.dpop = dpop;
        self
    }

    /// The externally visible base URL, for `htu` ([`Dpop::with_public_url`]).
    ///
    /// # Errors
    /// [`SetupError::InvalidUrl`].
    pub fn with_public_url(mut self, url: &str) -> Result<BearerLayer, SetupError> {
        self.dpop = self.dpop.with_public_url(url)?;
        Ok(self)
    }

    /// Accepts only DPoP-bound tokens with a proof ([`Dpop::required`]).
    #[must_use]
    pub fn require_dpop(mut self) -> BearerLayer {
        self.dpop = self.dpop.required(true);
        self
    }
}

impl<S> tower::Layer<S> for BearerLayer {
    type Service = BearerService<S>;

    fn layer(&self, inner: S) -> BearerService<S> {
        BearerService {
            inner,
            guard: self.guard.clone(),
            scopes: Arc::clone(&self.scopes),
            dpop: self.dpop.clone(),
        }
    }
}

/// The service [`BearerLayer`] builds.
#[derive(Debug, Clone)]
pub struct BearerService<S> {
    inner: S,
    guard: Guard,
    scopes: Arc<[String]>,
    dpop: Dpop,
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for BearerService<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: From<String> + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<ReqBody>) -> Self::Future {
        // The clone-and-swap idiom: the ready service handles this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let guard = self.guard.clone();
        let scopes = Arc::clone(&self.scopes);
        let dpop = self.dpop.clone();
        Box::pin(async move {
            let required: Vec<&str> = scopes.iter().map(String::as_str).collect();
            let parts = RequestParts {
                method: req.method(),
                uri: req.uri(),
                headers: req.headers(),
            };
            let checked = guard
                .check_request(&dpop, parts, &required, unix_now())
                .await;
            match checked {
                Ok(verified) => {
                    req.extensions_mut().insert(verified);
                    inner.call(req).await
                }
                Err(e) => {
                    tracing::info!(status = e.status(), reason = %e, "request refused");
                    Ok(e.to_response())
                }
            }
        })
    }
}
