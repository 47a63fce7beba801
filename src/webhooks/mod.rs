//! Clerk webhooks: the Svix signature ([`signature`]), the event payloads ([`event`]) and the
//! endpoint that applies them to `users` ([`handler`]).

pub mod event;
pub mod handler;
pub mod signature;

pub use handler::{WebhookState, routes};
pub use signature::SigningKeys;
