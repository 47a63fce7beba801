//! HTTP hardening of `/graphql` (issue 5): GET runs queries only, JSON bodies only, cross-site
//! cookie requests refused, CORS preflight, request errors as 400 with codes, introspection and
//! playground switches. Each test ends by checking the server still serves.
//!
//! Issue 16, beyond documents (`hardening_documents`): strict token parsing, JSON refusals on the
//! webhook route, input rules of the example domain, the `webhook_events` clean-up, and a post
//! deleted while it is being changed.

use std::time::Duration;

use chrono::{DateTime, Utc};
use clerk_graphql::auth::clock::FixedClock;
use clerk_graphql::config::RetentionSettings;
use clerk_graphql::db::webhook_events;
use reqwest::StatusCode;
use sea_orm::{EntityTrait, QueryOrder, Set};
use serde_json::{Value, json};

use crate::fake_clerk::clerk_user_json;
use crate::helpers::{AppOptions, GraphqlReply, TestApp, spawn_app, spawn_app_with};
use crate::limits::{assert_still_serving, raw_http};
use crate::test_db::{Backend, on_every_backend};
use crate::tokens::{TestKey, session_claims, with};
use crate::webhooks_sign::{WEBHOOK_SECRET, event, sign};

const FRONTEND: &str = "http://localhost:3000";

pub(crate) async fn reply(response: reqwest::Response) -> GraphqlReply {
    GraphqlReply::read(response).await
}

pub(crate) fn graphql_url(app: &TestApp, params: &[(&str, &str)]) -> reqwest::Url {
    reqwest::Url::parse_with_params(&format!("{}/graphql", app.address), params).unwrap()
}

async fn get_graphql(app: &TestApp, params: &[(&str, &str)]) -> GraphqlReply {
    let response = app
        .client
        .get(graphql_url(app, params))
        .send()
        .await
        .unwrap();
    reply(response).await
}

pub(crate) fn bearer(user: &str) -> String {
    format!("Bearer {}", TestKey::primary().sign(&session_claims(user)))
}

fn session_cookie(user: &str) -> String {
    format!(
        "__session={}",
        TestKey::primary().sign(&session_claims(user))
    )
}

