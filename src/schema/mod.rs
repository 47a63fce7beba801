//! The schema, assembled from the domains' parts: each slice contributes its own `Query`,
//! `Mutation` and `Subscription` objects, merged here into the three roots, and installs the
//! schema data its resolvers need. A new slice is one entry in each root it has fields in (and
//! one `install` line when it needs data); removing one is deleting those.

mod examples;
mod query;
mod viewer;

use std::sync::Arc;

use async_graphql::{MergedObject, MergedSubscription, Schema};
use sea_orm::DatabaseConnection;

use crate::api_keys::ApiKeyManagement;
use crate::api_keys::graphql::{ApiKeyMutation, ApiKeyQuery};
use crate::authz::Authorization;
use crate::config::{GraphqlLimits, TrustedDocumentsMode};
use crate::graphql::RoleClaim;
use crate::graphql::broadcast::Relay;
use crate::graphql::extension::SchemaExtension;
use crate::graphql::limits::RequestLimits;
use crate::graphql::trusted_documents::TrustedDocuments;
use crate::posts::graphql::{PostMutation, PostQuery, PostSubscription};
use crate::users::UserEvents;
use crate::users::graphql::{UserQuery, UserSubscription};
use examples::ExampleMutation;
use query::BaseQuery;

#[derive(MergedObject, Default)]
pub struct Query(BaseQuery, UserQuery, PostQuery, ApiKeyQuery);

#[derive(MergedObject, Default)]
pub struct Mutation(PostMutation, ExampleMutation, ApiKeyMutation);

#[derive(MergedSubscription, Default)]
pub struct Subscription(UserSubscription, PostSubscription);

pub type AppSchema = Schema<Query, Mutation, Subscription>;

pub struct SchemaOptions {
    pub introspection: bool,
    /// Resolvers' database; `None` only where the schema is built to print its SDL.
    pub database: Option<DatabaseConnection>,
    /// Dot path of the app role in the session claims (`CLERK_ROLE_CLAIM`).
    pub role_claim: String,
    /// Where the webhook handler announces changes to user rows (`myUserEvents`).
    pub user_events: UserEvents,
    /// Where the slices' event channels publish: this process, or every replica (`REDIS_URL`).
    pub relay: Relay,
    /// What one request may cost (depth, complexity, aliases, …); the SDL does not depend on it.
    pub limits: GraphqlLimits,
    /// The safelist every request is checked against; its manifest is loaded once the schema
    /// exists, since it is validated against it.
    pub trusted_documents: Arc<TrustedDocuments>,
    /// Clerk's API-key endpoints for `apiKeys` / `createApiKey` / `revokeApiKey`; `None`
    /// without `CLERK_SECRET_KEY` (they answer `SERVICE_UNAVAILABLE`).
    pub api_keys: Option<ApiKeyManagement>,
    /// `GRAPHQL_TRACE_DOCUMENT`: each request's document on its `graphql.parse` span.
    pub trace_document: bool,
}

/// Builds the schema. Per-request data (the viewer) is attached by the HTTP handler.
pub fn build_schema(options: SchemaOptions) -> AppSchema {
    // The extension is installed here, in the only function that builds a schema: no schema
    // can exist whose limits and marks are not enforced.
    let mut builder = Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .extension(SchemaExtension::new(
        options.trusted_documents,
        RequestLimits::new(options.limits.clone(), options.introspection),
        Authorization::new(&options.role_claim),
        options.trace_document,
    ))
    .limit_recursive_depth(options.limits.max_recursive_depth)
    .data(RoleClaim(options.role_claim.clone()))
    .data(options.user_events);
    builder = crate::posts::graphql::install(builder, &options.relay);
    if let Some(database) = options.database {
        builder = builder.data(database);
    }
    if let Some(api_keys) = options.api_keys {
        builder = builder.data(api_keys);
    }
    if !options.introspection {
        // "Did you mean \"adminNote\"?" would name, to anyone who misspells a field, the
        // fields introspection hides. Kept in development, where they help.
        builder = builder.disable_introspection().disable_suggestions();
    }
    builder.finish()
}

/// The SDL as committed in `schema/schema.graphql` (introspection settings do not change it).
pub fn sdl() -> String {
    build_schema(SchemaOptions {
        introspection: true,
        database: None,
        role_claim: "metadata.role".into(),
        user_events: UserEvents::default(),
        relay: Relay::local(),
        limits: GraphqlLimits::default(),
        trusted_documents: Arc::new(TrustedDocuments::new(TrustedDocumentsMode::Off, true)),
        api_keys: None,
        trace_document: false,
    })
    .sdl()
}
