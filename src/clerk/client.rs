//! A small client for the users endpoints of Clerk's Backend API (ARCHITECTURE §9).
//!
//! Every logical call (one method call, however many HTTP requests it makes) has a time budget,
//! `request_budget`: it is a deadline, not a per-attempt time-out, so retries, back-off and
//! `Retry-After` waits all fit inside it and a GraphQL request never waits on Clerk for longer.
//!
//! - 5xx answers, transport errors and time-outs are retried a bounded number of times with
//!   exponential back-off and jitter, as long as the back-off still fits in the budget;
//! - a 429 is retried after its `Retry-After` only when that wait fits in what is left of the
//!   budget; otherwise the call fails at once with [`ClerkError::RateLimited`] (Clerk blocks the
//!   endpoint until then, so an earlier retry would only be refused again);
//! - 401/403 mean the secret key is wrong and are never retried.
//!
//! Neither the secret nor response bodies (which carry email addresses) are ever logged or put
//! into an error message.

use std::collections::HashSet;
use std::error::Error as _;
use std::fmt;
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt, stream};
use rand::Rng;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::user::ClerkUser;
use crate::config::Secret;
use crate::metrics::{self, ClerkEndpoint, ClientError};
use crate::telemetry;

/// Clerk accepts at most 100 values per filter of `GET /v1/users` (ARCHITECTURE §9).
pub const MAX_IDS_PER_CALL: usize = 100;

/// The largest `limit` Clerk accepts on `GET /v1/users`.
pub const MAX_LIST_LIMIT: u32 = 500;

/// Chunks of one `get_users` call in flight at once: enough to keep a large batch well inside the
/// budget, few enough not to burn through the development instance's 100 requests / 10 s.
const CHUNK_CONCURRENCY: usize = 4;

/// Time-outs and retries. Not environment variables: the defaults suit a request path; tests
/// shorten them.
#[derive(Debug, Clone)]
pub struct ClerkClientSettings {
    /// Time limit for establishing a TCP/TLS connection.
    pub connect_timeout: Duration,
    /// Total time one logical call may take, retries and waits included.
    pub request_budget: Duration,
    /// HTTP attempts per request (the first one included).
    pub max_attempts: u32,
    /// Back-off before the n-th retry is `retry_base_delay * 2^(n-1)`, times a random factor in
    /// [1, 2) so that many callers failing together do not retry in lockstep.
    pub retry_base_delay: Duration,
}

impl Default for ClerkClientSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(1),
            request_budget: Duration::from_secs(3),
            max_attempts: 3,
            retry_base_delay: Duration::from_millis(100),
        }
    }
}

/// Why a Backend API call failed. `Clone` because a failed batch is handed to every GraphQL field
/// waiting on it (the dataloader and the cache share one result), hence the sources as strings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClerkError {
    /// 5xx, transport error or time-out, after the retries the budget allowed.
    #[error("the Clerk Backend API is unavailable: {0}")]
    Unavailable(String),
    /// 429 whose `Retry-After` does not fit in the request budget.
    #[error("the Clerk Backend API rate limit was reached (retry after {retry_after:?})")]
    RateLimited { retry_after: Option<Duration> },
    /// 401/403: the secret key is wrong, revoked, or for another instance.
    #[error("the Clerk Backend API refused the secret key (check CLERK_SECRET_KEY)")]
    Unauthorized,
    /// An answer that should not happen: another 4xx, or a body that is not what Clerk documents.
    #[error("unexpected answer from the Clerk Backend API: {0}")]
    Unexpected(String),
}

impl ClerkError {
    /// True when Clerk could not answer the question at all, as opposed to answering something
    /// unexpected: such failures map to `SERVICE_UNAVAILABLE` in GraphQL. A wrong secret belongs
    /// here too: from the client's point of view the service is unusable, not the request wrong.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Self::Unavailable(_) | Self::RateLimited { .. } | Self::Unauthorized
        )
    }
}

