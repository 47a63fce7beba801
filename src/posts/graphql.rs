//! The posts slice's GraphQL face: `Post` (visibility, ownership checks, pagination, the batched
//! `author`), its queries, mutations and subscriptions, and the schema data it needs
//! ([`install`]).

use std::sync::Arc;

use async_graphql::connection::{Connection, Edge};
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, ID, InputObject, Object, Result};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use async_graphql::{ObjectType, SchemaBuilder, Subscription, SubscriptionType};
use futures_util::{Stream, StreamExt};

use super::entity::Model;
use super::rules::{self, InvalidField};
use super::{
    Listing, NewPost, PostBodies, PostChanges, PostEvent, PostEventKind, PostEvents, SharedAuthor,
    store,
};
use crate::auth::Viewer;
use crate::authz::directives::auth;
use crate::clerk::ClerkUserLoader;
use crate::graphql::access::has_app_role;
use crate::graphql::broadcast::Relay;
use crate::graphql::pagination::page_size;
use crate::graphql::{database, errors};
use crate::users::entity::Model as User;
use crate::users::graphql::{UserObject, provisioning_error};
use crate::users::loaders::UserRowLoader;
use crate::users::{Provisioning, current_user};

/// The role that may edit and delete anyone's posts.
const MODERATOR_ROLE: &str = "admin";

pub struct PostObject {
    row: Model,
    author: Author,
    /// Whether `row.body` was left out (empty) because the page's selection did not ask for it.
    body_omitted: bool,
}

/// Where a post's author comes from.
enum Author {
    /// The request's loader (or one lookup).
    Lookup,
    /// Loaded with the page the post is on (`None`: no active author).
    Loaded(Option<Arc<User>>),
    /// A subscription event's, loaded once for all its subscribers.
    Shared(SharedAuthor),
}

impl From<Model> for PostObject {
    fn from(row: Model) -> Self {
        Self {
            row,
            author: Author::Lookup,
            body_omitted: false,
        }
    }
}

impl PostObject {
    /// An event's post, with the author its subscribers share.
    fn of_event(row: &Model, event: &PostEvent) -> Self {
        Self {
            row: row.clone(),
            author: Author::Shared(Arc::clone(&event.author)),
            body_omitted: false,
        }
    }
}

#[Object(name = "Post")]
impl PostObject {
    /// A UUID (v7: ordered by creation time).
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }

    async fn title(&self) -> &str {
        &self.row.title
    }

    async fn body(&self, ctx: &Context<'_>) -> Result<String> {
        if !self.body_omitted {
            return Ok(self.row.body.clone());
        }
        // Only if the page's look-ahead missed a way the selection names `body`: correct, at the
        // price of one statement for this post, under the same visibility rule as `post(id)`
        // (it may have become a draft since the page was read).
        // Boxed: a large future here would be copied with every field of this type (ARCHITECTURE §2).
        Box::pin(readable_post(ctx, &ID(self.row.id.to_string())))
            .await?
            .map(|post| post.row.body)
            .ok_or_else(|| errors::not_found("post"))
    }

    /// Drafts (`false`) are visible to their author only.
    async fn published(&self) -> bool {
        self.row.published
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.row.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.row.updated_at
    }

    /// Loaded in one batch for all posts of a request; null if the author was deleted.
    async fn author(&self, ctx: &Context<'_>) -> Result<Option<UserObject>> {
        match &self.author {
            Author::Loaded(author) => Ok(author.clone().map(UserObject)),
            // Boxed: a large future here would be copied with every field of this type (ARCHITECTURE §2).
            _ => Box::pin(self.look_up_author(ctx)).await,
        }
    }
}

