//! The GraphQL schema: roots, types and the builder.

mod examples;
mod query;
mod schema;
mod viewer;

pub use schema::{AppSchema, SchemaOptions, build_schema, sdl};
