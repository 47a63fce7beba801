//! `POST /webhooks/clerk` (ARCHITECTURE §8, issue 4): signatures, ordering, dedupe, outages. Each
//! database test runs on SQLite and on PostgreSQL.

use std::sync::Arc;

use clerk_graphql::auth::clock::FixedClock;
use clerk_graphql::db::webhook_events;
use clerk_graphql::users::entity as users;
use reqwest::StatusCode;
use sea_orm::{DatabaseConnection, EntityTrait, PaginatorTrait};
use serde_json::{Value, json};

use crate::fake_clerk::clerk_user_json;
use crate::helpers::{AppOptions, TestApp, spawn_app_on, spawn_app_with};
use crate::test_db::{Backend, on_every_backend};
use crate::webhooks_sign::{WEBHOOK_SECRET, event, now, sign};

fn user(id: &str, updated_at: i64, first_name: &str) -> Value {
    let mut user = clerk_user_json(id, Some("member"));
    user["updated_at"] = json!(updated_at);
    user["first_name"] = json!(first_name);
    user
}

async fn row(db: &DatabaseConnection, id: &str) -> Option<users::Model> {
    users::Entity::find_by_id(id).one(db).await.unwrap()
}

async fn counts(db: &DatabaseConnection) -> (u64, u64) {
    (
        users::Entity::find().count(db).await.unwrap(),
        webhook_events::Entity::find().count(db).await.unwrap(),
    )
}

#[track_caller]
fn assert_status(response: &reqwest::Response, status: StatusCode) {
    assert_eq!(response.status(), status, "{response:?}");
}

async fn deliver_ok(app: &TestApp, svix_id: &str, event: &Value) {
    let response = app.deliver(svix_id, event).await;
    assert_status(&response, StatusCode::NO_CONTENT);
}

/// Delivers `kind` (`user.created` or `user.updated`) of `user(id, updated_at, first_name)`.
async fn deliver_user(app: &TestApp, svix_id: &str, kind: &str, (id, at, name): (&str, i64, &str)) {
    deliver_ok(app, svix_id, &event(kind, user(id, at, name))).await;
}

// The official Svix vector, over HTTP: the server's clock is set to the vector's instant. The
// vector's body is not a Clerk event, so a good signature gets past the check to a 400; any
// one-bit change stops at the signature with a 401.
#[tokio::test]
async fn the_official_svix_vector_verifies_and_a_one_bit_change_does_not() {
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const BODY: &str = r#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    let app = spawn_app_with(AppOptions {
        clock: Some(FixedClock::at_unix_seconds(1_614_265_330)),
        ..AppOptions::default().var(
            "CLERK_WEBHOOK_SIGNING_SECRET",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        )
    })
    .await;
    let send = |id: String, timestamp: String, body: String, signature: String| {
        let app = &app;
        async move {
            app.post_webhook_raw(
                body.into_bytes(),
                Some(&id),
                Some(timestamp),
                Some(signature),
            )
            .await
        }
    };
    let genuine = send(
        ID.into(),
        "1614265330".into(),
        BODY.into(),
        SIGNATURE.into(),
    )
    .await;
    assert_status(&genuine, StatusCode::BAD_REQUEST);
    let body: Value = genuine.json().await.unwrap();
    assert_eq!(body["error"], "malformed_payload", "{body}");

    let flip = |text: &str, bit: usize| {
        let mut bytes = text.as_bytes().to_vec();
        bytes[bit / 8] ^= 1 << (bit % 8);
        String::from_utf8_lossy(&bytes).into_owned()
    };
    let mut refused = 0;
    for bit in (0..BODY.len() * 8).step_by(7) {
        let response = send(
            ID.into(),
            "1614265330".into(),
            flip(BODY, bit),
            SIGNATURE.into(),
        )
        .await;
        assert_status(&response, StatusCode::UNAUTHORIZED);
        refused += 1;
    }
    for bit in (0..ID.len() * 8).step_by(5) {
        let id = flip(ID, bit);
        if id.chars().any(char::is_control) {
            continue; // not sendable as a header value
        }
        let response = send(id, "1614265330".into(), BODY.into(), SIGNATURE.into()).await;
        assert_status(&response, StatusCode::UNAUTHORIZED);
        refused += 1;
    }
    let timestamp = send(
        ID.into(),
        "1614265331".into(),
        BODY.into(),
        SIGNATURE.into(),
    )
    .await;
    assert_status(&timestamp, StatusCode::UNAUTHORIZED);
    let signature = send(
        ID.into(),
        "1614265330".into(),
        BODY.into(),
        SIGNATURE.replace("v1,g0hM", "v1,g1hM"),
    )
    .await;
    assert_status(&signature, StatusCode::UNAUTHORIZED);
    assert!(refused > 30, "{refused}");
}

