//! Users managing their API keys through GraphQL (`apiKeys`, `createApiKey`, `revokeApiKey`),
//! proxied to the fake Clerk: the secret returned once and working at once, scopes limited by
//! `API_KEY_ALLOWED_SCOPES`, another user's key out of reach, keys that cannot mint keys.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{AppOptions, GraphqlReply, TestApp, spawn_app_with};
use crate::tokens::{TestKey, session_claims, with};

async fn app() -> TestApp {
    spawn_app_with(
        AppOptions::default()
            .var("CLERK_ACCEPTED_TOKENS", "session_token,api_key")
            .var("API_KEY_ALLOWED_SCOPES", "status:read,reports:read"),
    )
    .await
}

fn session(user: &str, extra: Value) -> String {
    TestKey::primary().sign(&with(session_claims(user), extra))
}

async fn as_bearer(app: &TestApp, token: &str, query: &str) -> GraphqlReply {
    let header = format!("Bearer {token}");
    app.post_graphql(query, &[("authorization", &header)]).await
}

const CREATE: &str = r#"mutation { createApiKey(name: "ci", scopes: ["status:read"], expiresInSeconds: 3600) {
    secret apiKey { id name subject scopes expiresAt revoked } } }"#;

#[tokio::test]
async fn a_user_creates_a_key_uses_it_lists_it_and_revokes_it() {
    let app = app().await;
    let alice = session("user_alice", json!({}));
    let reply = as_bearer(&app, &alice, CREATE).await;
    assert!(reply.body.get("errors").is_none(), "{}", reply.body);
    let created = &reply.body["data"]["createApiKey"];
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("ak_"));
    let id = created["apiKey"]["id"].as_str().unwrap().to_string();
    assert_eq!(created["apiKey"]["subject"], json!("user_alice"));
    assert_eq!(created["apiKey"]["scopes"], json!(["status:read"]));
    assert_eq!(created["apiKey"]["revoked"], json!(false));
    assert!(created["apiKey"]["expiresAt"].is_string());
    // What Clerk was asked.
    let bodies = app.clerk.created_api_keys();
    assert_eq!(bodies.len(), 1);
    assert_eq!(bodies[0]["subject"], json!("user_alice"));
    assert_eq!(bodies[0]["created_by"], json!("user_alice"));
    assert_eq!(bodies[0]["scopes"], json!(["status:read"]));
    assert_eq!(bodies[0]["seconds_until_expiration"], json!(3600));

    // The secret works at once, as the user, with its scope.
    let reply = as_bearer(
        &app,
        &secret,
        "{ viewer { kind subject scopes } serviceStatus { version } }",
    )
    .await;
    assert_eq!(
        reply.body["data"]["viewer"],
        json!({"kind": "API_KEY", "subject": "user_alice", "scopes": ["status:read"]}),
        "{}",
        reply.body
    );
    assert!(reply.body["data"]["serviceStatus"]["version"].is_string());

    // Listed without its secret (the type has none).
    let reply = as_bearer(&app, &alice, "{ apiKeys { id name } }").await;
    assert_eq!(
        reply.body["data"]["apiKeys"],
        json!([{"id": id, "name": "ci"}])
    );
    let reply = as_bearer(&app, &alice, "{ apiKeys { secret } }").await;
    assert_eq!(reply.code(), Some("GRAPHQL_VALIDATION_FAILED"));

    // Another user can neither see nor revoke it.
    let bob = session("user_bob", json!({}));
    let reply = as_bearer(&app, &bob, "{ apiKeys { id } }").await;
    assert_eq!(reply.body["data"]["apiKeys"], json!([]));
    let revoke = format!(r#"mutation {{ revokeApiKey(id: "{id}") {{ id revoked }} }}"#);
    let reply = as_bearer(&app, &bob, &revoke).await;
    assert_eq!(reply.code(), Some("NOT_FOUND"), "{}", reply.body);

    // The key cannot manage keys: that takes a session.
    for query in [CREATE, revoke.as_str(), "{ apiKeys { id } }"] {
        let reply = as_bearer(&app, &secret, query).await;
        assert_eq!(reply.code(), Some("FORBIDDEN"), "{query}: {}", reply.body);
    }
    assert_eq!(app.clerk.created_api_keys().len(), 1);

    let reply = as_bearer(&app, &alice, &revoke).await;
    assert_eq!(
        reply.body["data"]["revokeApiKey"],
        json!({"id": id, "revoked": true}),
        "{}",
        reply.body
    );
    let reply = as_bearer(&app, &alice, "{ apiKeys { id } }").await;
    assert_eq!(reply.body["data"]["apiKeys"], json!([]));
    // Refused at once, although it was verified (and cached) moments ago.
    as_bearer(&app, &secret, "{ viewer { subject } }")
        .await
        .assert_refused("machine_token_invalid");
}

#[tokio::test]
async fn scopes_names_and_lifetimes_are_checked_before_clerk_is_asked() {
    let app = app().await;
    let alice = session("user_alice", json!({}));
    for (mutation, argument) in [
        (
            r#"mutation { createApiKey(name: "x", scopes: ["admin:all"]) { secret } }"#,
            "scopes",
        ),
        (
            r#"mutation { createApiKey(name: "  ") { secret } }"#,
            "name",
        ),
        (
            r#"mutation { createApiKey(name: "x", expiresInSeconds: 5) { secret } }"#,
            "expiresInSeconds",
        ),
    ] {
        let reply = as_bearer(&app, &alice, mutation).await;
        assert_eq!(reply.code(), Some("BAD_USER_INPUT"), "{}", reply.body);
        assert_eq!(
            reply.body["errors"][0]["extensions"]["argument"],
            json!(argument)
        );
    }
    assert!(app.clerk.created_api_keys().is_empty());
    let reply = app.post_graphql(CREATE, &[]).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.code(), Some("UNAUTHENTICATED"));
}

