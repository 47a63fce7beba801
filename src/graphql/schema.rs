use async_graphql::{EmptySubscription, Schema};
use sea_orm::DatabaseConnection;

use super::examples::ExampleMutation;
use super::null_on_error::NullOnFieldError;
use super::query::Query;
use crate::authz::Authorization;

pub type AppSchema = Schema<Query, ExampleMutation, EmptySubscription>;

/// Schema data: the dot path of the app role in the session claims.
pub struct RoleClaim(pub String);

pub struct SchemaOptions {
    pub introspection: bool,
    /// Resolvers' database; `None` only where the schema is built to print its SDL.
    pub database: Option<DatabaseConnection>,
    /// Dot path of the app role in the session claims (`CLERK_ROLE_CLAIM`).
    pub role_claim: String,
}

/// Builds the schema. Per-request data (the viewer) is attached by the HTTP handler.
pub fn build_schema(options: SchemaOptions) -> AppSchema {
    // The authorization extension is installed here, in the only function that builds a
    // schema: no schema can exist whose marks are not enforced.
    let mut builder = Schema::build(Query, ExampleMutation, EmptySubscription)
        // Outermost, so that it also sees the authorization extension's denials.
        .extension(NullOnFieldError)
        .extension(Authorization::new(&options.role_claim))
        .data(RoleClaim(options.role_claim.clone()));
    if let Some(database) = options.database {
        builder = builder.data(database);
    }
    if !options.introspection {
        builder = builder.disable_introspection();
    }
    builder.finish()
}

/// The SDL as committed in `schema/schema.graphql` (introspection settings do not change it).
pub fn sdl() -> String {
    build_schema(SchemaOptions {
        introspection: true,
        database: None,
        role_claim: "metadata.role".into(),
    })
    .sdl()
}
