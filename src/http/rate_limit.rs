//! The axum middleware that applies [`RateLimiter`] to routes.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::authentication::Authentication;
use super::error::ApiError;
use crate::auth::AuthFailure;
use crate::rate_limit::{ClientIp, RateLimiter};

/// The client address of a request (the server runs with `ConnectInfo`; without it, every
/// request shares the unspecified address, so that limits never silently turn off).
pub fn client_ip(limiter: &RateLimiter, request: &Request) -> IpAddr {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(address)| address.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    limiter.client_ip(peer, request.headers())
}

/// In front of `/graphql`'s authentication: the address's quota for GraphQL requests (the
/// playground page, a `GET` without `query`, is not counted); afterwards, the lockout for the
/// invalid tokens the authentication refused.
pub async fn graphql_address(
    State(limiter): State<Arc<RateLimiter>>,
    request: Request,
    next: Next,
) -> Response {
    let page = matches!(*request.method(), Method::GET | Method::HEAD)
        && !crate::http::graphql::carries_a_request(request.uri());
    if page {
        return next.run(request).await;
    }
    address(State(limiter), request, next).await
}

/// The address's quota, then the request; on the way back, a 401 for an invalid token (the
/// authentication marks those responses with the [`AuthFailure`]) is counted towards the
/// address's lockout, or becomes the lockout's 429 while it lasts. Also puts [`ClientIp`] on
/// the request.
pub async fn address(
    State(limiter): State<Arc<RateLimiter>>,
    mut request: Request,
    next: Next,
) -> Response {
    // Also with the limits off: the WebSocket connection bound per address reads it.
    let ip = client_ip(&limiter, &request);
    request.extensions_mut().insert(ClientIp(ip));
    if !limiter.is_enabled() {
        return next.run(request).await;
    }
    if let Err(refused) = limiter.check_address(ip).await {
        return ApiError::from(refused).into_response();
    }
    let response = next.run(request).await;
    if let Some(failure) = response.extensions().get::<AuthFailure>().copied()
        && let Some(locked_out) = limiter.refuse_invalid_token(ip, failure).await
    {
        return ApiError::from(locked_out).into_response();
    }
    response
}

/// Behind `/graphql`'s authentication: the signed-in user's quota.
pub async fn user(
    State(limiter): State<Arc<RateLimiter>>,
    request: Request,
    next: Next,
) -> Response {
    let viewer = request
        .extensions()
        .get::<Authentication>()
        .and_then(|authentication| authentication.0.clone());
    if let Some(viewer) = viewer
        && let Err(refused) = limiter.check_user(&viewer.user_id).await
    {
        return ApiError::from(refused).into_response();
    }
    next.run(request).await
}

/// `POST /webhooks/clerk`: the address's webhook quota.
pub async fn webhook(
    State(limiter): State<Arc<RateLimiter>>,
    request: Request,
    next: Next,
) -> Response {
    if !limiter.is_enabled() {
        return next.run(request).await;
    }
    let ip = client_ip(&limiter, &request);
    if let Err(refused) = limiter.check_webhook(ip).await {
        return ApiError::from(refused).into_response();
    }
    next.run(request).await
}
