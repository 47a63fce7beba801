//! Field errors, coded as ARCHITECTURE §6 lists. Internal details go to the log, never to clients.

use async_graphql::{Error, ErrorExtensions};
use sea_orm::DbErr;

use crate::db;

/// Clerk's Backend API did not answer in time: retry later.
pub fn clerk_unavailable() -> Error {
    Error::new("Clerk's Backend API is unavailable; try again shortly.")
        .extend_with(|_, e| e.set("code", "SERVICE_UNAVAILABLE"))
}

/// A database failure: `SERVICE_UNAVAILABLE` when the database is unreachable, else a masked
/// `INTERNAL_SERVER_ERROR` (the log has the details, correlated by the request span).
pub fn database(error: DbErr) -> Error {
    if db::is_unavailable(&error) {
        tracing::error!(%error, "database unavailable");
        Error::new("The database is unavailable; try again shortly.")
            .extend_with(|_, e| e.set("code", "SERVICE_UNAVAILABLE"))
    } else {
        tracing::error!(%error, "database error");
        Error::new("Internal server error.")
            .extend_with(|_, e| e.set("code", "INTERNAL_SERVER_ERROR"))
    }
}

/// An argument the client must fix; `argument` names it.
pub fn bad_user_input(argument: &str, message: impl Into<String>) -> Error {
    let argument = argument.to_string();
    Error::new(message).extend_with(move |_, e| {
        e.set("code", "BAD_USER_INPUT");
        e.set("argument", argument.as_str());
    })
}

/// No such object, or not one the viewer may see (the two are not told apart, so that ids of
/// other users' drafts cannot be probed).
pub fn not_found(what: &str) -> Error {
    Error::new(format!("{what} not found")).extend_with(|_, e| e.set("code", "NOT_FOUND"))
}

/// Signed in, but not allowed to do this.
pub fn forbidden(message: impl Into<String>) -> Error {
    Error::new(message).extend_with(|_, e| e.set("code", "FORBIDDEN"))
}

/// An input field the client must fix; `field` names it.
pub fn invalid_input_field(field: &str, message: impl Into<String>) -> Error {
    let field = field.to_string();
    Error::new(message).extend_with(move |_, e| {
        e.set("code", "BAD_USER_INPUT");
        e.set("field", field.as_str());
    })
}
