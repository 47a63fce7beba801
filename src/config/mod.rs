//! Typed configuration, read once from the environment (and `.env` when present) at start-up.
//!
//! Each variable is a clap argument with `env = …` (its parser, default and help in one place:
//! here, `limits` and `args`); `environment` feeds them from any lookup and names every bad
//! one; `rules` checks what spans several variables. Every problem is reported at once, each
//! line naming its variable, so that a misconfigured deployment fails fast with an actionable
//! message instead of a panic or a server that refuses every token later.

mod args;
mod environment;
mod limits;
mod publishable_key;
mod rules;
#[cfg(test)]
mod tests;
mod values;

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use limits::{GraphqlLimits, HttpLimits, RateLimitConfig, RetentionSettings, WebSocketLimits};
pub use publishable_key::frontend_api_from_publishable_key;
pub use values::DEFAULT_CORS_HEADERS;

use clap::builder::TypedValueParser as _;
use values::Whole;

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

#[derive(Debug, Clone)]
pub struct Config {
    pub app_env: AppEnv,
    pub host: IpAddr,
    pub port: u16,
    pub database_url: String,
    pub database_auto_migrate: bool,
    /// How long `webhook_events` rows are kept, and how the clean-up runs.
    pub webhook_retention: RetentionSettings,
    pub clerk: ClerkConfig,
    pub graphql_playground: bool,
    pub graphql_introspection: bool,
    pub graphql_limits: GraphqlLimits,
    pub websocket_limits: WebSocketLimits,
    pub http_limits: HttpLimits,
    pub rate_limits: RateLimitConfig,
    pub cors_allowed_origins: Vec<String>,
    /// `CORS_ALLOWED_HEADERS`: request headers a listed origin may send (lower case).
    pub cors_allowed_headers: Vec<String>,
    pub log_filter: String,
    pub log_format: LogFormat,
    /// Development without any Clerk key source: tokens signed by a local key pair kept in this
    /// folder are accepted (see `auth::dev_keys`). `None` in production, always.
    pub dev_keys_dir: Option<PathBuf>,
}

// Lists are `std::vec::Vec`, a path clap's derive does not take for a repeated flag: one
// variable holds the whole list.
#[derive(Debug, Clone, clap::Args)]
pub struct ClerkConfig {
    /// Backend API key (`sk_…`); also the default JWKS source `{CLERK_API_URL}/v1/jwks`.
    #[arg(long, env = "CLERK_SECRET_KEY", value_parser = values::secret_key)]
    pub secret_key: Option<Secret>,
    /// Gives the issuer `https://<frontend-api-host>` and the session cookie's suffix; public by
    /// design.
    #[arg(long, env = "CLERK_PUBLISHABLE_KEY", value_parser = values::publishable_key)]
    pub publishable_key: Option<String>,
    /// PEM public key (with or without BEGIN/END lines, `\n` escapes accepted): networkless
    /// verification. Kept normalised to carry BEGIN/END lines.
    #[arg(long = "jwt-key", env = "CLERK_JWT_KEY", value_parser = values::normalise_pem)]
    pub jwt_key_pem: Option<String>,
    /// Explicit JWKS URL.
    #[arg(long, env = "CLERK_JWKS_URL", value_parser = values::http_url)]
    pub jwks_url: Option<String>,
    /// Exact `iss` a token must carry [default: from the publishable key]. Always set when a key
    /// source is configured.
    #[arg(long, env = "CLERK_ISSUER", value_parser = values::http_url)]
    pub issuer: Option<String>,
    /// Comma-separated allowed `azp` origins; when set, `azp` is required.
    #[arg(long, env = "CLERK_AUTHORIZED_PARTIES", default_value = "", value_parser = values::origins)]
    pub authorized_parties: std::vec::Vec<String>,
    /// Comma-separated accepted `aud` (JWT templates only).
    #[arg(long, env = "CLERK_AUDIENCE", default_value = "", value_parser = values::list)]
    pub audience: std::vec::Vec<String>,
    /// Backend API base.
    #[arg(long, env = "CLERK_API_URL", default_value = "https://api.clerk.com", value_parser = values::http_url)]
    pub api_url: String,
    /// Leeway for `exp` / `nbf` / `iat`, in seconds.
    #[arg(long, env = "CLERK_CLOCK_SKEW_SECS", default_value = "5", value_parser = Whole::new(0u64, 300)
        .of("seconds").why(": a larger leeway extends every token's life").map(Duration::from_secs))]
    pub clock_skew: Duration,
    /// The longest `exp - iat` accepted, in seconds (revocations are kept that long; see
    /// `auth::revocation`).
    #[arg(long, env = "CLERK_MAX_TOKEN_LIFETIME_SECS", default_value = "3600", value_parser = Whole::new(60u64, 86_400)
        .of("seconds").why(" (Clerk's session tokens live 60 s)").map(Duration::from_secs))]
    pub max_token_lifetime: Duration,
    /// Dot path of the app role in the session claims.
    #[arg(long, env = "CLERK_ROLE_CLAIM", default_value = "metadata.role", value_parser = values::dot_path)]
    pub role_claim: String,
    /// `whsec_…`, several separated by spaces during rotation (alias `CLERK_WEBHOOK_SECRET`).
    #[arg(long, env = "CLERK_WEBHOOK_SIGNING_SECRET", default_value = "", value_parser = values::webhook_secrets)]
    pub webhook_signing_secrets: std::vec::Vec<Secret>,
    #[arg(skip)]
    pub jwks: JwksSettings,
}

