//! Rate limits and the brute-force lockout (issue 8): per client address, per user, per webhook
//! sender, and the lockout after invalid tokens. Time is a fixed clock moved by hand, so that no
//! test waits a minute and none depends on how fast this machine is.

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use clerk_graphql::auth::clock::{Clock, FixedClock};

use crate::binary::{Output, terminate, wait_until_ready};
use crate::fake_clerk::{Fault, clerk_user_json};
use crate::helpers::{AppOptions, GraphqlReply, TestApp, spawn_app_with};
use crate::tokens::{TestKey, session_claims, with};
use crate::webhooks_sign::event;
use crate::ws_client::{close_code, init, send, upgrade};

const T: i64 = 1_800_000_000;
const QUERY: &str = "{ viewer { userId } health }";

/// An app whose clock stands at `T` until the test moves it.
async fn app_at_t(options: AppOptions) -> (TestApp, Arc<FixedClock>) {
    let clock = FixedClock::at_unix_seconds(T);
    let app = spawn_app_with(AppOptions {
        clock: Some(Arc::clone(&clock) as Arc<dyn Clock>),
        ..options
    })
    .await;
    (app, clock)
}

/// Behind a trusted proxy on loopback, so that `X-Forwarded-For` names the client.
fn behind_proxy() -> AppOptions {
    AppOptions::default().var("TRUSTED_PROXIES", "127.0.0.1")
}

/// A valid session token of `user`, good for an hour after `T` (the longest lifetime accepted).
fn token(user: &str) -> String {
    TestKey::primary().sign(&with(
        session_claims(user),
        json!({"iat": T, "nbf": T - 10, "exp": T + 3600}),
    ))
}

/// A token with our kid but signed by another key: `token_invalid_signature`.
fn forged(user: &str) -> String {
    TestKey::secondary().sign_with_header(
        &json!({"alg": "RS256", "kid": TestKey::primary().kid, "typ": "JWT"}),
        &with(
            session_claims(user),
            json!({"iat": T, "nbf": T - 10, "exp": T + 86_400}),
        ),
    )
}

/// `POST /graphql` from `address` (as forwarded by the proxy), with a bearer token or none.
async fn from(app: &TestApp, address: &str, bearer: Option<&str>) -> GraphqlReply {
    let authorization = bearer.map(|token| format!("Bearer {token}"));
    let mut headers = vec![("x-forwarded-for", address)];
    if let Some(authorization) = &authorization {
        headers.push(("authorization", authorization));
    }
    app.post_graphql(QUERY, &headers).await
}

#[track_caller]
fn assert_limited(reply: &GraphqlReply, reason: &str, retry_after: &str) {
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "body: {}",
        reply.body
    );
    assert_eq!(reply.code(), Some("RATE_LIMITED"), "body: {}", reply.body);
    assert_eq!(reply.reason(), Some(reason), "body: {}", reply.body);
    assert_eq!(
        reply.headers["retry-after"], retry_after,
        "body: {}",
        reply.body
    );
    let message = reply.body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains(&format!("{retry_after} s")), "{message}");
    assert!(reply.body.get("data").is_none(), "no data: {}", reply.body);
    assert_eq!(reply.body["errors"].as_array().unwrap().len(), 1);
    assert!(
        !reply.headers.contains_key("www-authenticate"),
        "not an authentication failure"
    );
}

#[track_caller]
fn assert_ok(reply: &GraphqlReply) {
    assert_eq!(reply.status, StatusCode::OK, "body: {}", reply.body);
    assert_eq!(reply.body["data"]["health"], "ok", "body: {}", reply.body);
}

