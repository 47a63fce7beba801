//! What the server admits: request limits, connection bounds, rate limits, retention. Each bound
//! is a variable declared here with its range and default; the defaults admit what a frontend
//! plausibly does and refuse what is built to exhaust the server.

use std::time::Duration;

use clap::builder::TypedValueParser as _;

use super::environment::defaults;
use super::values::{self, Whole};

/// What one GraphQL request may cost (see `graphql::limits`).
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct GraphqlLimits {
    /// Fields nested in fields. GraphiQL's own introspection query has depth 15.
    #[arg(long, env = "GRAPHQL_MAX_DEPTH", default_value = "15",
        value_parser = Whole::new(1usize, 64))]
    pub max_depth: usize,
    /// One per field selected (fragments expanded), unless a field declares its own cost (a
    /// connection multiplies its children by the page size).
    #[arg(long, env = "GRAPHQL_MAX_COMPLEXITY", default_value = "1000",
        value_parser = Whole::new(1usize, 1_000_000))]
    pub max_complexity: usize,
    /// How deeply brackets and selection sets may nest, checked before the document reaches the
    /// recursive parser, and through fragment spreads after.
    #[arg(long, env = "GRAPHQL_MAX_RECURSIVE_DEPTH", default_value = "32",
        value_parser = Whole::new(2usize, 64)
            .why(" (the parser refuses more than 64 nested selection sets anyway)"))]
    pub max_recursive_depth: usize,
    /// Aliased fields per operation, fragments expanded.
    #[arg(long, env = "GRAPHQL_MAX_ALIASES", default_value = "30",
        value_parser = Whole::new(0usize, 10_000).why(" (0 refuses every alias)"))]
    pub max_aliases: usize,
    /// Fields at the root of an operation, fragments expanded.
    #[arg(long, env = "GRAPHQL_MAX_ROOT_FIELDS", default_value = "20",
        value_parser = Whole::new(1usize, 10_000))]
    pub max_root_fields: usize,
    /// Tokens of a document (names, punctuation, values; not whitespace, commas or comments),
    /// counted before it is parsed.
    // GraphQL Armor's default. GraphiQL's introspection query is 160 tokens as GraphiQL sends it,
    // 181 with every option on; the template's own operations (README, tests) are 40 at most.
    #[arg(long, env = "GRAPHQL_MAX_TOKENS", default_value = "1000",
        value_parser = Whole::new(100usize, 1_000_000)
            .why(" (GraphiQL's introspection query needs 181)"))]
    pub max_tokens: usize,
    /// Values in all variables together (each scalar, list and object counts one); their
    /// nesting is bounded by the recursive depth.
    // A list of 1,000 inputs of 9 fields each; the JSON of a request is bounded by
    // `max_body_bytes` anyway, this bounds the values async-graphql then walks.
    #[arg(long, env = "GRAPHQL_MAX_VARIABLE_VALUES", default_value = "10000",
        value_parser = Whole::new(1usize, 10_000_000))]
    pub max_variable_values: usize,
    /// Size of a request body, and of a WebSocket message.
    #[arg(long, env = "GRAPHQL_MAX_BODY_BYTES", default_value = "1048576",
        value_parser = Whole::new(1024usize, 64 << 20).why(" bytes (1 KiB to 64 MiB)"))]
    pub max_body_bytes: usize,
    /// Time to answer a request, authentication included, in seconds.
    #[arg(long = "graphql-timeout", env = "GRAPHQL_TIMEOUT_SECS", default_value = "15",
        value_parser = Whole::new(1u64, 300).why(" seconds: a request always has a deadline")
            .map(Duration::from_secs))]
    pub timeout: Duration,
}

impl Default for GraphqlLimits {
    fn default() -> Self {
        defaults()
    }
}

/// What the HTTP listener admits (see `server::connections`).
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct HttpLimits {
    /// Time for a client to send a request's headers, in seconds, counted from when the
    /// connection starts waiting for them — so it is also how long an idle keep-alive connection
    /// stays open.
    #[arg(long = "http-header-read-timeout", env = "HTTP_HEADER_READ_TIMEOUT_SECS",
        default_value = "10",
        value_parser = Whole::new(1u64, 3600).of("seconds").map(Duration::from_secs))]
    pub header_read_timeout: Duration,
    /// `HTTP_MAX_CONNECTIONS_PER_IP`: open connections per socket peer (IPv6: per /64); peers in
    /// `TRUSTED_PROXIES` are not bounded (every client behind them shares their address). Its
    /// default follows the total (`rules`).
    #[arg(skip)]
    pub max_connections_per_ip: usize,
    /// Open connections in all. The default follows the file-descriptor limit (`ulimit -n`): a
    /// bound above it would let `accept` fail for everyone before the bound refuses anyone.
    #[arg(long = "http-max-connections", env = "HTTP_MAX_CONNECTIONS",
        default_value_t = max_connections_for_descriptors(), value_parser = CONNECTIONS)]
    pub max_connections: usize,
}

/// 128 descriptors stay for the database pool, WebSockets' outgoing calls, files and logs.
fn max_connections_for_descriptors() -> usize {
    let descriptors =
        rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(u64::MAX, |(soft, _)| soft);
    usize::try_from(descriptors.saturating_sub(128))
        .unwrap_or(usize::MAX)
        .clamp(64, 10_000)
}

