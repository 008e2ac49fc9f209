//! The applicant's requests: forms, uploads, inbox, view, downloads.

use axum::http::StatusCode;

use crate::support::{PASSWORD, TestApp, TestResponse, pdf, place};

/// Logs in a new applicant and files a Solicitud de Información with one PDF.
async fn file_si(app: &TestApp, browser: &crate::support::Browser<'_>) -> TestResponse {
    let (distributor, region, comuna) = place(app, "EN").await;
    let form = browser.get("/solicitudes/nueva/si").await;
    assert_eq!(form.status, StatusCode::OK);
    let token = hidden(&form.body, "token");
    browser
        .post_multipart(
            "/solicitudes/nueva/si",
            &[
                ("token", &token),
                ("distributor_id", &distributor),
                ("region", &region),
                ("comuna", &comuna),
                ("client_number", "123456-7"),
            ],
            &[("form", "formulario SI.pdf", &pdf())],
        )
        .await
}

pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in page"))
        + marker.len();
    html[start..].chars().take_while(|c| *c != '"').collect()
}

#[tokio::test]
async fn an_si_with_a_pdf_reaches_the_inbox_the_view_and_the_emails() {
    let app = TestApp::spawn().await;
    app.create_user("distribuidora", "12345678-5", "dx@enel.example", Some("EN"))
        .await;
    let browser = app.browser();
    app.create_user("solicitante", "13470539-6", "ana@example.cl", None)
        .await;
    browser.login("applicant", "13470539-6", PASSWORD).await;
    let response = file_si(&app, &browser).await;
    assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
    let view = browser.get(response.location()).await;
    view.assert_contains("Solicitud de Información");
    view.assert_contains("Pendiente de Respuesta");
    view.assert_contains("EN1");
    view.assert_contains("123456-7");
    view.assert_contains("formulario SI.pdf");
    view.assert_contains("Enviado : 04/03/2025 10:00 AM");
    // Received Tuesday 4 March 2025: 10 business days later is Tuesday 18 March.
    view.assert_contains("18/03/2025");
    let inbox = browser.get("/solicitudes").await;
    inbox.assert_contains("[ 1 - 1 ] de 1 Items");
    inbox.assert_contains("Enel Distribución");
    assert_eq!(
        app.emails_to("ana@example.cl").await.last().unwrap().0,
        "Recibimos su Solicitud de Información EN1"
    );
    assert_eq!(
        app.emails_to("dx@enel.example").await.last().unwrap().0,
        "Nueva Solicitud de Información EN1"
    );
}
