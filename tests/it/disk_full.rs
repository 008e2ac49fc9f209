//! A full disk, for real: the portal's data directory (files, upload scratch and, on SQLite,
//! the database) on a small tmpfs that a filler file fills up. Whatever cannot be kept is
//! refused with a clear message and leaves nothing behind; what was acknowledged before stays
//! intact; the portal keeps answering, and works again as soon as space is freed.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use axum::http::StatusCode;
use portal::files::store::STORAGE_FULL;
use portal::settings::Settings;
use sha2::{Digest, Sha256};

use crate::support::{
    Browser, MIB, PASSWORD, RequestForm, TestApp, TestResponse, hidden_value, pdf_of_size,
    postgres_url, request_id,
};

/// Linux's "no space left on device".
const ENOSPC: i32 = 28;

/// A tmpfs mounted on a temporary directory for one test, unmounted when dropped.
struct SmallDisk {
    mount_point: tempfile::TempDir,
}

impl SmallDisk {
    /// Mounts `megabytes` of tmpfs, or returns None after a loud SKIPPED line when this
    /// machine does not allow it (not root), unless PORTAL_REQUIRE_MOUNT=1 demands it.
    fn mount(megabytes: u32, test: &str) -> Option<SmallDisk> {
        let mount_point = tempfile::tempdir().expect("a mount point");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={megabytes}m,mode=0700")])
            .arg("tmpfs")
            .arg(mount_point.path())
            .output();
        match mounted {
            Ok(output) if output.status.success() => Some(SmallDisk { mount_point }),
            other => {
                let why = match other {
                    Ok(output) => String::from_utf8_lossy(&output.stderr).trim().to_string(),
                    Err(error) => error.to_string(),
                };
                if std::env::var("PORTAL_REQUIRE_MOUNT").as_deref() == Ok("1") {
                    panic!("PORTAL_REQUIRE_MOUNT=1 but mounting a tmpfs failed: {why}");
                }
                eprintln!(
                    "\n*** SKIPPED {test}: cannot mount a tmpfs here ({why}); run as root or set PORTAL_REQUIRE_MOUNT=1 to make this a failure ***\n"
                );
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.mount_point.path()
    }

    /// Fills the disk to the last byte with a filler file, then gives `leave` bytes back.
    fn fill(&self, leave: u64) -> Filler {
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path).expect("creating the filler");
        let chunk = vec![0xA5u8; 64 * 1024];
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(error) if error.raw_os_error() == Some(ENOSPC) => break,
                Err(error) => panic!("writing the filler: {error}"),
            }
        }
        let written = file.metadata().unwrap().len();
        file.set_len(written.saturating_sub(leave))
            .expect("shortening the filler");
        Filler(path)
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(self.path())
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Something still has a file open there: detach now, let the kernel finish later.
            let _ = Command::new("umount").arg("-l").arg(self.path()).status();
        }
    }
}

/// The file that fills the disk; removing it frees the space.
struct Filler(PathBuf);

impl Filler {
    fn remove(self) {
        std::fs::remove_file(&self.0).expect("removing the filler");
    }
}

/// The app with its data directory on the small disk: stored files, upload scratch and, on
/// SQLite, the database. On PostgreSQL the database stays there and only the files fill up.
/// The app with everything on the small disk. Its file store copies each upload from the
/// scratch directory, as an S3 bucket or a store on another file system does: a local store on
/// the scratch directory's file system renames the upload into place, which needs no room for
/// a second copy, so "the stored copy does not fit" happens only with a copying store.
async fn app_on(disk: &SmallDisk) -> TestApp {
    let on_disk = Settings::in_data_dir(disk.path());
    let root = on_disk
        .storage_url
        .trim_start_matches("file://")
        .to_string();
    std::fs::create_dir_all(&root).unwrap();
    let copying = object_store::local::LocalFileSystem::new_with_prefix(&root)
        .unwrap()
        .with_automatic_cleanup(true)
        .with_fsync(true);
    TestApp::spawn_with_storage(
        |s| {
            s.data_dir = on_disk.data_dir;
            s.storage_url = on_disk.storage_url;
            if !s.is_postgres() {
                s.database_url = on_disk.database_url;
            }
        },
        Arc::new(copying),
    )
    .await
}

/// An applicant's request at EN with its files, and a logged-in EN user.
struct Acknowledged<'a> {
    applicant: Browser<'a>,
    company: Browser<'a>,
    request: String,
    /// (storage key, SHA-256) of each of its files, as recorded.
    files: Vec<(String, String)>,
}

