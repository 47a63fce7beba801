//! `users`: the app's copy of Clerk users, kept current by webhooks, lazy provisioning and
//! `sync-users`. `webhook_events`: one row per Svix message applied, so that a redelivery is
//! recognised and applied once.
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
                    .table(Users::Table)
                    // The Clerk user id (`user_…`): the key every other table joins on.
                    .col(string(Users::Id).primary_key())
                    .col(string_null(Users::Email))
                    .col(string_null(Users::Username))
                    .col(string_null(Users::FirstName))
                    .col(string_null(Users::LastName))
                    .col(text_null(Users::ImageUrl))
                    .col(json_binary(Users::PublicMetadata))
                    // Clerk's own times, Unix milliseconds. `clerk_updated_at` orders deliveries:
                    // an event older than the row never overwrites it.
                    .col(big_integer(Users::ClerkCreatedAt))
                    .col(big_integer(Users::ClerkUpdatedAt))
                    // Set once, by `user.deleted`; the row stays as a tombstone so that a late
                    // `user.updated` cannot bring the user back.
                    .col(timestamp_with_time_zone_null(Users::DeletedAt))
                    .col(timestamp_with_time_zone(Users::InsertedAt))
                    .col(timestamp_with_time_zone(Users::SyncedAt))
                    .to_owned(),
            )
            .await?;
        // `Query.users` pages in (clerk_created_at, id) order.
        let by_creation = [Users::ClerkCreatedAt, Users::Id];
        let by_creation = index("users_clerk_created_at_id", Users::Table, by_creation);
        manager.create_index(by_creation).await?;
        manager
            .create_index(index("users_email", Users::Table, [Users::Email]))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookEvents::Table)
                    // The `svix-id` header: the same for every retry of one message.
                    .col(string(WebhookEvents::SvixId).primary_key())
                    .col(string(WebhookEvents::EventType))
                    .col(timestamp_with_time_zone(WebhookEvents::ReceivedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebhookEvents::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Users::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    Username,
    FirstName,
    LastName,
    ImageUrl,
    PublicMetadata,
    ClerkCreatedAt,
    ClerkUpdatedAt,
    DeletedAt,
    InsertedAt,
    SyncedAt,
}

#[derive(DeriveIden)]
enum WebhookEvents {
    Table,
    SvixId,
    EventType,
    ReceivedAt,
}
