//! The trace exporter: the `tracing` spans become OpenTelemetry spans (tracing-opentelemetry,
//! rather than the SDK's API in our code: one instrumentation serves the log lines and the
//! traces), batched on the tokio runtime and posted to the collector over OTLP/HTTP.
//!
//! The SDK reads the standard variables itself (`config::traces` only declares and checks
//! them): the endpoint, headers and time-out (`opentelemetry-otlp`), the batch settings
//! (`OTEL_BSP_*`) and the resource attributes; `service.name` (to default to `clerk-graphql`),
//! the protocol and the sampler are ours (the sampler also decides for a request before its
//! span exists: `propagation::RequestTrace`).

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{Context, Key, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::runtime::Tokio;
use opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, Span, SpanData, SpanProcessor};
use tracing::subscriber::Interest;
use tracing::{Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::DynFilterFn;
use tracing_subscriber::registry::LookupSpan;

use super::propagation::{RequestTraceIds, UNSAMPLED_REQUESTS, in_unsampled_request, set_sampler};
use super::{BoxedLayer, is_trace_only};
use crate::config::{TraceSampler, TracesConfig};

/// The layer that turns spans into OpenTelemetry spans, and the provider to flush at exit.
pub(super) fn layer<S>(config: &TracesConfig) -> anyhow::Result<(BoxedLayer<S>, SdkTracerProvider)>
where
    S: Subscriber + for<'a> LookupSpan<'a> + Send + Sync,
{
    // Given, not left to the SDK: with both encodings built in, its default is JSON where the
    // specification says protobuf.
    let protocol = match config.protocol.as_deref() {
        Some("http/json") => Protocol::HttpJson,
        _ => Protocol::HttpBinary,
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .build()?;
    let sampler = sampler(config);
    set_sampler(sampler.clone());
    let provider = SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_id_generator(RequestTraceIds::default())
        .with_span_processor(DatabaseSpans(
            BatchSpanProcessor::builder(exporter, Tokio).build(),
        ))
        .with_resource(
            Resource::builder()
                .with_service_name(config.service_name())
                .build(),
        )
        .build();
    let layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("clerk-graphql"))
        // What a span is about is in its attributes: no source locations, thread names or
        // busy/idle times, which would only lengthen every span.
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_target(false)
        // A span's parent is the nearest traced span the task is in (the registry's view), not
        // an OpenTelemetry context attached at each enter: that one loses the request inside
        // the dataloaders' spawned batches (a Clerk call became a trace of its own), and no
        // other OpenTelemetry instrumentation here would read it.
        .with_context_activation(false)
        // Log events stay in the logs (their fields were chosen for a log reader), and
        // `RUST_LOG` does not decide what is traced. Inside a request the sampler dropped, no
        // span is built at all (its dataloaders' tasks run in the request's span: see
        // `spawn_in_trace`).
        .with_filter(
            DynFilterFn::new(|metadata, _| is_traced(metadata) && !in_unsampled_request())
                // Asked again at each call only where the answer depends on the request: every
                // other call site (each log event) keeps the log filter's cached answer.
                .with_callsite_filter(|metadata| match is_traced(metadata) {
                    true => Interest::sometimes(),
                    false => Interest::never(),
                }),
        );
    Ok((Box::new(layer), provider))
}

/// `OTEL_TRACES_SAMPLER` (default `parentbased_always_on`) and its ratio, as the specification
/// defines them.
fn sampler(config: &TracesConfig) -> Sampler {
    let ratio = config.sampler_arg.unwrap_or(1.0);
    let parent_based = |root| Sampler::ParentBased(Box::new(root));
    match config.sampler.unwrap_or(TraceSampler::ParentBasedAlwaysOn) {
        TraceSampler::AlwaysOn => Sampler::AlwaysOn,
        TraceSampler::AlwaysOff => Sampler::AlwaysOff,
        TraceSampler::TraceIdRatio => Sampler::TraceIdRatioBased(ratio),
        TraceSampler::ParentBasedAlwaysOn => parent_based(Sampler::AlwaysOn),
        TraceSampler::ParentBasedAlwaysOff => parent_based(Sampler::AlwaysOff),
        TraceSampler::ParentBasedTraceIdRatio => parent_based(Sampler::TraceIdRatioBased(ratio)),
    }
}

/// Which spans become OpenTelemetry spans: spans only, ours and the database's, at `info`; not
/// the span of a request the sampler dropped.
pub(super) fn is_traced(metadata: &tracing::Metadata<'_>) -> bool {
    metadata.is_span()
        && *metadata.level() <= Level::INFO
        && (metadata.target().starts_with("clerk_graphql") || is_trace_only(metadata.target()))
        && metadata.target() != UNSAMPLED_REQUESTS
}

/// sea-orm names a statement's span `sea_orm.query_one` and gives it the attributes of an older
/// convention, `db.system` and `db.operation`: exported as today's `db.system.name` and
/// `db.operation.name`, named after the operation (`SELECT`), as the semantic conventions say.
/// `db.statement` is never recorded (`db::connect` turns it off: a statement's text may hold
/// values); it is dropped here too, so that no sea-orm default can export it.
#[derive(Debug)]
struct DatabaseSpans<P>(P);

impl<P: SpanProcessor> SpanProcessor for DatabaseSpans<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.0.on_start(span, cx);
    }

    fn on_end(&self, mut span: SpanData) {
        if is_database_span(&span) {
            rename_database_attributes(&mut span);
        }
        self.0.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.0.set_resource(resource);
    }
}

fn is_database_span(span: &SpanData) -> bool {
    span.attributes
        .iter()
        .any(|attribute| attribute.key.as_str() == "db.system")
}

fn rename_database_attributes(span: &mut SpanData) {
    let mut attributes = Vec::with_capacity(span.attributes.len());
    for KeyValue { key, value, .. } in span.attributes.drain(..) {
        let key = match key.as_str() {
            "db.system" => Key::from_static_str("db.system.name"),
            "db.operation" => {
                span.name = value.to_string().into();
                Key::from_static_str("db.operation.name")
            }
            "db.statement" => continue,
            _ => key,
        };
        attributes.push(KeyValue::new(key, value));
    }
    span.attributes = attributes;
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    /// The SDK's sampler for these `OTEL_TRACES_SAMPLER` and `_ARG` values.
    fn built(sampler: Option<&str>, ratio: Option<&str>) -> String {
        let config = Config::from_lookup(|name| match name {
            "OTEL_TRACES_SAMPLER" => sampler.map(str::to_string),
            "OTEL_TRACES_SAMPLER_ARG" => ratio.map(str::to_string),
            _ => None,
        })
        .expect("a valid configuration");
        format!("{:?}", super::sampler(&config.traces))
    }

    #[test]
    fn the_sampler_is_the_one_otel_traces_sampler_names() {
        assert_eq!(built(None, None), "ParentBased(AlwaysOn)");
        assert_eq!(
            built(Some("parentbased_traceidratio"), Some("0.01")),
            "ParentBased(TraceIdRatioBased(0.01))"
        );
        assert_eq!(built(Some("traceidratio"), None), "TraceIdRatioBased(1.0)");
        assert_eq!(
            built(Some("parentbased_always_off"), None),
            "ParentBased(AlwaysOff)"
        );
        assert_eq!(built(Some("always_off"), None), "AlwaysOff");
        assert_eq!(built(Some("always_on"), None), "AlwaysOn");
    }
}
