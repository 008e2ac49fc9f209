//! "Empresas distribuidoras": the companies' data, folio prefixes and settings, by SEC.

use axum::http::StatusCode;
use portal::domain::RegulatorRole;
use portal::store::companies;

use super::{audit_events, enel_staff, sec};
use crate::support::{RequestForm, TestApp, pdf, place};

const COMPANIES: &str = "/sec/admin/empresas";

fn company_fields<'a>(name: &'a str, prefix: &'a str) -> [(&'a str, &'a str); 5] {
    [
        ("name", name),
        ("business_name", "Cooperativa Eléctrica del Sur Ltda."),
        ("folio_prefix", prefix),
        ("kind", "cooperativa"),
        ("active", "1"),
    ]
}

#[tokio::test]
async fn a_company_is_created_with_a_unique_two_letter_prefix() {
    let app = TestApp::spawn().await;
    let admin = sec(&app, 11_111_111, RegulatorRole::Administrator).await;
    admin
        .get(&format!("{COMPANIES}/nueva"))
        .await
        .assert_contains("Prefijo de folio");
    let new = format!("{COMPANIES}/nueva");
    for (prefix, message) in [
        ("EN", "Otra distribuidora ya usa este prefijo de folio."),
        ("e1", "El prefijo de folio son dos letras"),
        ("ÑA", "El prefijo de folio son dos letras"),
        ("ABC", "El prefijo de folio son dos letras"),
    ] {
        let refused = admin.post(&new, &company_fields("Coopsur", prefix)).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{prefix}");
        refused.assert_contains(message);
    }
    let created = admin.post(&new, &company_fields("Coopsur", "xz")).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let page = admin.get(created.location()).await;
    page.assert_contains("Los datos de la empresa fueron guardados.");
    page.assert_contains("value=\"XZ\"");
    let list = admin.get(COMPANIES).await;
    list.assert_contains("Coopsur");
    list.assert_contains("Cooperativa");
    // Active: applicants find it in the forms' list.
    let active = portal::store::reference::active_distributors(&app.state.db)
        .await
        .unwrap();
    assert!(active.iter().any(|c| c.folio_prefix == "XZ"));
    assert_eq!(audit_events(&app).await, ["company_created"]);
}

#[tokio::test]
async fn a_new_prefix_leaves_earlier_folios_as_they_were() {
    let app = TestApp::spawn().await;
    let admin = sec(&app, 11_111_111, RegulatorRole::Administrator).await;
    let applicant = app.applicant(13_470_539).await;
    // Both forms are opened while the company is still "EN".
    let first = RequestForm::open(&applicant, "si").await.complete();
    let second = RequestForm::open(&applicant, "si").await.complete();
    assert_eq!(first.post(&applicant).await.status, StatusCode::SEE_OTHER);
    let (enel, _, _) = place(&app, "EN").await;
    let company = format!("{COMPANIES}/{enel}");
    let page = admin.get(&company).await;
    page.assert_contains("Cambiarlo no cambia los folios ya asignados");
    let fields = [
        ("name", "Enel Distribución"),
        ("business_name", "Enel Distribución Chile S.A."),
        ("folio_prefix", "XY"),
        ("kind", "empresa"),
        ("active", "1"),
    ];
    admin
        .post(&company, &fields)
        .await
        .assert_redirect(&format!("{company}?hecho=empresa"));
    assert_eq!(second.post(&applicant).await.status, StatusCode::SEE_OTHER);
    let folios: Vec<String> =
        sqlx::query_scalar("SELECT folio FROM requests ORDER BY folio_number")
            .fetch_all(app.state.db.pool())
            .await
            .unwrap();
    assert_eq!(folios, ["EN1", "XY2"]);
    assert_eq!(audit_events(&app).await, ["company_updated"]);
    let detail: String =
        sqlx::query_scalar("SELECT detail FROM audit_log WHERE event = 'company_updated'")
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
    assert!(detail.contains("prefijo: EN → XY"), "{detail}");
}

#[tokio::test]
async fn sec_edits_the_payment_data_the_company_shows() {
    let app = TestApp::spawn().await;
    let admin = sec(&app, 11_111_111, RegulatorRole::Administrator).await;
    let staff = enel_staff(&app).await;
    let (enel, _, _) = place(&app, "EN").await;
    let company = format!("{COMPANIES}/{enel}");
    let too_long = "x".repeat(2_001);
    let refused = admin
        .post(&format!("{company}/pago"), &[("bank_details", &too_long)])
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    refused.assert_contains("El texto tiene 2.001 caracteres.");
    let fields = [
        ("bank_details", "Banco Estado\r\nCuenta corriente 123"),
        ("payment_instructions", "Pague en caja."),
    ];
    admin
        .post(&format!("{company}/pago"), &fields)
        .await
        .assert_redirect(&format!("{company}?hecho=pago"));
    let stored = companies::settings(&app.state.db, &enel).await.unwrap();
    assert_eq!(stored.bank_details, "Banco Estado\nCuenta corriente 123");
    let own_page = staff.get("/distribuidora/configuracion").await;
    own_page.assert_contains("Cuenta corriente 123");
    assert_eq!(audit_events(&app).await, ["company_updated"]);
}

#[tokio::test]
async fn sec_downloads_and_removes_a_standard_answer() {
    let app = TestApp::spawn().await;
    let admin = sec(&app, 11_111_111, RegulatorRole::Administrator).await;
    let staff = enel_staff(&app).await;
    staff.get("/distribuidora/configuracion").await;
    let answer = "/distribuidora/configuracion/respuesta/si";
    let bytes = pdf();
    let file = [("file", "respuesta SI.pdf", bytes.as_slice())];
    let published = staff.post_multipart(answer, &[], &file).await;
    assert_eq!(
        published.status,
        StatusCode::SEE_OTHER,
        "{}",
        published.body
    );
    let (enel, _, _) = place(&app, "EN").await;
    let company = format!("{COMPANIES}/{enel}");
    admin
        .get(&company)
        .await
        .assert_contains("respuesta SI.pdf");
    let download = admin.get_bytes(&format!("{company}/respuesta/si")).await;
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(download.body, pdf());
    let disposition = download.header("content-disposition");
    assert!(disposition.starts_with("attachment"), "{disposition}");
    admin
        .post(&format!("{company}/respuesta/si/eliminar"), &[])
        .await
        .assert_redirect(&format!("{company}?hecho=respuesta"));
    assert_eq!(staff.get(answer).await.status, StatusCode::NOT_FOUND);
    assert_eq!(audit_events(&app).await, ["company_updated"]);
}
