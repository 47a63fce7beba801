//! The four key sources and the JWKS cache: rotation, no fetch storm, coalescing, stale keys,
//! outages (503, then recovery without a restart), bounded retries.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use clerk_graphql::config::JwksSettings;

use crate::fake_clerk::Fault;
use crate::helpers::{AppOptions, spawn_app, spawn_app_with};
use crate::tokens::{TestKey, session_claims, with};

#[tokio::test]
async fn backend_api_jwks_is_fetched_once_at_start_up_with_the_secret() {
    let app = spawn_app().await;
    assert_eq!(app.clerk.jwks_calls(), 1, "warm-up fetch");
    for _ in 0..5 {
        app.viewer_with_bearer(&TestKey::primary().sign(&session_claims("user_1")))
            .await
            .assert_signed_in_as("user_1");
    }
    assert_eq!(app.clerk.jwks_calls(), 1, "served from the cache");
    assert_eq!(app.clerk.unauthorized_calls(), 0, "the secret key was sent");
}

#[tokio::test]
async fn a_rotated_key_is_fetched_once_even_under_concurrency() {
    let app = spawn_app().await;
    app.clerk
        .serve_keys(&[TestKey::primary(), TestKey::secondary()]);
    let rotated = TestKey::secondary().sign(&session_claims("user_2"));
    let replies = join_all((0..20).map(|_| app.viewer_with_bearer(&rotated))).await;
    for reply in &replies {
        reply.assert_signed_in_as("user_2");
    }
    assert_eq!(
        app.clerk.jwks_calls(),
        2,
        "one refetch for the new kid, coalesced"
    );
    app.viewer_with_bearer(&rotated)
        .await
        .assert_signed_in_as("user_2");
    assert_eq!(app.clerk.jwks_calls(), 2);
}

#[tokio::test]
async fn random_kids_do_not_cause_a_fetch_storm() {
    // 1,000 invalid tokens from one address: over the brute-force lockout's default (20 a
    // minute), which this test is not about.
    let app = spawn_app_with(AppOptions::default().var("AUTH_FAILURES_PER_MINUTE", "10000")).await;
    let claims = session_claims("user_1");
    let mut refused = 0;
    for batch in 0..20 {
        let tokens: Vec<String> = (0..50)
            .map(|i| {
                let header =
                    json!({"alg": "RS256", "kid": format!("ins_random_{batch}_{i}"), "typ": "JWT"});
                TestKey::primary().sign_with_header(&header, &claims)
            })
            .collect();
        for reply in join_all(tokens.iter().map(|t| app.viewer_with_bearer(t))).await {
            reply.assert_refused("jwk_kid_mismatch");
            refused += 1;
        }
    }
    assert_eq!(refused, 1000);
    let fetches = app.clerk.jwks_calls();
    assert!(
        fetches <= 3,
        "1,000 random kids caused {fetches} JWKS fetches"
    );
    // Valid tokens still work afterwards.
    app.viewer_with_bearer(&TestKey::primary().sign(&claims))
        .await
        .assert_signed_in_as("user_1");
}

#[tokio::test]
async fn keys_are_kept_when_the_jwks_endpoint_goes_down() {
    // TTL zero: every use finds the key set stale and tries a background refresh.
    let app = spawn_app_with(AppOptions {
        jwks: JwksSettings {
            ttl: Duration::ZERO,
            max_attempts: 1,
            attempt_timeout: Duration::from_millis(300),
            ..AppOptions::default().jwks
        },
        ..AppOptions::default()
    })
    .await;
    let token = TestKey::primary().sign(&session_claims("user_1"));
    for fault in [Fault::Status(500), Fault::Hang] {
        app.clerk.fail_with(fault);
        let started = Instant::now();
        for _ in 0..5 {
            app.viewer_with_bearer(&token)
                .await
                .assert_signed_in_as("user_1");
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "requests waited for the dead JWKS endpoint ({fault:?})"
        );
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        app.clerk.jwks_calls() >= 2,
        "a background refresh was attempted"
    );
    app.viewer_with_bearer(&token)
        .await
        .assert_signed_in_as("user_1");
}

