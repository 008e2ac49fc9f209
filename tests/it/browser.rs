//! End to end in a real headless Chromium (Debian's `chromium` and `chromium-driver`), driven
//! through WebDriver. Without chromedriver the test says loudly that it was skipped, unless
//! PORTAL_REQUIRE_BROWSER=1 (as in CI), where a missing browser fails it.

use std::path::PathBuf;
use std::process::Stdio;

use fantoccini::{Client, ClientBuilder, Locator};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::support::{PASSWORD, TestApp};

pub struct Driver {
    pub client: Client,
    _chromedriver: Child,
    _profile: tempfile::TempDir,
}

fn chromedriver() -> Option<PathBuf> {
    let path = std::env::var_os("CHROMEDRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver"));
    if path.exists() {
        return Some(path);
    }
    if std::env::var("PORTAL_REQUIRE_BROWSER").as_deref() == Ok("1") {
        panic!(
            "PORTAL_REQUIRE_BROWSER=1 but chromedriver is not at {}",
            path.display()
        );
    }
    eprintln!(
        "\n*** SKIPPED browser test: chromedriver not found at {} (apt-get install chromium chromium-driver) ***\n",
        path.display()
    );
    None
}

/// Starts chromedriver on a free port, waits for its "started" line, opens a headless session.
pub async fn start() -> Option<Driver> {
    portal::app::install_tls_provider();
    let path = chromedriver()?;
    let port = crate::support::smtp::SmtpPeer::free_port().await;
    let mut child = Command::new(path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starting chromedriver");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while let Some(line) = lines
        .next_line()
        .await
        .expect("reading chromedriver output")
    {
        if line.contains("started successfully") {
            break;
        }
    }
    let profile = tempfile::tempdir().unwrap();
    let arguments = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1000",
        "--lang=es-CL",
    ];
    let mut args: Vec<String> = arguments.iter().map(|a| a.to_string()).collect();
    args.push(format!("--user-data-dir={}", profile.path().display()));
    let mut capabilities = serde_json::Map::new();
    let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_string());
    capabilities.insert(
        "goog:chromeOptions".to_string(),
        serde_json::json!({ "args": args, "binary": binary }),
    );
    let client = ClientBuilder::rustls()
        .expect("TLS roots")
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("connecting to chromedriver");
    Some(Driver {
        client,
        _chromedriver: child,
        _profile: profile,
    })
}

pub async fn screenshot(client: &Client, name: &str) -> PathBuf {
    let directory = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&directory).unwrap();
    let path = directory.join(format!("{name}.png"));
    std::fs::write(&path, client.screenshot().await.unwrap()).unwrap();
    path
}

async fn click(client: &Client, locator: Locator<'_>) {
    client.find(locator).await.unwrap().click().await.unwrap();
}

