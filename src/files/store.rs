//! Receiving uploads and keeping them. An upload is streamed to a temporary file in a scratch
//! directory of this instance, with the size limit counted as the bytes arrive, so that an
//! oversized or endless body never sits in memory. The caller inspects it there, moves it into
//! the object store under a generated key (a rename on local storage, a streamed copy on S3),
//! and only then commits the database rows: a row without its file must never exist. What a crash leaves behind on either side is cleaned up
//! later: temporary files at start-up ([`FileStore::clean_scratch`]) and stored files without a
//! row by [`FileStore::collect_orphans`].

use std::fmt;
use std::io;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use axum::body::Bytes;
use futures::{Stream, StreamExt};
use jiff::Timestamp;
use object_store::path::Path;
use object_store::{GetResult, ObjectStore, ObjectStoreExt, WriteMultipart};
use sha2::{Digest, Sha256};

use super::inspect;
use tokio::io::AsyncReadExt;

/// A megabyte as the manual counts it.
const MIB: u64 = 1_048_576;
/// Size of the parts sent to the object store: S3 refuses parts under 5 MiB (except the last),
/// and an upload of at most 5 MB then goes in one part.
const PART_SIZE: usize = 5 * 1024 * 1024;
/// Parts in flight at once while storing; with [`PART_SIZE`] this bounds the memory one store
/// call holds.
const PARTS_IN_FLIGHT: usize = 2;
/// How much of an arriving upload is gathered (as the chunks that came, without copying them)
/// before it goes to the thread that writes the temp file.
const PIECE_SIZE: usize = 128 * 1024;
/// Pieces waiting for that thread: with the one being gathered and the one being written, an
/// upload holds at most about 384 KiB in memory.
const PIECES_IN_FLIGHT: usize = 1;
/// How much of an upload is written before the kernel is asked to start putting it on disk.
const WRITEBACK_STEP: u64 = 1024 * 1024;
/// How much of the temporary file is read at a time while copying it into the object store.
const READ_CHUNK: usize = 64 * 1024;
/// Linux's ENOSPC and EDQUOT, for errors that reach us without a precise [`io::ErrorKind`].
const ENOSPC: i32 = 28;
const EDQUOT: i32 = 122;
/// What the user reads when there is no room to keep what they sent, whether the files or the
/// database ran out of space.
pub const STORAGE_FULL: &str =
    "No hay espacio de almacenamiento disponible en este momento. Intente nuevamente más tarde.";

/// Uploaded files: a scratch directory for what is arriving, an object store for what is kept.
#[derive(Clone, Debug)]
pub struct FileStore {
    storage: Arc<dyn ObjectStore>,
    scratch: PathBuf,
    /// The directory behind `storage` when it is the local file system: uploads are then
    /// renamed into place, each byte written once, instead of copied through the store.
    local_root: Option<PathBuf>,
}

/// A received upload waiting in the scratch directory; dropping it removes the temp file.
#[derive(Debug)]
pub struct Upload {
    temp: TempFile,
    /// Bytes received.
    pub size: u64,
    /// SHA-256 of the content, lowercase hex.
    pub sha256: String,
}

/// Why an upload was not received or stored. The first three are the user's to read (in
/// Spanish); `Io` is an internal failure, to be logged and answered with a plain error page.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("El archivo supera el tamaño máximo de {} MB.", megabytes(*limit))]
    TooLarge { limit: u64 },
    #[error("{}", STORAGE_FULL)]
    DiskFull,
    #[error("La carga del archivo se interrumpió. Intente nuevamente.")]
    Interrupted,
    #[error("file storage: {0}")]
    Io(#[source] io::Error),
}

impl From<io::Error> for UploadError {
    fn from(error: io::Error) -> Self {
        if is_disk_full(&error) {
            UploadError::DiskFull
        } else {
            UploadError::Io(error)
        }
    }
}

impl From<object_store::Error> for UploadError {
    /// The object store wraps the local file system's io errors (or S3's answers) in its own;
    /// a full disk must still read as one, so that the user gets the clear message.
    fn from(error: object_store::Error) -> Self {
        if is_disk_full(&error) {
            UploadError::DiskFull
        } else {
            UploadError::Io(io::Error::other(error))
        }
    }
}

