//! "Reporte": the Bandeja's requests (with the same filters) as an Excel workbook or a CSV
//! file. Rows are read in batches so that memory stays flat however many requests there are:
//! the CSV is streamed as it is read, the workbook is written row by row on a blocking thread
//! into a file of the data directory, then sent and removed.

use std::io;

use anyhow::Context;
use askama::Template;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::response::{Html, IntoResponse, Response};
use futures::StreamExt;
use tokio::sync::mpsc;

use super::{FilterForm, with_filters};
use crate::clock::format_date;
use crate::store::filters::{self, Batches, Filters};
use crate::store::requests::RequestSummary;
use crate::web::AppState;
use crate::web::error::AppResult;
use crate::web::page::{DistributorUser, Page};
use crate::web::requests::viewer_of;
use crate::web::tabular::{Batch, CSV_TYPE, Cell, csv_chunk, download, xlsx_download};

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
const BATCH_SIZE: i64 = 1_000;

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

fn row(request: &RequestSummary) -> Vec<Cell> {
    cells(request).into_iter().map(Cell::Text).collect()
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
    let head = csv_chunk(Some(&HEADER), first.iter().map(row).collect())
        .context("writing the CSV report")?;
    let rest = futures::stream::try_unfold(batches, |mut batches| async move {
        match batches.next().await.map_err(io::Error::other)? {
            Some(batch) => Ok(Some((
                csv_chunk(None, batch.iter().map(row).collect())?,
                batches,
            ))),
            None => Ok(None),
        }
    });
    let body = futures::stream::once(async { Ok::<_, io::Error>(head) }).chain(rest);
    Ok(download(
        Body::from_stream(body),
        CSV_TYPE,
        "reporte-solicitudes.csv",
    ))
}

pub async fn xlsx(
    State(state): State<AppState>,
    DistributorUser(user): DistributorUser,
    RawQuery(raw): RawQuery,
) -> AppResult<Response> {
    let batches = reader(&state, &user, raw.as_deref());
    let feed = |sender| send_batches(batches, sender);
    xlsx_download(&state, &HEADER, "reporte-solicitudes.xlsx", feed).await
}

/// Reads every batch and hands it to the writer; stops early if the writer gave up.
async fn send_batches(mut batches: Batches, sender: mpsc::Sender<Batch>) -> AppResult<()> {
    while let Some(batch) = batches.next().await? {
        if sender
            .send(Batch::Rows(batch.iter().map(row).collect()))
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