#[tokio::test]
async fn an_organisation_admin_manages_the_organisations_keys() {
    let app = app().await;
    let org = |role: &str| json!({"org_id": "org_acme", "org_role": role});
    let admin = session("user_admin", org("org:admin"));
    let member = session("user_member", org("org:member"));
    let create = r#"mutation { createApiKey(name: "etl", organization: true) { secret apiKey { subject scopes } } }"#;
    let reply = as_bearer(&app, &admin, create).await;
    let created = &reply.body["data"]["createApiKey"];
    assert_eq!(
        created["apiKey"],
        json!({"subject": "org_acme", "scopes": []}),
        "{}",
        reply.body
    );
    assert_eq!(
        app.clerk.created_api_keys()[0]["created_by"],
        json!("user_admin")
    );
    let reply = as_bearer(&app, &member, create).await;
    assert_eq!(reply.code(), Some("FORBIDDEN"), "{}", reply.body);
    let reply = as_bearer(&app, &member, "{ apiKeys(organization: true) { id } }").await;
    assert_eq!(reply.code(), Some("FORBIDDEN"));
    let reply = as_bearer(&app, &admin, "{ apiKeys(organization: true) { subject } }").await;
    assert_eq!(
        reply.body["data"]["apiKeys"],
        json!([{"subject": "org_acme"}])
    );
    // The organisation's key acts for no user.
    let secret = created["secret"].as_str().unwrap();
    let reply = as_bearer(&app, secret, "{ viewer { subject } me { id } }").await;
    assert_eq!(
        reply.body["data"],
        json!({"viewer": {"subject": "org_acme"}, "me": null})
    );
}

/// Two in-process apps on one Redis prefix and one fake Clerk stand for two replicas: a key
/// revoked through one stops working on the other at once, although the other had verified (and
/// cached) it moments before. Named `…::redis`: skipped (and listed so by `scripts/test`) without
/// `TEST_REDIS_URL`.
mod a_key_revoked_through_one_replica_is_refused_by_the_others_at_once {
    #[tokio::test]
    async fn redis() {
        let Some(url) = std::env::var("TEST_REDIS_URL")
            .ok()
            .filter(|url| !url.is_empty())
        else {
            return;
        };
        super::a_key_revoked_through_one_replica_is_refused_by_the_others_at_once(&url).await
    }
}

async fn a_key_revoked_through_one_replica_is_refused_by_the_others_at_once(url: &str) {
    let prefix = format!("test:{}:", uuid::Uuid::new_v4().simple());
    let options = || {
        AppOptions::default()
            .var("CLERK_ACCEPTED_TOKENS", "session_token,api_key")
            .var("API_KEY_ALLOWED_SCOPES", "status:read")
            .var("REDIS_URL", url)
            .var("REDIS_KEY_PREFIX", prefix.clone())
    };
    let a = spawn_app_with(options()).await;
    let b = spawn_app_with(options().var("CLERK_API_URL", a.clerk.url.clone())).await;
    for app in [&a, &b] {
        let mut subscribed = false;
        for _ in 0..100 {
            let ready: Value = app.get("/readyz").await.json().await.unwrap();
            if ready["redis"] == true {
                subscribed = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert!(subscribed, "the app never connected to Redis");
    }

    let alice = session("user_alice", json!({}));
    let reply = as_bearer(&a, &alice, CREATE).await;
    let created = &reply.body["data"]["createApiKey"];
    let secret = created["secret"].as_str().expect("a secret").to_string();
    let id = created["apiKey"]["id"].as_str().unwrap().to_string();

    // Both replicas verify the key once and then answer from their caches.
    for app in [&a, &b, &a, &b] {
        let reply = as_bearer(app, &secret, "{ viewer { subject } }").await;
        assert_eq!(
            reply.body["data"]["viewer"]["subject"],
            json!("user_alice"),
            "{}",
            reply.body
        );
    }
    assert_eq!(
        a.clerk.machine_token_calls(),
        2,
        "one verification per replica"
    );

    let revoke = format!(r#"mutation {{ revokeApiKey(id: "{id}") {{ revoked }} }}"#);
    let reply = as_bearer(&a, &alice, &revoke).await;
    assert_eq!(
        reply.body["data"]["revokeApiKey"],
        json!({"revoked": true}),
        "{}",
        reply.body
    );
    // B forgets it within a second (without Redis it would keep it for up to 60 s), asks Clerk
    // again and is told it is revoked.
    let mut refused = false;
    for _ in 0..20 {
        let reply = as_bearer(&b, &secret, "{ viewer { subject } }").await;
        if reply.status == StatusCode::UNAUTHORIZED {
            reply.assert_refused("machine_token_invalid");
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(refused, "B still accepts the revoked key after a second");
    assert_eq!(
        a.clerk.machine_token_calls(),
        3,
        "B asked Clerk again, once"
    );
}
