//! Request limits (issue 5): every limit is refused with a clear error, a code and the right
//! status — never a crash or a hang — and the server answers the next request normally.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::fake_clerk::UsersFault;
use crate::helpers::{AppOptions, GraphqlReply, TestApp, spawn_app, spawn_app_with};
use crate::tokens::{TestKey, session_claims};

/// The next request is served as usual.
pub async fn assert_still_serving(app: &TestApp) {
    let reply = app.post_graphql("{ health }", &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "body: {}", reply.body);
    assert_eq!(reply.body, json!({"data": {"health": "ok"}}));
}

/// 400, `GRAPHQL_VALIDATION_FAILED`, no `data`, and a message naming the limit.
#[track_caller]
fn assert_over_limit(reply: &GraphqlReply, limit: &str, words: &str) {
    assert_eq!(
        reply.status,
        StatusCode::BAD_REQUEST,
        "body: {}",
        reply.body
    );
    assert_eq!(
        reply.code(),
        Some("GRAPHQL_VALIDATION_FAILED"),
        "body: {}",
        reply.body
    );
    assert_eq!(
        reply.body["errors"][0]["extensions"]["limit"],
        json!(limit),
        "body: {}",
        reply.body
    );
    let message = reply.body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains(words), "{message}");
    assert!(reply.body.get("data").is_none(), "body: {}", reply.body);
}

async fn post_raw(app: &TestApp, body: String) -> GraphqlReply {
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request sent");
    GraphqlReply::read(response).await
}

