//! Authenticating a request once, before GraphQL runs: the axum middleware for HTTP, and the
//! same rules for a WebSocket's `connection_init` and token refresh.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::token::TokenSource;
use crate::auth::{AuthFailure, Verified, Verifier, Viewer};
use crate::http::error::ApiError;

/// Request extension: the viewer, or `None` for an anonymous request.
#[derive(Debug, Clone, Default)]
pub struct Authentication(pub Option<Arc<Viewer>>);

/// Where tokens are found and how they are verified.
#[derive(Clone)]
pub struct Authenticator {
    pub tokens: TokenSource,
    pub verifier: Arc<Verifier>,
}

impl Authenticator {
    /// The viewer the headers authenticate: `Ok(None)` when they carry no token (or a pending
    /// session's, which Clerk treats as signed out), `Err` when the token presented was refused.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
    ) -> Result<Option<Arc<Viewer>>, AuthFailure> {
        let Some((token, carrier)) = self.tokens.extract(headers)? else {
            return Ok(None);
        };
        match self.verifier.verify(token).await {
            Ok(Verified::SignedIn(viewer)) => Ok(Some(viewer)),
            Ok(Verified::Pending) => Ok(None),
            Err(failure) => {
                tracing::info!(reason = failure.reason(), ?carrier, "session token refused");
                Err(failure)
            }
        }
    }
}

pub async fn authenticate(
    State(authenticator): State<Authenticator>,
    mut request: Request,
    next: Next,
) -> Response {
    match authenticator.authenticate(request.headers()).await {
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
