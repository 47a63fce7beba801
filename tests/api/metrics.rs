//! Metrics (README "Observability"): the real binary, its `/metrics` on `METRICS_ADDR` scraped
//! after a scripted workload, every count asserted exactly; the public port never serves them;
//! `METRICS_ADDR=off` opens no listener; no label carries a user id, a token, an email or a path.
//!
//! The recorder is the process's (`metrics::install` in `serve`), so these tests start the
//! binary: the in-process apps of the other tests record nothing.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::SinkExt as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::process::Child;
use tokio_tungstenite::tungstenite::Message;

use crate::binary::{Output, free_port, terminate, wait_until_ready};
use crate::fake_clerk::{FakeClerk, SECRET_KEY, UsersFault, clerk_user_json};
use crate::helpers::GRAPHQL_RESPONSE_JSON;
use crate::replicas::harness::spawn_server;
use crate::tokens::{ISSUER, TestKey, now, session_claims, with};
use crate::trusted_documents::{apq, manifest_of, sha256_hex};
use crate::webhooks_sign::{WEBHOOK_SECRET, event, post_webhook, sign};
use crate::ws_client::{close_code, init, send, upgrade};

const PATIENCE: Duration = Duration::from_secs(30);
const USER: &str = "user_metrics_1";

/// The binary with a fake Clerk (users API, JWKS, webhooks on), SQLite, and `extra` variables.
struct Server {
    base: String,
    /// `http://…/metrics` on `METRICS_ADDR`, when it is on.
    metrics: Option<String>,
    child: Child,
    output: Option<Output>,
    client: reqwest::Client,
    _workdir: TempDir,
}

impl Server {
    async fn start(clerk: &FakeClerk, metrics: bool, extra: &[(&str, &str)]) -> Self {
        let workdir = tempfile::tempdir().unwrap();
        let port = free_port();
        let metrics_port = free_port();
        let database = format!(
            "sqlite://{}/metrics.db?mode=rwc",
            workdir.path().to_str().unwrap()
        );
        let metrics_addr = if metrics {
            format!("127.0.0.1:{metrics_port}")
        } else {
            "off".to_string()
        };
        let mut vars: Vec<(String, String)> = [
            ("HOST", "127.0.0.1"),
            ("DATABASE_URL", &database),
            ("CLERK_SECRET_KEY", SECRET_KEY),
            ("CLERK_API_URL", &clerk.url),
            ("CLERK_ISSUER", ISSUER),
            ("CLERK_WEBHOOK_SIGNING_SECRET", WEBHOOK_SECRET),
            ("DEV_MODE", "false"),
            ("METRICS_ADDR", &metrics_addr),
            ("RUST_LOG", "info"),
            ("LOG_FORMAT", "json"),
        ]
        .into_iter()
        .chain(extra.iter().copied())
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
        // Every request comes from 127.0.0.1: the address's own quota stays out of the counts.
        if !extra
            .iter()
            .any(|(name, _)| *name == "RATE_LIMIT_IP_PER_MINUTE")
        {
            vars.push(("RATE_LIMIT_IP_PER_MINUTE".into(), "0".into()));
        }
        let (child, output) = spawn_server(&workdir, port, &vars);
        let base = format!("http://127.0.0.1:{port}");
        wait_until_ready(&base, PATIENCE).await;
        Self {
            base,
            metrics: metrics.then(|| format!("http://127.0.0.1:{metrics_port}/metrics")),
            child,
            output: Some(output),
            client: reqwest::Client::new(),
            _workdir: workdir,
        }
    }

