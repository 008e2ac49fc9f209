//! The request view ("Acción sobre una solicitud"), its print-ready version, and downloads.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Response};

use super::viewer_of;
use crate::clock::format_date_time;
use crate::domain::request::Status;
use crate::domain::request::{AttachmentSlot, RequestKind, slots};
use crate::domain::workflow::{Action, Context, decide};
use crate::domain::{Profile, RegulatorRole};
use crate::store::requests::{self, Attachment, Event, RequestDetail};
use crate::store::users::User;
use crate::web::AppState;
use crate::web::error::{AppError, AppResult};
use crate::web::page::{Page, SignedIn};

/// A document as listed: "Formulario de Solicitud de Información — nombre.pdf — Descargar | 30 kb".
pub struct Document {
    pub label: String,
    pub file_name: String,
    pub href: String,
    pub size_kb: i64,
}

pub struct HistoryRow {
    pub date: String,
    pub action: &'static str,
    pub actor: String,
    pub status: &'static str,
    pub comment: String,
}

/// An answer (or a payment request that carried one) as the view lists it under "Respuestas".
pub struct AnswerView {
    pub author: String,
    pub date: String,
    pub comment: String,
    pub files: Vec<Document>,
    pub withheld: bool,
}

/// A button on the request view: (label, link).
pub struct ActionLink {
    pub label: &'static str,
    pub href: String,
}

#[derive(Template)]
#[template(path = "request_view.html")]
struct ViewPage {
    page: Page,
    request: RequestDetail,
    submitted: String,
    due: String,
    documents: Vec<Document>,
    answers: Vec<AnswerView>,
    history: Vec<HistoryRow>,
    actions: Vec<ActionLink>,
    can_edit_reference: bool,
}

#[derive(Template)]
#[template(path = "request_print.html")]
struct PrintPage {
    request: RequestDetail,
    submitted: String,
    due: String,
    documents: Vec<Document>,
    history: Vec<HistoryRow>,
}

fn slot_label(kind: RequestKind, code: &str) -> String {
    AttachmentSlot::from_code(code)
        .and_then(|slot| {
            slots(kind, true)
                .into_iter()
                .find(|spec| spec.slot() == slot)
        })
        .map(|spec| spec.label().to_string())
        .unwrap_or_else(|| "Documento".to_string())
}

fn documents(request: &RequestDetail, attachments: &[Attachment]) -> Vec<Document> {
    attachments
        .iter()
        .filter(|a| AttachmentSlot::from_code(&a.slot).is_some())
        .map(|a| document(request, a))
        .collect()
}

fn document(request: &RequestDetail, a: &Attachment) -> Document {
    Document {
        label: slot_label(request.summary.kind, &a.slot),
        file_name: a.file_name.clone(),
        href: format!("/solicitudes/{}/adjuntos/{}", request.summary.id, a.id),
        size_kb: (a.size_bytes + 1023) / 1024,
    }
}

/// Answers, payment requests and messages with their files, in order.
fn answers(
    request: &RequestDetail,
    events: &[Event],
    attachments: &[Attachment],
) -> Vec<AnswerView> {
    events
        .iter()
        .filter(|e| matches!(e.action.as_str(), "answer" | "request_payment" | "message"))
        .map(|e| {
            let files: Vec<&Attachment> = attachments
                .iter()
                .filter(|a| a.event_id.as_deref() == Some(&e.id))
                .collect();
            AnswerView {
                author: e
                    .actor_name
                    .clone()
                    .unwrap_or_else(|| request.summary.distributor_name.clone()),
                date: format_date_time(e.created_at),
                comment: e.comment.clone().unwrap_or_default(),
                withheld: files.iter().any(|a| a.withheld),
                files: files.into_iter().map(|a| document(request, a)).collect(),
            }
        })
        .collect()
}

fn action_label(action: &str) -> &'static str {
    match action {
        "submit" => "Envío de la solicitud",
        "answer" => "Respuesta",
        "request_payment" => "Solicitud de pago",
        "send_payment" => "Envío de comprobante de pago",
        "validate_payment" => "Pago validado",
        "reject_payment" => "Pago rechazado",
        "annul" => "Anulación",
        "message" => "Comunicación",
        _ => "Movimiento",
    }
}

