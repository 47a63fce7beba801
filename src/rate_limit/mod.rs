//! Rate limits and the brute-force lockout.
//!
//! - **Per address** on `/graphql` (GraphQL executions over POST and GET, not the playground
//!   page) and on the `/graphql/ws` upgrade: `RATE_LIMIT_IP_PER_MINUTE`, checked before the
//!   token is read.
//! - **Per user** on `/graphql`, keyed by the Clerk user id once the token is verified:
//!   `RATE_LIMIT_USER_PER_MINUTE`, whichever addresses the user comes from.
//! - **Per address** on `POST /webhooks/clerk`: `WEBHOOK_RATE_LIMIT_PER_MINUTE`, a bound of its
//!   own (Svix delivers in bursts from a few addresses).
//! - **Lockout**: an address that presents `AUTH_FAILURES_PER_MINUTE` invalid session tokens
//!   (401 answers) within a minute is locked out for `AUTH_LOCKOUT_SECS`, four times longer for
//!   each repeat offence up to `AUTH_LOCKOUT_MAX_SECS`. While it is, a request from it whose token
//!   fails verification is answered 429 `auth_lockout` instead of 401 — but a request with a
//!   **valid** token, or with none, is served as usual: a lockout slows down whoever guesses
//!   tokens, never the honest users behind the same address (an office or carrier-grade NAT).
//!   The start of a lockout is logged once. Not counted: 503 `jwks_unavailable` (our outage), no
//!   key source at all (our configuration), tokens refused only for their time claims
//!   (`token_expired`, `token_not_active_yet`, `token_iat_in_the_future`), for their session
//!   having ended (`session_revoked`) or for their lifetime (`token_lifetime_too_long`): those
//!   carry a valid signature of our Clerk instance, so they are stale tokens of real users (a
//!   laptop waking up, a skewed clock), not guesses. What signed-out frontends send (an empty
//!   `Authorization`, `Bearer null`, `Bearer undefined`) is no token at all (`auth::token`).
//!   Unknown opaque machine tokens (`machine_token_invalid`) also count towards a stricter quota
//!   ([`UNKNOWN_OPAQUE_TOKENS_PER_MINUTE`]), each having cost a Clerk call; while an address is
//!   locked out, an opaque token not verified lately is refused before Clerk is asked
//!   ([`RateLimiter::admit_new_opaque_token`]).
//!   WebSocket `connection_init` failures count only from pages this server trusts (see
//!   `websocket`): browsers apply no CORS to WebSockets, so any page could otherwise spend its
//!   visitors' budget.
//!
//! Over a limit the answer is HTTP 429 with `Retry-After` (whole seconds, at least 1) and
//! `{"errors":[{"message":…,"extensions":{"code":"RATE_LIMITED","reason":…}}]}`.
//!
//! Algorithm: GCRA (the generic cell rate algorithm, a token bucket kept as one timestamp per
//! key): a quota of N per minute is a bucket of N requests refilled continuously at N per minute,
//! so N requests may come at once and N per minute keep coming. Keys are client addresses (IPv6 by
//! /64, see [`crate::net::limited_address`]) and user ids; the client address is the socket peer or,
//! behind `TRUSTED_PROXIES`, read from `X-Forwarded-For` ([`crate::net`]).
//!
//! State lives behind [`RateLimitStore`], in one of two stores. Without `REDIS_URL`,
//! [`MemoryStore`] keeps it in this process (`governor`'s keyed limiters, a bounded number of
//! keys: a flood of distinct addresses evicts, it does not grow memory), and with several
//! instances each counts on its own. With `REDIS_URL`, [`RedisStore`] keeps it in Redis, shared by
//! every replica (one atomic script per check, on Redis's clock), and falls back to its own
//! `MemoryStore` while Redis cannot be reached: a Redis outage makes limits per replica for a
//! while, never an API outage.

