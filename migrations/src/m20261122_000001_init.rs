//! The first migration. It creates no table: it exists so that the migration history (and the
//! `seaql_migrations` bookkeeping table) starts with the template, and so that `migrate status`
//! has something to report on a fresh database. Tables arrive in later migrations.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }

    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
