//! Rate limits and lockouts shared through Redis (issue 18, point 2): two stores on one key prefix
//! stand for two replicas; the server, given `REDIS_URL`, keeps every quota and the lockout there;
//! a Redis that stops answering makes the checks answer locally, logged once, until it is back.
//!
//! These need the Redis of `TEST_REDIS_URL` (each test under a key prefix of its own). Without it
//! they return at once, which libtest counts as passed; they are named `…::redis` so that
//! `scripts/test` lists them as skipped instead. Keep that name for them, and only for them.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use clerk_graphql::auth::clock::{Clock, FixedClock};
use clerk_graphql::rate_limit::{
    Decision, Key, Lockout, LockoutPolicy, MemoryStore, Quota, RateLimitStore, RedisStore,
    retry_after_secs,
};
use clerk_graphql::shared::SharedRedis;

use crate::fake_clerk::clerk_user_json;
use crate::helpers::{AppOptions, GraphqlReply, TestApp, spawn_app_with};
use crate::replicas::harness::redis_url;
use crate::replicas::proxy::CutProxy;
use crate::tokens::{TestKey, session_claims};
use crate::webhooks_sign::event;

/// `mod name { fn redis() }` calling `name()`, a Redis test (see the module doc).
macro_rules! with_redis {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn redis() {
                    if let Some(url) = super::redis_url() {
                        super::$name(&url).await
                    }
                }
            }
        )*
    };
}

with_redis!(
    two_replicas_share_a_quota_exactly,
    a_lockout_started_on_one_replica_holds_on_the_other,
    the_time_is_redis_s_not_the_process_s,
    keys_expire_by_themselves,
    while_redis_is_unreachable_checks_are_local_and_logged_once,
    the_server_keeps_every_quota_and_the_lockout_in_redis,
);

const T: i64 = 1_800_000_000;

/// A key prefix no other test uses.
fn fresh_prefix() -> String {
    format!("test:{}:", uuid::Uuid::new_v4().simple())
}

