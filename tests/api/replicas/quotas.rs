//! Rate limits shared by the replicas (issue 18, point 2, checked with real replicas): a user's
//! quota of N requests is spent across all of them, and a lockout earned on one holds on the
//! others. They depend on the rate limits' Redis store (`rate_limit`), which is built apart from
//! the rest of issue 18: without it each replica counts alone and these tests fail.

use serde_json::json;

use super::harness::{Cluster, token};
use crate::fake_clerk::clerk_user_json;
use crate::helpers::GraphqlReply;
use crate::tokens::{TestKey, session_claims};

mod a_users_quota_is_spent_across_the_replicas {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replicas() {
        super::a_users_quota_is_spent_across_the_replicas().await
    }
}

mod a_lockout_earned_on_one_replica_holds_on_the_others {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replicas() {
        super::a_lockout_earned_on_one_replica_holds_on_the_others().await
    }
}

const QUERY: &str = "{ viewer { userId } }";
const QUOTA: usize = 6;

#[track_caller]
fn assert_limited(reply: &GraphqlReply, reason: &str) {
    assert_eq!(reply.status, 429, "{}", reply.body);
    assert_eq!(reply.code(), Some("RATE_LIMITED"), "{}", reply.body);
    assert_eq!(reply.reason(), Some(reason), "{}", reply.body);
}

async fn a_users_quota_is_spent_across_the_replicas() {
    let quota = QUOTA.to_string();
    let Some(mut cluster) = Cluster::new(&[("RATE_LIMIT_USER_PER_MINUTE", &quota)]).await else {
        return;
    };
    cluster
        .clerk
        .add_users(vec![clerk_user_json("user_q", None)]);
    cluster.start(3).await;
    let spender = token("user_q", "sess_q");
    // The quota's requests, spread over the replicas, all pass (it refills one per ten seconds:
    // the test is over long before).
    for request in 0..QUOTA {
        let replica = &cluster.replicas[request % cluster.replicas.len()];
        let reply = replica.graphql(QUERY, Some(&spender)).await;
        reply.assert_signed_in_as("user_q");
    }
    // The next one is refused, whichever replica it reaches.
    for replica in &cluster.replicas {
        assert_limited(
            &replica.graphql(QUERY, Some(&spender)).await,
            "user_rate_limit",
        );
    }
    // Another user's quota is untouched.
    let other = token("user_other", "sess_other");
    cluster.replicas[0]
        .graphql(QUERY, Some(&other))
        .await
        .assert_signed_in_as("user_other");
    cluster.finish().await;
}

async fn a_lockout_earned_on_one_replica_holds_on_the_others() {
    let Some(mut cluster) = Cluster::new(&[
        ("TRUSTED_PROXIES", "127.0.0.1"),
        ("AUTH_FAILURES_PER_MINUTE", "3"),
        ("AUTH_LOCKOUT_SECS", "60"),
    ])
    .await
    else {
        return;
    };
    cluster.start(2).await;
    let (a, b) = (&cluster.replicas[0], &cluster.replicas[1]);
    // Signed by another key under our kid: `token_invalid_signature`.
    let forged = TestKey::secondary().sign_with_header(
        &json!({"alg": "RS256", "kid": TestKey::primary().kid, "typ": "JWT"}),
        &session_claims("user_ada"),
    );
    let attacker = [("x-forwarded-for", "198.51.100.66")];
    for _ in 0..3 {
        a.graphql_with(QUERY, Some(&forged), &attacker)
            .await
            .assert_refused("token_invalid_signature");
    }
    // Locked out on A, and so on B.
    for replica in [a, b] {
        let reply = replica.graphql_with(QUERY, Some(&forged), &attacker).await;
        assert_limited(&reply, "auth_lockout");
    }
    // Another address is not.
    let reply = b
        .graphql_with(
            QUERY,
            Some(&forged),
            &[("x-forwarded-for", "198.51.100.67")],
        )
        .await;
    reply.assert_refused("token_invalid_signature");
    cluster.finish().await;
}
