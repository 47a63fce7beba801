use std::sync::Arc;

use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Json, Object, Result};
use serde_json::Value;

use super::errors;
use super::personal_data::PersonalFields;
use crate::authz::directives::owner_or_role;
use crate::authz::{Owned, check_owner};
use crate::clerk::{ClerkUser, ClerkUserLoader, load_user};

/// A user's live Clerk profile through the request's loader (null when no secret key is
/// configured, or Clerk knows no such user); `SERVICE_UNAVAILABLE` when Clerk does not answer.
pub async fn live_profile(ctx: &Context<'_>, user_id: &str) -> Result<Option<ClerkUserObject>> {
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

pub struct ClerkUserObject(pub Arc<ClerkUser>);

impl Owned for ClerkUserObject {
    fn owner_id(&self) -> &str {
        &self.0.id
    }
}

/// A user as Clerk's Backend API describes it, reached by admins (`User.profile`) and by the user
/// themself (`Viewer.profile`). Its personal fields carry the same `@ownerOrRole` as `User`'s, so
/// the rule holds on any path that returns this type.
#[Object(name = "ClerkUser")]
impl ClerkUserObject {
    async fn id(&self) -> &str {
        &self.0.id
    }

    /// Email, username, names, image.
    #[graphql(flatten)]
    async fn personal(&self) -> PersonalFields<'_> {
        let user = &self.0;
        PersonalFields {
            owner_id: &user.id,
            email: user.primary_email(),
            username: user.username.as_deref(),
            first_name: user.first_name.as_deref(),
            last_name: user.last_name.as_deref(),
            image_url: user.image_url.as_deref(),
        }
    }

    #[graphql(directive = owner_or_role::apply("admin".into()))]
    async fn public_metadata(&self, ctx: &Context<'_>) -> Result<Option<Json<&Value>>> {
        check_owner(ctx, self).await?;
        Ok(Some(Json(&self.0.public_metadata)))
    }

    /// Unix milliseconds, as Clerk reports them.
    #[graphql(directive = owner_or_role::apply("admin".into()))]
    async fn created_at(&self, ctx: &Context<'_>) -> Result<Option<f64>> {
        check_owner(ctx, self).await?;
        Ok(Some(self.0.created_at as f64))
    }

    #[graphql(directive = owner_or_role::apply("admin".into()))]
    async fn updated_at(&self, ctx: &Context<'_>) -> Result<Option<f64>> {
        check_owner(ctx, self).await?;
        Ok(Some(self.0.updated_at as f64))
    }

    #[graphql(directive = owner_or_role::apply("admin".into()))]
    async fn last_sign_in_at(&self, ctx: &Context<'_>) -> Result<Option<f64>> {
        check_owner(ctx, self).await?;
        Ok(self.0.last_sign_in_at.map(|ms| ms as f64))
    }
}
