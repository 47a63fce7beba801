//! clerk-graphql: a GraphQL API server for apps whose users sign in with Clerk.

pub mod api_keys;
pub mod auth;
pub mod authz;
pub mod clerk;
pub mod config;
pub mod db;
pub mod graphql;
pub mod http;
pub mod metrics;
pub mod net;
pub mod playground;
pub mod posts;
pub mod rate_limit;
pub mod schema;
pub mod server;
pub mod shared;
pub mod telemetry;
pub mod users;
pub mod webhooks;
pub mod websocket;
