//! The router: the routes, and the layers around `/graphql` and around every route, in the order
//! of ARCHITECTURE §2.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::Data;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::Response;
use axum::routing::get;
use axum::{Router, middleware};
use tower::ServiceBuilder;
use tower::layer::layer_fn;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tracing::Span;

use super::AppState;
use super::graphql_route::{GraphqlGate, graphql_gate, graphql_get, graphql_post};
use super::probes::{healthz, readyz};
use super::request_data::{Lifetime, insert_request_data};
use crate::auth::Viewer;
use crate::config::Config;
use crate::graphql::ExecutionDeadline;
use crate::http::{self, csrf::CsrfPolicy};
use crate::playground::DevTokenMinter;
use crate::rate_limit::slots::ConnectionSlots;
use crate::telemetry::{self, RequestTrace};
use crate::webhooks::WebhookState;
use crate::websocket::{self, WsState};

pub(super) fn router(
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
    // One `route_layer` of one stack, outermost first: axum boxes each `route_layer` (and each
    // `Router::layer`) into its own `Route`, and every request clones the whole boxed chain, an
    // allocation per box (bench/README.md, "Changes and their effect").
    let graphql = get(graphql_get).post(graphql_post).route_layer(
        ServiceBuilder::new()
            .layer(middleware::from_fn_with_state(
                limits.timeout,
                http::guards::deadline,
            ))
            // Before authentication: the lockout and the client address's quota.
            .layer(middleware::from_fn_with_state(
                Arc::clone(&state.rate_limits),
                http::rate_limit::graphql_address,
            ))
            .layer(middleware::from_fn_with_state(Arc::new(gate), graphql_gate))
            // After authentication: the signed-in user's quota.
            .layer(middleware::from_fn_with_state(
                Arc::clone(&state.rate_limits),
                http::rate_limit::user,
            ))
            .layer(DefaultBodyLimit::max(limits.max_body_bytes)),
    );
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
        .with_state(Arc::new(state));
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
    // One `Router::layer` of one stack, as for `/graphql` above.
    router.layer(
        ServiceBuilder::new()
            // Outermost: the duration covers every layer, and the status is the one sent.
            .layer(middleware::from_fn(http::request_metrics::record))
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
            .map_request(http::guards::sanitize_request_id)
            .layer(SetRequestIdLayer::new(
                request_id.clone(),
                http::guards::RandomRequestId,
            ))
            .layer(layer_fn(http::trace_sampling::TraceSampling))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(request_span)
                    .on_response(|response: &Response, latency: Duration, span: &Span| {
                        let status = response.status();
                        tracing::info!(
                            status = status.as_u16(),
                            latency_ms = latency.as_secs_f64() * 1000.0,
                            "response"
                        );
                        // After the line above, which says it already. An `i64`: OpenTelemetry
                        // has no unsigned integers, and tracing-opentelemetry would send a
                        // `u16` as text.
                        span.record("http.response.status_code", i64::from(status.as_u16()));
                        if status.is_server_error() {
                            span.record("otel.status_code", "ERROR");
                        }
                    }),
            )
            .layer(PropagateRequestIdLayer::new(request_id))
            .layer(middleware::from_fn(
                http::unread_body::close_when_body_unread,
            ))
            .layer(middleware::from_fn(http::graphql::negotiate_content_type))
            .layer(middleware::from_fn_with_state(csrf, http::csrf::protect))
            .layer(middleware::from_fn(http::guards::catch_panic)),
    )
}

/// The span of a request: the log lines' context and, when traces are exported, the trace's
/// server span (the OpenTelemetry semantic conventions' names). The route is the router's
/// pattern (`/graphql`), never the path as sent; the query string is never recorded.
fn request_span(request: &Request) -> Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let method = request.method().as_str();
    // Decided by `http::trace_sampling`, the layer around this one, when traces are exported.
    let trace = request.extensions().get::<RequestTrace>();
    // One list of fields for both call sites.
    macro_rules! request_span {
        ($target:expr) => {
            tracing::info_span!(
                target: $target,
                "request",
                http.request.method = method,
                http.route = route,
                request_id,
                trace_id = tracing::field::Empty,
                user_id = tracing::field::Empty,
                http.response.status_code = tracing::field::Empty,
                otel.name = tracing::field::Empty,
                otel.kind = tracing::field::Empty,
                otel.status_code = tracing::field::Empty,
            )
        };
    }
    // Left out of the traces: a log-only call site, which the trace layer never sees.
    let span = if trace.is_some_and(RequestTrace::is_dropped) {
        request_span!(telemetry::propagation::UNSAMPLED_REQUESTS)
    } else {
        request_span!(module_path!())
    };
    if span.is_disabled() {
        return span;
    }
    // No route (a path nothing serves): the method alone, as the conventions say.
    let name = || match route {
        Some(route) => format!("{method} {route}"),
        None => method.to_string(),
    };
    match trace {
        Some(trace) => trace.adopt(&span, name),
        None => RequestTrace::of(request.headers()).adopt(&span, name),
    }
    span
}
