//! Start-up: `Application::build` connects the database, Redis and the key source, builds the
//! schema, loads the trusted documents manifest, assembles the router and binds the listener.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;

use super::connections::Connections;
use super::reload::ManifestReload;
use super::router::router;
use super::scrape::{MetricsListener, Sampled};
use super::{AppState, Application, BuildOptions};
use crate::api_keys::ApiKeyManagement;
use crate::auth::clock::Clock;
use crate::auth::dev_keys::{DEV_ISSUER, DevKeys, DevToken};
use crate::auth::keys::KeySource;
use crate::auth::machine_tokens::{MachineTokenSettings, MachineTokens};
use crate::auth::revocation::Revocations;
use crate::auth::token::TokenSource;
use crate::auth::verifier::ClaimRules;
use crate::auth::{AuthFailure, Verifier};
use crate::clerk::{ClerkClient, ClerkClientSettings, UserCache, UserCacheSettings};
use crate::config::Config;
use crate::db;
use crate::graphql::broadcast::Relay;
use crate::graphql::trusted_documents::TrustedDocuments;
use crate::http::authentication::Authenticator;
use crate::playground::DevTokenMinter;
use crate::rate_limit::{Limit, RateLimiter};
use crate::schema::{SchemaOptions, build_schema};
use crate::shared::SharedRedis;
use crate::users::UserEvents;
use crate::webhooks::{Retention, SigningKeys, WebhookRefusal, WebhookState};

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with(config, BuildOptions::default()).await
    }

    pub async fn build_with(config: Config, options: BuildOptions) -> anyhow::Result<Self> {
        let BuildOptions {
            clock,
            on_statement,
            metrics,
        } = options;
        let mut db = db::connect(&config.database_url)
            .await
            .with_context(|| "could not connect to DATABASE_URL".to_string())?;
        let recorded = metrics.is_some();
        if recorded || on_statement.is_some() {
            db.set_metric_callback(move |info| {
                let sql = &info.statement.sql;
                if recorded {
                    crate::metrics::db_statement(sql, info.elapsed);
                }
                if let Some(observe) = &on_statement {
                    observe(sql);
                }
            });
        }
        if recorded {
            preregister_metrics(config.redis_url.is_some());
        }
        if config.database_auto_migrate {
            db::migrate_up(&db)
                .await
                .context("database migrations failed")?;
        }

        let redis = shared_redis(&config)?;
        let (keys, rules, dev_keys) = token_keys(&config)?;
        if dev_keys.is_none() {
            // In dev mode the banner has said where the keys come from.
            tracing::info!(key_source = %keys.describe(), "session token keys");
        }
        if let KeySource::Jwks(cache) = &keys {
            if cache.warm_up().await {
                tracing::info!("JWKS loaded at start-up");
            } else {
                tracing::warn!(
                    "JWKS could not be loaded at start-up; /readyz reports not ready until it is"
                );
            }
        }
        let mut verifier = Verifier::new(keys, rules, Arc::clone(&clock));
        if let Some(redis) = &redis {
            verifier = verifier.with_shared_revocations(redis.clone());
        }
        let verifier = Arc::new(verifier);
        let revocations = verifier.revocations().clone();
        let relay = redis.clone().map_or_else(Relay::local, Relay::through);
        let user_events = UserEvents::new(&relay);
        let trusted_documents = Arc::new(TrustedDocuments::new(
            config.trusted_documents.mode,
            config.graphql_introspection,
        ));
        let clerk = config.clerk.secret_key.clone().map(|secret| {
            ClerkClient::new(
                config.clerk.api_url.clone(),
                secret,
                ClerkClientSettings::default(),
            )
        });
        let machine_tokens = clerk.clone().map(|client| {
            let tokens =
                MachineTokens::new(client, MachineTokenSettings::default(), Arc::clone(&clock));
            Arc::new(match &redis {
                Some(redis) => tokens.shared_through(redis.clone()),
                None => tokens,
            })
        });
        let schema = build_schema(SchemaOptions {
            introspection: config.graphql_introspection,
            database: Some(db.clone()),
            role_claim: config.clerk.role_claim.clone(),
            user_events: user_events.clone(),
            relay,
            limits: config.graphql_limits.clone(),
            trusted_documents: Arc::clone(&trusted_documents),
            api_keys: clerk
                .clone()
                .zip(machine_tokens.clone())
                .map(|(clerk, machine_tokens)| ApiKeyManagement {
                    clerk,
                    allowed_scopes: config.clerk.api_key_allowed_scopes.clone(),
                    machine_tokens,
                }),
            trace_document: config.traces.graphql_document,
        });
        let manifest = match &config.trusted_documents.manifest {
            Some(path) => {
                let manifest = ManifestReload {
                    path: path.clone(),
                    documents: trusted_documents,
                    schema: schema.clone(),
                };
                manifest.load().await?;
                Some(manifest)
            }
            None => None,
        };
        let users = clerk.map(|client| {
            let cache = UserCache::new(client, UserCacheSettings::default());
            Arc::new(match &redis {
                Some(redis) => cache.shared_through(redis.clone()),
                None => cache,
            })
        });
        let webhooks = webhook_state(&config, &db, &clock, &users, &revocations, &user_events);
        let retention = Retention::new(
            db.clone(),
            Arc::clone(&clock),
            config.webhook_retention.clone(),
        );
        let rate_limits = Arc::new(RateLimiter::new(
            &config.rate_limits,
            Arc::clone(&clock),
            redis.as_ref(),
        ));
        let state = AppState {
            schema,
            db,
            authenticator: Authenticator {
                tokens: TokenSource::new(config.clerk.publishable_key.as_deref()),
                verifier,
                accepted: config.clerk.accepted_tokens.clone(),
                machine_tokens,
                rate_limits: Arc::clone(&rate_limits),
            },
            users,
            max_body_bytes: config.graphql_limits.max_body_bytes,
            rate_limits,
            redis,
        };
        let dev_tokens = dev_keys.map(|keys| {
            Arc::new(PlaygroundDevTokens {
                keys,
                clock: Arc::clone(&clock),
            }) as Arc<dyn DevTokenMinter>
        });
        let metrics = match (metrics, config.metrics_addr.0) {
            (Some(handle), Some(address)) => {
                let sampled = Sampled {
                    db: state.db.clone(),
                    keys: state.authenticator.verifier.key_source().clone(),
                };
                Some(MetricsListener::bind(address, handle, sampled).await?)
            }
            _ => None,
        };
        let router = router(state, &config, webhooks, dev_tokens);

        let address = SocketAddr::new(config.host, config.port);
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("could not listen on {address} (HOST, PORT)"))?;
        let connections = Connections::new(
            config.http_limits.clone(),
            config.rate_limits.trusted_proxies.clone(),
        );
        Ok(Self {
            listener,
            router,
            connections,
            retention,
            manifest,
            metrics,
        })
    }
}

