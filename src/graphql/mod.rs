//! The GraphQL schema: roots, types and the builder.

mod clerk_user;
mod errors;
mod examples;
mod null_on_error;
mod query;
mod schema;
mod user;
mod viewer;

pub use schema::{AppSchema, RoleClaim, SchemaOptions, build_schema, sdl};
