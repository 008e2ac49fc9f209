//! A company's "Configuración": payment data and standard answers ("Respondido Automático").

use axum::http::StatusCode;
use portal::domain::request::RequestKind;
use portal::store::companies::{self, StandardAnswer};

use crate::support::{Browser, PASSWORD, TestApp, TestResponse, pdf, place, png};

const PAGE: &str = "/distribuidora/configuracion";
const SI_ANSWER: &str = "/distribuidora/configuracion/respuesta/si";

/// A logged-in user of Enel, and Enel's id.
async fn enel(app: &TestApp) -> (Browser<'_>, String) {
    app.create_user("distribuidora", "12345678-5", "dx@enel.example", Some("EN"))
        .await;
    let browser = app.browser();
    browser
        .login("distributor", "12345678-5", PASSWORD)
        .await
        .assert_redirect("/distribuidora");
    let (id, _, _) = place(app, "EN").await;
    (browser, id)
}

fn field_error(html: &str, field: &str) -> Option<String> {
    let marker = format!("<p class=\"field-error\" id=\"{field}-error\">");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find("</p>")?;
    Some(html[start..start + end].to_string())
}

async fn upload(browser: &Browser<'_>, path: &str, name: &str, bytes: &[u8]) -> TestResponse {
    browser.get(PAGE).await;
    browser
        .post_multipart(path, &[], &[("file", name, bytes)])
        .await
}

async fn save(browser: &Browser<'_>, bank: &str, instructions: &str) -> TestResponse {
    let fields = [
        ("bank_details", bank),
        ("payment_instructions", instructions),
    ];
    browser.post(PAGE, &fields).await
}

#[tokio::test]
async fn payment_settings_are_saved_and_shown() {
    let app = TestApp::spawn().await;
    let (browser, enel_id) = enel(&app).await;
    let page = browser.get(PAGE).await;
    assert_eq!(page.status, StatusCode::OK);
    for label in [
        "Datos bancarios",
        "Instrucciones de pago",
        "Respondido Automático",
    ] {
        page.assert_contains(label);
    }
    let bank = "Banco Estado\r\nCuenta corriente 123-456\r\nRUT 96.800.570-7\r\nxx@enel.example";
    let saved = save(&browser, bank, "Pague en caja.").await;
    saved.assert_redirect("/distribuidora/configuracion?guardado=datos");
    let page = browser.get(saved.location()).await;
    page.assert_contains("Los datos de pago fueron guardados.");
    page.assert_contains("Cuenta corriente 123-456\nRUT 96.800.570-7");
    let stored = companies::settings(&app.state.db, &enel_id).await.unwrap();
    assert_eq!(stored.bank_details, bank.replace("\r\n", "\n"));
    assert_eq!(stored.payment_instructions, "Pague en caja.");
}

#[tokio::test]
async fn a_second_save_replaces_the_first_and_other_companies_keep_theirs() {
    let app = TestApp::spawn().await;
    let (browser, enel_id) = enel(&app).await;
    save(&browser, "Banco", "Primera").await;
    save(&browser, "", "Otra")
        .await
        .assert_redirect("/distribuidora/configuracion?guardado=datos");
    let stored = companies::settings(&app.state.db, &enel_id).await.unwrap();
    let expected = companies::CompanySettings {
        bank_details: String::new(),
        payment_instructions: "Otra".to_string(),
    };
    assert_eq!(stored, expected);
    let (colina, _, _) = place(&app, "CO").await;
    let other = companies::settings(&app.state.db, &colina).await.unwrap();
    assert_eq!(other, companies::CompanySettings::default());
}

