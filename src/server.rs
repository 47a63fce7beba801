//! The HTTP server: router, layers, start-up and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router, middleware};
use sea_orm::DatabaseConnection;
use serde_json::json;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::auth::Verifier;
use crate::auth::clock::{Clock, SystemClock};
use crate::auth::keys::KeySource;
use crate::auth::middleware::{Authentication, authenticate};
use crate::auth::verifier::ClaimRules;
use crate::authz::AppRoleSource;
use crate::clerk::{
    ClerkClient, ClerkClientSettings, ClerkRoles, UserCache, UserCacheSettings, request_loader,
};
use crate::config::Config;
use crate::db;
use crate::graphql::{AppSchema, SchemaOptions, build_schema};
use crate::webhooks::{SigningKeys, WebhookState};

/// Upper bound of a request body; GraphQL documents are small.
const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
struct AppState {
    schema: AppSchema,
    db: DatabaseConnection,
    verifier: Arc<Verifier>,
    /// Clerk users, when a secret key is configured.
    users: Option<Arc<UserCache>>,
}

pub struct Application {
    listener: TcpListener,
    router: Router,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// As [`Application::build`], with the clock the verifier reads (tests replay fixtures).
    pub async fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let db = db::connect(&config.database_url)
            .await
            .with_context(|| "could not connect to DATABASE_URL".to_string())?;
        if config.database_auto_migrate {
            db::migrate_up(&db)
                .await
                .context("database migrations failed")?;
        }

        let keys = KeySource::from_config(&config.clerk);
        tracing::info!(key_source = %keys.describe(), "session token keys");
        if let KeySource::Jwks(cache) = &keys {
            if cache.warm_up().await {
                tracing::info!("JWKS loaded at start-up");
            } else {
                tracing::warn!(
                    "JWKS could not be loaded at start-up; /readyz reports not ready until it is"
                );
            }
        }
        let verifier = Arc::new(Verifier::new(
            keys,
            ClaimRules::from_config(&config.clerk),
            Arc::clone(&clock),
        ));
        let schema = build_schema(SchemaOptions {
            introspection: config.graphql_introspection,
            database: Some(db.clone()),
            role_claim: config.clerk.role_claim.clone(),
        });
        let users = config.clerk.secret_key.clone().map(|secret| {
            let client = ClerkClient::new(
                config.clerk.api_url.clone(),
                secret,
                ClerkClientSettings::default(),
            );
            Arc::new(UserCache::new(client, UserCacheSettings::default()))
        });
        let webhooks = webhook_state(&config, &db, &clock, &users);
        let state = AppState {
            schema,
            db,
            verifier,
            users,
        };
        let router = router(state, &config, webhooks);

        let address = SocketAddr::new(config.host, config.port);
        let listener = TcpListener::bind(address)
            .await
            .with_context(|| format!("could not listen on {address} (HOST, PORT)"))?;
        Ok(Self { listener, router })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Serves until `shutdown` resolves, then stops accepting and lets in-flight requests finish.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
    }
}

/// The webhook endpoint exists only when a signing secret is configured: without one, no delivery
/// could be told from a forgery.
fn webhook_state(
    config: &Config,
    db: &DatabaseConnection,
    clock: &Arc<dyn Clock>,
    users: &Option<Arc<UserCache>>,
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
    })
}

fn router(state: AppState, config: &Config, webhooks: Option<WebhookState>) -> Router {
    let authenticated = middleware::from_fn_with_state(Arc::clone(&state.verifier), authenticate);
    let graphql = axum::routing::post(graphql_handler);
    let request_id = HeaderName::from_static("x-request-id");

    let mut router = Router::new()
        .route("/graphql", graphql.route_layer(authenticated))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state);
    if let Some(webhooks) = webhooks {
        router = router.merge(crate::webhooks::routes(webhooks));
    }
    if config.graphql_playground {
        // GET /graphql (the page) and /playground/*, outside the authentication middleware.
        let options = crate::playground::PlaygroundOptions { dev_tokens: None };
        router = router.merge(crate::playground::routes(options));
    }
    router = router.layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES));
    if !config.cors_allowed_origins.is_empty() {
        let origins: Vec<HeaderValue> = config
            .cors_allowed_origins
            .iter()
            .filter_map(|origin| HeaderValue::from_str(origin).ok())
            .collect();
        router = router.layer(
            CorsLayer::new()
                .allow_origin(AllowOrigin::list(origins))
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
                .max_age(Duration::from_secs(600)),
        );
    }
    router.layer(
        ServiceBuilder::new()
            .layer(SetSensitiveRequestHeadersLayer::new([
                header::AUTHORIZATION,
                header::COOKIE,
            ]))
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

async fn graphql_handler(
    State(state): State<AppState>,
    Extension(authentication): Extension<Authentication>,
    request: GraphQLRequest,
) -> GraphQLResponse {
    let mut request = request.into_inner();
    if let Some(viewer) = authentication.0 {
        request = request.data(viewer);
        // Per request, never shared across users: the loader batches this request's lookups;
        // the process-wide cache behind it is what spares Clerk repeated calls.
        if let Some(users) = &state.users {
            let loader = Arc::new(request_loader(Arc::clone(users)));
            let roles: Arc<dyn AppRoleSource> = Arc::new(ClerkRoles(Arc::clone(&loader)));
            request = request.data(loader).data(roles);
        }
    }
    state.schema.execute(request).await.into()
}

/// Liveness: the process answers.
async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Readiness: the database answers and, with a remote key source, a key set is loaded.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let database = tokio::time::timeout(Duration::from_secs(2), state.db.ping())
        .await
        .is_ok_and(|ping| ping.is_ok());
    let jwks = match state.verifier.key_source() {
        KeySource::Jwks(cache) => Some(cache.is_loaded()),
        _ => None,
    };
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
        })),
    )
}
