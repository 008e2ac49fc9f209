//! Database outages. PostgreSQL cut off through a real TCP proxy, refusing connections or
//! swallowing them (blackhole), before a request or in the middle of a submission's
//! transaction; SQLite write-locked by another process. Every page answers within a bound, with
//! the plain 503 page when it needs what is missing; nothing is half-done; and the same app
//! works again, writes included, once the database is back.

use std::future::Future;
use std::process::Stdio;
use std::time::Duration;

use axum::http::StatusCode;
use portal::domain::RegulatorRole;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::sec_messages::sec_user;
use crate::support::proxy::{Mode, Proxy};
use crate::support::{
    Browser, PASSWORD, RequestForm, TestApp, TestResponse, postgres_url, request_id, rut_for,
};

/// Every call must come back within this, however the database fails. Not a speed limit: the
/// timeouts configured below are a few seconds; this only tells "answers" from "hangs".
const BOUND: Duration = Duration::from_secs(30);

const UNAVAILABLE: &str =
    "El portal no puede atender su solicitud en este momento. Intente nuevamente en unos minutos.";

async fn within<F: Future>(what: &str, call: F) -> F::Output {
    tokio::time::timeout(BOUND, call)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {BOUND:?}: the page hangs"))
}

#[track_caller]
fn assert_unavailable(what: &str, response: &TestResponse) {
    assert_eq!(
        response.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{what}: {}",
        response.body
    );
    assert!(
        response.body.contains("Servicio no disponible") && response.body.contains(UNAVAILABLE),
        "{what}: not the plain 503 page:\n{}",
        response.body
    );
    assert_retry_later(what, response);
}

#[track_caller]
fn assert_retry_later(what: &str, response: &TestResponse) {
    let header = |name: &str| {
        response
            .headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    assert!(
        header("retry-after").parse::<u32>().is_ok_and(|s| s > 0),
        "{what}: Retry-After {:?}",
        header("retry-after")
    );
    assert_eq!(header("cache-control"), "no-store", "{what}");
}

/// The people of the scenario: an applicant with a form open, a SEC user, and a visitor with
/// the login page loaded (so that the CSRF cookie exists before the cut).
struct Cast<'a> {
    applicant: Browser<'a>,
    applicant_rut: String,
    sec: Browser<'a>,
    visitor: Browser<'a>,
    form: RequestForm,
}

async fn cast(app: &TestApp) -> Cast<'_> {
    let applicant = app.applicant(21_000_001).await;
    let form = RequestForm::open(&applicant, "si").await.complete();
    let sec = sec_user(app, 21_000_002, RegulatorRole::Administrator).await;
    let visitor = app.browser();
    visitor.get("/ingreso").await;
    Cast {
        applicant,
        applicant_rut: rut_for(21_000_001),
        sec,
        visitor,
        form,
    }
}

/// Every page that needs the database answers the plain 503; the health check says so too;
/// the static assets, which do not need it, are still served.
async fn assert_everything_unavailable(app: &TestApp, cast: &Cast<'_>, outage: &str) {
    let login = within(outage, async {
        cast.visitor
            .post(
                "/ingreso",
                &[
                    ("perfil", "applicant"),
                    ("rut", &cast.applicant_rut),
                    ("password", PASSWORD),
                ],
            )
            .await
    })
    .await;
    assert_unavailable(&format!("{outage}: login"), &login);
    let inbox = within(outage, cast.applicant.get("/solicitudes")).await;
    assert_unavailable(&format!("{outage}: applicant inbox"), &inbox);
    let panel = within(outage, cast.sec.get("/sec")).await;
    assert_unavailable(&format!("{outage}: SEC panel"), &panel);
    let submission = within(outage, cast.form.post(&cast.applicant)).await;
    assert_unavailable(&format!("{outage}: submission"), &submission);
    let health = within(outage, app.browser().get("/healthz")).await;
    assert_eq!(health.status, StatusCode::SERVICE_UNAVAILABLE, "{outage}");
    assert_retry_later(&format!("{outage}: /healthz"), &health);
    let css = within(outage, app.browser().get("/static/portal.css")).await;
    assert_eq!(css.status, StatusCode::OK, "{outage}: static assets");
}

