//! "Enlaces de Interés" and "Descarga de Formularios" as SEC edits them and users see them.

use axum::http::StatusCode;

use super::{audit_count, sec_admin};
use crate::support::{Browser, TestApp, pdf, png};

/// The titles of "Enlaces de Interés" as a user sees them, in order.
async fn public_titles(browser: &Browser<'_>) -> Vec<String> {
    let page = browser.get("/enlaces").await;
    page.body
        .split("rel=\"noopener noreferrer\">")
        .skip(1)
        .map(|rest| rest.split("</a>").next().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn links_are_added_edited_moved_and_removed() {
    let app = TestApp::spawn().await;
    let sec = sec_admin(&app).await;
    let applicant = app.applicant(13_470_539).await;
    let bad = sec
        .post(
            "/sec/admin/enlaces",
            &[
                ("title", "Truco"),
                ("url", "javascript:alert(1)"),
                ("active", "1"),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    bad.assert_contains("comience con https:// o http://");
    bad.assert_contains("value=\"Truco\"");
    let fields = [
        ("title", "Ley 20.571"),
        ("url", "https://www.bcn.cl/leychile/navegar?idNorma=1038211"),
        ("description", "El texto de la ley."),
        ("active", "1"),
    ];
    sec.post("/sec/admin/enlaces", &fields)
        .await
        .assert_redirect("/sec/admin/enlaces?aviso=enlace_agregado");
    let titles = public_titles(&applicant).await;
    assert_eq!(titles.len(), 7);
    assert_eq!(titles.last().unwrap(), "Ley 20.571");
    let id: String = sqlx::query_scalar("SELECT id FROM links WHERE title = 'Ley 20.571'")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();

    sec.post(
        &format!("/sec/admin/enlaces/{id}/mover"),
        &[("direccion", "arriba")],
    )
    .await
    .assert_redirect("/sec/admin/enlaces?aviso=enlace_movido");
    let titles = public_titles(&applicant).await;
    assert_eq!(titles[5], "Ley 20.571");
    assert_eq!(
        titles[6],
        "Ayuda (Ingreso al portal de Generación Ciudadana)"
    );

    let edit = sec.get(&format!("/sec/admin/enlaces/{id}")).await;
    edit.assert_contains("Editar enlace");
    // Unticked "active": kept for SEC, hidden from users.
    sec.post(
        &format!("/sec/admin/enlaces/{id}"),
        &[
            ("title", "Ley 20.571 (BCN)"),
            ("url", "http://bcn.cl"),
            ("description", ""),
        ],
    )
    .await
    .assert_redirect("/sec/admin/enlaces?aviso=enlace_guardado");
    assert!(
        !public_titles(&applicant)
            .await
            .iter()
            .any(|t| t.contains("20.571"))
    );
    sec.get("/sec/admin/enlaces")
        .await
        .assert_contains("Ley 20.571 (BCN)");

    sec.post(&format!("/sec/admin/enlaces/{id}/eliminar"), &[])
        .await
        .assert_redirect("/sec/admin/enlaces?aviso=enlace_eliminado");
    assert_eq!(app.rows("links").await, 6);
    for event in ["link_added", "link_moved", "link_updated", "link_removed"] {
        assert_eq!(audit_count(&app, event).await, 1, "{event}");
    }
}

#[tokio::test]
async fn official_forms_are_published_downloaded_and_removed() {
    let app = TestApp::spawn().await;
    let sec = sec_admin(&app).await;
    let applicant = app.applicant(13_470_539).await;
    let wrong = sec
        .post_multipart(
            "/sec/admin/formularios",
            &[("title", "Foto")],
            &[("file", "foto.pdf", &png())],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    wrong.assert_contains("Se acepta: PDF, DOC o DOCX de hasta 5 MB.");
    let missing = sec
        .post_multipart("/sec/admin/formularios", &[("title", "")], &[])
        .await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    missing.assert_contains("Seleccione el archivo del formulario.");
    assert!(app.stored_files().is_empty());

    let published = sec
        .post_multipart(
            "/sec/admin/formularios",
            &[("title", "Formulario SI")],
            &[("file", "Formulario SI ñ.pdf", &pdf())],
        )
        .await;
    published.assert_redirect("/sec/admin/enlaces?aviso=formulario_agregado");
    let (id, key): (String, String) = sqlx::query_as("SELECT id, storage_key FROM official_forms")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert!(key.starts_with("official-forms/"), "{key}");
    let links = applicant.get("/enlaces").await;
    links.assert_contains("<h2 id=\"formularios\">Descarga de Formularios</h2>");
    links.assert_contains(&format!("href=\"/formularios/{id}\""));

    let download = applicant.get_bytes(&format!("/formularios/{id}")).await;
    assert_eq!(download.status, StatusCode::OK);
    assert_eq!(download.body, pdf());
    assert_eq!(download.header("content-type"), "application/pdf");
    assert_eq!(download.header("x-content-type-options"), "nosniff");
    assert!(
        download
            .header("content-disposition")
            .starts_with("attachment;")
    );
    let anonymous = app.browser().get(&format!("/formularios/{id}")).await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);

    sec.post(&format!("/sec/admin/formularios/{id}/eliminar"), &[])
        .await
        .assert_redirect("/sec/admin/enlaces?aviso=formulario_eliminado");
    let gone = applicant.get_bytes(&format!("/formularios/{id}")).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert!(app.stored_files().is_empty());
    assert!(
        !applicant
            .get("/enlaces")
            .await
            .body
            .contains("id=\"formularios\"")
    );
    assert_eq!(audit_count(&app, "official_form_added").await, 1);
    assert_eq!(audit_count(&app, "official_form_removed").await, 1);
}
