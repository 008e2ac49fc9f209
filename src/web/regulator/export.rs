//! "Data – Sábana de Solicitudes": every field of every request submitted in a period (of one
//! kind, if chosen), with the due date, the business days taken and whether the answer was on
//! time, for SEC's audit of legal deadlines. Built like the distribuidora's "Reporte": rows are
//! read in keyset batches; the CSV is streamed as it is read, the workbook is written row by
//! row into a constant-memory sheet on a blocking thread, then sent and removed.

use std::io;

use anyhow::Context;
use askama::Template;
use axum::Router;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use futures::{Stream, StreamExt};
use jiff::Timestamp;
use tokio::sync::mpsc;

use super::compliance::{Period, PeriodForm, query_value, read_period};
use super::panel::{Choice, on_time};
use crate::clock::format_date_time;
use crate::domain::calendar::{BusinessCalendar, chile_date};
use crate::domain::request::{RequestKind, Status};
use crate::store::panel::DateRange;
use crate::store::panel::sabana::{self, RawBatch, SabanaBatches, SabanaRow};
use crate::store::requests;
use crate::web::AppState;
use crate::web::error::AppResult;
use crate::web::forms::FieldErrors;
use crate::web::page::{Page, RegulatorUser};
use crate::web::tabular::{Batch, CSV_TYPE, Cell, csv_chunk, download, xlsx_download};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/sec/sabana", get(show))
        .route("/sec/sabana.csv", get(csv))
        .route("/sec/sabana.xlsx", get(xlsx))
}

const HEADER: [&str; 23] = [
    "N° Folio",
    "Tipo de Solicitud",
    "Estado",
    "Empresa Distribuidora",
    "N° Solicitud",
    "N° Cliente",
    "N° de Factibilidad",
    "Región",
    "Comuna",
    "Solicitante",
    "RUT",
    "Correo electrónico",
    "Instalador SEC",
    "Correo electrónico adicional",
    "Solicitud relacionada",
    "Aporta medidor bidireccional",
    "Fecha de envío",
    "Fecha de respuesta",
    "Vence",
    "Días hábiles",
    "A tiempo",
    "Adjuntos",
    "Último movimiento",
];
const BATCH_SIZE: i64 = 1_000;

fn yes_no(value: bool) -> Cell {
    Cell::Text(if value { "Sí" } else { "No" }.to_string())
}

/// Business days from receipt to the answer, as kept with it (the compliance page counts the
/// same); while open, to now; if annulled unanswered, to the annulment (its last movement).
/// Days paused waiting on the applicant are left out.
fn days_taken(row: &SabanaRow, calendar: &BusinessCalendar, now: Timestamp) -> i64 {
    let request = &row.summary;
    let end = match request.answered_at {
        Some(answered) => match row.business_days_taken {
            Some(taken) => return taken,
            None => answered,
        },
        None if request.status == Status::Annulled => row.last_event_at.unwrap_or(now),
        None => now,
    };
    calendar.business_days_used(request.submitted_at, end, &row.pauses)
}

/// Sí or No once answered; No already when owed past the due date; "—" otherwise.
fn on_time_flag(row: &SabanaRow, now: Timestamp) -> &'static str {
    match on_time(&row.summary, chile_date(now)) {
        "Sí" => "Sí",
        "No" | "Vencida" => "No",
        _ => "—",
    }
}

