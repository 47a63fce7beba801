//! The in-process store: GCRA state and lockouts in bounded moka caches.
//!
//! - A quota's state is one `AtomicI64`, the key's *theoretical arrival time* (TAT) in
//!   microseconds, updated with a compare-and-swap loop: no lock, and exact under concurrency.
//! - Memory is bounded twice: at most `capacity` keys per cache (moka evicts the least useful
//!   beyond that), and a key idle for longer than a quota period is dropped, which loses nothing
//!   (by then its bucket is full again, the same as a new key). An entry is roughly 150-250 bytes
//!   with moka's bookkeeping, so the default 100,000 keys stay around 20-25 MB at worst. A flood
//!   of distinct addresses evicts other entries instead of growing memory; an evicted key starts
//!   again with a full bucket, which errs on the side of letting requests through.
//! - A clock that steps backwards (NTP) would leave a TAT far in the future; a TAT further ahead
//!   than a whole bucket is treated as a full bucket instead of refusing for the jump.

use std::net::IpAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use moka::future::Cache;

use super::{Decision, Key, Lockout, LockoutPolicy, Quota, RateLimitStore};

/// Keys per cache by default.
pub const DEFAULT_CAPACITY: u64 = 100_000;

pub struct MemoryStore {
    buckets: Cache<Key, Arc<AtomicI64>>,
    lockouts: Cache<IpAddr, Arc<Mutex<LockRecord>>>,
}

#[derive(Debug)]
struct LockRecord {
    /// End of the current or last lockout (ms).
    until: i64,
    /// Lockouts in a row; 0 before the first.
    strike: u32,
}

impl MemoryStore {
    /// `capacity` keys at most in each cache; `longest_period` is the longest quota period
    /// checked (idle keys are dropped after it); `lockout_max` the longest lockout (a lockout
    /// record is kept twice as long, so that a repeat offence is recognised).
    pub fn new(capacity: u64, longest_period: Duration, lockout_max: Duration) -> Self {
        Self {
            buckets: Cache::builder()
                .name("rate_limit_buckets")
                .max_capacity(capacity)
                .time_to_idle(longest_period)
                .build(),
            lockouts: Cache::builder()
                .name("rate_limit_lockouts")
                .max_capacity(capacity)
                .time_to_idle(lockout_max.saturating_mul(2).max(Duration::from_secs(1)))
                .build(),
        }
    }

    /// Keys held (after pending evictions are applied): quota keys and locked-out addresses.
    pub async fn entry_count(&self) -> u64 {
        self.buckets.run_pending_tasks().await;
        self.lockouts.run_pending_tasks().await;
        self.buckets.entry_count() + self.lockouts.entry_count()
    }
}

impl RateLimitStore for MemoryStore {
    fn check<'a>(&'a self, key: &'a Key, quota: Quota, now_millis: i64) -> BoxFuture<'a, Decision> {
        Box::pin(async move {
            let tat = self
                .buckets
                .get_with_by_ref(key, async { Arc::new(AtomicI64::new(i64::MIN)) })
                .await;
            gcra(&tat, quota, now_millis)
        })
    }

    fn locked_out(&self, address: IpAddr, now_millis: i64) -> BoxFuture<'_, Option<Duration>> {
        Box::pin(async move {
            let record = self.lockouts.get(&address).await?;
            let record = record.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            (now_millis < record.until).then(|| millis(record.until - now_millis))
        })
    }

    fn lock_out(
        &self,
        address: IpAddr,
        now_millis: i64,
        policy: LockoutPolicy,
    ) -> BoxFuture<'_, Option<Lockout>> {
        Box::pin(async move {
            let record = self
                .lockouts
                .get_with(address, async {
                    Arc::new(Mutex::new(LockRecord {
                        until: i64::MIN,
                        strike: 0,
                    }))
                })
                .await;
            let mut record = record.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if now_millis < record.until {
                return None;
            }
            let max = i64::try_from(policy.max.as_millis()).unwrap_or(i64::MAX);
            let repeat = record.strike > 0 && now_millis.saturating_sub(record.until) <= max;
            let strike = if repeat {
                record.strike.saturating_add(1)
            } else {
                1
            };
            let duration = policy.duration(strike);
            let duration_ms = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
            record.until = now_millis.saturating_add(duration_ms);
            record.strike = strike;
            Some(Lockout { duration, strike })
        })
    }
}

