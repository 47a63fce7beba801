use async_graphql::{EmptyMutation, EmptySubscription, Schema};

use super::query::Query;

pub type AppSchema = Schema<Query, EmptyMutation, EmptySubscription>;

pub struct SchemaOptions {
    pub introspection: bool,
}

/// Builds the schema. Per-request data (the viewer) is attached by the HTTP handler.
pub fn build_schema(options: SchemaOptions) -> AppSchema {
    let mut builder = Schema::build(Query, EmptyMutation, EmptySubscription);
    if !options.introspection {
        builder = builder.disable_introspection();
    }
    builder.finish()
}

/// The SDL as committed in `schema/schema.graphql` (introspection settings do not change it).
pub fn sdl() -> String {
    build_schema(SchemaOptions {
        introspection: true,
    })
    .sdl()
}
