use std::sync::Arc;

use async_graphql::{Context, Json, Object};
use serde_json::{Map, Value};

use crate::auth::Viewer;
use crate::authz::AppRoleSource;
use crate::authz::directives::ViewerKind;
use crate::graphql::RoleClaim;
use crate::graphql::clerk_user::{ClerkUserObject, live_profile};
use crate::graphql::errors;

/// The GraphQL face of the authenticated viewer.
pub struct ViewerObject(pub Arc<Viewer>);

#[Object(name = "Viewer")]
impl ViewerObject {
    /// Clerk user id (`sub`), e.g. `user_2abc…`; for a machine caller, its subject (as
    /// `subject`).
    async fn user_id(&self) -> &str {
        &self.0.user_id
    }

    /// What authenticated the request: a user session or a machine caller.
    async fn kind(&self) -> ViewerKind {
        self.0.kind.into()
    }

    /// Who the token speaks for: `user_…` (a session, a user's API key, an OAuth token),
    /// `org_…` (an organisation's API key) or `mch_…` (an M2M machine).
    async fn subject(&self) -> &str {
        &self.0.user_id
    }

    /// Scopes granted by a machine token; empty for a session.
    async fn scopes(&self) -> Vec<&str> {
        self.0.scopes.iter().map(String::as_str).collect()
    }

    /// The OAuth application acting for the user (OAuth access tokens only).
    async fn client_id(&self) -> Option<&str> {
        self.0.client_id.as_deref()
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

    /// The app role: the session claim at `CLERK_ROLE_CLAIM` when the token carries it, else
    /// `public_metadata.role` of the Clerk user (loaded lazily, cached).
    async fn role(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<String>> {
        let claim = ctx
            .data_opt::<RoleClaim>()
            .map_or("metadata.role", |c| c.0.as_str());
        if !self.0.is_session() {
            // A machine caller holds no app role (ARCHITECTURE §5).
            return Ok(None);
        }
        match self.0.custom_claim(claim) {
            Some(Value::String(role)) => return Ok(Some(role.clone())),
            Some(_) => return Ok(None),
            None => {}
        }
        let Some(roles) = ctx.data_opt::<Arc<dyn AppRoleSource>>() else {
            return Ok(None);
        };
        roles
            .app_role(&self.0.user_id)
            .await
            .map_err(|_| errors::clerk_unavailable())
    }

    /// The user's profile, live from Clerk's Backend API (null when no secret key is configured).
    async fn profile(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<ClerkUserObject>> {
        live_profile(ctx, &self.0.user_id).await
    }
}