/// How the remote key set is cached and fetched. Not environment variables: the defaults follow
/// Clerk's own SDKs; tests shorten them.
#[derive(Debug, Clone)]
pub struct JwksSettings {
    /// A key set older than this is refreshed in the background while still being served.
    pub ttl: Duration,
    /// Minimum time between two fetches caused by an unknown `kid`, and between a failed fetch and
    /// the next one: a flood of tokens with random kids must not become a flood of fetches.
    pub refresh_cooldown: Duration,
    /// Time limit of one HTTP attempt.
    pub attempt_timeout: Duration,
    /// Attempts per fetch (the first one included).
    pub max_attempts: u32,
    /// Back-off before the n-th retry is `retry_base_delay * 2^n`, times a random factor in [1, 2).
    pub retry_base_delay: Duration,
}

impl Default for JwksSettings {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(300),
            refresh_cooldown: Duration::from_secs(30),
            attempt_timeout: Duration::from_secs(2),
            max_attempts: 3,
            retry_base_delay: Duration::from_millis(125),
        }
    }
}

/// Where token-verification keys come from, in ARCHITECTURE §4's order of precedence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySourceKind {
    /// `CLERK_JWT_KEY`: networkless.
    Pem,
    /// A JWKS document fetched over HTTP, optionally with the Backend API secret as bearer.
    Jwks { url: String, authenticated: bool },
    /// Nothing configured: every presented token is refused with `jwks_unavailable`.
    None,
}

impl ClerkConfig {
    pub fn key_source(&self) -> KeySourceKind {
        if self.jwt_key_pem.is_some() {
            KeySourceKind::Pem
        } else if let Some(url) = &self.jwks_url {
            KeySourceKind::Jwks {
                url: url.clone(),
                authenticated: false,
            }
        } else if self.secret_key.is_some() {
            KeySourceKind::Jwks {
                url: format!("{}/v1/jwks", self.api_url),
                authenticated: true,
            }
        } else if let Some(issuer) = &self.issuer {
            KeySourceKind::Jwks {
                url: format!("{issuer}/.well-known/jwks.json"),
                authenticated: false,
            }
        } else {
            KeySourceKind::None
        }
    }
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

    /// Parses configuration from any variable lookup (the environment, or a map in tests).
    /// Empty values count as unset, so a copied `.env.example` with blank lines behaves.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let (args, mut problems) = environment::read::<args::Args>(lookup);
        match args.map(|args| rules::apply(args, &mut problems)) {
            Some(config) if problems.is_empty() => Ok(config),
            _ => Err(ConfigError(problems)),
        }
    }
}

/// `CLERK_MAX_TOKEN_LIFETIME_SECS` by default: an hour. Clerk's session tokens live 60 s, dev
/// tokens an hour.
pub const DEFAULT_MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
