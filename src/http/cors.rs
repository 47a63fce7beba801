//! CORS for the GraphQL endpoints, for frontends on the origins of `CORS_ALLOWED_ORIGINS`.
//!
//! - Preflights allow `GET`/`POST` and the headers of `CORS_ALLOWED_HEADERS` (by default what
//!   GraphQL clients send: `authorization`, `content-type`, tracing and Apollo's client headers).
//! - Credentials are allowed (a listed origin may use the `__session` cookie; the CSRF rules of
//!   [`super::csrf`] still apply to cookie-authenticated requests).
//! - `Retry-After` and `X-Request-Id` are exposed, so that a frontend can honour the first and
//!   report the second.
//! - `Vary: Origin` (and the preflight's request headers) on every answer, so that caches keep
//!   one origin's answer from another.
//!
//! Only `/graphql` and `/graphql/ws` get these headers: the playground's routes — in dev mode
//! its `config.json` holds a fresh admin token — are never readable from another origin.

use std::time::Duration;

use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_http::cors::{AllowOrigin, CorsLayer};

pub fn layer(origins: &[String], allowed_headers: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    let headers: Vec<HeaderName> = allowed_headers
        .iter()
        .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers(headers)
        .allow_credentials(true)
        .expose_headers([header::RETRY_AFTER, HeaderName::from_static("x-request-id")])
        .max_age(Duration::from_secs(600))
}
