//! Signing webhook deliveries as Svix does, and sending them to the application.

use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// A test-only signing secret (`whsec_` + base64 of "clerk-graphql test webhook secret").
pub const WEBHOOK_SECRET: &str = "whsec_Y2xlcmstZ3JhcGhxbCB0ZXN0IHdlYmhvb2sgc2VjcmV0";

/// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` under `secret`.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let key = hmac::Key::new(hmac::HMAC_SHA256, &key);
    let mut message = format!("{id}.{timestamp}.").into_bytes();
    message.extend_from_slice(body);
    format!("v1,{}", STANDARD.encode(hmac::sign(&key, &message)))
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A Clerk event envelope.
pub fn event(event_type: &str, data: Value) -> Value {
    json!({
        "data": data,
        "object": "event",
        "type": event_type,
        "timestamp": chrono::Utc::now().timestamp_millis(),
        "instance_id": "ins_test"
    })
}

/// Sends `body` to the server at `base` with the given Svix headers (each `None` is left out).
pub async fn post_webhook(
    client: &reqwest::Client,
    base: &str,
    body: Vec<u8>,
    id: Option<&str>,
    timestamp: Option<String>,
    signature: Option<String>,
) -> reqwest::Response {
    let mut request = client
        .post(format!("{base}/webhooks/clerk"))
        .header("content-type", "application/json")
        .body(body);
    if let Some(id) = id {
        request = request.header("svix-id", id);
    }
    if let Some(timestamp) = timestamp {
        request = request.header("svix-timestamp", timestamp);
    }
    if let Some(signature) = signature {
        request = request.header("svix-signature", signature);
    }
    request.send().await.expect("webhook sent")
}

/// A correctly signed delivery of `event`, now, to the server at `base`.
pub async fn deliver_to(
    client: &reqwest::Client,
    base: &str,
    svix_id: &str,
    event: &Value,
) -> reqwest::Response {
    let body = serde_json::to_vec(event).unwrap();
    let timestamp = now();
    let signature = sign(WEBHOOK_SECRET, svix_id, timestamp, &body);
    post_webhook(
        client,
        base,
        body,
        Some(svix_id),
        Some(timestamp.to_string()),
        Some(signature),
    )
    .await
}

impl TestApp {
    /// Sends `body` with the given Svix headers (each `None` is left out).
    pub async fn post_webhook_raw(
        &self,
        body: Vec<u8>,
        id: Option<&str>,
        timestamp: Option<String>,
        signature: Option<String>,
    ) -> reqwest::Response {
        post_webhook(&self.client, &self.address, body, id, timestamp, signature).await
    }

    /// A correctly signed delivery of `event`, now.
    pub async fn deliver(&self, svix_id: &str, event: &Value) -> reqwest::Response {
        deliver_to(&self.client, &self.address, svix_id, event).await
    }
}
