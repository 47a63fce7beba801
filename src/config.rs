//! Typed configuration, read once from the environment (and `.env` when present) at start-up.
//!
//! Every problem is reported at once, each line naming the variable and what is wrong with it, so
//! that a misconfigured deployment fails fast with an actionable message instead of a panic or a
//! server that refuses every token later.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use jsonwebtoken::DecodingKey;

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
    /// `GRAPHQL_TRUSTED_DOCUMENTS`, `GRAPHQL_TRUSTED_DOCUMENTS_MODE`.
    pub trusted_documents: TrustedDocumentsConfig,
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

#[derive(Debug, Clone)]
pub struct ClerkConfig {
    pub secret_key: Option<Secret>,
    /// The publishable key is public by design; kept for the cookie suffix and the issuer.
    pub publishable_key: Option<String>,
    /// PEM of `CLERK_JWT_KEY`, normalised to carry BEGIN/END lines.
    pub jwt_key_pem: Option<String>,
    pub jwks_url: Option<String>,
    /// Exact `iss` a token must carry. Always set when a key source is configured.
    pub issuer: Option<String>,
    pub authorized_parties: Vec<String>,
    pub audience: Vec<String>,
    pub api_url: String,
    pub clock_skew: Duration,
    /// `CLERK_MAX_TOKEN_LIFETIME_SECS`: the longest `exp - iat` accepted (revocations are kept
    /// that long; see `auth::revocation`).
    pub max_token_lifetime: Duration,
    pub role_claim: String,
    pub webhook_signing_secrets: Vec<Secret>,
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

/// What one GraphQL request may cost. Every bound is an environment variable; the defaults
/// admit any query a frontend plausibly sends (GraphiQL's own introspection query has depth 15)
/// and refuse documents built to exhaust the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphqlLimits {
    /// `GRAPHQL_MAX_DEPTH`: fields nested in fields.
    pub max_depth: usize,
    /// `GRAPHQL_MAX_COMPLEXITY`: one per field selected (fragments expanded), unless a field
    /// declares its own cost (a connection multiplies its children by the page size).
    pub max_complexity: usize,
    /// `GRAPHQL_MAX_RECURSIVE_DEPTH`: how deeply brackets and selection sets may nest, checked
    /// before the document reaches the recursive parser, and through fragment spreads after.
    pub max_recursive_depth: usize,
    /// `GRAPHQL_MAX_ALIASES`: aliased fields per operation, fragments expanded.
    pub max_aliases: usize,
    /// `GRAPHQL_MAX_ROOT_FIELDS`: fields at the root of an operation, fragments expanded.
    pub max_root_fields: usize,
    /// `GRAPHQL_MAX_TOKENS`: tokens of a document (names, punctuation, values; not whitespace,
    /// commas or comments), counted before it is parsed.
    pub max_tokens: usize,
    /// `GRAPHQL_MAX_VARIABLE_VALUES`: values in all variables together (each scalar, list and
    /// object counts one); their nesting is bounded by `max_recursive_depth`.
    pub max_variable_values: usize,
    /// `GRAPHQL_MAX_BODY_BYTES`: size of a request body.
    pub max_body_bytes: usize,
    /// `GRAPHQL_TIMEOUT_SECS`: time to answer a request, authentication included.
    pub timeout: Duration,
}

impl Default for GraphqlLimits {
    fn default() -> Self {
        Self {
            max_depth: 15,
            max_complexity: 1000,
            max_recursive_depth: 32,
            max_aliases: 30,
            max_root_fields: 20,
            // GraphQL Armor's default. GraphiQL's introspection query is 160 tokens as GraphiQL
            // sends it, 181 with every option on; the template's own operations (README, tests)
            // are 40 at most.
            max_tokens: 1000,
            // A list of 1,000 inputs of 9 fields each; the JSON of a request is bounded by
            // `max_body_bytes` anyway, this bounds the values async-graphql then walks.
            max_variable_values: 10_000,
            max_body_bytes: 1024 * 1024,
            timeout: Duration::from_secs(15),
        }
    }
}

/// What the HTTP listener admits (see `server::connections`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpLimits {
    /// `HTTP_HEADER_READ_TIMEOUT_SECS`: time for a client to send a request's headers, counted
    /// from when the connection starts waiting for them — so it is also how long an idle
    /// keep-alive connection stays open.
    pub header_read_timeout: Duration,
    /// `HTTP_MAX_CONNECTIONS_PER_IP`: open connections per socket peer (IPv6: per /64); peers in
    /// `TRUSTED_PROXIES` are not bounded (every client behind them shares their address).
    pub max_connections_per_ip: usize,
    /// `HTTP_MAX_CONNECTIONS`: open connections in all.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    /// The connection bounds follow the process's file-descriptor limit (`ulimit -n`): a bound
    /// above it would let `accept` fail for everyone before the bound refuses anyone. 128
    /// descriptors stay for the database pool, WebSockets' outgoing calls, files and logs; one
    /// address gets at most a quarter, so that one client cannot hold every place.
    fn default() -> Self {
        let descriptors =
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(u64::MAX, |(soft, _)| soft);
        let max_connections = usize::try_from(descriptors.saturating_sub(128))
            .unwrap_or(usize::MAX)
            .clamp(64, 10_000);
        Self {
            header_read_timeout: Duration::from_secs(10),
            // Browsers open up to 6 connections to a host: room for an office behind one address.
            max_connections_per_ip: (max_connections / 4).min(512),
            max_connections,
        }
    }
}

/// What `/graphql/ws` admits (see `websocket`); a message is bounded by
/// `GRAPHQL_MAX_BODY_BYTES` like a request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSocketLimits {
    /// `WS_MAX_SUBSCRIPTIONS`: operations running at once on one connection.
    pub max_subscriptions: usize,
    /// `WS_MAX_CONNECTIONS_PER_IP`: open connections per client address (IPv6: per /64).
    pub max_connections_per_ip: usize,
    /// `WS_MAX_CONNECTIONS`: open connections in total.
    pub max_connections: usize,
}

