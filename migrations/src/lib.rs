//! Database migrations, one file per migration, applied in order.
pub use sea_orm_migration::prelude::*;

mod m20261122_000001_init;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(m20261122_000001_init::Migration)]
    }
}
