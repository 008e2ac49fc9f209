//! `portal backup DIR` and `portal restore DIR`.
//!
//! A backup directory holds the database (SQLite: `portal.db`, a consistent snapshot taken
//! online; PostgreSQL: the operator's `pg_dump`, optionally `portal.pgdump`), every stored file
//! under `files/<key>`, and `MANIFEST`, written last: a directory without it is an unfinished
//! backup. The manifest is a line format (`name value`), with one `file <sha256> <size> <key>`
//! line per stored file, so that a restore checks every byte it puts back.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, bail};
use axum::body::Bytes;
use futures::{Stream, StreamExt};
use jiff::Timestamp;
use object_store::{ObjectStore, ObjectStoreExt};
use sha2::{Digest, Sha256};
use sqlx::any::AnyConnectOptions;
use sqlx::{AnyConnection, AssertSqlSafe, ConnectOptions, Connection, Row};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::files::store::FileStore;
use crate::settings::Settings;
use crate::store::{self, Db};

pub const MANIFEST: &str = "MANIFEST";
/// The SQLite snapshot in a backup directory.
pub const SQLITE_FILE: &str = "portal.db";
/// Where the operator may put the PostgreSQL dump, made before `portal backup` ran.
pub const PG_DUMP_FILE: &str = "portal.pgdump";
pub const FILES_DIR: &str = "files";
const FORMAT: &str = "1";
/// Where request attachments are stored (`attachments/YYYY/MM/<id>`).
const ATTACHMENTS_PREFIX: &str = "attachments/";
/// How much of a file is read at a time while it is restored.
const READ_CHUNK: usize = 64 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatabaseKind {
    Sqlite,
    Postgres,
}

impl DatabaseKind {
    fn of(settings: &Settings) -> Self {
        if settings.is_postgres() {
            DatabaseKind::Postgres
        } else {
            DatabaseKind::Sqlite
        }
    }

    fn code(self) -> &'static str {
        match self {
            DatabaseKind::Sqlite => "sqlite",
            DatabaseKind::Postgres => "postgres",
        }
    }
}

/// One file of a backup: its key in the storage (or its name in the backup directory, for the
/// database file), size and SHA-256 (lowercase hex).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    pub key: String,
    pub size: u64,
    pub sha256: String,
}

/// What `MANIFEST` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    pub created_at: Timestamp,
    pub portal_version: String,
    pub database: DatabaseKind,
    /// The latest migration applied to the database that was copied.
    pub schema_version: i64,
    /// `portal.db` (SQLite), or `portal.pgdump` when the operator put one in the directory.
    pub database_file: Option<FileEntry>,
    /// Every stored file, by key.
    pub files: Vec<FileEntry>,
}

impl Manifest {
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    fn render(&self) -> String {
        let mut text = String::from("# portal backup: written last, after everything it lists\n");
        let mut line = |name: &str, value: &str| text.push_str(&format!("{name} {value}\n"));
        line("format", FORMAT);
        line("created_at", &self.created_at.to_string());
        line("portal_version", &self.portal_version);
        line("database", self.database.code());
        line("schema_version", &self.schema_version.to_string());
        if let Some(file) = &self.database_file {
            line("database_file", &entry_value(file));
        }
        line("files", &self.files.len().to_string());
        line("bytes", &self.total_bytes().to_string());
        for file in &self.files {
            line("file", &entry_value(file));
        }
        text
    }

    fn parse(text: &str) -> anyhow::Result<Manifest> {
        let mut values: HashMap<&str, &str> = HashMap::new();
        let mut files = Vec::new();
        for (number, line) in text.lines().enumerate() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, value) = line
                .split_once(' ')
                .with_context(|| format!("MANIFEST line {}: {line:?}", number + 1))?;
            if name == "file" {
                files.push(
                    parse_entry(value).with_context(|| format!("MANIFEST line {}", number + 1))?,
                );
            } else {
                values.insert(name, value);
            }
        }
        let value = |name: &str| {
            values
                .get(name)
                .copied()
                .with_context(|| format!("MANIFEST has no {name}"))
        };
        if value("format")? != FORMAT {
            bail!(
                "MANIFEST format {} is not known to this portal",
                value("format")?
            );
        }
        let database: DatabaseKind = value("database")?.parse()?;
        let manifest = Manifest {
            created_at: value("created_at")?
                .parse()
                .context("MANIFEST created_at")?,
            portal_version: value("portal_version")?.to_string(),
            database,
            schema_version: value("schema_version")?
                .parse()
                .context("MANIFEST schema_version")?,
            database_file: values
                .get("database_file")
                .map(|v| parse_entry(v))
                .transpose()?,
            files,
        };
        let count: usize = value("files")?.parse().context("MANIFEST files")?;
        let bytes: u64 = value("bytes")?.parse().context("MANIFEST bytes")?;
        if count != manifest.files.len() || bytes != manifest.total_bytes() {
            bail!("MANIFEST is incomplete: its totals do not match the files it lists");
        }
        Ok(manifest)
    }
}

