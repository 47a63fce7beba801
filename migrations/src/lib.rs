//! Database migrations, one file per migration, applied in order.
pub use sea_orm_migration::prelude::*;

mod m20261122_000001_init;
mod m20261122_000002_users_and_webhook_events;
mod m20261122_000003_posts;

pub struct Migrator;

/// `CREATE INDEX name ON table (columns…)`, the columns in the order a listing pages or a lookup
/// searches by. Applied migrations must keep emitting the same statements: a different index is
/// a new helper, never a change to this one.
fn index<C: IntoIndexColumn>(
    name: &str,
    table: impl IntoTableRef,
    columns: impl IntoIterator<Item = C>,
) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table);
    for column in columns {
        index.col(column);
    }
    index.to_owned()
}

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
