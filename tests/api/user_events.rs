//! `myUserEvents`: the template's own subscription. A webhook that changes the viewer's row
//! reaches the viewer's sockets, after its transaction committed; nobody else's.

use std::time::Duration;

use serde_json::{Value, json};

use crate::fake_clerk::clerk_user_json;
use crate::helpers::{TestApp, spawn_app_on};
use crate::test_db::Backend;
use crate::webhooks_sign::event;
use crate::ws_client::{Socket, connect, init, next, subscribe, token};

fn user(id: &str, updated_at: i64, first_name: &str) -> Value {
    let mut user = clerk_user_json(id, None);
    user["updated_at"] = json!(updated_at);
    user["first_name"] = json!(first_name);
    user
}

async fn deliver(app: &TestApp, svix_id: &str, event_type: &str, data: Value) {
    let status = app
        .deliver(svix_id, &event(event_type, data))
        .await
        .status();
    assert_eq!(status, 204, "{svix_id}");
}

async fn subscribed_as(app: &TestApp, user_id: &str) -> Socket {
    let mut socket = connect(app, "graphql-transport-ws", None).await;
    init(
        &mut socket,
        json!({"Authorization": format!("Bearer {}", token(user_id))}),
    )
    .await;
    subscribe(
        &mut socket,
        "1",
        "subscription { myUserEvents { kind user { id firstName } } }",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await; // the stream is registered
    socket
}

async fn next_event(socket: &mut Socket) -> Value {
    let message = tokio::time::timeout(Duration::from_secs(5), next(socket))
        .await
        .expect("an event within 5 s")
        .unwrap();
    assert_eq!(message["type"], "next", "{message}");
    message["payload"]["data"]["myUserEvents"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_in_subscriber_gets_the_changes_to_its_own_row_only() {
    let app = spawn_app_on(Backend::Sqlite).await;
    let mut socket = subscribed_as(&app, "user_a").await;

    deliver(&app, "msg_b", "user.created", user("user_b", 1000, "Bea")).await;
    deliver(&app, "msg_a1", "user.created", user("user_a", 1000, "Ada")).await;
    assert_eq!(
        next_event(&mut socket).await,
        json!({"kind": "CREATED", "user": {"id": "user_a", "firstName": "Ada"}})
    );

    // An older snapshot changes nothing, so it announces nothing: the next event is the newer one.
    deliver(&app, "msg_a0", "user.updated", user("user_a", 500, "Stale")).await;
    deliver(
        &app,
        "msg_a2",
        "user.updated",
        user("user_a", 2000, "Augusta"),
    )
    .await;
    assert_eq!(
        next_event(&mut socket).await,
        json!({"kind": "UPDATED", "user": {"id": "user_a", "firstName": "Augusta"}})
    );
}