impl FileStore {
    /// The scratch directory is created if missing (readable by the portal's user only, since
    /// it holds identity documents). It must belong to this instance alone: start-up empties it.
    pub fn new(storage: Arc<dyn ObjectStore>, scratch: PathBuf) -> io::Result<Self> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&scratch)?;
        Ok(FileStore {
            storage,
            scratch,
            local_root: None,
        })
    }

    /// Says that `storage` is a local file system rooted at `root` (as `file://root` builds it),
    /// so that [`FileStore::store`] may rename an upload into place. Only for that store: a
    /// rename into a directory the store does not read from would lose the file.
    pub fn with_local_root(mut self, root: PathBuf) -> Self {
        self.local_root = Some(root);
        self
    }

    /// Streams a body into a new temp file `{scratch}/{uuid}.part`, counting bytes as they arrive
    /// and stopping (and deleting the temp file) as soon as more than `limit` bytes have come:
    /// the limit is enforced while streaming, never after buffering, so a lying Content-Length
    /// or an endless body costs at most one chunk past the limit. The file is fsynced before
    /// returning, because on file systems with delayed allocation a full disk often shows only
    /// there, and it is better told now than when the file is copied after the user waited.
    pub async fn receive<S, E>(&self, mut body: S, limit: u64) -> Result<Upload, UploadError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: fmt::Display,
    {
        let temp = TempFile(self.scratch.join(format!("{}.part", uuid::Uuid::new_v4())));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp.0)
            .await?
            .into_std()
            .await;
        // The pieces go to a blocking thread that hashes and writes them while the next ones
        // arrive: hashing 15 MB alone takes about as long as the disk takes to write it, and in
        // this task it held up reading the network. At most `PIECES_IN_FLIGHT` pieces wait.
        let (pieces, received) = tokio::sync::mpsc::channel(PIECES_IN_FLIGHT);
        let writer = tokio::task::spawn_blocking(move || write_and_hash(file, received));
        let sent = send_pieces(&mut body, limit, &pieces).await;
        if sent.is_ok() {
            // Unanswered only when the writer already stopped; its error is told below.
            let _ = pieces.send(Piece::End).await;
        }
        drop(pieces);
        // Awaited on every path, so that the file is closed before `temp` removes it.
        let written = writer.await.map_err(io::Error::other)?;
        // `temp` is dropped on an error return, which removes the partial file.
        let size = sent?;
        let sha256 = written?;
        Ok(Upload { temp, size, sha256 })
    }

    /// What [`inspect`](super::inspect::inspect) needs of the temp file: its first bytes,
    /// or all of it when those start a container (DOC, DOCX) that must be opened. A PDF or an
    /// image of several megabytes is thus never read back into memory.
    pub async fn read_for_inspection(&self, upload: &Upload) -> io::Result<Vec<u8>> {
        let mut file = tokio::fs::File::open(&upload.temp.0).await?;
        let mut bytes = Vec::with_capacity(inspect::HEAD_LEN);
        (&mut file)
            .take(inspect::HEAD_LEN as u64)
            .read_to_end(&mut bytes)
            .await?;
        if inspect::needs_whole_file(&bytes) {
            file.read_to_end(&mut bytes).await?;
        }
        Ok(bytes)
    }

    /// Moves the upload into the object store under `key` (e.g. "attachments/2026/12/<uuid>").
    /// On local storage the synced temp file is renamed into place, then the directory is
    /// synced. Otherwise (S3, or a scratch directory on another file system than the store) the
    /// temp file is streamed in chunks through a multipart upload, so memory stays bounded, and
    /// the store makes it visible only once complete. Either way the key holds the whole file
    /// or nothing, and holds it durably when this returns Ok. The temp file is gone afterwards,
    /// on failure too (the upload is consumed), and the user sends the file again.
    pub async fn store(&self, upload: Upload, key: &str) -> Result<(), UploadError> {
        let location =
            Path::parse(key).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        if let Some(root) = self.local_root.as_ref().filter(|_| is_plain_key(key)) {
            let (from, to) = (upload.temp.0.clone(), root.join(key));
            let moved = tokio::task::spawn_blocking(move || rename_durably(&from, &to))
                .await
                .map_err(io::Error::other)?;
            match moved {
                Ok(()) => {
                    upload.temp.disarm();
                    return Ok(());
                }
                // Scratch and store on two file systems: copied below instead.
                Err(error) if error.kind() == io::ErrorKind::CrossesDevices => {}
                Err(error) => return Err(error.into()),
            }
        }
        let multipart = self.storage.put_multipart(&location).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(multipart, PART_SIZE);
        match copy_into(&upload, &mut writer).await {
            Ok(()) => {
                writer.finish().await?;
            }
            Err(error) => {
                if let Err(abort) = writer.abort().await {
                    tracing::warn!(error = %abort, "aborting a partial upload to storage failed");
                }
                return Err(error);
            }
        }
        // The file is kept; a temp file that cannot be removed now goes at the next start-up,
        // so it is no reason to report the store as failed.
        if let Err(error) = upload.temp.remove().await {
            tracing::warn!(error = %error, "removing a stored upload's temp file failed");
        }
        Ok(())
    }

    /// A stored file, for downloads.
    pub async fn open(&self, key: &str) -> object_store::Result<GetResult> {
        self.storage.get(&Path::parse(key)?).await
    }

    /// Removes a stored file. A key that is already gone counts as removed (S3 says so anyway;
    /// the local store would answer NotFound).
    pub async fn delete(&self, key: &str) -> object_store::Result<()> {
        match self.storage.delete(&Path::parse(key)?).await {
            Err(object_store::Error::NotFound { .. }) => Ok(()),
            other => other,
        }
    }

    /// At start-up, before any upload arrives: removes every leftover file in the scratch
    /// directory (uploads cut short by a crash); returns how many.
    pub async fn clean_scratch(&self) -> io::Result<usize> {
        let mut removed = 0;
        let mut entries = tokio::fs::read_dir(&self.scratch).await?;
        while let Some(entry) = entries.next_entry().await? {
            if entry.file_type().await?.is_dir() {
                continue;
            }
            match tokio::fs::remove_file(entry.path()).await {
                Ok(()) => removed += 1,
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => return Err(error),
            }
        }
        Ok(removed)
    }

    /// Keys under `prefix` last modified before `older_than` for which `is_known(key)` is false
    /// are deleted: files without a row, left by a crash (or a failed commit) between storing
    /// the files and committing the rows. `older_than` must leave room for a submission still
    /// in flight (stored, not yet committed), or its files would go. Returns the deleted keys.
    pub async fn collect_orphans(
        &self,
        prefix: &str,
        older_than: Timestamp,
        is_known: impl Fn(&str) -> bool,
    ) -> object_store::Result<Vec<String>> {
        let prefix = match prefix.trim_matches('/') {
            "" => None,
            prefix => Some(Path::parse(prefix)?),
        };
        let mut listing = self.storage.list(prefix.as_ref());
        let mut orphans = Vec::new();
        while let Some(meta) = listing.next().await {
            let meta = meta?;
            let modified = Timestamp::new(
                meta.last_modified.timestamp(),
                meta.last_modified.timestamp_subsec_nanos() as i32,
            );
            let old = modified.is_ok_and(|modified| modified < older_than);
            if old && !is_known(meta.location.as_ref()) {
                orphans.push(meta.location);
            }
        }
        drop(listing);
        let mut deleted = Vec::with_capacity(orphans.len());
        for location in orphans {
            match self.storage.delete(&location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {
                    deleted.push(location.to_string())
                }
                Err(error) => return Err(error),
            }
        }
        Ok(deleted)
    }
}

