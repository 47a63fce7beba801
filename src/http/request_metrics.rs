//! The HTTP server metrics (`http_server_*`): the outermost layer of every route, so that the
//! duration covers every other layer, and the status is the one sent.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body::Body as _;

use crate::metrics::{self, HttpExchange, HttpMethod, HttpRoute};

pub async fn record(request: Request, next: Next) -> Response {
    let _active = metrics::http_request_started();
    let started = Instant::now();
    let method = HttpMethod::of(request.method().as_str());
    let matched = request.extensions().get::<MatchedPath>();
    let route = HttpRoute::of(matched.map(MatchedPath::as_str), request.uri().path());
    let request_bytes = body_length(request.headers());
    let response = next.run(request).await;
    metrics::http_request(&HttpExchange {
        method,
        route,
        status: response.status().as_u16(),
        elapsed: started.elapsed(),
        request_bytes,
        // Known for every buffered answer (JSON, the playground's assets); a stream's is not.
        response_bytes: response.body().size_hint().exact(),
    });
    response
}

/// The request body's size when known before it is read: its `Content-Length`, or 0 when it
/// has neither that nor `Transfer-Encoding` (HTTP/1.1: no body).
fn body_length(headers: &HeaderMap) -> Option<u64> {
    match headers.get(header::CONTENT_LENGTH) {
        Some(length) => length.to_str().ok()?.parse().ok(),
        None if headers.contains_key(header::TRANSFER_ENCODING) => None,
        None => Some(0),
    }
}
