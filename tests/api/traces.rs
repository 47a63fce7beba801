//! Traces (issue 19): the real binary exports its spans over OTLP/HTTP to a fake collector on
//! loopback. A request that carries a `traceparent`, a token and GraphQL variables, and makes a
//! Clerk call and database statements, arrives as one trace: the server span a child of the
//! caller's, the GraphQL phases its children with the operation's attributes, a client span for
//! the Clerk call (whose `traceparent` Clerk received), database spans; and nothing the
//! collector received holds the token, the email, the variables' values or the document.
//! Error answers carry the trace id, and so does every log line of the request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use serde_json::{Value, json};

use crate::binary::{free_port, terminate, wait_until_ready};
use crate::fake_clerk::{FakeClerk, SECRET_KEY, UsersFault, clerk_user_json};
use crate::replicas::harness::{spawn_server, token};
use crate::tokens::ISSUER;

/// What the collector received: each body as sent, and the spans decoded from it.
#[derive(Default)]
struct Received {
    bodies: Vec<Bytes>,
    spans: Vec<Span>,
}

/// `POST /v1/traces` of an OTLP/HTTP collector (protobuf, the default protocol).
async fn collector() -> (String, Arc<Mutex<Received>>) {
    async fn export(State(received): State<Arc<Mutex<Received>>>, body: Bytes) -> Vec<u8> {
        let request = ExportTraceServiceRequest::decode(body.clone()).expect("OTLP protobuf");
        let mut received = received.lock().unwrap();
        received.bodies.push(body);
        for resource in request.resource_spans {
            for scope in resource.scope_spans {
                received.spans.extend(scope.spans);
            }
        }
        // An empty ExportTraceServiceResponse: everything accepted.
        Vec::new()
    }
    let received = Arc::new(Mutex::new(Received::default()));
    let router = Router::new()
        .route("/v1/traces", post(export))
        .with_state(Arc::clone(&received));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, received)
}

fn attributes(span: &Span) -> HashMap<String, Value> {
    span.attributes
        .iter()
        .map(|attribute| {
            let value = match attribute.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(AnyValue::StringValue(s)) => json!(s),
                Some(AnyValue::IntValue(i)) => json!(i),
                Some(AnyValue::BoolValue(b)) => json!(b),
                Some(AnyValue::DoubleValue(d)) => json!(d),
                other => json!(format!("{other:?}")),
            };
            (attribute.key.clone(), value)
        })
        .collect()
}

