//! The store shared by the replicas (`REDIS_URL`): every quota and lockout lives in Redis, so a
//! quota of N is N across all replicas and a lockout earned on one holds on all.
//!
//! - A check is one round trip: a GCRA Lua script (`gcra.lua`, sent by `EVALSHA`, by `EVAL` when
//!   Redis does not know it yet) that reads Redis's own clock (`TIME`), so replicas never disagree
//!   on the time, and sets the key to expire when its bucket is full again.
//! - A lockout is a key that exists while it lasts (`PTTL` is the time left), and a strike count
//!   that expires `max` after it; starting one is a script too, so that across all replicas
//!   exactly one caller sees it start.
//! - Keys are `<REDIS_KEY_PREFIX>rl:<kind>:<address or user id>`.
//! - Redis is never on the path to an outage: when it cannot be reached, does not answer within
//!   [`CALL_TIMEOUT`] or fails, the check is answered by the embedded [`MemoryStore`] (limits are
//!   then per replica), as `outage` describes.

use std::future::Future;
use std::net::IpAddr;
use std::time::Duration;

use futures_util::future::{BoxFuture, FutureExt as _};
use redis::aio::ConnectionManager;
use redis::{AsyncCommands as _, RedisResult, Script};

use super::memory::MemoryStore;
use super::outage::Outage;
use super::{Decision, Key, Lockout, LockoutPolicy, Quota, RateLimitStore};
use crate::metrics::{self, RedisOutcome};
use crate::shared::SharedRedis;

/// How long a check waits for Redis, connecting included, before answering locally.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(500);

/// The lockout durations a script is given: the growing ones and the maximum.
const MAX_STRIKES_LISTED: u32 = 32;

pub struct RedisStore {
    redis: SharedRedis,
    local: MemoryStore,
    outage: Outage,
    gcra: Script,
    lock_out: Script,
}

/// The `feature` of `redis_fallbacks_total` for a check answered by the local store.
pub const FALLBACK_FEATURE: &str = "rate_limit";

impl RedisStore {
    /// Quotas and lockouts in `redis`, answered by `local` while Redis cannot be reached.
    pub fn new(redis: SharedRedis, local: MemoryStore) -> Self {
        Self {
            redis,
            local,
            outage: Outage::default(),
            gcra: Script::new(include_str!("gcra.lua")),
            lock_out: Script::new(include_str!("lock_out.lua")),
        }
    }

    /// Checks answered by the local store because Redis could not be used.
    pub fn fallbacks(&self) -> u64 {
        self.outage.fallbacks()
    }

    /// Runs `call` on Redis unless it is known to be down; `None`: answer locally.
    async fn shared<T, F>(&self, call: impl FnOnce(ConnectionManager) -> F) -> Option<T>
    where
        F: Future<Output = RedisResult<T>>,
    {
        let answer = if !self.outage.should_try() {
            None
        } else if let Some(connection) = self.redis.commands() {
            match tokio::time::timeout(CALL_TIMEOUT, call(connection)).await {
                Ok(Ok(value)) => {
                    metrics::redis_command(RedisOutcome::Ok);
                    self.outage.succeeded();
                    Some(value)
                }
                Ok(Err(error)) => {
                    metrics::redis_command(RedisOutcome::Error);
                    self.outage.failed(&error);
                    None
                }
                Err(_) => {
                    metrics::redis_command(RedisOutcome::Error);
                    self.outage.failed(&"no answer within the time-out");
                    None
                }
            }
        } else {
            metrics::redis_command(RedisOutcome::Unavailable);
            self.outage.failed(&"not connected yet");
            None
        };
        if answer.is_none() {
            metrics::redis_fallback(FALLBACK_FEATURE);
            self.outage.fell_back();
        }
        answer
    }

    async fn check_shared(&self, key: &Key, quota: Quota) -> Decision {
        let name = self.redis.key(&key_name(key));
        let limit = quota.limit.max(1);
        let interval = (quota.period.as_micros() / u128::from(limit)).max(1) as u64;
        let reply = self
            .shared(|mut connection| async move {
                self.gcra
                    .key(name)
                    .arg(interval)
                    .arg(limit)
                    .invoke_async::<(u8, u64)>(&mut connection)
                    .await
            })
            .await;
        match reply {
            Some((1, remaining)) => Decision::Allow {
                remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            },
            Some((_, wait)) => Decision::Deny {
                retry_after: Duration::from_micros(wait),
            },
            None => self.local.check(key, quota).await,
        }
    }

