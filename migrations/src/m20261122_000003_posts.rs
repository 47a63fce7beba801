//! `posts`: the example domain (owned by users) that shows ownership checks, pagination and
//! batched loading.
use sea_orm_migration::{prelude::*, schema::*};

use crate::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Posts::Table)
                    // UUID v7: time-ordered, so the key is also the listing order and the cursor.
                    .col(uuid(Posts::Id).primary_key())
                    .col(string(Posts::AuthorId))
                    .col(string_len(Posts::Title, 200))
                    .col(text(Posts::Body))
                    .col(boolean(Posts::Published))
                    .col(timestamp_with_time_zone(Posts::CreatedAt))
                    .col(timestamp_with_time_zone(Posts::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("posts_author_id_fkey")
                            .from(Posts::Table, Posts::AuthorId)
                            .to(Users::Table, Users::Id)
                            // Users are never removed (deletion leaves a tombstone row).
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;
        // `Query.posts`: published posts, newest first.
        let published = [Posts::Published, Posts::Id];
        manager
            .create_index(index("posts_published_id", Posts::Table, published))
            .await?;
        // `posts(authorId:)`: one author's posts, newest first.
        let by_author = [Posts::AuthorId, Posts::Id];
        manager
            .create_index(index("posts_author_id_id", Posts::Table, by_author))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Posts::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Posts {
    Table,
    Id,
    AuthorId,
    Title,
    Body,
    Published,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}
