//! The distribuidora's answers and payments, and the applicant's side of payments.

use axum::http::StatusCode;
use jiff::SignedDuration;

use crate::requests::hidden;
use crate::support::{Browser, PASSWORD, TestApp, pdf, place};

struct Cycle<'a> {
    app: &'a TestApp,
    applicant: Browser<'a>,
    company: Browser<'a>,
    request: String,
}

/// An applicant with an SI at company EN, and a logged-in user of EN.
async fn setup(app: &TestApp) -> Cycle<'_> {
    app.create_user("solicitante", "13470539-6", "ana@example.cl", None)
        .await;
    app.create_user("distribuidora", "12345678-5", "dx@enel.example", Some("EN"))
        .await;
    let applicant = app.browser();
    applicant.login("applicant", "13470539-6", PASSWORD).await;
    let (distributor, region, comuna) = place(app, "EN").await;
    let form = applicant.get("/solicitudes/nueva/si").await;
    let token = hidden(&form.body, "token");
    let fields = [
        ("token", token.as_str()),
        ("distributor_id", &distributor),
        ("region", &region),
        ("comuna", &comuna),
        ("client_number", "555"),
    ];
    let response = applicant
        .post_multipart(
            "/solicitudes/nueva/si",
            &fields,
            &[("form", "si.pdf", &pdf())],
        )
        .await;
    let request = response
        .location()
        .trim_start_matches("/solicitudes/")
        .to_string();
    let company = app.browser();
    company.login("distributor", "12345678-5", PASSWORD).await;
    Cycle {
        app,
        applicant,
        company,
        request,
    }
}

impl Cycle<'_> {
    async fn status(&self) -> String {
        sqlx::query_scalar("SELECT status FROM requests WHERE id = $1")
            .bind(&self.request)
            .fetch_one(self.app.state.db.pool())
            .await
            .unwrap()
    }

    fn path(&self, tail: &str) -> String {
        format!("/solicitudes/{}{tail}", self.request)
    }

    async fn answer(&self, file_name: &str, comment: &str) -> crate::support::TestResponse {
        let form = self.company.get(&self.path("/responder")).await;
        let token = hidden(&form.body, "token");
        let fields = [("token", token.as_str()), ("comment", comment)];
        self.company
            .post_multipart(
                &self.path("/responder"),
                &fields,
                &[("file", file_name, &pdf())],
            )
            .await
    }

    async fn request_payment(&self, with_answer: bool) -> crate::support::TestResponse {
        let page = self.company.get(&self.path("/pago")).await;
        let token = hidden(&page.body, "token");
        let fields = [
            ("token", token.as_str()),
            ("amount", "25.000"),
            ("concept", "Estudio de conexión"),
            ("methods", "transfer"),
            ("methods", "voucher"),
        ];
        let files: Vec<(&str, &str, &[u8])> = if with_answer {
            vec![("file", "respuesta.pdf", b"%PDF-1.4 respuesta retenida")]
        } else {
            vec![]
        };
        self.company
            .post_multipart(&self.path("/pago"), &fields, &files)
            .await
    }

    async fn pay(&self) -> crate::support::TestResponse {
        let page = self.applicant.get(&self.path("/pagar")).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        self.applicant
            .post_multipart(
                &self.path("/pagar"),
                &[("method", "voucher")],
                &[("file", "voucher.pdf", &pdf())],
            )
            .await
    }
}

#[tokio::test]
async fn the_company_answers_and_the_applicant_downloads_the_answer() {
    let app = TestApp::spawn().await;
    let cycle = setup(&app).await;
    let view = cycle.company.get(&cycle.path("")).await;
    view.assert_contains("Responder");
    view.assert_contains("Gestión de Pago");
    cycle
        .answer("respuesta-si.pdf", "Adjuntamos los antecedentes.")
        .await
        .assert_redirect(&cycle.path(""));
    assert_eq!(cycle.status().await, "answered");
    let seen = cycle.applicant.get(&cycle.path("")).await;
    seen.assert_contains("respuesta-si.pdf");
    seen.assert_contains("Adjuntamos los antecedentes.");
    seen.assert_contains("Respondido");
    let answered: Option<i64> = sqlx::query_scalar("SELECT answered_at FROM requests")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert!(answered.is_some());
    let email = app.emails_to("ana@example.cl").await;
    assert_eq!(
        email.last().unwrap().0,
        format!("Solicitud de Información {}: Respondido", folio(&app).await)
    );
    // A second answer is allowed (Respondido → Respondido).
    cycle
        .answer("complemento.pdf", "")
        .await
        .assert_redirect(&cycle.path(""));
    assert_eq!(
        app.count("SELECT COUNT(*) FROM request_events WHERE action = 'answer'")
            .await,
        2
    );
}

