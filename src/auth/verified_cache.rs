//! The verified-token cache: remembers what a *successful* verification of a session token
//! returned, so that the next presentation of the very same token skips the RS256 signature
//! check, which dominates request cost. A Clerk session token lives 60 s and a browser presents
//! it for about 50 s, so nearly every request carries a token the server has already verified.
//!
//! Rules (the verifier applies them, see [`super::Verifier::verify`]):
//! - **Keyed by the whole token**: BLAKE3 of the exact token string (32 bytes; a cryptographic
//!   hash, so no other token has the same key, at a fraction of SHA-256's cost on a 1 KB token
//!   without SHA instructions). The token itself is never stored. Two tokens that differ in any
//!   byte (header, claims or signature) are two entries, so steps 1-3 and the clock-independent
//!   claim checks of ARCHITECTURE §4 give, for an entry, exactly the answer they gave when it was
//!   made.
//! - **Only successes are stored**: a token creates an entry only once its signature verified
//!   with one of our keys and every claim check passed. Garbage, forged or refused tokens never
//!   do, so an attacker cannot fill the cache; the capacity bounds the rest.
//! - **Time is re-checked on every hit**: an entry keeps the token's `exp`, `nbf` and `iat`, and
//!   the verifier re-applies the clock checks with its own clock and skew, returning the same
//!   reason (`token_expired`, …) as a full verification would. Entries are also dropped by moka
//!   once `exp + skew` has passed (memory), but correctness never depends on that eviction.
//! - **Tied to the key set**: an entry records the key-set generation it was verified under
//!   ([`super::keys::KeySource::generation`]); once the JWKS serves a different key set, the entry
//!   is stale and the token is verified in full again (and then succeeds, or fails with the
//!   normal reason, e.g. `jwk_kid_mismatch` when its key was rotated out).
//!
//! Memory, measured by `benches/verifier.rs` (a counting allocator, 10,000 entries): about
//! 350 bytes per entry for the cache itself (the 32-byte digest, the entry data, moka's hash-table
//! and LRU/TinyLFU/timer-wheel bookkeeping, the frequency sketch amortised), plus the
//! [`Viewer`](super::Viewer) the entry shares with the requests: about 1.9 KB for a v2 token with
//! an organisation, features and custom metadata, more with large custom claims. So about 2.3 KB
//! per entry: the default 16,384 entries ([`DEFAULT_CAPACITY`]) are ~37 MB at the bound, which is
//! only reached with more than ~270 distinct new valid tokens per second, since entries leave
//! about a minute after they arrive (`exp` + skew). `scripts/soak` presents 100,000 distinct
//! tokens for ten minutes: the server's RSS stays flat. A hit allocates nothing itself
//! (moka's amortised bookkeeping: < 0.1 allocation per hit).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moka::Expiry;
use moka::future::Cache;

use super::AuthFailure;
use super::viewer::Verified;

/// Default capacity. An entry is about 2.3 KB (mostly the shared `Viewer`) and leaves about a
/// minute after its token arrives, so 16,384 entries (about 37 MB at most) hold every token of
/// roughly 270 new sessions a second; a miss only costs one full verification.
pub const DEFAULT_CAPACITY: u64 = 16_384;

/// An entry is kept at most this long even when its token lives longer (development tokens):
/// the cache is an optimisation, and a miss only costs one full verification.
const MAX_LIFETIME: Duration = Duration::from_secs(3600);

/// BLAKE3 of the whole token string.
pub type TokenDigest = [u8; 32];

pub fn token_digest(token: &str) -> TokenDigest {
    *blake3::hash(token.as_bytes()).as_bytes()
}

/// The NumericDate claims of a verified token, exactly as the verifier read them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenTimes {
    pub exp: f64,
    pub nbf: Option<f64>,
    pub iat: Option<f64>,
}

impl TokenTimes {
    /// The clock checks of ARCHITECTURE §4 step 4, in the verifier's order, with the same reasons.
    /// `now` and `skew` in milliseconds.
    pub fn check(&self, now: f64, skew: f64) -> Result<(), AuthFailure> {
        if is_expired(self.exp, now, skew) {
            return Err(AuthFailure::Expired);
        }
        if self.nbf.is_some_and(|nbf| is_in_the_future(nbf, now, skew)) {
            return Err(AuthFailure::NotActiveYet);
        }
        if self.iat.is_some_and(|iat| is_in_the_future(iat, now, skew)) {
            return Err(AuthFailure::IatInTheFuture);
        }
        Ok(())
    }