/// A `SharedRedis` on `url`, once its command connection is up.
async fn connected(url: &str, prefix: &str) -> SharedRedis {
    let redis = SharedRedis::connect(url, prefix, &[]).expect("a valid Redis URL");
    for _ in 0..100 {
        if redis.commands().is_some() {
            return redis;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("Redis at {url} did not answer");
}

/// A replica's store, its local fall-back on `clock`.
fn replica(redis: &SharedRedis, clock: Arc<dyn Clock>) -> RedisStore {
    RedisStore::new(redis.clone(), MemoryStore::new(1000, clock))
}

fn clock() -> Arc<FixedClock> {
    FixedClock::at_unix_seconds(T)
}

fn quota(limit: u32, period: Duration) -> Quota {
    Quota { limit, period }
}

fn policy() -> LockoutPolicy {
    LockoutPolicy {
        base: Duration::from_secs(60),
        max: Duration::from_secs(900),
    }
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// `PTTL` of a key (with its prefix): ms left, -2 when it does not exist.
async fn pttl(redis: &SharedRedis, name: &str) -> i64 {
    let mut commands = redis.commands().unwrap();
    redis::cmd("PTTL")
        .arg(redis.key(name))
        .query_async(&mut commands)
        .await
        .unwrap()
}

#[track_caller]
fn assert_denied_for(decision: Decision, secs: u64) -> Duration {
    let Decision::Deny { retry_after } = decision else {
        panic!("allowed: {decision:?}");
    };
    assert_eq!(retry_after_secs(retry_after), secs, "{retry_after:?}");
    retry_after
}

async fn two_replicas_share_a_quota_exactly(url: &str) {
    let prefix = fresh_prefix();
    // Two connections, as two processes would have.
    let a = replica(&connected(url, &prefix).await, clock());
    let b = replica(&connected(url, &prefix).await, clock());
    let user = Key::User("user_shared".into());
    let five_a_minute = quota(5, Duration::from_secs(60));
    for remaining in (0..5).rev() {
        let store = if remaining % 2 == 0 { &a } else { &b };
        assert_eq!(
            store.check(&user, five_a_minute).await,
            Decision::Allow { remaining },
            "one bucket for both"
        );
    }
    // Five a minute: the next one in 12 s (less the few ms that passed), on either replica.
    let wait = assert_denied_for(a.check(&user, five_a_minute).await, 12);
    assert!(wait > Duration::from_millis(11_000), "{wait:?}");
    assert_denied_for(b.check(&user, five_a_minute).await, 12);
    // Another key, and the same key under another prefix (another deployment), are apart.
    let other = Key::User("user_other".into());
    assert_eq!(
        b.check(&other, five_a_minute).await,
        Decision::Allow { remaining: 4 }
    );
    let elsewhere = replica(&connected(url, &fresh_prefix()).await, clock());
    assert_eq!(
        elsewhere.check(&user, five_a_minute).await,
        Decision::Allow { remaining: 4 }
    );
    assert_eq!((a.fallbacks(), b.fallbacks()), (0, 0));
}

async fn a_lockout_started_on_one_replica_holds_on_the_other(url: &str) {
    let prefix = fresh_prefix();
    let redis_a = connected(url, &prefix).await;
    let a = replica(&redis_a, clock());
    let b = replica(&connected(url, &prefix).await, clock());
    let attacker = ip("203.0.113.66");
    assert_eq!(b.locked_out(attacker).await, None);
    assert_eq!(
        a.lock_out(attacker, policy()).await,
        Some(Lockout {
            duration: Duration::from_secs(60),
            strike: 1
        })
    );
    // Exactly one caller in all the replicas sees it start.
    assert_eq!(b.lock_out(attacker, policy()).await, None);
    assert_eq!(a.lock_out(attacker, policy()).await, None);
    let left = b.locked_out(attacker).await.expect("locked out on B too");
    assert!(
        left > Duration::from_secs(59) && left <= Duration::from_secs(60),
        "{left:?}"
    );
    assert_eq!(b.locked_out(ip("203.0.113.67")).await, None);

    // When it has ended (its key expired; here removed), a repeat offence on B is the second
    // strike: four times longer.
    let mut commands = redis_a.commands().unwrap();
    let removed: i64 = redis::cmd("DEL")
        .arg(redis_a.key("rl:lock:{203.0.113.66}"))
        .query_async(&mut commands)
        .await
        .unwrap();
    assert_eq!(removed, 1, "the lockout's key");
    assert_eq!(a.locked_out(attacker).await, None);
    assert_eq!(
        b.lock_out(attacker, policy()).await,
        Some(Lockout {
            duration: Duration::from_secs(240),
            strike: 2
        })
    );
    let left = a.locked_out(attacker).await.unwrap();
    assert!(left > Duration::from_secs(239), "{left:?}");
    assert_eq!((a.fallbacks(), b.fallbacks()), (0, 0));
}

async fn the_time_is_redis_s_not_the_process_s(url: &str) {
    let prefix = fresh_prefix();
    let clock_a = clock();
    let a = replica(&connected(url, &prefix).await, clock_a.clone());
    let local = MemoryStore::new(1000, clock_a.clone());
    let address = Key::Address(ip("198.51.100.7"));
    let two_a_minute = quota(2, Duration::from_secs(60));
    for store in [&a as &dyn RateLimitStore, &local] {
        store.check(&address, two_a_minute).await;
        store.check(&address, two_a_minute).await;
        assert_denied_for(store.check(&address, two_a_minute).await, 30);
    }
    // This process's clock a day ahead refills the local bucket, not the shared one.
    clock_a.set_unix_seconds(T + 86_400);
    assert!(matches!(
        local.check(&address, two_a_minute).await,
        Decision::Allow { .. }
    ));
    assert_denied_for(a.check(&address, two_a_minute).await, 30);
    // Nor is a lockout ended by it.
    a.lock_out(ip("198.51.100.7"), policy()).await.unwrap();
    clock_a.set_unix_seconds(T + 2 * 86_400);
    assert!(a.locked_out(ip("198.51.100.7")).await.is_some());
    assert_eq!(a.fallbacks(), 0);
}

async fn keys_expire_by_themselves(url: &str) {
    let prefix = fresh_prefix();
    let redis = connected(url, &prefix).await;
    let store = replica(&redis, clock());
    let address = ip("198.51.100.8");
    // Two per 400 ms: one request costs 200 ms, so the bucket is full again 200 ms after it.
    let fast = quota(2, Duration::from_millis(400));
    store.check(&Key::Webhook(address), fast).await;
    let left = pttl(&redis, "rl:webhook:198.51.100.8").await;
    assert!((1..=200).contains(&left), "PTTL {left}");
    // A lockout of 300 ms (never longer); its strikes are remembered 300 ms past its end.
    let short = LockoutPolicy {
        base: Duration::from_millis(300),
        max: Duration::from_millis(300),
    };
    store.lock_out(address, short).await.unwrap();
    let lock = pttl(&redis, "rl:lock:{198.51.100.8}").await;
    assert!((1..=300).contains(&lock), "PTTL {lock}");
    let strikes = pttl(&redis, "rl:strikes:{198.51.100.8}").await;
    assert!((301..=600).contains(&strikes), "PTTL {strikes}");

    tokio::time::sleep(Duration::from_millis(700)).await;
    for name in [
        "rl:webhook:198.51.100.8",
        "rl:lock:{198.51.100.8}",
        "rl:strikes:{198.51.100.8}",
    ] {
        assert_eq!(pttl(&redis, name).await, -2, "{name} is gone");
    }
    assert_eq!(store.locked_out(address).await, None);
}

async fn while_redis_is_unreachable_checks_are_local_and_logged_once(url: &str) {
    let log = CapturedLog::default();
    let _guard = tracing::subscriber::set_default(log.subscriber());
    let prefix = fresh_prefix();
    let proxy = CutProxy::start(url).await;
    let through_proxy = connected(&proxy.url, &prefix).await;
    let a = replica(&through_proxy, clock());
    let b = replica(&connected(url, &prefix).await, clock());
    let user = Key::User("user_outage".into());
    let marker = Key::User("user_marker".into());
    let three_an_hour = quota(3, Duration::from_secs(3600));
    for _ in 0..3 {
        assert!(matches!(
            a.check(&user, three_an_hour).await,
            Decision::Allow { .. }
        ));
    }
    assert_denied_for(b.check(&user, three_an_hour).await, 1200);
    assert_eq!(a.fallbacks(), 0);

    proxy.cut();
    // A's checks are answered by its own store now: a fresh bucket of 3...
    for remaining in (0..3).rev() {
        assert_eq!(
            a.check(&user, three_an_hour).await,
            Decision::Allow { remaining }
        );
    }
    assert_denied_for(a.check(&user, three_an_hour).await, 1200);
    assert_eq!(
        a.lock_out(ip("203.0.113.9"), policy())
            .await
            .unwrap()
            .strike,
        1
    );
    assert!(a.locked_out(ip("203.0.113.9")).await.is_some());
    assert_eq!(a.fallbacks(), 6, "each of them counted");
    // ...while B still sees Redis, where the marker is spent.
    for _ in 0..3 {
        b.check(&marker, three_an_hour).await;
    }
    assert_eq!(b.locked_out(ip("203.0.113.9")).await, None, "A's was local");

    proxy.restore();
    // One call a second tries Redis again; it answers once the connection is back.
    let mut back = false;
    for _ in 0..100 {
        let before = a.fallbacks();
        let decision = a.check(&marker, three_an_hour).await;
        if a.fallbacks() == before {
            assert_spent_in_redis(decision);
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "A uses Redis again");
    assert_spent_in_redis(a.check(&user, three_an_hour).await);

    let text = log.text();
    let lines = |needle: &str| text.lines().filter(|line| line.contains(needle)).count();
    assert_eq!(
        lines("Redis unreachable: rate limits are per replica until it is back"),
        1,
        "{text}"
    );
    assert_eq!(lines("WARN"), 1, "{text}");
    assert_eq!(lines("Redis is back"), 1, "{text}");
    assert!(!text.contains("user_outage"), "no key in the log: {text}");
}

/// Refused for what is left of a bucket of 3 an hour spent a few seconds ago (a fresh local one
/// would allow 3).
#[track_caller]
fn assert_spent_in_redis(decision: Decision) {
    let Decision::Deny { retry_after } = decision else {
        panic!("allowed: {decision:?}");
    };
    assert!(
        (1_150..=1_200).contains(&retry_after_secs(retry_after)),
        "{retry_after:?}"
    );
}

async fn the_server_keeps_every_quota_and_the_lockout_in_redis(url: &str) {
    let prefix = fresh_prefix();
    let options = || {
        AppOptions::default()
            .var("REDIS_URL", url)
            .var("REDIS_KEY_PREFIX", prefix.clone())
            .var("TRUSTED_PROXIES", "127.0.0.1")
            .var("RATE_LIMIT_IP_PER_MINUTE", "4")
            .var("RATE_LIMIT_USER_PER_MINUTE", "3")
            .var("WEBHOOK_RATE_LIMIT_PER_MINUTE", "2")
            .var("AUTH_FAILURES_PER_MINUTE", "3")
    };
    let a = spawn_app_with(options()).await;
    let b = spawn_app_with(options()).await;
    for app in [&a, &b] {
        wait_for_redis(app).await;
    }

    // An address's quota: 4 a minute, spread over both.
    for app in [&a, &b, &a, &b] {
        assert_eq!(from(app, "198.51.100.1", None).await.status, StatusCode::OK);
    }
    assert_limited(&from(&a, "198.51.100.1", None).await, "ip_rate_limit", "15");

    // A user's quota: 3 a minute from any address, on any replica.
    let token = TestKey::primary().sign(&session_claims("user_shared"));
    for (app, address) in [
        (&a, "198.51.100.2"),
        (&b, "198.51.100.3"),
        (&a, "198.51.100.4"),
    ] {
        from(app, address, Some(&token))
            .await
            .assert_signed_in_as("user_shared");
    }
    assert_limited(
        &from(&b, "198.51.100.5", Some(&token)).await,
        "user_rate_limit",
        "20",
    );

    // The lockout: three invalid tokens on A, the fourth refused on B.
    let forged = TestKey::secondary().sign_with_header(
        &json!({"alg": "RS256", "kid": TestKey::primary().kid, "typ": "JWT"}),
        &session_claims("user_ada"),
    );
    for _ in 0..3 {
        from(&a, "198.51.100.66", Some(&forged))
            .await
            .assert_refused("token_invalid_signature");
    }
    assert_limited(
        &from(&b, "198.51.100.66", Some(&forged)).await,
        "auth_lockout",
        "60",
    );

    // Webhook deliveries: 2 a minute from one sender, over both.
    for (app, id) in [(&a, "msg_1"), (&b, "msg_2")] {
        let user = clerk_user_json(&format!("user_{id}"), None);
        let response = app.deliver(id, &event("user.created", user)).await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    let user = clerk_user_json("user_msg_3", None);
    let response = a.deliver("msg_3", &event("user.created", user)).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);

    // And the state is in Redis, under the deployment's prefix.
    let redis = connected(url, &prefix).await;
    for name in [
        "rl:ip:198.51.100.1",
        "rl:user:user_shared",
        "rl:invalid-tokens:198.51.100.66",
        "rl:lock:{198.51.100.66}",
        "rl:strikes:{198.51.100.66}",
        "rl:webhook:127.0.0.1",
    ] {
        assert!(pttl(&redis, name).await > 0, "{name} in Redis");
    }
}

/// Until `/readyz` says Redis answers: before, checks would (rightly) be local.
async fn wait_for_redis(app: &TestApp) {
    for _ in 0..100 {
        let ready: serde_json::Value = app.get("/readyz").await.json().await.unwrap();
        if ready["redis"] == true {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the app never connected to Redis");
}

/// `POST /graphql` from `address` (as forwarded by the trusted proxy on loopback).
async fn from(app: &TestApp, address: &str, bearer: Option<&str>) -> GraphqlReply {
    let authorization = bearer.map(|token| format!("Bearer {token}"));
    let mut headers = vec![("x-forwarded-for", address)];
    if let Some(authorization) = &authorization {
        headers.push(("authorization", authorization));
    }
    app.post_graphql("{ viewer { userId } health }", &headers)
        .await
}

#[track_caller]
fn assert_limited(reply: &GraphqlReply, reason: &str, retry_after: &str) {
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        reply.body
    );
    assert_eq!(reply.code(), Some("RATE_LIMITED"), "{}", reply.body);
    assert_eq!(reply.reason(), Some(reason), "{}", reply.body);
    assert_eq!(reply.headers["retry-after"], retry_after, "{}", reply.body);
}

/// The log lines written while a test runs (on its thread).
#[derive(Clone, Default)]
struct CapturedLog(Arc<Mutex<Vec<u8>>>);

impl CapturedLog {
    fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + 'static {
        let writer = self.clone();
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish()
    }

    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl std::io::Write for CapturedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
