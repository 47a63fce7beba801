//! Real session tokens from Clerk's SDK fixtures (`tests/fixtures/clerk-fixtures.json`, where
//! they come from: `tests/fixtures/README.md`), replayed at the instant they were valid through
//! the injectable clock.

use serde_json::Value;

use clerk_graphql::auth::clock::FixedClock;

use crate::helpers::{AppOptions, TestApp, spawn_app_with};

fn fixtures() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/clerk-fixtures.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

async fn app_for(fixtures: &Value, options: AppOptions, now: i64) -> TestApp {
    spawn_app_with(
        AppOptions {
            clock: Some(FixedClock::at_unix_seconds(now)),
            initial_jwks: Some(fixtures["jwks"].clone()),
            ..options
        }
        .var("CLERK_ISSUER", fixtures["issuer"].as_str().unwrap())
        .var(
            "CLERK_AUTHORIZED_PARTIES",
            fixtures["authorized_party"].as_str().unwrap(),
        ),
    )
    .await
}

#[tokio::test]
async fn clerk_sdk_tokens_verify_through_the_jwks() {
    let f = fixtures();
    let now = f["now_unix"].as_i64().unwrap();
    let app = app_for(&f, AppOptions::default(), now).await;

    let reply = app
        .viewer_with_bearer(f["valid"]["token"].as_str().unwrap())
        .await;
    reply.assert_signed_in_as(f["valid"]["sub"].as_str().unwrap());
    assert_eq!(reply.body["data"]["viewer"]["sessionId"], f["valid"]["sid"]);

    app.viewer_with_bearer(f["invalid_signature"]["token"].as_str().unwrap())
        .await
        .assert_refused("token_invalid_signature");
    app.viewer_with_bearer(f["malformed"]["token"].as_str().unwrap())
        .await
        .assert_refused("token_invalid_signature");
}

#[tokio::test]
async fn clerk_sdk_token_verifies_with_the_pem_key_and_expires_on_time() {
    let f = fixtures();
    let exp = f["valid"]["exp"].as_i64().unwrap();
    let options = AppOptions::default()
        .unset("CLERK_SECRET_KEY")
        .var("CLERK_JWT_KEY", f["public_key_pem"].as_str().unwrap())
        .var("CLERK_CLOCK_SKEW_SECS", "0");
    let token = f["valid"]["token"].as_str().unwrap();

    let before_expiry = app_for(&f, AppOptions { ..options }, exp - 1).await;
    before_expiry
        .viewer_with_bearer(token)
        .await
        .assert_signed_in_as(f["valid"]["sub"].as_str().unwrap());

    let options = AppOptions::default()
        .unset("CLERK_SECRET_KEY")
        .var("CLERK_JWT_KEY", f["public_key_pem"].as_str().unwrap())
        .var("CLERK_CLOCK_SKEW_SECS", "0");
    let at_expiry = app_for(&f, options, exp).await;
    at_expiry
        .viewer_with_bearer(token)
        .await
        .assert_refused("token_expired");

    let nbf = f["valid"]["nbf"].as_i64().unwrap();
    let options = AppOptions::default()
        .unset("CLERK_SECRET_KEY")
        .var("CLERK_JWT_KEY", f["public_key_pem"].as_str().unwrap())
        .var("CLERK_CLOCK_SKEW_SECS", "0");
    let too_early = app_for(&f, options, nbf - 1).await;
    too_early
        .viewer_with_bearer(token)
        .await
        .assert_refused("token_not_active_yet");
}