/// Whether `key` names the same relative path on disk as in the local object store, which
/// percent-encodes other characters. The portal's keys are all plain.
fn is_plain_key(key: &str) -> bool {
    !key.is_empty()
        && key.split('/').all(|part| {
            !part.is_empty()
                && !part.starts_with('.')
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
}

/// Renames the (already synced) file `from` to `to`, creating the missing directories, and
/// syncs every directory whose entries changed, so that the new name survives a power loss.
fn rename_durably(from: &FsPath, to: &FsPath) -> io::Result<()> {
    let parent = to
        .parent()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "a key without a directory"))?;
    // The directories this call creates, deepest first: each one's parent gains an entry.
    let mut created = Vec::new();
    let mut missing = Some(parent);
    while let Some(dir) = missing.filter(|dir| !dir.exists()) {
        created.push(dir);
        missing = dir.parent();
    }
    std::fs::create_dir_all(parent)?;
    std::fs::rename(from, to)?;
    sync_dir(parent)?;
    for dir in created {
        if let Some(up) = dir.parent() {
            sync_dir(up)?;
        }
    }
    Ok(())
}

fn sync_dir(dir: &FsPath) -> io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Feeds the temp file to the multipart writer, waiting for parts in flight before adding more.
async fn copy_into(upload: &Upload, writer: &mut WriteMultipart) -> Result<(), UploadError> {
    let mut file = tokio::fs::File::open(&upload.temp.0).await?;
    let mut copied: u64 = 0;
    loop {
        let mut buffer = vec![0; READ_CHUNK];
        let read = file.read(&mut buffer).await?;
        if read == 0 {
            break;
        }
        buffer.truncate(read);
        copied += read as u64;
        writer.wait_for_capacity(PARTS_IN_FLIGHT).await?;
        writer.put(Bytes::from(buffer));
    }
    // The temp file is ours alone; a different length means it was damaged, and storing it
    // would keep something other than what was received and checked.
    if copied != upload.size {
        return Err(UploadError::Io(io::Error::other(format!(
            "temp file holds {copied} bytes, {} were received",
            upload.size
        ))));
    }
    Ok(())
}

