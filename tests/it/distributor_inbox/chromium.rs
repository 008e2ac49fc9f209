//! The Bandeja in a real headless Chromium: typing in N° Folio narrows the list.

use super::file;
use crate::support::{PASSWORD, TestApp, rut_for};

/// Logs a distribuidora user in through the real login form.
async fn login_in_chromium(client: &fantoccini::Client, base: &str, rut: &str) {
    use fantoccini::Locator;
    client.goto(&format!("{base}/ingreso")).await.unwrap();
    let profile = client.find(Locator::Id("perfil")).await.unwrap();
    profile.select_by_value("distributor").await.unwrap();
    for (id, value) in [("rut", rut), ("password", PASSWORD)] {
        let input = client.find(Locator::Id(id)).await.unwrap();
        input.send_keys(value).await.unwrap();
    }
    let button = client.find(Locator::XPath("//button[normalize-space()='Entrar']"));
    button.await.unwrap().click().await.unwrap();
    let home = url::Url::parse(&format!("{base}/distribuidora")).unwrap();
    client.wait().for_url(&home).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_a_folio_narrows_the_bandeja_in_chromium() {
    use fantoccini::Locator;
    let Some(driver) = crate::browser::start().await else {
        return;
    };
    let app = TestApp::spawn_served().await;
    app.create_user(
        "distribuidora",
        &rut_for(1_000_001),
        "dx@en.example",
        Some("EN"),
    )
    .await;
    let applicant = app.applicant(2_000_001).await;
    for _ in 0..11 {
        file(&applicant, "si", "EN", "111-1").await;
    }
    let (client, base) = (&driver.client, app.base_url());
    login_in_chromium(client, &base, &rut_for(1_000_001)).await;
    let folio = client.find(Locator::Id("folio")).await.unwrap();
    folio.send_keys("en1").await.unwrap();
    // No click: the list and the address follow the typing.
    let narrowed = url::Url::parse(&format!("{base}/distribuidora?folio=en1&items=10")).unwrap();
    client.wait().for_url(&narrowed).await.unwrap();
    let script = "return [Array.from(document.querySelectorAll('table.requests td a'))\
        .map(a => a.textContent), document.querySelector('[data-results-status]').textContent]";
    let shown = client.execute(script, vec![]).await.unwrap();
    let expected = serde_json::json!([["EN11", "EN10", "EN1"], "3 solicitudes encontradas"]);
    assert_eq!(shown, expected);
    crate::browser::screenshot(client, "distributor-inbox-folio-filter").await;
    client.clone().close().await.unwrap();
}
