//! App roles from Clerk user metadata, for `@role` checks whose token carries no role claim.

use std::sync::Arc;

use async_graphql::dataloader::DataLoader;

use super::{AppRoleSource, RoleUnavailable};
use crate::clerk::{ClerkUserLoader, load_user};

/// Request data: looks roles up through the request's user loader, so a role check and a
/// `Viewer.profile` in the same request share one Backend API call.
pub struct ClerkRoles(pub Arc<DataLoader<ClerkUserLoader>>);

#[async_graphql::async_trait::async_trait]
impl AppRoleSource for ClerkRoles {
    async fn app_role(&self, user_id: &str) -> Result<Option<String>, RoleUnavailable> {
        match load_user(&self.0, user_id).await {
            Ok(user) => Ok(user.and_then(|user| user.app_role().map(str::to_string))),
            Err(error) => {
                tracing::warn!(%error, "could not load the user's role from Clerk");
                Err(RoleUnavailable)
            }
        }
    }
}
