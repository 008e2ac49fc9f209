//! The SEC console's "Administrador": accounts of every profile. Companies are in `companies`.

mod access;
mod companies;
mod validation;

use axum::http::StatusCode;
use portal::domain::{Email, Profile, RegulatorRole, Rut, password};

use crate::support::{Browser, PASSWORD, TestApp, TestResponse, place, rut_for};

pub(super) const USERS: &str = "/sec/admin/usuarios";
pub(super) const AUDITOR_REFUSAL: &str =
    "Su rol de auditor permite consultar y exportar, pero no modificar.";
const NEW_PASSWORD: &str = "la cuenta nueva elige su frase";

/// A SEC account with a password, logged in in a browser of its own.
pub(super) async fn sec(app: &TestApp, number: u32, role: RegulatorRole) -> Browser<'_> {
    let rut = rut_for(number);
    let account = portal::accounts::NewAccount {
        profile: Profile::Regulator,
        rut: Rut::parse(&rut).unwrap(),
        email: Email::parse(&format!("sec{number}@sec.example")).unwrap(),
        names: "Funcionaria".to_string(),
        surnames: "SEC".to_string(),
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

/// The administrative actions in the audit trail, oldest first: those done by a SEC user.
/// Accounts made by the test set-up (no actor) and logins are left out.
pub(super) async fn audit_events(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT a.event FROM audit_log a JOIN users u ON u.id = a.actor_id \
         WHERE u.profile = 'regulator' AND a.event NOT IN ('login', 'logout') \
         ORDER BY a.occurred_at, a.id",
    )
    .fetch_all(app.state.db.pool())
    .await
    .unwrap()
}

pub(super) async fn user_id(app: &TestApp, profile: &str, number: u32) -> String {
    sqlx::query_scalar("SELECT id FROM users WHERE profile = $1 AND rut = $2")
        .bind(profile)
        .bind(rut_for(number))
        .fetch_one(app.state.db.pool())
        .await
        .unwrap()
}

/// The account id of the redirect after a creation: `/sec/admin/usuarios/{id}?hecho=creada`.
pub(super) fn created_id(response: &TestResponse) -> String {
    assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
    let location = response.location();
    let rest = location.strip_prefix("/sec/admin/usuarios/").unwrap();
    rest.strip_suffix("?hecho=creada").unwrap().to_string()
}

/// "Nuevo usuario" of a Distribuidora account of Enel.
pub(super) async fn new_distributor(admin: &Browser<'_>, number: u32, email: &str) -> TestResponse {
    let (enel, _, _) = place(admin.app, "EN").await;
    admin.get("/sec/admin/usuarios/nuevo").await;
    let rut = rut_for(number);
    let fields = [
        ("perfil", "distributor"),
        ("distributor_id", enel.as_str()),
        ("rut", rut.as_str()),
        ("names", "Daniela"),
        ("surnames", "Rojas Díaz"),
        ("email", email),
        // Ignored: a role belongs to SEC accounts only.
        ("role", "administrador"),
    ];
    admin.post("/sec/admin/usuarios/nuevo", &fields).await
}

/// A Distribuidora user of Enel, logged in.
pub(super) async fn enel_staff(app: &TestApp) -> Browser<'_> {
    let rut = rut_for(15_000_000);
    app.create_user("distribuidora", &rut, "dx@enel.example", Some("EN"))
        .await;
    let browser = app.browser();
    browser
        .login("distributor", &rut, PASSWORD)
        .await
        .assert_redirect("/distribuidora");
    browser
}

/// Opens an e-mailed password link in a new browser and chooses [`NEW_PASSWORD`].
async fn choose_password<'a>(app: &'a TestApp, link: &str) -> Browser<'a> {
    assert!(link.starts_with("/clave/"), "{link}");
    let holder = app.browser();
    holder.get(link).await.assert_contains("Nueva contraseña");
    let fields = [
        ("password", NEW_PASSWORD),
        ("password_confirmation", NEW_PASSWORD),
    ];
    holder.post(link, &fields).await.assert_redirect("/ingreso");
    holder
}

