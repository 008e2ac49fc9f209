//! The four forms (SI, SC, MC, NC): their required files, the client or factibilidad number,
//! the rules between slots, and the files refused or accepted at the limits of their slot. A
//! refused form comes back with a message beside the field and leaves nothing behind: no row,
//! no stored file, no upload in the scratch directory.

use axum::http::StatusCode;

use crate::support::{
    MIB, RequestForm, TestApp, TestResponse, attachment_links, document_link, docx, field_error,
    folio_in_view, hidden_value, pdf, pdf_of_size, png, required_slots, windows_executable,
};

/// What the view of each form's documents says: (slot, label).
fn required_labels(kind: &str) -> Vec<(&'static str, &'static str)> {
    match kind {
        "si" => vec![("form", "Formulario de Solicitud de Información")],
        "sc" => vec![("form", "Formulario de Solicitud de Conexión")],
        "mc" => vec![("form", "Manifestación de Conformidad u otro")],
        _ => vec![
            ("form", "Formulario de Notificación de Conexión"),
            ("installer_id", "Identificación del instalador"),
            (
                "contract",
                "Contrato firmado por el usuario o cliente final",
            ),
            ("property_certificate", "Certificado de dominio vigente"),
            ("te4", "Copia de declaración de puesta en servicio (TE4)"),
        ],
    }
}

/// Files a complete form and checks the view: status, folio, every document listed.
async fn files_a_complete(kind: &'static str, status_code: &str, status: &str) {
    let app = TestApp::spawn().await;
    let browser = app.applicant(13_470_539).await;
    let response = RequestForm::open(&browser, kind)
        .await
        .complete()
        .post(&browser)
        .await;
    assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
    let view = browser.get(response.location()).await;
    assert_eq!(view.status, StatusCode::OK);
    view.assert_contains(&format!(
        "<span class=\"status status-{status_code}\">{status}</span>"
    ));
    assert_eq!(folio_in_view(&view.body), "EN1");
    view.assert_contains("<th scope=\"col\">N° Cliente</th>");
    view.assert_contains("123456-7");
    for (slot, label) in required_labels(kind) {
        view.assert_contains(&format!(
            "<span class=\"doc-label\">{label}</span> <span class=\"doc-name\">{slot}.pdf</span>"
        ));
    }
    let slots = required_slots(kind).len();
    assert_eq!(attachment_links(&view.body).len(), slots);
    assert_eq!(app.rows("attachments").await, slots as i64);
    assert_eq!(app.stored_files().len(), slots);
    assert!(app.scratch_files().is_empty());
    let inbox = browser.get("/solicitudes").await;
    inbox.assert_contains(">EN1</a>");
    inbox.assert_contains(status);
}

#[tokio::test]
async fn an_si_with_its_form_is_pending_an_answer() {
    files_a_complete("si", "pending_answer", "Pendiente de Respuesta").await;
}

#[tokio::test]
async fn an_sc_with_its_form_is_pending_an_answer() {
    files_a_complete("sc", "pending_answer", "Pendiente de Respuesta").await;
}

#[tokio::test]
async fn an_mc_with_its_form_starts_as_enviado() {
    files_a_complete("mc", "sent", "Enviado").await;
}

#[tokio::test]
async fn an_nc_with_its_five_documents_is_pending_an_answer() {
    files_a_complete("nc", "pending_answer", "Pendiente de Respuesta").await;
}

#[track_caller]
fn assert_refused(response: &TestResponse, field: &str, expected: &str) {
    assert_eq!(
        response.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        response.body
    );
    let message = field_error(&response.body, field)
        .unwrap_or_else(|| panic!("no message beside {field}:\n{}", response.body));
    assert!(
        message.contains(expected),
        "beside {field}: {message:?}, expected {expected:?}"
    );
}

