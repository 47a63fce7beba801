//! A process-wide broadcast channel, and its events as a subscription's stream. A subscription
//! lives as long as its connection: the connection (see `websocket`) closes when its token
//! expires without a refresh, or when its session is revoked.

use futures_util::{Stream, stream};
use tokio::sync::broadcast::{self, Receiver, error::RecvError};

/// Events a subscriber may fall behind by before it skips the ones it missed, rather than slow
/// the publishers.
pub const CAPACITY: usize = 1024;

/// One channel per kind of event, kept in the schema data; a slice names its own
/// (`pub type UserEvents = Channel<UserEvent>;`) and adds a `publish` for its events.
pub struct Channel<T>(broadcast::Sender<T>);

impl<T: Clone> Default for Channel<T> {
    fn default() -> Self {
        Self(broadcast::channel(CAPACITY).0)
    }
}

impl<T> Clone for Channel<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T: Clone + Send + 'static> Channel<T> {
    /// Sends to every current subscriber; none is not an error.
    pub fn send(&self, event: T) {
        let _ = self.0.send(event);
    }

    /// The events sent from now on, as a subscription's stream.
    pub fn stream(&self) -> impl Stream<Item = T> + use<T> {
        events(self.0.subscribe())
    }
}

fn events<T: Clone + Send + 'static>(receiver: Receiver<T>) -> impl Stream<Item = T> {
    stream::unfold(receiver, |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(event) => return Some((event, receiver)),
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    })
}
