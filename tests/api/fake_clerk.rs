//! A fake Clerk on loopback: the Backend API JWKS (`/v1/jwks`, checking the bearer secret) and the
//! Frontend API JWKS (`/.well-known/jwks.json`). It counts requests and fails on demand.
//!
//! It also serves the Backend API users endpoints (`/v1/users/{id}`, `/v1/users`) from an
//! in-memory store, with their own counter and fault switch, independent of the JWKS ones so that
//! a test can break one without the other.
//!
//! And the machine-token verify endpoints (`/api_keys/verify`, `/m2m_tokens/verify`,
//! `/oauth_applications/access_tokens/verify`, without `/v1` as Clerk's SDKs call them), from a
//! store of tokens that can be revoked or expire, with their own counter and fault switch.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::tokens::TestKey;

pub const SECRET_KEY: &str = "sk_test_fake_clerk_secret_for_tests_only";

/// How the fake answers `/v1/users` requests that pass the secret check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsersFault {
    None,
    Status(u16),
    /// 429 with `Retry-After: <retry_after_secs>`, as Clerk's rate limiter answers.
    RateLimited {
        retry_after_secs: u64,
    },
    /// Accept the request and never answer.
    Hang,
}

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
    users: Mutex<UsersApi>,
    users_calls: AtomicUsize,
    machine_tokens: Mutex<MachineTokensApi>,
    machine_token_calls: AtomicUsize,
}

/// The tokens Clerk knows, by their text: Clerk's answer for each (`revoked` and `expiration`
/// decide whether it is answered or a 404).
struct MachineTokensApi {
    tokens: std::collections::HashMap<String, Value>,
    fault: UsersFault,
    /// The bodies of `POST /api_keys`, in order.
    created: Vec<Value>,
}

struct UsersApi {
    /// In insertion order; listed by `created_at`.
    store: Vec<Value>,
    fault: UsersFault,
    /// Requests the fault still applies to; `None`: until changed.
    fault_remaining: Option<usize>,
    last_user_agent: Option<String>,
    last_traceparent: Option<String>,
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
            users: Mutex::new(UsersApi {
                store: Vec::new(),
                fault: UsersFault::None,
                fault_remaining: None,
                last_user_agent: None,
                last_traceparent: None,
            }),
            users_calls: AtomicUsize::new(0),
            machine_tokens: Mutex::new(MachineTokensApi {
                tokens: std::collections::HashMap::new(),
                fault: UsersFault::None,
                created: Vec::new(),
            }),
            machine_token_calls: AtomicUsize::new(0),
        });
        let router = Router::new()
            .route("/v1/jwks", get(backend_jwks))
            .route("/.well-known/jwks.json", get(frontend_jwks))
            .route("/v1/users", get(list_users))
            .route("/v1/users/{id}", get(get_user))
            .route("/api_keys/verify", post(verify_api_key))
            .route("/api_keys", post(create_api_key).get(list_api_keys))
            .route("/api_keys/{id}/revoke", post(revoke_api_key))
            .route("/m2m_tokens/verify", post(verify_m2m_token))
            .route(
                "/oauth_applications/access_tokens/verify",
                post(verify_oauth_token),
            )
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

    /// Adds users (Clerk User JSON, e.g. from [`clerk_user_json`]), replacing any with the same id.
    pub fn add_users(&self, users: Vec<Value>) {
        for user in users {
            self.set_user(user);
        }
    }

    /// Adds a user, or replaces the one with the same id (a profile change in Clerk).
    pub fn set_user(&self, user: Value) {
        let mut api = self.state.users.lock().unwrap();
        match api.store.iter_mut().find(|u| u["id"] == user["id"]) {
            Some(existing) => *existing = user,
            None => api.store.push(user),
        }
    }

    /// Answers every users-API request with `fault` until told otherwise.
    pub fn fail_users_with(&self, fault: UsersFault) {
        let mut api = self.state.users.lock().unwrap();
        api.fault = fault;
        api.fault_remaining = None;
    }

    /// Answers the next `times` users-API requests with `fault`, then normally again.
    pub fn fail_users_times(&self, fault: UsersFault, times: usize) {
        let mut api = self.state.users.lock().unwrap();
        api.fault = fault;
        api.fault_remaining = Some(times);
    }

    /// Every request to `/v1/users` and `/v1/users/{id}`: authorised or not, answered or not.
    pub fn users_calls(&self) -> usize {
        self.state.users_calls.load(Ordering::SeqCst)
    }

    /// Makes `token` valid, Clerk answering `answer` for it (e.g. [`api_key_json`]).
    pub fn add_machine_token(&self, token: &str, answer: Value) {
        let mut api = self.state.machine_tokens.lock().unwrap();
        api.tokens.insert(token.to_string(), answer);
    }

    /// Revokes `token` in Clerk: its verification answers 404 from now on.
    pub fn revoke_machine_token(&self, token: &str) {
        let mut api = self.state.machine_tokens.lock().unwrap();
        if let Some(answer) = api.tokens.get_mut(token) {
            answer["revoked"] = json!(true);
        }
    }

    /// Answers every verify request (after the secret check) with `fault` until told otherwise.
    pub fn fail_machine_tokens_with(&self, fault: UsersFault) {
        self.state.machine_tokens.lock().unwrap().fault = fault;
    }

    /// The bodies of the `POST /api_keys` requests so far.
    pub fn created_api_keys(&self) -> Vec<Value> {
        self.state.machine_tokens.lock().unwrap().created.clone()
    }

    /// Every request to a verify endpoint: authorised or not, answered or not.
    pub fn machine_token_calls(&self) -> usize {
        self.state.machine_token_calls.load(Ordering::SeqCst)
    }

    /// The `traceparent` of the last users-API request (W3C Trace Context).
    pub fn last_users_traceparent(&self) -> Option<String> {
        self.state.users.lock().unwrap().last_traceparent.clone()
    }

    /// The `User-Agent` of the last users-API request.
    pub fn last_users_user_agent(&self) -> Option<String> {
        self.state.users.lock().unwrap().last_user_agent.clone()
    }
}