/// Sends raw bytes over HTTP/1.1 and reads until the server closes.
pub async fn raw_http(app: &TestApp, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// `{ __schema { queryType { fields { type { ofType … { name } } } } } }`: a valid query of the
/// given depth (at least 5).
fn introspection_of_depth(depth: usize) -> String {
    let of_types = depth - 5;
    format!(
        "{{ __schema {{ queryType {{ fields {{ type {{ {} name {} }} }} }} }} }}",
        "ofType { ".repeat(of_types),
        "} ".repeat(of_types)
    )
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_with_a_graphql_body() {
    let app = spawn_app().await;
    // Just over the default 1 MiB.
    let padding = "x".repeat(1024 * 1024 + 1000);
    let body = json!({"query": "{ health }", "variables": {"padding": padding}}).to_string();
    let reply = post_raw(&app, body).await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "body: {}",
        reply.body
    );
    assert_eq!(reply.code(), Some("BAD_REQUEST"));
    assert_eq!(reply.reason(), Some("body_too_large"));
    let message = reply.body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("1048576 bytes"), "{message}");
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn the_body_limit_follows_its_variable_with_or_without_a_length() {
    let app = spawn_app_with(AppOptions::default().var("GRAPHQL_MAX_BODY_BYTES", "2048")).await;
    let padded = |n: usize| {
        json!({"query": "{ health }", "variables": {"padding": "x".repeat(n)}}).to_string()
    };
    let small = post_raw(&app, padded(1000)).await;
    assert_eq!(small.body, json!({"data": {"health": "ok"}}));
    let large = post_raw(&app, padded(3000)).await;
    assert_eq!(
        large.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "body: {}",
        large.body
    );
    assert_eq!(large.reason(), Some("body_too_large"));

    // Chunked, with no Content-Length: counted as it arrives.
    let body = padded(3000);
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        app.address.trim_start_matches("http://")
    );
    let chunked = format!("{head}{:x}\r\n{body}\r\n0\r\n\r\n", body.len());
    let answer = raw_http(&app, chunked.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("body_too_large"), "{answer}");
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn a_300_deep_query_is_refused_before_it_is_parsed() {
    let app = spawn_app().await;
    let query = format!("{}health{}", "{ viewer ".repeat(300), " }".repeat(300));
    let reply = app.post_graphql(&query, &[]).await;
    assert_over_limit(&reply, "recursiveDepth", "recursive depth limit of 32");
    // Deep in argument brackets, too.
    let query = format!(
        "{{ user(id: {}1{}) {{ id }} }}",
        "[".repeat(300),
        "]".repeat(300)
    );
    let reply = app.post_graphql(&query, &[]).await;
    assert_over_limit(&reply, "recursiveDepth", "recursive depth limit of 32");
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn depth_over_the_limit_is_refused_naming_it() {
    let app = spawn_app().await;
    let ok = app.post_graphql(&introspection_of_depth(15), &[]).await;
    assert_eq!(ok.status, StatusCode::OK, "body: {}", ok.body);
    assert!(ok.body.get("errors").is_none(), "body: {}", ok.body);

    let reply = app.post_graphql(&introspection_of_depth(16), &[]).await;
    assert_over_limit(&reply, "depth", "depth 16 exceeds the depth limit of 15");
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn ten_thousand_aliases_are_refused() {
    // 30,000 tokens: the token limit would refuse the document before its aliases are counted.
    let app = spawn_app_with(AppOptions::default().var("GRAPHQL_MAX_TOKENS", "100000")).await;
    let aliases: String = (0..10_000).map(|i| format!("a{i}: userId ")).collect();
    let reply = app
        .post_graphql(&format!("{{ viewer {{ {aliases} }} }}"), &[])
        .await;
    assert_over_limit(&reply, "aliases", "10000 aliases");
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn aliases_are_counted_through_fragments() {
    let app = spawn_app().await;
    let aliases: String = (0..16).map(|i| format!("a{i}: health ")).collect();
    let once = format!("{{ ...F }} fragment F on Query {{ {aliases} }}");
    let reply = app.post_graphql(&once, &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "body: {}", reply.body);

    // 16 aliases, spread twice in one operation: 32, over 30.
    let aliases: String = (0..16).map(|i| format!("a{i}: userId ")).collect();
    let twice = format!(
        "{{ viewer {{ ...V }} v2: viewer {{ ...V }} }} fragment V on Viewer {{ {aliases} }}"
    );
    let reply = app.post_graphql(&twice, &[]).await;
    assert_over_limit(&reply, "aliases", "alias limit of 30");
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn too_many_root_fields_are_refused_fragments_included() {
    let app = spawn_app().await;
    let reply = app
        .post_graphql(&format!("{{ {} }}", "health ".repeat(21)), &[])
        .await;
    assert_over_limit(&reply, "rootFields", "root field limit of 20");

    let reply = app
        .post_graphql(
            &format!(
                "{{ ...F ...F ... on Query {{ ...F }} }} fragment F on Query {{ {} }}",
                "health ".repeat(7)
            ),
            &[],
        )
        .await;
    assert_over_limit(&reply, "rootFields", "21 fields at its root");
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn too_complex_queries_are_refused() {
    let app = spawn_app().await;
    // 1,002 fields once the fragment is expanded; neither deep nor aliased.
    let fields = "userId ".repeat(167);
    let query = format!(
        "{{ viewer {{ ...V ...V ...V ...V ...V ...V }} }} fragment V on Viewer {{ {fields} }}"
    );
    let reply = app.post_graphql(&query, &[]).await;
    assert_over_limit(&reply, "complexity", "complexity limit of 1000");
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn a_connection_counts_its_children_once_per_item_of_the_page() {
    let app = spawn_app_with(AppOptions::default().var("GRAPHQL_MAX_COMPLEXITY", "200")).await;
    // 4 fields, but 100 users × 3 fields each.
    let reply = app
        .post_graphql("{ users(first: 100) { nodes { id email } } }", &[])
        .await;
    assert_over_limit(&reply, "complexity", "exceeds the complexity limit of 200");
    // A page of 10 costs 31: let through to the resolvers (anonymous: UNAUTHENTICATED).
    let reply = app
        .post_graphql("{ users(first: 10) { nodes { id email } } }", &[])
        .await;
    assert_eq!(reply.status, StatusCode::OK, "body: {}", reply.body);
    assert_eq!(
        reply.code(),
        Some("UNAUTHENTICATED"),
        "body: {}",
        reply.body
    );
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn limits_follow_their_variables() {
    let app = spawn_app_with(
        AppOptions::default()
            .var("GRAPHQL_MAX_DEPTH", "3")
            .var("GRAPHQL_MAX_ROOT_FIELDS", "2")
            .var("GRAPHQL_MAX_ALIASES", "1"),
    )
    .await;
    let reply = app
        .post_graphql("{ __schema { queryType { name } } }", &[])
        .await;
    assert_eq!(reply.status, StatusCode::OK, "body: {}", reply.body);
    let reply = app
        .post_graphql("{ __schema { queryType { fields { name } } } }", &[])
        .await;
    assert_over_limit(&reply, "depth", "depth 4 exceeds the depth limit of 3");
    let reply = app
        .post_graphql("{ health __typename viewer { userId } }", &[])
        .await;
    assert_over_limit(&reply, "rootFields", "root field limit of 2");
    let reply = app.post_graphql("{ a: health b: health }", &[]).await;
    assert_over_limit(&reply, "aliases", "alias limit of 1");
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn the_playground_introspection_query_fits_the_default_limits() {
    let app = spawn_app().await;
    // GraphiQL 3.9's query (vendored under assets/graphiql), with its nine `ofType` levels.
    let type_ref = format!(
        "fragment TypeRef on __Type {{ kind name {} kind name {} }}",
        "ofType { kind name ".repeat(8),
        "} ".repeat(8)
    );
    let query = format!(
        "query IntrospectionQuery {{ __schema {{ description queryType {{ name }} \
         mutationType {{ name }} subscriptionType {{ name }} types {{ ...FullType }} \
         directives {{ name description isRepeatable locations \
         args(includeDeprecated: true) {{ ...InputValue }} }} }} }}
         fragment FullType on __Type {{ kind name description specifiedByURL \
         fields(includeDeprecated: true) {{ name description \
         args(includeDeprecated: true) {{ ...InputValue }} type {{ ...TypeRef }} \
         isDeprecated deprecationReason }} \
         inputFields(includeDeprecated: true) {{ ...InputValue }} \
         interfaces {{ ...TypeRef }} \
         enumValues(includeDeprecated: true) {{ name description isDeprecated deprecationReason }} \
         possibleTypes {{ ...TypeRef }} }}
         fragment InputValue on __InputValue {{ name description type {{ ...TypeRef }} \
         defaultValue isDeprecated deprecationReason }}
         {type_ref}"
    );
    let reply = app.post_graphql(&query, &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "body: {}", reply.body);
    assert!(reply.body.get("errors").is_none(), "body: {}", reply.body);
    assert_eq!(reply.body["data"]["__schema"]["queryType"]["name"], "Query");
}

#[tokio::test]
async fn a_request_over_its_time_is_answered_503_and_the_server_keeps_serving() {
    let app = spawn_app_with(AppOptions::default().var("GRAPHQL_TIMEOUT_SECS", "1")).await;
    // The Clerk users API accepts and never answers; the Clerk client would give up after its
    // own 3 s budget with a field error (HTTP 200), so a 503 here is the request deadline.
    app.clerk.fail_users_with(UsersFault::Hang);
    let token = TestKey::primary().sign(&session_claims("user_slow"));
    let started = Instant::now();
    let reply = app
        .post_graphql(
            "{ viewer { profile { id } } }",
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await;
    let elapsed = started.elapsed();
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "body: {}",
        reply.body
    );
    assert_eq!(reply.code(), Some("SERVICE_UNAVAILABLE"));
    assert_eq!(reply.reason(), Some("timeout"));
    assert!(reply.headers.contains_key("retry-after"));
    let request_id = reply.headers["x-request-id"].to_str().unwrap();
    assert_eq!(
        reply.body["errors"][0]["extensions"]["requestId"],
        json!(request_id)
    );
    assert!(elapsed < Duration::from_secs(30), "took {elapsed:?}");
    assert_still_serving(&app).await;
}