/// A row's cells; the row's strings move into them.
fn cells(row: SabanaRow, calendar: &BusinessCalendar, now: Timestamp) -> Vec<Cell> {
    let days = days_taken(&row, calendar, now);
    let on_time = on_time_flag(&row, now);
    let request = row.summary;
    let text = Cell::Text;
    let optional = |value: Option<String>| Cell::Text(value.unwrap_or_default());
    vec![
        text(request.folio),
        text(request.kind.label().to_string()),
        text(request.status.label().to_string()),
        text(request.distributor_name),
        optional(request.distributor_reference),
        optional(request.client_number),
        optional(request.feasibility_number),
        text(row.region_name),
        text(row.comuna_name),
        text(row.applicant_name),
        text(row.applicant_rut),
        text(row.applicant_email),
        yes_no(row.applicant_is_installer),
        optional(row.additional_email),
        optional(row.related_folio),
        yes_no(row.brings_meter),
        text(format_date_time(request.submitted_at)),
        text(
            request
                .answered_at
                .map(format_date_time)
                .unwrap_or_default(),
        ),
        text(
            request
                .due_on
                .map(|d| d.strftime("%d/%m/%Y").to_string())
                .unwrap_or_default(),
        ),
        Cell::Number(days),
        text(on_time.to_string()),
        Cell::Number(row.attachments),
        text(row.last_event_at.map(format_date_time).unwrap_or_default()),
    ]
}

// ---- The page ----

#[derive(Template)]
#[template(path = "sec_export.html")]
struct ExportPage {
    page: Page,
    form: PeriodForm,
    kinds: Vec<Choice>,
    errors: FieldErrors,
    /// (period in words, Excel link, CSV link) once the period is valid.
    links: Option<(String, String, String)>,
}

/// The checked period and kind, or the page again with the messages.
fn read(
    raw: &str,
    now: Timestamp,
) -> (PeriodForm, Option<RequestKind>, Result<Period, FieldErrors>) {
    let (form, period) = read_period(raw, chile_date(now));
    // An unknown kind means every kind, as in the other filters of the portal.
    let kind = RequestKind::from_code(&query_value(raw, "tipo").to_ascii_uppercase());
    (form, kind, period)
}

fn page_response(page: Page, raw: &str, now: Timestamp) -> AppResult<Response> {
    let (form, kind, period) = read(raw, now);
    let selected = kind.map(RequestKind::code).unwrap_or_default();
    let kinds = RequestKind::ALL
        .map(|k| Choice {
            value: k.code().into(),
            label: k.label().into(),
            selected: k.code() == selected,
        })
        .into();
    let (errors, links, status) = match period {
        Ok(period) => {
            let query = export_query(period, kind);
            let words = format!(
                "{} al {}, {}",
                period.from.strftime("%d/%m/%Y"),
                period.to.strftime("%d/%m/%Y"),
                kind.map_or("todos los tipos de solicitud", RequestKind::label)
            );
            let links = (
                words,
                format!("/sec/sabana.xlsx?{query}"),
                format!("/sec/sabana.csv?{query}"),
            );
            (FieldErrors::default(), Some(links), StatusCode::OK)
        }
        Err(errors) => (errors, None, StatusCode::UNPROCESSABLE_ENTITY),
    };
    let body = ExportPage {
        page,
        form,
        kinds,
        errors,
        links,
    }
    .render()?;
    Ok((status, Html(body)).into_response())
}

fn export_query(period: Period, kind: Option<RequestKind>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("desde", &period.from.to_string());
    query.append_pair("hasta", &period.to.to_string());
    if let Some(kind) = kind {
        query.append_pair("tipo", kind.code());
    }
    query.finish()
}

async fn show(
    State(state): State<AppState>,
    RegulatorUser(_user): RegulatorUser,
    page: Page,
    RawQuery(raw): RawQuery,
) -> AppResult<Response> {
    page_response(page, raw.as_deref().unwrap_or_default(), state.now())
}

/// What a download needs: the batches, the calendar and the file name; or, when the period in
/// the link is not valid, the page with its messages.
struct Export {
    batches: SabanaBatches,
    calendar: BusinessCalendar,
    now: Timestamp,
    file_name: String,
}

