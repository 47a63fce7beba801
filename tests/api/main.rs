//! Black-box tests over HTTP: the real router on 127.0.0.1:0, a fake Clerk on loopback, tokens
//! signed here with test-only keys. One binary with modules, so it links once.

mod fake_clerk;
mod helpers;
mod tokens;

mod authorization;
mod clerk_api;
mod clerk_fixtures;
mod clerk_metadata;
mod http;
mod key_source;
mod schema_file;
mod verification;
mod viewer;
