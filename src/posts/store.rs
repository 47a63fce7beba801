//! Reading and writing posts. Who may do what is decided by the caller (see
//! `graphql::post`); this module only knows visibility filters and the statements.

use chrono::{DateTime, Utc};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, Iterable,
    QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::posts::entity::{ActiveModel, Column, Entity as Posts, Model as Post};

pub struct NewPost {
    pub title: String,
    pub body: String,
    pub published: bool,
}

/// The fields to change; `None` leaves a field as it is.
#[derive(Default)]
pub struct PostChanges {
    pub title: Option<String>,
    pub body: Option<String>,
    pub published: Option<bool>,
}

pub async fn create<C: ConnectionTrait>(
    db: &C,
    author_id: &str,
    post: NewPost,
    now: DateTime<Utc>,
) -> Result<Post, DbErr> {
    ActiveModel {
        id: Set(Uuid::now_v7()),
        author_id: Set(author_id.to_string()),
        title: Set(post.title),
        body: Set(post.body),
        published: Set(post.published),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await
}

pub async fn find<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<Option<Post>, DbErr> {
    Posts::find_by_id(id).one(db).await
}

/// The post as changed, or `None` when it no longer exists: deleted since the caller read it.
pub async fn update<C: ConnectionTrait>(
    db: &C,
    post: Post,
    changes: PostChanges,
    now: DateTime<Utc>,
) -> Result<Option<Post>, DbErr> {
    let updated = ActiveModel {
        id: Set(post.id),
        title: changes.title.map_or(NotSet, Set),
        body: changes.body.map_or(NotSet, Set),
        published: changes.published.map_or(NotSet, Set),
        updated_at: Set(now),
        ..Default::default()
    }
    .update(db)
    .await;
    match updated {
        Ok(post) => Ok(Some(post)),
        // sea-orm's way of saying that no row matched: `UPDATE … RETURNING` returned nothing
        // (RecordNotUpdated), or, on a database without RETURNING, the row could not be read
        // back (RecordNotFound).
        Err(DbErr::RecordNotUpdated | DbErr::RecordNotFound(_)) => Ok(None),
        Err(error) => Err(error),
    }
}

/// True when a row was deleted.
pub async fn delete<C: ConnectionTrait>(db: &C, id: Uuid) -> Result<bool, DbErr> {
    Ok(Posts::delete_by_id(id).exec(db).await?.rows_affected > 0)
}

/// Which posts a listing shows.
pub enum Listing<'a> {
    /// Everyone's published posts.
    Published,
    /// One author's published posts, or all of them (drafts too) for the author themself.
    ByAuthor {
        author_id: &'a str,
        with_drafts: bool,
    },
}

/// Whether a page's posts carry their `body`. PostBodies are up to 20,000 characters each, and a
/// listing that does not show them should not read them: with 20,000-character bodies, a page of
/// 50 posts and their authors that did not show them took 7.0 M instructions instead of 3.8 M
/// (bench/README.md, "What was measured").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PostBodies {
    Included,
    /// Each post's `body` is empty.
    Omitted,
}

pub struct PostPage {
    pub posts: Vec<Post>,
    pub has_next_page: bool,
}

/// Up to `first` posts, newest first, strictly older than the post `after` (UUID v7 ids sort by
/// creation time, so the id is the cursor).
pub async fn page<C: ConnectionTrait>(
    db: &C,
    listing: Listing<'_>,
    first: u64,
    after: Option<Uuid>,
    bodies: PostBodies,
) -> Result<PostPage, DbErr> {
    let mut condition = Condition::all();
    match listing {
        Listing::Published => condition = condition.add(Column::Published.eq(true)),
        Listing::ByAuthor {
            author_id,
            with_drafts,
        } => {
            condition = condition.add(Column::AuthorId.eq(author_id));
            if !with_drafts {
                condition = condition.add(Column::Published.eq(true));
            }
        }
    }
    if let Some(after) = after {
        condition = condition.add(Column::Id.lt(after));
    }
    let mut select = Posts::find();
    if bodies == PostBodies::Omitted {
        // Every column but `body`, and an empty `body` so that the rows still make models.
        select = select
            .select_only()
            .columns(Column::iter().filter(|column| !matches!(column, Column::Body)))
            .column_as(Expr::cust("CAST('' AS TEXT)"), "body");
    }
    let mut posts = select
        .filter(condition)
        .order_by_desc(Column::Id)
        .limit(first + 1)
        .all(db)
        .await?;
    let has_next_page = posts.len() as u64 > first;
    posts.truncate(first as usize);
    Ok(PostPage {
        posts,
        has_next_page,
    })
}
