//! The distribuidora's "Comunicación": a message to the applicant of one of its requests,
//! named by folio and client number.

use axum::http::StatusCode;

use crate::support::{Browser, PASSWORD, TestApp, TestResponse, pdf, place};

const MISMATCH: &str =
    "El folio y el N° de cliente no corresponden a una misma solicitud de su empresa.";
const PAGE: &str = "/distribuidora/comunicacion";

/// An SI of Enel (folio EN1, client 123456-7, additional e-mail) filed by ana@example.cl, and
/// a logged-in Enel user.
struct Setup<'a> {
    app: &'a TestApp,
    applicant: Browser<'a>,
    company: Browser<'a>,
    request: String,
}

async fn setup(app: &TestApp) -> Setup<'_> {
    app.create_user("solicitante", "13470539-6", "ana@example.cl", None)
        .await;
    app.create_user("distribuidora", "12345678-5", "dx@enel.example", Some("EN"))
        .await;
    let applicant = app.browser();
    applicant.login("applicant", "13470539-6", PASSWORD).await;
    let (distributor, region, comuna) = place(app, "EN").await;
    let form = applicant.get("/solicitudes/nueva/si").await;
    let token = hidden(&form.body, "token");
    let fields = [
        ("token", token.as_str()),
        ("distributor_id", &distributor),
        ("region", &region),
        ("comuna", &comuna),
        ("client_number", "123456-7"),
        ("additional_email", "otro@example.cl"),
    ];
    let files: [(&str, &str, &[u8]); 1] = [("form", "si.pdf", &pdf())];
    let filed = applicant
        .post_multipart("/solicitudes/nueva/si", &fields, &files)
        .await;
    assert_eq!(filed.status, StatusCode::SEE_OTHER, "{}", filed.body);
    let request = filed
        .location()
        .trim_start_matches("/solicitudes/")
        .to_string();
    let company = app.browser();
    company
        .login("distributor", "12345678-5", PASSWORD)
        .await
        .assert_redirect("/distribuidora");
    Setup {
        app,
        applicant,
        company,
        request,
    }
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("the hidden field") + marker.len();
    html[start..].chars().take_while(|c| *c != '"').collect()
}

fn field_error(html: &str, field: &str) -> Option<String> {
    let marker = format!("<p class=\"field-error\" id=\"{field}-error\">");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find("</p>")?;
    Some(html[start..start + end].to_string())
}

/// Opens the form and sends it: (folio, client, reference, comment) and the files.
async fn send(
    browser: &Browser<'_>,
    typed: [&str; 4],
    files: &[(&str, &str, &[u8])],
) -> TestResponse {
    let form = browser.get(PAGE).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);
    send_with_token(browser, &hidden(&form.body, "token"), typed, files).await
}

async fn send_with_token(
    browser: &Browser<'_>,
    token: &str,
    [folio, client, reference, comment]: [&str; 4],
    files: &[(&str, &str, &[u8])],
) -> TestResponse {
    let fields = [
        ("token", token),
        ("folio", folio),
        ("client_number", client),
        ("reference", reference),
        ("comment", comment),
    ];
    browser.post_multipart(PAGE, &fields, files).await
}

impl Setup<'_> {
    async fn count(&self, sql: &'static str) -> i64 {
        self.app.count(sql).await
    }

    /// Asserts that only the submission is recorded: no message, file or e-mail beyond it.
    async fn assert_nothing_sent(&self, case: &str) {
        let events = self.count("SELECT COUNT(*) FROM request_events").await;
        let attachments = self.count("SELECT COUNT(*) FROM attachments").await;
        assert_eq!((events, attachments), (1, 1), "{case}");
        assert_eq!(
            self.app.emails_to("ana@example.cl").await.len(),
            1,
            "{case}"
        );
        assert_eq!(stored_files(self.app), 1, "{case}");
    }
}

impl Setup<'_> {
    async fn assert_emailed(&self, to: &str, comment: &str) {
        let emails = self.app.emails_to(to).await;
        let (subject, body) = emails.last().unwrap();
        let expected = "Comunicación de Enel Distribución sobre su solicitud EN1";
        assert_eq!(subject, expected);
        assert!(body.contains(comment), "{body}");
        let link = format!("/solicitudes/{}", self.request);
        assert!(body.contains(&link), "{body}");
    }
}

