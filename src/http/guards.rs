//! Middleware that keep one request from hurting the server: a deadline, and a panic that
//! becomes a 500 instead of a dropped connection.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use tower_http::request_id::{MakeRequestId, RequestId};

use super::graphql::request_id;
use crate::http::error::ApiError;

/// `GRAPHQL_TIMEOUT_SECS` over everything a GraphQL request does — reading the body, verifying
/// the token, running resolvers — answered **503** `SERVICE_UNAVAILABLE` with `Retry-After`
/// (reason `timeout`). Not 504: that says a gateway's upstream did not answer, and a proxy in
/// front of this server may send its own 504; not 408: the client sent its request in time.
/// What usually runs out the clock is a slow dependency (Clerk, the database), and a 503 with
/// `Retry-After` is what clients already retry. The request's future is dropped: its database
/// transaction, if any, rolls back.
pub async fn deadline(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    let request_id = request_id(request.headers());
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(
                timeout_secs = limit.as_secs(),
                "GraphQL request not answered in time"
            );
            ApiError::Timeout {
                after: limit,
                request_id,
            }
            .into_response()
        }
    }
}

/// The longest client-supplied `x-request-id` kept.
const MAX_REQUEST_ID_CHARS: usize = 64;

/// A client's `x-request-id` is kept only when it is short and of safe characters (letters,
/// digits, `.`, `_`, `-`, `:`); otherwise it is removed, so that `SetRequestIdLayer` gives the
/// request a fresh one. It is echoed in a response header and written in every log line of the
/// request: markup, control characters or kilobytes of it have no business there. A request
/// mapping (`ServiceBuilder::map_request`), not a `from_fn` middleware: it needs nothing of the
/// response, and a `from_fn` layer boxes and clones what it wraps on every request.
pub fn sanitize_request_id(mut request: Request) -> Request {
    let unsafe_id = request
        .headers()
        .get_all(super::graphql::REQUEST_ID)
        .iter()
        .enumerate()
        .any(|(index, value)| index > 0 || !is_safe_request_id(value.as_bytes()));
    if unsafe_id {
        request.headers_mut().remove(super::graphql::REQUEST_ID);
    }
    request
}

/// A fresh request id: a random (version 4) UUID, as `tower_http`'s `MakeRequestUuid` makes, but
/// from the thread's cryptographically secure generator (`rand`'s, seeded and periodically
/// reseeded by the OS) instead of a `getrandom` system call per request, and written straight
/// into the header value (bench/README.md, "Changes and their effect").
#[derive(Clone, Copy, Default)]
pub struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        let mut text = uuid::Uuid::encode_buffer();
        let value = HeaderValue::from_str(id.hyphenated().encode_lower(&mut text)).ok()?;
        Some(RequestId::new(value))
    }
}

fn is_safe_request_id(id: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID_CHARS).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'))
}

/// A panic in a handler or a resolver (they run on the request's task) is answered 500
/// `INTERNAL_SERVER_ERROR` with `extensions.requestId`; the panic message goes to the log only.
pub async fn catch_panic(request: Request, next: Next) -> Response {
    let request_id = request_id(request.headers());
    match AssertUnwindSafe(next.run(request)).catch_unwind().await {
        Ok(response) => response,
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            tracing::error!(request_id, panic = %message, "request handler panicked");
            ApiError::Internal { request_id }.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::routing::get;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_panic_is_a_masked_500_with_the_request_id() {
        async fn boom() -> &'static str {
            panic!("secret detail")
        }
        let router = Router::new()
            .route("/boom", get(boom))
            .route("/ok", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn(catch_panic));
        let request = Request::get("/boom")
            .header("x-request-id", "req-7")
            .body(Body::empty())
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body["errors"][0]["extensions"],
            serde_json::json!({"code": "INTERNAL_SERVER_ERROR", "requestId": "req-7"})
        );
        assert!(!body.to_string().contains("secret detail"));
        let ok = Request::get("/ok").body(Body::empty()).unwrap();
        assert_eq!(router.oneshot(ok).await.unwrap().status(), StatusCode::OK);
    }

    #[test]
    fn fresh_request_ids_are_distinct_random_uuids() {
        let request = Request::new(Body::empty());
        let ids: Vec<uuid::Uuid> = (0..2)
            .map(|_| {
                let id = RandomRequestId.make_request_id(&request).unwrap();
                let text = id.header_value().to_str().unwrap();
                assert!(is_safe_request_id(text.as_bytes()), "{text}");
                text.parse().unwrap()
            })
            .collect();
        assert!(
            ids.iter()
                .all(|id| id.get_version() == Some(uuid::Version::Random))
        );
        assert_ne!(ids[0], ids[1]);
    }

    #[test]
    fn only_short_request_ids_of_safe_characters_are_kept() {
        for kept in ["req-7", "0f8e:12.ab_CD", &"a".repeat(64)] {
            assert!(is_safe_request_id(kept.as_bytes()), "{kept}");
        }
        for replaced in [
            "",
            "<script>alert(1)</script>",
            "a b",
            "x\ty",
            &"a".repeat(65),
            "é",
        ] {
            assert!(!is_safe_request_id(replaced.as_bytes()), "{replaced}");
        }
    }

    #[tokio::test]
    async fn a_slow_request_is_answered_at_the_deadline() {
        let router = Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    "late"
                }),
            )
            .layer(axum::middleware::from_fn_with_state(
                Duration::from_millis(50),
                deadline,
            ));
        let request = Request::get("/slow").body(Body::empty()).unwrap();
        let response = router.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key("retry-after"));
    }
}
