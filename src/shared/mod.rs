//! Redis, through which the replicas of one deployment share state (README, "Running several
//! replicas"): rate limits and lockouts, subscription events, cache invalidations, revocations.
//!
//! One process holds two connections, each a `redis` crate `ConnectionManager` that reconnects by
//! itself: one for commands (multiplexed: every request of the process shares it) and one that
//! only subscribes, over RESP3, whose messages are fanned out in the process. Never a connection
//! per request or per socket.
//!
//! Redis is never on the path to an outage: until the first connection succeeds (Redis down at
//! start-up), [`SharedRedis::commands`] is `None` and callers use their local fall-back; once
//! connected, a command that fails is the caller's to fall back from, and the manager reconnects
//! in the background.
//!
//! Pub/sub is at most once: what is published while a replica's subscriber connection is down
//! never reaches it. So the subscriber is pinged every second (a connection that dropped is then
//! noticed and re-established even when nothing is published), and every time it has subscribed
//! to all its channels again, [`SharedRedis::subscriptions`] ticks: a consumer that keeps state
//! (revocations, caches) reloads or drops what it may have missed.

pub mod evictions;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, PushInfo, PushKind, RedisResult, Value};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::sync::{OnceCell, broadcast, mpsc, watch};

use crate::metrics::{self, RedisOutcome};

/// A message published on one of our channels, as received by this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The channel's name without the key prefix (what was passed to [`SharedRedis::publish`]).
    pub channel: String,
    pub payload: Vec<u8>,
}

/// What a message says, and whether this process said it ([`SharedRedis::read`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received<T> {
    /// Published by this process: a consumer that already applied its own change skips it.
    pub own: bool,
    pub message: T,
}

/// A message on the wire: JSON of the sending process's id and what it says.
#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    from: u64,
    message: T,
}

/// How long one command may take before it counts as failed: a Redis that stops answering must
/// not hold a request for longer than a fall-back costs.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);
/// Messages buffered per local receiver before a slow one starts losing the oldest.
const FAN_OUT_CAPACITY: usize = 1024;
/// How often the subscriber connection is pinged. Nothing else is sent on it, so without this a
/// connection that dropped while Redis was away would stay down once its reconnection attempts
/// were spent; with it, it is back about a second after Redis is.
const KEEPALIVE: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct SharedRedis {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    /// Put before every key and channel name, so that several deployments (or tests) can share
    /// one Redis: `REDIS_KEY_PREFIX`.
    prefix: String,
    commands: OnceCell<ConnectionManager>,
    subscriber: OnceCell<ConnectionManager>,
    /// The channels the subscriber connection listens to (names with the prefix).
    channels: Vec<String>,
    messages: broadcast::Sender<Message>,
    /// Whether the subscriber connection is subscribed to every channel now.
    subscribed: AtomicBool,
    /// Counts the times it has become so (see [`SharedRedis::subscriptions`]).
    subscriptions: watch::Sender<u64>,
    /// Tells this process's messages from the other replicas' (random, per process).
    process: u64,
}

impl SharedRedis {
    /// Checks the URL now (a bad `REDIS_URL` is a start-up error) and connects in the background,
    /// retrying until Redis answers. `channels` are the pub/sub channels this process receives.
    pub fn connect(url: &str, prefix: &str, channels: &[&str]) -> RedisResult<Self> {
        let info: redis::ConnectionInfo = url.parse()?;
        // Pub/sub on a multiplexed, self-reconnecting connection needs RESP3 (Redis 6 or later).
        let settings = info
            .redis_settings()
            .clone()
            .set_protocol(redis::ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(settings))?;
        let (messages, _) = broadcast::channel(FAN_OUT_CAPACITY);
        let shared = Self {
            inner: Arc::new(Inner {
                client,
                prefix: prefix.to_owned(),
                commands: OnceCell::new(),
                subscriber: OnceCell::new(),
                channels: channels.iter().map(|c| format!("{prefix}{c}")).collect(),
                messages,
                subscribed: AtomicBool::new(false),
                subscriptions: watch::channel(0).0,
                process: rand::random(),
            }),
        };
        tokio::spawn(shared.clone().establish());
        Ok(shared)
    }

