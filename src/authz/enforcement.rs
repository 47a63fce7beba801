//! Enforcing the marks: each field resolution and, once, each subscription's root fields. Called
//! by the schema's extension (`crate::graphql::extension`, installed by `build_schema`).

use std::sync::{Arc, OnceLock};

use async_graphql::extensions::{ExtensionContext, NextResolve, ResolveInfo};
use async_graphql::parser::types::{
    ExecutableDocument, Field, OperationType, Selection, SelectionSet,
};
use async_graphql::{
    ErrorExtensionValues, PathSegment, Positioned, QueryPathNode, ServerError, ServerResult, Value,
};

use super::ownership::OwnerScope;
use super::policy::{AppRoleSource, evaluate};
use super::{Requirement, RequirementTable};
use crate::auth::Viewer;

/// The enforcer of one schema.
pub struct Authorization {
    /// Built from the registry on first use: the registry is only reachable from a hook.
    table: OnceLock<RequirementTable>,
    /// Shared with the resolvers of `@ownerOrRole` fields (see `super::ownership`).
    role_claim: Arc<str>,
}

impl Authorization {
    pub fn new(role_claim: &str) -> Self {
        Self {
            table: OnceLock::new(),
            role_claim: Arc::from(role_claim),
        }
    }

    /// Subscription root fields are checked once, before their stream starts: the per-field
    /// check below only runs for each event, so without this a denied subscriber would keep a
    /// stream open and receive an error per event.
    pub async fn check_subscriptions(
        &self,
        ctx: &ExtensionContext<'_>,
        document: &ExecutableDocument,
    ) -> ServerResult<()> {
        let Some(subscription) = ctx.schema_env.registry.subscription_type.as_deref() else {
            return Ok(());
        };
        let table = self.table(ctx);
        for (_, operation) in document.operations.iter() {
            if operation.node.ty != OperationType::Subscription {
                continue;
            }
            for field in root_fields(document, &operation.node.selection_set.node) {
                let Some(required) = table.get(subscription, &field.node.name.node) else {
                    continue;
                };
                if let Err(denial) =
                    evaluate(required, viewer(ctx), &self.role_claim, roles(ctx)).await
                {
                    // A request error (nothing has run, so no `path`, as the GraphQL spec says
                    // of request errors); `locations` points at the field.
                    let mut error = ServerError::new(denial.message(), Some(field.pos));
                    error.extensions = Some(code_extension(denial.code()));
                    return Err(error);
                }
            }
        }
        Ok(())
    }

    /// Resolves a field if the viewer may read it; else a field error (with its path) and the
    /// resolver does not run. An `@ownerOrRole` field's resolver runs in an [`OwnerScope`], and
    /// its result is kept only if its `check_owner` allowed it.
    pub async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if info.is_for_introspection {
            return next.run(ctx, info).await;
        }
        // Most fields have no mark: one lookup, no await.
        let Some(required) = self.table(ctx).get(info.parent_type, info.name) else {
            return next.run(ctx, info).await;
        };
        let (parent_type, path, field) = (info.parent_type, info.path_node, info.field);
        if let Err(denial) = evaluate(required, viewer(ctx), &self.role_claim, roles(ctx)).await {
            return Err(field_error(denial.code(), denial.message(), path, field));
        }
        if !required
            .iter()
            .any(|requirement| matches!(requirement, Requirement::OwnerOrRole(_)))
        {
            return next.run(ctx, info).await;
        }
        let scope = OwnerScope::new(field, Arc::clone(required), Arc::clone(&self.role_claim));
        match scope.run(next.run(ctx, info)).await {
            (result, Some(Ok(()))) => result,
            (_, Some(Err(denial))) => {
                Err(field_error(denial.code(), denial.message(), path, field))
            }
            (_, None) => {
                tracing::error!(
                    parent_type,
                    field = field.name.node.as_str(),
                    "an @ownerOrRole field resolved without authz::check_owner: refused"
                );
                let message = "Internal server error.".to_string();
                Err(field_error("INTERNAL_SERVER_ERROR", message, path, field))
            }
        }
    }

    fn table(&self, ctx: &ExtensionContext<'_>) -> &RequirementTable {
        self.table
            .get_or_init(|| RequirementTable::from_registry(&ctx.schema_env.registry))
    }
}

fn viewer<'a>(ctx: &'a ExtensionContext<'_>) -> Option<&'a Viewer> {
    ctx.data_opt::<Arc<Viewer>>().map(Arc::as_ref)
}

fn roles<'a>(ctx: &'a ExtensionContext<'_>) -> Option<&'a dyn AppRoleSource> {
    ctx.data_opt::<Arc<dyn AppRoleSource>>().map(Arc::as_ref)
}

/// The root fields of a selection set, through fragment spreads and inline fragments (a
/// fragment cycle is a validation error later; `seen` only keeps this walk finite).
fn root_fields<'a>(
    document: &'a ExecutableDocument,
    selection_set: &'a SelectionSet,
) -> Vec<&'a Positioned<Field>> {
    let mut fields = Vec::new();
    let mut pending = vec![selection_set];
    let mut seen = std::collections::HashSet::new();
    while let Some(set) = pending.pop() {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => fields.push(field),
                Selection::InlineFragment(fragment) => {
                    pending.push(&fragment.node.selection_set.node)
                }
                Selection::FragmentSpread(spread) => {
                    let name = &spread.node.fragment_name.node;
                    if seen.insert(name.as_str())
                        && let Some(fragment) = document.fragments.get(name)
                    {
                        pending.push(&fragment.node.selection_set.node);
                    }
                }
            }
        }
    }
    fields
}

/// A field error with `path`, `locations` and `extensions.code`, like a resolver's own error.
fn field_error(
    code: &'static str,
    message: String,
    path_node: &QueryPathNode<'_>,
    field: &Field,
) -> ServerError {
    let position = field
        .alias
        .as_ref()
        .map_or(field.name.pos, |alias| alias.pos);
    let mut error = ServerError::new(message, Some(position));
    let mut nodes: Vec<_> = std::iter::once(path_node)
        .chain(path_node.parents())
        .collect();
    nodes.reverse();
    error.path = nodes
        .into_iter()
        .map(|node| match node.segment {
            async_graphql::QueryPathSegment::Name(name) => PathSegment::Field(name.to_string()),
            async_graphql::QueryPathSegment::Index(index) => PathSegment::Index(index),
        })
        .collect();
    error.extensions = Some(code_extension(code));
    error
}

fn code_extension(code: &'static str) -> ErrorExtensionValues {
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", code);
    extensions
}
