//! The HTTP server: the application's state and its life, start-up (`startup`), the router and its
//! layers (`router`), the `/graphql` handlers (`graphql_route`) and what each execution gets
//! (`request_data`), the probes (`probes`), the listener (`connections`), the manifest's reload on
//! SIGHUP (`reload`) and graceful shutdown.

mod connections;
mod graphql_route;
mod probes;
mod reload;
mod request_data;
mod router;
mod scrape;
mod startup;

use connections::Connections;
use reload::ManifestReload;
use scrape::MetricsListener;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;

use crate::auth::clock::{Clock, SystemClock};
use crate::clerk::UserCache;
use crate::http::authentication::Authenticator;
use crate::rate_limit::RateLimiter;
use crate::schema::AppSchema;
use crate::shared::SharedRedis;
use crate::webhooks::Retention;

/// What the handlers share, behind one `Arc` in the router (`server::router`): each boxed layer
/// clones the service inside it, handler and state included, about fifteen times per request, and
/// an `Arc` clone is one atomic increment where this struct's clone is a dozen, the
/// `Authenticator`'s among them (bench/README.md, "Changes and their effect").
struct AppState {
    schema: AppSchema,
    db: DatabaseConnection,
    authenticator: Authenticator,
    /// Clerk users, when a secret key is configured.
    users: Option<Arc<UserCache>>,
    /// `GRAPHQL_MAX_BODY_BYTES`.
    max_body_bytes: usize,
    /// Rate limits and the brute-force lockout (`rate_limit`).
    rate_limits: Arc<RateLimiter>,
    /// The Redis shared with the other replicas (`REDIS_URL`), if any.
    redis: Option<SharedRedis>,
}

/// How long in-flight requests may run after a shutdown signal (orchestrators usually allow
/// 30 s between SIGTERM and SIGKILL).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

pub type StatementObserver = Arc<dyn Fn(&str) + Send + Sync>;

/// What tests (or an embedding program) may change about how the application is built.
pub struct BuildOptions {
    /// The clock token and webhook checks and rate limits read (tests replay fixtures at their
    /// instant, and move time to refill quotas and end lockouts).
    pub clock: Arc<dyn Clock>,
    /// Called with the SQL of every statement run (tests count them).
    pub on_statement: Option<StatementObserver>,
    /// The installed recorder's handle (`metrics::install`): with it, metrics are recorded and
    /// served on `METRICS_ADDR`. Only `serve` passes one: the recorder is the process's, and
    /// tests run many applications in one process.
    pub metrics: Option<PrometheusHandle>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            on_statement: None,
            metrics: None,
        }
    }
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    connections: Connections,
    /// The `webhook_events` clean-up, running while the server does.
    retention: Retention,
    /// The trusted documents manifest, reloaded on SIGHUP while the server runs.
    manifest: Option<ManifestReload>,
    /// `METRICS_ADDR`, when metrics are on.
    metrics: Option<MetricsListener>,
}

impl Application {
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Where `/metrics` is served, when it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(MetricsListener::local_addr)
    }

    /// Serves until `shutdown` resolves, then stops accepting and lets in-flight requests finish
    /// for at most [`SHUTDOWN_GRACE`]. A webhook delivery is acknowledged only after its commit,
    /// so one cut off by the deadline was never acknowledged and Svix sends it again.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let cleanup = tokio::spawn(self.retention.run());
        let metrics = self.metrics.map(MetricsListener::spawn);
        let reloads = self.manifest.map(ManifestReload::on_hangup).transpose()?;
        let result = self
            .connections
            .serve(self.listener, self.router, shutdown, SHUTDOWN_GRACE)
            .await;
        cleanup.abort();
        // A scrape is cheap and idempotent: one cut off is simply repeated by Prometheus.
        for task in metrics.into_iter().flatten() {
            task.abort();
        }
        if let Some(reloads) = reloads {
            reloads.abort();
        }
        result
    }
}