async fn acknowledged_request(app: &TestApp) -> Acknowledged<'_> {
    app.create_user("distribuidora", "12345678-5", "dx@enel.example", Some("EN"))
        .await;
    let company = app.browser();
    company
        .login("distributor", "12345678-5", PASSWORD)
        .await
        .assert_redirect("/distribuidora");
    let applicant = app.applicant(20).await;
    let created = RequestForm::open(&applicant, "nc")
        .await
        .complete()
        .post(&applicant)
        .await;
    let request = request_id(created.location());
    let files = sqlx::query_as("SELECT storage_key, sha256 FROM attachments WHERE request_id = $1")
        .bind(&request)
        .fetch_all(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(files.len(), 5);
    Acknowledged {
        applicant,
        company,
        request,
        files,
    }
}

impl Acknowledged<'_> {
    /// Every recorded file is in the store with the content it was acknowledged with.
    fn assert_intact(&self, app: &TestApp, case: &str) {
        let root = app.state.settings.storage_url.trim_start_matches("file://");
        for (key, sha256) in &self.files {
            let bytes = std::fs::read(Path::new(root).join(key)).unwrap();
            assert_eq!(&sha256_hex(&bytes), sha256, "{key} after {case}");
        }
    }
}

/// "Responder" on the acknowledged request with a PDF.
async fn post_answer<'a>(ack: &Acknowledged<'a>, token: &str, file: &[u8]) -> TestResponse {
    let fields = [("token", token), ("comment", "Respuesta")];
    let files: [(&str, &str, &[u8]); 1] = [("file", "respuesta.pdf", file)];
    let path = format!("/solicitudes/{}/responder", ack.request);
    ack.company.post_multipart(&path, &fields, &files).await
}

/// The message shown beside a field (`id="{field}-error"`, whatever other attributes it has).
fn error_beside(html: &str, field: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{field}-error\""))?;
    let start = at + html[at..].find('>')? + 1;
    let end = start + html[start..].find("</p>")?;
    Some(html[start..end].to_string())
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Nothing beyond the acknowledged request: no request, attachment, history entry or stored
/// file more, and no upload left in the scratch directory.
async fn assert_only(app: &TestApp, acknowledged: &Acknowledged<'_>, case: &str) {
    assert_eq!(app.rows("requests").await, 1, "requests after {case}");
    assert_eq!(app.rows("attachments").await, 5, "attachments after {case}");
    assert_eq!(app.rows("request_events").await, 1, "events after {case}");
    assert_eq!(app.stored_files().len(), 5, "stored files after {case}");
    assert_eq!(app.scratch_files(), Vec::<PathBuf>::new(), "{case}");
    acknowledged.assert_intact(app, case);
}

#[tokio::test]
async fn a_full_disk_refuses_uploads_clearly_keeps_what_was_acknowledged_and_recovers() {
    let Some(disk) = SmallDisk::mount(16, "a_full_disk_refuses_uploads_clearly") else {
        return;
    };
    let app = app_on(&disk).await;
    let ack = acknowledged_request(&app).await;
    let applicant = &ack.applicant;
    let too_big = pdf_of_size(2 * MIB);
    let new_request = RequestForm::open(applicant, "nc").await.complete().file(
        "form",
        "formulario.pdf",
        &too_big,
    );
    let answer_page = ack
        .company
        .get(&format!("/solicitudes/{}/responder", ack.request))
        .await;
    let message_page = ack.company.get("/distribuidora/comunicacion").await;

    // Less room than one upload.
    let filler = disk.fill(512 * 1024);

    // The file does not fit in the scratch directory: refused beside its field.
    let refused = new_request.post(applicant).await;
    assert_refused_beside(&refused, "form");
    assert_only(&app, &ack, "an upload larger than the free space").await;

    // The file fits in the scratch directory but its stored copy does not: the files stored
    // before it are deleted again and the form comes back with the message.
    let half = pdf_of_size(384 * 1024);
    let squeezed = RequestForm::open(applicant, "nc")
        .await
        .complete()
        .file("form", "formulario.pdf", &half)
        .post(applicant)
        .await;
    assert_eq!(
        squeezed.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        squeezed.body
    );
    assert_eq!(
        error_beside(&squeezed.body, "files").as_deref(),
        Some(STORAGE_FULL),
        "{}",
        squeezed.body
    );
    assert_only(&app, &ack, "a stored copy that does not fit").await;

    // The portal keeps answering: the acknowledged request and its files are there.
    let view = applicant
        .get(&format!("/solicitudes/{}", ack.request))
        .await;
    assert_eq!(view.status, StatusCode::OK);

    // The company's answer: refused beside the file when the upload does not fit, and with
    // the same message (507) when its stored copy does not; the request does not move.
    let answer_token = hidden_value(&answer_page.body, "token");
    let refused = post_answer(&ack, &answer_token, &too_big).await;
    assert_refused_beside(&refused, "file");
    let refused = post_answer(&ack, &answer_token, &half).await;
    assert_eq!(
        refused.status,
        StatusCode::INSUFFICIENT_STORAGE,
        "{}",
        refused.body
    );
    refused.assert_contains("Sin espacio de almacenamiento");
    refused.assert_contains(STORAGE_FULL);
    assert_only(&app, &ack, "an answer").await;

    // A message with an attachment: the same.
    let token = hidden_value(&message_page.body, "token");
    let fields = [
        ("token", token.as_str()),
        ("folio", "EN1"),
        ("client_number", "123456-7"),
        ("reference", ""),
        ("comment", "Hola"),
    ];
    let files: [(&str, &str, &[u8]); 1] = [("file", "carta.pdf", &too_big)];
    let refused = ack
        .company
        .post_multipart("/distribuidora/comunicacion", &fields, &files)
        .await;
    assert_refused_beside(&refused, "file");
    assert_only(&app, &ack, "a message").await;

    // Space freed: the same submission goes through, without a restart.
    filler.remove();
    let created = new_request.post(applicant).await;
    let id = request_id(created.location());
    let stored: Vec<(String, String)> =
        sqlx::query_as("SELECT slot, sha256 FROM attachments WHERE request_id = $1")
            .bind(&id)
            .fetch_all(app.state.db.pool())
            .await
            .unwrap();
    assert_eq!(stored.len(), 5);
    assert!(stored.contains(&("form".to_string(), sha256_hex(&too_big))));
    assert_eq!(app.stored_files().len(), 10);
    assert_eq!(app.scratch_files(), Vec::<PathBuf>::new());
    ack.assert_intact(&app, "the recovery");
}