mod local_clock;
pub mod memory;
mod outage;
pub mod redis_store;
pub mod slots;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use crate::auth::AuthFailure;
use crate::auth::clock::Clock;
use crate::config::RateLimitConfig;
use crate::net::{TrustedProxies, limited_address};
use crate::shared::SharedRedis;
pub use memory::MemoryStore;
pub use redis_store::RedisStore;

/// Whom a quota counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// GraphQL requests of a client address ([`limited_address`]).
    Address(IpAddr),
    /// GraphQL requests of a signed-in user (Clerk user id).
    User(Arc<str>),
    /// Webhook deliveries from an address.
    Webhook(IpAddr),
    /// Invalid session tokens presented from an address.
    InvalidTokens(IpAddr),
    /// Opaque machine tokens from an address that Clerk did not know: each cost a Clerk call.
    UnknownOpaqueTokens(IpAddr),
}

/// Unknown opaque tokens (`ak_…`, `mt_…`, `oat_…`) per address and minute before a lockout,
/// when lower than `AUTH_FAILURES_PER_MINUTE`: each one cost a call to Clerk's Backend API,
/// whose rate limit (1,000 requests per 10 s) and bill the instance shares, so a spray of random
/// keys is stopped after a handful instead of after a session-token guesser's allowance.
pub const UNKNOWN_OPAQUE_TOKENS_PER_MINUTE: u32 = 5;

/// `limit` requests per `period`, up to `limit` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    pub limit: u32,
    pub period: Duration,
}

impl Quota {
    pub const MINUTE: Duration = Duration::from_secs(60);

    /// `None` for 0, which turns a limit off.
    pub fn per_minute(limit: u32) -> Option<Self> {
        (limit > 0).then_some(Self {
            limit,
            period: Self::MINUTE,
        })
    }
}

/// The answer of a store for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Within the quota; `remaining` more requests would be allowed right now.
    Allow { remaining: u32 },
    /// Over the quota: the next request is allowed after `retry_after`.
    Deny { retry_after: Duration },
}

/// How long lockouts last: `base` the first time, four times longer for each repeat offence (a
/// lockout starting less than `max` after the previous one ended), never more than `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    pub base: Duration,
    pub max: Duration,
}

impl LockoutPolicy {
    /// The length of the `strike`-th lockout in a row (1-based).
    pub fn duration(&self, strike: u32) -> Duration {
        let factor = 4u32.saturating_pow(strike.saturating_sub(1));
        self.base
            .saturating_mul(factor)
            .min(self.max)
            .max(self.base)
    }
}

/// A lockout that has just started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lockout {
    pub duration: Duration,
    /// 1 for a first offence, 2 for the next one in a row, …
    pub strike: u32,
}

/// Where quotas and lockouts are kept: [`MemoryStore`] in this process, or [`RedisStore`]
/// shared by the replicas. Each store keeps its own time: the application's clock for the
/// in-process one, Redis's for the shared one.
pub trait RateLimitStore: Send + Sync + 'static {
    /// Spends one request of `key`'s quota.
    fn check<'a>(&'a self, key: &'a Key, quota: Quota) -> BoxFuture<'a, Decision>;

    /// The time left of `address`'s lockout, if it is locked out.
    fn locked_out(&self, address: IpAddr) -> BoxFuture<'_, Option<Duration>>;

    /// Locks `address` out. `None` when it already was: exactly one caller sees a lockout start,
    /// however many requests race, so that it is logged once.
    fn lock_out(&self, address: IpAddr, policy: LockoutPolicy) -> BoxFuture<'_, Option<Lockout>>;
}

/// Which limit refused a request (`extensions.reason` of the 429).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    Address,
    User,
    Webhook,
    Lockout,
}

impl Limit {
    pub const ALL: [Self; 4] = [Self::Address, Self::User, Self::Webhook, Self::Lockout];

