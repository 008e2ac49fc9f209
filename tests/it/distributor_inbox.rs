//! The Distribuidora's "Bandeja de Solicitudes" (filters, paging, deadlines) and its "Reporte"
//! as Excel and CSV: always and only the user's own company.

mod chromium;
mod reports;

use axum::http::StatusCode;
use jiff::SignedDuration;

use crate::support::{Browser, PASSWORD, RequestForm, TestApp, place, request_id, rut_for};
use reports::{csv_rows, header_row, xlsx_rows};

/// A distribuidora user of the company with this folio prefix, logged in.
pub(super) async fn company_user<'a>(app: &'a TestApp, prefix: &str, number: u32) -> Browser<'a> {
    let rut = rut_for(number);
    let email = format!("dx{number}@{}.example", prefix.to_lowercase());
    app.create_user("distribuidora", &rut, &email, Some(prefix))
        .await;
    let browser = app.browser();
    browser
        .login("distributor", &rut, PASSWORD)
        .await
        .assert_redirect("/distribuidora");
    browser
}

/// Files a request of `kind` (`si`, `sc`, `mc`, `nc`) to the company with `prefix`, then moves
/// the clock a minute so that every request has its own time. Returns (id, folio).
pub(super) async fn file(
    applicant: &Browser<'_>,
    kind: &'static str,
    prefix: &str,
    client: &str,
) -> (String, String) {
    let app = applicant.app;
    let (company, _, _) = place(app, prefix).await;
    let form = RequestForm::open(applicant, kind).await;
    let form = form.field("distributor_id", &company);
    let form = match client.strip_prefix("factibilidad:") {
        Some(number) => form
            .field("no_client_number", "1")
            .field("feasibility_number", number),
        None => form.field("client_number", client),
    };
    let response = form.complete().post(applicant).await;
    assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
    let id = request_id(response.location());
    let folio: String = sqlx::query_scalar("SELECT folio FROM requests WHERE id = $1")
        .bind(&id)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    app.advance(SignedDuration::from_mins(1));
    (id, folio)
}

pub(super) async fn set(app: &TestApp, id: &str, column: &str, value: &str) {
    // Columns are this file's constants; the value is bound.
    let sql = format!("UPDATE requests SET {column} = $1 WHERE id = $2");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(value)
        .bind(id)
        .execute(app.state.db.pool())
        .await
        .unwrap();
}

/// The folios listed in a Bandeja page, in order.
fn folios(html: &str) -> Vec<String> {
    html.split("<td><a href=\"/solicitudes/")
        .skip(1)
        .map(|cell| {
            let start = cell.find("\">").unwrap() + 2;
            cell[start..cell.find("</a>").unwrap()].to_string()
        })
        .collect()
}

async fn listed(browser: &Browser<'_>, path: &str) -> Vec<String> {
    let page = browser.get(path).await;
    assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
    folios(&page.body)
}

/// HTML with its escaped ampersands undone, to compare links.
fn unescaped(html: &str) -> String {
    html.replace("&#38;", "&").replace("&amp;", "&")
}

/// A link of a page by its `rel`, with HTML's escaping undone.
fn link(html: &str, rel: &str) -> String {
    let end = html
        .find(&format!("\" rel=\"{rel}\""))
        .unwrap_or_else(|| panic!("no {rel} link"));
    let start = html[..end].rfind("href=\"").unwrap() + "href=\"".len();
    unescaped(&html[start..end])
}

#[tokio::test]
async fn filters_combine_in_the_bandeja() {
    let app = TestApp::spawn().await;
    let company = company_user(&app, "EN", 1_000_001).await;
    let applicant = app.applicant(2_000_001).await;
    let (si_a, _) = file(&applicant, "si", "EN", "111-1").await;
    file(&applicant, "sc", "EN", "factibilidad:F-77").await;
    file(&applicant, "si", "EN", "222-2").await;
    let (mc, _) = file(&applicant, "mc", "EN", "222-2").await;
    set(&app, &si_a, "distributor_reference", "2025-0042").await;
    set(&app, &mc, "status", "answered").await;
    let all = listed(&company, "/distribuidora").await;
    assert_eq!(all, ["EN4", "EN3", "EN2", "EN1"], "newest first");
    let by = |query: &'static str| listed(&company, query);
    assert_eq!(by("/distribuidora?tipo=SI").await, ["EN3", "EN1"]);
    assert_eq!(by("/distribuidora?cliente=222-2&tipo=SI").await, ["EN3"]);
    assert_eq!(by("/distribuidora?cliente=222-2").await, ["EN4", "EN3"]);
    assert_eq!(
        by("/distribuidora?cliente=F-77").await,
        ["EN2"],
        "factibilidad"
    );
    assert_eq!(by("/distribuidora?estado=answered").await, ["EN4"]);
    assert_eq!(by("/distribuidora?solicitud=2025-0042").await, ["EN1"]);
    assert_eq!(by("/distribuidora?folio=en").await.len(), 4, "any case");
    assert_eq!(by("/distribuidora?folio=+EN2+").await, ["EN2"]);
    let none = "/distribuidora?solicitud=2025-0042&tipo=SC";
    assert_eq!(by(none).await, Vec::<String>::new());
    let page = company
        .get("/distribuidora?tipo=SC&estado=pending_answer")
        .await;
    page.assert_contains("<option value=\"SC\" selected>Solicitud de Conexión</option>");
    page.assert_contains("selected>Pendiente de Respuesta</option>");
    page.assert_contains("[ 1 - 1 ] de 1 Items");
    let report = "href=\"/distribuidora/reporte?tipo=SC&estado=pending_answer\"";
    assert!(unescaped(&page.body).contains(report));
    // Unknown kinds and statuses are ignored rather than refused.
    assert_eq!(by("/distribuidora?tipo=XX&estado=nope").await.len(), 4);
}