/// A file in the scratch directory, removed when dropped unless removed before.
#[derive(Debug)]
struct TempFile(PathBuf);

impl TempFile {
    /// The file was moved away: nothing is left to remove.
    fn disarm(mut self) {
        self.0 = PathBuf::new();
    }

    async fn remove(mut self) -> io::Result<()> {
        // Taken out, so that the drop that follows has nothing left to remove.
        let path = std::mem::take(&mut self.0);
        match tokio::fs::remove_file(&path).await {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        // An unlink is quick; whatever fails here is swept at the next start-up.
        if !self.0.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// Whether an error (or any error it wraps) is a full disk or an exhausted quota.
fn is_disk_full(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(io_error) = error.downcast_ref::<io::Error>() {
            if matches!(
                io_error.kind(),
                io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
            ) || matches!(io_error.raw_os_error(), Some(ENOSPC | EDQUOT))
            {
                return true;
            }
            // An io::Error wrapping another error reports that error's source, not the error
            // itself, as its own source; look inside it too.
            if let Some(inner) = io_error.get_ref()
                && is_disk_full(inner)
            {
                return true;
            }
        }
        current = error.source();
    }
    false
}

/// `limit` in megabytes as the message shows it: "5", or "2,5" when not whole.
fn megabytes(limit: u64) -> String {
    let tenths = (limit.saturating_mul(10) + MIB / 2) / MIB;
    match tenths % 10 {
        0 => format!("{}", tenths / 10),
        decimal => format!("{},{decimal}", tenths / 10),
    }
}

/// Hands the body to the writer thread in pieces of about [`PIECE_SIZE`] (the chunks that
/// came, not copied), counting its size against `limit` as it arrives. Answers the size once
/// the body ended, or early if the writer stopped (its own error is then the one to tell).
async fn send_pieces<S, E>(
    body: &mut S,
    limit: u64,
    pieces: &tokio::sync::mpsc::Sender<Piece>,
) -> Result<u64, UploadError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: fmt::Display,
{
    let (mut size, mut gathered, mut gathered_len) = (0_u64, Vec::new(), 0);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|error| {
            tracing::info!(error = %error, "upload stream failed");
            UploadError::Interrupted
        })?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(UploadError::TooLarge { limit });
        }
        gathered_len += chunk.len();
        gathered.push(chunk);
        if gathered_len >= PIECE_SIZE {
            gathered_len = 0;
            let piece = Piece::Data(std::mem::take(&mut gathered));
            if pieces.send(piece).await.is_err() {
                return Ok(size);
            }
        }
    }
    let _ = pieces.send(Piece::Data(gathered)).await;
    Ok(size)
}

/// What `receive` hands its writer thread.
enum Piece {
    Data(Vec<Bytes>),
    /// The body ended: sync the file and answer.
    End,
}

