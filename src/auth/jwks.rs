//! The remote key set (JWKS) and its cache.
//!
//! Rules (ARCHITECTURE §4):
//! - a key set is kept for `ttl`; an older one is still served while a background refresh runs,
//!   so a request never waits for Clerk when a cached key fits;
//! - an unknown `kid` triggers a refresh (key rotation), but at most once per `refresh_cooldown`:
//!   a flood of tokens with random kids must not become a flood of fetches;
//! - concurrent refreshes are coalesced behind one lock and a generation counter;
//! - a failed refresh keeps the last good key set, and no new attempt is made for a cool-down;
//! - each fetch retries a bounded number of times with exponential back-off and jitter.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use rand::Rng;

use super::AuthFailure;
use crate::config::{JwksSettings, Secret};
use crate::telemetry;

/// One verification key and the algorithm it is pinned to, if the JWK names one.
#[derive(Debug)]
pub struct VerificationKey {
    pub key: DecodingKey,
    pub algorithm: Option<Algorithm>,
}

type KeySet = HashMap<String, Arc<VerificationKey>>;

/// SHA-256 over the usable JWKs, sorted by kid: tells a different key set from a re-fetch of the
/// same one.
type KeySetFingerprint = [u8; 32];

#[derive(Default)]
struct CacheState {
    keys: Option<Arc<KeySet>>,
    fetched_at: Option<Instant>,
    /// Bumped on every completed fetch attempt, so that waiters on the refresh lock can tell
    /// that somebody else already refreshed while they waited.
    generation: u64,
    last_unknown_kid_refresh: Option<Instant>,
    last_failure: Option<Instant>,
    background_refresh_running: bool,
    /// Bumped only when a key set with different keys is installed (a re-fetch of the same keys
    /// leaves it alone): what the verified-token cache ties its entries to.
    key_set_generation: u64,
    fingerprint: Option<KeySetFingerprint>,
}

pub struct JwksCache {
    url: String,
    bearer: Option<Secret>,
    client: reqwest::Client,
    settings: JwksSettings,
    state: RwLock<CacheState>,
    refresh_lock: tokio::sync::Mutex<()>,
}

#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error("HTTP {0}")]
    Status(reqwest::StatusCode),
    #[error("transport: {0}")]
    Transport(#[source] reqwest::Error),
    #[error("the document is not a JWKS: {0}")]
    Invalid(String),
}

impl FetchError {
    fn is_retryable(&self) -> bool {
        match self {
            Self::Status(status) => status.is_server_error() || status.as_u16() == 429,
            Self::Transport(_) => true,
            Self::Invalid(_) => false,
        }
    }
}

