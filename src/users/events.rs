//! Changes to user rows, for the `myUserEvents` subscription: one broadcast channel per process,
//! published by the webhook handler once its transaction has committed. An event names the user
//! only; a subscriber reads the row as it is when the event reaches it.

use tokio::sync::broadcast;

use super::store::{DeletionOutcome, SnapshotOutcome};

/// Events a subscriber may fall behind by before it skips the ones it missed.
pub const CAPACITY: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum UserEventKind {
    Created,
    Updated,
    Deleted,
}

impl UserEventKind {
    /// What a snapshot did to the row; `None` when it left it as it was.
    pub fn of_snapshot(outcome: SnapshotOutcome) -> Option<Self> {
        match outcome {
            SnapshotOutcome::Created => Some(Self::Created),
            SnapshotOutcome::Updated => Some(Self::Updated),
            SnapshotOutcome::Unchanged | SnapshotOutcome::DeletedLocally => None,
        }
    }

    /// What a deletion did to the row; `None` when there was no live row to delete.
    pub fn of_deletion(outcome: DeletionOutcome) -> Option<Self> {
        match outcome {
            DeletionOutcome::Deleted => Some(Self::Deleted),
            DeletionOutcome::Tombstoned | DeletionOutcome::AlreadyDeleted => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEvent {
    pub kind: UserEventKind,
    pub user_id: String,
}

#[derive(Clone)]
pub struct UserEvents(broadcast::Sender<UserEvent>);

impl Default for UserEvents {
    fn default() -> Self {
        Self(broadcast::channel(CAPACITY).0)
    }
}

impl UserEvents {
    pub fn publish(&self, kind: UserEventKind, user_id: &str) {
        // No subscriber is not an error.
        let _ = self.0.send(UserEvent {
            kind,
            user_id: user_id.to_string(),
        });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<UserEvent> {
        self.0.subscribe()
    }
}