    pub fn reason(self) -> &'static str {
        match self {
            Self::Address => "ip_rate_limit",
            Self::User => "user_rate_limit",
            Self::Webhook => "webhook_rate_limit",
            Self::Lockout => "auth_lockout",
        }
    }

    pub fn message(self, retry_after_secs: u64) -> String {
        match self {
            Self::Address => {
                format!("Too many requests from this address; retry in {retry_after_secs} s.")
            }
            Self::User => {
                format!("Too many requests for this user; retry in {retry_after_secs} s.")
            }
            Self::Webhook => format!(
                "Too many webhook deliveries from this address; retry in {retry_after_secs} s."
            ),
            Self::Lockout => format!(
                "Too many invalid tokens from this address: it is refused for \
                 {retry_after_secs} s."
            ),
        }
    }
}

/// `Retry-After` in whole seconds, rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

/// Whether a refused token counts towards the lockout (see the module doc).
pub fn counts_as_invalid_token(failure: AuthFailure) -> bool {
    !matches!(
        failure,
        AuthFailure::JwksUnavailable
            | AuthFailure::NoKeySource
            | AuthFailure::Expired
            | AuthFailure::NotActiveYet
            | AuthFailure::IatInTheFuture
            | AuthFailure::SessionRevoked
            | AuthFailure::LifetimeTooLong
            | AuthFailure::ClerkUnavailable
    )
}

/// A request over one of the limits: which one, and how long to wait (`Retry-After`). The HTTP
/// layer answers it with a 429 (`http::error::ApiError::RateLimited`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub limit: Limit,
    pub retry_after_secs: u64,
}

/// Request extension set by the address middleware: the client address it counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// The application's limits: the configured quotas applied to a store.
pub struct RateLimiter {
    enabled: bool,
    address: Option<Quota>,
    user: Option<Quota>,
    webhook: Option<Quota>,
    invalid_tokens: Option<Quota>,
    unknown_opaque_tokens: Option<Quota>,
    lockout: LockoutPolicy,
    trusted_proxies: TrustedProxies,
    store: Arc<dyn RateLimitStore>,
}

