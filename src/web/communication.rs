//! "Comunicación": a company's message to the applicant of one of its requests, named by folio
//! and client number (DOMAIN.md: a mismatch is refused, so a message never reaches the wrong
//! person). The history entry, the optional file and the e-mails are one transaction; a stored
//! file whose transaction did not commit is deleted. After "Grabar" the user lands on the
//! request's view, whose "Histórico de transacciones" shows the message.
//!
//! The form is read and its file stored by the helpers of the request transitions
//! (`web::workflow`), so every uploaded file passes the same checks.

use askama::Template;
use axum::extract::multipart::MultipartError;
use axum::extract::{Multipart, State};
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::workflow;
use crate::domain::request::{DEFAULT_MAX_BYTES, Status};
use crate::domain::workflow::{Action, Context, Refusal, Role, decide};
use crate::files::inspect::{FileKind, MIB};
use crate::files::store::Upload;
use crate::mail::templates::{self, MESSAGE_KEY};
use crate::store::requests::{self, NewAttachment, NewEvent, RequestDetail, Viewer};
use crate::store::users::User;
use crate::store::{companies, outbox};
use crate::web::AppState;
use crate::web::error::{AppError, AppResult};
use crate::web::forms::FieldErrors;
use crate::web::page::{DistributorUser, Page};

/// The largest body of a form with one file: the file plus a few text fields.
pub const UPLOAD_BODY_LIMIT: usize = 6 * 1024 * 1024;
/// A failure point for tests: after the file is stored, before the transaction commits.
pub const MESSAGE_BEFORE_COMMIT: &str = "message.before_commit";

const MAX_COMMENT: usize = 300;
const MISMATCH: &str =
    "El folio y el N° de cliente no corresponden a una misma solicitud de su empresa.";

/// What the user typed, kept when the form comes back.
#[derive(Default)]
pub struct MessageValues {
    pub folio: String,
    pub client_number: String,
    pub reference: String,
    pub comment: String,
    /// The form's one-time token: a second click on "Grabar" sends nothing more.
    pub token: String,
}

#[derive(Template)]
#[template(path = "communication.html")]
struct CommunicationPage {
    page: Page,
    values: MessageValues,
    errors: FieldErrors,
    file_hint: String,
    max_comment: usize,
}

fn render(page: Page, values: MessageValues, errors: FieldErrors) -> AppResult<Response> {
    let status = if errors.is_empty() { 200 } else { 422 };
    let body = CommunicationPage {
        page,
        values,
        errors,
        file_hint: document_hint(),
        max_comment: MAX_COMMENT,
    }
    .render()?;
    let status = axum::http::StatusCode::from_u16(status).expect("valid status");
    Ok((status, Html(body)).into_response())
}

pub async fn show(DistributorUser(_user): DistributorUser, page: Page) -> AppResult<Response> {
    let values = MessageValues {
        token: crate::crypto::random_token(),
        ..MessageValues::default()
    };
    render(page, values, FieldErrors::default())
}

/// The user's company, from the account (a CHECK constraint makes it present).
pub fn company_of(user: &User) -> AppResult<&str> {
    user.distributor_id.as_deref().ok_or(AppError::NotFound)
}

/// "Grabar": checks the fields and the file, then records and sends the message.
pub async fn submit(
    State(state): State<AppState>,
    DistributorUser(user): DistributorUser,
    page: Page,
    multipart: Multipart,
) -> AppResult<Response> {
    let company = company_of(&user)?;
    let mut errors = FieldErrors::default();
    let (values, file) = receive(&state, multipart, &mut errors).await?;
    if values.token.is_empty() {
        return Err(AppError::BadRequest(
            "Falta el código de un solo uso del formulario. Recargue la página.",
        ));
    }
    let comment = check_comment(&values.comment, &mut errors);
    let target = find_request(&state, company, &values, &mut errors).await?;
    let (Some(target), Some(comment)) = (target, comment) else {
        return render(page, values, errors);
    };
    if !errors.is_empty() {
        return render(page, values, errors);
    }
    let id = target.summary.id.clone();
    match persist(&state, &user, &target, &comment, &values.token, file).await? {
        Outcome::Sent => state.mail_wakeup.notify_one(),
        // A second click: the first one sent the message; show where it went.
        Outcome::AlreadySent => {}
        Outcome::Refused(field, message) => {
            errors.add(field, message);
            return render(page, values, errors);
        }
    }
    Ok(Redirect::to(&format!("/solicitudes/{id}")).into_response())
}