/// Login, inbox, panel and health answer normally again.
async fn assert_everything_back(app: &TestApp, cast: &Cast<'_>, after: &str) {
    let login = within(after, async {
        let visitor = app.browser();
        visitor
            .login("applicant", &cast.applicant_rut, PASSWORD)
            .await
    })
    .await;
    login.assert_redirect("/solicitante");
    let inbox = within(after, cast.applicant.get("/solicitudes")).await;
    assert_eq!(inbox.status, StatusCode::OK, "{after}: {}", inbox.body);
    let panel = within(after, cast.sec.get("/sec")).await;
    assert_eq!(panel.status, StatusCode::OK, "{after}: {}", panel.body);
    let health = within(after, app.browser().get("/healthz")).await;
    assert_eq!(health.status, StatusCode::OK, "{after}");
}

/// The test app on PostgreSQL with its connections going through a proxy, and short database
/// and request timeouts; `None` (with a note) on the SQLite run.
async fn postgres_behind_proxy(test: &str) -> Option<(Proxy, TestApp)> {
    let Some(url) = postgres_url() else {
        eprintln!("{test}: PostgreSQL only (PORTAL_TEST_POSTGRES_URL is not set); skipped");
        return None;
    };
    let url = url::Url::parse(&url).unwrap();
    let upstream = format!(
        "{}:{}",
        url.host_str().unwrap(),
        url.port_or_known_default().unwrap_or(5432)
    );
    let proxy = Proxy::start(upstream).await;
    let address = proxy.address();
    let app = TestApp::spawn_with(|settings| {
        settings.database_timeout = Duration::from_secs(1);
        settings.request_timeout = Duration::from_secs(3);
        let mut url = url::Url::parse(&settings.database_url).unwrap();
        url.set_ip_host(address.ip()).unwrap();
        url.set_port(Some(address.port())).unwrap();
        // In clear, so that the proxy can see which statement passes (loopback only).
        url.query_pairs_mut().append_pair("sslmode", "disable");
        settings.database_url = url.to_string();
    })
    .await;
    Some((proxy, app))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_cut_off_answers_503_and_comes_back_without_a_restart() {
    let Some((proxy, app)) = postgres_behind_proxy("postgres_cut_off").await else {
        return;
    };
    let cast = cast(&app).await;
    for outage in [Mode::Refuse, Mode::Blackhole] {
        proxy.set(outage);
        assert_everything_unavailable(&app, &cast, &format!("{outage:?}")).await;
        proxy.set(Mode::Forward);
        assert_everything_back(&app, &cast, &format!("after {outage:?}")).await;
    }
    // The submissions tried during both outages left nothing behind.
    app.assert_nothing_stored("submissions during the outages")
        .await;
    // The same form, sent again, is a request like any other.
    let submitted = within(
        "submission after the outages",
        cast.form.post(&cast.applicant),
    )
    .await;
    assert_eq!(
        submitted.status,
        StatusCode::SEE_OTHER,
        "{}",
        submitted.body
    );
    let view = cast.applicant.get(submitted.location()).await;
    assert_eq!(view.status, StatusCode::OK);
    assert_eq!(app.rows("requests").await, 1);
    assert_eq!(
        app.stored_files().len(),
        1,
        "the one attachment of the form"
    );
    // Every pooled connection carries the server-side timeouts of the setting.
    for setting in ["statement_timeout", "idle_in_transaction_session_timeout"] {
        let value: String = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SHOW {setting}")))
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
        assert_eq!(value, "1s", "{setting}");
    }
}

/// The connection is refused or swallowed after the transaction began, at the request's
/// INSERT: the files are already stored and the folio number taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_cut_in_the_middle_of_a_submission_leaves_nothing_half_done() {
    let Some((proxy, app)) = postgres_behind_proxy("postgres_mid_submission").await else {
        return;
    };
    let cast = cast(&app).await;

    // Refused: the statement fails, the transaction is gone, and the handler deletes the files
    // it stored before answering.
    proxy.cut_when_client_sends("INSERT INTO requests", Mode::Refuse);
    let refused = within("refused mid-submission", cast.form.post(&cast.applicant)).await;
    assert_eq!(
        proxy.mode(),
        Mode::Refuse,
        "the cut happened at the INSERT: {} {}",
        refused.status,
        refused.body
    );
    assert_unavailable("refused mid-submission", &refused);
    proxy.set(Mode::Forward);
    app.assert_nothing_stored("a submission refused mid-transaction")
        .await;

    // Swallowed: nothing answers the INSERT, so only the request timeout ends the wait. The
    // transaction never commits (PostgreSQL ends it as idle in transaction); the file stored
    // before it has no row and is the orphan collector's, as after a crash.
    proxy.cut_when_client_sends("INSERT INTO requests", Mode::Blackhole);
    let swallowed = within("blackholed mid-submission", cast.form.post(&cast.applicant)).await;
    assert_eq!(
        proxy.mode(),
        Mode::Blackhole,
        "the cut happened at the INSERT"
    );
    assert_unavailable("blackholed mid-submission", &swallowed);
    proxy.set(Mode::Forward);
    for table in [
        "requests",
        "attachments",
        "request_events",
        "submission_tokens",
        "outbox",
    ] {
        assert_eq!(app.rows(table).await, 0, "{table} after the blackhole");
    }
    assert_eq!(app.scratch_files(), Vec::<std::path::PathBuf>::new());
    assert!(
        app.stored_files().len() <= 1,
        "at most the one file of the interrupted submission, without a row: {:?}",
        app.stored_files()
    );

    // Back: the same form makes one whole request.
    let submitted = within("submission after the cut", cast.form.post(&cast.applicant)).await;
    assert_eq!(
        submitted.status,
        StatusCode::SEE_OTHER,
        "{}",
        submitted.body
    );
    let id = request_id(submitted.location());
    assert_eq!(app.rows("requests").await, 1);
    let attachments = app
        .count("SELECT COUNT(*) FROM attachments WHERE slot = 'form'")
        .await;
    assert_eq!(attachments, 1, "request {id}");
}

