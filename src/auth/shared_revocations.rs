//! Revocations shared by the replicas through Redis (`REDIS_URL`), so that a `session.revoked`
//! webhook that reached one replica closes the session's sockets and refuses its tokens on all of
//! them, within a second.
//!
//! - **Stored and announced.** A revocation is added to one sorted set in Redis, `revocations`,
//!   scored by when it may be forgotten (now + the retention of `auth::revocation`: after that no
//!   token of the session is unexpired); entries past their score are trimmed on each write, and
//!   the key expires with its newest entry. It is then published on [`CHANNEL`]; every replica
//!   applies it to its local copy and closes its sockets.
//! - **The hot path stays local.** A request is checked against the local copy only, except once
//!   per token: when a token is verified for the first time (a miss of the verified-token cache,
//!   about once a minute per session), Redis is asked too (`ZMSCORE`, one round trip). That
//!   covers what pub/sub cannot: a replica that started after the webhook, or whose subscriber
//!   connection was down when it was published. From then on pub/sub keeps the copy current.
//! - **After an outage.** At start-up and each time the subscriber connection has subscribed
//!   again, the revocations still in force are reloaded from the sorted set; those this replica
//!   could not write while Redis was away are written as soon as it answers (both tried again
//!   every second until they succeed).
//! - **Redis down** is never an outage: a revocation is applied locally at once and written
//!   later; a first-seen token that cannot be checked in Redis is accepted on the local copy's
//!   word (and refused as soon as the reload after the outage has brought the revocation in).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::RedisResult;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use super::Viewer;
use super::clock::Clock;
use super::revocation::{Revocation, Revocations};
use crate::shared::{SharedRedis, within_budget};

/// The Redis channel revocations are announced on.
pub const CHANNEL: &str = "revocations";

/// The sorted set of revocations in force.
const KEY: &str = "revocations";

/// Revocations waiting to be written: to Redis, or (beyond this many) dropped with a warning —
/// each is applied on this replica already, and only signed webhooks add them.
const MAX_PENDING: usize = 10_000;

/// How often a failed reload or pending write is tried again.
const RETRY: Duration = Duration::from_secs(1);

pub(super) struct SharedRevocations {
    redis: SharedRedis,
    clock: Arc<dyn Clock>,
    retention: Duration,
    outbox: mpsc::Sender<Revocation>,
    /// Not written because Redis did not answer, with when each may be forgotten (ms).
    pending: Mutex<Vec<(Revocation, i64)>>,
    /// Whether the last Redis command failed: a failure is logged once per outage.
    failing: AtomicBool,
}

impl SharedRevocations {
    /// The shared part, and the receiving end of its outbox for [`Self::start`].
    pub(super) fn new(
        redis: SharedRedis,
        clock: Arc<dyn Clock>,
        retention: Duration,
    ) -> (Self, mpsc::Receiver<Revocation>) {
        let (outbox, receiver) = mpsc::channel(MAX_PENDING);
        let shared = Self {
            redis,
            clock,
            retention,
            outbox,
            pending: Mutex::new(Vec::new()),
            failing: AtomicBool::new(false),
        };
        (shared, receiver)
    }

    /// Starts writing this process's revocations and applying the other replicas'.
    pub(super) fn start(revocations: &Revocations, outbox: mpsc::Receiver<Revocation>) {
        tokio::spawn(write_out(revocations.clone(), outbox));
        tokio::spawn(listen(revocations.clone()));
    }

    /// Queues a revocation applied here for Redis (never waits).
    pub(super) fn record(&self, revocation: Revocation) {
        if let Err(refused) = self.outbox.try_send(revocation) {
            self.keep_for_later(refused.into_inner(), self.forget_at());
        }
    }

    /// The revocation in Redis that ends the viewer's session, if any; `None` also when Redis
    /// does not answer.
    pub(super) async fn find(&self, viewer: &Viewer) -> Option<Revocation> {
        let mut candidates = vec![Revocation::User(viewer.user_id.clone())];
        candidates.extend(viewer.session_id.clone().map(Revocation::Session));
        let mut commands = self.redis.commands()?;
        let mut query = redis::cmd("ZMSCORE");
        query.arg(self.redis.key(KEY));
        for candidate in &candidates {
            query.arg(member(candidate));
        }
        let scores: RedisResult<Vec<Option<f64>>> =
            within_budget(query.query_async(&mut commands)).await;
        let now = self.clock.now_millis() as f64;
        let scores = self.outcome(scores)?;
        candidates
            .into_iter()
            .zip(scores)
            .find_map(|(candidate, score)| score.is_some_and(|s| s > now).then_some(candidate))
    }

    /// When a revocation made now may be forgotten (ms since the epoch).
    fn forget_at(&self) -> i64 {
        self.clock.now_millis() + self.retention.as_millis() as i64
    }

    fn has_pending(&self) -> bool {
        !self.pending.lock().expect("not poisoned").is_empty()
    }

    fn keep_for_later(&self, revocation: Revocation, forget_at: i64) {
        let mut pending = self.pending.lock().expect("not poisoned");
        if pending.len() < MAX_PENDING {
            pending.push((revocation, forget_at));
        } else {
            tracing::warn!(
                "a revocation could not be kept for Redis: it holds on this replica only"
            );
        }
    }

