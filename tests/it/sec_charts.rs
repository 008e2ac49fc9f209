//! The SEC console's "Gráficos" and "Cumplimiento de plazos" pages, against numbers worked out
//! by hand from the business-day rules (DOMAIN.md, "Deadlines").

use std::collections::HashMap;

use axum::http::StatusCode;
use jiff::Timestamp;

use crate::support::{
    Browser, PASSWORD, RequestForm, TestApp, field_error, hidden_value, pdf, place, request_id,
    rut_for,
};

const APPLICANT: u32 = 13_470_539;
const SEC: u32 = 10_000_013;
/// Company users by folio prefix.
const COMPANIES: [(&str, u32); 2] = [("EN", 12_345_678), ("CO", 11_111_111)];

async fn users(app: &TestApp) {
    let accounts = [
        ("solicitante", APPLICANT, "ana@example.cl", None),
        ("sec", SEC, "auditor@sec.example", None),
        ("distribuidora", COMPANIES[0].1, "dx@en.example", Some("EN")),
        ("distribuidora", COMPANIES[1].1, "dx@co.example", Some("CO")),
    ];
    for (profile, number, email, company) in accounts {
        let rut = rut_for(number);
        app.create_user(profile, &rut, email, company).await;
    }
}

/// A fresh login: sessions end after 30 idle minutes, and the tests jump days at a time.
async fn login<'a>(app: &'a TestApp, profile: &str, number: u32) -> Browser<'a> {
    let browser = app.browser();
    let response = browser.login(profile, &rut_for(number), PASSWORD).await;
    assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
    browser
}

async fn company<'a>(app: &'a TestApp, prefix: &str) -> Browser<'a> {
    let number = COMPANIES.iter().find(|(p, _)| *p == prefix).unwrap().1;
    login(app, "distributor", number).await
}

fn set_clock(app: &TestApp, instant: &str) {
    app.clock.set(instant.parse::<Timestamp>().unwrap());
}

/// Files a request of `kind` ("si", "mc", "nc") with the company of `prefix`; returns its id.
async fn submit(app: &TestApp, kind: &'static str, prefix: &str) -> String {
    let applicant = login(app, "applicant", APPLICANT).await;
    let (distributor, _, _) = place(app, prefix).await;
    let form = RequestForm::open(&applicant, kind).await.complete();
    let response = form
        .field("distributor_id", &distributor)
        .post(&applicant)
        .await;
    assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
    request_id(response.location())
}

async fn answer(app: &TestApp, prefix: &str, id: &str) {
    let company = company(app, prefix).await;
    let path = format!("/solicitudes/{id}/responder");
    let token = hidden_value(&company.get(&path).await.body, "token");
    let fields = [("token", token.as_str()), ("comment", "")];
    let response = company
        .post_multipart(&path, &fields, &[("file", "r.pdf", &pdf())])
        .await;
    response.assert_redirect(&format!("/solicitudes/{id}"));
}

async fn request_payment(app: &TestApp, prefix: &str, id: &str) {
    let company = company(app, prefix).await;
    let path = format!("/solicitudes/{id}/pago");
    let token = hidden_value(&company.get(&path).await.body, "token");
    let fields = [
        ("token", token.as_str()),
        ("amount", "25.000"),
        ("concept", "Estudio de conexión"),
        ("methods", "voucher"),
    ];
    let response = company.post_multipart(&path, &fields, &[]).await;
    response.assert_redirect(&format!("/solicitudes/{id}"));
}

/// The applicant sends the proof and the company validates it.
async fn pay_and_validate(app: &TestApp, prefix: &str, id: &str) {
    let applicant = login(app, "applicant", APPLICANT).await;
    let path = format!("/solicitudes/{id}/pagar");
    let files: [(&str, &str, &[u8]); 1] = [("file", "voucher.pdf", &pdf())];
    let response = applicant
        .post_multipart(&path, &[("method", "voucher")], &files)
        .await;
    response.assert_redirect(&format!("/solicitudes/{id}"));
    let validate = format!("/solicitudes/{id}/pago/validar");
    let response = company(app, prefix).await.post(&validate, &[]).await;
    response.assert_redirect(&format!("/solicitudes/{id}"));
}

