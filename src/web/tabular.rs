//! Sending a large table as a download without holding it in memory: CSV chunks written batch by
//! batch, and an Excel workbook written row by row into constant-memory sheets on a blocking
//! thread, saved in the data directory, streamed, then removed. Used by the distribuidora's
//! "Reporte" and the SEC's "Sábana", over any header and cells.

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::Context;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::{Stream, TryStreamExt};
use rust_xlsxwriter::{Format, Workbook};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use crate::web::AppState;
use crate::web::error::AppResult;

/// The last row index of an Excel sheet (1,048,576 rows); later rows go to another sheet.
const LAST_ROW: u32 = 1_048_575;
/// Excel refuses longer strings in a cell.
const MAX_CELL_CHARS: usize = 32_767;
pub const XLSX_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
pub const CSV_TYPE: &str = "text/csv; charset=utf-8";

/// Counts are numbers in the workbook, so that a reader can sum and filter them.
pub enum Cell {
    Text(String),
    Number(i64),
}

/// What the database side sends to the workbook writer. `Done` tells a finished table from
/// one whose rows stopped coming because reading failed: only the first is saved.
pub enum Batch {
    Rows(Vec<Vec<Cell>>),
    Done,
}

pub fn download(body: Body, content_type: &'static str, file_name: &str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    let disposition = format!("attachment; filename=\"{file_name}\"");
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A formula-like text (`=`, `+`, `-`, `@`) is opened as a formula by spreadsheets; names and
/// numbers come from applicants, so such values are prefixed with an apostrophe.
fn neutralise(cell: Cell) -> String {
    match cell {
        Cell::Number(number) => number.to_string(),
        Cell::Text(text) if text.starts_with(['=', '+', '-', '@', '\t', '\r']) => {
            format!("'{text}")
        }
        Cell::Text(text) => text,
    }
}

/// CSV lines for the rows, after the header if one is given.
pub fn csv_chunk(header: Option<&[&str]>, rows: Vec<Vec<Cell>>) -> io::Result<Bytes> {
    let mut writer = csv::Writer::from_writer(Vec::with_capacity(400 * (rows.len() + 1)));
    if let Some(header) = header {
        writer.write_record(header)?;
    }
    for row in rows {
        writer.write_record(row.into_iter().map(neutralise).collect::<Vec<_>>())?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| io::Error::other(e.to_string()))?;
    Ok(Bytes::from(bytes))
}

/// A file of the data directory that is removed when this is dropped: after the download
/// was sent, or as soon as writing it failed.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_file(&self.0)
            && error.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.0.display(), %error, "an export file was not removed");
        }
    }
}

/// The workbook of the rows `feed` sends, as a download. `feed` reads the database and sends
/// batches until it sends `Done`; it stops early, without error, if the writer gave up.
pub async fn xlsx_download<F, Fut>(
    state: &AppState,
    header: &'static [&'static str],
    file_name: &str,
    feed: F,
) -> AppResult<Response>
where
    F: FnOnce(mpsc::Sender<Batch>) -> Fut,
    Fut: Future<Output = AppResult<()>>,
{
    let dir = report_scratch(&state.settings.data_dir);
    tokio::fs::create_dir_all(&dir)
        .await
        .with_context(|| format!("creating {}", dir.display()))?;
    let file = TempFile(dir.join(format!("{}.xlsx", crate::store::new_id())));
    let (sender, receiver) = mpsc::channel(2);
    let (path, tempdir) = (file.0.clone(), dir.clone());
    let writer =
        tokio::task::spawn_blocking(move || write_workbook(receiver, header, &path, &tempdir));
    let read = feed(sender).await;
    let written = writer.await.context("the workbook writer stopped")?;
    read?;
    written.context("writing a workbook")?;
    let opened = tokio::fs::File::open(&file.0)
        .await
        .context("opening a workbook")?;
    let length = opened.metadata().await.context("sizing a workbook")?.len();
    let body = Body::from_stream(file_chunks(opened, file));
    let mut response = download(body, XLSX_TYPE, file_name);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    Ok(response)
}

