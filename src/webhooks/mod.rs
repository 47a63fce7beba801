//! Clerk webhooks: the Svix signature ([`signature`]), the event payloads ([`event`]), the
//! endpoint that applies them to `users` ([`handler`]) and the clean-up of the deliveries it
//! records ([`retention`]).

pub mod event;
pub mod handler;
pub mod retention;
pub mod signature;

pub use handler::{WebhookRefusal, WebhookState, routes};
pub use retention::Retention;
pub use signature::SigningKeys;
