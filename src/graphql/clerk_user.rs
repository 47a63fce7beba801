use std::sync::Arc;

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Json, Object};
use serde_json::Value;

use super::errors;
use crate::clerk::{ClerkUser, ClerkUserLoader, load_user};

/// A user's live Clerk profile through the request's loader (null when no secret key is
/// configured, or Clerk knows no such user); `SERVICE_UNAVAILABLE` when Clerk does not answer.
pub async fn live_profile(
    ctx: &Context<'_>,
    user_id: &str,
) -> async_graphql::Result<Option<ClerkUserObject>> {
    let Some(loader) = ctx.data_opt::<Arc<DataLoader<ClerkUserLoader>>>() else {
        return Ok(None);
    };
    match load_user(loader, user_id).await {
        Ok(user) => Ok(user.map(ClerkUserObject)),
        Err(error) => {
            tracing::warn!(%error, "could not load a profile from Clerk");
            Err(errors::clerk_unavailable())
        }
    }
}

/// A user as Clerk's Backend API describes it.
pub struct ClerkUserObject(pub Arc<ClerkUser>);

#[Object(name = "ClerkUser")]
impl ClerkUserObject {
    async fn id(&self) -> &str {
        &self.0.id
    }

    /// The primary email address.
    async fn email(&self) -> Option<&str> {
        self.0.primary_email()
    }

    async fn username(&self) -> Option<&str> {
        self.0.username.as_deref()
    }

    async fn first_name(&self) -> Option<&str> {
        self.0.first_name.as_deref()
    }

    async fn last_name(&self) -> Option<&str> {
        self.0.last_name.as_deref()
    }

    async fn image_url(&self) -> Option<&str> {
        self.0.image_url.as_deref()
    }

    async fn public_metadata(&self) -> Json<Value> {
        Json(self.0.public_metadata.clone())
    }

    /// Unix milliseconds, as Clerk reports them.
    async fn created_at(&self) -> f64 {
        self.0.created_at as f64
    }

    async fn updated_at(&self) -> f64 {
        self.0.updated_at as f64
    }

    async fn last_sign_in_at(&self) -> Option<f64> {
        self.0.last_sign_in_at.map(|ms| ms as f64)
    }
}