/// The writer thread of one upload: writes and hashes each piece, and on `End` syncs the file
/// and answers its SHA-256. The file is synced before `receive` returns, because on
/// file systems with delayed allocation a full disk often shows only there, and it is better
/// told now than when the file is moved after the user waited. Without `End` (the upload was
/// refused or broke off) it answers an error and leaves the file to be removed.
fn write_and_hash(
    mut file: std::fs::File,
    mut pieces: tokio::sync::mpsc::Receiver<Piece>,
) -> io::Result<String> {
    use std::io::Write;
    let mut hasher = Sha256::new();
    let mut written: u64 = 0;
    let mut flushed: u64 = 0;
    while let Some(piece) = pieces.blocking_recv() {
        match piece {
            Piece::Data(chunks) => {
                for bytes in chunks {
                    hasher.update(&bytes);
                    file.write_all(&bytes)?;
                    written += bytes.len() as u64;
                }
                if written - flushed >= WRITEBACK_STEP {
                    start_writeback(&file, flushed, written - flushed);
                    flushed = written;
                }
            }
            Piece::End => {
                file.sync_all()?;
                return Ok(hex(&hasher.finalize()));
            }
        }
    }
    Err(io::Error::new(
        io::ErrorKind::Interrupted,
        "the upload ended before it was complete",
    ))
}

