//! Lazy provisioning: the signed-in user's row, created on first use when their `user.created`
//! webhook has not arrived yet (webhooks are late, or lost while the server was down).

use std::sync::Arc;

use async_graphql::dataloader::DataLoader;
use chrono::Utc;
use sea_orm::{ConnectionTrait, DbErr, EntityTrait, TryIntoModel};

use super::store::{apply_snapshot, snapshot_row};
use serde_json::Value;

use crate::auth::Viewer;
use crate::clerk::{ClerkError, ClerkUser, ClerkUserLoader, EmailAddress};
use crate::users::entity::{Entity as Users, Model as User};

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("database: {0}")]
    Database(#[from] DbErr),
    #[error("Clerk's Backend API: {0}")]
    Clerk(#[from] ClerkError),
}

/// Whether provisioning may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provisioning {
    /// Insert the row (a `POST`).
    Store,
    /// Answer the row as it would be stored, without writing it: a `GET` never writes (a
    /// cross-site `<img>` can send one with the user's cookie). The next `POST` stores it.
    InMemory,
}

/// The viewer's row, provisioning it when absent. `None` when the user is deleted here, or
/// unknown to Clerk. Without Clerk's Backend API (no secret key, e.g. dev mode), the row is
/// created from the session token: the id, the `email` claim and the `metadata` claim as public
/// metadata, with Clerk times of 0 so that the first real snapshot (webhook, `sync-users`)
/// overwrites it.
pub async fn current_user<C: ConnectionTrait>(
    db: &C,
    viewer: &Viewer,
    clerk: Option<&DataLoader<ClerkUserLoader>>,
    provisioning: Provisioning,
) -> Result<Option<User>, ProvisionError> {
    let user_id = viewer.user_id.as_str();
    if let Some(row) = Users::find_by_id(user_id).one(db).await? {
        return Ok(row.deleted_at.is_none().then_some(row));
    }
    let snapshot = match clerk {
        Some(loader) => match loader.load_one(user_id.to_string()).await? {
            Some(user) => user,
            None => return Ok(None),
        },
        None => Arc::new(snapshot_from_claims(viewer)),
    };
    if provisioning == Provisioning::InMemory {
        return Ok(Some(snapshot_row(&snapshot, Utc::now()).try_into_model()?));
    }
    // The same rules as a webhook: if one raced us here, the newer data stays.
    apply_snapshot(db, &snapshot, Utc::now()).await?;
    Ok(super::lookup::find_active(db, user_id).await?)
}

fn snapshot_from_claims(viewer: &Viewer) -> ClerkUser {
    let mut user = ClerkUser::with_id(&viewer.user_id);
    if let Some(Value::String(email)) = viewer.custom_claim("email") {
        user.email_addresses = vec![EmailAddress {
            id: "session_claim".into(),
            email_address: email.clone(),
        }];
        user.primary_email_address_id = Some("session_claim".into());
    }
    if let Some(metadata @ Value::Object(_)) = viewer.custom_claim("metadata") {
        user.public_metadata = metadata.clone();
    }
    user
}
