//! Who may use the "Administrador": every SEC user looks, only an administrador changes, and
//! the other profiles do not find it.

use axum::http::StatusCode;
use portal::domain::RegulatorRole;

use super::{AUDITOR_REFUSAL, USERS, audit_events, created_id, new_distributor, sec, user_id};
use crate::support::{PASSWORD, TestApp, place, rut_for};

#[tokio::test]
async fn an_auditor_sees_the_lists_and_is_refused_every_change() {
    let app = TestApp::spawn().await;
    let admin = sec(&app, 11_111_111, RegulatorRole::Administrator).await;
    let id = created_id(&new_distributor(&admin, 15_000_000, "dx@enel.example").await);
    let (enel, _, _) = place(&app, "EN").await;
    let auditor = sec(&app, 12_222_222, RegulatorRole::Auditor).await;
    let user = format!("{USERS}/{id}");
    let company = format!("/sec/admin/empresas/{enel}");
    for path in ["/sec/admin", USERS, "/sec/admin/empresas", &user, &company] {
        let page = auditor.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(!page.body.contains("Grabar"), "{path}");
    }
    for path in ["/sec/admin/usuarios/nuevo", "/sec/admin/empresas/nueva"] {
        assert_eq!(auditor.get(path).await.status, StatusCode::FORBIDDEN);
    }
    let posts = [
        "/sec/admin/usuarios/nuevo".to_string(),
        user.clone(),
        format!("{user}/deshabilitar"),
        format!("{user}/habilitar"),
        format!("{user}/enlace"),
        format!("{user}/eliminar"),
        "/sec/admin/empresas/nueva".to_string(),
        company.clone(),
        format!("{company}/pago"),
        format!("{company}/respuesta/si/eliminar"),
    ];
    for path in &posts {
        let refused = auditor
            .post(path, &[("names", "x"), ("confirm", "1")])
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
        refused.assert_contains(AUDITOR_REFUSAL);
    }
    assert_eq!(audit_events(&app).await, ["account_created"]);
}

#[tokio::test]
async fn other_profiles_get_404_and_anonymous_visitors_the_login_page() {
    let app = TestApp::spawn().await;
    let applicant = app.applicant(13_470_539).await;
    app.create_user(
        "distribuidora",
        &rut_for(15_000_000),
        "dx@enel.example",
        Some("EN"),
    )
    .await;
    let distributor = app.browser();
    distributor
        .login("distributor", &rut_for(15_000_000), PASSWORD)
        .await
        .assert_redirect("/distribuidora");
    let id = user_id(&app, "distributor", 15_000_000).await;
    let user = format!("{USERS}/{id}");
    for path in [
        "/sec/admin",
        USERS,
        "/sec/admin/empresas",
        "/sec/admin/usuarios/nuevo",
        &user,
    ] {
        for browser in [&applicant, &distributor] {
            assert_eq!(
                browser.get(path).await.status,
                StatusCode::NOT_FOUND,
                "{path}"
            );
        }
        let next = url::form_urlencoded::byte_serialize(path.as_bytes()).collect::<String>();
        app.browser()
            .get(path)
            .await
            .assert_redirect(&format!("/ingreso?next={next}"));
    }
    for browser in [&applicant, &distributor] {
        let refused = browser.post(&format!("{user}/deshabilitar"), &[]).await;
        assert_eq!(refused.status, StatusCode::NOT_FOUND);
    }
    assert!(audit_events(&app).await.is_empty());
}