#[tokio::test]
async fn over_the_address_quota_a_request_is_429_with_retry_after_until_the_bucket_refills() {
    let (app, clock) = app_at_t(AppOptions::default().var("RATE_LIMIT_IP_PER_MINUTE", "5")).await;
    // POST and GET executions share the quota.
    for _ in 0..3 {
        assert_ok(&app.post_graphql(QUERY, &[]).await);
    }
    for _ in 0..2 {
        let response = app.get("/graphql?query=%7Bhealth%7D").await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let refused = app.post_graphql(QUERY, &[]).await;
    // 5 a minute: one more every 12 s.
    assert_limited(&refused, "ip_rate_limit", "12");
    assert_eq!(
        refused.headers["content-type"],
        crate::helpers::GRAPHQL_RESPONSE_JSON,
        "GraphQL-shaped, negotiated like any other error (the client accepts it)"
    );
    let response = app.get("/graphql?query=%7Bhealth%7D").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "12");
    // The playground page is not a GraphQL request and is still served.
    let page = app.get("/graphql").await;
    assert_eq!(page.status(), StatusCode::OK);
    // Health checks are not limited.
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);

    clock.set_unix_seconds(T + 5);
    assert_limited(&app.post_graphql(QUERY, &[]).await, "ip_rate_limit", "7");
    clock.set_unix_seconds(T + 12);
    assert_ok(&app.post_graphql(QUERY, &[]).await);
    assert_limited(&app.post_graphql(QUERY, &[]).await, "ip_rate_limit", "12");
    // After a minute the whole bucket is back.
    clock.set_unix_seconds(T + 120);
    for _ in 0..5 {
        assert_ok(&app.post_graphql(QUERY, &[]).await);
    }
    assert_limited(&app.post_graphql(QUERY, &[]).await, "ip_rate_limit", "12");
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_address_has_its_own_quota() {
    let (app, _clock) = app_at_t(behind_proxy().var("RATE_LIMIT_IP_PER_MINUTE", "2")).await;
    for _ in 0..2 {
        assert_ok(&from(&app, "198.51.100.1", None).await);
    }
    assert_limited(
        &from(&app, "198.51.100.1", None).await,
        "ip_rate_limit",
        "30",
    );
    // Another client of the same proxy is unaffected, and so is the proxy itself.
    for _ in 0..2 {
        assert_ok(&from(&app, "198.51.100.2", None).await);
    }
    assert_ok(&app.post_graphql(QUERY, &[]).await);
    // IPv6 clients count per /64.
    assert_ok(&from(&app, "2001:db8:1:2::1", None).await);
    assert_ok(&from(&app, "2001:db8:1:2::ffff", None).await);
    assert_limited(
        &from(&app, "2001:db8:1:2:abcd::7", None).await,
        "ip_rate_limit",
        "30",
    );
    assert_ok(&from(&app, "2001:db8:1:3::1", None).await);
}

#[tokio::test]
async fn spoofed_forwarded_entries_do_not_escape_the_quota() {
    let (app, _clock) = app_at_t(behind_proxy().var("RATE_LIMIT_IP_PER_MINUTE", "2")).await;
    for _ in 0..2 {
        assert_ok(&from(&app, "198.51.100.1", None).await);
    }
    // The client prepends addresses of its choice; the proxy appends the real one.
    for spoofed in [
        "203.0.113.5, 198.51.100.1",
        "1.1.1.1, 2.2.2.2, 198.51.100.1",
        "127.0.0.1, 198.51.100.1",
        "garbage, 198.51.100.1",
    ] {
        assert_limited(&from(&app, spoofed, None).await, "ip_rate_limit", "30");
    }

    // Without TRUSTED_PROXIES the header is not read at all: the socket address counts.
    let (direct, _clock) =
        app_at_t(AppOptions::default().var("RATE_LIMIT_IP_PER_MINUTE", "2")).await;
    assert_ok(&from(&direct, "198.51.100.1", None).await);
    assert_ok(&from(&direct, "198.51.100.2", None).await);
    assert_limited(
        &from(&direct, "198.51.100.3", None).await,
        "ip_rate_limit",
        "30",
    );
}

