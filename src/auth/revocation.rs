//! Ended sessions and deleted users: their tokens are refused from the moment Clerk tells us.
//!
//! Clerk's webhooks `session.ended`, `session.revoked` and `session.removed` end a session;
//! `user.deleted` ends every session of a user. A session token stays cryptographically valid
//! until its `exp`, and the verified-token cache would serve it for that long, so the verifier
//! asks [`Revocations::is_revoked`] after every successful verification (a cache hit included).
//! Open WebSockets learn of a revocation through [`Revocations::subscribe`] and close at once.
//!
//! How long a revocation is kept: a token is accepted only if its lifetime is at most
//! `CLERK_MAX_TOKEN_LIFETIME_SECS` (see `ClaimRules::max_token_lifetime`), so a token of the
//! session that is still unexpired when the webhook arrives expires at most that long (plus the
//! clock skew) later. Keeping each revocation that long covers every such token — also when the
//! webhook arrives before the server ever saw the session's token — and then lets it go, so the
//! memory used follows the rate of sign-outs, bounded by [`CAPACITY`] entries.
//!
//! With several replicas ([`Revocations::shared`], `REDIS_URL`), the webhook reaches one of them:
//! it is written to Redis and announced there, and every replica applies it to its own copy
//! (`auth::shared_revocations`, where the design is explained). The copy stays the hot path.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use moka::sync::Cache;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use super::Viewer;
use super::clock::Clock;
use super::shared_revocations::SharedRevocations;
use crate::shared::SharedRedis;

/// The most revocations kept at once (sessions and users together, about 100 bytes each). Only
/// signed webhooks add entries, so nobody outside can fill it.
pub const CAPACITY: u64 = 1_000_000;

/// How many revocations an open socket may fall behind before it checks the set instead.
const CHANNEL_CAPACITY: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Revocation {
    User(String),
    Session(String),
}

impl Revocation {
    /// Whether this revocation ends the viewer's session.
    pub fn ends(&self, viewer: &Viewer) -> bool {
        match self {
            Self::User(id) => *id == viewer.user_id,
            Self::Session(id) => viewer.session_id.as_ref() == Some(id),
        }
    }
}

/// The process's revocations: a set that expires its entries (for the verifier) and a channel
/// (for open connections). Cheap to clone; clones share both.
#[derive(Clone)]
pub struct Revocations(Arc<Inner>);

struct Inner {
    /// Ended session ids, and deleted user ids: two sets, so that a lookup borrows the viewer's
    /// ids instead of allocating a key on every verification.
    ended_sessions: Cache<String, ()>,
    deleted_users: Cache<String, ()>,
    announcements: broadcast::Sender<Revocation>,
    /// Whether anything was ever revoked.
    any: AtomicBool,
    /// The other replicas' revocations, through Redis.
    shared: Option<SharedRevocations>,
}

impl Revocations {
    /// This process's revocations. `retention`: the longest a token of an ended session can
    /// still be unexpired (the longest accepted lifetime plus the clock skew).
    pub fn new(retention: Duration) -> Self {
        Self::build(retention, None)
    }

    /// Revocations shared with the other replicas through `redis` (which must subscribe to
    /// [`CHANNEL`](super::shared_revocations::CHANNEL)); `clock` dates them there.
    pub fn shared(retention: Duration, redis: SharedRedis, clock: Arc<dyn Clock>) -> Self {
        let (shared, outbox) = SharedRevocations::new(redis, clock, retention);
        let revocations = Self::build(retention, Some(shared));
        SharedRevocations::start(&revocations, outbox);
        revocations
    }

    fn build(retention: Duration, shared: Option<SharedRevocations>) -> Self {
        let set = || {
            Cache::builder()
                .max_capacity(CAPACITY / 2)
                .time_to_live(retention)
                .build()
        };
        Self(Arc::new(Inner {
            ended_sessions: set(),
            deleted_users: set(),
            announcements: broadcast::channel(CHANNEL_CAPACITY).0,
            any: AtomicBool::new(false),
            shared,
        }))
    }

