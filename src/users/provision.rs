//! Lazy provisioning: the signed-in user's row, created on first use when their `user.created`
//! webhook has not arrived yet (webhooks are late, or lost while the server was down).

use std::sync::Arc;

use async_graphql::dataloader::DataLoader;
use chrono::Utc;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait};

use super::store::apply_snapshot;
use crate::clerk::{ClerkError, ClerkUser, ClerkUserLoader};
use crate::db::users::{Entity as Users, Model as User};

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("database: {0}")]
    Database(#[from] DbErr),
    #[error("Clerk's Backend API: {0}")]
    Clerk(#[from] ClerkError),
}

/// The row of `user_id`, provisioning it when absent. `None` when the user is deleted here, or
/// unknown to Clerk. Without Clerk's Backend API (no secret key), the row is created from the id
/// alone, with Clerk times of 0, so that the first real snapshot (webhook, `sync-users`)
/// overwrites it.
pub async fn current_user<C: ConnectionTrait>(
    db: &C,
    user_id: &str,
    clerk: Option<&DataLoader<ClerkUserLoader>>,
) -> Result<Option<User>, ProvisionError> {
    if let Some(row) = Users::find_by_id(user_id).one(db).await? {
        return Ok(row.deleted_at.is_none().then_some(row));
    }
    let snapshot = match clerk {
        Some(loader) => match loader.load_one(user_id.to_string()).await? {
            Some(user) => user,
            None => return Ok(None),
        },
        None => Arc::new(ClerkUser::with_id(user_id)),
    };
    // The same rules as a webhook: if one raced us here, the newer data stays.
    apply_snapshot(db, &snapshot, Utc::now()).await?;
    Ok(super::directory::find_active(db, user_id).await?)
}