pub const CONNECTIONS: Whole<usize> = Whole::new(1, 1_000_000);

/// What `/graphql/ws` admits (see `websocket`); a message is bounded by
/// `GRAPHQL_MAX_BODY_BYTES` like a request body.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct WebSocketLimits {
    /// Operations running at once on one `/graphql/ws` connection.
    #[arg(long, env = "WS_MAX_SUBSCRIPTIONS", default_value = "100",
        value_parser = Whole::new(1usize, 10_000))]
    pub max_subscriptions: usize,
    /// Open `/graphql/ws` connections per client address (IPv6: per /64).
    // An office behind one NAT address, each person with a few tabs open.
    #[arg(id = "ws_max_connections_per_ip", long, env = "WS_MAX_CONNECTIONS_PER_IP",
        default_value = "100", value_parser = CONNECTIONS)]
    pub max_connections_per_ip: usize,
    /// Open `/graphql/ws` connections in total.
    #[arg(id = "ws_max_connections", long, env = "WS_MAX_CONNECTIONS", default_value = "10000",
        value_parser = CONNECTIONS)]
    pub max_connections: usize,
}

impl Default for WebSocketLimits {
    fn default() -> Self {
        defaults()
    }
}

/// Rate limits and the brute-force lockout (see `rate_limit`). Quotas are requests per minute
/// with a bucket of the same size (that many may come at once); 0 turns one limit off.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct RateLimitConfig {
    /// All of the limits below, on or off.
    #[arg(long = "rate-limit-enabled", env = "RATE_LIMIT_ENABLED", default_value = "true",
        action = clap::ArgAction::Set, value_parser = values::boolean)]
    pub enabled: bool,
    /// GraphQL requests per client address (IPv6: per /64).
    // 20 a second sustained: room for an office of SPA users behind one NAT address.
    #[arg(long, env = "RATE_LIMIT_IP_PER_MINUTE", default_value = "1200",
        value_parser = PER_MINUTE)]
    pub ip_per_minute: u32,
    /// GraphQL requests per signed-in user.
    // 5 a second sustained: a SPA does a few requests per second at its busiest.
    #[arg(long, env = "RATE_LIMIT_USER_PER_MINUTE", default_value = "300",
        value_parser = PER_MINUTE)]
    pub user_per_minute: u32,
    /// Webhook deliveries per address.
    // Svix redelivers in bursts, from a handful of addresses.
    #[arg(long, env = "WEBHOOK_RATE_LIMIT_PER_MINUTE", default_value = "600",
        value_parser = PER_MINUTE)]
    pub webhook_per_minute: u32,
    /// Invalid session tokens per address before a lockout.
    #[arg(long, env = "AUTH_FAILURES_PER_MINUTE", default_value = "20",
        value_parser = Whole::new(0u32, 10_000).of("invalid tokens per minute")
            .zero_means("no lockout"))]
    pub auth_failures_per_minute: u32,
    /// The first lockout, in seconds.
    #[arg(long, env = "AUTH_LOCKOUT_SECS", default_value = "60",
        value_parser = LOCKOUT_SECS.map(Duration::from_secs))]
    pub lockout: Duration,
    /// Repeat offences lock out four times longer each, up to this many seconds.
    #[arg(long, env = "AUTH_LOCKOUT_MAX_SECS", default_value = "900",
        value_parser = LOCKOUT_SECS.map(Duration::from_secs))]
    pub lockout_max: Duration,
    /// Comma-separated addresses or CIDR ranges of the peers whose `X-Forwarded-For` is believed.
    #[arg(long, env = "TRUSTED_PROXIES", default_value = "",
        value_parser = values::trusted_proxies)]
    pub trusted_proxies: crate::net::TrustedProxies,
}

const PER_MINUTE: Whole<u32> = Whole::new(0, 1_000_000_000)
    .of("requests per minute")
    .zero_means("no limit");
const LOCKOUT_SECS: Whole<u64> = Whole::new(1, 86_400).of("seconds");

impl Default for RateLimitConfig {
    fn default() -> Self {
        defaults()
    }
}

/// When and how much the webhook-delivery clean-up (`webhooks::Retention`) deletes.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct RetentionSettings {
    /// Days a delivery stays in `webhook_events`, to recognise its redeliveries.
    #[arg(long = "webhook-events-retention-days", env = "WEBHOOK_EVENTS_RETENTION_DAYS",
        default_value = "7",
        value_parser = Whole::new(2u64, 3650).of("days").why(" (Svix retries a delivery for \
            about 28 hours: a shorter retention forgets deliveries it may still receive)")
            .map(|days| Duration::from_secs(days * 86_400)))]
    pub keep: Duration,
    /// The rest are not environment variables; tests shorten them. The first run comes shortly
    /// after start-up, once migrations and the key set are done with, so that a server restarted
    /// more often than hourly still cleans up.
    #[arg(skip = Duration::from_secs(60))]
    pub first_run_after: Duration,
    /// Between two runs.
    #[arg(skip = Duration::from_secs(3600))]
    pub interval: Duration,
    /// Rows per `DELETE` statement.
    #[arg(skip = 1000_u64)]
    pub batch_size: u64,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        defaults()
    }
}
