//! A mail server outage in all its shapes: down, refusing for now (4xx), refusing for good
//! (5xx), hanging, and back. Users keep working throughout; e-mails wait in the outbox with
//! the documented backoff (1, 2, 4 … minutes) and each one still pending goes out exactly once
//! when the server accepts again.

use std::collections::HashSet;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use portal::clock::to_micros;
use portal::store::outbox::{OutgoingEmail, enqueue};
use sqlx::Row;

use crate::support::smtp::{Behaviour, SmtpPeer};
use crate::support::{RequestForm, TestApp};

/// The bound a pass must return within while the server hangs: far more than the pass needs
/// with a short timeout, far less than a batch of 50 hanging one after another would take.
const PASS_BOUND: Duration = Duration::from_secs(30);

async fn app_with_smtp(port: u16, timeout_seconds: i64) -> TestApp {
    TestApp::spawn_with(|s| {
        s.mail_url = format!("smtp://127.0.0.1:{port}");
        s.mail_timeout = SignedDuration::from_secs(timeout_seconds);
    })
    .await
}

/// One outbox row as the worker sees it.
#[derive(Debug)]
struct Queued {
    status: String,
    attempts: i64,
    next_attempt_at: i64,
    locked: bool,
    last_error: Option<String>,
}

async fn row_to(app: &TestApp, recipient: &str) -> Queued {
    let row = sqlx::query(
        "SELECT status, attempts, next_attempt_at, locked_until, last_error FROM outbox \
         WHERE recipient = $1",
    )
    .bind(recipient)
    .fetch_one(app.state.db.pool())
    .await
    .unwrap_or_else(|e| panic!("one e-mail to {recipient}: {e}"));
    Queued {
        status: row.get("status"),
        attempts: row.get("attempts"),
        next_attempt_at: row.get("next_attempt_at"),
        locked: row.get::<Option<i64>, _>("locked_until").is_some(),
        last_error: row.get("last_error"),
    }
}

/// The e-mail to `recipient` is still queued after `attempts` failed attempts, not held by any
/// worker, and waits until `now + wait`.
#[track_caller]
fn assert_waiting(row: &Queued, attempts: i64, now: Timestamp, wait: SignedDuration) {
    assert_eq!(row.status, "queued", "{row:?}");
    assert_eq!(row.attempts, attempts, "{row:?}");
    assert_eq!(row.next_attempt_at, to_micros(now + wait), "{row:?}");
    assert!(!row.locked, "a failed attempt releases its claim: {row:?}");
    assert!(row.last_error.is_some(), "{row:?}");
}

async fn message_ids_with_status(app: &TestApp, status: &str) -> Vec<String> {
    let mut ids: Vec<String> =
        sqlx::query_scalar("SELECT message_id FROM outbox WHERE status = $1")
            .bind(status)
            .fetch_all(app.state.db.pool())
            .await
            .unwrap();
    ids.sort();
    ids
}

