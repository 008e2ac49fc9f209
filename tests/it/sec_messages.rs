//! "Modificar Mensajes": SEC edits the e-mail texts, previews them safely, and the next e-mail
//! uses the saved text until it is restored.

use axum::http::StatusCode;
use portal::domain::{Email, Profile, RegulatorRole, Rut, password};

use crate::support::{Browser, PASSWORD, RequestForm, TestApp, TestResponse, rut_for};

const RECEIPT_SI: &str = "/sec/mensajes/receipt.SI";

/// A SEC user with the given role, logged in, in a browser of their own.
pub async fn sec_user(app: &TestApp, number: u32, role: RegulatorRole) -> Browser<'_> {
    let rut = rut_for(number);
    let account = portal::accounts::NewAccount {
        profile: Profile::Regulator,
        rut: Rut::parse(&rut).unwrap(),
        email: Email::parse(&format!("sec{number}@sec.example")).unwrap(),
        names: "Sara".to_string(),
        surnames: "Fiscalizadora".to_string(),
        distributor_prefix: None,
        regulator_role: Some(role),
    };
    let password = password::check(PASSWORD, PASSWORD, &[]).unwrap();
    portal::accounts::create(&app.state, &account, Some(password))
        .await
        .unwrap();
    let browser = app.browser();
    browser
        .login("regulator", &rut, PASSWORD)
        .await
        .assert_redirect("/sec");
    browser
}

async fn send(browser: &Browser<'_>, action: &str, subject: &str, body: &str) -> TestResponse {
    browser
        .post(
            RECEIPT_SI,
            &[("action", action), ("subject", subject), ("body", body)],
        )
        .await
}

