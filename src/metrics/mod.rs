//! Every metric the server exports (ARCHITECTURE §2, README "Observability"): its name, kind,
//! labels and help in one table ([`CATALOGUE`]), and one small function per metric that the
//! layers call, so that a label can only take the values written here (enums rendered as
//! `&'static str`) or a `&'static str` of the module that owns the word (a token refusal's
//! `reason`, a rate limit's `reason`: the strings clients already see). No label ever carries a
//! user id, a token, an email, a raw path or a raw operation name.
//!
//! Recording goes through the `metrics` facade: without a recorder (in-process tests, or
//! `METRICS_ADDR=off`) every call is a no-op. `serve` installs the Prometheus recorder
//! ([`install`]) and `server` serves [`PrometheusHandle::render`] on `METRICS_ADDR`.
//!
//! Names are OpenTelemetry's semantic conventions as Prometheus renders them (dots become
//! underscores, the unit is a suffix, counters end in `_total`); what OpenTelemetry has no
//! convention for has a namespaced name of its own (`graphql_server_…`, `auth_…`, `clerk_…`).

mod labels;
mod series;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use ::metrics::{Counter, Gauge, Histogram, counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub use ::metrics::SharedString;
pub use labels::{
    CacheLookup, ClerkEndpoint, ClientError, GraphqlOutcome, HttpMethod, HttpRoute, JwksResult,
    OperationType, RedisOutcome, SocketEnd, TokenResult, UserCacheEviction, WebhookEventType,
    WebhookOutcome,
};
use labels::{DbOperation, close_code_label, error_code_label, limit_label, status_code_label};
use series::Series;

/// What a metric is, for the catalogue and the README table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// One exported metric.
#[derive(Debug)]
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    pub labels: &'static [&'static str],
    pub help: &'static str,
    /// A histogram's bucket bounds (explicit, so that it renders as a Prometheus histogram and
    /// not as a summary).
    buckets: &'static [f64],
}

/// OpenTelemetry's default buckets for `http.server.request.duration` and
/// `http.client.request.duration`, in seconds; used for every duration.
const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];
/// Body sizes: 0 (a GET), then powers of 4 from 64 bytes to 4 MiB (above every body limit).
const SIZE_BUCKETS: &[f64] = &[
    0.0,
    64.0,
    256.0,
    1024.0,
    4096.0,
    16384.0,
    65536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
];

const HTTP_DURATION: &str = "http_server_request_duration_seconds";
const HTTP_ACTIVE: &str = "http_server_active_requests";
const HTTP_REQUEST_SIZE: &str = "http_server_request_body_size_bytes";
const HTTP_RESPONSE_SIZE: &str = "http_server_response_body_size_bytes";
const GRAPHQL_OPERATIONS: &str = "graphql_server_operations_total";
const GRAPHQL_ERRORS: &str = "graphql_server_errors_total";
const GRAPHQL_REFUSALS: &str = "graphql_server_refusals_total";
const AUTH_TOKENS: &str = "auth_tokens_total";
const AUTH_CACHE: &str = "auth_verified_token_cache_lookups_total";
const AUTH_JWKS: &str = "auth_jwks_fetches_total";
const AUTH_KEY_AGE: &str = "auth_key_set_age_seconds";
const CLIENT_DURATION: &str = "http_client_request_duration_seconds";
const CLERK_RETRIES: &str = "clerk_api_retries_total";
const CLERK_CACHE: &str = "clerk_user_cache_lookups_total";
const CLERK_EVICTIONS: &str = "clerk_user_cache_evictions_total";
const RATE_REFUSALS: &str = "rate_limit_refusals_total";
const RATE_LOCKOUTS: &str = "rate_limit_lockouts_total";
const WEBHOOKS: &str = "webhook_deliveries_total";
const WS_CONNECTIONS: &str = "websocket_connections";
const WS_OPERATIONS: &str = "graphql_subscriptions_active";
const WS_CLOSES: &str = "websocket_closes_total";
const DB_DURATION: &str = "db_client_operation_duration_seconds";
const DB_CONNECTIONS: &str = "db_client_connection_count";
const DB_MAX: &str = "db_client_connection_max";
const REDIS_COMMANDS: &str = "redis_commands_total";
const REDIS_RECONNECTS: &str = "redis_pubsub_reconnects_total";
const REDIS_FALLBACKS: &str = "redis_fallbacks_total";

