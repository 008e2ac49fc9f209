//! "Descarga de Formularios": official forms (PDF, DOC or DOCX by content, at most 5 MB)
//! stored under `official-forms/<uuid>` and offered to every logged-in user.

use axum::extract::{Multipart, Path, State};
use axum::response::Response;

use super::entry;
use super::links_admin::{Shown, done, render};
use crate::domain::request::DEFAULT_MAX_BYTES;
use crate::domain::text::single_line;
use crate::files::inspect::{FileKind, check_upload, safe_display_name};
use crate::files::store::{Upload, UploadError};
use crate::store::audit;
use crate::store::users::User;
use crate::web::AppState;
use crate::web::error::{AppError, AppResult};
use crate::web::forms::FieldErrors;
use crate::web::links::{self, OfficialForm};
use crate::web::page::{Page, RegulatorAdmin};

/// What SEC publishes as forms: documents to fill in, not pictures of them.
const FORM_KINDS: [FileKind; 3] = [FileKind::Pdf, FileKind::Doc, FileKind::Docx];
const FORM_ACCEPTED: &str = "Se acepta: PDF, DOC o DOCX de hasta 5 MB.";
const FORMS_PREFIX: &str = "official-forms";
/// The title and the file, and room for a browser's extra parts; more is not our form.
const MAX_PARTS: usize = 4;

/// The multipart form's title as typed, and its file: received, missing, or a problem to
/// show. A part cut short is a plain error page, like any broken form.
type Received = (String, Result<Option<(Upload, String)>, String>);

fn multipart_error(error: axum::extract::multipart::MultipartError) -> AppError {
    if error.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        AppError::TooLarge
    } else {
        AppError::BadRequest("El formulario llegó incompleto o dañado. Intente nuevamente.")
    }
}

async fn receive(state: &AppState, mut multipart: Multipart) -> AppResult<Received> {
    let (mut title, mut file, mut parts) = (String::new(), Ok(None), 0);
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        parts += 1;
        if parts > MAX_PARTS {
            return Err(AppError::BadRequest(
                "El formulario tiene demasiadas partes.",
            ));
        }
        match field.name() {
            Some("title") => title = field.text().await.map_err(multipart_error)?,
            Some("file") => {
                let original = field.file_name().unwrap_or_default().to_string();
                file = match state.files.receive(field, DEFAULT_MAX_BYTES).await {
                    Ok(upload) if upload.size == 0 && original.is_empty() => Ok(None),
                    Ok(upload) => Ok(Some((upload, original))),
                    Err(e @ UploadError::TooLarge { .. }) => Err(format!("{e} {FORM_ACCEPTED}")),
                    // Not the file's fault: no list of what is accepted.
                    Err(e @ UploadError::DiskFull) => Err(e.to_string()),
                    Err(UploadError::Interrupted) => {
                        return Err(AppError::BadRequest("La carga del archivo se interrumpió."));
                    }
                    Err(UploadError::Io(e)) => return Err(anyhow::Error::new(e).into()),
                };
            }
            _ => {}
        }
    }
    Ok((title, file))
}

/// Checks the title and the file's content; the form's row as it will be, or the errors.
async fn check_form(
    state: &AppState,
    (title, file): Received,
) -> AppResult<Result<(Upload, OfficialForm), (String, FieldErrors)>> {
    let mut errors = FieldErrors::default();
    let checked_title = single_line(&title, 120)
        .map_err(|e| errors.add("form_title", e))
        .ok();
    let mut checked = None;
    match file {
        Ok(None) => errors.add("form_file", "Seleccione el archivo del formulario."),
        Err(problem) => errors.add("form_file", problem),
        Ok(Some((upload, original))) => {
            let bytes = state
                .files
                .read_for_inspection(&upload)
                .await
                .map_err(anyhow::Error::from)?;
            match check_upload(upload.size, &bytes, &FORM_KINDS, DEFAULT_MAX_BYTES) {
                Ok(kind) => checked = Some((upload, original, kind)),
                Err(e) => errors.add("form_file", format!("{e} {FORM_ACCEPTED}")),
            }
        }
    }
    let (Some(title), Some((upload, original, kind))) = (checked_title, checked) else {
        return Ok(Err((title, errors)));
    };
    let id = crate::store::new_id();
    let form = OfficialForm {
        storage_key: format!("{FORMS_PREFIX}/{id}"),
        id,
        title,
        file_name: safe_display_name(&original),
        file_kind: kind.label().to_string(),
        size_bytes: i64::try_from(upload.size).unwrap_or(i64::MAX),
    };
    Ok(Ok((upload, form)))
}

/// "Publicar": the file is stored first, then its row; the file goes if the row does not.
pub async fn upload(
    State(state): State<AppState>,
    RegulatorAdmin(user): RegulatorAdmin,
    page: Page,
    multipart: Multipart,
) -> AppResult<Response> {
    let received = receive(&state, multipart).await?;
    let (upload, form) = match check_form(&state, received).await? {
        Ok(checked) => checked,
        Err((upload_title, upload_errors)) => {
            let shown = Shown {
                upload_title,
                upload_errors,
                ..Shown::default()
            };
            return render(&state, page, shown).await;
        }
    };
    if let Err(problem) = store(&state, upload, &form).await? {
        let mut upload_errors = FieldErrors::default();
        upload_errors.add("form_file", problem);
        let upload_title = form.title;
        let shown = Shown {
            upload_title,
            upload_errors,
            ..Shown::default()
        };
        return render(&state, page, shown).await;
    }
    if let Err(error) = record_form(&state, &user, &form).await {
        delete_file(&state, &form.storage_key).await;
        return Err(error);
    }
    Ok(done("formulario_agregado"))
}

/// Keeps the file under its key; a full disk is the user's to read, anything else an error.
async fn store(
    state: &AppState,
    upload: Upload,
    form: &OfficialForm,
) -> AppResult<Result<(), UploadError>> {
    match state.files.store(upload, &form.storage_key).await {
        Ok(()) => Ok(Ok(())),
        Err(UploadError::DiskFull) => Ok(Err(UploadError::DiskFull)),
        Err(e) => Err(anyhow::Error::new(e)
            .context("storing an official form")
            .into()),
    }
}

async fn record_form(state: &AppState, user: &User, form: &OfficialForm) -> AppResult<()> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    links::insert_official_form(&mut tx, form, now).await?;
    let entry = entry(user, "official_form_added", &form.id, &form.title);
    audit::record(&mut *tx, &entry, now).await?;
    tx.commit().await?;
    Ok(())
}

/// The file of a form whose row is gone (or never came). A file that cannot be deleted stays
/// without a row and harms no one; the log says which.
async fn delete_file(state: &AppState, key: &str) {
    if let Err(error) = state.files.delete(key).await {
        tracing::warn!(error = %error, storage.key = %key, "could not delete an official form");
    }
}

pub async fn remove(
    State(state): State<AppState>,
    RegulatorAdmin(user): RegulatorAdmin,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    if let Some(form) = links::delete_official_form(&mut tx, &id).await? {
        let entry = entry(&user, "official_form_removed", &id, &form.title);
        audit::record(&mut *tx, &entry, now).await?;
        tx.commit().await?;
        delete_file(&state, &form.storage_key).await;
    }
    Ok(done("formulario_eliminado"))
}