/// What happens at an instant of a fixture. Requests are named by a letter.
#[derive(Clone, Copy)]
enum Step {
    /// The applicant files a request: kind ("si", "mc", "nc"), company prefix, name.
    File(&'static str, &'static str, &'static str),
    /// The request's company answers it.
    Answer(&'static str),
    /// The request's company asks for a payment, which is its first response.
    AskPayment(&'static str),
    /// The applicant sends the proof of payment and the company validates it.
    Pay(&'static str),
}

use Step::{Answer, AskPayment, File, Pay};

/// Plays the steps in order, each at its instant (UTC); returns the requests' ids by name.
async fn play(app: &TestApp, steps: &[(&str, Step)]) -> HashMap<&'static str, String> {
    let (mut ids, mut companies) = (HashMap::new(), HashMap::new());
    for (instant, step) in steps {
        set_clock(app, instant);
        match *step {
            File(kind, prefix, name) => {
                ids.insert(name, submit(app, kind, prefix).await);
                companies.insert(name, prefix);
            }
            Answer(name) => answer(app, companies[name], &ids[name]).await,
            AskPayment(name) => request_payment(app, companies[name], &ids[name]).await,
            Pay(name) => pay_and_validate(app, companies[name], &ids[name]).await,
        }
    }
    ids
}

/// The text of each cell of a row, joined with " | " (an empty cell at either end leaves a
/// bare "|"): tags removed, spaces collapsed.
fn cells(row: &str) -> String {
    let marked = row.replace("</td>", "\u{1}").replace("</th>", "\u{1}");
    // Each piece after a '<' is a tag up to its '>', then text.
    let text = |piece: &'_ str| {
        piece
            .split_once('>')
            .map_or(piece, |(_, text)| text)
            .to_string()
    };
    let plain: String = marked.split('<').map(text).collect();
    let words = |cell: &str| cell.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut cells: Vec<String> = plain.split('\u{1}').map(words).collect();
    cells.pop(); // what follows the last cell
    cells.join(" | ").trim().to_string()
}

/// The rows (header, body and footer) of the first table after `marker`.
fn table_after(html: &str, marker: &str) -> Vec<String> {
    let start = html.find(marker).expect(marker);
    let end = start + html[start..].find("</table>").unwrap();
    html[start..end].split("<tr").skip(1).map(cells).collect()
}

fn company_row(html: &str, id: &str) -> String {
    let marker = format!("<tr data-company=\"{id}\">");
    let start = html.find(&marker).expect(&marker);
    let end = start + html[start..].find("</tr>").unwrap();
    cells(&html[start..end])
}

const EMPTY: &str = "No hay solicitudes en el período";

#[tokio::test]
async fn the_charts_show_zeros_when_nothing_was_filed_and_only_to_sec() {
    let app = TestApp::spawn().await;
    users(&app).await;
    for path in ["/sec/graficos", "/sec/cumplimiento"] {
        let anonymous = app.browser().get(path).await;
        anonymous.assert_redirect(&format!("/ingreso?next={}", path.replace('/', "%2F")));
        for (profile, number) in [("applicant", APPLICANT), ("distributor", COMPANIES[0].1)] {
            let refused = login(&app, profile, number).await.get(path).await;
            assert_eq!(refused.status, StatusCode::NOT_FOUND, "{profile} {path}");
        }
    }
    let sec = login(&app, "regulator", SEC).await;
    let page = sec.get("/sec/graficos").await;
    assert_eq!(page.status, StatusCode::OK);
    page.assert_contains(EMPTY);
    assert!(!page.body.contains("<svg"), "nothing to draw");
    // The last 30 days up to Tuesday 4 March 2025, every one of them at zero.
    let days = table_after(&page.body, "<caption id=\"tabla-dia\">");
    assert_eq!(days.len(), 32, "header, 30 days, total");
    assert_eq!(days[1], "03/02/2025 | 0");
    assert_eq!(days[30], "04/03/2025 | 0");
    assert_eq!(days[31], "Total | 0");
    let statuses = table_after(&page.body, "<caption>Solicitudes por estado");
    assert_eq!(statuses.len(), 11, "header, nine statuses, total");
    assert_eq!(statuses[1], "Enviado | 0 | —");
    assert_eq!(statuses[9], "Anulado | 0 | —");
    let compliance = sec.get("/sec/cumplimiento").await;
    assert_eq!(compliance.status, StatusCode::OK);
    compliance.assert_contains(EMPTY);
}

/// Tuesday 4 March 2025 and the two days after (Santiago on UTC-3).
const MARCH: [(&str, Step); 6] = [
    // 10:00 on the 4th in Santiago: three requests.
    ("2025-03-04T13:00:00Z", File("si", "EN", "A")),
    ("2025-03-04T13:00:00Z", File("si", "EN", "B")),
    ("2025-03-04T13:00:00Z", File("mc", "EN", "C")),
    // 02:30 UTC on the 5th is still 23:30 on the 4th in Santiago.
    ("2025-03-05T02:30:00Z", File("si", "EN", "D")),
    // Nothing on the 5th; an NC on Thursday 6th, and A answered.
    ("2025-03-06T13:00:00Z", File("nc", "EN", "E")),
    ("2025-03-06T13:00:00Z", Answer("A")),
];

#[tokio::test]
async fn requests_are_counted_by_chile_day_and_by_status() {
    let app = TestApp::spawn().await;
    users(&app).await;
    play(&app, &MARCH).await;
    let sec = login(&app, "regulator", SEC).await;
    let page = sec.get("/sec/graficos").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains(EMPTY));
    page.assert_contains("<svg role=\"img\" aria-labelledby=\"grafico-dia\"");
    page.assert_contains("Pendiente de Respuesta (3)");
    let days = table_after(&page.body, "<caption id=\"tabla-dia\">");
    assert_eq!(days.len(), 32);
    assert_eq!(days[1], "05/02/2025 | 0");
    let last = "04/03/2025 | 4, 05/03/2025 | 0, 06/03/2025 | 1, Total | 5";
    assert_eq!(days[28..].join(", "), last);
    let statuses = table_after(&page.body, "<caption>Solicitudes por estado");
    let expected = [
        "Estado | Solicitudes | %",
        "Enviado | 1 | 20 %",
        "Pendiente de Respuesta | 3 | 60 %",
        "Pendiente de Pago | 0 | 0 %",
        "Pendiente de Validación | 0 | 0 %",
        "Pago Rechazado | 0 | 0 %",
        "Pendiente de Respuesta Pago Validado | 0 | 0 %",
        "Respondido | 1 | 20 %",
        "Respondido Automático | 0 | 0 %",
        "Anulado | 0 | 0 %",
        "Total | 5 |",
    ];
    assert_eq!(statuses, expected);
    // A period of its own, in the URL.
    let path = "/sec/graficos?desde=2025-03-05&hasta=2025-03-06";
    let narrow = sec.get(path).await;
    let days = table_after(&narrow.body, "<caption id=\"tabla-dia\">");
    assert_eq!(days[1..], ["05/03/2025 | 0", "06/03/2025 | 1", "Total | 1"]);
    narrow.assert_contains("value=\"2025-03-05\"");
}

#[tokio::test]
async fn a_reversed_or_too_long_period_is_refused_beside_its_fields() {
    let app = TestApp::spawn().await;
    users(&app).await;
    let sec = login(&app, "regulator", SEC).await;
    let reversed = "«Hasta» debe ser igual o posterior a «Desde».";
    let too_long = "El período puede abarcar como máximo 366 días.";
    let unreadable = "Ingrese una fecha válida, por ejemplo 2025-03-31.";
    let cases = [
        ("desde=2025-03-04&hasta=2025-03-03", "hasta", reversed),
        ("desde=2024-03-01&hasta=2025-03-04", "hasta", too_long),
        ("desde=ayer&hasta=2025-03-04", "desde", unreadable),
    ];
    for path in ["/sec/graficos", "/sec/cumplimiento"] {
        for (query, field, message) in cases {
            let page = sec.get(&format!("{path}?{query}")).await;
            assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
            let shown = field_error(&page.body, field).unwrap_or_else(|| panic!("{query}"));
            assert_eq!(shown, message);
            let figures = page.body.contains("<table");
            assert!(!figures, "no figures for {path}?{query}");
        }
    }
}

/// Publishes a standard answer of company `prefix` for NC, so that NCs are answered on receipt.
async fn publish_standard_nc(app: &TestApp, prefix: &str) {
    use object_store::ObjectStoreExt;
    let (distributor, _, _) = place(app, prefix).await;
    let key = format!("standard-answers/{distributor}/NC/std");
    let path = object_store::path::Path::parse(&key).unwrap();
    let bytes = b"%PDF-1.4 estandar".to_vec();
    app.state.storage.put(&path, bytes.into()).await.unwrap();
    sqlx::query(
        "INSERT INTO standard_answers (distributor_id, kind, storage_key, file_name, file_kind, \
         size_bytes, sha256, updated_at) VALUES ($1, 'NC', $2, 'estandar.pdf', 'PDF', 17, 'x', 0)",
    )
    .bind(&distributor)
    .bind(&key)
    .execute(app.state.db.pool())
    .await
    .unwrap();
}

async fn due_on(app: &TestApp, id: &str) -> String {
    sqlx::query_scalar("SELECT due_on FROM requests WHERE id = $1")
        .bind(id)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap()
}

/// April 2025 (Santiago on UTC-4: 10:00 there is 14:00 UTC), over Viernes Santo (18 April),
/// 1 May and a payment that stopped the clock for a week. SI has 10 business days, NC 20.
const APRIL: [(&str, Step); 13] = [
    // Thursday 17: A and B (SI, due Monday 5 May) and E (MC, no deadline) at Enel Distribución.
    ("2025-04-17T14:00:00Z", File("si", "EN", "A")),
    ("2025-04-17T14:00:00Z", File("si", "EN", "B")),
    ("2025-04-17T14:00:00Z", File("mc", "EN", "E")),
    // Monday 21: B answered with a payment request (1 business day: the 21st).
    ("2025-04-21T14:00:00Z", AskPayment("B")),
    // Tuesday 22: C (SI, due 7 May) is never answered. At Enel Colina, F (SI) and G (NC,
    // answered on receipt: 0 days). A answered (21 and 22: 2 days).
    ("2025-04-22T14:00:00Z", File("si", "EN", "C")),
    ("2025-04-22T14:00:00Z", File("si", "CO", "F")),
    ("2025-04-22T14:00:00Z", File("nc", "CO", "G")),
    ("2025-04-22T15:00:00Z", Answer("A")),
    // Wednesday 23: D (SI, due Thursday 8 May); F answered (1 day).
    ("2025-04-23T14:00:00Z", File("si", "EN", "D")),
    ("2025-04-23T14:00:00Z", Answer("F")),
    // Thursday 24: E answered (21 to 24: 4 days).
    ("2025-04-24T14:00:00Z", Answer("E")),
    // Monday 28: B paid and validated. 22 to 28 April are given back, so B's answer, still
    // owed, is due Monday 12 May instead of 5 May.
    ("2025-04-28T14:00:00Z", Pay("B")),
    // Friday 9 May: D answered a day late (24 April to 9 May: 11 days).
    ("2025-05-09T14:00:00Z", Answer("D")),
];

#[tokio::test]
async fn compliance_per_company_matches_the_hand_computed_figures() {
    let app = TestApp::spawn().await;
    users(&app).await;
    publish_standard_nc(&app, "CO").await;
    let ids = play(&app, &APRIL).await;
    // A's due date skips the holidays; B's also gives back the week of the payment.
    for (name, due) in [("A", "2025-05-05"), ("B", "2025-05-12")] {
        assert_eq!(due_on(&app, &ids[name]).await, due, "{name}");
    }
    set_clock(&app, "2025-05-09T16:00:00Z");
    let sec = login(&app, "regulator", SEC).await;
    let april = "/sec/cumplimiento?desde=2025-04-01&hasta=2025-04-30";
    let page = sec.get(april).await;
    assert_eq!(page.status, StatusCode::OK);
    let (colina, _, _) = place(&app, "CO").await;
    let (enel, _, _) = place(&app, "EN").await;
    // Enel: 5 received; A, B, D, E answered; on time A and B of A, B, D (E has no deadline);
    // overdue C only (B's deadline moved past today); days 1, 2, 4, 11: median 3.
    // Colina: F and G on time; days 0 and 1: median 0,5. Total: days 0, 1, 1, 2, 4, 11.
    let row = |key: &str| company_row(&page.body, key);
    let colina_row = "1 | Enel Colina | 2 | 2 | 100 % (2 de 2) | 0 | 0,5";
    assert_eq!(row(&colina), colina_row);
    let enel_row = "2 | Enel Distribución | 5 | 4 | 66,7 % (2 de 3) | 1 | 3";
    assert_eq!(row(&enel), enel_row);
    assert_eq!(row("total"), "| Total | 7 | 6 | 80 % (4 de 5) | 1 | 1,5");
    // The panel link lists what was counted: the company's overdue requests of the period.
    let link = format!("/sec?empresa={enel}&#38;vencidas=1&#38;envio_desde=2025-04-01");
    page.assert_contains(&format!("href=\"{link}&#38;envio_hasta=2025-04-30\""));
    page.assert_contains("<svg role=\"img\" aria-labelledby=\"grafico-cumplimiento\"");
    // SI only: Enel's A, B, D take 2, 1 and 11 days; the total adds Colina's F (1 day).
    let si = sec.get(&format!("{april}&tipo=SI")).await;
    let row = "2 | Enel Distribución | 4 | 3 | 66,7 % (2 de 3) | 1 | 2";
    assert_eq!(company_row(&si.body, &enel), row);
    let total = "| Total | 5 | 4 | 75 % (3 de 4) | 1 | 1,5";
    assert_eq!(company_row(&si.body, "total"), total);
    si.assert_contains("<option value=\"SI\" selected>");
    let si_link = format!("href=\"{link}&#38;envio_hasta=2025-04-30&#38;tipo=SI\"");
    si.assert_contains(&si_link);
}

/// From Tuesday 4 March 2025 (no holidays in March): an SI is due Tuesday 18 March.
const LATE: [(&str, Step); 6] = [
    ("2025-03-04T13:00:00Z", File("si", "EN", "late")),
    ("2025-03-04T13:00:00Z", File("si", "EN", "on the day")),
    ("2025-03-04T13:00:00Z", File("mc", "EN", "mc")),
    ("2025-03-05T13:00:00Z", Answer("mc")),
    ("2025-03-18T13:00:00Z", Answer("on the day")),
    ("2025-03-19T13:00:00Z", Answer("late")),
];

#[tokio::test]
async fn a_late_answer_is_not_on_time_and_an_mc_is_left_out() {
    let app = TestApp::spawn().await;
    users(&app).await;
    play(&app, &LATE).await;
    let sec = login(&app, "regulator", SEC).await;
    let (enel, _, _) = place(&app, "EN").await;
    // One of the two SIs on time: 50 %, not 2 of 3; days 1, 10 and 11: median 10.
    let page = sec.get("/sec/cumplimiento").await;
    let expected = "1 | Enel Distribución | 3 | 3 | 50 % (1 de 2) | 0 | 10";
    assert_eq!(company_row(&page.body, &enel), expected);
    let only_mc = sec.get("/sec/cumplimiento?tipo=MC").await;
    let expected = "1 | Enel Distribución | 1 | 1 | — | 0 | 1";
    assert_eq!(company_row(&only_mc.body, &enel), expected);
    assert!(!only_mc.body.contains("<svg"), "no on-time share to draw");
}
