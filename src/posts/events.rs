//! Post events for subscriptions: one broadcast channel per process. A subscriber that falls
//! more than [`CAPACITY`](crate::graphql::broadcast::CAPACITY) events behind skips the ones it missed rather than slowing publishers.
//!
//! An event reaches every subscriber, and each resolves its payload; what the payload needs
//! beyond the post itself (its author's row) is loaded once per event, by whichever subscriber
//! asks first, and shared with the others ([`SharedAuthor`]): a thousand subscribers cost one
//! statement, not a thousand.

use std::sync::Arc;

use tokio::sync::OnceCell;

use crate::graphql::broadcast::Channel;
use crate::posts::entity::Model as Post;
use crate::users::entity::Model as User;

/// The author of an event's post (`None`: deleted), loaded at most once per event.
pub type SharedAuthor = Arc<OnceCell<Option<Arc<User>>>>;

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

/// Where the mutations announce post changes to subscriptions.
pub type PostEvents = Channel<PostEvent>;

impl Channel<PostEvent> {
    pub fn publish(&self, kind: PostEventKind, post: &Post) {
        self.send(PostEvent {
            kind,
            post: post.clone(),
            author: SharedAuthor::default(),
        });
    }
}
