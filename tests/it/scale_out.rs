//! Several instances as one: two portals on different ports share one PostgreSQL database and
//! one S3-compatible bucket (moto's server), and a browser's requests alternate between them
//! as a load balancer without sticky sessions would send them. These run on the PostgreSQL
//! run only (several instances on one SQLite file is not a supported deployment).

use axum::http::StatusCode;
use jiff::SignedDuration;
use object_store::ObjectStore;
use object_store::path::Path as ObjectPath;

use crate::support::process::PortalProcess;
use crate::support::s3::S3Server;
use crate::support::smtp::SmtpPeer;
use crate::support::{PASSWORD, RequestForm, TestApp, attachment_links, pdf, postgres_url};

const BUCKET: &str = "portal-files";

/// The S3 server and two served instances on one database and one bucket, or None (said
/// loudly) where PostgreSQL or the S3 server is missing.
async fn two_instances(mail_url: Option<String>) -> Option<(S3Server, TestApp, TestApp)> {
    if postgres_url().is_none() {
        eprintln!(
            "\n*** SKIPPED here: several instances need PostgreSQL; this test runs in the PostgreSQL run\n"
        );
        return None;
    }
    let s3 = S3Server::start().await?;
    s3.create_bucket(BUCKET).await;
    let mail = mail_url.clone();
    let first = TestApp::spawn_served_with(
        |s| {
            if let Some(url) = mail {
                s.mail_url = url;
            }
        },
        Some(s3.client(BUCKET)),
    )
    .await;
    let database_url = first.state.settings.database_url.clone();
    let second = TestApp::spawn_served_with(
        |s| {
            s.database_url = database_url;
            if let Some(url) = mail_url {
                s.mail_url = url;
            }
        },
        Some(s3.client(BUCKET)),
    )
    .await;
    Some((s3, first, second))
}

