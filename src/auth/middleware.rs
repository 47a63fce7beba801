//! The axum middleware that authenticates a request once, before GraphQL runs.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::token::extract_token;
use super::{Verified, Verifier, Viewer};
use crate::error::ApiError;

/// Request extension: the viewer, or `None` for an anonymous request.
#[derive(Debug, Clone, Default)]
pub struct Authentication(pub Option<Arc<Viewer>>);

pub async fn authenticate(
    State(verifier): State<Arc<Verifier>>,
    mut request: Request,
    next: Next,
) -> Response {
    let outcome = match extract_token(request.headers()) {
        Ok(None) => Ok(None),
        Ok(Some((token, carrier))) => verifier
            .verify(token)
            .await
            .map(|verified| match verified {
                Verified::SignedIn(viewer) => Some(viewer),
                Verified::Pending => None,
            })
            .inspect_err(|failure| {
                tracing::info!(reason = failure.reason(), ?carrier, "session token refused")
            }),
        Err(failure) => Err(failure),
    };
    match outcome {
        Ok(viewer) => {
            if let Some(viewer) = &viewer {
                tracing::Span::current().record("user_id", viewer.user_id.as_str());
            }
            request.extensions_mut().insert(Authentication(viewer));
            next.run(request).await
        }
        Err(failure) => ApiError::Authentication(failure).into_response(),
    }
}
