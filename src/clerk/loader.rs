//! The per-request dataloader for Clerk users.
//!
//! GraphQL resolves fields one by one: a list of 50 posts asking for their authors would be 50
//! lookups. The dataloader collects every user id requested while one request resolves and hands
//! them to [`UserCache::get_many`] in one batch; the cache answers what it knows and fetches the
//! rest in as few Backend API calls as Clerk allows (100 ids each).
//!
//! It is per request on purpose: its own memo (none here, `DataLoader::new` does not cache) would
//! otherwise outlive the cache's TTL and `invalidate`. The process-wide caching is `UserCache`'s.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};

use super::cache::UserCache;
use super::client::ClerkError;
use super::user::ClerkUser;
use crate::telemetry;

/// Keys gathered before a batch is sent without waiting for the batching delay. High enough that
/// one request's ids form one batch; the cache then splits it into calls of 100.
pub const MAX_BATCH_SIZE: usize = 1_000;

/// Loads Clerk users by id through the shared [`UserCache`]. Ids with no Clerk user are absent
/// from the result, so `load_one` answers `Ok(None)` for them.
pub struct ClerkUserLoader {
    cache: Arc<UserCache>,
}

impl ClerkUserLoader {
    pub fn new(cache: Arc<UserCache>) -> Self {
        Self { cache }
    }
}

impl Loader<String> for ClerkUserLoader {
    type Value = Arc<ClerkUser>;
    type Error = ClerkError;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Self::Value>, Self::Error> {
        self.cache.get_many(keys).await
    }
}

/// A fresh loader for one GraphQL request (add it to the request's data).
pub fn request_loader(cache: Arc<UserCache>) -> DataLoader<ClerkUserLoader> {
    DataLoader::new(ClerkUserLoader::new(cache), telemetry::spawn_in_trace)
        .max_batch_size(MAX_BATCH_SIZE)
}

/// One user through the request's loader, answered straight from the process-wide cache when
/// it knows the user: the loader's batching window (a millisecond) is only worth waiting for when
/// Clerk has to be asked. A role check and a profile of a known user then cost no wait at all.
pub async fn load_user(
    loader: &DataLoader<ClerkUserLoader>,
    id: &str,
) -> Result<Option<Arc<ClerkUser>>, ClerkError> {
    if let Some(known) = loader.loader().cache.cached(id).await {
        return Ok(known);
    }
    loader.load_one(id.to_string()).await
}
