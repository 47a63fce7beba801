//! Logs and traces (ARCHITECTURE §10): one `tracing` instrumentation feeds both. The log output
//! (`logs`) is always on; spans are exported as OpenTelemetry traces (`traces`) only when a
//! collector is configured (`OTEL_EXPORTER_OTLP_ENDPOINT`), and without one no OpenTelemetry
//! layer exists at all. `propagation` joins a request to its caller's trace (W3C `traceparent`),
//! gives every request a trace id (also without a collector, for its log lines and its error
//! answers), and passes the trace on to the services we call.

mod logs;
pub mod propagation;
mod traces;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub use propagation::{
    RequestTrace, current_trace_id, send, spawn_in_trace, trace_only_span, unsampled,
};

use crate::config::Config;

/// The target of the spans only traces need (the GraphQL phases, the calls to other services):
/// the log output leaves them out, and without a collector they are never created.
pub const TRACE_SPANS: &str = "clerk_graphql::traces";

/// sea-orm's span per statement (its `tracing-spans` feature), a trace-only span too.
const DATABASE_SPANS: &str = "sea_orm::database";

/// A layer of the process's subscriber, beside the others in its list.
type BoxedLayer<S> = Box<dyn tracing_subscriber::Layer<S> + Send + Sync>;

fn is_trace_only(target: &str) -> bool {
    target.starts_with(TRACE_SPANS) || target.starts_with(DATABASE_SPANS)
}

/// What must outlive the process's work: the exporter's queue, flushed by [`Telemetry::shutdown`].
#[must_use = "call `shutdown` before exiting, or the last spans are lost"]
pub struct Telemetry {
    traces: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans still queued (waiting at most the exporter's time-out).
    pub fn shutdown(self) {
        if let Some(provider) = self.traces
            && let Err(error) = provider.shutdown()
        {
            tracing::warn!(%error, "could not send the last traces");
        }
    }
}

/// Installs the log output and, when a collector is configured, the trace exporter. Runs inside
/// the tokio runtime: the exporter's batches are sent from a task on it.
pub fn init(config: &Config) -> anyhow::Result<Telemetry> {
    // A list of layers, not an `Option` of the trace layer: an absent `Option` layer declares an
    // interest in every call site, so that every span (`RUST_LOG=warn` included) would be built
    // in the registry and then dropped by the log layer's filter, at each request.
    let mut layers = vec![logs::layer(&config.log_filter, config.log_format)];
    let provider = match config.traces.exporting() {
        true => {
            let (layer, provider) = traces::layer(&config.traces)?;
            layers.push(layer);
            Some(provider)
        }
        false => None,
    };
    let result = tracing_subscriber::registry().with(layers).try_init();
    // Already initialised (e.g. by a test harness): keep the existing subscriber.
    let _ = result;
    Ok(Telemetry { traces: provider })
}