/// `<sha256> <size> <key>`: the key last, so that nothing after it needs parsing.
fn entry_value(entry: &FileEntry) -> String {
    format!("{} {} {}", entry.sha256, entry.size, entry.key)
}

fn parse_entry(value: &str) -> anyhow::Result<FileEntry> {
    let mut parts = value.splitn(3, ' ');
    let (Some(sha256), Some(size), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
        bail!("a file entry needs a SHA-256, a size and a key: {value:?}");
    };
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("not a SHA-256: {sha256:?}");
    }
    Ok(FileEntry {
        key: key.to_string(),
        size: size
            .parse()
            .with_context(|| format!("not a size: {size:?}"))?,
        sha256: sha256.to_ascii_lowercase(),
    })
}

// ---- Backup ----

/// What a backup did, for the command to print.
#[derive(Debug)]
pub struct BackupReport {
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// PostgreSQL: the database step the operator must take (this command does not dump).
    pub database_step: Option<String>,
    /// SQLite: stored files no row of the snapshot refers to (submissions still in flight
    /// while the backup ran, or leftovers of a crash): harmless orphans in the copy.
    pub unreferenced: usize,
}

impl fmt::Display for BackupReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.manifest;
        writeln!(f, "Backup written to {}", self.dir.display())?;
        match (&m.database, &m.database_file) {
            (DatabaseKind::Sqlite, _) => writeln!(
                f,
                "  database: SQLite snapshot {SQLITE_FILE} (schema version {})",
                m.schema_version
            )?,
            (DatabaseKind::Postgres, Some(dump)) => writeln!(
                f,
                "  database: PostgreSQL, dump {} of {} bytes recorded (schema version {})",
                dump.key, dump.size, m.schema_version
            )?,
            (DatabaseKind::Postgres, None) => writeln!(
                f,
                "  database: PostgreSQL, NOT copied by this command (schema version {})",
                m.schema_version
            )?,
        }
        writeln!(
            f,
            "  files: {} ({} bytes) in {FILES_DIR}/",
            m.files.len(),
            m.total_bytes()
        )?;
        if self.unreferenced > 0 {
            writeln!(
                f,
                "  {} of them belong to no row of the snapshot (submissions in progress during \
                 the backup, or crash leftovers); they are harmless",
                self.unreferenced
            )?;
        }
        if let Some(step) = &self.database_step {
            writeln!(f)?;
            writeln!(f, "{step}")?;
        }
        Ok(())
    }
}

/// Copies the configured database and file storage into `dir`, which must not exist or be
/// empty. Safe while the portal serves traffic in other processes.
///
/// The database goes first and the files after it, and that order is what makes the pair
/// consistent: a submission writes its files (durably) before its rows commit, and a file is
/// never deleted while a row refers to it. So every row in the snapshot had its file in the
/// storage before the snapshot was taken, and still has it when the copy lists the storage
/// afterwards. Files that arrive meanwhile are copied too, without a row in the snapshot:
/// orphans, harmless, which the restored portal treats as crash leftovers. (The reverse order
/// could copy the rows of a submission whose files the copy had already missed.)
pub async fn backup(settings: &Settings, dir: &Path) -> anyhow::Result<BackupReport> {
    let kind = DatabaseKind::of(settings);
    prepare_backup_dir(dir, kind)?;
    let dir = std::path::absolute(dir).context("resolving the backup directory")?;
    refuse_inside_storage(settings, &dir)?;
    let (schema_version, referenced, database_file, database_step) = match kind {
        DatabaseKind::Sqlite => {
            let snapshot = snapshot_sqlite(settings, &dir).await?;
            (
                snapshot.schema_version,
                Some(snapshot.referenced),
                Some(snapshot.file),
                None,
            )
        }
        DatabaseKind::Postgres => {
            let db = Db::open(
                &settings.database_url,
                crate::store::Limits::with_max_connections(1),
            )
            .await?;
            let version = db
                .schema_version()
                .await
                .context("reading the schema version")?;
            db.close().await;
            let version = version.context("the configured database holds no portal schema")?;
            let dump = dir.join(PG_DUMP_FILE);
            let dump = if dump.exists() {
                Some(describe_file(&dump, PG_DUMP_FILE).await?)
            } else {
                None
            };
            (version, None, dump, Some(pg_dump_step(&dir)))
        }
    };
    let storage = crate::app::storage(&settings.storage_url)?;
    let files = copy_storage(storage.as_ref(), &dir.join(FILES_DIR)).await?;
    let unreferenced = match &referenced {
        Some(referenced) => check_referenced(referenced, &files)?,
        None => 0,
    };
    let manifest = Manifest {
        created_at: Timestamp::now(),
        portal_version: env!("CARGO_PKG_VERSION").to_string(),
        database: kind,
        schema_version,
        database_file,
        files,
    };
    write_durably(&dir.join(MANIFEST), manifest.render().as_bytes()).await?;
    Ok(BackupReport {
        dir,
        manifest,
        database_step,
        unreferenced,
    })
}

