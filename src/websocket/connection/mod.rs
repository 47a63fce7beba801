//! One `/graphql/ws` connection, from `connection_init` to its close: one task that reads the
//! client's messages, forwards the operations' results, and watches the credentials' expiry and
//! revocation (see the module above for the rules). What the credentials are and how they are
//! verified and refreshed is in `credentials`; how an operation runs and reports, in `operations`.

mod credentials;
mod operations;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::http::HeaderValue;
use futures_util::future::AbortHandle;
use futures_util::stream::SelectAll;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value as Json;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use super::protocol::{
    CLOSE_BAD_REQUEST, CLOSE_FORBIDDEN, CLOSE_INIT_TIMEOUT, CLOSE_TOO_BIG, CLOSE_TOO_MANY_INITS,
    CLOSE_UNAUTHORIZED, ClientMessage, Protocol, ServerMessages,
};
use super::{INIT_TIMEOUT, WsState};
use crate::auth::Viewer;
use crate::auth::revocation::Revocation;
use crate::metrics::{InFlight, SocketEnd};
use crate::rate_limit::slots::Slot;
use operations::{Outcome, Results};

/// A client that does not read its messages for this long is disconnected (its results would
/// otherwise pile up in memory).
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// The upgrade request, as far as the connection needs it.
pub struct Client {
    pub ip: IpAddr,
    /// Whether a refused token at `connection_init` counts towards the address's lockout.
    pub counts_failures: bool,
    pub cookies: Option<HeaderValue>,
}

pub async fn serve(
    socket: WebSocket,
    state: WsState,
    protocol: Protocol,
    client: Client,
    _slot: Slot,
) {
    let _open = crate::metrics::socket_opened();
    let mut connection = Connection {
        socket,
        messages: ServerMessages(protocol),
        state,
        client,
        viewer: None,
        expires: None,
        operations: HashMap::new(),
        generation: 0,
    };
    let mut results = SelectAll::new();
    if let Err(end) = connection.run(&mut results).await {
        connection.end(end).await;
    }
}

/// Why the connection ends.
enum End {
    /// The client went away, or stopped reading.
    Gone,
    /// The client closed the connection: the close handshake is answered.
    ClosedByClient,
    /// We close it with a code.
    Close(u16, String),
}

fn close(code: u16, reason: impl Into<String>) -> End {
    End::Close(code, reason.into())
}

struct Connection {
    socket: WebSocket,
    messages: ServerMessages,
    state: WsState,
    client: Client,
    viewer: Option<Arc<Viewer>>,
    /// When the viewer's token (plus the clock skew) expires.
    expires: Option<Instant>,
    /// Running operations by id: their generation, how to stop them, and their place in
    /// `graphql_subscriptions_active`.
    operations: HashMap<String, (u64, AbortHandle, InFlight)>,
    generation: u64,
}

/// What woke the connection up.
enum Wake {
    Received(Option<Result<Message, axum::Error>>),
    Outcome(Outcome),
    Revoked(Result<Revocation, RecvError>),
    Expired,
}

