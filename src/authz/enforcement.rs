//! Enforcing the marks: each field resolution and, once, each subscription's root fields. Called
//! by the schema's extension (`crate::graphql::extension`, installed by `build_schema`).

use std::sync::{Arc, OnceLock};

use async_graphql::extensions::{ExtensionContext, ResolveInfo};
use async_graphql::parser::types::{
    ExecutableDocument, Field, OperationType, Selection, SelectionSet,
};
use async_graphql::{ErrorExtensionValues, PathSegment, Positioned, ServerError, ServerResult};

use super::RequirementTable;
use super::policy::{AppRoleSource, Denial, evaluate};
use crate::auth::Viewer;

/// The enforcer of one schema.
pub struct Authorization {
    /// Built from the registry on first use: the registry is only reachable from a hook.
    table: OnceLock<RequirementTable>,
    role_claim: String,
}

impl Authorization {
    pub fn new(role_claim: &str) -> Self {
        Self {
            table: OnceLock::new(),
            role_claim: role_claim.into(),
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
                    let (code, message) = describe(&denial);
                    // A request error (nothing has run, so no `path`, as the GraphQL spec says
                    // of request errors); `locations` points at the field.
                    let mut error = ServerError::new(message, Some(field.pos));
                    let mut extensions = ErrorExtensionValues::default();
                    extensions.set("code", code);
                    error.extensions = Some(extensions);
                    return Err(error);
                }
            }
        }
        Ok(())
    }

    /// Whether the viewer may resolve this field: a field error (with its path) when not.
    pub async fn check_field(
        &self,
        ctx: &ExtensionContext<'_>,
        info: &ResolveInfo<'_>,
    ) -> ServerResult<()> {
        if info.is_for_introspection {
            return Ok(());
        }
        // Most fields have no mark: one lookup, no await.
        let Some(required) = self.table(ctx).get(info.parent_type, info.name) else {
            return Ok(());
        };
        evaluate(required, viewer(ctx), &self.role_claim, roles(ctx))
            .await
            .map_err(|denial| denial_error(&denial, info))
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

fn describe(denial: &Denial) -> (&'static str, String) {
    match denial {
        Denial::Unauthenticated => (
            "UNAUTHENTICATED",
            "Sign in to access this field.".to_string(),
        ),
        Denial::Forbidden(why) => ("FORBIDDEN", format!("Not allowed: this field {why}.")),
        Denial::Unavailable => (
            "SERVICE_UNAVAILABLE",
            "The user's role could not be loaded from Clerk; try again shortly.".to_string(),
        ),
    }
}

/// A field error with `path`, `locations` and `extensions.code`, like a resolver's own error.
fn denial_error(denial: &Denial, info: &ResolveInfo<'_>) -> ServerError {
    let (code, message) = describe(denial);
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