on_every_backend!(
    bad_signatures_are_refused_and_touch_nothing,
    a_valid_entry_among_bogus_ones_and_a_rotated_secret_are_accepted,
    the_same_delivery_twice_is_applied_once,
    an_older_update_never_overwrites_newer_data,
    a_deleted_user_stays_deleted_and_scrubbed,
    fifty_concurrent_deliveries_make_fifty_rows,
    a_database_outage_is_a_503_and_the_retry_succeeds,
    malformed_unknown_and_oversized_deliveries,
);

async fn bad_signatures_are_refused_and_touch_nothing(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let db = app.database.connect().await;
    let body = serde_json::to_vec(&event("user.created", user("user_a", 1000, "Ada"))).unwrap();
    let ts = now();
    let good = sign(WEBHOOK_SECRET, "msg_1", ts, &body);
    let forged = sign("whsec_Zm9yZ2VyJ3Mgb3duIHNlY3JldA==", "msg_1", ts, &body);
    let stale = now() - 6 * 60;
    let future = now() + 6 * 60;
    // (case, svix-id, svix-timestamp, svix-signature); `None`: header left out.
    type Case<'a> = (&'a str, Option<&'a str>, Option<String>, Option<String>);
    let cases: Vec<Case> = vec![
        ("forged", Some("msg_1"), Some(ts.to_string()), Some(forged)),
        ("no id", None, Some(ts.to_string()), Some(good.clone())),
        ("no timestamp", Some("msg_1"), None, Some(good.clone())),
        ("no signature", Some("msg_1"), Some(ts.to_string()), None),
        (
            "empty signature",
            Some("msg_1"),
            Some(ts.to_string()),
            Some(String::new()),
        ),
        (
            "stale",
            Some("msg_1"),
            Some(stale.to_string()),
            Some(sign(WEBHOOK_SECRET, "msg_1", stale, &body)),
        ),
        (
            "future",
            Some("msg_1"),
            Some(future.to_string()),
            Some(sign(WEBHOOK_SECRET, "msg_1", future, &body)),
        ),
        (
            "signed for another id",
            Some("msg_2"),
            Some(ts.to_string()),
            Some(good.clone()),
        ),
    ];
    for (case, id, timestamp, signature) in cases {
        let response = app
            .post_webhook_raw(body.clone(), id, timestamp, signature)
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{case}");
        let reply: Value = response.json().await.unwrap();
        assert!(
            matches!(
                reply["error"].as_str(),
                Some("invalid_signature" | "missing_signature")
            ),
            "{case}: {reply}"
        );
    }
    assert_eq!(counts(&db).await, (0, 0));
}

async fn a_valid_entry_among_bogus_ones_and_a_rotated_secret_are_accepted(backend: Backend) {
    let old_secret = "whsec_b2xkIHNpZ25pbmcgc2VjcmV0IGZvciB0ZXN0cw==";
    let app = spawn_app_with(AppOptions::default().on(backend).var(
        "CLERK_WEBHOOK_SIGNING_SECRET",
        format!("{old_secret} {WEBHOOK_SECRET}"),
    ))
    .await;
    let db = app.database.connect().await;
    let body = serde_json::to_vec(&event("user.created", user("user_a", 1000, "Ada"))).unwrap();
    let ts = now();
    let valid = sign(WEBHOOK_SECRET, "msg_1", ts, &body);
    let header = format!("v1,Ym9ndXM= v1,{} v2,abc {valid} v1,!!!", "A".repeat(44));
    let response = app
        .post_webhook_raw(body, Some("msg_1"), Some(ts.to_string()), Some(header))
        .await;
    assert_status(&response, StatusCode::NO_CONTENT);

    let body = serde_json::to_vec(&event("user.created", user("user_b", 1000, "Bo"))).unwrap();
    let signed_with_old = sign(old_secret, "msg_2", ts, &body);
    let response = app
        .post_webhook_raw(
            body,
            Some("msg_2"),
            Some(ts.to_string()),
            Some(signed_with_old),
        )
        .await;
    assert_status(&response, StatusCode::NO_CONTENT);
    assert_eq!(counts(&db).await, (2, 2));
}

