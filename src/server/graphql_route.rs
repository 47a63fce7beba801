//! `/graphql`: the gate in front of it (the playground page, 415, authentication) and the
//! handlers of `GET` and `POST`, which run the schema.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router, middleware};

use super::AppState;
use super::request_data::{Lifetime, insert_request_data};
use crate::http::authentication::{Authentication, Authenticator, authenticate};
use crate::http::{self, graphql::GraphqlRoute};

#[derive(Clone)]
pub(super) struct GraphqlGate {
    pub(super) authenticator: Authenticator,
    /// The playground's router, when it is on: it answers `GET /graphql` without `query`.
    pub(super) playground: Option<Router>,
}

/// In front of `/graphql`, before authentication: the playground page (no token is read for
/// it), 415 for a POST body that is not JSON; then authentication for GraphQL requests.
pub(super) async fn graphql_gate(
    State(gate): State<Arc<GraphqlGate>>,
    request: Request,
    next: middleware::Next,
) -> Response {
    match http::graphql::route(request.method(), request.headers(), request.uri()) {
        GraphqlRoute::Refuse(error) => error.into_response(),
        GraphqlRoute::Playground => match gate.playground.clone() {
            Some(playground) => {
                use tower::ServiceExt as _;
                match playground.oneshot(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                }
            }
            None => http::graphql::no_playground(),
        },
        GraphqlRoute::Execute => authenticate(&gate.authenticator, request, next).await,
    }
}

/// `GET /graphql?query=…`: queries only.
pub(super) async fn graphql_get(
    State(state): State<Arc<AppState>>,
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
pub(super) async fn graphql_post(
    State(state): State<Arc<AppState>>,
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
