//! Changes to user rows, for the `myUserEvents` subscription, published by the webhook handler
//! once its transaction has committed (to every replica, with Redis: `graphql::broadcast`). An
//! event names the user only, also on the wire; a subscriber reads the row as it is when the
//! event reaches it.

use serde::{Deserialize, Serialize};

use super::store::{DeletionOutcome, SnapshotOutcome};
use crate::graphql::broadcast::{Channel, Relayed};

#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserEvent {
    pub kind: UserEventKind,
    pub user_id: String,
}

/// Already nothing but a kind and an id: it travels as it is.
impl Relayed for UserEvent {
    const TOPIC: &'static str = "users";
    type Message = Self;

    fn message(&self) -> Self {
        self.clone()
    }

    fn from_message(message: Self) -> Self {
        message
    }
}

/// Where the webhook handler announces changes to user rows.
pub type UserEvents = Channel<UserEvent>;

impl Channel<UserEvent> {
    pub fn publish(&self, kind: UserEventKind, user_id: &str) {
        self.send(UserEvent {
            kind,
            user_id: user_id.to_string(),
        });
    }
}
