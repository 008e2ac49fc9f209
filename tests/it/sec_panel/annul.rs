//! "Anular envío": a SEC administrador annuls with a mandatory comment; the request is final.

use axum::http::StatusCode;
use portal::domain::RegulatorRole;

use crate::distributor_inbox::{company_user, file, set};
use crate::sec_messages::sec_user;
use crate::support::{Browser, TestApp, field_error, pdf};

const REFUSED: &str = "La solicitud está anulada: solo puede consultarse.";
const ANNULMENTS: &str = "SELECT COUNT(*) FROM request_events WHERE action = 'annul'";
const ANSWERS: &str = "SELECT COUNT(*) FROM request_events WHERE action = 'answer'";
const AUDITED: &str = "SELECT COUNT(*) FROM audit_log WHERE event = 'request_annulled'";

struct Setup<'a> {
    company: Browser<'a>,
    applicant: Browser<'a>,
    admin: Browser<'a>,
    id: String,
    folio: String,
}

/// An SI to Enel with an additional e-mail, a user of Enel and a SEC administrador.
async fn setup(app: &TestApp) -> Setup<'_> {
    let company = company_user(app, "EN", 1_000_001).await;
    let applicant = app.applicant(2_000_001).await;
    let (id, folio) = file(&applicant, "si", "EN", "111-1").await;
    set(app, &id, "additional_email", "otro@example.cl").await;
    let admin = sec_user(app, 10_000_001, RegulatorRole::Administrator).await;
    Setup {
        company,
        applicant,
        admin,
        id,
        folio,
    }
}

#[tokio::test]
async fn the_annul_form_needs_a_comment_of_at_most_1000_characters() {
    let app = TestApp::spawn().await;
    let Setup {
        admin, id, folio, ..
    } = setup(&app).await;
    let path = format!("/solicitudes/{id}/anular");
    let view = admin.get(&format!("/solicitudes/{id}")).await;
    view.assert_contains(&format!("href=\"{path}\">Anular</a>"));
    // The creator's full name, e-mail and the time of sending, as the manual lists them.
    view.assert_contains("<strong>Nombre De Prueba</strong> &lt;s2000001@example.cl&gt;");
    view.assert_contains("Enviado : 04/03/2025 10:00 AM");
    let form = admin.get(&path).await;
    assert_eq!(form.status, StatusCode::OK);
    for text in ["Anular envío", "Comentario", "Grabar", "Cerrar", &folio] {
        form.assert_contains(text);
    }
    let empty = admin.post(&path, &[("comment", "  \r\n ")]).await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    let message = field_error(&empty.body, "comment").unwrap();
    assert_eq!(message, "Escriba el motivo de la anulación.");
    let long = admin.post(&path, &[("comment", &"x".repeat(1_001))]).await;
    assert_eq!(long.status, StatusCode::UNPROCESSABLE_ENTITY);
    let message = field_error(&long.body, "comment").unwrap();
    assert_eq!(message, "Use como máximo 1.000 caracteres (tiene 1001).");
    assert_eq!(app.count(AUDITED).await, 0);
    assert_eq!(app.count(ANNULMENTS).await, 0);
}

#[tokio::test]
async fn an_annulment_is_recorded_e_mailed_and_final() {
    let app = TestApp::spawn().await;
    let setup = setup(&app).await;
    let (id, folio) = (&setup.id, &setup.folio);
    let comment = "Solicitud duplicada: se tramita con otro folio.";
    let path = format!("/solicitudes/{id}/anular");
    let done = setup.admin.post(&path, &[("comment", comment)]).await;
    done.assert_redirect(&format!("/solicitudes/{id}"));
    let history = setup.admin.get(&format!("/solicitudes/{id}")).await;
    history.assert_contains("<td>Anulación</td><td>Sara Fiscalizadora</td><td>Anulado</td>");
    history.assert_contains(comment);
    assert!(
        !history.body.contains(">Anular</a>"),
        "no second annulment offered"
    );
    let audit = sqlx::query_as::<_, (String, Option<String>)>(
        "SELECT target, detail FROM audit_log WHERE event = 'request_annulled'",
    )
    .fetch_all(app.state.db.pool())
    .await
    .unwrap();
    let detail = "Solicitud de Información; estado anterior: Pendiente de Respuesta";
    assert_eq!(audit, [(folio.clone(), Some(detail.to_string()))]);
    let subject = format!("Solicitud de Información {folio}: Anulado");
    for to in ["s2000001@example.cl", "otro@example.cl"] {
        let (got, body) = app.emails_to(to).await.pop().unwrap();
        assert_eq!(got, subject, "{to}");
        assert!(body.contains(comment), "{to}");
    }
    let (got, body) = app.emails_to("dx1000001@en.example").await.pop().unwrap();
    assert_eq!(got, format!("Solicitud anulada por la SEC: {folio}"));
    assert!(
        body.contains(comment) && body.contains("Nombre De Prueba"),
        "{body}"
    );
    assert_final(&app, &setup).await;
}

