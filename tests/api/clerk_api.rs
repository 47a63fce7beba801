//! The Clerk Backend API client, the process-wide user cache and the per-request loader, against
//! the fake Clerk's users endpoints. Every test asserts how many HTTP calls reached "Clerk": the
//! point of these layers is to spend as few of them as possible, and never to wait unboundedly.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clerk_graphql::clerk::{
    ClerkClient, ClerkClientSettings, ClerkError, UserCache, UserCacheSettings, request_loader,
};
use clerk_graphql::config::Secret;
use futures_util::future::join_all;
use serde_json::json;

use crate::fake_clerk::{FakeClerk, SECRET_KEY, UsersFault, clerk_user_json};

/// Slack for scheduling and loopback HTTP on top of the time a test expects.
const MARGIN: Duration = Duration::from_millis(400);

fn settings(budget: Duration) -> ClerkClientSettings {
    ClerkClientSettings {
        request_budget: budget,
        // Short back-offs keep the retry tests fast; the default (100 ms) is tested implicitly
        // by nothing waiting on it.
        retry_base_delay: Duration::from_millis(20),
        ..ClerkClientSettings::default()
    }
}

fn client_with(fake: &FakeClerk, settings: ClerkClientSettings) -> ClerkClient {
    ClerkClient::new(fake.url.clone(), Secret::new(SECRET_KEY), settings)
}

fn client(fake: &FakeClerk) -> ClerkClient {
    client_with(fake, settings(Duration::from_secs(3)))
}

fn cache(fake: &FakeClerk) -> UserCache {
    UserCache::new(client(fake), UserCacheSettings::default())
}

fn user_ids(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("user_{i:04}")).collect()
}

/// A fake Clerk holding `count` users `user_0000`, `user_0001`, ….
async fn fake_with_users(count: usize) -> FakeClerk {
    let fake = FakeClerk::start().await;
    fake.add_users(
        user_ids(count)
            .iter()
            .map(|id| clerk_user_json(id, None))
            .collect(),
    );
    fake
}

#[tokio::test]
async fn get_user_returns_the_typed_user_and_none_when_clerk_has_no_such_user() {
    let fake = FakeClerk::start().await;
    fake.set_user(clerk_user_json("user_admin", Some("admin")));
    let client = client(&fake);

    let user = client.get_user("user_admin").await.unwrap().unwrap();
    assert_eq!(user.id, "user_admin");
    assert_eq!(user.primary_email(), Some("user_admin@example.com"));
    assert_eq!(user.app_role(), Some("admin"));
    assert_eq!(user.first_name.as_deref(), Some("Ada"));
    assert_eq!(user.last_name.as_deref(), Some("Lovelace user_admin"));
    assert_eq!(
        user.image_url.as_deref(),
        Some("https://img.clerk.com/user_admin.png")
    );
    assert_eq!(user.created_at, 1_716_883_200_000);
    assert_eq!(user.updated_at, 1_716_883_260_000);
    assert_eq!(user.last_sign_in_at, Some(1_716_886_800_000));
    assert_eq!(
        fake.last_users_user_agent().as_deref(),
        Some(concat!("clerk-graphql/", env!("CARGO_PKG_VERSION")))
    );

    assert_eq!(client.get_user("user_missing").await, Ok(None));
    assert_eq!(fake.users_calls(), 2);
}

#[tokio::test]
async fn ids_that_cannot_be_clerk_ids_are_not_found_without_a_call() {
    let fake = fake_with_users(1).await;
    let client = client(&fake);

    // `..` and `` would turn `/v1/users/{id}` into another endpoint; a `-` prefix means
    // "exclude" in Clerk's `user_id` filter.
    for id in ["", "..", ".", "-user_0000", "user_0000/../x", "user 0000"] {
        assert_eq!(client.get_user(id).await, Ok(None), "{id:?}");
    }
    let users = client
        .get_users(&["-user_0000".to_string(), String::new()])
        .await
        .unwrap();
    assert!(users.is_empty());
    assert_eq!(fake.users_calls(), 0);
}

#[tokio::test]
async fn get_users_splits_150_ids_into_two_calls_of_at_most_100() {
    let fake = fake_with_users(160).await;
    let client = client(&fake);
    let wanted = user_ids(150);

    let users = client.get_users(&wanted).await.unwrap();

    // The fake refuses more than 100 `user_id` values with a 422, so 2 calls means 100 + 50.
    assert_eq!(fake.users_calls(), 2);
    let mut got: Vec<String> = users.into_iter().map(|u| u.id).collect();
    got.sort();
    assert_eq!(got, wanted);
}