async fn the_same_delivery_twice_is_applied_once(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let db = app.database.connect().await;
    let created = event("user.created", user("user_a", 1000, "Ada"));
    deliver_ok(&app, "msg_1", &created).await;
    let first = row(&db, "user_a").await.expect("row");
    deliver_ok(&app, "msg_1", &created).await;
    // Another message with the same content (Clerk re-sent it): same updated_at, no change.
    deliver_ok(&app, "msg_2", &created).await;
    assert_eq!(counts(&db).await, (1, 2));
    let row = row(&db, "user_a").await.expect("row");
    assert_eq!(
        row, first,
        "a redelivery changes nothing, not even synced_at"
    );
    assert_eq!(row.email.as_deref(), Some("user_a@example.com"));
    assert_eq!(row.first_name.as_deref(), Some("Ada"));
    assert_eq!(row.public_metadata, json!({"role": "member"}));
    assert_eq!(
        (row.clerk_created_at, row.clerk_updated_at),
        (1_716_883_200_000, 1000)
    );
    assert!(row.deleted_at.is_none());
}

async fn an_older_update_never_overwrites_newer_data(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let db = app.database.connect().await;
    deliver_user(&app, "msg_1", "user.created", ("user_a", 1000, "Ada")).await;
    deliver_user(&app, "msg_3", "user.updated", ("user_a", 3000, "Newest")).await;
    deliver_user(&app, "msg_2", "user.updated", ("user_a", 2000, "Older")).await;
    // A creation that arrives last is older still.
    deliver_user(&app, "msg_0", "user.created", ("user_a", 500, "Oldest")).await;
    let row = row(&db, "user_a").await.unwrap();
    assert_eq!(row.first_name.as_deref(), Some("Newest"));
    assert_eq!(row.clerk_updated_at, 3000);
    assert_eq!(counts(&db).await, (1, 4));
}

async fn a_deleted_user_stays_deleted_and_scrubbed(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let db = app.database.connect().await;
    deliver_user(&app, "msg_1", "user.created", ("user_a", 1000, "Ada")).await;
    let deleted = json!({"id": "user_a", "deleted": true, "object": "user"});
    deliver_ok(&app, "msg_2", &event("user.deleted", deleted)).await;
    deliver_user(&app, "msg_3", "user.updated", ("user_a", 9000, "Revived?")).await;
    let row = row(&db, "user_a").await.unwrap();
    assert!(row.deleted_at.is_some());
    assert_eq!(
        (
            row.email,
            row.username,
            row.first_name,
            row.last_name,
            row.image_url
        ),
        (None, None, None, None, None)
    );
    assert_eq!(row.public_metadata, json!({}));

    // Deleted before its creation arrived: the tombstone wins over the late creation.
    let deleted = json!({"id": "user_b", "deleted": true, "object": "user"});
    deliver_ok(&app, "msg_4", &event("user.deleted", deleted)).await;
    deliver_user(&app, "msg_5", "user.created", ("user_b", 1000, "Late")).await;
    let row_b = self::row(&db, "user_b").await.unwrap();
    assert!(row_b.deleted_at.is_some());
    assert_eq!(row_b.first_name, None);
    assert_eq!(counts(&db).await, (2, 5));

    // And over GraphQL: gone.
    let token = crate::tokens::TestKey::primary().sign(&crate::tokens::session_claims("user_z"));
    let reply = app
        .post_graphql(
            r#"{ a: user(id: "user_a") { id } b: user(id: "user_b") { id } }"#,
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await;
    assert_eq!(
        reply.body["data"],
        json!({"a": null, "b": null}),
        "{}",
        reply.body
    );
}

async fn fifty_concurrent_deliveries_make_fifty_rows(backend: Backend) {
    let app = Arc::new(spawn_app_on(backend).await);
    let db = app.database.connect().await;
    let deliveries = (0..50).map(|i| {
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            let id = format!("user_{i:02}");
            let response = app
                .deliver(
                    &format!("msg_{i}"),
                    &event("user.created", user(&id, 1000, "Ada")),
                )
                .await;
            response.status()
        })
    });
    for status in futures_util::future::join_all(deliveries).await {
        assert_eq!(status.unwrap(), StatusCode::NO_CONTENT);
    }
    assert_eq!(counts(&db).await, (50, 50));
}

