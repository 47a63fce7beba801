//! The GraphQL toolkit the domains build their types with: field errors coded as ARCHITECTURE §6
//! lists (`errors`), pagination, request limits (`limits`, `variables`), the one schema
//! extension and its null-on-error rule, access checks inside resolvers, the Clerk profile object,
//! the personal fields of a user, subscriptions over a broadcast channel, the safelist of trusted
//! documents (`trusted_documents`). The schema itself is assembled above the domains, in
//! `crate::schema`.

pub mod access;
pub mod broadcast;
pub mod clerk_user;
pub mod errors;
pub mod extension;
pub mod limits;
pub mod null_on_error;
pub mod pagination;
pub mod personal_data;
pub mod trusted_documents;
pub mod variables;

/// The spawner of the slices' dataloaders: their batches stay in the request's trace.
pub use crate::telemetry::spawn_in_trace;
pub use access::RoleClaim;
pub use extension::ExecutionDeadline;

/// The database, from the schema data.
pub fn database<'a>(
    ctx: &async_graphql::Context<'a>,
) -> async_graphql::Result<&'a sea_orm::DatabaseConnection> {
    ctx.data::<sea_orm::DatabaseConnection>()
}
