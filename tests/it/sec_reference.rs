//! The reference data SEC edits: holidays and the deadline table (which recompute the due dates
//! of open requests), and who may change them. Links and official forms are in `links`.

mod links;

use axum::http::StatusCode;
use jiff::SignedDuration;

use crate::support::{
    Browser, PASSWORD, RequestForm, TestApp, hidden_value, pdf, request_id, rut_for,
};

/// A logged-in SEC administrador.
pub async fn sec_admin(app: &TestApp) -> Browser<'_> {
    app.create_user("sec", "10000013-K", "sec@sec.example", None)
        .await;
    let browser = app.browser();
    browser
        .login("regulator", "10000013-K", PASSWORD)
        .await
        .assert_redirect("/sec");
    browser
}

/// A logged-in SEC auditor.
pub async fn sec_auditor(app: &TestApp) -> Browser<'_> {
    let rut = rut_for(10_000_021);
    app.create_user("sec", &rut, "auditor@sec.example", None)
        .await;
    sqlx::query("UPDATE users SET regulator_role = 'auditor' WHERE email = $1")
        .bind("auditor@sec.example")
        .execute(app.state.db.pool())
        .await
        .unwrap();
    let browser = app.browser();
    browser
        .login("regulator", &rut, PASSWORD)
        .await
        .assert_redirect("/sec");
    browser
}

/// A logged-in user of Enel Distribución (EN).
pub async fn company_user<'a>(app: &'a TestApp, number: u32, email: &str) -> Browser<'a> {
    let rut = rut_for(number);
    app.create_user("distribuidora", &rut, email, Some("EN"))
        .await;
    let browser = app.browser();
    browser
        .login("distributor", &rut, PASSWORD)
        .await
        .assert_redirect("/distribuidora");
    browser
}

/// Files an SI at EN now; its id.
pub async fn file_si(applicant: &Browser<'_>) -> String {
    let response = RequestForm::open(applicant, "si")
        .await
        .complete()
        .post(applicant)
        .await;
    request_id(response.location())
}

/// The company answers the request (Respondido, a closed request).
pub async fn answer(company: &Browser<'_>, id: &str) {
    let path = format!("/solicitudes/{id}/responder");
    let form = company.get(&path).await;
    let token = hidden_value(&form.body, "token");
    company
        .post_multipart(&path, &[("token", &token)], &[("file", "r.pdf", &pdf())])
        .await
        .assert_redirect(&format!("/solicitudes/{id}"));
}

pub async fn due_on(app: &TestApp, id: &str) -> Option<String> {
    sqlx::query_scalar("SELECT due_on FROM requests WHERE id = $1")
        .bind(id)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap()
}

pub async fn audit_count(app: &TestApp, event: &str) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE event = $1")
        .bind(event)
        .fetch_one(app.state.db.pool())
        .await
        .unwrap()
}

/// Asks for a payment now: the request waits on the applicant and its clock stops.
async fn request_payment(company: &Browser<'_>, id: &str) {
    let path = format!("/solicitudes/{id}/pago");
    let page = company.get(&path).await;
    let token = hidden_value(&page.body, "token");
    let fields = [
        ("token", token.as_str()),
        ("amount", "25.000"),
        ("concept", "Estudio"),
        ("methods", "transfer"),
    ];
    company
        .post_multipart(&path, &fields, &[])
        .await
        .assert_redirect(&format!("/solicitudes/{id}"));
}

