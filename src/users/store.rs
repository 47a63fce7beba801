//! Writing Clerk users into `users` with the rules that keep the copy right whatever order
//! deliveries arrive in (ARCHITECTURE §8):
//!
//! - a snapshot (webhook payload, Backend API answer) is applied only if it is **newer** than the
//!   row (`updated_at` strictly greater): a redelivery or an older event changes nothing;
//! - a deleted user stays deleted: deletion is final in Clerk (ids are never reused), so no
//!   snapshot revives a tombstone, and a deletion that arrives before the creation leaves a
//!   tombstone that the late creation cannot overwrite.
//!
//! Every write is a conditional statement evaluated by the database (insert-if-absent, then
//! update-if-newer), never read-then-write in the application, so two writers racing on the same
//! user (a webhook and `sync-users`, two webhook retries) cannot both win.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect,
    TryInsertResult,
};
use serde_json::{Value, json};

use crate::clerk::ClerkUser;
use crate::users::entity::{ActiveModel, Column, Entity as Users};

/// What applying one snapshot did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotOutcome {
    Created,
    Updated,
    /// The row was as new as the snapshot, or newer.
    Unchanged,
    /// The user was deleted here; the snapshot was ignored.
    DeletedLocally,
}

impl SnapshotOutcome {
    /// For logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
            Self::DeletedLocally => "ignored_deleted",
        }
    }
}

/// What applying one deletion did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeletionOutcome {
    /// The user existed and is now a scrubbed tombstone.
    Deleted,
    /// The user was unknown: a tombstone now guards against a late `user.created`.
    Tombstoned,
    AlreadyDeleted,
}

impl DeletionOutcome {
    /// For logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deleted => "deleted",
            Self::Tombstoned => "tombstoned",
            Self::AlreadyDeleted => "already_deleted",
        }
    }
}

/// Applies a Clerk user snapshot under the ordering rules above.
pub async fn apply_snapshot<C: ConnectionTrait>(
    db: &C,
    user: &ClerkUser,
    now: DateTime<Utc>,
) -> Result<SnapshotOutcome, DbErr> {
    let row = snapshot_row(user, now);
    if insert_if_absent(db, row.clone()).await? {
        return Ok(SnapshotOutcome::Created);
    }
    let updated = Users::update_many()
        .set(ActiveModel {
            inserted_at: Default::default(),
            ..row
        })
        .filter(Column::Id.eq(user.id.as_str()))
        .filter(Column::DeletedAt.is_null())
        .filter(Column::ClerkUpdatedAt.lt(user.updated_at))
        .exec(db)
        .await?;
    if updated.rows_affected > 0 {
        return Ok(SnapshotOutcome::Updated);
    }
    Ok(if is_deleted(db, &user.id).await? {
        SnapshotOutcome::DeletedLocally
    } else {
        SnapshotOutcome::Unchanged
    })
}

/// The row a Clerk user snapshot makes, as it would be stored at `now`.
pub fn snapshot_row(user: &ClerkUser, now: DateTime<Utc>) -> ActiveModel {
    ActiveModel {
        id: Set(user.id.clone()),
        email: Set(user.primary_email().map(str::to_string)),
        username: Set(user.username.clone()),
        first_name: Set(user.first_name.clone()),
        last_name: Set(user.last_name.clone()),
        image_url: Set(user.image_url.clone()),
        public_metadata: Set(user.public_metadata.clone()),
        clerk_created_at: Set(user.created_at),
        clerk_updated_at: Set(user.updated_at),
        deleted_at: Set(None),
        inserted_at: Set(now),
        synced_at: Set(now),
    }
}

/// Marks a user deleted and scrubs their personal data (email, names, username, image,
/// metadata). The id and Clerk's creation time stay: rows elsewhere may still point at the id.
pub async fn apply_deletion<C: ConnectionTrait>(
    db: &C,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<DeletionOutcome, DbErr> {
    let tombstone = ActiveModel {
        id: Set(user_id.to_string()),
        email: Set(None),
        username: Set(None),
        first_name: Set(None),
        last_name: Set(None),
        image_url: Set(None),
        public_metadata: Set(empty_metadata()),
        clerk_created_at: Set(0),
        clerk_updated_at: Set(0),
        deleted_at: Set(Some(now)),
        inserted_at: Set(now),
        synced_at: Set(now),
    };
    if insert_if_absent(db, tombstone).await? {
        return Ok(DeletionOutcome::Tombstoned);
    }
    let scrubbed = Users::update_many()
        .col_expr(Column::Email, Expr::value(Option::<String>::None))
        .col_expr(Column::Username, Expr::value(Option::<String>::None))
        .col_expr(Column::FirstName, Expr::value(Option::<String>::None))
        .col_expr(Column::LastName, Expr::value(Option::<String>::None))
        .col_expr(Column::ImageUrl, Expr::value(Option::<String>::None))
        .col_expr(Column::PublicMetadata, Expr::value(empty_metadata()))
        .col_expr(Column::DeletedAt, Expr::value(Some(now)))
        .col_expr(Column::SyncedAt, Expr::value(now))
        .filter(Column::Id.eq(user_id))
        .filter(Column::DeletedAt.is_null())
        .exec(db)
        .await?;
    Ok(if scrubbed.rows_affected > 0 {
        DeletionOutcome::Deleted
    } else {
        DeletionOutcome::AlreadyDeleted
    })
}

/// `INSERT … ON CONFLICT (id) DO NOTHING`; true when the row was inserted.
async fn insert_if_absent<C: ConnectionTrait>(db: &C, row: ActiveModel) -> Result<bool, DbErr> {
    let result = Users::insert(row)
        .on_conflict_do_nothing_on([Column::Id])
        .exec_without_returning(db)
        .await?;
    Ok(matches!(result, TryInsertResult::Inserted(rows) if rows > 0))
}

async fn is_deleted<C: ConnectionTrait>(db: &C, user_id: &str) -> Result<bool, DbErr> {
    let deleted_at: Option<Option<DateTime<Utc>>> = Users::find_by_id(user_id)
        .select_only()
        .column(Column::DeletedAt)
        .into_tuple()
        .one(db)
        .await?;
    Ok(matches!(deleted_at, Some(Some(_))))
}

fn empty_metadata() -> Value {
    json!({})
}