#[tokio::test]
async fn the_user_quota_follows_the_user_across_addresses() {
    let (app, clock) = app_at_t(behind_proxy().var("RATE_LIMIT_USER_PER_MINUTE", "3")).await;
    let ada = token("user_ada");
    assert_ok(&from(&app, "198.51.100.1", Some(&ada)).await);
    assert_ok(&from(&app, "198.51.100.1", Some(&ada)).await);
    let third = from(&app, "198.51.100.2", Some(&ada)).await;
    assert_ok(&third);
    assert_eq!(third.body["data"]["viewer"]["userId"], "user_ada");
    // 3 a minute: one more every 20 s, from any address.
    assert_limited(
        &from(&app, "203.0.113.9", Some(&ada)).await,
        "user_rate_limit",
        "20",
    );
    // Another token of the same user is the same user.
    let ada_elsewhere = TestKey::primary().sign(&with(
        session_claims("user_ada"),
        json!({"sid": "sess_other", "iat": T, "nbf": T - 10, "exp": T + 3600}),
    ));
    assert_limited(
        &from(&app, "203.0.113.10", Some(&ada_elsewhere)).await,
        "user_rate_limit",
        "20",
    );
    // Other users, and anonymous requests, from the same addresses are unaffected.
    assert_ok(&from(&app, "198.51.100.1", Some(&token("user_bob"))).await);
    assert_ok(&from(&app, "203.0.113.9", None).await);

    clock.set_unix_seconds(T + 20);
    assert_ok(&from(&app, "203.0.113.9", Some(&ada)).await);
}

#[tokio::test]
async fn a_lockout_refuses_bad_tokens_and_serves_valid_and_anonymous_requests() {
    let (app, clock) = app_at_t(
        behind_proxy()
            .var("AUTH_FAILURES_PER_MINUTE", "3")
            .var("AUTH_LOCKOUT_SECS", "60")
            .var("AUTH_LOCKOUT_MAX_SECS", "900"),
    )
    .await;
    let attacker = "198.51.100.66";
    for _ in 0..3 {
        from(&app, attacker, Some(&forged("user_ada")))
            .await
            .assert_refused("token_invalid_signature");
    }
    // Locked out: a token that fails verification is 429 instead of 401, garbage included...
    assert_limited(
        &from(&app, attacker, Some(&forged("user_ada"))).await,
        "auth_lockout",
        "60",
    );
    assert_limited(
        &from(&app, attacker, Some("not.a.token")).await,
        "auth_lockout",
        "60",
    );
    // ...but the honest users behind the same address are served: a valid token, and none.
    from(&app, attacker, Some(&token("user_ada")))
        .await
        .assert_signed_in_as("user_ada");
    assert_ok(&from(&app, attacker, None).await);
    // Other addresses are unaffected.
    let reply = from(&app, "198.51.100.67", Some(&forged("user_bob"))).await;
    reply.assert_refused("token_invalid_signature");

    clock.set_unix_seconds(T + 45);
    assert_limited(
        &from(&app, attacker, Some(&forged("user_ada"))).await,
        "auth_lockout",
        "15",
    );
    clock.set_unix_seconds(T + 60);
    // A repeat offence locks out four times longer.
    for _ in 0..3 {
        from(&app, attacker, Some(&forged("user_ada")))
            .await
            .assert_refused("token_invalid_signature");
    }
    assert_limited(
        &from(&app, attacker, Some(&forged("user_ada"))).await,
        "auth_lockout",
        "240",
    );
    clock.set_unix_seconds(T + 60 + 240);
    from(&app, attacker, Some(&forged("user_ada")))
        .await
        .assert_refused("token_invalid_signature");
}