enum Outcome {
    Sent,
    AlreadySent,
    /// A message for a field of the form.
    Refused(&'static str, String),
}

/// The typed values and the checked file (a problem with it goes beside its field).
async fn receive(
    state: &AppState,
    multipart: Multipart,
    errors: &mut FieldErrors,
) -> AppResult<(MessageValues, Option<(Upload, String)>)> {
    let form = workflow::read_form(state, multipart).await?;
    if let Some(message) = &form.file_error {
        errors.add("file", message);
    }
    let values = MessageValues {
        folio: form.text("folio").to_string(),
        client_number: form.text("client_number").to_string(),
        reference: form.text("reference").to_string(),
        comment: form.text("comment").to_string(),
        token: form.text("token").to_string(),
    };
    Ok((values, form.file))
}

fn check_comment(typed: &str, errors: &mut FieldErrors) -> Option<String> {
    match multi_line(typed, MAX_COMMENT) {
        Ok(text) if text.is_empty() => errors.add("comment", "Ingrese el comentario."),
        Ok(text) => return Some(text),
        Err(message) => errors.add("comment", message),
    }
    None
}

/// The folio and the client number, when both were typed.
fn required<'a>(values: &'a MessageValues, errors: &mut FieldErrors) -> Option<(&'a str, &'a str)> {
    let (folio, client) = (values.folio.trim(), values.client_number.trim());
    if folio.is_empty() {
        errors.add("folio", "Ingrese el folio.");
    }
    if client.is_empty() {
        errors.add("client_number", "Ingrese el N° de cliente.");
    }
    (!folio.is_empty() && !client.is_empty()).then_some((folio, client))
}

/// Client numbers and N° Solicitud are compared as typed, ignoring case and outer spaces.
fn same(stored: &str, typed: &str) -> bool {
    stored.trim().eq_ignore_ascii_case(typed.trim())
}

/// The company's request named by the folio and client number (or factibilidad number), or
/// why not. Another company's folio gets the same answer as a wrong one: nothing leaks.
async fn find_request(
    state: &AppState,
    company: &str,
    values: &MessageValues,
    errors: &mut FieldErrors,
) -> AppResult<Option<RequestDetail>> {
    let Some((folio, client)) = required(values, errors) else {
        return Ok(None);
    };
    let viewer = Viewer::Distributor {
        distributor_id: company.to_string(),
    };
    let detail = match companies::request_by_folio(&state.db, company, folio).await? {
        Some(id) => requests::detail(&state.db, &viewer, &id).await?,
        None => None,
    };
    let Some(detail) = detail.filter(|d| same(d.summary.client_or_feasibility(), client)) else {
        errors.add("request", MISMATCH);
        return Ok(None);
    };
    let reference = values.reference.trim();
    let stored = detail.summary.distributor_reference.as_deref();
    if stored.is_some_and(|stored| !reference.is_empty() && !same(stored, reference)) {
        errors.add(
            "reference",
            "El N° Solicitud no corresponde a esa solicitud.",
        );
        return Ok(None);
    }
    if let Err(refusal) = allowed(detail.summary.status) {
        errors.add("request", refusal);
        return Ok(None);
    }
    Ok(Some(detail))
}

fn allowed(status: Status) -> Result<Status, Refusal> {
    decide(
        status,
        Action::SendMessage,
        Role::Distributor,
        Context::default(),
    )
}

/// Stores the file, then commits; deletes the file unless the message was sent.
async fn persist(
    state: &AppState,
    user: &User,
    target: &RequestDetail,
    comment: &str,
    token: &str,
    file: Option<(Upload, String)>,
) -> AppResult<Outcome> {
    let stored = workflow::store_file(state, file, Action::SendMessage.code()).await?;
    let attachment = stored.as_ref().map(|stored| &stored.attachment);
    let outcome = commit(state, user, target, comment, token, attachment).await;
    if !matches!(&outcome, Ok(Outcome::Sent)) && !outcome.as_ref().is_err_and(AppError::keeps_files)
    {
        workflow::discard(state, &stored).await;
    }
    outcome
}