const fn metric(
    name: &'static str,
    kind: Kind,
    labels: &'static [&'static str],
    help: &'static str,
) -> Metric {
    let buckets: &[f64] = match kind {
        Kind::Histogram => DURATION_BUCKETS,
        _ => &[],
    };
    Metric {
        name,
        kind,
        labels,
        help,
        buckets,
    }
}

const fn sizes(metric: Metric) -> Metric {
    Metric {
        buckets: SIZE_BUCKETS,
        ..metric
    }
}

const HTTP_LABELS: &[&str] = &[
    "http_request_method",
    "http_route",
    "http_response_status_code",
];

/// Every metric, in the order of the README's table.
pub const CATALOGUE: &[Metric] = &[
    metric(
        HTTP_DURATION,
        Kind::Histogram,
        HTTP_LABELS,
        "Duration of HTTP requests, by method, route pattern and status code.",
    ),
    metric(HTTP_ACTIVE, Kind::Gauge, &[], "HTTP requests being served."),
    sizes(metric(
        HTTP_REQUEST_SIZE,
        Kind::Histogram,
        HTTP_LABELS,
        "Size of HTTP request bodies known before they are read (Content-Length; 0 without a \
         body; chunked bodies are not counted).",
    )),
    sizes(metric(
        HTTP_RESPONSE_SIZE,
        Kind::Histogram,
        HTTP_LABELS,
        "Size of HTTP response bodies whose size is known when sent (streams are not counted).",
    )),
    metric(
        GRAPHQL_OPERATIONS,
        Kind::Counter,
        &[
            "graphql_operation_type",
            "graphql_operation_name",
            "outcome",
        ],
        "GraphQL queries and mutations executed or refused, by type, trusted document name \
         (`other` when not from the manifest) and outcome.",
    ),
    metric(
        GRAPHQL_ERRORS,
        Kind::Counter,
        &["error_code"],
        "GraphQL errors sent, by extensions.code.",
    ),
    metric(
        GRAPHQL_REFUSALS,
        Kind::Counter,
        &["limit"],
        "GraphQL documents refused by a request limit, by extensions.limit.",
    ),
    metric(
        AUTH_TOKENS,
        Kind::Counter,
        &["result", "reason"],
        "Tokens presented, by result (accepted, pending, refused) and refusal reason.",
    ),
    metric(
        AUTH_CACHE,
        Kind::Counter,
        &["result"],
        "Verified-token cache lookups (hit, miss, stale: verified under an older key set).",
    ),
    metric(
        AUTH_JWKS,
        Kind::Counter,
        &["result"],
        "JWKS fetches (retries included), by result.",
    ),
    metric(
        AUTH_KEY_AGE,
        Kind::Gauge,
        &[],
        "Seconds since the JWKS in use was fetched (absent without a JWKS).",
    ),
    metric(
        CLIENT_DURATION,
        Kind::Histogram,
        &[
            "http_request_method",
            "url_template",
            "http_response_status_code",
            "error_type",
        ],
        "Duration of each HTTP request to Clerk's Backend API (every attempt), by endpoint and \
         status code, or error_type when there was no answer.",
    ),
    metric(
        CLERK_RETRIES,
        Kind::Counter,
        &["url_template"],
        "Backend API requests repeated after a 5xx, a time-out, a transport error or a 429.",
    ),
    metric(
        CLERK_CACHE,
        Kind::Counter,
        &["result"],
        "Clerk user cache lookups, by result (hit, miss).",
    ),
    metric(
        CLERK_EVICTIONS,
        Kind::Counter,
        &["cause"],
        "Clerk users removed from the cache, by cause (invalidated, expired, size).",
    ),
    metric(
        RATE_REFUSALS,
        Kind::Counter,
        &["reason"],
        "Requests refused by a rate limit or a lockout (429), by reason.",
    ),
    metric(
        RATE_LOCKOUTS,
        Kind::Counter,
        &[],
        "Brute-force lockouts started.",
    ),
    metric(
        WEBHOOKS,
        Kind::Counter,
        &["event_type", "outcome", "reason"],
        "Webhook deliveries, by Clerk event type (`other` for types not handled, `unknown` \
         before the payload is read), outcome and refusal reason.",
    ),
    metric(
        WS_CONNECTIONS,
        Kind::Gauge,
        &[],
        "Open WebSocket connections.",
    ),
    metric(
        WS_OPERATIONS,
        Kind::Gauge,
        &[],
        "Operations running on WebSocket connections (subscriptions, and queries in flight).",
    ),
    metric(
        WS_CLOSES,
        Kind::Counter,
        &["close_code"],
        "WebSocket connections ended, by close code (`client`: closed by the client, `gone`: \
         the connection dropped).",
    ),
    metric(
        DB_DURATION,
        Kind::Histogram,
        &["db_operation_name"],
        "Duration of database statements, by the statement's first keyword.",
    ),
    metric(
        DB_CONNECTIONS,
        Kind::Gauge,
        &["db_client_connection_state"],
        "Database pool connections, by state (idle, used), sampled at each scrape.",
    ),
    metric(
        DB_MAX,
        Kind::Gauge,
        &[],
        "Largest number of connections the database pool opens.",
    ),
    metric(
        REDIS_COMMANDS,
        Kind::Counter,
        &["result"],
        "Redis round trips, by result (ok, error, unavailable: not connected).",
    ),
    metric(
        REDIS_RECONNECTS,
        Kind::Counter,
        &[],
        "Redis subscriber connections established again after a loss.",
    ),
    metric(
        REDIS_FALLBACKS,
        Kind::Counter,
        &["feature"],
        "Decisions taken locally because Redis could not be reached, by feature.",
    ),
];

