//! "Configuración": a company's own settings, edited by its users. The bank data and payment
//! instructions shown to applicants who pay ("Formas de Pago"), and the standard answers
//! ("Respondido Automático") with which new requests of a kind are answered on submission.
//! The company is always the user's own, from the account; never from the form or the URL.

use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::applicant::kind_from_path;
use super::communication::{accepted, company_of, document_hint, multi_line, multipart_error};
use crate::domain::request::{DEFAULT_MAX_BYTES, RequestKind};
use crate::files::inspect::{FileKind, check_upload, safe_display_name};
use crate::files::store::{Upload, UploadError};
use crate::store::companies::{self, CompanySettings, STANDARD_ANSWERS_PREFIX, StandardAnswer};
use crate::store::users::User;
use crate::web::AppState;
use crate::web::error::{AppError, AppResult};
use crate::web::forms::FieldErrors;
use crate::web::page::{DistributorUser, Page};

const MAX_SETTING: usize = 2_000;
const MAX_PARTS: usize = 4;
const HOME: &str = "/distribuidora/configuracion";
const INTERRUPTED: &str = "La carga del archivo se interrumpió. Intente nuevamente.";

/// One kind's line of "Respondido Automático".
pub struct AnswerRow {
    pub label: &'static str,
    /// The kind in URLs: `si`.
    pub path: String,
    /// The id of the file input, and the key of its error.
    pub field: &'static str,
    pub current: Option<CurrentFile>,
}

pub struct CurrentFile {
    pub file_name: String,
    pub size_kb: i64,
}

#[derive(Template)]
#[template(path = "distributor_settings.html")]
struct SettingsPage {
    page: Page,
    company: String,
    values: CompanySettings,
    answers: Vec<AnswerRow>,
    errors: FieldErrors,
    notice: Option<&'static str>,
    file_hint: String,
    max_setting: usize,
}

fn answer_field(kind: RequestKind) -> &'static str {
    match kind {
        RequestKind::Information => "answer_si",
        RequestKind::Connection => "answer_sc",
        RequestKind::Conformity => "answer_mc",
        RequestKind::ConnectionNotice => "answer_nc",
    }
}

/// One row per kind, in the legal order, with the published file if any.
fn answer_rows(mut published: Vec<(RequestKind, StandardAnswer)>) -> Vec<AnswerRow> {
    RequestKind::ALL
        .into_iter()
        .map(|kind| AnswerRow {
            label: kind.label(),
            path: kind.code().to_ascii_lowercase(),
            field: answer_field(kind),
            current: published
                .iter()
                .position(|(k, _)| *k == kind)
                .map(|at| published.swap_remove(at).1)
                .map(|answer| CurrentFile {
                    file_name: answer.file_name,
                    size_kb: (answer.size_bytes + 1023) / 1024,
                }),
        })
        .collect()
}

/// The page; `values` are what was typed when the form comes back, else the saved ones.
async fn render(
    state: &AppState,
    page: Page,
    user: &User,
    values: Option<CompanySettings>,
    errors: FieldErrors,
    notice: Option<&'static str>,
) -> AppResult<Response> {
    let company = company_of(user)?;
    let values = match values {
        Some(values) => values,
        None => companies::settings(&state.db, company).await?,
    };
    let answers = answer_rows(companies::standard_answers(&state.db, company).await?);
    let status = if errors.is_empty() { 200 } else { 422 };
    let body = SettingsPage {
        page,
        company: user.distributor_name.clone().unwrap_or_default(),
        values,
        answers,
        errors,
        notice,
        file_hint: document_hint(),
        max_setting: MAX_SETTING,
    }
    .render()?;
    let status = axum::http::StatusCode::from_u16(status).expect("valid status");
    Ok((status, Html(body)).into_response())
}

/// Which change the redirect after a save reports; only these codes, never typed text.
#[derive(Deserialize)]
pub struct Notice {
    guardado: Option<String>,
}

fn notice_text(code: Option<&str>) -> Option<&'static str> {
    match code? {
        "datos" => Some("Los datos de pago fueron guardados."),
        "respuesta" => Some("La respuesta automática fue publicada."),
        "eliminada" => Some("La respuesta automática fue eliminada."),
        _ => None,
    }
}