#[tokio::test]
async fn get_runs_queries() {
    let app = spawn_app().await;
    let plain = get_graphql(&app, &[("query", "{ health }")]).await;
    assert_eq!(plain.status, StatusCode::OK, "body: {}", plain.body);
    assert_eq!(plain.body, json!({"data": {"health": "ok"}}));
    assert_eq!(plain.headers["content-type"], "application/json");

    // Variables and operationName as query parameters; the token is read as for POST.
    let response = app
        .client
        .get(graphql_url(
            &app,
            &[
                (
                    "query",
                    "query Who($x: Boolean!) { viewer @include(if: $x) { userId } } \
                     query Other { health }",
                ),
                ("variables", r#"{"x": true}"#),
                ("operationName", "Who"),
            ],
        ))
        .header("authorization", bearer("user_get"))
        .header("accept", "application/graphql-response+json")
        .send()
        .await
        .unwrap();
    let signed_in = reply(response).await;
    signed_in.assert_signed_in_as("user_get");
    assert_eq!(
        signed_in.headers["content-type"],
        "application/graphql-response+json"
    );
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn get_without_query_is_the_playground_or_405() {
    let app = spawn_app().await;
    let page = app.get("/graphql").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("graphiql"));

    let off = spawn_app_with(AppOptions::default().var("GRAPHQL_PLAYGROUND", "false")).await;
    let refused = reply(off.get("/graphql").await).await;
    assert_eq!(refused.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(refused.headers["allow"], "POST");
    assert_eq!(refused.reason(), Some("method_not_allowed"));
    assert_still_serving(&off).await;
}

#[tokio::test]
async fn bodies_other_than_json_are_415_even_with_the_session_cookie() {
    let app = spawn_app().await;
    let cookie = session_cookie("user_form");
    for (content_type, body) in [
        (
            "text/plain",
            r#"{"query": "{ viewer { userId } }"}"#.to_string(),
        ),
        (
            "multipart/form-data; boundary=X",
            "--X\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n\
             {\"query\": \"{ viewer { userId } }\"}\r\n--X--\r\n"
                .to_string(),
        ),
        (
            "application/x-www-form-urlencoded",
            "query=%7B%20viewer%20%7B%20userId%20%7D%20%7D".to_string(),
        ),
    ] {
        let response = app
            .client
            .post(format!("{}/graphql", app.address))
            .header("content-type", content_type)
            .header("cookie", &cookie)
            .body(body)
            .send()
            .await
            .unwrap();
        let refused = reply(response).await;
        assert_eq!(
            refused.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type}: {}",
            refused.body
        );
        assert_eq!(refused.code(), Some("BAD_REQUEST"));
        assert_eq!(refused.reason(), Some("unsupported_media_type"));
    }
    // JSON with a charset parameter is JSON.
    let response = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("content-type", "application/json; charset=utf-8")
        .header("cookie", &cookie)
        .body(r#"{"query": "{ viewer { userId } }"}"#)
        .send()
        .await
        .unwrap();
    reply(response).await.assert_signed_in_as("user_form");
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn cross_site_cookie_requests_are_403() {
    let app = spawn_app_with(AppOptions::default().var("CORS_ALLOWED_ORIGINS", FRONTEND)).await;
    let cookie = session_cookie("user_csrf");
    let query = "{ viewer { userId } }";
    for headers in [
        vec![
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://evil.example"),
        ],
        vec![
            ("sec-fetch-site", "same-site"),
            ("origin", "http://other.localhost:3000"),
        ],
        vec![("origin", "https://evil.example")],
        vec![("origin", "null")],
    ] {
        let mut all = headers.clone();
        all.push(("cookie", &cookie));
        let refused = app.post_graphql(query, &all).await;
        assert_eq!(
            refused.status,
            StatusCode::FORBIDDEN,
            "{headers:?}: {}",
            refused.body
        );
        assert_eq!(refused.code(), Some("FORBIDDEN"));
        assert_eq!(refused.reason(), Some("csrf"));
        assert!(refused.body.get("data").is_none());
    }

    // The same cookie from the server's own origin, or from an allowed one, is fine.
    let own = app.address.clone();
    for headers in [
        vec![("sec-fetch-site", "same-origin"), ("origin", own.as_str())],
        vec![("origin", own.as_str())],
        vec![("sec-fetch-site", "cross-site"), ("origin", FRONTEND)],
        vec![],
    ] {
        let mut all = headers.clone();
        all.push(("cookie", &cookie));
        app.post_graphql(query, &all)
            .await
            .assert_signed_in_as("user_csrf");
    }
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn bearer_requests_from_an_allowed_origin_work_and_get_cors_headers() {
    let app = spawn_app_with(AppOptions::default().var("CORS_ALLOWED_ORIGINS", FRONTEND)).await;
    let reply = app
        .post_graphql(
            "{ viewer { userId } }",
            &[
                ("authorization", &bearer("user_spa")),
                ("origin", FRONTEND),
                ("sec-fetch-site", "cross-site"),
            ],
        )
        .await;
    reply.assert_signed_in_as("user_spa");
    assert_eq!(reply.headers["access-control-allow-origin"], FRONTEND);
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn cors_preflight_answers_allowed_origins_only() {
    let app = spawn_app_with(AppOptions::default().var("CORS_ALLOWED_ORIGINS", FRONTEND)).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.address))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let allowed = preflight(FRONTEND).await.unwrap();
    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(allowed.headers()["access-control-allow-origin"], FRONTEND);
    let methods = allowed.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_ascii_uppercase();
    assert!(methods.contains("POST"), "{methods}");
    let headers = allowed.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        headers.contains("authorization") && headers.contains("content-type"),
        "{headers}"
    );

    let other = preflight("https://evil.example").await.unwrap();
    assert!(
        !other.headers().contains_key("access-control-allow-origin"),
        "{:?}",
        other.headers()
    );
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn parse_errors_are_400_graphql_parse_failed() {
    let app = spawn_app().await;
    let reply = app.post_graphql("{ health", &[]).await;
    assert_eq!(
        reply.status,
        StatusCode::BAD_REQUEST,
        "body: {}",
        reply.body
    );
    assert_eq!(reply.code(), Some("GRAPHQL_PARSE_FAILED"));
    assert!(reply.body.get("data").is_none(), "body: {}", reply.body);
    assert!(reply.body["errors"][0]["locations"].is_array());
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn validation_errors_are_400_and_field_errors_200() {
    let app = spawn_app().await;
    for query in [
        "{ nope }",
        "{ user(id: 12.5) { id } }",
        "{ users(first: \"many\") { nodes { id } } }",
        "query A { health } query B { health }",
    ] {
        let reply = app.post_graphql(query, &[]).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            reply.body
        );
        assert!(
            matches!(
                reply.code(),
                Some("GRAPHQL_VALIDATION_FAILED" | "BAD_REQUEST")
            ),
            "{query}: {}",
            reply.body
        );
        assert!(reply.body.get("data").is_none(), "{query}: {}", reply.body);
    }
    let reply = app.post_graphql("{ nope }", &[]).await;
    assert_eq!(reply.code(), Some("GRAPHQL_VALIDATION_FAILED"));
    // Hundreds of mistakes: the first 50 are listed, the rest counted.
    let unknown: String = (0..200).map(|i| format!("x{i} ")).collect();
    let reply = app
        .post_graphql(&format!("{{ viewer {{ {unknown} }} }}"), &[])
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let errors = reply.body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 51, "{}", reply.body);
    assert_eq!(errors[50]["message"], "…and 150 more validation errors.");

    // A field error is part of a normal answer.
    let reply = app.post_graphql("{ me { id } health }", &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "body: {}", reply.body);
    assert_eq!(reply.code(), Some("UNAUTHENTICATED"));
    assert_eq!(reply.body["data"]["health"], "ok");
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn malformed_requests_and_batches_are_400() {
    let app = spawn_app().await;
    let post = |body: String| {
        app.client
            .post(format!("{}/graphql", app.address))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let batch: Vec<Value> = (0..1000).map(|_| json!({"query": "{ health }"})).collect();
    let refused = reply(post(serde_json::to_string(&batch).unwrap()).await.unwrap()).await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "body: {}",
        refused.body
    );
    assert_eq!(refused.code(), Some("BAD_REQUEST"));
    assert_eq!(refused.reason(), Some("batch_not_supported"));

    for (body, reason) in [
        ("{\"query\": ", "invalid_json"),
        ("{\"variables\": {}}", "missing_query"),
        ("\"{ health }\"", "invalid_json"),
    ] {
        let refused = reply(post(body.into()).await.unwrap()).await;
        assert_eq!(
            refused.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            refused.body
        );
        assert_eq!(refused.reason(), Some(reason), "{body}: {}", refused.body);
    }
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn introspection_off_refuses_schema_queries() {
    let app = spawn_app_with(AppOptions::default().var("GRAPHQL_INTROSPECTION", "false")).await;
    for query in [
        "{ __schema { queryType { name } } }",
        "{ __type(name: \"Query\") { name } }",
        "{ ...F } fragment F on Query { __schema { types { name } } }",
    ] {
        let reply = app.post_graphql(query, &[]).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            reply.body
        );
        assert_eq!(reply.code(), Some("GRAPHQL_VALIDATION_FAILED"));
        assert_eq!(reply.reason(), Some("introspection_disabled"));
    }
    // `__typename` is not introspection of the schema.
    let reply = app.post_graphql("{ __typename health }", &[]).await;
    assert_eq!(
        reply.body,
        json!({"data": {"__typename": "Query", "health": "ok"}})
    );
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn production_defaults_turn_off_playground_and_introspection() {
    let app = spawn_app_with(AppOptions::default().var("APP_ENV", "production")).await;
    assert_eq!(
        app.get("/graphql").await.status(),
        StatusCode::METHOD_NOT_ALLOWED
    );
    let reply = app
        .post_graphql("{ __schema { queryType { name } } }", &[])
        .await;
    assert_eq!(
        reply.status,
        StatusCode::BAD_REQUEST,
        "body: {}",
        reply.body
    );
    assert_eq!(reply.reason(), Some("introspection_disabled"));

    // Either switch can be turned back on explicitly.
    let on = spawn_app_with(
        AppOptions::default()
            .var("APP_ENV", "production")
            .var("GRAPHQL_PLAYGROUND", "true")
            .var("GRAPHQL_INTROSPECTION", "true"),
    )
    .await;
    assert_eq!(on.get("/graphql").await.status(), StatusCode::OK);
    let reply = on
        .post_graphql("{ __schema { queryType { name } } }", &[])
        .await;
    assert_eq!(reply.body["data"]["__schema"]["queryType"]["name"], "Query");
    assert_still_serving(&app).await;
}

// ---------------------------------------------------------------------------------------------
// Issue 16
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn tokens_with_crit_duplicate_members_or_a_machine_subject_are_refused() {
    let app = spawn_app().await;
    let key = TestKey::primary();
    let claims = session_claims("user_strict");
    let header = json!({"alg": "RS256", "kid": key.kid, "typ": "JWT"});
    // The same claims, correctly signed, are a session: each refusal below is for its one flaw.
    app.viewer_with_bearer(&key.sign_with_header(&header, &claims))
        .await
        .assert_signed_in_as("user_strict");

    // RFC 7515 §4.1.11: an extension we must understand, and do not.
    let mut critical = header.clone();
    critical["crit"] = json!(["exp"]);
    app.viewer_with_bearer(&key.sign_with_header(&critical, &claims))
        .await
        .assert_refused("token_malformed");

    // Two `sub` members: serde_json would keep the last, `user_admin`.
    let payload = claims.to_string();
    let twice = format!(
        "{},\"sub\":\"user_admin\"}}",
        payload.strip_suffix('}').unwrap()
    );
    let reply = app
        .viewer_with_bearer(&key.sign_text(&header.to_string(), &twice))
        .await;
    reply.assert_refused("token_malformed");
    assert!(!reply.body.to_string().contains("user_admin"));
    // In the header too (a member serde's typed header would not even read), and in a nested
    // object of the payload.
    let header_twice = format!(
        r#"{{"alg":"RS256","kid":"{}","typ":"JWT","x5t":"a","x5t":"b"}}"#,
        key.kid
    );
    app.viewer_with_bearer(&key.sign_text(&header_twice, &payload))
        .await
        .assert_refused("token_malformed");
    let nested_twice = with(claims.clone(), json!({"o": "ORG"}))
        .to_string()
        .replace(r#""ORG""#, r#"{"id":"org_1","rol":"member","rol":"admin"}"#);
    app.viewer_with_bearer(&key.sign_text(&header.to_string(), &nested_twice))
        .await
        .assert_refused("token_malformed");

    // A machine subject, whatever its case.
    for subject in ["mch_123", "MCH_123", "Mch_2abc"] {
        let machine = with(claims.clone(), json!({"sub": subject}));
        app.viewer_with_bearer(&key.sign(&machine))
            .await
            .assert_refused("token_type_mismatch");
    }
    assert_still_serving(&app).await;
}

#[tokio::test]
async fn webhook_refusals_are_json_with_a_code() {
    let app = spawn_app().await;
    let assert_json = |response: &reqwest::Response| {
        assert_eq!(
            response.headers()["content-type"],
            "application/json",
            "{response:?}"
        );
    };
    let mut big = clerk_user_json("user_big", None);
    big["public_metadata"] = json!({ "blob": "x".repeat(300 * 1024) });
    let response = app.deliver("msg_big", &event("user.created", big)).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_json(&response);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "payload_too_large", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("262144 bytes"),
        "{body}"
    );

    // Without a length, counted as it arrives.
    let chunk = "x".repeat(300 * 1024);
    let head = format!(
        "POST /webhooks/clerk HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         svix-id: msg_chunked\r\nsvix-timestamp: 1\r\nsvix-signature: v1,AAAA\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        app.address.trim_start_matches("http://")
    );
    let chunked = format!("{head}{:x}\r\n{chunk}\r\n0\r\n\r\n", chunk.len());
    let answer = raw_http(&app, chunked.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer:.300}");
    assert!(
        answer.contains("content-type: application/json")
            && answer.contains(r#""error":"payload_too_large""#),
        "{answer:.300}"
    );

    // Another method.
    let response = app.get("/webhooks/clerk").await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "POST");
    assert_json(&response);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "method_not_allowed", "{body}");

    // Nothing was recorded, and a good delivery still works.
    let response = app
        .deliver(
            "msg_ok",
            &event("user.created", clerk_user_json("user_ok", None)),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

on_every_backend!(old_webhook_events_are_deleted_recent_ones_kept);

async fn old_webhook_events_are_deleted_recent_ones_kept(backend: Backend) {
    const DAY: i64 = 86_400;
    let now = 1_800_000_000;
    let clock = FixedClock::at_unix_seconds(now);
    let app = spawn_app_with(AppOptions {
        clock: Some(clock.clone()),
        // At once, then every 50 ms: the test waits for runs, not for hours.
        webhook_retention: RetentionSettings {
            first_run_after: Duration::ZERO,
            interval: Duration::from_millis(50),
            ..RetentionSettings::default()
        },
        ..AppOptions::default()
            .on(backend)
            .var("WEBHOOK_EVENTS_RETENTION_DAYS", "7")
    })
    .await;
    let db = app.database.connect().await;
    let at = |seconds: i64| DateTime::<Utc>::from_timestamp(seconds, 0).unwrap();
    let row = |id: String, received: i64| webhook_events::ActiveModel {
        svix_id: Set(id),
        event_type: Set("user.updated".into()),
        received_at: Set(at(received)),
    };
    // 2,500 rows older than 7 days (more than two batches), 10 younger by an hour.
    let old = (0..2_500).map(|i| row(format!("msg_old_{i}"), now - 8 * DAY - i));
    webhook_events::Entity::insert_many(old)
        .exec(&db)
        .await
        .unwrap();
    let young = (0..10).map(|i| row(format!("msg_young_{i}"), now - 7 * DAY + 3600 + i));
    webhook_events::Entity::insert_many(young)
        .exec(&db)
        .await
        .unwrap();
    // And one delivery over HTTP, stamped by the application's clock.
    let body =
        serde_json::to_vec(&event("user.created", clerk_user_json("user_kept", None))).unwrap();
    let response = app
        .post_webhook_raw(
            body.clone(),
            Some("msg_now"),
            Some(now.to_string()),
            Some(sign(WEBHOOK_SECRET, "msg_now", now, &body)),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    let ids = || async {
        webhook_events::Entity::find()
            .order_by_asc(webhook_events::Column::SvixId)
            .all(&db)
            .await
            .unwrap()
            .into_iter()
            .map(|row| row.svix_id)
            .collect::<Vec<_>>()
    };
    let settled = |expected: usize| async move {
        for _ in 0..200 {
            if ids().await.len() == expected {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("expected {expected} rows, have {}", ids().await.len());
    };
    settled(11).await;
    let mut expected: Vec<String> = (0..10).map(|i| format!("msg_young_{i}")).collect();
    expected.push("msg_now".into());
    expected.sort();
    assert_eq!(ids().await, expected);

    // Every statement of the clean-up is bounded.
    let deletes: Vec<String> = app
        .statement_log
        .lock()
        .unwrap()
        .iter()
        .filter(|sql| sql.starts_with("DELETE FROM \"webhook_events\""))
        .cloned()
        .collect();
    assert!(deletes.len() >= 3, "{deletes:?}");
    assert!(
        deletes.iter().all(|sql| sql.contains("LIMIT")),
        "{deletes:?}"
    );

    // A day later, the young rows are old too; the delivery of "now" is a day old and stays.
    clock.set_unix_seconds(now + DAY);
    settled(1).await;
    assert_eq!(ids().await, ["msg_now"]);
    // Its redelivery is still recognised: acknowledged, not applied again.
    let response = app
        .post_webhook_raw(
            body.clone(),
            Some("msg_now"),
            Some((now + DAY).to_string()),
            Some(sign(WEBHOOK_SECRET, "msg_now", now + DAY, &body)),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(ids().await, ["msg_now"]);
}
