//! Verification of a Clerk session token, in the order of ARCHITECTURE §4. The signature is checked
//! before any claim, as Clerk's SDK does, so that an attacker learns nothing about which claim
//! check would have failed on a token they could not sign (no oracle).
//!
//! A token verified successfully once is remembered by the [`VerifiedCache`]; when it is
//! presented again under the same key set, only the clock checks are re-applied (see
//! `verified_cache` for why that gives exactly the answer of a full verification).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::clock::Clock;
use super::keys::KeySource;
use super::revocation::Revocations;
use super::verified_cache::{
    self, Lookup, TokenDigest, TokenTimes, VerifiedCache, is_expired, is_in_the_future,
};
use super::viewer::{Verified, Viewer};
use super::{AuthFailure, jwt};
use crate::config::ClerkConfig;
use crate::metrics::{self, CacheLookup};
use crate::shared::SharedRedis;

/// The verifier's settings: the claim rules that do not depend on the key source, and the size
/// of the verified-token cache.
#[derive(Debug, Clone)]
pub struct ClaimRules {
    pub issuer: Option<String>,
    pub authorized_parties: Vec<String>,
    pub audience: Vec<String>,
    pub clock_skew: Duration,
    /// Successful verifications remembered (see `verified_cache`); 0 turns the cache off.
    /// Default [`verified_cache::DEFAULT_CAPACITY`].
    pub verified_cache_capacity: u64,
    /// The longest lifetime (`exp - iat`) accepted: revocations are kept this long (see
    /// `auth::revocation`), so a longer-lived token could outlive its session's revocation.
    pub max_token_lifetime: Duration,
    /// This server's machine id (`CLERK_MACHINE_ID`): an M2M JWT must name it in `aud`.
    pub machine_id: Option<String>,
}

impl Default for ClaimRules {
    /// No issuer, party or audience required, the default 5 s skew, the default cache.
    fn default() -> Self {
        Self {
            issuer: None,
            authorized_parties: Vec::new(),
            audience: Vec::new(),
            clock_skew: Duration::from_secs(5),
            verified_cache_capacity: verified_cache::DEFAULT_CAPACITY,
            max_token_lifetime: crate::config::DEFAULT_MAX_TOKEN_LIFETIME,
            machine_id: None,
        }
    }
}

impl ClaimRules {
    pub fn from_config(clerk: &ClerkConfig) -> Self {
        Self {
            issuer: clerk.issuer.clone(),
            authorized_parties: clerk.authorized_parties.clone(),
            audience: clerk.audience.clone(),
            clock_skew: clerk.clock_skew,
            verified_cache_capacity: verified_cache::DEFAULT_CAPACITY,
            max_token_lifetime: clerk.max_token_lifetime,
            machine_id: clerk.machine_id.clone(),
        }
    }

    /// How long a revocation must be kept: until every token of the session has expired.
    pub fn revocation_retention(&self) -> Duration {
        self.max_token_lifetime + self.clock_skew * 2
    }
}

/// What the verified-token cache knows of a presented token ([`Verifier::recall`]).
pub enum Recall {
    /// Verified under the current key set: the answer, clock and revocations applied again.
    Known(Result<Verified, AuthFailure>),
    /// Not verified lately, or under another key set: [`Verifier::verify_new`] finishes it.
    New(NewToken),
}

/// Where a token the cache did not answer will be remembered (none with the cache off).
pub struct NewToken(Option<CacheSlot>);

struct CacheSlot {
    digest: TokenDigest,
    /// An entry made under an older key set, removed if the token now fails.
    stale: bool,
}

pub struct Verifier {
    keys: KeySource,
    pub(super) rules: ClaimRules,
    clock: Arc<dyn Clock>,
    cache: Option<VerifiedCache>,
    revocations: Revocations,
}

impl Verifier {
    pub fn new(keys: KeySource, rules: ClaimRules, clock: Arc<dyn Clock>) -> Self {
        let cache = (rules.verified_cache_capacity > 0)
            .then(|| VerifiedCache::new(rules.verified_cache_capacity));
        let revocations = Revocations::new(rules.revocation_retention());
        Self {
            keys,
            rules,
            clock,
            cache,
            revocations,
        }
    }

    /// Shares the revocations with the other replicas through `redis` (before the verifier is
    /// shared: the webhooks and sockets must see the same set).
    pub fn with_shared_revocations(mut self, redis: SharedRedis) -> Self {
        self.revocations = Revocations::shared(
            self.rules.revocation_retention(),
            redis,
            Arc::clone(&self.clock),
        );
        self
    }

    /// Ended sessions and deleted users, refused by [`Self::verify`]; webhooks add to them and
    /// open connections listen to them.
    pub fn revocations(&self) -> &Revocations {
        &self.revocations
    }

