//! Black-box tests over HTTP: the real router on 127.0.0.1:0, a fake Clerk on loopback, tokens
//! signed here with test-only keys. One binary with modules, so it links once.

mod binary;
mod fake_clerk;
mod helpers;
mod test_db;
mod tokens;
mod webhooks_sign;
mod ws_client;

mod api_keys;
mod authorization;
mod clerk_api;
mod clerk_fixtures;
mod clerk_metadata;
mod connections;
mod dev_mode;
mod graphql_over_http;
mod hardening;
mod hardening_documents;
mod http;
mod key_source;
mod layers;
mod limits;
mod log_hygiene;
mod machines;
mod outages;
mod personal_data;
mod playground;
mod posts;
mod properties;
mod rate_limits;
mod replicas;
mod schema_file;
mod sessions;
mod shared_rate_limits;
mod shutdown;
mod subscriptions;
mod sync_users;
mod traces;
mod trusted_documents;
mod user_events;
mod users;
mod verification;
mod verified_cache;
mod viewer;
mod webhooks;
