//! Dev mode (issue 6): in development with no Clerk key source, a local key pair signs and
//! verifies tokens; `clerk-graphql dev-token` mints them; production never accepts them.

use std::path::Path;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{AppOptions, TestApp, spawn_app_with};
use crate::test_db::Backend;

const BINARY: &str = env!("CARGO_BIN_EXE_clerk-graphql");

/// Runs the binary with exactly these variables (and no `.env`: the working directory is empty).
async fn run(args: &[&str], vars: &[(&str, &str)]) -> std::process::Output {
    let workdir = tempfile::tempdir().unwrap();
    let mut command = tokio::process::Command::new(BINARY);
    command
        .args(args)
        .current_dir(workdir.path())
        .env_clear()
        .env("RUST_LOG", "warn");
    for (name, value) in vars {
        command.env(name, value);
    }
    command.output().await.expect("the binary runs")
}

async fn dev_token(keys: &Path, args: &[&str]) -> String {
    let mut all = vec!["dev-token"];
    all.extend_from_slice(args);
    let output = run(&all, &[("DEV_KEYS_DIR", keys.to_str().unwrap())]).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

async fn spawn_dev_app(keys: &Path, backend: Backend) -> TestApp {
    spawn_app_with(
        AppOptions::default()
            .on(backend)
            .unset("CLERK_SECRET_KEY")
            .unset("CLERK_ISSUER")
            .unset("DEV_MODE")
            .var("DEV_KEYS_DIR", keys.to_str().unwrap()),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dev_token_from_the_cli_opens_every_example() {
    let keys = tempfile::tempdir().unwrap();
    let dir = keys.path().join(".dev");
    let token = dev_token(
        &dir,
        &[
            "--user",
            "user_dev_7",
            "--role",
            "admin",
            "--org",
            "org_1",
            "--org-role",
            "admin",
            "--permission",
            "org:billing:manage",
            "--email",
            "dev@example.com",
            "--ttl",
            "600",
        ],
    )
    .await;
    // The key pair is created once, private to its owner, in a self-ignoring folder.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("dev-signing-key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_eq!(
        std::fs::read_to_string(dir.join(".gitignore")).unwrap(),
        "*\n"
    );

    let app = spawn_dev_app(&dir, Backend::Sqlite).await;
    let query = "{ viewer { userId role orgRole orgPermissions } adminNote { id } orgAdminNote { id } billingNote { id } me { id email publicMetadata } }";
    let reply = app
        .post_graphql(query, &[("authorization", &format!("Bearer {token}"))])
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body.get("errors").is_none(), "{}", reply.body);
    assert_eq!(
        reply.body["data"],
        json!({
            "viewer": {
                "userId": "user_dev_7",
                "role": "admin",
                "orgRole": "org:admin",
                "orgPermissions": ["org:billing:manage"]
            },
            "adminNote": {"id": "admin"},
            "orgAdminNote": {"id": "org-admin"},
            "billingNote": {"id": "billing"},
            "me": {"id": "user_dev_7", "email": "dev@example.com", "publicMetadata": {"role": "admin"}}
        })
    );
    assert_eq!(app.clerk.users_calls(), 0, "no Backend API in dev mode");

    // A second token minted later with the same key pair also works; a member is no admin.
    let member = dev_token(&dir, &["--user", "user_dev_8"]).await;
    let reply = app
        .post_graphql(
            "{ adminNote { id } }",
            &[("authorization", &format!("Bearer {member}"))],
        )
        .await;
    assert_eq!(reply.code(), Some("FORBIDDEN"), "{}", reply.body);
}

#[tokio::test]
async fn the_playground_offers_a_working_dev_token() {
    let keys = tempfile::tempdir().unwrap();
    let app = spawn_dev_app(keys.path(), Backend::SqliteMemory).await;
    let config: Value = app
        .get("/playground/config.json")
        .await
        .json()
        .await
        .unwrap();
    let token = config["devToken"].as_str().expect("a dev token");
    assert!(
        config["notice"]
            .as_str()
            .unwrap_or_default()
            .contains("development"),
        "{config}"
    );
    let reply = app
        .post_graphql(
            "{ viewer { userId role } adminNote { id } }",
            &[("authorization", &format!("Bearer {token}"))],
        )
        .await;
    assert_eq!(
        reply.body["data"],
        json!({"viewer": {"userId": "user_dev_1", "role": "admin"}, "adminNote": {"id": "admin"}}),
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn dev_tokens_are_refused_once_clerk_is_configured() {
    let keys = tempfile::tempdir().unwrap();
    let token = dev_token(keys.path(), &["--role", "admin"]).await;
    // The default test set-up: a Clerk secret key, so no dev mode, whatever files exist.
    let app = spawn_app_with(
        AppOptions::default()
            .unset("DEV_MODE")
            .var("DEV_KEYS_DIR", keys.path().to_str().unwrap()),
    )
    .await;
    let reply = app.viewer_with_bearer(&token).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.body);
    let output = run(
        &["dev-token"],
        &[
            ("DEV_KEYS_DIR", keys.path().to_str().unwrap()),
            (
                "CLERK_JWT_KEY",
                &crate::tokens::TestKey::primary().public_pem,
            ),
            ("CLERK_ISSUER", crate::tokens::ISSUER),
        ],
    )
    .await;
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("dev mode is off"));
}

#[tokio::test]
async fn production_with_only_dev_keys_refuses_to_start() {
    let keys = tempfile::tempdir().unwrap();
    dev_token(keys.path(), &[]).await; // the key files exist
    let dir = keys.path().to_str().unwrap();
    let output = run(
        &["serve"],
        &[("APP_ENV", "production"), ("DEV_KEYS_DIR", dir)],
    )
    .await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for variable in ["CLERK_JWT_KEY", "CLERK_SECRET_KEY", "CLERK_PUBLISHABLE_KEY"] {
        assert!(stderr.contains(variable), "{stderr}");
    }
    let output = run(
        &["serve"],
        &[
            ("APP_ENV", "production"),
            ("DEV_MODE", "true"),
            ("DEV_KEYS_DIR", dir),
        ],
    )
    .await;
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("DEV_MODE"));
}

// A page on another host name that resolves to 127.0.0.1 (DNS rebinding) must not get the
// admin token the playground offers to local users.
#[tokio::test]
async fn the_dev_token_is_only_offered_to_local_host_names() {
    let keys = tempfile::tempdir().unwrap();
    let app = spawn_dev_app(keys.path(), Backend::SqliteMemory).await;
    let config: Value = app
        .client
        .get(format!("{}/playground/config.json", app.address))
        .header("host", "attacker.example:8080")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(config["devToken"], Value::Null, "{config}");
    assert!(
        config["notice"].as_str().unwrap().contains("dev-token"),
        "{config}"
    );
    let local: Value = app
        .client
        .get(format!(
            "{}/playground/config.json",
            app.address.replace("127.0.0.1", "localhost")
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(local["devToken"].is_string(), "{local}");
}