    async fn locked_out_shared(&self, address: IpAddr) -> Option<Duration> {
        let name = self.redis.key(&lock_name(address));
        let reply = self
            .shared(|mut connection| async move { connection.pttl::<_, i64>(name).await })
            .await;
        match reply {
            // -2: no such key, -1: no expiry (never set so).
            Some(left) => u64::try_from(left)
                .ok()
                .filter(|left| *left > 0)
                .map(Duration::from_millis),
            None => self.local.locked_out(address).await,
        }
    }

    async fn lock_out_shared(&self, address: IpAddr, policy: LockoutPolicy) -> Option<Lockout> {
        let lock = self.redis.key(&lock_name(address));
        let strikes = self.redis.key(&format!("rl:strikes:{{{address}}}"));
        let reply = self
            .shared(|mut connection| async move {
                let mut invocation = self.lock_out.key(lock);
                invocation.key(strikes).arg(millis(policy.max));
                for strike in 1..=MAX_STRIKES_LISTED {
                    let duration = policy.duration(strike);
                    invocation.arg(millis(duration));
                    if duration >= policy.max {
                        break;
                    }
                }
                invocation
                    .invoke_async::<Option<u32>>(&mut connection)
                    .await
            })
            .await;
        match reply {
            Some(started) => started.map(|strike| Lockout {
                duration: policy.duration(strike),
                strike,
            }),
            None => self.local.lock_out(address, policy).await,
        }
    }
}

impl RateLimitStore for RedisStore {
    fn check<'a>(&'a self, key: &'a Key, quota: Quota) -> BoxFuture<'a, Decision> {
        self.check_shared(key, quota).boxed()
    }

    fn locked_out(&self, address: IpAddr) -> BoxFuture<'_, Option<Duration>> {
        self.locked_out_shared(address).boxed()
    }

    fn lock_out(&self, address: IpAddr, policy: LockoutPolicy) -> BoxFuture<'_, Option<Lockout>> {
        self.lock_out_shared(address, policy).boxed()
    }
}

/// The key of a quota, without the deployment's prefix.
fn key_name(key: &Key) -> String {
    match key {
        Key::Address(ip) => format!("rl:ip:{ip}"),
        Key::User(id) => format!("rl:user:{id}"),
        Key::Webhook(ip) => format!("rl:webhook:{ip}"),
        Key::InvalidTokens(ip) => format!("rl:invalid-tokens:{ip}"),
        Key::UnknownOpaqueTokens(ip) => format!("rl:unknown-opaque-tokens:{ip}"),
    }
}

/// The key that exists while `address` is locked out. The braces keep it in the same Redis
/// Cluster slot as its strikes, which the script touches too.
fn lock_name(address: IpAddr) -> String {
    format!("rl:lock:{{{address}}}")
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::auth::clock::FixedClock;

    /// Redis down from the start (nothing listens on its port): every check is answered locally
    /// and at once, never after a connection attempt.
    #[tokio::test]
    async fn a_redis_never_reached_answers_from_the_local_store_at_once() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let redis = SharedRedis::connect(&format!("redis://127.0.0.1:{port}"), "t:", &[]).unwrap();
        let clock = FixedClock::at_unix_seconds(1_800_000_000);
        let store = RedisStore::new(redis, MemoryStore::new(100, clock));
        let key = Key::User("user_1".into());
        let quota = Quota::per_minute(2).unwrap();
        let started = Instant::now();
        assert_eq!(
            store.check(&key, quota).await,
            Decision::Allow { remaining: 1 }
        );
        assert_eq!(
            store.check(&key, quota).await,
            Decision::Allow { remaining: 0 }
        );
        assert_eq!(
            store.check(&key, quota).await,
            Decision::Deny {
                retry_after: Duration::from_secs(30)
            }
        );
        let address = IpAddr::from([203, 0, 113, 1]);
        let policy = LockoutPolicy {
            base: Duration::from_secs(60),
            max: Duration::from_secs(900),
        };
        assert_eq!(
            store.lock_out(address, policy).await.map(|l| l.strike),
            Some(1)
        );
        assert_eq!(
            store.locked_out(address).await,
            Some(Duration::from_secs(60))
        );
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(store.fallbacks(), 5);
    }
}