/// What a failed attempt means for the retry loop.
enum AttemptError {
    /// Worth retrying after a back-off: 5xx, transport error, time-out.
    Transient(String),
    /// 429, with the wait Clerk asked for.
    RateLimited(Option<Duration>),
    /// Retrying cannot help.
    Fatal(ClerkError),
}

/// Calls the users endpoints of the Backend API. Cheap to clone: clones share one connection pool.
#[derive(Clone)]
pub struct ClerkClient {
    http: reqwest::Client,
    /// Base URL without a trailing slash, e.g. `https://api.clerk.com`.
    api_url: String,
    /// `Bearer <secret>`, marked sensitive so that it never shows in `Debug` output. `None` when the
    /// secret cannot be a header value: such a secret is wrong, and every call says so.
    authorization: Option<HeaderValue>,
    settings: ClerkClientSettings,
}

impl fmt::Debug for ClerkClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClerkClient")
            .field("api_url", &self.api_url)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl ClerkClient {
    /// `api_url` is `CLERK_API_URL` (already validated by the configuration), without `/v1`.
    pub fn new(api_url: impl Into<String>, secret: Secret, settings: ClerkClientSettings) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .user_agent(concat!("clerk-graphql/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a reqwest client with only a time-out and a user agent always builds");
        let authorization = HeaderValue::from_str(&format!("Bearer {}", secret.expose()))
            .ok()
            .map(|mut value| {
                value.set_sensitive(true);
                value
            });
        Self {
            http,
            api_url: api_url.into().trim_end_matches('/').to_string(),
            authorization,
            settings,
        }
    }

    pub fn settings(&self) -> &ClerkClientSettings {
        &self.settings
    }

    /// `GET /v1/users/{id}`. `Ok(None)` when Clerk has no such user (or the id cannot be a Clerk
    /// id, see [`is_plausible_user_id`]; no call is made then).
    pub async fn get_user(&self, id: &str) -> Result<Option<ClerkUser>, ClerkError> {
        if !is_plausible_user_id(id) {
            return Ok(None);
        }
        let mut url = self.users_url()?;
        url.path_segments_mut()
            .map_err(|()| ClerkError::Unexpected("CLERK_API_URL cannot be a base URL".into()))?
            .push(id);
        self.get_json(Call::get(url, ClerkEndpoint::GetUser), self.deadline())
            .await
    }

    /// `GET /v1/users?user_id=…&limit=100`, one HTTP call per 100 distinct ids, all within one
    /// request budget. The users come back in no particular order; unknown ids are simply absent.
    pub async fn get_users(&self, ids: &[String]) -> Result<Vec<ClerkUser>, ClerkError> {
        let mut seen = HashSet::new();
        let ids: Vec<String> = ids
            .iter()
            .filter(|id| is_plausible_user_id(id) && seen.insert(id.as_str()))
            .cloned()
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let deadline = self.deadline();
        // Owned chunks: a stream of futures borrowing `&[&str]` is not provably `Send` for every
        // lifetime, which the dataloader's `Send` future requires.
        let chunks: Vec<Vec<String>> = ids
            .chunks(MAX_IDS_PER_CALL)
            .map(<[String]>::to_vec)
            .collect();
        let chunks: Vec<Vec<ClerkUser>> = stream::iter(chunks)
            .map(|chunk| async move { self.get_user_chunk(&chunk, deadline).await })
            .buffer_unordered(CHUNK_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(chunks.into_iter().flatten().collect())
    }

    async fn get_user_chunk(
        &self,
        ids: &[String],
        deadline: Instant,
    ) -> Result<Vec<ClerkUser>, ClerkError> {
        let mut url = self.users_url()?;
        {
            // `query_pairs_mut` percent-encodes each value, as a query string must be.
            let mut query = url.query_pairs_mut();
            for id in ids {
                query.append_pair("user_id", id);
            }
            // The default limit is 10: without this, a chunk of 100 ids would return 10 users.
            query.append_pair("limit", &MAX_IDS_PER_CALL.to_string());
        }
        let users: Vec<ClerkUser> = self
            .get_json(Call::get(url, ClerkEndpoint::GetUsers), deadline)
            .await?
            .ok_or_else(|| ClerkError::Unexpected("GET /v1/users answered 404".into()))?;
        // Keep only what was asked for, whatever the filter semantics turn out to be.
        Ok(users
            .into_iter()
            .filter(|user| ids.contains(&user.id))
            .collect())
    }

    /// `GET /v1/users?limit=&offset=&order_by=+created_at`: one page of all users, oldest first
    /// (a stable order, so that pages do not shift as users sign up). `limit` is clamped to
    /// Clerk's 1..=500. Clerk warns that large offsets get slow: this is for admin listings.
    pub async fn list_users(&self, limit: u32, offset: u32) -> Result<Vec<ClerkUser>, ClerkError> {
        let mut url = self.users_url()?;
        // Percent-encoded: a bare `+` in `+created_at` would read as a space.
        url.query_pairs_mut()
            .append_pair("limit", &limit.clamp(1, MAX_LIST_LIMIT).to_string())
            .append_pair("offset", &offset.to_string())
            .append_pair("order_by", "+created_at");
        self.get_json(Call::get(url, ClerkEndpoint::ListUsers), self.deadline())
            .await?
            .ok_or_else(|| ClerkError::Unexpected("GET /v1/users answered 404".into()))
    }

    fn users_url(&self) -> Result<Url, ClerkError> {
        Url::parse(&format!("{}/v1/users", self.api_url))
            .map_err(|e| ClerkError::Unexpected(format!("CLERK_API_URL is not a URL: {e}")))
    }

    /// `{CLERK_API_URL}{path}`; `path` starts with `/`.
    pub(super) fn endpoint(&self, path: &str) -> Result<Url, ClerkError> {
        Url::parse(&format!("{}{path}", self.api_url))
            .map_err(|e| ClerkError::Unexpected(format!("CLERK_API_URL is not a URL: {e}")))
    }

    pub(super) fn deadline(&self) -> Instant {
        Instant::now() + self.settings.request_budget
    }

    /// One logical GET with retries, bounded by `deadline`. `Ok(None)` is Clerk's 404
    /// `resource_not_found`.
    async fn get_json<T: DeserializeOwned>(
        &self,
        call: Call,
        deadline: Instant,
    ) -> Result<Option<T>, ClerkError> {
        self.call_json(&call, deadline).await
    }

    /// One logical call with retries, bounded by `deadline`. `Ok(None)` is a 404 that means
    /// "no such thing" (see [`Call::any_404_is_absent`]).
    pub(super) async fn call_json<T: DeserializeOwned>(
        &self,
        call: &Call,
        deadline: Instant,
    ) -> Result<Option<T>, ClerkError> {
        let operation = call.endpoint.operation();
        let max_attempts = self.settings.max_attempts.max(1);
        let mut attempt = 1;
        let error = loop {
            if attempt > 1 {
                metrics::clerk_retry(call.endpoint);
            }
            let failure = match self.attempt(call, deadline).await {
                Ok(reply) => return Ok(reply),
                Err(failure) => failure,
            };
            let remaining = deadline.saturating_duration_since(Instant::now());
            let more_attempts = attempt < max_attempts;
            match failure {
                AttemptError::Fatal(error) => break error,
                AttemptError::Transient(message) => {
                    let delay = self.backoff(attempt);
                    // Sleeping past the deadline would only end in the same failure, later.
                    if !more_attempts || delay >= remaining {
                        break ClerkError::Unavailable(format!(
                            "{message} (after {attempt} attempt(s))"
                        ));
                    }
                    tracing::debug!(
                        operation,
                        attempt,
                        %message,
                        ?delay,
                        "retrying a Clerk Backend API call"
                    );
                    tokio::time::sleep(delay).await;
                }
                AttemptError::RateLimited(retry_after) => {
                    // Without a `Retry-After` (Clerk always sends one), fall back to the back-off.
                    let wait = retry_after.unwrap_or_else(|| self.backoff(attempt));
                    if !more_attempts || wait >= remaining {
                        break ClerkError::RateLimited { retry_after };
                    }
                    tracing::debug!(
                        operation,
                        attempt,
                        ?wait,
                        "rate limited by Clerk, waiting out Retry-After"
                    );
                    tokio::time::sleep(wait).await;
                }
            }
            attempt += 1;
        };
        // Only the operation and the error: never the request headers (the secret) nor a
        // response body (email addresses).
        tracing::warn!(operation, attempts = attempt, %error, "Clerk Backend API call failed");
        Err(error)
    }

    /// One HTTP exchange, body included, cut short at the deadline; timed until its status (or
    /// its failure) is known.
    async fn attempt<T: DeserializeOwned>(
        &self,
        call: &Call,
        deadline: Instant,
    ) -> Result<Option<T>, AttemptError> {
        let Some(authorization) = &self.authorization else {
            return Err(AttemptError::Fatal(ClerkError::Unauthorized));
        };
        let started = Instant::now();
        let mut answered = false;
        let exchange = async {
            let mut request = self
                .http
                .request(call.method.clone(), call.url.clone())
                .header(AUTHORIZATION, authorization.clone());
            if let Some(body) = &call.body {
                request = request.json(body);
            }
            let request = request.build().map_err(transport_error)?;
            let template = call.endpoint.url_template();
            let response = match telemetry::send(&self.http, request, template).await {
                Ok(response) => response,
                Err(error) => {
                    let elapsed = started.elapsed();
                    metrics::clerk_request(call.endpoint, Err(ClientError::Transport), elapsed);
                    answered = true;
                    return Err(transport_error(error));
                }
            };
            let status = response.status();
            metrics::clerk_request(call.endpoint, Ok(status.as_u16()), started.elapsed());
            answered = true;
            if status.is_success() {
                let body = response.bytes().await.map_err(transport_error)?;
                return serde_json::from_slice(&body).map(Some).map_err(|e| {
                    AttemptError::Fatal(ClerkError::Unexpected(describe_json_error(&e)))
                });
            }
            match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    Err(AttemptError::Fatal(ClerkError::Unauthorized))
                }
                StatusCode::TOO_MANY_REQUESTS => {
                    Err(AttemptError::RateLimited(retry_after(response.headers())))
                }
                status if status.is_server_error() => {
                    Err(AttemptError::Transient(format!("HTTP {status}")))
                }
                status => {
                    let body = response.bytes().await.map_err(transport_error)?;
                    let code = clerk_error_code(&body);
                    // A 404 is "no such user" only when Clerk says so: a 404 from a proxy or a
                    // wrong CLERK_API_URL must not pass for every user having been deleted.
                    if status == StatusCode::NOT_FOUND
                        && (call.any_404_is_absent || code.as_deref() == Some("resource_not_found"))
                    {
                        return Ok(None);
                    }
                    Err(AttemptError::Fatal(ClerkError::Unexpected(format!(
                        "HTTP {status} (code {})",
                        code.as_deref().unwrap_or("none")
                    ))))
                }
            }
        };
        let result = tokio::time::timeout_at(deadline, exchange).await;
        result.unwrap_or_else(|_| {
            if !answered {
                metrics::clerk_request(call.endpoint, Err(ClientError::Timeout), started.elapsed());
            }
            Err(AttemptError::Transient(
                "no answer within the request budget".into(),
            ))
        })
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let factor = rand::rng().random_range(1.0..2.0);
        let exponent = attempt.saturating_sub(1).min(16) as i32;
        self.settings
            .retry_base_delay
            .mul_f64(factor * 2f64.powi(exponent))
    }
}

