use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use jiff::SignedDuration;

use crate::support::{PASSWORD, TestApp};

#[tokio::test]
async fn post_without_or_with_a_wrong_csrf_token_is_refused() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    browser.get("/ingreso").await;
    let fields = [
        ("perfil", "applicant"),
        ("rut", "13470539-6"),
        ("password", PASSWORD),
    ];
    let missing = browser.post_raw("/ingreso", &fields).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    missing.assert_contains("Formulario vencido");
    let mut wrong = vec![("csrf", "x".repeat(43))];
    wrong.extend(fields.iter().map(|(k, v)| (*k, v.to_string())));
    let wrong: Vec<(&str, &str)> = wrong.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        browser.post_raw("/ingreso", &wrong).await.status,
        StatusCode::FORBIDDEN
    );
    // Registration without a token creates nothing.
    let register = browser
        .post_raw(
            "/registro",
            &[
                ("rut", "13470539-6"),
                ("email", "a@b.cl"),
                ("password", PASSWORD),
                ("password_confirmation", PASSWORD),
            ],
        )
        .await;
    assert_eq!(register.status, StatusCode::FORBIDDEN);
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 0);
}

#[tokio::test]
async fn post_from_a_foreign_origin_is_refused() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    browser.get("/ingreso").await;
    let body = format!(
        "csrf={}&perfil=applicant&rut=13470539-6&password=x",
        browser.csrf()
    );
    let request = |origin: &str| {
        Request::post("/ingreso")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ORIGIN, origin)
            .body(Body::from(body.clone()))
            .unwrap()
    };
    assert_eq!(
        browser.send(request("https://evil.example")).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        browser.send(request("null")).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        browser.send(request("http://portal.test")).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn login_gives_a_new_session_id_and_ignores_a_planted_one() {
    let app = TestApp::spawn().await;
    app.create_user("solicitante", "13470539-6", "ana@example.cl", None)
        .await;
    let browser = app.browser();
    browser.get("/ingreso").await;
    browser.set_cookie(
        "portal_session",
        "planted-by-an-attacker-aaaaaaaaaaaaaaaaaaaaa",
    );
    browser
        .login("applicant", "13470539-6", PASSWORD)
        .await
        .assert_redirect("/solicitante");
    let session = browser.cookie("portal_session").unwrap();
    assert_ne!(session, "planted-by-an-attacker-aaaaaaaaaaaaaaaaaaaaa");

    // Logging in again replaces the session: the previous id stops working.
    let other = app.browser();
    other.set_cookie("portal_session", &session);
    assert_eq!(other.get("/solicitante").await.status, StatusCode::OK);
    browser
        .login("applicant", "13470539-6", PASSWORD)
        .await
        .assert_redirect("/solicitante");
    assert_ne!(browser.cookie("portal_session").unwrap(), session);
    other
        .get("/solicitante")
        .await
        .assert_redirect("/ingreso?next=%2Fsolicitante");
}

#[tokio::test]
async fn session_cookie_flags_and_security_headers() {
    let app = TestApp::spawn_with(|s| s.secure_cookies = true).await;
    app.create_user("solicitante", "13470539-6", "ana@example.cl", None)
        .await;
    let browser = app.browser();
    let page = browser.get("/ingreso").await;
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("cache-control", "no-store"),
        ("referrer-policy", "same-origin"),
    ] {
        assert_eq!(page.headers.get(name).unwrap(), value);
    }
    let csp = page
        .headers
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        csp.contains("default-src 'self'")
            && csp.contains("frame-ancestors 'none'")
            && csp.contains("object-src 'none'")
    );
    assert!(page.headers.get("server").is_none());
    let csrf = browser.cookie("__Host-portal_csrf").unwrap();
    let response = browser
        .post_raw(
            "/ingreso",
            &[
                ("csrf", &csrf),
                ("perfil", "applicant"),
                ("rut", "13470539-6"),
                ("password", PASSWORD),
            ],
        )
        .await;
    response.assert_redirect("/solicitante");
    let session_cookie = response
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|v| v.starts_with("__Host-portal_session="))
        .unwrap();
    for flag in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(session_cookie.contains(flag), "{session_cookie}");
    }
}

