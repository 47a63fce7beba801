//! The one error type of the HTTP layer, mapped to GraphQL-shaped responses with a stable
//! `extensions.code` (DESIGN §6). Internal details are logged, never returned.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::AuthFailure;

/// Seconds a client should wait before retrying when a dependency is down.
const RETRY_AFTER_SECS: &str = "5";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("authentication failed: {0}")]
    Authentication(AuthFailure),
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
                response
            }
        }
    }
}

fn graphql_error(status: StatusCode, code: &str, message: &str, reason: Option<&str>) -> Response {
    let mut extensions = json!({ "code": code });
    if let Some(reason) = reason {
        extensions["reason"] = json!(reason);
    }
    let body = json!({ "errors": [{ "message": message, "extensions": extensions }] });
    (
        status,
        [(header::CONTENT_TYPE, "application/graphql-response+json")],
        body.to_string(),
    )
        .into_response()
}