#[tokio::test]
async fn each_missing_required_file_is_named_beside_its_field_and_nothing_is_kept() {
    let app = TestApp::spawn().await;
    let browser = app.applicant(13_470_539).await;
    let cases = [
        (
            "si",
            "form",
            "Adjunte el Formulario de Solicitud de Información.",
        ),
        (
            "sc",
            "form",
            "Adjunte el Formulario de Solicitud de Conexión.",
        ),
        (
            "mc",
            "form",
            "Adjunte la Manifestación de Conformidad u otro documento.",
        ),
        (
            "nc",
            "form",
            "Adjunte el Formulario de Notificación de Conexión.",
        ),
        (
            "nc",
            "installer_id",
            "Adjunte la Identificación del instalador.",
        ),
        (
            "nc",
            "contract",
            "Adjunte el Contrato firmado por el usuario o cliente final.",
        ),
        (
            "nc",
            "property_certificate",
            "Adjunte el Certificado de dominio vigente.",
        ),
        (
            "nc",
            "te4",
            "Adjunte la Copia de declaración de puesta en servicio (TE4).",
        ),
    ];
    for (kind, slot, message) in cases {
        // A valid optional file goes with it: it must not be kept either.
        let response = RequestForm::open(&browser, kind)
            .await
            .complete()
            .without_file(slot)
            .file("other", "otro.pdf", &pdf())
            .post(&browser)
            .await;
        assert_refused(&response, slot, message);
        assert_eq!(field_error(&response.body, "other"), None, "{kind} {slot}");
        app.assert_nothing_stored(&format!("{kind} without {slot}"))
            .await;
    }
    // No file at all: the whole NC list, each beside its own field.
    let response = RequestForm::open(&browser, "nc").await.post(&browser).await;
    for slot in required_slots("nc") {
        assert_refused(&response, slot, "Adjunte ");
    }
    app.assert_nothing_stored("an NC without files").await;
}

#[tokio::test]
async fn sc_and_nc_without_a_client_number_carry_the_factibilidad_number() {
    let app = TestApp::spawn().await;
    let browser = app.applicant(13_470_539).await;
    for kind in ["sc", "nc"] {
        let form = browser.get(&format!("/solicitudes/nueva/{kind}")).await;
        form.assert_contains("No tengo Nro. de Cliente");
        let missing = RequestForm::open(&browser, kind)
            .await
            .complete()
            .without_field("client_number")
            .field("no_client_number", "1")
            .post(&browser)
            .await;
        assert_refused(
            &missing,
            "feasibility_number",
            "Ingrese el Número de Factibilidad.",
        );
        app.assert_nothing_stored(&format!("{kind} without factibilidad"))
            .await;
    }
    for (kind, number) in [("sc", "FACT-2025-0001"), ("nc", "FACT-2025-0002")] {
        let response = RequestForm::open(&browser, kind)
            .await
            .complete()
            .without_field("client_number")
            .field("no_client_number", "1")
            .field("feasibility_number", number)
            .post(&browser)
            .await;
        assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
        let view = browser.get(response.location()).await;
        view.assert_contains("<th scope=\"col\">N° de Factibilidad</th>");
        view.assert_contains(&format!("<td>{number}</td>"));
        assert!(!view.body.contains("<th scope=\"col\">N° Cliente</th>"));
    }
}

#[tokio::test]
async fn si_and_mc_need_the_client_number_even_with_no_client_number_sent() {
    let app = TestApp::spawn().await;
    let browser = app.applicant(13_470_539).await;
    for kind in ["si", "mc"] {
        let form = browser.get(&format!("/solicitudes/nueva/{kind}")).await;
        assert!(!form.body.contains("name=\"no_client_number\""), "{kind}");
        let response = RequestForm::open(&browser, kind)
            .await
            .complete()
            .without_field("client_number")
            .field("no_client_number", "1")
            .field("feasibility_number", "FACT-1")
            .post(&browser)
            .await;
        assert_refused(&response, "client_number", "Ingrese su número de cliente.");
        app.assert_nothing_stored(&format!("{kind} with a factibilidad number"))
            .await;
    }
    // With the client number too, the box is ignored: the request has the client number.
    let response = RequestForm::open(&browser, "si")
        .await
        .complete()
        .field("no_client_number", "1")
        .field("feasibility_number", "FACT-1")
        .post(&browser)
        .await;
    assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
    let view = browser.get(response.location()).await;
    view.assert_contains("<th scope=\"col\">N° Cliente</th>");
    assert!(!view.body.contains("FACT-1"));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM requests WHERE feasibility_number IS NULL AND client_number = '123456-7'")
            .await,
        1
    );
}