fn saved(code: &str) -> Response {
    Redirect::to(&format!("{HOME}?guardado={code}")).into_response()
}

pub async fn show(
    State(state): State<AppState>,
    DistributorUser(user): DistributorUser,
    page: Page,
    Query(notice): Query<Notice>,
) -> AppResult<Response> {
    let notice = notice_text(notice.guardado.as_deref());
    render(&state, page, &user, None, FieldErrors::default(), notice).await
}

#[derive(Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    bank_details: String,
    #[serde(default)]
    payment_instructions: String,
}

/// "Grabar" of the payment data. Either text may be empty: the company may not take payments.
pub async fn save(
    State(state): State<AppState>,
    DistributorUser(user): DistributorUser,
    page: Page,
    Form(form): Form<SettingsForm>,
) -> AppResult<Response> {
    let company = company_of(&user)?;
    let mut errors = FieldErrors::default();
    let mut check = |field: &'static str, typed: &str| {
        multi_line(typed, MAX_SETTING)
            .map_err(|message| errors.add(field, message))
            .ok()
    };
    let bank = check("bank_details", &form.bank_details);
    let instructions = check("payment_instructions", &form.payment_instructions);
    let (Some(bank_details), Some(payment_instructions)) = (bank, instructions) else {
        let typed = CompanySettings {
            bank_details: form.bank_details,
            payment_instructions: form.payment_instructions,
        };
        return render(&state, page, &user, Some(typed), errors, None).await;
    };
    let settings = CompanySettings {
        bank_details,
        payment_instructions,
    };
    companies::save_settings(&state.db, company, &settings, state.now()).await?;
    tracing::info!(distributor.id = %company, "company payment settings saved");
    Ok(saved("datos"))
}

/// Publishes (or replaces) the standard answer of a kind: a multipart form with one file.
pub async fn upload(
    State(state): State<AppState>,
    DistributorUser(user): DistributorUser,
    page: Page,
    Path(kind): Path<String>,
    multipart: Multipart,
) -> AppResult<Response> {
    let company = company_of(&user)?;
    let kind = kind_from_path(&kind)?;
    let problem = match receive_answer(&state, multipart).await? {
        Ok(Some((upload, answer))) => match publish(&state, company, kind, upload, answer).await? {
            None => return Ok(saved("respuesta")),
            Some(problem) => problem,
        },
        Ok(None) => "Seleccione el archivo de la respuesta automática.".to_string(),
        Err(problem) => problem,
    };
    let mut errors = FieldErrors::default();
    errors.add(answer_field(kind), problem);
    render(&state, page, &user, None, errors, None).await
}

/// The part "file", streamed into the scratch directory with the 5 MB limit enforced as it
/// arrives. Other parts are skipped (the CSRF token is in the query). The inner error is for
/// the user, beside the field.
async fn receive_answer(
    state: &AppState,
    mut multipart: Multipart,
) -> AppResult<Result<Option<(Upload, StandardAnswer)>, String>> {
    let mut parts = 0;
    let field = loop {
        let Some(field) = multipart.next_field().await.map_err(multipart_error)? else {
            return Ok(Ok(None));
        };
        parts += 1;
        if parts > MAX_PARTS {
            return Err(AppError::BadRequest(
                "El formulario tiene demasiadas partes.",
            ));
        }
        if field.name() == Some("file") {
            break field;
        }
    };
    let original = field.file_name().unwrap_or_default().to_string();
    match state.files.receive(field, DEFAULT_MAX_BYTES).await {
        Ok(upload) if upload.size == 0 && original.is_empty() => Ok(Ok(None)),
        Ok(upload) => check_answer(state, upload, &original).await,
        Err(error @ UploadError::TooLarge { .. }) => Ok(Err(format!("{error} {}", accepted()))),
        // Not the file's fault: no list of what is accepted.
        Err(error @ UploadError::DiskFull) => Ok(Err(error.to_string())),
        Err(UploadError::Interrupted) => Err(AppError::BadRequest(INTERRUPTED)),
        Err(UploadError::Io(error)) => Err(anyhow::Error::new(error)
            .context("receiving an upload")
            .into()),
    }
}

