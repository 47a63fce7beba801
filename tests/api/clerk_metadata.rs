//! Roles and profiles from Clerk's Backend API over HTTP: lazily loaded, cached, and failing
//! closed with SERVICE_UNAVAILABLE when Clerk is down.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::fake_clerk::{UsersFault, clerk_user_json};
use crate::helpers::{GraphqlReply, TestApp, spawn_app};
use crate::tokens::{TestKey, session_claims};

/// A token with no role claim: the role must come from Clerk's user metadata.
async fn as_user(app: &TestApp, user_id: &str, query: &str) -> GraphqlReply {
    let token = TestKey::primary().sign(&session_claims(user_id));
    let header = format!("Bearer {token}");
    app.post_graphql(query, &[("authorization", &header)]).await
}

#[tokio::test]
async fn role_from_metadata_is_fetched_once_and_cached() {
    let app = spawn_app().await;
    app.clerk
        .add_users(vec![clerk_user_json("user_admin", Some("admin"))]);
    for _ in 0..20 {
        let reply = as_user(&app, "user_admin", "{ adminNote { id } viewer { role } }").await;
        assert_eq!(
            reply.body["data"],
            json!({"adminNote": {"id": "admin"}, "viewer": {"role": "admin"}}),
            "{}",
            reply.body
        );
    }
    assert_eq!(
        app.clerk.users_calls(),
        1,
        "20 requests within the TTL: one Clerk call"
    );
}

#[tokio::test]
async fn concurrent_first_requests_make_one_call() {
    let app = spawn_app().await;
    app.clerk
        .add_users(vec![clerk_user_json("user_member", Some("member"))]);
    let replies =
        join_all((0..10).map(|_| as_user(&app, "user_member", "{ adminNote { id } }"))).await;
    for reply in replies {
        assert_eq!(reply.code(), Some("FORBIDDEN"), "{}", reply.body);
    }
    assert_eq!(app.clerk.users_calls(), 1);
}

#[tokio::test]
async fn profile_comes_live_from_clerk() {
    let app = spawn_app().await;
    app.clerk
        .add_users(vec![clerk_user_json("user_p", Some("admin"))]);
    let reply = as_user(
        &app,
        "user_p",
        "{ viewer { profile { id email publicMetadata } } }",
    )
    .await;
    assert_eq!(
        reply.body["data"]["viewer"]["profile"],
        json!({"id": "user_p", "email": "user_p@example.com", "publicMetadata": {"role": "admin"}})
    );
}

#[tokio::test]
async fn clerk_down_fails_closed_with_service_unavailable() {
    let app = spawn_app().await;
    app.clerk
        .add_users(vec![clerk_user_json("user_x", Some("admin"))]);
    for fault in [
        UsersFault::Status(500),
        UsersFault::RateLimited {
            retry_after_secs: 30,
        },
        UsersFault::Hang,
    ] {
        app.clerk.fail_users_with(fault);
        let started = Instant::now();
        let reply = as_user(
            &app,
            "user_x",
            "{ adminNote { id } viewer { userId profile { id } } health }",
        )
        .await;
        assert!(
            started.elapsed() < Duration::from_millis(3500),
            "{fault:?} took {:?}",
            started.elapsed()
        );
        assert_eq!(
            reply.body["data"]["adminNote"],
            Value::Null,
            "{}",
            reply.body
        );
        assert_eq!(reply.body["data"]["viewer"]["profile"], Value::Null);
        assert_eq!(reply.body["data"]["viewer"]["userId"], "user_x");
        assert_eq!(reply.body["data"]["health"], "ok");
        let errors = reply.body["errors"].as_array().unwrap();
        assert!(!errors.is_empty());
        for error in errors {
            assert_eq!(
                error["extensions"]["code"], "SERVICE_UNAVAILABLE",
                "{fault:?}: {}",
                reply.body
            );
        }
    }
    // Failures are not cached: once Clerk is back, the role check passes.
    app.clerk.fail_users_with(UsersFault::None);
    let reply = as_user(&app, "user_x", "{ adminNote { id } }").await;
    assert_eq!(
        reply.body["data"]["adminNote"]["id"], "admin",
        "{}",
        reply.body
    );
}
