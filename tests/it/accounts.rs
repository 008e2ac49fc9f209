use axum::http::StatusCode;

use crate::support::{PASSWORD, TestApp};

#[tokio::test]
async fn register_activate_login_profile_change_password_logout() {
    let app = TestApp::spawn().await;
    let browser = app.browser();

    let response = browser
        .register("13.470.539-6", "Ana.Perez@Example.CL")
        .await;
    response.assert_redirect("/registro/recibido");
    browser
        .get("/registro/recibido")
        .await
        .assert_contains("Hemos recibido su solicitud de registro");

    // Not active yet: the right password is answered with the activation notice.
    let early = browser.login("applicant", "13470539-6", PASSWORD).await;
    assert_eq!(early.status, StatusCode::UNPROCESSABLE_ENTITY);
    early.assert_contains("aún no está activada");

    let emails = app.emails_to("ana.perez@example.cl").await;
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0].0, "Active su cuenta de Generación Ciudadana");
    let link = app.link_in_last_email("ana.perez@example.cl").await;
    assert!(link.starts_with("/activar/"), "{link}");
    // Opening the link changes nothing; the button does.
    browser.get(&link).await.assert_contains("Activar cuenta");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users WHERE status = 'active'")
            .await,
        0
    );
    browser.post(&link, &[]).await.assert_redirect("/ingreso");
    browser
        .get("/ingreso")
        .await
        .assert_contains("Su cuenta fue activada");

    browser
        .login("applicant", "13470539-6", PASSWORD)
        .await
        .assert_redirect("/solicitante");
    let home = browser.get("/solicitante").await;
    home.assert_contains("Bienvenido(a), Ana María Pérez Soto");
    home.assert_contains("Cerrar sesión");

    let profile = browser.get("/perfil").await;
    for expected in [
        "Activa",
        "13.470.539-6",
        "ana.perez@example.cl",
        "Usuario Solicitante",
        "04/03/2025",
    ] {
        profile.assert_contains(expected);
    }

    let new_password = "una nueva frase para entrar";
    let wrong = browser
        .post(
            "/perfil/clave",
            &[
                ("current_password", "no es la clave"),
                ("password", new_password),
                ("password_confirmation", new_password),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    wrong.assert_contains("La contraseña actual no es correcta.");
    let changed = browser
        .post(
            "/perfil/clave",
            &[
                ("current_password", PASSWORD),
                ("password", new_password),
                ("password_confirmation", new_password),
            ],
        )
        .await;
    changed.assert_redirect("/perfil");
    browser
        .get("/perfil")
        .await
        .assert_contains("Su contraseña fue cambiada.");
    assert_eq!(
        app.emails_to("ana.perez@example.cl")
            .await
            .last()
            .unwrap()
            .0,
        "Su contraseña fue cambiada - Generación Ciudadana"
    );

    browser
        .post("/salir", &[])
        .await
        .assert_redirect("/ingreso");
    browser
        .get("/ingreso")
        .await
        .assert_contains("Ud. ha cerrado sesión");
    browser
        .get("/perfil")
        .await
        .assert_redirect("/ingreso?next=%2Fperfil");

    browser
        .login("applicant", "13470539-6", PASSWORD)
        .await
        .assert_contains("RUT o contraseña incorrectos.");
    browser
        .login("applicant", "13.470.539-6", new_password)
        .await
        .assert_redirect("/solicitante");
}

#[tokio::test]
async fn password_change_ends_the_other_sessions() {
    let app = TestApp::spawn().await;
    let first = app.browser();
    first
        .sign_up_and_login("13470539-6", "ana@example.cl")
        .await;
    let second = app.browser();
    second
        .login("applicant", "13470539-6", PASSWORD)
        .await
        .assert_redirect("/solicitante");

    let new_password = "otra frase bastante segura";
    first
        .post(
            "/perfil/clave",
            &[
                ("current_password", PASSWORD),
                ("password", new_password),
                ("password_confirmation", new_password),
            ],
        )
        .await
        .assert_redirect("/perfil");
    assert_eq!(
        first.get("/perfil").await.status,
        StatusCode::OK,
        "the browser that changed it stays in"
    );
    second
        .get("/perfil")
        .await
        .assert_redirect("/ingreso?next=%2Fperfil");
}

#[tokio::test]
async fn registration_shows_field_errors_and_keeps_values() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    browser.get("/registro").await;
    let response = browser
        .post(
            "/registro",
            &[
                ("rut", "13.470.539-5"),
                ("names", "<script>alert(1)</script>"),
                ("surnames", "Soto\r\nBcc: x@y.cl"),
                ("email", "no-es-correo"),
                ("password", "corta"),
                ("password_confirmation", "corta"),
                ("role", "regulator"),
            ],
        )
        .await;
    assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
    response.assert_contains("El dígito verificador del RUT no es correcto.");
    response.assert_contains("El correo electrónico no es válido.");
    response.assert_contains("La contraseña debe tener al menos 12 caracteres.");
    response.assert_contains("El texto contiene caracteres no permitidos.");
    response.assert_contains("value=\"13.470.539-5\"");
    response.assert_contains("&#60;script&#62;alert(1)&#60;/script&#62;");
    assert!(!response.body.contains("<script>alert(1)"));
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM outbox").await, 0);
}

