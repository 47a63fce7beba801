//! Authorization checks inside resolvers, for rules a directive cannot express (ownership: "the
//! author, or an admin"). Same policy as the directives, so a role means the same thing in both.

use std::sync::Arc;

use async_graphql::{Context, Result};

use super::errors;
use crate::auth::Viewer;
use crate::authz::{AppRoleSource, Denial, Requirement, evaluate};

/// Whether the viewer holds the app role (or, for `org:` names, the organisation role).
/// `SERVICE_UNAVAILABLE` when the role had to come from Clerk and Clerk did not answer.
/// Schema data: the dot path of the app role in the session claims (`CLERK_ROLE_CLAIM`).
pub struct RoleClaim(pub String);

pub async fn has_app_role(ctx: &Context<'_>, role: &str) -> Result<bool> {
    let viewer = ctx.data_opt::<Arc<Viewer>>().map(Arc::as_ref);
    let roles = ctx.data_opt::<Arc<dyn AppRoleSource>>().map(Arc::as_ref);
    let claim = ctx
        .data_opt::<RoleClaim>()
        .map_or("metadata.role", |claim| claim.0.as_str());
    match evaluate(&[Requirement::Role(role.to_string())], viewer, claim, roles).await {
        Ok(()) => Ok(true),
        Err(Denial::Unauthenticated | Denial::Forbidden(_)) => Ok(false),
        Err(Denial::Unavailable) => Err(errors::clerk_unavailable()),
    }
}
