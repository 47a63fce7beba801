//! Clerk's Backend API: who a user id is (name, email, avatar, application role).
//!
//! A session token only proves *which* user is calling; profile data lives in Clerk and is read
//! through the Backend API with the secret key (ARCHITECTURE §9). That API is remote, rate
//! limited and occasionally slow, so it is wrapped in three layers, each with one job:
//!
//! - [`ClerkClient`]: typed HTTP calls with a time budget per call, bounded retries with back-off,
//!   `Retry-After` honoured only when it fits, and errors that never carry the secret or emails;
//! - [`UserCache`]: a process-wide cache (60 s TTL, bounded) that coalesces concurrent misses and
//!   batches lookups 100 ids per call, so repeated requests do not spend the rate limit;
//! - [`ClerkUserLoader`] / [`request_loader`]: a per-request dataloader, so that resolving a list
//!   of N items that each name a user costs one batched lookup, not N.
//!
//! [`ClerkError::is_unavailable`] tells resolvers when to answer `SERVICE_UNAVAILABLE`.

mod api_keys;
mod cache;
mod client;
mod loader;
mod machine_tokens;
mod user;

pub use api_keys::{ApiKey, CreatedApiKey, MAX_KEYS_LISTED, NewApiKey};
pub use cache::{USERS_CHANNEL, UserCache, UserCacheSettings};
pub use client::{
    ClerkClient, ClerkClientSettings, ClerkError, MAX_IDS_PER_CALL, MAX_LIST_LIMIT,
    is_plausible_user_id,
};
pub use loader::{ClerkUserLoader, MAX_BATCH_SIZE, load_user, request_loader};
pub use machine_tokens::MachineToken;
pub use user::{ClerkUser, EmailAddress};
