//! The transitions of a request after its submission: answers, payments, the N° Solicitud.
//! Each handler loads the request through the viewer predicate (404 when it is not the user's
//! to see), asks `domain::workflow::decide` whether the move is allowed, and writes the status,
//! the history entry, any file and the e-mails in one transaction.

pub mod answer;
pub mod pay;
pub mod payment;
pub mod reference;

use std::collections::HashMap;

use axum::extract::Multipart;
use axum::extract::multipart::MultipartError;

use crate::clock::format_date_time;
use crate::domain::Profile;
use crate::domain::request::Status;
use crate::domain::workflow::{Action, Context, Role, decide};
use crate::files::inspect::{FileKind, check_upload, safe_display_name};
use crate::files::store::{Upload, UploadError};
use crate::mail::templates;
use crate::store::outbox;
use crate::store::requests::{self, RequestDetail};
use crate::store::users::User;
use crate::web::AppState;
use crate::web::error::{AppError, AppResult};
use crate::web::requests::viewer_of;

pub const MAX_FILE: u64 = 5 * 1_048_576;
const ANY_DOCUMENT: [FileKind; 5] = FileKind::ALL;
const MAX_TEXT: usize = 4_000;

pub fn role_of(user: &User) -> Role {
    match user.profile {
        Profile::Applicant => Role::Applicant,
        Profile::Distributor => Role::Distributor,
        Profile::Regulator => Role::Regulator,
    }
}

/// The request, if the user may see it (else 404).
pub async fn load(state: &AppState, user: &User, id: &str) -> AppResult<RequestDetail> {
    requests::detail(&state.db, &viewer_of(user), id)
        .await?
        .ok_or(AppError::NotFound)
}

/// The next status, or the workflow's reason as a page. A SEC auditor, or a user of the right
/// profile acting on another's request, never gets here: the request would not have loaded.
pub fn allowed(
    detail: &RequestDetail,
    action: Action,
    user: &User,
    context: Context,
) -> AppResult<Status> {
    decide(detail.summary.status, action, role_of(user), context).map_err(|refusal| {
        tracing::info!(
            security.event = "transition_refused",
            action = action.code(),
            "transition refused"
        );
        AppError::Refused(refusal.to_string())
    })
}

/// The text fields and the one file ("file") of a multipart action form.
pub struct ActionForm {
    pub fields: HashMap<String, String>,
    pub file: Option<(Upload, String)>,
    /// The problem with the file, for its field.
    pub file_error: Option<String>,
}

impl ActionForm {
    pub fn text(&self, name: &str) -> &str {
        self.fields
            .get(name)
            .map(String::as_str)
            .unwrap_or_default()
    }
}

fn multipart_error(error: MultipartError) -> AppError {
    if error.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        AppError::TooLarge
    } else {
        AppError::BadRequest("El formulario llegó incompleto o dañado. Intente nuevamente.")
    }
}