#[tokio::test]
async fn an_administrator_creates_a_distributor_user_who_sets_a_password_and_logs_in() {
    let app = TestApp::spawn().await;
    let admin = sec(&app, 11_111_111, RegulatorRole::Administrator).await;
    let created = new_distributor(&admin, 15_000_000, "dx@enel.example").await;
    let id = created_id(&created);
    let page = admin.get(created.location()).await;
    page.assert_contains("La cuenta fue creada.");
    page.assert_contains("Enel");
    let stored: (Option<String>, Option<String>) =
        sqlx::query_as("SELECT password_hash, regulator_role FROM users WHERE id = $1")
            .bind(&id)
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
    assert_eq!(stored, (None, None));

    let link = app.link_in_last_email("dx@enel.example").await;
    let holder = choose_password(&app, &link).await;
    holder
        .login("distributor", &rut_for(15_000_000), NEW_PASSWORD)
        .await
        .assert_redirect("/distribuidora");

    // A second link on request, e-mailed the same way.
    admin
        .post(&format!("{USERS}/{id}/enlace"), &[])
        .await
        .assert_redirect(&format!("{USERS}/{id}?hecho=enlace"));
    assert_eq!(app.emails_to("dx@enel.example").await.len(), 2);
    let second = app.link_in_last_email("dx@enel.example").await;
    assert_ne!(second, link);
    assert_eq!(
        audit_events(&app).await,
        ["account_created", "password_link_sent"]
    );
}

#[tokio::test]
async fn the_list_filters_by_profile_and_by_rut_name_or_email() {
    let app = TestApp::spawn().await;
    let admin = sec(&app, 11_111_111, RegulatorRole::Administrator).await;
    app.create_user("solicitante", &rut_for(13_470_539), "ana@example.cl", None)
        .await;
    new_distributor(&admin, 15_000_000, "dx@enel.example").await;
    let all = admin.get(USERS).await;
    for rut in ["11.111.111-1", "13.470.539", "15.000.000"] {
        all.assert_contains(rut);
    }
    let distributors = admin.get(&format!("{USERS}?perfil=distributor")).await;
    distributors.assert_contains("Daniela Rojas Díaz");
    assert!(!distributors.body.contains("ana@example.cl"));
    for search in ["13.470.539", "ANA@EXAMPLE", "nombre de"] {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("buscar", search)
            .finish();
        let found = admin.get(&format!("{USERS}?{query}")).await;
        found.assert_contains("ana@example.cl");
        assert!(!found.body.contains("dx@enel.example"), "{search}");
    }
    let none = admin.get(&format!("{USERS}?buscar=%25_")).await;
    none.assert_contains("No hay cuentas que cumplan con los filtros.");
}

#[tokio::test]
async fn disabling_ends_the_sessions_and_blocks_login_until_enabled() {
    let app = TestApp::spawn().await;
    let admin = sec(&app, 11_111_111, RegulatorRole::Administrator).await;
    let rut = rut_for(15_000_000);
    let staff = enel_staff(&app).await;
    let id = user_id(&app, "distributor", 15_000_000).await;
    let user = format!("{USERS}/{id}");
    admin
        .post(&format!("{user}/deshabilitar"), &[])
        .await
        .assert_redirect(&format!("{user}?hecho=deshabilitada"));
    let sessions = "SELECT COUNT(*) FROM sessions s JOIN users u ON u.id = s.user_id \
                    WHERE u.profile = 'distributor'";
    assert_eq!(app.count(sessions).await, 0);
    staff
        .get("/distribuidora")
        .await
        .assert_redirect("/ingreso?next=%2Fdistribuidora");
    staff
        .login("distributor", &rut, PASSWORD)
        .await
        .assert_contains("Su cuenta está deshabilitada");
    admin.get(&user).await.assert_contains("Deshabilitada");
    // A second click changes nothing and records nothing.
    admin.post(&format!("{user}/deshabilitar"), &[]).await;
    admin
        .post(&format!("{user}/habilitar"), &[])
        .await
        .assert_redirect(&format!("{user}?hecho=habilitada"));
    staff
        .login("distributor", &rut, PASSWORD)
        .await
        .assert_redirect("/distribuidora");
    assert_eq!(
        audit_events(&app).await,
        ["account_disabled", "account_enabled"]
    );
}

