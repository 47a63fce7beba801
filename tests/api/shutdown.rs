//! Graceful shutdown (issue 8): SIGTERM in the middle of a burst of webhook deliveries. Every
//! delivery the server acknowledged must be in the database; the others were not acknowledged,
//! so Svix would send them again. Runs the real binary.

use std::sync::Arc;
use std::time::Duration;

use clerk_graphql::db::webhook_events;
use clerk_graphql::users::entity as users;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use crate::binary::{terminate, wait_until_ready};
use crate::fake_clerk::clerk_user_json;
use crate::test_db::{Backend, TestDatabase, on_every_backend};
use crate::webhooks_sign::{WEBHOOK_SECRET, event, now, sign};

on_every_backend!(sigterm_mid_burst_loses_no_acknowledged_delivery);

async fn sigterm_mid_burst_loses_no_acknowledged_delivery(backend: Backend) {
    let database = TestDatabase::create(backend).await;
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let workdir = tempfile::tempdir().unwrap();
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_clerk-graphql"))
        .current_dir(workdir.path())
        .env_clear()
        .env("PORT", port.to_string())
        // Tests run side by side: none takes the default metrics port.
        .env("METRICS_ADDR", "off")
        .env("DATABASE_URL", database.url())
        .env("CLERK_WEBHOOK_SIGNING_SECRET", WEBHOOK_SECRET)
        .env("DEV_MODE", "false")
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .expect("server starts");
    let base = format!("http://127.0.0.1:{port}");
    wait_until_ready(&base, Duration::from_secs(10)).await;
    let client = reqwest::Client::new();

    let acknowledged = Arc::new(std::sync::Mutex::new(Vec::new()));
    let burst: Vec<_> = (0..300)
        .map(|i| {
            let (client, base, acknowledged) =
                (client.clone(), base.clone(), Arc::clone(&acknowledged));
            tokio::spawn(async move {
                // Spread over ~1.5 s, so that the signal lands in the middle.
                tokio::time::sleep(Duration::from_millis(i * 5)).await;
                let svix_id = format!("msg_{i}");
                let body = serde_json::to_vec(&event(
                    "user.created",
                    clerk_user_json(&format!("user_{i:03}"), None),
                ))
                .unwrap();
                let timestamp = now();
                let response = client
                    .post(format!("{base}/webhooks/clerk"))
                    .header("svix-id", &svix_id)
                    .header("svix-timestamp", timestamp.to_string())
                    .header(
                        "svix-signature",
                        sign(WEBHOOK_SECRET, &svix_id, timestamp, &body),
                    )
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await;
                if let Ok(response) = response
                    && response.status() == 204
                {
                    acknowledged.lock().unwrap().push(svix_id);
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    // SHUTDOWN_GRACE is 20 s; 30 s leaves slack on a loaded machine.
    let status = terminate(&mut server, Duration::from_secs(30)).await;
    assert!(status.success(), "a clean exit after SIGTERM: {status:?}");
    futures_util::future::join_all(burst).await;

    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        !acknowledged.is_empty(),
        "some deliveries were acknowledged before the signal"
    );
    assert!(
        acknowledged.len() < 300,
        "the signal landed mid-burst ({} acknowledged)",
        acknowledged.len()
    );
    let db = database.connect().await;
    let recorded = webhook_events::Entity::find()
        .filter(webhook_events::Column::SvixId.is_in(acknowledged.iter().map(String::as_str)))
        .count(&db)
        .await
        .unwrap();
    assert_eq!(
        recorded as usize,
        acknowledged.len(),
        "every acknowledged delivery is stored"
    );
    // And each recorded event's user change is there too (one transaction).
    assert_eq!(
        users::Entity::find().count(&db).await.unwrap(),
        webhook_events::Entity::find().count(&db).await.unwrap()
    );
}