impl PostObject {
    /// The author of a post that was not handed its author with its page: shared with the
    /// post's other copies (`Author::Shared`), or through the request's loader.
    async fn look_up_author(&self, ctx: &Context<'_>) -> Result<Option<UserObject>> {
        if let Author::Shared(author) = &self.author {
            let author = author
                .get_or_try_init(|| async {
                    let row = crate::users::find_active(database(ctx)?, &self.row.author_id)
                        .await
                        .map_err(errors::database)?;
                    Ok::<_, async_graphql::Error>(row.map(Arc::new))
                })
                .await?;
            return Ok(author.clone().map(UserObject));
        }
        let author = match ctx.data_opt::<Arc<UserRowLoader>>() {
            Some(loader) => loader.load_one(self.row.author_id.clone()).await,
            // Outside a request's loader (subscription events): one lookup.
            None => crate::users::find_active(database(ctx)?, &self.row.author_id)
                .await
                .map(|user| user.map(Arc::new))
                .map_err(Arc::new),
        };
        // The loader shares one error among its waiters, hence the clone out of the `Arc`.
        author
            .map(|user| user.map(UserObject))
            .map_err(|error| errors::database(sea_orm::DbErr::clone(&error)))
    }
}

pub type PostConnection = Connection<String, PostObject>;

/// A page of posts; when the selection asks for `author`, the authors of the whole page are
/// loaded in one statement before the nodes resolve (so 100 posts by 37 authors cost exactly
/// two statements, whatever the scheduling of the nodes).
async fn posts_page(
    ctx: &Context<'_>,
    listing: Listing<'_>,
    first: Option<i32>,
    after: Option<String>,
) -> Result<PostConnection> {
    let first = page_size(first)?;
    let after = after
        .map(|cursor| {
            Uuid::parse_str(&cursor).map_err(|_| {
                errors::bad_user_input("after", "`after` is not a cursor from this API")
            })
        })
        .transpose()?;
    let selection = ctx.look_ahead();
    // Through `nodes` or `edges { node }`; fragments included, aliases ignored.
    let selects = |field: &str| {
        selection.field("nodes").field(field).exists()
            || selection.field("edges").field("node").field(field).exists()
    };
    let bodies = if selects("body") {
        PostBodies::Included
    } else {
        PostBodies::Omitted
    };
    let page = store::page(database(ctx)?, listing, first, after, bodies)
        .await
        .map_err(errors::database)?;
    // The page's authors, fetched once and handed to each post: neither a statement nor a
    // loader lookup per post. When the fetch fails, each post's `author` asks again, so the
    // error shows on those fields.
    let mut authors = None;
    if selects("author")
        && let Some(loader) = ctx.data_opt::<Arc<UserRowLoader>>()
    {
        authors = loader
            .load_many(page.posts.iter().map(|post| post.author_id.clone()))
            .await
            .ok();
    }
    let mut connection = Connection::new(after.is_some(), page.has_next_page);
    connection.edges.extend(page.posts.into_iter().map(|row| {
        let author = authors.as_ref().map_or(Author::Lookup, |authors| {
            Author::Loaded(authors.get(&row.author_id).cloned())
        });
        Edge::new(
            row.id.to_string(),
            PostObject {
                row,
                author,
                body_omitted: bodies == PostBodies::Omitted,
            },
        )
    }));
    Ok(connection)
}

/// A post the viewer may read: published, or their own draft.
async fn readable_post(ctx: &Context<'_>, id: &ID) -> Result<Option<PostObject>> {
    let Ok(id) = Uuid::parse_str(id) else {
        return Ok(None);
    };
    let post = store::find(database(ctx)?, id)
        .await
        .map_err(errors::database)?;
    let viewer = ctx.data_opt::<Arc<Viewer>>();
    Ok(post
        .filter(|post| post.published || viewer.is_some_and(|v| v.user_id == post.author_id))
        .map(PostObject::from))
}

#[derive(InputObject)]
pub struct CreatePostInput {
    /// 1 to 200 characters (trimmed).
    pub title: String,
    /// At most 20,000 characters.
    #[graphql(default)]
    pub body: String,
    #[graphql(default)]
    pub published: bool,
}

