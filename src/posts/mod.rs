//! The example slice: posts owned by users. Copy its shape for your own types: the table
//! ([`entity`]), validation rules ([`rules`]), statements ([`store`]), real-time events
//! ([`events`]) and the GraphQL face with its access decisions ([`graphql`]), plugged into the
//! schema by one line in `crate::schema` (README, "Adding a table and a type").

pub mod entity;
pub mod events;
pub mod graphql;
pub mod rules;
pub mod store;

pub use events::{PostEvent, PostEventKind, PostEvents, SharedAuthor};
pub use store::{Listing, NewPost, PostBodies, PostChanges, PostPage};