async fn a_database_outage_is_a_503_and_the_retry_succeeds(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let created = event("user.created", user("user_a", 1000, "Ada"));
    let outage = app.database.start_outage().await;
    let response = app.deliver("msg_1", &created).await;
    assert_status(&response, StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let reply: Value = response.json().await.unwrap();
    assert_eq!(reply["error"], "storage_unavailable", "{reply}");
    outage.end().await;

    // Svix retries the same message: applied once, now.
    deliver_ok(&app, "msg_1", &created).await;
    let db = app.database.connect().await;
    assert_eq!(counts(&db).await, (1, 1));
    assert_eq!(
        row(&db, "user_a").await.unwrap().first_name.as_deref(),
        Some("Ada")
    );
}

async fn malformed_unknown_and_oversized_deliveries(backend: Backend) {
    let app = spawn_app_on(backend).await;
    let db = app.database.connect().await;
    for (i, bad) in [
        json!({"no": "envelope"}),
        event("user.created", json!({"first_name": "no id"})),
        event("user.deleted", json!({"deleted": true})),
        event("user.updated", json!("not an object")),
    ]
    .iter()
    .enumerate()
    {
        let response = app.deliver(&format!("msg_bad_{i}"), bad).await;
        assert_status(&response, StatusCode::BAD_REQUEST);
    }
    // Signed, but not JSON at all.
    let ts = now();
    let body = b"\x00\xffnot json".to_vec();
    let signature = sign(WEBHOOK_SECRET, "msg_bytes", ts, &body);
    let response = app
        .post_webhook_raw(
            body,
            Some("msg_bytes"),
            Some(ts.to_string()),
            Some(signature),
        )
        .await;
    assert_status(&response, StatusCode::BAD_REQUEST);

    for kind in ["session.created", "organization.updated", "email.created"] {
        let response = app
            .deliver(&format!("msg_{kind}"), &event(kind, json!({"id": "x_1"})))
            .await;
        assert_status(&response, StatusCode::NO_CONTENT);
    }

    let mut big = user("user_big", 1000, "Big");
    big["public_metadata"] = json!({ "blob": "x".repeat(300 * 1024) });
    let response = app.deliver("msg_big", &event("user.created", big)).await;
    assert_status(&response, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(counts(&db).await, (0, 0));

    // Still serving.
    deliver_user(&app, "msg_ok", "user.created", ("user_a", 1000, "Ada")).await;
    assert_eq!(counts(&db).await, (1, 1));
}

#[tokio::test]
async fn without_a_signing_secret_the_endpoint_does_not_exist() {
    let app = spawn_app_with(AppOptions::default().unset("CLERK_WEBHOOK_SIGNING_SECRET")).await;
    let response = app
        .deliver("msg_1", &event("user.created", user("user_a", 1000, "Ada")))
        .await;
    assert_status(&response, StatusCode::NOT_FOUND);
}

// Issue 3's `invalidate`, over HTTP: a profile change reaches role checks at once, not after
// the cache's TTL.
#[tokio::test]
async fn a_user_webhook_evicts_the_cached_clerk_user() {
    let app = crate::helpers::spawn_app().await;
    app.clerk.add_users(vec![user("user_a", 1000, "Ada")]);
    let token = crate::tokens::TestKey::primary().sign(&crate::tokens::session_claims("user_a"));
    let authorization = format!("Bearer {token}");
    let role = || async {
        let reply = app
            .post_graphql("{ viewer { role } }", &[("authorization", &authorization)])
            .await;
        reply.body["data"]["viewer"]["role"].clone()
    };
    assert_eq!(role().await, "member");
    let mut promoted = user("user_a", 2000, "Ada");
    promoted["public_metadata"] = json!({"role": "admin"});
    app.clerk.set_user(promoted.clone());
    assert_eq!(role().await, "member", "cached within the TTL");
    assert_eq!(app.clerk.users_calls(), 1);

    deliver_ok(&app, "msg_promote", &event("user.updated", promoted)).await;
    assert_eq!(role().await, "admin");
    assert_eq!(app.clerk.users_calls(), 2, "one call after the eviction");
}
