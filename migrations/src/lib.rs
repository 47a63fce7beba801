//! Database migrations, one file per migration, applied in order.
pub use sea_orm_migration::prelude::*;

mod m20261122_000001_init;
mod m20261122_000002_users_and_webhook_events;
mod m20261122_000003_posts;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_init::Migration),
            Box::new(m20261122_000002_users_and_webhook_events::Migration),
            Box::new(m20261122_000003_posts::Migration),
        ]
    }
}