#[tokio::test]
async fn an_administrator_cannot_disable_delete_or_demote_themself() {
    let app = TestApp::spawn().await;
    let admin = sec(&app, 11_111_111, RegulatorRole::Administrator).await;
    let me = format!("{USERS}/{}", user_id(&app, "regulator", 11_111_111).await);
    let disabled = admin.post(&format!("{me}/deshabilitar"), &[]).await;
    assert_eq!(disabled.status, StatusCode::CONFLICT);
    disabled.assert_contains("No puede deshabilitar su propia cuenta.");
    let deleted = admin
        .post(&format!("{me}/eliminar"), &[("confirm", "1")])
        .await;
    assert_eq!(deleted.status, StatusCode::CONFLICT);
    deleted.assert_contains("No puede eliminar su propia cuenta.");
    let fields = [
        ("names", "Funcionaria"),
        ("surnames", "SEC"),
        ("email", "sec11111111@sec.example"),
        ("role", "auditor"),
    ];
    let demoted = admin.post(&me, &fields).await;
    assert_eq!(demoted.status, StatusCode::UNPROCESSABLE_ENTITY);
    demoted.assert_contains("No puede quitarse a sí mismo el rol de administrador.");
    assert_eq!(
        admin.get("/sec/admin/usuarios/nuevo").await.status,
        StatusCode::OK
    );
    assert!(audit_events(&app).await.is_empty());
}

#[tokio::test]
async fn a_user_with_requests_is_kept_and_an_unused_one_deleted() {
    let app = TestApp::spawn().await;
    let admin = sec(&app, 11_111_111, RegulatorRole::Administrator).await;
    let applicant = app.applicant(13_470_539).await;
    let filed = crate::support::RequestForm::open(&applicant, "si")
        .await
        .complete()
        .post(&applicant)
        .await;
    assert_eq!(filed.status, StatusCode::SEE_OTHER, "{}", filed.body);
    let used = format!("{USERS}/{}", user_id(&app, "applicant", 13_470_539).await);
    let refused = admin
        .post(&format!("{used}/eliminar"), &[("confirm", "1")])
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    refused.assert_contains("1 solicitud(es) como solicitante");
    refused.assert_contains("Puede deshabilitarla");

    let unused = created_id(&new_distributor(&admin, 15_000_000, "dx@enel.example").await);
    let unused = format!("{USERS}/{unused}");
    let unconfirmed = admin.post(&format!("{unused}/eliminar"), &[]).await;
    assert_eq!(unconfirmed.status, StatusCode::CONFLICT);
    admin
        .post(&format!("{unused}/eliminar"), &[("confirm", "1")])
        .await
        .assert_redirect(&format!("{USERS}?hecho=eliminada"));
    assert_eq!(admin.get(&unused).await.status, StatusCode::NOT_FOUND);
    assert_eq!(admin.get(&used).await.status, StatusCode::OK);
    assert_eq!(
        audit_events(&app).await,
        ["account_created", "account_deleted"]
    );
}

#[tokio::test]
async fn edits_are_saved_and_a_demoted_administrator_is_refused_at_once() {
    let app = TestApp::spawn().await;
    let admin = sec(&app, 11_111_111, RegulatorRole::Administrator).await;
    let colleague = sec(&app, 12_222_222, RegulatorRole::Administrator).await;
    let other = format!("{USERS}/{}", user_id(&app, "regulator", 12_222_222).await);
    let fields = [
        ("names", "Carla"),
        ("surnames", "Muñoz"),
        ("email", "carla@sec.example"),
        ("role", "auditor"),
        // Not editable: ignored.
        ("rut", "1-9"),
        ("perfil", "applicant"),
    ];
    admin
        .post(&other, &fields)
        .await
        .assert_redirect(&format!("{other}?hecho=guardada"));
    let page = admin.get(&other).await;
    page.assert_contains("Carla Muñoz");
    page.assert_contains("carla@sec.example");
    page.assert_contains("12.222.222");
    let refused = colleague.post(&format!("{USERS}/nuevo"), &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    refused.assert_contains(AUDITOR_REFUSAL);
    assert_eq!(colleague.get(USERS).await.status, StatusCode::OK);
    assert_eq!(
        audit_events(&app).await,
        ["account_updated", "role_changed"]
    );
    let detail: String =
        sqlx::query_scalar("SELECT detail FROM audit_log WHERE event = 'role_changed'")
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
    assert_eq!(detail, "Administrador → Auditor");
}