impl Default for WebSocketLimits {
    fn default() -> Self {
        Self {
            max_subscriptions: 100,
            // An office behind one NAT address, each person with a few tabs open.
            max_connections_per_ip: 100,
            max_connections: 10_000,
        }
    }
}

/// Rate limits and the brute-force lockout (see `rate_limit`). Quotas are requests per minute
/// with a bucket of the same size (that many may come at once); 0 turns one limit off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// `RATE_LIMIT_ENABLED`: all of the limits below, on or off.
    pub enabled: bool,
    /// `RATE_LIMIT_IP_PER_MINUTE`: GraphQL requests per client address (IPv6: per /64).
    pub ip_per_minute: u32,
    /// `RATE_LIMIT_USER_PER_MINUTE`: GraphQL requests per signed-in user.
    pub user_per_minute: u32,
    /// `WEBHOOK_RATE_LIMIT_PER_MINUTE`: webhook deliveries per address.
    pub webhook_per_minute: u32,
    /// `AUTH_FAILURES_PER_MINUTE`: invalid session tokens per address before a lockout.
    pub auth_failures_per_minute: u32,
    /// `AUTH_LOCKOUT_SECS`: the first lockout.
    pub lockout: Duration,
    /// `AUTH_LOCKOUT_MAX_SECS`: repeat offences lock out four times longer each, up to this.
    pub lockout_max: Duration,
    /// `TRUSTED_PROXIES`: peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: crate::net::TrustedProxies,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            // 20 a second sustained: room for an office of SPA users behind one NAT address.
            ip_per_minute: 1200,
            // 5 a second sustained: a SPA does a few requests per second at its busiest.
            user_per_minute: 300,
            // Svix redelivers in bursts, from a handful of addresses.
            webhook_per_minute: 600,
            auth_failures_per_minute: 20,
            lockout: Duration::from_secs(60),
            lockout_max: Duration::from_secs(900),
            trusted_proxies: crate::net::TrustedProxies::default(),
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
        let mut p = Parser {
            lookup: &|name| lookup(name).filter(|v| !v.trim().is_empty()),
            problems: Vec::new(),
        };

        let app_env = p
            .parse("APP_ENV", |v| match v.to_ascii_lowercase().as_str() {
                "development" | "dev" => Ok(AppEnv::Development),
                "production" | "prod" => Ok(AppEnv::Production),
                _ => Err("expected `development` or `production`".into()),
            })
            .unwrap_or(AppEnv::Development);
        let production = app_env == AppEnv::Production;

        let host = p
            .parse("HOST", |v| {
                v.parse::<IpAddr>()
                    .map_err(|_| "expected an IP address such as 127.0.0.1 or 0.0.0.0".into())
            })
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let port = p
            .parse("PORT", |v| {
                v.parse::<u16>()
                    .map_err(|_| "expected a port number from 0 to 65535".into())
            })
            .unwrap_or(8080);
        let database_url = p
            .parse("DATABASE_URL", |v| {
                if ["sqlite:", "postgres://", "postgresql://"]
                    .iter()
                    .any(|scheme| v.starts_with(scheme))
                {
                    Ok(v.to_string())
                } else {
                    Err("expected a `sqlite:` or `postgres://` URL".into())
                }
            })
            .unwrap_or_else(|| "sqlite://clerk-graphql.db?mode=rwc".into());
        let database_auto_migrate = p.parse("DATABASE_AUTO_MIGRATE", parse_bool).unwrap_or(true);
        let webhook_retention = parse_webhook_retention(&mut p);

        let clerk = parse_clerk(&mut p);

        let graphql_playground = p
            .parse("GRAPHQL_PLAYGROUND", parse_bool)
            .unwrap_or(!production);
        let graphql_introspection = p
            .parse("GRAPHQL_INTROSPECTION", parse_bool)
            .unwrap_or(!production);
        let graphql_limits = parse_graphql_limits(&mut p);
        let trusted_documents = parse_trusted_documents(&mut p, production);
        let websocket_limits = parse_websocket_limits(&mut p);
        let http_limits = parse_http_limits(&mut p);
        let rate_limits = parse_rate_limits(&mut p);
        let cors_allowed_origins = p
            .parse("CORS_ALLOWED_ORIGINS", |v| {
                let origins = split_list(v, ',');
                match origins.iter().find(|o| !is_origin(o)) {
                    Some(bad) => Err(format!(
                        "`{bad}` is not an origin (scheme://host[:port], no path)"
                    )),
                    None => Ok(origins),
                }
            })
            .unwrap_or_default();
        let cors_allowed_headers = p
            .parse("CORS_ALLOWED_HEADERS", |v| {
                let headers: Vec<String> = split_list(v, ',')
                    .iter()
                    .map(|h| h.to_ascii_lowercase())
                    .collect();
                match headers
                    .iter()
                    .find(|h| axum::http::HeaderName::from_bytes(h.as_bytes()).is_err())
                {
                    Some(bad) => Err(format!("`{bad}` is not a header name")),
                    None => Ok(headers),
                }
            })
            .unwrap_or_else(|| DEFAULT_CORS_HEADERS.iter().map(|h| h.to_string()).collect());
        let log_filter = p.lookup_value("RUST_LOG").unwrap_or_else(|| "info".into());
        let log_format = p
            .parse("LOG_FORMAT", |v| match v.to_ascii_lowercase().as_str() {
                "pretty" => Ok(LogFormat::Pretty),
                "json" => Ok(LogFormat::Json),
                _ => Err("expected `pretty` or `json`".into()),
            })
            .unwrap_or(if production {
                LogFormat::Json
            } else {
                LogFormat::Pretty
            });

        if production && clerk.key_source() == KeySourceKind::None {
            p.problems.push(
                "APP_ENV=production needs a token key source: set CLERK_JWT_KEY (PEM public key, \
                 networkless), CLERK_SECRET_KEY (JWKS from the Backend API), CLERK_JWKS_URL, or \
                 CLERK_PUBLISHABLE_KEY (JWKS from the Frontend API)"
                    .into(),
            );
        }
        if clerk.key_source() != KeySourceKind::None && clerk.issuer.is_none() {
            p.problems.push(
                "tokens are verified against an exact issuer: set CLERK_PUBLISHABLE_KEY (the issuer \
                 is derived from it) or CLERK_ISSUER (e.g. https://your-app.clerk.accounts.dev)"
                    .into(),
            );
        }

        let dev_mode = p.parse("DEV_MODE", parse_bool);
        if production && dev_mode == Some(true) {
            p.problems
                .push("DEV_MODE: dev tokens are never accepted with APP_ENV=production".into());
        }
        let dev_keys_dir = p
            .lookup_value("DEV_KEYS_DIR")
            .unwrap_or_else(|| ".dev".into());
        let dev_keys_dir =
            (!production && dev_mode != Some(false) && clerk.key_source() == KeySourceKind::None)
                .then(|| PathBuf::from(dev_keys_dir));

        if !p.problems.is_empty() {
            return Err(ConfigError(p.problems));
        }
        Ok(Config {
            app_env,
            host,
            port,
            database_url,
            database_auto_migrate,
            webhook_retention,
            clerk,
            graphql_playground,
            graphql_introspection,
            graphql_limits,
            trusted_documents,
            websocket_limits,
            http_limits,
            rate_limits,
            cors_allowed_origins,
            cors_allowed_headers,
            log_filter,
            log_format,
            dev_keys_dir,
        })
    }
}

