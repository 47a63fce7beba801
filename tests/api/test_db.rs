//! A fresh database per test: a temporary SQLite file, or a PostgreSQL database created on the
//! server named by `TEST_DATABASE_URL` and dropped when the test ends.
//!
//! Database tests are written once as `async fn name(backend: Backend)` and listed in
//! [`on_every_backend!`], which makes a `sqlite` and a `postgres` test of each. Without
//! `TEST_DATABASE_URL` a `postgres` variant returns at once, which libtest can only count as
//! passed; `scripts/test` therefore finds the variants by their name (`…::postgres`), leaves
//! them out and lists them as skipped. Keep that name for them, and only for them.

use clerk_graphql::db;
use sea_orm::{ConnectionTrait, DatabaseConnection};
use tempfile::TempDir;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// In memory: for tests that never look at the database.
    SqliteMemory,
    Sqlite,
    Postgres,
}

/// `on_every_backend!(a, b)` → `mod a { sqlite(), postgres() }`, each calling `a(Backend::…)`.
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::test_db::Backend::Sqlite).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if $crate::test_db::postgres_url().is_some() {
                        super::$name($crate::test_db::Backend::Postgres).await
                    }
                }
            }
        )*
    };
}
pub(crate) use on_every_backend;

pub fn postgres_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

pub enum TestDatabase {
    SqliteMemory,
    Sqlite {
        _dir: TempDir,
        url: String,
    },
    Postgres {
        admin_url: String,
        name: String,
        url: String,
    },
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> Self {
        match backend {
            Backend::SqliteMemory => Self::SqliteMemory,
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
                Self::Sqlite { _dir: dir, url }
            }
            Backend::Postgres => {
                let admin_url = postgres_url().expect("TEST_DATABASE_URL");
                let name = format!("clerk_graphql_test_{}", uuid::Uuid::new_v4().simple());
                let admin = db::connect(&admin_url)
                    .await
                    .expect("TEST_DATABASE_URL answers");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("CREATE DATABASE");
                admin.close().await.ok();
                let url = with_database(&admin_url, &name);
                Self::Postgres {
                    admin_url,
                    name,
                    url,
                }
            }
        }
    }

    pub fn url(&self) -> &str {
        match self {
            Self::SqliteMemory => "sqlite::memory:",
            Self::Sqlite { url, .. } | Self::Postgres { url, .. } => url,
        }
    }

    /// A connection of the test's own, to look at rows.
    pub async fn connect(&self) -> DatabaseConnection {
        assert!(
            !matches!(self, Self::SqliteMemory),
            "an in-memory database cannot be shared: use Backend::Sqlite"
        );
        db::connect(self.url()).await.expect("test database")
    }

    /// Makes the database refuse work until the returned outage is ended: SQLite is write-locked
    /// by another connection (writers wait, then fail "database is locked"); PostgreSQL refuses
    /// new connections and its open sessions are terminated.
    pub async fn start_outage(&self) -> Outage {
        match self {
            Self::SqliteMemory => unreachable!("use Backend::Sqlite"),
            Self::Sqlite { url, .. } => {
                let locker = db::connect(url).await.expect("lock connection");
                locker
                    .execute_unprepared("BEGIN IMMEDIATE")
                    .await
                    .expect("write lock");
                Outage::SqliteLocked(locker)
            }
            Self::Postgres {
                admin_url, name, ..
            } => {
                let admin = db::connect(admin_url).await.expect("admin connection");
                admin
                    .execute_unprepared(&format!(
                        "ALTER DATABASE {name} ALLOW_CONNECTIONS false; \
                         SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE datname = '{name}' AND pid <> pg_backend_pid()"
                    ))
                    .await
                    .expect("cut the database off");
                Outage::PostgresClosed {
                    admin,
                    name: name.clone(),
                }
            }
        }
    }
}

pub enum Outage {
    SqliteLocked(DatabaseConnection),
    PostgresClosed {
        admin: DatabaseConnection,
        name: String,
    },
}

impl Outage {
    pub async fn end(self) {
        match self {
            Self::SqliteLocked(locker) => {
                locker.execute_unprepared("ROLLBACK").await.expect("unlock");
            }
            Self::PostgresClosed { admin, name } => {
                admin
                    .execute_unprepared(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
                    .await
                    .expect("reopen the database");
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Self::Postgres {
            admin_url, name, ..
        } = self
        else {
            return;
        };
        let (admin_url, statement) = (
            admin_url.clone(),
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        );
        // Drop runs inside the test's runtime, which cannot be blocked on: a thread of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let admin = db::connect(&admin_url).await?;
                admin.execute_unprepared(&statement).await?;
                admin.close().await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test database {name}: {dropped:?}");
        }
    }
}

/// `postgres://user@host:port/db?params` with another database name.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..authority_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}