/// The received file's content against the accepted types, and its row as it will be.
async fn check_answer(
    state: &AppState,
    upload: Upload,
    original: &str,
) -> AppResult<Result<Option<(Upload, StandardAnswer)>, String>> {
    let bytes = state
        .files
        .read_for_inspection(&upload)
        .await
        .map_err(anyhow::Error::from)?;
    Ok(
        match check_upload(upload.size, &bytes, &FileKind::ALL, DEFAULT_MAX_BYTES) {
            Ok(file_kind) => {
                let answer = StandardAnswer {
                    // Chosen when the file is stored.
                    storage_key: String::new(),
                    file_name: safe_display_name(original),
                    file_kind: file_kind.label().to_string(),
                    size_bytes: i64::try_from(upload.size).unwrap_or(i64::MAX),
                    sha256: upload.sha256.clone(),
                };
                Ok(Some((upload, answer)))
            }
            Err(error) => Err(format!("{error} {}", accepted())),
        },
    )
}

/// Stores the file under a new key of the company and kind, then records it as the standard
/// answer; the file goes if the row does not. `Some` is a problem for the user.
async fn publish(
    state: &AppState,
    company: &str,
    kind: RequestKind,
    upload: Upload,
    mut answer: StandardAnswer,
) -> AppResult<Option<String>> {
    let id = uuid::Uuid::now_v7();
    answer.storage_key = format!("{STANDARD_ANSWERS_PREFIX}/{company}/{}/{id}", kind.code());
    match state.files.store(upload, &answer.storage_key).await {
        Ok(()) => {}
        Err(UploadError::DiskFull) => return Ok(Some(UploadError::DiskFull.to_string())),
        Err(error) => {
            return Err(anyhow::Error::new(error)
                .context("storing an upload")
                .into());
        }
    }
    let now = state.now();
    match companies::set_standard_answer(&state.db, company, kind, &answer, now).await {
        Ok(replaced) => delete_file(state, replaced.as_deref()).await,
        Err(error) => {
            delete_file(state, Some(&answer.storage_key)).await;
            return Err(error.into());
        }
    }
    let kind = kind.code();
    tracing::info!(distributor.id = %company, request.kind = kind, "standard answer published");
    Ok(None)
}

/// Deletes a standard answer's file that no row refers to any more. Requests answered with it
/// have their own copy (see `applicant::submit`), so nothing else needs it.
async fn delete_file(state: &AppState, key: Option<&str>) {
    let Some(key) = key else { return };
    if let Err(error) = state.files.delete(key).await {
        // Not under attachments/, so no collector will find it: say which file stays.
        tracing::warn!(error = %error, storage.key = %key, "could not delete a standard answer");
    }
}

/// "Eliminar": new requests of the kind wait for an answer again; earlier ones keep theirs.
pub async fn remove(
    State(state): State<AppState>,
    DistributorUser(user): DistributorUser,
    Path(kind): Path<String>,
) -> AppResult<Response> {
    let company = company_of(&user)?;
    let kind = kind_from_path(&kind)?;
    let removed = companies::remove_standard_answer(&state.db, company, kind).await?;
    if removed.is_some() {
        delete_file(&state, removed.as_deref()).await;
        let kind = kind.code();
        tracing::info!(distributor.id = %company, request.kind = kind, "standard answer removed");
    }
    Ok(saved("eliminada"))
}

/// The company's current standard answer of a kind, always as a download (see
/// `requests::view::download` for why).
pub async fn download(
    State(state): State<AppState>,
    DistributorUser(user): DistributorUser,
    Path(kind): Path<String>,
) -> AppResult<Response> {
    let company = company_of(&user)?;
    let kind = kind_from_path(&kind)?;
    let answer = companies::standard_answer(&state.db, company, kind)
        .await?
        .ok_or(AppError::NotFound)?;
    let file = crate::web::download::StoredFile {
        storage_key: &answer.storage_key,
        file_name: &answer.file_name,
        file_kind: &answer.file_kind,
        size_bytes: answer.size_bytes,
    };
    crate::web::download::serve(&state, file).await
}
