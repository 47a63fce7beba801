//! `Query.me` (lazy provisioning), `Query.user`, `Query.users` (admin, Relay pagination) and
//! `User.profile` batching, on SQLite and PostgreSQL.

use chrono::Utc;
use clerk_graphql::clerk::ClerkUser;
use clerk_graphql::users::apply_snapshot;
use clerk_graphql::users::entity as users;
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use crate::fake_clerk::clerk_user_json;
use crate::helpers::{GraphqlReply, TestApp, spawn_app_on};
use crate::test_db::{Backend, on_every_backend};
use crate::tokens::{TestKey, session_claims, with};
use crate::webhooks_sign::event;

async fn as_user(app: &TestApp, user_id: &str, query: &str) -> GraphqlReply {
    let token = TestKey::primary().sign(&session_claims(user_id));
    app.post_graphql(query, &[("authorization", &format!("Bearer {token}"))])
        .await
}

/// An admin by session claim (`metadata.role`), so that no Clerk call decides the role.
async fn as_admin(app: &TestApp, query: &str) -> GraphqlReply {
    let claims = with(
        session_claims("user_admin"),
        json!({"metadata": {"role": "admin"}}),
    );
    let token = TestKey::primary().sign(&claims);
    app.post_graphql(query, &[("authorization", &format!("Bearer {token}"))])
        .await
}

/// Users `user_000`… created a second apart, straight into the database.
async fn seed(db: &DatabaseConnection, count: usize) {
    for i in 0..count {
        let mut user = clerk_user_json(&format!("user_{i:03}"), None);
        user["created_at"] = json!(1_700_000_000_000_i64 + i as i64 * 1000);
        let user: ClerkUser = serde_json::from_value(user).unwrap();
        apply_snapshot(db, &user, Utc::now()).await.unwrap();
    }
}

on_every_backend!(
    me_is_provisioned_from_clerk_before_the_webhook_arrives,
    me_for_deleted_unknown_and_anonymous_viewers,
    user_by_id,
    users_pages_through_everyone_for_admins_only,
    users_rejects_bad_arguments,
    a_query_needing_150_clerk_users_makes_two_calls,
);

async fn me_is_provisioned_from_clerk_before_the_webhook_arrives(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let db = app.database.connect().await;
    let clerk_user = clerk_user_json("user_new", Some("member"));
    app.clerk.add_users(vec![clerk_user.clone()]);

    let query = "{ me { id email username firstName lastName imageUrl createdAt updatedAt publicMetadata } }";
    let reply = as_user(&app, "user_new", query).await;
    assert_eq!(
        reply.body["data"]["me"],
        json!({
            "id": "user_new",
            "email": "user_new@example.com",
            "username": null,
            "firstName": "Ada",
            "lastName": "Lovelace user_new",
            "imageUrl": "https://img.clerk.com/user_new.png",
            "createdAt": "2024-05-28T08:00:00+00:00",
            "updatedAt": "2024-05-28T08:01:00+00:00",
            "publicMetadata": {"role": "member"}
        }),
        "{}",
        reply.body
    );
    assert_eq!(app.clerk.users_calls(), 1);
    let provisioned = users::Entity::find_by_id("user_new")
        .one(&db)
        .await
        .unwrap()
        .unwrap();

    // The webhook arrives late with the same `updated_at` (and, say, a stale name): no change.
    let mut late = clerk_user.clone();
    late["first_name"] = json!("Stale");
    let response = app.deliver("msg_late", &event("user.created", late)).await;
    assert_eq!(response.status(), 204);
    let after = users::Entity::find_by_id("user_new")
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after, provisioned);

    // Known now: no more Clerk calls for `me`.
    for _ in 0..3 {
        let reply = as_user(&app, "user_new", "{ me { firstName } }").await;
        assert_eq!(reply.body["data"]["me"]["firstName"], "Ada");
    }
    assert_eq!(app.clerk.users_calls(), 1);
}

async fn me_for_deleted_unknown_and_anonymous_viewers(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let reply = app.post_graphql("{ me { id } health }", &[]).await;
    assert_eq!(reply.code(), Some("UNAUTHENTICATED"), "{}", reply.body);
    assert_eq!(reply.body["data"], json!({"me": null, "health": "ok"}));

    app.clerk
        .add_users(vec![clerk_user_json("user_gone", None)]);
    let deleted = json!({"id": "user_gone", "deleted": true, "object": "user"});
    let response = app
        .deliver("msg_del", &event("user.deleted", deleted))
        .await;
    assert_eq!(response.status(), 204);
    // The deleted user's tokens are refused from then on.
    as_user(&app, "user_gone", "{ me { id } }")
        .await
        .assert_refused("session_revoked");

    // A token for a user Clerk does not know: null, no row.
    let reply = as_user(&app, "user_unknown", "{ me { id } }").await;
    assert_eq!(reply.body["data"], json!({"me": null}), "{}", reply.body);
    let db = app.database.connect().await;
    assert!(
        users::Entity::find_by_id("user_unknown")
            .one(&db)
            .await
            .unwrap()
            .is_none()
    );
}

