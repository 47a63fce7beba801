//! Opaque machine tokens (`ak_…`, `mt_…`, `oat_…`): verified by asking Clerk, one call per
//! token rather than per request (ARCHITECTURE §4).
//!
//! - A valid token is cached by the BLAKE3 hash of its text (the text itself is never kept) until
//!   its expiration or for [`MachineTokenSettings::valid_for`] (60 s), whichever comes first:
//!   a revoked key stops working within that time, as Clerk's own caching allows.
//! - A refusal (unknown, revoked, expired) is cached for `refused_for` (10 s): a client retrying
//!   a bad key in a loop does not become a loop of Clerk calls.
//! - Concurrent presentations of one token share one Clerk call (moka's `try_get_with`).
//! - The cache is bounded, so a spray of random tokens cannot grow it without end.
//! - A key revoked through this server (`revokeApiKey`) is forgotten at once here and, with
//!   Redis, on every other replica (`shared::evictions`, [`CHANNEL`]).
//! - Clerk down, slow, rate-limiting, or refusing our secret key is our fault: 503 with
//!   `Retry-After`, never a 401 (which would tell the caller its token is bad). Such failures
//!   are not cached.

use std::sync::Arc;
use std::time::Duration;

use moka::Expiry;
use moka::future::Cache;

use super::clock::Clock;
use super::verified_cache::{TokenDigest, token_digest};
use super::{AuthFailure, Viewer};
use crate::clerk::{ClerkClient, MachineToken};
use crate::config::TokenKind;
use crate::shared::SharedRedis;
use crate::shared::evictions::{Evict, SharedEvictions};

/// The Redis channel on which a forgotten token's id reaches the other replicas.
pub const CHANNEL: &str = "machine-tokens";

#[derive(Debug, Clone)]
pub struct MachineTokenSettings {
    /// The longest a valid token is trusted without asking Clerk again.
    pub valid_for: Duration,
    /// How long a refusal is remembered.
    pub refused_for: Duration,
    /// Tokens remembered at most (valid and refused together).
    pub capacity: u64,
}

impl Default for MachineTokenSettings {
    fn default() -> Self {
        Self {
            valid_for: Duration::from_secs(60),
            refused_for: Duration::from_secs(10),
            capacity: 10_000,
        }
    }
}

/// One remembered answer of Clerk's.
#[derive(Clone)]
struct Answer {
    /// `None`: Clerk refused the token.
    viewer: Option<Arc<Viewer>>,
    keep_for: Duration,
}

/// Each entry lives as long as its answer says.
struct AnswerExpiry;

impl Expiry<TokenDigest, Answer> for AnswerExpiry {
    fn expire_after_create(
        &self,
        _key: &TokenDigest,
        answer: &Answer,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(answer.keep_for)
    }
}

pub struct MachineTokens {
    clerk: ClerkClient,
    remembered: Remembered,
    /// The other replicas' caches, with Redis.
    shared: Option<SharedEvictions>,
    settings: MachineTokenSettings,
    clock: Arc<dyn Clock>,
}

/// Clerk's answers, and the digest of each valid token by Clerk's id for it (`ak_…` id →
/// digest), so that a key revoked through this server stops working at once rather than within
/// `valid_for`. Clones share the caches.
#[derive(Clone)]
struct Remembered {
    answers: Cache<TokenDigest, Answer>,
    by_id: Cache<String, TokenDigest>,
}

impl Evict for Remembered {
    async fn evict(&self, id: &str) {
        if let Some(digest) = self.by_id.remove(id).await {
            self.answers.invalidate(&digest).await;
        }
    }

    fn evict_all(&self) {
        self.answers.invalidate_all();
        self.by_id.invalidate_all();
    }
}

impl MachineTokens {
    pub fn new(clerk: ClerkClient, settings: MachineTokenSettings, clock: Arc<dyn Clock>) -> Self {
        let answers = Cache::builder()
            .max_capacity(settings.capacity)
            .expire_after(AnswerExpiry)
            .build();
        let by_id = Cache::builder()
            .max_capacity(settings.capacity)
            .time_to_live(settings.valid_for)
            .build();
        Self {
            clerk,
            remembered: Remembered { answers, by_id },
            shared: None,
            settings,
            clock,
        }
    }

    /// Shares forgotten tokens with the other replicas through `redis` (which must subscribe to
    /// [`CHANNEL`]).
    pub fn shared_through(mut self, redis: SharedRedis) -> Self {
        self.shared = Some(SharedEvictions::start(
            redis,
            CHANNEL,
            "revoked API keys",
            self.remembered.clone(),
        ));
        self
    }

    /// Whether this token's answer is remembered (valid or refused): such a token costs no
    /// Clerk call, which is what the spray lockout (`rate_limit`) needs to know.
    pub fn is_known(&self, token: &str) -> bool {
        self.remembered.answers.contains_key(&token_digest(token))
    }

    /// Forgets the valid token Clerk knows as `id` (revoked through this server), here and on
    /// the other replicas: it is asked about again, and refused, when next presented.
    pub async fn forget(&self, id: &str) {
        self.remembered.evict(id).await;
        if let Some(shared) = &self.shared {
            shared.announce(id).await;
        }
    }

    /// The machine caller `token` (of the opaque `kind` its prefix says) authenticates.
    pub async fn verify(&self, kind: TokenKind, token: &str) -> Result<Arc<Viewer>, AuthFailure> {
        let digest = token_digest(token);
        let answer = self
            .remembered
            .answers
            .try_get_with(digest, self.ask_clerk(kind, token, digest))
            .await
            .map_err(|_| AuthFailure::ClerkUnavailable)?;
        let viewer = answer.viewer.ok_or(AuthFailure::MachineTokenInvalid)?;
        // An entry outlives its token by at most the cache's granularity; check anyway.
        if viewer.expires_at.saturating_mul(1000) <= self.clock.now_millis() {
            return Err(AuthFailure::MachineTokenInvalid);
        }
        Ok(viewer)
    }

    async fn ask_clerk(
        &self,
        kind: TokenKind,
        token: &str,
        digest: TokenDigest,
    ) -> Result<Answer, crate::clerk::ClerkError> {
        let refused = Answer {
            viewer: None,
            keep_for: self.settings.refused_for,
        };
        let Some(found) = self.clerk.verify_machine_token(kind, token).await? else {
            return Ok(refused);
        };
        let now = self.clock.now_millis();
        let left = match found.expiration {
            Some(expiration) if expiration <= now => return Ok(refused),
            Some(expiration) => Duration::from_millis((expiration - now) as u64),
            None => Duration::MAX,
        };
        self.remembered.by_id.insert(found.id.clone(), digest).await;
        Ok(Answer {
            viewer: Some(Arc::new(principal(kind, found))),
            keep_for: left.min(self.settings.valid_for),
        })
    }
}

fn principal(kind: TokenKind, token: MachineToken) -> Viewer {
    let expires_at = token
        .expiration
        .map_or(i64::MAX, |millis| millis.div_euclid(1000));
    Viewer::machine(
        kind,
        token.subject,
        token.scopes,
        token.client_id,
        token.claims.unwrap_or_default(),
        expires_at,
    )
}