/// The PostgreSQL dump is the operator's: `pg_dump` is the tool that knows the server's
/// version and the roles. It must start before the file copy, for the reason given at
/// [`backup`].
fn pg_dump_step(dir: &Path) -> String {
    format!(
        "PostgreSQL: this command copied the files only, not the database. Back the database \
         up with pg_dump, started BEFORE `portal backup` (the files copied after it then cover \
         every row of the dump), e.g.:\n  \
         pg_dump --format=custom --file={} \"$PORTAL_DATABASE_URL\"\n  \
         portal backup {}\n\
         ({PG_DUMP_FILE} is the one file the backup directory may hold beforehand; the \
         manifest then records its size and SHA-256.)",
        dir.join(PG_DUMP_FILE).display(),
        dir.display()
    )
}

/// Creates `dir`, or accepts it empty (on PostgreSQL, holding at most the operator's dump).
fn prepare_backup_dir(dir: &Path, kind: DatabaseKind) -> anyhow::Result<()> {
    match std::fs::read_dir(dir) {
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating the backup directory {}", dir.display()))?;
            if let Some(parent) = std::path::absolute(dir)?.parent() {
                sync_dir(parent)?;
            }
            Ok(())
        }
        Err(error) => Err(error).with_context(|| format!("opening {}", dir.display())),
        Ok(entries) => {
            for entry in entries {
                let name = entry?.file_name();
                if !(kind == DatabaseKind::Postgres && name == PG_DUMP_FILE) {
                    bail!(
                        "the backup directory {} is not empty ({} is there): a backup goes \
                         into a new or empty directory, so that it never mixes with another",
                        dir.display(),
                        name.to_string_lossy()
                    );
                }
            }
            Ok(())
        }
    }
}

/// A backup inside the local storage would copy itself.
fn refuse_inside_storage(settings: &Settings, dir: &Path) -> anyhow::Result<()> {
    let Some(root) = settings.storage_url.strip_prefix("file://") else {
        return Ok(());
    };
    let (Ok(root), Ok(dir)) = (std::fs::canonicalize(root), std::fs::canonicalize(dir)) else {
        return Ok(());
    };
    if dir.starts_with(&root) {
        bail!(
            "the backup directory {} is inside the file storage {}",
            dir.display(),
            root.display()
        );
    }
    Ok(())
}

struct Snapshot {
    file: FileEntry,
    schema_version: i64,
    referenced: Vec<Referenced>,
}

/// `VACUUM INTO` through the portal's own pool: SQLite writes a consistent copy of the
/// database as of one read transaction, while other processes keep writing (WAL mode). The
/// copy is then switched to a self-contained journal, read for what its rows refer to, and
/// synced: SQLite does not sync the file VACUUM INTO writes.
async fn snapshot_sqlite(settings: &Settings, dir: &Path) -> anyhow::Result<Snapshot> {
    let live = store::sqlite_file(&settings.database_url)
        .context("PORTAL_DATABASE_URL names no SQLite database file")?;
    if !live.exists() {
        bail!("there is no database at {}", live.display());
    }
    let target = dir.join(SQLITE_FILE);
    let db = Db::open(
        &settings.database_url,
        crate::store::Limits::with_max_connections(1),
    )
    .await?;
    let version = db
        .schema_version()
        .await
        .context("reading the schema version")?;
    let vacuum = sqlx::query(AssertSqlSafe(format!(
        "VACUUM INTO {}",
        sqlite_string(&target)?
    )))
    .execute(db.pool())
    .await;
    db.close().await;
    if version.is_none() {
        bail!("{} holds no portal schema", live.display());
    }
    vacuum.with_context(|| format!("copying the database into {}", target.display()))?;
    let mut snapshot = connect_sqlite_file(&target, false).await?;
    sqlx::query("PRAGMA journal_mode = DELETE")
        .execute(&mut snapshot)
        .await?;
    let schema_version = store::schema_version(&mut snapshot)
        .await?
        .context("the snapshot holds no portal schema")?;
    let referenced = referenced_files(&mut snapshot).await?;
    snapshot.close().await?;
    sync_file(&target).await?;
    sync_dir(dir)?;
    Ok(Snapshot {
        file: describe_file(&target, SQLITE_FILE).await?,
        schema_version,
        referenced,
    })
}

