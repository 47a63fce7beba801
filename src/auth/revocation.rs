//! Ending long-lived connections when Clerk says a session or user is gone.
//!
//! A WebSocket is authenticated once, at `connection_init`; Clerk tokens live 60 s, but a
//! subscription may run for hours. Rather than end every subscription a minute in, the server
//! keeps a subscription alive until one of these arrives by webhook: `session.ended`,
//! `session.revoked` or `session.removed` for the connection's session, or `user.deleted` for
//! its user — and in any case for no longer than the maximum age of a subscription
//! (`graphql::subscription::MAX_SUBSCRIPTION_AGE`), after which the client reconnects with a
//! fresh token.

use tokio::sync::broadcast::{self, error::RecvError};

use super::Viewer;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    User(String),
    Session(String),
}

/// A process-wide channel of revocations, shared by the webhook handler (sender) and every
/// subscription (receivers).
#[derive(Clone)]
pub struct Revocations(broadcast::Sender<Revocation>);

impl Default for Revocations {
    fn default() -> Self {
        Self(broadcast::channel(256).0)
    }
}

impl Revocations {
    pub fn revoke(&self, revocation: Revocation) {
        // Nobody listening (no open subscription) is fine.
        let _ = self.0.send(revocation);
    }

    /// Resolves when the viewer's user or session is revoked. Subscribe before starting the
    /// work it guards, so that nothing sent in between is missed.
    pub fn until_revoked(&self, viewer: &Viewer) -> impl Future<Output = ()> + Send + 'static {
        let mut receiver = self.0.subscribe();
        let user_id = viewer.user_id.clone();
        let session_id = viewer.session_id.clone();
        async move {
            loop {
                match receiver.recv().await {
                    Ok(Revocation::User(id)) if id == user_id => return,
                    Ok(Revocation::Session(id)) if Some(&id) == session_id.as_ref() => return,
                    Ok(_) => {}
                    // Missed some: one of them may have been ours, so end (the client
                    // reconnects and is checked again).
                    Err(RecvError::Lagged(_)) => return,
                    Err(RecvError::Closed) => std::future::pending::<()>().await,
                }
            }
        }
    }
}