    async fn graphql(&self, query: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.base))
            .header("accept", GRAPHQL_RESPONSE_JSON)
            .json(&json!({ "query": query }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        (response.status(), response.json().await.unwrap())
    }

    async fn scrape(&self) -> Scrape {
        let url = self.metrics.as_ref().expect("metrics are on");
        let response = self.client.get(url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain; version=0.0.4")
        );
        Scrape::parse(&response.text().await.unwrap())
    }

    /// Stops the server; fails on an error or a panic in its log.
    async fn finish(mut self) -> String {
        terminate(&mut self.child, PATIENCE).await;
        let logs = self.output.take().unwrap().text().await;
        for line in logs.lines() {
            assert!(
                !line.contains(r#""level":"ERROR""#) && !line.contains("panicked"),
                "{line}"
            );
        }
        logs
    }
}

/// One sample of the text format: `name{label="value",…} value`.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

struct Scrape {
    text: String,
    samples: Vec<Sample>,
}

impl Scrape {
    fn parse(text: &str) -> Self {
        let samples = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .map(|line| {
                let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
                let (name, labels) = match series.split_once('{') {
                    Some((name, labels)) => (name, parse_labels(labels.strip_suffix('}').unwrap())),
                    None => (series, BTreeMap::new()),
                };
                Sample {
                    name: name.to_string(),
                    labels,
                    value: value.parse().unwrap_or_else(|_| panic!("{line}")),
                }
            })
            .collect();
        Self {
            text: text.to_string(),
            samples,
        }
    }

    /// The value of the sample with exactly these labels; `None` when there is none.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.samples
            .iter()
            .find(|sample| sample.name == name && sample.labels == wanted)
            .map(|sample| sample.value)
    }

    /// [`Self::get`], which must exist.
    #[track_caller]
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels)
            .unwrap_or_else(|| panic!("no {name} {labels:?} in\n{}", self.text))
    }

    /// The verified-token cache's lookups: (miss, hit, stale).
    #[track_caller]
    fn verified_cache_lookups(&self) -> (f64, f64, f64) {
        let count = |result| {
            self.value(
                "auth_verified_token_cache_lookups_total",
                &[("result", result)],
            )
        };
        (count("miss"), count("hit"), count("stale"))
    }

    /// The sum over every sample of `name` whose labels include `labels`.
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|sample| sample.name == name)
            .filter(|sample| {
                labels
                    .iter()
                    .all(|(k, v)| sample.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|sample| sample.value)
            .sum()
    }
}

/// `a="x",b="y"`, values with `\"`, `\\` and `\n` escaped (the text format's escapes).
fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (name, after) = rest.split_once("=\"").unwrap();
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().expect("a closed label value") {
                (_, '\\') => match chars.next().unwrap().1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (index, '"') => break index,
                (_, c) => value.push(c),
            }
        };
        labels.insert(name.to_string(), value);
        rest = after[end + 1..].trim_start_matches(',');
    }
    labels
}

/// A session token of [`USER`], valid for five minutes.
fn valid_token() -> String {
    let now = now();
    TestKey::primary().sign(&with(
        session_claims(USER),
        json!({"sid": "sess_metrics_1", "iat": now, "nbf": now - 10, "exp": now + 300}),
    ))
}

/// A session token of [`USER`] that expired a minute ago; `n` makes each one different.
fn expired_token(n: i64) -> String {
    let now = now();
    TestKey::primary().sign(&with(
        session_claims(USER),
        json!({"sid": "sess_metrics_1", "iat": now - 600 - n, "nbf": now - 600, "exp": now - 60}),
    ))
}

/// The sockets the process `pid` listens on (TCP, IPv4 and IPv6), from `/proc`.
#[cfg(target_os = "linux")]
fn listening_sockets(pid: u32) -> usize {
    let mut listening = std::collections::HashSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // `st` 0A is LISTEN; the tenth field is the socket's inode.
            if fields.get(3) == Some(&"0A") {
                listening.insert(fields[9].to_string());
            }
        }
    }
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_str()?.to_string();
            let inode = target.strip_prefix("socket:[")?.strip_suffix(']')?;
            listening.contains(inode).then_some(())
        })
        .count()
}

