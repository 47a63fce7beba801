//! Log lines. Tokens, cookies, secrets, emails and GraphQL variables are never logged: the request
//! span records only the method, the route, the request id, the trace id and, once
//! authenticated, the user id, and every log line of a request carries them (the JSON format
//! under `span`/`spans`, the pretty one before the message).

use tracing::Subscriber;
use tracing_subscriber::filter::{EnvFilter, FilterExt, filter_fn};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{Layer, fmt};

use super::{BoxedLayer, is_trace_only};
use crate::config::LogFormat;

/// The log output: `RUST_LOG` decides which lines, for this layer only (traces have their own
/// filter, so that `RUST_LOG=warn` does not silence them). The spans that only traces need stay
/// out: they would lengthen every line and cost a span per GraphQL phase and per database
/// statement when no collector is configured.
pub(super) fn layer<S>(filter: &str, format: LogFormat) -> BoxedLayer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|error| {
        eprintln!("RUST_LOG `{filter}` is invalid ({error}); using `info`");
        EnvFilter::new("info")
    });
    let filter = filter.and(filter_fn(|metadata| {
        !(metadata.is_span() && is_trace_only(metadata.target()))
    }));
    match format {
        LogFormat::Json => fmt::layer().json().with_filter(filter).boxed(),
        LogFormat::Pretty => fmt::layer().with_filter(filter).boxed(),
    }
}