/// Another process holds SQLite's write lock (as a backup tool or a stuck script could).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_locked_by_another_process_answers_503_for_writes_and_recovers() {
    if postgres_url().is_some() {
        eprintln!("sqlite_locked: SQLite only; skipped on the PostgreSQL run");
        return;
    }
    let app = TestApp::spawn_with(|settings| {
        settings.sqlite_busy_timeout = Duration::from_millis(200);
        settings.request_timeout = Duration::from_secs(5);
    })
    .await;
    let cast = cast(&app).await;
    let Some(mut lock) = WriteLock::take(&app.state.settings.data_dir.join("portal.db")).await
    else {
        return;
    };

    // Writes wait for the lock as long as busy_timeout allows, then answer 503.
    let login = within("login while locked", async {
        cast.visitor
            .post(
                "/ingreso",
                &[
                    ("perfil", "applicant"),
                    ("rut", &cast.applicant_rut),
                    ("password", PASSWORD),
                ],
            )
            .await
    })
    .await;
    assert_unavailable("login while locked", &login);
    let submission = within("submission while locked", cast.form.post(&cast.applicant)).await;
    assert_unavailable("submission while locked", &submission);
    // Reads go on: in WAL mode a writer, even an exclusive one, does not block readers, and a
    // signed-in page only reads (the session is touched at most every few minutes).
    let inbox = within("inbox while locked", cast.applicant.get("/solicitudes")).await;
    assert_eq!(inbox.status, StatusCode::OK, "{}", inbox.body);
    let panel = within("panel while locked", cast.sec.get("/sec")).await;
    assert_eq!(panel.status, StatusCode::OK, "{}", panel.body);
    let health = within("health while locked", app.browser().get("/healthz")).await;
    assert_eq!(health.status, StatusCode::OK);

    lock.release().await;
    app.assert_nothing_stored("a submission while the database was locked")
        .await;
    assert_everything_back(&app, &cast, "after the lock").await;
    let submitted = within("submission after the lock", cast.form.post(&cast.applicant)).await;
    assert_eq!(
        submitted.status,
        StatusCode::SEE_OTHER,
        "{}",
        submitted.body
    );
    assert_eq!(app.rows("requests").await, 1);
}

