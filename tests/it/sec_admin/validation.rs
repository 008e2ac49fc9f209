//! A new or edited account is checked field by field, and stays unique where it must.

use axum::http::StatusCode;
use portal::domain::RegulatorRole;

use super::{USERS, audit_events, created_id, new_distributor, sec, user_id};
use crate::support::{TestApp, rut_for};

#[tokio::test]
async fn a_new_account_is_checked_field_by_field() {
    let app = TestApp::spawn().await;
    let admin = sec(&app, 11_111_111, RegulatorRole::Administrator).await;
    admin.get("/sec/admin/usuarios/nuevo").await;
    let missing = [
        ("perfil", "distributor"),
        ("distributor_id", "no-such-company"),
        ("rut", "12.345.678-9"),
        ("names", "Ana\r\nBcc: x"),
        ("surnames", ""),
        ("email", "no es correo"),
    ];
    let refused = admin.post("/sec/admin/usuarios/nuevo", &missing).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    for message in [
        "Seleccione la distribuidora de la cuenta.",
        "El dígito verificador del RUT no es correcto.",
        "El texto contiene caracteres no permitidos.",
        "Este campo es obligatorio.",
        "El correo electrónico no es válido.",
    ] {
        refused.assert_contains(message);
    }
    let sec_without_role = [
        ("perfil", "regulator"),
        ("role", "superusuario"),
        ("rut", "12.345.678-5"),
        ("names", "Ana"),
        ("surnames", "Soto"),
        ("email", "ana@sec.example"),
    ];
    let refused = admin
        .post("/sec/admin/usuarios/nuevo", &sec_without_role)
        .await;
    refused.assert_contains("Seleccione el rol SEC de la cuenta.");
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 1);
}

#[tokio::test]
async fn the_same_profile_and_rut_make_one_account() {
    let app = TestApp::spawn().await;
    let admin = sec(&app, 11_111_111, RegulatorRole::Administrator).await;
    created_id(&new_distributor(&admin, 15_000_000, "dx@enel.example").await);
    let twice = new_distributor(&admin, 15_000_000, "otro@enel.example").await;
    assert_eq!(twice.status, StatusCode::UNPROCESSABLE_ENTITY);
    twice.assert_contains("Ya existe una cuenta con este perfil y RUT.");
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 2);
}

#[tokio::test]
async fn an_applicant_email_stays_unique_among_applicants() {
    let app = TestApp::spawn().await;
    let admin = sec(&app, 11_111_111, RegulatorRole::Administrator).await;
    app.create_user("solicitante", &rut_for(13_470_539), "ana@example.cl", None)
        .await;
    app.create_user("solicitante", &rut_for(14_000_000), "luis@example.cl", None)
        .await;
    let luis = format!("{USERS}/{}", user_id(&app, "applicant", 14_000_000).await);
    let fields = [
        ("names", "Luis"),
        ("surnames", "Soto"),
        ("email", "ANA@example.cl"),
    ];
    let refused = admin.post(&luis, &fields).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    refused.assert_contains("Otro Solicitante ya usa este correo electrónico.");
    admin.get("/sec/admin/usuarios/nuevo").await;
    let rut = rut_for(16_000_000);
    let new_applicant = [
        ("perfil", "applicant"),
        ("rut", rut.as_str()),
        ("names", "Eva"),
        ("surnames", "Paz"),
        ("email", "ana@example.cl"),
    ];
    let refused = admin
        .post("/sec/admin/usuarios/nuevo", &new_applicant)
        .await;
    refused.assert_contains("Otro Solicitante ya usa este correo electrónico.");
    assert!(audit_events(&app).await.is_empty());
}