/// Files in the attachment storage.
fn stored_files(app: &TestApp) -> usize {
    fn walk(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir).map_or(0, |entries| {
            entries
                .map(|e| e.unwrap().path())
                .map(|p| if p.is_dir() { walk(&p) } else { 1 })
                .sum()
        })
    }
    let root = app.state.settings.storage_url.trim_start_matches("file://");
    walk(std::path::Path::new(root))
}

#[tokio::test]
async fn a_message_reaches_the_history_and_both_addresses() {
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    let page = s.company.get(PAGE).await;
    page.assert_contains("Máximo 300 caracteres");
    page.assert_contains("Adjuntar Archivo");
    let comment = "Su medidor será revisado el lunes.\nTraiga su boleta.";
    let sent = send(&s.company, [" en1 ", "123456-7", "", comment], &[]).await;
    sent.assert_redirect(&format!("/solicitudes/{}", s.request));

    let view = s
        .applicant
        .get(&format!("/solicitudes/{}", s.request))
        .await;
    view.assert_contains("<td>Comunicación</td>");
    view.assert_contains("Su medidor será revisado el lunes.");
    view.assert_contains("Pendiente de Respuesta");
    let row: (String, String, String) = sqlx::query_as(
        "SELECT from_status, to_status, comment FROM request_events WHERE action = 'message'",
    )
    .fetch_one(app.state.db.pool())
    .await
    .unwrap();
    let unchanged = ("pending_answer".to_string(), "pending_answer".to_string());
    assert_eq!(row, (unchanged.0, unchanged.1, comment.to_string()));
    for to in ["ana@example.cl", "otro@example.cl"] {
        s.assert_emailed(to, comment).await;
    }
}

#[tokio::test]
async fn a_second_click_sends_nothing_more() {
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    let form = s.company.get(PAGE).await;
    let token = hidden(&form.body, "token");
    let typed = ["EN1", "123456-7", "", "Una vez"];
    for _ in 0..2 {
        send_with_token(&s.company, &token, typed, &[])
            .await
            .assert_redirect(&format!("/solicitudes/{}", s.request));
    }
    let messages = s
        .count("SELECT COUNT(*) FROM request_events WHERE action = 'message'")
        .await;
    assert_eq!(messages, 1);
    assert_eq!(app.emails_to("ana@example.cl").await.len(), 2);
}

#[tokio::test]
async fn a_folio_and_client_number_of_different_requests_are_refused() {
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    for (case, folio, client) in [
        ("wrong client", "EN1", "999"),
        ("unknown folio", "EN999", "123456-7"),
    ] {
        let refused = send(&s.company, [folio, client, "", "Hola"], &[]).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{case}");
        assert_eq!(
            field_error(&refused.body, "request").as_deref(),
            Some(MISMATCH)
        );
        refused.assert_contains(">Hola</textarea>");
        s.assert_nothing_sent(case).await;
    }
    let missing = send(&s.company, ["", "", "", ""], &[]).await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    for field in ["folio", "client_number", "comment"] {
        assert!(field_error(&missing.body, field).is_some(), "{field}");
    }
    s.assert_nothing_sent("empty form").await;
}

#[tokio::test]
async fn another_companys_folio_gets_the_same_refusal() {
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    app.create_user(
        "distribuidora",
        "11111111-1",
        "dx@colina.example",
        Some("CO"),
    )
    .await;
    let other = app.browser();
    other.login("distributor", "11111111-1", PASSWORD).await;
    let refused = send(&other, ["EN1", "123456-7", "", "Hola"], &[]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        field_error(&refused.body, "request").as_deref(),
        Some(MISMATCH)
    );
    s.assert_nothing_sent("another company").await;
}