#[tokio::test]
async fn a_poder_simple_needs_the_copia_de_cedula() {
    let app = TestApp::spawn().await;
    let browser = app.applicant(13_470_539).await;
    let message = "Si adjunta un Poder simple, adjunte también la Copia de cédula de identidad.";
    for kind in ["si", "sc", "nc"] {
        let alone = RequestForm::open(&browser, kind)
            .await
            .complete()
            .file("power_of_attorney", "poder.pdf", &pdf())
            .post(&browser)
            .await;
        assert_refused(&alone, "id_copy", message);
        app.assert_nothing_stored(&format!("{kind} with a poder alone"))
            .await;
    }
    // The form comes back with its one-time token: the corrected form goes through.
    let form = RequestForm::open(&browser, "si").await.complete().file(
        "power_of_attorney",
        "poder.pdf",
        &pdf(),
    );
    let refused = form.post(&browser).await;
    assert_eq!(hidden_value(&refused.body, "token"), form.token());
    let corrected = form
        .file("id_copy", "cedula.png", &png())
        .post(&browser)
        .await;
    assert_eq!(
        corrected.status,
        StatusCode::SEE_OTHER,
        "{}",
        corrected.body
    );
    for (kind, id_label) in [
        ("si", "Copia cédula de identidad"),
        ("sc", "Copia cédula de identidad"),
        ("nc", "Fotocopia cédula de identidad"),
    ] {
        let both = RequestForm::open(&browser, kind)
            .await
            .complete()
            .file("power_of_attorney", "poder.pdf", &pdf())
            .file("id_copy", "cedula.png", &png())
            .post(&browser)
            .await;
        assert_eq!(both.status, StatusCode::SEE_OTHER, "{kind}: {}", both.body);
        let view = browser.get(both.location()).await;
        view.assert_contains("<span class=\"doc-label\">Poder simple</span> <span class=\"doc-name\">poder.pdf</span>");
        view.assert_contains(&format!(
            "<span class=\"doc-label\">{id_label}</span> <span class=\"doc-name\">cedula.png</span>"
        ));
    }
    // A cédula alone is fine.
    let id_only = RequestForm::open(&browser, "si")
        .await
        .complete()
        .file("id_copy", "cedula.png", &png())
        .post(&browser)
        .await;
    assert_eq!(id_only.status, StatusCode::SEE_OTHER, "{}", id_only.body);
}

