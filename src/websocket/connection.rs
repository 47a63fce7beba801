//! One `/graphql/ws` connection, from `connection_init` to its close: one task that reads the
//! client's messages, forwards the operations' results, and watches the credentials' expiry and
//! revocation (see the module above for the rules).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::{ErrorExtensionValues, Response, ServerError, Value};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::http::{HeaderMap, HeaderValue, header};
use futures_util::future::{AbortHandle, Abortable};
use futures_util::stream::{self, BoxStream, SelectAll};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value as Json;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;

use super::protocol::{
    CLOSE_BAD_REQUEST, CLOSE_DUPLICATE_ID, CLOSE_FORBIDDEN, CLOSE_INIT_TIMEOUT, CLOSE_TOO_BIG,
    CLOSE_TOO_MANY_INITS, CLOSE_UNAUTHORIZED, ClientMessage, Protocol, ServerMessages,
};
use super::{INIT_TIMEOUT, WsState};
use crate::auth::revocation::Revocation;
use crate::auth::{AuthFailure, Viewer};
use crate::http::graphql::{RequestParams, is_request_error, mask_internal_errors};
use crate::rate_limit::slots::Slot;
use crate::rate_limit::{RateLimiter, Refusal};

/// A client that does not read its messages for this long is disconnected (its results would
/// otherwise pile up in memory).
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// RFC 6455 1013 "try again later": the keys to verify the token could not be loaded (our
/// fault; graphql-ws reconnects).
const CLOSE_TRY_AGAIN_LATER: u16 = 1013;

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

/// One result of an operation, tagged so that results of an operation the client already
/// completed (or whose id it reused since) are dropped.
struct Outcome {
    id: String,
    generation: u64,
    event: Event,
}

enum Event {
    Result(Box<Response>),
    /// The operation failed before it ran: parse, validation, variables, marks on subscription
    /// roots, limits, timeout.
    Refused(Vec<ServerError>),
    Done,
}

type Results = SelectAll<BoxStream<'static, Outcome>>;

struct Connection {
    socket: WebSocket,
    messages: ServerMessages,
    state: WsState,
    client: Client,
    viewer: Option<Arc<Viewer>>,
    /// When the viewer's token (plus the clock skew) expires.
    expires: Option<Instant>,
    /// Running operations by id: their generation and how to stop them.
    operations: HashMap<String, (u64, AbortHandle)>,
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

    async fn connection_init(&mut self, payload: Json) -> Result<(), End> {
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
                if let Some((_, abort)) = self.operations.remove(&id) {
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

    /// A fresh token in a `ping`: it must verify and carry the same user and session.
    async fn refresh(&mut self, payload: &Json) -> Result<(), End> {
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

    async fn subscribe(
        &mut self,
        id: String,
        payload: Box<RequestParams>,
        results: &mut Results,
    ) -> Result<(), End> {
        if self.operations.contains_key(&id) {
            return Err(close(
                CLOSE_DUPLICATE_ID,
                format!("Subscriber for {id} already exists"),
            ));
        }
        if self.operations.len() >= self.state.max_operations {
            let error = refusal(
                "RATE_LIMITED",
                "ws_subscription_limit",
                format!(
                    "At most {} operations may run at once on one connection.",
                    self.state.max_operations
                ),
            );
            return self.send(self.messages.error(&id, &[error])).await;
        }
        let quota = spend_quota(
            &self.state.rate_limits,
            self.client.ip,
            self.viewer.as_deref(),
        );
        if let Err(limited) = quota.await {
            return self.send(self.messages.error(&id, &[limited])).await;
        }
        let mut request = payload.into_request();
        (self.state.request_data)(&mut request.data, self.viewer.clone());
        self.generation += 1;
        let generation = self.generation;
        let (abort, registration) = AbortHandle::new_pair();
        self.operations.insert(id.clone(), (generation, abort));
        let responses = self.state.schema.execute_stream(request);
        results.push(outcomes(id, generation, responses, registration));
        Ok(())
    }

    async fn on_outcome(&mut self, outcome: Outcome) -> Result<(), End> {
        let current = self
            .operations
            .get(&outcome.id)
            .map(|(generation, _)| *generation);
        if current != Some(outcome.generation) {
            return Ok(()); // completed by the client meanwhile
        }
        match outcome.event {
            Event::Result(response) => self.send(self.messages.next(&outcome.id, &response)).await,
            Event::Refused(errors) => {
                self.operations.remove(&outcome.id);
                self.send(self.messages.error(&outcome.id, &errors)).await
            }
            Event::Done => {
                self.operations.remove(&outcome.id);
                self.send(self.messages.complete(&outcome.id)).await
            }
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
        for (_, (_, abort)) in self.operations.drain() {
            abort.abort();
        }
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

/// The operation's responses as outcomes: the first one, when it is a request error, is a
/// refusal; then `Done`, unless the client stopped the operation.
fn outcomes(
    id: String,
    generation: u64,
    responses: BoxStream<'static, Response>,
    registration: futures_util::future::AbortRegistration,
) -> BoxStream<'static, Outcome> {
    let tag = move |event| Outcome {
        id: id.clone(),
        generation,
        event,
    };
    let mut first = true;
    let events = responses.map(move |mut response| {
        mask_internal_errors(&mut response, None);
        let refused = std::mem::take(&mut first) && is_request_error(&response);
        if refused {
            Event::Refused(response.errors)
        } else {
            Event::Result(Box::new(response))
        }
    });
    Abortable::new(
        events.chain(stream::once(async { Event::Done })),
        registration,
    )
    .map(tag)
    .boxed()
}

/// One operation is one request of the address's and the user's quotas.
async fn spend_quota(
    limits: &RateLimiter,
    ip: IpAddr,
    viewer: Option<&Viewer>,
) -> Result<(), ServerError> {
    let spent = match limits.check_address(ip).await {
        Ok(()) => match viewer {
            Some(viewer) => limits.check_user(&viewer.user_id).await,
            None => Ok(()),
        },
        Err(refused) => Err(refused),
    };
    match spent {
        Err(Refusal {
            limit,
            retry_after_secs,
        }) => {
            let mut error = refusal(
                "RATE_LIMITED",
                limit.reason(),
                limit.message(retry_after_secs),
            );
            if let Some(extensions) = &mut error.extensions {
                extensions.set("retryAfter", retry_after_secs);
            }
            Err(error)
        }
        _ => Ok(()),
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

fn session_ended() -> End {
    close(CLOSE_FORBIDDEN, "Session ended")
}

/// An error of an operation refused before it ran, with `extensions.code` and `reason`.
fn refusal(code: &str, reason: &str, message: String) -> ServerError {
    let mut error = ServerError::new(message, None);
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", code);
    extensions.set("reason", Value::from(reason));
    error.extensions = Some(extensions);
    error
}
