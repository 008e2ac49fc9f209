//! What holds requests together: one folio per request however many arrive at once, one
//! request per form however often it is sent, nobody else's eyes on it, nothing half-stored
//! when a submission fails, the inbox that pages through them, and files that come back out
//! only as inert attachments whatever their content or name.

use axum::http::StatusCode;
use futures::future::join_all;
use jiff::SignedDuration;
use sqlx::Row;

use crate::support::{
    PASSWORD, RequestForm, TestApp, attachment_links, document_link, folio_in_view, pdf, png,
    request_id,
};

/// (folio, folio number) of every request, in folio order.
async fn folios(app: &TestApp) -> Vec<(String, i64)> {
    sqlx::query("SELECT folio, folio_number FROM requests ORDER BY folio_number")
        .fetch_all(app.state.db.pool())
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_submissions_get_distinct_consecutive_folios() {
    let app = TestApp::spawn().await;
    let mut browsers = Vec::new();
    for number in 0..8 {
        browsers.push(app.applicant(15_000_001 + number).await);
    }
    let mut forms = Vec::new();
    for browser in &browsers {
        forms.push(RequestForm::open(browser, "si").await.complete());
    }
    let responses = join_all(
        browsers
            .iter()
            .zip(&forms)
            .map(|(browser, form)| form.post(browser)),
    )
    .await;
    let mut shown = Vec::new();
    for (browser, response) in browsers.iter().zip(&responses) {
        assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
        let view = browser.get(response.location()).await;
        shown.push(folio_in_view(&view.body));
    }
    let stored = folios(&app).await;
    let expected: Vec<(String, i64)> = (1..=8).map(|n| (format!("EN{n}"), n)).collect();
    assert_eq!(stored, expected);
    shown.sort_by_key(|folio| folio[2..].parse::<i64>().unwrap());
    assert_eq!(
        shown,
        expected.into_iter().map(|(f, _)| f).collect::<Vec<_>>()
    );
    // Each applicant got their own request.
    assert_eq!(
        app.count("SELECT COUNT(DISTINCT applicant_id) FROM requests")
            .await,
        8
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_form_sent_twice_makes_one_request() {
    let app = TestApp::spawn().await;
    let browser = app.applicant(13_470_539).await;
    let receipts = || app.emails_to("s13470539@example.cl");

    // One after the other: the second answer leads to the request the first one made.
    let form = RequestForm::open(&browser, "si").await.complete();
    let first = form.post(&browser).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
    request_id(first.location());
    let second = form.post(&browser).await;
    second.assert_redirect(first.location());
    assert_eq!(app.rows("requests").await, 1);
    assert_eq!(app.rows("attachments").await, 1);
    assert_eq!(app.rows("request_events").await, 1);
    assert_eq!(app.stored_files().len(), 1);
    assert_eq!(receipts().await.len(), 1);

    // At the same time: still one request, and both answers lead to it.
    let form = RequestForm::open(&browser, "sc").await.complete();
    let (a, b) = tokio::join!(form.post(&browser), form.post(&browser));
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    b.assert_redirect(a.location());
    assert_ne!(a.location(), first.location());
    assert_eq!(app.rows("requests").await, 2);
    assert_eq!(app.rows("attachments").await, 2);
    assert_eq!(app.rows("request_events").await, 2);
    assert_eq!(app.stored_files().len(), 2);
    assert!(app.scratch_files().is_empty());
    assert_eq!(receipts().await.len(), 2);
    let numbers: Vec<i64> = folios(&app).await.into_iter().map(|(_, n)| n).collect();
    assert_eq!(numbers, [1, 2]);
}

#[tokio::test]
async fn only_the_applicant_their_company_and_sec_see_a_request_and_its_files() {
    let app = TestApp::spawn().await;
    app.create_user("distribuidora", "12345678-5", "dx@enel.example", Some("EN"))
        .await;
    app.create_user(
        "distribuidora",
        "11111111-1",
        "dx@colina.example",
        Some("CO"),
    )
    .await;
    app.create_user("sec", "10000013-K", "sec@sec.example", None)
        .await;
    let owner = app.applicant(13_470_539).await;
    let form_bytes = pdf();
    let response = RequestForm::open(&owner, "si")
        .await
        .complete()
        .file("other", "plano.png", &png())
        .post(&owner)
        .await;
    assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
    let view_path = response.location().to_string();
    let view = owner.get(&view_path).await;
    let folio = folio_in_view(&view.body);
    let downloads = attachment_links(&view.body);
    assert_eq!(downloads.len(), 2);
    let mut paths = vec![view_path.clone(), format!("{view_path}/imprimir")];
    paths.extend(downloads.iter().cloned());

    // Another applicant: 404 everywhere, and nothing in the inbox.
    let other = app.applicant(14_000_000).await;
    for path in &paths {
        let refused = other.get(path).await;
        assert_eq!(refused.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!refused.body.contains(&folio), "{path}");
    }
    let inbox = other.get("/solicitudes").await;
    inbox.assert_contains("[ 0 - 0 ] de 0 Items");
    assert!(!inbox.body.contains(&folio));
    assert!(!inbox.body.contains(&request_id(&view_path)));
    // Nor through a request of their own with the other's file id.
    let own = RequestForm::open(&other, "si")
        .await
        .complete()
        .post(&other)
        .await;
    let attachment = downloads[0].rsplit('/').next().unwrap();
    let mixed = format!("{}/adjuntos/{attachment}", own.location());
    assert_eq!(other.get(&mixed).await.status, StatusCode::NOT_FOUND);
    assert!(!other.get("/solicitudes").await.body.contains(&folio));

    // A user of another company: 404 too.
    let colina = app.browser_from("198.51.100.20:40000");
    colina
        .login("distributor", "11111111-1", PASSWORD)
        .await
        .assert_redirect("/distribuidora");
    for path in &paths {
        assert_eq!(
            colina.get(path).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }

    // The request's company and SEC see the request and get the exact files.
    let enel = app.browser_from("198.51.100.21:40000");
    enel.login("distributor", "12345678-5", PASSWORD)
        .await
        .assert_redirect("/distribuidora");
    let sec = app.browser_from("198.51.100.22:40000");
    sec.login("regulator", "10000013-K", PASSWORD)
        .await
        .assert_redirect("/sec");
    for browser in [&enel, &sec] {
        let page = browser.get(&view_path).await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(folio_in_view(&page.body), folio);
        assert_eq!(browser.get(&paths[1]).await.status, StatusCode::OK);
        let files: Vec<Vec<u8>> = join_all(downloads.iter().map(|d| browser.get_bytes(d)))
            .await
            .into_iter()
            .map(|download| {
                assert_eq!(download.status, StatusCode::OK);
                download.body
            })
            .collect();
        assert_eq!(files, [form_bytes.clone(), png()]);
    }

    // Nobody logged in: to the login page, which brings them back.
    let anonymous = app.browser_from("198.51.100.23:40000");
    for path in &paths {
        let response = anonymous.get(path).await;
        assert_eq!(response.status, StatusCode::SEE_OTHER, "{path}");
        assert!(
            response.location().starts_with("/ingreso?next="),
            "{path}: {}",
            response.location()
        );
    }
}

#[tokio::test]
async fn a_failure_before_the_commit_leaves_no_trace_and_the_form_can_be_sent_again() {
    let app = TestApp::spawn().await;
    app.create_user("distribuidora", "12345678-5", "dx@enel.example", Some("EN"))
        .await;
    let browser = app.applicant(13_470_539).await;
    let outbox_before = app.rows("outbox").await;
    let form =
        RequestForm::open(&browser, "nc")
            .await
            .complete()
            .file("other", "plano.png", &png());

    app.state.faults.arm(portal::faults::SUBMIT_BEFORE_COMMIT);
    let failed = form.post(&browser).await;
    assert_eq!(
        failed.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        failed.body
    );
    failed.assert_contains("Error interno");
    assert!(!failed.body.contains("injected") && !failed.body.contains("submit."));
    app.assert_nothing_stored("a failed commit").await;
    assert_eq!(app.rows("outbox").await, outbox_before);

    // Sending the same form again, once the fault is gone, files it as if nothing happened.
    app.state.faults.clear();
    let again = form.post(&browser).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.body);
    let view = browser.get(again.location()).await;
    assert_eq!(folio_in_view(&view.body), "EN1");
    assert_eq!(attachment_links(&view.body).len(), 6);
    assert_eq!(app.rows("attachments").await, 6);
    assert_eq!(app.stored_files().len(), 6);
    assert!(app.scratch_files().is_empty());
    assert_eq!(app.rows("outbox").await, outbox_before + 2);
    assert_eq!(app.emails_to("dx@enel.example").await.len(), 1);
}

/// Folios of the inbox rows, in the order shown.
fn inbox_folios(html: &str) -> Vec<String> {
    html.split("<td><a href=\"/solicitudes/")
        .skip(1)
        .map(|row| {
            let start = row.find("\">").unwrap() + 2;
            row[start..].split("</a>").next().unwrap().to_string()
        })
        .collect()
}

#[tokio::test]
async fn the_inbox_shows_ten_requests_a_page_and_more_on_request() {
    let app = TestApp::spawn().await;
    let browser = app.applicant(13_470_539).await;
    for _ in 0..12 {
        let response = RequestForm::open(&browser, "si")
            .await
            .complete()
            .post(&browser)
            .await;
        assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
        app.advance(SignedDuration::from_mins(1));
    }
    let newest_first: Vec<String> = (1..=12).rev().map(|n| format!("EN{n}")).collect();

    let first = browser.get("/solicitudes").await;
    first.assert_contains("[ 1 - 10 ] de 12 Items");
    assert_eq!(inbox_folios(&first.body), newest_first[..10]);
    first.assert_contains("href=\"/solicitudes?items=10&#38;pagina=2\"");

    let second = browser.get("/solicitudes?items=10&pagina=2").await;
    second.assert_contains("[ 11 - 12 ] de 12 Items");
    assert_eq!(inbox_folios(&second.body), newest_first[10..]);

    let all = browser.get("/solicitudes?items=25").await;
    all.assert_contains("[ 1 - 12 ] de 12 Items");
    assert_eq!(inbox_folios(&all.body), newest_first);
    let beyond = browser.get("/solicitudes?items=10&pagina=5").await;
    // A page past the end (an old link) shows the last page, not an empty list.
    beyond.assert_contains("[ 11 - 12 ] de 12 Items");
    assert_eq!(inbox_folios(&beyond.body), newest_first[10..]);
}

#[tokio::test]
async fn a_png_with_html_appended_is_kept_and_served_only_as_an_attachment() {
    let app = TestApp::spawn().await;
    let browser = app.applicant(13_470_539).await;
    let polyglot = [png(), b"<html><script>alert(1)</script></html>".to_vec()].concat();
    let response = RequestForm::open(&browser, "si")
        .await
        .complete()
        .file("other", "captura.png", &polyglot)
        .post(&browser)
        .await;
    assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
    let view = browser.get(response.location()).await;
    let download = browser
        .get_bytes(&document_link(&view.body, "captura.png"))
        .await;
    assert_eq!(download.status, StatusCode::OK);
    assert!(
        download
            .header("content-disposition")
            .starts_with("attachment"),
        "{:?}",
        download.headers
    );
    assert_eq!(download.header("x-content-type-options"), "nosniff");
    assert!(
        download
            .header("content-security-policy")
            .contains("sandbox")
    );
    assert_eq!(download.header("content-type"), "image/png");
    assert_eq!(download.header("cache-control"), "no-store");
    assert_eq!(download.body, polyglot);
}

#[tokio::test]
async fn hostile_file_names_are_shown_as_inert_text() {
    let app = TestApp::spawn().await;
    app.create_user("distribuidora", "12345678-5", "dx@enel.example", Some("EN"))
        .await;
    let browser = app.applicant(13_470_539).await;
    let response = RequestForm::open(&browser, "si")
        .await
        .complete()
        .file("form", "../../etc/passwd.pdf", &pdf())
        .file("other", "<script>alert(1)</script>.pdf", &pdf())
        .file("power_of_attorney", "<svg onload=alert(1)>.pdf", &pdf())
        .file("id_copy", "C:\\Users\\ana\\..\\cedula.png", &png())
        .post(&browser)
        .await;
    assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
    let id = response.location().to_string();
    let company = app.browser_from("198.51.100.7:40000");
    company
        .login("distributor", "12345678-5", PASSWORD)
        .await
        .assert_redirect("/distribuidora");
    let pages = [
        browser.get(&id).await,
        browser.get(&format!("{id}/imprimir")).await,
        company.get(&id).await,
    ];
    for page in &pages {
        assert_eq!(page.status, StatusCode::OK);
        for raw in ["<script>alert", "<svg onload", "etc/passwd", "Users\\"] {
            assert!(!page.body.contains(raw), "{raw} in:\n{}", page.body);
        }
        page.assert_contains("passwd.pdf");
        // Askama escapes with numeric references.
        page.assert_contains("&#60;svg onload=alert(1)&#62;.pdf");
        page.assert_contains("script&#62;.pdf");
        page.assert_contains("cedula.png");
    }
    // Stored under generated names only.
    for path in app.stored_files() {
        let name = path.file_name().unwrap().to_str().unwrap();
        assert!(uuid::Uuid::parse_str(name).is_ok(), "stored as {path:?}");
    }
    for href in attachment_links(&pages[0].body) {
        let download = browser.get_bytes(&href).await;
        assert_eq!(download.status, StatusCode::OK);
        let disposition = download.header("content-disposition");
        assert!(disposition.starts_with("attachment; "), "{disposition}");
        for forbidden in ['\r', '\n', '/', '\\', '<', '>'] {
            assert!(!disposition.contains(forbidden), "{disposition:?}");
        }
    }
}

#[tokio::test]
async fn a_file_name_with_a_raw_line_break_is_refused_without_harm() {
    let app = TestApp::spawn().await;
    let browser = app.applicant(13_470_539).await;
    let response = RequestForm::open(&browser, "si")
        .await
        .complete()
        .file("other", "a\r\nb.pdf", &pdf())
        .post(&browser)
        .await;
    assert_eq!(
        response.status,
        StatusCode::BAD_REQUEST,
        "{}",
        response.body
    );
    response.assert_contains("El formulario llegó incompleto o dañado.");
    app.assert_nothing_stored("a line break in a file name")
        .await;
    // What a browser sends for that name instead (CR and LF percent-encoded) is kept as text.
    let response = RequestForm::open(&browser, "si")
        .await
        .complete()
        .file("other", "a%0D%0Ab.pdf", &pdf())
        .post(&browser)
        .await;
    assert_eq!(response.status, StatusCode::SEE_OTHER, "{}", response.body);
    let view = browser.get(response.location()).await;
    let download = browser
        .get_bytes(&document_link(&view.body, "a%0D%0Ab.pdf"))
        .await;
    let disposition = download.header("content-disposition");
    assert!(!disposition.contains('\r') && !disposition.contains('\n'));
}
