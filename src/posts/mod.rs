//! The example domain: posts owned by users. Copy its shape for your own types: validation rules
//! ([`rules`]), statements ([`store`]), real-time events ([`events`]); access decisions and the
//! GraphQL face live in `graphql::post`.

pub mod events;
pub mod rules;
pub mod store;

pub use events::{PostEvent, PostEventKind, PostEvents, SharedAuthor};
pub use store::{Bodies, Listing, NewPost, PostChanges, PostPage};
