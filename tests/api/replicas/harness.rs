//! Real replicas: the server binary started several times, on distinct ports, on one PostgreSQL
//! database (`TEST_DATABASE_URL`, a database per test) and one Redis (`TEST_REDIS_URL`, a key
//! prefix per test), with one fake Clerk. Tests talk to them over HTTP and WebSocket only.
//!
//! Tests that need both services are named `…::replicas` and return at once without either, so
//! that `scripts/test` can list them as skipped (it leaves them out by that name).

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::process::Child;

use crate::binary::{Output, free_port, wait_until_ready};
use crate::fake_clerk::{FakeClerk, SECRET_KEY};
use crate::helpers::{GRAPHQL_RESPONSE_JSON, GraphqlReply};
use crate::test_db::{Backend, TestDatabase, postgres_url};
use crate::tokens::{ISSUER, TestKey, now, session_claims, with};
use crate::webhooks_sign::{WEBHOOK_SECRET, deliver_to};
use crate::ws_client::{Socket, init, upgrade};

/// How long a replica may take to start, and to be subscribed to Redis.
const START_PATIENCE: Duration = Duration::from_secs(30);

pub fn redis_url() -> Option<String> {
    std::env::var("TEST_REDIS_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

/// The server binary on `port`, run in `workdir` (no `.env` there) with exactly `vars`, its
/// output drained.
pub fn spawn_server(workdir: &TempDir, port: u16, vars: &[(String, String)]) -> (Child, Output) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_clerk-graphql"));
    command
        .current_dir(workdir.path())
        .env_clear()
        .env("PORT", port.to_string())
        // Tests run side by side: none takes the default metrics port.
        .env("METRICS_ADDR", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (name, value) in vars {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("a replica starts");
    let output = Output::drain(&mut child);
    (child, output)
}

/// A session token of `user` for `session`, valid for five minutes from now.
pub fn token(user: &str, session: &str) -> String {
    token_with(user, session, json!({}))
}

/// [`token`] with more claims (`jti`: another token of the same session, same second).
pub fn token_with(user: &str, session: &str, claims: Value) -> String {
    let now = now();
    let standard = with(
        session_claims(user),
        json!({"sid": session, "iat": now, "nbf": now - 10, "exp": now + 300}),
    );
    TestKey::primary().sign(&with(standard, claims))
}

/// A `session.*` event for `session` of `user`.
pub fn session_event(kind: &str, user: &str, session: &str) -> Value {
    crate::webhooks_sign::event(
        kind,
        json!({"id": session, "object": "session", "user_id": user, "status": "ended"}),
    )
}

/// Replicas of one deployment, and what they share.
pub struct Cluster {
    pub clerk: FakeClerk,
    database: TestDatabase,
    /// Where the replicas reach Redis: the test's Redis, or a proxy in front of it.
    redis_url: String,
    prefix: String,
    /// Variables every replica gets besides the standard ones.
    vars: Vec<(String, String)>,
    workdir: TempDir,
    pub replicas: Vec<Replica>,
}

impl Cluster {
    /// A deployment with no replica yet, `vars` added to every replica's environment; `None`
    /// (the test returns) without PostgreSQL or Redis.
    pub async fn new(vars: &[(&str, &str)]) -> Option<Self> {
        postgres_url()?;
        let redis_url = redis_url()?;
        Some(Self {
            clerk: FakeClerk::start().await,
            database: TestDatabase::create(Backend::Postgres).await,
            redis_url,
            prefix: format!("test-{}:", uuid::Uuid::new_v4().simple()),
            vars: vars
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
            workdir: tempfile::tempdir().unwrap(),
            replicas: Vec::new(),
        })
    }

    /// The replicas started from now on reach Redis at `url` (a proxy the test controls).
    pub fn through(mut self, url: String) -> Self {
        self.redis_url = url;
        self
    }

    /// Starts `count` replicas at once and waits until each serves and shares through Redis.
    pub async fn start(&mut self, count: usize) {
        let first = self.replicas.len();
        for _ in 0..count {
            let port = free_port();
            let (child, output) = spawn_server(&self.workdir, port, &self.environment());
            self.replicas.push(Replica {
                base: format!("http://127.0.0.1:{port}"),
                child,
                output: Some(output),
                client: reqwest::Client::new(),
            });
        }
        for replica in &self.replicas[first..] {
            wait_until_ready(&replica.base, START_PATIENCE).await;
            replica.wait_until_shared(START_PATIENCE).await;
        }
    }

    fn environment(&self) -> Vec<(String, String)> {
        let mut vars: Vec<(String, String)> = [
            ("HOST", "127.0.0.1"),
            ("DATABASE_URL", self.database.url()),
            ("REDIS_URL", &self.redis_url),
            ("REDIS_KEY_PREFIX", &self.prefix),
            ("CLERK_SECRET_KEY", SECRET_KEY),
            ("CLERK_API_URL", &self.clerk.url),
            ("CLERK_ISSUER", ISSUER),
            ("CLERK_WEBHOOK_SIGNING_SECRET", WEBHOOK_SECRET),
            ("DEV_MODE", "false"),
            // Every request comes from 127.0.0.1: the per-address limits would be the test's.
            ("RATE_LIMIT_IP_PER_MINUTE", "0"),
            ("RUST_LOG", "info"),
            ("LOG_FORMAT", "json"),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
        vars.extend(self.vars.iter().cloned());
        vars
    }

    /// Stops the replicas; fails on an error or a panic in their logs.
    pub async fn finish(mut self) {
        let mut logs = String::new();
        for replica in &mut self.replicas {
            replica.child.kill().await.ok();
            if let Some(output) = replica.output.take() {
                logs.push_str(&output.text().await);
            }
        }
        for line in logs.lines() {
            assert!(
                !line.contains(r#""level":"ERROR""#) && !line.contains("panicked"),
                "{line}"
            );
        }
    }
}

/// Removes the test's keys from Redis (rate limits, revocations), also after a failure.
impl Drop for Cluster {
    fn drop(&mut self) {
        let (url, pattern) = (
            redis_url().expect("checked in new"),
            format!("{}*", self.prefix),
        );
        // Drop runs inside the test's runtime, which cannot be blocked on: a thread of its own.
        let deleted = std::thread::spawn(move || -> redis::RedisResult<()> {
            let mut connection = redis::Client::open(url)?.get_connection()?;
            let keys: Vec<String> = redis::cmd("KEYS").arg(pattern).query(&mut connection)?;
            if !keys.is_empty() {
                redis::cmd("DEL").arg(&keys).query::<()>(&mut connection)?;
            }
            Ok(())
        })
        .join();
        if !matches!(deleted, Ok(Ok(()))) {
            eprintln!("could not remove the test's keys from Redis: {deleted:?}");
        }
    }
}

/// One server process.
pub struct Replica {
    pub base: String,
    child: Child,
    output: Option<Output>,
    client: reqwest::Client,
}

impl Replica {
    /// `POST /graphql`, with a bearer token or anonymous.
    pub async fn graphql(&self, query: &str, token: Option<&str>) -> GraphqlReply {
        self.graphql_with(query, token, &[]).await
    }

    /// [`Self::graphql`] with more request headers.
    pub async fn graphql_with(
        &self,
        query: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> GraphqlReply {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.base))
            .header("accept", GRAPHQL_RESPONSE_JSON)
            .json(&json!({ "query": query }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        GraphqlReply::read(request.send().await.expect("request sent")).await
    }

    /// `{ viewer { userId } }` with `token`: the status and the refusal's reason.
    pub async fn viewer(&self, token: &str) -> (u16, Option<String>) {
        let reply = self.graphql("{ viewer { userId } }", Some(token)).await;
        (reply.status.as_u16(), reply.reason().map(str::to_string))
    }

    /// A signed webhook delivery; its status.
    pub async fn deliver(&self, svix_id: &str, event: &Value) -> u16 {
        deliver_to(&self.client, &self.base, svix_id, event)
            .await
            .status()
            .as_u16()
    }

    /// `GET /readyz`: status and body.
    pub async fn readyz(&self) -> (u16, Value) {
        let response = self
            .client
            .get(format!("{}/readyz", self.base))
            .send()
            .await
            .expect("readyz answers");
        (
            response.status().as_u16(),
            response.json().await.expect("JSON"),
        )
    }

    /// Waits until `/readyz` says Redis answers and this replica is subscribed.
    pub async fn wait_until_shared(&self, patience: Duration) {
        self.wait_for_readyz(patience, |body| body["redis"] == true)
            .await;
    }

    /// Waits until `/readyz` answers 200 with a body `accept`s; the last body.
    pub async fn wait_for_readyz(
        &self,
        patience: Duration,
        accept: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let (status, body) = self.readyz().await;
            if status == 200 && accept(&body) {
                return body;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{}: /readyz still {status} {body} after {patience:?}",
                self.base
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A graphql-transport-ws connection, signed in with `token` (or anonymous).
    pub async fn socket(&self, token: Option<&str>) -> Socket {
        let mut socket = upgrade(
            &self.base,
            &[("sec-websocket-protocol", "graphql-transport-ws")],
        )
        .await
        .expect("upgrade");
        let payload = match token {
            Some(token) => json!({"Authorization": format!("Bearer {token}")}),
            None => json!({}),
        };
        init(&mut socket, payload).await;
        socket
    }
}