/// One HTTP request of a logical call, repeated as is by the retries.
pub(super) struct Call {
    method: Method,
    url: Url,
    /// Which endpoint: its path with the ids as placeholders (`/v1/users/{user_id}`) names the
    /// call's span and labels its metrics, never an id.
    endpoint: ClerkEndpoint,
    /// A JSON body (which may hold a token: never logged).
    body: Option<serde_json::Value>,
    /// Whether every 404 means "no such thing". The users endpoints want Clerk's own
    /// `resource_not_found` code, so that a wrong `CLERK_API_URL` is not taken for deleted
    /// users; the token verify endpoints answer a bare 404 for an unknown, revoked or expired
    /// token.
    any_404_is_absent: bool,
}

impl Call {
    pub(super) fn get(url: Url, endpoint: ClerkEndpoint) -> Self {
        Self {
            method: Method::GET,
            url,
            endpoint,
            body: None,
            any_404_is_absent: false,
        }
    }

    /// A POST whose 404 means "no such thing" only with Clerk's `resource_not_found`.
    pub(super) fn post(url: Url, endpoint: ClerkEndpoint, body: serde_json::Value) -> Self {
        Self {
            method: Method::POST,
            url,
            endpoint,
            body: Some(body),
            any_404_is_absent: false,
        }
    }

