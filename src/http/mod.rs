//! The HTTP layer: everything that knows about requests and responses. The axum middleware
//! (authentication, rate limits, CSRF, CORS, the deadline and panic guards), GraphQL over HTTP
//! (`graphql`), and the one error type of this layer (`error::ApiError`), to which the lower
//! layers' own errors (`auth::AuthFailure`, `rate_limit::Refusal`) are mapped.

pub mod accept;
pub mod authentication;
pub mod cors;
pub mod csrf;
pub mod error;
pub mod graphql;
pub mod guards;
pub mod rate_limit;
pub mod request_metrics;
pub mod trace_sampling;
pub mod unread_body;