/// Nothing but viewing: every later move is refused with the reason.
async fn assert_final(app: &TestApp, setup: &Setup<'_>) {
    let Setup {
        company,
        applicant,
        admin,
        id,
        ..
    } = setup;
    let path = |tail: &str| format!("/solicitudes/{id}{tail}");
    let answer_form = company.get(&path("/responder")).await;
    assert_eq!(answer_form.status, StatusCode::CONFLICT);
    answer_form.assert_contains(REFUSED);
    // The forms are refused before their fields are read: any one-time token will do.
    let fields = [("token", "t"), ("amount", "1000"), ("concept", "x")];
    let files: [(&str, &str, &[u8]); 1] = [("file", "r.pdf", &pdf())];
    for target in ["/responder", "/pago"] {
        let refused = company.post_multipart(&path(target), &fields, &files).await;
        assert_eq!(refused.status, StatusCode::CONFLICT, "{target}");
        refused.assert_contains(REFUSED);
    }
    for target in ["/pago/validar", "/pago/rechazar"] {
        let refused = company.post(&path(target), &[("reason", "x")]).await;
        assert_eq!(refused.status, StatusCode::CONFLICT, "{target}");
    }
    let pay = applicant.get(&path("/pagar")).await;
    assert_eq!(pay.status, StatusCode::CONFLICT);
    pay.assert_contains(REFUSED);
    let again = admin
        .post(&path("/anular"), &[("comment", "otra vez")])
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    again.assert_contains(REFUSED);
    assert_eq!(app.count(ANNULMENTS).await, 1);
    assert_eq!(app.count(ANSWERS).await, 0);
}

#[tokio::test]
async fn an_auditor_reads_and_exports_but_cannot_annul() {
    let app = TestApp::spawn().await;
    let applicant = app.applicant(2_000_001).await;
    let (id, _) = file(&applicant, "si", "EN", "111-1").await;
    let auditor = sec_user(&app, 10_000_002, RegulatorRole::Auditor).await;
    for path in ["/sec", "/sec/sabana", &format!("/solicitudes/{id}")] {
        assert_eq!(auditor.get(path).await.status, StatusCode::OK, "{path}");
    }
    for path in ["/sec/sabana.csv", "/sec/sabana.xlsx"] {
        assert_eq!(
            auditor.get_bytes(path).await.status,
            StatusCode::OK,
            "{path}"
        );
    }
    let view = auditor.get(&format!("/solicitudes/{id}")).await;
    assert!(!view.body.contains(">Anular</a>"));
    let path = format!("/solicitudes/{id}/anular");
    assert_eq!(auditor.get(&path).await.status, StatusCode::FORBIDDEN);
    let posted = auditor.post(&path, &[("comment", "No corresponde")]).await;
    assert_eq!(posted.status, StatusCode::FORBIDDEN);
    posted.assert_contains("Su rol de auditor permite consultar y exportar");
    assert_eq!(app.count(ANNULMENTS).await, 0);
}

#[tokio::test]
async fn two_clicks_annul_once() {
    let app = TestApp::spawn().await;
    let applicant = app.applicant(2_000_001).await;
    let (id, _) = file(&applicant, "sc", "EN", "111-1").await;
    let admin = sec_user(&app, 10_000_001, RegulatorRole::Administrator).await;
    let path = format!("/solicitudes/{id}/anular");
    admin.get(&path).await;
    let fields = [("comment", "Fuera de la zona de concesión.")];
    let (first, second) = tokio::join!(admin.post(&path, &fields), admin.post(&path, &fields));
    let mut statuses = [first.status, second.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::SEE_OTHER, StatusCode::CONFLICT]);
    assert_eq!(app.count(ANNULMENTS).await, 1);
    assert_eq!(app.count(AUDITED).await, 1);
}
