use std::sync::Arc;

use async_graphql::{Json, Object};
use serde_json::{Map, Value};

use crate::auth::Viewer;

/// The GraphQL face of the authenticated viewer.
pub struct ViewerObject(pub Arc<Viewer>);

#[Object(name = "Viewer")]
impl ViewerObject {
    /// Clerk user id (`sub`), e.g. `user_2abc…`.
    async fn user_id(&self) -> &str {
        &self.0.user_id
    }

    /// Clerk session id (`sid`).
    async fn session_id(&self) -> Option<&str> {
        self.0.session_id.as_deref()
    }

    /// Active organisation id, when one is active.
    async fn org_id(&self) -> Option<&str> {
        self.0.org.as_ref().map(|org| org.id.as_str())
    }

    async fn org_slug(&self) -> Option<&str> {
        self.0.org.as_ref().and_then(|org| org.slug.as_deref())
    }

    /// Role in the active organisation, always `org:`-prefixed (e.g. `org:admin`).
    async fn org_role(&self) -> Option<&str> {
        self.0.org.as_ref().and_then(|org| org.role.as_deref())
    }

    /// Permissions in the active organisation, e.g. `org:billing:manage`.
    async fn org_permissions(&self) -> Vec<&str> {
        self.0
            .org
            .as_ref()
            .map(|org| org.permissions.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// The impersonating actor (`act`), while an admin acts as this user.
    async fn actor(&self) -> Option<Json<Value>> {
        self.0.actor.clone().map(Json)
    }

    /// Billing plan (`pla`), e.g. `u:free`.
    async fn plan(&self) -> Option<&str> {
        self.0.plan.as_deref()
    }

    /// Features (`fea`) with their scope prefix, e.g. `o:dashboard`.
    async fn features(&self) -> Vec<&str> {
        self.0.features.iter().map(String::as_str).collect()
    }

    /// Custom session claims (Dashboard → Sessions → Customize session token).
    async fn claims(&self) -> Json<Map<String, Value>> {
        Json(self.0.custom_claims.clone())
    }
}
