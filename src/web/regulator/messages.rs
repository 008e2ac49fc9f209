//! "Modificar Mensajes": the e-mail texts SEC edits — the submission receipt ("auto respuesta")
//! of each request kind and the notifications of the workflow. Every SEC user reads them and
//! previews them with sample data; only an administrador saves or restores the default.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use jiff::SignedDuration;
use serde::Deserialize;

use crate::clock::{format_date, format_date_time};
use crate::domain::RegulatorRole;
use crate::domain::request::{RequestKind, Status};
use crate::mail::templates::{self, EmailTemplate, TemplateInfo};
use crate::store::audit::{self, AuditEntry};
use crate::store::outbox::OutgoingEmail;
use crate::store::users::User;
use crate::web::AppState;
use crate::web::error::{AppError, AppResult};
use crate::web::forms::FieldErrors;
use crate::web::page::{Page, RegulatorAdmin, RegulatorUser};

const HOME: &str = "/sec/mensajes";
const MAX_SUBJECT: usize = 200;
const MAX_BODY: usize = 5_000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(HOME, get(list))
        .route("/sec/mensajes/{key}", get(show).post(submit))
}

/// A line of the list.
pub struct Listed {
    pub key: String,
    pub title: String,
    pub edited: bool,
}

#[derive(Template)]
#[template(path = "sec_messages.html")]
struct ListPage {
    page: Page,
    receipts: Vec<Listed>,
    notices: Vec<Listed>,
}

async fn list(
    State(state): State<AppState>,
    RegulatorUser(_user): RegulatorUser,
    page: Page,
) -> AppResult<Response> {
    let edited = templates::edited(&state.db).await?;
    let (receipts, notices): (Vec<Listed>, Vec<Listed>) = templates::editable()
        .into_iter()
        .map(|info| Listed {
            edited: edited.contains(&info.key),
            key: info.key,
            title: info.title,
        })
        .partition(|listed| listed.key.starts_with("receipt."));
    let body = ListPage {
        page,
        receipts,
        notices,
    };
    Ok(Html(body.render()?).into_response())
}

#[derive(Template)]
#[template(path = "sec_message_edit.html")]
struct EditPage {
    page: Page,
    info: TemplateInfo,
    /// `{folio}` and what it stands for.
    placeholders: Vec<(String, &'static str)>,
    subject: String,
    body: String,
    preview: OutgoingEmail,
    edited: bool,
    can_edit: bool,
    errors: FieldErrors,
    notice: Option<&'static str>,
    max_subject: usize,
    max_body: usize,
}

/// Which change the redirect after a save reports; only these codes, never typed text.
#[derive(Deserialize)]
struct Notice {
    guardado: Option<String>,
}

fn notice_text(code: Option<&str>) -> Option<&'static str> {
    match code? {
        "grabado" => Some("El mensaje fue grabado. Se usará en los próximos envíos."),
        "restablecido" => Some("Se restableció el mensaje predeterminado."),
        _ => None,
    }
}

fn find(key: &str) -> AppResult<TemplateInfo> {
    templates::editable()
        .into_iter()
        .find(|info| info.key == key)
        .ok_or(AppError::NotFound)
}

async fn show(
    State(state): State<AppState>,
    RegulatorUser(user): RegulatorUser,
    page: Page,
    Path(key): Path<String>,
    Query(notice): Query<Notice>,
) -> AppResult<Response> {
    let info = find(&key)?;
    let current = templates::load(state.db.pool(), &info.key).await?;
    let notice = notice_text(notice.guardado.as_deref());
    let edit = Edit::new(&user, info, current, FieldErrors::default());
    render(&state, page, edit, notice).await
}

/// What the edit page shows: the text (saved or typed) and what is wrong with it.
struct Edit {
    info: TemplateInfo,
    text: EmailTemplate,
    errors: FieldErrors,
    can_edit: bool,
}

impl Edit {
    fn new(user: &User, info: TemplateInfo, text: EmailTemplate, errors: FieldErrors) -> Self {
        Edit {
            info,
            text,
            errors,
            can_edit: user.regulator_role == Some(RegulatorRole::Administrator),
        }
    }
}

async fn render(
    state: &AppState,
    page: Page,
    edit: Edit,
    notice: Option<&'static str>,
) -> AppResult<Response> {
    let edited = templates::edited(&state.db).await?.contains(&edit.info.key);
    let preview = edit.text.render("", &sample_values(state, &edit.info));
    let status = if edit.errors.is_empty() { 200 } else { 422 };
    let body = EditPage {
        page,
        placeholders: described(edit.info.placeholders),
        info: edit.info,
        subject: edit.text.subject,
        body: edit.text.body,
        preview,
        edited,
        can_edit: edit.can_edit,
        errors: edit.errors,
        notice,
        max_subject: MAX_SUBJECT,
        max_body: MAX_BODY,
    }
    .render()?;
    let status = axum::http::StatusCode::from_u16(status).expect("valid status");
    Ok((status, Html(body)).into_response())
}

fn described(placeholders: &[&str]) -> Vec<(String, &'static str)> {
    placeholders
        .iter()
        .map(|name| (format!("{{{name}}}"), description(name)))
        .collect()
}

