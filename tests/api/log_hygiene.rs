//! Log hygiene (issue 8): the real binary at `RUST_LOG=trace` (pretty, then JSON) answers
//! signed-in requests (header and `__session` cookie), refused tokens, a query string carrying a
//! secret, Clerk-backed fields, an API key created through GraphQL and used (and an unknown
//! one), and webhook deliveries (valid and forged). Then no token, cookie,
//! secret key, webhook secret, signature or email may appear anywhere in what it printed, while
//! the request lines it should print (statuses, request ids, the user id) are there, so that
//! logging switched off would fail the test too.

use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::binary::{Output, free_port, terminate, wait_until_ready};
use crate::fake_clerk::{FakeClerk, SECRET_KEY, clerk_user_json};
use crate::tokens::{ISSUER, TestKey, session_claims, with};
use crate::webhooks_sign::{WEBHOOK_SECRET, event, now, sign};

const USER: &str = "user_loghygiene1";
const EMAIL: &str = "ada.private-mailbox@example.com";
const HOOK_USER: &str = "user_loghygiene2";
const HOOK_EMAIL: &str = "grace.hook-mailbox@example.com";
const QUERY_SECRET: &str = "qs-secret-3f9a1c77e2b54d08";
const GARBAGE_TOKEN: &str = "not-a-jwt-but-a-secret-7b1e90c4";
const UNKNOWN_API_KEY: &str = "ak_unknown_secret_5d2e81f0a9c3";
const FORGED_SECRET: &str = "whsec_Zm9yZ2VkIHNpZ25pbmcgc2VjcmV0IG9mIGFuIGF0dGFja2Vy";