#[tokio::test]
async fn a_wrong_n_solicitud_is_refused_once_the_request_has_one() {
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    // Without an N° Solicitud on the request, a typed one is not compared.
    send(&s.company, ["EN1", "123456-7", "X-1", "Primero"], &[])
        .await
        .assert_redirect(&format!("/solicitudes/{}", s.request));
    sqlx::query("UPDATE requests SET distributor_reference = 'SOL-77'")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let refused = send(&s.company, ["EN1", "123456-7", "SOL-78", "Hola"], &[]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(field_error(&refused.body, "reference").is_some());
    send(&s.company, ["EN1", "123456-7", "sol-77", "Segundo"], &[])
        .await
        .assert_redirect(&format!("/solicitudes/{}", s.request));
}

#[tokio::test]
async fn a_comment_over_300_characters_is_refused() {
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    let long = "a".repeat(301);
    let refused = send(&s.company, ["EN1", "123456-7", "", &long], &[]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let message = field_error(&refused.body, "comment").unwrap();
    assert!(message.contains("Máximo 300 caracteres"), "{message}");
    s.assert_nothing_sent("301 characters").await;
    // Characters, not bytes: 300 of "ñ" are 600 bytes and pass.
    send(&s.company, ["EN1", "123456-7", "", &"ñ".repeat(300)], &[])
        .await
        .assert_redirect(&format!("/solicitudes/{}", s.request));
}

#[tokio::test]
async fn an_annulled_request_only_takes_views() {
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    sqlx::query("UPDATE requests SET status = 'annulled'")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let refused = send(&s.company, ["EN1", "123456-7", "", "Hola"], &[]).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        field_error(&refused.body, "request").as_deref(),
        Some("La solicitud está anulada: solo puede consultarse.")
    );
    s.assert_nothing_sent("annulled").await;
}

#[tokio::test]
async fn the_file_goes_with_the_message_and_the_applicant_downloads_it() {
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    let letter = [pdf(), b"% carta".to_vec()].concat();
    let files: [(&str, &str, &[u8]); 1] = [("file", "carta.pdf", &letter)];
    send(&s.company, ["EN1", "123456-7", "", "Adjunto carta"], &files)
        .await
        .assert_redirect(&format!("/solicitudes/{}", s.request));
    let linked: (String, String) = sqlx::query_as(
        "SELECT a.id, a.slot FROM attachments a JOIN request_events e ON e.id = a.event_id \
         WHERE e.action = 'message'",
    )
    .fetch_one(app.state.db.pool())
    .await
    .unwrap();
    assert_eq!(linked.1, "message");
    let view = s
        .applicant
        .get(&format!("/solicitudes/{}", s.request))
        .await;
    view.assert_contains("carta.pdf");
    let href = format!("/solicitudes/{}/adjuntos/{}", s.request, linked.0);
    view.assert_contains(&href);
    let download = s.applicant.get(&href).await;
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(download.body.as_bytes(), letter.as_slice());
    let disposition = download.headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
}

#[tokio::test]
async fn an_executable_named_pdf_is_refused_and_nothing_is_kept() {
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    let mut exe = b"MZ\x90\x00\x03\x00\x00\x00This program cannot be run in DOS mode.".to_vec();
    exe.resize(4096, 0);
    let files: [(&str, &str, &[u8]); 1] = [("file", "carta.pdf", &exe)];
    let refused = send(&s.company, ["EN1", "123456-7", "", "Hola"], &files).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let message = field_error(&refused.body, "file").unwrap();
    assert!(
        message.contains("El archivo debe ser del tipo"),
        "{message}"
    );
    s.assert_nothing_sent("executable").await;
}

#[tokio::test]
async fn a_failed_commit_leaves_no_file_behind() {
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    app.state.faults.arm("message.before_commit");
    let files: [(&str, &str, &[u8]); 1] = [("file", "carta.pdf", &pdf())];
    let failed = send(&s.company, ["EN1", "123456-7", "", "Hola"], &files).await;
    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
    app.state.faults.clear();
    s.assert_nothing_sent("failed commit").await;
}

#[tokio::test]
async fn only_company_users_reach_the_page_and_forms_need_their_token() {
    let app = TestApp::spawn().await;
    let s = setup(&app).await;
    assert_eq!(s.applicant.get(PAGE).await.status, StatusCode::NOT_FOUND);
    let posted = send_with_token(&s.applicant, "t", ["EN1", "123456-7", "", "Hola"], &[]).await;
    assert_eq!(posted.status, StatusCode::NOT_FOUND);
    app.create_user("sec", "10000013-K", "sec@sec.example", None)
        .await;
    let sec = app.browser();
    sec.login("regulator", "10000013-K", PASSWORD).await;
    assert_eq!(sec.get(PAGE).await.status, StatusCode::NOT_FOUND);
    // No CSRF token, then a wrong one in the action's query.
    let bare = s.company.post_raw(PAGE, &[("folio", "EN1")]).await;
    assert_eq!(bare.status, StatusCode::FORBIDDEN);
    let fields = [
        ("folio", "EN1"),
        ("client_number", "123456-7"),
        ("comment", "x"),
    ];
    let forged = s
        .company
        .post_multipart(&format!("{PAGE}?csrf=forged"), &fields, &[])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    s.assert_nothing_sent("refused users").await;
}