/// Installs the Prometheus recorder as the process's recorder, describes every metric and sets
/// the counters of fixed label sets to 0 (a scrape shows them before the first event, so that
/// `rate()` and alerts see the first increase). Once per process, before the server starts:
/// what is recorded before it is lost, and the handles the per-request series keep ([`Series`])
/// would stay the no-op recorder's.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let mut builder = PrometheusBuilder::new();
    for metric in CATALOGUE.iter().filter(|m| m.kind == Kind::Histogram) {
        builder =
            builder.set_buckets_for_metric(Matcher::Full(metric.name.into()), metric.buckets)?;
    }
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    ::metrics::set_global_recorder(recorder)
        .map_err(|_| anyhow::anyhow!("a metrics recorder is already installed"))?;
    for metric in CATALOGUE {
        match metric.kind {
            Kind::Counter => ::metrics::describe_counter!(metric.name, metric.help),
            Kind::Gauge => ::metrics::describe_gauge!(metric.name, metric.help),
            Kind::Histogram => ::metrics::describe_histogram!(metric.name, metric.help),
        }
    }
    preregister();
    Ok(handle)
}

/// The zeroes of the label sets this module owns; the owners of the other words (token refusal
/// reasons, rate limits, webhook refusals) register theirs with the same functions.
fn preregister() {
    for result in [JwksResult::Success, JwksResult::Failure] {
        counter!(AUTH_JWKS, "result" => result.label()).absolute(0);
    }
    for result in [CacheLookup::Hit, CacheLookup::Miss, CacheLookup::Stale] {
        counter!(AUTH_CACHE, "result" => result.label()).absolute(0);
    }
    for result in [CacheLookup::Hit, CacheLookup::Miss] {
        counter!(CLERK_CACHE, "result" => result.label()).absolute(0);
    }
    for cause in UserCacheEviction::ALL {
        counter!(CLERK_EVICTIONS, "cause" => cause.label()).absolute(0);
    }
    auth_token(TokenResult::Accepted, labels::NONE).absolute(0);
    auth_token(TokenResult::Pending, labels::NONE).absolute(0);
    counter!(RATE_LOCKOUTS).absolute(0);
    for limit in labels::LIMITS {
        counter!(GRAPHQL_REFUSALS, "limit" => limit).absolute(0);
    }
    gauge!(HTTP_ACTIVE).set(0.0);
    gauge!(WS_CONNECTIONS).set(0.0);
    gauge!(WS_OPERATIONS).set(0.0);
}

/// While alive, counts one in a gauge (a request being served, an open socket, an operation
/// running on it): dropped on every path out, a panic included.
#[must_use = "the gauge goes down when this is dropped"]
pub struct InFlight(Gauge);

