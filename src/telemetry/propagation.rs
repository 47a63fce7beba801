//! W3C Trace Context: the trace a request belongs to, and the `traceparent` our own calls carry.
//!
//! Every request has a trace id, collector or not, so that its log lines and its error answers
//! (`extensions.traceId`) lead to one another and, when traces are exported, to the trace:
//! - exporting: the request span's own trace, a child of the caller's `traceparent` when there
//!   is one. The sampler decides before the span exists ([`RequestTrace`]), as the SDK will for
//!   the span (the caller's decision, by default);
//! - not exporting, or the sampler dropped it: the caller's trace id (so that the caller's own
//!   traces find our log lines), else a random one. Nothing more: no OpenTelemetry span exists
//!   then, and the calls we make carry no `traceparent`, which would name a parent span nobody
//!   will ever see.
//!
//! The trace id is kept in the request span's registry entry (as the log layer keeps its
//! fields), so that code deep in a request reads it from the current span
//! ([`current_trace_id`]) without every function passing it on.

use std::cell::Cell;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{self, Poll};

use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanId, SpanKind, TraceContextExt, TraceId as OtelTraceId};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    IdGenerator, RandomIdGenerator, Sampler, SamplingDecision, ShouldSample,
};
use reqwest::header::HeaderMap;
use tracing::Span;
use tracing::field::{Empty, display};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Registry;
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use super::TRACE_SPANS;

/// The request's trace id, 32 lowercase hex digits, in the request span's registry extensions.
struct TraceId(String);

/// The target of the span of a request the sampler dropped: the trace layer never sees it, the
/// log layer treats it as any request span (`RUST_LOG` directives match it by its prefix).
pub const UNSAMPLED_REQUESTS: &str = "clerk_graphql::server::router::unsampled";

/// The exporter's sampler, when traces are exported: a request's sampling is decided before its
/// span exists ([`RequestTrace::of`]), with the sampler the SDK then applies to its spans.
static SAMPLER: OnceLock<Sampler> = OnceLock::new();

/// Whether traces are exported (a collector is configured).
pub fn exporting() -> bool {
    SAMPLER.get().is_some()
}

pub(super) fn set_sampler(sampler: Sampler) {
    // Once per process; a second exporter (never made) would keep the first one's sampler.
    let _ = SAMPLER.set(sampler);
}

