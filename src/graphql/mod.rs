//! The GraphQL schema: roots, types and the builder.

mod access;
mod clerk_user;
mod errors;
mod examples;
mod extension;
pub mod limits;
mod loaders;
mod null_on_error;
mod pagination;
mod post;
mod prescan;
mod query;
mod schema;
mod subscription;
mod user;
mod variables;
mod viewer;

pub use extension::ExecutionDeadline;
pub use loaders::user_rows;
pub use schema::{AppSchema, RoleClaim, SchemaOptions, build_schema, sdl};

/// The database, from the schema data.
fn database<'a>(
    ctx: &async_graphql::Context<'a>,
) -> async_graphql::Result<&'a sea_orm::DatabaseConnection> {
    ctx.data::<sea_orm::DatabaseConnection>()
}