#[tokio::test]
async fn what_signed_out_frontends_send_never_locks_an_address_out() {
    let (app, _clock) = app_at_t(behind_proxy().var("AUTH_FAILURES_PER_MINUTE", "3")).await;
    let office = "198.51.100.80";
    for _ in 0..10 {
        for signed_out in ["null", "undefined", ""] {
            let reply = from(&app, office, Some(signed_out)).await;
            assert_ok(&reply);
            assert_eq!(reply.body["data"]["viewer"], Value::Null, "{}", reply.body);
        }
    }
    // 30 of them, and the address has its whole lockout budget: the next bad token is a 401.
    from(&app, office, Some(&forged("user_ada")))
        .await
        .assert_refused("token_invalid_signature");
}

#[tokio::test]
async fn tokens_refused_only_for_their_time_claims_do_not_count_towards_the_lockout() {
    let (app, clock) = app_at_t(behind_proxy().var("AUTH_FAILURES_PER_MINUTE", "2")).await;
    let stale = TestKey::primary().sign(&with(
        session_claims("user_ada"),
        json!({"iat": T - 3600, "nbf": T - 3600, "exp": T - 3000}),
    ));
    for _ in 0..10 {
        from(&app, "198.51.100.1", Some(&stale))
            .await
            .assert_refused("token_expired");
    }
    from(&app, "198.51.100.1", Some(&token("user_ada")))
        .await
        .assert_signed_in_as("user_ada");
    // So do tokens not yet valid, or issued in the future (a skewed clock somewhere).
    clock.set_unix_seconds(T - 3600);
    for _ in 0..5 {
        from(&app, "198.51.100.1", Some(&token("user_ada")))
            .await
            .assert_refused("token_not_active_yet");
    }
    clock.set_unix_seconds(T);
    from(&app, "198.51.100.1", Some(&token("user_ada")))
        .await
        .assert_signed_in_as("user_ada");
}

#[tokio::test]
async fn a_jwks_outage_503_never_locks_anyone_out() {
    let app = spawn_app_with(AppOptions {
        initial_fault: Fault::Status(503),
        ..behind_proxy().var("AUTH_FAILURES_PER_MINUTE", "2")
    })
    .await;
    let valid = TestKey::primary().sign(&session_claims("user_ada"));
    for _ in 0..6 {
        let reply = from(&app, "198.51.100.1", Some(&valid)).await;
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            reply.body
        );
        assert_eq!(reply.reason(), Some("jwks_unavailable"));
    }
    from(&app, "198.51.100.1", None).await.assert_anonymous();
}

/// Browsers apply no CORS to WebSockets: a page of any site can open `/graphql/ws` and send a
/// bad token. Such failures must not spend the visitor's address's lockout budget.
#[tokio::test]
async fn websocket_init_failures_count_only_from_trusted_pages() {
    let (app, _clock) = app_at_t(behind_proxy().var("AUTH_FAILURES_PER_MINUTE", "2")).await;
    let own_origin = app.address.clone();
    let bad_init = |address: &'static str, origin: Option<String>| {
        let app = &app;
        async move {
            let mut headers = vec![
                ("sec-websocket-protocol", "graphql-transport-ws".to_string()),
                ("x-forwarded-for", address.to_string()),
            ];
            headers.extend(origin.map(|origin| ("origin", origin)));
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            let mut socket = upgrade(&app.address, &headers).await.expect("upgrade");
            send(
                &mut socket,
                json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {}", forged("user_ada"))}}),
            )
            .await;
            assert_eq!(close_code(&mut socket).await, Some(4403));
        }
    };
    // A foreign page: refused, not counted.
    let visitor = "198.51.100.70";
    for _ in 0..5 {
        bad_init(visitor, Some("https://evil.example".into())).await;
    }
    from(&app, visitor, Some(&forged("user_ada")))
        .await
        .assert_refused("token_invalid_signature");

    // This server's own page, and a client that is no browser (no Origin), count.
    for (address, origin) in [("198.51.100.71", Some(own_origin)), ("198.51.100.72", None)] {
        for _ in 0..2 {
            bad_init(address, origin.clone()).await;
        }
        assert_limited(
            &from(&app, address, Some(&forged("user_ada"))).await,
            "auth_lockout",
            "60",
        );
        // Locked out, the address still upgrades, and its valid tokens are served.
        let headers = [
            ("sec-websocket-protocol", "graphql-transport-ws"),
            ("x-forwarded-for", address),
        ];
        let mut socket = upgrade(&app.address, &headers).await.expect("upgrade");
        init(&mut socket, json!({"token": token("user_ada")})).await;
        from(&app, address, Some(&token("user_ada")))
            .await
            .assert_signed_in_as("user_ada");
    }
}

