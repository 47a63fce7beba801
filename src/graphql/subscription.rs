//! The subscription root: real-time post events over `/graphql/ws`. A subscription lives as
//! long as its connection: the connection (see `websocket`) closes when its token expires without
//! a refresh, or when its session is revoked.

use std::sync::Arc;

use async_graphql::{Context, Object, Result, Subscription};
use futures_util::{Stream, StreamExt, stream};
use tokio::sync::broadcast::{Receiver, error::RecvError};

use super::post::PostObject;
use crate::auth::Viewer;
use crate::authz::directives::auth;
use crate::posts::{PostEvent, PostEventKind, PostEvents};

pub struct Subscription;

#[Subscription]
impl Subscription {
    /// Posts as they are published. Public.
    async fn post_published(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = PostObject>> {
        let events = events(ctx.data::<PostEvents>()?.subscribe())
            .filter(|event| std::future::ready(event.kind == PostEventKind::Published))
            .map(PostObject::from);
        Ok(events)
    }

    /// Every change to the signed-in user's own posts.
    #[graphql(directive = auth::apply())]
    async fn my_post_events(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = PostEventObject>> {
        let author = ctx.data::<Arc<Viewer>>()?.user_id.clone();
        let events = events(ctx.data::<PostEvents>()?.subscribe())
            .filter(move |event| std::future::ready(event.post.author_id == author))
            .map(PostEventObject);
        Ok(events)
    }
}

/// A change to a post.
pub struct PostEventObject(PostEvent);

#[Object(name = "PostEvent")]
impl PostEventObject {
    async fn kind(&self) -> PostEventKind {
        self.0.kind
    }

    /// The post after the change (before it, for `DELETED`).
    async fn post(&self) -> PostObject {
        PostObject::from(self.0.clone())
    }
}

/// The broadcast receiver as a stream; a subscriber that lagged skips what it missed.
fn events(receiver: Receiver<PostEvent>) -> impl Stream<Item = PostEvent> {
    stream::unfold(receiver, |mut receiver| async move {
        loop {
            match receiver.recv().await {
                Ok(event) => return Some((event, receiver)),
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    })
}
