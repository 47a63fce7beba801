//! The database going away and coming back (issue 8): readiness, the fields that need it, the
//! fields that do not, and recovery without a restart. PostgreSQL only: it is the production
//! database and the one that can really be cut off (an embedded SQLite file has no outage short
//! of a full disk; its lock contention is covered by the webhook outage test).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::spawn_app_on;
use crate::test_db::{Backend, postgres_url};
use crate::tokens::{TestKey, session_claims, with};

/// Named `…::postgres` so that `scripts/test` reports it as skipped, not passed, without
/// `TEST_DATABASE_URL`.
mod a_database_outage_degrades_only_what_needs_it_and_heals_by_itself {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::a_database_outage_degrades_only_what_needs_it_and_heals_by_itself().await
    }
}

async fn a_database_outage_degrades_only_what_needs_it_and_heals_by_itself() {
    if postgres_url().is_none() {
        return;
    }
    let app = spawn_app_on(Backend::Postgres).await;
    let authorization = format!(
        "Bearer {}",
        TestKey::primary().sign(&session_claims("user_1"))
    );
    // Fields that need the database are nullable here, except `users`: the GraphQL spec nulls
    // `data` when a non-null root field fails, so `users` is asked on its own below, by an admin.
    let query = r#"{ health viewer { userId } user(id: "user_1") { id } }"#;
    let users = "{ users { nodes { id } } }";
    let admin = format!(
        "Bearer {}",
        TestKey::primary().sign(&with(
            session_claims("user_admin"),
            json!({"metadata": {"role": "admin"}})
        ))
    );
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);

    let outage = app.database.start_outage().await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["database"], false, "{body}");

    let reply = app
        .post_graphql(query, &[("authorization", &authorization)])
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["data"]["health"], "ok", "{}", reply.body);
    assert_eq!(reply.body["data"]["viewer"], json!({"userId": "user_1"}));
    assert_eq!(reply.body["data"]["user"], Value::Null);
    let codes: Vec<&str> = reply.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["extensions"]["code"].as_str().unwrap())
        .collect();
    assert!(
        !codes.is_empty() && codes.iter().all(|code| *code == "SERVICE_UNAVAILABLE"),
        "{}",
        reply.body
    );
    let text = reply.body.to_string();
    assert!(
        !text.contains("postgres") && !text.contains("pg_"),
        "no internals leak: {text}"
    );
    let reply = app.post_graphql(users, &[("authorization", &admin)]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["data"], Value::Null, "{}", reply.body);
    assert_eq!(reply.code(), Some("SERVICE_UNAVAILABLE"), "{}", reply.body);

    outage.end().await;
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);
    let reply = app
        .post_graphql(query, &[("authorization", &authorization)])
        .await;
    assert!(reply.body.get("errors").is_none(), "{}", reply.body);
    let reply = app.post_graphql(users, &[("authorization", &admin)]).await;
    assert!(reply.body.get("errors").is_none(), "{}", reply.body);
    assert_eq!(reply.body["data"]["users"], json!({"nodes": []}));
}