impl Connection {
    async fn run(&mut self, results: &mut Results) -> Result<(), End> {
        let init = tokio::time::timeout(INIT_TIMEOUT, self.initialise())
            .await
            .map_err(|_| close(CLOSE_INIT_TIMEOUT, "Connection initialisation timeout"))?;
        init?;
        let revocations = self.state.authenticator.verifier.revocations().clone();
        let mut revoked = revocations.subscribe();
        // A revocation between the verification and the subscription above is in the set.
        if self
            .viewer
            .as_ref()
            .is_some_and(|v| revocations.is_revoked(v))
        {
            return Err(session_ended());
        }
        loop {
            let expiry = async {
                match self.expires {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let signed_in = self.viewer.is_some();
            let wake = tokio::select! {
                received = self.socket.recv() => Wake::Received(received),
                Some(outcome) = results.next(), if !results.is_empty() => Wake::Outcome(outcome),
                revocation = revoked.recv(), if signed_in => Wake::Revoked(revocation),
                () = expiry => Wake::Expired,
            };
            match wake {
                Wake::Received(received) => {
                    if let Some(text) = text_of(received)? {
                        self.on_message(&text, results).await?;
                    }
                }
                Wake::Outcome(outcome) => self.on_outcome(outcome).await?,
                Wake::Revoked(revocation) => {
                    let viewer = self.viewer.as_deref().expect("listened to while signed in");
                    let ended = match revocation {
                        Ok(revocation) => revocation.ends(viewer),
                        // Missed some: the set knows whether one of them was ours.
                        Err(RecvError::Lagged(_)) => revocations.is_revoked(viewer),
                        Err(RecvError::Closed) => false,
                    };
                    if ended {
                        tracing::info!(
                            user_id = viewer.user_id.as_str(),
                            "session revoked: socket closed"
                        );
                        return Err(session_ended());
                    }
                }
                Wake::Expired => return Err(close(CLOSE_FORBIDDEN, "Token expired")),
            }
        }
    }

    /// Until `connection_init`: pings are answered, anything else closes.
    async fn initialise(&mut self) -> Result<(), End> {
        loop {
            let Some(text) = text_of(self.socket.recv().await)? else {
                continue;
            };
            match ClientMessage::parse(&text) {
                Ok(ClientMessage::ConnectionInit { payload }) => {
                    return self.connection_init(payload.unwrap_or(Json::Null)).await;
                }
                Ok(ClientMessage::Ping { .. }) => self.send(self.messages.pong()).await?,
                Ok(ClientMessage::Pong { .. }) => {}
                Ok(ClientMessage::Subscribe { .. }) => {
                    return Err(close(CLOSE_UNAUTHORIZED, "Unauthorized"));
                }
                Ok(ClientMessage::Complete { .. } | ClientMessage::ConnectionTerminate) => {
                    return Err(End::ClosedByClient);
                }
                Err(_) => return Err(close(CLOSE_BAD_REQUEST, "Invalid message")),
            }
        }
    }

    async fn on_message(&mut self, text: &str, results: &mut Results) -> Result<(), End> {
        let message =
            ClientMessage::parse(text).map_err(|_| close(CLOSE_BAD_REQUEST, "Invalid message"))?;
        match message {
            ClientMessage::ConnectionInit { .. } => Err(close(
                CLOSE_TOO_MANY_INITS,
                "Too many initialisation requests",
            )),
            ClientMessage::Subscribe { id, payload } => self.subscribe(id, payload, results).await,
            ClientMessage::Complete { id } => {
                if let Some((_, abort, _)) = self.operations.remove(&id) {
                    abort.abort();
                }
                Ok(())
            }
            ClientMessage::ConnectionTerminate => Err(End::ClosedByClient),
            ClientMessage::Ping { payload } => {
                if let Some(payload) = payload {
                    self.refresh(&payload).await?;
                }
                self.send(self.messages.pong()).await
            }
            ClientMessage::Pong { .. } => Ok(()),
        }
    }

    async fn send(&mut self, text: String) -> Result<(), End> {
        match tokio::time::timeout(SEND_TIMEOUT, self.socket.send(Message::Text(text.into()))).await
        {
            Ok(Ok(())) => Ok(()),
            _ => Err(End::Gone),
        }
    }

    async fn end(mut self, end: End) {
        for (_, (_, abort, _)) in self.operations.drain() {
            abort.abort();
        }
        crate::metrics::socket_closed(match end {
            End::Gone => SocketEnd::Gone,
            End::ClosedByClient => SocketEnd::Client,
            End::Close(code, _) => SocketEnd::Code(code),
        });
        let closing = async {
            match end {
                End::Gone => Ok(()),
                // The codec queued its answer to the client's close frame: flush it.
                End::ClosedByClient => SinkExt::close(&mut self.socket).await,
                End::Close(code, reason) => {
                    let frame = CloseFrame {
                        code,
                        reason: reason.into(),
                    };
                    self.socket.send(Message::Close(Some(frame))).await
                }
            }
        };
        let _ = tokio::time::timeout(SEND_TIMEOUT, closing).await;
    }
}

/// The text of a received message (`None` for a control frame, which the codec answers); the
/// connection ends on a close, an error or the end of the stream.
fn text_of(received: Option<Result<Message, axum::Error>>) -> Result<Option<String>, End> {
    match received {
        Some(Ok(Message::Text(text))) => Ok(Some(text.to_string())),
        Some(Ok(Message::Binary(bytes))) => String::from_utf8(bytes.to_vec())
            .map(Some)
            .map_err(|_| close(CLOSE_BAD_REQUEST, "Invalid message")),
        Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(None),
        Some(Ok(Message::Close(_))) => Err(End::ClosedByClient),
        None => Err(End::Gone),
        // tungstenite refuses a message over the size limit as it arrives ("Message too long",
        // "Frame too long"), before buffering it whole.
        Some(Err(error)) if error.to_string().contains("too long") => {
            Err(close(CLOSE_TOO_BIG, "Message too big"))
        }
        Some(Err(_)) => Err(End::Gone),
    }
}

fn session_ended() -> End {
    close(CLOSE_FORBIDDEN, "Session ended")
}
