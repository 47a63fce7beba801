//! GraphQL over HTTP as the spec says, and CORS for real frontends (issue 15): status codes by
//! media type, `Accept` with q-values and wildcards, `GET` without a query, the CORS headers
//! frontends need, and a dev token that no other origin can read.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    AppOptions, BROWSER_ACCEPT, GRAPHQL_RESPONSE_JSON, GraphqlReply, TestApp, spawn_app,
    spawn_app_with,
};

const FRONTEND: &str = "http://localhost:3000";

async fn post_body(app: &TestApp, body: &str, accept: Option<&str>) -> GraphqlReply {
    let mut request = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    GraphqlReply::read(request.send().await.unwrap()).await
}

#[tokio::test]
async fn request_errors_are_200_for_application_json_and_400_for_graphql_response_json() {
    let app = spawn_app().await;
    for (query, code) in [
        ("{ health", "GRAPHQL_PARSE_FAILED"),
        ("{ nope }", "GRAPHQL_VALIDATION_FAILED"),
    ] {
        let body = json!({ "query": query }).to_string();
        // Legacy clients (and those that send no Accept): 200, errors in the body.
        for accept in [Some("application/json"), None] {
            let reply = post_body(&app, &body, accept).await;
            assert_eq!(reply.status, StatusCode::OK, "{accept:?}: {}", reply.body);
            assert_eq!(reply.headers["content-type"], "application/json");
            assert_eq!(reply.code(), Some(code), "{}", reply.body);
            assert!(reply.body.get("data").is_none(), "{}", reply.body);
        }
        let reply = post_body(&app, &body, Some(GRAPHQL_RESPONSE_JSON)).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert_eq!(reply.headers["content-type"], GRAPHQL_RESPONSE_JSON);
        assert_eq!(reply.code(), Some(code), "{}", reply.body);
    }
    // Not a GraphQL-over-HTTP request at all: 400 whatever the client accepts.
    for body in ["{not json", r#"{"variables": {}}"#] {
        for accept in [Some("application/json"), Some(GRAPHQL_RESPONSE_JSON), None] {
            let reply = post_body(&app, body, accept).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body} {accept:?}");
            assert_eq!(reply.code(), Some("BAD_REQUEST"), "{}", reply.body);
        }
    }
}

#[tokio::test]
async fn accept_q_values_and_wildcards_choose_the_media_type() {
    let app = spawn_app().await;
    let body = json!({ "query": "{ health }" }).to_string();
    for (accept, expected) in [
        (
            "application/json, application/graphql-response+json;q=0.1",
            "application/json",
        ),
        (
            "application/graphql-response+json;q=0.9, application/json;q=0.5",
            GRAPHQL_RESPONSE_JSON,
        ),
        (
            "application/graphql-response+json, application/json",
            GRAPHQL_RESPONSE_JSON,
        ),
        ("*/*", "application/json"),
        (
            "application/*;q=0.5, application/graphql-response+json",
            GRAPHQL_RESPONSE_JSON,
        ),
        ("application/graphql-response+json;q=0", "application/json"),
    ] {
        let reply = post_body(&app, &body, Some(accept)).await;
        assert_eq!(reply.status, StatusCode::OK, "{accept}");
        assert_eq!(reply.headers["content-type"], expected, "{accept}");
        assert_eq!(reply.body["data"]["health"], "ok");
    }
}

#[tokio::test]
async fn get_without_a_query_is_a_json_400_unless_a_browser_asks_for_the_page() {
    let app = spawn_app().await;
    for accept in [Some("application/json"), Some("*/*"), None] {
        let mut request = app.client.get(format!("{}/graphql", app.address));
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        let reply = GraphqlReply::read(request.send().await.unwrap()).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{accept:?}");
        assert_eq!(reply.reason(), Some("missing_query"), "{}", reply.body);
    }
    let page = app.get("/graphql").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
}