async fn objects_under(store: &dyn ObjectStore, prefix: &str) -> Vec<String> {
    use futures::TryStreamExt;
    store
        .list(Some(&ObjectPath::from(prefix)))
        .map_ok(|meta| meta.location.to_string())
        .try_collect()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_uploads_and_login_throttling_work_across_two_instances() {
    let Some((s3, first, second)) = two_instances(None).await else {
        return;
    };
    let bases = [first.base_url(), second.base_url()];
    assert_ne!(bases[0], bases[1]);
    first
        .create_user("solicitante", "13470539-6", "ana@example.cl", None)
        .await;

    // Logged in through one, known to both.
    let browser = first.remote_browser(&bases);
    browser
        .login("applicant", "13470539-6", PASSWORD)
        .await
        .assert_redirect("/solicitante");
    for _ in 0..4 {
        let home = browser.get("/solicitante").await;
        assert_eq!(home.status, StatusCode::OK, "{}", home.body);
    }

    // Sent through one instance, downloaded through the other, stored in the bucket only.
    let mut content = pdf();
    content.extend_from_slice(b"% attachment sent across instances\n");
    let form = RequestForm::open(&browser, "si")
        .await
        .file("form", "formulario.pdf", &content);
    let created = form.post(&browser).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let view = browser.get(created.location()).await;
    let links = attachment_links(&view.body);
    assert_eq!(links.len(), 1, "{}", view.body);
    for _ in 0..2 {
        let download = browser.get_bytes(&links[0]).await;
        assert_eq!(download.status, StatusCode::OK);
        assert_eq!(download.body, content);
    }
    let stored = objects_under(s3.client(BUCKET).as_ref(), "attachments").await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(first.stored_files().is_empty() && second.stored_files().is_empty());

    // Wrong passwords sent to both count together.
    first
        .create_user("solicitante", "12345678-5", "beto@example.cl", None)
        .await;
    let guesser = first.remote_browser(&bases);
    for _ in 0..5 {
        guesser
            .login("applicant", "12345678-5", "adivinando la clave")
            .await
            .assert_contains("RUT o contraseña incorrectos.");
    }
    let owner = first.remote_browser(&bases);
    let refused = owner.login("applicant", "12345678-5", PASSWORD).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    refused.assert_contains("Demasiados intentos fallidos");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_outbox_workers_send_each_email_once_and_reminders_go_once_a_day() {
    let smtp = SmtpPeer::start(SmtpPeer::free_port().await).await;
    let mail_url = format!("smtp://127.0.0.1:{}", smtp.port);
    let Some((_s3, first, second)) = two_instances(Some(mail_url)).await else {
        return;
    };
    first
        .create_user("solicitante", "13470539-6", "ana@example.cl", None)
        .await;
    first
        .create_user("distribuidora", "12345678-5", "dx@enel.example", Some("EN"))
        .await;
    for number in 0..3 {
        let browser = if number % 2 == 0 {
            first.browser()
        } else {
            second.browser()
        };
        browser
            .login("applicant", "13470539-6", PASSWORD)
            .await
            .assert_redirect("/solicitante");
        let created = RequestForm::open(&browser, "si")
            .await
            .complete()
            .post(&browser)
            .await;
        assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    }
    let queued = first.count("SELECT COUNT(*) FROM outbox").await;
    assert!(
        queued >= 6,
        "a receipt and a company notice per request: {queued}"
    );

    // Both workers at once: every e-mail leaves once.
    let (one, two) = tokio::join!(deliver(&first), deliver(&second),);
    assert_eq!(one + two, queued as usize);
    assert_each_received_once(&smtp, queued as usize);

    // Four weeks later the requests are overdue; both instances' hourly jobs run at once.
    for app in [&first, &second] {
        app.advance(SignedDuration::from_hours(24 * 28));
    }
    let (one, two) = tokio::join!(
        portal::jobs::send_daily_reminders(&first.state),
        portal::jobs::send_daily_reminders(&second.state),
    );
    let (one, two) = (one.unwrap(), two.unwrap());
    assert_eq!(one + two, 1, "one reminder for the company's one user");
    assert!(one == 0 || two == 0, "only one instance sent them");
    let runs = first
        .count("SELECT COUNT(*) FROM job_runs WHERE job = 'distributor_reminders'")
        .await;
    assert_eq!(runs, 1);
    // And again later the same day: nothing more. (The instances' clocks move together: the
    // outbox's claims assume clocks that agree within minutes, as NTP keeps them.)
    for app in [&first, &second] {
        app.advance(SignedDuration::from_hours(3));
    }
    assert_eq!(
        portal::jobs::send_daily_reminders(&first.state)
            .await
            .unwrap(),
        0
    );
    let pending: Vec<(String, String)> =
        sqlx::query_as("SELECT recipient, subject FROM outbox WHERE status = 'queued'")
            .fetch_all(first.state.db.pool())
            .await
            .unwrap();
    let (one, two) = tokio::join!(deliver(&first), deliver(&second));
    assert_eq!(one + two, 1, "{pending:?}");
    assert_each_received_once(&smtp, queued as usize + 1);
}

async fn deliver(app: &TestApp) -> usize {
    portal::app::outbox(&app.state)
        .unwrap()
        .deliver_due()
        .await
        .unwrap()
        .sent
}

#[track_caller]
fn assert_each_received_once(smtp: &SmtpPeer, expected: usize) {
    let messages = smtp.messages();
    assert_eq!(messages.len(), expected);
    let mut ids: Vec<String> = messages
        .iter()
        .map(|m| {
            m.lines()
                .find(|l| l.to_ascii_lowercase().starts_with("message-id:"))
                .expect("a Message-ID")
                .to_string()
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), expected, "no e-mail twice");
}

/// The binary configured for S3 the way the README says (`PORTAL_STORAGE_URL=s3://…` and the
/// standard `AWS_*` variables) keeps uploads in the bucket and serves them back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_keeps_files_in_the_bucket_its_settings_name() {
    let Some(s3) = S3Server::start().await else {
        return;
    };
    s3.create_bucket(BUCKET).await;
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::spawn_in(dir.path()).await;
    let mut portal = PortalProcess::new(
        crate::support::process::binary(),
        dir.path(),
        &app.state.settings.database_url,
        dir.path().join("portal.log"),
    );
    for (key, value) in s3.process_env(BUCKET) {
        portal.set_env(&key, &value);
    }
    portal.start().await;
    app.create_user("solicitante", "13470539-6", "ana@example.cl", None)
        .await;
    let browser = app.remote_browser(&[portal.base_url.clone()]);
    browser
        .login("applicant", "13470539-6", PASSWORD)
        .await
        .assert_redirect("/solicitante");
    let created = RequestForm::open(&browser, "si")
        .await
        .complete()
        .post(&browser)
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let view = browser.get(created.location()).await;
    let links = attachment_links(&view.body);
    let download = browser.get_bytes(&links[0]).await;
    assert_eq!(download.body, pdf());
    let stored = objects_under(s3.client(BUCKET).as_ref(), "attachments").await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert!(
        !dir.path().join("files").join("attachments").exists(),
        "nothing on the local disk"
    );
}