fn history(events: &[Event]) -> Vec<HistoryRow> {
    events
        .iter()
        .map(|e| HistoryRow {
            date: format_date_time(e.created_at),
            action: action_label(&e.action),
            actor: e
                .actor_name
                .clone()
                .unwrap_or_else(|| "Sistema".to_string()),
            status: e.to_status.label(),
            comment: e.comment.clone().unwrap_or_default(),
        })
        .collect()
}

struct Loaded {
    request: RequestDetail,
    documents: Vec<Document>,
    answers: Vec<AnswerView>,
    history: Vec<HistoryRow>,
}

async fn load(state: &AppState, user: &User, id: &str) -> AppResult<Loaded> {
    let viewer = viewer_of(user);
    let request = requests::detail(&state.db, &viewer, id)
        .await?
        .ok_or(AppError::NotFound)?;
    let attachments = requests::attachments(&state.db, &viewer, id).await?;
    let events = requests::events(&state.db, &viewer, id).await?;
    Ok(Loaded {
        documents: documents(&request, &attachments),
        answers: answers(&request, &events, &attachments),
        history: history(&events),
        request,
    })
}

/// The buttons the workflow allows this user on this request now.
fn actions(user: &User, request: &RequestDetail) -> Vec<ActionLink> {
    let id = &request.summary.id;
    let role = crate::web::workflow::role_of(user);
    let may =
        |action: Action| decide(request.summary.status, action, role, Context::default()).is_ok();
    let mut links = Vec::new();
    if may(Action::RequestPayment) || may(Action::ValidatePayment) {
        links.push(ActionLink {
            label: "Gestión de Pago",
            href: format!("/solicitudes/{id}/pago"),
        });
    }
    if may(Action::Answer) {
        links.push(ActionLink {
            label: "Responder",
            href: format!("/solicitudes/{id}/responder"),
        });
    }
    if may(Action::SendPaymentProof) {
        links.push(ActionLink {
            label: "Pagar",
            href: format!("/solicitudes/{id}/pagar"),
        });
    }
    // Annulling is SEC's move, but only an administrador's: an auditor reads and exports.
    let administrator = user.regulator_role == Some(RegulatorRole::Administrator);
    if administrator && may(Action::Annul) {
        links.push(ActionLink {
            label: "Anular",
            href: format!("/solicitudes/{id}/anular"),
        });
    }
    links
}

fn due_text(request: &RequestDetail) -> String {
    request
        .summary
        .due_on
        .map(|d| d.strftime("%d/%m/%Y").to_string())
        .unwrap_or_else(|| "Sin plazo".to_string())
}

pub async fn show(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    page: Page,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let loaded = load(&state, &user, &id).await?;
    let actions = actions(&user, &loaded.request);
    let can_edit_reference =
        user.profile == Profile::Distributor && loaded.request.summary.status != Status::Annulled;
    let body = ViewPage {
        page,
        submitted: format_date_time(loaded.request.summary.submitted_at),
        due: due_text(&loaded.request),
        request: loaded.request,
        documents: loaded.documents,
        answers: loaded.answers,
        history: loaded.history,
        actions,
        can_edit_reference,
    }
    .render()?;
    Ok(Html(body).into_response())
}

pub async fn print(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let loaded = load(&state, &user, &id).await?;
    let body = PrintPage {
        submitted: format_date_time(loaded.request.summary.submitted_at),
        due: due_text(&loaded.request),
        request: loaded.request,
        documents: loaded.documents,
        history: loaded.history,
    }
    .render()?;
    Ok(Html(body).into_response())
}

/// Serves a file only to whoever may see its request, always as an attachment, under a
/// sandboxing CSP, so that nothing uploaded is ever rendered by the browser as a page.
pub async fn download(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path((id, attachment_id)): Path<(String, String)>,
) -> AppResult<Response> {
    let viewer = viewer_of(&user);
    let attachment = requests::attachment(&state.db, &viewer, &id, &attachment_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let file = crate::web::download::StoredFile {
        storage_key: &attachment.storage_key,
        file_name: &attachment.file_name,
        file_kind: &attachment.file_kind,
        size_bytes: attachment.size_bytes,
    };
    crate::web::download::serve(&state, file).await
}