    /// How long, from `now`, the token can still pass the `exp` check (capped).
    fn remaining_life(&self, now: f64, skew: f64) -> Duration {
        let millis = self.exp * 1000.0 + skew - now;
        if millis.is_nan() || millis <= 0.0 {
            return Duration::ZERO;
        }
        Duration::try_from_secs_f64(millis / 1000.0)
            .unwrap_or(MAX_LIFETIME)
            .min(MAX_LIFETIME)
    }
}

/// `exp` (seconds) has passed, allowing for `skew`: `exp <= now - skew` (milliseconds).
pub fn is_expired(exp: f64, now: f64, skew: f64) -> bool {
    exp * 1000.0 <= now - skew
}

/// A time claim (seconds) lies beyond `now + skew` (milliseconds).
pub fn is_in_the_future(time: f64, now: f64, skew: f64) -> bool {
    time * 1000.0 > now + skew
}

/// What the cache remembers of one successful verification.
#[derive(Debug, Clone)]
pub struct CachedVerification {
    pub verified: Verified,
    pub times: TokenTimes,
    /// The key-set generation the signature was verified under.
    generation: u64,
    /// How long moka keeps the entry: until `exp + skew` as seen when it was made.
    lifetime: Duration,
}

/// The outcome of a lookup.
#[derive(Debug)]
pub enum Lookup {
    /// An entry made under the current key set. The clock checks are still to be applied.
    Hit(CachedVerification),
    /// An entry made under an older key set: verify in full.
    Stale,
    Miss,
}

struct UntilTokenExpiry;

impl Expiry<TokenDigest, CachedVerification> for UntilTokenExpiry {
    fn expire_after_create(
        &self,
        _: &TokenDigest,
        entry: &CachedVerification,
        _: Instant,
    ) -> Option<Duration> {
        Some(entry.lifetime)
    }

    fn expire_after_update(
        &self,
        _: &TokenDigest,
        entry: &CachedVerification,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.lifetime)
    }
}

/// Bounded map from token digest to a successful verification. See the module documentation.
pub struct VerifiedCache {
    entries: Cache<TokenDigest, CachedVerification>,
    capacity: u64,
    hits: AtomicU64,
    insertions: AtomicU64,
}