#[tokio::test]
async fn sql_and_wildcards_in_filters_are_harmless() {
    let app = TestApp::spawn().await;
    let company = company_user(&app, "EN", 1_000_001).await;
    let applicant = app.applicant(2_000_001).await;
    file(&applicant, "si", "EN", "111-1").await;
    file(&applicant, "si", "EN", "100%").await;
    for query in [
        "folio=%27%20OR%201%3D1%20--",
        "folio=%25",
        "folio=_N",
        "folio=EN%25",
        "cliente=%27%20OR%20%271%27%3D%271",
        "cliente=%25",
        "solicitud=%27)%3B%20DROP%20TABLE%20requests%3B%20--",
    ] {
        let page = company.get(&format!("/distribuidora?{query}")).await;
        assert_eq!(page.status, StatusCode::OK, "{query}");
        assert_eq!(folios(&page.body), Vec::<String>::new(), "{query}");
        page.assert_contains("[ 0 - 0 ] de 0 Items");
        let csv = company
            .get_bytes(&format!("/distribuidora/reporte.csv?{query}"))
            .await;
        assert_eq!(csv_rows(&csv), [header_row()], "{query}");
    }
    // A literal percent sign is a character like any other.
    let exact = listed(&company, "/distribuidora?cliente=100%25").await;
    assert_eq!(exact, ["EN2"]);
    assert_eq!(app.rows("requests").await, 2);
}

#[tokio::test]
async fn paging_keeps_the_filters() {
    let app = TestApp::spawn().await;
    let company = company_user(&app, "EN", 1_000_001).await;
    let applicant = app.applicant(2_000_001).await;
    for _ in 0..12 {
        file(&applicant, "si", "EN", "111-1").await;
    }
    file(&applicant, "sc", "EN", "111-1").await;
    let first = company.get("/distribuidora?tipo=SI&items=10").await;
    first.assert_contains("[ 1 - 10 ] de 12 Items");
    assert_eq!(
        folios(&first.body).first().map(String::as_str),
        Some("EN12")
    );
    let next = link(&first.body, "next");
    assert_eq!(next, "/distribuidora?tipo=SI&items=10&pagina=2");
    let second = company.get(&next).await;
    second.assert_contains("[ 11 - 12 ] de 12 Items");
    assert_eq!(folios(&second.body), ["EN2", "EN1"]);
    second.assert_contains("<option value=\"SI\" selected>");
    // A page past the end (an old bookmark) shows the last one, filters kept.
    let beyond = company
        .get("/distribuidora?tipo=SI&items=10&pagina=9")
        .await;
    beyond.assert_contains("[ 11 - 12 ] de 12 Items");
    assert_eq!(
        link(&second.body, "prev"),
        "/distribuidora?tipo=SI&items=10&pagina=1"
    );
    // The first characters of a folio: EN1 and EN10 to EN13.
    let prefix = company.get("/distribuidora?folio=EN1&items=25").await;
    assert_eq!(
        folios(&prefix.body),
        ["EN13", "EN12", "EN11", "EN10", "EN1"]
    );
    prefix.assert_contains("<option value=\"25\" selected>");
}

