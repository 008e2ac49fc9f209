//! The "Reporte" as Excel and CSV, and the batched reader behind both.

use axum::http::StatusCode;

use super::{company_user, file, set};
use crate::support::{Browser, RawResponse, TestApp, place};

const XLSX_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
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

pub(super) fn xlsx_rows(response: &RawResponse) -> Vec<Vec<String>> {
    use calamine::Reader;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.header("content-type"), XLSX_TYPE);
    assert_eq!(
        response.header("content-disposition"),
        "attachment; filename=\"reporte-solicitudes.xlsx\""
    );
    assert_eq!(response.header("cache-control"), "no-store");
    let cursor = std::io::Cursor::new(response.body.clone());
    let mut workbook: calamine::Xlsx<_> = calamine::open_workbook_from_rs(cursor).unwrap();
    assert_eq!(workbook.sheet_names(), ["Solicitudes"]);
    let range = workbook.worksheet_range("Solicitudes").unwrap();
    range
        .rows()
        .map(|row| row.iter().map(|cell| cell.to_string()).collect())
        .collect()
}

pub(super) fn csv_rows(response: &RawResponse) -> Vec<Vec<String>> {
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.header("content-type"), "text/csv; charset=utf-8");
    assert_eq!(
        response.header("content-disposition"),
        "attachment; filename=\"reporte-solicitudes.csv\""
    );
    assert_eq!(response.header("cache-control"), "no-store");
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(response.body.as_slice());
    reader
        .records()
        .map(|record| record.unwrap().iter().map(str::to_string).collect())
        .collect()
}

pub(super) fn header_row() -> Vec<String> {
    HEADER.map(str::to_string).to_vec()
}

/// Three requests to Enel: an SI answered on a later day with the company's N° Solicitud, an
/// SC with a factibilidad number, and a CO request that must not appear.
async fn three_requests(app: &TestApp) -> Browser<'_> {
    let applicant = app.applicant(2_000_001).await;
    let (si, _) = file(&applicant, "si", "EN", "111-1").await;
    file(&applicant, "si", "CO", "333-3").await;
    file(&applicant, "sc", "EN", "factibilidad:=HYPERLINK(\"x\")").await;
    set(app, &si, "distributor_reference", "2025-0042").await;
    set(app, &si, "status", "answered").await;
    // Thursday 6 March 2025, 15:00 in Santiago.
    let answered: jiff::Timestamp = "2025-03-06T18:00:00Z".parse().unwrap();
    sqlx::query("UPDATE requests SET answered_at = $1 WHERE id = $2")
        .bind(answered.as_microsecond())
        .bind(&si)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    applicant
}

fn expected_rows(client_of_sc: &str) -> Vec<Vec<String>> {
    let rows = [
        [
            "EN3",
            client_of_sc,
            "",
            "Solicitud de Conexión",
            "Enel Distribución",
            "Pendiente de Respuesta",
            "04/03/2025",
            "",
        ],
        [
            "EN1",
            "111-1",
            "2025-0042",
            "Solicitud de Información",
            "Enel Distribución",
            "Respondido",
            "04/03/2025",
            "06/03/2025",
        ],
    ];
    let mut all = vec![header_row()];
    all.extend(rows.map(|row| row.map(str::to_string).to_vec()));
    all
}

#[tokio::test]
async fn the_excel_report_has_the_header_and_the_rows() {
    let app = TestApp::spawn().await;
    let company = company_user(&app, "EN", 1_000_001).await;
    three_requests(&app).await;
    let response = company.get_bytes("/distribuidora/reporte.xlsx").await;
    assert_eq!(
        response.header("content-length"),
        response.body.len().to_string()
    );
    // A cell is text, never a formula, whatever the applicant typed.
    assert_eq!(xlsx_rows(&response), expected_rows("=HYPERLINK(\"x\")"));
    let filtered = company
        .get_bytes("/distribuidora/reporte.xlsx?tipo=SI&solicitud=2025-0042")
        .await;
    let rows = xlsx_rows(&filtered);
    assert_eq!(
        rows,
        [expected_rows("")[0].clone(), expected_rows("")[2].clone()]
    );
    let left: Vec<_> = std::fs::read_dir(app.state.settings.data_dir.join("reports-tmp"))
        .unwrap()
        .collect();
    assert_eq!(left.len(), 0, "the report file is removed once sent");
}