#[tokio::test]
async fn cors_lets_frontends_send_their_headers_and_read_retry_after_and_the_request_id() {
    let app = spawn_app_with(AppOptions::default().var("CORS_ALLOWED_ORIGINS", FRONTEND)).await;
    let requested = "authorization, content-type, sentry-trace, baggage, traceparent, \
                     apollographql-client-name, apollographql-client-version, x-request-id";
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.address))
        .header("origin", FRONTEND)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", requested)
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), StatusCode::OK);
    let headers = preflight.headers();
    assert_eq!(headers["access-control-allow-origin"], FRONTEND);
    assert_eq!(headers["access-control-allow-credentials"], "true");
    let allowed = headers["access-control-allow-headers"].to_str().unwrap();
    for name in requested.split(", ") {
        assert!(allowed.contains(name), "{name} not in {allowed}");
    }
    let vary = headers["vary"].to_str().unwrap().to_ascii_lowercase();
    assert!(vary.contains("origin"), "{vary}");

    let reply = app
        .post_graphql("{ health }", &[("origin", FRONTEND)])
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers["access-control-allow-origin"], FRONTEND);
    assert_eq!(reply.headers["access-control-allow-credentials"], "true");
    let exposed = reply.headers["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("retry-after"), "{exposed}");
    assert!(exposed.contains("x-request-id"), "{exposed}");
    assert!(
        reply.headers["vary"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase()
            .contains("origin")
    );

    // The list is configurable.
    let custom = spawn_app_with(
        AppOptions::default()
            .var("CORS_ALLOWED_ORIGINS", FRONTEND)
            .var(
                "CORS_ALLOWED_HEADERS",
                "authorization,content-type,x-tenant",
            ),
    )
    .await;
    let preflight = custom
        .client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/graphql", custom.address),
        )
        .header("origin", FRONTEND)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "x-tenant")
        .send()
        .await
        .unwrap();
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap();
    assert!(allowed.contains("x-tenant"), "{allowed}");
    assert!(!allowed.contains("sentry-trace"), "{allowed}");
}

#[tokio::test]
async fn the_dev_token_is_never_readable_from_another_origin() {
    let keys = tempfile::tempdir().unwrap();
    let app = spawn_app_with(
        AppOptions::default()
            .unset("CLERK_SECRET_KEY")
            .unset("CLERK_ISSUER")
            .unset("DEV_MODE")
            .var("DEV_KEYS_DIR", keys.path().to_str().unwrap())
            .var("CORS_ALLOWED_ORIGINS", FRONTEND),
    )
    .await;
    let config = app
        .client
        .get(format!("{}/playground/config.json", app.address))
        .header("origin", FRONTEND)
        .send()
        .await
        .unwrap();
    assert_eq!(config.status(), StatusCode::OK);
    assert!(
        !config.headers().contains_key("access-control-allow-origin"),
        "{:?}",
        config.headers()
    );
    let body: serde_json::Value = config.json().await.unwrap();
    assert!(body["devToken"].is_string(), "a local page still gets it");
    let preflight = app
        .client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/playground/config.json", app.address),
        )
        .header("origin", FRONTEND)
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(
        !preflight
            .headers()
            .contains_key("access-control-allow-origin")
    );
    // The API itself is open to the listed origin.
    let reply = app
        .post_graphql("{ health }", &[("origin", FRONTEND)])
        .await;
    assert_eq!(reply.headers["access-control-allow-origin"], FRONTEND);
    let page = app
        .client
        .get(format!("{}/graphql", app.address))
        .header("accept", BROWSER_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_error_in_a_non_null_field_nulls_the_nearest_nullable_parent() {
    let app = spawn_app().await;
    let member = crate::tokens::TestKey::primary().sign(&crate::tokens::session_claims("user_np"));
    let bearer = format!("Bearer {member}");
    // `users: UserConnection!` at the root, refused to a non-admin: `data` itself is null.
    let reply = app
        .post_graphql(
            "{ health users(first: 2) { nodes { id } } }",
            &[("authorization", &bearer)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body["data"],
        serde_json::Value::Null,
        "{}",
        reply.body
    );
    assert_eq!(reply.code(), Some("FORBIDDEN"), "{}", reply.body);
    assert_eq!(reply.body["errors"][0]["path"], json!(["users"]));
    assert_eq!(reply.body["errors"].as_array().unwrap().len(), 1);

    // `Node.id: ID!` and `Node.text: String!` refused inside the nullable `node` (through the
    // interface, each requires every implementor's marks): `node` is null, `health` stays.
    let reply = app
        .post_graphql(r#"{ health node(id: "admin") { id text } }"#, &[])
        .await;
    assert_eq!(
        reply.body["data"],
        json!({"health": "ok", "node": null}),
        "{}",
        reply.body
    );
    let mut paths: Vec<String> = reply.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|error| error["path"].to_string())
        .collect();
    paths.sort();
    assert_eq!(paths, [r#"["node","id"]"#, r#"["node","text"]"#]);

    // A nullable field's error: that field is null, its siblings stay.
    let reply = app.post_graphql("{ me { id } health }", &[]).await;
    assert_eq!(reply.body["data"], json!({"me": null, "health": "ok"}));
    assert_eq!(reply.code(), Some("UNAUTHENTICATED"));
}
