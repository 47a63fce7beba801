//! Several replicas of the server on one database (issue 18, point 5): replicas that start at the
//! same moment on an empty PostgreSQL database apply the migrations once, and all become ready.

use std::time::Duration;

use migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Statement};

use crate::binary::{Output, wait_until_ready};
use crate::test_db::{Backend, TestDatabase, postgres_url};

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
    for _ in 0..3 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_clerk-graphql"))
            .current_dir(workdir.path())
            .env_clear()
            .env("PORT", port.to_string())
            .env("DATABASE_URL", database.url())
            .env("DEV_MODE", "false")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("a replica starts");
        let output = Output::drain(&mut child);
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
