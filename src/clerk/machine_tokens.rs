//! Asking Clerk about an opaque machine token: `ak_…`, `mt_…` or `oat_…` (ARCHITECTURE §4).
//!
//! The verify endpoints are called without the `/v1` segment, as Clerk's JS and Python SDKs do
//! (they are versioned through a header instead), with the secret key as bearer. A 404 means the
//! token is unknown, revoked or expired; a 401 that our secret key is wrong
//! ([`ClerkError::Unauthorized`], never the caller's fault).

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::client::{Call, ClerkClient, ClerkError};
use crate::config::TokenKind;
use crate::metrics::ClerkEndpoint;

/// What Clerk says about a valid token. The token itself is never kept.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MachineToken {
    pub id: String,
    /// `user_…` or `org_…` for an API key, `mch_…` for an M2M token, `user_…` for OAuth.
    pub subject: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Custom claims of an API key or M2M token; `null` when none.
    #[serde(default)]
    pub claims: Option<Map<String, Value>>,
    #[serde(default)]
    pub revoked: bool,
    #[serde(default)]
    pub expired: bool,
    /// Unix milliseconds; `None` for a key that never expires.
    #[serde(default)]
    pub expiration: Option<i64>,
    /// The OAuth application (OAuth access tokens only).
    #[serde(default)]
    pub client_id: Option<String>,
}

impl ClerkClient {
    /// `Ok(None)` when Clerk does not know the token, or says it is revoked or expired.
    /// `kind` must be a machine kind (a session token is never sent to Clerk).
    pub async fn verify_machine_token(
        &self,
        kind: TokenKind,
        token: &str,
    ) -> Result<Option<MachineToken>, ClerkError> {
        let (endpoint, body) = match kind {
            TokenKind::ApiKey => (ClerkEndpoint::VerifyApiKey, json!({ "secret": token })),
            TokenKind::M2m => (ClerkEndpoint::VerifyM2mToken, json!({ "token": token })),
            TokenKind::OAuth => (
                ClerkEndpoint::VerifyOAuthToken,
                json!({ "access_token": token }),
            ),
            TokenKind::Session => {
                return Err(ClerkError::Unexpected(
                    "a session token is not verified by the Backend API".into(),
                ));
            }
        };
        // The verify endpoints have no ids: their template is their path.
        let call = Call::verify(self.endpoint(endpoint.url_template())?, endpoint, body);
        let token: Option<MachineToken> = self.call_json(&call, self.deadline()).await?;
        Ok(token.filter(|token| !token.revoked && !token.expired))
    }
}
