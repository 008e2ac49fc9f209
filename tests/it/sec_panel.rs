//! The SEC "Panel de Solicitudes" (filters, sort, overdue requests), "Anular" and who may
//! reach them; the "Sábana" export is in `sabana`.

mod annul;
mod sabana;

use axum::http::StatusCode;
use jiff::SignedDuration;
use portal::domain::RegulatorRole;

use crate::distributor_inbox::{file, set};
use crate::sec_messages::sec_user;
use crate::support::{Browser, TestApp, place};

/// The folios of a panel page, in order.
fn folios(html: &str) -> Vec<String> {
    html.split("data-folio=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_string())
        .collect()
}

async fn listed(browser: &Browser<'_>, path: &str) -> Vec<String> {
    let page = browser.get(path).await;
    assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
    folios(&page.body)
}

/// The row of a folio on a panel page.
fn row(html: &str, folio: &str) -> String {
    let start = html.find(&format!("data-folio=\"{folio}\"")).unwrap();
    let end = start + html[start..].find("</tr>").unwrap();
    html[start..end].to_string()
}

/// The "A tiempo" cell of a folio's row.
fn on_time(html: &str, folio: &str) -> String {
    let row = row(html, folio);
    let start = row.find("<td class=\"days-left\">").unwrap() + 22;
    row[start..].split('<').next().unwrap().to_string()
}

async fn company_id(app: &TestApp, prefix: &str) -> String {
    place(app, prefix).await.0
}

/// EN1 (SI, answered on 6 March, N° Solicitud B-2), EN2 (SC with a factibilidad number, N°
/// Solicitud A-1), CG3 (SI to CGE in Valparaíso, sent on 20 February), EN4 (MC), all with
/// client 111-1 but EN2 and CG3.
async fn four_requests(app: &TestApp) -> Vec<String> {
    let applicant = app.applicant(2_000_001).await;
    let (en1, _) = file(&applicant, "si", "EN", "111-1").await;
    let (en2, _) = file(&applicant, "sc", "EN", "factibilidad:F-9").await;
    let (cg3, _) = file(&applicant, "si", "CG", "333-3").await;
    let (en4, _) = file(&applicant, "mc", "EN", "111-1").await;
    set(app, &en1, "status", "answered").await;
    set(app, &en1, "distributor_reference", "B-2").await;
    set(app, &en2, "distributor_reference", "A-1").await;
    set(app, &cg3, "region_code", "05").await;
    set(app, &cg3, "comuna_code", "05101").await;
    let at = |instant: &str| instant.parse::<jiff::Timestamp>().unwrap().as_microsecond();
    let moments = [
        ("answered_at", &en1, at("2025-03-06T18:00:00Z")),
        ("submitted_at", &cg3, at("2025-02-20T15:00:00Z")),
    ];
    for (column, id, value) in moments {
        let sql = format!("UPDATE requests SET {column} = $1 WHERE id = $2");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(value)
            .bind(id)
            .execute(app.state.db.pool())
            .await
            .unwrap();
    }
    vec![en1, en2, cg3, en4]
}

/// (query, the folios listed in order); `{EN}` and `{CG}` stand for the companies' ids.
type Cases = [(&'static str, &'static str)];

const FILTERS: &Cases = &[
    ("", "EN4 EN2 EN1 CG3"),
    ("folio=en", "EN4 EN2 EN1"),
    ("folio=+cg3+", "CG3"),
    ("folio=%25", ""),
    ("cliente=111-1", "EN4 EN1"),
    ("cliente=F-9", "EN2"),
    ("tipo=SI", "EN1 CG3"),
    ("estado=answered", "EN1"),
    ("empresa={CG}", "CG3"),
    ("region=05", "CG3"),
    ("region=13", "EN4 EN2 EN1"),
    ("envio_hasta=2025-02-28", "CG3"),
    ("envio_desde=2025-03-04", "EN4 EN2 EN1"),
    ("envio_desde=21/02/2025&envio_hasta=2025-03-03", ""),
    (
        "respuesta_desde=2025-03-06&respuesta_hasta=06/03/2025",
        "EN1",
    ),
    ("respuesta_desde=2025-03-07", ""),
    ("tipo=SI&empresa={EN}", "EN1"),
    ("folio=EN&cliente=111-1&tipo=MC", "EN4"),
    (
        "region=13&estado=pending_answer&envio_desde=2025-03-01",
        "EN2",
    ),
];

/// Empty N° Solicitud last in both directions; equal values in the order of creation.
const SORTS: &Cases = &[
    ("orden=solicitud&dir=asc", "EN2 EN1 CG3 EN4"),
    ("orden=solicitud&dir=desc", "EN1 EN2 EN4 CG3"),
    ("orden=empresa&dir=asc", "CG3 EN1 EN2 EN4"),
    ("orden=empresa&dir=desc", "EN4 EN2 EN1 CG3"),
    ("orden=folio&dir=asc", "EN1 EN2 CG3 EN4"),
    ("orden=estado&dir=asc", "EN4 EN2 CG3 EN1"),
    ("orden=estado&dir=desc", "EN1 CG3 EN2 EN4"),
];

/// Nothing typed in the URL reaches the SQL: an unknown column or direction falls back to the
/// default, a quote in a filter is a character to look for.
const HOSTILE: &Cases = &[
    (
        "orden=r.id%3B%20DROP%20TABLE%20requests&dir=asc",
        "EN4 EN2 EN1 CG3",
    ),
    ("orden=folio_number&dir=asc", "EN4 EN2 EN1 CG3"),
    ("orden=envio&dir=desc%3B--", "EN4 EN2 EN1 CG3"),
    ("folio=%27%20OR%201%3D1%20--", ""),
    ("empresa=x%27%20OR%20%271%27%3D%271", ""),
    ("cliente=111-1%27--&region=13%27%20OR%20%271", ""),
    (
        "estado=answered%27%20OR%20%271%27%3D%271",
        "EN4 EN2 EN1 CG3",
    ),
];

async fn assert_lists(app: &TestApp, sec: &Browser<'_>, cases: &Cases) {
    let (en, cg) = (company_id(app, "EN").await, company_id(app, "CG").await);
    for (query, expected) in cases {
        let path = format!("/sec?{query}")
            .replace("{EN}", &en)
            .replace("{CG}", &cg);
        let expected: Vec<&str> = expected.split_whitespace().collect();
        assert_eq!(listed(sec, &path).await, expected, "{query}");
    }
}

#[tokio::test]
async fn each_filter_narrows_the_panel_and_they_combine() {
    let app = TestApp::spawn().await;
    let ids = four_requests(&app).await;
    let sec = sec_user(&app, 10_000_001, RegulatorRole::Administrator).await;
    assert_lists(&app, &sec, FILTERS).await;
    let page = sec.get("/sec").await;
    page.assert_contains(&format!("<a href=\"/solicitudes/{}\">EN1</a>", ids[0]));
    let filtered = sec.get("/sec?tipo=SI&envio_hasta=ayer").await;
    filtered.assert_contains("Ingrese una fecha válida, por ejemplo 2025-03-31.");
    assert_eq!(
        folios(&filtered.body),
        ["EN1", "CG3"],
        "the bad date is ignored"
    );
    filtered.assert_contains("<option value=\"SI\" selected>Solicitud de Información</option>");
}

/// A page's HTML with its escaped ampersands undone, to compare links.
fn unescaped(html: &str) -> String {
    html.replace("&#38;", "&").replace("&amp;", "&")
}

#[tokio::test]
async fn the_panel_sorts_by_any_column_both_ways_and_ignores_the_unknown() {
    let app = TestApp::spawn().await;
    four_requests(&app).await;
    let sec = sec_user(&app, 10_000_001, RegulatorRole::Auditor).await;
    assert_lists(&app, &sec, SORTS).await;
    assert_lists(&app, &sec, HOSTILE).await;
    assert_eq!(app.rows("requests").await, 4);
    let page = sec.get("/sec?tipo=SI&orden=empresa&dir=asc").await;
    let html = unescaped(&page.body);
    let heading = concat!(
        "<th scope=\"col\" aria-sort=\"ascending\">",
        "<a href=\"/sec?tipo=SI&orden=empresa&dir=desc\">Empresa Distribuidora ▲</a>"
    );
    assert!(html.contains(heading), "{html}");
    assert!(html.contains("href=\"/sec?tipo=SI&orden=folio&dir=asc\""));
    page.assert_contains("<input type=\"hidden\" name=\"orden\" value=\"empresa\">");
}

#[tokio::test]
async fn overdue_requests_are_marked_and_filtered_as_the_compliance_page_links() {
    let app = TestApp::spawn().await;
    let applicant = app.applicant(2_000_001).await;
    file(&applicant, "si", "EN", "111-1").await;
    file(&applicant, "sc", "EN", "111-1").await;
    file(&applicant, "mc", "EN", "111-1").await;
    let (cg4, _) = file(&applicant, "si", "CG", "111-1").await;
    let (cg5, _) = file(&applicant, "si", "CG", "111-1").await;
    set(&app, &cg4, "status", "answered").await;
    let late: jiff::Timestamp = "2025-03-19T15:00:00Z".parse().unwrap();
    sqlx::query("UPDATE requests SET answered_at = $1 WHERE id = $2")
        .bind(late.as_microsecond())
        .bind(&cg4)
        .execute(app.state.db.pool())
        .await
        .unwrap();
    set(&app, &cg5, "status", "pending_payment").await;
    let sec = sec_user(&app, 10_000_001, RegulatorRole::Administrator).await;
    let today = sec.get("/sec").await.body;
    assert!(row(&today, "EN1").contains("<td>18/03/2025</td>"));
    assert!(row(&today, "EN1").contains("<td class=\"days-left\">Pendiente</td>"));
    // Thursday 20 March: the SI of 4 March (due on the 18th) is overdue; the SC is not yet.
    app.advance(SignedDuration::from_hours(16 * 24));
    let sec = sec_user(&app, 10_000_002, RegulatorRole::Auditor).await;
    let later = sec.get("/sec").await.body;
    let states = ["EN1", "EN2", "EN3", "CG4", "CG5"].map(|folio| on_time(&later, folio));
    assert_eq!(states, ["Vencida", "Pendiente", "—", "No", "Pendiente"]);
    assert!(later.contains("<tr class=\"overdue\" data-folio=\"EN1\">"));
    let overdue: &Cases = &[
        ("vencidas=1", "EN1"),
        ("empresa={EN}&vencidas=1", "EN1"),
        ("empresa={CG}&vencidas=1", ""),
    ];
    assert_lists(&app, &sec, overdue).await;
    let from_compliance = format!("/sec?empresa={}&vencidas=1", company_id(&app, "EN").await);
    let page = sec.get(&from_compliance).await;
    page.assert_contains("name=\"vencidas\" type=\"checkbox\" value=\"1\" checked");
}

#[tokio::test]
async fn paging_keeps_filters_and_sort_and_falls_back_to_the_last_page() {
    let app = TestApp::spawn().await;
    let applicant = app.applicant(2_000_001).await;
    for _ in 0..12 {
        file(&applicant, "si", "EN", "111-1").await;
    }
    let sec = sec_user(&app, 10_000_001, RegulatorRole::Administrator).await;
    let first = sec.get("/sec?tipo=SI&orden=folio&dir=asc").await;
    assert_eq!(folios(&first.body).len(), 10);
    let html = unescaped(&first.body);
    assert!(html.contains("href=\"/sec?tipo=SI&orden=folio&dir=asc&items=10&pagina=2\""));
    let beyond = sec
        .get("/sec?tipo=SI&orden=folio&dir=asc&items=10&pagina=9")
        .await;
    assert_eq!(folios(&beyond.body), ["EN11", "EN12"]);
    beyond.assert_contains("[ 11 - 12 ] de 12 Items");
}

#[tokio::test]
async fn only_sec_reaches_the_panel_the_sabana_and_annul() {
    let app = TestApp::spawn().await;
    let ids = four_requests(&app).await;
    let company = crate::distributor_inbox::company_user(&app, "EN", 1_000_001).await;
    let applicant = app.browser();
    let rut = crate::support::rut_for(2_000_001);
    applicant
        .login("applicant", &rut, crate::support::PASSWORD)
        .await;
    let annul = format!("/solicitudes/{}/anular", ids[0]);
    let paths = [
        "/sec",
        "/sec/sabana",
        "/sec/sabana.csv",
        "/sec/sabana.xlsx",
        &annul,
    ];
    for browser in [&applicant, &company] {
        for path in paths {
            let response = browser.get_bytes(path).await;
            assert_eq!(response.status, StatusCode::NOT_FOUND, "{path}");
            assert!(!response.header("content-type").contains("csv"), "{path}");
        }
        let posted = browser.post(&annul, &[("comment", "No corresponde")]).await;
        assert_eq!(posted.status, StatusCode::NOT_FOUND);
    }
    let anonymous = app.browser();
    let response = anonymous.get("/sec/sabana.csv").await;
    assert!(response.location().starts_with("/ingreso?next="));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM requests WHERE status = 'annulled'")
            .await,
        0
    );
}