    /// Stores the revocation in the sorted set, then announces it.
    async fn write(&self, revocation: &Revocation, forget_at: i64) -> RedisResult<()> {
        let mut commands = self.redis.connected_commands()?;
        let key = self.redis.key(KEY);
        redis::pipe()
            .atomic()
            .zadd(&key, member(revocation), forget_at)
            .ignore()
            .zrembyscore(&key, "-inf", self.clock.now_millis())
            .ignore()
            .pexpire(&key, self.retention.as_millis() as i64)
            .ignore()
            .query_async::<()>(&mut commands)
            .await?;
        self.redis.publish(CHANNEL, revocation).await
    }

    /// Writes what could not be written before (after an outage).
    async fn write_pending(&self) {
        let pending = std::mem::take(&mut *self.pending.lock().expect("not poisoned"));
        let now = self.clock.now_millis();
        for (revocation, forget_at) in pending {
            if forget_at <= now {
                continue;
            }
            let written = self.write(&revocation, forget_at).await;
            if self.outcome(written).is_none() {
                self.keep_for_later(revocation, forget_at);
            }
        }
    }

    /// The revocations in force in Redis.
    async fn in_force(&self) -> Option<Vec<Revocation>> {
        let mut commands = self.redis.commands()?;
        let members: RedisResult<Vec<String>> = redis::cmd("ZRANGEBYSCORE")
            .arg(self.redis.key(KEY))
            .arg(format!("({}", self.clock.now_millis()))
            .arg("+inf")
            .query_async(&mut commands)
            .await;
        let members = self.outcome(members)?;
        Some(members.iter().filter_map(|m| parse_member(m)).collect())
    }

    /// `Some` on success; a failure is logged when it starts an outage.
    fn outcome<T>(&self, result: RedisResult<T>) -> Option<T> {
        match result {
            Ok(value) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("revocations are shared through Redis again");
                }
                Some(value)
            }
            Err(error) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        %error,
                        "revocations cannot be shared through Redis: they hold on this replica \
                         until it answers"
                    );
                }
                None
            }
        }
    }
}

/// Writes this process's revocations to Redis, in order; what fails is tried again by
/// [`listen`].
async fn write_out(revocations: Revocations, mut outbox: mpsc::Receiver<Revocation>) {
    let shared = revocations.shared_part();
    while let Some(revocation) = outbox.recv().await {
        let forget_at = shared.forget_at();
        let written = shared.write(&revocation, forget_at).await;
        if shared.outcome(written).is_none() {
            shared.keep_for_later(revocation, forget_at);
        }
    }
}

/// Applies the other replicas' revocations as they are announced and, each time the subscriber
/// connection has subscribed (again), writes what was pending and reloads what is in force. Both
/// are tried again every [`RETRY`] until they succeed: the command connection may come back later
/// than the subscriber connection.
async fn listen(revocations: Revocations) {
    let shared = revocations.shared_part();
    let mut messages = shared.redis.messages();
    let mut subscriptions = shared.redis.subscriptions();
    let mut retry = tokio::time::interval(RETRY);
    // At start-up too: a replica that starts after a webhook must learn of it.
    let mut reload_due = true;
    loop {
        if shared.has_pending() {
            shared.write_pending().await;
        }
        if reload_due {
            reload_due = !reload(&revocations, shared).await;
        }
        tokio::select! {
            changed = subscriptions.changed() => {
                if changed.is_err() {
                    return;
                }
                reload_due = true;
            }
            _ = retry.tick(), if reload_due || shared.has_pending() => {}
            message = messages.recv() => match message {
                Ok(message) if message.channel == CHANNEL => {
                    if let Some(received) = shared.redis.read::<Revocation>(&message)
                        && !received.own
                    {
                        revocations.apply(received.message);
                    }
                }
                Ok(_) => {}
                // Some announcements were missed: the sorted set has them.
                Err(RecvError::Lagged(_)) => reload_due = true,
                Err(RecvError::Closed) => return,
            },
        }
    }
}

/// Applies the revocations in force in Redis; whether Redis answered.
async fn reload(revocations: &Revocations, shared: &SharedRevocations) -> bool {
    let Some(in_force) = shared.in_force().await else {
        return false;
    };
    let total = in_force.len();
    let new = in_force
        .into_iter()
        .filter(|revocation| revocations.apply(revocation.clone()))
        .count();
    tracing::info!(total, new, "revocations loaded from Redis");
    true
}

/// A revocation's member of the sorted set: `session:<id>` or `user:<id>`.
fn member(revocation: &Revocation) -> String {
    match revocation {
        Revocation::Session(id) => format!("session:{id}"),
        Revocation::User(id) => format!("user:{id}"),
    }
}

fn parse_member(member: &str) -> Option<Revocation> {
    match member.split_once(':')? {
        ("session", id) => Some(Revocation::Session(id.to_owned())),
        ("user", id) => Some(Revocation::User(id.to_owned())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_name_the_kind_and_read_back() {
        for revocation in [
            Revocation::Session("sess_2abc".into()),
            Revocation::User("user_2xyz".into()),
        ] {
            assert_eq!(parse_member(&member(&revocation)), Some(revocation));
        }
        assert_eq!(parse_member("org:org_1"), None);
        assert_eq!(parse_member("garbage"), None);
    }
}
