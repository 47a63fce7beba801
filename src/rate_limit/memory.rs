//! The in-process store: GCRA state and lockouts in sharded, bounded hash maps.
//!
//! - A quota's state is one number per key, its *theoretical arrival time* (TAT, nanoseconds):
//!   the bucket is full again once the TAT is in the past, so such an entry is worth nothing and
//!   may be dropped at any time. Each check is a few arithmetic operations under the lock of one
//!   of 64 shards.
//! - Memory is bounded: at most `capacity` keys in all (and as many lockout records). When a
//!   shard is full, its worthless entries (TAT in the past) are dropped; when too many still
//!   count, those closest to a full bucket are evicted (the least information lost: such a key
//!   starts again with a full bucket, which errs on the side of letting requests through). So a
//!   flood of distinct addresses evicts, it never grows memory. An entry takes about 50 bytes:
//!   the default 100,000 keys are about 5 MB.
//! - A clock that steps backwards (NTP) would leave a TAT far in the future; a TAT further ahead
//!   than a whole bucket is treated as a full bucket instead of refusing for the jump.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use futures_util::future::{BoxFuture, FutureExt as _, ready};

use super::{Decision, Key, Lockout, LockoutPolicy, Quota, RateLimitStore};

/// Keys at most by default (and as many lockout records).
pub const DEFAULT_CAPACITY: usize = 100_000;

const SHARDS: usize = 64;

pub struct MemoryStore {
    /// TAT per key, in nanoseconds.
    buckets: Shards<Key, i64>,
    lockouts: Shards<IpAddr, LockRecord>,
}

#[derive(Debug, Clone, Copy)]
struct LockRecord {
    /// End of the current or last lockout (ms).
    until: i64,
    /// Lockouts in a row.
    strike: u32,
}

impl MemoryStore {
    /// At most `capacity` keys (and as many locked-out addresses).
    pub fn new(capacity: usize) -> Self {
        Self {
            buckets: Shards::new(capacity),
            lockouts: Shards::new(capacity),
        }
    }

    /// Keys held: quota keys and lockout records.
    pub fn entry_count(&self) -> usize {
        self.buckets.len() + self.lockouts.len()
    }
}

impl RateLimitStore for MemoryStore {
    fn check<'a>(&'a self, key: &'a Key, quota: Quota, now_millis: i64) -> BoxFuture<'a, Decision> {
        ready(self.check_now(key, quota, now_millis)).boxed()
    }

    fn locked_out(&self, address: IpAddr, now_millis: i64) -> BoxFuture<'_, Option<Duration>> {
        let left = self
            .lockouts
            .lock(&address)
            .get(&address)
            .filter(|record| now_millis < record.until)
            .map(|record| millis(record.until - now_millis));
        ready(left).boxed()
    }

    fn lock_out(
        &self,
        address: IpAddr,
        now_millis: i64,
        policy: LockoutPolicy,
    ) -> BoxFuture<'_, Option<Lockout>> {
        ready(self.lock_out_now(address, now_millis, policy)).boxed()
    }
}

impl MemoryStore {
    fn check_now(&self, key: &Key, quota: Quota, now_millis: i64) -> Decision {
        let now = now_millis.saturating_mul(1_000_000);
        let mut shard = self.buckets.lock(key);
        let tat = shard.get(key).copied().unwrap_or(i64::MIN);
        let (decision, next) = gcra(tat, quota, now);
        if let Some(next) = next {
            match shard.get_mut(key) {
                Some(slot) => *slot = next,
                None => {
                    // Worthless entries first; else the one closest to a full bucket.
                    self.buckets
                        .make_room(&mut shard, |tat| *tat <= now, |tat| *tat);
                    shard.insert(key.clone(), next);
                }
            }
        }
        decision
    }

    fn lock_out_now(&self, address: IpAddr, now: i64, policy: LockoutPolicy) -> Option<Lockout> {
        let max = i64::try_from(policy.max.as_millis()).unwrap_or(i64::MAX);
        let mut shard = self.lockouts.lock(&address);
        let previous = shard.get(&address).copied();
        if previous.is_some_and(|record| now < record.until) {
            return None; // already locked out: whoever started it logged it
        }
        let strike = match previous {
            Some(record) if now.saturating_sub(record.until) <= max => {
                record.strike.saturating_add(1)
            }
            _ => 1,
        };
        let duration = policy.duration(strike);
        let record = LockRecord {
            until: now.saturating_add(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)),
            strike,
        };
        if previous.is_none() {
            // Records whose offence is forgotten first; else the one ending soonest.
            self.lockouts.make_room(
                &mut shard,
                |record| now.saturating_sub(record.until) > max,
                |record| record.until,
            );
        }
        shard.insert(address, record);
        Some(Lockout { duration, strike })
    }
}

