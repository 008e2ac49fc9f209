//! "Reporte": the Bandeja's requests (with the same filters) as an Excel workbook or a CSV
//! file. Rows are read in batches so that memory stays flat however many requests there are:
//! the CSV is streamed as it is read, the workbook is written row by row on a blocking thread
//! into a file of the data directory, then sent and removed.

use std::io;
use std::path::{Path, PathBuf};

use anyhow::Context;
use askama::Template;
use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use futures::{Stream, StreamExt, TryStreamExt};
use rust_xlsxwriter::{Format, Workbook};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use super::{FilterForm, with_filters};
use crate::clock::format_date;
use crate::store::filters::{self, Batches, Filters};
use crate::store::requests::RequestSummary;
use crate::web::AppState;
use crate::web::error::AppResult;
use crate::web::page::{DistributorUser, Page};
use crate::web::requests::viewer_of;

/// The columns, exactly as the manual lists them.
const HEADER: [&str; 8] = [
    "N° Folio",
    "N° Cliente",
    "N° Solicitud",
    "Tipo de Solicitud",
    "Empresa Dx",
    "Estado",
    "Fecha solicitud",
    "Fecha respuesta",
];
const WIDTHS: [f64; 8] = [12.0, 16.0, 16.0, 30.0, 28.0, 34.0, 16.0, 16.0];
const BATCH_SIZE: i64 = 1_000;
/// The last row index of an Excel sheet (1,048,576 rows); later rows go to another sheet.
const LAST_ROW: u32 = 1_048_575;
/// Excel refuses longer strings in a cell.
const MAX_CELL_CHARS: usize = 32_767;
const XLSX_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

type Cells = [String; 8];

fn cells(request: &RequestSummary) -> Cells {
    [
        request.folio.clone(),
        request.client_or_feasibility().to_string(),
        request.distributor_reference.clone().unwrap_or_default(),
        request.kind.label().to_string(),
        request.distributor_name.clone(),
        request.status.label().to_string(),
        format_date(request.submitted_at),
        request.answered_at.map(format_date).unwrap_or_default(),
    ]
}

#[derive(Template)]
#[template(path = "distributor_report.html")]
struct ReportPage {
    page: Page,
    active: Vec<(&'static str, String)>,
    xlsx_href: String,
    csv_href: String,
    inbox_href: String,
}

pub async fn show(
    DistributorUser(_user): DistributorUser,
    page: Page,
    RawQuery(raw): RawQuery,
) -> AppResult<Response> {
    let filters = Filters::from_query(raw.as_deref().unwrap_or_default());
    let report = ReportPage {
        page,
        active: FilterForm::new(&filters).active(),
        xlsx_href: with_filters("/distribuidora/reporte.xlsx", &filters),
        csv_href: with_filters("/distribuidora/reporte.csv", &filters),
        inbox_href: with_filters("/distribuidora", &filters),
    };
    Ok(Html(report.render()?).into_response())
}

fn reader(state: &AppState, user: &crate::store::users::User, raw: Option<&str>) -> Batches {
    let filters = Filters::from_query(raw.unwrap_or_default());
    filters::batches(&state.db, &viewer_of(user), &filters, BATCH_SIZE)
}

fn download(body: Body, content_type: &'static str, file_name: &str) -> Response {
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

// ---- CSV ----

/// A formula-like text (`=`, `+`, `-`, `@`) is opened as a formula by spreadsheets; client
/// numbers come from applicants, so such values are prefixed with an apostrophe.
fn neutralise(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell
    }
}

fn csv_chunk(header: bool, batch: &[RequestSummary]) -> io::Result<Bytes> {
    let mut writer = csv::Writer::from_writer(Vec::with_capacity(128 * (batch.len() + 1)));
    if header {
        writer.write_record(HEADER)?;
    }
    for request in batch {
        writer.write_record(cells(request).map(neutralise))?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| io::Error::other(e.to_string()))?;
    Ok(Bytes::from(bytes))
}

pub async fn csv(
    State(state): State<AppState>,
    DistributorUser(user): DistributorUser,
    RawQuery(raw): RawQuery,
) -> AppResult<Response> {
    let mut batches = reader(&state, &user, raw.as_deref());
    // The first batch is read before answering, so that an unreachable database gives the
    // usual error page instead of a download cut short.
    let first = batches.next().await?.unwrap_or_default();
    let head = csv_chunk(true, &first).context("writing the CSV report")?;
    let rest = futures::stream::try_unfold(batches, |mut batches| async move {
        match batches.next().await.map_err(io::Error::other)? {
            Some(batch) => Ok(Some((csv_chunk(false, &batch)?, batches))),
            None => Ok(None),
        }
    });
    let body = futures::stream::once(async { Ok::<_, io::Error>(head) }).chain(rest);
    Ok(download(
        Body::from_stream(body),
        "text/csv; charset=utf-8",
        "reporte-solicitudes.csv",
    ))
}

// ---- Excel ----

/// A file of the data directory that is removed when this is dropped: after the download
/// was sent, or as soon as writing it failed.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_file(&self.0)
            && error.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.0.display(), %error, "a report file was not removed");
        }
    }
}

