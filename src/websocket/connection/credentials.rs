//! A connection's credentials: read from the `connection_init` payload (and the upgrade request's
//! cookies), verified, and replaced by a fresh token in a `ping`; when they expire.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, header};
use serde_json::Value as Json;
use tokio::time::Instant;

use super::{Connection, End, close};
use crate::auth::{AuthFailure, Viewer};
use crate::websocket::protocol::CLOSE_FORBIDDEN;

/// RFC 6455 1013 "try again later": the keys to verify the token could not be loaded (our
/// fault; graphql-ws reconnects).
const CLOSE_TRY_AGAIN_LATER: u16 = 1013;

impl Connection {
    pub(super) async fn connection_init(&mut self, payload: Json) -> Result<(), End> {
        let mut headers = credentials_in(&payload).map_err(|_| invalid_credentials())?;
        if let Some(cookies) = &self.client.cookies {
            headers.insert(header::COOKIE, cookies.clone());
        }
        match self
            .state
            .authenticator
            .authenticate_session(&headers)
            .await
        {
            Ok(viewer) => self.sign_in(viewer),
            Err(failure) if failure.is_service_unavailable() => {
                return Err(close(
                    CLOSE_TRY_AGAIN_LATER,
                    "Signing keys unavailable; retry shortly",
                ));
            }
            Err(failure) => {
                tracing::info!(reason = failure.reason(), "subscription connection refused");
                if self.client.counts_failures {
                    self.state
                        .rate_limits
                        .refuse_invalid_token(self.client.ip, failure)
                        .await;
                }
                return Err(close(CLOSE_FORBIDDEN, "Forbidden"));
            }
        }
        if let Some(viewer) = &self.viewer {
            tracing::info!(
                user_id = viewer.user_id.as_str(),
                "subscription connection opened"
            );
        }
        self.send(self.messages.connection_ack()).await
    }

    fn sign_in(&mut self, viewer: Option<Arc<Viewer>>) {
        self.expires = viewer
            .as_deref()
            .map(|viewer| Instant::now() + self.state.authenticator.verifier.time_left(viewer));
        self.viewer = viewer;
    }

    /// A fresh token in a `ping`: it must verify and carry the same user and session.
    pub(super) async fn refresh(&mut self, payload: &Json) -> Result<(), End> {
        let headers = credentials_in(payload).map_err(|_| invalid_credentials())?;
        if !headers.contains_key(header::AUTHORIZATION) {
            return Ok(()); // a plain keep-alive ping
        }
        let fresh = match self
            .state
            .authenticator
            .authenticate_session(&headers)
            .await
        {
            Ok(fresh) => fresh,
            // The keys could not be loaded: our outage. The current token still holds until
            // it expires; the client's next refresh may succeed.
            Err(failure) if failure.is_service_unavailable() => return Ok(()),
            Err(_) => return Err(close(CLOSE_FORBIDDEN, "Forbidden")),
        };
        let same = match (&self.viewer, &fresh) {
            (Some(current), Some(fresh)) => {
                current.user_id == fresh.user_id && current.session_id == fresh.session_id
            }
            // No token in it (`Bearer null`): nothing to refresh.
            (_, None) => return Ok(()),
            (None, Some(_)) => false,
        };
        if !same {
            return Err(close(CLOSE_FORBIDDEN, "Another user or session"));
        }
        self.sign_in(fresh);
        Ok(())
    }
}

/// The credentials of a `connection_init` or `ping` payload, as the headers of an HTTP request:
/// `Authorization`, `authorization`, `token` (a bare token), or `headers.Authorization`.
fn credentials_in(payload: &Json) -> Result<HeaderMap, AuthFailure> {
    let text = |value: &Json, key: &str| value.get(key).and_then(Json::as_str).map(str::to_string);
    let from = |value: &Json| text(value, "Authorization").or_else(|| text(value, "authorization"));
    let authorization = from(payload)
        .or_else(|| text(payload, "token").map(|token| format!("Bearer {token}")))
        .or_else(|| payload.get("headers").and_then(from));
    let mut headers = HeaderMap::new();
    if let Some(authorization) = authorization {
        let value = HeaderValue::from_str(&authorization).map_err(|_| AuthFailure::Malformed)?;
        headers.insert(header::AUTHORIZATION, value);
    }
    Ok(headers)
}

fn invalid_credentials() -> End {
    close(CLOSE_FORBIDDEN, "Forbidden")
}