/// A SQL string literal naming `path`. SQLite's only escape in a literal is a doubled quote;
/// a NUL would cut the path short, so it is refused.
fn sqlite_string(path: &Path) -> anyhow::Result<String> {
    let text = path
        .to_str()
        .with_context(|| format!("the path {} is not valid UTF-8", path.display()))?;
    if text.contains('\0') {
        bail!("the path {text:?} contains a NUL character");
    }
    Ok(format!("'{}'", text.replace('\'', "''")))
}

/// A connection to an existing SQLite file (never created here).
async fn connect_sqlite_file(path: &Path, read_only: bool) -> anyhow::Result<AnyConnection> {
    sqlx::any::install_default_drivers();
    let url = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .read_only(read_only)
        .to_url_lossy();
    let options = AnyConnectOptions::from_url(&url)?;
    AnyConnection::connect_with(&options)
        .await
        .with_context(|| format!("opening the database {}", path.display()))
}

/// A stored file a row refers to, with the size and SHA-256 the row recorded (if it did).
#[derive(Debug)]
struct Referenced {
    key: String,
    size: i64,
    sha256: Option<String>,
}

/// Every stored file the database refers to: request attachments, companies' standard
/// answers and SEC's official forms.
async fn referenced_files(conn: &mut AnyConnection) -> anyhow::Result<Vec<Referenced>> {
    let rows = sqlx::query(
        "SELECT storage_key, size_bytes, sha256 FROM attachments \
         UNION ALL SELECT storage_key, size_bytes, sha256 FROM standard_answers \
         UNION ALL SELECT storage_key, size_bytes, NULL FROM official_forms",
    )
    .fetch_all(&mut *conn)
    .await
    .context("reading which files the database refers to")?;
    rows.iter()
        .map(|row| {
            Ok(Referenced {
                key: row.try_get(0)?,
                size: row.try_get(1)?,
                sha256: row.try_get(2)?,
            })
        })
        .collect()
}

/// Checks that the copy holds every file the snapshot refers to, as the rows describe it;
/// returns how many copied files no row refers to.
fn check_referenced(referenced: &[Referenced], files: &[FileEntry]) -> anyhow::Result<usize> {
    let copied: HashMap<&str, &FileEntry> = files.iter().map(|f| (f.key.as_str(), f)).collect();
    let mut problems = Vec::new();
    for row in referenced {
        match copied.get(row.key.as_str()) {
            None => problems.push(format!("{}: missing", row.key)),
            Some(file) => {
                let size_differs = u64::try_from(row.size).ok() != Some(file.size);
                let sha_differs = row.sha256.as_ref().is_some_and(|sha| *sha != file.sha256);
                if size_differs || sha_differs {
                    problems.push(format!("{}: differs from its row", row.key));
                }
            }
        }
    }
    if !problems.is_empty() {
        // A missing file is either a standard answer or official form replaced while the
        // backup ran (their old file goes right after their row), which another run avoids,
        // or a damaged storage, which must be looked at before anything else.
        bail!(
            "the database snapshot refers to {} file(s) that the copy does not hold as \
             recorded; the backup is incomplete (no MANIFEST written). Run it again; if this \
             persists, the live storage is damaged:\n  {}",
            problems.len(),
            problems.join("\n  ")
        );
    }
    let keys: HashSet<&str> = referenced.iter().map(|r| r.key.as_str()).collect();
    Ok(files
        .iter()
        .filter(|f| !keys.contains(f.key.as_str()))
        .count())
}

/// Copies every object of the storage into `target/<key>`, each synced, and returns them
/// sorted by key. An object deleted between the listing and its copy is skipped: what the
/// database still refers to is checked afterwards.
async fn copy_storage(storage: &dyn ObjectStore, target: &Path) -> anyhow::Result<Vec<FileEntry>> {
    tokio::fs::create_dir_all(target).await?;
    let mut listing = storage.list(None);
    let mut locations = Vec::new();
    while let Some(meta) = listing.next().await {
        locations.push(meta.context("listing the file storage")?.location);
    }
    drop(listing);
    let mut files = Vec::with_capacity(locations.len());
    let mut dirs = HashSet::new();
    for location in locations {
        let key = location.to_string();
        let path = key_path(target, &key)?;
        let object = match storage.get(&location).await {
            Ok(object) => object,
            Err(object_store::Error::NotFound { .. }) => continue,
            Err(error) => return Err(error).with_context(|| format!("reading {key}")),
        };
        let parent = path
            .parent()
            .expect("a key path has a parent")
            .to_path_buf();
        tokio::fs::create_dir_all(&parent).await?;
        let (size, sha256) = write_stream(&path, object.into_stream())
            .await
            .with_context(|| format!("copying {key}"))?;
        dirs.insert(parent);
        files.push(FileEntry { key, size, sha256 });
    }
    // The directories' entries must reach the disk too, or a crash could lose whole files.
    for dir in dirs.iter().chain([&target.to_path_buf()]) {
        sync_ancestors(dir, target)?;
    }
    files.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(files)
}

