//! "Data – Sábana de Solicitudes" as CSV and Excel: every field, by period and kind.

use axum::http::StatusCode;
use jiff::SignedDuration;
use portal::domain::RegulatorRole;
use portal::store::panel::DateRange;
use portal::store::panel::sabana::{SabanaRow, sabana};
use portal::store::stats::submitted_range;
use sqlx::Row;

use crate::distributor_inbox::{file, set};
use crate::sec_messages::sec_user;
use crate::support::{Browser, RawResponse, TestApp, rut_for};

const XLSX_TYPE: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const MARCH: &str = "desde=2025-03-01&hasta=2025-03-31";
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

fn header() -> Vec<String> {
    HEADER.map(str::to_string).to_vec()
}

fn csv_rows(response: &RawResponse, file_name: &str) -> Vec<Vec<String>> {
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.header("content-type"), "text/csv; charset=utf-8");
    let disposition = format!("attachment; filename=\"{file_name}\"");
    assert_eq!(response.header("content-disposition"), disposition);
    assert_eq!(response.header("cache-control"), "no-store");
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(response.body.as_slice());
    reader
        .records()
        .map(|record| record.unwrap().iter().map(str::to_string).collect())
        .collect()
}

fn xlsx_rows(response: &RawResponse, file_name: &str) -> Vec<Vec<String>> {
    use calamine::Reader;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.header("content-type"), XLSX_TYPE);
    let disposition = format!("attachment; filename=\"{file_name}\"");
    assert_eq!(response.header("content-disposition"), disposition);
    let length = response.body.len().to_string();
    assert_eq!(response.header("content-length"), length);
    let cursor = std::io::Cursor::new(response.body.clone());
    let mut workbook: calamine::Xlsx<_> = calamine::open_workbook_from_rs(cursor).unwrap();
    assert_eq!(workbook.sheet_names(), ["Solicitudes"]);
    let range = workbook.worksheet_range("Solicitudes").unwrap();
    range
        .rows()
        .map(|row| row.iter().map(|cell| cell.to_string()).collect())
        .collect()
}

async fn both(sec: &Browser<'_>, query: &str, name: &str) -> [Vec<Vec<String>>; 2] {
    let csv = sec.get_bytes(&format!("/sec/sabana.csv?{query}")).await;
    let xlsx = sec.get_bytes(&format!("/sec/sabana.xlsx?{query}")).await;
    [
        csv_rows(&csv, &format!("{name}.csv")),
        xlsx_rows(&xlsx, &format!("{name}.xlsx")),
    ]
}

#[tokio::test]
async fn with_no_request_the_files_have_the_header_alone() {
    let app = TestApp::spawn().await;
    let sec = sec_user(&app, 10_000_001, RegulatorRole::Auditor).await;
    let name = "sabana-solicitudes-2025-03-01-2025-03-31";
    for rows in both(&sec, MARCH, name).await {
        assert_eq!(rows, [header()]);
    }
    // Without a period: the last 30 days up to today (4 March 2025).
    let csv = sec.get_bytes("/sec/sabana.csv").await;
    let name = "sabana-solicitudes-2025-02-03-2025-03-04.csv";
    assert_eq!(csv_rows(&csv, name), [header()]);
    let page = sec
        .get("/sec/sabana?desde=2025-03-01&hasta=2025-03-31&tipo=SI")
        .await;
    assert_eq!(page.status, StatusCode::OK);
    page.assert_contains(
        "href=\"/sec/sabana.csv?desde=2025-03-01&#38;hasta=2025-03-31&#38;tipo=SI\"",
    );
    let wrong = sec
        .get_bytes("/sec/sabana.csv?desde=2025-03-31&hasta=2025-03-01")
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.header("content-type").starts_with("text/html"));
}

/// Business days from receipt: EN1 answered on Thursday 6 March (2 days), EN2 still open on
/// Monday 10 March with 6 and 7 March paused (4 − 2), CG3 open (4).
async fn three_requests(app: &TestApp) -> String {
    let applicant = app.applicant(2_000_001).await;
    let (en1, _) = file(&applicant, "si", "EN", "111-1").await;
    let (en2, _) = file(&applicant, "sc", "EN", "factibilidad:F-9").await;
    file(&applicant, "mc", "CG", "333-3").await;
    set(app, &en1, "status", "answered").await;
    set(app, &en1, "distributor_reference", "2025-0042").await;
    set(app, &en1, "additional_email", "otro@example.cl").await;
    set(app, &en2, "related_request_id", &en1).await;
    let pool = app.state.db.pool();
    let at = |instant: &str| instant.parse::<jiff::Timestamp>().unwrap().as_microsecond();
    sqlx::query("UPDATE requests SET answered_at = $1 WHERE id = $2")
        .bind(at("2025-03-06T18:00:00Z"))
        .bind(&en1)
        .execute(pool)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO request_pauses (id, request_id, started_at, ended_at) \
                 VALUES ('p', $1, $2, $3)",
    )
    .bind(&en2)
    .bind(at("2025-03-05T15:00:00Z"))
    .bind(at("2025-03-07T15:00:00Z"))
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("UPDATE users SET is_installer = 1 WHERE profile = 'applicant'")
        .execute(pool)
        .await
        .unwrap();
    let due: String = sqlx::query_scalar("SELECT due_on FROM requests WHERE id = $1")
        .bind(&en2)
        .fetch_one(pool)
        .await
        .unwrap();
    let due: jiff::civil::Date = due.parse().unwrap();
    due.strftime("%d/%m/%Y").to_string()
}

