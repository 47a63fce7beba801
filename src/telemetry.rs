//! Logging set-up. Tokens, cookies and secrets are never logged: the request span records only
//! method, path, request id and, once authenticated, the user id.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub fn init(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|error| {
        eprintln!("RUST_LOG `{filter}` is invalid ({error}); using `info`");
        EnvFilter::new("info")
    });
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let result = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
    // Already initialised (e.g. by a test harness): keep the existing subscriber.
    let _ = result;
}
