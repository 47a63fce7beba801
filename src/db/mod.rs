//! Database connection, migrations at start-up, and the `webhook_events` entity. A domain's own
//! entity lives in its folder (`users::entity`, `posts::entity`).

pub mod webhook_events;

use std::time::Duration;

use migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr,
    TransactionTrait,
};

/// How long a statement waits for a connection (PostgreSQL) or for SQLite's write lock before
/// failing: long enough to ride out a burst, short enough that a dead database becomes a prompt
/// `SERVICE_UNAVAILABLE` / 503 instead of a hung request.
const WAIT_LIMIT: Duration = Duration::from_secs(5);

pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url);
    options
        .connect_timeout(WAIT_LIMIT)
        .acquire_timeout(WAIT_LIMIT)
        .sqlx_logging(false)
        // A statement's span (exported with traces) never carries its text: sea-orm's SQL is
        // parameterised, but nothing guarantees that every statement's is.
        .record_stmt_in_spans(false)
        // SQLite (sea-orm keeps its pool at one connection, so writes never contend inside the
        // process): write-ahead logging lets another process (`sync-users`, a shell) read while
        // the server writes, and `NORMAL` sync is durable across application crashes in WAL mode.
        .map_sqlx_sqlite_opts(|sqlite| {
            sqlite
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(WAIT_LIMIT)
        });
    Database::connect(options).await
}

/// A PostgreSQL advisory-lock key of this application's migrations ("clerkgql").
const MIGRATION_LOCK: i64 = 0x636c_6572_6b67_716c;

/// Applies pending migrations. On PostgreSQL, replicas that start together take turns: each
/// holds a transaction-scoped advisory lock (on one pooled connection) while it migrates on the
/// others, so one applies the migrations and the rest, once they get the lock, find nothing
/// pending. Without it, two replicas would race on the same `CREATE TABLE` and the row of
/// `seaql_migrations`, and one would fail to start. SQLite is one process's file: no lock.
pub async fn migrate_up(db: &DatabaseConnection) -> Result<(), DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Migrator::up(db, None).await;
    }
    let lock = db.begin().await?;
    lock.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
        .await?;
    let migrated = Migrator::up(db, None).await;
    // Committing (or, on failure, rolling back) releases the lock for the next replica.
    lock.commit().await?;
    migrated
}

/// Whether an error means the database is unreachable or overloaded (answer 503 /
/// `SERVICE_UNAVAILABLE`, the caller should retry) rather than a fault in our own statements
/// (answer 500 / `INTERNAL_SERVER_ERROR`).
pub fn is_unavailable(error: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    use sea_orm::sqlx::Error as Sqlx;
    match error {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(error)) | DbErr::Query(RuntimeErr::SqlxError(error)) => {
            match error.as_ref() {
                Sqlx::Io(_)
                | Sqlx::Tls(_)
                | Sqlx::Protocol(_)
                | Sqlx::PoolTimedOut
                | Sqlx::PoolClosed
                | Sqlx::WorkerCrashed => true,
                Sqlx::Database(error) => error.code().is_some_and(|code| {
                    // SQLite: SQLITE_BUSY (5) / SQLITE_LOCKED (6), another writer held on too
                    // long. PostgreSQL: class 08 (connection exception), 57P0x (shutting down,
                    // cannot connect now), 53300 (too many connections).
                    matches!(code.as_ref(), "5" | "6" | "53300")
                        || code.starts_with("08")
                        || code.starts_with("57P0")
                }),
                _ => false,
            }
        }
        _ => false,
    }
}