/// A user as Clerk's Backend API returns it (ARCHITECTURE §9): one verified primary email
/// `<id>@example.com`, names, an image, `public_metadata.role` when `role` is given, timestamps in
/// milliseconds. Tests adjust fields with `user["created_at"] = json!(…)`.
pub fn clerk_user_json(id: &str, role: Option<&str>) -> Value {
    const CREATED_AT: i64 = 1_716_883_200_000;
    let email_id = format!("idn_{id}");
    let public_metadata = match role {
        Some(role) => json!({ "role": role }),
        None => json!({}),
    };
    json!({
        "id": id,
        "object": "user",
        "username": null,
        "first_name": "Ada",
        "last_name": format!("Lovelace {id}"),
        "image_url": format!("https://img.clerk.com/{id}.png"),
        "profile_image_url": format!("https://images.clerk.dev/{id}.png"),
        "has_image": true,
        "primary_email_address_id": email_id,
        "primary_phone_number_id": null,
        "primary_web3_wallet_id": null,
        "password_enabled": true,
        "two_factor_enabled": false,
        "totp_enabled": false,
        "backup_code_enabled": false,
        "email_addresses": [{
            "id": email_id,
            "object": "email_address",
            "email_address": format!("{id}@example.com"),
            "reserved": false,
            "verification": {
                "object": "verification_email_code",
                "status": "verified",
                "strategy": "email_code",
                "attempts": 1,
                "expire_at": CREATED_AT + 600_000
            },
            "linked_to": [],
            "matches_sso_connection": false,
            "created_at": CREATED_AT,
            "updated_at": CREATED_AT
        }],
        "phone_numbers": [],
        "web3_wallets": [],
        "passkeys": [],
        "external_accounts": [],
        "saml_accounts": [],
        "enterprise_accounts": [],
        "public_metadata": public_metadata,
        "private_metadata": {},
        "unsafe_metadata": {},
        "external_id": null,
        "last_sign_in_at": CREATED_AT + 3_600_000,
        "banned": false,
        "locked": false,
        "lockout_expires_in_seconds": null,
        "verification_attempts_remaining": 100,
        "created_at": CREATED_AT,
        "updated_at": CREATED_AT + 60_000,
        "delete_self_enabled": true,
        "create_organization_enabled": true,
        "last_active_at": CREATED_AT,
        "mfa_enabled_at": null,
        "mfa_disabled_at": null,
        "legal_accepted_at": null
    })
}

/// Clerk's answer for a valid API key: `subject` is `user_…` or `org_…`; expiration in ms.
pub fn api_key_json(id: &str, subject: &str, scopes: &[&str], expiration: Option<i64>) -> Value {
    json!({
        "object": "api_key", "id": id, "type": "api_key", "name": "test key",
        "subject": subject, "scopes": scopes, "claims": {"metadata": {"role": "admin"}},
        "revoked": false, "revocation_reason": null, "expired": false,
        "expiration": expiration, "created_by": "user_creator", "description": null,
        "last_used_at": null, "created_at": 1_700_000_000_000_i64,
        "updated_at": 1_700_000_000_000_i64,
    })
}

/// Clerk's answer for a valid opaque M2M token of machine `subject` (`mch_…`).
pub fn m2m_token_json(id: &str, subject: &str, scopes: &[&str], expiration: Option<i64>) -> Value {
    json!({
        "object": "machine_to_machine_token", "id": id, "subject": subject, "scopes": scopes,
        "claims": null, "revoked": false, "revocation_reason": null, "expired": false,
        "expiration": expiration, "created_at": 1_700_000_000_000_i64,
        "updated_at": 1_700_000_000_000_i64,
    })
}

