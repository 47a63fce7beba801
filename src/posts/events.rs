//! Post events for subscriptions: one broadcast channel per process. A subscriber that falls
//! more than [`CAPACITY`] events behind skips the ones it missed rather than slowing publishers.

use tokio::sync::broadcast;

use crate::db::posts::Model as Post;

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
        });
    }

    pub fn subscribe(&self) -> broadcast::Receiver<PostEvent> {
        self.0.subscribe()
    }
}
