//! A refusal sent before the request body was read (401, 413, 415, 429, …) must not leave the
//! connection in a state the client cannot know: hyper cannot reuse a keep-alive connection with
//! an unread body in it, and drops it after the response — without saying so, so the client's
//! next request on it fails. This middleware watches whether the body was read to its end; when
//! it was not, the response says `Connection: close`, and clients open a new connection for their
//! next request. (Draining instead would spend our time reading what we refused.)

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Body as HttpBody, Frame, SizeHint};

pub async fn close_when_body_unread(request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    if body.is_end_stream() {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let finished = Arc::new(AtomicBool::new(false));
    let watched = Body::new(Watched {
        inner: body,
        finished: Arc::clone(&finished),
    });
    let mut response = next.run(Request::from_parts(parts, watched)).await;
    if !finished.load(Ordering::Acquire) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// A request body that notes when it has been read to its end.
struct Watched {
    inner: Body,
    finished: Arc<AtomicBool>,
}

impl HttpBody for Watched {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.finished.store(true, Ordering::Release);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::post;
    use tower::ServiceExt;

    fn router() -> Router {
        Router::new()
            .route("/refuse", post(|| async { "refused unread" }))
            .route(
                "/read",
                post(|body: axum::body::Bytes| async move { format!("{} bytes", body.len()) }),
            )
            .layer(axum::middleware::from_fn(close_when_body_unread))
    }

    async fn connection_header(path: &str, body: &'static str) -> Option<HeaderValue> {
        let request = Request::post(path).body(Body::from(body)).unwrap();
        let response = router().oneshot(request).await.unwrap();
        response.headers().get(header::CONNECTION).cloned()
    }

    #[tokio::test]
    async fn an_unread_body_closes_the_connection_and_a_read_one_keeps_it() {
        assert_eq!(
            connection_header("/refuse", "{\"query\": \"{ health }\"}").await,
            Some(HeaderValue::from_static("close"))
        );
        assert_eq!(
            connection_header("/read", "{\"query\": \"{ health }\"}").await,
            None
        );
        assert_eq!(
            connection_header("/refuse", "").await,
            None,
            "no body, nothing unread"
        );
    }
}