impl RateLimiter {
    /// With the quotas and lockouts in `redis` when given (shared by the replicas), else in this
    /// process; both on `clock` where the time is theirs to keep. Logs the settings once.
    pub fn new(
        config: &RateLimitConfig,
        clock: Arc<dyn Clock>,
        redis: Option<&SharedRedis>,
    ) -> Self {
        let local = MemoryStore::new(memory::DEFAULT_CAPACITY, clock);
        let (store, kept): (Arc<dyn RateLimitStore>, _) = match redis {
            Some(redis) => (Arc::new(RedisStore::new(redis.clone(), local)), "redis"),
            None => (Arc::new(local), "memory"),
        };
        if config.enabled {
            tracing::info!(
                ip_per_minute = config.ip_per_minute,
                user_per_minute = config.user_per_minute,
                webhook_per_minute = config.webhook_per_minute,
                auth_failures_per_minute = config.auth_failures_per_minute,
                trusted_proxies = %config.trusted_proxies,
                store = kept,
                "rate limits (0: off)"
            );
        } else {
            tracing::warn!("RATE_LIMIT_ENABLED=false: no rate limit and no brute-force lockout");
        }
        Self {
            enabled: config.enabled,
            address: Quota::per_minute(config.ip_per_minute),
            user: Quota::per_minute(config.user_per_minute),
            webhook: Quota::per_minute(config.webhook_per_minute),
            invalid_tokens: Quota::per_minute(config.auth_failures_per_minute),
            unknown_opaque_tokens: Quota::per_minute(
                config
                    .auth_failures_per_minute
                    .min(UNKNOWN_OPAQUE_TOKENS_PER_MINUTE),
            ),
            lockout: LockoutPolicy {
                base: config.lockout,
                max: config.lockout_max,
            },
            trusted_proxies: config.trusted_proxies.clone(),
            store,
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The client address of a request that came from `peer`.
    pub fn client_ip(&self, peer: IpAddr, headers: &axum::http::HeaderMap) -> IpAddr {
        self.trusted_proxies.client_ip(peer, headers)
    }

    /// Before a GraphQL request is authenticated: the address's quota.
    pub async fn check_address(&self, ip: IpAddr) -> Result<(), Refusal> {
        if !self.enabled {
            return Ok(());
        }
        let key = Key::Address(limited_address(ip));
        self.spend(key, self.address, Limit::Address).await
    }

    /// A token presented from `ip` was refused with `failure`. While the address is locked out,
    /// the answer is the lockout's 429 instead (returned here); otherwise the failure is counted
    /// (see [`Self::record_auth_failure`]) and the refusal stands (`None`).
    pub async fn refuse_invalid_token(&self, ip: IpAddr, failure: AuthFailure) -> Option<Refusal> {
        if !self.enabled || self.invalid_tokens.is_none() || !counts_as_invalid_token(failure) {
            return None;
        }
        if let Some(left) = self.store.locked_out(limited_address(ip)).await {
            return Some(refused(Limit::Lockout, left));
        }
        self.record_auth_failure(ip, failure).await;
        None
    }

    /// Before Clerk is asked about an opaque machine token it was not asked about lately: refused
    /// while the address is locked out, so that a spray of random tokens costs no Clerk call
    /// once the lockout starts. Tokens already verified (cached) do not come here: they keep
    /// working, as valid session tokens do.
    pub async fn admit_new_opaque_token(&self, ip: IpAddr) -> Result<(), Refusal> {
        if !self.enabled || self.invalid_tokens.is_none() {
            return Ok(());
        }
        match self.store.locked_out(limited_address(ip)).await {
            Some(left) => Err(refused(Limit::Lockout, left)),
            None => Ok(()),
        }
    }

    /// After authentication: the signed-in user's quota.
    pub async fn check_user(&self, user_id: &str) -> Result<(), Refusal> {
        if !self.enabled {
            return Ok(());
        }
        self.spend(Key::User(user_id.into()), self.user, Limit::User)
            .await
    }

    /// A webhook delivery from `ip`.
    pub async fn check_webhook(&self, ip: IpAddr) -> Result<(), Refusal> {
        if !self.enabled {
            return Ok(());
        }
        let key = Key::Webhook(limited_address(ip));
        self.spend(key, self.webhook, Limit::Webhook).await
    }

    /// A token from `ip` was refused. When it is the address's `AUTH_FAILURES_PER_MINUTE`-th
    /// invalid token within a minute, the address is locked out, and the start is logged, once.
    /// Returns the lockout when this call started it.
    pub async fn record_auth_failure(&self, ip: IpAddr, failure: AuthFailure) -> Option<Lockout> {
        let quota = self.invalid_tokens.filter(|_| self.enabled)?;
        if !counts_as_invalid_token(failure) {
            return None;
        }
        let address = limited_address(ip);
        let mut exhausted = self.exhausts(Key::InvalidTokens(address), quota).await;
        if failure == AuthFailure::MachineTokenInvalid
            && let Some(quota) = self.unknown_opaque_tokens
        {
            exhausted |= self
                .exhausts(Key::UnknownOpaqueTokens(address), quota)
                .await;
        }
        if !exhausted {
            return None;
        }
        let lockout = self.store.lock_out(address, self.lockout).await?;
        crate::metrics::lockout_started();
        tracing::warn!(
            client_ip = %ip,
            lockout_secs = lockout.duration.as_secs(),
            strike = lockout.strike,
            invalid_tokens_per_minute = quota.limit,
            last_reason = failure.reason(),
            "too many invalid session tokens from this address: refused until the lockout ends"
        );
        Some(lockout)
    }

    /// Spends one of `key`'s quota: whether that was the last one (or there was none left).
    async fn exhausts(&self, key: Key, quota: Quota) -> bool {
        match self.store.check(&key, quota).await {
            Decision::Allow { remaining } => remaining == 0,
            Decision::Deny { .. } => true,
        }
    }

    async fn spend(&self, key: Key, quota: Option<Quota>, limit: Limit) -> Result<(), Refusal> {
        let Some(quota) = quota else {
            return Ok(());
        };
        match self.store.check(&key, quota).await {
            Decision::Allow { .. } => Ok(()),
            Decision::Deny { retry_after } => Err(refused(limit, retry_after)),
        }
    }
}

/// Every refusal is made here, and counted here.
fn refused(limit: Limit, wait: Duration) -> Refusal {
    crate::metrics::rate_limit_refusal(limit.reason()).increment(1);
    Refusal {
        limit,
        retry_after_secs: retry_after_secs(wait),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Mutex;

    use super::*;
    use crate::auth::clock::FixedClock;

    const T: i64 = 1_800_000_000;

    fn config() -> RateLimitConfig {
        RateLimitConfig {
            auth_failures_per_minute: 3,
            ..RateLimitConfig::default()
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up_and_at_least_one() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1000)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(900)), 900);
    }

    #[test]
    fn lockouts_grow_fourfold_up_to_the_maximum() {
        let policy = LockoutPolicy {
            base: Duration::from_secs(60),
            max: Duration::from_secs(900),
        };
        let secs: Vec<u64> = (1..=6).map(|s| policy.duration(s).as_secs()).collect();
        assert_eq!(secs, [60, 240, 900, 900, 900, 900]);
        assert_eq!(policy.duration(u32::MAX).as_secs(), 900);
        let flat = LockoutPolicy {
            base: Duration::from_secs(60),
            max: Duration::from_secs(60),
        };
        assert_eq!(flat.duration(3).as_secs(), 60);
    }

    #[test]
    fn only_tokens_that_are_not_ours_count() {
        for failure in [
            AuthFailure::Malformed,
            AuthFailure::InvalidAlgorithm,
            AuthFailure::TypeMismatch,
            AuthFailure::InvalidSignature,
            AuthFailure::InvalidIssuer,
            AuthFailure::InvalidAuthorizedParty,
            AuthFailure::InvalidAudience,
            AuthFailure::KidMismatch,
            AuthFailure::UnsupportedScheme,
        ] {
            assert!(counts_as_invalid_token(failure), "{failure:?}");
        }
        for failure in [
            AuthFailure::JwksUnavailable,
            AuthFailure::NoKeySource,
            AuthFailure::Expired,
            AuthFailure::NotActiveYet,
            AuthFailure::IatInTheFuture,
        ] {
            assert!(!counts_as_invalid_token(failure), "{failure:?}");
        }
    }

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The lockout is logged when it starts, once, with the address; the requests it refuses and
    /// the failures racing it are not logged again.
    #[test]
    fn a_lockout_start_is_logged_once_with_the_address() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let clock = FixedClock::at_unix_seconds(T);
        let limiter = RateLimiter::new(&config(), clock.clone(), None);
        let attacker = ip("203.0.113.66");

        tracing::subscriber::with_default(subscriber, || {
            runtime.block_on(async {
                let mut started = Vec::new();
                for _ in 0..10 {
                    started.push(
                        limiter
                            .record_auth_failure(attacker, AuthFailure::InvalidSignature)
                            .await,
                    );
                }
                // The third failure starts the lockout; the ones after it find it in place.
                assert!(started[..2].iter().all(Option::is_none));
                assert_eq!(
                    started[2],
                    Some(Lockout {
                        duration: Duration::from_secs(60),
                        strike: 1
                    })
                );
                assert!(started[3..].iter().all(Option::is_none));
                for _ in 0..5 {
                    let refused = limiter
                        .refuse_invalid_token(attacker, AuthFailure::InvalidSignature)
                        .await;
                    assert!(matches!(
                        refused,
                        Some(Refusal {
                            limit: Limit::Lockout,
                            retry_after_secs: 60
                        })
                    ));
                }
                // Only bad tokens are refused: the address's requests are otherwise served.
                assert!(limiter.check_address(attacker).await.is_ok());
                // Expired tokens never count.
                let honest = ip("198.51.100.1");
                for _ in 0..10 {
                    assert_eq!(
                        limiter
                            .record_auth_failure(honest, AuthFailure::Expired)
                            .await,
                        None
                    );
                }
                assert!(limiter.check_address(honest).await.is_ok());
            });
        });

        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = log
            .lines()
            .filter(|line| line.contains("invalid session tokens"))
            .collect();
        assert_eq!(lines.len(), 1, "{log}");
        assert!(lines[0].contains("WARN"), "{log}");
        assert!(lines[0].contains("client_ip=203.0.113.66"), "{log}");
        assert!(lines[0].contains("lockout_secs=60"), "{log}");
        assert!(!log.contains("198.51.100.1"), "{log}");
    }

