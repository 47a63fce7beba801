//! `/graphql/ws`: GraphQL subscriptions over WebSocket (`graphql-transport-ws`, and the legacy
//! `graphql-ws` protocol of subscriptions-transport-ws).
//!
//! Authentication happens once, on the first message, with the HTTP rules: the token comes from
//! the `connection_init` payload (`{"Authorization": "Bearer …"}` or `{"token": "…"}`) or else
//! from the `__session` cookie of the upgrade request. The first message is read here rather
//! than in async-graphql's `on_connection_init`, to close with the codes clients expect:
//! **4403** for a bad token and **4408** when no `connection_init` arrives within 10 s
//! (async-graphql would close with 1002, or not at all). After that, the connection is handed to
//! async-graphql with the first message put back in front.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::Data;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use futures_util::{StreamExt, stream};
use serde_json::Value;

use crate::auth::token::extract_token;
use crate::auth::{AuthFailure, Verified, Verifier, Viewer};
use crate::graphql::AppSchema;
use crate::rate_limit::{ClientIp, RateLimiter};

/// How long a client has to send `connection_init`.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);
const CLOSE_FORBIDDEN: u16 = 4403;
const CLOSE_INIT_TIMEOUT: u16 = 4408;
const CLOSE_BAD_REQUEST: u16 = 4400;

pub type ViewerData = Arc<dyn Fn(&mut Data, Arc<Viewer>) + Send + Sync>;

/// What the handler needs from the application.
#[derive(Clone)]
pub struct WsState {
    pub schema: AppSchema,
    pub verifier: Arc<Verifier>,
    /// Adds the signed-in viewer's data (viewer, loaders safe for a connection's lifetime).
    pub viewer_data: ViewerData,
    /// Counts the invalid tokens of `connection_init` towards the address's lockout, as over HTTP.
    pub rate_limits: Arc<RateLimiter>,
}

pub async fn upgrade(
    axum::extract::State(state): axum::extract::State<WsState>,
    protocol: GraphQLProtocol,
    headers: HeaderMap,
    client: Option<axum::Extension<ClientIp>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    // Only cookies matter from the upgrade request; never log or keep the other headers.
    let cookies = headers.get(header::COOKIE).cloned();
    let client = client.map(|axum::Extension(ClientIp(ip))| ip);
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| serve(socket, state, protocol, cookies, client))
}

async fn serve(
    mut socket: WebSocket,
    state: WsState,
    protocol: GraphQLProtocol,
    cookies: Option<HeaderValue>,
    client: Option<std::net::IpAddr>,
) {
    let first = match tokio::time::timeout(INIT_TIMEOUT, first_text(&mut socket)).await {
        Err(_) => {
            return close(
                socket,
                CLOSE_INIT_TIMEOUT,
                "Connection initialisation timeout",
            )
            .await;
        }
        Ok(None) => return, // the client went away
        Ok(Some(text)) => text,
    };
    let message: Value = serde_json::from_str(&first).unwrap_or(Value::Null);
    if message["type"] != "connection_init" {
        return close(socket, CLOSE_BAD_REQUEST, "Expected connection_init").await;
    }
    let mut data = Data::default();
    match authenticate(&state.verifier, &message["payload"], cookies).await {
        Ok(Some(viewer)) => {
            tracing::info!(
                user_id = viewer.user_id.as_str(),
                "subscription connection opened"
            );
            (state.viewer_data)(&mut data, viewer);
        }
        Ok(None) => {}
        Err(failure) => {
            tracing::info!(reason = failure.reason(), "subscription connection refused");
            if let Some(ip) = client {
                state.rate_limits.record_auth_failure(ip, failure).await;
            }
            return close(socket, CLOSE_FORBIDDEN, "Forbidden").await;
        }
    }
    let (sink, rest) = socket.split();
    let replayed = stream::once(async move { Ok(Message::Text(first.into())) }).chain(rest);
    GraphQLWebSocket::new_with_pair(sink, replayed, state.schema, protocol)
        .on_connection_init(move |_| async move { Ok(data) })
        .serve()
        .await;
}

/// The first text message; pings and pongs before it are skipped.
async fn first_text(socket: &mut WebSocket) -> Option<String> {
    while let Some(Ok(message)) = socket.recv().await {
        match message {
            Message::Text(text) => return Some(text.to_string()),
            Message::Binary(bytes) => return Some(String::from_utf8_lossy(&bytes).into_owned()),
            Message::Close(_) => return None,
            Message::Ping(_) | Message::Pong(_) => {}
        }
    }
    None
}

/// The viewer for the connection: `Ok(None)` when no token was presented (anonymous, public
/// subscriptions only), `Err(failure)` when one was and it failed verification.
async fn authenticate(
    verifier: &Verifier,
    payload: &Value,
    cookies: Option<HeaderValue>,
) -> Result<Option<Arc<Viewer>>, AuthFailure> {
    let mut headers = HeaderMap::new();
    if let Some(cookies) = cookies {
        headers.insert(header::COOKIE, cookies);
    }
    let authorization = ["Authorization", "authorization"]
        .iter()
        .find_map(|key| payload[key].as_str().map(str::to_string))
        .or_else(|| {
            payload["token"]
                .as_str()
                .map(|token| format!("Bearer {token}"))
        });
    if let Some(authorization) = authorization {
        let value = HeaderValue::from_str(&authorization).map_err(|_| AuthFailure::Malformed)?;
        headers.insert(header::AUTHORIZATION, value);
    }
    let token = match extract_token(&headers) {
        Ok(Some((token, _))) => token,
        Ok(None) => return Ok(None),
        Err(failure) => return Err(failure),
    };
    match verifier.verify(token).await {
        Ok(Verified::SignedIn(viewer)) => Ok(Some(viewer)),
        Ok(Verified::Pending) => Ok(None),
        Err(failure) => Err(failure),
    }
}

async fn close(mut socket: WebSocket, code: u16, reason: &'static str) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
}
