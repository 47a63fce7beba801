//! Accepting connections: HTTP/1.1 with a header read timeout, bounded connections per peer and
//! in all, and a graceful shutdown.
//!
//! Why not `axum::serve`: it gives hyper no timer, so hyper's header read timeout never fires — a
//! client that sends half a request head keeps its connection, and a file descriptor, forever
//! (slowloris) — and it bounds no connections, so a few hundred such clients exhaust the process's
//! descriptors and `accept` fails for everyone.
//!
//! - **Header read timeout** (`HTTP_HEADER_READ_TIMEOUT_SECS`): hyper starts it whenever a
//!   connection waits for a request head, so it also closes idle keep-alive connections. A slow
//!   *body* is cut by the request deadline (`GRAPHQL_TIMEOUT_SECS`).
//! - **Bounds** (`HTTP_MAX_CONNECTIONS_PER_IP`, `HTTP_MAX_CONNECTIONS`): a connection over either
//!   is answered at once with a JSON 503 and `Connection: close`, and closed. The per-address
//!   bound uses the socket peer (the headers have not been read yet), so peers in
//!   `TRUSTED_PROXIES`, which carry many clients, count towards the total only.
//! - **HTTP/1.1 only**: cleartext HTTP/2 ("prior knowledge") is not offered. Browsers never speak
//!   it; proxies in front of an API speak HTTP/1.1 to their upstreams by default; and h2 would
//!   bring its own attack surface (stream floods, rapid reset) for no client of this server.
//!   Terminate TLS and HTTP/2 at the proxy.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tower::ServiceExt as _;

use crate::config::HttpLimits;
use crate::net::TrustedProxies;
use crate::rate_limit::slots::{ConnectionSlots, Full, Slot};

/// How long a refused connection may take to read its refusal.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(2);

pub struct Connections {
    limits: HttpLimits,
    slots: Arc<ConnectionSlots>,
    trusted_proxies: TrustedProxies,
}

impl Connections {
    pub fn new(limits: HttpLimits, trusted_proxies: TrustedProxies) -> Self {
        let slots = Arc::new(ConnectionSlots::new(
            limits.max_connections_per_ip,
            limits.max_connections,
        ));
        Self {
            limits,
            slots,
            trusted_proxies,
        }
    }

    /// Serves `router` until `shutdown` resolves; then stops accepting, lets open connections
    /// finish their requests for at most `grace`, and returns.
    pub async fn serve(
        self,
        listener: TcpListener,
        router: Router,
        shutdown: impl Future<Output = ()> + Send + 'static,
        grace: Duration,
    ) -> std::io::Result<()> {
        // Dropping `stop` asks every connection to finish; every connection holds a `done`
        // sender, so `finished.recv()` answers `None` once they all have.
        let (stop, stopping) = watch::channel(());
        let (done, mut finished) = mpsc::channel::<()>(1);
        tokio::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of descriptors, or a connection reset before it was accepted: keep
                        // serving the others, and do not spin.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let slot = if self.trusted_proxies.contains(peer.ip()) {
                self.slots.acquire_shared(peer.ip())
            } else {
                self.slots.acquire(peer.ip())
            };
            match slot {
                Ok(slot) => {
                    let connection = self.connection(stream, peer, router.clone(), slot);
                    let (stopping, done) = (stopping.clone(), done.clone());
                    tokio::spawn(async move {
                        connection.run(stopping).await;
                        drop(done);
                    });
                }
                Err(full) => {
                    tracing::warn!(client_ip = %peer.ip(), ?full, "connection refused: too many open");
                    tokio::spawn(refuse(stream, full));
                }
            }
        }
        drop(listener);
        drop(stop);
        drop(done);
        if tokio::time::timeout(grace, finished.recv()).await.is_err() {
            tracing::warn!(
                ?grace,
                "requests still in flight after the shutdown grace period: stopping anyway"
            );
        }
        Ok(())
    }

    fn connection(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        router: Router,
        slot: Slot,
    ) -> Connection {
        Connection {
            stream,
            peer,
            router,
            header_read_timeout: self.limits.header_read_timeout,
            _slot: slot,
        }
    }
}

struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    header_read_timeout: Duration,
    /// Given back when the connection ends.
    _slot: Slot,
}

impl Connection {
    async fn run(self, mut stopping: watch::Receiver<()>) {
        let Self {
            stream,
            peer,
            router,
            header_read_timeout,
            _slot,
        } = self;
        let _ = stream.set_nodelay(true);
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request)
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(header_read_timeout);
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        tokio::pin!(connection);
        tokio::select! {
            result = connection.as_mut() => log_end(result),
            _ = stopping.changed() => {
                connection.as_mut().graceful_shutdown();
                log_end(connection.await);
            }
        }
    }
}

fn log_end(result: Result<(), hyper::Error>) {
    if let Err(error) = result {
        // Timeouts and resets are the clients' business; nothing to act on.
        tracing::debug!(%error, "connection ended");
    }
}

/// A connection over a bound: a JSON 503 and `Connection: close`, written before anything is
/// read (a client that will not read it is dropped after [`REFUSAL_TIMEOUT`]).
async fn refuse(mut stream: TcpStream, full: Full) {
    let (reason, message) = match full {
        Full::Address => (
            "ip_connection_limit",
            "Too many open connections from this address.",
        ),
        Full::Server => (
            "connection_limit",
            "The server has as many connections open as it accepts; try again shortly.",
        ),
    };
    let body = serde_json::json!({
        "errors": [{"message": message, "extensions": {"code": "SERVICE_UNAVAILABLE", "reason": reason}}]
    })
    .to_string();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 5\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(REFUSAL_TIMEOUT, async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}