/// Asks the kernel to start writing `len` bytes of `file` from `offset` to the disk now,
/// without waiting for them: the disk writes while the rest of the upload arrives, and the
/// final sync has only the tail left. Advisory; where it is not available (or fails) the
/// final sync does all the work, as before.
#[cfg(target_os = "linux")]
fn start_writeback(file: &std::fs::File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return;
    };
    // SAFETY: the descriptor belongs to `file`, open for the whole call; the call only reads
    // its arguments.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &std::fs::File, _offset: u64, _len: u64) {}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicU64, Ordering};

    use futures::stream;
    use object_store::local::LocalFileSystem;

    use super::*;

    const FIVE_MB: u64 = 5 * MIB;

    struct Fixture {
        _dirs: (tempfile::TempDir, tempfile::TempDir),
        scratch: PathBuf,
        root: PathBuf,
        files: FileStore,
    }

    fn fixture() -> Fixture {
        let root = tempfile::tempdir().unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let local = LocalFileSystem::new_with_prefix(root.path())
            .unwrap()
            .with_automatic_cleanup(true)
            .with_fsync(true);
        let scratch_path = scratch.path().join("uploads");
        let files = FileStore::new(Arc::new(local), scratch_path.clone()).unwrap();
        Fixture {
            root: root.path().to_path_buf(),
            _dirs: (root, scratch),
            scratch: scratch_path,
            files,
        }
    }

    fn scratch_entries(fixture: &Fixture) -> usize {
        std::fs::read_dir(&fixture.scratch).unwrap().count()
    }

    /// `total` bytes in chunks of `chunk` bytes, counting how many bytes were taken from it.
    fn counting_body(
        total: u64,
        chunk: usize,
        taken: Arc<AtomicU64>,
    ) -> impl Stream<Item = Result<Bytes, Infallible>> + Unpin {
        let chunks = total.div_ceil(chunk as u64);
        stream::iter(0..chunks).map(move |index| {
            let len = (total - index * chunk as u64).min(chunk as u64) as usize;
            taken.fetch_add(len as u64, Ordering::SeqCst);
            Ok(Bytes::from(vec![(index % 251) as u8; len]))
        })
    }

    fn body_of(bytes: &[u8]) -> impl Stream<Item = Result<Bytes, Infallible>> + Unpin {
        let chunks: Vec<_> = bytes
            .chunks(1000)
            .map(|chunk| Ok(Bytes::copy_from_slice(chunk)))
            .collect();
        stream::iter(chunks)
    }

    #[tokio::test]
    async fn an_upload_of_exactly_the_limit_is_accepted() {
        let fixture = fixture();
        let taken = Arc::new(AtomicU64::new(0));
        let upload = fixture
            .files
            .receive(counting_body(FIVE_MB, 8192, taken), FIVE_MB)
            .await
            .unwrap();
        assert_eq!(upload.size, FIVE_MB);
        assert_eq!(
            std::fs::metadata(upload.temp.0.as_path()).unwrap().len(),
            FIVE_MB
        );
        let path = upload.temp.0.as_path().to_path_buf();
        assert!(path.starts_with(&fixture.scratch));
        assert!(path.to_string_lossy().ends_with(".part"));
        drop(upload);
        assert!(!path.exists(), "dropping the upload removes its temp file");
    }

    #[tokio::test]
    async fn one_byte_over_the_limit_is_refused_and_leaves_nothing() {
        let fixture = fixture();
        let taken = Arc::new(AtomicU64::new(0));
        let error = fixture
            .files
            .receive(counting_body(FIVE_MB + 1, 8192, taken), FIVE_MB)
            .await
            .unwrap_err();
        assert!(matches!(error, UploadError::TooLarge { limit } if limit == FIVE_MB));
        assert_eq!(
            error.to_string(),
            "El archivo supera el tamaño máximo de 5 MB."
        );
        assert_eq!(scratch_entries(&fixture), 0);
    }

    #[tokio::test]
    async fn the_limit_stops_the_stream_instead_of_reading_it_all() {
        let fixture = fixture();
        let taken = Arc::new(AtomicU64::new(0));
        let error = fixture
            .files
            .receive(counting_body(6 * MIB, 8192, taken.clone()), FIVE_MB)
            .await
            .unwrap_err();
        assert!(matches!(error, UploadError::TooLarge { .. }));
        let taken = taken.load(Ordering::SeqCst);
        assert!(
            taken <= FIVE_MB + 8192,
            "read {taken} bytes against a limit of {FIVE_MB}"
        );
        assert_eq!(scratch_entries(&fixture), 0);
    }

    #[tokio::test]
    async fn a_broken_stream_is_interrupted_and_leaves_nothing() {
        let fixture = fixture();
        let body = stream::iter(vec![
            Ok(Bytes::from(vec![1u8; 10_000])),
            Ok(Bytes::from(vec![2u8; 10_000])),
            Err("connection reset"),
        ]);
        let error = fixture.files.receive(body, FIVE_MB).await.unwrap_err();
        assert!(matches!(error, UploadError::Interrupted));
        assert_eq!(
            error.to_string(),
            "La carga del archivo se interrumpió. Intente nuevamente."
        );
        assert_eq!(scratch_entries(&fixture), 0);
    }

    #[tokio::test]
    async fn size_and_sha256_describe_the_content() {
        let fixture = fixture();
        let upload = fixture
            .files
            .receive(body_of(b"abc"), FIVE_MB)
            .await
            .unwrap();
        assert_eq!(upload.size, 3);
        assert_eq!(
            upload.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            fixture.files.read_for_inspection(&upload).await.unwrap(),
            b"abc"
        );

        let empty = fixture.files.receive(body_of(b""), FIVE_MB).await.unwrap();
        assert_eq!(empty.size, 0);
        assert_eq!(
            empty.sha256,
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[tokio::test]
    async fn a_stored_upload_opens_with_the_same_bytes_and_its_temp_file_is_gone() {
        let fixture = fixture();
        // Larger than one read chunk and than one part, so the copy goes in several of each.
        let content: Vec<u8> = (0..(PART_SIZE + 3 * READ_CHUNK + 17))
            .map(|i| (i % 253) as u8)
            .collect();
        let upload = fixture
            .files
            .receive(body_of(&content), 8 * MIB)
            .await
            .unwrap();
        let temp = upload.temp.0.as_path().to_path_buf();
        let key = "attachments/2026/12/0190c2a4-7b5e-7000-8000-000000000001";
        fixture.files.store(upload, key).await.unwrap();
        assert!(!temp.exists());
        assert_eq!(scratch_entries(&fixture), 0);

        let stored = fixture
            .files
            .open(key)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(stored.as_ref(), content.as_slice());
        // No staging file (`key#1`) is left beside the stored one.
        let dir = fixture.root.join("attachments/2026/12");
        assert_eq!(std::fs::read_dir(dir).unwrap().count(), 1);

        fixture.files.delete(key).await.unwrap();
        assert!(matches!(
            fixture.files.open(key).await,
            Err(object_store::Error::NotFound { .. })
        ));
        fixture.files.delete(key).await.unwrap();
    }

    #[tokio::test]
    async fn on_local_storage_an_upload_is_renamed_into_place() {
        use std::os::unix::fs::MetadataExt;
        let mut fixture = fixture();
        fixture.files = fixture.files.clone().with_local_root(fixture.root.clone());
        let content: Vec<u8> = (0..(3 * READ_CHUNK + 5)).map(|i| (i % 249) as u8).collect();
        let upload = fixture
            .files
            .receive(body_of(&content), 8 * MIB)
            .await
            .unwrap();
        let inode = std::fs::metadata(&upload.temp.0).unwrap().ino();
        // A month directory that does not exist yet is created.
        let key = "attachments/2031/01/0190c2a4-7b5e-7000-8000-000000000002";
        fixture.files.store(upload, key).await.unwrap();
        assert_eq!(scratch_entries(&fixture), 0);
        let on_disk = fixture.root.join(key);
        assert_eq!(
            std::fs::metadata(&on_disk).unwrap().ino(),
            inode,
            "moved, not copied"
        );
        let stored = fixture
            .files
            .open(key)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(stored.as_ref(), content.as_slice());
        // The orphan collector and deletion see it as any stored file.
        let later = Timestamp::now() + jiff::SignedDuration::from_hours(1);
        let deleted = fixture
            .files
            .collect_orphans("attachments", later, |_| false)
            .await
            .unwrap();
        assert_eq!(deleted, [key]);
        assert!(!on_disk.exists());
    }

    #[test]
    fn only_plain_keys_are_renamed() {
        assert!(is_plain_key("attachments/2026/12/0190c2a4-7b5e"));
        assert!(is_plain_key("official-forms/a_b.pdf"));
        for key in [
            "",
            "/a",
            "a//b",
            "a/../b",
            "a/.hidden",
            "a b",
            "a/ñ",
            "a/b%2F",
        ] {
            assert!(!is_plain_key(key), "{key:?}");
        }
    }

    #[tokio::test]
    async fn clean_scratch_removes_leftovers() {
        let fixture = fixture();
        std::fs::write(fixture.scratch.join("a.part"), b"half").unwrap();
        std::fs::write(fixture.scratch.join("b.part"), b"").unwrap();
        assert_eq!(fixture.files.clean_scratch().await.unwrap(), 2);
        assert_eq!(scratch_entries(&fixture), 0);
        assert_eq!(fixture.files.clean_scratch().await.unwrap(), 0);
    }

    #[tokio::test]
    async fn collect_orphans_deletes_only_unknown_old_keys() {
        let fixture = fixture();
        for key in [
            "attachments/2026/11/known",
            "attachments/2026/11/orphan",
            "attachments/2026/12/orphan",
            "other/orphan",
        ] {
            let upload = fixture.files.receive(body_of(b"x"), 10).await.unwrap();
            fixture.files.store(upload, key).await.unwrap();
        }
        let known = |key: &str| key == "attachments/2026/11/known";

        // Everything is newer than an hour ago: nothing goes.
        let an_hour_ago = Timestamp::now() - jiff::SignedDuration::from_hours(1);
        let none = fixture
            .files
            .collect_orphans("attachments", an_hour_ago, known)
            .await
            .unwrap();
        assert!(none.is_empty());

        let later = Timestamp::now() + jiff::SignedDuration::from_hours(1);
        let mut deleted = fixture
            .files
            .collect_orphans("attachments", later, known)
            .await
            .unwrap();
        deleted.sort();
        assert_eq!(
            deleted,
            ["attachments/2026/11/orphan", "attachments/2026/12/orphan"]
        );
        assert!(
            fixture
                .files
                .open("attachments/2026/11/known")
                .await
                .is_ok()
        );
        assert!(fixture.files.open("other/orphan").await.is_ok());
        assert!(
            fixture
                .files
                .open("attachments/2026/12/orphan")
                .await
                .is_err()
        );
    }

    #[test]
    fn a_full_disk_is_recognised_through_the_wrappers() {
        let enospc = io::Error::from_raw_os_error(ENOSPC);
        assert!(matches!(UploadError::from(enospc), UploadError::DiskFull));
        let quota = io::Error::from(io::ErrorKind::QuotaExceeded);
        assert!(matches!(UploadError::from(quota), UploadError::DiskFull));

        let wrapped = object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(io::Error::other(io::Error::from_raw_os_error(ENOSPC))),
        };
        let error = UploadError::from(wrapped);
        assert!(matches!(error, UploadError::DiskFull));
        assert_eq!(
            error.to_string(),
            "No hay espacio de almacenamiento disponible en este momento. Intente nuevamente más tarde."
        );

        let other = object_store::Error::Generic {
            store: "LocalFileSystem",
            source: Box::new(io::Error::from(io::ErrorKind::PermissionDenied)),
        };
        assert!(matches!(UploadError::from(other), UploadError::Io(_)));
    }

    #[test]
    fn the_limit_reads_in_megabytes() {
        assert_eq!(megabytes(MIB), "1");
        assert_eq!(megabytes(FIVE_MB), "5");
        assert_eq!(megabytes(5 * MIB / 2), "2,5");
        assert_eq!(megabytes(FIVE_MB - 1), "5");
    }
}
