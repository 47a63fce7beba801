//! The `webhook_events` table: one row per applied Svix message, keyed by its `svix-id`.

use chrono::{DateTime, Utc};
use sea_orm::entity::prelude::*;
use sea_orm::sea_query::Query;
use sea_orm::{ConnectionTrait, QueryFilter};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub svix_id: String,
    pub event_type: String,
    pub received_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Deletes at most `limit` rows received before `cutoff`, in one statement; how many it deleted.
///
/// One bounded statement at a time (`DELETE … WHERE svix_id IN (SELECT … LIMIT n)`, which SQLite
/// and PostgreSQL both take) keeps each transaction short, so that deliveries arriving meanwhile
/// never wait long for SQLite's write lock or for PostgreSQL's row locks. Without an index on
/// `received_at` the sub-select reads the table in storage order, which is roughly arrival order:
/// old rows come first, and the last, empty batch reads the table once.
pub async fn delete_received_before<C: ConnectionTrait>(
    db: &C,
    cutoff: DateTime<Utc>,
    limit: u64,
) -> Result<u64, DbErr> {
    let oldest = Query::select()
        .column(Column::SvixId)
        .from(Entity)
        .and_where(Column::ReceivedAt.lt(cutoff))
        .limit(limit)
        .to_owned();
    let deleted = Entity::delete_many()
        .filter(Column::SvixId.in_subquery(oldest))
        .exec(db)
        .await?;
    Ok(deleted.rows_affected)
}
