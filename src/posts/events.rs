//! Post events for subscriptions: one broadcast channel per process. A subscriber that falls
//! more than [`CAPACITY`] events behind skips the ones it missed rather than slowing publishers.
//!
//! An event reaches every subscriber, and each resolves its payload; what the payload needs
//! beyond the post itself (its author's row) is loaded once per event, by whichever subscriber
//! asks first, and shared with the others ([`SharedAuthor`]): a thousand subscribers cost one
//! statement, not a thousand.

use std::sync::Arc;

use tokio::sync::{OnceCell, broadcast};

use crate::posts::entity::Model as Post;
use crate::users::entity::Model as User;

/// The author of an event's post (`None`: deleted), loaded at most once per event.
pub type SharedAuthor = Arc<OnceCell<Option<Arc<User>>>>;

pub const CAPACITY: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum PostEventKind {
    Created,
    Updated,
    Published,
    Deleted,
}

#[derive(Debug, Clone)]
pub struct PostEvent {
    pub kind: PostEventKind,
    /// The post as it is after the change (as it was, for `Deleted`).
    pub post: Post,
    pub author: SharedAuthor,
}

#[derive(Clone)]
pub struct PostEvents(broadcast::Sender<PostEvent>);

impl Default for PostEvents {
    fn default() -> Self {
        Self(broadcast::channel(CAPACITY).0)
    }
}

impl PostEvents {
    /// Sends to whoever listens now; nobody listening is fine.
    pub fn publish(&self, kind: PostEventKind, post: &Post) {
        let _ = self.0.send(PostEvent {
            kind,
            post: post.clone(),
            author: SharedAuthor::default(),
        });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<PostEvent> {
        self.0.subscribe()
    }
}