impl InFlight {
    fn start(gauge: Gauge) -> Self {
        gauge.increment(1.0);
        Self(gauge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// One HTTP request being served (`http_server_active_requests`).
pub fn http_request_started() -> InFlight {
    static ACTIVE: Series<(), Gauge> = Series::new();
    InFlight::start(ACTIVE.get((), || gauge!(HTTP_ACTIVE)))
}

/// One HTTP exchange, once its response head is ready.
pub struct HttpExchange {
    pub method: HttpMethod,
    pub route: HttpRoute,
    pub status: u16,
    pub elapsed: Duration,
    /// The request body's size, when known before it is read.
    pub request_bytes: Option<u64>,
    /// The response body's exact size, when known before it is sent.
    pub response_bytes: Option<u64>,
}

pub fn http_request(exchange: &HttpExchange) {
    static HISTOGRAMS: Series<(HttpMethod, HttpRoute, u16), Arc<[Histogram; 3]>> = Series::new();
    let key = (exchange.method, exchange.route, exchange.status);
    let [duration, request_size, response_size] = &*HISTOGRAMS.get(key, || {
        let labels = [
            ("http_request_method", exchange.method.label()),
            ("http_route", exchange.route.label()),
            (
                "http_response_status_code",
                status_code_label(exchange.status),
            ),
        ];
        Arc::new([
            histogram!(HTTP_DURATION, &labels),
            histogram!(HTTP_REQUEST_SIZE, &labels),
            histogram!(HTTP_RESPONSE_SIZE, &labels),
        ])
    });
    duration.record(exchange.elapsed.as_secs_f64());
    if let Some(bytes) = exchange.request_bytes {
        request_size.record(bytes as f64);
    }
    if let Some(bytes) = exchange.response_bytes {
        response_size.record(bytes as f64);
    }
}

/// A GraphQL query or mutation, executed or refused, with the codes of its errors and the limits
/// that refused it. `name` is a trusted document's operation name, `None` for any other document.
pub fn graphql_operation<'a>(
    operation: OperationType,
    name: Option<SharedString>,
    outcome: GraphqlOutcome,
    errors: impl Iterator<Item = (Option<&'a str>, Option<&'a str>)>,
) {
    static UNNAMED: Series<(OperationType, GraphqlOutcome), Counter> = Series::new();
    let operations = |name| {
        counter!(
            GRAPHQL_OPERATIONS,
            "graphql_operation_type" => operation.label(),
            "graphql_operation_name" => name,
            "outcome" => outcome.label(),
        )
    };
    match name {
        // Trusted documents only: a bounded set, and a rarer path than plain text.
        Some(name) => operations(name),
        None => UNNAMED.get((operation, outcome), || {
            operations(SharedString::const_str(labels::OTHER))
        }),
    }
    .increment(1);
    for (code, limit) in errors {
        let code = code.map_or(labels::OTHER, error_code_label);
        counter!(GRAPHQL_ERRORS, "error_code" => code).increment(1);
        if let Some(limit) = limit {
            counter!(GRAPHQL_REFUSALS, "limit" => limit_label(limit)).increment(1);
        }
    }
}

/// `auth_tokens_total` for a result and a reason: a refusal's `AuthFailure::reason`, else
/// [`NO_REASON`].
pub fn auth_token(result: TokenResult, reason: &'static str) -> Counter {
    static TOKENS: Series<(TokenResult, &'static str), Counter> = Series::new();
    TOKENS.get(
        (result, reason),
        || counter!(AUTH_TOKENS, "result" => result.label(), "reason" => reason),
    )
}

/// The `reason` of what was not refused.
pub const NO_REASON: &str = labels::NONE;

pub fn verified_token_cache(lookup: CacheLookup) {
    static LOOKUPS: Series<CacheLookup, Counter> = Series::new();
    LOOKUPS
        .get(lookup, || counter!(AUTH_CACHE, "result" => lookup.label()))
        .increment(1);
}

pub fn jwks_fetch(result: JwksResult) {
    counter!(AUTH_JWKS, "result" => result.label()).increment(1);
}

/// The age of the key set in use, sampled at each scrape; `None`: no key set fetched yet.
pub fn key_set_age(age: Option<Duration>) {
    if let Some(age) = age {
        gauge!(AUTH_KEY_AGE).set(age.as_secs_f64());
    }
}

/// One HTTP request to the Backend API: its status, or why there was none.
pub fn clerk_request(endpoint: ClerkEndpoint, answer: Result<u16, ClientError>, elapsed: Duration) {
    let (method, template) = (endpoint.method(), endpoint.url_template());
    let seconds = elapsed.as_secs_f64();
    match answer {
        Ok(status) => histogram!(
            CLIENT_DURATION,
            "http_request_method" => method,
            "url_template" => template,
            "http_response_status_code" => status_code_label(status),
        )
        .record(seconds),
        Err(error) => histogram!(
            CLIENT_DURATION,
            "http_request_method" => method,
            "url_template" => template,
            "error_type" => error.label(),
        )
        .record(seconds),
    }
}

pub fn clerk_retry(endpoint: ClerkEndpoint) {
    counter!(CLERK_RETRIES, "url_template" => endpoint.url_template()).increment(1);
}

pub fn clerk_user_cache(lookup: CacheLookup) {
    counter!(CLERK_CACHE, "result" => lookup.label()).increment(1);
}

pub fn clerk_user_evicted(cause: UserCacheEviction) {
    counter!(CLERK_EVICTIONS, "cause" => cause.label()).increment(1);
}

/// `rate_limit_refusals_total` for a limit's `reason` (`rate_limit::Limit::reason`).
pub fn rate_limit_refusal(reason: &'static str) -> Counter {
    counter!(RATE_REFUSALS, "reason" => reason)
}

pub fn lockout_started() {
    counter!(RATE_LOCKOUTS).increment(1);
}

/// `webhook_deliveries_total` for an event type and an outcome.
pub fn webhook_delivery(event_type: WebhookEventType, outcome: WebhookOutcome) -> Counter {
    let (outcome, reason) = outcome.labels();
    counter!(
        WEBHOOKS,
        "event_type" => event_type.label(),
        "outcome" => outcome,
        "reason" => reason,
    )
}

/// An open WebSocket connection (`websocket_connections`).
pub fn socket_opened() -> InFlight {
    InFlight::start(gauge!(WS_CONNECTIONS))
}

/// An operation running on a socket (`graphql_subscriptions_active`).
pub fn socket_operation_started() -> InFlight {
    InFlight::start(gauge!(WS_OPERATIONS))
}

pub fn socket_closed(end: SocketEnd) {
    counter!(WS_CLOSES, "close_code" => close_code_label(end)).increment(1);
}

/// One database statement: its first keyword and how long it took (never its text).
pub fn db_statement(sql: &str, elapsed: Duration) {
    histogram!(DB_DURATION, "db_operation_name" => DbOperation::of(sql).label())
        .record(elapsed.as_secs_f64());
}

/// The pool's connections, sampled at each scrape.
pub fn db_pool(open: u32, idle: usize, max: u32) {
    let used = open.saturating_sub(u32::try_from(idle).unwrap_or(u32::MAX));
    gauge!(DB_CONNECTIONS, "db_client_connection_state" => "idle").set(idle as f64);
    gauge!(DB_CONNECTIONS, "db_client_connection_state" => "used").set(f64::from(used));
    gauge!(DB_MAX).set(f64::from(max));
}

/// The Redis counters at 0, when there is a Redis (`REDIS_URL`); `features` are those that fall
/// back to local state.
pub fn preregister_redis(features: &[&'static str]) {
    for result in RedisOutcome::ALL {
        counter!(REDIS_COMMANDS, "result" => result.label()).absolute(0);
    }
    counter!(REDIS_RECONNECTS).absolute(0);
    for feature in features {
        counter!(REDIS_FALLBACKS, "feature" => *feature).absolute(0);
    }
}

pub fn redis_command(result: RedisOutcome) {
    counter!(REDIS_COMMANDS, "result" => result.label()).increment(1);
}

pub fn redis_reconnected() {
    counter!(REDIS_RECONNECTS).increment(1);
}

/// A decision of `feature` taken locally because Redis could not be reached.
pub fn redis_fallback(feature: &'static str) {
    counter!(REDIS_FALLBACKS, "feature" => feature).increment(1);
}
