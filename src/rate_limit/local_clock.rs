//! The application's clock as the in-process store reads it: never backwards.
//!
//! Quotas and lockouts must follow [`Clock`] (tests move it to refill quotas and end lockouts),
//! but `governor` needs a monotonic clock: its state is a time relative to when the limiter was
//! made, and a wall clock that steps back (NTP) by an hour would leave every active key refused
//! for that hour. So a reading behind the last one does not go back: a small difference (two
//! requests reading the clock in the other order) holds the time where it was, a real step back
//! (more than [`STEP`]) is absorbed into an offset, so time goes on from where it was and the
//! clock's later moves count as they come.

use std::sync::{Arc, Mutex};

use governor::clock::Clock as GovernorClock;
use governor::nanos::Nanos;

use crate::auth::clock::Clock;

/// A reading further back than this is the clock being set back, not a race between readers.
const STEP: i64 = 1_000;

#[derive(Clone)]
pub struct LocalClock {
    clock: Arc<dyn Clock>,
    reading: Arc<Mutex<Reading>>,
}

#[derive(Default)]
struct Reading {
    /// The last time given out (ms).
    last: i64,
    /// Added to the clock: the sum of the steps back it took.
    offset: i64,
}

impl LocalClock {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        let start = clock.now_millis();
        Self {
            clock,
            reading: Arc::new(Mutex::new(Reading {
                last: start,
                offset: 0,
            })),
        }
    }

    /// Milliseconds, on the application's clock as long as it never went back.
    pub fn now_millis(&self) -> i64 {
        let wall = self.clock.now_millis();
        // Two integers and no panic while held: a poisoned lock holds consistent data.
        let mut reading = self
            .reading
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut now = wall.saturating_add(reading.offset);
        if now < reading.last {
            if reading.last - now > STEP {
                reading.offset = reading.offset.saturating_add(reading.last - now);
            }
            now = reading.last;
        }
        reading.last = now;
        now
    }
}

impl GovernorClock for LocalClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        let millis = u64::try_from(self.now_millis()).unwrap_or(0);
        Nanos::from(millis.saturating_mul(1_000_000))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::clock::FixedClock;

    const T: i64 = 1_800_000_000;

    #[test]
    fn follows_the_clock_forward_and_never_goes_back() {
        let clock = FixedClock::at_unix_seconds(T);
        let local = LocalClock::new(clock.clone());
        assert_eq!(local.now_millis(), T * 1000);
        clock.set_unix_millis(T * 1000 + 1_500);
        assert_eq!(local.now_millis(), T * 1000 + 1_500);
        // A reader that read the clock a moment earlier: time holds.
        clock.set_unix_millis(T * 1000 + 1_200);
        assert_eq!(local.now_millis(), T * 1000 + 1_500);
        clock.set_unix_millis(T * 1000 + 1_700);
        assert_eq!(local.now_millis(), T * 1000 + 1_700);
    }

    #[test]
    fn a_step_back_is_absorbed_and_later_moves_count() {
        let clock = FixedClock::at_unix_seconds(T);
        let local = LocalClock::new(clock.clone());
        clock.set_unix_seconds(T - 3_600);
        assert_eq!(local.now_millis(), T * 1000, "no hour back");
        clock.set_unix_seconds(T - 3_600 + 20);
        assert_eq!(
            local.now_millis(),
            T * 1000 + 20_000,
            "20 s later is 20 s later"
        );
        assert_eq!(local.now().as_u64(), (T as u64 * 1000 + 20_000) * 1_000_000);
    }
}