#[derive(InputObject)]
pub struct UpdatePostInput {
    pub title: Option<String>,
    pub body: Option<String>,
    pub published: Option<bool>,
}

/// The schema data the slice's resolvers need: the channel its mutations publish to and its
/// subscriptions read (through `relay`: every replica's subscribers, with Redis).
pub fn install<Q, M, S>(builder: SchemaBuilder<Q, M, S>, relay: &Relay) -> SchemaBuilder<Q, M, S>
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    builder.data(PostEvents::new(relay))
}

/// The posts slice's part of the query root.
#[derive(Default)]
pub struct PostQuery;

#[Object]
impl PostQuery {
    /// Published posts, newest first. With `authorId`, that user's posts: published ones, and
    /// drafts too when the author is the viewer.
    #[graphql(
        complexity = "crate::graphql::limits::connection_complexity(first, child_complexity)"
    )]
    async fn posts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        author_id: Option<ID>,
    ) -> Result<PostConnection> {
        let listing = match &author_id {
            None => Listing::Published,
            Some(author_id) => Listing::ByAuthor {
                author_id,
                with_drafts: ctx
                    .data_opt::<Arc<Viewer>>()
                    .is_some_and(|viewer| viewer.user_id == author_id.as_str()),
            },
        };
        // Boxed: a large future here would be copied with every field of this type (ARCHITECTURE §2).
        Box::pin(posts_page(ctx, listing, first, after)).await
    }

    /// A published post, or the viewer's own draft; null otherwise.
    async fn post(&self, ctx: &Context<'_>, id: ID) -> Result<Option<PostObject>> {
        // Boxed: a large future here would be copied with every field of this type (ARCHITECTURE §2).
        Box::pin(readable_post(ctx, &id)).await
    }
}

#[derive(Default)]
pub struct PostMutation;

#[Object]
impl PostMutation {
    /// Writes a post as the signed-in user.
    #[graphql(directive = auth::apply(None))]
    async fn create_post(&self, ctx: &Context<'_>, input: CreatePostInput) -> Result<PostObject> {
        let post = NewPost {
            title: rules::title(&input.title).map_err(invalid)?,
            body: rules::body(&input.body).map_err(invalid)?,
            published: input.published,
        };
        let viewer = ctx.data::<Arc<Viewer>>()?;
        let db = database(ctx)?;
        // The author's row must exist (posts reference it): provisioned like `me`.
        let clerk = ctx.data_opt::<Arc<DataLoader<ClerkUserLoader>>>();
        let author = current_user(db, viewer, clerk.map(Arc::as_ref), Provisioning::Store)
            .await
            .map_err(provisioning_error)?
            .ok_or_else(|| errors::forbidden("this account is deleted"))?;
        let post = store::create(db, &author.id, post, Utc::now())
            .await
            .map_err(errors::database)?;
        let events = ctx.data::<PostEvents>()?;
        events.publish(PostEventKind::Created, &post);
        if post.published {
            events.publish(PostEventKind::Published, &post);
        }
        Ok(PostObject::from(post))
    }

    /// Changes a post: its author, or an `admin`. Unknown ids, and other users' drafts, are
    /// `NOT_FOUND`; someone else's published post is `FORBIDDEN`.
    #[graphql(directive = auth::apply(None))]
    async fn update_post(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdatePostInput,
    ) -> Result<PostObject> {
        let changes = PostChanges {
            title: input
                .title
                .as_deref()
                .map(rules::title)
                .transpose()
                .map_err(invalid)?,
            body: input
                .body
                .as_deref()
                .map(rules::body)
                .transpose()
                .map_err(invalid)?,
            published: input.published,
        };
        let post = editable_post(ctx, &id).await?;
        let was_published = post.published;
        // Deleted between the ownership check and here: as if it had been before.
        let post = store::update(database(ctx)?, post, changes, Utc::now())
            .await
            .map_err(errors::database)?
            .ok_or_else(|| errors::not_found("post"))?;
        let events = ctx.data::<PostEvents>()?;
        events.publish(PostEventKind::Updated, &post);
        if post.published && !was_published {
            events.publish(PostEventKind::Published, &post);
        }
        Ok(PostObject::from(post))
    }

