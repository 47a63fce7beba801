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

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, PushInfo, PushKind, RedisResult, Value};
use tokio::sync::{OnceCell, broadcast, mpsc};

/// A message published on one of our channels, as received by this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The channel's name without the key prefix (what was passed to [`SharedRedis::publish`]).
    pub channel: String,
    pub payload: Vec<u8>,
}

/// How long one command may take before it counts as failed: a Redis that stops answering must
/// not hold a request for longer than a fall-back costs.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(2);
/// Messages buffered per local receiver before a slow one starts losing the oldest.
const FAN_OUT_CAPACITY: usize = 1024;

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

    /// Whether both connections have been established (they reconnect by themselves after).
    pub fn is_connected(&self) -> bool {
        self.inner.commands.initialized() && self.inner.subscriber.initialized()
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

    /// Publishes `payload` on `channel` (named without the prefix) to every replica, this one
    /// included: a replica handles its own events the way it handles the others'.
    pub async fn publish(&self, channel: &str, payload: &[u8]) -> RedisResult<()> {
        let Some(mut commands) = self.commands() else {
            return Err(not_connected());
        };
        commands
            .publish::<_, _, ()>(self.key(channel), payload)
            .await
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
                if !inner.channels.is_empty() {
                    subscriber.subscribe(&inner.channels).await?;
                }
                Ok::<_, redis::RedisError>(subscriber)
            })
            .await?;
        Ok(())
    }

    /// Turns the subscriber connection's pushes into [`Message`]s for the local receivers.
    async fn fan_out(self, mut pushes: mpsc::UnboundedReceiver<PushInfo>) {
        while let Some(push) = pushes.recv().await {
            if push.kind != PushKind::Message {
                continue;
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

fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECTION_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_max_delay(Duration::from_secs(2))
}

fn not_connected() -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::Io, "not connected to Redis yet"))
}
