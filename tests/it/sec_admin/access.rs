//! Who may use the "Administrador": every SEC user looks, only an administrador changes, and
//! the other profiles do not find it.

use axum::http::StatusCode;
use portal::domain::RegulatorRole;

use super::{
    AUDITOR_REFUSAL, USERS, audit_events, created_id, enel_staff, new_distributor, sec, user_id,
};
use crate::support::{TestApp, place};

/// Every POST of the console, for one account and one company.
fn changes(user: &str, company: &str) -> Vec<String> {
    let mut paths = vec![
        "/sec/admin/usuarios/nuevo".to_string(),
        "/sec/admin/empresas/nueva".to_string(),
    ];
    for action in ["", "/deshabilitar", "/habilitar", "/enlace", "/eliminar"] {
        paths.push(format!("{user}{action}"));
    }
    for action in ["", "/pago", "/respuesta/si/eliminar"] {
        paths.push(format!("{company}{action}"));
    }
    paths
}

#[tokio::test]
async fn an_auditor_sees_the_lists_and_is_refused_every_change() {
    let app = TestApp::spawn().await;
    let admin = sec(&app, 11_111_111, RegulatorRole::Administrator).await;
    let id = created_id(&new_distributor(&admin, 15_000_000, "dx@enel.example").await);
    let (enel, _, _) = place(&app, "EN").await;
    let auditor = sec(&app, 12_222_222, RegulatorRole::Auditor).await;
    let hub = auditor.get("/sec/admin").await;
    for href in ["usuarios", "empresas", "feriados", "plazos", "enlaces"] {
        hub.assert_contains(&format!("href=\"/sec/admin/{href}\""));
    }
    let (user, company) = (
        format!("{USERS}/{id}"),
        format!("/sec/admin/empresas/{enel}"),
    );
    for path in [USERS, "/sec/admin/empresas", &user, &company] {
        let page = auditor.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(!page.body.contains("Grabar"), "{path}");
    }
    for path in ["/sec/admin/usuarios/nuevo", "/sec/admin/empresas/nueva"] {
        assert_eq!(auditor.get(path).await.status, StatusCode::FORBIDDEN);
    }
    for path in changes(&user, &company) {
        let refused = auditor
            .post(&path, &[("names", "x"), ("confirm", "1")])
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
    let distributor = enel_staff(&app).await;
    let user = format!("{USERS}/{}", user_id(&app, "distributor", 15_000_000).await);
    let (enel, _, _) = place(&app, "EN").await;
    let company = format!("/sec/admin/empresas/{enel}");
    let pages = ["/sec/admin", USERS, "/sec/admin/empresas", &user, &company];
    for path in pages {
        for browser in [&applicant, &distributor] {
            let status = browser.get(path).await.status;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }
        let next = url::form_urlencoded::byte_serialize(path.as_bytes()).collect::<String>();
        let anonymous = app.browser().get(path).await;
        anonymous.assert_redirect(&format!("/ingreso?next={next}"));
    }
    for path in changes(&user, &company) {
        for browser in [&applicant, &distributor] {
            let refused = browser.post(&path, &[("confirm", "1")]).await;
            assert_eq!(refused.status, StatusCode::NOT_FOUND, "{path}");
        }
    }
    assert!(audit_events(&app).await.is_empty());
}