/// `root/<key>`, for a key made of plain path segments (as object_store keys are; a key from
/// a manifest is checked, since it decides where a file is written).
fn key_path(root: &Path, key: &str) -> anyhow::Result<PathBuf> {
    let parsed = object_store::path::Path::parse(key)
        .with_context(|| format!("not a storage key: {key:?}"))?;
    let plain = parsed.to_string() == key
        && !key.is_empty()
        && !key.chars().any(char::is_control)
        && parsed
            .parts()
            .all(|part| !matches!(part.as_ref(), "." | ".."));
    if !plain {
        bail!("not a plain storage key: {key:?}");
    }
    Ok(parsed
        .parts()
        .fold(root.to_path_buf(), |path, part| path.join(part.as_ref())))
}

/// Writes a byte stream into a new file, synced; returns its size and SHA-256.
async fn write_stream<S>(path: &Path, mut stream: S) -> anyhow::Result<(u64, String)>
where
    S: Stream<Item = object_store::Result<Bytes>> + Unpin,
{
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .await?;
    let mut hasher = Sha256::new();
    let mut size = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        hasher.update(&chunk);
        size += chunk.len() as u64;
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    file.sync_all().await?;
    Ok((size, hex(&hasher.finalize())))
}

/// Writes a small file under a temporary name, syncs it, renames it into place and syncs the
/// directory: whoever finds the file finds it whole.
async fn write_durably(path: &Path, content: &[u8]) -> anyhow::Result<()> {
    let temp = path.with_extension("partial");
    let mut file = tokio::fs::File::create(&temp).await?;
    file.write_all(content).await?;
    file.sync_all().await?;
    drop(file);
    tokio::fs::rename(&temp, path).await?;
    sync_dir(path.parent().expect("a file in a directory"))?;
    Ok(())
}

async fn describe_file(path: &Path, key: &str) -> anyhow::Result<FileEntry> {
    let (size, sha256) = hash_file(path).await?;
    Ok(FileEntry {
        key: key.to_string(),
        size,
        sha256,
    })
}

async fn hash_file(path: &Path) -> anyhow::Result<(u64, String)> {
    let mut file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; READ_CHUNK];
    let mut size = 0;
    loop {
        let read = file.read(&mut buffer).await?;
        if read == 0 {
            return Ok((size, hex(&hasher.finalize())));
        }
        size += read as u64;
        hasher.update(&buffer[..read]);
    }
}

