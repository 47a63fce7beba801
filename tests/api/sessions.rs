//! Authentication that holds over time (issue 14): a socket acts only while its credentials are
//! valid, revocation takes effect at once over HTTP and on sockets, socket limits, and cookies
//! as Clerk sets them.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fake_clerk::clerk_user_json;
use crate::helpers::{AppOptions, TestApp, spawn_app_with};
use crate::tokens::{TestKey, now, session_claims, with};
use crate::webhooks_sign::event;
use crate::ws_client::{
    close_code, connect, init, next, ping, send, signed_in, subscribe, upgrade,
};

/// A token of `user` for `session`, valid from now for `lifetime_secs`.
fn session_token(user: &str, session: &str, lifetime_secs: i64) -> String {
    let now = now();
    TestKey::primary().sign(&with(
        session_claims(user),
        json!({"sid": session, "iat": now, "nbf": now - 10, "exp": now + lifetime_secs}),
    ))
}

fn bearer(token: &str) -> Value {
    json!({"Authorization": format!("Bearer {token}")})
}

/// Real time, no clock skew: expiry happens when the token says.
async fn spawn_without_skew() -> TestApp {
    let app = spawn_app_with(AppOptions::default().var("CLERK_CLOCK_SKEW_SECS", "0")).await;
    app.clerk.add_users(vec![
        clerk_user_json("user_a", None),
        clerk_user_json("user_b", None),
    ]);
    app
}

async fn viewer_status(app: &TestApp, token: &str) -> (u16, Option<String>) {
    let reply = app.viewer_with_bearer(token).await;
    (reply.status.as_u16(), reply.reason().map(str::to_string))
}

