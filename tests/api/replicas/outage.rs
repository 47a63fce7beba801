//! Redis going away under running replicas (issue 18, point 6): cut off by a proxy mid-test,
//! every replica keeps serving and `/readyz` says Redis is degraded; once it is back, without a
//! restart, events flow between the replicas again and revocations propagate again, including
//! the one made while it was away.

use std::time::{Duration, Instant};

use serde_json::json;

use super::harness::{Cluster, Replica, redis_url, session_event, token};
use super::proxy::CutProxy;
use crate::fake_clerk::clerk_user_json;
use crate::ws_client::{Socket, close_code, next, subscribe};

mod with_redis_cut_off_every_replica_serves_and_sharing_resumes_when_it_is_back {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replicas() {
        super::with_redis_cut_off_every_replica_serves_and_sharing_resumes_when_it_is_back().await
    }
}

fn revoked() -> (u16, Option<String>) {
    (401, Some("session_revoked".into()))
}

async fn create_post(replica: &Replica, author: &str, title: &str) {
    let query = format!(
        r#"mutation {{ createPost(input: {{title: "{title}", published: true}}) {{ id }} }}"#
    );
    let reply = replica.graphql(&query, Some(author)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.get("errors").is_none(), "{}", reply.body);
}

async fn next_title(socket: &mut Socket) -> String {
    let message = next(socket).await.expect("an event");
    message["payload"]["data"]["postPublished"]["title"]
        .as_str()
        .unwrap_or_else(|| panic!("{message}"))
        .to_string()
}

async fn with_redis_cut_off_every_replica_serves_and_sharing_resumes_when_it_is_back() {
    let Some(cluster) = Cluster::new(&[("RATE_LIMIT_ENABLED", "false")]).await else {
        return;
    };
    let proxy = CutProxy::start(&redis_url().expect("checked by Cluster::new")).await;
    let mut cluster = cluster.through(proxy.url.clone());
    cluster
        .clerk
        .add_users(vec![clerk_user_json("user_o", None)]);
    cluster.start(2).await;
    let (a, b) = (&cluster.replicas[0], &cluster.replicas[1]);
    let author = token("user_o", "sess_author");
    let mut published = Vec::new();
    for replica in [a, b] {
        let mut socket = replica.socket(None).await;
        subscribe(&mut socket, "1", "subscription { postPublished { title } }").await;
        published.push(socket);
    }
    tokio::time::sleep(Duration::from_millis(300)).await; // the streams are registered
    create_post(a, &author, "Before").await;
    for socket in &mut published {
        assert_eq!(next_title(socket).await, "Before");
    }

    proxy.cut();
    for replica in [a, b] {
        let ready = replica
            .wait_for_readyz(Duration::from_secs(5), |body| {
                body["degraded"] == json!(["redis"])
            })
            .await;
        assert_eq!(ready["redis"], false, "{ready}");
        assert_eq!(ready["database"], true, "{ready}");
    }
    // Serving: a token seen for the first time (its revocation cannot be looked up in Redis),
    // a mutation, and its event for the publisher's own subscribers.
    let cut_session = token("user_o", "sess_cut");
    for replica in [a, b] {
        let started = Instant::now();
        assert_eq!(replica.viewer(&cut_session).await, (200, None));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
    create_post(a, &author, "During").await;
    assert_eq!(next_title(&mut published[0]).await, "During");
    // Revoked through A while Redis is away: A refuses it at once, B (which cached the token)
    // cannot know yet.
    let revocation = session_event("session.revoked", "user_o", "sess_cut");
    assert_eq!(a.deliver("msg_cut", &revocation).await, 204);
    assert_eq!(a.viewer(&cut_session).await, revoked());

    proxy.restore();
    let restored = Instant::now();
    for replica in [a, b] {
        replica
            .wait_for_readyz(Duration::from_secs(15), |body| {
                body["redis"] == true && body["degraded"] == json!([])
            })
            .await;
    }
    eprintln!("Redis shared again after {:?}", restored.elapsed());
    // The revocation made during the outage reaches B, whose cache still holds the token.
    let deadline = Instant::now() + Duration::from_secs(3);
    while b.viewer(&cut_session).await != revoked() {
        assert!(
            Instant::now() < deadline,
            "B still accepts the session revoked on A"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Events flow again; the one published while Redis was away never reached B.
    create_post(a, &author, "After").await;
    assert_eq!(next_title(&mut published[0]).await, "After");
    assert_eq!(next_title(&mut published[1]).await, "After");
    // Revocations propagate again, within a second.
    let again = token("user_o", "sess_again");
    let mut socket = b.socket(Some(&again)).await;
    let revocation = session_event("session.revoked", "user_o", "sess_again");
    assert_eq!(a.deliver("msg_again", &revocation).await, 204);
    let delivered = Instant::now();
    assert_eq!(close_code(&mut socket).await, Some(4403));
    assert!(
        delivered.elapsed() < Duration::from_secs(1),
        "{:?}",
        delivered.elapsed()
    );
    assert_eq!(b.viewer(&again).await, revoked());
    cluster.finish().await;
}