impl JwksCache {
    pub fn new(url: String, bearer: Option<Secret>, settings: JwksSettings) -> Arc<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(settings.attempt_timeout)
            .timeout(settings.attempt_timeout)
            .user_agent(concat!("clerk-graphql/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a reqwest client with only time-outs set always builds");
        Arc::new(Self {
            url,
            bearer,
            client,
            settings,
            state: RwLock::new(CacheState::default()),
            refresh_lock: tokio::sync::Mutex::new(()),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// True once a key set has been loaded (used by `/readyz`).
    pub fn is_loaded(&self) -> bool {
        self.read_state().keys.is_some()
    }

    /// How long ago the key set in use was fetched; `None` before the first success.
    pub fn age(&self) -> Option<Duration> {
        self.read_state().fetched_at.map(|at| at.elapsed())
    }

    /// Loads the key set at start-up so that the first request does not pay for the fetch.
    pub async fn warm_up(self: &Arc<Self>) -> bool {
        let generation = self.read_state().generation;
        self.refresh(generation).await.is_ok()
    }

    pub async fn key_for(self: &Arc<Self>, kid: &str) -> Result<Arc<VerificationKey>, AuthFailure> {
        let (found, stale, loaded, generation, may_fetch_for_unknown) = {
            let state = self.read_state();
            let now = Instant::now();
            let found = state.keys.as_ref().and_then(|keys| keys.get(kid).cloned());
            let stale = state
                .fetched_at
                .is_none_or(|at| now.duration_since(at) >= self.settings.ttl);
            let cooled = |at: Option<Instant>| {
                at.is_none_or(|at| now.duration_since(at) >= self.settings.refresh_cooldown)
            };
            (
                found,
                stale,
                state.keys.is_some(),
                state.generation,
                cooled(state.last_unknown_kid_refresh) && cooled(state.last_failure),
            )
        };

        if let Some(key) = found {
            if stale {
                self.spawn_background_refresh();
            }
            return Ok(key);
        }
        if !may_fetch_for_unknown {
            if loaded && self.refresh_lock.try_lock().is_err() {
                // A refresh is under way (perhaps for this very kid after a rotation): wait for
                // its outcome rather than refusing a key that is about to arrive.
                drop(self.refresh_lock.lock().await);
                return self.cached(kid).ok_or(AuthFailure::KidMismatch);
            }
            return Err(if loaded {
                AuthFailure::KidMismatch
            } else {
                AuthFailure::JwksUnavailable
            });
        }

        self.refresh_for_unknown_kid(generation).await?;
        self.cached(kid).ok_or(AuthFailure::KidMismatch)
    }

    /// Identifies the key set being served; it changes whenever a key set with different keys is
    /// installed. A result obtained with an older generation's keys must not be trusted any more.
    pub fn key_set_generation(&self) -> u64 {
        self.read_state().key_set_generation
    }

    /// [`Self::key_set_generation`], plus the upkeep that a lookup of a known kid does: a
    /// background refresh once the key set is older than the TTL. Used when a token is answered
    /// from the verified-token cache, so that key rotation is still noticed on schedule.
    pub fn key_set_generation_with_upkeep(self: &Arc<Self>) -> u64 {
        let (generation, stale) = {
            let state = self.read_state();
            let stale = state.keys.is_some()
                && state
                    .fetched_at
                    .is_none_or(|at| at.elapsed() >= self.settings.ttl);
            (state.key_set_generation, stale)
        };
        if stale {
            self.spawn_background_refresh();
        }
        generation
    }

    fn cached(&self, kid: &str) -> Option<Arc<VerificationKey>> {
        self.read_state().keys.as_ref()?.get(kid).cloned()
    }

    async fn refresh_for_unknown_kid(
        self: &Arc<Self>,
        seen_generation: u64,
    ) -> Result<(), AuthFailure> {
        let _guard = self.refresh_lock.lock().await;
        {
            let mut state = self.write_state();
            if state.generation != seen_generation {
                // Someone refreshed while we waited: use their result, do not fetch again.
                return if state.keys.is_some() {
                    Ok(())
                } else {
                    Err(AuthFailure::JwksUnavailable)
                };
            }
            state.last_unknown_kid_refresh = Some(Instant::now());
        }
        self.fetch_and_store()
            .await
            .map_err(|_| AuthFailure::JwksUnavailable)
    }

    /// Refreshes unless another refresh completed since `seen_generation`.
    async fn refresh(self: &Arc<Self>, seen_generation: u64) -> Result<(), ()> {
        let _guard = self.refresh_lock.lock().await;
        if self.read_state().generation != seen_generation {
            return Ok(());
        }
        self.fetch_and_store().await
    }

    fn spawn_background_refresh(self: &Arc<Self>) {
        {
            let mut state = self.write_state();
            let failed_recently = state
                .last_failure
                .is_some_and(|at| at.elapsed() < self.settings.refresh_cooldown);
            if state.background_refresh_running || failed_recently {
                return;
            }
            state.background_refresh_running = true;
        }
        let cache = Arc::clone(self);
        tokio::spawn(async move {
            let generation = cache.read_state().generation;
            let _ = cache.refresh(generation).await;
            cache.write_state().background_refresh_running = false;
        });
    }

    /// Fetches with retries and records the outcome. Must be called under `refresh_lock`.
    async fn fetch_and_store(&self) -> Result<(), ()> {
        let result = self.fetch_with_retries().await;
        crate::metrics::jwks_fetch(match result {
            Ok(_) => crate::metrics::JwksResult::Success,
            Err(_) => crate::metrics::JwksResult::Failure,
        });
        let mut state = self.write_state();
        state.generation += 1;
        match result {
            Ok((keys, fingerprint)) => {
                tracing::debug!(url = %self.url, keys = keys.len(), "JWKS loaded");
                if state.fingerprint != Some(fingerprint) {
                    state.fingerprint = Some(fingerprint);
                    state.key_set_generation += 1;
                }
                state.keys = Some(Arc::new(keys));
                state.fetched_at = Some(Instant::now());
                state.last_failure = None;
                Ok(())
            }
            Err(error) => {
                tracing::warn!(
                    url = %self.url,
                    %error,
                    keeping_previous_keys = state.keys.is_some(),
                    "could not load the JWKS"
                );
                state.last_failure = Some(Instant::now());
                Err(())
            }
        }
    }

    async fn fetch_with_retries(&self) -> Result<(KeySet, KeySetFingerprint), FetchError> {
        let mut attempt = 0;
        loop {
            match self.fetch_once().await {
                Ok(keys) => return Ok(keys),
                Err(error) if error.is_retryable() && attempt + 1 < self.settings.max_attempts => {
                    let factor = rand::rng().random_range(1.0..2.0);
                    let delay = self
                        .settings
                        .retry_base_delay
                        .mul_f64(factor * 2f64.powi(attempt as i32));
                    tracing::debug!(%error, ?delay, "retrying the JWKS fetch");
                    tokio::time::sleep(delay.min(Duration::from_secs(5))).await;
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    async fn fetch_once(&self) -> Result<(KeySet, KeySetFingerprint), FetchError> {
        let mut request = self.client.get(&self.url);
        if let Some(secret) = &self.bearer {
            request = request.bearer_auth(secret.expose());
        }
        let request = request.build().map_err(FetchError::Transport)?;
        // The URL is configured, not built from ids: its path is its own template.
        let template = request.url().path().to_string();
        let response = telemetry::send(&self.client, request, &template)
            .await
            .map_err(FetchError::Transport)?;
        if !response.status().is_success() {
            return Err(FetchError::Status(response.status()));
        }
        let body = response.bytes().await.map_err(FetchError::Transport)?;
        let set: JwkSet =
            serde_json::from_slice(&body).map_err(|e| FetchError::Invalid(e.to_string()))?;
        let (keys, fingerprint) = usable_keys(&set);
        if keys.is_empty() {
            return Err(FetchError::Invalid("no usable RSA signing key".into()));
        }
        Ok((keys, fingerprint))
    }

    fn read_state(&self) -> std::sync::RwLockReadGuard<'_, CacheState> {
        self.state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, CacheState> {
        self.state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// RSA signature keys with a `kid`, and their fingerprint. Encryption keys and other key types
/// are skipped: an RSA session-token verifier has no use for them.
fn usable_keys(set: &JwkSet) -> (KeySet, KeySetFingerprint) {
    let mut usable: Vec<_> = set
        .keys
        .iter()
        .filter(|jwk| matches!(jwk.algorithm, AlgorithmParameters::RSA(_)))
        .filter(|jwk| !matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature))
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            let algorithm = match jwk.common.key_algorithm {
                None => None,
                Some(KeyAlgorithm::RS256) => Some(Algorithm::RS256),
                Some(KeyAlgorithm::RS384) => Some(Algorithm::RS384),
                Some(KeyAlgorithm::RS512) => Some(Algorithm::RS512),
                Some(_) => return None,
            };
            let key = DecodingKey::from_jwk(jwk).ok()?;
            Some((jwk, kid, Arc::new(VerificationKey { key, algorithm })))
        })
        .collect();
    // Stable, so that duplicate kids keep the document's order (the last one wins below).
    usable.sort_by(|a, b| a.1.cmp(&b.1));
    let mut fingerprint = digest::Context::new(&digest::SHA256);
    for (jwk, _, _) in &usable {
        // A JWK serialises to the same bytes whatever the member order of the document.
        fingerprint.update(&serde_json::to_vec(jwk).unwrap_or_default());
    }
    let fingerprint = fingerprint
        .finish()
        .as_ref()
        .try_into()
        .expect("SHA-256 is 32 bytes");
    let keys = usable.into_iter().map(|(_, kid, key)| (kid, key)).collect();
    (keys, fingerprint)
}