#[tokio::test]
async fn a_company_never_sees_another_companys_requests() {
    let app = TestApp::spawn().await;
    let enel = company_user(&app, "EN", 1_000_001).await;
    let colina = company_user(&app, "CO", 1_000_002).await;
    let applicant = app.applicant(2_000_001).await;
    let (en_id, _) = file(&applicant, "si", "EN", "111-1").await;
    let (co_id, co) = file(&applicant, "si", "CO", "111-1").await;
    file(&applicant, "sc", "EN", "111-1").await;
    let (colina_id, _, _) = place(&app, "CO").await;
    assert_eq!(listed(&enel, "/distribuidora").await, ["EN3", "EN1"]);
    assert_eq!(listed(&colina, "/distribuidora").await, [co.as_str()]);
    // The company is never read from the query, whatever it is called.
    let crafted = format!("distributor_id={colina_id}&empresa={colina_id}&folio=CO");
    let path = format!("/distribuidora?{crafted}");
    assert_eq!(listed(&enel, &path).await, Vec::<String>::new());
    let xlsx = xlsx_rows(&enel.get_bytes("/distribuidora/reporte.xlsx").await);
    let csv = csv_rows(&enel.get_bytes("/distribuidora/reporte.csv").await);
    for rows in [&xlsx, &csv] {
        let listed: Vec<&str> = rows[1..].iter().map(|r| r[0].as_str()).collect();
        assert_eq!(listed, ["EN3", "EN1"]);
        assert!(rows[1..].iter().all(|r| r[4] == "Enel Distribución"));
    }
    let crafted_csv = enel
        .get_bytes(&format!("/distribuidora/reporte.csv?{crafted}"))
        .await;
    assert_eq!(csv_rows(&crafted_csv), [header_row()]);
    let colina_xlsx = xlsx_rows(&colina.get_bytes("/distribuidora/reporte.xlsx").await);
    assert_eq!(colina_xlsx.len(), 2);
    assert_eq!(colina_xlsx[1][0], co);
    assert_eq!(colina_xlsx[1][4], "Enel Colina");
    let other = enel.get(&format!("/solicitudes/{co_id}")).await;
    assert_eq!(other.status, StatusCode::NOT_FOUND);
    let own = enel.get(&format!("/solicitudes/{en_id}")).await;
    assert_eq!(own.status, StatusCode::OK);
}

#[tokio::test]
async fn only_distribuidora_users_reach_the_bandeja_and_reports() {
    let app = TestApp::spawn().await;
    let applicant = app.applicant(2_000_001).await;
    file(&applicant, "si", "EN", "111-1").await;
    app.create_user("sec", "10000013-K", "sec@sec.example", None)
        .await;
    let regulator = app.browser();
    regulator
        .login("regulator", "10000013-K", PASSWORD)
        .await
        .assert_redirect("/sec");
    let anonymous = app.browser();
    for path in [
        "/distribuidora",
        "/distribuidora/reporte",
        "/distribuidora/reporte.xlsx",
        "/distribuidora/reporte.csv?tipo=SI",
    ] {
        for browser in [&applicant, &regulator] {
            let response = browser.get_bytes(path).await;
            assert_eq!(response.status, StatusCode::NOT_FOUND, "{path}");
            assert!(!response.header("content-type").contains("csv"), "{path}");
        }
        let response = anonymous.get(path).await;
        assert_eq!(response.status, StatusCode::SEE_OTHER, "{path}");
        assert!(response.location().starts_with("/ingreso?next="), "{path}");
    }
}

#[tokio::test]
async fn the_bandeja_counts_business_days_to_the_deadline() {
    let app = TestApp::spawn().await;
    let company = company_user(&app, "EN", 1_000_001).await;
    let applicant = app.applicant(2_000_001).await;
    // Tuesday 4 March 2025: an SI is due ten business days later, on Tuesday 18 March.
    let (si, _) = file(&applicant, "si", "EN", "111-1").await;
    file(&applicant, "mc", "EN", "111-1").await;
    let row = |html: &str, folio: &str| {
        let start = html.find(&format!(">{folio}</a>")).unwrap();
        let end = start + html[start..].find("</tr>").unwrap();
        html[start..end].to_string()
    };
    let today = company.get("/distribuidora").await.body;
    assert!(row(&today, "EN1").contains("<td>18/03/2025</td>"));
    assert!(row(&today, "EN1").contains("<td class=\"days-left\">10</td>"));
    assert!(row(&today, "EN2").contains("<td>—</td>\n        <td class=\"days-left\">—</td>"));
    // Thursday 20 March: two business days late (a new login: the first session has expired).
    app.advance(SignedDuration::from_hours(16 * 24));
    let company = company_user(&app, "EN", 1_000_002).await;
    let late = company.get("/distribuidora").await.body;
    assert!(row(&late, "EN1").contains("Vencida hace 2 días"), "{late}");
    set(&app, &si, "status", "pending_payment").await;
    let paused = company.get("/distribuidora").await.body;
    assert!(row(&paused, "EN1").contains("En pausa"));
}