fn parse_clerk(p: &mut Parser<'_>) -> ClerkConfig {
    let secret_key = p.parse("CLERK_SECRET_KEY", |v| {
        if v.starts_with("sk_") {
            Ok(Secret::new(v))
        } else {
            Err("expected a Clerk secret key starting with `sk_` (Dashboard → API keys)".into())
        }
    });
    let publishable_key = p.parse("CLERK_PUBLISHABLE_KEY", |v| {
        frontend_api_from_publishable_key(v).map(|_| v.to_string())
    });
    let jwt_key_pem = p.parse("CLERK_JWT_KEY", normalise_pem);
    let jwks_url = p.parse("CLERK_JWKS_URL", parse_http_url);
    let explicit_issuer = p.parse("CLERK_ISSUER", parse_http_url);
    let issuer = explicit_issuer.or_else(|| {
        publishable_key.as_deref().map(|pk| {
            let host = frontend_api_from_publishable_key(pk).expect("validated above");
            format!("https://{host}")
        })
    });
    let authorized_parties = p
        .parse("CLERK_AUTHORIZED_PARTIES", |v| {
            let parties = split_list(v, ',');
            match parties.iter().find(|o| !is_origin(o)) {
                Some(bad) => Err(format!(
                    "`{bad}` is not an origin such as https://app.example.com"
                )),
                None => Ok(parties),
            }
        })
        .unwrap_or_default();
    let audience = p
        .parse("CLERK_AUDIENCE", |v| Ok(split_list(v, ',')))
        .unwrap_or_default();
    let api_url = p
        .parse("CLERK_API_URL", parse_http_url)
        .unwrap_or_else(|| "https://api.clerk.com".into());
    let clock_skew = p
        .parse("CLERK_CLOCK_SKEW_SECS", |v| match v.parse::<u64>() {
            Ok(secs) if secs <= 300 => Ok(Duration::from_secs(secs)),
            Ok(_) => Err("at most 300 seconds: a larger leeway extends every token's life".into()),
            Err(_) => Err("expected a whole number of seconds, e.g. 5".into()),
        })
        .unwrap_or(Duration::from_secs(5));
    let max_token_lifetime = p
        .parse("CLERK_MAX_TOKEN_LIFETIME_SECS", |v| {
            match v.parse::<u64>() {
                Ok(secs) if (60..=86_400).contains(&secs) => Ok(Duration::from_secs(secs)),
                _ => Err(
                    "expected 60 to 86400 seconds, e.g. 3600 (Clerk's session tokens live 60 s)"
                        .into(),
                ),
            }
        })
        .unwrap_or(DEFAULT_MAX_TOKEN_LIFETIME);
    let role_claim = p
        .parse("CLERK_ROLE_CLAIM", |v| {
            if v.split('.').any(str::is_empty) {
                Err("expected a dot path such as `metadata.role`".into())
            } else {
                Ok(v.to_string())
            }
        })
        .unwrap_or_else(|| "metadata.role".into());
    let webhook_signing_secrets = p
        .parse("CLERK_WEBHOOK_SIGNING_SECRET", parse_webhook_secrets)
        .or_else(|| p.parse("CLERK_WEBHOOK_SECRET", parse_webhook_secrets))
        .unwrap_or_default();

    ClerkConfig {
        secret_key,
        publishable_key,
        jwt_key_pem,
        jwks_url,
        issuer,
        authorized_parties,
        audience,
        api_url,
        clock_skew,
        max_token_lifetime,
        role_claim,
        webhook_signing_secrets,
        jwks: JwksSettings::default(),
    }
}