/// A separate python3 process holding `BEGIN EXCLUSIVE` on the database until its standard
/// input closes.
struct WriteLock {
    child: tokio::process::Child,
}

impl WriteLock {
    async fn take(database: &std::path::Path) -> Option<WriteLock> {
        let script = "import sqlite3,sys\n\
                      c = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
                      c.execute('BEGIN EXCLUSIVE')\n\
                      print('locked', flush=True)\n\
                      sys.stdin.read()\n";
        let spawned = tokio::process::Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(database)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn();
        let Ok(mut child) = spawned else {
            eprintln!(
                "\n\n*** SKIPPED sqlite_locked: python3 is not installed, so no other process can hold the lock ***\n\n"
            );
            return None;
        };
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        within(
            "python3 taking the lock",
            BufReader::new(stdout).read_line(&mut line),
        )
        .await
        .unwrap();
        assert_eq!(line.trim(), "locked", "python3 could not take the lock");
        Some(WriteLock { child })
    }

    /// Closes the process's standard input: it ends, and its lock with it.
    async fn release(&mut self) {
        let mut stdin = self.child.stdin.take().unwrap();
        stdin.shutdown().await.unwrap();
        drop(stdin);
        let status = within("python3 releasing the lock", self.child.wait())
            .await
            .unwrap();
        assert!(status.success(), "{status}");
    }
}

/// The connection breaks just after the COMMIT reached PostgreSQL: the request is recorded but
/// the portal cannot know it. It must not delete the files it stored (a recorded row would
/// lose its file); the orphan collector removes them later if no row refers to them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_commit_whose_answer_is_lost_keeps_the_files_of_the_recorded_request() {
    let Some((proxy, app)) = postgres_behind_proxy("postgres_commit_answer_lost").await else {
        return;
    };
    let cast = cast(&app).await;
    proxy.cut_after_client_sends("COMMIT", Mode::Refuse);
    let cut = within("commit answer lost", cast.form.post(&cast.applicant)).await;
    assert_eq!(proxy.mode(), Mode::Refuse, "the cut happened at the COMMIT");
    assert_unavailable("commit answer lost", &cut);
    proxy.set(Mode::Forward);
    // PostgreSQL received the COMMIT before the connection closed: the request is there, and
    // every attachment row still has its file.
    assert_eq!(app.rows("requests").await, 1);
    let keys: Vec<String> = sqlx::query_scalar("SELECT storage_key FROM attachments")
        .fetch_all(app.state.db.pool())
        .await
        .unwrap();
    assert!(!keys.is_empty());
    for key in keys {
        use object_store::ObjectStoreExt;
        let path = object_store::path::Path::from(key.as_str());
        app.state
            .storage
            .head(&path)
            .await
            .unwrap_or_else(|e| panic!("the recorded attachment {key} lost its file: {e}"));
    }
    // Sent again, the same form finds the request the lost answer was about.
    let again = within("the same form again", cast.form.post(&cast.applicant)).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER, "{}", again.body);
    assert_eq!(app.rows("requests").await, 1);
}
