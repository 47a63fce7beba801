//! Evictions of the user cache shared by the replicas through Redis (`REDIS_URL`): a `user.*`
//! webhook reaches one replica, and a role changed in Clerk must not be served from another
//! replica's cache for up to its TTL.
//!
//! The replica that evicts announces the user id on [`CHANNEL`]; every other replica evicts it
//! from its own cache. What a replica missed while its subscriber connection was down (or because
//! it fell behind) cannot be known, so then it empties its cache: at worst one Clerk call per user
//! in use, spread over the next requests.

use std::sync::atomic::{AtomicBool, Ordering};

use moka::future::Cache;
use tokio::sync::broadcast::error::RecvError;

use crate::shared::{SharedRedis, within_budget};

/// The Redis channel evictions are announced on.
pub const CHANNEL: &str = "clerk-users";

pub(super) struct SharedInvalidations {
    redis: SharedRedis,
    /// Whether the last announcement failed: logged once per outage.
    failing: AtomicBool,
}

impl SharedInvalidations {
    /// Starts applying the other replicas' evictions to `users`.
    pub(super) fn start<V>(redis: SharedRedis, users: Cache<String, V>) -> Self
    where
        V: Clone + Send + Sync + 'static,
    {
        tokio::spawn(listen(redis.clone(), users));
        Self {
            redis,
            failing: AtomicBool::new(false),
        }
    }

    /// Tells the other replicas to evict `user_id`.
    pub(super) async fn announce(&self, user_id: &str) {
        // Within a request's budget: the webhook that evicts waits for it.
        match within_budget(self.redis.publish(CHANNEL, &user_id)).await {
            Ok(()) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("user cache evictions reach the other replicas again");
                }
            }
            Err(error) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        %error,
                        "user cache evictions cannot reach the other replicas: they serve \
                         cached users for up to the cache's TTL"
                    );
                }
            }
        }
    }
}

async fn listen<V>(redis: SharedRedis, users: Cache<String, V>)
where
    V: Clone + Send + Sync + 'static,
{
    let mut messages = redis.messages();
    let mut subscriptions = redis.subscriptions();
    loop {
        tokio::select! {
            changed = subscriptions.changed() => {
                if changed.is_err() {
                    return;
                }
                // Subscribed again after an outage: evictions may have been missed.
                users.invalidate_all();
            }
            message = messages.recv() => match message {
                Ok(message) if message.channel == CHANNEL => {
                    if let Some(received) = redis.read::<String>(&message)
                        && !received.own
                    {
                        users.invalidate(&received.message).await;
                    }
                }
                Ok(_) => {}
                Err(RecvError::Lagged(_)) => users.invalidate_all(),
                Err(RecvError::Closed) => return,
            },
        }
    }
}