fn parse_graphql_limits(p: &mut Parser<'_>) -> GraphqlLimits {
    let defaults = GraphqlLimits::default();
    let mut count = |name: &str, min: usize, max: usize, default: usize, why: &str| {
        p.parse(name, |v| match v.parse::<usize>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            Ok(_) => Err(format!("expected {min} to {max}{why}")),
            Err(_) => Err(format!("expected a whole number, e.g. {default}")),
        })
        .unwrap_or(default)
    };
    let max_recursive_depth = count(
        "GRAPHQL_MAX_RECURSIVE_DEPTH",
        2,
        64,
        defaults.max_recursive_depth,
        " (the parser refuses more than 64 nested selection sets anyway)",
    );
    let max_depth = count("GRAPHQL_MAX_DEPTH", 1, 64, defaults.max_depth, "");
    let max_complexity = count(
        "GRAPHQL_MAX_COMPLEXITY",
        1,
        1_000_000,
        defaults.max_complexity,
        "",
    );
    let max_aliases = count(
        "GRAPHQL_MAX_ALIASES",
        0,
        10_000,
        defaults.max_aliases,
        " (0 refuses every alias)",
    );
    let max_root_fields = count(
        "GRAPHQL_MAX_ROOT_FIELDS",
        1,
        10_000,
        defaults.max_root_fields,
        "",
    );
    let max_tokens = count(
        "GRAPHQL_MAX_TOKENS",
        100,
        1_000_000,
        defaults.max_tokens,
        " (GraphiQL's introspection query needs 181)",
    );
    let max_variable_values = count(
        "GRAPHQL_MAX_VARIABLE_VALUES",
        1,
        10_000_000,
        defaults.max_variable_values,
        "",
    );
    let max_body_bytes = count(
        "GRAPHQL_MAX_BODY_BYTES",
        1024,
        64 * 1024 * 1024,
        defaults.max_body_bytes,
        " bytes (1 KiB to 64 MiB)",
    );
    let timeout_secs = count(
        "GRAPHQL_TIMEOUT_SECS",
        1,
        300,
        defaults.timeout.as_secs() as usize,
        " seconds: a request always has a deadline",
    );
    if max_depth > max_recursive_depth {
        p.problems.push(format!(
            "GRAPHQL_MAX_DEPTH: {max_depth} is above GRAPHQL_MAX_RECURSIVE_DEPTH ({max_recursive_depth}), \
             so queries that deep would be refused by the nesting limit first; raise \
             GRAPHQL_MAX_RECURSIVE_DEPTH too"
        ));
    }
    GraphqlLimits {
        max_depth,
        max_complexity,
        max_recursive_depth,
        max_aliases,
        max_root_fields,
        max_tokens,
        max_variable_values,
        max_body_bytes,
        timeout: Duration::from_secs(timeout_secs as u64),
    }
}

/// The persisted-documents manifest and what happens to documents it does not list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedDocumentsConfig {
    /// `GRAPHQL_TRUSTED_DOCUMENTS`: a JSON manifest, sha256 hex → document text.
    pub manifest: Option<PathBuf>,
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

/// Without a manifest the mode is `off`; with one, `enforce` in production (the point of a
/// safelist) and `log` in development (so that a new operation works before it is listed).
fn parse_trusted_documents(p: &mut Parser<'_>, production: bool) -> TrustedDocumentsConfig {
    let manifest = p
        .lookup_value("GRAPHQL_TRUSTED_DOCUMENTS")
        .map(PathBuf::from);
    let mode = p.parse("GRAPHQL_TRUSTED_DOCUMENTS_MODE", |v| {
        match v.to_ascii_lowercase().as_str() {
            "off" => Ok(TrustedDocumentsMode::Off),
            "log" => Ok(TrustedDocumentsMode::Log),
            "enforce" => Ok(TrustedDocumentsMode::Enforce),
            _ => Err("expected `off`, `log` or `enforce`".into()),
        }
    });
    let mode = match (mode, &manifest) {
        (Some(TrustedDocumentsMode::Enforce), None) => {
            p.problems.push(
                "GRAPHQL_TRUSTED_DOCUMENTS_MODE: `enforce` needs the manifest of the documents to \
                 allow: set GRAPHQL_TRUSTED_DOCUMENTS (e.g. the persisted-documents.json the \
                 TypeScript codegen writes)"
                    .into(),
            );
            TrustedDocumentsMode::Off
        }
        (Some(mode), _) => mode,
        (None, None) => TrustedDocumentsMode::Off,
        (None, Some(_)) if production => TrustedDocumentsMode::Enforce,
        (None, Some(_)) => TrustedDocumentsMode::Log,
    };
    TrustedDocumentsConfig { manifest, mode }
}

fn parse_http_limits(p: &mut Parser<'_>) -> HttpLimits {
    let defaults = HttpLimits::default();
    let header_read_timeout = p
        .parse("HTTP_HEADER_READ_TIMEOUT_SECS", |v| {
            match v.parse::<u64>() {
                Ok(secs) if (1..=3600).contains(&secs) => Ok(Duration::from_secs(secs)),
                _ => Err("expected 1 to 3600 seconds, e.g. 10".into()),
            }
        })
        .unwrap_or(defaults.header_read_timeout);
    let mut count = |name: &str, default: usize| {
        p.parse(name, |v| match v.parse::<usize>() {
            Ok(n) if (1..=1_000_000).contains(&n) => Ok(n),
            _ => Err(format!(
                "expected a whole number from 1 to 1000000, e.g. {default}"
            )),
        })
        .unwrap_or(default)
    };
    let max_connections = count("HTTP_MAX_CONNECTIONS", defaults.max_connections);
    let max_connections_per_ip = count(
        "HTTP_MAX_CONNECTIONS_PER_IP",
        (max_connections / 4).clamp(1, 512),
    );
    HttpLimits {
        header_read_timeout,
        max_connections_per_ip,
        max_connections,
    }
}

fn parse_websocket_limits(p: &mut Parser<'_>) -> WebSocketLimits {
    let defaults = WebSocketLimits::default();
    let mut count = |name: &str, max: usize, default: usize| {
        p.parse(name, |v| match v.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(format!(
                "expected a whole number from 1 to {max}, e.g. {default}"
            )),
        })
        .unwrap_or(default)
    };
    WebSocketLimits {
        max_subscriptions: count("WS_MAX_SUBSCRIPTIONS", 10_000, defaults.max_subscriptions),
        max_connections_per_ip: count(
            "WS_MAX_CONNECTIONS_PER_IP",
            1_000_000,
            defaults.max_connections_per_ip,
        ),
        max_connections: count("WS_MAX_CONNECTIONS", 1_000_000, defaults.max_connections),
    }
}

