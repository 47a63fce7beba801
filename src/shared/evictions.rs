//! Cache evictions shared by the replicas through Redis (`REDIS_URL`): a change reaches one
//! replica (a `user.*` webhook, an API key revoked through `revokeApiKey`), and the other
//! replicas must not serve their cached copy for up to its lifetime.
//!
//! The replica that evicts announces the key on its cache's channel; every other replica evicts
//! it from its own cache. What a replica missed while its subscriber connection was down (or
//! because it fell behind) cannot be known, so then it empties that cache: at worst one call to
//! the source per entry in use, spread over the next requests.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::broadcast::error::RecvError;

use super::{SharedRedis, within_budget};

/// A cache whose entries other replicas may evict.
pub trait Evict: Send + Sync + 'static {
    /// Forgets the entry named `key`.
    fn evict(&self, key: &str) -> impl Future<Output = ()> + Send;
    /// Forgets everything (evictions may have been missed).
    fn evict_all(&self);
}

impl<V: Clone + Send + Sync + 'static> Evict for moka::future::Cache<String, V> {
    async fn evict(&self, key: &str) {
        self.invalidate(key).await;
    }

    fn evict_all(&self) {
        self.invalidate_all();
    }
}

/// One cache's evictions, announced to and received from the other replicas.
pub struct SharedEvictions {
    redis: SharedRedis,
    /// The Redis channel (which the subscriber connection must listen to).
    channel: &'static str,
    /// What the cache holds, for the log: "cached users".
    what: &'static str,
    /// Whether the last announcement failed: logged once per outage.
    failing: AtomicBool,
}

impl SharedEvictions {
    /// Starts applying the other replicas' evictions on `channel` to `cache`.
    pub fn start(
        redis: SharedRedis,
        channel: &'static str,
        what: &'static str,
        cache: impl Evict,
    ) -> Self {
        tokio::spawn(listen(redis.clone(), channel, cache));
        Self {
            redis,
            channel,
            what,
            failing: AtomicBool::new(false),
        }
    }

    /// Tells the other replicas to evict `key`.
    pub async fn announce(&self, key: &str) {
        // Within a request's budget: the webhook or mutation that evicts waits for it.
        match within_budget(self.redis.publish(self.channel, &key)).await {
            Ok(()) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(
                        channel = self.channel,
                        "evictions reach the other replicas again"
                    );
                }
            }
            Err(error) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        %error,
                        channel = self.channel,
                        "evictions cannot reach the other replicas: they serve {} for up to the \
                         cache's lifetime",
                        self.what
                    );
                }
            }
        }
    }
}

async fn listen(redis: SharedRedis, channel: &'static str, cache: impl Evict) {
    let mut messages = redis.messages();
    let mut subscriptions = redis.subscriptions();
    loop {
        tokio::select! {
            changed = subscriptions.changed() => {
                if changed.is_err() {
                    return;
                }
                // Subscribed again after an outage: evictions may have been missed.
                cache.evict_all();
            }
            message = messages.recv() => match message {
                Ok(message) if message.channel == channel => {
                    if let Some(received) = redis.read::<String>(&message)
                        && !received.own
                    {
                        cache.evict(&received.message).await;
                    }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => cache.evict_all(),
                Err(RecvError::Closed) => return,
            },
        }
    }
}
