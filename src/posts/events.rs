//! Post events for subscriptions, on a `graphql::broadcast` channel: this process's subscribers,
//! or every replica's with Redis. A subscriber that falls more than
//! [`CAPACITY`](crate::graphql::broadcast::CAPACITY) events behind skips the ones it missed rather
//! than slowing publishers.
//!
//! An event reaches every subscriber, and each resolves its payload; what the payload needs
//! beyond the event's ids is loaded once per event, by whichever subscriber asks first, and shared
//! with the others ([`SharedPost`], [`SharedAuthor`]): a thousand subscribers cost one statement
//! for the author, not a thousand. The publishing process hands its subscribers the row it just
//! wrote; an event from Redis carries ids only ([`PostMessage`]), so each replica reads the post
//! as it is when its subscribers get the event (once per event too).

use std::sync::Arc;

use sea_orm::{DatabaseConnection, DbErr};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;
use uuid::Uuid;

use super::store;
use crate::graphql::broadcast::{Channel, Relayed};
use crate::posts::entity::Model as Post;
use crate::users::entity::Model as User;

/// The author of an event's post (`None`: deleted), loaded at most once per event.
pub type SharedAuthor = Arc<OnceCell<Option<Arc<User>>>>;

/// The post of an event (`None`: deleted since), loaded at most once per event.
pub type SharedPost = Arc<OnceCell<Option<Post>>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum, Serialize, Deserialize)]
pub enum PostEventKind {
    Created,
    Updated,
    Published,
    Deleted,
}

#[derive(Debug, Clone)]
pub struct PostEvent {
    pub kind: PostEventKind,
    pub post_id: Uuid,
    /// Whose post it is: enough to pick the subscribers before anything is loaded.
    pub author_id: String,
    /// The post after the change (before it, for `Deleted`): see [`PostEvent::post`].
    post: SharedPost,
    pub author: SharedAuthor,
}

impl PostEvent {
    /// The post as the publisher wrote it, or, for an event from Redis, as it is now (loaded once
    /// for all this process's subscribers); `None` when it was deleted in between (its
    /// `Deleted` event follows).
    pub async fn post(&self, db: &DatabaseConnection) -> Result<Option<&Post>, DbErr> {
        let post = self
            .post
            .get_or_try_init(|| store::find(db, self.post_id))
            .await?;
        Ok(post.as_ref())
    }
}

/// A post event as it travels between replicas.
#[derive(Debug, Serialize, Deserialize)]
pub struct PostMessage {
    kind: PostEventKind,
    id: Uuid,
    author_id: String,
    /// A deleted post cannot be read back: its last state travels with its `Deleted` event. It
    /// can never become stale, and holds nothing personal (the author is an id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deleted: Option<Post>,
}

impl Relayed for PostEvent {
    const TOPIC: &'static str = "posts";
    type Message = PostMessage;

    fn message(&self) -> PostMessage {
        let deleted = match self.kind {
            PostEventKind::Deleted => self.post.get().cloned().flatten(),
            _ => None,
        };
        PostMessage {
            kind: self.kind,
            id: self.post_id,
            author_id: self.author_id.clone(),
            deleted,
        }
    }

    fn from_message(message: PostMessage) -> Self {
        let post = match message.deleted {
            Some(post) => Arc::new(OnceCell::new_with(Some(Some(post)))),
            None => SharedPost::default(),
        };
        Self {
            kind: message.kind,
            post_id: message.id,
            author_id: message.author_id,
            post,
            author: SharedAuthor::default(),
        }
    }
}

/// Where the mutations announce post changes to subscriptions.
pub type PostEvents = Channel<PostEvent>;

impl Channel<PostEvent> {
    pub fn publish(&self, kind: PostEventKind, post: &Post) {
        self.send(PostEvent {
            kind,
            post_id: post.id,
            author_id: post.author_id.clone(),
            post: Arc::new(OnceCell::new_with(Some(Some(post.clone())))),
            author: SharedAuthor::default(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn post() -> Post {
        Post {
            id: Uuid::now_v7(),
            author_id: "user_a".into(),
            title: "Hello".into(),
            body: "A body".into(),
            published: true,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn event(kind: PostEventKind, post: &Post) -> PostEvent {
        PostEvent {
            kind,
            post_id: post.id,
            author_id: post.author_id.clone(),
            post: Arc::new(OnceCell::new_with(Some(Some(post.clone())))),
            author: SharedAuthor::default(),
        }
    }

    #[test]
    fn a_change_travels_as_ids_and_arrives_with_nothing_loaded() {
        let post = post();
        let wire = serde_json::to_value(event(PostEventKind::Published, &post).message()).unwrap();
        assert_eq!(
            wire,
            serde_json::json!({"kind": "Published", "id": post.id, "author_id": "user_a"}),
            "no title, no body: the receiving replica reads them as they are"
        );
        let received = PostEvent::from_message(serde_json::from_value(wire).unwrap());
        assert_eq!(received.kind, PostEventKind::Published);
        assert_eq!(
            (received.post_id, received.author_id.as_str()),
            (post.id, "user_a")
        );
        assert!(
            !received.post.initialized(),
            "loaded by the first subscriber"
        );
    }

    #[test]
    fn a_deletion_carries_the_last_state_of_the_post() {
        let post = post();
        let wire = serde_json::to_vec(&event(PostEventKind::Deleted, &post).message()).unwrap();
        let received = PostEvent::from_message(serde_json::from_slice(&wire).unwrap());
        assert_eq!(received.post.get(), Some(&Some(post)));
    }
}
