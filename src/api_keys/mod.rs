//! Slice: users manage their own API keys (and organisation admins their organisation's)
//! through GraphQL, proxied to Clerk's Backend API (`clerk::api_keys`). Nothing is stored here:
//! Clerk keeps the keys, and the secret of a new key passes through once, in the answer to
//! `createApiKey`, never logged nor kept.
//!
//! Only a user session manages keys (plain `@auth`): an API key cannot mint or revoke keys.
//! The scopes a key may grant are limited to `API_KEY_ALLOWED_SCOPES`.

pub mod graphql;
mod rules;

use std::sync::Arc;

use crate::auth::machine_tokens::MachineTokens;
use crate::clerk::ClerkClient;

/// Schema data: present when `CLERK_SECRET_KEY` is set.
#[derive(Clone)]
pub struct ApiKeyManagement {
    pub clerk: ClerkClient,
    /// `API_KEY_ALLOWED_SCOPES`.
    pub allowed_scopes: Vec<String>,
    /// The verified-token cache, told about revocations so that it forgets them at once (in
    /// this process; other replicas within a minute).
    pub machine_tokens: Arc<MachineTokens>,
}