async fn sync_file(path: &Path) -> io::Result<()> {
    tokio::fs::File::open(path).await?.sync_all().await
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Syncs `dir` and each directory above it up to `root`'s parent, which holds `root` itself.
fn sync_ancestors(dir: &Path, root: &Path) -> io::Result<()> {
    let stop = root.parent().unwrap_or(root);
    for ancestor in dir.ancestors() {
        sync_dir(ancestor)?;
        if ancestor == stop {
            break;
        }
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

// ---- Restore ----

/// What a restore did, for the command to print.
#[derive(Debug)]
pub struct RestoreReport {
    pub manifest: Manifest,
    /// Files put into the storage, and their bytes.
    pub restored: usize,
    pub restored_bytes: u64,
    /// SQLite: attachment files left out because no row of the restored database refers to
    /// them (see [`restore`]).
    pub skipped: usize,
    /// SQLite: where the database was put.
    pub database: Option<PathBuf>,
    /// PostgreSQL: the database step the operator must take.
    pub database_step: Option<String>,
}

impl fmt::Display for RestoreReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.manifest;
        writeln!(
            f,
            "Restored the backup of {} (portal {}, schema version {})",
            m.created_at, m.portal_version, m.schema_version
        )?;
        writeln!(
            f,
            "  files: {} ({} bytes), each checked against its size and SHA-256",
            self.restored, self.restored_bytes
        )?;
        if self.skipped > 0 {
            writeln!(
                f,
                "  left out: {} attachment file(s) of submissions that were still in progress \
                 when the backup was taken (no row refers to them)",
                self.skipped
            )?;
        }
        if let Some(path) = &self.database {
            writeln!(f, "  database: {}", path.display())?;
        }
        if let Some(step) = &self.database_step {
            writeln!(f)?;
            writeln!(f, "{step}")?;
        }
        Ok(())
    }
}

/// Puts a backup made by [`backup`] back into the configured storage and (SQLite) database,
/// which must be empty unless `force`. The portal must not be running against them.
///
/// The files go first and the database last, as in a submission: should the restore stop
/// half-way, there is no row without its file, and running it again (with `force`) finishes it.
/// On SQLite, attachment files that no row of the snapshot refers to are left out (see
/// [`is_orphan_attachment`]); on PostgreSQL, whose rows this command does not see, every file
/// is restored and the portal's hourly collection removes recent orphans.
pub async fn restore(
    settings: &Settings,
    dir: &Path,
    force: bool,
) -> anyhow::Result<RestoreReport> {
    let manifest = read_manifest(dir).await?;
    check_compatible(settings, &manifest)?;
    check_backup_files(dir, &manifest)?;
    let storage = crate::app::storage(&settings.storage_url)?;
    if !force {
        refuse_non_empty_target(settings, storage.as_ref()).await?;
    }
    let mut attachment_keys = None;
    if let (DatabaseKind::Sqlite, Some(file)) = (manifest.database, &manifest.database_file) {
        // Checked before anything is written: a damaged snapshot must stop the restore early.
        let snapshot = dir.join(&file.key);
        verify_file(&snapshot, file).await?;
        attachment_keys = Some(attachment_keys_of(&snapshot).await?);
    }
    let files = FileStore::new(storage, settings.data_dir.join("uploads-tmp"))
        .context("creating the upload scratch directory")?;
    let (mut skipped, mut restored, mut restored_bytes) = (0, 0, 0);
    for entry in &manifest.files {
        if attachment_keys
            .as_ref()
            .is_some_and(|keys| is_orphan_attachment(keys, &entry.key))
        {
            skipped += 1;
            continue;
        }
        restore_file(&files, &key_path(&dir.join(FILES_DIR), &entry.key)?, entry).await?;
        restored += 1;
        restored_bytes += entry.size;
    }
    let (database, database_step) = match manifest.database {
        DatabaseKind::Sqlite => {
            let target = store::sqlite_file(&settings.database_url)
                .context("PORTAL_DATABASE_URL names no SQLite database file")?;
            install_sqlite(&dir.join(SQLITE_FILE), &target).await?;
            (Some(target), None)
        }
        DatabaseKind::Postgres => (None, Some(pg_restore_step(dir, &manifest))),
    };
    Ok(RestoreReport {
        manifest,
        restored,
        restored_bytes,
        skipped,
        database,
        database_step,
    })
}

/// The storage keys of the snapshot's attachment rows.
async fn attachment_keys_of(snapshot: &Path) -> anyhow::Result<HashSet<String>> {
    let mut conn = connect_sqlite_file(snapshot, true).await?;
    let keys: Vec<String> = sqlx::query_scalar("SELECT storage_key FROM attachments")
        .fetch_all(&mut conn)
        .await
        .context("reading the snapshot's attachments")?;
    conn.close().await?;
    Ok(keys.into_iter().collect())
}

/// An attachment file that no attachment row of the restored database refers to: a submission
/// that was in flight while the backup ran. The portal's own rule (`jobs::collect_orphan_files`)
/// deletes such files, but only in the current and previous month's folders and an hour after
/// they were written; a backup restored later would keep them for ever. Restoring them is
/// pointless, so they are left out. Other files (standard answers, official forms) are always
/// restored: no collector looks at them, and their rows may well be there.
fn is_orphan_attachment(keys: &HashSet<String>, key: &str) -> bool {
    key.starts_with(ATTACHMENTS_PREFIX) && !keys.contains(key)
}

pub async fn read_manifest(dir: &Path) -> anyhow::Result<Manifest> {
    let path = dir.join(MANIFEST);
    let text = match tokio::fs::read_to_string(&path).await {
        Err(error) if error.kind() == io::ErrorKind::NotFound => bail!(
            "{} has no {MANIFEST}: not a backup, or one that did not finish",
            dir.display()
        ),
        other => other.with_context(|| format!("reading {}", path.display()))?,
    };
    Manifest::parse(&text)
}

fn check_compatible(settings: &Settings, manifest: &Manifest) -> anyhow::Result<()> {
    let kind = DatabaseKind::of(settings);
    if manifest.database != kind {
        bail!(
            "the backup holds a {} database but the configured one is {}: a backup is \
             restored onto the same kind of database",
            manifest.database.code(),
            kind.code()
        );
    }
    let known = store::latest_migration();
    if manifest.schema_version > known {
        bail!(
            "the backup's schema version {} is newer than this portal's ({known}): restore \
             it with portal {} or later",
            manifest.schema_version,
            manifest.portal_version
        );
    }
    if kind == DatabaseKind::Sqlite
        && manifest.database_file.as_ref().map(|f| f.key.as_str()) != Some(SQLITE_FILE)
    {
        bail!("the MANIFEST of a SQLite backup must record {SQLITE_FILE}");
    }
    Ok(())
}

/// Every file under `files/` must be one the manifest lists (it lists sizes and digests for
/// what the restore puts back; anything else did not come from `portal backup`).
fn check_backup_files(dir: &Path, manifest: &Manifest) -> anyhow::Result<()> {
    let listed: HashSet<&str> = manifest.files.iter().map(|f| f.key.as_str()).collect();
    let root = dir.join(FILES_DIR);
    let mut stack = vec![root.clone()];
    while let Some(folder) = stack.pop() {
        let entries = match std::fs::read_dir(&folder) {
            Err(error) if error.kind() == io::ErrorKind::NotFound && folder == root => {
                return Ok(());
            }
            other => other.with_context(|| format!("reading {}", folder.display()))?,
        };
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let key = path
                .strip_prefix(&root)
                .ok()
                .and_then(|relative| relative.to_str())
                .map(|relative| relative.replace(std::path::MAIN_SEPARATOR, "/"));
            if !key.as_deref().is_some_and(|key| listed.contains(key)) {
                bail!(
                    "{} is not listed in the MANIFEST: the backup directory was changed after \
                     the backup",
                    path.display()
                );
            }
        }
    }
    Ok(())
}