thread_local! {
    /// The trace id [`RequestTrace`] sampled, for the SDK to give the request span it starts
    /// next on this thread (see [`RequestTraceIds`]).
    static NEXT_TRACE_ID: Cell<Option<OtelTraceId>> = const { Cell::new(None) };
    /// How many futures of requests the sampler dropped (or of their batches) this thread is
    /// running, one inside the other: see [`Unsampled`].
    static UNSAMPLED_DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// The SDK's id generator: a request that starts a trace gets the trace id its sampling was
/// decided on, so that a ratio sampler's decision (made on the trace id) and the exported trace
/// agree; every other id is random.
#[derive(Debug, Default)]
pub(super) struct RequestTraceIds(RandomIdGenerator);

impl IdGenerator for RequestTraceIds {
    fn new_trace_id(&self) -> OtelTraceId {
        NEXT_TRACE_ID
            .take()
            .unwrap_or_else(|| self.0.new_trace_id())
    }

    fn new_span_id(&self) -> SpanId {
        self.0.new_span_id()
    }
}

pin_project_lite::pin_project! {
    /// The future of a request the sampler dropped, or of a batch of its dataloaders: while it
    /// runs, the spans made on its thread are left out of the traces ([`in_unsampled_request`]),
    /// at the cost of a number read per span. (A span of its own, entered at each poll, would
    /// cost a registry entry and a lookup per layer at each enter and exit.)
    pub struct Unsampled<F> {
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for Unsampled<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut task::Context<'_>) -> Poll<F::Output> {
        let _inside = Inside::enter();
        self.project().future.poll(cx)
    }
}

/// Makes a request's future (`make`: what makes its span too) as one the sampler dropped.
pub fn unsampled<F: Future>(make: impl FnOnce() -> F) -> Unsampled<F> {
    let _inside = Inside::enter();
    Unsampled { future: make() }
}

/// One level of [`UNSAMPLED_DEPTH`], left on drop (also when a poll panics).
struct Inside;

impl Inside {
    fn enter() -> Self {
        UNSAMPLED_DEPTH.set(UNSAMPLED_DEPTH.get() + 1);
        Inside
    }
}

impl Drop for Inside {
    fn drop(&mut self) {
        UNSAMPLED_DEPTH.set(UNSAMPLED_DEPTH.get() - 1);
    }
}

/// How a request joins its caller's trace, decided from its headers before its span exists
/// (`http::trace_sampling` puts it in the request's extensions).
#[derive(Clone)]
pub struct RequestTrace {
    caller: Context,
    trace_id: OtelTraceId,
    /// Traces are exported and the sampler dropped this one.
    dropped: bool,
}

impl RequestTrace {
    pub fn of(headers: &axum::http::HeaderMap) -> Self {
        let caller = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
        let trace_id = match caller.span().span_context().trace_id() {
            OtelTraceId::INVALID => RandomIdGenerator::default().new_trace_id(),
            caller => caller,
        };
        let dropped = SAMPLER.get().is_some_and(|sampler| {
            let decision = sampler.should_sample(
                Some(&caller),
                trace_id,
                "request",
                &SpanKind::Server,
                &[],
                &[],
            );
            decision.decision == SamplingDecision::Drop
        });
        Self {
            caller,
            trace_id,
            dropped,
        }
    }

    /// The sampler dropped the request: it is to run as [`unsampled`].
    pub fn is_dropped(&self) -> bool {
        self.dropped
    }

    /// Joins the request span `span` (just made, not yet entered) to the caller's trace, and
    /// records its trace id in its `trace_id` field. `name` is the span's name in a trace
    /// (`POST /graphql`): given only when it is exported, so that log lines do not repeat it.
    pub fn adopt(&self, span: &Span, name: impl FnOnce() -> String) {
        if span.is_disabled() {
            return;
        }
        let starts_trace = !self.caller.span().span_context().is_valid();
        let exported = !self.dropped && span.set_parent(self.caller.clone()).is_ok();
        let trace_id = if exported {
            // Before the span starts (`context()` starts it, and the sampler decides then,
            // as `of` did): a trace's span kind and name are fixed then.
            span.record("otel.kind", "server");
            span.record("otel.name", name().as_str());
            span.set_attribute("url.scheme", "http");
            if starts_trace {
                NEXT_TRACE_ID.set(Some(self.trace_id));
            }
            let started = span.context().span().span_context().trace_id();
            // Taken by the SDK, unless it started no span (a provider shut down).
            NEXT_TRACE_ID.set(None);
            started
        } else {
            // Dropped, or no trace exporter: no OpenTelemetry span.
            self.trace_id
        };
        let trace_id = trace_id.to_string();
        span.record("trace_id", display(&trace_id));
        with_entry(span, |entry| {
            entry.extensions_mut().insert(TraceId(trace_id));
            Some(())
        });
    }
}

/// Whether this thread is running (a batch of) a request whose trace the sampler dropped.
pub(super) fn in_unsampled_request() -> bool {
    UNSAMPLED_DEPTH.get() > 0
}

/// `make`'s span (a trace-only one), or none in a request the sampler dropped. Not left to the
/// trace layer's filter alone: with a filter decided at each call, tracing-subscriber's registry
/// makes the span even when every layer's filter refuses it, and then every enter and exit
/// costs a lookup per layer, for nobody.
pub fn trace_only_span(make: impl FnOnce() -> Span) -> Span {
    if in_unsampled_request() {
        Span::none()
    } else {
        make()
    }
}

/// `inspect` on the registry's entry of `span`; `None` without one (a disabled span, or a
/// subscriber other than the server's, as in most tests).
fn with_entry<T>(
    span: &Span,
    inspect: impl FnOnce(SpanRef<'_, Registry>) -> Option<T>,
) -> Option<T> {
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<Registry>()?;
        inspect(registry.span(id)?)
    })
    .flatten()
}

/// The trace id of the request the current span belongs to; `None` outside a request (a
/// socket's operations, a background task, a test without the server's subscriber).
pub fn current_trace_id() -> Option<String> {
    with_entry(&Span::current(), |current| {
        current.scope().find_map(|span| {
            span.extensions()
                .get::<TraceId>()
                .map(|trace_id| trace_id.0.clone())
        })
    })
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
    let span = trace_only_span(|| {
        tracing::info_span!(
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
        )
    });
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
const BATCH_SPAN: &str = "graphql.load";

/// Spawns `future` (a dataloader's batch) in the request's trace. async-graphql's dataloaders
/// run a batch in a task of their own, inside their own spans, which traces leave out; a span
/// finds its traced parent on its task's stack, so without this the batch's Clerk call or
/// statements would each start a trace of their own.
pub fn spawn_in_trace<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let current = Span::current();
    if in_unsampled_request() {
        // Nothing in it is traced; its log lines are in the request's span.
        return tokio::spawn(Unsampled {
            future: tracing::Instrument::instrument(future, current),
        });
    }
    let batch = tracing::info_span!(
        target: TRACE_SPANS,
        parent: traced_ancestor(&current),
        BATCH_SPAN,
    );
    // Without a trace layer: the current span, for the log lines' request.
    let batch = if batch.is_disabled() { current } else { batch };
    tokio::spawn(tracing::Instrument::instrument(future, batch))
}

/// The nearest span around `current` (itself included) that traces keep.
fn traced_ancestor(current: &Span) -> Option<tracing::Id> {
    with_entry(current, |current| {
        current
            .scope()
            .find(|span| super::traces::is_traced(span.metadata()))
            .map(|span| span.id())
    })
}
