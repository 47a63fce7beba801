//! What spans several variables: defaults that follow `APP_ENV` or another variable, the issuer
//! derived from the publishable key, and the checks no single value can fail.

use super::args::Args;
use super::limits::{HttpLimits, max_connections_for_descriptors};
use super::{AppEnv, Config, KeySourceKind, LogFormat, frontend_api_from_publishable_key};

/// The configuration `args` describe; each rule broken adds a line to `problems`.
pub fn apply(args: Args, problems: &mut Vec<String>) -> Config {
    let production = args.app_env == AppEnv::Production;
    let mut clerk = args.clerk;
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
    if production && args.dev_mode == Some(true) {
        problems.push("DEV_MODE: dev tokens are never accepted with APP_ENV=production".into());
    }
    let dev_mode = !production && args.dev_mode != Some(false) && key_source == KeySourceKind::None;

    let limits = &args.graphql_limits;
    if limits.max_depth > limits.max_recursive_depth {
        problems.push(format!(
            "GRAPHQL_MAX_DEPTH: {} is above GRAPHQL_MAX_RECURSIVE_DEPTH ({}), so queries that deep \
             would be refused by the nesting limit first; raise GRAPHQL_MAX_RECURSIVE_DEPTH too",
            limits.max_depth, limits.max_recursive_depth
        ));
    }
    let rate_limits = &args.rate_limits;
    if rate_limits.lockout_max < rate_limits.lockout {
        problems.push(format!(
            "AUTH_LOCKOUT_MAX_SECS: {} is below AUTH_LOCKOUT_SECS ({}); the longest lockout cannot \
             be shorter than the first one",
            rate_limits.lockout_max.as_secs(),
            rate_limits.lockout.as_secs()
        ));
    }

    let max_connections = args
        .http_max_connections
        .unwrap_or_else(max_connections_for_descriptors);
    Config {
        app_env: args.app_env,
        host: args.host,
        port: args.port,
        database_url: args.database_url,
        database_auto_migrate: args.database_auto_migrate,
        webhook_retention: args.webhook_retention,
        clerk,
        graphql_playground: args.graphql_playground.unwrap_or(!production),
        graphql_introspection: args.graphql_introspection.unwrap_or(!production),
        graphql_limits: args.graphql_limits,
        websocket_limits: args.websocket_limits,
        http_limits: HttpLimits {
            header_read_timeout: args.http_header_read_timeout,
            // One address gets at most a quarter, so that one client cannot hold every place;
            // browsers open up to 6 connections to a host: room for an office behind one address.
            max_connections_per_ip: args
                .http_max_connections_per_ip
                .unwrap_or((max_connections / 4).clamp(1, 512)),
            max_connections,
        },
        rate_limits: args.rate_limits,
        cors_allowed_origins: args.cors_allowed_origins,
        cors_allowed_headers: args.cors_allowed_headers,
        log_filter: args.log_filter,
        log_format: args.log_format.unwrap_or(if production {
            LogFormat::Json
        } else {
            LogFormat::Pretty
        }),
        dev_keys_dir: dev_mode.then_some(args.dev_keys_dir),
    }
}