/// Restoring over live data would mix two histories: refused, saying what is there.
async fn refuse_non_empty_target(
    settings: &Settings,
    storage: &dyn ObjectStore,
) -> anyhow::Result<()> {
    if let Some(first) = storage.list(None).next().await {
        let first = first.context("listing the file storage")?;
        bail!(
            "the file storage {} already holds files (e.g. {}): restore into an empty data \
             directory, or pass --force to add the backup's files to it",
            settings.storage_url,
            first.location
        );
    }
    if let Some(path) = store::sqlite_file(&settings.database_url)
        && path.exists()
    {
        let (users, requests) = count_people_and_requests(&path).await?;
        if users > 0 || requests > 0 {
            bail!(
                "the database {} already has {users} user(s) and {requests} request(s): \
                 restore into a fresh data directory, or pass --force to replace that database",
                path.display()
            );
        }
    }
    Ok(())
}

/// Users and requests in an existing SQLite database (0 where the tables are not there yet).
async fn count_people_and_requests(path: &Path) -> anyhow::Result<(i64, i64)> {
    let mut conn = connect_sqlite_file(path, false).await?;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('users', 'requests')",
    )
    .fetch_all(&mut conn)
    .await?;
    let mut counts = [0, 0];
    for (count, table) in counts.iter_mut().zip(["users", "requests"]) {
        if tables.iter().any(|t| t == table) {
            let sql = format!("SELECT COUNT(*) FROM {table}");
            *count = sqlx::query_scalar(AssertSqlSafe(sql))
                .fetch_one(&mut conn)
                .await?;
        }
    }
    conn.close().await?;
    Ok((counts[0], counts[1]))
}

async fn verify_file(path: &Path, entry: &FileEntry) -> anyhow::Result<()> {
    let (size, sha256) = hash_file(path).await?;
    if size != entry.size || sha256 != entry.sha256 {
        bail!(
            "{} does not match the MANIFEST ({size} bytes, SHA-256 {sha256}; recorded {} \
             bytes, {}): the backup is damaged",
            path.display(),
            entry.size,
            entry.sha256
        );
    }
    Ok(())
}

/// Receives the file as an upload (size and SHA-256 counted as it is read), compares both with
/// the manifest, and only then stores it, as durably as the portal stores an upload.
async fn restore_file(files: &FileStore, path: &Path, entry: &FileEntry) -> anyhow::Result<()> {
    let file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("opening {} (listed in the MANIFEST)", path.display()))?;
    let upload = files
        .receive(read_stream(file), u64::MAX)
        .await
        .with_context(|| format!("reading {}", path.display()))?;
    if upload.size != entry.size || upload.sha256 != entry.sha256 {
        bail!(
            "{} does not match the MANIFEST ({} bytes, SHA-256 {}; recorded {} bytes, {}): \
             the backup is damaged, nothing more is restored",
            path.display(),
            upload.size,
            upload.sha256,
            entry.size,
            entry.sha256
        );
    }
    files
        .store(upload, &entry.key)
        .await
        .with_context(|| format!("storing {}", entry.key))
}