#[tokio::test]
async fn get_users_skips_unknown_and_duplicate_ids() {
    let fake = fake_with_users(3).await;
    let client = client(&fake);
    let ids = ["user_0000", "user_0002", "user_0000", "user_9999"].map(String::from);

    let mut got: Vec<String> = client
        .get_users(&ids)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect();
    got.sort();

    assert_eq!(got, ["user_0000", "user_0002"]);
    assert_eq!(fake.users_calls(), 1);
}

#[tokio::test]
async fn list_users_pages_oldest_first() {
    let fake = FakeClerk::start().await;
    // Inserted out of order: the order must come from `created_at`, not from the store.
    for (id, created_at) in [("user_c", 3), ("user_a", 1), ("user_d", 4), ("user_b", 2)] {
        let mut user = clerk_user_json(id, None);
        user["created_at"] = json!(1_700_000_000_000_i64 + created_at);
        fake.set_user(user);
    }
    let client = client(&fake);

    let page = client.list_users(2, 1).await.unwrap();
    let ids: Vec<&str> = page.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(ids, ["user_b", "user_c"]);

    // A limit above Clerk's maximum is clamped rather than refused with a 422.
    assert_eq!(client.list_users(10_000, 0).await.unwrap().len(), 4);
    assert_eq!(fake.users_calls(), 2);
}

#[tokio::test]
async fn cache_serves_repeated_gets_from_memory_until_invalidated() {
    let fake = fake_with_users(1).await;
    let cache = cache(&fake);

    for _ in 0..20 {
        let user = cache.get("user_0000").await.unwrap().unwrap();
        assert_eq!(user.id, "user_0000");
    }
    assert_eq!(fake.users_calls(), 1);

    // A profile change in Clerk shows only after invalidation (or the TTL).
    let mut renamed = clerk_user_json("user_0000", None);
    renamed["first_name"] = json!("Grace");
    fake.set_user(renamed);
    let cached = cache.get("user_0000").await.unwrap().unwrap();
    assert_eq!(cached.first_name.as_deref(), Some("Ada"));
    assert_eq!(fake.users_calls(), 1);

    cache.invalidate("user_0000").await;
    let fresh = cache.get("user_0000").await.unwrap().unwrap();
    assert_eq!(fresh.first_name.as_deref(), Some("Grace"));
    assert_eq!(fake.users_calls(), 2);
}

#[tokio::test]
async fn cache_coalesces_concurrent_misses_into_one_call() {
    let fake = fake_with_users(1).await;
    let cache = Arc::new(cache(&fake));

    let tasks = (0..10).map(|_| {
        let cache = Arc::clone(&cache);
        tokio::spawn(async move { cache.get("user_0000").await })
    });
    for result in join_all(tasks).await {
        assert_eq!(result.unwrap().unwrap().unwrap().id, "user_0000");
    }
    assert_eq!(fake.users_calls(), 1);
}

#[tokio::test]
async fn cache_remembers_that_a_user_does_not_exist() {
    let fake = fake_with_users(1).await;
    let cache = cache(&fake);

    assert_eq!(cache.get("user_gone").await, Ok(None));
    assert_eq!(cache.get("user_gone").await, Ok(None));
    let many = cache
        .get_many(&["user_gone".to_string(), "user_0000".to_string()])
        .await
        .unwrap();
    assert_eq!(many.keys().collect::<Vec<_>>(), ["user_0000"]);
    // One call for `user_gone`, one for `user_0000`; the second lookups of `user_gone` are hits.
    assert_eq!(fake.users_calls(), 2);

    // The user appears (or a webhook says so): invalidation makes the next read ask again.
    fake.set_user(clerk_user_json("user_gone", None));
    cache.invalidate("user_gone").await;
    assert_eq!(
        cache.get("user_gone").await.unwrap().unwrap().id,
        "user_gone"
    );
    assert_eq!(fake.users_calls(), 3);
}

#[tokio::test]
async fn cache_get_many_fetches_misses_in_chunks_and_then_serves_them_from_memory() {
    let fake = fake_with_users(150).await;
    let cache = cache(&fake);
    let ids = user_ids(150);

    let first = cache.get_many(&ids).await.unwrap();
    assert_eq!(first.len(), 150);
    assert!(ids.iter().all(|id| first[id].id == *id));
    assert_eq!(fake.users_calls(), 2);

    let second = cache.get_many(&ids).await.unwrap();
    assert_eq!(second.len(), 150);
    assert_eq!(
        cache.get("user_0149").await.unwrap().unwrap().id,
        "user_0149"
    );
    assert_eq!(fake.users_calls(), 2, "everything is a hit now");
}

