//! A tower layer that admits only requests with a good bearer token.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::guard::{Guard, bearer_token, unix_now};

/// Wraps a service: checks the bearer token with a [`Guard`] and the layer's
/// scopes, answers refusals itself (RFC 6750 §3: status, `WWW-Authenticate`,
/// JSON body), and otherwise calls the inner service with the
/// [`crate::Verified`] token in the request extensions.
#[derive(Debug, Clone)]
pub struct BearerLayer {
    guard: Guard,
    scopes: Arc<[String]>,
}

impl BearerLayer {
    /// A layer requiring `scopes` (all of them).
    pub fn new(guard: Guard, scopes: &[&str]) -> BearerLayer {
        BearerLayer {
            guard,
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        }
    }
}

impl<S> tower::Layer<S> for BearerLayer {
    type Service = BearerService<S>;

    fn layer(&self, inner: S) -> BearerService<S> {
        BearerService {
            inner,
            guard: self.guard.clone(),
            scopes: Arc::clone(&self.scopes),
        }
    }
}

/// The service [`BearerLayer`] builds.
#[derive(Debug, Clone)]
pub struct BearerService<S> {
    inner: S,
    guard: Guard,
    scopes: Arc<[String]>,
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
        Box::pin(async move {
            let required: Vec<&str> = scopes.iter().map(String::as_str).collect();
            let checked = match bearer_token(req.headers()) {
                Ok(token) => guard.check(token, &required, unix_now()).await,
                Err(e) => Err(e),
            };
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
