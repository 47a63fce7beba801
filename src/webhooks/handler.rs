//! `POST /webhooks/clerk` (ARCHITECTURE §8): signature, then payload, then one transaction that
//! records the delivery and applies it.
//!
//! Status codes tell Svix what to do: 2xx means "done, never send this again", anything else is
//! retried for days. So a delivery is acknowledged only once it is committed, a storage failure is
//! a 503 (retry), and a duplicate is a 204 (its first delivery was committed).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, DatabaseConnection, DbErr, EntityTrait, TransactionTrait, TryInsertResult,
};
use serde_json::json;

use super::event::{self, ClerkEvent};
use super::signature::{SignedHeaders, SigningKeys};
use crate::auth::clock::Clock;
use crate::auth::revocation::{Revocation, Revocations};
use crate::clerk::UserCache;
use crate::db::{self, webhook_events};
use crate::metrics::{WebhookEventType, WebhookOutcome};
use crate::users::{UserEventKind, UserEvents, apply_deletion, apply_snapshot};

/// Clerk's largest events (a user with many identities and full metadata) are tens of KB.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

#[derive(Clone)]
pub struct WebhookState {
    pub db: DatabaseConnection,
    pub keys: Arc<SigningKeys>,
    pub clock: Arc<dyn Clock>,
    /// The Clerk user cache, evicted when a user changes.
    pub users: Option<Arc<UserCache>>,
    /// Ends the subscriptions of ended sessions and deleted users.
    pub revocations: Revocations,
    /// Tells `myUserEvents` subscribers that their row changed.
    pub user_events: UserEvents,
}

pub fn routes<S: Clone + Send + Sync + 'static>(state: WebhookState) -> Router<S> {
    Router::new()
        .route(
            "/webhooks/clerk",
            post(receive).fallback(method_not_allowed),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Every answer of this route is JSON with a code, its refusals included: axum's own for a body
/// over the limit or another method would be plain text or empty.
async fn method_not_allowed() -> Response {
    let mut response = refuse(
        WebhookEventType::UNKNOWN,
        WebhookRefusal::MethodNotAllowed,
        "webhook deliveries are POST requests",
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    response
}

async fn receive(
    State(state): State<WebhookState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return body_refused(&rejection),
    };
    let Some(signed) = signed_headers(&headers) else {
        return refuse(
            WebhookEventType::UNKNOWN,
            WebhookRefusal::MissingSignature,
            "svix-id, svix-timestamp and svix-signature are required",
        );
    };
    let now_millis = state.clock.now_millis();
    if let Err(error) = state
        .keys
        .verify(signed, &body, now_millis.div_euclid(1000))
    {
        tracing::warn!(svix_id = signed.id, %error, "webhook refused");
        return refuse(
            WebhookEventType::UNKNOWN,
            WebhookRefusal::InvalidSignature,
            &error.to_string(),
        );
    }
    let (event_type, event) = match event::parse(&body) {
        Ok(parsed) => parsed,
        Err(error) => {
            tracing::warn!(svix_id = signed.id, %error, "webhook payload refused");
            return refuse(
                WebhookEventType::UNKNOWN,
                WebhookRefusal::MalformedPayload,
                &error.to_string(),
            );
        }
    };
    let counted = WebhookEventType::of(&event_type);
    let acknowledged = |outcome| {
        crate::metrics::webhook_delivery(counted, outcome).increment(1);
        StatusCode::NO_CONTENT.into_response()
    };
    match &event {
        ClerkEvent::Ignored => {
            tracing::debug!(
                svix_id = signed.id,
                event_type,
                "webhook type not handled; acknowledged"
            );
            return acknowledged(WebhookOutcome::Ignored);
        }
        // Nothing stored: revoking twice is harmless.
        ClerkEvent::SessionEnded { session_id } => {
            tracing::info!(
                svix_id = signed.id,
                event_type,
                "session ended: its tokens are refused and its sockets closed"
            );
            state
                .revocations
                .revoke(Revocation::Session(session_id.clone()));
            return acknowledged(WebhookOutcome::Applied);
        }
        // Revoked before storage, so that it takes effect even while the database is down
        // (Svix redelivers until the deletion is stored; revoking again is harmless).
        ClerkEvent::UserDeleted { user_id } => {
            state.revocations.revoke(Revocation::User(user_id.clone()));
        }
        ClerkEvent::UserUpserted(_) => {}
    }
    let received_at = DateTime::from_timestamp_millis(now_millis).unwrap_or_else(Utc::now);
    match record_and_apply(&state.db, signed.id, &event_type, &event, received_at).await {
        Ok(Delivery::Duplicate) => {
            tracing::info!(svix_id = signed.id, event_type, "webhook already applied");
            acknowledged(WebhookOutcome::Duplicate)
        }
        Ok(Delivery::Applied {
            user_id,
            outcome,
            change,
        }) => {
            tracing::info!(
                svix_id = signed.id,
                event_type,
                user_id,
                outcome,
                "webhook applied"
            );
            if let Some(kind) = change {
                state.user_events.publish(kind, user_id);
            }
            if let Some(users) = &state.users {
                // Also after `user.created`: a lookup before the user existed cached "not found".
                users.invalidate(user_id).await;
            }
            acknowledged(WebhookOutcome::Applied)
        }
        Err(error) if db::is_unavailable(&error) => {
            tracing::error!(svix_id = signed.id, %error, "webhook not stored: database unavailable");
            let mut response = refuse(
                counted,
                WebhookRefusal::StorageUnavailable,
                "the database is unavailable; retry later",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
            response
        }
        Err(error) => {
            tracing::error!(svix_id = signed.id, %error, "webhook not stored");
            refuse(
                counted,
                WebhookRefusal::StorageFailed,
                "the delivery could not be stored",
            )
        }
    }
}

fn signed_headers(headers: &HeaderMap) -> Option<SignedHeaders<'_>> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .filter(|value| !value.is_empty())
    };
    Some(SignedHeaders {
        id: get("svix-id")?,
        timestamp: get("svix-timestamp")?,
        signatures: get("svix-signature")?,
    })
}