    /// The verified-token cache, unless turned off (its counters serve tests and metrics).
    pub fn verified_cache(&self) -> Option<&VerifiedCache> {
        self.cache.as_ref()
    }

    pub fn key_source(&self) -> &KeySource {
        &self.keys
    }

    /// How long the viewer's token stays valid: until `exp` plus the clock skew, by the clock
    /// the checks use (zero once past).
    pub fn time_left(&self, viewer: &Viewer) -> Duration {
        let (now, skew) = self.now_and_skew();
        let end = viewer.expires_at as f64 * 1000.0 + skew;
        Duration::from_millis((end - now).max(0.0) as u64)
    }

    /// Every check of ARCHITECTURE §4, then whether the session has ended since (a revocation is
    /// not a property of the token, so it is checked on cache hits too). A token verified for the
    /// first time is also looked up among the other replicas' revocations; later presentations
    /// rely on the local copy, which they keep current (`auth::shared_revocations`).
    pub async fn verify(&self, token: &str) -> Result<Verified, AuthFailure> {
        match self.recall(token).await {
            Recall::Known(verified) => verified,
            Recall::New(new) => self.verify_new(token, new).await,
        }
    }

    /// [`Self::verify`]'s first half: the answer for a token this server verified under the
    /// current key set (its clock checks and the revocations applied again), read from the
    /// verified-token cache by the token's hash, without decoding it. Whoever looked a token up
    /// this way finishes a [`Recall::New`] with [`Self::verify_new`].
    pub async fn recall(&self, token: &str) -> Recall {
        let Some(cache) = &self.cache else {
            return Recall::New(NewToken(None));
        };
        let digest = verified_cache::token_digest(token);
        let stale = match cache
            .lookup(&digest, || self.keys.key_set_generation_with_upkeep())
            .await
        {
            Lookup::Hit(entry) => {
                // This exact token passed every check under the current key set. Steps 1-3 and
                // the claim checks other than time depend only on the token, the keys and the
                // fixed rules, so they would pass again: only the clock checks can differ, and
                // they come first among the checks that could fail, as in `check_claims`.
                let (now, skew) = self.now_and_skew();
                let verified = entry
                    .times
                    .check(now, skew)
                    .map(|()| entry.verified)
                    .and_then(|verified| self.unless_revoked_here(verified));
                return Recall::Known(verified);
            }
            Lookup::Stale => true,
            Lookup::Miss => false,
        };
        Recall::New(NewToken(Some(CacheSlot { digest, stale })))
    }

    /// [`Self::verify`]'s second half, for a token the cache did not answer: every check in full,
    /// the success remembered, and the revocations of every replica asked.
    pub async fn verify_new(&self, token: &str, new: NewToken) -> Result<Verified, AuthFailure> {
        let (Some(CacheSlot { digest, stale }), Some(cache)) = (new.0, &self.cache) else {
            let (verified, _) = self.verify_fully(token).await?;
            return self.unless_revoked_anywhere(verified).await;
        };
        metrics::verified_token_cache(if stale {
            CacheLookup::Stale
        } else {
            CacheLookup::Miss
        });
        // Read before the key lookup: a key set installed meanwhile leaves the entry stale.
        let generation = self.keys.key_set_generation();
        match self.verify_fully(token).await {
            Ok((verified, times)) => {
                let (now, skew) = self.now_and_skew();
                cache
                    .insert(digest, verified.clone(), times, generation, now, skew)
                    .await;
                self.unless_revoked_anywhere(verified).await
            }
            Err(failure) => {
                if stale {
                    cache.remove(&digest).await;
                }
                Err(failure)
            }
        }
    }

    /// A token verified before: this process's copy of the revocations is current for it.
    fn unless_revoked_here(&self, verified: Verified) -> Result<Verified, AuthFailure> {
        match &verified {
            Verified::SignedIn(viewer) if self.revocations.is_revoked(viewer) => {
                Err(AuthFailure::SessionRevoked)
            }
            _ => Ok(verified),
        }
    }

    /// A token seen for the first time: its session may have ended on another replica.
    async fn unless_revoked_anywhere(&self, verified: Verified) -> Result<Verified, AuthFailure> {
        match &verified {
            Verified::SignedIn(viewer) if self.revocations.is_revoked_anywhere(viewer).await => {
                Err(AuthFailure::SessionRevoked)
            }
            _ => Ok(verified),
        }
    }

    /// Every check of ARCHITECTURE §4, without the cache.
    async fn verify_fully(&self, token: &str) -> Result<(Verified, TokenTimes), AuthFailure> {
        // 1-2: shape and header.
        let parsed = jwt::parse(token)?;
        self.check_signature(&parsed).await?;
        self.check_claims(&parsed.claims)
    }

