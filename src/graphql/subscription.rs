//! The subscription root: real-time post events over `/graphql/ws`.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Context, Object, Result, Subscription};
use futures_util::{Stream, StreamExt, stream};
use tokio::sync::broadcast::{Receiver, error::RecvError};

use super::post::PostObject;
use crate::auth::Viewer;
use crate::auth::revocation::Revocations;
use crate::authz::directives::auth;
use crate::posts::{PostEvent, PostEventKind, PostEvents};

/// The longest a subscription runs on the token that opened its connection; then it completes
/// and the client subscribes again (reconnecting with a fresh token). See `auth::revocation`.
pub const MAX_SUBSCRIPTION_AGE: Duration = Duration::from_secs(60 * 60);

pub struct Subscription;

#[Subscription]
impl Subscription {
    /// Posts as they are published. Public.
    async fn post_published(&self, ctx: &Context<'_>) -> Result<impl Stream<Item = PostObject>> {
        let events = events(ctx.data::<PostEvents>()?.subscribe())
            .filter(|event| std::future::ready(event.kind == PostEventKind::Published))
            .map(|event| PostObject::from(event.post));
        Ok(bounded(ctx, events))
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
        Ok(bounded(ctx, events))
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
        PostObject::from(self.0.post.clone())
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

/// Ends the stream when the viewer's session or user is revoked, or at the maximum age.
fn bounded<S: Stream + Send + 'static>(
    ctx: &Context<'_>,
    events: S,
) -> impl Stream<Item = S::Item> {
    let revoked = match (ctx.data_opt::<Arc<Viewer>>(), ctx.data_opt::<Revocations>()) {
        (Some(viewer), Some(revocations)) => {
            futures_util::future::Either::Left(revocations.until_revoked(viewer))
        }
        _ => futures_util::future::Either::Right(std::future::pending()),
    };
    let deadline = tokio::time::sleep(MAX_SUBSCRIPTION_AGE);
    events.take_until(async move {
        tokio::select! {
            () = revoked => {}
            () = deadline => {}
        }
    })
}