    #[tokio::test]
    async fn a_disabled_limiter_allows_everything_and_locks_nobody_out() {
        let config = RateLimitConfig {
            enabled: false,
            ip_per_minute: 1,
            user_per_minute: 1,
            webhook_per_minute: 1,
            auth_failures_per_minute: 1,
            ..RateLimitConfig::default()
        };
        let limiter = RateLimiter::new(&config, FixedClock::at_unix_seconds(T), None);
        let client = ip("203.0.113.1");
        for _ in 0..10 {
            assert_eq!(
                limiter
                    .record_auth_failure(client, AuthFailure::Malformed)
                    .await,
                None
            );
            assert!(limiter.check_address(client).await.is_ok());
            assert!(limiter.check_user("user_1").await.is_ok());
            assert!(limiter.check_webhook(client).await.is_ok());
        }
    }

    #[tokio::test]
    async fn a_zero_quota_turns_that_limit_off_only() {
        let config = RateLimitConfig {
            ip_per_minute: 0,
            user_per_minute: 2,
            auth_failures_per_minute: 0,
            ..RateLimitConfig::default()
        };
        let limiter = RateLimiter::new(&config, FixedClock::at_unix_seconds(T), None);
        let client = ip("203.0.113.1");
        for _ in 0..100 {
            assert_eq!(
                limiter
                    .record_auth_failure(client, AuthFailure::Malformed)
                    .await,
                None
            );
            assert!(limiter.check_address(client).await.is_ok());
        }
        assert!(limiter.check_user("user_1").await.is_ok());
        assert!(limiter.check_user("user_1").await.is_ok());
        assert!(limiter.check_user("user_1").await.is_err());
    }

    #[tokio::test]
    async fn quotas_are_kept_apart_and_ipv6_counts_per_64() {
        let config = RateLimitConfig {
            ip_per_minute: 2,
            user_per_minute: 2,
            webhook_per_minute: 2,
            ..RateLimitConfig::default()
        };
        let limiter = RateLimiter::new(&config, FixedClock::at_unix_seconds(T), None);
        let a = ip("2001:db8:1:2::1");
        let same_64 = ip("2001:db8:1:2:ffff::2");
        let other_64 = ip("2001:db8:1:3::1");
        assert!(limiter.check_address(a).await.is_ok());
        assert!(limiter.check_address(same_64).await.is_ok());
        assert!(limiter.check_address(a).await.is_err());
        assert!(limiter.check_address(other_64).await.is_ok());
        // The webhook quota and the user quota are separate budgets.
        assert!(limiter.check_webhook(a).await.is_ok());
        assert!(limiter.check_user("user_1").await.is_ok());
        assert!(limiter.check_user("user_2").await.is_ok());
    }
}