/// The counters whose label values belong to other modules, at 0 (see `metrics::install`).
fn preregister_metrics(redis: bool) {
    use crate::metrics::{TokenResult, WebhookEventType, WebhookOutcome};
    for failure in AuthFailure::ALL {
        crate::metrics::auth_token(TokenResult::Refused, failure.reason()).absolute(0);
    }
    for limit in Limit::ALL {
        crate::metrics::rate_limit_refusal(limit.reason()).absolute(0);
    }
    for refusal in WebhookRefusal::ALL {
        let refused = WebhookOutcome::Refused(refusal.code());
        crate::metrics::webhook_delivery(WebhookEventType::UNKNOWN, refused).absolute(0);
    }
    for event_type in WebhookEventType::KNOWN.map(WebhookEventType::of) {
        for outcome in [WebhookOutcome::Applied, WebhookOutcome::Duplicate] {
            crate::metrics::webhook_delivery(event_type, outcome).absolute(0);
        }
    }
    if redis {
        crate::metrics::preregister_redis(&[crate::rate_limit::redis_store::FALLBACK_FEATURE]);
    }
}

/// The verification keys and claim rules: Clerk's, or in dev mode the local dev key pair.
fn token_keys(config: &Config) -> anyhow::Result<(KeySource, ClaimRules, Option<Arc<DevKeys>>)> {
    let rules = ClaimRules::from_config(&config.clerk);
    let Some(dir) = &config.dev_keys_dir else {
        return Ok((KeySource::from_config(&config.clerk), rules, None));
    };
    let dev_keys = Arc::new(DevKeys::load_or_create(dir).context("dev mode: the local key pair")?);
    tracing::warn!(
        "DEV MODE: no Clerk key source is configured, so tokens signed by the local key in {} \
         (issuer {DEV_ISSUER}) are accepted. Mint one with `cargo run -- dev-token --role admin`. \
         Set CLERK_SECRET_KEY and CLERK_PUBLISHABLE_KEY to use Clerk; production never accepts dev tokens.",
        dir.display()
    );
    let rules = ClaimRules {
        issuer: Some(DEV_ISSUER.into()),
        ..rules
    };
    Ok((dev_keys.key_source(), rules, Some(dev_keys)))
}

/// The playground's pre-filled token in dev mode: an admin, so that every example works.
struct PlaygroundDevTokens {
    keys: Arc<DevKeys>,
    clock: Arc<dyn Clock>,
}

impl DevTokenMinter for PlaygroundDevTokens {
    fn mint(&self) -> anyhow::Result<String> {
        let token = DevToken {
            role: Some("admin".into()),
            email: Some("dev@example.com".into()),
            ..DevToken::for_user("user_dev_1")
        };
        self.keys.mint(&token, self.clock.now_millis() / 1000)
    }
}

/// The webhook endpoint exists only when a signing secret is configured: without one, no delivery
/// could be told from a forgery.
fn webhook_state(
    config: &Config,
    db: &DatabaseConnection,
    clock: &Arc<dyn Clock>,
    users: &Option<Arc<UserCache>>,
    revocations: &Revocations,
    user_events: &UserEvents,
) -> Option<WebhookState> {
    let keys = SigningKeys::new(&config.clerk.webhook_signing_secrets);
    if keys.is_empty() {
        tracing::info!("CLERK_WEBHOOK_SIGNING_SECRET not set: POST /webhooks/clerk is disabled");
        return None;
    }
    Some(WebhookState {
        db: db.clone(),
        keys: Arc::new(keys),
        clock: Arc::clone(clock),
        users: users.clone(),
        revocations: revocations.clone(),
        user_events: user_events.clone(),
    })
}

/// Connects to `REDIS_URL` in the background (a Redis that is down at start-up is an outage to
/// ride out, not a reason not to start); without it, says once that state stays in this process.
fn shared_redis(config: &Config) -> anyhow::Result<Option<SharedRedis>> {
    let Some(url) = &config.redis_url else {
        tracing::info!(
            "REDIS_URL is not set: one process, rate limits, events and revocations in memory"
        );
        return Ok(None);
    };
    // Every channel a consumer listens to: the subscriber connection subscribes to them all.
    let channels = [
        crate::graphql::broadcast::CHANNEL,
        crate::auth::shared_revocations::CHANNEL,
        crate::clerk::USERS_CHANNEL,
        crate::auth::machine_tokens::CHANNEL,
    ];
    let redis = SharedRedis::connect(url.expose(), &config.redis_key_prefix, &channels)
        .context("REDIS_URL could not be used")?;
    Ok(Some(redis))
}
