//! Deciding whether a viewer meets a field's requirements.

use serde_json::Value;

use super::Requirement;
use crate::auth::Viewer;

/// Clerk could not tell us the user's app role (down, slow or rate-limiting).
#[derive(Debug, Clone, Copy)]
pub struct RoleUnavailable;

/// Where the app role comes from when the session token does not carry it (the Clerk user's
/// `public_metadata.role`). Request data, so that lookups are batched and cached per request.
#[async_graphql::async_trait::async_trait]
pub trait AppRoleSource: Send + Sync {
    async fn app_role(&self, user_id: &str) -> Result<Option<String>, RoleUnavailable>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    Unauthenticated,
    Forbidden(String),
    /// A check needed Clerk and Clerk did not answer: fail closed, but say so, so that clients
    /// retry instead of concluding the user lacks the role.
    Unavailable,
}

pub async fn evaluate(
    required: &[Requirement],
    viewer: Option<&Viewer>,
    role_claim: &str,
    roles: Option<&dyn AppRoleSource>,
) -> Result<(), Denial> {
    let Some(viewer) = viewer else {
        return Err(Denial::Unauthenticated);
    };
    for requirement in required {
        match requirement {
            Requirement::Authenticated => {}
            Requirement::Role(name) if name.starts_with("org:") => {
                let role = viewer.org.as_ref().and_then(|org| org.role.as_deref());
                if role != Some(name.as_str()) {
                    return Err(Denial::Forbidden(format!(
                        "requires the organisation role `{name}`"
                    )));
                }
            }
            Requirement::Role(name) => {
                if !has_app_role(viewer, name, role_claim, roles).await? {
                    return Err(Denial::Forbidden(format!("requires the role `{name}`")));
                }
            }
            Requirement::Permission(name) => {
                let granted = viewer
                    .org
                    .as_ref()
                    .is_some_and(|org| org.permissions.iter().any(|p| p == name));
                if !granted {
                    return Err(Denial::Forbidden(format!(
                        "requires the permission `{name}`"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// The claim decides when the token carries it (a string, or a list of strings); only when it
/// is absent is Clerk asked.
async fn has_app_role(
    viewer: &Viewer,
    name: &str,
    role_claim: &str,
    roles: Option<&dyn AppRoleSource>,
) -> Result<bool, Denial> {
    match viewer.custom_claim(role_claim) {
        Some(Value::String(role)) => Ok(role == name),
        Some(Value::Array(list)) => Ok(list.iter().any(|role| role.as_str() == Some(name))),
        Some(_) => Ok(false),
        None => match roles {
            Some(source) => match source.app_role(&viewer.user_id).await {
                Ok(role) => Ok(role.as_deref() == Some(name)),
                Err(RoleUnavailable) => Err(Denial::Unavailable),
            },
            None => Ok(false),
        },
    }
}