#[tokio::test]
async fn the_websocket_upgrade_counts_towards_the_address_quota() {
    let (app, _clock) = app_at_t(behind_proxy().var("RATE_LIMIT_IP_PER_MINUTE", "2")).await;
    assert!(ws_connect(&app, "198.51.100.1").await.is_ok());
    assert_ok(&from(&app, "198.51.100.1", None).await);
    match ws_connect(&app, "198.51.100.1").await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(response.headers()["retry-after"], "30");
        }
        other => panic!("expected HTTP 429, got {:?}", other.map(|_| ())),
    }
    assert!(ws_connect(&app, "198.51.100.2").await.is_ok());
}

/// The socket bound per address holds with the rate limits off too: each client address has its
/// own, rather than every client sharing one unknown address.
#[tokio::test]
async fn sockets_are_bounded_per_address_with_the_rate_limits_off() {
    let (app, _clock) = app_at_t(
        behind_proxy()
            .var("RATE_LIMIT_ENABLED", "false")
            .var("WS_MAX_CONNECTIONS_PER_IP", "1"),
    )
    .await;
    let _first = ws_connect(&app, "198.51.100.1").await.expect("upgrade");
    let _other_address = ws_connect(&app, "198.51.100.2").await.expect("upgrade");
    match ws_connect(&app, "198.51.100.1").await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS)
        }
        other => panic!("expected HTTP 429, got {:?}", other.map(|_| ())),
    }
}

async fn ws_connect(
    app: &TestApp,
    forwarded_for: &str,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    tokio_tungstenite::tungstenite::Error,
> {
    let url = format!("{}/graphql/ws", app.address.replace("http://", "ws://"));
    let mut request = url.into_client_request().unwrap();
    let headers = request.headers_mut();
    headers.insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    headers.insert(
        "x-forwarded-for",
        HeaderValue::from_str(forwarded_for).unwrap(),
    );
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, _)| socket)
}

#[tokio::test]
async fn webhook_deliveries_have_a_bound_of_their_own() {
    // The system clock: Svix signatures carry the real time.
    let app = spawn_app_with(
        AppOptions::default()
            .var("WEBHOOK_RATE_LIMIT_PER_MINUTE", "3")
            .var("RATE_LIMIT_IP_PER_MINUTE", "2"),
    )
    .await;
    for i in 0..3 {
        let user = clerk_user_json(&format!("user_{i}"), None);
        let response = app
            .deliver(&format!("msg_{i}"), &event("user.created", user))
            .await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    let user = clerk_user_json("user_9", None);
    let response = app.deliver("msg_9", &event("user.created", user)).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    // 3 a minute: one more every 20 s (real time here, so a little less may be left).
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "RATE_LIMITED");
    assert_eq!(
        body["errors"][0]["extensions"]["reason"],
        "webhook_rate_limit"
    );
    // GraphQL from the same address has its own budget, and exhausting it leaves webhooks alone.
    assert_ok(&app.post_graphql(QUERY, &[]).await);
    assert_ok(&app.post_graphql(QUERY, &[]).await);
    let reply = app.post_graphql(QUERY, &[]).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(reply.reason(), Some("ip_rate_limit"));
}

