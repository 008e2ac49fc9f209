use jiff::{SignedDuration, Timestamp};
use object_store::ObjectStoreExt;
use object_store::path::Path;

use crate::support::{PASSWORD, TestApp, pdf, place};

#[tokio::test]
async fn orphan_files_are_collected_and_files_with_a_row_are_kept() {
    let app = TestApp::spawn().await;
    // Stored files carry the real time as their modification time; run the clock from there.
    app.clock.set(Timestamp::now());
    app.create_user("solicitante", "13470539-6", "ana@example.cl", None)
        .await;
    let browser = app.browser();
    browser.login("applicant", "13470539-6", PASSWORD).await;
    let (distributor, region, comuna) = place(&app, "EN").await;
    let form = browser.get("/solicitudes/nueva/si").await;
    let token = crate::requests::hidden(&form.body, "token");
    let fields = [
        ("token", token.as_str()),
        ("distributor_id", &distributor),
        ("region", &region),
        ("comuna", &comuna),
        ("client_number", "1"),
    ];
    let response = browser
        .post_multipart(
            "/solicitudes/nueva/si",
            &fields,
            &[("form", "f.pdf", &pdf())],
        )
        .await;
    assert_eq!(response.status, axum::http::StatusCode::SEE_OTHER);
    let kept: String = sqlx::query_scalar("SELECT storage_key FROM attachments")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();

    let month = app
        .now()
        .to_zoned_datetime(portal::clock::chile())
        .strftime("%Y/%m")
        .to_string();
    let orphan = format!("attachments/{month}/left-by-a-crash");
    app.state
        .storage
        .put(&Path::parse(&orphan).unwrap(), pdf().into())
        .await
        .unwrap();

    // Too recent: a submission could still be about to commit it.
    assert!(
        portal::jobs::collect_orphan_files(&app.state)
            .await
            .unwrap()
            .is_empty()
    );
    app.advance(SignedDuration::from_hours(2));
    assert_eq!(
        portal::jobs::collect_orphan_files(&app.state)
            .await
            .unwrap(),
        vec![orphan.clone()]
    );
    assert!(
        app.state
            .storage
            .head(&Path::parse(&orphan).unwrap())
            .await
            .is_err()
    );
    assert!(
        app.state
            .storage
            .head(&Path::parse(&kept).unwrap())
            .await
            .is_ok(),
        "a file with its row stays"
    );
}

#[tokio::test]
async fn workbooks_half_built_by_a_crash_are_removed_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path().join("reports-tmp");
    std::fs::create_dir_all(scratch.join("writer-temp")).unwrap();
    std::fs::write(scratch.join("01a2.xlsx"), b"PK half a workbook").unwrap();
    std::fs::write(scratch.join("writer-temp").join("sheet1.xml"), b"<row").unwrap();
    let _app = TestApp::spawn_in(dir.path()).await;
    assert_eq!(std::fs::read_dir(&scratch).unwrap().count(), 0);
}
