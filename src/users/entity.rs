//! The `users` table: the app's copy of Clerk users (ARCHITECTURE §7). Written only through
//! [`crate::users`], which applies the ordering rules.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    /// The Clerk user id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub email: Option<String>,
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub image_url: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub public_metadata: Json,
    /// Clerk's creation time, Unix milliseconds.
    pub clerk_created_at: i64,
    /// Clerk's last-change time, Unix milliseconds: orders deliveries of the same user.
    pub clerk_updated_at: i64,
    /// When `user.deleted` arrived; the row is then a scrubbed tombstone.
    pub deleted_at: Option<DateTimeUtc>,
    /// When this row was first written here.
    pub inserted_at: DateTimeUtc,
    /// When this row last changed here.
    pub synced_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
