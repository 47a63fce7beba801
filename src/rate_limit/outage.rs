//! Redis outages as the shared store lives them: when to try Redis, what to log, what to count.
//!
//! While Redis answers, every check goes to it. Once a call fails (an error, no connection, or no
//! answer in time), checks answer from the local store at once, and only one call a
//! [`RETRY_EVERY`] tries Redis again: a Redis that stopped answering costs one request a wait, not
//! every request. The outage is logged when it starts and when a call succeeds again, once each;
//! every check answered locally is counted.

use std::fmt::Display;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub const RETRY_EVERY: Duration = Duration::from_secs(1);

pub struct Outage {
    down: AtomicBool,
    /// Since `origin`, in ms: when a call may try Redis again while it is down.
    retry_at: AtomicU64,
    origin: Instant,
    fallbacks: AtomicU64,
}

impl Default for Outage {
    fn default() -> Self {
        Self {
            down: AtomicBool::new(false),
            retry_at: AtomicU64::new(0),
            origin: Instant::now(),
            fallbacks: AtomicU64::new(0),
        }
    }
}

impl Outage {
    /// Whether this call should go to Redis: always while it answers; during an outage, the
    /// first call after each [`RETRY_EVERY`].
    pub fn should_try(&self) -> bool {
        if !self.down.load(Ordering::Acquire) {
            return true;
        }
        let now = self.elapsed_millis();
        let at = self.retry_at.load(Ordering::Acquire);
        now >= at
            && self
                .retry_at
                .compare_exchange(
                    at,
                    now + retry_millis(),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
    }

    pub fn succeeded(&self) {
        if self.down.swap(false, Ordering::AcqRel) {
            tracing::info!("Redis is back: rate limits are shared by the replicas again");
        }
    }

    /// A call failed with `error` (never a key, a value or the URL: Redis's own message).
    pub fn failed(&self, error: &dyn Display) {
        self.retry_at
            .store(self.elapsed_millis() + retry_millis(), Ordering::Release);
        if !self.down.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                %error,
                "Redis unreachable: rate limits are per replica until it is back"
            );
        }
    }

    /// A check was answered by the local store.
    pub fn fell_back(&self) {
        self.fallbacks.fetch_add(1, Ordering::Relaxed);
    }

    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    fn elapsed_millis(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

fn retry_millis() -> u64 {
    RETRY_EVERY.as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn during_an_outage_one_call_a_second_tries_redis() {
        let outage = Outage::default();
        assert!(outage.should_try() && outage.should_try(), "Redis answers");
        outage.failed(&"connection refused");
        assert!(!outage.should_try(), "just failed");
        // Due again: exactly one of the callers that find it due gets to try.
        outage.retry_at.store(0, Ordering::Release);
        assert!(outage.should_try());
        assert!(!outage.should_try());
        outage.succeeded();
        assert!(outage.should_try() && outage.should_try(), "back");
    }
}
