//! "Grabar": receives the multipart form, checks every field and file, stores the files, and
//! commits the request, its attachments, its first history entry and its e-mails in one
//! transaction. All or nothing: any problem sends the form back with messages and changes
//! nothing; files stored for a transaction that did not commit are deleted (or, after a crash,
//! collected later as files without a row).

use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{Multipart, Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};

use super::form::{FormValues, render, slot_hint};
use crate::clock::format_date_time;
use crate::domain::Email;
use crate::domain::calendar::BusinessCalendar;
use crate::domain::request::{
    AttachmentSlot, RequestKind, SlotSpec, Status, check_attachments, slot_spec,
};
use crate::domain::text::single_line;
use crate::files::inspect::safe_display_name;
use crate::files::store::{Upload, UploadError};
use crate::mail::templates::{self, NEW_REQUEST_KEY, receipt_key};
use crate::store::reference::{self, Distributor};
use crate::store::requests::{self, NewAttachment, NewEvent, NewRequest};
use crate::store::users::User;
use crate::store::{Db, outbox};
use crate::web::AppState;
use crate::web::error::{AppError, AppResult};
use crate::web::forms::FieldErrors;
use crate::web::page::{ApplicantUser, Page};
use crate::web::session::{Flash, flash_cookie};

/// More parts than any form has fields: a body with hundreds of parts is refused early.
const MAX_PARTS: usize = 40;
/// The longest text field value read; longer ones are refused, not truncated.
const MAX_TEXT: usize = 2_000;

/// A file that passed its slot's checks, waiting in the scratch directory.
struct CheckedUpload {
    slot: AttachmentSlot,
    upload: Upload,
    file_name: String,
    file_kind: &'static str,
}

/// A file as received, before its content is checked.
struct Received {
    spec: SlotSpec,
    upload: Upload,
    file_name: String,
}

/// The "Datos Generales" once checked.
struct Checked {
    distributor: Distributor,
    region_code: String,
    comuna_code: String,
    client_number: Option<String>,
    feasibility_number: Option<String>,
    additional_email: Option<Email>,
    related_request_id: Option<String>,
    brings_meter: bool,
}

pub async fn submit(
    State(state): State<AppState>,
    ApplicantUser(user): ApplicantUser,
    page: Page,
    Path(kind): Path<String>,
    multipart: Multipart,
) -> AppResult<Response> {
    let kind = super::kind_from_path(&kind)?;
    let mut errors = FieldErrors::default();
    let (values, received) = receive(&state, kind, multipart, &mut errors).await?;
    if values.token.is_empty() {
        return Err(AppError::BadRequest(
            "Falta el código de un solo uso del formulario. Recargue la página.",
        ));
    }
    let checked = check_fields(&state, &user, kind, &values, &mut errors).await?;
    let brings_meter = kind == RequestKind::ConnectionNotice && values.brings_meter;
    let uploads = check_files(&state, kind, brings_meter, received, &mut errors).await?;
    let Some(checked) = checked.filter(|_| errors.is_empty()) else {
        return render(&state, page, &user.id, kind, values, errors).await;
    };
    match persist(&state, &user, kind, &checked, uploads, &values.token).await? {
        Outcome::Created { id } => {
            state.mail_wakeup.notify_one();
            let mut response = Redirect::to(&format!("/solicitudes/{id}")).into_response();
            response.headers_mut().append(
                header::SET_COOKIE,
                flash_cookie(&state.settings, Flash::RequestSubmitted),
            );
            Ok(response)
        }
        // A second click on the same form: show what the first one created.
        Outcome::AlreadySubmitted { id: Some(id) } => {
            Ok(Redirect::to(&format!("/solicitudes/{id}")).into_response())
        }
        Outcome::AlreadySubmitted { id: None } => Ok(Redirect::to("/solicitudes").into_response()),
        Outcome::StorageFull(message) => {
            errors.add("files", message);
            render(&state, page, &user.id, kind, values, errors).await
        }
    }
}

fn multipart_error(error: MultipartError) -> AppError {
    if error.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        AppError::TooLarge
    } else {
        AppError::BadRequest("El formulario llegó incompleto o dañado. Intente nuevamente.")
    }
}

