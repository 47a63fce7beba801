//! Deleting old `webhook_events` rows. Each applied delivery leaves a row, kept so that a
//! redelivery of the same `svix-id` is recognised; without a clean-up the table grows for ever.
//!
//! A row only needs to outlive the redeliveries of its message. Svix retries a failed message for
//! about 28 hours (immediately, then after 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h), so the
//! default retention of 7 days leaves a wide margin, also for replays from the dashboard. A
//! redelivery older than the retention would be applied again, which the user rules make
//! harmless (an older `updated_at` never overwrites newer data, a deletion is never undone).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::{DatabaseConnection, DbErr};

use crate::auth::clock::Clock;
use crate::config::RetentionSettings;
use crate::db::webhook_events;

/// The periodic clean-up of one database.
pub struct Retention {
    db: DatabaseConnection,
    /// The clock deliveries are stamped with (`received_at`), so that tests can move it.
    clock: Arc<dyn Clock>,
    settings: RetentionSettings,
}

impl Retention {
    pub fn new(db: DatabaseConnection, clock: Arc<dyn Clock>, settings: RetentionSettings) -> Self {
        Self {
            db,
            clock,
            settings,
        }
    }

    /// Runs for ever: first after `first_run_after`, then every `interval`. A failed run is
    /// logged and tried again at the next interval (the rows wait; nothing depends on them going
    /// at once).
    pub async fn run(self) {
        tokio::time::sleep(self.settings.first_run_after).await;
        let mut ticks = tokio::time::interval(self.settings.interval);
        // After a stall (a suspended process), one run, not a burst of catch-up runs.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match self.run_once().await {
                Ok(0) => tracing::debug!("webhook_events: nothing older than the retention"),
                Ok(deleted) => tracing::info!(deleted, "webhook_events: old deliveries deleted"),
                Err(error) => {
                    tracing::warn!(%error, "webhook_events: clean-up failed; next try in an interval");
                }
            }
        }
    }

    /// Deletes every row older than the retention, `batch_size` rows per statement, until a
    /// statement deletes fewer (the last batch); how many rows went.
    pub async fn run_once(&self) -> Result<u64, DbErr> {
        let cutoff = self.cutoff();
        let mut total = 0;
        loop {
            let deleted =
                webhook_events::delete_received_before(&self.db, cutoff, self.settings.batch_size)
                    .await?;
            total += deleted;
            if deleted < self.settings.batch_size {
                return Ok(total);
            }
        }
    }

    fn cutoff(&self) -> DateTime<Utc> {
        let now = DateTime::from_timestamp_millis(self.clock.now_millis()).unwrap_or_else(Utc::now);
        let keep = chrono::Duration::from_std(self.settings.keep).unwrap_or(chrono::Duration::MAX);
        now.checked_sub_signed(keep)
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }
}
