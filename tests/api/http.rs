//! The HTTP surface: health and readiness, request ids, the playground switch.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{AppOptions, spawn_app, spawn_app_with};
use crate::tokens::{TestKey, session_claims};

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let health = app.get("/healthz").await;
    assert_eq!(health.status(), StatusCode::OK);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::OK);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(
        body,
        json!({
            "status": "ready",
            "database": true,
            "jwks_loaded": true,
            "redis": null,
            "degraded": [],
        })
    );

    let reply = app.post_graphql("{ health }", &[]).await;
    assert_eq!(reply.body, json!({"data": {"health": "ok"}}));
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let ok = app.post_graphql("{ health }", &[]).await;
    let refused = app.viewer_with_bearer("a.b.c").await;
    let signed_in = app
        .viewer_with_bearer(&TestKey::primary().sign(&session_claims("user_1")))
        .await;
    let mut ids = Vec::new();
    for reply in [&ok, &refused, &signed_in] {
        let id = reply.headers["x-request-id"].to_str().unwrap().to_string();
        assert_eq!(id.len(), 36, "a UUID: {id}");
        ids.push(id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 3, "ids differ between requests");
    assert!(
        app.get("/healthz")
            .await
            .headers()
            .contains_key("x-request-id")
    );
    // A caller-supplied id is kept (propagated through a proxy chain).
    let reply = app
        .post_graphql("{ health }", &[("x-request-id", "trace-123")])
        .await;
    assert_eq!(reply.headers["x-request-id"], "trace-123");
}

#[tokio::test]
async fn playground_follows_its_switch() {
    let app = spawn_app().await;
    let page = app.get("/graphql").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("graphiql"));

    let off = spawn_app_with(AppOptions::default().var("GRAPHQL_PLAYGROUND", "false")).await;
    assert_eq!(
        off.get("/graphql").await.status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[tokio::test]
async fn introspection_follows_its_switch() {
    let query = "{ __schema { queryType { name } } }";
    let on = spawn_app().await;
    let reply = on.post_graphql(query, &[]).await;
    assert_eq!(reply.body["data"]["__schema"]["queryType"]["name"], "Query");

    let off = spawn_app_with(AppOptions::default().var("GRAPHQL_INTROSPECTION", "false")).await;
    let reply = off.post_graphql(query, &[]).await;
    assert_eq!(
        reply.body["data"]["__schema"],
        Value::Null,
        "{}",
        reply.body
    );
}

// Issue 8: security headers on every response, and no server banner.
#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = crate::helpers::spawn_app().await;
    let graphql = app.post_graphql("{ health }", &[]).await;
    let refused = app
        .post_graphql("{ health }", &[("authorization", "Bearer x.y.z")])
        .await;
    for (what, headers) in [
        ("graphql", graphql.headers),
        ("401", refused.headers),
        ("healthz", app.get("/healthz").await.headers().clone()),
        ("404", app.get("/nowhere").await.headers().clone()),
    ] {
        assert_eq!(headers["x-content-type-options"], "nosniff", "{what}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{what}");
        assert!(headers.get("server").is_none(), "{what}: no server banner");
    }
}
