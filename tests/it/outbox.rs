use jiff::SignedDuration;

use crate::support::TestApp;
use crate::support::smtp::{Behaviour, SmtpPeer};

async fn app_with_smtp(port: u16) -> TestApp {
    TestApp::spawn_with(|s| s.mail_url = format!("smtp://127.0.0.1:{port}")).await
}

#[tokio::test]
async fn outbox_retries_while_the_smtp_peer_is_down_and_delivers_once_when_back() {
    let port = SmtpPeer::free_port().await;
    let app = app_with_smtp(port).await;
    app.browser()
        .register("13470539-6", "ana@example.cl")
        .await
        .assert_redirect("/registro/recibido");
    let outbox = portal::app::outbox(&app.state).unwrap();

    // Nobody listens: the attempt fails, the e-mail stays queued for later.
    let pass = outbox.deliver_due().await.unwrap();
    assert_eq!((pass.sent, pass.retried, pass.failed), (0, 1, 0));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM outbox WHERE status = 'queued' AND attempts = 1")
            .await,
        1
    );

    let peer = SmtpPeer::start(port).await;
    // Not due yet: backoff.
    assert_eq!(outbox.deliver_due().await.unwrap().sent, 0);
    app.advance(SignedDuration::from_mins(1));
    assert_eq!(outbox.deliver_due().await.unwrap().sent, 1);
    assert_eq!(outbox.deliver_due().await.unwrap().sent, 0);
    app.advance(SignedDuration::from_hours(2));
    assert_eq!(outbox.deliver_due().await.unwrap().sent, 0);

    let messages = peer.messages();
    assert_eq!(messages.len(), 1, "delivered exactly once");
    let message_id: String = sqlx::query_scalar("SELECT message_id FROM outbox")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert!(
        messages[0].contains(&format!("Message-ID: {message_id}")),
        "{}",
        messages[0]
    );
    assert!(messages[0].contains("To: ana@example.cl"));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM outbox WHERE status = 'sent'")
            .await,
        1
    );
}

#[tokio::test]
async fn temporary_failures_are_retried_and_permanent_ones_marked_failed() {
    let port = SmtpPeer::free_port().await;
    let peer = SmtpPeer::start(port).await;
    let app = app_with_smtp(port).await;
    let outbox = portal::app::outbox(&app.state).unwrap();

    peer.set(Behaviour::TemporaryFailure);
    app.browser().register("13470539-6", "ana@example.cl").await;
    assert_eq!(outbox.deliver_due().await.unwrap().retried, 1);
    app.advance(SignedDuration::from_mins(1));
    assert_eq!(outbox.deliver_due().await.unwrap().retried, 1);
    // The second wait is longer: two minutes.
    app.advance(SignedDuration::from_mins(1));
    assert_eq!(outbox.deliver_due().await.unwrap(), Default::default());
    peer.set(Behaviour::Accept);
    app.advance(SignedDuration::from_mins(1));
    assert_eq!(outbox.deliver_due().await.unwrap().sent, 1);

    peer.set(Behaviour::PermanentFailure);
    app.browser()
        .register("12345678-5", "pedro@example.cl")
        .await;
    assert_eq!(outbox.deliver_due().await.unwrap().failed, 1);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM outbox WHERE status = 'failed'")
            .await,
        1
    );
    app.advance(SignedDuration::from_hours(3));
    assert_eq!(
        outbox.deliver_due().await.unwrap(),
        Default::default(),
        "a failed e-mail is not retried"
    );
    assert_eq!(peer.messages().len(), 1);
}

#[tokio::test]
async fn file_transport_writes_eml_files() {
    let app = TestApp::spawn().await;
    app.browser().register("13470539-6", "ana@example.cl").await;
    let outbox = portal::app::outbox(&app.state).unwrap();
    assert_eq!(outbox.deliver_due().await.unwrap().sent, 1);
    let directory = app
        .state
        .settings
        .mail_url
        .trim_start_matches("file://")
        .to_string();
    let files: Vec<_> = std::fs::read_dir(&directory)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].extension().unwrap(), "eml");
    let content = std::fs::read_to_string(&files[0]).unwrap();
    assert!(content.contains("To: ana@example.cl"));
}

#[tokio::test]
async fn two_workers_send_each_email_once() {
    let port = SmtpPeer::free_port().await;
    let peer = SmtpPeer::start(port).await;
    let app = app_with_smtp(port).await;
    for (rut, email) in [
        ("13470539-6", "a@example.cl"),
        ("12345678-5", "b@example.cl"),
        ("10000013-K", "c@example.cl"),
    ] {
        app.browser()
            .register(rut, email)
            .await
            .assert_redirect("/registro/recibido");
    }
    let first = portal::app::outbox(&app.state).unwrap();
    let second = portal::app::outbox(&app.state).unwrap();
    let (a, b) = tokio::join!(first.deliver_due(), second.deliver_due());
    assert_eq!(a.unwrap().sent + b.unwrap().sent, 3);
    assert_eq!(peer.messages().len(), 3);
}
