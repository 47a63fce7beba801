//! `spawn_app()`: the real application on 127.0.0.1:0 with its own in-memory database and a
//! fake Clerk, configured through the same variables a deployment uses.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clerk_graphql::auth::clock::Clock;
use clerk_graphql::config::RetentionSettings;
use clerk_graphql::config::{Config, JwksSettings};
use clerk_graphql::server::{Application, BuildOptions, StatementObserver};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::fake_clerk::{FakeClerk, Fault, SECRET_KEY};
use crate::test_db::{Backend, TestDatabase};
use crate::tokens::ISSUER;
use crate::webhooks_sign::WEBHOOK_SECRET;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub clerk: FakeClerk,
    pub database: TestDatabase,
    /// The SQL of the statements the application has run on its database, in order.
    pub statement_log: Arc<Mutex<Vec<String>>>,
}

pub struct GraphqlReply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl GraphqlReply {
    /// Status, headers and the JSON body of a response (panics, showing it, if not JSON).
    pub async fn read(response: reqwest::Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON body, got {text}"));
        Self {
            status,
            headers,
            body,
        }
    }

    /// `extensions.reason` of the first error.
    pub fn reason(&self) -> Option<&str> {
        self.body["errors"][0]["extensions"]["reason"].as_str()
    }

    pub fn code(&self) -> Option<&str> {
        self.body["errors"][0]["extensions"]["code"].as_str()
    }

    /// Asserts a refusal as ARCHITECTURE §4 describes it: 401, challenge, GraphQL-shaped body.
    #[track_caller]
    pub fn assert_refused(&self, reason: &str) {
        assert_eq!(self.status, StatusCode::UNAUTHORIZED, "body: {}", self.body);
        assert_eq!(self.code(), Some("UNAUTHENTICATED"), "body: {}", self.body);
        assert_eq!(self.reason(), Some(reason), "body: {}", self.body);
        let challenge = self.headers["www-authenticate"].to_str().unwrap();
        assert!(
            challenge.starts_with("Bearer error=\"invalid_token\", error_description=\""),
            "{challenge}"
        );
        assert!(
            self.body.get("data").is_none(),
            "no data on a refused request"
        );
    }

    #[track_caller]
    pub fn assert_signed_in_as(&self, user_id: &str) {
        assert_eq!(self.status, StatusCode::OK, "body: {}", self.body);
        assert_eq!(
            self.body["data"]["viewer"]["userId"],
            json!(user_id),
            "body: {}",
            self.body
        );
    }

    #[track_caller]
    pub fn assert_anonymous(&self) {
        assert_eq!(self.status, StatusCode::OK, "body: {}", self.body);
        assert_eq!(
            self.body["data"]["viewer"],
            Value::Null,
            "body: {}",
            self.body
        );
        assert!(self.body.get("errors").is_none(), "body: {}", self.body);
    }
}

/// Start-up options; every field has the default a test usually wants.
pub struct AppOptions {
    pub vars: HashMap<&'static str, String>,
    pub clock: Option<Arc<dyn Clock>>,
    pub jwks: JwksSettings,
    /// How the fake Clerk behaves while the application starts.
    pub initial_fault: Fault,
    /// The JWKS the fake Clerk serves from the start (default: the primary test key).
    pub initial_jwks: Option<Value>,
    /// Where the application's database lives (default: in memory).
    pub backend: Backend,
    /// When the `webhook_events` clean-up runs: first run, interval, batch size (default: as
    /// deployed, first run a minute after start). Its retention is `WEBHOOK_EVENTS_RETENTION_DAYS`.
    pub webhook_retention: RetentionSettings,
    /// Called with the SQL of each statement, after it ran and was logged (tests that must act
    /// at an exact point of a request, e.g. delete a row between two statements).
    pub on_statement: Option<StatementObserver>,
}

impl Default for AppOptions {
    fn default() -> Self {
        Self {
            vars: HashMap::new(),
            clock: None,
            // Short time-outs and back-off so that failure tests are quick; the default
            // cool-down, so that "no fetch storm" is tested with the shipped value.
            jwks: JwksSettings {
                attempt_timeout: Duration::from_millis(500),
                retry_base_delay: Duration::from_millis(10),
                ..JwksSettings::default()
            },
            initial_fault: Fault::None,
            initial_jwks: None,
            backend: Backend::SqliteMemory,
            webhook_retention: RetentionSettings::default(),
            on_statement: None,
        }
    }
}

