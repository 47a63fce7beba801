//! Subscriptions over `/graphql/ws` (issue 5): authentication at `connection_init`, close codes,
//! directives on subscription fields, and revocation by webhook.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use crate::fake_clerk::clerk_user_json;
use crate::helpers::{AppOptions, TestApp, spawn_app_on, spawn_app_with};
use crate::test_db::Backend;
use crate::tokens::{TestKey, session_claims};
use crate::webhooks_sign::event;
use crate::ws_client::{close_code, connect, init, next, send, subscribe, token};

/// A server whose fake Clerk knows `user_a` and `user_b` (the posts tests provision them).
pub(crate) async fn spawn() -> TestApp {
    spawn_with(AppOptions::default()).await
}

/// The same, with these options (on a SQLite file whatever they say).
pub(crate) async fn spawn_with(options: AppOptions) -> TestApp {
    let app = spawn_app_with(options.on(Backend::Sqlite)).await;
    app.clerk.add_users(vec![
        clerk_user_json("user_a", None),
        clerk_user_json("user_b", None),
    ]);
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_subscriber_is_refused_a_guarded_subscription() {
    let app = spawn().await;
    let mut socket = connect(&app, "graphql-transport-ws", None).await;
    init(&mut socket, json!({})).await;
    subscribe(
        &mut socket,
        "1",
        "subscription { ...Mine } fragment Mine on Subscription { myUserEvents { kind } }",
    )
    .await;
    // Refused before any stream starts: graphql-transport-ws's `error` message, which ends
    // the operation (no `complete` follows).
    let message = next(&mut socket).await.unwrap();
    assert_eq!(message["type"], "error", "{message}");
    assert_eq!(message["id"], "1", "{message}");
    let error = &message["payload"][0];
    assert_eq!(error["extensions"]["code"], "UNAUTHENTICATED", "{message}");
    // Refused before anything ran: a request error, located at the field, without a path.
    assert_eq!(
        error["locations"],
        json!([{"line": 1, "column": 58}]),
        "{message}"
    );
    assert!(error.get("path").is_none(), "{message}");
    // The connection is still usable.
    subscribe(&mut socket, "2", "{ health }").await;
    let message = next(&mut socket).await.unwrap();
    assert_eq!(message["type"], "next", "{message}");
    assert_eq!(message["payload"]["data"]["health"], "ok", "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_token_closes_with_4403_and_a_cookie_works() {
    let app = spawn().await;
    for payload in [
        json!({"Authorization": "Bearer not.a.token"}),
        json!({"token": TestKey::secondary().sign(&session_claims("user_a"))}),
    ] {
        let mut socket = connect(&app, "graphql-transport-ws", None).await;
        send(
            &mut socket,
            json!({"type": "connection_init", "payload": payload}),
        )
        .await;
        let frame = next(&mut socket).await.unwrap_err().expect("a close frame");
        assert_eq!(frame.code, CloseCode::Library(4403));
    }
    // The `__session` cookie of the upgrade request, when the payload has no token.
    let cookie = format!("__session={}", token("user_a"));
    let mut socket = connect(&app, "graphql-transport-ws", Some(&cookie)).await;
    init(&mut socket, json!({})).await;
    subscribe(&mut socket, "1", "subscription { myUserEvents { kind } }").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let created = event("user.created", clerk_user_json("user_a", None));
    assert_eq!(app.deliver("msg_cookie", &created).await.status(), 204);
    assert_eq!(
        next(&mut socket).await.unwrap()["payload"]["data"]["myUserEvents"]["kind"],
        "CREATED"
    );
}

#[tokio::test]
async fn a_silent_client_is_closed_with_4408() {
    let app = spawn_app_on(Backend::SqliteMemory).await;
    let mut socket = connect(&app, "graphql-transport-ws", None).await;
    let closed = tokio::time::timeout(Duration::from_secs(15), socket.next())
        .await
        .expect("closed within the 10 s initialisation timeout");
    match closed {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(frame.code, CloseCode::Library(4408)),
        other => panic!("expected a 4408 close, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_deleted_and_session_revoked_webhooks_end_subscriptions() {
    let app = spawn().await;
    let mut a = connect(&app, "graphql-transport-ws", None).await;
    init(
        &mut a,
        json!({"Authorization": format!("Bearer {}", token("user_a"))}),
    )
    .await;
    subscribe(&mut a, "1", "subscription { myUserEvents { kind } }").await;
    let mut b = connect(&app, "graphql-transport-ws", None).await;
    init(&mut b, json!({"token": token("user_b")})).await;
    subscribe(&mut b, "1", "subscription { myUserEvents { kind } }").await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    let deleted = json!({"id": "user_a", "deleted": true, "object": "user"});
    assert_eq!(
        app.deliver("msg_del_a", &event("user.deleted", deleted))
            .await
            .status(),
        204
    );
    // The socket itself is closed, not only its stream.
    assert_eq!(close_code(&mut a).await, Some(4403));

    let revoked =
        json!({"id": "sess_user_b", "object": "session", "user_id": "user_b", "status": "revoked"});
    assert_eq!(
        app.deliver("msg_rev_b", &event("session.revoked", revoked))
            .await
            .status(),
        204
    );
    assert_eq!(close_code(&mut b).await, Some(4403));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_transport_ws_answers_as_the_protocol_says() {
    let app = spawn().await;
    // `subscribe` before `connection_init`: 4401.
    let mut socket = connect(&app, "graphql-transport-ws", None).await;
    subscribe(&mut socket, "1", "{ health }").await;
    assert_eq!(close_code(&mut socket).await, Some(4401));
    // Invalid JSON, or not a protocol message: 4400.
    for garbage in [
        "{not json",
        r#"{"type": "bogus"}"#,
        r#"{"type": "subscribe", "id": "1"}"#,
    ] {
        let mut socket = connect(&app, "graphql-transport-ws", None).await;
        init(&mut socket, json!({})).await;
        socket.send(Message::text(garbage)).await.expect("sent");
        assert_eq!(close_code(&mut socket).await, Some(4400), "{garbage}");
    }
    // A second `connection_init`: 4429.
    let mut socket = connect(&app, "graphql-transport-ws", None).await;
    init(&mut socket, json!({})).await;
    send(&mut socket, json!({"type": "connection_init"})).await;
    assert_eq!(close_code(&mut socket).await, Some(4429));
    // An operation that fails validation: an `error` message, and the socket goes on.
    let mut socket = connect(&app, "graphql-transport-ws", None).await;
    init(&mut socket, json!({})).await;
    subscribe(&mut socket, "1", "subscription { nope }").await;
    let refused = next(&mut socket).await.unwrap();
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["id"], "1");
    assert_eq!(
        refused["payload"][0]["extensions"]["code"],
        "GRAPHQL_VALIDATION_FAILED"
    );
    send(&mut socket, json!({"type": "ping"})).await;
    assert_eq!(next(&mut socket).await.unwrap()["type"], "pong");
    // No supported subprotocol: the upgrade is refused with a JSON 400.
    let url = format!("{}/graphql/ws", app.address.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("sec-websocket-protocol", HeaderValue::from_static("mqtt"));
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 400);
            let body: serde_json::Value =
                serde_json::from_slice(response.body().as_deref().unwrap_or_default()).unwrap();
            assert_eq!(
                body["errors"][0]["extensions"]["reason"],
                "unsupported_subprotocol"
            );
        }
        other => panic!("expected 400, got {:?}", other.map(|_| ())),
    }
}