/// Clerk's answer for a valid opaque OAuth access token of `client_id` acting for `subject`.
pub fn oauth_token_json(id: &str, subject: &str, client_id: &str, scopes: &[&str]) -> Value {
    json!({
        "object": "clerk_idp_oauth_access_token", "id": id, "client_id": client_id,
        "subject": subject, "scopes": scopes, "revoked": false, "revocation_reason": null,
        "expired": false, "expiration": null, "created_at": 1_700_000_000_000_i64,
        "updated_at": 1_700_000_000_000_i64,
    })
}

async fn verify_api_key(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    body: axum::Json<Value>,
) -> Response {
    verify_machine_token(&state, &headers, &body, "secret", "ak_").await
}

async fn verify_m2m_token(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    body: axum::Json<Value>,
) -> Response {
    verify_machine_token(&state, &headers, &body, "token", "mt_").await
}

async fn verify_oauth_token(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    body: axum::Json<Value>,
) -> Response {
    verify_machine_token(&state, &headers, &body, "access_token", "oat_").await
}

/// As Clerk: 401 for a wrong secret key, 404 for a token it does not know (or of another kind,
/// or revoked, or expired), else the token's description.
async fn verify_machine_token(
    state: &FakeState,
    headers: &HeaderMap,
    body: &Value,
    field: &str,
    prefix: &str,
) -> Response {
    state.machine_token_calls.fetch_add(1, Ordering::SeqCst);
    let authorized = headers.get("authorization").and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {SECRET_KEY}"));
    if !authorized {
        return clerk_errors(
            StatusCode::UNAUTHORIZED,
            "clerk_key_invalid",
            "The provided Clerk Secret Key is invalid.",
        );
    }
    let (fault, answer) = {
        let api = state.machine_tokens.lock().unwrap();
        let token = body[field]
            .as_str()
            .filter(|token| token.starts_with(prefix));
        (
            api.fault,
            token.and_then(|token| api.tokens.get(token).cloned()),
        )
    };
    match fault {
        UsersFault::None => {}
        UsersFault::Status(code) => return StatusCode::from_u16(code).unwrap().into_response(),
        UsersFault::RateLimited { retry_after_secs } => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", retry_after_secs.to_string())],
                axum::Json(json!({ "errors": [{ "code": "too_many_requests" }] })),
            )
                .into_response();
        }
        UsersFault::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return StatusCode::GATEWAY_TIMEOUT.into_response();
        }
    }
    let now_ms = crate::tokens::now() * 1000;
    let valid = answer.filter(|answer| {
        answer["revoked"] != json!(true)
            && answer["expiration"]
                .as_i64()
                .is_none_or(|expiration| expiration > now_ms)
    });
    match valid {
        Some(answer) => axum::Json(answer).into_response(),
        None => clerk_errors(StatusCode::NOT_FOUND, "resource_not_found", "not found"),
    }
}

fn authorised(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {SECRET_KEY}"))
}

