//! W3C Trace Context: the trace a request belongs to, and the `traceparent` our own calls carry.
//!
//! Every request has a trace id, collector or not, so that its log lines and its error answers
//! (`extensions.traceId`) lead to one another and, when traces are exported, to the trace:
//! - exporting: the request span's own trace, a child of the caller's `traceparent` when there
//!   is one (the SDK's sampler then follows the caller's decision);
//! - not exporting: the caller's trace id (so that the caller's own traces find our log lines),
//!   else a random one. Nothing more: no OpenTelemetry span exists then, and the calls we make
//!   carry no `traceparent`, which would name a parent span nobody will ever see.
//!
//! The trace id is kept in the request span's registry entry (as the log layer keeps its
//! fields), so that code deep in a request reads it from the current span
//! ([`current_trace_id`]) without every function passing it on.

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TraceId as OtelTraceId};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};
use reqwest::header::HeaderMap;
use tracing::Span;
use tracing::field::{Empty, display};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Registry;
use tracing_subscriber::registry::LookupSpan;

use super::TRACE_SPANS;

/// The request's trace id, 32 lowercase hex digits, in the request span's registry extensions.
struct TraceId(String);

/// Marks a request span whose trace the sampler dropped: the spans inside it are then never
/// created ([`in_unsampled_request`]), so that a request left out of the traces costs what it
/// costs without a collector, rather than building spans nobody will receive.
struct Unsampled;

/// Joins the request span `span` (just made, not yet entered) to the caller's trace, and records
/// its trace id in its `trace_id` field. `name` is the span's name in a trace
/// (`POST /graphql`): given only when traces are exported, so that log lines do not repeat it.
pub fn adopt(span: &Span, headers: &axum::http::HeaderMap, name: impl FnOnce() -> String) {
    if span.is_disabled() {
        return;
    }
    let caller = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    let (trace_id, sampled) = match span.set_parent(caller.clone()) {
        Ok(()) => {
            // Before the span starts (`context()` starts it, and the sampler decides then): a
            // trace's span kind and name are fixed then.
            span.record("otel.kind", "server");
            span.record("otel.name", name().as_str());
            span.set_attribute("url.scheme", "http");
            let context = span.context();
            let started = context.span().span_context().clone();
            (started.trace_id(), started.is_sampled())
        }
        // No OpenTelemetry layer: nothing is exported.
        Err(_) => {
            let caller = caller.span().span_context().trace_id();
            let trace_id = if caller == OtelTraceId::INVALID {
                RandomIdGenerator::default().new_trace_id()
            } else {
                caller
            };
            (trace_id, true)
        }
    };
    let trace_id = trace_id.to_string();
    span.record("trace_id", display(&trace_id));
    span.with_subscriber(|(id, dispatch)| {
        if let Some(entry) = dispatch
            .downcast_ref::<Registry>()
            .and_then(|registry| registry.span(id))
        {
            let mut extensions = entry.extensions_mut();
            extensions.insert(TraceId(trace_id));
            if !sampled {
                extensions.insert(Unsampled);
            }
        }
    });
}

/// Whether the current span is inside a request whose trace the sampler dropped (see
/// [`Unsampled`]).
pub(super) fn in_unsampled_request<S>(context: &tracing_subscriber::layer::Context<'_, S>) -> bool
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    context.lookup_current().is_some_and(|current| {
        current
            .scope()
            .any(|span| span.extensions().get::<Unsampled>().is_some())
    })
}

/// The trace id of the request the current span belongs to; `None` outside a request (a
/// socket's operations, a background task, a test without the server's subscriber).
pub fn current_trace_id() -> Option<String> {
    Span::current()
        .with_subscriber(|(id, dispatch)| {
            let registry = dispatch.downcast_ref::<Registry>()?;
            registry.span(id)?.scope().find_map(|span| {
                span.extensions()
                    .get::<TraceId>()
                    .map(|trace_id| trace_id.0.clone())
            })
        })
        .flatten()
}

/// Sends `request` with `client` in a client span `{method} {template}` (`template`: the path
/// with its ids as `{placeholders}`, never the ids themselves) that carries the server's
/// address and the answer's status, and with a `traceparent` naming that span. Without a
/// collector the span does not exist and the request goes as it is.
pub async fn send(
    client: &reqwest::Client,
    mut request: reqwest::Request,
    template: &str,
) -> reqwest::Result<reqwest::Response> {
    let url = request.url();
    let span = tracing::info_span!(
        target: TRACE_SPANS,
        "http.client",
        otel.name = format!("{} {template}", request.method()),
        otel.kind = "client",
        http.request.method = request.method().as_str(),
        url.template = template,
        server.address = url.host_str(),
        // `i64`s: OpenTelemetry has no unsigned integers (a `u16` would be sent as text).
        server.port = url.port_or_known_default().map(i64::from),
        http.response.status_code = Empty,
        "error.type" = Empty,
        otel.status_code = Empty,
    );
    if span.is_disabled() {
        return client.execute(request).await;
    }
    inject(&span, request.headers_mut());
    let result = tracing::Instrument::instrument(client.execute(request), span.clone()).await;
    match &result {
        Ok(response) => {
            let status = response.status();
            span.record("http.response.status_code", i64::from(status.as_u16()));
            if status.is_client_error() || status.is_server_error() {
                span.record("error.type", status.as_str());
                span.record("otel.status_code", "ERROR");
            }
        }
        Err(error) => {
            span.record(
                "error.type",
                if error.is_timeout() {
                    "timeout"
                } else {
                    "transport"
                },
            );
            span.record("otel.status_code", "ERROR");
        }
    }
    result
}

/// `traceparent` (and `tracestate`) naming `span` as the parent of what the request starts.
fn inject(span: &Span, headers: &mut HeaderMap) {
    TraceContextPropagator::new().inject_context(&span.context(), &mut HeaderInjector(headers));
}

/// The name of a dataloader batch's span.
pub(super) const BATCH_SPAN: &str = "graphql.load";

/// Spawns `future` (a dataloader's batch) in the request's trace. async-graphql's dataloaders
/// run a batch in a task of their own, inside their own spans, which traces leave out; a span
/// finds its traced parent on its task's stack, so without this the batch's Clerk call or
/// statements would each start a trace of their own.
pub fn spawn_in_trace<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let batch = tracing::info_span!(
        target: TRACE_SPANS,
        parent: traced_ancestor(),
        BATCH_SPAN,
    );
    tokio::spawn(tracing::Instrument::instrument(future, batch))
}

/// The nearest span around the current one that traces keep; in a request the sampler dropped,
/// the request's span (the spans inside it exist for the logs only).
fn traced_ancestor() -> Option<tracing::Id> {
    Span::current()
        .with_subscriber(|(id, dispatch)| {
            let registry = dispatch.downcast_ref::<Registry>()?;
            let current = registry.span(id)?;
            let unsampled = current
                .scope()
                .find(|span| span.extensions().get::<Unsampled>().is_some());
            unsampled
                .or_else(|| {
                    current
                        .scope()
                        .find(|span| super::traces::is_traced(span.metadata()))
                })
                .map(|span| span.id())
        })
        .flatten()
}
