//! Managing API keys through the Backend API, for users who manage their own keys through
//! GraphQL: create (the one answer that carries the secret), list by subject, revoke.
//!
//! Like the verify endpoints, these are called without the `/v1` segment, as Clerk's JS SDK
//! does (`skipApiVersionInUrl`). The secret of a new key is handed to the caller once and is
//! never logged nor kept: [`CreatedApiKey`]'s `Debug` hides it.

use std::fmt;

use serde::Deserialize;
use serde_json::json;

use super::client::{Call, ClerkClient, ClerkError};
use crate::metrics::ClerkEndpoint;

/// Keys listed per call: Clerk's page size for this endpoint tops out well above what one
/// user keeps; more are not listed.
pub const MAX_KEYS_LISTED: u32 = 100;

/// An API key as Clerk describes it, without its secret.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ApiKey {
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// `user_…` or `org_…`.
    pub subject: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub revoked: bool,
    #[serde(default)]
    pub expired: bool,
    /// Unix milliseconds; `None`: never.
    #[serde(default)]
    pub expiration: Option<i64>,
    #[serde(default)]
    pub created_at: Option<i64>,
    #[serde(default)]
    pub last_used_at: Option<i64>,
}

/// A key just created, with its secret: shown to the user once.
#[derive(Clone, Deserialize)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key: ApiKey,
    pub secret: String,
}

impl fmt::Debug for CreatedApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreatedApiKey")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// What to create.
#[derive(Debug, Clone)]
pub struct NewApiKey<'a> {
    pub name: &'a str,
    pub subject: &'a str,
    pub scopes: &'a [String],
    pub seconds_until_expiration: Option<u64>,
    /// The user who created it (for an organisation's key, the admin).
    pub created_by: &'a str,
}

#[derive(Deserialize)]
struct Page {
    data: Vec<ApiKey>,
}

impl ClerkClient {
    /// `POST /api_keys`.
    pub async fn create_api_key(&self, key: NewApiKey<'_>) -> Result<CreatedApiKey, ClerkError> {
        let body = json!({
            "type": "api_key",
            "name": key.name,
            "subject": key.subject,
            "scopes": key.scopes,
            "seconds_until_expiration": key.seconds_until_expiration,
            "created_by": key.created_by,
        });
        let call = Call::post(
            self.endpoint("/api_keys")?,
            ClerkEndpoint::CreateApiKey,
            body,
        );
        self.call_json(&call, self.deadline())
            .await?
            .ok_or_else(|| ClerkError::Unexpected("POST /api_keys answered 404".into()))
    }

    /// `GET /api_keys?subject=…`: the subject's valid keys (not the revoked or expired ones).
    pub async fn list_api_keys(&self, subject: &str) -> Result<Vec<ApiKey>, ClerkError> {
        let mut url = self.endpoint("/api_keys")?;
        url.query_pairs_mut()
            .append_pair("subject", subject)
            .append_pair("limit", &MAX_KEYS_LISTED.to_string());
        let page: Option<Page> = self
            .call_json(&Call::get(url, ClerkEndpoint::ListApiKeys), self.deadline())
            .await?;
        Ok(page.map(|page| page.data).unwrap_or_default())
    }

    /// `POST /api_keys/{id}/revoke`. `Ok(None)` when Clerk has no such key.
    pub async fn revoke_api_key(&self, id: &str) -> Result<Option<ApiKey>, ClerkError> {
        let mut url = self.endpoint("/api_keys")?;
        url.path_segments_mut()
            .map_err(|()| ClerkError::Unexpected("CLERK_API_URL cannot be a base URL".into()))?
            .push(id)
            .push("revoke");
        let body = json!({ "revocation_reason": "revoked by its owner through the API" });
        let call = Call::post(url, ClerkEndpoint::RevokeApiKey, body);
        self.call_json(&call, self.deadline()).await
    }
}