/// One request against `quota` for a key whose TAT is `tat` (ns): the decision, and the new TAT
/// when the request is allowed.
fn gcra(tat: i64, quota: Quota, now: i64) -> (Decision, Option<i64>) {
    let limit = i64::from(quota.limit.max(1));
    let period = i64::try_from(quota.period.as_nanos()).unwrap_or(i64::MAX / 2);
    // The time one request "costs"; the bucket holds `limit` of them.
    let interval = (period / limit).max(1);
    let capacity = interval.saturating_mul(limit);
    let start = if tat > now.saturating_add(capacity) {
        now // the clock went back: a full bucket
    } else {
        tat.max(now)
    };
    let next = start.saturating_add(interval);
    let allowed_at = next - capacity;
    if allowed_at > now {
        let retry_after = Duration::from_nanos(u64::try_from(allowed_at - now).unwrap_or(0));
        return (Decision::Deny { retry_after }, None);
    }
    let remaining = u32::try_from((now - allowed_at) / interval).unwrap_or(u32::MAX);
    (Decision::Allow { remaining }, Some(next))
}

fn millis(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// Hash maps behind 64 locks, `per_shard` entries each at most.
struct Shards<K, V> {
    hasher: RandomState,
    shards: Box<[Mutex<HashMap<K, V>>]>,
    per_shard: usize,
}

impl<K: Hash + Eq, V> Shards<K, V> {
    fn new(capacity: usize) -> Self {
        Self {
            hasher: RandomState::new(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: (capacity / SHARDS).max(1),
        }
    }

    fn lock(&self, key: &K) -> MutexGuard<'_, HashMap<K, V>> {
        let index = (self.hasher.hash_one(key) as usize) % SHARDS;
        // A panic while holding the lock cannot leave a map half-updated: use it as it is.
        self.shards[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| {
                shard
                    .lock()
                    .map_or_else(|p| p.into_inner().len(), |s| s.len())
            })
            .sum()
    }

    /// Makes room in a full shard: drops its `worthless` entries and, when that frees less than
    /// an eighth of it, the entries of smallest `rank` up to an eighth (so that the work, linear
    /// in the shard, is done once per eighth of a shard of new keys, not once per key).
    fn make_room<R: Ord>(
        &self,
        shard: &mut HashMap<K, V>,
        worthless: impl Fn(&V) -> bool,
        rank: impl Fn(&V) -> R,
    ) where
        K: Clone,
    {
        if shard.len() < self.per_shard {
            return;
        }
        shard.retain(|_, value| !worthless(value));
        let target = self.per_shard - (self.per_shard / 8).max(1);
        if shard.len() <= target {
            return;
        }
        let excess = shard.len() - target;
        let mut ranked: Vec<(R, K)> = shard
            .iter()
            .map(|(key, value)| (rank(value), key.clone()))
            .collect();
        ranked.select_nth_unstable_by(excess - 1, |a, b| a.0.cmp(&b.0));
        for (_, key) in ranked.into_iter().take(excess) {
            shard.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    const T: i64 = 1_800_000_000_000;

    fn store() -> MemoryStore {
        MemoryStore::new(1000)
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
    async fn a_huge_quota_is_exact_too() {
        let store = store();
        let key = address(1);
        let huge = quota(1_000_000_000);
        for _ in 0..1000 {
            assert!(matches!(
                store.check(&key, huge, T).await,
                Decision::Allow { .. }
            ));
        }
        assert_eq!(
            store.check(&key, huge, T).await,
            Decision::Allow {
                remaining: 1_000_000_000 - 1001
            }
        );
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
                        if let Decision::Allow { .. } =
                            store.check(&address(7), quota(250), T).await
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
        let store = MemoryStore::new(capacity);
        // The clock stands still, so every entry still counts: eviction, not expiry, bounds it.
        for n in 0..1_000_000u32 {
            let decision = store.check(&address(n), quota(600), T).await;
            assert!(matches!(decision, Decision::Allow { .. }));
            if n % 100_000 == 99_999 {
                let count = store.entry_count();
                assert!(count <= capacity, "{count} entries after {} keys", n + 1);
                assert!(count >= capacity * 3 / 4, "{count}: the capacity is used");
            }
        }
        // A key seen just now is still counted.
        let last = address(999_999);
        assert_eq!(
            store.check(&last, quota(600), T).await,
            Decision::Allow { remaining: 598 }
        );
        // As time passes, new keys replace the worthless entries (full buckets) instead.
        let later = T + 1_000;
        for n in 0..20_000u32 {
            store
                .check(&address(2_000_000 + n), quota(600), later)
                .await;
        }
        assert!(store.entry_count() <= capacity);
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
