//! For the unit tests of the marks on schemas of their own: the schema extension's
//! authorization step, alone.

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo,
};

use super::Authorization;

/// Installs [`Authorization`] (role claim `metadata.role`) as the only extension.
pub struct Enforce;

impl ExtensionFactory for Enforce {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Enforcer(Authorization::new("metadata.role")))
    }
}

struct Enforcer(Authorization);

#[async_graphql::async_trait::async_trait]
impl Extension for Enforcer {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> async_graphql::ServerResult<Option<async_graphql::Value>> {
        self.0.resolve(ctx, info, next).await
    }
}
