//! Authentication: once per request, the session token (if any) becomes a [`Viewer`] or a refusal.

pub mod clock;
pub mod dev_keys;
mod error;
pub mod jwks;
pub mod jwt;
pub mod keys;
pub mod machine_jwt;
pub mod machine_tokens;
pub mod org_permissions;
pub mod revocation;
pub mod shared_revocations;
pub mod token;
pub mod token_kind;
pub mod verified_cache;
pub mod verifier;
pub mod viewer;

pub use error::AuthFailure;
pub use verifier::Verifier;
pub use viewer::{ActiveOrganization, Verified, Viewer};
