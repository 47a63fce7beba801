//! Every variable, as clap arguments: the ones kept as they are in `ClerkConfig` and `limits`,
//! and here the rest, whose default or meaning `rules` derives from other variables.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::TypedValueParser as _;

use super::limits::{GraphqlLimits, RateLimitConfig, RetentionSettings, WebSocketLimits};
use super::values::{self, Whole};
use super::{AppEnv, ClerkConfig, LogFormat};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// `production` refuses to start without a key source; playground and introspection
    /// default to off.
    #[arg(long, env = "APP_ENV", default_value = "development", value_parser = values::app_env)]
    pub app_env: AppEnv,
    /// Listen address; 0.0.0.0 in a container.
    #[arg(long, env = "HOST", default_value = "127.0.0.1", value_parser = |v: &str| v.parse::<IpAddr>()
        .map_err(|_| "expected an IP address such as 127.0.0.1 or 0.0.0.0"))]
    pub host: IpAddr,
    #[arg(long, env = "PORT", default_value = "8080", value_parser = |v: &str| v.parse::<u16>()
        .map_err(|_| "expected a port number from 0 to 65535"))]
    pub port: u16,
    /// SQLite, or `postgres://…`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://clerk-graphql.db?mode=rwc", value_parser = values::database_url)]
    pub database_url: String,
    /// Apply pending migrations at start-up.
    #[arg(long, env = "DATABASE_AUTO_MIGRATE", default_value = "true", action = clap::ArgAction::Set, value_parser = values::boolean)]
    pub database_auto_migrate: bool,
    #[command(flatten)]
    pub webhook_retention: RetentionSettings,
    #[command(flatten)]
    pub clerk: ClerkConfig,
    /// Alias of `CLERK_WEBHOOK_SIGNING_SECRET`, read when that one is not set.
    #[arg(long, env = "CLERK_WEBHOOK_SECRET", hide = true, value_parser = values::webhook_secrets)]
    pub webhook_secret_alias: Option<std::vec::Vec<super::Secret>>,
    /// Serve GraphiQL on `GET /graphql` [default: on in development, off in production].
    #[arg(long, env = "GRAPHQL_PLAYGROUND", value_parser = values::boolean)]
    pub graphql_playground: Option<bool>,
    /// Answer introspection queries [default: on in development, off in production].
    #[arg(long, env = "GRAPHQL_INTROSPECTION", value_parser = values::boolean)]
    pub graphql_introspection: Option<bool>,
    #[command(flatten)]
    pub graphql_limits: GraphqlLimits,
    #[command(flatten)]
    pub websocket_limits: WebSocketLimits,
    /// Time for a client to send a request's headers, in seconds; also how long an idle
    /// keep-alive connection stays open.
    #[arg(long, env = "HTTP_HEADER_READ_TIMEOUT_SECS", default_value = "10", value_parser = Whole::new(1u64, 3600)
        .of("seconds").map(Duration::from_secs))]
    pub http_header_read_timeout: Duration,
    /// Open connections in all [default: the file-descriptor limit less 128, from 64 to 10000].
    #[arg(long, env = "HTTP_MAX_CONNECTIONS", value_parser = CONNECTIONS)]
    pub http_max_connections: Option<usize>,
    /// Open connections per socket peer, IPv6 per /64 [default: a quarter of the total, at most
    /// 512].
    #[arg(long, env = "HTTP_MAX_CONNECTIONS_PER_IP", value_parser = CONNECTIONS)]
    pub http_max_connections_per_ip: Option<usize>,
    #[command(flatten)]
    pub rate_limits: RateLimitConfig,
    /// Comma-separated origins allowed to call `/graphql` and `/graphql/ws` from a browser.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", default_value = "", value_parser = values::origins)]
    pub cors_allowed_origins: std::vec::Vec<String>,
    /// Comma-separated request headers those origins may send (replaces the default list).
    #[arg(long, env = "CORS_ALLOWED_HEADERS", default_value = values::DEFAULT_CORS_HEADERS, value_parser = values::header_names)]
    pub cors_allowed_headers: std::vec::Vec<String>,
    /// Log filter (`tracing-subscriber` directives).
    #[arg(long = "rust-log", env = "RUST_LOG", default_value = "info")]
    pub log_filter: String,
    /// `pretty` or `json` [default: json in production, pretty in development].
    #[arg(long, env = "LOG_FORMAT", value_parser = values::log_format)]
    pub log_format: Option<LogFormat>,
    /// With no Clerk key source: accept tokens of a local dev key pair [default: true in
    /// development]; an error in production.
    #[arg(long, env = "DEV_MODE", value_parser = values::boolean)]
    pub dev_mode: Option<bool>,
    /// Where the dev key pair is generated.
    #[arg(long, env = "DEV_KEYS_DIR", default_value = ".dev")]
    pub dev_keys_dir: PathBuf,
}

const CONNECTIONS: Whole<usize> = Whole::new(1, 1_000_000);