/// The spans of `trace_id` once the server span (the last to end) has arrived.
async fn trace(received: &Mutex<Received>, trace_id: &[u8], server_span: &str) -> Vec<Span> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let spans: Vec<Span> = received
            .lock()
            .unwrap()
            .spans
            .iter()
            .filter(|span| span.trace_id == trace_id)
            .cloned()
            .collect();
        if spans.iter().any(|span| span.name == server_span) {
            return spans;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no `{server_span}` span arrived: {:?}",
            spans.iter().map(|s| &s.name).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn named<'a>(spans: &'a [Span], name: &str) -> &'a Span {
    spans
        .iter()
        .find(|span| span.name == name)
        .unwrap_or_else(|| {
            panic!(
                "no span `{name}` in {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        })
}

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
const VARIABLE_VALUE: &str = "user_variable_marker_q7x";
const DOCUMENT: &str =
    "query TracedMe($author: ID) { me { id email } posts(authorId: $author) { __typename } }";

#[tokio::test]
async fn a_request_is_one_trace_with_its_phases_its_clerk_call_and_its_statements() {
    let (collector_url, received) = collector().await;
    let clerk = FakeClerk::start().await;
    clerk.set_user(clerk_user_json("user_traced", None));
    let workdir = tempfile::tempdir().unwrap();
    let port = free_port();
    let vars: Vec<(String, String)> = [
        ("HOST", "127.0.0.1"),
        (
            "DATABASE_URL",
            &format!("sqlite://{}/db.sqlite?mode=rwc", workdir.path().display()),
        ),
        ("CLERK_SECRET_KEY", SECRET_KEY),
        ("CLERK_API_URL", &clerk.url),
        ("CLERK_ISSUER", ISSUER),
        ("DEV_MODE", "false"),
        ("RATE_LIMIT_IP_PER_MINUTE", "0"),
        ("GRAPHQL_TIMEOUT_SECS", "1"),
        ("RUST_LOG", "info"),
        ("LOG_FORMAT", "json"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &collector_url),
        ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ("OTEL_SERVICE_NAME", "traced-api"),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_string(), value.to_string()))
    .collect();
    let (mut child, output) = spawn_server(&workdir, port, &vars);
    let base = format!("http://127.0.0.1:{port}");
    wait_until_ready(&base, Duration::from_secs(30)).await;

    let token = token("user_traced", "sess_traced");
    let client = reqwest::Client::new();
    let reply = client
        .post(format!("{base}/graphql"))
        .bearer_auth(&token)
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .header("x-request-id", "req-traced-1")
        .json(&json!({
            "query": DOCUMENT,
            "operationName": "TracedMe",
            "variables": {"author": VARIABLE_VALUE},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let body: Value = reply.json().await.unwrap();
    assert_eq!(
        body["data"]["me"]["email"], "user_traced@example.com",
        "{body}"
    );

    let trace_id = hex::decode(CALLER_TRACE).unwrap();
    let spans = trace(&received, &trace_id, "POST /graphql").await;

    // The server span: a child of the caller's span, with the route, never the raw path.
    let server = named(&spans, "POST /graphql");
    assert_eq!(server.parent_span_id, hex::decode(CALLER_SPAN).unwrap());
    assert_eq!(server.kind, SpanKind::Server as i32);
    let attributes_of_server = attributes(server);
    for (key, value) in [
        ("http.request.method", json!("POST")),
        ("http.route", json!("/graphql")),
        ("http.response.status_code", json!(200)),
        ("url.scheme", json!("http")),
        ("request_id", json!("req-traced-1")),
        ("user_id", json!("user_traced")),
    ] {
        assert_eq!(
            attributes_of_server.get(key),
            Some(&value),
            "{key}: {attributes_of_server:?}"
        );
    }

    // The GraphQL phases: children of the server span, with the operation.
    for name in ["graphql.parse", "graphql.validate", "query TracedMe"] {
        let phase = named(&spans, name);
        assert_eq!(phase.parent_span_id, server.span_id, "{name}");
        let attributes = attributes(phase);
        assert_eq!(attributes["graphql.operation.type"], "query", "{name}");
        assert_eq!(attributes["graphql.operation.name"], "TracedMe", "{name}");
        assert!(!attributes.contains_key("graphql.document"), "{name}");
    }

    // The Clerk call: a client span named after the route's template, whose `traceparent`
    // Clerk received.
    let call = named(&spans, "GET /v1/users/{user_id}");
    assert_eq!(call.kind, SpanKind::Client as i32);
    let attributes_of_call = attributes(call);
    assert_eq!(attributes_of_call["url.template"], "/v1/users/{user_id}");
    assert_eq!(attributes_of_call["http.request.method"], "GET");
    assert_eq!(attributes_of_call["http.response.status_code"], 200);
    assert_eq!(attributes_of_call["server.address"], "127.0.0.1");
    assert_eq!(
        clerk.last_users_traceparent(),
        Some(format!(
            "00-{CALLER_TRACE}-{}-01",
            hex::encode(&call.span_id)
        ))
    );

    // The database statements: the operation, never the statement's text.
    let statements: Vec<HashMap<String, Value>> = spans
        .iter()
        .map(attributes)
        .filter(|attributes| attributes.contains_key("db.system.name"))
        .collect();
    assert!(
        statements
            .iter()
            .any(|attributes| attributes["db.system.name"] == "sqlite"
                && attributes["db.operation.name"] == "SELECT"),
        "{statements:?}"
    );
    assert!(
        statements
            .iter()
            .any(|attributes| attributes["db.operation.name"] == "INSERT"),
        "{statements:?}"
    );
    assert!(
        statements
            .iter()
            .all(|attributes| !attributes.contains_key("db.statement")
                && !attributes.contains_key("db.system"))
    );
    // Within the request's trace (under its execution), not roots of their own.
    let select = named(&spans, "SELECT");
    assert!(
        spans
            .iter()
            .any(|span| span.span_id == select.parent_span_id)
    );

    // A request the sampler drops (its caller's `traceparent` says "not sampled"; the default
    // sampler follows the parent) builds no span, not even in its dataloaders' batches (which
    // would otherwise start traces of their own), and its Clerk call names no span.
    let unsampled_since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let calls_before = clerk.users_calls();
    clerk.set_user(clerk_user_json("user_unsampled", None));
    let reply = client
        .post(format!("{base}/graphql"))
        .bearer_auth(crate::replicas::harness::token(
            "user_unsampled",
            "sess_unsampled",
        ))
        .header(
            "traceparent",
            "00-5bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
        )
        .header("x-request-id", "req-unsampled")
        .json(&json!({
            "query": DOCUMENT,
            "variables": {"author": VARIABLE_VALUE},
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(clerk.users_calls(), calls_before + 1, "Clerk was asked");
    assert_eq!(clerk.last_users_traceparent(), None);

    // An error answer carries the request's trace id: Clerk hangs, the deadline answers.
    clerk.fail_users_with(UsersFault::Hang);
    let timeout_trace = "0af7651916cd43dd8448eb211c80319c";
    let body = me_while_clerk_hangs(
        client
            .post(format!("{base}/graphql"))
            .header(
                "traceparent",
                format!("00-{timeout_trace}-b7ad6b7169203331-01"),
            )
            .header("x-request-id", "req-traced-2"),
    )
    .await;
    assert_eq!(
        body["errors"][0]["extensions"],
        json!({
            "code": "SERVICE_UNAVAILABLE",
            "reason": "timeout",
            "requestId": "req-traced-2",
            "traceId": timeout_trace,
        })
    );
    let timed_out = trace(
        &received,
        &hex::decode(timeout_trace).unwrap(),
        "POST /graphql",
    )
    .await;
    assert_eq!(
        attributes(named(&timed_out, "POST /graphql"))["http.response.status_code"],
        503
    );
    // Everything that started since the unsampled request belongs to the timed-out one's trace
    // (which ended after it, so its spans were queued after any of the unsampled one's).
    let strays: Vec<String> = received
        .lock()
        .unwrap()
        .spans
        .iter()
        .filter(|span| span.start_time_unix_nano >= unsampled_since)
        .filter(|span| hex::encode(&span.trace_id) != timeout_trace)
        .map(|span| format!("{} in {}", span.name, hex::encode(&span.trace_id)))
        .collect();
    assert_eq!(strays, Vec::<String>::new());

    // A request without a `traceparent` starts a trace, under the trace id the sampler decided
    // on before its span existed, which is also the one its answer names.
    let body = me_while_clerk_hangs(client.post(format!("{base}/graphql"))).await;
    let root_trace = body["errors"][0]["extensions"]["traceId"]
        .as_str()
        .unwrap_or_else(|| panic!("no traceId: {body}"))
        .to_string();
    assert_ne!(root_trace, timeout_trace);
    let root = trace(
        &received,
        &hex::decode(&root_trace).unwrap(),
        "POST /graphql",
    )
    .await;
    assert!(named(&root, "POST /graphql").parent_span_id.is_empty());

    // Nothing secret or personal reached the collector.
    let everything: Vec<u8> = received
        .lock()
        .unwrap()
        .bodies
        .iter()
        .flat_map(|body| body.to_vec())
        .collect();
    let contains = |needle: &str| {
        everything
            .windows(needle.len())
            .any(|window| window == needle.as_bytes())
    };
    assert!(contains("traced-api"), "the service name is exported");
    for secret in [
        token.as_str(),
        SECRET_KEY,
        "user_traced@example.com",
        VARIABLE_VALUE,
        "posts(authorId",
        "me { id",
    ] {
        assert!(!contains(secret), "`{secret}` was exported");
    }

    // Every log line of the requests carries its request id and trace id.
    terminate(&mut child, Duration::from_secs(10)).await;
    let logs = output.text().await;
    for (request_id, trace_id) in [
        ("req-traced-1", CALLER_TRACE),
        ("req-traced-2", timeout_trace),
        // Left out of the traces, not out of the logs.
        ("req-unsampled", "5bf92f3577b34da6a3ce929d0e0e4736"),
    ] {
        let lines: Vec<Value> = logs
            .lines()
            .filter(|line| line.contains(request_id))
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert!(!lines.is_empty(), "{request_id}: {logs}");
        // The JSON format puts the request span's fields in `spans` (and in `span` when it is
        // the innermost one; a dataloader's batch runs in async-graphql's spans).
        for line in &lines {
            let request = line["spans"]
                .as_array()
                .and_then(|spans| spans.iter().find(|span| span["name"] == "request"))
                .unwrap_or_else(|| panic!("no request span: {line}"));
            assert_eq!(request["request_id"], request_id, "{line}");
            assert_eq!(request["trace_id"], trace_id, "{line}");
        }
    }
    assert!(
        logs.lines()
            .any(|line| line.contains("req-traced-2") && line.contains("not answered in time")),
        "{logs}"
    );
}

/// `{ me { id } }` as a user Clerk has not been asked about yet, while Clerk hangs: the deadline
/// answers 503; its body.
async fn me_while_clerk_hangs(request: reqwest::RequestBuilder) -> Value {
    let reply = request
        .bearer_auth(token("user_hangs", "sess_hangs"))
        .json(&json!({"query": "{ me { id } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 503);
    reply.json().await.unwrap()
}
