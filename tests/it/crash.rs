//! Crash safety with the real binary: submissions and answers in flight while the process gets
//! `kill -9`, then a restart and a check that everything acknowledged is there, whole, and that
//! nothing is half-done. The random rounds run the binary named by `PORTAL_CRASH_BIN` (the
//! release build, in `scripts/crash-test`) or this build's; the named crash points need this
//! build's test hooks.
//!
//! `PORTAL_CRASH_ROUNDS` sets the number of random rounds (2 by default).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use axum::http::StatusCode;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use jiff::{SignedDuration, Timestamp};
use portal::faults;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::requests::hidden;
use crate::support::process::{self, PortalProcess};
use crate::support::{
    Browser, PASSWORD, RequestForm, TestApp, request_id, required_slots, rut_for,
};

const APPLICANTS: usize = 20;
const COMPANY_RUT: &str = "12345678-5";

/// A file as sent: what the portal must keep for it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Sent {
    slot: String,
    size: i64,
    sha256: String,
}

/// What the portal acknowledged with a success response.
#[derive(Debug)]
enum Acknowledged {
    Submission { request: String, files: Vec<Sent> },
    Answer { request: String, file: Sent },
}

/// An in-process app for test data and inspection, and the portal process on the same data
/// directory and database.
struct Harness {
    app: TestApp,
    dir: tempfile::TempDir,
    portal: PortalProcess,
}

impl Harness {
    async fn new(binary: PathBuf) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let app = TestApp::spawn_in(dir.path()).await;
        let portal = PortalProcess::new(
            binary,
            dir.path(),
            &app.state.settings.database_url,
            dir.path().join("portal.log"),
        );
        Harness { app, dir, portal }
    }

    fn data_dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Harness {
    /// A failed check shows what the portal logged, which is otherwise lost with its directory.
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.portal.log_text();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            eprintln!("--- the portal's log, last lines ---\n{}", tail.join("\n"));
        }
    }
}