impl VerifiedCache {
    pub fn new(capacity: u64) -> Self {
        Self {
            entries: Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilTokenExpiry)
                .build(),
            capacity,
            hits: AtomicU64::new(0),
            insertions: AtomicU64::new(0),
        }
    }

    /// Looks `digest` up; `current_generation` is asked only when an entry exists. A hit is
    /// counted here; a miss or a stale entry by the verifier, once the token turns out to be a
    /// session token (the cache is asked before the token's kind is read).
    pub async fn lookup(
        &self,
        digest: &TokenDigest,
        current_generation: impl FnOnce() -> u64,
    ) -> Lookup {
        use crate::metrics::{CacheLookup, verified_token_cache};
        match self.entries.get(digest).await {
            None => Lookup::Miss,
            Some(entry) if entry.generation == current_generation() => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                verified_token_cache(CacheLookup::Hit);
                Lookup::Hit(entry)
            }
            Some(_) => Lookup::Stale,
        }
    }

    /// Remembers a successful verification made with the keys of `generation` (read *before*
    /// the key was looked up, so that a key set installed meanwhile makes the entry stale rather
    /// than wrongly current). `now` and `skew` in milliseconds.
    pub async fn insert(
        &self,
        digest: TokenDigest,
        verified: Verified,
        times: TokenTimes,
        generation: u64,
        now: f64,
        skew: f64,
    ) {
        let lifetime = times.remaining_life(now, skew);
        if lifetime.is_zero() {
            return;
        }
        self.entries
            .insert(
                digest,
                CachedVerification {
                    verified,
                    times,
                    generation,
                    lifetime,
                },
            )
            .await;
        self.insertions.fetch_add(1, Ordering::Relaxed);
    }

    pub async fn remove(&self, digest: &TokenDigest) {
        self.entries.invalidate(digest).await;
    }

    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Lookups answered from the cache (current key set; the clock checks may still refuse).
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Successful verifications stored.
    pub fn insertions(&self) -> u64 {
        self.insertions.load(Ordering::Relaxed)
    }

    /// Entries held now, after moka's pending bookkeeping (evictions, expiries) has run.
    pub async fn entry_count(&self) -> u64 {
        self.entries.run_pending_tasks().await;
        self.entries.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::auth::Viewer;

    const NOW: f64 = 1_800_000_000_000.0;
    const SKEW: f64 = 5_000.0;

    fn viewer(user_id: &str) -> Verified {
        Verified::SignedIn(Arc::new(Viewer::from_verified_claims(
            user_id.into(),
            0,
            &serde_json::Map::new(),
        )))
    }

    fn times(exp: f64) -> TokenTimes {
        TokenTimes {
            exp,
            nbf: Some(exp - 70.0),
            iat: Some(exp - 60.0),
        }
    }

    #[test]
    fn the_digest_covers_the_whole_token_and_is_32_bytes() {
        let a = token_digest("header.payload.signature");
        assert_eq!(a, token_digest("header.payload.signature"));
        assert_ne!(a, token_digest("header.payload.signaturf"));
        assert_ne!(a, token_digest("header.payload.signature."));
        // The BLAKE3 test vector: the digest is BLAKE3 of the bytes, nothing else.
        assert_eq!(
            token_digest("abc")[..4],
            [0x64, 0x37, 0xb3, 0xac],
            "BLAKE3(\"abc\")"
        );
    }

    #[test]
    fn time_checks_match_the_verifier_boundaries_and_order() {
        let exp = NOW / 1000.0 + 60.0;
        let t = times(exp);
        assert_eq!(t.check(NOW, SKEW), Ok(()));
        // exp <= now - skew is expired; one millisecond before, it is not.
        let at_expiry = exp * 1000.0 + SKEW;
        assert_eq!(t.check(at_expiry - 1.0, SKEW), Ok(()));
        assert_eq!(t.check(at_expiry, SKEW), Err(AuthFailure::Expired));
        // nbf > now + skew is refused.
        let nbf_only = TokenTimes { iat: None, ..t };
        let nbf = t.nbf.unwrap() * 1000.0;
        assert_eq!(nbf_only.check(nbf - SKEW, SKEW), Ok(()));
        assert_eq!(
            nbf_only.check(nbf - SKEW - 1.0, SKEW),
            Err(AuthFailure::NotActiveYet)
        );
        // Both in the future: nbf is reported, as the verifier checks it first.
        assert_eq!(
            t.check(nbf - SKEW - 1.0, SKEW),
            Err(AuthFailure::NotActiveYet)
        );
        let iat_only = TokenTimes { nbf: None, ..t };
        let iat = t.iat.unwrap() * 1000.0;
        assert_eq!(iat_only.check(iat - SKEW, SKEW), Ok(()));
        assert_eq!(
            iat_only.check(iat - SKEW - 1.0, SKEW),
            Err(AuthFailure::IatInTheFuture)
        );
    }

    #[test]
    fn remaining_life_runs_to_exp_plus_skew_and_is_capped() {
        let exp = NOW / 1000.0 + 60.0;
        assert_eq!(
            times(exp).remaining_life(NOW, SKEW),
            Duration::from_secs(65)
        );
        assert_eq!(
            times(exp).remaining_life(NOW + 65_000.0, SKEW),
            Duration::ZERO
        );
        assert_eq!(times(1e300).remaining_life(NOW, SKEW), MAX_LIFETIME);
        assert_eq!(times(f64::NAN).remaining_life(NOW, SKEW), Duration::ZERO);
    }

    #[tokio::test]
    async fn entries_are_tied_to_the_key_set_generation() {
        let cache = VerifiedCache::new(16);
        let digest = token_digest("a.b.c");
        assert!(matches!(cache.lookup(&digest, || 1).await, Lookup::Miss));
        let exp = NOW / 1000.0 + 60.0;
        cache
            .insert(digest, viewer("user_1"), times(exp), 1, NOW, SKEW)
            .await;
        match cache.lookup(&digest, || 1).await {
            Lookup::Hit(entry) => {
                assert_eq!(entry.verified, viewer("user_1"));
                assert_eq!(entry.times, times(exp));
            }
            other => panic!("expected a hit, got {other:?}"),
        }
        assert!(matches!(cache.lookup(&digest, || 2).await, Lookup::Stale));
        assert_eq!(cache.hits(), 1);
        cache.remove(&digest).await;
        assert!(matches!(cache.lookup(&digest, || 1).await, Lookup::Miss));
    }

    #[tokio::test]
    async fn a_token_past_its_expiry_is_not_stored() {
        let cache = VerifiedCache::new(16);
        let exp = NOW / 1000.0 - 10.0;
        cache
            .insert(token_digest("x"), viewer("u"), times(exp), 1, NOW, SKEW)
            .await;
        assert_eq!(cache.insertions(), 0);
        assert_eq!(cache.entry_count().await, 0);
    }

    #[tokio::test]
    async fn the_capacity_bounds_the_entries() {
        let cache = VerifiedCache::new(100);
        let exp = NOW / 1000.0 + 60.0;
        for i in 0..1_000 {
            let digest = token_digest(&format!("token-{i}"));
            cache
                .insert(digest, viewer("u"), times(exp), 1, NOW, SKEW)
                .await;
        }
        assert_eq!(cache.insertions(), 1_000);
        let held = cache.entry_count().await;
        assert!(held <= 100, "{held} entries held with a capacity of 100");
    }
}
