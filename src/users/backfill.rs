//! `clerk-graphql sync-users`: copies every Clerk user into `users`, for a new deployment or
//! after webhooks were lost. It pages through `GET /v1/users` oldest first (users who sign up
//! meanwhile land on later pages, so offsets do not shift under it) and applies each user with the
//! same rules as the webhook handler, so it is idempotent and safe to run while webhooks arrive:
//! whichever of the two writes a user last, the newer `updated_at` wins.

use chrono::Utc;
use sea_orm::{DatabaseConnection, DbErr, TransactionTrait};

use super::store::{SnapshotOutcome, apply_snapshot};
use crate::clerk::{ClerkClient, ClerkError, MAX_LIST_LIMIT};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SyncSummary {
    /// Users Clerk listed.
    pub seen: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Listed by Clerk but deleted here (a `user.deleted` webhook arrived): left deleted, since
    /// deletion is final in Clerk and the listing may lag behind it.
    pub deleted_locally_but_present: u64,
}

impl SyncSummary {
    fn count(&mut self, outcome: SnapshotOutcome) {
        self.seen += 1;
        match outcome {
            SnapshotOutcome::Created => self.created += 1,
            SnapshotOutcome::Updated => self.updated += 1,
            SnapshotOutcome::Unchanged => self.unchanged += 1,
            SnapshotOutcome::DeletedLocally => self.deleted_locally_but_present += 1,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("Clerk's Backend API: {0}")]
    Clerk(#[from] ClerkError),
    #[error("database: {0}")]
    Database(#[from] DbErr),
}

/// Runs the backfill; `progress` is called after each page with the running totals.
pub async fn sync_users(
    db: &DatabaseConnection,
    clerk: &ClerkClient,
    mut progress: impl FnMut(&SyncSummary),
) -> Result<SyncSummary, SyncError> {
    let mut summary = SyncSummary::default();
    let mut offset = 0;
    loop {
        let page = clerk.list_users(MAX_LIST_LIMIT, offset).await?;
        // One transaction per page: a page is written quickly, and a failure part-way loses
        // nothing (the next run starts over and skips what is already current).
        let transaction = db.begin().await?;
        let now = Utc::now();
        for user in &page {
            summary.count(apply_snapshot(&transaction, user, now).await?);
        }
        transaction.commit().await?;
        progress(&summary);
        if page.len() < MAX_LIST_LIMIT as usize {
            return Ok(summary);
        }
        offset += MAX_LIST_LIMIT;
    }
}
