//! Typed configuration, read once from the environment (and `.env` when present) at start-up.
//!
//! Each variable is a clap argument declared with `env = NAME`, its parser (`values`), default
//! and help: in `Config` here, `ClerkConfig` (`clerk`), the bounds (`limits`), and in `rules`
//! those whose meaning depends on other variables. `environment` feeds them from any lookup and
//! names every bad one; `rules` checks what spans several variables. Every problem is reported
//! at once, each line naming its variable, so that a misconfigured deployment fails fast with an
//! actionable message instead of a panic or a server that refuses every token later.

mod accepted_tokens;
mod clerk;
mod environment;
mod limits;
mod publishable_key;
mod rules;
#[cfg(test)]
mod tests;
mod traces;
mod values;

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

pub use accepted_tokens::{AcceptedTokens, TokenKind};
pub use clerk::{ClerkConfig, DEFAULT_MAX_TOKEN_LIFETIME, JwksSettings, KeySourceKind};
pub use limits::{GraphqlLimits, HttpLimits, RateLimitConfig, RetentionSettings, WebSocketLimits};
pub use publishable_key::frontend_api_from_publishable_key;
pub use traces::{DEFAULT_SERVICE_NAME, TraceSampler, TracesConfig};
pub use values::DEFAULT_CORS_HEADERS;

/// A secret value (API key, signing secret). Its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Every field is a variable (`--help` lists them), except those `rules` derives from others.
// Lists are `std::vec::Vec`, a path clap's derive does not take for a repeated flag: one
// variable holds the whole list.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// `production` refuses to start without a key source; playground and introspection
    /// default to off.
    #[arg(long, env = "APP_ENV", default_value = "development", value_parser = values::app_env)]
    pub app_env: AppEnv,
    /// Listen address; 0.0.0.0 in a container.
    #[arg(long, env = "HOST", default_value = "127.0.0.1", value_parser = values::ip_address)]
    pub host: IpAddr,
    /// Listen port; 0 picks a free one.
    #[arg(long, env = "PORT", default_value = "8080", value_parser = values::port)]
    pub port: u16,
    /// SQLite, or `postgres://…`.
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://clerk-graphql.db?mode=rwc",
        value_parser = values::database_url)]
    pub database_url: String,
    /// Apply pending migrations at start-up.
    #[arg(long, env = "DATABASE_AUTO_MIGRATE", default_value = "true",
        action = clap::ArgAction::Set, value_parser = values::boolean)]
    pub database_auto_migrate: bool,
    #[command(flatten)]
    pub webhook_retention: RetentionSettings,
    #[command(flatten)]
    pub clerk: ClerkConfig,
    /// `GRAPHQL_PLAYGROUND`, by default on in development only.
    #[arg(skip)]
    pub graphql_playground: bool,
    /// `GRAPHQL_INTROSPECTION`, by default on in development only.
    #[arg(skip)]
    pub graphql_introspection: bool,
    #[command(flatten)]
    pub graphql_limits: GraphqlLimits,
    /// `GRAPHQL_TRUSTED_DOCUMENTS`, `GRAPHQL_TRUSTED_DOCUMENTS_MODE` (the mode follows `rules`).
    #[command(flatten)]
    pub trusted_documents: TrustedDocumentsConfig,
    #[command(flatten)]
    pub websocket_limits: WebSocketLimits,
    #[command(flatten)]
    pub http_limits: HttpLimits,
    #[command(flatten)]
    pub rate_limits: RateLimitConfig,
    /// The Redis the replicas share state through (rate limits, events, revocations); unset:
    /// one process, state in memory. A secret: the URL may carry a password.
    #[arg(long, env = "REDIS_URL", value_parser = values::redis_url)]
    pub redis_url: Option<Secret>,
    /// Put before every Redis key and channel, so that deployments can share one Redis.
    #[arg(long, env = "REDIS_KEY_PREFIX", default_value = "clerk-graphql:")]
    pub redis_key_prefix: String,
    /// Comma-separated origins allowed to call `/graphql` and `/graphql/ws` from a browser.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", default_value = "", value_parser = values::origins)]
    pub cors_allowed_origins: std::vec::Vec<String>,
    /// Comma-separated request headers those origins may send, lower-cased (replaces the
    /// default list).
    #[arg(long, env = "CORS_ALLOWED_HEADERS", default_value = values::DEFAULT_CORS_HEADERS,
        value_parser = values::header_names)]
    pub cors_allowed_headers: std::vec::Vec<String>,
    /// Where Prometheus scrapes `/metrics` (its own listener, never the public one), or `off`.
    #[arg(long, env = "METRICS_ADDR", default_value = "127.0.0.1:9464",
        value_parser = values::metrics_addr)]
    pub metrics_addr: MetricsAddr,
    /// Log filter (`tracing-subscriber` directives).
    #[arg(long = "rust-log", env = "RUST_LOG", default_value = "info")]
    pub log_filter: String,
    #[command(flatten)]
    pub traces: TracesConfig,
    /// `LOG_FORMAT`, by default `json` in production, `pretty` in development.
    #[arg(skip = LogFormat::Pretty)]
    pub log_format: LogFormat,
    /// Development without any Clerk key source: tokens signed by a local key pair kept in this
    /// folder are accepted (see `auth::dev_keys`). `None` in production, always.
    #[arg(skip)]
    pub dev_keys_dir: Option<PathBuf>,
}

/// `METRICS_ADDR`: the metrics listener's address, `None` when `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsAddr(pub Option<std::net::SocketAddr>);

/// The persisted-documents manifest and what happens to documents it does not list.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct TrustedDocumentsConfig {
    /// A persisted-documents manifest (sha256 hex → document text, as the TypeScript codegen
    /// writes it, or Apollo's persisted-query list): the documents this API runs.
    #[arg(long, env = "GRAPHQL_TRUSTED_DOCUMENTS")]
    pub manifest: Option<PathBuf>,
    /// `GRAPHQL_TRUSTED_DOCUMENTS_MODE`: `off`, `log` or `enforce` [default: `enforce` in
    /// production with a manifest, `log` in development, `off` without one].
    #[arg(skip = TrustedDocumentsMode::Off)]
    pub mode: TrustedDocumentsMode,
}

/// `GRAPHQL_TRUSTED_DOCUMENTS_MODE`: what a document the manifest does not list gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrustedDocumentsMode {
    /// It runs.
    Off,
    /// It runs, and its hash is logged the first time it is seen.
    Log,
    /// It is refused (`PERSISTED_QUERY_NOT_IN_LIST`).
    Enforce,
}

/// Every configuration problem found, one per line.
#[derive(Debug)]
pub struct ConfigError(pub Vec<String>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration:")?;
        for problem in &self.0 {
            writeln!(f, "  - {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads the process environment (after loading `.env`, if any).
    pub fn from_env() -> Result<Self, ConfigError> {
        // A missing .env is the normal case in production and in CI.
        let _ = dotenvy::dotenv();
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Every variable, its default and what it means, for `--help`.
    pub fn variables_help() -> String {
        format!(
            "Environment variables (also read from .env; blank counts as unset):\n{}",
            environment::describe::<rules::Args>()
        )
    }

    /// Parses configuration from any variable lookup (the environment, or a map in tests).
    /// Empty values count as unset, so a copied `.env.example` with blank lines behaves.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let (args, mut problems) = environment::read::<rules::Args>(lookup);
        match args.map(|args| rules::apply(args, &mut problems)) {
            Some(config) if problems.is_empty() => Ok(config),
            _ => Err(ConfigError(problems)),
        }
    }
}