fn parse_webhook_retention(p: &mut Parser<'_>) -> RetentionSettings {
    let defaults = RetentionSettings::default();
    let default_days = defaults.keep.as_secs() / 86_400;
    let days = p
        .parse("WEBHOOK_EVENTS_RETENTION_DAYS", |v| {
            match v.parse::<u64>() {
                Ok(days) if (2..=3650).contains(&days) => Ok(days),
                _ => Err(format!(
                    "expected a number of days from 2 to 3650, e.g. {default_days} (Svix \
                     retries a delivery for about 28 hours: a shorter retention forgets \
                     deliveries it may still receive)"
                )),
            }
        })
        .unwrap_or(default_days);
    RetentionSettings {
        keep: Duration::from_secs(days * 86_400),
        ..defaults
    }
}

fn parse_rate_limits(p: &mut Parser<'_>) -> RateLimitConfig {
    let defaults = RateLimitConfig::default();
    let enabled = p
        .parse("RATE_LIMIT_ENABLED", parse_bool)
        .unwrap_or(defaults.enabled);
    let mut per_minute = |name: &str, default: u32| {
        p.parse(name, |v| match v.parse::<u32>() {
            Ok(n) if n <= 1_000_000_000 => Ok(n),
            _ => Err(format!(
                "expected a number of requests per minute from 0 (no limit) to 1000000000, e.g. {default}"
            )),
        })
        .unwrap_or(default)
    };
    let ip_per_minute = per_minute("RATE_LIMIT_IP_PER_MINUTE", defaults.ip_per_minute);
    let user_per_minute = per_minute("RATE_LIMIT_USER_PER_MINUTE", defaults.user_per_minute);
    let webhook_per_minute =
        per_minute("WEBHOOK_RATE_LIMIT_PER_MINUTE", defaults.webhook_per_minute);
    let auth_failures_per_minute = p
        .parse("AUTH_FAILURES_PER_MINUTE", |v| match v.parse::<u32>() {
            Ok(n) if n <= 10_000 => Ok(n),
            _ => Err(format!(
                "expected a number of invalid tokens per minute from 0 (no lockout) to 10000, e.g. {}",
                defaults.auth_failures_per_minute
            )),
        })
        .unwrap_or(defaults.auth_failures_per_minute);
    let mut seconds = |name: &str, default: Duration| {
        p.parse(name, |v| match v.parse::<u64>() {
            Ok(secs) if (1..=86_400).contains(&secs) => Ok(Duration::from_secs(secs)),
            _ => Err(format!(
                "expected a number of seconds from 1 to 86400, e.g. {}",
                default.as_secs()
            )),
        })
        .unwrap_or(default)
    };
    let lockout = seconds("AUTH_LOCKOUT_SECS", defaults.lockout);
    let lockout_max = seconds("AUTH_LOCKOUT_MAX_SECS", defaults.lockout_max);
    if lockout_max < lockout {
        p.problems.push(format!(
            "AUTH_LOCKOUT_MAX_SECS: {} is below AUTH_LOCKOUT_SECS ({}); the longest lockout cannot \
             be shorter than the first one",
            lockout_max.as_secs(),
            lockout.as_secs()
        ));
    }
    let trusted_proxies = p
        .parse("TRUSTED_PROXIES", |v| {
            crate::net::TrustedProxies::parse(v).map_err(|why| {
                format!("{why} (expected comma-separated addresses or CIDR ranges of your proxies)")
            })
        })
        .unwrap_or_default();
    RateLimitConfig {
        enabled,
        ip_per_minute,
        user_per_minute,
        webhook_per_minute,
        auth_failures_per_minute,
        lockout,
        lockout_max,
        trusted_proxies,
    }
}

struct Parser<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<String>,
}

impl Parser<'_> {
    fn lookup_value(&self, name: &str) -> Option<String> {
        (self.lookup)(name).map(|v| v.trim().to_string())
    }

    /// Parses `name` when set; a parse failure is recorded as a problem naming the variable.
    fn parse<T>(&mut self, name: &str, f: impl FnOnce(&str) -> Result<T, String>) -> Option<T> {
        let value = self.lookup_value(name)?;
        match f(&value) {
            Ok(parsed) => Some(parsed),
            Err(why) => {
                self.problems.push(format!("{name}: {why}"));
                None
            }
        }
    }
}

