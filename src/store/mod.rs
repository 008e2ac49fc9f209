//! Persistence through one sqlx `AnyPool` for SQLite and PostgreSQL. The SQL stays portable
//! (`$n` placeholders, BIGINT numbers, text keys), so one set of queries and one migration
//! folder serve both backends.

pub mod admin;
pub mod audit;
pub mod captchas;
pub mod companies;
pub mod deadlines;
pub mod filters;
pub mod outbox;
pub mod panel;
pub mod reference;
pub mod requests;
pub mod sessions;
pub mod stats;
pub mod throttle;
pub mod tokens;
pub mod transitions;
pub mod users;

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub type Any = sqlx::Any;

#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    sqlite: bool,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Db {
    /// Opens the pool, applies pending migrations and seeds the reference data once.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let is_sqlite = url.starts_with("sqlite:");
        if is_sqlite {
            create_sqlite_parent(url)?;
        }
        let options = AnyConnectOptions::from_str(url).context("parsing the database URL")?;
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            // A page waits at most this long for a connection, then answers 503.
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if is_sqlite {
                        // WAL and foreign keys are per file and per connection respectively;
                        // synchronous=FULL makes a commit durable before it is acknowledged.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .context("connecting to the database")?;
        MIGRATOR
            .run(&pool)
            .await
            .context("applying the database migrations")?;
        let db = Db {
            pool,
            sqlite: is_sqlite,
        };
        reference::seed_once(&db)
            .await
            .context("seeding the reference data")?;
        Ok(db)
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A write transaction. On SQLite it takes the write lock at once (BEGIN IMMEDIATE): a
    /// deferred transaction that reads first and writes later fails with "database is locked"
    /// when another writer got in between, instead of waiting its turn.
    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, Any>, sqlx::Error> {
        if self.sqlite {
            self.pool.begin_with("BEGIN IMMEDIATE").await
        } else {
            self.pool.begin().await
        }
    }

    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn create_sqlite_parent(url: &str) -> anyhow::Result<()> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    if let Some(parent) = std::path::Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating the database directory {}", parent.display()))?;
    }
    Ok(())
}

/// Whether an error means "the database is not reachable right now" (answered with 503)
/// rather than a bug.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => {
            // SQLite "database is locked" / "busy", PostgreSQL shutting down or not accepting.
            let code = db.code().unwrap_or_default();
            matches!(
                code.as_ref(),
                "5" | "6" | "57P01" | "57P02" | "57P03" | "08006" | "08001"
            )
        }
        _ => false,
    }
}

/// Whether the database refused a write for lack of disk space: SQLite's SQLITE_FULL (13),
/// PostgreSQL's disk_full (53100). Nothing was written; the same action works again once
/// space is freed, so the user is told so (507) rather than shown an internal error.
pub fn is_storage_full(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|db| db.code())
        .is_some_and(|code| matches!(code.as_ref(), "13" | "53100"))
}

pub fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|db| db.is_unique_violation())
}

/// A new time-ordered identifier.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