/// Reads every part: text fields into the values, files into the scratch directory with their
/// slot's size limit enforced while they stream.
async fn receive(
    state: &AppState,
    kind: RequestKind,
    mut multipart: Multipart,
    errors: &mut FieldErrors,
) -> AppResult<(FormValues, Vec<Received>)> {
    let mut values = FormValues::default();
    let mut received: Vec<Received> = Vec::new();
    let mut parts = 0;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        parts += 1;
        if parts > MAX_PARTS {
            return Err(AppError::BadRequest(
                "El formulario tiene demasiadas partes.",
            ));
        }
        let name = field.name().unwrap_or_default().to_string();
        let Some(slot) = AttachmentSlot::from_code(&name) else {
            let value = read_text(field).await?;
            assign(&mut values, &name, value);
            continue;
        };
        // A slot this form does not have, or a second file for the same slot, is ignored.
        let Some(spec) =
            slot_spec(kind, true, slot).filter(|_| !received.iter().any(|r| r.spec.slot() == slot))
        else {
            continue;
        };
        let original = field.file_name().unwrap_or_default().to_string();
        match state.files.receive(field, spec.max_bytes()).await {
            Ok(upload) if upload.size == 0 && original.is_empty() => {}
            Ok(upload) if upload.size == 0 => errors.add(
                slot.code(),
                format!("El archivo está vacío. {}", accepted(&spec)),
            ),
            Ok(upload) => received.push(Received {
                spec,
                upload,
                file_name: safe_display_name(&original),
            }),
            Err(error @ UploadError::TooLarge { .. }) => {
                errors.add(slot.code(), format!("{error} {}", accepted(&spec)));
            }
            Err(error @ UploadError::DiskFull) => errors.add(slot.code(), error.to_string()),
            Err(UploadError::Interrupted) => {
                return Err(AppError::BadRequest(
                    "La carga de un archivo se interrumpió. Intente nuevamente.",
                ));
            }
            Err(UploadError::Io(error)) => {
                return Err(anyhow::Error::new(error)
                    .context("receiving an upload")
                    .into());
            }
        }
    }
    Ok((values, received))
}

fn accepted(spec: &SlotSpec) -> String {
    format!(
        "Se acepta: {}",
        slot_hint(spec).trim_start_matches("Archivo ")
    )
}