#[tokio::test]
async fn idle_and_absolute_session_timeouts() {
    let app = TestApp::spawn().await;
    app.create_user("solicitante", "13470539-6", "ana@example.cl", None)
        .await;
    let browser = app.browser();
    browser.login("applicant", "13470539-6", PASSWORD).await;
    app.advance(SignedDuration::from_mins(29));
    assert_eq!(browser.get("/solicitante").await.status, StatusCode::OK);
    app.advance(SignedDuration::from_mins(31));
    browser
        .get("/solicitante")
        .await
        .assert_redirect("/ingreso?next=%2Fsolicitante");

    browser.login("applicant", "13470539-6", PASSWORD).await;
    for _ in 0..25 {
        app.advance(SignedDuration::from_mins(29));
        if browser.get("/solicitante").await.status != StatusCode::OK {
            break;
        }
    }
    // Active every 29 minutes, the session still ends at its 12-hour lifetime.
    browser
        .get("/solicitante")
        .await
        .assert_redirect("/ingreso?next=%2Fsolicitante");
}

#[tokio::test]
async fn login_throttling_per_account_then_recovers_after_the_window() {
    let app = TestApp::spawn().await;
    app.create_user("solicitante", "13470539-6", "ana@example.cl", None)
        .await;
    let attacker = app.browser_from("198.51.100.7:5000");
    for _ in 0..5 {
        attacker
            .login("applicant", "13470539-6", "adivinando la clave")
            .await
            .assert_contains("RUT o contraseña incorrectos.");
    }
    // Now even the right password is refused, from any address, with a clear message.
    let owner = app.browser_from("203.0.113.99:6000");
    let refused = owner.login("applicant", "13.470.539-6", PASSWORD).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    refused.assert_contains("Demasiados intentos fallidos");
    // An account that does not exist is throttled the same way (no enumeration).
    for _ in 0..5 {
        attacker
            .login("applicant", "12345678-5", "adivinando la clave")
            .await;
    }
    attacker
        .login("applicant", "12345678-5", "adivinando la clave")
        .await
        .assert_contains("Demasiados intentos fallidos");
    // After the window, the right password works again: no permanent lock-out.
    app.advance(SignedDuration::from_mins(16));
    owner
        .login("applicant", "13470539-6", PASSWORD)
        .await
        .assert_redirect("/solicitante");
}

#[tokio::test]
async fn login_throttling_per_client_address() {
    let app = TestApp::spawn().await;
    app.create_user("solicitante", "13470539-6", "ana@example.cl", None)
        .await;
    let sprayer = app.browser_from("198.51.100.8:5000");
    // Many accounts, few tries each: the address limit stops it.
    for number in 1..=30u32 {
        let rut = format!("{number}-{}", portal::domain::rut::check_digit_of(number));
        sprayer
            .login("applicant", &rut, "clave comun de todos")
            .await
            .assert_contains("RUT o contraseña incorrectos.");
    }
    sprayer
        .login("applicant", "13470539-6", PASSWORD)
        .await
        .assert_contains("Demasiados intentos fallidos");
    app.browser_from("203.0.113.5:1")
        .login("applicant", "13470539-6", PASSWORD)
        .await
        .assert_redirect("/solicitante");
}

#[tokio::test]
async fn each_profile_reaches_only_its_own_pages() {
    let app = TestApp::spawn().await;
    app.create_user("solicitante", "13470539-6", "ana@example.cl", None)
        .await;
    app.create_user("distribuidora", "12345678-5", "dx@enel.example", Some("EN"))
        .await;
    app.create_user("sec", "10000013-K", "sec@sec.example", None)
        .await;
    let pages = ["/solicitante", "/distribuidora", "/sec"];
    for (profile, rut, home) in [
        ("applicant", "13470539-6", 0),
        ("distributor", "12345678-5", 1),
        ("regulator", "10000013-K", 2),
    ] {
        let browser = app.browser();
        browser
            .login(profile, rut, PASSWORD)
            .await
            .assert_redirect(pages[home]);
        for (index, page) in pages.iter().enumerate() {
            let response = browser.get(page).await;
            let expected = if index == home {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            };
            assert_eq!(response.status, expected, "{profile} on {page}");
        }
        assert_eq!(browser.get("/perfil").await.status, StatusCode::OK);
        // The same RUT under another profile is another account (and has none here).
        let other_profile = if profile == "applicant" {
            "regulator"
        } else {
            "applicant"
        };
        app.browser()
            .login(other_profile, rut, PASSWORD)
            .await
            .assert_contains("RUT o contraseña incorrectos.");
    }
    let anonymous = app.browser();
    for page in pages.iter().chain(["/perfil", "/perfil/clave"].iter()) {
        let response = anonymous.get(page).await;
        assert_eq!(response.status, StatusCode::SEE_OTHER, "{page}");
        assert!(response.location().starts_with("/ingreso?next="));
    }
}

