//! Whether a request is traced, decided before anything of it runs: the sampler's decision
//! (`telemetry::RequestTrace`) goes into the request's extensions for its span, and a request
//! the sampler dropped runs as `telemetry::unsampled`, where no span reaches the trace layer.
//! Without a collector it does nothing (the request's span, when logs keep it, takes its trace
//! id from the caller's `traceparent` or makes one).

use std::task::{Context, Poll};

use axum::extract::Request;
use futures_util::future::Either;
use tower::Service;

use crate::telemetry::{self, RequestTrace};

/// Put around the layer that makes the request's span (`TraceLayer`).
#[derive(Clone)]
pub struct TraceSampling<S>(pub S);

impl<S: Service<Request>> Service<Request> for TraceSampling<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<S::Future, telemetry::propagation::Unsampled<S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        if !telemetry::propagation::exporting() {
            return Either::Left(self.0.call(request));
        }
        let trace = RequestTrace::of(request.headers());
        let dropped = trace.is_dropped();
        request.extensions_mut().insert(trace);
        if dropped {
            Either::Right(telemetry::unsampled(|| self.0.call(request)))
        } else {
            Either::Left(self.0.call(request))
        }
    }
}
