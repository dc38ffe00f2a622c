//! axum integration (feature `axum`): [`Verified`] as an extractor and
//! [`ValidationError`] as a response.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use crate::{ValidationError, Verified};

/// Extracts the token the [`crate::BearerLayer`] verified. A handler that
/// takes `Verified` on a route without the layer answers 500 (a wiring
/// mistake, logged), never "allowed".
impl<S: Send + Sync> FromRequestParts<S> for Verified {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Verified>() {
            Some(v) => Ok(v.clone()),
            None => {
                tracing::error!(path = %parts.uri.path(), "Verified extractor used on a route without BearerLayer");
                Err(axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response())
            }
        }
    }
}

impl IntoResponse for ValidationError {
    fn into_response(self) -> Response {
        self.to_response::<axum::body::Body>()
    }
}