#[tokio::test]
async fn mail_outage_from_down_to_hanging_loses_nothing_and_sends_each_email_once() {
    let port = SmtpPeer::free_port().await;
    let peer = SmtpPeer::down(port);
    let app = app_with_smtp(port, 1).await;
    let outbox = portal::app::outbox(&app.state).unwrap();
    app.create_user("solicitante", "12345678-5", "pedro@example.cl", None)
        .await;
    let minutes = SignedDuration::from_mins;

    // Down: nothing listens. Registering still works; its e-mail waits one minute.
    app.browser()
        .register("13470539-6", "ana@example.cl")
        .await
        .assert_redirect("/registro/recibido");
    let pass = outbox.deliver_due().await.unwrap();
    assert_eq!((pass.sent, pass.retried, pass.failed), (0, 1, 0));
    assert_waiting(
        &row_to(&app, "ana@example.cl").await,
        1,
        app.now(),
        minutes(1),
    );

    // Temporary failures (451): password recovery still works; both e-mails back off.
    peer.listen().await;
    peer.set(Behaviour::TemporaryFailure);
    let visitor = app.browser();
    visitor.get("/recuperar").await;
    visitor
        .post(
            "/recuperar",
            &[("perfil", "applicant"), ("rut", "12.345.678-5")],
        )
        .await
        .assert_redirect("/recuperar/recibido");
    let pass = outbox.deliver_due().await.unwrap();
    assert_eq!((pass.sent, pass.retried, pass.failed), (0, 1, 0));
    assert_waiting(
        &row_to(&app, "pedro@example.cl").await,
        1,
        app.now(),
        minutes(1),
    );
    assert_waiting(
        &row_to(&app, "ana@example.cl").await,
        1,
        app.now(),
        minutes(1),
    );
    app.advance(minutes(1));
    let pass = outbox.deliver_due().await.unwrap();
    assert_eq!((pass.sent, pass.retried, pass.failed), (0, 2, 0));
    for to in ["ana@example.cl", "pedro@example.cl"] {
        assert_waiting(&row_to(&app, to).await, 2, app.now(), minutes(2));
    }

    // Permanent failures (550): a submission still works; its receipt is failed for good.
    peer.set(Behaviour::PermanentFailure);
    let applicant = app.applicant(20).await;
    let created = RequestForm::open(&applicant, "nc")
        .await
        .complete()
        .post(&applicant)
        .await;
    assert!(
        created.location().starts_with("/solicitudes/"),
        "{}",
        created.body
    );
    let queued = app.rows("outbox").await;
    let pass = outbox.deliver_due().await.unwrap();
    assert_eq!((pass.sent, pass.retried, pass.failed), (0, 0, 1));
    let receipt = row_to(&app, "s20@example.cl").await;
    assert_eq!((receipt.status.as_str(), receipt.attempts), ("failed", 1));
    assert!(!receipt.locked);

    // Hang, silent from the first byte: a new registration still works; the three due
    // e-mails time out together, are recorded as retries and released.
    peer.set(Behaviour::Hang);
    app.browser()
        .register("10000013-K", "carla@example.cl")
        .await
        .assert_redirect("/registro/recibido");
    app.advance(minutes(2));
    let pass = tokio::time::timeout(PASS_BOUND, outbox.deliver_due())
        .await
        .expect("a pass returns although the mail server hangs")
        .unwrap();
    assert_eq!((pass.sent, pass.retried, pass.failed), (0, 3, 0));
    for to in ["ana@example.cl", "pedro@example.cl"] {
        assert_waiting(&row_to(&app, to).await, 3, app.now(), minutes(4));
    }
    assert_waiting(
        &row_to(&app, "carla@example.cl").await,
        1,
        app.now(),
        minutes(1),
    );

    // Hang after the greeting: the same.
    peer.set(Behaviour::HangAfterGreeting);
    app.advance(minutes(1));
    let pass = tokio::time::timeout(PASS_BOUND, outbox.deliver_due())
        .await
        .expect("a pass returns although the mail server hangs")
        .unwrap();
    assert_eq!((pass.sent, pass.retried, pass.failed), (0, 1, 0));
    assert_waiting(
        &row_to(&app, "carla@example.cl").await,
        2,
        app.now(),
        minutes(2),
    );
    assert!(peer.messages().is_empty(), "nothing was accepted so far");

    // Accepting: everything still pending goes out once; the failed receipt stays failed.
    peer.set(Behaviour::Accept);
    app.advance(minutes(4));
    let pass = outbox.deliver_due().await.unwrap();
    assert_eq!((pass.sent, pass.retried, pass.failed), (3, 0, 0));
    app.advance(SignedDuration::from_hours(3));
    assert_eq!(outbox.deliver_due().await.unwrap(), Default::default());

    let received = peer.message_ids();
    let distinct: HashSet<&String> = received.iter().collect();
    assert_eq!(
        distinct.len(),
        received.len(),
        "no duplicates: {received:?}"
    );
    let mut received = received.clone();
    received.sort();
    assert_eq!(received, message_ids_with_status(&app, "sent").await);
    assert_eq!(received.len(), 3);
    assert_eq!(app.rows("outbox").await, queued + 1);
    let failed = message_ids_with_status(&app, "failed").await;
    assert_eq!(failed.len(), 1);
    assert!(
        !received.contains(&failed[0]),
        "a failed e-mail is not retried"
    );
    assert_eq!(row_to(&app, "s20@example.cl").await.attempts, 1);
}

#[tokio::test]
async fn a_hanging_mail_server_holds_a_pass_for_bounded_time_while_the_portal_answers() {
    let port = SmtpPeer::free_port().await;
    let peer = SmtpPeer::start(port).await;
    peer.set(Behaviour::Hang);
    // Long enough that the page below is answered well within one held attempt.
    let app = app_with_smtp(port, 5).await;
    const DUE: usize = 50;
    for n in 0..DUE {
        let email = OutgoingEmail {
            to: format!("vecino{n}@example.cl"),
            subject: "Aviso".to_string(),
            body: "Texto".to_string(),
        };
        enqueue(app.state.db.pool(), &email, "portal.test", app.now())
            .await
            .unwrap();
    }
    let outbox = portal::app::outbox(&app.state).unwrap();
    // One after another, 50 hanging attempts would take 50 timeouts (over four minutes).
    let pass =
        tokio::spawn(async move { tokio::time::timeout(PASS_BOUND, outbox.deliver_due()).await });

    // While the pass waits on the hanging server, a page that writes is answered.
    peer.until_hanging(1).await;
    app.browser()
        .register("13470539-6", "ana@example.cl")
        .await
        .assert_redirect("/registro/recibido");
    assert!(
        peer.hanging() > 0,
        "the pass was still waiting on the mail server when the page was answered"
    );

    let pass = pass
        .await
        .unwrap()
        .expect("the pass returns in bounded time although the mail server hangs")
        .unwrap();
    assert_eq!((pass.sent, pass.failed), (0, 0));
    assert!(
        (1..=4).contains(&pass.retried),
        "only the attempts in flight when the first timed out were made: {pass:?}"
    );
    assert_eq!(pass.retried + pass.postponed, DUE, "{pass:?}");

    // Nothing is left claimed: the timed-out ones are retries, the others untouched.
    assert_eq!(
        app.count("SELECT COUNT(*) FROM outbox WHERE locked_until IS NOT NULL")
            .await,
        0
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM outbox WHERE attempts = 1 AND last_error IS NOT NULL")
            .await,
        pass.retried as i64
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM outbox WHERE status = 'queued' AND attempts = 0")
            .await,
        (DUE - pass.retried + 1) as i64,
        "the postponed e-mails and the registration's wait, unharmed"
    );
}