#[tokio::test]
async fn an_nc_bringing_the_meter_needs_its_two_certificates() {
    let app = TestApp::spawn().await;
    let browser = app.applicant(13_470_539).await;
    let accuracy = "Adjunte el Comprobante de exactitud del medidor.";
    let authorization = "Adjunte el Comprobante de autorización de comercialización del medidor.";
    let with_meter = || async {
        RequestForm::open(&browser, "nc")
            .await
            .complete()
            .field("brings_meter", "1")
    };
    let none = with_meter().await.post(&browser).await;
    assert_refused(&none, "meter_accuracy", accuracy);
    assert_refused(&none, "meter_authorization", authorization);
    assert_eq!(field_error(&none.body, "meter_delivery"), None);
    app.assert_nothing_stored("meter without certificates")
        .await;

    let one = with_meter()
        .await
        .file("meter_accuracy", "exactitud.pdf", &pdf())
        .file("meter_delivery", "entrega.pdf", &pdf())
        .post(&browser)
        .await;
    assert_refused(&one, "meter_authorization", authorization);
    assert_eq!(field_error(&one.body, "meter_accuracy"), None);
    app.assert_nothing_stored("meter without authorization")
        .await;

    // The delivery receipt is optional.
    let both = with_meter()
        .await
        .file("meter_accuracy", "exactitud.pdf", &pdf())
        .file("meter_authorization", "autorizacion.pdf", &pdf())
        .post(&browser)
        .await;
    assert_eq!(both.status, StatusCode::SEE_OTHER, "{}", both.body);
    let view = browser.get(both.location()).await;
    view.assert_contains("Lo aporta el solicitante");
    view.assert_contains("<span class=\"doc-label\">Comprobante de exactitud</span> <span class=\"doc-name\">exactitud.pdf</span>");
    view.assert_contains("<span class=\"doc-label\">Comprobante de autorización de comercialización</span> <span class=\"doc-name\">autorizacion.pdf</span>");
    assert_eq!(attachment_links(&view.body).len(), 7);

    let all = with_meter()
        .await
        .file("meter_accuracy", "exactitud.pdf", &pdf())
        .file("meter_authorization", "autorizacion.pdf", &pdf())
        .file("meter_delivery", "entrega.pdf", &pdf())
        .post(&browser)
        .await;
    assert_eq!(all.status, StatusCode::SEE_OTHER, "{}", all.body);
    let view = browser.get(all.location()).await;
    view.assert_contains("<span class=\"doc-label\">Comprobante de entrega del equipo</span> <span class=\"doc-name\">entrega.pdf</span>");
    assert_eq!(attachment_links(&view.body).len(), 8);
    assert_eq!(app.stored_files().len(), 15);
}

#[tokio::test]
async fn an_nc_without_the_meter_ignores_meter_files() {
    let app = TestApp::spawn().await;
    let browser = app.applicant(13_470_539).await;
    let response = RequestForm::open(&browser, "nc")
        .await
        .complete()
        .file("meter_accuracy", "exactitud.pdf", &pdf())
        .file("meter_authorization", "autorizacion.pdf", &pdf())
        // Not even checked: a file the form does not take is not looked at.
        .file("meter_delivery", "entrega.exe", &windows_executable())
        .post(&browser)
        .await;
    assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
    let view = browser.get(response.location()).await;
    assert_eq!(attachment_links(&view.body).len(), 5);
    for absent in ["Medidor bidireccional", "exactitud.pdf", "Comprobante de"] {
        assert!(!view.body.contains(absent), "{absent} in the view");
    }
    assert_eq!(
        app.count("SELECT COUNT(*) FROM attachments WHERE slot LIKE 'meter%'")
            .await,
        0
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM requests WHERE brings_meter = 1")
            .await,
        0
    );
    assert_eq!(app.stored_files().len(), 5);
    assert!(app.scratch_files().is_empty());
}

/// A file a slot must refuse, and the problem its message must name.
struct BadFile {
    kind: &'static str,
    slot: &'static str,
    name: &'static str,
    bytes: Vec<u8>,
    problem: &'static str,
}

impl BadFile {
    /// The types and limit of the slot, which every message about it names.
    fn accepted(&self) -> &'static str {
        if self.slot == "contract" {
            "Se acepta: PDF de hasta 1 MB."
        } else {
            "Se acepta: PDF, JPG, PNG, DOC o DOCX de hasta 5 MB."
        }
    }
}