/// Delivers a `session.*` event for `session` of `user`.
async fn end_session(app: &TestApp, kind: &str, user: &str, session: &str) {
    let data = json!({"id": session, "object": "session", "user_id": user, "status": "ended"});
    let svix_id = format!("msg_{kind}_{session}");
    let response = app.deliver(&svix_id, &event(kind, data)).await;
    assert_eq!(response.status(), 204);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_is_closed_with_4403_when_its_token_expires() {
    let app = spawn_without_skew().await;
    let issued = Instant::now();
    let token = session_token("user_a", "sess_exp", 2);
    let mut socket = signed_in(&app, bearer(&token)).await;
    subscribe(&mut socket, "1", "subscription { myUserEvents { kind } }").await;
    ping(&mut socket, json!({})).await;
    assert_eq!(close_code(&mut socket).await, Some(4403));
    let closed_after = issued.elapsed();
    // `exp` is whole seconds: it falls 1 to 2 s after `issued`; the close follows within 2 s.
    assert!(
        closed_after >= Duration::from_millis(900),
        "{closed_after:?}"
    );
    assert!(closed_after <= Duration::from_secs(4), "{closed_after:?}");

    // The legacy protocol has no client ping to refresh with: closed at expiry too.
    let token = session_token("user_a", "sess_exp_legacy", 2);
    let mut legacy = connect(&app, "graphql-ws", None).await;
    init(&mut legacy, bearer(&token)).await;
    assert_eq!(close_code(&mut legacy).await, Some(4403));

    // Anonymous connections do not expire.
    let mut anonymous = signed_in(&app, json!({})).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    ping(&mut anonymous, json!({})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_with_a_fresh_token_keeps_the_socket_and_its_subscription_alive() {
    let app = spawn_without_skew().await;
    let issued = Instant::now();
    let first = session_token("user_a", "sess_refresh", 2);
    let mut socket = signed_in(&app, bearer(&first)).await;
    subscribe(
        &mut socket,
        "1",
        "subscription { myUserEvents { kind user { firstName } } }",
    )
    .await;
    // Both payload shapes refresh: `token`, and `Authorization`.
    ping(
        &mut socket,
        json!({"token": session_token("user_a", "sess_refresh", 60)}),
    )
    .await;
    ping(
        &mut socket,
        bearer(&session_token("user_a", "sess_refresh", 60)),
    )
    .await;

    // Well past the first token's expiry, the subscription still delivers.
    tokio::time::sleep(Duration::from_secs(3).saturating_sub(issued.elapsed())).await;
    let mut user = clerk_user_json("user_a", None);
    user["first_name"] = json!("After refresh");
    let delivered = app
        .deliver("msg_refresh", &event("user.created", user))
        .await;
    assert_eq!(delivered.status(), 204);
    let event = next(&mut socket).await.expect("an event, not a close");
    assert_eq!(event["type"], "next", "{event}");
    assert_eq!(
        event["payload"]["data"]["myUserEvents"],
        json!({"kind": "CREATED", "user": {"firstName": "After refresh"}})
    );
    ping(&mut socket, json!({})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_with_another_user_or_session_or_a_bad_token_closes_the_socket() {
    let app = spawn_without_skew().await;
    let others = [
        session_token("user_b", "sess_a", 60),
        session_token("user_a", "sess_not_a", 60),
        TestKey::secondary().sign(&session_claims("user_a")),
        "not.a.token".to_string(),
    ];
    for other in others {
        let mut socket = signed_in(&app, bearer(&session_token("user_a", "sess_a", 60))).await;
        send(
            &mut socket,
            json!({"type": "ping", "payload": {"token": other}}),
        )
        .await;
        assert_eq!(close_code(&mut socket).await, Some(4403));
    }
    // An anonymous connection cannot become someone by ping: it reconnects signed in.
    let mut anonymous = signed_in(&app, json!({})).await;
    send(
        &mut anonymous,
        json!({"type": "ping", "payload": {"token": session_token("user_a", "sess_a", 60)}}),
    )
    .await;
    assert_eq!(close_code(&mut anonymous).await, Some(4403));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_events_and_user_deleted_close_exactly_the_matching_sockets_and_refuse_their_tokens()
 {
    let app = spawn_without_skew().await;
    let keep = session_token("user_a", "sess_keep", 60);
    let mut kept = signed_in(&app, bearer(&keep)).await;
    let bystander = session_token("user_b", "sess_b", 60);
    let mut other_user = signed_in(&app, bearer(&bystander)).await;

    for kind in ["session.ended", "session.revoked", "session.removed"] {
        let session = format!("sess_{}", kind.replace('.', "_"));
        let token = session_token("user_a", &session, 60);
        // Used once: the verified-token cache now holds it.
        assert_eq!(viewer_status(&app, &token).await, (200, None));
        let mut socket = signed_in(&app, bearer(&token)).await;
        subscribe(&mut socket, "1", "subscription { myUserEvents { kind } }").await;

        let delivered = Instant::now();
        end_session(&app, kind, "user_a", &session).await;
        assert_eq!(close_code(&mut socket).await, Some(4403), "{kind}");
        assert!(
            delivered.elapsed() < Duration::from_secs(1),
            "{kind}: {:?}",
            delivered.elapsed()
        );
        assert_eq!(
            viewer_status(&app, &token).await,
            (401, Some("session_revoked".into())),
            "{kind}"
        );
        // The user's other session and other users go on.
        ping(&mut kept, json!({})).await;
        ping(&mut other_user, json!({})).await;
        assert_eq!(viewer_status(&app, &keep).await, (200, None));
    }

    assert_eq!(viewer_status(&app, &bystander).await, (200, None));
    let delivered = Instant::now();
    let deleted = json!({"id": "user_b", "deleted": true, "object": "user"});
    let response = app
        .deliver("msg_del_b", &event("user.deleted", deleted))
        .await;
    assert_eq!(response.status(), 204);
    assert_eq!(close_code(&mut other_user).await, Some(4403));
    assert!(
        delivered.elapsed() < Duration::from_secs(1),
        "{:?}",
        delivered.elapsed()
    );
    assert_eq!(
        viewer_status(&app, &bystander).await,
        (401, Some("session_revoked".into()))
    );
    ping(&mut kept, json!({})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_delivered_before_the_token_is_first_used_still_refuses_it() {
    let app = spawn_without_skew().await;
    let early = session_token("user_a", "sess_early", 60);
    end_session(&app, "session.revoked", "user_a", "sess_early").await;
    assert_eq!(
        viewer_status(&app, &early).await,
        (401, Some("session_revoked".into()))
    );
    let mut socket = connect(&app, "graphql-transport-ws", None).await;
    send(
        &mut socket,
        json!({"type": "connection_init", "payload": bearer(&early)}),
    )
    .await;
    assert_eq!(close_code(&mut socket).await, Some(4403));
    let later = session_token("user_a", "sess_later", 60);
    assert_eq!(viewer_status(&app, &later).await, (200, None));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_living_longer_than_revocations_are_kept_are_refused() {
    let app =
        spawn_app_with(AppOptions::default().var("CLERK_MAX_TOKEN_LIFETIME_SECS", "600")).await;
    assert_eq!(
        viewer_status(&app, &session_token("user_a", "sess_long", 601)).await,
        (401, Some("token_lifetime_too_long".into()))
    );
    assert_eq!(
        viewer_status(&app, &session_token("user_a", "sess_long", 600)).await,
        (200, None)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_socket_operation_spends_the_users_quota_like_a_request() {
    let app = spawn_app_with(AppOptions::default().var("RATE_LIMIT_USER_PER_MINUTE", "3")).await;
    let token = session_token("user_a", "sess_quota", 60);
    assert_eq!(viewer_status(&app, &token).await, (200, None));
    let mut socket = signed_in(&app, bearer(&token)).await;
    for id in ["1", "2"] {
        subscribe(&mut socket, id, r#"mutation { echo(message: "hi") }"#).await;
        let result = next(&mut socket).await.unwrap();
        assert_eq!(result["type"], "next", "{result}");
        assert_eq!(
            next(&mut socket).await.unwrap(),
            json!({"type": "complete", "id": id})
        );
    }
    // The fourth request of the minute, on the socket: refused before it runs.
    subscribe(&mut socket, "3", r#"mutation { echo(message: "hi") }"#).await;
    let refused = next(&mut socket).await.unwrap();
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["id"], "3");
    assert_eq!(refused["payload"][0]["extensions"]["code"], "RATE_LIMITED");
    assert_eq!(
        refused["payload"][0]["extensions"]["reason"],
        "user_rate_limit"
    );
    // And over HTTP: one quota for both.
    let reply = app.viewer_with_bearer(&token).await;
    assert_eq!(reply.status.as_u16(), 429, "{}", reply.body);
    ping(&mut socket, json!({})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_queries_have_the_request_timeout() {
    let app = spawn_app_with(AppOptions::default().var("GRAPHQL_TIMEOUT_SECS", "1")).await;
    // `me` provisions the user from Clerk, which hangs.
    app.clerk
        .fail_users_with(crate::fake_clerk::UsersFault::Hang);
    let mut socket = signed_in(&app, bearer(&session_token("user_new", "sess_t", 60))).await;
    let started = Instant::now();
    subscribe(&mut socket, "1", "{ me { id } }").await;
    let answer = next(&mut socket).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(answer["type"], "error", "{answer}");
    assert_eq!(
        answer["payload"][0]["extensions"]["code"],
        "SERVICE_UNAVAILABLE"
    );
    assert_eq!(answer["payload"][0]["extensions"]["reason"], "timeout");
    ping(&mut socket, json!({})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operations_per_connection_duplicate_ids_and_connections_per_address_are_bounded() {
    let app = spawn_app_with(
        AppOptions::default()
            .var("WS_MAX_SUBSCRIPTIONS", "2")
            .var("WS_MAX_CONNECTIONS_PER_IP", "2"),
    )
    .await;
    let token = session_token("user_a", "sess_bounds", 60);
    let mut socket = signed_in(&app, bearer(&token)).await;
    subscribe(&mut socket, "1", "subscription { myUserEvents { kind } }").await;
    subscribe(&mut socket, "2", "subscription { myUserEvents { kind } }").await;
    subscribe(&mut socket, "3", "subscription { myUserEvents { kind } }").await;
    let refused = next(&mut socket).await.unwrap();
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["id"], "3");
    assert_eq!(refused["payload"][0]["extensions"]["code"], "RATE_LIMITED");
    assert_eq!(
        refused["payload"][0]["extensions"]["reason"],
        "ws_subscription_limit"
    );
    // Completing one frees its place.
    send(&mut socket, json!({"type": "complete", "id": "1"})).await;
    subscribe(&mut socket, "3", "subscription { myUserEvents { kind } }").await;
    ping(&mut socket, json!({})).await;

    // A second connection from the address, then none.
    let _second = signed_in(&app, json!({})).await;
    match upgrade(
        &app.address,
        &[("sec-websocket-protocol", "graphql-transport-ws")],
    )
    .await
    {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 429)
        }
        other => panic!("expected 429, got {:?}", other.map(|_| ())),
    }

    // A duplicate id closes the connection, as graphql-transport-ws says.
    subscribe(&mut socket, "2", "subscription { myUserEvents { kind } }").await;
    assert_eq!(close_code(&mut socket).await, Some(4409));
    // Its place is given back.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _third = signed_in(&app, json!({})).await;
}

#[tokio::test]
async fn cookies_are_read_as_clerk_sets_them() {
    // pk_test_ + base64("clerk.example.com$").
    let publishable_key = "pk_test_Y2xlcmsuZXhhbXBsZS5jb20k";
    let app =
        spawn_app_with(AppOptions::default().var("CLERK_PUBLISHABLE_KEY", publishable_key)).await;
    let suffix = clerk_graphql::auth::token::cookie_suffix(publishable_key);
    let ours = session_token("user_suffixed", "sess_c1", 60);
    let plain = session_token("user_plain", "sess_c2", 60);
    let viewer = |cookie: String| {
        let app = &app;
        async move {
            let reply = app
                .post_graphql("{ viewer { userId } }", &[("cookie", &cookie)])
                .await;
            assert_eq!(reply.status.as_u16(), 200, "{}", reply.body);
            reply.body["data"]["viewer"]["userId"].clone()
        }
    };
    assert_eq!(
        viewer(format!("__session={plain}; __session_{suffix}={ours}")).await,
        "user_suffixed"
    );
    assert_eq!(
        viewer(format!("__session_Zz999999={ours}; __session={plain}")).await,
        "user_plain"
    );
    assert_eq!(
        viewer(format!("__session_Zz999999={ours}")).await,
        Value::Null
    );
    assert_eq!(
        viewer(format!("__session=; __session_{suffix}={ours}")).await,
        "user_suffixed"
    );
    assert_eq!(
        viewer(format!("__session={plain}; __client_uat=0")).await,
        Value::Null
    );
    assert_eq!(
        viewer(format!(
            "__session_{suffix}={ours}; __client_uat_{suffix}=0"
        ))
        .await,
        Value::Null
    );
    assert_eq!(
        viewer(format!("__session={plain}; __client_uat=1733000000")).await,
        "user_plain"
    );
}

/// The real binary, so that its memory is its own: a 4 MiB message (four times the default
/// `GRAPHQL_MAX_BODY_BYTES`) is refused as it arrives, and the server's RSS does not grow with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_4_mib_socket_message_is_refused_before_it_is_buffered() {
    let port = crate::binary::free_port();
    let workdir = tempfile::tempdir().unwrap();
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_clerk-graphql"))
        .current_dir(workdir.path())
        .env_clear()
        .env("PORT", port.to_string())
        // Tests run side by side: none takes the default metrics port.
        .env("METRICS_ADDR", "off")
        .env("DATABASE_URL", "sqlite::memory:")
        .env("DEV_MODE", "false")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("server starts");
    let base = format!("http://127.0.0.1:{port}");
    crate::binary::wait_until_ready(&base, Duration::from_secs(10)).await;
    let pid = server.id().expect("running");
    let rss_kib = || {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        line.split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    // Warm: a socket and a query have run once.
    let headers = [("sec-websocket-protocol", "graphql-transport-ws")];
    let mut warm = upgrade(&base, &headers).await.unwrap();
    init(&mut warm, json!({})).await;
    drop(warm);
    let client = reqwest::Client::new();
    let health = |client: &reqwest::Client| {
        client
            .post(format!("{base}/graphql"))
            .json(&json!({"query": "{ health }"}))
            .send()
    };
    assert_eq!(health(&client).await.unwrap().status(), 200);
    let idle = rss_kib();

    let huge = format!(
        r#"{{"type":"subscribe","id":"1","payload":{{"query":"{{ health }}","variables":{{"x":"{}"}}}}}}"#,
        "a".repeat(4 * 1024 * 1024)
    );
    let mut socket = upgrade(&base, &headers).await.unwrap();
    init(&mut socket, json!({})).await;
    // The server may close before the whole message is written: a send error is expected then.
    let _ = futures_util::SinkExt::send(
        &mut socket,
        tokio_tungstenite::tungstenite::Message::text(huge),
    )
    .await;
    // Refused, never executed: the first thing back is the close (1009, unless the close frame
    // was lost to the reset of a connection the client was still writing to).
    match next(&mut socket).await {
        Err(frame) => {
            let code = frame.map(|frame| u16::from(frame.code));
            assert!(matches!(code, Some(1009) | None), "{code:?}");
        }
        Ok(message) => panic!("the message was processed: {message}"),
    }
    let after = rss_kib();
    assert!(after < 2 * idle, "RSS {after} KiB after, {idle} KiB idle");
    assert_eq!(health(&client).await.unwrap().status(), 200);
    let _ = server.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_params_accept_the_shapes_clients_send() {
    let app = spawn_without_skew().await;
    let token = session_token("user_a", "sess_params", 60);
    let signed_in_payloads = [
        json!({"Authorization": format!("Bearer {token}")}),
        json!({"authorization": format!("bearer {token}")}),
        json!({"token": token}),
        // Apollo / Hasura style.
        json!({"headers": {"Authorization": format!("Bearer {token}")}}),
    ];
    for payload in signed_in_payloads {
        let mut socket = signed_in(&app, payload.clone()).await;
        subscribe(&mut socket, "1", "{ viewer { userId } }").await;
        let answer = next(&mut socket).await.unwrap();
        assert_eq!(
            answer["payload"]["data"]["viewer"]["userId"], "user_a",
            "{payload}: {answer}"
        );
    }
    // What a signed-out client sends is an anonymous connection, not a refusal.
    for payload in [
        json!({"Authorization": "Bearer null"}),
        json!({"Authorization": "Bearer undefined"}),
        json!({"Authorization": ""}),
        json!({"token": "null"}),
        json!({"headers": {"Authorization": "Bearer "}}),
    ] {
        let mut socket = signed_in(&app, payload.clone()).await;
        subscribe(&mut socket, "1", "{ viewer { userId } }").await;
        let answer = next(&mut socket).await.unwrap();
        assert_eq!(
            answer["payload"]["data"]["viewer"],
            Value::Null,
            "{payload}: {answer}"
        );
    }
}