/// The rows of `three_requests`, header first; `|` separates the cells.
fn expected(due_of_sc: &str) -> Vec<Vec<String>> {
    let person = format!(
        "Nombre De Prueba|{}|s2000001@example.cl|Sí",
        rut_for(2_000_001)
    );
    let place = "Metropolitana de Santiago|Santiago";
    let rows = [
        format!(
            "EN1|Solicitud de Información|Respondido|Enel Distribución|2025-0042|111-1||{place}|\
             {person}|otro@example.cl||No|04/03/2025 10:00 AM|06/03/2025 03:00 PM|18/03/2025|2|\
             Sí|1|04/03/2025 10:00 AM"
        ),
        format!(
            "EN2|Solicitud de Conexión|Pendiente de Respuesta|Enel Distribución|||F-9|{place}|\
             {person}||EN1|No|04/03/2025 10:01 AM||{due_of_sc}|2|—|1|04/03/2025 10:01 AM"
        ),
        format!(
            "CG3|Manifestación de Conformidad|Enviado|CGE||333-3||{place}|{person}|||No|\
             04/03/2025 10:02 AM|||4|—|1|04/03/2025 10:02 AM"
        ),
    ];
    let mut all = vec![header()];
    all.extend(
        rows.iter()
            .map(|row| row.split('|').map(str::to_string).collect()),
    );
    all
}

#[tokio::test]
async fn the_sabana_has_every_field_of_every_request_in_the_period() {
    let app = TestApp::spawn().await;
    let due_of_sc = three_requests(&app).await;
    // Monday 10 March, 10:00 in Santiago.
    app.advance(SignedDuration::from_hours(6 * 24) - SignedDuration::from_mins(3));
    let sec = sec_user(&app, 10_000_001, RegulatorRole::Administrator).await;
    let name = "sabana-solicitudes-2025-03-01-2025-03-31";
    let all = expected(&due_of_sc);
    for rows in both(&sec, MARCH, name).await {
        assert_eq!(rows, all);
    }
    let kind = format!("{MARCH}&tipo=MC");
    for rows in both(&sec, &kind, name).await {
        assert_eq!(rows, [all[0].clone(), all[3].clone()]);
    }
    let february = "desde=2025-02-01&hasta=2025-02-28";
    let name = "sabana-solicitudes-2025-02-01-2025-02-28";
    for rows in both(&sec, february, name).await {
        assert_eq!(rows, [header()]);
    }
    let left: Vec<_> = std::fs::read_dir(app.state.settings.data_dir.join("reports-tmp"))
        .unwrap()
        .collect();
    assert_eq!(left.len(), 0, "the workbook is removed once sent");
}

/// Every request of the period once, in (submitted_at, id) order, with its pauses: read in
/// batches of 7 over requests that share their instant (the keyset must step over ties
/// inside one instant and across batch boundaries).
#[tokio::test]
async fn sabana_batches_read_every_request_once_across_ties() {
    let app = TestApp::spawn().await;
    let options = portal::generate::Options {
        requests: 600,
        seed: 7,
        append: false,
    };
    let hidden = indicatif::ProgressBar::hidden();
    portal::generate::generate(&app.state, options, &hidden)
        .await
        .unwrap();
    // Whole 30-day spans: about twenty requests share each instant.
    sqlx::query("UPDATE requests SET submitted_at = submitted_at - submitted_at % 2592000000000")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let now = app.state.now();
    let today = now.to_zoned_datetime(portal::clock::chile()).date();
    let period = DateRange {
        from: Some(today.checked_sub(jiff::Span::new().days(300)).unwrap()),
        to: Some(today),
    };
    let (from, to) = submitted_range(period.from.unwrap(), today);
    let expected: Vec<String> = sqlx::query(
        "SELECT id FROM requests WHERE submitted_at >= $1 AND submitted_at < $2 \
         ORDER BY submitted_at, id",
    )
    .bind(from)
    .bind(to)
    .fetch_all(app.state.db.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect();
    let ties = app
        .count(
            "SELECT COUNT(*) FROM (SELECT submitted_at FROM requests GROUP BY submitted_at \
             HAVING COUNT(*) > 1) t",
        )
        .await;
    assert!(
        expected.len() > 100 && ties > 5,
        "{} rows, {ties} ties",
        expected.len()
    );

    let db = &app.state.db;
    let read = |size| async move {
        let mut batches = sabana(db, period, None, size, now);
        let mut rows = Vec::new();
        while let Some(batch) = batches.next().await.unwrap() {
            assert!(batch.len() as i64 <= size);
            rows.extend(batch);
        }
        rows
    };
    let small = read(7).await;
    let ids: Vec<String> = small.iter().map(|r| r.summary.id.clone()).collect();
    assert_eq!(ids, expected);
    let paused = small.iter().filter(|r| !r.pauses.is_empty()).count();
    assert!(paused > 0, "some requests were paused");
    let large = read(10_000).await;
    let pauses = |rows: &[SabanaRow]| -> Vec<_> { rows.iter().map(|r| r.pauses.clone()).collect() };
    assert_eq!(pauses(&small), pauses(&large));
}
