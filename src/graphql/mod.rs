//! The GraphQL schema: roots, types and the builder.

mod clerk_user;
mod examples;
mod query;
mod schema;
mod viewer;

pub use schema::{AppSchema, RoleClaim, SchemaOptions, build_schema, sdl};
