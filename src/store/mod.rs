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
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub type Any = sqlx::Any;

#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    sqlite: bool,
    /// SQLite admits one writer at a time. Writers of this process queue here, in order and
    /// without holding a connection, instead of in SQLite's busy handler, where each would
    /// hold one of the pool's connections while polling for the lock: under a burst of
    /// submissions that starved every other page of connections and answered 503.
    writer: Arc<tokio::sync::Semaphore>,
}

/// A write transaction; on SQLite it also holds this process's turn to write.
pub struct WriteTx {
    tx: sqlx::Transaction<'static, Any>,
    _turn: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl WriteTx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::AnyConnection;

    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl Db {
    /// Opens the pool, applies pending migrations and seeds the reference data once.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let db = Self::open(url, max_connections).await?;
        MIGRATOR
            .run(&db.pool)
            .await
            .context("applying the database migrations")?;
        reference::seed_once(&db)
            .await
            .context("seeding the reference data")?;
        Ok(db)
    }

    /// Opens the pool with the portal's connection settings, changing nothing in the database:
    /// for tools (`portal backup`) that must not migrate a database a running server uses.
    pub async fn open(url: &str, max_connections: u32) -> anyhow::Result<Self> {
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
        Ok(Db {
            pool,
            sqlite: is_sqlite,
            writer: Arc::new(tokio::sync::Semaphore::new(1)),
        })
    }

    pub fn is_sqlite(&self) -> bool {
        self.sqlite
    }

    /// The latest migration applied to this database (its schema version); None when the
    /// database holds no portal schema.
    pub async fn schema_version(&self) -> Result<Option<i64>, sqlx::Error> {
        schema_version(&self.pool).await
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A write transaction. On SQLite it takes the write lock at once (BEGIN IMMEDIATE): a
    /// deferred transaction that reads first and writes later fails with "database is locked"
    /// when another writer got in between, instead of waiting its turn.
    pub async fn begin(&self) -> Result<WriteTx, sqlx::Error> {
        if self.sqlite {
            let turn = self
                .writer
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| sqlx::Error::PoolClosed)?;
            let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            Ok(WriteTx {
                tx,
                _turn: Some(turn),
            })
        } else {
            Ok(WriteTx {
                tx: self.pool.begin().await?,
                _turn: None,
            })
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

/// The latest migration this build knows: a database of a later schema is not for it.
pub fn latest_migration() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// The latest migration applied to a database reached through `executor`; None when it holds
/// no portal schema (no migrations table).
pub async fn schema_version<'e, E>(executor: E) -> Result<Option<i64>, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let result = sqlx::query_scalar::<_, Option<i64>>(
        "SELECT MAX(version) FROM _sqlx_migrations WHERE success",
    )
    .fetch_one(executor)
    .await;
    match result {
        Ok(version) => Ok(version),
        // "no such table" (SQLite) or "undefined_table" (PostgreSQL): not a portal database.
        Err(sqlx::Error::Database(error))
            if error.code().as_deref() == Some("42P01")
                || error.message().contains("no such table") =>
        {
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

/// The file of a SQLite database URL (`sqlite://path?mode=rwc`), percent-decoded as the
/// driver reads it; None for an in-memory database or another backend.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    if !url.starts_with("sqlite:") {
        return None;
    }
    let options = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    let file = options.get_filename();
    let memory = file.as_os_str().is_empty() || file.as_os_str() == ":memory:";
    (!memory).then(|| file.to_path_buf())
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