fn description(placeholder: &str) -> &'static str {
    match placeholder {
        "folio" => "Folio de la solicitud",
        "formulario" => "Tipo de solicitud",
        "solicitante" => "Nombre del solicitante",
        "distribuidora" => "Empresa distribuidora",
        "fecha" => "Fecha y hora del envío",
        "plazo" => "Fecha límite de respuesta, o «sin plazo»",
        "enlace" => "Enlace a la solicitud en el portal",
        "accion" => "Acción registrada",
        "estado" => "Estado actual de la solicitud",
        "comentario" => "Comentario o comunicación de la distribuidora",
        _ => "",
    }
}

/// Sample data for the preview, limited to the text's own placeholders so that an unknown one
/// shows as typed, exactly as it would reach the reader.
fn sample_values(state: &AppState, info: &TemplateInfo) -> Vec<(&'static str, String)> {
    let kind = info
        .key
        .strip_prefix("receipt.")
        .and_then(RequestKind::from_code)
        .unwrap_or(RequestKind::Information);
    let now = state.now();
    let samples = [
        ("folio", "EN123".to_string()),
        ("formulario", kind.label().to_string()),
        ("solicitante", "Ana Pérez".to_string()),
        ("distribuidora", "Enel Distribución Chile S.A.".to_string()),
        ("fecha", format_date_time(now)),
        (
            "plazo",
            format_date(now + SignedDuration::from_hours(14 * 24)),
        ),
        ("enlace", state.settings.link("/solicitudes/ejemplo")),
        ("accion", "Respuesta".to_string()),
        ("estado", Status::Answered.label().to_string()),
        (
            "comentario",
            "Adjuntamos la respuesta a su solicitud.".to_string(),
        ),
    ];
    samples
        .into_iter()
        .filter(|(name, _)| info.placeholders.contains(name))
        .collect()
}

#[derive(Deserialize)]
struct MessageForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    body: String,
}

/// "Vista previa" (the default, also for Enter in the subject) shows the typed text and
/// changes nothing; "Grabar" checks and saves it; "Restablecer" drops SEC's version.
async fn submit(
    State(state): State<AppState>,
    RegulatorAdmin(user): RegulatorAdmin,
    page: Page,
    Path(key): Path<String>,
    Form(form): Form<MessageForm>,
) -> AppResult<Response> {
    let info = find(&key)?;
    match form.action.as_str() {
        "restablecer" => return restore(&state, &user, &info).await,
        "grabar" | "vista_previa" | "" => {}
        _ => return Err(AppError::BadRequest("Acción desconocida.")),
    }
    let (text, errors) = checked(&info, &form);
    if form.action == "grabar" && errors.is_empty() {
        store(&state, &user, &info, &text).await?;
        return Ok(redirect(&info, "grabado"));
    }
    render(&state, page, Edit::new(&user, info, text, errors), None).await
}

/// The typed text as it would be saved (browsers send CRLF line ends), and its problems.
fn checked(info: &TemplateInfo, form: &MessageForm) -> (EmailTemplate, FieldErrors) {
    let text = EmailTemplate {
        subject: form.subject.trim().to_string(),
        body: form.body.replace("\r\n", "\n"),
    };
    let mut errors = FieldErrors::default();
    if text.subject.contains(['\r', '\n']) {
        errors.add("subject", "El asunto debe ser una sola línea.");
    }
    check(
        "subject",
        "el asunto",
        &text.subject,
        MAX_SUBJECT,
        info,
        &mut errors,
    );
    check("body", "el texto", &text.body, MAX_BODY, info, &mut errors);
    (text, errors)
}

fn check(
    field: &'static str,
    name: &str,
    text: &str,
    max: usize,
    info: &TemplateInfo,
    errors: &mut FieldErrors,
) {
    let length = text.chars().count();
    if text.trim().is_empty() {
        errors.add(field, format!("Escriba {name} del mensaje."));
    } else if length > max {
        errors.add(
            field,
            format!("Use como máximo {max} caracteres en {name} (tiene {length})."),
        );
    } else if let Err(message) = templates::validate(text, info.placeholders) {
        errors.add(field, message);
    }
}

async fn store(
    state: &AppState,
    user: &User,
    info: &TemplateInfo,
    text: &EmailTemplate,
) -> AppResult<()> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    templates::save(&mut *tx, &info.key, &text.subject, &text.body, now).await?;
    let entry = AuditEntry {
        actor_id: Some(&user.id),
        event: "email_template_changed",
        target: Some(&info.key),
        detail: Some(&info.title),
    };
    audit::record(&mut *tx, &entry, now).await?;
    tx.commit().await?;
    tracing::info!(user.id = %user.id, template = %info.key, "e-mail template saved");
    Ok(())
}

async fn restore(state: &AppState, user: &User, info: &TemplateInfo) -> AppResult<Response> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    // Restoring a text that was never changed is no change: nothing to put on record.
    if templates::reset(&mut *tx, &info.key).await? {
        let entry = AuditEntry {
            actor_id: Some(&user.id),
            event: "email_template_reset",
            target: Some(&info.key),
            detail: Some(&info.title),
        };
        audit::record(&mut *tx, &entry, now).await?;
    }
    tx.commit().await?;
    tracing::info!(user.id = %user.id, template = %info.key, "e-mail template reset");
    Ok(redirect(info, "restablecido"))
}

fn redirect(info: &TemplateInfo, code: &str) -> Response {
    Redirect::to(&format!("{HOME}/{}?guardado={code}", info.key)).into_response()
}
