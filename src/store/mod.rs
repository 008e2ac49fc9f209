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

/// How long the database may keep a page waiting, and how big the pool is.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_connections: u32,
    /// Waiting for a connection (opening and checking it included) and, on PostgreSQL, one
    /// statement.
    pub timeout: Duration,
    /// How long a SQLite statement waits for another process's write lock.
    pub sqlite_busy_timeout: Duration,
}

impl Limits {
    /// The defaults of the settings, with the given pool size.
    pub fn with_max_connections(max_connections: u32) -> Self {
        Limits {
            max_connections,
            timeout: Duration::from_secs(10),
            sqlite_busy_timeout: Duration::from_millis(5_000),
        }
    }
}

impl Db {
    /// Opens the pool with the default limits, applies pending migrations and seeds the
    /// reference data once.
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        Self::connect_with(url, Limits::with_max_connections(max_connections)).await
    }

    /// Opens the pool, applies pending migrations and seeds the reference data once.
    pub async fn connect_with(url: &str, limits: Limits) -> anyhow::Result<Self> {
        let db = Self::open(url, limits).await?;
        db.migrate().await?;
        reference::seed_once(&db)
            .await
            .context("seeding the reference data")?;
        Ok(db)
    }

    /// Opens the pool with the portal's connection settings, changing nothing in the database:
    /// for tools (`portal backup`) that must not migrate a database a running server uses.
    pub async fn open(url: &str, limits: Limits) -> anyhow::Result<Self> {
        sqlx::any::install_default_drivers();
        let is_sqlite = url.starts_with("sqlite:");
        if is_sqlite {
            create_sqlite_parent(url)?;
        }
        let options = AnyConnectOptions::from_str(url).context("parsing the database URL")?;
        let session_settings = session_settings(is_sqlite, &limits);
        let pool = AnyPoolOptions::new()
            .max_connections(limits.max_connections)
            // A page waits at most this long for a connection, then answers 503. The wait
            // includes opening a new connection and checking an idle one (below), so a
            // database that stopped answering cannot hold a page here for longer.
            .acquire_timeout(limits.timeout)
            // An idle connection may have been cut while it waited in the pool; a round trip
            // before handing it out finds out, inside the acquire timeout.
            .test_before_acquire(true)
            .after_connect(move |conn, _meta| {
                let statements = session_settings.clone();
                Box::pin(async move {
                    for statement in statements {
                        conn.execute(sqlx::AssertSqlSafe(statement)).await?;
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

    /// Applies pending migrations on a connection without the statement timeout (building an
    /// index on a large table may take longer than any page should).
    async fn migrate(&self) -> anyhow::Result<()> {
        let mut conn = self
            .unbounded_connection()
            .await
            .context("connecting to the database")?;
        MIGRATOR
            .run(&mut *conn)
            .await
            .context("applying the database migrations")?;
        Ok(())
    }

    /// A connection without the PostgreSQL statement and idle-in-transaction timeouts, for
    /// work that is long by nature and not a page (migrations, a backup reading whole tables).
    /// It is closed when dropped, so no pooled connection ever lacks the timeouts.
    pub async fn unbounded_connection(
        &self,
    ) -> Result<sqlx::pool::PoolConnection<Any>, sqlx::Error> {
        let mut conn = self.pool.acquire().await?;
        conn.close_on_drop();
        if !self.sqlite {
            conn.execute("SET statement_timeout = 0").await?;
            conn.execute("SET idle_in_transaction_session_timeout = 0")
                .await?;
        }
        Ok(conn)
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

/// Statements run on every new connection. SQLite: WAL and foreign keys are per file and per
/// connection respectively; synchronous=FULL makes a commit durable before it is acknowledged;
/// busy_timeout bounds the wait for another process's write lock. PostgreSQL: a statement that
/// waits on a lock or runs away is cancelled after the timeout, and a transaction left open by
/// a client that vanished (its connection cut mid-transaction) is ended by the server, which
/// releases its locks (the folio counter among them) for the other instances.
fn session_settings(is_sqlite: bool, limits: &Limits) -> Vec<String> {
    if is_sqlite {
        vec![
            "PRAGMA journal_mode = WAL".to_string(),
            "PRAGMA synchronous = FULL".to_string(),
            "PRAGMA foreign_keys = ON".to_string(),
            format!(
                "PRAGMA busy_timeout = {}",
                limits.sqlite_busy_timeout.as_millis()
            ),
        ]
    } else {
        let millis = limits.timeout.as_millis();
        vec![
            format!("SET statement_timeout = {millis}"),
            format!("SET idle_in_transaction_session_timeout = {millis}"),
        ]
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
/// rather than a bug (500). What a cut connection gives, as observed through a proxy: a
/// refused or closed connection is an I/O error ("expected to read 5 bytes, got 0 bytes at
/// EOF"); one that stops answering is a pool timeout (opening or checking a connection is part
/// of acquiring it). A database error is "unavailable" only for the codes listed below; a
/// constraint violation, a syntax error or a missing column stays a bug.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => db
            .code()
            .is_some_and(|code| is_unavailable_code(code.as_ref())),
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

fn is_unavailable_code(code: &str) -> bool {
    // A PostgreSQL SQLSTATE always has five characters, often all digits ("08006"); a SQLite
    // result code is a number below 10000. SQLite reports extended codes (SQLITE_BUSY_SNAPSHOT
    // is 517) whose low byte is the primary code: 5 is SQLITE_BUSY (another process holds the
    // write lock past busy_timeout), 6 SQLITE_LOCKED.
    if code.len() < 5
        && let Ok(extended) = code.parse::<u32>()
    {
        return matches!(extended & 0xff, 5 | 6);
    }
    // PostgreSQL SQLSTATE: class 08 is a connection exception; 57P01-57P03 the server shutting
    // down or not accepting connections yet; 57014 a statement cancelled by statement_timeout;
    // 55P03 a lock not available in time; 25P03 the session ended by
    // idle_in_transaction_session_timeout; 53300 too many connections.
    code.starts_with("08")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "57014" | "55P03" | "25P03" | "53300"
        )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_outages_are_unavailable() {
        let io = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "cut");
        assert!(is_unavailable(&sqlx::Error::Io(io)));
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(is_unavailable(&sqlx::Error::PoolClosed));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
        assert!(!is_unavailable(&sqlx::Error::ColumnNotFound(
            "x".to_string()
        )));
        assert!(!is_unavailable(&sqlx::Error::Protocol(
            "unexpected message".to_string()
        )));
    }

    #[test]
    fn database_codes_of_outages_and_of_bugs() {
        let cases = [
            ("5", true),     // SQLITE_BUSY
            ("517", true),   // SQLITE_BUSY_SNAPSHOT
            ("773", true),   // SQLITE_BUSY_TIMEOUT
            ("6", true),     // SQLITE_LOCKED
            ("19", false),   // SQLITE_CONSTRAINT
            ("2067", false), // SQLITE_CONSTRAINT_UNIQUE
            ("1", false),    // SQLITE_ERROR (syntax, missing table)
            ("08006", true),
            ("08001", true),
            ("57P01", true),
            ("57014", true),
            ("25P03", true),
            ("53300", true),
            ("23505", false), // unique violation
            ("42601", false), // syntax error
            ("42703", false), // undefined column
            ("22P02", false), // invalid text representation
        ];
        for (code, expected) in cases {
            assert_eq!(is_unavailable_code(code), expected, "{code}");
        }
    }
}