    /// `name` with the deployment's prefix: the name of a key in Redis.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.inner.prefix)
    }

    /// The command connection, once Redis has answered once; `None` means "fall back".
    pub fn commands(&self) -> Option<ConnectionManager> {
        self.inner.commands.get().cloned()
    }

    /// [`Self::commands`], not connected yet as an error.
    pub fn connected_commands(&self) -> RedisResult<ConnectionManager> {
        self.commands().ok_or_else(|| {
            metrics::redis_command(RedisOutcome::Unavailable);
            not_connected()
        })
    }

    /// Whether both connections have been established (they reconnect by themselves after).
    pub fn is_connected(&self) -> bool {
        self.inner.commands.initialized() && self.inner.subscriber.initialized()
    }

    /// Whether the subscriber connection is subscribed to every channel now: `false` while it is
    /// down, when this replica hears nothing the others publish. For `/readyz`.
    pub fn is_subscribed(&self) -> bool {
        self.inner.subscribed.load(Ordering::Relaxed)
    }

    /// Ticks each time the subscriber connection has subscribed to every channel: once connected,
    /// and after each reconnection. Messages published before a tick may have been missed.
    pub fn subscriptions(&self) -> watch::Receiver<u64> {
        self.inner.subscriptions.subscribe()
    }

    /// Whether Redis answers a `PING` now: for `/readyz`.
    pub async fn ping(&self) -> bool {
        let Some(mut commands) = self.commands() else {
            return false;
        };
        matches!(
            redis::cmd("PING").query_async::<String>(&mut commands).await,
            Ok(reply) if reply == "PONG"
        )
    }

    /// Publishes `message` as JSON on `channel` (named without the prefix) to every replica, this
    /// one included (see [`Received::own`]).
    pub async fn publish<T: Serialize>(&self, channel: &str, message: &T) -> RedisResult<()> {
        let mut commands = self.connected_commands()?;
        let payload = self.encode(message).map_err(|error| {
            redis::RedisError::from((redis::ErrorKind::Client, "encoding", error.to_string()))
        })?;
        commands
            .publish::<_, _, ()>(self.key(channel), payload)
            .await
    }

    /// A message as it is published: the JSON of [`Envelope`].
    fn encode<T: Serialize>(&self, message: &T) -> serde_json::Result<Vec<u8>> {
        serde_json::to_vec(&Envelope {
            from: self.inner.process,
            message,
        })
    }

    /// What a received message says, `None` (logged) when it is not a `T`: a replica of another
    /// version, during a rolling upgrade, must not stop the others.
    pub fn read<T: DeserializeOwned>(&self, message: &Message) -> Option<Received<T>> {
        match serde_json::from_slice::<Envelope<T>>(&message.payload) {
            Ok(envelope) => Some(Received {
                own: envelope.from == self.inner.process,
                message: envelope.message,
            }),
            Err(error) => {
                tracing::warn!(channel = message.channel, %error, "Redis message not understood; ignored");
                None
            }
        }
    }

    /// Messages of the channels given to [`SharedRedis::connect`], as they arrive.
    pub fn messages(&self) -> broadcast::Receiver<Message> {
        self.inner.messages.subscribe()
    }

    async fn establish(self) {
        let (pushes, received) = mpsc::unbounded_channel();
        tokio::spawn(self.clone().fan_out(received));
        let mut delay = Duration::from_millis(100);
        let mut logged = false;
        loop {
            match self.connect_both(pushes.clone()).await {
                Ok(()) => {
                    tracing::info!("connected to Redis: state is shared with the other replicas");
                    tokio::spawn(self.keep_alive());
                    return;
                }
                Err(error) => {
                    if !logged {
                        tracing::warn!(
                            %error,
                            "Redis is not answering: serving with local state until it does"
                        );
                        logged = true;
                    }
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    async fn connect_both(&self, pushes: mpsc::UnboundedSender<PushInfo>) -> RedisResult<()> {
        let inner = &self.inner;
        inner
            .commands
            .get_or_try_init(|| async {
                ConnectionManager::new_with_config(inner.client.clone(), manager_config()).await
            })
            .await?;
        inner
            .subscriber
            .get_or_try_init(|| async {
                let config = manager_config()
                    .set_push_sender(pushes)
                    .set_automatic_resubscription();
                let mut subscriber =
                    ConnectionManager::new_with_config(inner.client.clone(), config).await?;
                if inner.channels.is_empty() {
                    // Nothing to subscribe to: nothing can be missed.
                    self.subscribed();
                } else {
                    subscriber.subscribe(&inner.channels).await?;
                }
                Ok::<_, redis::RedisError>(subscriber)
            })
            .await?;
        Ok(())
    }

    /// Pings the subscriber connection every [`KEEPALIVE`]: a failed ping makes the manager
    /// reconnect (and resubscribe), which nothing else would do on a connection that only
    /// listens. Logs the loss and the return of the connection, once each.
    async fn keep_alive(self) {
        let Some(mut subscriber) = self.inner.subscriber.get().cloned() else {
            return;
        };
        let mut interval = tokio::time::interval(KEEPALIVE);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut answering = true;
        loop {
            interval.tick().await;
            let ping = redis::cmd("PING")
                .query_async::<Value>(&mut subscriber)
                .await;
            match (answering, ping) {
                (true, Err(error)) => {
                    tracing::warn!(
                        %error,
                        "Redis is not answering: events, revocations and cache invalidations \
                         stay in this replica until it does"
                    );
                    answering = false;
                }
                (false, Ok(_)) => {
                    tracing::info!("Redis answers again");
                    answering = true;
                }
                _ => {}
            }
        }
    }

    /// Every channel is subscribed (again): see [`Self::subscriptions`].
    fn subscribed(&self) {
        self.inner.subscribed.store(true, Ordering::Relaxed);
        self.inner.subscriptions.send_modify(|count| *count += 1);
        // The first subscription is the connection; every later one, a reconnection.
        if *self.inner.subscriptions.borrow() > 1 {
            metrics::redis_reconnected();
        }
    }

    /// Turns the subscriber connection's pushes into [`Message`]s for the local receivers, and
    /// follows its subscription state.
    async fn fan_out(self, mut pushes: mpsc::UnboundedReceiver<PushInfo>) {
        while let Some(push) = pushes.recv().await {
            match push.kind {
                PushKind::Message => {}
                PushKind::Disconnection => {
                    self.inner.subscribed.store(false, Ordering::Relaxed);
                    continue;
                }
                // The confirmation of each channel carries how many this connection is
                // subscribed to: all of ours, once the last one is confirmed.
                PushKind::Subscribe => {
                    if let [_, Value::Int(count)] = push.data.as_slice()
                        && usize::try_from(*count).is_ok_and(|n| n == self.inner.channels.len())
                    {
                        self.subscribed();
                    }
                    continue;
                }
                _ => continue,
            }
            let [Value::BulkString(channel), Value::BulkString(payload)] = push.data.as_slice()
            else {
                continue;
            };
            let Some(channel) = std::str::from_utf8(channel)
                .ok()
                .and_then(|c| c.strip_prefix(&self.inner.prefix))
            else {
                continue;
            };
            // No receiver is not an error: nobody in this process listens to that channel yet.
            let _ = self.inner.messages.send(Message {
                channel: channel.to_owned(),
                payload: payload.clone(),
            });
        }
    }
}

/// A command issued while a connection is being re-established waits for that attempt, retries
/// included: one retry keeps that wait short, and the next command (or keep-alive ping) starts a
/// new attempt anyway.
fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECTION_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_secs(2))
}

/// Runs a Redis call within a request's budget: a Redis that does not answer, or that is being
/// reconnected to, costs a request at most [`RESPONSE_TIMEOUT`] before it falls back.
pub async fn within_budget<T>(call: impl Future<Output = RedisResult<T>>) -> RedisResult<T> {
    let result = tokio::time::timeout(RESPONSE_TIMEOUT, call)
        .await
        .unwrap_or_else(|_| {
            Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "Redis did not answer in time",
            )))
        });
    metrics::redis_command(match result {
        Ok(_) => RedisOutcome::Ok,
        Err(_) => RedisOutcome::Error,
    });
    result
}

fn not_connected() -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::Io, "not connected to Redis yet"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_message_says_which_process_sent_it() {
        // Nothing listens there: the background connection attempts fail, which is fine here.
        let connect = || SharedRedis::connect("redis://127.0.0.1:1", "test:", &[]).unwrap();
        let (this, other) = (connect(), connect());
        let message = Message {
            channel: "revocations".into(),
            payload: this.encode(&"sess_1").unwrap(),
        };
        assert_eq!(
            this.read::<String>(&message),
            Some(Received {
                own: true,
                message: "sess_1".into()
            })
        );
        assert_eq!(
            other.read::<String>(&message),
            Some(Received {
                own: false,
                message: "sess_1".into()
            })
        );
        assert_eq!(other.read::<u64>(&message), None, "not a number");
        let garbage = Message {
            channel: "revocations".into(),
            payload: b"not json".to_vec(),
        };
        assert_eq!(other.read::<String>(&garbage), None);
    }
}
