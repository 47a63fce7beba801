//! The HTTP server: router, layers, start-up and graceful shutdown.

mod connections;
mod reload;

use connections::Connections;
use reload::ManifestReload;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_graphql::Data;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router, middleware};
use sea_orm::DatabaseConnection;
use serde_json::json;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::api_keys::ApiKeyManagement;
use crate::auth::Verifier;
use crate::auth::Viewer;
use crate::auth::clock::{Clock, SystemClock};
use crate::auth::dev_keys::{DEV_ISSUER, DevKeys, DevToken};
use crate::auth::keys::KeySource;
use crate::auth::machine_tokens::{MachineTokenSettings, MachineTokens};
use crate::auth::revocation::Revocations;
use crate::auth::token::TokenSource;
use crate::auth::verifier::ClaimRules;
use crate::authz::{AppRoleSource, ClerkRoles};
use crate::clerk::{
    ClerkClient, ClerkClientSettings, UserCache, UserCacheSettings, request_loader,
};
use crate::config::Config;
use crate::db;
use crate::graphql::ExecutionDeadline;
use crate::graphql::broadcast::Relay;
use crate::graphql::trusted_documents::TrustedDocuments;
use crate::http::authentication::{Authentication, Authenticator, authenticate};
use crate::http::csrf::CsrfPolicy;
use crate::http::{self, graphql::GraphqlRoute};
use crate::playground::DevTokenMinter;
use crate::rate_limit::RateLimiter;
use crate::rate_limit::slots::ConnectionSlots;
use crate::schema::{AppSchema, SchemaOptions, build_schema};
use crate::shared::SharedRedis;
use crate::users::UserEvents;
use crate::users::loaders::user_row_loader;
use crate::webhooks::{Retention, SigningKeys, WebhookState};
use crate::websocket::{self, WsState};

#[derive(Clone)]
struct AppState {
    schema: AppSchema,
    db: DatabaseConnection,
    authenticator: Authenticator,
    /// Clerk users, when a secret key is configured.
    users: Option<Arc<UserCache>>,
    /// `GRAPHQL_MAX_BODY_BYTES`.
    max_body_bytes: usize,
    /// Rate limits and the brute-force lockout (`rate_limit`).
    rate_limits: Arc<RateLimiter>,
    /// The Redis shared with the other replicas (`REDIS_URL`), if any.
    redis: Option<SharedRedis>,
}

/// How long in-flight requests may run after a shutdown signal (orchestrators usually allow
/// 30 s between SIGTERM and SIGKILL).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

pub type StatementObserver = Arc<dyn Fn(&str) + Send + Sync>;

/// What tests (or an embedding program) may change about how the application is built.
pub struct BuildOptions {
    /// The clock token and webhook checks and rate limits read (tests replay fixtures at their
    /// instant, and move time to refill quotas and end lockouts).
    pub clock: Arc<dyn Clock>,
    /// Called with the SQL of every statement run (tests count them).
    pub on_statement: Option<StatementObserver>,
}

