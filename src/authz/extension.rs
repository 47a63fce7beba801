//! The extension that enforces the marks on every field resolution.

use std::sync::{Arc, OnceLock};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};
use async_graphql::{ErrorExtensionValues, PathSegment, ServerError, ServerResult, Value};

use super::RequirementTable;
use super::policy::{AppRoleSource, Denial, evaluate};
use crate::auth::Viewer;

/// Install with `SchemaBuilder::extension(Authorization::new(role_claim))`.
pub struct Authorization {
    table: Arc<OnceLock<RequirementTable>>,
    role_claim: Arc<str>,
}

impl Authorization {
    pub fn new(role_claim: &str) -> Self {
        Self {
            table: Arc::default(),
            role_claim: role_claim.into(),
        }
    }
}

impl ExtensionFactory for Authorization {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(AuthorizationExtension {
            table: Arc::clone(&self.table),
            role_claim: Arc::clone(&self.role_claim),
        })
    }
}

struct AuthorizationExtension {
    /// Built from the registry on first use: the registry is only reachable from a hook.
    table: Arc<OnceLock<RequirementTable>>,
    role_claim: Arc<str>,
}

#[async_graphql::async_trait::async_trait]
impl Extension for AuthorizationExtension {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if !info.is_for_introspection {
            let table = self
                .table
                .get_or_init(|| RequirementTable::from_registry(&ctx.schema_env.registry));
            if let Some(required) = table.get(info.parent_type, info.name) {
                let viewer = ctx.data_opt::<Arc<Viewer>>().map(Arc::as_ref);
                let roles = ctx.data_opt::<Arc<dyn AppRoleSource>>().map(Arc::as_ref);
                if let Err(denial) = evaluate(required, viewer, &self.role_claim, roles).await {
                    return Err(denial_error(&denial, &info));
                }
            }
        }
        next.run(ctx, info).await
    }
}

/// A field error with `path`, `locations` and `extensions.code`, like a resolver's own error.
fn denial_error(denial: &Denial, info: &ResolveInfo<'_>) -> ServerError {
    let (code, message) = match denial {
        Denial::Unauthenticated => (
            "UNAUTHENTICATED",
            "Sign in to access this field.".to_string(),
        ),
        Denial::Forbidden(why) => ("FORBIDDEN", format!("Not allowed: this field {why}.")),
        Denial::Unavailable => (
            "SERVICE_UNAVAILABLE",
            "The user's role could not be loaded from Clerk; try again shortly.".to_string(),
        ),
    };
    let position = info
        .field
        .alias
        .as_ref()
        .map_or(info.field.name.pos, |alias| alias.pos);
    let mut error = ServerError::new(message, Some(position));
    let mut nodes: Vec<_> = std::iter::once(info.path_node)
        .chain(info.path_node.parents())
        .collect();
    nodes.reverse();
    error.path = nodes
        .into_iter()
        .map(|node| match node.segment {
            async_graphql::QueryPathSegment::Name(name) => PathSegment::Field(name.to_string()),
            async_graphql::QueryPathSegment::Index(index) => PathSegment::Index(index),
        })
        .collect();
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", code);
    error.extensions = Some(extensions);
    error
}