async fn type_into(client: &Client, locator: Locator<'_>, text: &str) {
    client
        .find(locator)
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

async fn wait_for(client: &Client, locator: Locator<'_>) {
    client.wait().for_element(locator).await.unwrap();
}

async fn fill(client: &Client, id: &str, value: &str) {
    type_into(client, Locator::Id(id), value).await;
}

async fn click_button(client: &Client, text: &str) {
    let xpath = format!("//button[normalize-space()='{text}']");
    click(client, Locator::XPath(&xpath)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_to_the_logged_in_home_page_in_chromium() {
    let Some(driver) = start().await else { return };
    let app = TestApp::spawn_served().await;
    let client = &driver.client;
    let base = app.base_url();

    client.goto(&format!("{base}/ingreso")).await.unwrap();
    click(client, Locator::LinkText("Registrarse")).await;
    wait_for(client, Locator::Css("h1")).await;
    assert_eq!(
        client
            .find(Locator::Css("h1"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "Registro"
    );
    fill(client, "rut", "13.470.539-6").await;
    fill(client, "names", "Ana María").await;
    fill(client, "surnames", "Pérez Soto").await;
    fill(client, "email", "ana@example.cl").await;
    fill(client, "password", PASSWORD).await;
    fill(client, "password_confirmation", PASSWORD).await;
    click(client, Locator::Id("installer")).await;
    screenshot(client, "registration-form").await;
    click_button(client, "Enviar").await;
    client
        .wait()
        .for_url(&url::Url::parse(&format!("{base}/registro/recibido")).unwrap())
        .await
        .unwrap();
    let received = client
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        received.contains("Hemos recibido su solicitud de registro"),
        "{received}"
    );

    let link = app.link_in_last_email("ana@example.cl").await;
    client.goto(&format!("{base}{link}")).await.unwrap();
    click_button(client, "Activar cuenta").await;
    client
        .wait()
        .for_url(&url::Url::parse(&format!("{base}/ingreso")).unwrap())
        .await
        .unwrap();
    let notice = client
        .find(Locator::Css("[role=status]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(notice, "Su cuenta fue activada. Ya puede ingresar.");

    fill(client, "rut", "134705396").await;
    fill(client, "password", PASSWORD).await;
    click_button(client, "Entrar").await;
    client
        .wait()
        .for_url(&url::Url::parse(&format!("{base}/solicitante")).unwrap())
        .await
        .unwrap();
    let heading = client
        .find(Locator::Css("h1"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(heading, "Bienvenido(a), Ana María Pérez Soto");
    let path = screenshot(client, "registration-home").await;
    assert!(
        std::fs::metadata(&path).unwrap().len() > 10_000,
        "a real screenshot"
    );

    // The profile menu works without JavaScript (a <details> element).
    click(client, Locator::Css(".user-menu summary")).await;
    click(client, Locator::LinkText("Resumen del perfil")).await;
    client
        .wait()
        .for_url(&url::Url::parse(&format!("{base}/perfil")).unwrap())
        .await
        .unwrap();
    let summary = client
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        summary.contains("13.470.539-6") && summary.contains("Instalador SEC"),
        "{summary}"
    );
    client.clone().close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_si_with_a_pdf_is_filed_and_found_in_the_inbox_in_chromium() {
    let Some(driver) = start().await else { return };
    let app = TestApp::spawn_served().await;
    app.create_user("solicitante", "13470539-6", "ana@example.cl", None)
        .await;
    let (distributor, _, _) = crate::support::place(&app, "EN").await;
    let client = &driver.client;
    let base = app.base_url();
    let dir = tempfile::tempdir().unwrap();
    let pdf_path = dir.path().join("formulario-si.pdf");
    std::fs::write(&pdf_path, crate::support::pdf()).unwrap();

    client.goto(&format!("{base}/ingreso")).await.unwrap();
    fill(client, "rut", "13.470.539-6").await;
    fill(client, "password", PASSWORD).await;
    click_button(client, "Entrar").await;
    client
        .wait()
        .for_url(&url::Url::parse(&format!("{base}/solicitante")).unwrap())
        .await
        .unwrap();

    click(client, Locator::LinkText("Solicitud de Información")).await;
    client
        .wait()
        .for_url(&url::Url::parse(&format!("{base}/solicitudes/nueva/si")).unwrap())
        .await
        .unwrap();
    let select = |id: &'static str| async move { client.find(Locator::Id(id)).await.unwrap() };
    select("distributor_id")
        .await
        .select_by_value(&distributor)
        .await
        .unwrap();
    select("region").await.select_by_value("13").await.unwrap();
    // With JavaScript, the comuna list holds only the chosen región's comunas.
    let visible = client
        .execute("return Array.from(document.querySelectorAll('#comuna optgroup')).filter(g => !g.hidden).length", vec![])
        .await
        .unwrap();
    assert_eq!(visible, serde_json::json!(1));
    select("comuna")
        .await
        .select_by_value("13101")
        .await
        .unwrap();
    fill(client, "client_number", "123456-7").await;
    type_into(client, Locator::Id("form"), pdf_path.to_str().unwrap()).await;
    screenshot(client, "request-form-si").await;
    click_button(client, "Grabar").await;
    wait_for(client, Locator::Css(".request-view")).await;
    let view = client
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        view.contains("Pendiente de Respuesta")
            && view.contains("EN1")
            && view.contains("formulario-si.pdf"),
        "{view}"
    );
    screenshot(client, "request-view-si").await;

    click(client, Locator::LinkText("Solicitudes")).await;
    wait_for(client, Locator::Css("table.requests")).await;
    let inbox = client
        .find(Locator::Css("table.requests"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        inbox.contains("EN1")
            && inbox.contains("Solicitud de Información")
            && inbox.contains("Enel Distribución"),
        "{inbox}"
    );
    screenshot(client, "applicant-inbox").await;
    client.goto(&format!("{base}/solicitante")).await.unwrap();
    screenshot(client, "applicant-home-timeline").await;
    client.clone().close().await.unwrap();
}

async fn login_in(client: &Client, base: &str, profile: &str, rut: &str) {
    client.goto(&format!("{base}/ingreso")).await.unwrap();
    client
        .find(Locator::Id("perfil"))
        .await
        .unwrap()
        .select_by_value(profile)
        .await
        .unwrap();
    fill(client, "rut", rut).await;
    fill(client, "password", PASSWORD).await;
    click_button(client, "Entrar").await;
    wait_for(client, Locator::Css(".user-menu")).await;
}

async fn logout(client: &Client) {
    click(client, Locator::Css(".user-menu summary")).await;
    click_button(client, "Cerrar sesión").await;
    wait_for(client, Locator::Id("rut")).await;
}

async fn main_text(client: &Client) -> String {
    client
        .find(Locator::Css("main"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payment_with_a_withheld_answer_from_request_to_download_in_chromium() {
    let Some(driver) = start().await else { return };
    let app = TestApp::spawn_served().await;
    app.create_user("solicitante", "13470539-6", "ana@example.cl", None)
        .await;
    app.create_user("distribuidora", "12345678-5", "dx@enel.example", Some("EN"))
        .await;
    let client = &driver.client;
    let base = app.base_url();
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_string()
    };
    let form_pdf = file("formulario.pdf", &crate::support::pdf());
    let answer_pdf = file("respuesta.pdf", b"%PDF-1.4 respuesta de la distribuidora");
    let voucher_pdf = file("comprobante.pdf", &crate::support::pdf());
    let (distributor, _, _) = crate::support::place(&app, "EN").await;

    // The applicant files an SI.
    login_in(client, &base, "applicant", "13.470.539-6").await;
    client
        .goto(&format!("{base}/solicitudes/nueva/si"))
        .await
        .unwrap();
    client
        .find(Locator::Id("distributor_id"))
        .await
        .unwrap()
        .select_by_value(&distributor)
        .await
        .unwrap();
    client
        .find(Locator::Id("region"))
        .await
        .unwrap()
        .select_by_value("13")
        .await
        .unwrap();
    client
        .find(Locator::Id("comuna"))
        .await
        .unwrap()
        .select_by_value("13101")
        .await
        .unwrap();
    fill(client, "client_number", "777").await;
    type_into(client, Locator::Id("form"), &form_pdf).await;
    click_button(client, "Grabar").await;
    wait_for(client, Locator::Css(".request-view")).await;
    let request_url = client.current_url().await.unwrap().to_string();
    logout(client).await;

    // The company asks for a payment and attaches the answer, withheld until validation.
    login_in(client, &base, "distributor", "12.345.678-5").await;
    client.goto(&request_url).await.unwrap();
    click(client, Locator::LinkText("Gestión de Pago")).await;
    fill(client, "amount", "25.000").await;
    fill(client, "concept", "Estudio de conexión").await;
    click(client, Locator::Id("method-voucher")).await;
    type_into(client, Locator::Id("file"), &answer_pdf).await;
    screenshot(client, "payment-request").await;
    click_button(client, "Grabar").await;
    wait_for(client, Locator::Css(".request-view")).await;
    assert!(main_text(client).await.contains("Pendiente de Pago"));
    logout(client).await;

    // The applicant does not see the answer yet, and uploads a voucher.
    login_in(client, &base, "applicant", "13.470.539-6").await;
    client.goto(&request_url).await.unwrap();
    let before = main_text(client).await;
    assert!(!before.contains("respuesta.pdf"), "{before}");
    click(client, Locator::LinkText("Pagar")).await;
    click(client, Locator::Id("method-voucher")).await;
    type_into(client, Locator::Id("file"), &voucher_pdf).await;
    screenshot(client, "payment-pay").await;
    click_button(client, "Grabar").await;
    wait_for(client, Locator::Css(".request-view")).await;
    assert!(main_text(client).await.contains("Pendiente de Validación"));
    logout(client).await;

    // The company validates the proof.
    login_in(client, &base, "distributor", "12.345.678-5").await;
    client.goto(&request_url).await.unwrap();
    click(client, Locator::LinkText("Gestión de Pago")).await;
    click_button(client, "Validar pago").await;
    wait_for(client, Locator::Css(".request-view")).await;
    assert!(main_text(client).await.contains("Respondido"));
    logout(client).await;

    // Now the applicant sees the answer and can download it.
    login_in(client, &base, "applicant", "13.470.539-6").await;
    client.goto(&request_url).await.unwrap();
    let after = main_text(client).await;
    assert!(
        after.contains("respuesta.pdf") && after.contains("Respondido"),
        "{after}"
    );
    screenshot(client, "payment-answer-released").await;
    let link = client
        .find(Locator::XPath("//li[span[text()='respuesta.pdf']]/a"))
        .await
        .unwrap();
    let href = link.attr("href").await.unwrap().unwrap();
    let id = request_url.rsplit('/').next().unwrap();
    assert!(
        href.starts_with(&format!("/solicitudes/{id}/adjuntos/")),
        "{href}"
    );
    // Fetched with the browser's own session, as a download.
    let fetched = client
        .execute_async(
            "const done = arguments[arguments.length - 1]; fetch(arguments[0]).then(r => r.text().then(t => done([r.status, r.headers.get('content-disposition'), t])))",
            vec![serde_json::json!(href)],
        )
        .await
        .unwrap();
    assert_eq!(fetched[0], 200);
    assert!(fetched[1].as_str().unwrap().starts_with("attachment"));
    assert_eq!(fetched[2], "%PDF-1.4 respuesta de la distribuidora");
    client.clone().close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sec_filters_annuls_and_creates_a_company_user_who_logs_in_in_chromium() {
    let Some(driver) = start().await else { return };
    let app = TestApp::spawn_served().await;
    app.create_user("solicitante", "13470539-6", "ana@example.cl", None)
        .await;
    app.create_user("sec", "11111111-1", "admin@sec.example", None)
        .await;
    // Two requests, so that the filter has something to narrow.
    let applicant = app.browser();
    applicant.login("applicant", "13470539-6", PASSWORD).await;
    for prefix in ["EN", "CO"] {
        let (distributor, region, comuna) = crate::support::place(&app, prefix).await;
        let form = applicant.get("/solicitudes/nueva/si").await;
        let token = crate::requests::hidden(&form.body, "token");
        let fields = [
            ("token", token.as_str()),
            ("distributor_id", &distributor),
            ("region", &region),
            ("comuna", &comuna),
            ("client_number", "9"),
        ];
        applicant
            .post_multipart(
                "/solicitudes/nueva/si",
                &fields,
                &[("form", "f.pdf", &crate::support::pdf())],
            )
            .await;
    }
    let client = &driver.client;
    let base = app.base_url();

    login_in(client, &base, "regulator", "11.111.111-1").await;
    client.goto(&format!("{base}/sec")).await.unwrap();
    fill(client, "folio", "CO").await;
    click_button(client, "Filtrar").await;
    wait_for(client, Locator::LinkText("CO2")).await;
    let listed = main_text(client).await;
    assert!(
        listed.contains("CO2") && !listed.contains("EN1"),
        "{listed}"
    );
    assert!(
        client
            .current_url()
            .await
            .unwrap()
            .as_str()
            .contains("folio=CO"),
        "filters live in the URL"
    );
    click(client, Locator::LinkText("CO2")).await;
    click(client, Locator::LinkText("Anular")).await;
    fill(
        client,
        "comment",
        "Solicitud duplicada por error del solicitante",
    )
    .await;
    screenshot(client, "sec-annul").await;
    click_button(client, "Grabar").await;
    wait_for(client, Locator::Css(".request-view")).await;
    let view = main_text(client).await;
    assert!(
        view.contains("Anulado") && view.contains("Solicitud duplicada por error"),
        "{view}"
    );

    // A new company user, created by the administrator, chooses a password and logs in.
    client
        .goto(&format!("{base}/sec/admin/usuarios/nuevo"))
        .await
        .unwrap();
    client
        .find(Locator::Id("perfil"))
        .await
        .unwrap()
        .select_by_value("distributor")
        .await
        .unwrap();
    let (enel, _, _) = crate::support::place(&app, "EN").await;
    client
        .find(Locator::Id("distributor_id"))
        .await
        .unwrap()
        .select_by_value(&enel)
        .await
        .unwrap();
    fill(client, "rut", "15.123.456-9").await;
    fill(client, "names", "Pedro").await;
    fill(client, "surnames", "Lagos").await;
    fill(client, "email", "pedro@enel.example").await;
    click_button(client, "Crear cuenta").await;
    wait_for(client, Locator::Css("[role=status]")).await;
    logout(client).await;
    let link = app.link_in_last_email("pedro@enel.example").await;
    client.goto(&format!("{base}{link}")).await.unwrap();
    fill(client, "password", PASSWORD).await;
    fill(client, "password_confirmation", PASSWORD).await;
    click_button(client, "Enviar").await;
    client
        .wait()
        .for_url(&url::Url::parse(&format!("{base}/ingreso")).unwrap())
        .await
        .unwrap();
    login_in(client, &base, "distributor", "15.123.456-9").await;
    let bandeja = main_text(client).await;
    assert!(
        bandeja.contains("Bandeja de Solicitudes") && bandeja.contains("EN1"),
        "{bandeja}"
    );
    screenshot(client, "company-user-bandeja").await;
    client.clone().close().await.unwrap();
}
