//! Subscription events: a channel per kind of event, and its events as a subscription's stream.
//! A subscription lives as long as its connection: the connection (see `websocket`) closes when
//! its token expires without a refresh, or when its session is revoked.
//!
//! **One process** (no `REDIS_URL`, [`Relay::local`]): a channel is a tokio broadcast; what a
//! process publishes reaches its own subscribers.
//!
//! **Several replicas** ([`Relay::through`] Redis): an event is published to Redis as a small
//! message ([`Relayed::Message`]: a kind and ids, never a row that could be stale or personal by
//! the time it arrives), on the one [`CHANNEL`] every replica's subscriber connection listens to
//! (one Redis connection per replica, never one per socket). The publisher hands the event to its
//! own subscribers at once (with the row it just wrote) and skips its own message when Redis
//! brings it back, so nobody hears an event twice and its own subscribers never depend on Redis;
//! every other replica receives the message once and hands it to its subscribers, which load
//! what they need (once per event, shared among them: see the slices' events). When Redis
//! cannot take a message (down, not connected yet), the other replicas miss it: events are
//! notifications, not a log (README, "Running several replicas").
//!
//! Slices know only this module: a slice names its channel (`pub type UserEvents =
//! Channel<UserEvent>;`), says how its events travel ([`Relayed`]) and adds a `publish`.

use futures_util::{Stream, stream};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::{self, Receiver, error::RecvError};
use tokio::sync::mpsc;

use crate::shared::SharedRedis;

/// Events a subscriber may fall behind by before it skips the ones it missed, rather than slow
/// the publishers; also the events waiting to be published to Redis.
pub const CAPACITY: usize = 1024;

/// The Redis channel of every slice's events (each message names its [`Relayed::TOPIC`]).
pub const CHANNEL: &str = "events";

/// An event that replicas share: what travels through Redis, and how a receiving replica turns
/// it back into the event its subscribers read.
pub trait Relayed: Clone + Send + Sync + 'static {
    /// Tells this kind of event from the others on [`CHANNEL`].
    const TOPIC: &'static str;
    /// Ids and a kind: what every replica's subscribers need to filter the event and to load the
    /// rest.
    type Message: Serialize + DeserializeOwned + Send + Sync + 'static;

    fn message(&self) -> Self::Message;
    fn from_message(message: Self::Message) -> Self;
}

/// Where the channels publish: this process only, or every replica through Redis. Cheap to
/// clone; chosen once at start-up (`REDIS_URL`).
#[derive(Clone)]
pub struct Relay(Option<SharedRedis>);

impl Relay {
    /// Events stay in this process.
    pub fn local() -> Self {
        Self(None)
    }

    /// Events go through `redis` to every replica; the server subscribes to [`CHANNEL`].
    pub fn through(redis: SharedRedis) -> Self {
        Self(Some(redis))
    }
}

/// One channel per kind of event, kept in the schema data. Cheap to clone; clones share it.
pub struct Channel<T> {
    /// This process's subscribers.
    local: broadcast::Sender<T>,
    /// With Redis: events on their way there, published in order by one task.
    outbox: Option<mpsc::Sender<T>>,
}

impl<T: Clone> Default for Channel<T> {
    /// A channel of this process only.
    fn default() -> Self {
        Self {
            local: broadcast::channel(CAPACITY).0,
            outbox: None,
        }
    }
}

impl<T> Clone for Channel<T> {
    fn clone(&self) -> Self {
        Self {
            local: self.local.clone(),
            outbox: self.outbox.clone(),
        }
    }
}

/// A message on [`CHANNEL`].
#[derive(Serialize, Deserialize)]
struct Envelope<M> {
    topic: String,
    event: M,
}

impl<T: Relayed> Channel<T> {
    /// A channel that publishes through `relay`. With Redis, starts the two tasks that publish
    /// this process's events and deliver every replica's to this process's subscribers.
    pub fn new(relay: &Relay) -> Self {
        let Relay(Some(redis)) = relay else {
            return Self::default();
        };
        let local = broadcast::channel(CAPACITY).0;
        let (outbox, pending) = mpsc::channel(CAPACITY);
        tokio::spawn(publish(redis.clone(), pending));
        tokio::spawn(deliver(redis.clone(), local.clone()));
        Self {
            local,
            outbox: Some(outbox),
        }
    }

    /// Sends to every current subscriber (of every replica, with Redis); none is not an error.
    /// Never waits: with Redis, the event is also queued for publication to the other replicas.
    pub fn send(&self, event: T) {
        if let Some(outbox) = &self.outbox {
            // A burst beyond what Redis takes in time reaches this replica's subscribers only.
            let _ = outbox.try_send(event.clone());
        }
        let _ = self.local.send(event);
    }

    /// The events sent from now on, as a subscription's stream.
    pub fn stream(&self) -> impl Stream<Item = T> + use<T> {
        events(self.local.subscribe())
    }
}

/// Publishes this process's events to Redis in the order they were sent (its own subscribers
/// have them already). Ends with the last `Channel` clone.
async fn publish<T: Relayed>(redis: SharedRedis, mut pending: mpsc::Receiver<T>) {
    let mut failing = false;
    while let Some(event) = pending.recv().await {
        let envelope = Envelope {
            topic: T::TOPIC.to_owned(),
            event: event.message(),
        };
        match redis.publish(CHANNEL, &envelope).await {
            Ok(()) => failing = false,
            Err(error) => {
                if !failing {
                    tracing::warn!(
                        topic = T::TOPIC,
                        %error,
                        "events not published to Redis: delivered in this replica only"
                    );
                    failing = true;
                }
            }
        }
    }
}

/// Hands the other replicas' events of this topic to this process's subscribers.
async fn deliver<T: Relayed>(redis: SharedRedis, local: broadcast::Sender<T>) {
    let mut messages = redis.messages();
    loop {
        let message = match messages.recv().await {
            Ok(message) => message,
            Err(RecvError::Lagged(missed)) => {
                tracing::warn!(
                    topic = T::TOPIC,
                    missed,
                    "events skipped: fell behind Redis"
                );
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        if message.channel != CHANNEL {
            continue;
        }
        // The other slices' events are left as JSON values, never decoded as ours.
        let Some(received) = redis.read::<Envelope<serde_json::Value>>(&message) else {
            continue;
        };
        if received.own {
            continue; // delivered when it was sent
        }
        let Envelope { topic, event } = received.message;
        if topic != T::TOPIC {
            continue;
        }
        match serde_json::from_value::<T::Message>(event) {
            Ok(event) => {
                let _ = local.send(T::from_message(event));
            }
            Err(error) => {
                tracing::warn!(topic, %error, "event from Redis not understood; ignored");
            }
        }
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