#[tokio::test]
async fn next_parameter_only_leads_inside_the_portal() {
    let app = TestApp::spawn().await;
    app.create_user("solicitante", "13470539-6", "ana@example.cl", None)
        .await;
    let browser = app.browser();
    browser.get("/ingreso").await;
    let login = |next: &'static str| {
        let browser = &browser;
        async move {
            browser
                .post(
                    "/ingreso",
                    &[
                        ("perfil", "applicant"),
                        ("rut", "13470539-6"),
                        ("password", PASSWORD),
                        ("next", next),
                    ],
                )
                .await
        }
    };
    login("//evil.example")
        .await
        .assert_redirect("/solicitante");
    login("https://evil.example/")
        .await
        .assert_redirect("/solicitante");
    login("/perfil").await.assert_redirect("/perfil");
}

#[tokio::test]
async fn absurd_passwords_get_a_message_not_a_crash() {
    let app = TestApp::spawn().await;
    let browser = app.browser();
    browser.get("/registro").await;
    for (password, message) in [
        ("a".repeat(11), "al menos 12 caracteres"),
        ("b".repeat(129), "más de 128 caracteres"),
        ("c".repeat(1_000_000), "más de 128 caracteres"),
    ] {
        let response = browser
            .post(
                "/registro",
                &[
                    ("rut", "13470539-6"),
                    ("names", "Ana"),
                    ("surnames", "Soto"),
                    ("email", "ana@example.cl"),
                    ("password", &password),
                    ("password_confirmation", &password),
                ],
            )
            .await;
        assert_eq!(response.status, StatusCode::UNPROCESSABLE_ENTITY);
        response.assert_contains(message);
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 0);
}

#[tokio::test]
async fn captcha_is_required_and_answers_once() {
    let app = TestApp::spawn_with(|s| s.captcha = true).await;
    let browser = app.browser();
    let page = browser.get("/recuperar").await;
    let id = hidden_value(&page.body, "captcha_id");
    let image = browser.get(&format!("/captcha/{id}")).await;
    assert_eq!(
        image.headers.get(header::CONTENT_TYPE).unwrap(),
        "image/png"
    );
    let answer: String = sqlx::query_scalar("SELECT answer FROM captchas WHERE id = $1")
        .bind(&id)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();

    let wrong = browser
        .post(
            "/recuperar",
            &[
                ("perfil", "applicant"),
                ("rut", "13470539-6"),
                ("captcha_id", &id),
                ("captcha", "ZZZZZ"),
            ],
        )
        .await;
    wrong.assert_contains("El código no coincide con la imagen");
    // The challenge burned with the wrong try: its right answer no longer works either.
    let reused = browser
        .post(
            "/recuperar",
            &[
                ("perfil", "applicant"),
                ("rut", "13470539-6"),
                ("captcha_id", &id),
                ("captcha", &answer),
            ],
        )
        .await;
    reused.assert_contains("El código no coincide con la imagen");

    let fresh = hidden_value(&reused.body, "captcha_id");
    let fresh_answer: String = sqlx::query_scalar("SELECT answer FROM captchas WHERE id = $1")
        .bind(&fresh)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    let lower = fresh_answer.to_lowercase();
    browser
        .post(
            "/recuperar",
            &[
                ("perfil", "applicant"),
                ("rut", "13470539-6"),
                ("captcha_id", &fresh),
                ("captcha", &lower),
            ],
        )
        .await
        .assert_redirect("/recuperar/recibido");
}

fn hidden_value(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in page"))
        + marker.len();
    html[start..].chars().take_while(|c| *c != '"').collect()
}

#[tokio::test]
async fn healthz_answers_when_the_database_does() {
    let app = TestApp::spawn().await;
    let response = app.browser().get("/healthz").await;
    assert_eq!(response.status, StatusCode::OK);
    app.state.db.close().await;
    assert_eq!(
        app.browser().get("/healthz").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn unknown_pages_are_plain_404s() {
    let app = TestApp::spawn().await;
    let response = app.browser().get("/no-existe").await;
    assert_eq!(response.status, StatusCode::NOT_FOUND);
    response.assert_contains("Página no encontrada");
    assert_eq!(
        app.browser().get("/static/../Cargo.toml").await.status,
        StatusCode::NOT_FOUND
    );
}
