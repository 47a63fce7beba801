//! Several replicas of the server (issue 18): real server processes on one PostgreSQL database
//! and one Redis (`harness`), checked over HTTP and WebSocket. Replicas that start at the same
//! moment on an empty database apply the migrations once (here); subscription events
//! (`events`), user-cache evictions (`invalidations`) and revocations (`revocations`) reach every
//! replica; a Redis outage is ridden out (`outage`); rate limits are shared (`quotas`).

mod events;
pub(crate) mod harness;
mod invalidations;
mod outage;
pub(crate) mod proxy;
mod quotas;
mod revocations;

use std::time::Duration;

use migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Statement};

use crate::binary::free_port;
use crate::binary::wait_until_ready;
use crate::test_db::{Backend, TestDatabase, postgres_url};
use harness::spawn_server;

/// PostgreSQL only (SQLite is one process's file). Named `…::postgres` so that `scripts/test`
/// reports it as skipped, not passed, without `TEST_DATABASE_URL`.
mod started_together_they_migrate_once_and_all_become_ready {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::started_together_they_migrate_once_and_all_become_ready().await
    }
}

async fn started_together_they_migrate_once_and_all_become_ready() {
    if postgres_url().is_none() {
        return;
    }
    let database = TestDatabase::create(Backend::Postgres).await;
    let workdir = tempfile::tempdir().unwrap();
    let mut replicas = Vec::new();
    let vars = [
        ("DATABASE_URL", database.url()),
        ("DEV_MODE", "false"),
        ("RUST_LOG", "warn"),
    ]
    .map(|(name, value)| (name.to_string(), value.to_string()));
    for _ in 0..3 {
        let port = free_port();
        let (child, output) = spawn_server(&workdir, port, &vars);
        replicas.push((port, child, output));
    }
    for (port, child, _) in &mut replicas {
        let ready = tokio::time::timeout(
            Duration::from_secs(30),
            wait_until_ready(&format!("http://127.0.0.1:{port}"), Duration::from_secs(30)),
        )
        .await;
        assert!(ready.is_ok(), "replica on {port} not ready");
        assert!(
            child.try_wait().unwrap().is_none(),
            "replica on {port} exited"
        );
    }
    let db = database.connect().await;
    let applied = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT version FROM seaql_migrations",
        ))
        .await
        .unwrap();
    assert_eq!(applied.len(), Migrator::migrations().len());
    for (_, mut child, output) in replicas {
        child.kill().await.ok();
        let log = output.text().await;
        assert!(!log.contains("ERROR"), "{log}");
    }
}
