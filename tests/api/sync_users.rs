//! `clerk-graphql sync-users`, the real binary, against a fake Clerk with 1,234 users.

use clerk_graphql::users::entity as users;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, PaginatorTrait};
use serde_json::json;

use crate::fake_clerk::{FakeClerk, SECRET_KEY, clerk_user_json};
use crate::test_db::{Backend, TestDatabase, on_every_backend};
use crate::tokens::ISSUER;

async fn sync_users(clerk: &FakeClerk, database: &TestDatabase) -> String {
    let workdir = tempfile::tempdir().unwrap(); // no stray `.env` is read
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_clerk-graphql"))
        .arg("sync-users")
        .current_dir(workdir.path())
        .env_clear()
        .env("DATABASE_URL", database.url())
        .env("CLERK_SECRET_KEY", SECRET_KEY)
        .env("CLERK_API_URL", &clerk.url)
        .env("CLERK_ISSUER", ISSUER)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "sync-users failed\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!stdout.contains(SECRET_KEY));
    stdout.lines().last().unwrap_or_default().to_string()
}

on_every_backend!(sync_users_copies_everyone_once_and_then_changes_nothing);

async fn sync_users_copies_everyone_once_and_then_changes_nothing(backend: Backend) {
    let clerk = FakeClerk::start().await;
    let database = TestDatabase::create(backend).await;
    clerk.add_users(
        (0..1234)
            .map(|i| {
                let mut user = clerk_user_json(&format!("user_{i:04}"), None);
                user["created_at"] = json!(1_700_000_000_000_i64 + i);
                user
            })
            .collect(),
    );

    let summary = sync_users(&clerk, &database).await;
    assert_eq!(
        summary,
        "sync-users: 1234 users in Clerk: 1234 created, 0 updated, 0 unchanged, 0 deleted locally but present in Clerk (left deleted)"
    );
    assert_eq!(clerk.users_calls(), 3, "pages of 500: 500 + 500 + 234");
    let db = database.connect().await;
    assert_eq!(users::Entity::find().count(&db).await.unwrap(), 1234);

    let summary = sync_users(&clerk, &database).await;
    assert!(
        summary.contains("0 created, 0 updated, 1234 unchanged"),
        "{summary}"
    );

    // One user changed in Clerk, one deleted here: one update, one left deleted.
    let mut changed = clerk_user_json("user_0007", None);
    changed["created_at"] = json!(1_700_000_000_007_i64);
    changed["updated_at"] = json!(1_800_000_000_000_i64);
    changed["first_name"] = json!("Changed");
    clerk.set_user(changed);
    let tombstone = users::Entity::find_by_id("user_0008")
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    let mut tombstone: users::ActiveModel = tombstone.into();
    tombstone.deleted_at = Set(Some(chrono::Utc::now()));
    tombstone.update(&db).await.unwrap();

    let summary = sync_users(&clerk, &database).await;
    assert!(
        summary.contains("0 created, 1 updated, 1232 unchanged, 1 deleted locally"),
        "{summary}"
    );
    let row = users::Entity::find_by_id("user_0007")
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.first_name.as_deref(), Some("Changed"));
    let row = users::Entity::find_by_id("user_0008")
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert!(row.deleted_at.is_some());
    assert_eq!(users::Entity::find().count(&db).await.unwrap(), 1234);
}