#[tokio::test]
async fn holidays_move_the_due_dates_of_open_requests_only() {
    let app = TestApp::spawn().await;
    let applicant = app.applicant(13_470_539).await;
    let company = company_user(&app, 12_345_678, "dx@enel.example").await;
    // Tuesday 4 March 2025, 10 business days: due Tuesday 18 March.
    let open = file_si(&applicant).await;
    let answered = file_si(&applicant).await;
    let paused = file_si(&applicant).await;
    answer(&company, &answered).await;
    request_payment(&company, &paused).await;
    assert_eq!(due_on(&app, &open).await.as_deref(), Some("2025-03-18"));
    // Thursday 6 March: the pause has given back 5 and 6 March so far.
    app.advance(SignedDuration::from_hours(48));

    let sec = sec_admin(&app).await;
    let added = sec
        .post(
            "/sec/admin/feriados",
            &[("fecha", "10/03/2025"), ("nombre", "Elección")],
        )
        .await;
    added.assert_redirect("/sec/admin/feriados?anio=2025&aviso=agregado&n=2");
    assert_eq!(due_on(&app, &open).await.as_deref(), Some("2025-03-19"));
    assert_eq!(due_on(&app, &answered).await.as_deref(), Some("2025-03-18"));
    // Counted from 4 March without 5–6 March (paused) and 10 March (holiday).
    assert_eq!(due_on(&app, &paused).await.as_deref(), Some("2025-03-21"));
    let page = sec.get(added.location()).await;
    page.assert_contains("Elección");
    page.assert_contains("Se recalculó el plazo de 2 solicitudes abiertas.");
    assert_eq!(audit_count(&app, "holiday_added").await, 1);

    sec.post("/sec/admin/feriados/2025-03-10/eliminar", &[])
        .await
        .assert_redirect("/sec/admin/feriados?anio=2025&aviso=eliminado&n=2");
    assert_eq!(due_on(&app, &open).await.as_deref(), Some("2025-03-18"));
    assert_eq!(due_on(&app, &answered).await.as_deref(), Some("2025-03-18"));
    assert_eq!(due_on(&app, &paused).await.as_deref(), Some("2025-03-20"));
    assert_eq!(audit_count(&app, "holiday_removed").await, 1);
    // A second click finds nothing to remove and changes nothing.
    sec.post("/sec/admin/feriados/2025-03-10/eliminar", &[])
        .await
        .assert_redirect("/sec/admin/feriados?anio=2025&aviso=no_existe&n=0");
    assert_eq!(audit_count(&app, "holiday_removed").await, 1);
}

#[tokio::test]
async fn duplicate_holidays_are_refused_and_weekend_ones_are_noted() {
    let app = TestApp::spawn().await;
    let sec = sec_admin(&app).await;
    let duplicate = sec
        .post(
            "/sec/admin/feriados",
            &[("fecha", "2025-09-18"), ("nombre", "Otra vez")],
        )
        .await;
    assert_eq!(duplicate.status, StatusCode::UNPROCESSABLE_ENTITY);
    duplicate.assert_contains("Ya existe un feriado el 18/09/2025");
    let invalid = sec
        .post(
            "/sec/admin/feriados",
            &[("fecha", "31/02/2025"), ("nombre", "")],
        )
        .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    invalid.assert_contains("Ingrese una fecha válida");
    invalid.assert_contains("Este campo es obligatorio.");
    let saturday = sec
        .post(
            "/sec/admin/feriados",
            &[("fecha", "2025-03-08"), ("nombre", "Sábado especial")],
        )
        .await;
    saturday.assert_redirect("/sec/admin/feriados?anio=2025&aviso=fin_de_semana&n=0");
    let page = sec.get(saturday.location()).await;
    page.assert_contains("cae en sábado o domingo");
    page.assert_contains("Sábado especial");
    // The year selector shows another year's list.
    let next_year = sec.get("/sec/admin/feriados?anio=2026").await;
    next_year.assert_contains("Feriados 2026");
    next_year.assert_contains("01/01/2026");
    assert!(!next_year.body.contains("18/09/2025"));
}

#[tokio::test]
async fn the_deadline_table_recomputes_open_requests() {
    let app = TestApp::spawn().await;
    let sec = sec_admin(&app).await;
    let applicant = app.applicant(13_470_539).await;
    let company = company_user(&app, 12_345_678, "dx@enel.example").await;
    let open = file_si(&applicant).await;
    let answered = file_si(&applicant).await;
    answer(&company, &answered).await;
    let table = |si: &'static str| [("SI", si), ("SC", "20"), ("MC", ""), ("NC", "20")];

    sec.post("/sec/admin/plazos", &table("15"))
        .await
        .assert_redirect("/sec/admin/plazos?aviso=plazos&n=1");
    assert_eq!(due_on(&app, &open).await.as_deref(), Some("2025-03-25"));
    assert_eq!(due_on(&app, &answered).await.as_deref(), Some("2025-03-18"));
    assert_eq!(audit_count(&app, "deadline_changed").await, 1);
    let page = sec.get("/sec/admin/plazos").await;
    page.assert_contains("value=\"15\"");

    // "Sin plazo".
    sec.post("/sec/admin/plazos", &table(""))
        .await
        .assert_redirect("/sec/admin/plazos?aviso=plazos&n=1");
    assert_eq!(due_on(&app, &open).await, None);
    // The same table again changes nothing.
    sec.post("/sec/admin/plazos", &table(""))
        .await
        .assert_redirect("/sec/admin/plazos?aviso=sin_cambios");
    assert_eq!(audit_count(&app, "deadline_changed").await, 2);

    for wrong in ["0", "121", "diez", "1.5"] {
        let refused = sec.post("/sec/admin/plazos", &table(wrong)).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{wrong}");
        refused.assert_contains("entre 1 y 120");
    }
    assert_eq!(due_on(&app, &open).await, None);
}

