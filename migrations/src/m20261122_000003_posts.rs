//! `posts`: the example domain (owned by users) that shows ownership checks, pagination and
//! batched loading.
use sea_orm_migration::{prelude::*, schema::*};

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
        manager
            .create_index(
                Index::create()
                    .name("posts_published_id")
                    .table(Posts::Table)
                    .col(Posts::Published)
                    .col(Posts::Id)
                    .to_owned(),
            )
            .await?;
        // `posts(authorId:)`: one author's posts, newest first.
        manager
            .create_index(
                Index::create()
                    .name("posts_author_id_id")
                    .table(Posts::Table)
                    .col(Posts::AuthorId)
                    .col(Posts::Id)
                    .to_owned(),
            )
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