    /// Deletes a post (its author, or an `admin`); answers its id.
    #[graphql(directive = auth::apply(None))]
    async fn delete_post(&self, ctx: &Context<'_>, id: ID) -> Result<ID> {
        let post = editable_post(ctx, &id).await?;
        if !store::delete(database(ctx)?, post.id)
            .await
            .map_err(errors::database)?
        {
            return Err(errors::not_found("post"));
        }
        ctx.data::<PostEvents>()?
            .publish(PostEventKind::Deleted, &post);
        Ok(id)
    }
}

/// The ownership check: the author, or a holder of the moderator role.
async fn editable_post(ctx: &Context<'_>, id: &ID) -> Result<Model> {
    let viewer = ctx.data::<Arc<Viewer>>()?;
    let Ok(uuid) = Uuid::parse_str(id) else {
        return Err(errors::not_found("post"));
    };
    let post = store::find(database(ctx)?, uuid)
        .await
        .map_err(errors::database)?
        .ok_or_else(|| errors::not_found("post"))?;
    if post.author_id == viewer.user_id || has_app_role(ctx, MODERATOR_ROLE).await? {
        return Ok(post);
    }
    if !post.published {
        return Err(errors::not_found("post"));
    }
    Err(errors::forbidden(
        "only the author or an admin may change this post",
    ))
}

fn invalid(error: InvalidField) -> async_graphql::Error {
    errors::invalid_input_field(error.field, error.message)
}

/// The posts slice's part of the subscription root.
#[derive(Default)]
pub struct PostSubscription;

#[Subscription]
impl PostSubscription {
    /// Posts as they are published. Public.
    async fn post_published(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Result<PostObject>>> {
        let db = database(ctx)?.clone();
        let events = ctx
            .data::<PostEvents>()?
            .stream()
            .filter(|event| std::future::ready(event.kind == PostEventKind::Published))
            .filter_map(move |event| {
                let db = db.clone();
                async move {
                    match event.post(&db).await {
                        // A post read after the event (from another replica) that has become a
                        // draft since is nobody's business but its author's.
                        Ok(Some(post)) if post.published => {
                            Some(Ok(PostObject::of_event(post, &event)))
                        }
                        Ok(_) => None,
                        Err(error) => Some(Err(errors::database(error))),
                    }
                }
            });
        Ok(events)
    }

    /// Every change to the signed-in user's own posts.
    #[graphql(directive = auth::apply(None))]
    async fn my_post_events(
        &self,
        ctx: &Context<'_>,
    ) -> Result<impl Stream<Item = Result<PostEventObject>>> {
        let author = ctx.data::<Arc<Viewer>>()?.user_id.clone();
        let db = database(ctx)?.clone();
        let events = ctx
            .data::<PostEvents>()?
            .stream()
            .filter(move |event| std::future::ready(event.author_id == author))
            .filter_map(move |event| {
                let db = db.clone();
                async move {
                    match event.post(&db).await {
                        Ok(Some(post)) => Some(Ok(PostEventObject {
                            kind: event.kind,
                            post: PostObject::of_event(post, &event),
                        })),
                        // Deleted since: its `DELETED` event follows.
                        Ok(None) => None,
                        Err(error) => Some(Err(errors::database(error))),
                    }
                }
            });
        Ok(events)
    }
}

/// A change to a post.
pub struct PostEventObject {
    kind: PostEventKind,
    post: PostObject,
}

#[Object(name = "PostEvent")]
impl PostEventObject {
    async fn kind(&self) -> PostEventKind {
        self.kind
    }

    /// The post after the change (before it, for `DELETED`).
    async fn post(&self) -> &PostObject {
        &self.post
    }
}