impl AppOptions {
    pub fn var(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.vars.insert(name, value.into());
        self
    }

    /// Removes a variable the default set-up defines (use `""`: empty counts as unset).
    pub fn unset(self, name: &'static str) -> Self {
        self.var(name, "")
    }

    pub fn on(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(AppOptions::default()).await
}

pub async fn spawn_app_on(backend: Backend) -> TestApp {
    spawn_app_with(AppOptions::default().on(backend)).await
}

pub async fn spawn_app_with(options: AppOptions) -> TestApp {
    let clerk = FakeClerk::start().await;
    clerk.fail_with(options.initial_fault);
    if let Some(jwks) = options.initial_jwks {
        clerk.serve_jwks(jwks);
    }
    let database = TestDatabase::create(options.backend).await;
    let mut vars: HashMap<&str, String> = HashMap::from([
        ("HOST", "127.0.0.1".to_string()),
        ("PORT", "0".to_string()),
        ("DATABASE_URL", database.url().to_string()),
        ("CLERK_WEBHOOK_SIGNING_SECRET", WEBHOOK_SECRET.to_string()),
        // Dev mode only where a test asks for it (it would write a key pair into `.dev/`).
        ("DEV_MODE", "false".to_string()),
        ("CLERK_SECRET_KEY", SECRET_KEY.to_string()),
        ("CLERK_API_URL", clerk.url.clone()),
        ("CLERK_ISSUER", ISSUER.to_string()),
    ]);
    // `{clerk}` in a value stands for the fake Clerk's base URL.
    vars.extend(
        options
            .vars
            .into_iter()
            .map(|(name, value)| (name, value.replace("{clerk}", &clerk.url))),
    );
    let mut config =
        Config::from_lookup(|name| vars.get(name).cloned()).expect("test configuration");
    config.clerk.jwks = options.jwks;
    config.webhook_retention = RetentionSettings {
        keep: config.webhook_retention.keep,
        ..options.webhook_retention
    };

    let statement_log = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&statement_log);
    let observer = options.on_statement;
    let mut build = BuildOptions {
        on_statement: Some(Arc::new(move |sql: &str| {
            log.lock().unwrap().push(sql.to_string());
            if let Some(observe) = &observer {
                observe(sql);
            }
        })),
        ..BuildOptions::default()
    };
    if let Some(clock) = options.clock {
        build.clock = clock;
    }
    let app = Application::build_with(config, build)
        .await
        .expect("application starts");
    let address = format!("http://{}", app.local_addr());
    tokio::spawn(app.run_until_stopped(std::future::pending()));

    TestApp {
        address,
        client: reqwest::Client::new(),
        clerk,
        database,
        statement_log,
    }
}

pub const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
/// What a browser's navigation sends.
pub const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

pub const VIEWER_QUERY: &str = "{ viewer { userId sessionId orgId orgSlug orgRole orgPermissions actor plan features claims } }";

impl TestApp {
    /// `POST /graphql` as a current client sends it: `Accept: application/graphql-response+json`
    /// unless `headers` name another `Accept`.
    pub async fn post_graphql(&self, query: &str, headers: &[(&str, &str)]) -> GraphqlReply {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.address))
            .json(&json!({ "query": query }));
        if !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("accept"))
        {
            request = request.header("accept", GRAPHQL_RESPONSE_JSON);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        GraphqlReply::read(request.send().await.expect("request sent")).await
    }

    /// `{ viewer { … } }` with `Authorization: Bearer <token>`.
    pub async fn viewer_with_bearer(&self, token: &str) -> GraphqlReply {
        let header = format!("Bearer {token}");
        self.post_graphql(VIEWER_QUERY, &[("authorization", &header)])
            .await
    }

    /// `GET path` as a browser sends it (`Accept: text/html, …`).
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .header("accept", BROWSER_ACCEPT)
            .send()
            .await
            .expect("request sent")
    }
}
