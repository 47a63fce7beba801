//! The app's own copy of Clerk users: the rules that write it ([`store`]), the reads GraphQL
//! needs ([`directory`]), lazy provisioning of the signed-in user ([`provision`]) and the
//! `sync-users` backfill ([`backfill`]). Webhooks (`crate::webhooks`) write through [`store`] too.

pub mod backfill;
pub mod directory;
pub mod provision;
pub mod store;

pub use backfill::{SyncError, SyncSummary, sync_users};
pub use directory::{UserCursor, UserPage, find_active};
pub use provision::{ProvisionError, Provisioning, current_user};
pub use store::{DeletionOutcome, SnapshotOutcome, apply_deletion, apply_snapshot};