fn bad_files() -> Vec<BadFile> {
    let bad = |kind, slot, name, bytes, problem| BadFile {
        kind,
        slot,
        name,
        bytes,
        problem,
    };
    let not_a_document = "El archivo debe ser del tipo PDF, JPG, PNG, DOC o DOCX.";
    let zeros = vec![0u8; 60 * MIB];
    let bomb = docx(&[("word/media/image1.png", &zeros)]);
    assert!(
        bomb.len() < MIB,
        "the bomb compresses to {} bytes",
        bomb.len()
    );
    let macros = docx(&[("word/vbaProject.bin", b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1")]);
    let png_then_html = [png(), b"<html></html>".to_vec()].concat();
    vec![
        bad(
            "si",
            "form",
            "formulario.pdf",
            windows_executable(),
            not_a_document,
        ),
        bad(
            "si",
            "other",
            "programa.pdf",
            windows_executable(),
            not_a_document,
        ),
        bad(
            "sc",
            "form",
            "grande.pdf",
            pdf_of_size(5 * MIB + 1),
            "El archivo supera el tamaño máximo de 5 MB.",
        ),
        bad(
            "si",
            "form",
            "vacio.pdf",
            Vec::new(),
            "El archivo está vacío.",
        ),
        bad(
            "mc",
            "other",
            "vacio.pdf",
            Vec::new(),
            "El archivo está vacío.",
        ),
        bad(
            "nc",
            "contract",
            "contrato.png",
            png(),
            "El archivo debe ser del tipo PDF.",
        ),
        bad(
            "nc",
            "contract",
            "contrato.pdf",
            pdf_of_size(MIB + 1),
            "El archivo supera el tamaño máximo de 1 MB.",
        ),
        bad(
            "nc",
            "contract",
            "contrato.pdf",
            png_then_html,
            "El archivo debe ser del tipo PDF.",
        ),
        bad(
            "si",
            "form",
            "formulario.docx",
            bomb,
            "El archivo DOCX es demasiado grande al descomprimirlo.",
        ),
        bad(
            "nc",
            "te4",
            "te4.docx",
            macros,
            "El archivo DOCX contiene macros y no se acepta.",
        ),
    ]
}

#[tokio::test]
async fn bad_files_are_refused_with_the_types_and_limit_of_their_slot() {
    let app = TestApp::spawn().await;
    let browser = app.applicant(13_470_539).await;
    for file in bad_files() {
        let response = RequestForm::open(&browser, file.kind)
            .await
            .complete()
            .file(file.slot, file.name, &file.bytes)
            .post(&browser)
            .await;
        let case = format!(
            "{} {} {} ({} bytes)",
            file.kind,
            file.slot,
            file.name,
            file.bytes.len()
        );
        assert_refused(&response, file.slot, file.problem);
        let message = field_error(&response.body, file.slot).unwrap();
        assert!(message.contains(file.accepted()), "{case}: {message:?}");
        // Only the bad file is flagged: no "missing" message on top of it.
        assert!(!message.contains("Adjunte"), "{case}: {message:?}");
        app.assert_nothing_stored(&case).await;
    }
}

#[tokio::test]
async fn files_at_the_limit_and_a_plain_docx_are_accepted() {
    let app = TestApp::spawn().await;
    let browser = app.applicant(13_470_539).await;
    let five = pdf_of_size(5 * MIB);
    let one = pdf_of_size(MIB);
    let response = RequestForm::open(&browser, "nc")
        .await
        .complete()
        .file("form", "formulario.pdf", &five)
        .file("contract", "contrato.pdf", &one)
        .file("te4", "te4.docx", &docx(&[]))
        .post(&browser)
        .await;
    assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
    assert_eq!(
        attachment_of(&app, "form").await,
        (5 * MIB as i64, "PDF".to_string())
    );
    assert_eq!(
        attachment_of(&app, "contract").await,
        (MIB as i64, "PDF".to_string())
    );
    assert_eq!(attachment_of(&app, "te4").await.1, "DOCX");
    let view = browser.get(response.location()).await;
    let form_link = document_link(&view.body, "formulario.pdf");
    let download = browser.get_bytes(&form_link).await;
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(download.body, five);
}

/// The size and detected type of the one attachment in a slot.
async fn attachment_of(app: &TestApp, slot: &str) -> (i64, String) {
    use sqlx::Row;
    let row = sqlx::query("SELECT size_bytes, file_kind FROM attachments WHERE slot = $1")
        .bind(slot)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    (row.get::<i64, _>(0), row.get::<String, _>(1))
}
