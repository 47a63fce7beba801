//! A graphql-transport-ws / graphql-ws client for tests: connect to `/graphql/ws`, send, read
//! the next message (pings and keep-alives skipped) or the close frame.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::{Message, protocol::CloseFrame};

use crate::helpers::TestApp;
use crate::tokens::{TestKey, session_claims, with};

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub const PATIENCE: Duration = Duration::from_secs(5);

/// A session token of `user_id` with the session id `sess_<user_id>`.
pub fn token(user_id: &str) -> String {
    TestKey::primary().sign(&with(
        session_claims(user_id),
        json!({"sid": format!("sess_{user_id}")}),
    ))
}

pub async fn connect(app: &TestApp, protocol: &str, cookie: Option<&str>) -> Socket {
    let mut headers = vec![("sec-websocket-protocol", protocol)];
    headers.extend(cookie.map(|cookie| ("cookie", cookie)));
    upgrade(&app.address, &headers).await.expect("upgrade")
}

/// The upgrade of `/graphql/ws` on the server at `base` (`http://…`) with these request headers.
pub async fn upgrade(
    base: &str,
    headers: &[(&str, &str)],
) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    let url = format!("{}/graphql/ws", base.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    let (socket, response) = tokio_tungstenite::connect_async(request).await?;
    if let Some((_, protocol)) = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("sec-websocket-protocol"))
    {
        assert_eq!(response.headers()["sec-websocket-protocol"], *protocol);
    }
    Ok(socket)
}

/// A graphql-transport-ws connection, initialised with `payload`.
pub async fn signed_in(app: &TestApp, payload: Value) -> Socket {
    let mut socket = connect(app, "graphql-transport-ws", None).await;
    init(&mut socket, payload).await;
    socket
}

/// Waits for the server to close the connection; the close code, `None` without a frame.
pub async fn close_code(socket: &mut Socket) -> Option<u16> {
    loop {
        match next(socket).await {
            Ok(_) => continue,
            Err(frame) => return frame.map(|frame| u16::from(frame.code)),
        }
    }
}

/// A ping (with `payload`) answered by a pong: the connection is open and well.
pub async fn ping(socket: &mut Socket, payload: Value) {
    send(socket, json!({"type": "ping", "payload": payload})).await;
    let answer = next(socket).await;
    assert_eq!(
        answer.as_ref().ok().map(|m| &m["type"]),
        Some(&json!("pong")),
        "{answer:?}"
    );
}

pub async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::text(message.to_string()))
        .await
        .unwrap();
}

/// The next JSON message (pings skipped); `None` when the server closed.
pub async fn next(socket: &mut Socket) -> Result<Value, Option<CloseFrame>> {
    next_within(socket, PATIENCE)
        .await
        .expect("a message in time")
}

/// [`next`], or `None` when nothing comes within `patience` (a test that nothing more is sent).
pub async fn next_within(
    socket: &mut Socket,
    patience: Duration,
) -> Option<Result<Value, Option<CloseFrame>>> {
    let deadline = tokio::time::Instant::now() + patience;
    Some(loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .ok()?;
        match message {
            Some(Ok(Message::Text(text))) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["type"] == "ping" || value["type"] == "ka" {
                    continue;
                }
                break Ok(value);
            }
            Some(Ok(Message::Close(frame))) => break Err(frame),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => break Err(None),
        }
    })
}

pub async fn init(socket: &mut Socket, payload: Value) {
    send(
        socket,
        json!({"type": "connection_init", "payload": payload}),
    )
    .await;
    assert_eq!(next(socket).await.unwrap()["type"], "connection_ack");
}

pub async fn subscribe(socket: &mut Socket, id: &str, query: &str) {
    send(
        socket,
        json!({"type": "subscribe", "id": id, "payload": {"query": query}}),
    )
    .await;
}
