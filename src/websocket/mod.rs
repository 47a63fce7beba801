//! `/graphql/ws`: GraphQL over WebSocket (`graphql-transport-ws`, and the legacy `graphql-ws`
//! protocol of subscriptions-transport-ws), with the rules of an HTTP request for everything a
//! socket does, for as long as it lives.
//!
//! - **Credentials**: the `connection_init` payload's `Authorization` (`"Bearer …"`), `token`, or
//!   `headers.Authorization` (Apollo/Hasura style), else the session cookie of the upgrade
//!   request; verified like an HTTP request's (`http::authentication::Authenticator`). A refused
//!   token closes with **4403**; none is an anonymous connection.
//! - **Expiry**: at the token's `exp` (+ `CLERK_CLOCK_SKEW_SECS`) the socket closes with 4403,
//!   unless the client sent a fresh token of the same user and session in a graphql-transport-ws
//!   `ping` payload (`{"token": …}` or `{"Authorization": "Bearer …"}`), answered by `pong`.
//!   Another user or session, or a refused token, closes with 4403. The legacy protocol has no
//!   client ping: its sockets close at expiry, and clients reconnect with a fresh token.
//! - **Revocation**: `session.ended|revoked|removed` and `user.deleted` close the matching sockets
//!   with 4403 at once (`auth::revocation`).
//! - **Every operation as a request**: the address's and the user's rate limits (one operation =
//!   one request), the request limits and authorization marks (the schema's extension), and for
//!   queries and mutations the request timeout (`graphql::ExecutionDeadline`).
//! - **Bounds**: a message over `GRAPHQL_MAX_BODY_BYTES` is refused by the WebSocket codec before
//!   it is buffered whole (close 1009); at most `WS_MAX_SUBSCRIPTIONS` operations at once per
//!   connection (the next gets an `error` with `RATE_LIMITED`); `WS_MAX_CONNECTIONS_PER_IP` and
//!   `WS_MAX_CONNECTIONS` sockets (the upgrade is refused with 429 / 503).
//! - **Lockout**: a refused token at `connection_init` counts towards the address's lockout only
//!   when the upgrade came from a page this server trusts (its own origin or one in
//!   `CORS_ALLOWED_ORIGINS`), or from a client that sends no `Origin` (not a browser). Browsers
//!   apply no CORS to WebSockets: otherwise any web page could lock its visitors' address out.

mod connection;
mod protocol;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::Data;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::auth::Viewer;
use crate::http::authentication::Authenticator;
use crate::http::csrf::CsrfPolicy;
use crate::rate_limit::slots::{self, ConnectionSlots};
use crate::rate_limit::{ClientIp, RateLimiter};
use crate::schema::AppSchema;

pub use protocol::Protocol;

/// How long a client has to send `connection_init`.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// Adds what an operation's resolvers need (the viewer, loaders) to its request data. Loaders
/// must keep no memo: a subscription's data lives as long as the subscription.
pub type RequestData = Arc<dyn Fn(&mut Data, Option<Arc<Viewer>>) + Send + Sync>;

/// What the handler needs from the application.
#[derive(Clone)]
pub struct WsState {
    pub schema: AppSchema,
    pub authenticator: Authenticator,
    pub request_data: RequestData,
    pub rate_limits: Arc<RateLimiter>,
    pub slots: Arc<ConnectionSlots>,
    /// Which pages' failed `connection_init`s count towards a lockout.
    pub origins: Arc<CsrfPolicy>,
    /// `GRAPHQL_MAX_BODY_BYTES`: the largest message.
    pub max_message_bytes: usize,
    /// `WS_MAX_SUBSCRIPTIONS`: operations at once per connection.
    pub max_operations: usize,
}

pub async fn upgrade(
    State(state): State<WsState>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    client: Option<axum::Extension<ClientIp>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let Some(protocol) = requested_protocol(&headers) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "unsupported_subprotocol",
            "Request the `graphql-transport-ws` (or legacy `graphql-ws`) subprotocol in \
             Sec-WebSocket-Protocol.",
        );
    };
    let ip = client.map_or(
        IpAddr::from([0, 0, 0, 0]),
        |axum::Extension(ClientIp(ip))| ip,
    );
    let slot = match state.slots.acquire(ip) {
        Ok(slot) => slot,
        Err(slots::Full::Address) => {
            return refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                "ws_connection_limit",
                "Too many open WebSocket connections from this address.",
            );
        }
        Err(slots::Full::Server) => {
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "SERVICE_UNAVAILABLE",
                "ws_connection_limit",
                "The server has as many WebSocket connections open as it accepts; try again \
                 shortly.",
            );
        }
    };
    let client = connection::Client {
        ip,
        counts_failures: state.origins.trusts_origin_of(&uri, &headers),
        // Only cookies matter from the upgrade request; never log or keep the other headers.
        cookies: headers.get(header::COOKIE).cloned(),
    };
    let max = state.max_message_bytes;
    upgrade
        .protocols(Protocol::NAMES)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| connection::serve(socket, state, protocol, client, slot))
}

/// The first protocol we speak among those the client asked for.
fn requested_protocol(headers: &HeaderMap) -> Option<Protocol> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|name| Protocol::from_name(name.trim()))
}

fn refuse(status: StatusCode, code: &str, reason: &str, message: &str) -> Response {
    let body = serde_json::json!({
        "errors": [{"message": message, "extensions": {"code": code, "reason": reason}}]
    });
    let mut response = (status, axum::Json(body)).into_response();
    if status != StatusCode::BAD_REQUEST {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("5"),
        );
    }
    response
}
