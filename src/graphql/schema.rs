use async_graphql::{MergedObject, Schema};
use sea_orm::DatabaseConnection;

use super::examples::ExampleMutation;
use super::extension::SchemaExtension;
use super::limits::RequestLimits;
use super::post::PostMutation;
use super::query::Query;
use super::subscription::Subscription;
use crate::authz::Authorization;
use crate::config::GraphqlLimits;
use crate::posts::PostEvents;

pub type AppSchema = Schema<Query, Mutation, Subscription>;

#[derive(MergedObject, Default)]
pub struct Mutation(PostMutation, ExampleMutation);

/// Schema data: the dot path of the app role in the session claims.
pub struct RoleClaim(pub String);

pub struct SchemaOptions {
    pub introspection: bool,
    /// Resolvers' database; `None` only where the schema is built to print its SDL.
    pub database: Option<DatabaseConnection>,
    /// Dot path of the app role in the session claims (`CLERK_ROLE_CLAIM`).
    pub role_claim: String,
    /// Where mutations announce post changes to subscriptions.
    pub post_events: PostEvents,
    /// What one request may cost (depth, complexity, aliases, …); the SDL does not depend on it.
    pub limits: GraphqlLimits,
}

/// Builds the schema. Per-request data (the viewer) is attached by the HTTP handler.
pub fn build_schema(options: SchemaOptions) -> AppSchema {
    // The extension is installed here, in the only function that builds a schema: no schema
    // can exist whose limits and marks are not enforced.
    let mut builder = Schema::build(Query, Mutation::default(), Subscription)
        .extension(SchemaExtension::new(
            RequestLimits::new(options.limits.clone(), options.introspection),
            Authorization::new(&options.role_claim),
        ))
        .limit_recursive_depth(options.limits.max_recursive_depth)
        .data(RoleClaim(options.role_claim.clone()))
        .data(options.post_events);
    if let Some(database) = options.database {
        builder = builder.data(database);
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
        post_events: PostEvents::default(),
        limits: GraphqlLimits::default(),
    })
    .sdl()
}