impl Default for BuildOptions {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            on_statement: None,
        }
    }
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    connections: Connections,
    /// The `webhook_events` clean-up, running while the server does.
    retention: Retention,
    /// The trusted documents manifest, reloaded on SIGHUP while the server runs.
    manifest: Option<ManifestReload>,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with(config, BuildOptions::default()).await
    }

    pub async fn build_with(config: Config, options: BuildOptions) -> anyhow::Result<Self> {
        let BuildOptions {
            clock,
            on_statement,
        } = options;
        let mut db = db::connect(&config.database_url)
            .await
            .with_context(|| "could not connect to DATABASE_URL".to_string())?;
        if let Some(observe) = on_statement {
            db.set_metric_callback(move |info| observe(&info.statement.sql));
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
            Arc::new(MachineTokens::new(
                client,
                MachineTokenSettings::default(),
                Arc::clone(&clock),
            ))
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
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` resolves, then stops accepting and lets in-flight requests finish
    /// for at most [`SHUTDOWN_GRACE`]. A webhook delivery is acknowledged only after its commit,
    /// so one cut off by the deadline was never acknowledged and Svix sends it again.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let cleanup = tokio::spawn(self.retention.run());
        let reloads = self.manifest.map(ManifestReload::on_hangup).transpose()?;
        let result = self
            .connections
            .serve(self.listener, self.router, shutdown, SHUTDOWN_GRACE)
            .await;
        cleanup.abort();
        if let Some(reloads) = reloads {
            reloads.abort();
        }
        result
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

fn router(
    state: AppState,
    config: &Config,
    webhooks: Option<WebhookState>,
    dev_tokens: Option<Arc<dyn DevTokenMinter>>,
) -> Router {
    let playground = config.graphql_playground.then(|| {
        let options = crate::playground::PlaygroundOptions { dev_tokens };
        crate::playground::routes::<()>(options)
    });
    let limits = &config.graphql_limits;
    // Inner to outer: the gate (playground page, 415, then authentication), the deadline over
    // all of it. `GET /graphql` is the playground page without `query`, a query with it.
    let gate = GraphqlGate {
        authenticator: state.authenticator.clone(),
        playground: playground.clone(),
    };
    let graphql = get(graphql_get)
        .post(graphql_post)
        .route_layer(DefaultBodyLimit::max(limits.max_body_bytes))
        // After authentication: the signed-in user's quota.
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state.rate_limits),
            http::rate_limit::user,
        ))
        .route_layer(middleware::from_fn_with_state(gate, graphql_gate))
        // Before authentication: the lockout and the client address's quota.
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state.rate_limits),
            http::rate_limit::graphql_address,
        ))
        .route_layer(middleware::from_fn_with_state(
            limits.timeout,
            http::guards::deadline,
        ));
    let request_id = HeaderName::from_static("x-request-id");

    let rate_limits = Arc::clone(&state.rate_limits);
    let csrf = Arc::new(CsrfPolicy::new(
        &config.cors_allowed_origins,
        state.authenticator.tokens.clone(),
    ));
    let socket_data = {
        let (db, users, timeout) = (state.db.clone(), state.users.clone(), limits.timeout);
        Arc::new(move |data: &mut Data, viewer: Option<Arc<Viewer>>| {
            insert_request_data(data, &db, users.as_ref(), viewer, Lifetime::Socket);
            // Over HTTP the deadline middleware bounds a request; a socket's queries and
            // mutations get the same bound from the schema's extension.
            data.insert(ExecutionDeadline(timeout));
        })
    };
    let ws = WsState {
        schema: state.schema.clone(),
        authenticator: state.authenticator.clone(),
        request_data: socket_data,
        rate_limits: Arc::clone(&rate_limits),
        slots: Arc::new(ConnectionSlots::new(
            config.websocket_limits.max_connections_per_ip,
            config.websocket_limits.max_connections,
        )),
        origins: Arc::clone(&csrf),
        max_message_bytes: limits.max_body_bytes,
        max_operations: config.websocket_limits.max_subscriptions,
    };
    let mut router = Router::new().route("/graphql", graphql).route(
        "/graphql/ws",
        get(websocket::upgrade)
            .with_state(ws)
            .route_layer(middleware::from_fn_with_state(
                Arc::clone(&rate_limits),
                http::rate_limit::address,
            )),
    );
    if !config.cors_allowed_origins.is_empty() {
        // On the GraphQL routes only (see `http::cors`).
        router = router.layer(http::cors::layer(
            &config.cors_allowed_origins,
            &config.cors_allowed_headers,
        ));
    }
    let mut router = router
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state);
    if let Some(webhooks) = webhooks {
        // Its own per-address bound: Svix delivers in bursts.
        router = router.merge(crate::webhooks::routes(webhooks).route_layer(
            middleware::from_fn_with_state(rate_limits, http::rate_limit::webhook),
        ));
    }
    if let Some(playground) = playground {
        // `/playground/*`, outside the authentication middleware; its `GET /graphql` page is
        // reached through the gate.
        router = router.fallback_service(playground);
    }
    // PostBodies: `/graphql` bounds its own (GRAPHQL_MAX_BODY_BYTES, 413 as JSON), the webhook route
    // its own; any other extractor has axum's 2 MB default.
    router = router
        .layer(middleware::from_fn(http::guards::catch_panic))
        .layer(middleware::from_fn_with_state(csrf, http::csrf::protect))
        .layer(middleware::from_fn(http::graphql::negotiate_content_type))
        .layer(middleware::from_fn(
            http::unread_body::close_when_body_unread,
        ));
    router.layer(
        ServiceBuilder::new()
            // On every response: no MIME sniffing of JSON into something executable, and no
            // URL (which may carry a query) leaked to other sites. Set only where a route has
            // not chosen its own (the playground sets stricter ones).
            .layer(SetResponseHeaderLayer::if_not_present(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ))
            .layer(SetResponseHeaderLayer::if_not_present(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ))
            .layer(SetSensitiveRequestHeadersLayer::new([
                header::AUTHORIZATION,
                header::COOKIE,
            ]))
            .layer(middleware::from_fn(http::guards::sanitize_request_id))
            .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(|request: &Request| {
                        let request_id = request
                            .headers()
                            .get("x-request-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default();
                        // The path only: a query string could carry anything.
                        tracing::info_span!(
                            "request",
                            method = %request.method(),
                            path = %request.uri().path(),
                            request_id,
                            user_id = tracing::field::Empty,
                        )
                    })
                    .on_response(|response: &Response, latency: Duration, _: &Span| {
                        tracing::info!(
                            status = response.status().as_u16(),
                            latency_ms = latency.as_secs_f64() * 1000.0,
                            "response"
                        );
                    }),
            )
            .layer(PropagateRequestIdLayer::new(request_id)),
    )
}

#[derive(Clone)]
struct GraphqlGate {
    authenticator: Authenticator,
    /// The playground's router, when it is on: it answers `GET /graphql` without `query`.
    playground: Option<Router>,
}

/// In front of `/graphql`, before authentication: the playground page (no token is read for
/// it), 415 for a POST body that is not JSON; then authentication for GraphQL requests.
async fn graphql_gate(
    State(gate): State<GraphqlGate>,
    request: Request,
    next: middleware::Next,
) -> Response {
    match http::graphql::route(request.method(), request.headers(), request.uri()) {
        GraphqlRoute::Refuse(error) => error.into_response(),
        GraphqlRoute::Playground => match gate.playground {
            Some(playground) => {
                use tower::ServiceExt as _;
                match playground.oneshot(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                }
            }
            None => http::graphql::no_playground(),
        },
        GraphqlRoute::Execute => authenticate(State(gate.authenticator), request, next).await,
    }
}

/// `GET /graphql?query=…`: queries only.
async fn graphql_get(
    State(state): State<AppState>,
    Extension(authentication): Extension<Authentication>,
    request: Request,
) -> Response {
    let request_id = http::graphql::request_id(request.headers());
    match http::graphql::read_get(request.uri()) {
        Ok(graphql) => execute(&state, authentication, graphql, request_id).await,
        Err(error) => error.into_response(),
    }
}

/// `POST /graphql` with a JSON body.
async fn graphql_post(
    State(state): State<AppState>,
    Extension(authentication): Extension<Authentication>,
    request: Request,
) -> Response {
    let request_id = http::graphql::request_id(request.headers());
    match http::graphql::read_post(request, state.max_body_bytes).await {
        Ok(graphql) => execute(&state, authentication, graphql, request_id).await,
        Err(error) => error.into_response(),
    }
}

async fn execute(
    state: &AppState,
    authentication: Authentication,
    mut request: async_graphql::Request,
    request_id: Option<String>,
) -> Response {
    insert_request_data(
        &mut request.data,
        &state.db,
        state.users.as_ref(),
        authentication.0,
        Lifetime::Request,
    );
    let response = state.schema.execute(request).await;
    http::graphql::respond(response, request_id.as_deref())
}

/// How long an execution's data lives.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lifetime {
    /// One HTTP request.
    Request,
    /// An operation on a socket: a subscription may run for hours.
    Socket,
}

/// What resolvers need besides the schema: the loader of user rows, and the signed-in viewer
/// with what resolves their Clerk data. The Clerk loader keeps no memo (the process-wide cache
/// behind it does); the user-row loader keeps one for a request only, never across users or for
/// a subscription's life (it would serve rows that changed since).
fn insert_request_data(
    data: &mut Data,
    db: &DatabaseConnection,
    users: Option<&Arc<UserCache>>,
    viewer: Option<Arc<Viewer>>,
    lifetime: Lifetime,
) {
    let rows = user_row_loader(db.clone());
    if lifetime == Lifetime::Socket {
        rows.enable_all_cache(false);
    }
    data.insert(Arc::new(rows));
    let Some(viewer) = viewer else {
        return;
    };
    data.insert(viewer);
    if let Some(users) = users {
        // Batches one request's lookups; the cache spares Clerk repeated calls.
        let loader = Arc::new(request_loader(Arc::clone(users)));
        let roles: Arc<dyn AppRoleSource> = Arc::new(ClerkRoles(Arc::clone(&loader)));
        data.insert(loader);
        data.insert(roles);
    }
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
        crate::clerk::invalidations::CHANNEL,
    ];
    let redis = SharedRedis::connect(url.expose(), &config.redis_key_prefix, &channels)
        .context("REDIS_URL could not be used")?;
    Ok(Some(redis))
}

/// Liveness: the process answers.
async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Readiness: the database answers and, with a remote key source, a key set is loaded. A Redis
/// that does not answer, or whose pub/sub this replica is not subscribed to (it would miss the
/// other replicas' events and revocations), is reported as `degraded` but keeps the replica
/// ready: it serves with local state until Redis is back.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let database = tokio::time::timeout(Duration::from_secs(2), state.db.ping())
        .await
        .is_ok_and(|ping| ping.is_ok());
    let jwks = match state.authenticator.verifier.key_source() {
        KeySource::Jwks(cache) => Some(cache.is_loaded()),
        _ => None,
    };
    let redis = match &state.redis {
        Some(redis) => Some(
            redis.is_subscribed()
                && tokio::time::timeout(Duration::from_secs(1), redis.ping())
                    .await
                    .unwrap_or(false),
        ),
        None => None,
    };
    let degraded: Vec<&str> = [(redis == Some(false)).then_some("redis")]
        .into_iter()
        .flatten()
        .collect();
    let ready = database && jwks.unwrap_or(true);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if ready { "ready" } else { "not_ready" },
            "database": database,
            "jwks_loaded": jwks,
            "redis": redis,
            "degraded": degraded,
        })),
    )
}