#[tokio::test]
async fn a_database_with_no_room_for_a_write_answers_507_and_works_once_space_is_freed() {
    if postgres_url().is_some() {
        return postgres_refusing_for_lack_of_space().await;
    }
    let Some(disk) = SmallDisk::mount(16, "a_database_with_no_room_for_a_write") else {
        return;
    };
    let app = app_on(&disk).await;
    app.create_user("solicitante", "13470539-6", "ana@example.cl", None)
        .await;
    let browser = app.browser();
    browser.get("/ingreso").await;
    // A write-ahead log with room left from earlier writes takes a few more writes before
    // SQLite needs new space; emptied, the very next write needs some.
    let busy: i64 = sqlx::query_scalar("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(busy, 0, "the checkpoint ran");
    let filler = disk.fill(0);

    let refused = browser.login("applicant", "13470539-6", PASSWORD).await;
    assert_eq!(
        refused.status,
        StatusCode::INSUFFICIENT_STORAGE,
        "{}",
        refused.body
    );
    refused.assert_contains("Sin espacio de almacenamiento");
    refused.assert_contains(STORAGE_FULL);
    assert_eq!(app.rows("sessions").await, 0, "nothing was written");
    // Pages that only read are still served.
    assert_eq!(app.browser().get("/ingreso").await.status, StatusCode::OK);

    filler.remove();
    browser
        .login("applicant", "13470539-6", PASSWORD)
        .await
        .assert_redirect("/solicitante");
}

/// The shared PostgreSQL server's disk cannot be filled for one test; a trigger makes it
/// answer a write with the error it gives on a full disk (SQLSTATE 53100, disk_full), which
/// reaches the portal through the real driver like the real one would.
async fn postgres_refusing_for_lack_of_space() {
    let app = TestApp::spawn().await;
    app.create_user("solicitante", "13470539-6", "ana@example.cl", None)
        .await;
    sqlx::raw_sql(
        "CREATE FUNCTION no_space() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
           RAISE EXCEPTION 'could not extend file: No space left on device' \
             USING ERRCODE = 'disk_full'; \
         END $$; \
         CREATE TRIGGER no_space BEFORE INSERT ON sessions FOR EACH ROW EXECUTE FUNCTION no_space();",
    )
    .execute(app.state.db.pool())
    .await
    .unwrap();
    let browser = app.browser();
    let refused = browser.login("applicant", "13470539-6", PASSWORD).await;
    assert_eq!(
        refused.status,
        StatusCode::INSUFFICIENT_STORAGE,
        "{}",
        refused.body
    );
    refused.assert_contains(STORAGE_FULL);
    assert_eq!(app.rows("sessions").await, 0);

    sqlx::raw_sql("DROP TRIGGER no_space ON sessions")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    browser
        .login("applicant", "13470539-6", PASSWORD)
        .await
        .assert_redirect("/solicitante");
}

/// The form came back (422) with the disk-full message beside `field`.
#[track_caller]
fn assert_refused_beside(response: &crate::support::TestResponse, field: &str) {
    assert_eq!(
        response.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        response.body
    );
    assert_eq!(
        error_beside(&response.body, field).as_deref(),
        Some(STORAGE_FULL)
    );
}
