//! The bare stack `scripts/bench` measures the template against (bench/README.md, "Baseline"):
//! async-graphql 7 and axum 0.8 answering the benchmark's `{ health }` and `{ viewer { userId } }`
//! as a minimal server would, with nothing the template adds — no request id, log span, security
//! headers, CSRF check, rate limit, deadline, token verification, request limits or
//! authorization. A request with an `Authorization` header gets a constant viewer, unverified:
//! the template's price for checking the token is part of what the comparison shows.
//!
//! `bench-baseline <port>`: listens on 127.0.0.1:<port>, `POST /graphql` and `GET /healthz`.

use async_graphql::{Context, EmptyMutation, EmptySubscription, Object, Schema, SimpleObject};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::routing::{get, post};

/// The same allocator as the template (`src/main.rs`), so that the comparison is not about it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The benchmark's token of a seeded user (`bench/bench.py`, `token-member.txt`).
const VIEWER_ID: &str = "user_bench_0001";

struct SignedIn;

#[derive(SimpleObject)]
struct Viewer {
    user_id: &'static str,
}

struct Query;

#[Object]
impl Query {
    async fn health(&self) -> &'static str {
        "ok"
    }

    async fn viewer(&self, ctx: &Context<'_>) -> Option<Viewer> {
        ctx.data_opt::<SignedIn>()
            .map(|_| Viewer { user_id: VIEWER_ID })
    }
}

type BaselineSchema = Schema<Query, EmptyMutation, EmptySubscription>;

async fn graphql(
    State(schema): State<BaselineSchema>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> GraphQLResponse {
    let mut request = request.into_inner();
    if headers.contains_key(header::AUTHORIZATION) {
        request = request.data(SignedIn);
    }
    schema.execute(request).await.into()
}

#[tokio::main]
async fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|port| port.parse().ok())
        .expect("usage: bench-baseline <port>");
    let schema = Schema::new(Query, EmptyMutation, EmptySubscription);
    let app = Router::new()
        .route("/graphql", post(graphql))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(schema);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind 127.0.0.1:<port>");
    axum::serve(listener, app).await.expect("serve");
}
