//! `portal generate`: the generated portal holds what the real code paths would have written,
//! and every page works on it.

use std::collections::HashSet;

use portal::generate::{self, BENCH_PASSWORD, Options};
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::support::process::command as portal;
use crate::support::{RequestForm, TestApp, request_id};

const REQUESTS: u64 = 3_000;

async fn generate_into(
    app: &TestApp,
    requests: u64,
    append: bool,
) -> anyhow::Result<generate::Summary> {
    let options = Options {
        requests,
        seed: 7,
        append,
    };
    generate::generate(&app.state, options, &indicatif::ProgressBar::hidden()).await
}

async fn rows(app: &TestApp, sql: &'static str) -> Vec<sqlx::any::AnyRow> {
    sqlx::query(sql)
        .fetch_all(app.state.db.pool())
        .await
        .unwrap()
}

/// (value, count) of a GROUP BY.
async fn counts(app: &TestApp, sql: &'static str) -> Vec<(String, i64)> {
    rows(app, sql)
        .await
        .iter()
        .map(|r| (r.get::<String, _>(0), r.get::<i64, _>(1)))
        .collect()
}

#[tokio::test]
async fn generated_requests_are_consistent_with_the_workflow() {
    let app = TestApp::spawn().await;
    let summary = generate_into(&app, REQUESTS, false).await.unwrap();
    assert_eq!(
        (summary.first_folio, summary.last_folio),
        (1, REQUESTS as i64)
    );

    let kinds = counts(
        &app,
        "SELECT kind, COUNT(*) FROM requests GROUP BY kind ORDER BY kind",
    )
    .await;
    assert_eq!(kinds.len(), 4, "{kinds:?}");
    let statuses = counts(
        &app,
        "SELECT status, COUNT(*) FROM requests GROUP BY status ORDER BY status",
    )
    .await;
    assert_eq!(statuses.len(), 9, "every status: {statuses:?}");
    assert!(kinds.iter().chain(&statuses).all(|(_, n)| *n > 0));

    // Consecutive folio numbers with the company's prefix, and the counter after them.
    let folios = rows(
        &app,
        "SELECT r.folio, r.folio_number, d.folio_prefix FROM requests r \
         JOIN distributors d ON d.id = r.distributor_id ORDER BY r.folio_number",
    )
    .await;
    assert_eq!(folios.len() as u64, REQUESTS);
    for (index, row) in folios.iter().enumerate() {
        let number: i64 = row.get("folio_number");
        assert_eq!(number, index as i64 + 1);
        let expected = format!("{}{number}", row.get::<String, _>("folio_prefix"));
        assert_eq!(row.get::<String, _>("folio"), expected);
    }
    assert_eq!(
        app.count("SELECT value FROM counters WHERE name = 'folio'")
            .await,
        REQUESTS as i64
    );

    // The status is where the history leads; the history starts with the submission.
    let mismatched = app
        .count(
            "SELECT COUNT(*) FROM requests r WHERE r.status <> (SELECT e.to_status FROM request_events e \
             WHERE e.request_id = r.id ORDER BY e.created_at DESC, e.id DESC LIMIT 1)",
        )
        .await;
    assert_eq!(mismatched, 0);
    let unsubmitted = app
        .count(
            "SELECT COUNT(*) FROM requests r WHERE (SELECT e.action FROM request_events e \
             WHERE e.request_id = r.id ORDER BY e.created_at, e.id LIMIT 1) <> 'submit'",
        )
        .await;
    assert_eq!(unsubmitted, 0);
    let unanswered = app
        .count(
            "SELECT COUNT(*) FROM requests WHERE status IN ('answered', 'auto_answered') \
             AND answered_at IS NULL",
        )
        .await;
    assert_eq!(unanswered, 0);
    let paid = app
        .count("SELECT COUNT(*) FROM requests WHERE status = 'pending_validation' AND validation_due_on IS NULL")
        .await;
    assert_eq!(paid, 0);
    let related = app
        .count("SELECT COUNT(*) FROM requests WHERE related_request_id IS NOT NULL")
        .await;
    assert!(related > 0);

    // Every attachment's file is stored with its size and digest.
    let files = rows(
        &app,
        "SELECT DISTINCT storage_key, size_bytes, sha256 FROM attachments",
    )
    .await;
    assert!(!files.is_empty());
    for row in &files {
        let key: String = row.get("storage_key");
        let path = object_store::path::Path::parse(&key).unwrap();
        let bytes = object_store::ObjectStoreExt::get(app.state.storage.as_ref(), &path)
            .await
            .unwrap_or_else(|e| panic!("{key}: {e}"))
            .bytes()
            .await
            .unwrap();
        assert_eq!(bytes.len() as i64, row.get::<i64, _>("size_bytes"), "{key}");
        let digest: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(digest, row.get::<String, _>("sha256"), "{key}");
    }
    let without_files = app
        .count("SELECT COUNT(*) FROM requests r WHERE NOT EXISTS (SELECT 1 FROM attachments a WHERE a.request_id = r.id)")
        .await;
    assert_eq!(without_files, 0);

    // A real submission afterwards continues the folio sequence.
    let applicant = app.browser();
    applicant
        .login("applicant", "11.111.111-1", BENCH_PASSWORD)
        .await
        .assert_redirect("/solicitante");
    let created = RequestForm::open(&applicant, "si")
        .await
        .complete()
        .post(&applicant)
        .await;
    let id = request_id(created.location());
    let folio: i64 = sqlx::query("SELECT folio_number FROM requests WHERE id = $1")
        .bind(&id)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap()
        .get(0);
    assert_eq!(folio, REQUESTS as i64 + 1);
}

