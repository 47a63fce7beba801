//! HTTP hardening, second round (issue 16): slow and idle clients, bounded connections, early
//! refusals that close properly, GETs that neither write nor act cross-site, request ids.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::helpers::{AppOptions, GraphqlReply, TestApp, spawn_app, spawn_app_with};
use crate::tokens::{TestKey, session_claims};

fn server(app: &TestApp) -> SocketAddr {
    app.address.trim_start_matches("http://").parse().unwrap()
}

/// A TCP connection from `local` (any 127.0.0.0/8 address is this machine) to the app.
async fn connect_from(app: &TestApp, local: &str) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{local}:0").parse().unwrap()).unwrap();
    socket.connect(server(app)).await.unwrap()
}

/// What the server sends until it closes the connection (at most `patience`).
async fn read_until_closed(stream: &mut TcpStream, patience: Duration) -> Option<String> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(patience, stream.read_to_end(&mut received)).await;
    match read {
        Ok(_) => Some(String::from_utf8_lossy(&received).into_owned()),
        Err(_) => None, // still open
    }
}

async fn health_within(app: &TestApp, limit: Duration) {
    let started = Instant::now();
    let reply = app.post_graphql("{ health }", &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert!(started.elapsed() < limit, "{:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_and_idle_connections_are_cut_and_the_server_keeps_answering() {
    let app = spawn_app_with(
        AppOptions::default()
            .var("HTTP_HEADER_READ_TIMEOUT_SECS", "1")
            .var("HTTP_MAX_CONNECTIONS_PER_IP", "5")
            .var("HTTP_MAX_CONNECTIONS", "50"),
    )
    .await;
    // An attacker at 127.0.0.2 holds its maximum of connections, each with half a request head.
    let mut slow = Vec::new();
    for _ in 0..5 {
        let mut stream = connect_from(&app, "127.0.0.2").await;
        stream
            .write_all(b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: appl")
            .await
            .unwrap();
        slow.push(stream);
    }
    // One more from there is refused at once, as JSON, and closed.
    let mut refused = connect_from(&app, "127.0.0.2").await;
    let answer = read_until_closed(&mut refused, Duration::from_secs(2))
        .await
        .expect("closed at once");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("connection: close"), "{answer}");
    assert!(
        answer.contains(r#""reason":"ip_connection_limit""#),
        "{answer}"
    );
    // Everyone else is served quickly meanwhile.
    health_within(&app, Duration::from_millis(500)).await;

    // The half-sent heads are cut at the header read timeout.
    let started = Instant::now();
    for stream in &mut slow {
        let closed = read_until_closed(stream, Duration::from_secs(3)).await;
        assert!(closed.is_some(), "a slow client still connected");
    }
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // Their places are given back.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut again = connect_from(&app, "127.0.0.2").await;
    again
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0u8; 12];
    again.read_exact(&mut head).await.unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    // An idle keep-alive connection is closed after the same timeout.
    let closed = read_until_closed(&mut again, Duration::from_secs(3)).await;
    assert!(closed.is_some(), "an idle connection still open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_bounded_in_all() {
    let app = spawn_app_with(
        AppOptions::default()
            .var("HTTP_MAX_CONNECTIONS", "3")
            .var("HTTP_HEADER_READ_TIMEOUT_SECS", "30"),
    )
    .await;
    let mut held = Vec::new();
    for local in ["127.0.0.3", "127.0.0.4", "127.0.0.5"] {
        held.push(connect_from(&app, local).await);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut refused = connect_from(&app, "127.0.0.6").await;
    let answer = read_until_closed(&mut refused, Duration::from_secs(2))
        .await
        .expect("closed at once");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.contains(r#""reason":"connection_limit""#),
        "{answer}"
    );
    drop(held);
    tokio::time::sleep(Duration::from_millis(100)).await;
    health_within(&app, Duration::from_secs(1)).await;
}

/// A refusal sent before the body was read says `Connection: close`; the client's next request
/// goes on a new connection and succeeds.
#[tokio::test]
async fn early_refusals_close_the_connection_properly() {
    let app = spawn_app().await;
    let client = reqwest::Client::new();
    let body = json!({"query": "{ viewer { userId } }"}).to_string();
    let refused = client
        .post(format!("{}/graphql", app.address))
        .header("content-type", "application/json")
        .header("authorization", "Bearer not.a.token")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refused.headers()["connection"], "close");
    // The same client, next request: served (a dropped keep-alive connection would fail it).
    for _ in 0..3 {
        let reply = client
            .post(format!("{}/graphql", app.address))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), StatusCode::OK);
        assert!(
            !reply.headers().contains_key("connection"),
            "read bodies keep the connection"
        );
    }
    // 413 and 415 too.
    let big = client
        .post(format!("{}/graphql", app.address))
        .header("content-type", "application/json")
        .body(" ".repeat(2 * 1024 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(big.headers()["connection"], "close");
    let form = client
        .post(format!("{}/graphql", app.address))
        .header("content-type", "text/plain")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(form.headers()["connection"], "close");
}

#[tokio::test]
async fn a_get_never_writes_and_a_cross_site_cookie_get_is_refused() {
    let app = spawn_app().await;
    app.clerk
        .add_users(vec![crate::fake_clerk::clerk_user_json("user_get", None)]);
    let token = TestKey::primary().sign(&session_claims("user_get"));
    let url = format!("{}/graphql?query=%7Bme%7Bid%7D%7D", app.address);
    let inserts = |app: &TestApp| {
        app.statement_log
            .lock()
            .unwrap()
            .iter()
            .filter(|sql| sql.starts_with("INSERT"))
            .count()
    };
    // A same-origin GET with the bearer token: `me` answers, nothing is stored.
    let before = inserts(&app);
    let reply = GraphqlReply::read(
        app.client
            .get(&url)
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(reply.body["data"]["me"]["id"], "user_get", "{}", reply.body);
    assert_eq!(inserts(&app), before, "a GET wrote");
    // The next POST provisions the row.
    let reply = app
        .post_graphql(
            "{ me { id } }",
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await;
    assert_eq!(reply.body["data"]["me"]["id"], "user_get");
    assert_eq!(inserts(&app), before + 1);

    // What an `<img src>` on another site sends: the cookie, cross-site. Refused, no quota spent.
    let refused = GraphqlReply::read(
        app.client
            .get(&url)
            .header("cookie", format!("__session={token}"))
            .header("sec-fetch-site", "cross-site")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert_eq!(refused.reason(), Some("csrf"));
    // The same from the app's own pages works.
    let own = GraphqlReply::read(
        app.client
            .get(&url)
            .header("cookie", format!("__session={token}"))
            .header("sec-fetch-site", "same-origin")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(own.body["data"]["me"]["id"], "user_get", "{}", own.body);
}

#[tokio::test]
async fn the_own_origin_check_compares_the_scheme() {
    let app = spawn_app().await;
    let token = TestKey::primary().sign(&session_claims("user_origin"));
    let host = app.address.trim_start_matches("http://").to_string();
    let from = |origin: String| {
        let app = &app;
        let token = token.clone();
        async move {
            app.post_graphql(
                "{ viewer { userId } }",
                &[
                    ("cookie", &format!("__session={token}")),
                    ("origin", &origin),
                ],
            )
            .await
            .status
        }
    };
    assert_eq!(from(format!("http://{host}")).await, StatusCode::OK);
    assert_eq!(from(format!("https://{host}")).await, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn client_request_ids_are_kept_only_when_short_and_safe() {
    let app = spawn_app().await;
    let request_id = |id: String| {
        let app = &app;
        async move {
            let reply = app
                .post_graphql("{ health }", &[("x-request-id", &id)])
                .await;
            reply.headers["x-request-id"].to_str().unwrap().to_string()
        }
    };
    assert_eq!(request_id("trace-42.a:b_c".into()).await, "trace-42.a:b_c");
    for bad in [
        "<script>alert(1)</script>".to_string(),
        "a".repeat(7 * 1024),
    ] {
        let answered = request_id(bad.clone()).await;
        assert_ne!(answered, bad);
        assert_eq!(answered.len(), 36, "a fresh UUID: {answered}");
    }
}
