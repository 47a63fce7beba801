//! A fake Clerk on loopback: the Backend API JWKS (`/v1/jwks`, checking the bearer secret) and the
//! Frontend API JWKS (`/.well-known/jwks.json`). It counts requests and fails on demand.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::tokens::TestKey;

pub const SECRET_KEY: &str = "sk_test_fake_clerk_secret_for_tests_only";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    Status(u16),
    /// Accept the request and never answer.
    Hang,
}

struct FakeState {
    jwks: Mutex<Value>,
    fault: Mutex<Fault>,
    jwks_calls: AtomicUsize,
    unauthorized_calls: AtomicUsize,
    well_known_calls: AtomicUsize,
}

pub struct FakeClerk {
    pub url: String,
    state: Arc<FakeState>,
}

impl FakeClerk {
    pub async fn start() -> Self {
        let state = Arc::new(FakeState {
            jwks: Mutex::new(json!({ "keys": [TestKey::primary().jwk] })),
            fault: Mutex::new(Fault::None),
            jwks_calls: AtomicUsize::new(0),
            unauthorized_calls: AtomicUsize::new(0),
            well_known_calls: AtomicUsize::new(0),
        });
        let router = Router::new()
            .route("/v1/jwks", get(backend_jwks))
            .route("/.well-known/jwks.json", get(frontend_jwks))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url, state }
    }

    pub fn serve_keys(&self, keys: &[&TestKey]) {
        self.serve_jwks(json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() }));
    }

    pub fn serve_jwks(&self, jwks: Value) {
        *self.state.jwks.lock().unwrap() = jwks;
    }

    pub fn fail_with(&self, fault: Fault) {
        *self.state.fault.lock().unwrap() = fault;
    }

    /// Authorised requests to `/v1/jwks`, answered or not.
    pub fn jwks_calls(&self) -> usize {
        self.state.jwks_calls.load(Ordering::SeqCst)
    }

    pub fn unauthorized_calls(&self) -> usize {
        self.state.unauthorized_calls.load(Ordering::SeqCst)
    }

    pub fn well_known_calls(&self) -> usize {
        self.state.well_known_calls.load(Ordering::SeqCst)
    }
}

async fn backend_jwks(State(state): State<Arc<FakeState>>, headers: HeaderMap) -> Response {
    let authorized = headers.get("authorization").and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {SECRET_KEY}"));
    if !authorized {
        state.unauthorized_calls.fetch_add(1, Ordering::SeqCst);
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"errors": [{"code": "clerk_key_invalid"}]})),
        )
            .into_response();
    }
    state.jwks_calls.fetch_add(1, Ordering::SeqCst);
    answer(&state).await
}

async fn frontend_jwks(State(state): State<Arc<FakeState>>) -> Response {
    state.well_known_calls.fetch_add(1, Ordering::SeqCst);
    answer(&state).await
}

async fn answer(state: &FakeState) -> Response {
    let fault = *state.fault.lock().unwrap();
    match fault {
        Fault::None => axum::Json(state.jwks.lock().unwrap().clone()).into_response(),
        Fault::Status(code) => StatusCode::from_u16(code).unwrap().into_response(),
        Fault::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
    }
}