/// The newest folio (by submission) among the rows of a query.
async fn newest_folio(app: &TestApp, sql: &'static str) -> String {
    rows(app, sql).await[0].get::<String, _>(0)
}

#[tokio::test]
async fn bench_accounts_use_every_page_on_generated_data() {
    let app = TestApp::spawn().await;
    generate_into(&app, REQUESTS, false).await.unwrap();

    let owned = app
        .count("SELECT COUNT(*) FROM requests r JOIN users u ON u.id = r.applicant_id WHERE u.rut = '11111111-1'")
        .await;
    assert_eq!(owned, 300, "a tenth of a small run");
    let applicant = app.browser();
    applicant
        .login("applicant", "11.111.111-1", BENCH_PASSWORD)
        .await
        .assert_redirect("/solicitante");
    let inbox = applicant.get("/solicitudes").await;
    assert_eq!(inbox.status, 200);
    inbox.assert_contains(
        &newest_folio(
            &app,
            "SELECT r.folio FROM requests r JOIN users u ON u.id = r.applicant_id \
             WHERE u.rut = '11111111-1' ORDER BY r.submitted_at DESC, r.id DESC",
        )
        .await,
    );
    assert_eq!(applicant.get("/solicitante").await.status, 200);

    let company = app.browser();
    company
        .login("distributor", "22.222.222-2", BENCH_PASSWORD)
        .await
        .assert_redirect("/distribuidora");
    let answered = company.get("/distribuidora?estado=answered").await;
    assert_eq!(answered.status, 200);
    answered.assert_contains(
        &newest_folio(
            &app,
            "SELECT r.folio FROM requests r JOIN distributors d ON d.id = r.distributor_id \
             WHERE d.folio_prefix = 'EN' AND r.status = 'answered' ORDER BY r.submitted_at DESC, r.id DESC",
        )
        .await,
    );
    let other = newest_folio(
        &app,
        "SELECT r.folio FROM requests r JOIN distributors d ON d.id = r.distributor_id \
         WHERE d.folio_prefix <> 'EN' ORDER BY r.submitted_at DESC, r.id DESC",
    )
    .await;
    assert!(
        !answered.body.contains(&format!(">{other}<")),
        "another company's {other}"
    );

    let sec = app.browser();
    sec.login("regulator", "33.333.333-3", BENCH_PASSWORD)
        .await
        .assert_redirect("/sec");
    let newest = newest_folio(
        &app,
        "SELECT folio FROM requests ORDER BY submitted_at DESC, id DESC",
    )
    .await;
    let panel = sec.get("/sec").await;
    assert_eq!(panel.status, 200);
    panel.assert_contains(&newest);
    let charts = sec
        .get("/sec/graficos?desde=2024-03-05&hasta=2025-03-04")
        .await;
    assert_eq!(charts.status, 200);
    charts.assert_contains("<svg");
    let compliance = sec.get("/sec/cumplimiento").await;
    assert_eq!(compliance.status, 200);
    let enel: String = rows(
        &app,
        "SELECT name FROM distributors WHERE folio_prefix = 'EN'",
    )
    .await[0]
        .get(0);
    compliance.assert_contains(&enel);

    // The Sábana of the three years, a year at a time (its longest period): one line per
    // generated request.
    let mut folios: HashSet<String> = HashSet::new();
    for (from, to) in [
        ("2022-01-01", "2022-12-31"),
        ("2023-01-01", "2023-12-31"),
        ("2024-01-01", "2024-12-31"),
        ("2025-01-01", "2025-03-04"),
    ] {
        let sabana = sec
            .get_bytes(&format!("/sec/sabana.csv?desde={from}&hasta={to}"))
            .await;
        assert_eq!(sabana.status, 200, "{from}");
        let mut reader = csv::ReaderBuilder::new().from_reader(&sabana.body[..]);
        for record in reader.records() {
            assert!(
                folios.insert(record.unwrap()[0].to_string()),
                "one line each"
            );
        }
    }
    assert_eq!(folios.len() as u64, REQUESTS);
    assert!(folios.contains(&newest));

    // A generated attachment downloads with its stored size.
    let row = &rows(
        &app,
        "SELECT request_id, id, size_bytes FROM attachments ORDER BY id DESC LIMIT 1",
    )
    .await[0];
    let (request, attachment): (String, String) = (row.get(0), row.get(1));
    let file = sec
        .get_bytes(&format!("/solicitudes/{request}/adjuntos/{attachment}"))
        .await;
    assert_eq!(file.status, 200);
    assert_eq!(file.body.len() as i64, row.get::<i64, _>(2));
    assert!(file.body.starts_with(b"%PDF-"));
}