async fn export(
    state: &AppState,
    page: Page,
    raw: Option<&str>,
    ext: &str,
) -> AppResult<Result<Export, Response>> {
    let (raw, now) = (raw.unwrap_or_default(), state.now());
    let (_, kind, period) = read(raw, now);
    let Ok(Period { from, to }) = period else {
        return Ok(Err(page_response(page, raw, now)?));
    };
    let range = DateRange {
        from: Some(from),
        to: Some(to),
    };
    Ok(Ok(Export {
        batches: sabana::sabana(&state.db, range, kind, BATCH_SIZE, now),
        calendar: BusinessCalendar::new(requests::holidays(state.db.pool()).await?),
        now,
        file_name: format!("sabana-solicitudes-{from}-{to}.{ext}"),
    }))
}

// ---- The files ----

fn rows(batch: Vec<SabanaRow>, calendar: &BusinessCalendar, now: Timestamp) -> Vec<Vec<Cell>> {
    batch
        .into_iter()
        .map(|row| cells(row, calendar, now))
        .collect()
}

/// Reads the batches on a task of their own, up to two ahead of the caller, so that the
/// database reads the next rows while the last ones are decoded and written out: the task only
/// queries, the caller decodes. The task stops when the stream is dropped (the download was
/// cancelled) or after the first error, which it passes on.
fn read_ahead(
    mut batches: SabanaBatches,
) -> impl Stream<Item = Result<Vec<SabanaRow>, sqlx::Error>> + Send + 'static {
    let (sender, receiver) = mpsc::channel(2);
    tokio::spawn(async move {
        while let Some(next) = batches.next_raw().await.transpose() {
            let failed = next.is_err();
            if sender.send(next).await.is_err() || failed {
                break;
            }
        }
    });
    futures::stream::unfold(receiver, |mut receiver| async move {
        let item = receiver.recv().await?;
        Some((item.and_then(RawBatch::decode), receiver))
    })
}

async fn csv(
    State(state): State<AppState>,
    RegulatorUser(_user): RegulatorUser,
    page: Page,
    RawQuery(raw): RawQuery,
) -> AppResult<Response> {
    let mut export = match export(&state, page, raw.as_deref(), "csv").await? {
        Ok(export) => export,
        Err(page) => return Ok(page),
    };
    // The first batch is read before answering, so that an unreachable database gives the
    // usual error page instead of a download cut short.
    let first = export.batches.next().await?.unwrap_or_default();
    let Export {
        batches,
        calendar,
        now,
        file_name,
    } = export;
    let head =
        csv_chunk(Some(&HEADER), rows(first, &calendar, now)).context("writing the Sábana")?;
    let rest = read_ahead(batches)
        .map(move |batch| csv_chunk(None, rows(batch.map_err(io::Error::other)?, &calendar, now)));
    let body = futures::stream::once(async { Ok::<_, io::Error>(head) }).chain(rest);
    Ok(download(Body::from_stream(body), CSV_TYPE, &file_name))
}

async fn xlsx(
    State(state): State<AppState>,
    RegulatorUser(_user): RegulatorUser,
    page: Page,
    RawQuery(raw): RawQuery,
) -> AppResult<Response> {
    let export = match export(&state, page, raw.as_deref(), "xlsx").await? {
        Ok(export) => export,
        Err(page) => return Ok(page),
    };
    let file_name = export.file_name.clone();
    xlsx_download(&state, &HEADER, &file_name, |sender| {
        send_batches(export, sender)
    })
    .await
}

/// Reads every batch and hands it to the writer; stops early if the writer gave up.
async fn send_batches(export: Export, sender: mpsc::Sender<Batch>) -> AppResult<()> {
    let (calendar, now) = (export.calendar, export.now);
    let mut batches = std::pin::pin!(read_ahead(export.batches));
    while let Some(batch) = batches.next().await.transpose()? {
        if sender
            .send(Batch::Rows(rows(batch, &calendar, now)))
            .await
            .is_err()
        {
            return Ok(());
        }
    }
    // An error here means the writer already stopped; its own error is the one reported.
    let _ = sender.send(Batch::Done).await;
    Ok(())
}
