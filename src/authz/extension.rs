//! The extension that enforces the marks on every field resolution.

use std::sync::{Arc, OnceLock};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextResolve, ResolveInfo,
};
use async_graphql::parser::types::{
    ExecutableDocument, Field, OperationType, Selection, SelectionSet,
};
use async_graphql::{
    ErrorExtensionValues, PathSegment, Positioned, ServerError, ServerResult, Value, Variables,
};

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
    /// Subscription root fields are checked once, before their stream starts: the per-field hook
    /// below only runs for each event, so without this a denied subscriber would keep a stream
    /// open and receive an error per event.
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let Some(subscription) = ctx.schema_env.registry.subscription_type.as_deref() else {
            return Ok(document);
        };
        let table = self.table(ctx);
        let viewer = ctx.data_opt::<Arc<Viewer>>().map(Arc::as_ref);
        let roles = ctx.data_opt::<Arc<dyn AppRoleSource>>().map(Arc::as_ref);
        for (_, operation) in document.operations.iter() {
            if operation.node.ty != OperationType::Subscription {
                continue;
            }
            for field in root_fields(&document, &operation.node.selection_set.node) {
                let Some(required) = table.get(subscription, &field.node.name.node) else {
                    continue;
                };
                if let Err(denial) = evaluate(required, viewer, &self.role_claim, roles).await {
                    let (code, message) = describe(&denial);
                    let mut error = ServerError::new(message, Some(field.pos));
                    let name = field.node.response_key().node.to_string();
                    error.path = vec![PathSegment::Field(name)];
                    let mut extensions = ErrorExtensionValues::default();
                    extensions.set("code", code);
                    error.extensions = Some(extensions);
                    return Err(error);
                }
            }
        }
        Ok(document)
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if !info.is_for_introspection {
            let table = self.table(ctx);
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

impl AuthorizationExtension {
    fn table(&self, ctx: &ExtensionContext<'_>) -> &RequirementTable {
        self.table
            .get_or_init(|| RequirementTable::from_registry(&ctx.schema_env.registry))
    }
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
