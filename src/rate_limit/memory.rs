//! The in-process store: `governor`'s keyed GCRA limiters for the quotas, a `moka` map for the
//! lockouts, both on the application's clock ([`LocalClock`]) and both bounded.
//!
//! - One keyed limiter per quota (a store sees a handful: one per kind of key), each keeping one
//!   theoretical arrival time (TAT) per key in a `DashMap` (`governor`'s default keyed store).
//! - Memory is bounded: at most `capacity` quota keys in all. Every [`sweep_every`] checks the
//!   store counts them; near the capacity it drops those that count for nothing (a full bucket,
//!   `retain_recent`), and when a flood keeps more than that alive, it forgets a random share of
//!   them down to seven eighths of the capacity (never the key being counted): a forgotten key
//!   starts again with a full bucket, which errs on the side of letting requests through. An entry
//!   is 32 bytes (key and TAT) plus the map's overhead: the default 100,000 keys are a few MB.
//! - Lockouts: at most `capacity` addresses, least recently seen evicted first (`moka`, LRU: a new
//!   attacker is always recorded, unlike with frequency-based admission).

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures_util::future::{BoxFuture, FutureExt as _, ready};
use governor::clock::Clock as _;
use governor::middleware::StateInformationMiddleware;
use governor::nanos::Nanos;
use governor::state::StateStore;
use governor::state::keyed::{DashMapStateStore, ShrinkableKeyedStateStore};
use moka::ops::compute::{CompResult, Op};
use moka::policy::EvictionPolicy;

use super::local_clock::LocalClock;
use super::{Decision, Key, Lockout, LockoutPolicy, Quota, RateLimitStore};
use crate::auth::clock::Clock;

/// Keys at most by default (and as many lockout records).
pub const DEFAULT_CAPACITY: usize = 100_000;

type Limiter = governor::RateLimiter<Key, States, LocalClock, StateInformationMiddleware>;

/// One quota's limiter, and its map (the same), to forget keys by something else than age.
struct Keyed {
    limiter: Limiter,
    states: States,
}

pub struct MemoryStore {
    clock: LocalClock,
    limiters: RwLock<HashMap<Quota, Arc<Keyed>>>,
    lockouts: moka::sync::Cache<IpAddr, LockRecord>,
    capacity: usize,
    checks: AtomicUsize,
}

#[derive(Debug, Clone, Copy)]
struct LockRecord {
    /// End of the current or last lockout (ms).
    until: i64,
    /// Lockouts in a row.
    strike: u32,
}

impl MemoryStore {
    /// At most `capacity` keys (and as many locked-out addresses), on `clock`.
    pub fn new(capacity: usize, clock: Arc<dyn Clock>) -> Self {
        Self {
            clock: LocalClock::new(clock),
            limiters: RwLock::default(),
            lockouts: moka::sync::Cache::builder()
                .max_capacity(capacity as u64)
                .eviction_policy(EvictionPolicy::lru())
                .build(),
            capacity,
            checks: AtomicUsize::new(0),
        }
    }

    /// Keys held: quota keys and lockout records.
    pub fn entry_count(&self) -> usize {
        self.lockouts.run_pending_tasks();
        self.quota_keys() + self.lockouts.entry_count() as usize
    }

    fn quota_keys(&self) -> usize {
        read(&self.limiters)
            .values()
            .map(|keyed| keyed.states.0.len())
            .sum()
    }

    /// The limiter of `quota`, made the first time it is asked for.
    fn keyed(&self, quota: Quota) -> Arc<Keyed> {
        if let Some(keyed) = read(&self.limiters).get(&quota) {
            return Arc::clone(keyed);
        }
        let mut limiters = self
            .limiters
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let keyed = limiters.entry(quota).or_insert_with(|| {
            let states = States::default();
            let limiter = Limiter::new(gcra(quota), states.clone(), self.clock.clone());
            Arc::new(Keyed { limiter, states })
        });
        Arc::clone(keyed)
    }

    fn check_now(&self, key: &Key, quota: Quota) -> Decision {
        let keyed = self.keyed(quota);
        if self
            .checks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(sweep_every(self.capacity))
        {
            self.keep_within_capacity(key);
        }
        match keyed.limiter.check_key(key) {
            Ok(state) => Decision::Allow {
                remaining: state.remaining_burst_capacity(),
            },
            Err(not_until) => Decision::Deny {
                retry_after: not_until.wait_time_from(self.clock.now()),
            },
        }
    }

    /// Leaves room for the next [`sweep_every`] new keys (see the module doc); `counting` is
    /// never forgotten.
    fn keep_within_capacity(&self, counting: &Key) {
        let room = sweep_every(self.capacity);
        let limiters = read(&self.limiters);
        let held = || -> usize { limiters.values().map(|keyed| keyed.states.0.len()).sum() };
        if held() + room <= self.capacity {
            return;
        }
        for keyed in limiters.values() {
            keyed.limiter.retain_recent();
        }
        let held = held();
        let target = self.capacity.saturating_sub((self.capacity / 8).max(room));
        if held <= target {
            return;
        }
        // A fresh random hasher: each sweep forgets different keys.
        let hasher = std::collections::hash_map::RandomState::new();
        let (excess, held) = ((held - target) as u64, held as u64);
        for keyed in limiters.values() {
            keyed
                .states
                .0
                .retain(|key, _| key == counting || hasher.hash_one(key) % held >= excess);
        }
    }