async fn commit(
    state: &AppState,
    user: &User,
    target: &RequestDetail,
    comment: &str,
    token: &str,
    attachment: Option<&NewAttachment>,
) -> AppResult<Outcome> {
    let now = state.now();
    let id = target.summary.id.as_str();
    let mut tx = state.db.begin().await?;
    if !requests::claim_submission_token(&mut tx, token, id, now).await? {
        return Ok(Outcome::AlreadySent);
    }
    // The status as of now, not as of the form: an annulment may have come in between.
    let status = companies::lock_status(&mut tx, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if let Err(refusal) = allowed(status) {
        return Ok(Outcome::Refused("request", refusal.to_string()));
    }
    let event = NewEvent {
        request_id: id,
        action: Action::SendMessage.code(),
        actor_id: Some(&user.id),
        from_status: Some(status),
        to_status: status,
        comment: Some(comment),
    };
    let event_id = requests::insert_event(&mut tx, &event, now).await?;
    if let Some(attachment) = attachment {
        requests::insert_attachment(&mut tx, id, Some(&event_id), attachment, now).await?;
    }
    queue_emails(state, &mut tx, target, comment).await?;
    state.faults.check(MESSAGE_BEFORE_COMMIT)?;
    tx.commit().await.map_err(AppError::commit_uncertain)?;
    tracing::info!(request.id = %id, "message sent to the applicant");
    Ok(Outcome::Sent)
}

/// The message to the applicant and to the additional e-mail, once each.
async fn queue_emails(
    state: &AppState,
    tx: &mut sqlx::AnyConnection,
    target: &RequestDetail,
    comment: &str,
) -> AppResult<()> {
    let template = templates::load(&mut *tx, MESSAGE_KEY).await?;
    let link = format!("/solicitudes/{}", target.summary.id);
    let values = [
        ("folio", target.summary.folio.clone()),
        ("distribuidora", target.summary.distributor_name.clone()),
        ("comentario", comment.to_string()),
        ("enlace", state.settings.link(&link)),
    ];
    let (domain, now) = (state.message_domain(), state.now());
    for to in recipients(target) {
        outbox::enqueue(&mut *tx, &template.render(&to, &values), &domain, now).await?;
    }
    Ok(())
}

/// The applicant and the additional e-mail, once each.
fn recipients(target: &RequestDetail) -> Vec<String> {
    let mut to = vec![target.applicant_email.clone()];
    if let Some(extra) = &target.additional_email
        && !extra.eq_ignore_ascii_case(&target.applicant_email)
    {
        to.push(extra.clone());
    }
    to
}

// ---- Shared with the company settings page. ----

/// "Archivo PDF, JPG, PNG, DOC o DOCX de hasta 5 MB."
pub fn document_hint() -> String {
    let labels: Vec<&str> = FileKind::ALL.iter().map(|kind| kind.label()).collect();
    let (last, init) = labels.split_last().expect("five kinds");
    let megabytes = DEFAULT_MAX_BYTES / MIB;
    format!(
        "Archivo {} o {last} de hasta {megabytes} MB.",
        init.join(", ")
    )
}

/// "Se acepta: PDF, JPG, PNG, DOC o DOCX de hasta 5 MB.", after a file's problem.
pub fn accepted() -> String {
    format!(
        "Se acepta: {}",
        document_hint().trim_start_matches("Archivo ")
    )
}

pub fn multipart_error(error: MultipartError) -> AppError {
    if error.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        AppError::TooLarge
    } else {
        AppError::BadRequest("El formulario llegó incompleto o dañado. Intente nuevamente.")
    }
}

/// A trimmed text of at most `max` characters, line breaks counted as one as browsers do.
/// Line breaks and tabs are allowed, other control characters are not. Empty is allowed.
pub fn multi_line(input: &str, max: usize) -> Result<String, String> {
    let text = input.replace("\r\n", "\n").replace('\r', "\n");
    let text = text.trim();
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err("El texto contiene caracteres no permitidos.".to_string());
    }
    let count = text.chars().count();
    if count > max {
        return Err(format!(
            "El texto tiene {} caracteres. Máximo {} caracteres.",
            thousands(count),
            thousands(max)
        ));
    }
    Ok(text.to_string())
}

/// 2000 as "2.000", the way Chile writes numbers.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    out
}