#[tokio::test]
async fn texts_over_2000_characters_are_refused() {
    let app = TestApp::spawn().await;
    let (browser, enel_id) = enel(&app).await;
    let long = "x".repeat(2_001);
    let refused = browser
        .post(
            PAGE,
            &[("bank_details", "Banco"), ("payment_instructions", &long)],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let message = field_error(&refused.body, "payment_instructions").unwrap();
    assert!(message.contains("Máximo 2.000 caracteres"), "{message}");
    refused.assert_contains(">Banco</textarea>");
    let stored = companies::settings(&app.state.db, &enel_id).await.unwrap();
    assert_eq!(stored, companies::CompanySettings::default());
}

/// Whether the local object store holds a file under this key.
fn is_stored(app: &TestApp, key: &str) -> bool {
    let root = app.state.settings.storage_url.trim_start_matches("file://");
    std::path::Path::new(root).join(key).is_file()
}

/// Publishes "respuesta SI.pdf" as Enel's SI answer and returns it as stored.
async fn publish_si(app: &TestApp, browser: &Browser<'_>, enel_id: &str) -> StandardAnswer {
    upload(browser, SI_ANSWER, "respuesta SI.pdf", &pdf())
        .await
        .assert_redirect("/distribuidora/configuracion?guardado=respuesta");
    companies::standard_answer(&app.state.db, enel_id, RequestKind::Information)
        .await
        .unwrap()
        .expect("published")
}

#[tokio::test]
async fn a_standard_answer_is_published_and_downloadable() {
    let app = TestApp::spawn().await;
    let (browser, enel_id) = enel(&app).await;
    let page = browser.get(PAGE).await;
    assert_eq!(page.body.matches("Sin respuesta automática").count(), 4);
    let answer = publish_si(&app, &browser, &enel_id).await;
    assert_eq!(answer.file_name, "respuesta SI.pdf");
    assert_eq!(answer.file_kind, "PDF");
    let prefix = format!("standard-answers/{enel_id}/SI/");
    assert!(
        answer.storage_key.starts_with(&prefix),
        "{}",
        answer.storage_key
    );
    let page = browser.get(&format!("{PAGE}?guardado=respuesta")).await;
    page.assert_contains("La respuesta automática fue publicada.");
    page.assert_contains(&format!("href=\"{SI_ANSWER}\">respuesta SI.pdf</a>"));
    let download = browser.get(SI_ANSWER).await;
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(download.body.as_bytes(), pdf().as_slice());
    assert_eq!(download.headers["content-type"], "application/pdf");
    assert_eq!(download.headers["x-content-type-options"], "nosniff");
    let disposition = download.headers["content-disposition"].to_str().unwrap();
    assert!(disposition.starts_with("attachment;"), "{disposition}");
}

#[tokio::test]
async fn a_new_file_replaces_the_standard_answer() {
    let app = TestApp::spawn().await;
    let (browser, enel_id) = enel(&app).await;
    let first = publish_si(&app, &browser, &enel_id).await;
    upload(&browser, SI_ANSWER, "nueva.png", &png())
        .await
        .assert_redirect("/distribuidora/configuracion?guardado=respuesta");
    let answers = companies::standard_answers(&app.state.db, &enel_id)
        .await
        .unwrap();
    assert_eq!(answers.len(), 1);
    let (kind, answer) = &answers[0];
    assert_eq!(*kind, RequestKind::Information);
    assert_eq!(
        (answer.file_name.as_str(), answer.file_kind.as_str()),
        ("nueva.png", "PNG")
    );
    assert_ne!(answer.storage_key, first.storage_key);
    assert!(
        !is_stored(&app, &first.storage_key),
        "the replaced file is deleted"
    );
    assert!(is_stored(&app, &answer.storage_key));
    let download = browser.get(SI_ANSWER).await;
    assert_eq!(download.headers["content-type"], "image/png");
    let page = browser.get(PAGE).await;
    page.assert_contains("nueva.png");
    assert!(!page.body.contains("respuesta SI.pdf"));
}

#[tokio::test]
async fn a_removed_standard_answer_is_gone_from_page_and_download() {
    let app = TestApp::spawn().await;
    let (browser, enel_id) = enel(&app).await;
    let answer = publish_si(&app, &browser, &enel_id).await;
    assert!(is_stored(&app, &answer.storage_key));
    let removed = browser.post(&format!("{SI_ANSWER}/eliminar"), &[]).await;
    removed.assert_redirect("/distribuidora/configuracion?guardado=eliminada");
    let answers = companies::standard_answers(&app.state.db, &enel_id)
        .await
        .unwrap();
    assert!(answers.is_empty());
    assert_eq!(browser.get(SI_ANSWER).await.status, StatusCode::NOT_FOUND);
    assert!(
        !is_stored(&app, &answer.storage_key),
        "the removed file is deleted"
    );
    let page = browser.get(removed.location()).await;
    page.assert_contains("La respuesta automática fue eliminada.");
    assert_eq!(page.body.matches("Sin respuesta automática").count(), 4);
}

#[tokio::test]
async fn a_bad_standard_answer_is_refused_and_nothing_is_kept() {
    let app = TestApp::spawn().await;
    let (browser, enel_id) = enel(&app).await;
    let mut exe = b"MZ\x90\x00\x03\x00\x00\x00This program cannot be run in DOS mode.".to_vec();
    exe.resize(4096, 0);
    let refused = upload(
        &browser,
        "/distribuidora/configuracion/respuesta/nc",
        "r.pdf",
        &exe,
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let message = field_error(&refused.body, "answer_nc").unwrap();
    assert!(
        message.contains("El archivo debe ser del tipo"),
        "{message}"
    );
    let none = upload(&browser, SI_ANSWER, "", b"").await;
    assert_eq!(none.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(field_error(&none.body, "answer_si").is_some());
    let answers = companies::standard_answers(&app.state.db, &enel_id).await;
    assert!(answers.unwrap().is_empty());
    let root = app.state.settings.storage_url.trim_start_matches("file://");
    let kept = std::path::Path::new(root).join("standard-answers");
    assert!(std::fs::read_dir(&kept).map_or(true, |mut d| d.next().is_none()));
    let unknown_kind = "/distribuidora/configuracion/respuesta/xx";
    let unknown = upload(&browser, unknown_kind, "a.pdf", &pdf()).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn each_company_sees_only_its_own_answers() {
    let app = TestApp::spawn().await;
    let (browser, _) = enel(&app).await;
    upload(&browser, SI_ANSWER, "respuesta.pdf", &pdf())
        .await
        .assert_redirect("/distribuidora/configuracion?guardado=respuesta");
    app.create_user(
        "distribuidora",
        "11111111-1",
        "dx@colina.example",
        Some("CO"),
    )
    .await;
    let other = app.browser();
    other.login("distributor", "11111111-1", PASSWORD).await;
    assert_eq!(other.get(SI_ANSWER).await.status, StatusCode::NOT_FOUND);
    let page = other.get(PAGE).await;
    assert!(!page.body.contains("respuesta.pdf"));
    // Removing "its" SI answer leaves Enel's in place.
    other.post(&format!("{SI_ANSWER}/eliminar"), &[]).await;
    assert_eq!(browser.get(SI_ANSWER).await.status, StatusCode::OK);
}

#[tokio::test]
async fn applicants_and_sec_get_404_and_forms_need_the_csrf_token() {
    let app = TestApp::spawn().await;
    let (browser, enel_id) = enel(&app).await;
    app.create_user("solicitante", "13470539-6", "ana@example.cl", None)
        .await;
    app.create_user("sec", "10000013-K", "sec@sec.example", None)
        .await;
    let applicant = app.browser();
    applicant.login("applicant", "13470539-6", PASSWORD).await;
    let sec = app.browser();
    sec.login("regulator", "10000013-K", PASSWORD).await;
    for outsider in [&applicant, &sec] {
        assert_eq!(outsider.get(PAGE).await.status, StatusCode::NOT_FOUND);
        assert_eq!(outsider.get(SI_ANSWER).await.status, StatusCode::NOT_FOUND);
        let saved = outsider.post(PAGE, &[("bank_details", "x")]).await;
        assert_eq!(saved.status, StatusCode::NOT_FOUND);
        let uploaded = upload(outsider, SI_ANSWER, "a.pdf", &pdf()).await;
        assert_eq!(uploaded.status, StatusCode::NOT_FOUND);
    }
    let bare = browser.post_raw(PAGE, &[("bank_details", "x")]).await;
    assert_eq!(bare.status, StatusCode::FORBIDDEN);
    let forged = upload(
        &browser,
        &format!("{SI_ANSWER}?csrf=forged"),
        "a.pdf",
        &pdf(),
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let removal = browser
        .post_raw(&format!("{SI_ANSWER}/eliminar"), &[])
        .await;
    assert_eq!(removal.status, StatusCode::FORBIDDEN);
    let settings = companies::settings(&app.state.db, &enel_id).await.unwrap();
    assert_eq!(settings, companies::CompanySettings::default());
    let answers = companies::standard_answers(&app.state.db, &enel_id).await;
    assert!(answers.unwrap().is_empty());
}