    pub(super) fn verify(url: Url, endpoint: ClerkEndpoint, body: serde_json::Value) -> Self {
        Self {
            method: Method::POST,
            url,
            endpoint,
            body: Some(body),
            any_404_is_absent: true,
        }
    }
}

/// Whether `id` can be a Clerk user id (`user_` followed by base62 in practice). Anything else is
/// answered "no such user" without a call: an empty id, `.` or `..` would change the path
/// (`/v1/users/` is the list endpoint), and a leading `+`/`-` means include/exclude in a
/// `user_id` filter, which would return users that were never asked for.
pub fn is_plausible_user_id(id: &str) -> bool {
    id.len() <= 128
        && id.starts_with(|c: char| c.is_ascii_alphanumeric())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// The message of a transport error with its causes ("connection refused" is in the source), but
/// no request headers: reqwest never puts them in its errors.
fn transport_error(error: reqwest::Error) -> AttemptError {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    AttemptError::Transient(message)
}

/// Where and what kind of parse error, without serde's excerpt of the offending value (which can
/// be an email address).
fn describe_json_error(error: &serde_json::Error) -> String {
    format!(
        "the body is not the documented JSON ({:?} error at line {}, column {})",
        error.classify(),
        error.line(),
        error.column()
    )
}

/// `errors[0].code` of a Clerk error body: a fixed identifier, safe to log, unlike `message`.
fn clerk_error_code(body: &[u8]) -> Option<String> {
    let body: serde_json::Value = serde_json::from_slice(body).ok()?;
    Some(body["errors"][0]["code"].as_str()?.to_string())
}

/// Clerk's `Retry-After` is a number of seconds (ARCHITECTURE §9). An HTTP date is not expected
/// and is treated as absent.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plausible_ids() {
        assert!(is_plausible_user_id("user_2abcXYZ09"));
        for id in [
            "", ".", "..", "-user_1", "+user_1", "user/1", "user 1", "user%2F1",
        ] {
            assert!(!is_plausible_user_id(id), "{id:?}");
        }
        assert!(!is_plausible_user_id(&"a".repeat(129)));
    }

    #[test]
    fn retry_after_is_seconds() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn unavailable_means_clerk_could_not_answer() {
        assert!(ClerkError::Unavailable("x".into()).is_unavailable());
        assert!(ClerkError::RateLimited { retry_after: None }.is_unavailable());
        assert!(ClerkError::Unauthorized.is_unavailable());
        assert!(!ClerkError::Unexpected("x".into()).is_unavailable());
    }

    #[test]
    fn debug_does_not_show_the_secret() {
        let client = ClerkClient::new(
            "http://127.0.0.1:1/",
            Secret::new("sk_test_do_not_print"),
            ClerkClientSettings::default(),
        );
        let debug = format!("{client:?}");
        assert!(!debug.contains("sk_test_do_not_print"), "{debug}");
        assert!(debug.contains("http://127.0.0.1:1\""), "{debug}");
    }
}