#[tokio::test]
async fn a_scripted_workload_shows_exactly_its_counts_under_the_documented_names() {
    let clerk = FakeClerk::start().await;
    clerk.add_users(vec![clerk_user_json(USER, None)]);
    let server = Server::start(&clerk, true, &[]).await;
    #[cfg(target_os = "linux")]
    assert_eq!(
        listening_sockets(server.child.id().unwrap()),
        2,
        "public and metrics"
    );

    // Before any request: the counters of fixed label sets are there, at 0.
    let before = server.scrape().await;
    assert_eq!(
        before.value(
            "auth_tokens_total",
            &[("result", "refused"), ("reason", "token_expired")]
        ),
        0.0
    );
    assert_eq!(before.value("rate_limit_lockouts_total", &[]), 0.0);

    // 2 valid requests (the second is `me`, whose first use reads the profile from Clerk: the
    // first attempt gets a 500, the retry the user).
    let token = valid_token();
    let (status, body) = server.graphql("{ viewer { userId } }", Some(&token)).await;
    assert_eq!(
        (status, &body["data"]["viewer"]["userId"]),
        (StatusCode::OK, &json!(USER))
    );
    clerk.fail_users_times(UsersFault::Status(500), 1);
    let (status, body) = server.graphql("{ me { id } }", Some(&token)).await;
    assert_eq!(
        (status, &body["data"]["me"]["id"]),
        (StatusCode::OK, &json!(USER)),
        "{body}"
    );
    assert_eq!(clerk.users_calls(), 2, "one 500, one retry");
    // 3 expired tokens.
    for n in 0..3 {
        let (status, body) = server
            .graphql("{ viewer { userId } }", Some(&expired_token(n)))
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["errors"][0]["extensions"]["reason"], "token_expired");
    }
    // 1 forged webhook: signed, but over another body.
    let forged = serde_json::to_vec(&event(
        "user.deleted",
        json!({"id": USER, "deleted": true, "object": "user"}),
    ))
    .unwrap();
    let timestamp = crate::webhooks_sign::now();
    let signature = sign(WEBHOOK_SECRET, "msg_forged", timestamp, b"{}");
    let response = post_webhook(
        &server.client,
        &server.base,
        forged,
        Some("msg_forged"),
        Some(timestamp.to_string()),
        Some(signature),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // The public port has no /metrics.
    let public = server
        .client
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(public.status(), StatusCode::NOT_FOUND);

    let scrape = server.scrape().await;
    let tokens = |result, reason| {
        scrape.value(
            "auth_tokens_total",
            &[("result", result), ("reason", reason)],
        )
    };
    assert_eq!(tokens("accepted", "none"), 2.0);
    assert_eq!(tokens("refused", "token_expired"), 3.0);
    assert_eq!(scrape.sum("auth_tokens_total", &[]), 5.0);
    // The valid token once verified in full, then found in the cache; each expired one missed.
    assert_eq!(scrape.verified_cache_lookups(), (4.0, 1.0, 0.0));
    assert_eq!(
        scrape.value("auth_jwks_fetches_total", &[("result", "success")]),
        1.0
    );
    assert_eq!(
        scrape.value("auth_jwks_fetches_total", &[("result", "failure")]),
        0.0
    );
    let age = scrape.value("auth_key_set_age_seconds", &[]);
    assert!((0.0..PATIENCE.as_secs_f64() * 2.0).contains(&age), "{age}");

    assert_eq!(
        scrape.value(
            "webhook_deliveries_total",
            &[
                ("event_type", "unknown"),
                ("outcome", "refused"),
                ("reason", "invalid_signature")
            ]
        ),
        1.0
    );
    assert_eq!(scrape.sum("webhook_deliveries_total", &[]), 1.0);

    // Clerk: the 500 and the retry's 200, each one request.
    let clerk_requests = |status| {
        scrape.value(
            "http_client_request_duration_seconds_count",
            &[
                ("http_request_method", "GET"),
                ("url_template", "/v1/users/{user_id}"),
                ("http_response_status_code", status),
            ],
        )
    };
    assert_eq!((clerk_requests("500"), clerk_requests("200")), (1.0, 1.0));
    assert_eq!(
        scrape.sum("http_client_request_duration_seconds_count", &[]),
        2.0
    );
    assert_eq!(
        scrape.value(
            "clerk_api_retries_total",
            &[("url_template", "/v1/users/{user_id}")]
        ),
        1.0
    );
    let users = |result| scrape.value("clerk_user_cache_lookups_total", &[("result", result)]);
    assert_eq!((users("miss"), users("hit")), (1.0, 0.0));

    // HTTP, per route and status.
    let http = |method, route, status| {
        scrape.value(
            "http_server_request_duration_seconds_count",
            &[
                ("http_request_method", method),
                ("http_route", route),
                ("http_response_status_code", status),
            ],
        )
    };
    assert_eq!(http("POST", "/graphql", "200"), 2.0);
    assert_eq!(http("POST", "/graphql", "401"), 3.0);
    assert_eq!(http("POST", "/webhooks/clerk", "401"), 1.0);
    assert_eq!(http("GET", "unmatched", "404"), 1.0);
    assert!(http("GET", "/readyz", "200") >= 1.0, "the wait until ready");
    let graphql_requests = scrape.sum(
        "http_server_request_duration_seconds_count",
        &[("http_route", "/graphql")],
    );
    assert_eq!(graphql_requests, 5.0);
    assert_eq!(
        scrape.sum(
            "http_server_request_body_size_bytes_count",
            &[("http_route", "/graphql")]
        ),
        5.0
    );
    // JSON answers have a known size: each one is counted, none empty.
    let graphql_ok = [
        ("http_request_method", "POST"),
        ("http_route", "/graphql"),
        ("http_response_status_code", "200"),
    ];
    assert_eq!(
        scrape.value("http_server_response_body_size_bytes_count", &graphql_ok),
        2.0
    );
    assert!(scrape.value("http_server_response_body_size_bytes_sum", &graphql_ok) > 40.0);
    // This scrape is served by the other listener: nothing is in flight on the public one.
    assert_eq!(scrape.value("http_server_active_requests", &[]), 0.0);

    // GraphQL: the two valid requests ran; the refused tokens never reached it.
    assert_eq!(
        scrape.value(
            "graphql_server_operations_total",
            &[
                ("graphql_operation_type", "query"),
                ("graphql_operation_name", "other"),
                ("outcome", "success")
            ]
        ),
        2.0
    );
    assert_eq!(scrape.sum("graphql_server_operations_total", &[]), 2.0);
    assert_eq!(scrape.sum("graphql_server_errors_total", &[]), 0.0);

    // The database: `me` read and wrote; every statement is known by its keyword only.
    assert!(
        scrape.sum(
            "db_client_operation_duration_seconds_count",
            &[("db_operation_name", "SELECT")]
        ) >= 1.0
    );
    assert!(
        scrape.sum(
            "db_client_operation_duration_seconds_count",
            &[("db_operation_name", "INSERT")]
        ) >= 1.0
    );
    let max = scrape.value("db_client_connection_max", &[]);
    let (idle, used) = (
        scrape.value(
            "db_client_connection_count",
            &[("db_client_connection_state", "idle")],
        ),
        scrape.value(
            "db_client_connection_count",
            &[("db_client_connection_state", "used")],
        ),
    );
    assert!(max >= 1.0 && idle + used <= max, "{idle} {used} {max}");
    // No rate limit refused anything; no Redis, so no Redis series.
    assert_eq!(scrape.sum("rate_limit_refusals_total", &[]), 0.0);
    assert!(!scrape.text.contains("redis_"));

    // Every series is a documented metric; no label carries a user id, a token, an email or a
    // path that is not a route pattern.
    let readme = include_str!("../../README.md");
    let secrets = [
        USER,
        "sess_metrics_1",
        &token,
        "example.com",
        "@",
        SECRET_KEY,
    ];
    for sample in &scrape.samples {
        let metric = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| sample.name.strip_suffix(suffix))
            .filter(|base| readme.contains(&format!("| `{base}` |")))
            .unwrap_or(&sample.name);
        assert!(
            readme.contains(&format!("| `{metric}` |")),
            "{} is not in the README's table",
            sample.name
        );
        for (label, value) in &sample.labels {
            for secret in secrets {
                assert!(
                    !value.contains(secret),
                    "{}{{{label}={value}}}",
                    sample.name
                );
            }
            if label == "http_route" {
                let known = ["unmatched", "other"];
                assert!(
                    known.contains(&value.as_str()) || ROUTE_PATTERNS.contains(&value.as_str()),
                    "{value}"
                );
            }
        }
    }
    let logs = server.finish().await;
    assert!(logs.contains("/metrics"), "the metrics address is logged");
}

