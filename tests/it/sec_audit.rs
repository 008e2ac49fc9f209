//! "Auditoría": security events and console changes are recorded, shown to every SEC user on a
//! page and in a CSV file, and never removed.

use std::collections::HashSet;

use axum::http::StatusCode;
use jiff::SignedDuration;
use portal::domain::RegulatorRole;
use portal::store::audit::{self, AuditEntry};

use crate::sec_messages::sec_user;
use crate::support::{Browser, PASSWORD, TestApp, rut_for};

const NEW_PASSWORD: &str = "recuerdo mejor esta frase";

/// The data lines of the audit CSV, header left out.
async fn csv_lines(browser: &Browser<'_>, query: &str) -> Vec<String> {
    let response = browser
        .get_bytes(&format!("/sec/auditoria.csv{query}"))
        .await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.header("content-type"), "text/csv; charset=utf-8");
    assert_eq!(
        response.header("content-disposition"),
        "attachment; filename=\"auditoria.csv\""
    );
    let text = String::from_utf8(response.body).unwrap();
    let mut lines = text.lines().map(str::to_string);
    assert_eq!(
        lines.next().as_deref(),
        Some("Fecha,Usuario,Evento,Código,Objeto,Detalle")
    );
    lines.collect()
}

/// The `[ a - b ] de N Items` total of a page.
fn total(html: &str) -> i64 {
    let start = html.find("data-total=\"").expect("a pager") + "data-total=\"".len();
    html[start..].split('"').next().unwrap().parse().unwrap()
}

async fn change_password(browser: &Browser<'_>) {
    browser.get("/perfil/clave").await;
    browser
        .post(
            "/perfil/clave",
            &[
                ("current_password", PASSWORD),
                ("password", NEW_PASSWORD),
                ("password_confirmation", NEW_PASSWORD),
            ],
        )
        .await
        .assert_redirect("/perfil");
}

#[tokio::test]
async fn logins_failures_and_password_changes_are_shown_and_exported() {
    let app = TestApp::spawn().await;
    let rut = rut_for(13_470_539);
    let applicant = app.applicant(13_470_539).await;
    app.advance(SignedDuration::from_mins(5));
    let stranger = app.browser_from("198.51.100.7:5000");
    stranger.login("applicant", &rut, "no es la clave").await;
    stranger
        .login("applicant", &rut_for(22_222_222), "tampoco")
        .await;
    change_password(&applicant).await;
    let admin = sec_user(&app, 10_000_001, RegulatorRole::Administrator).await;

    let page = admin.get("/sec/auditoria").await;
    assert_eq!(page.status, StatusCode::OK);
    for event in [
        "account_created",
        "login",
        "login_failed",
        "password_changed",
    ] {
        page.assert_contains(&format!("data-event=\"{event}\""));
    }
    // Newest first: the administrator's own login heads the list (10:05 in Santiago).
    page.assert_contains(
        "<td>04/03/2025 10:05</td>\n        <td>Sara Fiscalizadora</td>\n        \
         <td data-event=\"login\">Ingreso al sistema</td>",
    );
    // A failure names the account it was aimed at, never the typed RUT.
    page.assert_contains(
        "<td></td>\n        <td data-event=\"login_failed\">Ingreso fallido</td>\n        \
         <td>Nombre De Prueba</td>\n        <td>Perfil Solicitante</td>",
    );
    let lines = csv_lines(&admin, "").await;
    assert_eq!(lines.len() as i64, total(&page.body));
    assert!(
        lines.contains(
            &"04/03/2025 10:05,,Ingreso fallido,login_failed,Nombre De Prueba,Perfil Solicitante"
                .to_string()
        )
    );
    assert!(lines.contains(
        &"04/03/2025 10:05,,Ingreso fallido,login_failed,,Perfil Solicitante".to_string()
    ));
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with(",Cambio de contraseña,password_changed,,"))
    );
    for typed in ["13470539", "13.470.539", "22222222", "22.222.222"] {
        assert!(!page.body.contains(typed) && !lines.iter().any(|l| l.contains(typed)));
    }
}

#[tokio::test]
async fn a_lockout_is_recorded_once_and_a_reset_password_too() {
    let app = TestApp::spawn().await;
    let rut = rut_for(13_470_539);
    app.create_user("solicitante", &rut, "ana@example.cl", None)
        .await;
    let stranger = app.browser();
    for _ in 0..7 {
        stranger.login("applicant", &rut, "no es la clave").await;
    }
    stranger.get("/recuperar").await;
    stranger
        .post("/recuperar", &[("perfil", "applicant"), ("rut", &rut)])
        .await
        .assert_redirect("/recuperar/recibido");
    let link = app.link_in_last_email("ana@example.cl").await;
    stranger.get(&link).await;
    let fields = [
        ("password", NEW_PASSWORD),
        ("password_confirmation", NEW_PASSWORD),
    ];
    stranger
        .post(&link, &fields)
        .await
        .assert_redirect("/ingreso");

    let auditor = sec_user(&app, 10_000_002, RegulatorRole::Auditor).await;
    let lockouts = auditor.get("/sec/auditoria?evento=lockout").await;
    assert_eq!(total(&lockouts.body), 1);
    lockouts.assert_contains(
        "Perfil Solicitante: 5 intentos fallidos; la cuenta queda bloqueada 15 minutos",
    );
    let failures = auditor.get("/sec/auditoria?evento=login_failed").await;
    assert_eq!(
        total(&failures.body),
        5,
        "refused attempts are not failures"
    );
    let resets = csv_lines(&auditor, "?evento=password_reset").await;
    assert_eq!(
        resets,
        ["04/03/2025 10:00,Nombre De Prueba,Contraseña elegida con enlace,password_reset,,"]
    );
}