/// (id, answered_on, business_days_taken) of every answered request.
async fn answer_figures(app: &TestApp) -> Vec<(String, Option<String>, Option<i64>)> {
    rows(
        app,
        "SELECT id, answered_on, business_days_taken FROM requests \
         WHERE answered_at IS NOT NULL ORDER BY id",
    )
    .await
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

#[tokio::test]
async fn generated_requests_keep_their_count_of_files_and_last_movement() {
    let app = TestApp::spawn().await;
    generate_into(&app, 1_000, false).await.unwrap();
    let moved_with_files = "SELECT COUNT(*) FROM requests \
         WHERE attachment_count > 1 AND last_event_at > submitted_at";
    assert!(app.count(moved_with_files).await > 100);
    assert_eq!(app.requests_with_wrong_tallies().await, 0);

    // The migration's own fill, for a database that had requests before the columns existed.
    let migration = include_str!("../../migrations/0008_request_tallies.sql");
    let fill = &migration[migration.find("UPDATE requests").unwrap()..];
    let pool = app.state.db.pool();
    sqlx::query("UPDATE requests SET attachment_count = 0, last_event_at = NULL")
        .execute(pool)
        .await
        .unwrap();
    assert!(app.requests_with_wrong_tallies().await > 900);
    sqlx::query(fill).execute(pool).await.unwrap();
    assert_eq!(app.requests_with_wrong_tallies().await, 0);
}

/// SQLite takes the generator's rows as JSON (`generate::rows`): every value must land with
/// the storage class a bound parameter would have given it, and no JSON `null` as text.
#[tokio::test]
async fn generated_values_keep_their_sql_types_on_sqlite() {
    let app = TestApp::spawn().await;
    if !app.state.db.is_sqlite() {
        return;
    }
    generate_into(&app, 500, false).await.unwrap();
    for sql in [
        "SELECT COUNT(*) FROM requests WHERE typeof(folio_number) <> 'integer' \
         OR typeof(submitted_at) <> 'integer' OR typeof(brings_meter) <> 'integer' \
         OR typeof(folio) <> 'text' OR typeof(answered_at) NOT IN ('integer', 'null')",
        "SELECT COUNT(*) FROM requests WHERE client_number = 'null' OR due_on = 'null'",
        "SELECT COUNT(*) FROM payments WHERE typeof(amount_clp) <> 'integer' \
         OR typeof(decided_at) NOT IN ('integer', 'null')",
        "SELECT COUNT(*) FROM attachments WHERE typeof(size_bytes) <> 'integer' \
         OR typeof(withheld) <> 'integer'",
    ] {
        assert_eq!(app.count(sql).await, 0, "{sql}");
    }
    assert!(
        app.count("SELECT COUNT(*) FROM requests WHERE answered_at IS NULL")
            .await
            > 0
    );
    assert!(
        app.count("SELECT COUNT(*) FROM requests WHERE answered_at IS NOT NULL")
            .await
            > 0
    );
}

#[tokio::test]
async fn generated_answers_keep_the_figures_the_portal_computes() {
    let app = TestApp::spawn().await;
    generate_into(&app, 1_500, false).await.unwrap();
    let generated = answer_figures(&app).await;
    assert!(generated.len() > 500, "{} answered", generated.len());
    let paused = app
        .count(
            "SELECT COUNT(DISTINCT p.request_id) FROM request_pauses p \
             JOIN requests r ON r.id = p.request_id WHERE r.answered_at IS NOT NULL",
        )
        .await;
    assert!(paused > 0, "some answered requests were paused");
    assert!(
        generated
            .iter()
            .all(|(_, day, taken)| day.is_some() && taken.is_some()),
        "every answer keeps its figures"
    );

    // What the portal itself computes from the stored history, for a database without them.
    sqlx::query("UPDATE requests SET answered_on = NULL, business_days_taken = NULL")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let filled = portal::store::stats::fill_missing_answer_figures(&app.state.db)
        .await
        .unwrap();
    assert_eq!(filled, generated.len() as u64);
    assert_eq!(answer_figures(&app).await, generated);
}

#[tokio::test]
async fn a_portal_with_requests_is_refused_unless_appending() {
    let app = TestApp::spawn().await;
    generate_into(&app, 200, false).await.unwrap();
    let refused = generate_into(&app, 100, false)
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("already holds 200 requests"), "{refused}");
    assert!(refused.contains("--append"), "{refused}");
    assert_eq!(app.count("SELECT COUNT(*) FROM requests").await, 200);

    let more = generate_into(&app, 100, true).await.unwrap();
    assert_eq!((more.first_folio, more.last_folio), (201, 300));
    assert_eq!(app.count("SELECT COUNT(*) FROM requests").await, 300);
    assert_eq!(
        app.count("SELECT value FROM counters WHERE name = 'folio'")
            .await,
        300
    );
    // The bench accounts are reused, not duplicated.
    let bench = app
        .count("SELECT COUNT(*) FROM users WHERE rut IN ('11111111-1', '22222222-2', '33333333-3')")
        .await;
    assert_eq!(bench, 3);
}