async fn folio(app: &TestApp) -> String {
    sqlx::query_scalar("SELECT folio FROM requests")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn an_answer_needs_its_file_and_two_clicks_make_one_answer() {
    let app = TestApp::spawn().await;
    let cycle = setup(&app).await;
    let form = cycle.company.get(&cycle.path("/responder")).await;
    let token = hidden(&form.body, "token");
    let missing = cycle
        .company
        .post_multipart(&cycle.path("/responder"), &[("token", &token)], &[])
        .await;
    assert_eq!(missing.status, StatusCode::UNPROCESSABLE_ENTITY);
    missing.assert_contains("Adjunte el archivo de la respuesta.");
    let path = cycle.path("/responder");
    let fields = [("token", token.as_str())];
    let files: [(&str, &str, &[u8]); 1] = [("file", "r.pdf", b"%PDF-1.4 x")];
    let (first, second) = tokio::join!(
        cycle.company.post_multipart(&path, &fields, &files),
        cycle.company.post_multipart(&path, &fields, &files)
    );
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    assert_eq!(second.status, StatusCode::SEE_OTHER);
    assert_eq!(
        app.count("SELECT COUNT(*) FROM request_events WHERE action = 'answer'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM attachments WHERE slot = 'answer'")
            .await,
        1
    );
}

#[tokio::test]
async fn payment_with_a_withheld_answer_then_validation_releases_it() {
    let app = TestApp::spawn().await;
    let cycle = setup(&app).await;
    cycle
        .request_payment(true)
        .await
        .assert_redirect(&cycle.path(""));
    assert_eq!(cycle.status().await, "pending_payment");
    let answer_id: String = sqlx::query_scalar("SELECT id FROM attachments WHERE slot = 'answer'")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    let download = cycle.path(&format!("/adjuntos/{answer_id}"));
    // Withheld: not listed and not downloadable for the applicant, by any route.
    let view = cycle.applicant.get(&cycle.path("")).await;
    assert!(!view.body.contains(&answer_id) && !view.body.contains("respuesta.pdf"));
    view.assert_contains("Pagar");
    assert_eq!(
        cycle.applicant.get(&download).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(
        !cycle
            .applicant
            .get(&cycle.path("/imprimir"))
            .await
            .body
            .contains("respuesta.pdf")
    );
    // The company sees its own withheld file.
    assert_eq!(cycle.company.get(&download).await.status, StatusCode::OK);

    cycle.pay().await.assert_redirect(&cycle.path(""));
    assert_eq!(cycle.status().await, "pending_validation");
    assert_eq!(
        app.emails_to("dx@enel.example").await.last().unwrap().0,
        format!("Comprobante de pago recibido: {}", folio(&app).await)
    );
    assert_eq!(
        cycle.applicant.get(&download).await.status,
        StatusCode::NOT_FOUND
    );

    let validate = cycle.path("/pago/validar");
    let (first, second) = tokio::join!(
        cycle.company.post(&validate, &[]),
        cycle.company.post(&validate, &[])
    );
    let statuses = [first.status, second.status];
    assert!(
        statuses.contains(&StatusCode::SEE_OTHER) && statuses.contains(&StatusCode::CONFLICT),
        "{statuses:?}"
    );
    assert_eq!(cycle.status().await, "answered");
    assert_eq!(
        app.count("SELECT COUNT(*) FROM payments WHERE status = 'validated'")
            .await,
        1
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM request_events WHERE action = 'validate_payment'")
            .await,
        1
    );
    let released = cycle.applicant.get(&download).await;
    assert_eq!(released.status, StatusCode::OK);
    assert_eq!(released.body, "%PDF-1.4 respuesta retenida");

    // The request's own count of files and last movement followed every step.
    let (files, last): (i64, Option<i64>) =
        sqlx::query_as("SELECT attachment_count, last_event_at FROM requests")
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
    assert!(
        files >= 3,
        "the form's files, the answer and the proof: {files}"
    );
    assert!(last.is_some());
    assert_eq!(app.requests_with_wrong_tallies().await, 0);
}

#[tokio::test]
async fn payment_without_an_answer_rejection_and_retry() {
    let app = TestApp::spawn().await;
    let cycle = setup(&app).await;
    cycle
        .request_payment(false)
        .await
        .assert_redirect(&cycle.path(""));
    cycle.pay().await.assert_redirect(&cycle.path(""));
    let empty = cycle
        .company
        .post(&cycle.path("/pago/rechazar"), &[("reason", "  ")])
        .await;
    assert_eq!(empty.status, StatusCode::CONFLICT);
    empty.assert_contains("Indique el motivo del rechazo");
    cycle
        .company
        .post(
            &cycle.path("/pago/rechazar"),
            &[("reason", "El monto no coincide")],
        )
        .await
        .assert_redirect(&cycle.path(""));
    assert_eq!(cycle.status().await, "payment_rejected");
    cycle
        .applicant
        .get(&cycle.path("/pagar"))
        .await
        .assert_contains("El monto no coincide");
    cycle.pay().await.assert_redirect(&cycle.path(""));
    cycle
        .company
        .post(&cycle.path("/pago/validar"), &[])
        .await
        .assert_redirect(&cycle.path(""));
    // Paid, answer still owed.
    assert_eq!(cycle.status().await, "pending_answer_payment_validated");
    cycle
        .answer("r.pdf", "")
        .await
        .assert_redirect(&cycle.path(""));
    assert_eq!(cycle.status().await, "answered");
}

#[tokio::test]
async fn the_deadline_clock_pauses_while_the_applicant_owes_the_payment() {
    let app = TestApp::spawn().await;
    let cycle = setup(&app).await;
    let due = || async {
        sqlx::query_scalar::<_, String>("SELECT due_on FROM requests")
            .fetch_one(app.state.db.pool())
            .await
            .unwrap()
    };
    // Received Tuesday 4 March 2025: due Tuesday 18 March.
    assert_eq!(due().await, "2025-03-18");
    cycle.request_payment(false).await;
    // The applicant pays a week later: the 5 business days waited are given back.
    app.advance(SignedDuration::from_hours(24 * 7));
    cycle
        .applicant
        .login("applicant", "13470539-6", PASSWORD)
        .await;
    cycle.pay().await.assert_redirect(&cycle.path(""));
    assert_eq!(due().await, "2025-03-25");
    let validation: String = sqlx::query_scalar("SELECT validation_due_on FROM requests")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(
        validation, "2025-03-13",
        "2 business days after Tuesday 11 March"
    );
}

#[tokio::test]
async fn actions_follow_the_workflow_and_other_companies_get_404() {
    let app = TestApp::spawn().await;
    let cycle = setup(&app).await;
    // The applicant cannot pay before a payment is asked for, nor answer.
    assert_eq!(
        cycle.applicant.get(&cycle.path("/pagar")).await.status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        cycle.applicant.get(&cycle.path("/responder")).await.status,
        StatusCode::NOT_FOUND
    );
    // Validation without a proof is refused with the workflow's reason.
    let early = cycle.company.post(&cycle.path("/pago/validar"), &[]).await;
    assert_eq!(early.status, StatusCode::CONFLICT);
    app.create_user(
        "distribuidora",
        "10000013-K",
        "dx@colina.example",
        Some("CO"),
    )
    .await;
    let other = app.browser();
    other.login("distributor", "10000013-K", PASSWORD).await;
    for path in ["", "/responder", "/pago", "/imprimir"] {
        assert_eq!(
            other.get(&cycle.path(path)).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    assert_eq!(
        other.post(&cycle.path("/pago/validar"), &[]).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        other
            .post(
                &cycle.path("/referencia"),
                &[("distributor_reference", "X")]
            )
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    cycle
        .company
        .post(
            &cycle.path("/referencia"),
            &[("distributor_reference", "DX-2025-77")],
        )
        .await
        .assert_redirect(&cycle.path(""));
    cycle
        .applicant
        .get("/solicitudes")
        .await
        .assert_contains("DX-2025-77");
}

#[tokio::test]
async fn a_published_standard_answer_answers_new_requests_on_submission() {
    let app = TestApp::spawn().await;
    let distributor: String =
        sqlx::query_scalar("SELECT id FROM distributors WHERE folio_prefix = 'EN'")
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
    use object_store::ObjectStoreExt;
    let key = format!("standard-answers/{distributor}/SI/std");
    app.state
        .storage
        .put(
            &object_store::path::Path::parse(&key).unwrap(),
            b"%PDF-1.4 estandar".to_vec().into(),
        )
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO standard_answers (distributor_id, kind, storage_key, file_name, file_kind, size_bytes, sha256, updated_at) \
         VALUES ($1, 'SI', $2, 'respuesta-estandar.pdf', 'PDF', 17, 'x', 0)",
    )
    .bind(&distributor)
    .bind(&key)
    .execute(app.state.db.pool())
    .await
    .unwrap();
    let cycle = setup(&app).await;
    assert_eq!(cycle.status().await, "auto_answered");
    let view = cycle.applicant.get(&cycle.path("")).await;
    view.assert_contains("Respondido Automático");
    view.assert_contains("respuesta-estandar.pdf");
    // The request keeps its own copy, whatever happens to the standard answer later.
    let copy: String =
        sqlx::query_scalar("SELECT storage_key FROM attachments WHERE slot = 'answer'")
            .fetch_one(app.state.db.pool())
            .await
            .unwrap();
    assert_ne!(copy, key);
    // Answering after Respondido Automático is allowed.
    cycle
        .answer("detalle.pdf", "")
        .await
        .assert_redirect(&cycle.path(""));
    assert_eq!(cycle.status().await, "answered");
}