/// The verified-token cache is asked before a token's kind is read; a machine JWT, which it
/// never holds, is not counted as a miss of it, and is told a machine's on every request.
#[tokio::test]
async fn machine_jwts_are_not_session_cache_lookups() {
    let clerk = FakeClerk::start().await;
    clerk.add_users(vec![clerk_user_json(USER, None)]);
    let server = Server::start(
        &clerk,
        true,
        &[
            ("CLERK_ACCEPTED_TOKENS", "session_token,m2m_token"),
            ("CLERK_MACHINE_ID", crate::machines::MACHINE_ID),
        ],
    )
    .await;
    let (machine, session) = (crate::machines::m2m_jwt(json!({})), valid_token());
    for token in [&machine, &session, &machine, &session] {
        let (status, body) = server
            .graphql("{ viewer { kind userId } }", Some(token))
            .await;
        let expected = if *token == machine {
            json!({"kind": "M2M", "userId": "mch_caller"})
        } else {
            json!({"kind": "SESSION", "userId": USER})
        };
        assert_eq!(
            (status, &body["data"]["viewer"]),
            (StatusCode::OK, &expected)
        );
    }
    let scrape = server.scrape().await;
    assert_eq!(
        scrape.verified_cache_lookups(),
        (1.0, 1.0, 0.0),
        "the session token missed once, then hit; the machine JWT counted in neither"
    );
    assert_eq!(
        scrape.value(
            "auth_tokens_total",
            &[("result", "accepted"), ("reason", "none")]
        ),
        4.0
    );
    server.finish().await;
}

