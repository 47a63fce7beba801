//! The users slice: the app's own copy of Clerk users. Its table (`entity`), the rules that write
//! it (`store`), the reads (`lookup`, `loaders`), lazy provisioning of the signed-in user
//! (`provision`), the `sync-users` backfill (`backfill`), change events (`events`) and its GraphQL
//! face (`graphql`). Webhooks (`crate::webhooks`) write through `store` too.

pub mod backfill;
pub mod entity;
pub mod events;
pub mod graphql;
pub mod loaders;
pub mod lookup;
pub mod provision;
pub mod store;

pub use backfill::{SyncError, SyncSummary, sync_users};
pub use events::{UserEvent, UserEventKind, UserEvents};
pub use lookup::{UserCursor, UserPage, find_active};
pub use provision::{ProvisionError, Provisioning, current_user};
pub use store::{DeletionOutcome, SnapshotOutcome, apply_deletion, apply_snapshot};