/// The real binary, on the SQLite database of its data directory (as in `cli.rs`).
#[test]
fn the_command_generates_prints_the_accounts_and_refuses_a_second_run() {
    let dir = tempfile::tempdir().unwrap();
    let output = portal(dir.path())
        .args(["generate", "--requests", "500", "--seed", "3"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Generated 500 requests (folio numbers 1 to 500)"),
        "{stdout}"
    );
    for line in ["11.111.111-1", "22.222.222-2", "33.333.333-3"] {
        let shown = stdout
            .lines()
            .find(|l| l.contains(line))
            .unwrap_or_default();
        assert!(shown.contains(BENCH_PASSWORD), "{line} in {stdout}");
    }
    assert!(
        !stderr.contains('\u{2588}'),
        "no progress bar without a terminal: {stderr}"
    );
    let stored = std::fs::read_dir(dir.path().join("files/attachments/bench"))
        .unwrap()
        .count();
    assert_eq!(stored, 16);

    let again = portal(dir.path())
        .args(["generate", "--requests", "10"])
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds 500 requests"));
    let appended = portal(dir.path())
        .args(["generate", "--requests", "10", "--append"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&appended.stdout);
    assert!(stdout.contains("folio numbers 501 to 510"), "{stdout}");
}

/// Past `COUNT_CAP` matches a list stops counting and says "más de"; its pages still walk on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_lists_count_up_to_a_cap_and_say_more_than() {
    let app = TestApp::spawn().await;
    let cap = portal::store::requests::COUNT_CAP;
    generate_into(&app, (cap + 50) as u64, false).await.unwrap();
    let sec = app.browser();
    sec.login("regulator", "33.333.333-3", BENCH_PASSWORD)
        .await
        .assert_redirect("/sec");
    let first = sec.get("/sec?orden=folio&dir=asc").await;
    assert_eq!(first.status, 200);
    first.assert_contains(&format!("[ 1 - 10 ] de más de {cap} Items"));
    first.assert_contains("rel=\"next\"");
    // A page beyond the cap counts as far as itself: exact numbers, a next page.
    let far = sec
        .get("/sec?orden=folio&dir=asc&items=10&pagina=1003")
        .await;
    far.assert_contains(&format!("[ 10021 - 10030 ] de más de {} Items", 10_030));
    // A filter that matches fewer is counted exactly.
    let few = sec.get("/sec?folio=EN1000").await;
    assert!(!few.body.contains("más de"), "{}", few.body);
}
