//! The verifier's notion of "now", injectable so that tests can replay tokens from a fixed
//! instant (Clerk's SDK fixtures are only valid at the moment they name).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_millis(&self) -> i64;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

/// A clock that only moves when told to.
#[derive(Debug, Default)]
pub struct FixedClock(AtomicI64);

impl FixedClock {
    pub fn at_unix_seconds(seconds: i64) -> Arc<Self> {
        Arc::new(Self(AtomicI64::new(seconds * 1000)))
    }

    pub fn set_unix_seconds(&self, seconds: i64) {
        self.set_unix_millis(seconds * 1000);
    }

    pub fn set_unix_millis(&self, millis: i64) {
        self.0.store(millis, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now_millis(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}