#[tokio::test]
async fn auditors_see_but_cannot_change_and_others_do_not_see() {
    let app = TestApp::spawn().await;
    let auditor = sec_auditor(&app).await;
    for page in [
        "/sec/admin/feriados",
        "/sec/admin/plazos",
        "/sec/admin/enlaces",
    ] {
        let shown = auditor.get(page).await;
        assert_eq!(shown.status, StatusCode::OK, "{page}");
        shown.assert_contains("Su rol de auditor permite consultar");
    }
    let posts: [(&str, &[(&str, &str)]); 6] = [
        (
            "/sec/admin/feriados",
            &[("fecha", "2025-03-10"), ("nombre", "X")],
        ),
        ("/sec/admin/feriados/2025-09-18/eliminar", &[]),
        ("/sec/admin/plazos", &[("SI", "5")]),
        (
            "/sec/admin/enlaces",
            &[("title", "X"), ("url", "https://x.cl")],
        ),
        ("/sec/admin/enlaces/ayuda/eliminar", &[]),
        ("/sec/admin/enlaces/ayuda/mover", &[("direccion", "arriba")]),
    ];
    for (path, fields) in posts {
        assert_eq!(
            auditor.post(path, fields).await.status,
            StatusCode::FORBIDDEN,
            "{path}"
        );
    }
    let upload = auditor
        .post_multipart(
            "/sec/admin/formularios",
            &[("title", "SI")],
            &[("file", "si.pdf", &pdf())],
        )
        .await;
    assert_eq!(upload.status, StatusCode::FORBIDDEN);
    assert_eq!(app.rows("official_forms").await, 0);
    assert_eq!(app.rows("audit_log WHERE event LIKE 'holiday%'").await, 0);

    let applicant = app.applicant(13_470_539).await;
    let refused = applicant.get("/sec/admin/feriados").await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
    let refused = applicant.post("/sec/admin/plazos", &[("SI", "5")]).await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn recomputation_reaches_every_open_request_across_batches() {
    let app = TestApp::spawn().await;
    app.applicant(13_470_539).await;
    let db = app.state.db.pool();
    let applicant: String = sqlx::query_scalar("SELECT id FROM users")
        .fetch_one(db)
        .await
        .unwrap();
    let (company, region, comuna) = crate::support::place(&app, "EN").await;
    let submitted = app.now().as_microsecond();
    // More than two batches of 200; one in ten is closed and keeps its stale date.
    for n in 0..450_i64 {
        let status = if n % 10 == 0 {
            "answered"
        } else {
            "pending_answer"
        };
        sqlx::query(
            "INSERT INTO requests (id, folio, folio_number, kind, status, applicant_id, \
             distributor_id, region_code, comuna_code, client_number, submitted_at, due_on) \
             VALUES ($1, $2, $3, 'SI', $4, $5, $6, $7, $8, '1', $9, '2000-01-01')",
        )
        .bind(format!("r{n:04}"))
        .bind(format!("EN{n}"))
        .bind(n + 1)
        .bind(status)
        .bind(&applicant)
        .bind(&company)
        .bind(&region)
        .bind(&comuna)
        .bind(submitted)
        .execute(db)
        .await
        .unwrap();
    }
    let mut tx = app.state.db.begin().await.unwrap();
    let changed = portal::store::deadlines::recompute_open(&mut tx, app.now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(changed, 405);
    let dates: Vec<Option<String>> = sqlx::query_scalar("SELECT due_on FROM requests")
        .fetch_all(db)
        .await
        .unwrap();
    let with = |due: &str| dates.iter().filter(|d| d.as_deref() == Some(due)).count();
    assert_eq!(with("2025-03-18"), 405);
    assert_eq!(with("2000-01-01"), 45);
}