async fn read_text(mut field: Field<'_>) -> AppResult<String> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if bytes.len() + chunk.len() > MAX_TEXT {
            return Err(AppError::BadRequest(
                "Un campo del formulario es demasiado largo.",
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes)
        .map_err(|_| AppError::BadRequest("El formulario contiene texto no válido."))
}

fn assign(values: &mut FormValues, name: &str, value: String) {
    match name {
        "distributor_id" => values.distributor_id = value,
        "region" => values.region = value,
        "comuna" => values.comuna = value,
        "client_number" => values.client_number = value,
        "no_client_number" => values.no_client_number = !value.is_empty(),
        "feasibility_number" => values.feasibility_number = value,
        "additional_email" => values.additional_email = value,
        "related_folio" => values.related_folio = value,
        "brings_meter" => values.brings_meter = !value.is_empty(),
        "token" => values.token = value,
        // csrf and anything a crafted form adds (role, status, owner...) is not read.
        _ => {}
    }
}

async fn check_fields(
    state: &AppState,
    user: &User,
    kind: RequestKind,
    values: &FormValues,
    errors: &mut FieldErrors,
) -> AppResult<Option<Checked>> {
    let distributors = reference::active_distributors(&state.db).await?;
    let distributor = distributors
        .into_iter()
        .find(|d| d.id == values.distributor_id);
    if distributor.is_none() {
        errors.add("distributor_id", "Seleccione la empresa distribuidora.");
    }
    let (region_code, comuna_code) = check_place(&state.db, values, errors).await?;
    let uses_feasibility = values.no_client_number && kind.allows_feasibility_number();
    let number =
        |field: &'static str, value: &str, missing: &'static str, errors: &mut FieldErrors| {
            match single_line(value, 40) {
                Ok(number) => Some(number),
                Err(crate::domain::text::TextError::Empty) => {
                    errors.add(field, missing);
                    None
                }
                Err(error) => {
                    errors.add(field, error);
                    None
                }
            }
        };
    let (client_number, feasibility_number) = if uses_feasibility {
        (
            None,
            number(
                "feasibility_number",
                &values.feasibility_number,
                "Ingrese el Número de Factibilidad.",
                errors,
            ),
        )
    } else {
        (
            number(
                "client_number",
                &values.client_number,
                "Ingrese su número de cliente.",
                errors,
            ),
            None,
        )
    };
    let additional_email = match values.additional_email.trim() {
        "" => None,
        typed => Email::parse(typed)
            .map_err(|e| errors.add("additional_email", e))
            .ok(),
    };
    let related_request_id = match values.related_folio.trim() {
        "" => None,
        folio => {
            let found = requests::applicant_request_by_folio(&state.db, &user.id, folio).await?;
            if found.is_none() {
                errors.add(
                    "related_folio",
                    "No encontramos una solicitud suya con ese folio.",
                );
            }
            found
        }
    };
    let complete = client_number.is_some() || feasibility_number.is_some();
    Ok(match (distributor, region_code, comuna_code) {
        (Some(distributor), Some(region_code), Some(comuna_code)) if complete => Some(Checked {
            distributor,
            region_code,
            comuna_code,
            client_number,
            feasibility_number,
            additional_email,
            related_request_id,
            brings_meter: kind == RequestKind::ConnectionNotice && values.brings_meter,
        }),
        _ => None,
    })
}

/// Región, then a Comuna of that región.
async fn check_place(
    db: &Db,
    values: &FormValues,
    errors: &mut FieldErrors,
) -> AppResult<(Option<String>, Option<String>)> {
    let regions = reference::regions_with_comunas(db).await?;
    let Some(region) = regions.iter().find(|r| r.code == values.region) else {
        errors.add("region", "Seleccione su región.");
        if values.comuna.is_empty() {
            errors.add("comuna", "Seleccione su comuna.");
        }
        return Ok((None, None));
    };
    if !region.comunas.iter().any(|c| c.code == values.comuna) {
        let message = if values.comuna.is_empty() {
            "Seleccione su comuna."
        } else {
            "La comuna no pertenece a la región seleccionada."
        };
        errors.add("comuna", message);
        return Ok((Some(region.code.clone()), None));
    }
    Ok((Some(region.code.clone()), Some(values.comuna.clone())))
}

/// The cross-field rules of the slots, then each file's content against its slot.
async fn check_files(
    state: &AppState,
    kind: RequestKind,
    brings_meter: bool,
    received: Vec<Received>,
    errors: &mut FieldErrors,
) -> AppResult<Vec<CheckedUpload>> {
    // Files chosen for the meter slots before the box was unticked are not part of the form.
    let received: Vec<Received> = received
        .into_iter()
        .filter(|r| slot_spec(kind, brings_meter, r.spec.slot()).is_some())
        .collect();
    let present: Vec<AttachmentSlot> = received.iter().map(|r| r.spec.slot()).collect();
    let flagged: Vec<&'static str> = errors.all().iter().map(|(field, _)| *field).collect();
    if let Err(problems) = check_attachments(kind, brings_meter, &present) {
        for (slot, message) in problems {
            if !flagged.contains(&slot.code()) {
                errors.add(slot.code(), message);
            }
        }
    }
    let mut checked = Vec::with_capacity(received.len());
    for item in received {
        let bytes = state
            .files
            .read_for_inspection(&item.upload)
            .await
            .map_err(anyhow::Error::from)?;
        match item.spec.check(item.upload.size, &bytes) {
            Ok(file_kind) => checked.push(CheckedUpload {
                slot: item.spec.slot(),
                upload: item.upload,
                file_name: item.file_name,
                file_kind: file_kind.label(),
            }),
            Err(error) => errors.add(
                item.spec.slot().code(),
                format!("{error} {}", accepted(&item.spec)),
            ),
        }
    }
    Ok(checked)
}

enum Outcome {
    Created { id: String },
    AlreadySubmitted { id: Option<String> },
    StorageFull(String),
}

/// Stores the files, then commits the rows; on any failure deletes the files it stored.
async fn persist(
    state: &AppState,
    user: &User,
    kind: RequestKind,
    checked: &Checked,
    uploads: Vec<CheckedUpload>,
    token: &str,
) -> AppResult<Outcome> {
    let now = state.now();
    let month = now
        .to_zoned_datetime(crate::clock::chile())
        .strftime("%Y/%m")
        .to_string();
    let mut attachments = Vec::with_capacity(uploads.len());
    for item in uploads {
        let key = format!("attachments/{month}/{}", uuid::Uuid::now_v7());
        let (size, sha256) = (item.upload.size, item.upload.sha256.clone());
        match state.files.store(item.upload, &key).await {
            Ok(()) => {}
            Err(UploadError::DiskFull) => {
                delete_files(state, &attachments).await;
                return Ok(Outcome::StorageFull(UploadError::DiskFull.to_string()));
            }
            Err(error) => {
                delete_files(state, &attachments).await;
                return Err(anyhow::Error::new(error)
                    .context("storing an attachment")
                    .into());
            }
        }
        attachments.push(NewAttachment {
            slot: item.slot.code(),
            storage_key: key,
            file_name: item.file_name,
            file_kind: item.file_kind.to_string(),
            size_bytes: i64::try_from(size).unwrap_or(i64::MAX),
            sha256,
        });
    }
    let automatic = match copy_standard_answer(state, &checked.distributor.id, kind, &month).await {
        Ok(automatic) => automatic,
        Err(error) => {
            delete_files(state, &attachments).await;
            return Err(error);
        }
    };
    let outcome = commit(
        state,
        user,
        kind,
        checked,
        &attachments,
        automatic.as_ref(),
        token,
    )
    .await;
    // From here on the copied standard answer is one more file to delete if nothing committed.
    attachments.extend(automatic);
    match outcome {
        Ok(Outcome::Created { id }) => Ok(Outcome::Created { id }),
        Ok(other) => {
            delete_files(state, &attachments).await;
            Ok(other)
        }
        Err(error) => {
            if !error.keeps_files() {
                delete_files(state, &attachments).await;
            }
            Err(error)
        }
    }
}

async fn delete_files(state: &AppState, attachments: &[NewAttachment]) {
    for attachment in attachments {
        if let Err(error) = state.files.delete(&attachment.storage_key).await {
            // Left for the orphan collector, which removes files without a row.
            tracing::warn!(error = %error, "could not delete the file of a submission that did not commit");
        }
    }
}

/// A copy of the company's standard answer for this kind, if it published one: the request is
/// then answered on submission ("Respondido Automático"). The file is copied so that the
/// request keeps its answer even if the company later replaces or removes its standard answer.
async fn copy_standard_answer(
    state: &AppState,
    distributor_id: &str,
    kind: RequestKind,
    month: &str,
) -> AppResult<Option<NewAttachment>> {
    let Some(answer) =
        crate::store::companies::standard_answer(&state.db, distributor_id, kind).await?
    else {
        return Ok(None);
    };
    let key = format!("attachments/{month}/{}", uuid::Uuid::now_v7());
    let from = object_store::path::Path::parse(&answer.storage_key).map_err(anyhow::Error::from)?;
    let to = object_store::path::Path::parse(&key).map_err(anyhow::Error::from)?;
    object_store::ObjectStoreExt::copy(state.storage.as_ref(), &from, &to)
        .await
        .map_err(anyhow::Error::from)?;
    Ok(Some(NewAttachment {
        slot: "answer",
        storage_key: key,
        file_name: answer.file_name,
        file_kind: answer.file_kind,
        size_bytes: answer.size_bytes,
        sha256: answer.sha256,
    }))
}

#[allow(clippy::too_many_arguments)]
async fn commit(
    state: &AppState,
    user: &User,
    kind: RequestKind,
    checked: &Checked,
    attachments: &[NewAttachment],
    automatic: Option<&NewAttachment>,
    token: &str,
) -> AppResult<Outcome> {
    let now = state.now();
    let calendar = BusinessCalendar::new(requests::holidays(state.db.pool()).await?);
    let due_on = requests::deadline_days(state.db.pool(), kind)
        .await?
        .map(|days| calendar.due_date(now, days));
    let status = match (automatic, kind) {
        (Some(_), _) => Status::AutoAnswered,
        (None, RequestKind::Conformity) => Status::Sent,
        (None, _) => Status::PendingAnswer,
    };
    let mut tx = state.db.begin().await?;
    let number = requests::next_folio_number(&mut tx).await?;
    let folio = format!("{}{number}", checked.distributor.folio_prefix);
    let new_request = NewRequest {
        kind,
        status,
        applicant_id: &user.id,
        distributor_id: &checked.distributor.id,
        region_code: &checked.region_code,
        comuna_code: &checked.comuna_code,
        client_number: checked.client_number.as_deref(),
        feasibility_number: checked.feasibility_number.as_deref(),
        additional_email: checked.additional_email.as_ref().map(Email::as_str),
        brings_meter: checked.brings_meter,
        related_request_id: checked.related_request_id.as_deref(),
        due_on,
    };
    let id = requests::insert(&mut tx, &new_request, &folio, number, now).await?;
    if !requests::claim_submission_token(&mut tx, token, &id, now).await? {
        tx.rollback().await?;
        let existing = requests::request_of_token(&state.db, token, &user.id).await?;
        return Ok(Outcome::AlreadySubmitted { id: existing });
    }
    let event = NewEvent {
        request_id: &id,
        action: "submit",
        actor_id: Some(&user.id),
        from_status: None,
        to_status: status,
        comment: None,
    };
    let event_id = requests::insert_event(&mut tx, &event, now).await?;
    for attachment in attachments {
        requests::insert_attachment(&mut tx, &id, Some(&event_id), attachment, now).await?;
    }
    if let Some(answer) = automatic {
        let comment = "Respuesta automática de la distribuidora.";
        let event = NewEvent {
            request_id: &id,
            action: "answer",
            actor_id: None,
            from_status: Some(status),
            to_status: status,
            comment: Some(comment),
        };
        let answer_event = requests::insert_event(&mut tx, &event, now).await?;
        requests::insert_attachment(&mut tx, &id, Some(&answer_event), answer, now).await?;
        crate::store::transitions::mark_answered(&mut tx, &id, now).await?;
    }
    queue_emails(state, &mut tx, user, kind, checked, &id, &folio, due_on).await?;
    state.faults.check(crate::faults::SUBMIT_BEFORE_COMMIT)?;
    crate::faults::crash_point(crate::faults::SUBMIT_BEFORE_COMMIT);
    tx.commit().await.map_err(AppError::commit_uncertain)?;
    crate::faults::crash_point(crate::faults::SUBMIT_AFTER_COMMIT);
    tracing::info!(request.id = %id, request.kind = kind.code(), "request submitted");
    Ok(Outcome::Created { id })
}

/// The receipt to the applicant (and the additional e-mail), and the notice to the company.
#[allow(clippy::too_many_arguments)]
async fn queue_emails(
    state: &AppState,
    tx: &mut sqlx::AnyConnection,
    user: &User,
    kind: RequestKind,
    checked: &Checked,
    id: &str,
    folio: &str,
    due_on: Option<jiff::civil::Date>,
) -> AppResult<()> {
    let now = state.now();
    let plazo = due_on
        .map(|d| d.strftime("%d/%m/%Y").to_string())
        .unwrap_or_else(|| "sin plazo".to_string());
    let values = [
        ("folio", folio.to_string()),
        ("formulario", kind.label().to_string()),
        ("solicitante", user.display_name()),
        ("distribuidora", checked.distributor.name.clone()),
        ("fecha", format_date_time(now)),
        ("plazo", plazo),
        ("enlace", state.settings.link(&format!("/solicitudes/{id}"))),
    ];
    let domain = state.message_domain();
    let receipt = templates::load(&mut *tx, &receipt_key(kind)).await?;
    let mut recipients = vec![user.email.clone()];
    recipients.extend(
        checked
            .additional_email
            .iter()
            .map(|e| e.to_string())
            .filter(|e| *e != user.email),
    );
    for to in recipients {
        outbox::enqueue(&mut *tx, &receipt.render(&to, &values), &domain, now).await?;
    }
    let notice = templates::load(&mut *tx, NEW_REQUEST_KEY).await?;
    for to in requests::distributor_user_emails(&mut *tx, &checked.distributor.id).await? {
        outbox::enqueue(&mut *tx, &notice.render(&to, &values), &domain, now).await?;
    }
    Ok(())
}
