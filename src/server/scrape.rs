//! The metrics listener (`METRICS_ADDR`): `GET /metrics` in the Prometheus text format, on a
//! listener of its own so that the public port never shows them (README "Observability").
//!
//! Served by our axum and hyper rather than the exporter's own HTTP listener: one HTTP stack,
//! and the listener ends with the server. The gauges that are states rather than events (the
//! database pool, the key set's age) are sampled at each scrape.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use sea_orm::{DatabaseConnection, DbBackend};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::auth::keys::KeySource;

/// How often histogram samples are folded into their buckets: the exporter keeps raw samples
/// until then, so without it memory grows while nobody scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The state gauges, read at each scrape.
pub(super) struct Sampled {
    pub db: DatabaseConnection,
    pub keys: KeySource,
}

impl Sampled {
    fn record(&self) {
        let (open, idle, max) = match self.db.get_database_backend() {
            DbBackend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            DbBackend::Sqlite => {
                let pool = self.db.get_sqlite_connection_pool();
                (
                    pool.size(),
                    pool.num_idle(),
                    pool.options().get_max_connections(),
                )
            }
            _ => return,
        };
        crate::metrics::db_pool(open, idle, max);
        if let KeySource::Jwks(cache) = &self.keys {
            crate::metrics::key_set_age(cache.age());
        }
    }
}

pub(super) struct MetricsListener {
    listener: TcpListener,
    handle: PrometheusHandle,
    sampled: Arc<Sampled>,
}

impl MetricsListener {
    pub async fn bind(
        address: SocketAddr,
        handle: PrometheusHandle,
        sampled: Sampled,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("could not listen on {address} (METRICS_ADDR)"))?;
        Ok(Self {
            listener,
            handle,
            sampled: Arc::new(sampled),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves scrapes and runs the upkeep until the returned tasks are aborted.
    pub fn spawn(self) -> [JoinHandle<()>; 2] {
        let upkeep = {
            let handle = self.handle.clone();
            tokio::spawn(async move {
                let mut every = tokio::time::interval(UPKEEP_EVERY);
                loop {
                    every.tick().await;
                    handle.run_upkeep();
                }
            })
        };
        let (handle, sampled) = (self.handle, self.sampled);
        let router = Router::new().route(
            "/metrics",
            get(move || async move { scrape(&handle, &sampled) }),
        );
        let listener = self.listener;
        let serve = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::error!(%error, "the metrics listener (METRICS_ADDR) stopped");
            }
        });
        [upkeep, serve]
    }
}

fn scrape(handle: &PrometheusHandle, sampled: &Sampled) -> Response {
    sampled.record();
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            // The Prometheus text exposition format, version 0.0.4.
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        handle.render(),
    )
        .into_response()
}