#[tokio::test]
async fn unreachable_jwks_is_503_then_recovers_without_restart() {
    let app = spawn_app_with(AppOptions {
        initial_fault: Fault::Status(503),
        jwks: JwksSettings {
            refresh_cooldown: Duration::from_millis(200),
            ..AppOptions::default().jwks
        },
        ..AppOptions::default()
    })
    .await;
    assert_eq!(
        app.clerk.jwks_calls(),
        3,
        "warm-up made exactly max_attempts attempts"
    );
    assert_eq!(
        app.get("/readyz").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );

    let token = TestKey::primary().sign(&session_claims("user_1"));
    let reply = app.viewer_with_bearer(&token).await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.body
    );
    assert_eq!(reply.code(), Some("SERVICE_UNAVAILABLE"));
    assert_eq!(reply.reason(), Some("jwks_unavailable"));
    assert!(reply.headers.contains_key("retry-after"));
    // Anonymous requests are unaffected.
    app.post_graphql("{ viewer { userId } }", &[])
        .await
        .assert_anonymous();

    app.clerk.fail_with(Fault::None);
    tokio::time::sleep(Duration::from_millis(250)).await;
    app.viewer_with_bearer(&token)
        .await
        .assert_signed_in_as("user_1");
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_hanging_jwks_endpoint_is_bounded_by_the_time_outs() {
    let app = spawn_app_with(AppOptions {
        initial_fault: Fault::Hang,
        jwks: JwksSettings {
            attempt_timeout: Duration::from_millis(200),
            max_attempts: 2,
            ..AppOptions::default().jwks
        },
        ..AppOptions::default()
    })
    .await;
    let started = Instant::now();
    let reply = app
        .viewer_with_bearer(&TestKey::primary().sign(&session_claims("user_1")))
        .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn networkless_pem_key_needs_no_fetch() {
    let app = spawn_app_with(
        AppOptions::default()
            .unset("CLERK_SECRET_KEY")
            .var("CLERK_JWT_KEY", &TestKey::primary().public_pem),
    )
    .await;
    // Any kid: the PEM is the instance's only key (as in Clerk's SDK).
    let header = json!({"alg": "RS256", "kid": "ins_whatever", "typ": "JWT"});
    app.viewer_with_bearer(
        &TestKey::primary().sign_with_header(&header, &session_claims("user_1")),
    )
    .await
    .assert_signed_in_as("user_1");
    app.viewer_with_bearer(&TestKey::secondary().sign(&session_claims("user_1")))
        .await
        .assert_refused("token_invalid_signature");
    assert_eq!(app.clerk.jwks_calls() + app.clerk.well_known_calls(), 0);
}

#[tokio::test]
async fn frontend_api_jwks_derived_from_the_issuer() {
    // The issuer is the fake Clerk itself, so `{issuer}/.well-known/jwks.json` is served by it.
    let app = spawn_app_with(
        AppOptions::default()
            .unset("CLERK_SECRET_KEY")
            .var("CLERK_ISSUER", "{clerk}"),
    )
    .await;
    let claims = with(
        session_claims("user_1"),
        json!({ "iss": app.clerk.url.clone() }),
    );
    app.viewer_with_bearer(&TestKey::primary().sign(&claims))
        .await
        .assert_signed_in_as("user_1");
    assert_eq!(app.clerk.well_known_calls(), 1);
    assert_eq!(app.clerk.jwks_calls(), 0);
}

#[tokio::test]
async fn explicit_jwks_url_overrides_the_backend_api() {
    let app = spawn_app_with(
        AppOptions::default().var("CLERK_JWKS_URL", "{clerk}/.well-known/jwks.json"),
    )
    .await;
    app.viewer_with_bearer(&TestKey::primary().sign(&session_claims("user_1")))
        .await
        .assert_signed_in_as("user_1");
    assert_eq!(
        app.clerk.jwks_calls(),
        0,
        "the Backend API JWKS was not used"
    );
    assert_eq!(app.clerk.well_known_calls(), 1);
}

#[tokio::test]
async fn no_key_source_refuses_tokens_but_serves_anonymous() {
    let app = spawn_app_with(
        AppOptions::default()
            .unset("CLERK_SECRET_KEY")
            .unset("CLERK_ISSUER"),
    )
    .await;
    app.viewer_with_bearer(&TestKey::primary().sign(&session_claims("user_1")))
        .await
        .assert_refused("jwks_unavailable");
    app.post_graphql("{ viewer { userId } }", &[])
        .await
        .assert_anonymous();
    assert_eq!(app.clerk.jwks_calls() + app.clerk.well_known_calls(), 0);
}

#[tokio::test]
async fn a_wrong_secret_key_is_not_retried_and_answers_503() {
    let app = spawn_app_with(AppOptions::default().var("CLERK_SECRET_KEY", "sk_test_wrong")).await;
    assert_eq!(
        app.clerk.unauthorized_calls(),
        1,
        "a 401 from Clerk is not retried"
    );
    let reply = app
        .viewer_with_bearer(&TestKey::primary().sign(&with(session_claims("user_1"), json!({}))))
        .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
}