async fn user_by_id(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let db = app.database.connect().await;
    seed(&db, 2).await;
    let query = r#"{ a: user(id: "user_001") { id firstName } b: user(id: "user_nobody") { id } }"#;
    let reply = as_user(&app, "user_000", query).await;
    // Another user's first name is personal data: null, FORBIDDEN (tests/api/personal_data.rs).
    assert_eq!(
        reply.body["data"],
        json!({"a": {"id": "user_001", "firstName": null}, "b": null}),
        "{}",
        reply.body
    );
    assert_eq!(reply.code(), Some("FORBIDDEN"), "{}", reply.body);
    assert_eq!(reply.body["errors"][0]["path"], json!(["a", "firstName"]));
    let reply = app.post_graphql(query, &[]).await;
    assert_eq!(reply.code(), Some("UNAUTHENTICATED"));
    assert_eq!(reply.body["data"], json!({"a": null, "b": null}));
}

async fn users_pages_through_everyone_for_admins_only(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let db = app.database.connect().await;
    seed(&db, 25).await;
    let mut seen: Vec<String> = Vec::new();
    let mut after = Value::Null;
    let mut pages = 0;
    loop {
        let query = format!(
            "{{ users(first: 10, after: {after}) {{ edges {{ cursor node {{ id }} }} pageInfo {{ hasNextPage hasPreviousPage endCursor }} }} }}"
        );
        let reply = as_admin(&app, &query).await;
        let connection = &reply.body["data"]["users"];
        assert!(connection.is_object(), "{}", reply.body);
        pages += 1;
        for edge in connection["edges"].as_array().unwrap() {
            seen.push(edge["node"]["id"].as_str().unwrap().to_string());
        }
        assert_eq!(connection["pageInfo"]["hasPreviousPage"], !after.is_null());
        if connection["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = connection["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(pages, 3);
    let expected: Vec<String> = (0..25).map(|i| format!("user_{i:03}")).collect();
    assert_eq!(seen, expected, "oldest first, each once");

    let reply = as_admin(&app, r#"{ users(search: "USER_01") { nodes { id } } }"#).await;
    let ids: Vec<&str> = reply.body["data"]["users"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        (10..20).map(|i| format!("user_{i:03}")).collect::<Vec<_>>()
    );
    // LIKE wildcards in a search are literal.
    let reply = as_admin(&app, r#"{ users(search: "%") { nodes { id } } }"#).await;
    assert_eq!(
        reply.body["data"]["users"]["nodes"],
        json!([]),
        "{}",
        reply.body
    );

    let reply = as_user(&app, "user_000", "{ users { nodes { id } } }").await;
    assert_eq!(reply.code(), Some("FORBIDDEN"), "{}", reply.body);
    let reply = app.post_graphql("{ users { nodes { id } } }", &[]).await;
    assert_eq!(reply.code(), Some("UNAUTHENTICATED"), "{}", reply.body);
}

async fn users_rejects_bad_arguments(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let long_search = format!(r#"search: "{}""#, "a".repeat(101));
    for (arguments, argument) in [
        ("first: 101", "first"),
        ("first: -1", "first"),
        (r#"after: "not-a-cursor""#, "after"),
        // base64url of "user_1" (no `created_at:` part): not one of our cursors.
        (r#"after: "dXNlcl8x""#, "after"),
        (long_search.as_str(), "search"),
    ] {
        let reply = as_admin(
            &app,
            &format!("{{ users({arguments}) {{ nodes {{ id }} }} }}"),
        )
        .await;
        assert_eq!(
            reply.code(),
            Some("BAD_USER_INPUT"),
            "{arguments}: {}",
            reply.body
        );
        assert_eq!(
            reply.body["errors"][0]["extensions"]["argument"], argument,
            "{}",
            reply.body
        );
        assert_eq!(reply.body["data"], Value::Null, "{}", reply.body);
    }
}

// Issue 3: one GraphQL request that needs 150 different Clerk users costs 2 Backend API calls
// (the per-request loader gathers every id; the cache fetches them 100 per call).
async fn a_query_needing_150_clerk_users_makes_two_calls(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let db = app.database.connect().await;
    seed(&db, 150).await;
    app.clerk.add_users(
        (0..150)
            .map(|i| clerk_user_json(&format!("user_{i:03}"), None))
            .collect(),
    );
    let first_page = as_admin(&app, "{ users(first: 100) { pageInfo { endCursor } } }").await;
    let cursor = first_page.body["data"]["users"]["pageInfo"]["endCursor"].clone();
    assert_eq!(app.clerk.users_calls(), 0);

    let query = format!(
        "{{ a: users(first: 100) {{ nodes {{ id profile {{ id email }} }} }} \
           b: users(first: 50, after: {cursor}) {{ nodes {{ id profile {{ id email }} }} }} }}"
    );
    let reply = as_admin(&app, &query).await;
    assert!(reply.body.get("errors").is_none(), "{}", reply.body);
    let nodes: Vec<&Value> = ["a", "b"]
        .iter()
        .flat_map(|alias| reply.body["data"][alias]["nodes"].as_array().unwrap())
        .collect();
    assert_eq!(nodes.len(), 150);
    for node in nodes {
        assert_eq!(node["profile"]["id"], node["id"]);
        assert_eq!(
            node["profile"]["email"],
            format!("{}@example.com", node["id"].as_str().unwrap())
        );
    }
    assert_eq!(
        app.clerk.users_calls(),
        2,
        "150 users: two calls of ≤ 100 ids"
    );
    assert_eq!(users::Entity::find().count(&db).await.unwrap(), 150);

    // `profile` is an admin field.
    let reply = as_user(
        &app,
        "user_000",
        r#"{ user(id: "user_001") { id profile { id } } }"#,
    )
    .await;
    assert_eq!(reply.code(), Some("FORBIDDEN"), "{}", reply.body);
    assert_eq!(
        reply.body["data"]["user"],
        json!({"id": "user_001", "profile": null})
    );
}