/// One request against `quota` for the key whose TAT is `tat`.
fn gcra(tat: &AtomicI64, quota: Quota, now_millis: i64) -> Decision {
    let limit = i64::from(quota.limit.max(1));
    let period = i64::try_from(quota.period.as_micros()).unwrap_or(i64::MAX / 2);
    // Time one request "costs"; the bucket holds `limit` of them.
    let interval = (period / limit).max(1);
    let capacity = interval.saturating_mul(limit);
    let now = now_millis.saturating_mul(1000);
    let mut current = tat.load(Ordering::Acquire);
    loop {
        let start = if current > now.saturating_add(capacity) {
            now // the clock went back: a full bucket
        } else {
            current.max(now)
        };
        let next = start.saturating_add(interval);
        let allowed_at = next - capacity;
        if allowed_at > now {
            return Decision::Deny {
                retry_after: Duration::from_micros((allowed_at - now) as u64),
            };
        }
        match tat.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                let remaining = (now - allowed_at) / interval;
                return Decision::Allow {
                    remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
                };
            }
            Err(actual) => current = actual,
        }
    }
}

fn millis(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: i64 = 1_800_000_000_000;

    fn store() -> MemoryStore {
        MemoryStore::new(1000, Quota::MINUTE, Duration::from_secs(900))
    }

    fn quota(limit: u32) -> Quota {
        Quota::per_minute(limit).unwrap()
    }

    fn address(n: u32) -> Key {
        Key::Address(IpAddr::from(n.to_be_bytes()))
    }

    #[tokio::test]
    async fn a_full_bucket_allows_the_limit_at_once_then_refuses() {
        let store = store();
        let key = address(1);
        for remaining in (0..5).rev() {
            assert_eq!(
                store.check(&key, quota(5), T).await,
                Decision::Allow { remaining }
            );
        }
        // 5 per minute: one request every 12 s.
        assert_eq!(
            store.check(&key, quota(5), T).await,
            Decision::Deny {
                retry_after: Duration::from_secs(12)
            }
        );
        assert_eq!(
            store.check(&key, quota(5), T + 2_000).await,
            Decision::Deny {
                retry_after: Duration::from_secs(10)
            },
            "a refused request costs nothing"
        );
        // Refilled one request's worth.
        assert_eq!(
            store.check(&key, quota(5), T + 12_000).await,
            Decision::Allow { remaining: 0 }
        );
        assert!(matches!(
            store.check(&key, quota(5), T + 12_000).await,
            Decision::Deny { .. }
        ));
        // A minute of quiet refills the whole bucket, and no more.
        assert_eq!(
            store.check(&key, quota(5), T + 300_000).await,
            Decision::Allow { remaining: 4 }
        );
    }

    #[tokio::test]
    async fn a_steady_rate_at_the_quota_is_never_refused() {
        let store = store();
        let key = address(1);
        // 600 per minute is one per 100 ms: ten minutes of it, after an initial burst of 600.
        for _ in 0..600 {
            assert!(matches!(
                store.check(&key, quota(600), T).await,
                Decision::Allow { .. }
            ));
        }
        for i in 1..=6000 {
            assert!(
                matches!(
                    store.check(&key, quota(600), T + i * 100).await,
                    Decision::Allow { .. }
                ),
                "request {i}"
            );
        }
        assert!(matches!(
            store.check(&key, quota(600), T + 6000 * 100).await,
            Decision::Deny { .. }
        ));
    }

    #[tokio::test]
    async fn keys_and_quotas_are_independent() {
        let store = store();
        for _ in 0..3 {
            store.check(&address(1), quota(3), T).await;
        }
        assert!(matches!(
            store.check(&address(1), quota(3), T).await,
            Decision::Deny { .. }
        ));
        assert!(matches!(
            store.check(&address(2), quota(3), T).await,
            Decision::Allow { remaining: 2 }
        ));
        let ip = IpAddr::from([203, 0, 113, 1]);
        assert!(matches!(
            store.check(&Key::Address(ip), quota(1), T).await,
            Decision::Allow { .. }
        ));
        assert!(matches!(
            store.check(&Key::Webhook(ip), quota(1), T).await,
            Decision::Allow { .. }
        ));
        assert!(matches!(
            store.check(&Key::InvalidTokens(ip), quota(1), T).await,
            Decision::Allow { .. }
        ));
        assert!(matches!(
            store.check(&Key::User("user_1".into()), quota(1), T).await,
            Decision::Allow { .. }
        ));
    }

    #[tokio::test]
    async fn a_clock_stepping_back_does_not_refuse_for_the_jump() {
        let store = store();
        let key = address(1);
        for _ in 0..3 {
            store.check(&key, quota(3), T).await;
        }
        assert!(matches!(
            store.check(&key, quota(3), T - 3_600_000).await,
            Decision::Allow { .. }
        ));
    }

    #[tokio::test]
    async fn concurrent_requests_never_exceed_the_bucket() {
        let store = Arc::new(store());
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    let mut allowed = 0;
                    for _ in 0..100 {
                        if let Decision::Allow { .. } = store.check(&address(7), quota(250), T).await
                        {
                            allowed += 1;
                        }
                    }
                    allowed
                })
            })
            .collect();
        let mut allowed = 0;
        for task in tasks {
            allowed += task.await.unwrap();
        }
        assert_eq!(allowed, 250);
    }

    /// A flood of distinct addresses: the number of entries stays within the capacity.
    #[tokio::test]
    async fn a_million_distinct_keys_stay_within_the_capacity() {
        let capacity = 10_000;
        let store = MemoryStore::new(capacity, Quota::MINUTE, Duration::from_secs(900));
        let mut largest = 0;
        for n in 0..1_000_000u32 {
            let decision = store.check(&address(n), quota(600), T).await;
            assert!(matches!(decision, Decision::Allow { .. }));
            if n % 100_000 == 99_999 {
                let count = store.entry_count().await;
                eprintln!("{n} {:?}", std::time::Instant::now());
                largest = largest.max(count);
                assert!(count <= capacity, "{count} entries after {} keys", n + 1);
            }
        }
        assert!(largest > 0, "entries were kept");
        assert!(store.entry_count().await <= capacity);
    }

    #[tokio::test]
    async fn a_lockout_starts_once_lasts_and_grows_for_repeat_offenders() {
        let store = store();
        let ip = IpAddr::from([203, 0, 113, 9]);
        let policy = LockoutPolicy {
            base: Duration::from_secs(60),
            max: Duration::from_secs(900),
        };
        assert_eq!(store.locked_out(ip, T).await, None);
        assert_eq!(
            store.lock_out(ip, T, policy).await,
            Some(Lockout {
                duration: Duration::from_secs(60),
                strike: 1
            })
        );
        assert_eq!(store.lock_out(ip, T + 1_000, policy).await, None, "once");
        assert_eq!(
            store.locked_out(ip, T + 1_000).await,
            Some(Duration::from_secs(59))
        );
        assert_eq!(
            store.locked_out(IpAddr::from([203, 0, 113, 10]), T).await,
            None
        );
        assert_eq!(store.locked_out(ip, T + 60_000).await, None, "over");

        // Again within 15 minutes of the end: four times longer, then the maximum.
        let second = T + 60_000 + 600_000;
        assert_eq!(
            store.lock_out(ip, second, policy).await.unwrap(),
            Lockout {
                duration: Duration::from_secs(240),
                strike: 2
            }
        );
        let third = second + 240_000 + 1_000;
        assert_eq!(
            store.lock_out(ip, third, policy).await.unwrap(),
            Lockout {
                duration: Duration::from_secs(900),
                strike: 3
            }
        );
        assert_eq!(
            store.locked_out(ip, third + 899_000).await,
            Some(Duration::from_secs(1))
        );
        // After more than the maximum of good behaviour, a first offence again.
        let later = third + 900_000 + 900_001;
        assert_eq!(
            store.lock_out(ip, later, policy).await.unwrap(),
            Lockout {
                duration: Duration::from_secs(60),
                strike: 1
            }
        );
    }
}