/// `POST /api_keys`: a new key with a random secret, valid for verification from now on.
async fn create_api_key(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if !authorised(&headers) {
        return clerk_errors(StatusCode::UNAUTHORIZED, "clerk_key_invalid", "invalid key");
    }
    let mut api = state.machine_tokens.lock().unwrap();
    let n = api.created.len();
    let secret = format!("ak_created_{n}_{:016x}", rand::random::<u64>());
    let expiration = body["seconds_until_expiration"]
        .as_i64()
        .map(|secs| (crate::tokens::now() + secs) * 1000);
    let scopes: Vec<&str> = body["scopes"]
        .as_array()
        .map(|list| list.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut key = api_key_json(
        &format!("ak_id_{n}"),
        body["subject"].as_str().unwrap_or_default(),
        &scopes,
        expiration,
    );
    key["name"] = body["name"].clone();
    key["claims"] = Value::Null;
    api.tokens.insert(secret.clone(), key.clone());
    api.created.push(body);
    key["secret"] = json!(secret);
    axum::Json(key).into_response()
}

/// `GET /api_keys?subject=…`: the subject's valid keys, paginated as Clerk does.
async fn list_api_keys(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    if !authorised(&headers) {
        return clerk_errors(StatusCode::UNAUTHORIZED, "clerk_key_invalid", "invalid key");
    }
    let api = state.machine_tokens.lock().unwrap();
    let subject = query.get("subject").map(String::as_str);
    let mut keys: Vec<Value> = api
        .tokens
        .values()
        .filter(|key| key["object"] == json!("api_key") && key["subject"].as_str() == subject)
        .filter(|key| key["revoked"] != json!(true))
        .cloned()
        .collect();
    keys.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    let total = keys.len();
    axum::Json(json!({ "data": keys, "total_count": total })).into_response()
}

/// `POST /api_keys/{id}/revoke`.
async fn revoke_api_key(
    State(state): State<Arc<FakeState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !authorised(&headers) {
        return clerk_errors(StatusCode::UNAUTHORIZED, "clerk_key_invalid", "invalid key");
    }
    let mut api = state.machine_tokens.lock().unwrap();
    match api.tokens.values_mut().find(|key| key["id"] == json!(id)) {
        Some(key) => {
            key["revoked"] = json!(true);
            axum::Json(key.clone()).into_response()
        }
        None => clerk_errors(StatusCode::NOT_FOUND, "resource_not_found", "not found"),
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

fn clerk_errors(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(
            json!({ "errors": [{ "code": code, "message": message, "long_message": message }] }),
        ),
    )
        .into_response()
}

/// What every users-API request goes through before the store is read: counting, the secret
/// check, then the fault switch. `Some` is the answer to give instead.
async fn users_prelude(state: &FakeState, headers: &HeaderMap) -> Option<Response> {
    state.users_calls.fetch_add(1, Ordering::SeqCst);
    let fault = {
        let mut api = state.users.lock().unwrap();
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        api.last_user_agent = header("user-agent");
        api.last_traceparent = header("traceparent");
        let authorized = headers.get("authorization").and_then(|v| v.to_str().ok())
            == Some(&format!("Bearer {SECRET_KEY}"));
        if !authorized {
            return Some(clerk_errors(
                StatusCode::UNAUTHORIZED,
                "clerk_key_invalid",
                "The provided Clerk Secret Key is invalid.",
            ));
        }
        let fault = api.fault;
        if let Some(remaining) = api.fault_remaining.as_mut() {
            *remaining = remaining.saturating_sub(1);
            if *remaining == 0 {
                api.fault = UsersFault::None;
                api.fault_remaining = None;
            }
        }
        fault
    };
    match fault {
        UsersFault::None => None,
        UsersFault::Status(code) => Some(StatusCode::from_u16(code).unwrap().into_response()),
        UsersFault::RateLimited { retry_after_secs } => Some(
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", retry_after_secs.to_string())],
                axum::Json(json!({ "errors": [{ "code": "too_many_requests" }] })),
            )
                .into_response(),
        ),
        UsersFault::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Some(StatusCode::GATEWAY_TIMEOUT.into_response())
        }
    }
}

async fn get_user(
    State(state): State<Arc<FakeState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(response) = users_prelude(&state, &headers).await {
        return response;
    }
    let user = state
        .users
        .lock()
        .unwrap()
        .store
        .iter()
        .find(|u| u["id"] == id.as_str())
        .cloned();
    match user {
        Some(user) => axum::Json(user).into_response(),
        None => clerk_errors(StatusCode::NOT_FOUND, "resource_not_found", "not found"),
    }
}

/// `GET /v1/users`: the `user_id` filter (at most 100 values, as Clerk), `limit` (default 10,
/// 1..=500), `offset`, and `order_by` `+created_at` (anything else: Clerk's default
/// `-created_at`). A bare array, as Clerk answers.
async fn list_users(
    State(state): State<Arc<FakeState>>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    if let Some(response) = users_prelude(&state, &headers).await {
        return response;
    }
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let user_ids: Vec<&str> = params
        .iter()
        .filter(|(k, _)| k == "user_id")
        .map(|(_, v)| v.as_str())
        .collect();
    if user_ids.len() > 100 {
        return clerk_errors(
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_exceeds_allowed_size",
            "user_id accepts at most 100 values",
        );
    }
    let limit = match param("limit").map(str::parse::<usize>) {
        None => 10,
        Some(Ok(limit)) if (1..=500).contains(&limit) => limit,
        Some(_) => {
            return clerk_errors(
                StatusCode::UNPROCESSABLE_ENTITY,
                "form_param_value_invalid",
                "limit must be between 1 and 500",
            );
        }
    };
    let Ok(offset) = param("offset").unwrap_or("0").parse::<usize>() else {
        return clerk_errors(
            StatusCode::UNPROCESSABLE_ENTITY,
            "form_param_value_invalid",
            "offset must be a non-negative integer",
        );
    };
    let mut users: Vec<Value> = state
        .users
        .lock()
        .unwrap()
        .store
        .iter()
        .filter(|u| user_ids.is_empty() || user_ids.iter().any(|id| u["id"] == *id))
        .cloned()
        .collect();
    // A stable sort, so that pages of users created at the same millisecond are deterministic.
    users.sort_by_key(|u| u["created_at"].as_i64().unwrap_or(0));
    if param("order_by") != Some("+created_at") {
        users.reverse();
    }
    let page: Vec<Value> = users.into_iter().skip(offset).take(limit).collect();
    axum::Json(Value::Array(page)).into_response()
}