/// Logged-in browsers on the portal process at `base_url`: the applicants, then the company.
async fn users<'a>(
    app: &'a TestApp,
    base_url: &str,
    applicants: usize,
) -> (Vec<Browser<'a>>, Browser<'a>) {
    let base = [base_url.to_string()];
    let mut browsers = Vec::new();
    for number in 0..applicants {
        let rut = rut_for(7_000_000 + number as u32);
        app.create_user("solicitante", &rut, &format!("s{number}@example.cl"), None)
            .await;
        let browser = app.remote_browser(&base);
        browser
            .login("applicant", &rut, PASSWORD)
            .await
            .assert_redirect("/solicitante");
        browsers.push(browser);
    }
    app.create_user("distribuidora", COMPANY_RUT, "dx@enel.example", Some("EN"))
        .await;
    let company = app.remote_browser(&base);
    company
        .login("distributor", COMPANY_RUT, PASSWORD)
        .await
        .assert_redirect("/distribuidora");
    (browsers, company)
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A PDF header followed by random bytes: content the portal accepts, with a size and hash
/// that no other file shares.
fn random_pdf(rng: &mut impl Rng, max: usize) -> Vec<u8> {
    let mut bytes = b"%PDF-1.4\n".to_vec();
    let size = rng.random_range(1_000..max);
    let start = bytes.len();
    bytes.resize(size, 0);
    rng.fill(&mut bytes[start..]);
    bytes
}

/// Opens a form of `kind` and fills it with the given files: what will be sent, and what the
/// portal must keep of it.
async fn filled_form(
    browser: &Browser<'_>,
    kind: &'static str,
    files: Vec<(String, Vec<u8>)>,
) -> (RequestForm, Vec<Sent>) {
    let mut form = RequestForm::open(browser, kind).await;
    let mut sent = Vec::new();
    for (slot, bytes) in files {
        sent.push(Sent {
            slot: slot.clone(),
            size: bytes.len() as i64,
            sha256: sha256(&bytes),
        });
        form = form.file(&slot, &format!("{slot}.pdf"), &bytes);
    }
    sent.sort();
    (form, sent)
}

/// Sends a filled form while the portal is certainly up: the new request.
async fn submit_acknowledged(
    browser: &Browser<'_>,
    kind: &'static str,
    files: Vec<(String, Vec<u8>)>,
) -> Acknowledged {
    let (form, files) = filled_form(browser, kind, files).await;
    let response = form.try_post(browser).await.expect("the portal is up");
    Acknowledged::Submission {
        request: acknowledged_request(&response),
        files,
    }
}

fn files_for(kind: &str, rng: &mut impl Rng, max: usize) -> Vec<(String, Vec<u8>)> {
    required_slots(kind)
        .iter()
        .map(|slot| (slot.to_string(), random_pdf(rng, max)))
        .collect()
}

/// Opens the answer form of a request: its one-time token.
async fn answer_token(company: &Browser<'_>, request: &str) -> String {
    let page = company
        .get(&format!("/solicitudes/{request}/responder"))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    hidden(&page.body, "token")
}

async fn answer(
    company: &Browser<'_>,
    request: &str,
    token: &str,
    bytes: &[u8],
) -> Result<crate::support::TestResponse, String> {
    company
        .try_post_multipart(
            &format!("/solicitudes/{request}/responder"),
            &[("token", token), ("comment", "Respuesta de prueba.")],
            &[("file", "respuesta.pdf", bytes)],
        )
        .await
}

/// The request a success response points to; a panic for any other answer, since nothing
/// but a crash may make these operations fail.
fn acknowledged_request(response: &crate::support::TestResponse) -> String {
    assert_eq!(
        response.status,
        StatusCode::SEE_OTHER,
        "an operation failed while the portal was up:\n{}",
        response.body
    );
    request_id(response.location())
}

fn crash_rounds() -> usize {
    std::env::var("PORTAL_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_work_survives_kill_9_at_random_moments() {
    let mut harness = Harness::new(process::binary()).await;
    harness.portal.start().await;
    let seed: u64 = rand::rng().random();
    eprintln!("crash rounds with seed {seed} (set PORTAL_CRASH_SEED to replay)");
    let seed = std::env::var("PORTAL_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(seed);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (applicants, company) =
        users(&harness.app, &harness.portal.base_url.clone(), APPLICANTS).await;
    let mut acknowledged = Vec::new();
    for round in 0..crash_rounds() {
        // Requests for the company to answer while the crash comes; these are acknowledged.
        let mut targets = Vec::new();
        for browser in &applicants {
            let submission =
                submit_acknowledged(browser, "si", files_for("si", &mut rng, 20_000)).await;
            if let Acknowledged::Submission { request, .. } = &submission {
                targets.push(request.clone());
            }
            acknowledged.push(submission);
        }
        // Every page is opened before the crash can come: only the sending is in flight.
        let mut tokens = Vec::new();
        for request in &targets {
            tokens.push(answer_token(&company, request).await);
        }
        let mut forms = Vec::new();
        for browser in &applicants {
            forms.push(filled_form(browser, "nc", files_for("nc", &mut rng, 400_000)).await);
        }

        // Twenty submissions of five files and twenty answers at once; the process is killed
        // after a random number of them got their response.
        let mut in_flight = FuturesUnordered::new();
        for (browser, (form, files)) in applicants.iter().zip(forms) {
            in_flight.push(Box::pin(async move {
                let response = form.try_post(browser).await;
                (response, None, files)
            })
                as std::pin::Pin<Box<dyn Future<Output = _> + Send + '_>>);
        }
        for (request, token) in targets.iter().zip(&tokens) {
            let bytes = random_pdf(&mut rng, 200_000);
            let file = Sent {
                slot: "answer".to_string(),
                size: bytes.len() as i64,
                sha256: sha256(&bytes),
            };
            let company = &company;
            in_flight.push(Box::pin(async move {
                let response = answer(company, request, token, &bytes).await;
                (response, Some(request.clone()), vec![file])
            }));
        }
        let kill_after = rng.random_range(1..=30);
        let mut completed = 0;
        let mut lost = 0;
        while let Some((response, answered, files)) = in_flight.next().await {
            completed += 1;
            match response {
                Ok(response) => {
                    let request = acknowledged_request(&response);
                    acknowledged.push(match answered {
                        Some(target) => {
                            assert_eq!(request, target);
                            Acknowledged::Answer {
                                request,
                                file: files.into_iter().next().unwrap(),
                            }
                        }
                        None => Acknowledged::Submission { request, files },
                    });
                }
                Err(_) => lost += 1,
            }
            if completed == kill_after {
                harness.portal.kill();
            }
        }
        eprintln!("round {round}: killed after {kill_after} responses; {lost} operations got none");
        harness.portal.start().await;
        check_consistency(&harness, &acknowledged).await;
    }
}

/// What must hold after any crash and restart.
async fn check_consistency(harness: &Harness, acknowledged: &[Acknowledged]) {
    let db = harness.app.state.db.pool();
    let scratch = harness.data_dir().join("uploads-tmp");
    let leftovers: Vec<_> = std::fs::read_dir(&scratch)
        .map(|dir| dir.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(
        leftovers.is_empty(),
        "temporary files after start-up: {leftovers:?}"
    );

    // Every row has its file, whole.
    let rows = sqlx::query("SELECT storage_key, size_bytes, sha256 FROM attachments")
        .fetch_all(db)
        .await
        .unwrap();
    for row in &rows {
        let key: String = row.get("storage_key");
        let path = harness.data_dir().join("files").join(&key);
        let bytes =
            std::fs::read(&path).unwrap_or_else(|e| panic!("the row of {key} has no file: {e}"));
        assert_eq!(bytes.len() as i64, row.get::<i64, _>("size_bytes"), "{key}");
        assert_eq!(sha256(&bytes), row.get::<String, _>("sha256"), "{key}");
    }

    // Every acknowledged submission and answer is there with its files.
    for item in acknowledged {
        match item {
            Acknowledged::Submission { request, files } => {
                let stored = sent_files(harness, request, "submit").await;
                assert_eq!(&stored, files, "the files of submission {request}");
            }
            Acknowledged::Answer { request, file } => {
                let stored = sent_files(harness, request, "answer").await;
                assert_eq!(stored.len(), 1, "one answer recorded for {request}");
                assert_eq!(
                    (stored[0].size, &stored[0].sha256),
                    (file.size, &file.sha256),
                    "the answer file of {request}"
                );
            }
        }
    }

    // No transition half-applied: the status is where the history ends, and every event that
    // notifies the applicant has its e-mail queued in the same transaction.
    let requests = sqlx::query(
        "SELECT r.id, r.folio, r.status, u.email FROM requests r \
         JOIN users u ON u.id = r.applicant_id",
    )
    .fetch_all(db)
    .await
    .unwrap();
    for request in &requests {
        let id: String = request.get("id");
        let folio: String = request.get("folio");
        let events = sqlx::query(
            "SELECT action, to_status FROM request_events WHERE request_id = $1 \
             ORDER BY created_at, id",
        )
        .bind(&id)
        .fetch_all(db)
        .await
        .unwrap();
        let last: String = events.last().expect("a submit event").get("to_status");
        assert_eq!(last, request.get::<String, _>("status"), "request {folio}");
        let notifying = events
            .iter()
            .filter(|e| matches!(e.get::<String, _>("action").as_str(), "submit" | "answer"))
            .count();
        let subjects: Vec<String> =
            sqlx::query_scalar("SELECT subject FROM outbox WHERE recipient = $1")
                .bind(request.get::<String, _>("email"))
                .fetch_all(db)
                .await
                .unwrap();
        let emails = subjects
            .iter()
            .filter(|subject| subject.split([' ', ':']).any(|word| word == folio))
            .count();
        assert_eq!(emails, notifying, "e-mails to the applicant of {folio}");
    }

    check_outbox(harness).await;
}

/// The files recorded with a request's events of one action, as sent.
async fn sent_files(harness: &Harness, request: &str, action: &str) -> Vec<Sent> {
    let rows = sqlx::query(
        "SELECT a.slot, a.size_bytes, a.sha256 FROM attachments a \
         JOIN request_events e ON e.id = a.event_id \
         WHERE a.request_id = $1 AND e.action = $2",
    )
    .bind(request)
    .bind(action)
    .fetch_all(harness.app.state.db.pool())
    .await
    .unwrap();
    let mut files: Vec<Sent> = rows
        .iter()
        .map(|r| Sent {
            slot: r.get("slot"),
            size: r.get("size_bytes"),
            sha256: r.get("sha256"),
        })
        .collect();
    files.sort();
    files
}

/// Each queued e-mail is still queued or was sent, and nothing was sent that is not queued.
async fn check_outbox(harness: &Harness) {
    let rows = sqlx::query("SELECT message_id, status FROM outbox")
        .fetch_all(harness.app.state.db.pool())
        .await
        .unwrap();
    let mut queued = BTreeMap::new();
    for row in &rows {
        let id: String = row.get("message_id");
        let status: String = row.get("status");
        assert!(
            status == "queued" || status == "sent",
            "e-mail {id} is {status}"
        );
        queued.insert(id.trim_matches(['<', '>']).to_string(), status);
    }
    let mut written = HashSet::new();
    let mail_dir = harness.data_dir().join("mail");
    for entry in std::fs::read_dir(&mail_dir).into_iter().flatten() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
        // A file cut short by the kill may lack its headers; the row then stays queued or
        // claimed and the e-mail is written again.
        if let Some(id) = message_id(&text) {
            assert!(
                queued.contains_key(&id),
                "an e-mail left without its row: {id}"
            );
            written.insert(id);
        }
    }
    for (id, status) in &queued {
        if status == "sent" {
            assert!(
                written.contains(id),
                "e-mail {id} is marked sent but was not written"
            );
        }
    }
}

fn message_id(eml: &str) -> Option<String> {
    eml.lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("Message-ID")
                .then(|| value.trim())
        })
        .map(|id| id.trim_matches(['<', '>']).to_string())
}

// ---- Named crash points ----

/// One applicant and the company, logged in on a portal started normally.
async fn crash_point_setup() -> Harness {
    let mut harness = Harness::new(PathBuf::from(env!("CARGO_BIN_EXE_portal"))).await;
    harness.portal.start().await;
    harness
}

/// Restarts the portal so that it dies at `point`, runs `operation`, which must get no
/// response, and brings the portal back up normally.
async fn die_at(portal: &mut PortalProcess, point: &'static str) {
    portal.kill();
    portal.set_env(faults::CRASH_AT_VARIABLE, point);
    portal.start().await;
}

async fn restart_normally(portal: &mut PortalProcess) {
    let status = portal.wait_for_exit().await;
    assert!(
        !status.success(),
        "the portal died at the crash point: {status}"
    );
    assert!(
        portal.log_text().contains("test hook: crashing at"),
        "the crash point was reached"
    );
    portal.remove_env(faults::CRASH_AT_VARIABLE);
    portal.start().await;
}

async fn submission_crash(point: &'static str, kept: bool) {
    let mut harness = crash_point_setup().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let files = files_for("nc", &mut rng, 300_000);
    {
        let (applicants, _company) = users(&harness.app, &harness.portal.base_url.clone(), 1).await;
        let form = RequestForm::open(&applicants[0], "nc").await;
        let token = form.token().to_string();
        drop(applicants);
        die_at(&mut harness.portal, point).await;
        let applicants = relogin(&harness, 1).await;
        let form = files.iter().fold(form, |form, (slot, bytes)| {
            form.file(slot, &format!("{slot}.pdf"), bytes)
        });
        let response = form.try_post(&applicants[0]).await;
        assert!(response.is_err(), "no response from a process that died");
        restart_normally(&mut harness.portal).await;
        let requests = harness.app.count("SELECT COUNT(*) FROM requests").await;
        assert_eq!(
            requests,
            i64::from(kept),
            "requests after a crash at {point}"
        );
        check_consistency(&harness, &[]).await;

        // The applicant, seeing no answer, sends the same form again: one request either way.
        let applicants = relogin(&harness, 1).await;
        let again = form
            .try_post(&applicants[0])
            .await
            .expect("the portal is up");
        let request = acknowledged_request(&again);
        let mut sent: Vec<Sent> = files
            .iter()
            .map(|(slot, bytes)| Sent {
                slot: slot.clone(),
                size: bytes.len() as i64,
                sha256: sha256(bytes),
            })
            .collect();
        sent.sort();
        assert_eq!(harness.app.count("SELECT COUNT(*) FROM requests").await, 1);
        assert_eq!(token, form.token());
        check_consistency(
            &harness,
            &[Acknowledged::Submission {
                request,
                files: sent,
            }],
        )
        .await;
    }
    assert_orphans_collected(&harness, kept).await;
}

/// Logs the first `count` applicants in again (their sessions survive a restart, but the
/// browsers of a closed scope are gone).
async fn relogin(harness: &Harness, count: usize) -> Vec<Browser<'_>> {
    let base = [harness.portal.base_url.clone()];
    let mut browsers = Vec::new();
    for number in 0..count {
        let browser = harness.app.remote_browser(&base);
        browser
            .login("applicant", &rut_for(7_000_000 + number as u32), PASSWORD)
            .await
            .assert_redirect("/solicitante");
        browsers.push(browser);
    }
    browsers
}

/// A crash before the commit leaves stored files without a row; the housekeeping collects
/// them once they are old enough, and never a file that has its row.
async fn assert_orphans_collected(harness: &Harness, kept: bool) {
    let in_two_hours = Timestamp::now() + SignedDuration::from_hours(2);
    harness.app.clock.set(in_two_hours);
    let collected = portal::jobs::collect_orphan_files(&harness.app.state)
        .await
        .unwrap();
    let expected = if kept { 0 } else { required_slots("nc").len() };
    assert_eq!(
        collected.len(),
        expected,
        "orphans collected: {collected:?}"
    );
    check_consistency(harness, &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_files_before_the_commit_keeps_no_request() {
    submission_crash(faults::SUBMIT_BEFORE_COMMIT, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_the_commit_before_the_response_keeps_the_request() {
    submission_crash(faults::SUBMIT_AFTER_COMMIT, true).await;
}

async fn answer_crash(point: &'static str, kept: bool) {
    let mut harness = crash_point_setup().await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let (request, token) = {
        let (applicants, company) = users(&harness.app, &harness.portal.base_url.clone(), 1).await;
        let submission =
            submit_acknowledged(&applicants[0], "si", files_for("si", &mut rng, 10_000)).await;
        let Acknowledged::Submission { request, .. } = submission else {
            unreachable!()
        };
        let token = answer_token(&company, &request).await;
        (request, token)
    };
    let status_before: String = status_of(&harness, &request).await;
    die_at(&mut harness.portal, point).await;
    let company = harness
        .app
        .remote_browser(&[harness.portal.base_url.clone()]);
    company
        .login("distributor", COMPANY_RUT, PASSWORD)
        .await
        .assert_redirect("/distribuidora");
    let bytes = random_pdf(&mut rng, 100_000);
    let response = answer(&company, &request, &token, &bytes).await;
    assert!(response.is_err(), "no response from a process that died");
    restart_normally(&mut harness.portal).await;
    let answers = harness
        .app
        .count("SELECT COUNT(*) FROM request_events WHERE action = 'answer'")
        .await;
    assert_eq!(answers, i64::from(kept), "answers after a crash at {point}");
    if !kept {
        assert_eq!(status_of(&harness, &request).await, status_before);
    }
    check_consistency(&harness, &[]).await;

    // The same form sent again records the answer once.
    let again = answer(&company, &request, &token, &bytes)
        .await
        .expect("the portal is up");
    assert_eq!(acknowledged_request(&again), request);
    let file = Sent {
        slot: "answer".to_string(),
        size: bytes.len() as i64,
        sha256: sha256(&bytes),
    };
    check_consistency(&harness, &[Acknowledged::Answer { request, file }]).await;
}

async fn status_of(harness: &Harness, request: &str) -> String {
    sqlx::query_scalar("SELECT status FROM requests WHERE id = $1")
        .bind(request)
        .fetch_one(harness.app.state.db.pool())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_before_an_answer_commits_leaves_the_request_unanswered() {
    answer_crash(faults::ANSWER_BEFORE_COMMIT, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_an_answer_commits_keeps_the_answer() {
    answer_crash(faults::ANSWER_AFTER_COMMIT, true).await;
}