    /// Records the revocation and tells every open connection; with Redis, every replica.
    pub fn revoke(&self, revocation: Revocation) {
        self.apply(revocation.clone());
        if let Some(shared) = &self.0.shared {
            shared.record(revocation);
        }
    }

    /// Records the revocation here and tells this process's open connections, unless it was
    /// already known; whether it was new.
    pub(super) fn apply(&self, revocation: Revocation) -> bool {
        let (set, id) = match &revocation {
            Revocation::Session(id) => (&self.0.ended_sessions, id),
            Revocation::User(id) => (&self.0.deleted_users, id),
        };
        if set.contains_key(id.as_str()) {
            return false;
        }
        set.insert(id.clone(), ());
        self.0.any.store(true, Ordering::Relaxed);
        // Nobody listening (no open connection) is fine.
        let _ = self.0.announcements.send(revocation);
        true
    }

    /// [`Self::is_revoked`], and with Redis also whether another replica revoked it (applied
    /// here when it did). For a token verified for the first time: see
    /// `auth::shared_revocations` for why not on every request.
    pub async fn is_revoked_anywhere(&self, viewer: &Viewer) -> bool {
        if self.is_revoked(viewer) {
            return true;
        }
        let Some(shared) = &self.0.shared else {
            return false;
        };
        match shared.find(viewer).await {
            Some(revocation) => {
                self.apply(revocation);
                true
            }
            None => false,
        }
    }

    /// The Redis side; only its own tasks ask, which exist only with it.
    pub(super) fn shared_part(&self) -> &SharedRevocations {
        self.0
            .shared
            .as_ref()
            .expect("started only for shared revocations")
    }

    /// Whether the viewer's session or user has ended (this process's copy).
    pub fn is_revoked(&self, viewer: &Viewer) -> bool {
        // Until the first revocation (the common case in a young process): no hashing.
        if !self.0.any.load(Ordering::Relaxed) {
            return false;
        }
        self.0.deleted_users.contains_key(viewer.user_id.as_str())
            || viewer
                .session_id
                .as_deref()
                .is_some_and(|id| self.0.ended_sessions.contains_key(id))
    }

    /// Revocations from now on. Subscribe before checking [`Self::is_revoked`], so that nothing
    /// announced in between is missed.
    pub fn subscribe(&self) -> broadcast::Receiver<Revocation> {
        self.0.announcements.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Map;

    fn viewer(user: &str, session: Option<&str>) -> Viewer {
        let mut viewer = Viewer::from_verified_claims(user.into(), 0, &Map::new());
        viewer.session_id = session.map(str::to_string);
        viewer
    }

    #[test]
    fn a_revoked_session_or_user_is_refused_and_others_are_not() {
        let revocations = Revocations::new(Duration::from_secs(60));
        let a1 = viewer("user_a", Some("sess_1"));
        let a2 = viewer("user_a", Some("sess_2"));
        let b = viewer("user_b", Some("sess_3"));
        assert!(!revocations.is_revoked(&a1));

        revocations.revoke(Revocation::Session("sess_1".into()));
        assert!(revocations.is_revoked(&a1));
        assert!(!revocations.is_revoked(&a2), "other sessions keep working");
        assert!(!revocations.is_revoked(&b));

        revocations.revoke(Revocation::User("user_b".into()));
        assert!(revocations.is_revoked(&b));
        assert!(!revocations.is_revoked(&a2));
    }

    #[test]
    fn revocations_expire_after_the_retention() {
        let revocations = Revocations::new(Duration::from_millis(50));
        let a = viewer("user_a", Some("sess_1"));
        revocations.revoke(Revocation::Session("sess_1".into()));
        assert!(revocations.is_revoked(&a));
        std::thread::sleep(Duration::from_millis(120));
        assert!(!revocations.is_revoked(&a));
    }

    #[tokio::test]
    async fn open_connections_hear_of_revocations() {
        let revocations = Revocations::new(Duration::from_secs(60));
        let mut receiver = revocations.subscribe();
        revocations.revoke(Revocation::User("user_a".into()));
        let heard = receiver.recv().await.unwrap();
        assert!(heard.ends(&viewer("user_a", None)));
        assert!(!heard.ends(&viewer("user_b", None)));
    }
}
