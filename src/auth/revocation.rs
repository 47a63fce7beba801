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

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use moka::sync::Cache;
use tokio::sync::broadcast;

use super::Viewer;

/// The most revocations kept at once (sessions and users together, about 100 bytes each). Only
/// signed webhooks add entries, so nobody outside can fill it.
pub const CAPACITY: u64 = 1_000_000;

/// How many revocations an open socket may fall behind before it checks the set instead.
const CHANNEL_CAPACITY: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
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
}

impl Revocations {
    /// `retention`: the longest a token of an ended session can still be unexpired (the longest
    /// accepted lifetime plus the clock skew).
    pub fn new(retention: Duration) -> Self {
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
        }))
    }

    /// Records the revocation, then tells every open connection.
    pub fn revoke(&self, revocation: Revocation) {
        match &revocation {
            Revocation::Session(id) => self.0.ended_sessions.insert(id.clone(), ()),
            Revocation::User(id) => self.0.deleted_users.insert(id.clone(), ()),
        }
        self.0.any.store(true, Ordering::Relaxed);
        // Nobody listening (no open connection) is fine.
        let _ = self.0.announcements.send(revocation);
    }

    /// Whether the viewer's session or user has ended.
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