/// Reads a multipart action form: text fields, and a file in the field "file" checked by
/// content (PDF, JPG, PNG, DOC, DOCX up to 5 MB) with the limit enforced while it streams.
/// Repeated text fields (checkboxes) are joined with commas.
pub async fn read_form(state: &AppState, mut multipart: Multipart) -> AppResult<ActionForm> {
    let mut form = ActionForm {
        fields: HashMap::new(),
        file: None,
        file_error: None,
    };
    let mut parts = 0;
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        parts += 1;
        if parts > 20 {
            return Err(AppError::BadRequest(
                "El formulario tiene demasiadas partes.",
            ));
        }
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" && form.file.is_none() {
            let original = field.file_name().unwrap_or_default().to_string();
            receive_file(state, field, original, &mut form).await?;
            continue;
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
            if bytes.len() + chunk.len() > MAX_TEXT {
                return Err(AppError::BadRequest(
                    "Un campo del formulario es demasiado largo.",
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        let value = String::from_utf8(bytes)
            .map_err(|_| AppError::BadRequest("El formulario contiene texto no válido."))?;
        form.fields
            .entry(name)
            .and_modify(|v| *v = format!("{v},{value}"))
            .or_insert(value);
    }
    Ok(form)
}

const ACCEPTED: &str = "Se acepta: PDF, JPG, PNG, DOC o DOCX de hasta 5 MB.";

async fn receive_file(
    state: &AppState,
    field: axum::extract::multipart::Field<'_>,
    original: String,
    form: &mut ActionForm,
) -> AppResult<()> {
    match state.files.receive(field, MAX_FILE).await {
        Ok(upload) if upload.size == 0 && original.is_empty() => {}
        Ok(upload) if upload.size == 0 => {
            form.file_error = Some(format!("El archivo está vacío. {ACCEPTED}"))
        }
        Ok(upload) => {
            let bytes = state
                .files
                .read_for_inspection(&upload)
                .await
                .map_err(anyhow::Error::from)?;
            match check_upload(upload.size, &bytes, &ANY_DOCUMENT, MAX_FILE) {
                Ok(kind) => {
                    form.file = Some((
                        upload,
                        format!("{}\u{0}{}", kind.label(), safe_display_name(&original)),
                    ))
                }
                Err(error) => form.file_error = Some(format!("{error} {ACCEPTED}")),
            }
        }
        Err(error @ UploadError::TooLarge { .. }) => {
            form.file_error = Some(format!("{error} {ACCEPTED}"))
        }
        Err(error @ UploadError::DiskFull) => form.file_error = Some(error.to_string()),
        Err(UploadError::Interrupted) => {
            return Err(AppError::BadRequest(
                "La carga del archivo se interrumpió. Intente nuevamente.",
            ));
        }
        Err(UploadError::Io(error)) => {
            return Err(anyhow::Error::new(error)
                .context("receiving an upload")
                .into());
        }
    }
    Ok(())
}

/// A checked file stored under a new key, ready for its attachment row.
pub struct StoredFile {
    pub attachment: requests::NewAttachment,
}

/// Stores the form's file (if any) for the given slot. The caller deletes it if its
/// transaction does not commit.
pub async fn store_file(
    state: &AppState,
    file: Option<(Upload, String)>,
    slot: &'static str,
) -> AppResult<Option<StoredFile>> {
    let Some((upload, kind_and_name)) = file else {
        return Ok(None);
    };
    let (kind, name) = kind_and_name
        .split_once('\u{0}')
        .unwrap_or(("PDF", "archivo"));
    let month = state
        .now()
        .to_zoned_datetime(crate::clock::chile())
        .strftime("%Y/%m")
        .to_string();
    let key = format!("attachments/{month}/{}", uuid::Uuid::now_v7());
    let (size, sha256) = (upload.size, upload.sha256.clone());
    match state.files.store(upload, &key).await {
        Ok(()) => {}
        Err(UploadError::DiskFull) => {
            return Err(AppError::StorageFull(format!("storing {key}: disk full")));
        }
        Err(error) => {
            return Err(anyhow::Error::new(error)
                .context("storing an attachment")
                .into());
        }
    }
    Ok(Some(StoredFile {
        attachment: requests::NewAttachment {
            slot,
            storage_key: key,
            file_name: name.to_string(),
            file_kind: kind.to_string(),
            size_bytes: i64::try_from(size).unwrap_or(i64::MAX),
            sha256,
        },
    }))
}

pub async fn discard(state: &AppState, stored: &Option<StoredFile>) {
    if let Some(stored) = stored {
        let _ = state.files.delete(&stored.attachment.storage_key).await;
    }
}

/// E-mails the applicant (and the additional address) that the request moved.
pub async fn notify_applicant(
    state: &AppState,
    tx: &mut sqlx::AnyConnection,
    detail: &RequestDetail,
    action: Action,
    status: Status,
    comment: &str,
) -> AppResult<()> {
    let template = templates::load(&mut *tx, templates::STATUS_CHANGED_KEY).await?;
    let values = request_values(state, detail, action, status, comment);
    let mut recipients = vec![detail.applicant_email.clone()];
    recipients.extend(
        detail
            .additional_email
            .iter()
            .filter(|e| **e != detail.applicant_email)
            .cloned(),
    );
    let domain = state.message_domain();
    for to in recipients {
        outbox::enqueue(
            &mut *tx,
            &template.render(&to, &values),
            &domain,
            state.now(),
        )
        .await?;
    }
    Ok(())
}

pub fn request_values(
    state: &AppState,
    detail: &RequestDetail,
    action: Action,
    status: Status,
    comment: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("folio", detail.summary.folio.clone()),
        ("formulario", detail.summary.kind.label().to_string()),
        ("solicitante", detail.applicant_name.clone()),
        ("distribuidora", detail.summary.distributor_name.clone()),
        ("fecha", format_date_time(state.now())),
        ("accion", action.label().to_string()),
        ("estado", status.label().to_string()),
        ("comentario", comment.to_string()),
        (
            "enlace",
            state
                .settings
                .link(&format!("/solicitudes/{}", detail.summary.id)),
        ),
    ]
}