#[tokio::test]
async fn rate_limit_enabled_false_turns_every_limit_off() {
    let (app, _clock) = app_at_t(
        behind_proxy()
            .var("RATE_LIMIT_ENABLED", "false")
            .var("RATE_LIMIT_IP_PER_MINUTE", "1")
            .var("RATE_LIMIT_USER_PER_MINUTE", "1")
            .var("AUTH_FAILURES_PER_MINUTE", "1"),
    )
    .await;
    for _ in 0..5 {
        from(&app, "198.51.100.1", Some(&forged("user_ada")))
            .await
            .assert_refused("token_invalid_signature");
    }
    for _ in 0..5 {
        from(&app, "198.51.100.1", Some(&token("user_ada")))
            .await
            .assert_signed_in_as("user_ada");
    }
}

/// The real binary, its log captured: the start of a lockout is one warning naming the address,
/// however many requests the lockout then refuses, and the tokens are never in it.
#[tokio::test]
async fn the_lockout_start_is_logged_once_with_the_address_and_never_the_token() {
    use std::process::Stdio;
    use std::time::Duration;

    const GARBAGE: &str = "garbage-token-5c2f7d1a9e";
    let clerk = crate::fake_clerk::FakeClerk::start().await;
    let workdir = tempfile::tempdir().unwrap();
    let port = crate::binary::free_port();
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_clerk-graphql"))
        .current_dir(workdir.path())
        .env_clear()
        .env("PORT", port.to_string())
        // Tests run side by side: none takes the default metrics port.
        .env("METRICS_ADDR", "off")
        .env(
            "DATABASE_URL",
            format!(
                "sqlite://{}?mode=rwc",
                workdir.path().join("lockout.db").display()
            ),
        )
        .env("CLERK_SECRET_KEY", crate::fake_clerk::SECRET_KEY)
        .env("CLERK_API_URL", &clerk.url)
        .env("CLERK_ISSUER", crate::tokens::ISSUER)
        .env("DEV_MODE", "false")
        .env("RUST_LOG", "info")
        .env("LOG_FORMAT", "json")
        .env("TRUSTED_PROXIES", "127.0.0.1")
        .env("AUTH_FAILURES_PER_MINUTE", "3")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the server starts");
    let output = Output::drain(&mut server);
    let base = format!("http://127.0.0.1:{port}");
    wait_until_ready(&base, Duration::from_secs(30)).await;
    let client = reqwest::Client::new();

    // Real time here: a token valid now, signed by the wrong key.
    let forged = TestKey::secondary().sign_with_header(
        &json!({"alg": "RS256", "kid": TestKey::primary().kid, "typ": "JWT"}),
        &session_claims("user_ada"),
    );
    let mut statuses = Vec::new();
    for token in [&forged, &forged, &forged, &forged, &forged]
        .into_iter()
        .map(String::as_str)
        .chain([GARBAGE; 3])
    {
        let response = client
            .post(format!("{base}/graphql"))
            .header("x-forwarded-for", "198.51.100.66")
            .bearer_auth(token)
            .json(&json!({"query": "{ health }"}))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429, 429, 429, 429]);

    terminate(&mut server, Duration::from_secs(30)).await;
    let output = output.text().await;
    let lockouts: Vec<&str> = output
        .lines()
        .filter(|line| line.contains("too many invalid session tokens"))
        .collect();
    assert_eq!(lockouts.len(), 1, "{output}");
    let line: serde_json::Value = serde_json::from_str(lockouts[0]).expect("a JSON log line");
    assert_eq!(line["level"], "WARN", "{line}");
    assert_eq!(line["fields"]["client_ip"], "198.51.100.66", "{line}");
    assert_eq!(line["fields"]["lockout_secs"], 60, "{line}");
    for part in forged.split('.').skip(1) {
        assert!(!output.contains(part), "a token part was logged");
    }
    assert!(!output.contains(GARBAGE), "the garbage token was logged");
}
