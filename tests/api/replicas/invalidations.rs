//! User changes across replicas (issue 18, point 4): a `user.updated` webhook that reached one
//! replica evicts the user from every replica's Clerk cache (the next request there sees the new
//! role, for one Clerk call) and reaches every replica's `myUserEvents` subscribers.

use std::time::{Duration, Instant};

use serde_json::json;

use super::harness::{Cluster, token};
use crate::fake_clerk::clerk_user_json;
use crate::webhooks_sign::event;
use crate::ws_client::{next, subscribe};

mod a_user_updated_through_one_replica_is_seen_by_the_others_at_their_next_request {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replicas() {
        super::a_user_updated_through_one_replica_is_seen_by_the_others_at_their_next_request()
            .await
    }
}

/// The app role the token does not carry: from Clerk's `public_metadata.role`, cached.
const ROLE: &str = "{ viewer { role } }";

async fn a_user_updated_through_one_replica_is_seen_by_the_others_at_their_next_request() {
    let Some(mut cluster) = Cluster::new(&[("RATE_LIMIT_ENABLED", "false")]).await else {
        return;
    };
    let member = clerk_user_json("user_r", Some("member"));
    cluster.clerk.add_users(vec![member.clone()]);
    cluster.start(2).await;
    let (a, b) = (&cluster.replicas[0], &cluster.replicas[1]);
    let token = token("user_r", "sess_r");
    let role = |reply: &crate::helpers::GraphqlReply| reply.body["data"]["viewer"]["role"].clone();

    assert_eq!(
        a.deliver("msg_created", &event("user.created", member))
            .await,
        204
    );
    for _ in 0..2 {
        assert_eq!(role(&b.graphql(ROLE, Some(&token)).await), "member");
    }
    assert_eq!(
        cluster.clerk.users_calls(),
        1,
        "B asked Clerk once, then cached"
    );
    let mut socket = b.socket(Some(&token)).await;
    subscribe(
        &mut socket,
        "1",
        "subscription { myUserEvents { kind user { id } } }",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await; // the stream is registered

    // Made an admin in Clerk, which tells A.
    let mut admin = clerk_user_json("user_r", Some("admin"));
    admin["updated_at"] = json!(admin["updated_at"].as_i64().unwrap() + 60_000);
    cluster.clerk.set_user(admin.clone());
    assert_eq!(
        a.deliver("msg_updated", &event("user.updated", admin))
            .await,
        204
    );
    let delivered = Instant::now();

    // B's cache is evicted within a second: its next request asks Clerk again, once.
    loop {
        let reply = b.graphql(ROLE, Some(&token)).await;
        if role(&reply) == "admin" {
            break;
        }
        assert_eq!(role(&reply), "member", "{}", reply.body);
        assert!(
            delivered.elapsed() < Duration::from_secs(1),
            "B still says member"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(role(&b.graphql(ROLE, Some(&token)).await), "admin");
    assert_eq!(cluster.clerk.users_calls(), 2, "one more Clerk call, by B");

    let message = next(&mut socket).await.unwrap();
    assert_eq!(
        message["payload"]["data"]["myUserEvents"],
        json!({"kind": "UPDATED", "user": {"id": "user_r"}}),
        "{message}"
    );
    cluster.finish().await;
}
