//! Revocations across replicas (issue 18, point 4): `session.revoked` delivered to one replica
//! closes the session's sockets on another within a second and makes it refuse the session's
//! token, cached there or not; a replica started after the webhook refuses it too. Other sessions
//! go on. `user.deleted` likewise for every session of the user.

use std::time::{Duration, Instant};

use serde_json::json;

use super::harness::{Cluster, session_event, token, token_with};
use crate::fake_clerk::clerk_user_json;
use crate::webhooks_sign::event;
use crate::ws_client::{close_code, ping, subscribe};

mod a_session_revoked_through_one_replica_ends_on_every_replica {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replicas() {
        super::a_session_revoked_through_one_replica_ends_on_every_replica().await
    }
}

fn revoked() -> (u16, Option<String>) {
    (401, Some("session_revoked".into()))
}

fn served() -> (u16, Option<String>) {
    (200, None)
}

async fn a_session_revoked_through_one_replica_ends_on_every_replica() {
    let Some(mut cluster) = Cluster::new(&[("RATE_LIMIT_ENABLED", "false")]).await else {
        return;
    };
    cluster.clerk.add_users(vec![
        clerk_user_json("user_s", None),
        clerk_user_json("user_d", None),
    ]);
    cluster.start(2).await;
    let (a, b) = (&cluster.replicas[0], &cluster.replicas[1]);
    let ended = token("user_s", "sess_ended");
    let kept = token("user_s", "sess_kept");
    let deleted = token("user_d", "sess_d");

    // B has verified and cached the tokens, and holds their sockets.
    for token in [&ended, &kept, &deleted] {
        assert_eq!(b.viewer(token).await, served());
    }
    let mut ended_socket = b.socket(Some(&ended)).await;
    subscribe(
        &mut ended_socket,
        "1",
        "subscription { myUserEvents { kind } }",
    )
    .await;
    let mut kept_socket = b.socket(Some(&kept)).await;
    let mut deleted_socket = b.socket(Some(&deleted)).await;

    let event = session_event("session.revoked", "user_s", "sess_ended");
    assert_eq!(a.deliver("msg_revoked", &event).await, 204);
    let delivered = Instant::now();
    assert_eq!(close_code(&mut ended_socket).await, Some(4403));
    assert!(
        delivered.elapsed() < Duration::from_secs(1),
        "B closed the socket after {:?}",
        delivered.elapsed()
    );
    for replica in [a, b] {
        assert_eq!(replica.viewer(&ended).await, revoked(), "{}", replica.base);
        assert_eq!(replica.viewer(&kept).await, served(), "{}", replica.base);
    }
    ping(&mut kept_socket, json!({})).await;

    // A user deleted through B: A refuses its tokens and B closes its sockets.
    let deletion = event_user_deleted("user_d");
    assert_eq!(b.deliver("msg_deleted", &deletion).await, 204);
    assert_eq!(close_code(&mut deleted_socket).await, Some(4403));
    assert_eq!(a.viewer(&deleted).await, revoked());

    // A replica started after both webhooks refuses them too: the token it never saw, and a
    // fresh token of the ended session.
    cluster.start(1).await;
    let c = &cluster.replicas[2];
    let fresh = token_with("user_s", "sess_ended", json!({"jti": "later"}));
    assert_ne!(fresh, ended);
    for token in [&ended, &fresh, &deleted] {
        assert_eq!(c.viewer(token).await, revoked());
    }
    assert_eq!(c.viewer(&kept).await, served());
    let mut late_socket = c.socket(Some(&kept)).await;
    ping(&mut late_socket, json!({})).await;
    cluster.finish().await;
}

fn event_user_deleted(user: &str) -> serde_json::Value {
    event(
        "user.deleted",
        json!({"id": user, "deleted": true, "object": "user"}),
    )
}
