//! A TCP proxy between the replicas and Redis that the test can cut and restore: Redis "goes
//! away" for the replicas (their connections are closed, new ones refused) while it keeps running
//! for everyone else on the machine.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

pub struct CutProxy {
    /// `redis_url` with the proxy's address in place of Redis's.
    pub url: String,
    state: Arc<Mutex<State>>,
}

/// Behind one lock, so that no connection accepted as the proxy is cut survives the cut.
struct State {
    open: bool,
    /// The connections being relayed: aborting one closes both of its sockets.
    relays: Vec<AbortHandle>,
}

impl CutProxy {
    /// A proxy to the Redis of `redis_url` (`redis://[user:password@]host:port[/db]`).
    pub async fn start(redis_url: &str) -> Self {
        let (scheme, rest) = redis_url.split_once("://").expect("a redis:// URL");
        let (credentials, rest) = match rest.rsplit_once('@') {
            Some((credentials, rest)) => (format!("{credentials}@"), rest),
            None => (String::new(), rest),
        };
        let (authority, path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, ""),
        };
        let target: SocketAddr = tokio::net::lookup_host(authority)
            .await
            .expect("Redis's address")
            .next()
            .expect("an address");
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "{scheme}://{credentials}{}{path}",
            listener.local_addr().unwrap()
        );
        let state = Arc::new(Mutex::new(State {
            open: true,
            relays: Vec::new(),
        }));
        tokio::spawn(accept(listener, target, Arc::clone(&state)));
        Self { url, state }
    }

    /// Closes every relayed connection and refuses new ones until [`Self::restore`].
    pub fn cut(&self) {
        let mut state = self.state.lock().unwrap();
        state.open = false;
        for relay in state.relays.drain(..) {
            relay.abort();
        }
    }

    pub fn restore(&self) {
        self.state.lock().unwrap().open = true;
    }
}

async fn accept(listener: TcpListener, target: SocketAddr, state: Arc<Mutex<State>>) {
    while let Ok((mut inbound, _)) = listener.accept().await {
        let mut state = state.lock().unwrap();
        if !state.open {
            continue; // dropped: closed at once, as a Redis that is gone would
        }
        let relay = tokio::spawn(async move {
            if let Ok(mut outbound) = TcpStream::connect(target).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
        state.relays.push(relay.abort_handle());
    }
}