#[tokio::test]
async fn cache_get_many_fetches_only_the_misses() {
    let fake = fake_with_users(5).await;
    let cache = cache(&fake);
    cache.get("user_0000").await.unwrap();
    assert_eq!(fake.users_calls(), 1);

    let users = cache.get_many(&user_ids(5)).await.unwrap();
    assert_eq!(users.len(), 5);
    assert_eq!(
        fake.users_calls(),
        2,
        "one batched call for the four misses"
    );
}

#[tokio::test]
async fn server_errors_are_retried_max_attempts_times_within_the_budget() {
    let fake = fake_with_users(1).await;
    fake.fail_users_with(UsersFault::Status(500));
    let budget = Duration::from_secs(3);
    let client = client_with(&fake, settings(budget));

    let started = Instant::now();
    let error = client.get_user("user_0000").await.unwrap_err();

    assert!(matches!(error, ClerkError::Unavailable(_)), "{error:?}");
    assert!(error.is_unavailable());
    assert_eq!(fake.users_calls(), 3, "max_attempts");
    assert!(
        started.elapsed() < budget + MARGIN,
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_transient_server_error_is_retried_to_success() {
    let fake = fake_with_users(1).await;
    fake.fail_users_times(UsersFault::Status(503), 2);
    let client = client(&fake);

    let user = client.get_user("user_0000").await.unwrap().unwrap();
    assert_eq!(user.id, "user_0000");
    assert_eq!(fake.users_calls(), 3);
}

#[tokio::test]
async fn other_client_errors_are_unexpected_and_not_retried() {
    let fake = fake_with_users(1).await;
    fake.fail_users_with(UsersFault::Status(422));
    let client = client(&fake);

    let error = client.get_user("user_0000").await.unwrap_err();
    assert!(matches!(error, ClerkError::Unexpected(_)), "{error:?}");
    assert!(!error.is_unavailable());
    assert_eq!(fake.users_calls(), 1);

    // A bare 404 is not Clerk's `resource_not_found`: a wrong URL must not read as "no user".
    fake.fail_users_with(UsersFault::Status(404));
    let error = client.get_user("user_0000").await.unwrap_err();
    assert!(matches!(error, ClerkError::Unexpected(_)), "{error:?}");
    assert_eq!(fake.users_calls(), 2);
}

#[tokio::test]
async fn a_retry_after_longer_than_the_budget_fails_fast() {
    let fake = fake_with_users(1).await;
    fake.fail_users_with(UsersFault::RateLimited {
        retry_after_secs: 1,
    });
    let budget = Duration::from_millis(500);
    let client = client_with(&fake, settings(budget));

    let started = Instant::now();
    let error = client.get_user("user_0000").await.unwrap_err();

    assert_eq!(
        error,
        ClerkError::RateLimited {
            retry_after: Some(Duration::from_secs(1))
        }
    );
    assert!(error.is_unavailable());
    assert!(started.elapsed() < budget, "{:?}", started.elapsed());
    assert_eq!(fake.users_calls(), 1);
}

#[tokio::test]
async fn a_retry_after_that_fits_in_the_budget_is_waited_out() {
    let fake = fake_with_users(1).await;
    fake.fail_users_times(
        UsersFault::RateLimited {
            retry_after_secs: 1,
        },
        1,
    );
    let budget = Duration::from_secs(3);
    let client = client_with(&fake, settings(budget));

    let started = Instant::now();
    let user = client.get_user("user_0000").await.unwrap().unwrap();
    let elapsed = started.elapsed();

    assert_eq!(user.id, "user_0000");
    assert_eq!(fake.users_calls(), 2);
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    assert!(elapsed < budget, "{elapsed:?}");
}

#[tokio::test]
async fn a_hanging_clerk_fails_at_the_end_of_the_budget() {
    let fake = fake_with_users(1).await;
    fake.fail_users_with(UsersFault::Hang);
    let budget = Duration::from_millis(500);
    let client = client_with(&fake, settings(budget));

    let started = Instant::now();
    let error = client.get_user("user_0000").await.unwrap_err();
    let elapsed = started.elapsed();

    assert!(matches!(error, ClerkError::Unavailable(_)), "{error:?}");
    // The one attempt used the whole budget: there is no time left for another.
    assert_eq!(fake.users_calls(), 1);
    assert!(elapsed >= budget, "{elapsed:?}");
    assert!(elapsed < budget + MARGIN, "{elapsed:?}");
}

#[tokio::test]
async fn a_hanging_clerk_also_bounds_a_batched_lookup() {
    let fake = fake_with_users(150).await;
    fake.fail_users_with(UsersFault::Hang);
    let budget = Duration::from_millis(500);
    let client = client_with(&fake, settings(budget));

    let started = Instant::now();
    let error = client.get_users(&user_ids(150)).await.unwrap_err();
    let elapsed = started.elapsed();

    // Both chunks share one deadline: 150 ids cost one budget, not two.
    assert!(matches!(error, ClerkError::Unavailable(_)), "{error:?}");
    assert_eq!(fake.users_calls(), 2);
    assert!(elapsed < budget + MARGIN, "{elapsed:?}");
}

#[tokio::test]
async fn a_wrong_secret_is_unauthorized_is_not_retried_and_is_never_shown() {
    let fake = fake_with_users(1).await;
    let wrong = "sk_test_this_secret_is_wrong_and_private";
    let client = ClerkClient::new(
        fake.url.clone(),
        Secret::new(wrong),
        settings(Duration::from_secs(3)),
    );

    let error = client.get_user("user_0000").await.unwrap_err();

    assert_eq!(error, ClerkError::Unauthorized);
    assert!(error.is_unavailable());
    assert_eq!(fake.users_calls(), 1);
    for shown in [
        error.to_string(),
        format!("{error:?}"),
        format!("{client:?}"),
    ] {
        assert!(!shown.contains(wrong), "{shown}");
        assert!(!shown.contains(SECRET_KEY), "{shown}");
    }
}

#[tokio::test]
async fn failures_are_not_cached() {
    let fake = fake_with_users(2).await;
    fake.fail_users_with(UsersFault::Status(500));
    let cache = UserCache::new(
        client_with(
            &fake,
            ClerkClientSettings {
                max_attempts: 1,
                ..settings(Duration::from_secs(3))
            },
        ),
        UserCacheSettings::default(),
    );
    let both = user_ids(2);

    assert!(matches!(
        cache.get("user_0000").await,
        Err(ClerkError::Unavailable(_))
    ));
    assert!(matches!(
        cache.get_many(&both).await,
        Err(ClerkError::Unavailable(_))
    ));
    assert_eq!(fake.users_calls(), 2);

    fake.fail_users_with(UsersFault::None);
    assert_eq!(
        cache.get("user_0000").await.unwrap().unwrap().id,
        "user_0000"
    );
    assert_eq!(cache.get_many(&both).await.unwrap().len(), 2);
    // `user_0000` was cached by the `get`; only `user_0001` was fetched again.
    assert_eq!(fake.users_calls(), 4);
}

#[tokio::test]
async fn the_request_loader_batches_one_requests_lookups_into_one_call() {
    let fake = fake_with_users(3).await;
    let cache = Arc::new(cache(&fake));
    let loader = request_loader(Arc::clone(&cache));

    // As GraphQL resolves sibling fields: separate `load_one`s, polled together.
    let results = join_all(
        [
            "user_0000",
            "user_0001",
            "user_0002",
            "user_0001",
            "user_none",
        ]
        .map(|id| loader.load_one(id.to_string())),
    )
    .await;
    let ids: Vec<Option<String>> = results
        .into_iter()
        .map(|result| result.unwrap().map(|user| user.id.clone()))
        .collect();
    assert_eq!(
        ids,
        [
            Some("user_0000".to_string()),
            Some("user_0001".to_string()),
            Some("user_0002".to_string()),
            Some("user_0001".to_string()),
            None,
        ]
    );
    assert_eq!(fake.users_calls(), 1);

    // A new request's loader starts empty but the process-wide cache still answers.
    let next_request = request_loader(cache);
    let user = next_request
        .load_one("user_0002".to_string())
        .await
        .unwrap();
    assert_eq!(user.unwrap().id, "user_0002");
    assert_eq!(fake.users_calls(), 1);
}

#[tokio::test]
async fn the_request_loader_hands_a_failure_to_every_waiting_field() {
    let fake = fake_with_users(2).await;
    fake.fail_users_with(UsersFault::Status(401));
    let loader = request_loader(Arc::new(cache(&fake)));

    let results =
        join_all(["user_0000", "user_0001"].map(|id| loader.load_one(id.to_string()))).await;
    for result in results {
        assert_eq!(result.unwrap_err(), ClerkError::Unauthorized);
    }
    assert_eq!(fake.users_calls(), 1);
}