async fn audit_count(app: &TestApp, event: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE event = $1")
        .bind(event)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn an_unknown_placeholder_or_an_open_brace_is_refused_and_nothing_is_saved() {
    let app = TestApp::spawn().await;
    let admin = sec_user(&app, 10_000_001, RegulatorRole::Administrator).await;
    let refused = send(&admin, "grabar", "Recibimos su {folio}", "Hola {nombre}").await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    refused.assert_contains(
        "El marcador {nombre} no existe. Use: {folio}, {formulario}, {solicitante}, \
         {distribuidora}, {fecha}, {plazo}, {enlace}.",
    );
    // What was typed comes back for correction.
    refused.assert_contains("Hola {nombre}</textarea>");
    let open = send(&admin, "grabar", "Recibimos su {folio", "Hola").await;
    assert_eq!(open.status, StatusCode::UNPROCESSABLE_ENTITY);
    open.assert_contains("Falta cerrar la llave en «{folio»");
    let long = "x".repeat(201);
    let too_long = send(&admin, "grabar", &long, "Hola").await;
    too_long.assert_contains("Use como máximo 200 caracteres en el asunto (tiene 201).");
    let two_lines = send(&admin, "grabar", "Uno\r\nDos", "Hola").await;
    two_lines.assert_contains("El asunto debe ser una sola línea.");
    let empty = send(&admin, "grabar", "Asunto", " ").await;
    empty.assert_contains("Escriba el texto del mensaje.");
    assert_eq!(app.rows("email_templates").await, 0);
    assert_eq!(audit_count(&app, "email_template_changed").await, 0);
}

#[tokio::test]
async fn a_saved_receipt_is_used_by_the_next_submission() {
    let app = TestApp::spawn().await;
    let admin = sec_user(&app, 10_000_001, RegulatorRole::Administrator).await;
    let saved = send(
        &admin,
        "grabar",
        "Comprobante {folio}: {formulario}",
        "Hola {solicitante}, su folio es {folio}.\r\nPlazo: {plazo}",
    )
    .await;
    saved.assert_redirect("/sec/mensajes/receipt.SI?guardado=grabado");
    admin
        .get(saved.location())
        .await
        .assert_contains("El mensaje fue grabado.");
    let list = admin.get("/sec/mensajes").await;
    list.assert_contains("Auto respuesta: Solicitud de Información</a></td>\n      <td>Modificado");
    list.assert_contains(
        "Auto respuesta: Solicitud de Conexión</a></td>\n      <td>Predeterminado",
    );
    assert_eq!(audit_count(&app, "email_template_changed").await, 1);

    let applicant = app.applicant(13_470_539).await;
    let filed = RequestForm::open(&applicant, "si")
        .await
        .complete()
        .post(&applicant)
        .await;
    assert_eq!(filed.status, StatusCode::SEE_OTHER, "{}", filed.body);
    let (subject, body) = app.emails_to("s13470539@example.cl").await.pop().unwrap();
    assert_eq!(subject, "Comprobante EN1: Solicitud de Información");
    assert_eq!(
        body,
        "Hola Nombre De Prueba, su folio es EN1.\nPlazo: 18/03/2025"
    );
}

#[tokio::test]
async fn the_preview_shows_markup_as_text_and_saves_nothing() {
    let app = TestApp::spawn().await;
    let admin = sec_user(&app, 10_000_001, RegulatorRole::Administrator).await;
    let shown = admin.get(RECEIPT_SI).await;
    assert_eq!(shown.status, StatusCode::OK);
    shown.assert_contains("Recibimos su Solicitud de Información EN123");
    shown.assert_contains("Estimado(a) Ana Pérez:");
    let preview = send(
        &admin,
        "vista_previa",
        "<b>{folio}</b>",
        "<script>alert(1)</script> {folio} {solicitante}",
    )
    .await;
    assert_eq!(preview.status, StatusCode::OK);
    assert!(!preview.body.contains("<script>"), "{}", preview.body);
    assert!(!preview.body.contains("<b>"), "{}", preview.body);
    preview.assert_contains("&#60;script&#62;alert(1)&#60;/script&#62; EN123 Ana Pérez</pre>");
    preview.assert_contains("&#60;b&#62;EN123&#60;/b&#62;</pre>");
    assert_eq!(app.rows("email_templates").await, 0);
    assert_eq!(
        app.rows("audit_log").await,
        2,
        "the account's creation and its login only"
    );
}

#[tokio::test]
async fn restoring_brings_the_default_back() {
    let app = TestApp::spawn().await;
    let admin = sec_user(&app, 10_000_001, RegulatorRole::Administrator).await;
    send(&admin, "grabar", "Otro asunto {folio}", "Otro texto")
        .await
        .assert_redirect("/sec/mensajes/receipt.SI?guardado=grabado");
    admin.get(RECEIPT_SI).await.assert_contains("Restablecer");
    send(&admin, "restablecer", "", "")
        .await
        .assert_redirect("/sec/mensajes/receipt.SI?guardado=restablecido");
    assert_eq!(app.rows("email_templates").await, 0);
    let page = admin.get(RECEIPT_SI).await;
    page.assert_contains("value=\"Recibimos su Solicitud de Información {folio}\"");
    page.assert_contains("Este mensaje usa el texto");
    assert!(!page.body.contains("value=\"restablecer\""));
    assert_eq!(audit_count(&app, "email_template_changed").await, 1);
    assert_eq!(audit_count(&app, "email_template_reset").await, 1);
    // Restoring a text already at its default changes nothing and records nothing.
    send(&admin, "restablecer", "", "").await;
    assert_eq!(audit_count(&app, "email_template_reset").await, 1);
}

#[tokio::test]
async fn an_auditor_reads_but_cannot_change() {
    let app = TestApp::spawn().await;
    let auditor = sec_user(&app, 10_000_002, RegulatorRole::Auditor).await;
    auditor
        .get("/sec/mensajes")
        .await
        .assert_contains("Notificaciones");
    let page = auditor.get("/sec/mensajes/applicant.status_changed").await;
    assert_eq!(page.status, StatusCode::OK);
    page.assert_contains("Su rol de auditor permite consultar");
    assert!(!page.body.contains("value=\"grabar\""));
    let refused = send(&auditor, "grabar", "Asunto {folio}", "Texto").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(app.rows("email_templates").await, 0);
}

#[tokio::test]
async fn other_profiles_and_unknown_keys_get_not_found() {
    let app = TestApp::spawn().await;
    let applicant = app.applicant(13_470_539).await;
    app.create_user("distribuidora", "12345678-5", "dx@enel.example", Some("EN"))
        .await;
    let distributor = app.browser();
    distributor
        .login("distributor", "12345678-5", PASSWORD)
        .await
        .assert_redirect("/distribuidora");
    for browser in [&applicant, &distributor] {
        for path in ["/sec/mensajes", RECEIPT_SI] {
            assert_eq!(
                browser.get(path).await.status,
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
        let post = send(browser, "grabar", "Asunto", "Texto").await;
        assert_eq!(post.status, StatusCode::NOT_FOUND);
    }
    let admin = sec_user(&app, 10_000_001, RegulatorRole::Administrator).await;
    let unknown = admin.get("/sec/mensajes/account.activation").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(app.rows("email_templates").await, 0);
}
