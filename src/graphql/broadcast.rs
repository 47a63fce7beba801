//! A process-wide broadcast channel as a subscription's stream. A subscription lives as long as
//! its connection: the connection (see `websocket`) closes when its token expires without a
//! refresh, or when its session is revoked.

use futures_util::{Stream, stream};
use tokio::sync::broadcast::{Receiver, error::RecvError};

/// The events sent after the subscription started. A subscriber that falls behind the channel's
/// capacity skips the events it missed rather than slowing the publishers.
pub fn events<T: Clone + Send + 'static>(receiver: Receiver<T>) -> impl Stream<Item = T> {
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