/// The file's bytes in chunks; the file is removed once the body is done with it.
fn file_chunks(file: tokio::fs::File, guard: TempFile) -> impl Stream<Item = io::Result<Bytes>> {
    futures::stream::try_unfold((file, guard), |(mut file, guard)| async move {
        let mut buffer = vec![0; 64 * 1024];
        let read = file.read(&mut buffer).await?;
        if read == 0 {
            return Ok(None);
        }
        buffer.truncate(read);
        Ok(Some((Bytes::from(buffer), (file, guard))))
    })
    .into_stream()
}

/// Runs on a blocking thread: one constant-memory sheet after another, each row written as it
/// arrives, so only the current batch is held in memory.
fn write_workbook(
    mut receiver: mpsc::Receiver<Batch>,
    header: &[&str],
    path: &Path,
    tempdir: &Path,
) -> anyhow::Result<()> {
    let mut workbook = Workbook::new();
    workbook.set_tempdir(tempdir)?;
    let (mut sheets, mut row) = (0, LAST_ROW + 1);
    loop {
        let rows = match receiver.blocking_recv() {
            Some(Batch::Rows(rows)) => rows,
            Some(Batch::Done) => break,
            None => anyhow::bail!("the rows stopped coming before the end of the table"),
        };
        for cells in rows {
            if row > LAST_ROW {
                add_sheet(&mut workbook, sheets, header)?;
                (sheets, row) = (sheets + 1, 1);
            }
            let sheet = workbook.worksheet_from_index(sheets - 1)?;
            for (column, cell) in (0..).zip(cells) {
                match cell {
                    Cell::Text(text) => sheet.write_string(row, column, truncated(text))?,
                    Cell::Number(number) => sheet.write_number(row, column, number as f64)?,
                };
            }
            row += 1;
        }
    }
    if sheets == 0 {
        // No rows: still a valid workbook, with the header alone.
        add_sheet(&mut workbook, sheets, header)?;
    }
    workbook.save(path)?;
    Ok(())
}

/// Where workbooks are built before they are sent; local to each instance.
fn report_scratch(data_dir: &Path) -> PathBuf {
    data_dir.join("reports-tmp")
}

/// At start-up, before any download is in flight: removes the workbooks (and the writer's own
/// temporary files) that a crash left half-built. Returns how many entries went.
pub async fn clean_report_scratch(data_dir: &Path) -> io::Result<usize> {
    let dir = report_scratch(data_dir);
    let mut entries = match tokio::fs::read_dir(&dir).await {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(error) => return Err(error),
    };
    let mut removed = 0;
    while let Some(entry) = entries.next_entry().await? {
        let path = entry.path();
        if entry.file_type().await?.is_dir() {
            tokio::fs::remove_dir_all(&path).await?;
        } else {
            tokio::fs::remove_file(&path).await?;
        }
        removed += 1;
    }
    Ok(removed)
}

fn add_sheet(workbook: &mut Workbook, existing: usize, header: &[&str]) -> anyhow::Result<()> {
    let bold = Format::new().set_bold();
    let sheet = workbook.add_worksheet_with_constant_memory()?;
    let name = match existing {
        0 => "Solicitudes".to_string(),
        n => format!("Solicitudes {}", n + 1),
    };
    sheet.set_name(name)?;
    sheet.set_freeze_panes(1, 0)?;
    for (column, title) in (0..).zip(header) {
        sheet.set_column_width(column, 18)?;
        sheet.write_string_with_format(0, column, *title, &bold)?;
    }
    Ok(())
}

fn truncated(cell: String) -> String {
    // No more bytes than the limit means no more characters: most cells are never counted.
    if cell.len() <= MAX_CELL_CHARS || cell.chars().count() <= MAX_CELL_CHARS {
        cell
    } else {
        cell.chars().take(MAX_CELL_CHARS).collect()
    }
}