    /// Check 3: the key by kid, then the signature. Shared with machine JWTs, which Clerk signs
    /// with the same instance keys (`auth::machine_jwt`).
    pub(super) async fn check_signature(
        &self,
        parsed: &jwt::ParsedToken<'_>,
    ) -> Result<(), AuthFailure> {
        // 3: key by kid, then the signature, with the algorithm pinned by our allow-list (and
        // by the JWK when it names one).
        let key = self.keys.key_for(parsed.kid.as_deref()).await?;
        if key
            .algorithm
            .is_some_and(|pinned| pinned != parsed.algorithm)
        {
            return Err(AuthFailure::InvalidAlgorithm);
        }
        let valid = jsonwebtoken::crypto::verify(
            parsed.signature,
            parsed.signing_input.as_bytes(),
            &key.key,
            parsed.algorithm,
        )
        .unwrap_or(false);
        if !valid {
            return Err(AuthFailure::InvalidSignature);
        }
        Ok(())
    }

    /// The clock in milliseconds, and the skew in milliseconds.
    pub(super) fn now_and_skew(&self) -> (f64, f64) {
        (
            self.clock.now_millis() as f64,
            self.rules.clock_skew.as_millis() as f64,
        )
    }

    /// Checks 4-8 on claims whose signature is valid.
    fn check_claims(
        &self,
        claims: &Map<String, Value>,
    ) -> Result<(Verified, TokenTimes), AuthFailure> {
        // 4: subject and time.
        let user_id = match claims.get("sub") {
            Some(Value::String(sub)) if !sub.is_empty() => sub,
            _ => return Err(AuthFailure::Malformed),
        };
        // A machine token's subject: it is not a user session.
        if user_id
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("mch_"))
        {
            return Err(AuthFailure::TypeMismatch);
        }
        // The same predicates, in the same order, as `TokenTimes::check` on a cache hit.
        let (now, skew) = self.now_and_skew();
        let exp = numeric_claim(claims, "exp")?.ok_or(AuthFailure::Malformed)?;
        if is_expired(exp, now, skew) {
            return Err(AuthFailure::Expired);
        }
        let nbf = numeric_claim(claims, "nbf")?;
        if nbf.is_some_and(|nbf| is_in_the_future(nbf, now, skew)) {
            return Err(AuthFailure::NotActiveYet);
        }
        let iat = numeric_claim(claims, "iat")?;
        if iat.is_some_and(|iat| is_in_the_future(iat, now, skew)) {
            return Err(AuthFailure::IatInTheFuture);
        }
        let times = TokenTimes { exp, nbf, iat };

        // 5: exact issuer. Clerk's JS SDK relies on per-instance key sets instead; checking it is
        // cheap and stops a token of another instance that shares a key source.
        if let Some(issuer) = &self.rules.issuer
            && claims.get("iss").and_then(Value::as_str) != Some(issuer.as_str())
        {
            return Err(AuthFailure::InvalidIssuer);
        }

        // 6: authorized party, required when parties are configured (a token minted for
        // another origin must not be replayed here).
        if !self.rules.authorized_parties.is_empty() {
            let azp = claims.get("azp").and_then(Value::as_str);
            if !azp.is_some_and(|azp| self.rules.authorized_parties.iter().any(|p| p == azp)) {
                return Err(AuthFailure::InvalidAuthorizedParty);
            }
        }

        // 7: audience, only when one is configured; then the token must name it.
        if !self.rules.audience.is_empty() {
            let accepted = |aud: &str| self.rules.audience.iter().any(|a| a == aud);
            let ok = match claims.get("aud") {
                Some(Value::String(aud)) => accepted(aud),
                Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).any(accepted),
                _ => false,
            };
            if !ok {
                return Err(AuthFailure::InvalidAudience);
            }
        }

        // 7b: a lifetime longer than revocations are kept would let a token outlive its
        // session's revocation (`auth::revocation`). Without `iat`, what is left of the lifetime
        // counts (it only shrinks, so a cached verification stays valid).
        let issued = iat.unwrap_or(now / 1000.0);
        if exp - issued > self.rules.max_token_lifetime.as_secs_f64() {
            return Err(AuthFailure::LifetimeTooLong);
        }

        // 8: a pending session is signed out.
        if claims.get("sts").and_then(Value::as_str) == Some("pending") {
            return Ok((Verified::Pending, times));
        }

        let viewer = Viewer::from_verified_claims(user_id.clone(), exp as i64, claims);
        Ok((Verified::SignedIn(Arc::new(viewer)), times))
    }
}

/// A NumericDate claim: absent is `None`, present but not a number is malformed.
pub(super) fn numeric_claim(
    claims: &Map<String, Value>,
    name: &str,
) -> Result<Option<f64>, AuthFailure> {
    match claims.get(name) {
        None => Ok(None),
        Some(value) => value
            .as_f64()
            .filter(|v| v.is_finite())
            .map(Some)
            .ok_or(AuthFailure::Malformed),
    }
}
