//! A process-wide, short-lived cache of Clerk users in front of [`ClerkClient`].
//!
//! Clerk's Backend API is rate limited per instance (100 requests / 10 s in development, 1000 in
//! production), so a busy server must not ask it about the same user on every request. A user
//! seen less than a minute ago is served from memory; a profile change shows up after at most the
//! TTL, or at once where a webhook calls [`UserCache::invalidate`].
//!
//! - **Not found is cached.** Entries are `Option<Arc<ClerkUser>>`; `None` records that Clerk
//!   answered "no such user" (deleted users still referenced by rows, mistyped ids). Without it,
//!   every request touching such an id would cost a Backend API call. It expires like any entry,
//!   and `invalidate` clears it.
//! - **Failures are not cached.** An error is returned to the caller and the next call tries
//!   Clerk again.
//! - **Concurrent misses for one id are coalesced** (moka's `try_get_with`): ten requests for a
//!   user nobody has asked for yet make one call.
//! - `get_many` fetches all its misses in one batched `get_users` (100 ids per HTTP call). It does
//!   not coalesce with other callers' in-flight fetches; within a GraphQL request the dataloader
//!   already gathers every id into one `get_many`.
//! - **Evictions reach every replica** when the cache is [`UserCache::shared_through`] Redis
//!   (`shared::evictions`, channel [`USERS_CHANNEL`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use moka::notification::RemovalCause;

use super::client::{ClerkClient, ClerkError};
use super::user::ClerkUser;
use crate::metrics::{self, CacheLookup, UserCacheEviction};
use crate::shared::SharedRedis;
use crate::shared::evictions::SharedEvictions;

#[derive(Debug, Clone)]
pub struct UserCacheSettings {
    /// How long an answer (user or "not found") is served from memory.
    pub ttl: Duration,
    /// At most this many users are kept; the least useful ones are evicted first.
    pub max_entries: u64,
}

impl Default for UserCacheSettings {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(60),
            max_entries: 10_000,
        }
    }
}

/// The Redis channel on which user-cache evictions reach the other replicas.
pub const USERS_CHANNEL: &str = "clerk-users";

/// See the module documentation. Share one per process (`Arc<UserCache>`).
pub struct UserCache {
    client: ClerkClient,
    /// `None`: Clerk said this user does not exist.
    users: Cache<String, Option<Arc<ClerkUser>>>,
    /// The other replicas' caches, with Redis.
    shared: Option<SharedEvictions>,
}

impl UserCache {
    pub fn new(client: ClerkClient, settings: UserCacheSettings) -> Self {
        let users = Cache::builder()
            .max_capacity(settings.max_entries)
            .time_to_live(settings.ttl)
            .eviction_listener(|_, _, cause| {
                let cause = match cause {
                    RemovalCause::Explicit => UserCacheEviction::Invalidated,
                    RemovalCause::Expired => UserCacheEviction::Expired,
                    RemovalCause::Size => UserCacheEviction::Size,
                    // A newer value for the same user: nothing left the cache.
                    RemovalCause::Replaced => return,
                };
                metrics::clerk_user_evicted(cause);
            })
            .build();
        Self {
            client,
            users,
            shared: None,
        }
    }

    /// Shares evictions with the other replicas through `redis` (which must subscribe to
    /// [`USERS_CHANNEL`]).
    pub fn shared_through(mut self, redis: SharedRedis) -> Self {
        self.shared = Some(SharedEvictions::start(
            redis,
            USERS_CHANNEL,
            "cached users",
            self.users.clone(),
        ));
        self
    }

    pub fn client(&self) -> &ClerkClient {
        &self.client
    }

    /// One user, from memory if known, else from Clerk (one call however many callers wait).
    pub async fn get(&self, id: &str) -> Result<Option<Arc<ClerkUser>>, ClerkError> {
        let entry = self
            .users
            .entry_by_ref(id)
            .or_try_insert_with(async {
                Ok::<_, ClerkError>(self.client.get_user(id).await?.map(Arc::new))
            })
            .await
            // moka shares one error among all coalesced callers as an `Arc`.
            .map_err(|error| ClerkError::clone(&error))?;
        // A miss is a lookup that asked Clerk; callers coalesced onto it got a hit.
        metrics::clerk_user_cache(if entry.is_fresh() {
            CacheLookup::Miss
        } else {
            CacheLookup::Hit
        });
        Ok(entry.into_value())
    }

    /// The users among `ids` that exist, keyed by id. Hits come from memory; every miss is fetched
    /// in one batched call (one HTTP request per 100 ids). If that call fails, nothing is returned
    /// (the whole batch fails) and nothing is cached.
    pub async fn get_many(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, Arc<ClerkUser>>, ClerkError> {
        let mut found = HashMap::with_capacity(ids.len());
        let mut misses = Vec::new();
        let mut seen = HashSet::with_capacity(ids.len());
        for id in ids {
            if !seen.insert(id.as_str()) {
                continue;
            }
            match self.users.get(id).await {
                Some(Some(user)) => {
                    metrics::clerk_user_cache(CacheLookup::Hit);
                    found.insert(id.clone(), user);
                }
                // Known not to exist.
                Some(None) => metrics::clerk_user_cache(CacheLookup::Hit),
                None => misses.push(id.clone()),
            }
        }
        if misses.is_empty() {
            return Ok(found);
        }
        // The common case, one user (the viewer), goes through `get`, whose in-flight lookups
        // are shared between concurrent requests: a burst of first requests from one user costs
        // one call. Larger batches are fetched together, in chunks of 100.
        if let [id] = misses.as_slice() {
            if let Some(user) = self.get(id).await? {
                found.insert(id.clone(), user);
            }
            return Ok(found);
        }

        for _ in &misses {
            metrics::clerk_user_cache(CacheLookup::Miss);
        }
        let mut fetched: HashMap<String, Arc<ClerkUser>> = self
            .client
            .get_users(&misses)
            .await?
            .into_iter()
            .map(|user| (user.id.clone(), Arc::new(user)))
            .collect();
        for id in misses {
            // An id the answer left out does not exist: cache that too, as `get` would.
            let user = fetched.remove(&id);
            self.users.insert(id.clone(), user.clone()).await;
            if let Some(user) = user {
                found.insert(id, user);
            }
        }
        Ok(found)
    }

    /// What memory already knows about `id`, without asking Clerk: `Some(None)` is a cached
    /// "no such user", `None` a miss.
    pub async fn cached(&self, id: &str) -> Option<Option<Arc<ClerkUser>>> {
        self.users.get(id).await
    }

    /// Forgets a user (after a `user.updated` or `user.deleted` webhook, or an own metadata
    /// update), so that the next read asks Clerk; on every replica, with Redis.
    pub async fn invalidate(&self, user_id: &str) {
        self.users.invalidate(user_id).await;
        if let Some(shared) = &self.shared {
            shared.announce(user_id).await;
        }
    }
}
