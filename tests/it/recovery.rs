use axum::http::StatusCode;
use jiff::SignedDuration;

use crate::support::{PASSWORD, TestApp};

const NEW_PASSWORD: &str = "recuerdo mejor esta frase";

#[tokio::test]
async fn recovery_link_sets_a_new_password_once() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    browser
        .sign_up_and_login("13470539-6", "ana@example.cl")
        .await;
    let other_session = app.browser();
    other_session
        .login("applicant", "13470539-6", PASSWORD)
        .await
        .assert_redirect("/solicitante");

    let visitor = app.browser();
    visitor
        .get("/recuperar")
        .await
        .assert_contains("Recuperar Contraseña");
    visitor
        .post(
            "/recuperar",
            &[("perfil", "applicant"), ("rut", "13.470.539-6")],
        )
        .await
        .assert_redirect("/recuperar/recibido");
    visitor
        .get("/recuperar/recibido")
        .await
        .assert_contains("Hemos recibido tu solicitud, no olvides revisar tu correo.");

    let link = app.link_in_last_email("ana@example.cl").await;
    assert!(link.starts_with("/clave/"));
    visitor.get(&link).await.assert_contains("Nueva contraseña");
    let mismatch = visitor
        .post(
            &link,
            &[
                ("password", NEW_PASSWORD),
                ("password_confirmation", "otra cosa distinta"),
            ],
        )
        .await;
    assert_eq!(mismatch.status, StatusCode::UNPROCESSABLE_ENTITY);
    mismatch.assert_contains("Las contraseñas no coinciden.");
    visitor
        .post(
            &link,
            &[
                ("password", NEW_PASSWORD),
                ("password_confirmation", NEW_PASSWORD),
            ],
        )
        .await
        .assert_redirect("/ingreso");

    // Every session of the user ended; the old password no longer works, the new one does.
    browser
        .get("/perfil")
        .await
        .assert_redirect("/ingreso?next=%2Fperfil");
    other_session
        .get("/perfil")
        .await
        .assert_redirect("/ingreso?next=%2Fperfil");
    visitor
        .login("applicant", "13470539-6", PASSWORD)
        .await
        .assert_contains("RUT o contraseña incorrectos.");
    visitor
        .login("applicant", "13470539-6", NEW_PASSWORD)
        .await
        .assert_redirect("/solicitante");

    // The link is spent.
    let reused = app.browser();
    reused
        .get(&link)
        .await
        .assert_contains("Este enlace ya fue utilizado.");
    reused
        .post(
            &link,
            &[
                ("password", "una tercera frase larga"),
                ("password_confirmation", "una tercera frase larga"),
            ],
        )
        .await
        .assert_contains("ya fue utilizado");
    app.browser()
        .login("applicant", "13470539-6", NEW_PASSWORD)
        .await
        .assert_redirect("/solicitante");
}

#[tokio::test]
async fn recovery_link_expires_after_an_hour() {
    let app = TestApp::spawn().await;
    app.browser()
        .sign_up_and_login("13470539-6", "ana@example.cl")
        .await;
    let visitor = app.browser();
    visitor
        .post(
            "/recuperar",
            &[("perfil", "applicant"), ("rut", "13470539-6")],
        )
        .await;
    let link = app.link_in_last_email("ana@example.cl").await;
    app.advance(SignedDuration::from_mins(61));
    visitor
        .get(&link)
        .await
        .assert_contains("Este enlace expiró.");
    visitor
        .post(
            &link,
            &[
                ("password", NEW_PASSWORD),
                ("password_confirmation", NEW_PASSWORD),
            ],
        )
        .await
        .assert_contains("Este enlace expiró.");
    app.browser()
        .login("applicant", "13470539-6", PASSWORD)
        .await
        .assert_redirect("/solicitante");
}

#[tokio::test]
async fn recovery_answers_the_same_for_unknown_ruts_and_sends_nothing() {
    let app = TestApp::spawn().await;
    let visitor = app.browser();
    let known_before = app.count("SELECT COUNT(*) FROM outbox").await;
    visitor
        .post(
            "/recuperar",
            &[("perfil", "applicant"), ("rut", "12.345.678-5")],
        )
        .await
        .assert_redirect("/recuperar/recibido");
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox").await, known_before);
    let bad = visitor
        .post(
            "/recuperar",
            &[("perfil", "applicant"), ("rut", "12.345.678-4")],
        )
        .await;
    bad.assert_contains("El dígito verificador del RUT no es correcto.");
}

#[tokio::test]
async fn administrator_created_account_chooses_its_password_from_the_link() {
    let app = TestApp::spawn().await;
    use portal::domain::{Email, Profile, Rut};
    let account = portal::accounts::NewAccount {
        profile: Profile::Distributor,
        rut: Rut::parse("15.123.456-9").unwrap(),
        email: Email::parse("operador@enel.example").unwrap(),
        names: "Pedro".to_string(),
        surnames: "Lagos".to_string(),
        distributor_prefix: Some("EN".to_string()),
        regulator_role: None,
    };
    let created = portal::accounts::create(&app.state, &account, None)
        .await
        .unwrap();
    let printed = created.password_link.expect("a link is printed");
    let emailed = app.link_in_last_email("operador@enel.example").await;
    assert!(
        printed.ends_with(&emailed),
        "the printed and e-mailed links are the same"
    );
    // Valid for 72 hours, not just one.
    app.advance(SignedDuration::from_hours(70));
    let browser = app.browser();
    browser
        .post(
            &emailed,
            &[
                ("password", NEW_PASSWORD),
                ("password_confirmation", NEW_PASSWORD),
            ],
        )
        .await
        .assert_redirect("/ingreso");
    let rut = account.rut.normalized();
    browser
        .login("distributor", &rut, NEW_PASSWORD)
        .await
        .assert_redirect("/distribuidora");
    let profile = browser.get("/perfil").await;
    profile.assert_contains("Usuario Distribuidora");
    profile.assert_contains("Enel Distribución");
}