#[tokio::test]
async fn company_rut_asks_for_business_name() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    browser.get("/registro").await;
    let fields = |business: &'static str| {
        vec![
            ("rut", "76.086.428-5"),
            ("business_name", business),
            ("email", "contacto@solar.cl"),
            ("password", PASSWORD),
            ("password_confirmation", PASSWORD),
            ("installer", "1"),
        ]
    };
    let missing = browser.post("/registro", &fields("")).await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    missing.assert_contains("Este campo es obligatorio.");
    browser
        .post("/registro", &fields("Solar del Norte SpA"))
        .await
        .assert_redirect("/registro/recibido");
    let link = app.link_in_last_email("contacto@solar.cl").await;
    browser.post(&link, &[]).await.assert_redirect("/ingreso");
    browser
        .login("applicant", "76086428-5", PASSWORD)
        .await
        .assert_redirect("/solicitante");
    let profile = browser.get("/perfil").await;
    profile.assert_contains("Solar del Norte SpA");
    profile.assert_contains("Instalador SEC");
}

#[tokio::test]
async fn a_second_registration_of_the_same_rut_or_email_makes_no_second_account() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    browser
        .register("13470539-6", "ana@example.cl")
        .await
        .assert_redirect("/registro/recibido");
    // Same RUT in another format, another e-mail: same page, a notice to the owner.
    app.browser()
        .register("13.470.539-6", "otra@example.cl")
        .await
        .assert_redirect("/registro/recibido");
    // Another RUT with the same e-mail in another case.
    app.browser()
        .register("12.345.678-5", "ANA@example.cl")
        .await
        .assert_redirect("/registro/recibido");
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 1);
    let emails = app.emails_to("ana@example.cl").await;
    assert_eq!(emails.len(), 3);
    assert_eq!(emails[1].0, "Ya tiene una cuenta en Generación Ciudadana");
    assert!(app.emails_to("otra@example.cl").await.is_empty());
}

#[tokio::test]
async fn concurrent_registrations_of_one_rut_make_one_account() {
    let app = TestApp::spawn().await;
    let a = app.browser();
    let b = app.browser();
    let (ra, rb) = tokio::join!(
        a.register("13470539-6", "ana@example.cl"),
        b.register("13470539-6", "ana2@example.cl")
    );
    ra.assert_redirect("/registro/recibido");
    rb.assert_redirect("/registro/recibido");
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 1);
}

#[tokio::test]
async fn resend_activation_gives_a_new_link_and_expired_links_say_so() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    browser.register("13470539-6", "ana@example.cl").await;
    let old_link = app.link_in_last_email("ana@example.cl").await;
    app.advance(jiff::SignedDuration::from_hours(49));
    browser
        .get(&old_link)
        .await
        .assert_contains("Este enlace de activación expiró");

    browser.get("/registro/reenviar").await;
    let answer = browser
        .post("/registro/reenviar", &[("rut", "13470539-6")])
        .await;
    answer.assert_contains("Hemos recibido tu solicitud, no olvides revisar tu correo.");
    // The same answer for a RUT without an account.
    browser
        .post("/registro/reenviar", &[("rut", "12345678-5")])
        .await
        .assert_contains("Hemos recibido tu solicitud");
    let new_link = app.link_in_last_email("ana@example.cl").await;
    assert_ne!(new_link, old_link);
    browser
        .post(&new_link, &[])
        .await
        .assert_redirect("/ingreso");
    browser
        .get(&new_link)
        .await
        .assert_contains("ya fue utilizado");
}
