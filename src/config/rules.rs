//! What spans several variables: defaults that follow `APP_ENV` or another variable, the issuer
//! derived from the publishable key, and the checks no single value can fail.

use std::path::PathBuf;

use super::limits::CONNECTIONS;
use super::values;
use super::{
    AppEnv, Config, KeySourceKind, LogFormat, Secret, TokenKind, TrustedDocumentsMode,
    frontend_api_from_publishable_key,
};

/// The configuration's variables: those `Config` keeps as they are, and those these rules read.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: Config,
    /// Serve GraphiQL on `GET /graphql` [default: on in development, off in production].
    #[arg(long, env = "GRAPHQL_PLAYGROUND", value_parser = values::boolean)]
    graphql_playground: Option<bool>,
    /// Answer introspection queries [default: on in development, off in production].
    #[arg(long, env = "GRAPHQL_INTROSPECTION", value_parser = values::boolean)]
    graphql_introspection: Option<bool>,
    /// `pretty` or `json` [default: json in production, pretty in development].
    #[arg(long, env = "LOG_FORMAT", value_parser = values::log_format)]
    log_format: Option<LogFormat>,
    /// What a document GRAPHQL_TRUSTED_DOCUMENTS does not list gets: `off`, `log` or `enforce`
    /// [default: with a manifest, enforce in production and log in development; else off].
    #[arg(long, env = "GRAPHQL_TRUSTED_DOCUMENTS_MODE", value_parser = values::trusted_documents_mode)]
    trusted_documents_mode: Option<TrustedDocumentsMode>,
    /// With no Clerk key source, accept tokens of a local dev key pair [default: true in
    /// development]; an error in production.
    #[arg(long, env = "DEV_MODE", value_parser = values::boolean)]
    dev_mode: Option<bool>,
    /// Where the dev key pair is generated.
    #[arg(long, env = "DEV_KEYS_DIR", default_value = ".dev")]
    dev_keys_dir: PathBuf,
    /// Open connections per socket peer, IPv6 per /64 [default: a quarter of
    /// HTTP_MAX_CONNECTIONS, at most 512].
    #[arg(long = "http-max-connections-per-ip", env = "HTTP_MAX_CONNECTIONS_PER_IP",
        value_parser = CONNECTIONS)]
    http_max_connections_per_ip: Option<usize>,
    /// Read when CLERK_WEBHOOK_SIGNING_SECRET is not set.
    #[arg(long, env = "CLERK_WEBHOOK_SECRET", hide = true, value_parser = values::webhook_secrets)]
    webhook_secret_alias: Option<std::vec::Vec<Secret>>,
}

/// The configuration `args` describe; each rule broken adds a line to `problems`.
pub fn apply(args: Args, problems: &mut Vec<String>) -> Config {
    let mut config = args.config;
    let production = config.app_env == AppEnv::Production;
    let clerk = &mut config.clerk;
    if clerk.issuer.is_none() {
        // A bad publishable key is already a problem of its own.
        clerk.issuer = clerk.publishable_key.as_deref().and_then(|key| {
            let host = frontend_api_from_publishable_key(key).ok()?;
            Some(format!("https://{host}"))
        });
    }
    if clerk.webhook_signing_secrets.is_empty() {
        clerk.webhook_signing_secrets = args.webhook_secret_alias.unwrap_or_default();
    }
    let key_source = clerk.key_source();
    if production && key_source == KeySourceKind::None {
        problems.push(
            "APP_ENV=production needs a token key source: set CLERK_JWT_KEY (PEM public key, \
             networkless), CLERK_SECRET_KEY (JWKS from the Backend API), CLERK_JWKS_URL, or \
             CLERK_PUBLISHABLE_KEY (JWKS from the Frontend API)"
                .into(),
        );
    }
    if key_source != KeySourceKind::None && clerk.issuer.is_none() {
        problems.push(
            "tokens are verified against an exact issuer: set CLERK_PUBLISHABLE_KEY (the issuer \
             is derived from it) or CLERK_ISSUER (e.g. https://your-app.clerk.accounts.dev)"
                .into(),
        );
    }
    // Opaque API keys can only be verified by asking Clerk. (M2M and OAuth tokens may be JWTs,
    // verified with the keys, so they need no secret of their own.)
    if clerk.accepted_tokens.accepts(TokenKind::ApiKey) && clerk.secret_key.is_none() {
        problems.push(
            "CLERK_ACCEPTED_TOKENS: API keys are verified by Clerk's Backend API: set \
             CLERK_SECRET_KEY, or remove api_key"
                .into(),
        );
    }
    if production && args.dev_mode == Some(true) {
        problems.push("DEV_MODE: dev tokens are never accepted with APP_ENV=production".into());
    }
    let dev_mode = !production && args.dev_mode != Some(false) && key_source == KeySourceKind::None;
    config.dev_keys_dir = dev_mode.then_some(args.dev_keys_dir);

    let limits = &config.graphql_limits;
    if limits.max_depth > limits.max_recursive_depth {
        problems.push(format!(
            "GRAPHQL_MAX_DEPTH: {} is above GRAPHQL_MAX_RECURSIVE_DEPTH ({}), so queries that deep \
             would be refused by the nesting limit first; raise GRAPHQL_MAX_RECURSIVE_DEPTH too",
            limits.max_depth, limits.max_recursive_depth
        ));
    }
    let rate_limits = &config.rate_limits;
    if rate_limits.lockout_max < rate_limits.lockout {
        problems.push(format!(
            "AUTH_LOCKOUT_MAX_SECS: {} is below AUTH_LOCKOUT_SECS ({}); the longest lockout cannot \
             be shorter than the first one",
            rate_limits.lockout_max.as_secs(),
            rate_limits.lockout.as_secs()
        ));
    }

    // Metrics on the public listener would publish the server's inner counts to every client.
    if let Some(metrics) = config.metrics_addr.0
        && config.port != 0
        && metrics.port() == config.port
        && (metrics.ip() == config.host
            || metrics.ip().is_unspecified()
            || config.host.is_unspecified())
    {
        problems.push(format!(
            "METRICS_ADDR: {metrics} is the public listener (HOST, PORT); metrics get a listener of \
             their own, e.g. 127.0.0.1:9464, or `off`"
        ));
    }

    // Without a manifest nothing is listed; with one, `enforce` in production (the point of a
    // safelist) and `log` in development (so that a new operation works before it is listed).
    let trusted = &mut config.trusted_documents;
    trusted.mode = match (args.trusted_documents_mode, &trusted.manifest) {
        (Some(TrustedDocumentsMode::Enforce), None) => {
            problems.push(
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

    // One address gets at most a quarter, so that one client cannot hold every place; browsers
    // open up to 6 connections to a host: room for an office behind one address.
    let http = &mut config.http_limits;
    http.max_connections_per_ip = args
        .http_max_connections_per_ip
        .unwrap_or((http.max_connections / 4).clamp(1, 512));
    config.graphql_playground = args.graphql_playground.unwrap_or(!production);
    config.graphql_introspection = args.graphql_introspection.unwrap_or(!production);
    config.traces.check(production, problems);
    config.log_format = args.log_format.unwrap_or(if production {
        LogFormat::Json
    } else {
        LogFormat::Pretty
    });
    config
}