fn read_stream(file: tokio::fs::File) -> impl Stream<Item = io::Result<Bytes>> + Unpin {
    Box::pin(futures::stream::try_unfold(file, |mut file| async move {
        let mut buffer = vec![0; READ_CHUNK];
        let read = file.read(&mut buffer).await?;
        if read == 0 {
            return Ok(None);
        }
        buffer.truncate(read);
        Ok(Some((Bytes::from(buffer), file)))
    }))
}

/// Copies the snapshot beside the target under a temporary name, syncs it, removes the old
/// database's `-wal` and `-shm` and renames the copy into place. The stale WAL goes before
/// the rename: SQLite would otherwise replay the old database's log into the restored one.
async fn install_sqlite(snapshot: &Path, target: &Path) -> anyhow::Result<()> {
    let parent = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    tokio::fs::create_dir_all(parent).await?;
    let temp = target.with_extension("restoring");
    tokio::fs::copy(snapshot, &temp)
        .await
        .with_context(|| format!("copying the database to {}", temp.display()))?;
    sync_file(&temp).await?;
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut stale = target.as_os_str().to_os_string();
        stale.push(suffix);
        match tokio::fs::remove_file(&stale).await {
            Err(error) if error.kind() != io::ErrorKind::NotFound => {
                return Err(error).with_context(|| format!("removing {}", stale.display()));
            }
            _ => {}
        }
    }
    tokio::fs::rename(&temp, target).await?;
    sync_dir(parent)?;
    Ok(())
}

fn pg_restore_step(dir: &Path, manifest: &Manifest) -> String {
    let dump = match &manifest.database_file {
        Some(dump) => format!(
            "{} (checked: {} bytes)",
            dir.join(&dump.key).display(),
            dump.size
        ),
        None => "the dump taken with this backup (it is not in the backup directory)".to_string(),
    };
    format!(
        "PostgreSQL: this command restored the files only. Restore the database from {dump} \
         into the configured, empty database BEFORE starting the portal (the hourly job \
         deletes recent attachment files that no row refers to), e.g.:\n  \
         pg_restore --no-owner --exit-on-error --dbname=\"$PORTAL_DATABASE_URL\" {}\n\
         (for a plain SQL dump: psql --set ON_ERROR_STOP=1 \"$PORTAL_DATABASE_URL\" < dump.sql)",
        dir.join(PG_DUMP_FILE).display()
    )
}

impl FromStr for DatabaseKind {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> anyhow::Result<Self> {
        match text {
            "sqlite" => Ok(DatabaseKind::Sqlite),
            "postgres" => Ok(DatabaseKind::Postgres),
            other => bail!("unknown database kind {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, size: u64) -> FileEntry {
        FileEntry {
            key: key.to_string(),
            size,
            sha256: "ab".repeat(32),
        }
    }

    #[test]
    fn the_manifest_reads_back_what_it_wrote() {
        let manifest = Manifest {
            created_at: "2025-03-04T13:00:00Z".parse().unwrap(),
            portal_version: "0.1.0".to_string(),
            database: DatabaseKind::Sqlite,
            schema_version: 4,
            database_file: Some(entry(SQLITE_FILE, 4096)),
            files: vec![
                entry("attachments/2025/03/a b", 3),
                entry("official_forms/x", 0),
            ],
        };
        let text = manifest.render();
        assert!(text.contains("\nfiles 2\nbytes 3\n"), "{text}");
        assert_eq!(Manifest::parse(&text).unwrap(), manifest);

        let truncated = text.replace(&format!("file {}", entry_value(&manifest.files[1])), "");
        let error = Manifest::parse(&truncated).unwrap_err();
        assert!(format!("{error:#}").contains("incomplete"), "{error:#}");
    }

    #[test]
    fn sql_string_literals_escape_quotes_and_refuse_nul() {
        assert_eq!(
            sqlite_string(Path::new("/tmp/o'brien/portal.db")).unwrap(),
            "'/tmp/o''brien/portal.db'"
        );
        assert!(sqlite_string(Path::new("/tmp/a\0b")).is_err());
    }

    #[test]
    fn keys_map_to_paths_below_the_root_only() {
        let root = Path::new("/backup/files");
        assert_eq!(
            key_path(root, "attachments/2025/03/x").unwrap(),
            Path::new("/backup/files/attachments/2025/03/x")
        );
        for bad in [
            "../etc/passwd",
            "a/../../b",
            "/abs",
            "a//b",
            "",
            "a/\nb",
            "a/./b",
        ] {
            assert!(key_path(root, bad).is_err(), "{bad:?}");
        }
    }
}