#[tokio::test]
async fn the_csv_report_has_the_header_and_the_rows() {
    let app = TestApp::spawn().await;
    let company = company_user(&app, "EN", 1_000_001).await;
    three_requests(&app).await;
    let response = company.get_bytes("/distribuidora/reporte.csv").await;
    // Opened in a spreadsheet, a leading "=" would make a formula: it is neutralised.
    assert_eq!(csv_rows(&response), expected_rows("'=HYPERLINK(\"x\")"));
    let filtered = company
        .get_bytes("/distribuidora/reporte.csv?estado=answered")
        .await;
    assert_eq!(
        csv_rows(&filtered),
        [expected_rows("")[0].clone(), expected_rows("")[2].clone()]
    );
}

#[tokio::test]
async fn empty_reports_have_only_the_header() {
    let app = TestApp::spawn().await;
    let company = company_user(&app, "EN", 1_000_001).await;
    let xlsx = company.get_bytes("/distribuidora/reporte.xlsx").await;
    assert_eq!(xlsx_rows(&xlsx), [header_row()]);
    let csv = company.get_bytes("/distribuidora/reporte.csv").await;
    assert_eq!(csv_rows(&csv), [header_row()]);
    let page = company.get("/distribuidora/reporte?folio=EN9").await;
    page.assert_contains("href=\"/distribuidora/reporte.xlsx?folio=EN9\"");
    page.assert_contains("href=\"/distribuidora/reporte.csv?folio=EN9\"");
    page.assert_contains("<dt>N° Folio</dt><dd>EN9</dd>");
    let inbox = company.get("/distribuidora").await;
    inbox.assert_contains("Su empresa aún no ha recibido solicitudes.");
}

#[tokio::test]
async fn the_report_reader_continues_after_the_last_row_of_each_batch() {
    use portal::store::filters::{Filters, batches, list_filtered};
    let app = TestApp::spawn().await;
    let applicant = app.applicant(2_000_001).await;
    for _ in 0..5 {
        file(&applicant, "si", "EN", "111-1").await;
    }
    file(&applicant, "si", "CO", "111-1").await;
    // Three requests at the very same instant, so that a batch ends inside the tie.
    sqlx::query(
        "UPDATE requests SET submitted_at = (SELECT MIN(submitted_at) FROM requests) \
         WHERE folio IN ('EN2', 'EN3')",
    )
    .execute(app.state.db.pool())
    .await
    .unwrap();
    let (company, _, _) = place(&app, "EN").await;
    let viewer = portal::store::requests::Viewer::Distributor {
        distributor_id: company,
    };
    let (db, filters) = (&app.state.db, Filters::default());
    let (page, total) = list_filtered(db, &viewer, &filters, 100, 0).await.unwrap();
    assert_eq!(total, 5);
    let mut reader = batches(db, &viewer, &filters, 2);
    let (mut sizes, mut read) = (Vec::new(), Vec::new());
    while let Some(batch) = reader.next().await.unwrap() {
        sizes.push(batch.len());
        read.extend(batch.into_iter().map(|request| request.folio));
    }
    assert_eq!(sizes, [2, 2, 1]);
    let listed: Vec<String> = page.into_iter().map(|request| request.folio).collect();
    assert_eq!(
        read, listed,
        "the same rows in the same order as the Bandeja"
    );
    assert_eq!(&read[..2], ["EN5", "EN4"]);
}
