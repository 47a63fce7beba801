//! The one error type of the HTTP layer, mapped to GraphQL-shaped responses with a stable
//! `extensions.code` (ARCHITECTURE §6). Internal details are logged, never returned.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::AuthFailure;
use crate::rate_limit::{Limit, Refusal};

/// Seconds a client should wait before retrying when a dependency is down.
const RETRY_AFTER_SECS: &str = "5";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("authentication failed: {0}")]
    Authentication(AuthFailure),
    /// Not a GraphQL-over-HTTP request this server accepts (400, `BAD_REQUEST`).
    #[error("bad request: {message}")]
    BadRequest {
        reason: &'static str,
        message: String,
    },
    /// 413: the body is over `GRAPHQL_MAX_BODY_BYTES`.
    #[error("request body over {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// 415: a POST body that is not `application/json`.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// 405 with `Allow: POST`.
    #[error("method not allowed: {0}")]
    MethodNotAllowed(String),
    /// 403: a cookie-authenticated request from another site.
    #[error("cross-site request refused")]
    CrossSite,
    /// 503: the request was not answered within `GRAPHQL_TIMEOUT_SECS`.
    #[error("no answer within {} s", .after.as_secs())]
    Timeout {
        after: std::time::Duration,
        request_id: Option<String>,
    },
    /// 500: a bug (a panic); the details are in the log under the request id.
    #[error("internal error")]
    Internal { request_id: Option<String> },
    /// 429 with `Retry-After`: over a rate limit, or the address is locked out (`rate_limit`).
    #[error("rate limited ({}), retry after {retry_after_secs} s", .limit.reason())]
    RateLimited { limit: Limit, retry_after_secs: u64 },
}

impl From<AuthFailure> for ApiError {
    fn from(failure: AuthFailure) -> Self {
        ApiError::Authentication(failure)
    }
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        ApiError::RateLimited {
            limit: refusal.limit,
            retry_after_secs: refusal.retry_after_secs,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Authentication(failure) if failure.is_service_unavailable() => {
                let mut response = graphql_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "SERVICE_UNAVAILABLE",
                    failure.description(),
                    Some(failure.reason()),
                );
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_static(RETRY_AFTER_SECS),
                );
                response.extensions_mut().insert(failure);
                response
            }
            ApiError::Authentication(failure) => {
                let mut response = graphql_error(
                    StatusCode::UNAUTHORIZED,
                    "UNAUTHENTICATED",
                    failure.description(),
                    Some(failure.reason()),
                );
                // RFC 6750 §3: the description is ours, the token is never echoed.
                let challenge = format!(
                    "Bearer error=\"invalid_token\", error_description=\"{}\"",
                    failure.description().replace('"', "'")
                );
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, value);
                }
                // For the brute-force lockout (`rate_limit`), which counts refused tokens.
                response.extensions_mut().insert(failure);
                response
            }
            ApiError::BadRequest { reason, message } => graphql_error(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                &message,
                Some(reason),
            ),
            ApiError::PayloadTooLarge { limit } => graphql_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "BAD_REQUEST",
                &format!("The request body is larger than the limit of {limit} bytes."),
                Some("body_too_large"),
            ),
            ApiError::UnsupportedMediaType => graphql_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "BAD_REQUEST",
                "Send the GraphQL request as JSON, with `Content-Type: application/json`.",
                Some("unsupported_media_type"),
            ),
            ApiError::MethodNotAllowed(message) => {
                let mut response = graphql_error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "BAD_REQUEST",
                    &message,
                    Some("method_not_allowed"),
                );
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("POST"));
                response
            }
            ApiError::CrossSite => graphql_error(
                StatusCode::FORBIDDEN,
                "FORBIDDEN",
                "Cross-site request refused: a request authenticated by the session cookie must \
                 come from this server's origin or from an origin in CORS_ALLOWED_ORIGINS.",
                Some("csrf"),
            ),
            ApiError::Timeout { after, request_id } => {
                let mut response = graphql_error_with_id(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "SERVICE_UNAVAILABLE",
                    &format!(
                        "The request was not answered within {} s; try again shortly.",
                        after.as_secs()
                    ),
                    Some("timeout"),
                    request_id.as_deref(),
                );
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_static(RETRY_AFTER_SECS),
                );
                response
            }
            ApiError::Internal { request_id } => graphql_error_with_id(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL_SERVER_ERROR",
                "Internal server error.",
                None,
                request_id.as_deref(),
            ),
            ApiError::RateLimited {
                limit,
                retry_after_secs,
            } => {
                let retry_after_secs = retry_after_secs.max(1);
                let mut response = graphql_error(
                    StatusCode::TOO_MANY_REQUESTS,
                    "RATE_LIMITED",
                    &limit.message(retry_after_secs),
                    Some(limit.reason()),
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                response
            }
        }
    }
}

fn graphql_error(status: StatusCode, code: &str, message: &str, reason: Option<&str>) -> Response {
    graphql_error_with_id(status, code, message, reason, None)
}

/// With `extensions.requestId` and `extensions.traceId`, which let a user's report be matched
/// with the server log and the request's trace.
fn graphql_error_with_id(
    status: StatusCode,
    code: &str,
    message: &str,
    reason: Option<&str>,
    request_id: Option<&str>,
) -> Response {
    let mut extensions = json!({ "code": code });
    if let Some(reason) = reason {
        extensions["reason"] = json!(reason);
    }
    if let Some(request_id) = request_id {
        extensions["requestId"] = json!(request_id);
    }
    if let Some(trace_id) = crate::telemetry::current_trace_id() {
        extensions["traceId"] = json!(trace_id);
    }
    let body = json!({ "errors": [{ "message": message, "extensions": extensions }] });
    (
        status,
        [(header::CONTENT_TYPE, "application/graphql-response+json")],
        body.to_string(),
    )
        .into_response()
}