    fn locked_out_now(&self, address: IpAddr) -> Option<Duration> {
        let now = self.clock.now_millis();
        self.lockouts
            .get(&address)
            .filter(|record| now < record.until)
            .map(|record| millis(record.until - now))
    }

    fn lock_out_now(&self, address: IpAddr, policy: LockoutPolicy) -> Option<Lockout> {
        let now = self.clock.now_millis();
        let max = i64::try_from(policy.max.as_millis()).unwrap_or(i64::MAX);
        // Atomic per address: exactly one of the racing callers starts the lockout.
        let result = self.lockouts.entry(address).and_compute_with(|previous| {
            let previous = previous.map(|entry| entry.into_value());
            if previous.is_some_and(|record| now < record.until) {
                return Op::Nop; // already locked out: whoever started it logged it
            }
            let strike = match previous {
                Some(record) if now.saturating_sub(record.until) <= max => {
                    record.strike.saturating_add(1)
                }
                _ => 1,
            };
            let duration = i64::try_from(policy.duration(strike).as_millis());
            Op::Put(LockRecord {
                until: now.saturating_add(duration.unwrap_or(i64::MAX)),
                strike,
            })
        });
        match result {
            CompResult::Inserted(entry) | CompResult::ReplacedWith(entry) => {
                let strike = entry.into_value().strike;
                Some(Lockout {
                    duration: policy.duration(strike),
                    strike,
                })
            }
            _ => None,
        }
    }
}

impl RateLimitStore for MemoryStore {
    fn check<'a>(&'a self, key: &'a Key, quota: Quota) -> BoxFuture<'a, Decision> {
        ready(self.check_now(key, quota)).boxed()
    }

    fn locked_out(&self, address: IpAddr) -> BoxFuture<'_, Option<Duration>> {
        ready(self.locked_out_now(address)).boxed()
    }

    fn lock_out(&self, address: IpAddr, policy: LockoutPolicy) -> BoxFuture<'_, Option<Lockout>> {
        ready(self.lock_out_now(address, policy)).boxed()
    }
}

/// How many checks pass between two looks at the number of keys: at most that many new keys
/// can arrive in between, so the store stays within its capacity.
fn sweep_every(capacity: usize) -> usize {
    (capacity / 16).clamp(1, 1024)
}

/// `limit` per `period`, up to `limit` at once: one request every `period / limit`.
fn gcra(quota: Quota) -> governor::Quota {
    let limit = quota.limit.max(1);
    let interval = quota.period / limit;
    let burst = std::num::NonZeroU32::new(limit).unwrap_or(std::num::NonZeroU32::MIN);
    governor::Quota::with_period(interval.max(Duration::from_nanos(1)))
        .expect("a period of at least 1 ns")
        .allow_burst(burst)
}

/// A keyed limiter's `DashMap`, shared with the store (which forgets keys in it when a flood
/// fills it).
#[derive(Clone, Default)]
struct States(Arc<DashMapStateStore<Key>>);

impl StateStore for States {
    type Key = Key;

    fn measure_and_replace<T, F, E>(&self, key: &Key, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        self.0.measure_and_replace(key, f)
    }
}

impl ShrinkableKeyedStateStore<Key> for States {
    fn retain_recent(&self, drop_below: Nanos) {
        ShrinkableKeyedStateStore::retain_recent(&*self.0, drop_below);
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A read lock; nothing is left half-updated under these locks, so a poisoned one is usable.
fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn millis(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::clock::FixedClock;

    const T: i64 = 1_800_000_000_000;

    /// A store and the clock it reads; each call first sets the clock to the time it names.
    struct Timed {
        store: MemoryStore,
        clock: Arc<FixedClock>,
    }

    impl Timed {
        fn new(capacity: usize) -> Self {
            let clock = Arc::new(FixedClock::default());
            clock.set_unix_millis(T);
            Self {
                store: MemoryStore::new(capacity, clock.clone()),
                clock,
            }
        }

        async fn check(&self, key: &Key, quota: Quota, at: i64) -> Decision {
            self.clock.set_unix_millis(at);
            self.store.check(key, quota).await
        }

        async fn locked_out(&self, address: IpAddr, at: i64) -> Option<Duration> {
            self.clock.set_unix_millis(at);
            self.store.locked_out(address).await
        }

        async fn lock_out(
            &self,
            address: IpAddr,
            at: i64,
            policy: LockoutPolicy,
        ) -> Option<Lockout> {
            self.clock.set_unix_millis(at);
            self.store.lock_out(address, policy).await
        }

        fn entry_count(&self) -> usize {
            self.store.entry_count()
        }
    }

    fn store() -> Timed {
        Timed::new(1000)
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
        let back = T - 3_600_000;
        // The quota's own wait (3 a minute: 20 s), not the hour the clock went back.
        assert_eq!(
            store.check(&key, quota(3), back).await,
            Decision::Deny {
                retry_after: Duration::from_secs(20)
            }
        );
        assert!(matches!(
            store.check(&key, quota(3), back + 20_000).await,
            Decision::Allow { .. }
        ));
        // A lockout is not stretched by the step either.
        let ip = IpAddr::from([203, 0, 113, 9]);
        let policy = LockoutPolicy {
            base: Duration::from_secs(60),
            max: Duration::from_secs(900),
        };
        store.lock_out(ip, back + 20_000, policy).await.unwrap();
        assert_eq!(
            store.locked_out(ip, back - 3_600_000).await,
            Some(Duration::from_secs(60))
        );
        assert_eq!(store.locked_out(ip, back - 3_600_000 + 60_000).await, None);
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
        let store = Timed::new(capacity);
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