/// Everything the server printed, and what must (not) be in it.
struct Run {
    output: String,
    /// Values that must never be logged, with a name for the failure message.
    secrets: Vec<(&'static str, String)>,
    /// `x-request-id` of every answered request.
    request_ids: Vec<String>,
}

/// Removes ANSI colour sequences (the pretty format colours field names).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ … final byte in @..~
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

async fn exercise_server(log_format: Option<&str>) -> Run {
    let clerk = FakeClerk::start().await;
    let mut user = clerk_user_json(USER, Some("admin"));
    user["email_addresses"][0]["email_address"] = json!(EMAIL);
    clerk.add_users(vec![user]);

    let workdir = tempfile::tempdir().unwrap(); // no stray `.env` is read
    let database_url = format!(
        "sqlite://{}?mode=rwc",
        workdir.path().join("logs.db").display()
    );
    let port = free_port();
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_clerk-graphql"));
    command
        .current_dir(workdir.path())
        .env_clear()
        .env("PORT", port.to_string())
        // Tests run side by side: none takes the default metrics port.
        .env("METRICS_ADDR", "off")
        .env("DATABASE_URL", &database_url)
        .env("CLERK_SECRET_KEY", SECRET_KEY)
        .env("CLERK_API_URL", &clerk.url)
        .env("CLERK_ISSUER", ISSUER)
        .env("CLERK_WEBHOOK_SIGNING_SECRET", WEBHOOK_SECRET)
        .env("DEV_MODE", "false")
        .env("RUST_LOG", "trace")
        .env("CLERK_ACCEPTED_TOKENS", "session_token,api_key")
        .env("API_KEY_ALLOWED_SCOPES", "status:read")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(format) = log_format {
        command.env("LOG_FORMAT", format);
    }
    let mut server = command.spawn().expect("the server starts");
    let output = Output::drain(&mut server);

    let base = format!("http://127.0.0.1:{port}");
    wait_until_ready(&base, Duration::from_secs(15)).await;
    let client = reqwest::Client::new();

    let header_token = TestKey::primary().sign(&session_claims(USER));
    let cookie_token =
        TestKey::primary().sign(&with(session_claims(USER), json!({"sid": "sess_cookie_2"})));
    // Signed by a key the JWKS does not hold: refused after a look at the key set.
    let foreign_token = TestKey::secondary().sign(&session_claims(USER));
    let mut request_ids = Vec::new();
    let mut record = |headers: &HeaderMap| {
        let id = headers["x-request-id"].to_str().unwrap().to_string();
        request_ids.push(id);
    };
    let graphql = |query: &str| json!({ "query": query });

    // A signed-in request whose fields need Clerk's Backend API (role and profile).
    let response = client
        .post(format!("{base}/graphql"))
        .bearer_auth(&header_token)
        .json(&graphql(
            "{ viewer { userId role profile { email } } me { id email } }",
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    record(response.headers());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["viewer"]["profile"]["email"], EMAIL, "{body}");
    assert_eq!(body["data"]["viewer"]["role"], "admin", "{body}");

    // An API key created through GraphQL (its secret in the answer), then used, and an
    // unknown one refused.
    let response = client
        .post(format!("{base}/graphql"))
        .bearer_auth(&header_token)
        .json(&graphql(
            r#"mutation { createApiKey(name: "logs", scopes: ["status:read"]) { secret } }"#,
        ))
        .send()
        .await
        .unwrap();
    record(response.headers());
    let body: Value = response.json().await.unwrap();
    let api_key = body["data"]["createApiKey"]["secret"]
        .as_str()
        .unwrap_or_else(|| panic!("a secret: {body}"))
        .to_string();
    for (key, status) in [(api_key.as_str(), 200), (UNKNOWN_API_KEY, 401)] {
        let response = client
            .post(format!("{base}/graphql"))
            .bearer_auth(key)
            .json(&graphql("{ viewer { subject } serviceStatus { version } }"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status);
        record(response.headers());
    }

    // The same token in the `__session` cookie.
    let response = client
        .post(format!("{base}/graphql"))
        .header("cookie", format!("theme=dark; __session={cookie_token}"))
        .json(&graphql("{ viewer { userId } }"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    record(response.headers());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["viewer"]["userId"], USER, "{body}");

    // Refused tokens: a foreign signature, garbage, and garbage in the cookie.
    for (name, value) in [
        ("authorization", format!("Bearer {foreign_token}")),
        ("authorization", format!("Bearer {GARBAGE_TOKEN}")),
        ("cookie", format!("__session={GARBAGE_TOKEN}")),
        ("authorization", format!("Basic {GARBAGE_TOKEN}")),
    ] {
        let response = client
            .post(format!("{base}/graphql"))
            .header(name, value)
            .json(&graphql("{ health }"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
        record(response.headers());
    }

    // A secret-looking value in the query string.
    let response = client
        .get(format!(
            "{base}/graphql?query=%7Bhealth%7D&api_key={QUERY_SECRET}&token={QUERY_SECRET}"
        ))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    record(response.headers());

    // Webhook deliveries: a valid one (its user has an email), then a forged one.
    let mut hook_user = clerk_user_json(HOOK_USER, None);
    hook_user["email_addresses"][0]["email_address"] = json!(HOOK_EMAIL);
    let body = serde_json::to_vec(&event("user.created", hook_user)).unwrap();
    let timestamp = now();
    let valid_signature = sign(WEBHOOK_SECRET, "msg_log_1", timestamp, &body);
    let forged_signature = sign(FORGED_SECRET, "msg_log_2", timestamp, &body);
    for (id, signature, status) in [
        ("msg_log_1", &valid_signature, 204),
        ("msg_log_2", &forged_signature, 401),
    ] {
        let response = client
            .post(format!("{base}/webhooks/clerk"))
            .header("svix-id", id)
            .header("svix-timestamp", timestamp.to_string())
            .header("svix-signature", signature)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{id}");
        record(response.headers());
    }

    // The webhook's user, read back through GraphQL (its email goes through the database).
    let response = client
        .post(format!("{base}/graphql"))
        .bearer_auth(&header_token)
        .json(&graphql(&format!(
            r#"{{ user(id: "{HOOK_USER}") {{ id email profile {{ id }} }} }}"#
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    record(response.headers());
    let reply: Value = response.json().await.unwrap();
    assert_eq!(reply["data"]["user"]["email"], HOOK_EMAIL, "{reply}");

    let status = terminate(&mut server, Duration::from_secs(30)).await;
    assert!(status.success(), "a clean exit after SIGTERM: {status:?}");
    let output = strip_ansi(&output.text().await);

    let webhook_key = WEBHOOK_SECRET.strip_prefix("whsec_").unwrap();
    let mut secrets: Vec<(&'static str, String)> = vec![
        ("CLERK_SECRET_KEY", SECRET_KEY.into()),
        ("the webhook signing secret", WEBHOOK_SECRET.into()),
        ("the webhook secret's base64 part", webhook_key.into()),
        (
            "the webhook secret's key bytes",
            String::from_utf8(STANDARD.decode(webhook_key).unwrap()).unwrap(),
        ),
        ("the forged signing secret", FORGED_SECRET.into()),
        ("the valid svix signature", valid_signature.clone()),
        ("the forged svix signature", forged_signature.clone()),
        ("the user's email", EMAIL.into()),
        ("the webhook user's email", HOOK_EMAIL.into()),
        ("the query-string secret", QUERY_SECRET.into()),
        ("the garbage bearer token", GARBAGE_TOKEN.into()),
        ("the created API key's secret", api_key.clone()),
        ("the unknown API key", UNKNOWN_API_KEY.into()),
    ];
    for signature in [&valid_signature, &forged_signature] {
        secrets.push((
            "a svix signature value",
            signature["v1,".len()..].to_string(),
        ));
    }
    for (name, token) in [
        ("the Authorization token", &header_token),
        ("the __session cookie", &cookie_token),
        ("the refused foreign token", &foreign_token),
    ] {
        secrets.push((name, token.clone()));
        // Each part on its own too (a truncated or split token is still a leak); the header
        // part is a public constant-like prefix shared by every token, so it is left out.
        for part in token.split('.').skip(1) {
            secrets.push((name, part.to_string()));
        }
    }
    Run {
        output,
        secrets,
        request_ids,
    }
}

fn assert_clean(run: &Run, json: bool) {
    let output = &run.output;
    let lines = output.lines().count();
    assert!(lines > 50, "trace logging is on ({lines} lines):\n{output}");
    for (name, secret) in &run.secrets {
        if let Some(at) = output.find(secret.as_str()) {
            let line_start = output[..at].rfind('\n').map_or(0, |i| i + 1);
            let line_end = output[at..].find('\n').map_or(output.len(), |i| at + i);
            panic!(
                "{name} appears in the logs:\n{}",
                &output[line_start..line_end]
            );
        }
    }
    // What must be there: each request's id, its status, the signed-in user, the refusals.
    for id in &run.request_ids {
        assert!(output.contains(id.as_str()), "request id {id} is logged");
    }
    let status = |code: u16| {
        if json {
            format!("\"status\":{code}")
        } else {
            format!("status={code}")
        }
    };
    for code in [200, 204, 401] {
        assert!(
            output
                .lines()
                .any(|line| line.contains("response") && line.contains(&status(code))),
            "a response line with {code}:\n{output}"
        );
    }
    assert!(output.contains(USER), "the signed-in user id is logged");
    for expected in [
        "session token refused",
        "jwk_kid_mismatch",
        "token_malformed",
        "webhook refused",
        "msg_log_2",
        "listening",
    ] {
        assert!(output.contains(expected), "{expected:?} is logged");
    }
    if json {
        let parsed = output
            .lines()
            .filter(|line| !line.trim().is_empty())
            .filter(|line| serde_json::from_str::<Value>(line).is_ok())
            .count();
        assert!(parsed > 50, "JSON log lines ({parsed})");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_logs_hold_no_secret_token_cookie_signature_or_email() {
    let run = exercise_server(None).await;
    assert_clean(&run, false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_trace_logs_hold_no_secret_token_cookie_signature_or_email() {
    let run = exercise_server(Some("json")).await;
    assert_clean(&run, true);
}