enum Delivery<'a> {
    /// This `svix-id` was applied before.
    Duplicate,
    Applied {
        user_id: &'a str,
        outcome: &'static str,
        /// What happened to the row, for `myUserEvents`; `None` when it did not change.
        change: Option<UserEventKind>,
    },
}

/// Records the delivery and applies it in one transaction: both happen, or neither (a crash or a
/// failed statement part-way leaves no record, so the retry applies it).
async fn record_and_apply<'a>(
    db: &DatabaseConnection,
    svix_id: &str,
    event_type: &str,
    event: &'a ClerkEvent,
    received_at: DateTime<Utc>,
) -> Result<Delivery<'a>, DbErr> {
    let transaction = db.begin().await?;
    // The first statement writes, so SQLite takes its write lock here rather than upgrading a
    // read lock later (which could fail instead of waiting).
    let recorded = webhook_events::Entity::insert(webhook_events::ActiveModel {
        svix_id: Set(svix_id.to_string()),
        event_type: Set(event_type.to_string()),
        received_at: Set(received_at),
    })
    .on_conflict_do_nothing_on([webhook_events::Column::SvixId])
    .exec_without_returning(&transaction)
    .await?;
    if !matches!(recorded, TryInsertResult::Inserted(rows) if rows > 0) {
        transaction.rollback().await?;
        return Ok(Delivery::Duplicate);
    }
    let (user_id, outcome, change) = match event {
        ClerkEvent::UserUpserted(user) => {
            let outcome = apply_snapshot(&transaction, user, received_at).await?;
            let change = UserEventKind::of_snapshot(outcome);
            (user.id.as_str(), outcome.as_str(), change)
        }
        ClerkEvent::UserDeleted { user_id } => {
            let outcome = apply_deletion(&transaction, user_id, received_at).await?;
            let change = UserEventKind::of_deletion(outcome);
            (user_id.as_str(), outcome.as_str(), change)
        }
        ClerkEvent::Ignored | ClerkEvent::SessionEnded { .. } => {
            unreachable!("acknowledged before storage")
        }
    };
    transaction.commit().await?;
    Ok(Delivery::Applied {
        user_id,
        outcome,
        change,
    })
}

/// The body could not be read: over [`MAX_BODY_BYTES`] (by its `Content-Length` or as it
/// arrived), or the connection failed while it was read.
fn body_refused(rejection: &BytesRejection) -> Response {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        tracing::warn!(limit = MAX_BODY_BYTES, "webhook refused: body too large");
        return refuse(
            WebhookEventType::UNKNOWN,
            WebhookRefusal::PayloadTooLarge,
            &format!("the body is larger than the limit of {MAX_BODY_BYTES} bytes"),
        );
    }
    tracing::warn!(%rejection, "webhook refused: body unreadable");
    refuse(
        WebhookEventType::UNKNOWN,
        WebhookRefusal::InvalidBody,
        "the request body could not be read",
    )
}

/// Why a delivery was not acknowledged: its status and the `error` code of the answer, which is
/// also the `reason` of `webhook_deliveries_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookRefusal {
    MethodNotAllowed,
    PayloadTooLarge,
    InvalidBody,
    MissingSignature,
    InvalidSignature,
    MalformedPayload,
    StorageUnavailable,
    StorageFailed,
}

impl WebhookRefusal {
    pub const ALL: [Self; 8] = [
        Self::MethodNotAllowed,
        Self::PayloadTooLarge,
        Self::InvalidBody,
        Self::MissingSignature,
        Self::InvalidSignature,
        Self::MalformedPayload,
        Self::StorageUnavailable,
        Self::StorageFailed,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::InvalidBody => "invalid_body",
            Self::MissingSignature => "missing_signature",
            Self::InvalidSignature => "invalid_signature",
            Self::MalformedPayload => "malformed_payload",
            Self::StorageUnavailable => "storage_unavailable",
            Self::StorageFailed => "storage_failed",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::InvalidBody | Self::MalformedPayload => StatusCode::BAD_REQUEST,
            Self::MissingSignature | Self::InvalidSignature => StatusCode::UNAUTHORIZED,
            Self::StorageUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::StorageFailed => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// A refusal's answer, counted. `event_type` is `unknown` until the payload was read.
fn refuse(event_type: WebhookEventType, refusal: WebhookRefusal, message: &str) -> Response {
    crate::metrics::webhook_delivery(event_type, WebhookOutcome::Refused(refusal.code()))
        .increment(1);
    (
        refusal.status(),
        axum::Json(json!({ "error": refusal.code(), "message": message })),
    )
        .into_response()
}