#[tokio::test]
async fn filters_by_event_and_by_day_in_chile_time() {
    let app = TestApp::spawn().await;
    let admin = sec_user(&app, 10_000_001, RegulatorRole::Administrator).await;
    // 4 March 2025 at 10:00 in Santiago; then 23:30 the same day, then the next morning.
    app.advance(SignedDuration::from_mins(13 * 60 + 30));
    admin
        .login("regulator", &rut_for(10_000_001), PASSWORD)
        .await;
    app.advance(SignedDuration::from_hours(10));
    admin
        .login("regulator", &rut_for(10_000_001), PASSWORD)
        .await;
    let day = admin
        .get("/sec/auditoria?evento=login&desde=04%2F03%2F2025&hasta=2025-03-04")
        .await;
    assert_eq!(total(&day.body), 2);
    day.assert_contains("04/03/2025 23:30");
    day.assert_contains("value=\"2025-03-04\"");
    let next = admin.get("/sec/auditoria?desde=2025-03-05").await;
    assert_eq!(total(&next.body), 1);
    let csv = csv_lines(&admin, "?evento=login&hasta=2025-03-04").await;
    assert_eq!(csv.len(), 2);
    let wrong = admin.get("/sec/auditoria?desde=ayer").await;
    wrong.assert_contains("Escriba la fecha como dd/mm/aaaa.");
    assert_eq!(total(&wrong.body), 4);
    // An event this page has no label for yet is shown by its code rather than hidden.
    let entry = AuditEntry {
        actor_id: None,
        event: "something_new",
        target: Some("x"),
        detail: None,
    };
    audit::record(app.state.db.pool(), &entry, app.now())
        .await
        .unwrap();
    let new = admin.get("/sec/auditoria?evento=something_new").await;
    assert_eq!(total(&new.body), 1);
    new.assert_contains("<td data-event=\"something_new\">something_new</td>");
}

#[tokio::test]
async fn entries_accumulate_and_none_disappear() {
    let app = TestApp::spawn().await;
    let admin = sec_user(&app, 10_000_001, RegulatorRole::Administrator).await;
    let rut = rut_for(10_000_001);
    for _ in 0..6 {
        app.advance(SignedDuration::from_mins(1));
        admin.login("regulator", &rut, PASSWORD).await;
    }
    let before: HashSet<String> = csv_lines(&admin, "").await.into_iter().collect();
    assert_eq!(before.len(), 8, "created, seven logins");

    // Changes that could tempt a rewrite of the trail: a template saved then restored, a
    // password changed, more logins.
    let path = "/sec/mensajes/receipt.SI";
    admin.get(path).await;
    admin
        .post(
            path,
            &[
                ("action", "grabar"),
                ("subject", "A {folio}"),
                ("body", "B"),
            ],
        )
        .await;
    admin.post(path, &[("action", "restablecer")]).await;
    change_password(&admin).await;
    for _ in 0..5 {
        app.advance(SignedDuration::from_mins(1));
        admin.login("regulator", &rut, NEW_PASSWORD).await;
    }
    let after: HashSet<String> = csv_lines(&admin, "").await.into_iter().collect();
    assert!(before.is_subset(&after), "an entry disappeared");
    assert_eq!(after.len(), 16);

    // The page holds the same entries, ten at a time.
    let first = admin.get("/sec/auditoria").await;
    assert_eq!(total(&first.body), 16);
    first.assert_contains("[ 1 - 10 ] de 16 Items");
    first.assert_contains("href=\"/sec/auditoria?items=10&#38;pagina=2\"");
    let second = admin.get("/sec/auditoria?items=10&pagina=2").await;
    second.assert_contains("[ 11 - 16 ] de 16 Items");
    second.assert_contains("data-event=\"account_created\"");
}

#[tokio::test]
async fn every_sec_user_reads_and_exports_other_profiles_get_not_found() {
    let app = TestApp::spawn().await;
    let auditor = sec_user(&app, 10_000_002, RegulatorRole::Auditor).await;
    auditor
        .get("/sec/auditoria")
        .await
        .assert_contains("data-event=\"login\"");
    assert_eq!(csv_lines(&auditor, "").await.len(), 2);
    let applicant = app.applicant(13_470_539).await;
    for path in ["/sec/auditoria", "/sec/auditoria.csv"] {
        assert_eq!(applicant.get(path).await.status, StatusCode::NOT_FOUND);
    }
    let anonymous = app.browser();
    let login = anonymous.get("/sec/auditoria.csv").await;
    login.assert_redirect("/ingreso?next=%2Fsec%2Fauditoria.csv");
}