/// What the database side sends to the workbook writer. `Done` tells a finished report from
/// one whose rows stopped coming because reading failed: only the first is saved.
enum Batch {
    Rows(Vec<Cells>),
    Done,
}

pub async fn xlsx(
    State(state): State<AppState>,
    DistributorUser(user): DistributorUser,
    RawQuery(raw): RawQuery,
) -> AppResult<Response> {
    let batches = reader(&state, &user, raw.as_deref());
    let dir = state.settings.data_dir.join("reports-tmp");
    tokio::fs::create_dir_all(&dir)
        .await
        .with_context(|| format!("creating {}", dir.display()))?;
    let file = TempFile(dir.join(format!("{}.xlsx", crate::store::new_id())));
    let (sender, receiver) = mpsc::channel(2);
    let (path, tempdir) = (file.0.clone(), dir.clone());
    let writer = tokio::task::spawn_blocking(move || write_workbook(receiver, &path, &tempdir));
    let read = send_batches(batches, sender).await;
    let written = writer.await.context("the report writer stopped")?;
    read?;
    written.context("writing the Excel report")?;
    let opened = tokio::fs::File::open(&file.0)
        .await
        .context("opening the Excel report")?;
    let length = opened.metadata().await.context("sizing the report")?.len();
    let mut response = download(
        Body::from_stream(file_chunks(opened, file)),
        XLSX_TYPE,
        "reporte-solicitudes.xlsx",
    );
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    Ok(response)
}

/// Reads every batch and hands it to the writer; stops early if the writer gave up.
async fn send_batches(mut batches: Batches, sender: mpsc::Sender<Batch>) -> AppResult<()> {
    while let Some(batch) = batches.next().await? {
        let rows = batch.iter().map(cells).collect();
        if sender.send(Batch::Rows(rows)).await.is_err() {
            return Ok(());
        }
    }
    // An error here means the writer already stopped; its own error is the one reported.
    let _ = sender.send(Batch::Done).await;
    Ok(())
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
/// arrives, so only the current row is held in memory.
fn write_workbook(
    mut receiver: mpsc::Receiver<Batch>,
    path: &Path,
    tempdir: &Path,
) -> anyhow::Result<()> {
    let mut workbook = Workbook::new();
    workbook.set_tempdir(tempdir)?;
    let bold = Format::new().set_bold();
    let mut sheets = 0;
    let mut row = LAST_ROW + 1;
    loop {
        let rows = match receiver.blocking_recv() {
            Some(Batch::Rows(rows)) => rows,
            Some(Batch::Done) => break,
            None => anyhow::bail!("the rows stopped coming before the end of the report"),
        };
        for cells in rows {
            if row > LAST_ROW {
                add_sheet(&mut workbook, sheets, &bold)?;
                sheets += 1;
                row = 1;
            }
            let sheet = workbook.worksheet_from_index(sheets - 1)?;
            for (column, cell) in (0..).zip(cells) {
                sheet.write_string(row, column, truncated(cell))?;
            }
            row += 1;
        }
    }
    if sheets == 0 {
        // No request matched: still a valid workbook, with the header alone.
        add_sheet(&mut workbook, sheets, &bold)?;
    }
    workbook.save(path)?;
    Ok(())
}

fn add_sheet(workbook: &mut Workbook, existing: usize, bold: &Format) -> anyhow::Result<()> {
    let sheet = workbook.add_worksheet_with_constant_memory()?;
    let name = match existing {
        0 => "Solicitudes".to_string(),
        n => format!("Solicitudes {}", n + 1),
    };
    sheet.set_name(name)?;
    for (column, width) in (0..).zip(WIDTHS) {
        sheet.set_column_width(column, width)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    for (column, title) in (0..).zip(HEADER) {
        sheet.write_string_with_format(0, column, title, bold)?;
    }
    Ok(())
}

fn truncated(cell: String) -> String {
    if cell.chars().count() <= MAX_CELL_CHARS {
        cell
    } else {
        cell.chars().take(MAX_CELL_CHARS).collect()
    }
}
