//! `apiKeys`, `createApiKey`, `revokeApiKey`: a user's (or, for an organisation admin, the
//! active organisation's) API keys.

use std::sync::Arc;

use async_graphql::{Context, ErrorExtensions, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

use super::{ApiKeyManagement, rules};
use crate::auth::Viewer;
use crate::authz::directives::auth;
use crate::clerk::{ApiKey, ClerkError, NewApiKey};
use crate::graphql::errors;

/// An API key, without its secret.
#[derive(SimpleObject)]
#[graphql(name = "ApiKey")]
pub struct ApiKeyObject {
    pub id: ID,
    pub name: String,
    /// `user_…` or `org_…`: whom the key acts for.
    pub subject: String,
    pub scopes: Vec<String>,
    /// Null: never expires.
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked: bool,
}

impl From<ApiKey> for ApiKeyObject {
    fn from(key: ApiKey) -> Self {
        let time = |millis: Option<i64>| millis.and_then(DateTime::from_timestamp_millis);
        Self {
            id: ID(key.id),
            name: key.name,
            subject: key.subject,
            scopes: key.scopes,
            expires_at: time(key.expiration),
            created_at: time(key.created_at),
            last_used_at: time(key.last_used_at),
            revoked: key.revoked,
        }
    }
}

/// A key just created. `secret` is shown this once: Clerk keeps only its hash, and this server
/// neither logs nor stores it.
#[derive(SimpleObject)]
pub struct CreatedApiKey {
    pub api_key: ApiKeyObject,
    /// `ak_…`: send it as `Authorization: Bearer <secret>`.
    pub secret: String,
}

#[derive(Default)]
pub struct ApiKeyQuery;

#[Object]
impl ApiKeyQuery {
    /// The signed-in user's API keys (with `organization: true`, the active organisation's, for
    /// its admins). Revoked and expired keys are not listed.
    #[graphql(directive = auth::apply(None))]
    async fn api_keys(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = false)] organization: bool,
    ) -> Result<Vec<ApiKeyObject>> {
        let (management, subject) = management_for(ctx, organization)?;
        // Boxed: a large future here would be copied with every field of this type (ARCHITECTURE §2).
        let keys = Box::pin(management.clerk.list_api_keys(&subject))
            .await
            .map_err(clerk_error)?;
        Ok(keys.into_iter().map(ApiKeyObject::from).collect())
    }
}

#[derive(Default)]
pub struct ApiKeyMutation;

#[Object]
impl ApiKeyMutation {
    /// Creates an API key acting for the signed-in user (with `organization: true`, for the
    /// active organisation: its admins only). `scopes` must be among `API_KEY_ALLOWED_SCOPES`;
    /// `expiresInSeconds` null means never. The answer is the only time the secret is shown.
    #[graphql(directive = auth::apply(None))]
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        name: String,
        #[graphql(default)] scopes: Vec<String>,
        expires_in_seconds: Option<i64>,
        #[graphql(default = false)] organization: bool,
    ) -> Result<CreatedApiKey> {
        let (management, subject) = management_for(ctx, organization)?;
        let name = rules::name(&name)?;
        let scopes = rules::scopes(scopes, &management.allowed_scopes)?;
        let lifetime = rules::lifetime(expires_in_seconds)?;
        let viewer = ctx.data::<Arc<Viewer>>()?;
        let created = management
            .clerk
            .create_api_key(NewApiKey {
                name,
                subject: &subject,
                scopes: &scopes,
                seconds_until_expiration: lifetime,
                created_by: &viewer.user_id,
            })
            .await
            .map_err(clerk_error)?;
        tracing::info!(api_key_id = %created.key.id, "API key created");
        Ok(CreatedApiKey {
            api_key: created.key.into(),
            secret: created.secret,
        })
    }

    /// Revokes one of the signed-in user's keys (with `organization: true`, one of the active
    /// organisation's, for its admins). Another subject's key is `NOT_FOUND`. The key is refused
    /// at once by this server (by other replicas within a minute: verified keys are trusted for
    /// up to 60 s).
    #[graphql(directive = auth::apply(None))]
    async fn revoke_api_key(
        &self,
        ctx: &Context<'_>,
        id: ID,
        #[graphql(default = false)] organization: bool,
    ) -> Result<ApiKeyObject> {
        let (management, subject) = management_for(ctx, organization)?;
        // Clerk revokes any key of the instance by id: the subject's list says whose it is.
        let keys = management
            .clerk
            .list_api_keys(&subject)
            .await
            .map_err(clerk_error)?;
        if !keys.iter().any(|key| key.id == id.as_str()) {
            return Err(errors::not_found("API key"));
        }
        let revoked = management
            .clerk
            .revoke_api_key(&id)
            .await
            .map_err(clerk_error)?
            .ok_or_else(|| errors::not_found("API key"))?;
        management.machine_tokens.forget(&revoked.id).await;
        tracing::info!(api_key_id = %revoked.id, "API key revoked");
        Ok(revoked.into())
    }
}

/// The management data and whose keys are meant: the viewer's, or (`organization`) the active
/// organisation's when the viewer is its admin.
fn management_for<'c>(
    ctx: &Context<'c>,
    organization: bool,
) -> Result<(&'c ApiKeyManagement, String)> {
    let viewer = ctx.data::<Arc<Viewer>>()?;
    let subject = if organization {
        match &viewer.org {
            Some(org) if org.role.as_deref() == Some("org:admin") => org.id.clone(),
            Some(_) => {
                return Err(errors::forbidden(
                    "only an admin of the active organisation manages its API keys",
                ));
            }
            None => {
                return Err(errors::bad_user_input(
                    "organization",
                    "no active organisation",
                ));
            }
        }
    } else {
        viewer.user_id.clone()
    };
    let management = ctx
        .data_opt::<ApiKeyManagement>()
        .ok_or_else(errors::clerk_unavailable)?;
    Ok((management, subject))
}

fn clerk_error(error: ClerkError) -> async_graphql::Error {
    if error.is_unavailable() {
        return errors::clerk_unavailable();
    }
    tracing::error!(%error, "Clerk's API-key endpoints answered unexpectedly");
    async_graphql::Error::new("Internal server error.")
        .extend_with(|_, e| e.set("code", "INTERNAL_SERVER_ERROR"))
}
