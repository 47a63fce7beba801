//! Subscription events across replicas (issue 18, point 3): an event published by one replica
//! reaches the subscribers of every replica, the publisher's included, exactly once each, with
//! the post as the database has it (an event travels as ids; a deletion with the post's last
//! state).

use std::time::Duration;

use serde_json::{Value, json};

use super::harness::{Cluster, token};
use crate::fake_clerk::clerk_user_json;
use crate::ws_client::{Socket, next, next_within, subscribe};

mod a_post_created_through_one_replica_reaches_every_replicas_subscribers_once {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replicas() {
        super::a_post_created_through_one_replica_reaches_every_replicas_subscribers_once().await
    }
}

/// The `next` payload's data of the next message on `socket`.
async fn event(socket: &mut Socket) -> Value {
    let message = next(socket).await.expect("an event, not a close");
    assert_eq!(message["type"], "next", "{message}");
    assert!(message["payload"].get("errors").is_none(), "{message}");
    message["payload"]["data"].clone()
}

async fn a_post_created_through_one_replica_reaches_every_replicas_subscribers_once() {
    let Some(mut cluster) = Cluster::new(&[("RATE_LIMIT_ENABLED", "false")]).await else {
        return;
    };
    cluster
        .clerk
        .add_users(vec![clerk_user_json("user_author", None)]);
    cluster.start(3).await;
    let author = token("user_author", "sess_author");

    // On every replica, the publisher's included: a public subscriber and the author's own.
    let mut public = Vec::new();
    let mut own = Vec::new();
    for replica in &cluster.replicas {
        let mut socket = replica.socket(None).await;
        let query = "subscription { postPublished { id title author { id } } }";
        subscribe(&mut socket, "1", query).await;
        public.push(socket);
        let mut socket = replica.socket(Some(&author)).await;
        let query = "subscription { myPostEvents { kind post { id title published } } }";
        subscribe(&mut socket, "1", query).await;
        own.push(socket);
    }
    tokio::time::sleep(Duration::from_millis(300)).await; // the streams are registered

    let a = &cluster.replicas[0];
    let created = a
        .graphql(
            r#"mutation { createPost(input: {title: "Across", published: true}) { id } }"#,
            Some(&author),
        )
        .await;
    assert!(created.body.get("errors").is_none(), "{}", created.body);
    let id = created.body["data"]["createPost"]["id"].clone();
    let post = json!({"id": id, "title": "Across", "published": true});

    for (replica, socket) in public.iter_mut().enumerate() {
        assert_eq!(
            event(socket).await["postPublished"],
            json!({"id": id, "title": "Across", "author": {"id": "user_author"}}),
            "replica {replica}"
        );
    }
    for (replica, socket) in own.iter_mut().enumerate() {
        for kind in ["CREATED", "PUBLISHED"] {
            assert_eq!(
                event(socket).await["myPostEvents"],
                json!({"kind": kind, "post": post}),
                "replica {replica}"
            );
        }
    }

    // Deleted through another replica: the row is gone, the event still says what it was.
    let b = &cluster.replicas[1];
    let deleted = b
        .graphql(
            &format!(r#"mutation {{ deletePost(id: {id}) }}"#),
            Some(&author),
        )
        .await;
    assert_eq!(deleted.body["data"]["deletePost"], id, "{}", deleted.body);
    for (replica, socket) in own.iter_mut().enumerate() {
        assert_eq!(
            event(socket).await["myPostEvents"],
            json!({"kind": "DELETED", "post": post}),
            "replica {replica}"
        );
    }

    // Once each: nothing more arrives anywhere.
    for (index, socket) in public.iter_mut().chain(own.iter_mut()).enumerate() {
        let more = next_within(socket, Duration::from_millis(500)).await;
        assert!(more.is_none(), "socket {index}: {more:?}");
    }
    cluster.finish().await;
}
