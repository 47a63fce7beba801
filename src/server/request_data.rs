//! What every execution gets besides the schema, over HTTP and on a socket alike.

use std::sync::Arc;

use async_graphql::Data;
use sea_orm::DatabaseConnection;

use crate::auth::Viewer;
use crate::authz::{AppRoleSource, ClerkRoles};
use crate::clerk::{UserCache, request_loader};
use crate::users::loaders::user_row_loader;

/// How long an execution's data lives.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Lifetime {
    /// One HTTP request.
    Request,
    /// An operation on a socket: a subscription may run for hours.
    Socket,
}

/// What resolvers need besides the schema: the loader of user rows, and the signed-in viewer
/// with what resolves their Clerk data. The Clerk loader keeps no memo (the process-wide cache
/// behind it does); the user-row loader keeps one for a request only, never across users or for
/// a subscription's life (it would serve rows that changed since).
pub(super) fn insert_request_data(
    data: &mut Data,
    db: &DatabaseConnection,
    users: Option<&Arc<UserCache>>,
    viewer: Option<Arc<Viewer>>,
    lifetime: Lifetime,
) {
    let rows = user_row_loader(db.clone());
    if lifetime == Lifetime::Socket {
        rows.enable_all_cache(false);
    }
    data.insert(Arc::new(rows));
    let Some(viewer) = viewer else {
        return;
    };
    data.insert(viewer);
    if let Some(users) = users {
        // Batches one request's lookups; the cache spares Clerk repeated calls.
        let loader = Arc::new(request_loader(Arc::clone(users)));
        let roles: Arc<dyn AppRoleSource> = Arc::new(ClerkRoles(Arc::clone(&loader)));
        data.insert(loader);
        data.insert(roles);
    }
}