fn parse_bool(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

/// What browsers' GraphQL clients send besides the body: credentials and content type, tracing
/// (W3C, Sentry), Apollo's client identification, and our request id.
pub const DEFAULT_CORS_HEADERS: &[&str] = &[
    "authorization",
    "content-type",
    "accept",
    "x-request-id",
    "traceparent",
    "tracestate",
    "baggage",
    "sentry-trace",
    "apollographql-client-name",
    "apollographql-client-version",
    "apollo-require-preflight",
    "x-apollo-operation-name",
];

fn split_list(v: &str, separator: char) -> Vec<String> {
    v.split(separator)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn parse_http_url(v: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(v).map_err(|e| format!("not a URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("expected an http:// or https:// URL".into());
    }
    Ok(v.trim_end_matches('/').to_string())
}

fn is_origin(v: &str) -> bool {
    reqwest::Url::parse(v).is_ok_and(|url| {
        matches!(url.scheme(), "http" | "https")
            && url.host_str().is_some()
            && url.path() == "/"
            && !v.ends_with('/')
    })
}

/// `pk_test_` / `pk_live_` + base64(`<frontend-api-host>$`), padded or not (Clerk's own parser
/// accepts both). Whatever is wrong, the fix is the same, so every error says where to find the
/// key: a truncated or mistyped copy is the usual cause.
pub fn frontend_api_from_publishable_key(key: &str) -> Result<String, String> {
    decode_publishable_key(key)
        .map_err(|why| format!("{why}: copy it again from the Clerk dashboard (API keys)"))
}

fn decode_publishable_key(key: &str) -> Result<String, String> {
    let encoded = key
        .strip_prefix("pk_test_")
        .or_else(|| key.strip_prefix("pk_live_"))
        .ok_or("expected a key starting with `pk_test_` or `pk_live_`")?;
    let decoded = STANDARD
        .decode(encoded)
        .or_else(|_| STANDARD_NO_PAD.decode(encoded))
        .map_err(|_| "the part after `pk_test_`/`pk_live_` is not base64")?;
    let text = String::from_utf8(decoded).map_err(|_| "does not decode to text")?;
    let host = text
        .strip_suffix('$')
        .filter(|host| !host.contains('$') && host.contains('.'))
        .ok_or("does not decode to `<frontend-api-host>$`")?;
    if host.contains(['/', ' ', ':']) {
        return Err("decodes to something that is not a host name".into());
    }
    Ok(host.to_string())
}

/// Accepts a PEM public key with or without its BEGIN/END lines, with real or `\n`-escaped
/// newlines (the usual shape in `.env` files), and checks it parses as an RSA public key.
fn normalise_pem(v: &str) -> Result<String, String> {
    let v = v.replace("\\n", "\n");
    let body: String = v
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with("-----"))
        .collect();
    let der = STANDARD
        .decode(&body)
        .map_err(|_| "not a PEM public key: the body is not base64")?;
    if der.is_empty() {
        return Err("empty key".into());
    }
    let wrapped: Vec<String> = body
        .as_bytes()
        .chunks(64)
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect();
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        wrapped.join("\n")
    );
    DecodingKey::from_rsa_pem(pem.as_bytes())
        .map_err(|e| format!("not an RSA public key in PEM (SPKI) form ({e})"))?;
    Ok(pem)
}

fn parse_webhook_secrets(v: &str) -> Result<Vec<Secret>, String> {
    split_list(v, ' ')
        .into_iter()
        .map(|secret| {
            let encoded = secret.strip_prefix("whsec_").ok_or(
                "each secret must start with `whsec_` (Dashboard → Webhooks → Signing Secret)",
            )?;
            STANDARD
                .decode(encoded)
                .map_err(|_| "the part after `whsec_` is not base64")?;
            Ok(Secret::new(secret))
        })
        .collect()
}

/// When and how much the webhook-delivery clean-up (`webhooks::Retention`) deletes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionSettings {
    /// `WEBHOOK_EVENTS_RETENTION_DAYS`: rows received longer ago than this are deleted.
    pub keep: Duration,
    /// The rest are not environment variables; tests shorten them. The first run comes shortly
    /// after start-up, once migrations and the key set are done with, so that a server restarted
    /// more often than hourly still cleans up.
    pub first_run_after: Duration,
    /// Between two runs.
    pub interval: Duration,
    /// Rows per `DELETE` statement.
    pub batch_size: u64,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            keep: Duration::from_secs(7 * 24 * 3600),
            first_run_after: Duration::from_secs(60),
            interval: Duration::from_secs(3600),
            batch_size: 1000,
        }
    }
}