/// The router's patterns, as `metrics::HttpRoute` knows them.
const ROUTE_PATTERNS: [&str; 7] = clerk_graphql::metrics::HttpRoute::PATTERNS;

#[cfg(target_os = "linux")]
#[tokio::test]
async fn metrics_off_opens_no_listener() {
    let clerk = FakeClerk::start().await;
    let server = Server::start(&clerk, false, &[]).await;
    assert_eq!(
        listening_sockets(server.child.id().unwrap()),
        1,
        "the public one only"
    );
    let logs = server.finish().await;
    assert!(!logs.contains("/metrics"), "{logs}");
}

#[tokio::test]
async fn sockets_rate_limits_and_request_limits_are_counted() {
    let clerk = FakeClerk::start().await;
    let health = "query Health { health }";
    let (_manifest_dir, manifest) = manifest_of(&[health]);
    let server = Server::start(
        &clerk,
        true,
        &[
            ("RATE_LIMIT_USER_PER_MINUTE", "2"),
            ("GRAPHQL_MAX_ALIASES", "2"),
            ("GRAPHQL_TRUSTED_DOCUMENTS", manifest.to_str().unwrap()),
        ],
    )
    .await;

    // A trusted document is counted under its operation name; any other name is `other`.
    let body = json!({"extensions": apq(&sha256_hex(health))});
    let response = server
        .client
        .post(format!("{}/graphql", server.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    let ok = json!({"data": {"health": "ok"}});
    assert_eq!(response.json::<Value>().await.unwrap(), ok);
    let (status, body) = server.graphql("query Unlisted { health }", None).await;
    assert_eq!((status, body), (StatusCode::OK, ok));

    // A request limit: three aliases where two are allowed (anonymous: no user quota spent).
    let (status, body) = server
        .graphql("{ a: __typename b: __typename c: __typename }", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["errors"][0]["extensions"]["limit"], "aliases");
    // The user's quota: two requests, then a 429.
    let token = valid_token();
    for expected in [
        StatusCode::OK,
        StatusCode::OK,
        StatusCode::TOO_MANY_REQUESTS,
    ] {
        let (status, _) = server.graphql("{ viewer { userId } }", Some(&token)).await;
        assert_eq!(status, expected);
    }
    // Sockets: one closed for its expired token (4403), one for a message that is not JSON
    // (4400), one closed by the client.
    let protocol = [("sec-websocket-protocol", "graphql-transport-ws")];
    let mut expired = upgrade(&server.base, &protocol).await.unwrap();
    let payload = json!({"Authorization": format!("Bearer {}", expired_token(0))});
    send(
        &mut expired,
        json!({"type": "connection_init", "payload": payload}),
    )
    .await;
    assert_eq!(close_code(&mut expired).await, Some(4403));
    let mut garbage = upgrade(&server.base, &protocol).await.unwrap();
    init(&mut garbage, json!({})).await;
    garbage
        .send(Message::Text("not json".into()))
        .await
        .unwrap();
    assert_eq!(close_code(&mut garbage).await, Some(4400));
    let mut open = upgrade(&server.base, &protocol).await.unwrap();
    init(&mut open, json!({})).await;
    open.close(None).await.unwrap();

    // The server ends its side of each socket a moment after the client sees the close.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let scrape = loop {
        let scrape = server.scrape().await;
        if scrape.sum("websocket_closes_total", &[]) == 3.0 {
            break scrape;
        }
        assert!(tokio::time::Instant::now() < deadline, "{}", scrape.text);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let closes = |code| scrape.value("websocket_closes_total", &[("close_code", code)]);
    assert_eq!(
        (closes("4403"), closes("4400"), closes("client")),
        (1.0, 1.0, 1.0)
    );
    assert_eq!(scrape.value("websocket_connections", &[]), 0.0);
    assert_eq!(scrape.value("graphql_subscriptions_active", &[]), 0.0);
    assert_eq!(
        scrape.value(
            "auth_tokens_total",
            &[("result", "refused"), ("reason", "token_expired")]
        ),
        1.0
    );

    assert_eq!(
        scrape.value(
            "rate_limit_refusals_total",
            &[("reason", "user_rate_limit")]
        ),
        1.0
    );
    assert_eq!(scrape.sum("rate_limit_refusals_total", &[]), 1.0);
    assert_eq!(
        scrape.value("graphql_server_refusals_total", &[("limit", "aliases")]),
        1.0
    );
    assert_eq!(scrape.sum("graphql_server_refusals_total", &[]), 1.0);
    assert_eq!(
        scrape.value(
            "graphql_server_errors_total",
            &[("error_code", "GRAPHQL_VALIDATION_FAILED")]
        ),
        1.0
    );
    // The aliases are counted by the pre-scan, before the document is parsed: its type is not
    // known yet.
    assert_eq!(
        scrape.value(
            "graphql_server_operations_total",
            &[
                ("graphql_operation_type", "unknown"),
                ("graphql_operation_name", "other"),
                ("outcome", "refused")
            ]
        ),
        1.0
    );
    let health = |name| {
        scrape.value(
            "graphql_server_operations_total",
            &[
                ("graphql_operation_type", "query"),
                ("graphql_operation_name", name),
                ("outcome", "success"),
            ],
        )
    };
    assert_eq!(
        (health("Health"), health("other")),
        (1.0, 3.0),
        "Health, Unlisted, 2 viewers"
    );
    assert!(!scrape.text.contains("Unlisted"));
    let http = |route, status| {
        scrape.value(
            "http_server_request_duration_seconds_count",
            &[
                ("http_request_method", "GET"),
                ("http_route", route),
                ("http_response_status_code", status),
            ],
        )
    };
    assert_eq!(http("/graphql/ws", "101"), 3.0);
    // The token verified in full once, then found in the cache twice (its third request was
    // refused by the quota, after authentication); the socket's expired token missed.
    assert_eq!(scrape.verified_cache_lookups(), (2.0, 2.0, 0.0));
    server.finish().await;
}
