//! The probes: `/healthz` (liveness) and `/readyz` (readiness).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use super::AppState;
use crate::auth::keys::KeySource;

/// Liveness: the process answers.
pub(super) async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Readiness: the database answers and, with a remote key source, a key set is loaded. A Redis
/// that does not answer, or whose pub/sub this replica is not subscribed to (it would miss the
/// other replicas' events and revocations), is reported as `degraded` but keeps the replica
/// ready: it serves with local state until Redis is back.
pub(super) async fn readyz(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    let database = tokio::time::timeout(Duration::from_secs(2), state.db.ping())
        .await
        .is_ok_and(|ping| ping.is_ok());
    let jwks = match state.authenticator.verifier.key_source() {
        KeySource::Jwks(cache) => Some(cache.is_loaded()),
        _ => None,
    };
    let redis = match &state.redis {
        Some(redis) => Some(
            redis.is_subscribed()
                && tokio::time::timeout(Duration::from_secs(1), redis.ping())
                    .await
                    .unwrap_or(false),
        ),
        None => None,
    };
    let degraded: Vec<&str> = [(redis == Some(false)).then_some("redis")]
        .into_iter()
        .flatten()
        .collect();
    let ready = database && jwks.unwrap_or(true);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if ready { "ready" } else { "not_ready" },
            "database": database,
            "jwks_loaded": jwks,
            "redis": redis,
            "degraded": degraded,
        })),
    )
}