/// `CLERK_MAX_TOKEN_LIFETIME_SECS` by default: an hour. Clerk's session tokens live 60 s, dev
/// tokens an hour.
pub const DEFAULT_MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn empty_environment_is_a_working_development_setup() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.app_env, AppEnv::Development);
        assert_eq!(config.port, 8080);
        assert_eq!(config.database_url, "sqlite://clerk-graphql.db?mode=rwc");
        assert!(config.graphql_playground && config.graphql_introspection);
        assert_eq!(config.clerk.key_source(), KeySourceKind::None);
        assert_eq!(config.clerk.clock_skew, Duration::from_secs(5));
    }

    #[test]
    fn publishable_key_gives_the_issuer_and_frontend_jwks() {
        let config = parse(&[(
            "CLERK_PUBLISHABLE_KEY",
            "pk_test_Zm9vLWJhci0xMy5jbGVyay5hY2NvdW50cy5kZXYk",
        )])
        .unwrap();
        assert_eq!(
            config.clerk.issuer.as_deref(),
            Some("https://foo-bar-13.clerk.accounts.dev")
        );
        assert_eq!(
            config.clerk.key_source(),
            KeySourceKind::Jwks {
                url: "https://foo-bar-13.clerk.accounts.dev/.well-known/jwks.json".into(),
                authenticated: false
            }
        );
        // Padded form decodes too.
        assert_eq!(
            frontend_api_from_publishable_key("pk_test_Y2xlcmsuY2xlcmsuZGV2JA==").unwrap(),
            "clerk.clerk.dev"
        );
    }

    #[test]
    fn a_bad_publishable_key_says_where_to_copy_it_from() {
        for (key, problem) in [
            (
                "pk_test_garbage",
                "the part after `pk_test_`/`pk_live_` is not base64",
            ),
            (
                "garbage",
                "expected a key starting with `pk_test_` or `pk_live_`",
            ),
            (
                "pk_test_bm90LWEtaG9zdA", // "not-a-host"
                "does not decode to `<frontend-api-host>$`",
            ),
        ] {
            let err = parse(&[("CLERK_PUBLISHABLE_KEY", key)])
                .unwrap_err()
                .to_string();
            let expected = format!(
                "CLERK_PUBLISHABLE_KEY: {problem}: copy it again from the Clerk dashboard (API keys)"
            );
            assert!(err.contains(&expected), "{key}: {err}");
        }
    }

    #[test]
    fn each_bad_value_is_reported_with_its_variable() {
        let err = parse(&[
            ("CLERK_PUBLISHABLE_KEY", "pk_test_bm90LWEtaG9zdA"),
            ("CLERK_CLOCK_SKEW_SECS", "five"),
            ("CLERK_JWT_KEY", "not a pem"),
            ("PORT", "http"),
            ("CLERK_SECRET_KEY", "pk_oops"),
        ])
        .unwrap_err();
        let text = err.to_string();
        for variable in [
            "CLERK_PUBLISHABLE_KEY:",
            "CLERK_CLOCK_SKEW_SECS:",
            "CLERK_JWT_KEY:",
            "PORT:",
            "CLERK_SECRET_KEY:",
        ] {
            assert!(text.contains(variable), "{variable} missing from {text}");
        }
    }

    #[test]
    fn production_without_a_key_source_refuses_naming_the_variables() {
        let err = parse(&[("APP_ENV", "production")]).unwrap_err().to_string();
        assert!(err.contains("CLERK_JWT_KEY") && err.contains("CLERK_SECRET_KEY"));
        let config = parse(&[
            ("APP_ENV", "production"),
            ("CLERK_SECRET_KEY", "sk_test_x"),
            ("CLERK_ISSUER", "https://clerk.example.com"),
        ])
        .unwrap();
        assert!(!config.graphql_playground && !config.graphql_introspection);
        assert_eq!(config.log_format, LogFormat::Json);
    }

    #[test]
    fn trusted_documents_default_by_environment_and_refuse_enforce_without_a_manifest() {
        let trusted = |vars: &[(&str, &str)]| parse(vars).unwrap().trusted_documents;
        let production = [
            ("APP_ENV", "production"),
            ("CLERK_SECRET_KEY", "sk_test_x"),
            ("CLERK_ISSUER", "https://clerk.example.com"),
        ];
        let manifest = (
            "GRAPHQL_TRUSTED_DOCUMENTS",
            "clients/persisted-documents.json",
        );
        assert_eq!(
            trusted(&[]),
            TrustedDocumentsConfig {
                manifest: None,
                mode: TrustedDocumentsMode::Off
            }
        );
        assert_eq!(trusted(&production).mode, TrustedDocumentsMode::Off);
        assert_eq!(trusted(&[manifest]).mode, TrustedDocumentsMode::Log);
        let with_manifest = trusted(&[production.as_slice(), &[manifest]].concat());
        assert_eq!(with_manifest.mode, TrustedDocumentsMode::Enforce);
        assert_eq!(
            with_manifest.manifest.as_deref(),
            Some(std::path::Path::new("clients/persisted-documents.json"))
        );
        let off = trusted(&[manifest, ("GRAPHQL_TRUSTED_DOCUMENTS_MODE", "OFF")]);
        assert_eq!(off.mode, TrustedDocumentsMode::Off);
        assert_eq!(
            trusted(&[("GRAPHQL_TRUSTED_DOCUMENTS_MODE", "log")]).mode,
            TrustedDocumentsMode::Log
        );

        let err = parse(&[("GRAPHQL_TRUSTED_DOCUMENTS_MODE", "enforce")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("GRAPHQL_TRUSTED_DOCUMENTS_MODE: `enforce` needs")
                && err.contains("set GRAPHQL_TRUSTED_DOCUMENTS"),
            "{err}"
        );
        let err = parse(&[manifest, ("GRAPHQL_TRUSTED_DOCUMENTS_MODE", "strict")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("GRAPHQL_TRUSTED_DOCUMENTS_MODE: expected `off`, `log` or `enforce`"),
            "{err}"
        );
    }

    #[test]
    fn a_key_source_without_an_issuer_is_refused() {
        let err = parse(&[("CLERK_SECRET_KEY", "sk_test_x")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("CLERK_ISSUER"), "{err}");
    }

    #[test]
    fn graphql_limits_have_defaults_overrides_and_actionable_errors() {
        assert_eq!(parse(&[]).unwrap().graphql_limits, GraphqlLimits::default());
        let config = parse(&[
            ("GRAPHQL_MAX_DEPTH", "8"),
            ("GRAPHQL_MAX_COMPLEXITY", "250"),
            ("GRAPHQL_MAX_ALIASES", "0"),
            ("GRAPHQL_MAX_BODY_BYTES", "65536"),
            ("GRAPHQL_TIMEOUT_SECS", "3"),
        ])
        .unwrap();
        let limits = config.graphql_limits;
        assert_eq!(
            (limits.max_depth, limits.max_complexity, limits.max_aliases),
            (8, 250, 0)
        );
        assert_eq!(limits.max_body_bytes, 65536);
        assert_eq!(limits.timeout, Duration::from_secs(3));

        let err = parse(&[
            ("GRAPHQL_MAX_DEPTH", "deep"),
            ("GRAPHQL_MAX_COMPLEXITY", "0"),
            ("GRAPHQL_MAX_RECURSIVE_DEPTH", "1000"),
            ("GRAPHQL_MAX_ROOT_FIELDS", "-1"),
            ("GRAPHQL_MAX_BODY_BYTES", "10"),
            ("GRAPHQL_TIMEOUT_SECS", "0"),
        ])
        .unwrap_err()
        .to_string();
        for variable in [
            "GRAPHQL_MAX_DEPTH: expected a whole number",
            "GRAPHQL_MAX_COMPLEXITY: expected 1 to",
            "GRAPHQL_MAX_RECURSIVE_DEPTH: expected 2 to 64",
            "GRAPHQL_MAX_ROOT_FIELDS:",
            "GRAPHQL_MAX_BODY_BYTES: expected 1024 to",
            "GRAPHQL_TIMEOUT_SECS: expected 1 to 300",
        ] {
            assert!(err.contains(variable), "{variable} missing from {err}");
        }
        let err = parse(&[("GRAPHQL_MAX_DEPTH", "40")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("GRAPHQL_MAX_RECURSIVE_DEPTH"), "{err}");
    }

    #[test]
    fn token_and_variable_limits_have_defaults_overrides_and_actionable_errors() {
        let defaults = parse(&[]).unwrap().graphql_limits;
        assert_eq!(
            (defaults.max_tokens, defaults.max_variable_values),
            (1000, 10_000)
        );
        let limits = parse(&[
            ("GRAPHQL_MAX_TOKENS", "5000"),
            ("GRAPHQL_MAX_VARIABLE_VALUES", "20"),
        ])
        .unwrap()
        .graphql_limits;
        assert_eq!((limits.max_tokens, limits.max_variable_values), (5000, 20));
        let err = parse(&[
            ("GRAPHQL_MAX_TOKENS", "99"),
            ("GRAPHQL_MAX_VARIABLE_VALUES", "0"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("GRAPHQL_MAX_TOKENS: expected 100 to"), "{err}");
        assert!(err.contains("introspection query needs 181"), "{err}");
        assert!(
            err.contains("GRAPHQL_MAX_VARIABLE_VALUES: expected 1 to"),
            "{err}"
        );
    }

    #[test]
    fn webhook_retention_has_a_default_an_override_and_a_floor() {
        let defaults = parse(&[]).unwrap().webhook_retention;
        assert_eq!(defaults, RetentionSettings::default());
        assert_eq!(defaults.keep, Duration::from_secs(7 * 86_400));
        let config = parse(&[("WEBHOOK_EVENTS_RETENTION_DAYS", "30")]).unwrap();
        assert_eq!(
            config.webhook_retention.keep,
            Duration::from_secs(30 * 86_400)
        );
        for bad in ["1", "0", "-3", "a week", "3651"] {
            let err = parse(&[("WEBHOOK_EVENTS_RETENTION_DAYS", bad)])
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("WEBHOOK_EVENTS_RETENTION_DAYS: expected a number of days from 2"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn rate_limits_have_defaults_overrides_and_actionable_errors() {
        let defaults = parse(&[]).unwrap().rate_limits;
        assert_eq!(defaults, RateLimitConfig::default());
        assert!(defaults.enabled && defaults.trusted_proxies.is_empty());
        assert_eq!(
            (
                defaults.ip_per_minute,
                defaults.user_per_minute,
                defaults.webhook_per_minute,
                defaults.auth_failures_per_minute
            ),
            (1200, 300, 600, 20)
        );
        assert_eq!(
            (defaults.lockout.as_secs(), defaults.lockout_max.as_secs()),
            (60, 900)
        );

        let config = parse(&[
            ("RATE_LIMIT_ENABLED", "false"),
            ("RATE_LIMIT_IP_PER_MINUTE", "5"),
            ("RATE_LIMIT_USER_PER_MINUTE", "0"),
            ("WEBHOOK_RATE_LIMIT_PER_MINUTE", "7"),
            ("AUTH_FAILURES_PER_MINUTE", "3"),
            ("AUTH_LOCKOUT_SECS", "10"),
            ("AUTH_LOCKOUT_MAX_SECS", "10"),
            ("TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8 ,fd00::/8"),
        ])
        .unwrap();
        let limits = config.rate_limits;
        assert!(!limits.enabled);
        assert_eq!(
            (
                limits.ip_per_minute,
                limits.user_per_minute,
                limits.webhook_per_minute,
                limits.auth_failures_per_minute
            ),
            (5, 0, 7, 3)
        );
        assert_eq!(limits.lockout, Duration::from_secs(10));
        assert_eq!(
            limits.trusted_proxies.to_string(),
            "127.0.0.1, 10.0.0.0/8, fd00::/8"
        );

        let err = parse(&[
            ("RATE_LIMIT_ENABLED", "sometimes"),
            ("RATE_LIMIT_IP_PER_MINUTE", "lots"),
            ("RATE_LIMIT_USER_PER_MINUTE", "-1"),
            ("WEBHOOK_RATE_LIMIT_PER_MINUTE", "2000000000"),
            ("AUTH_FAILURES_PER_MINUTE", "1e3"),
            ("AUTH_LOCKOUT_SECS", "0"),
            ("TRUSTED_PROXIES", "10.0.0.1/8, proxy.internal"),
        ])
        .unwrap_err()
        .to_string();
        for expected in [
            "RATE_LIMIT_ENABLED: expected true or false",
            "RATE_LIMIT_IP_PER_MINUTE: expected a number of requests per minute from 0 (no limit)",
            "RATE_LIMIT_USER_PER_MINUTE: expected",
            "WEBHOOK_RATE_LIMIT_PER_MINUTE: expected",
            "AUTH_FAILURES_PER_MINUTE: expected a number of invalid tokens per minute",
            "AUTH_LOCKOUT_SECS: expected a number of seconds from 1 to 86400",
            "TRUSTED_PROXIES: `10.0.0.1/8` has bits set after the /8 prefix; did you mean `10.0.0.0/8`?",
            "`proxy.internal` is not an IP address",
        ] {
            assert!(err.contains(expected), "{expected} missing from {err}");
        }
        let err = parse(&[
            ("AUTH_LOCKOUT_SECS", "600"),
            ("AUTH_LOCKOUT_MAX_SECS", "300"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("AUTH_LOCKOUT_MAX_SECS: 300 is below AUTH_LOCKOUT_SECS (600)"),
            "{err}"
        );
        let err = parse(&[("TRUSTED_PROXIES", "0.0.0.0/0")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("trusts every address"), "{err}");
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let config = parse(&[
            ("CLERK_SECRET_KEY", "sk_test_supersecretvalue"),
            ("CLERK_ISSUER", "https://clerk.example.com"),
            (
                "CLERK_WEBHOOK_SIGNING_SECRET",
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            ),
        ])
        .unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("supersecretvalue"));
        assert!(!debug.contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
    }

    #[test]
    fn pem_with_or_without_armour_and_escaped_newlines() {
        let body = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu0tNUitBZmcGYMWcqvaRBaJe0XmTQ738RHYoHjhYANyeOkysuu4L/Rqr+fmTXsbebrTp7/OewIqsJXImEWB/WQ3HN9lAkOMCCGDU1udsz/sl1Kwy5JZ7x8Nr4ghXJagQzEF0Ovsj7/TPsBJGkVJ+OiZsTXCe7EAmG5gNGGPBE5Gu14Rwb+eZ5r9RCAaPfhxR1yHYTAvCrku/6i2os7RLpT6UockKtX4QQSH2CMveNwqd6LdwhV8USZrczB2VYkAImngJC745+EWek1sVExYkqheGvC3J8O7D9H4JtaKD2zaq0rJzsIU0zb/wwax5+La+uRuPYvTXlO8B8IK4jjNMCQIDAQAB";
        let bare = normalise_pem(body).unwrap();
        let armoured = normalise_pem(&format!(
            "-----BEGIN PUBLIC KEY-----\\n{body}\\n-----END PUBLIC KEY-----"
        ))
        .unwrap();
        assert_eq!(bare, armoured);
    }
}
