//! "Responder": the company answers with a file (required) and a comment. Several answers are
//! allowed; a second click on the same form does not make a second one.

use askama::Template;
use axum::extract::{Multipart, Path, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::{ActionForm, allowed, discard, load, notify_applicant, read_form, store_file};
use crate::clock::format_date_time;
use crate::domain::workflow::{Action, Context};
use crate::store::requests::{self, NewEvent, RequestDetail};
use crate::store::transitions;
use crate::web::AppState;
use crate::web::error::{AppError, AppResult};
use crate::web::page::{DistributorUser, Page};

#[derive(Template)]
#[template(path = "answer_form.html")]
struct AnswerPage {
    page: Page,
    request: RequestDetail,
    submitted: String,
    token: String,
    comment: String,
    file_error: Option<String>,
}

fn render(
    page: Page,
    request: RequestDetail,
    token: String,
    comment: String,
    file_error: Option<String>,
) -> AppResult<Response> {
    let status = if file_error.is_some() { 422 } else { 200 };
    let submitted = format_date_time(request.summary.submitted_at);
    let body = AnswerPage {
        page,
        request,
        submitted,
        token,
        comment,
        file_error,
    }
    .render()?;
    Ok((
        axum::http::StatusCode::from_u16(status).expect("valid status"),
        Html(body),
    )
        .into_response())
}

pub async fn show(
    State(state): State<AppState>,
    DistributorUser(user): DistributorUser,
    page: Page,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let request = load(&state, &user, &id).await?;
    allowed(&request, Action::Answer, &user, Context::default())?;
    render(
        page,
        request,
        crate::crypto::random_token(),
        String::new(),
        None,
    )
}

pub async fn submit(
    State(state): State<AppState>,
    DistributorUser(user): DistributorUser,
    page: Page,
    Path(id): Path<String>,
    multipart: Multipart,
) -> AppResult<Response> {
    let request = load(&state, &user, &id).await?;
    let next = allowed(&request, Action::Answer, &user, Context::default())?;
    let form: ActionForm = read_form(&state, multipart).await?;
    let token = form.text("token").to_string();
    let comment = form.text("comment").trim().to_string();
    if token.is_empty() {
        return Err(AppError::BadRequest(
            "Falta el código de un solo uso del formulario. Recargue la página.",
        ));
    }
    let file_error = match (&form.file, &form.file_error) {
        (_, Some(error)) => Some(error.clone()),
        (None, None) => Some("Adjunte el archivo de la respuesta.".to_string()),
        _ => None,
    };
    if file_error.is_some() || comment.chars().count() > 2_000 {
        let error = file_error
            .unwrap_or_else(|| "El comentario no puede superar los 2.000 caracteres.".to_string());
        return render(page, request, token, comment, Some(error));
    }
    let stored = store_file(&state, form.file, "answer").await?;
    let result = commit(&state, &user.id, &request, next, &token, &comment, &stored).await;
    if !matches!(&result, Ok(true)) && !result.as_ref().is_err_and(AppError::keeps_files) {
        discard(&state, &stored).await;
    }
    result?;
    state.mail_wakeup.notify_one();
    let mut response = Redirect::to(&format!("/solicitudes/{id}")).into_response();
    response.headers_mut().append(
        header::CACHE_CONTROL,
        "no-store".parse().expect("valid header"),
    );
    Ok(response)
}

/// True when the answer was recorded; false when this form was already used (a second click).
async fn commit(
    state: &AppState,
    user_id: &str,
    request: &RequestDetail,
    next: crate::domain::request::Status,
    token: &str,
    comment: &str,
    stored: &Option<super::StoredFile>,
) -> AppResult<bool> {
    let now = state.now();
    let id = &request.summary.id;
    let mut tx = state.db.begin().await?;
    if !requests::claim_submission_token(&mut tx, token, id, now).await? {
        return Ok(false);
    }
    let from = request.summary.status;
    if !transitions::move_status(&mut tx, id, from, next).await? {
        return Err(AppError::Refused(
            "La solicitud cambió de estado mientras respondía. Revísela e intente nuevamente."
                .to_string(),
        ));
    }
    transitions::mark_answered(&mut tx, id, now).await?;
    let comment_value = (!comment.is_empty()).then_some(comment);
    let event = NewEvent {
        request_id: id,
        action: "answer",
        actor_id: Some(user_id),
        from_status: Some(from),
        to_status: next,
        comment: comment_value,
    };
    let event_id = requests::insert_event(&mut tx, &event, now).await?;
    if let Some(stored) = stored {
        requests::insert_attachment(&mut tx, id, Some(&event_id), &stored.attachment, now).await?;
    }
    notify_applicant(state, &mut tx, request, Action::Answer, next, comment).await?;
    crate::faults::crash_point(crate::faults::ANSWER_BEFORE_COMMIT);
    tx.commit().await.map_err(AppError::commit_uncertain)?;
    crate::faults::crash_point(crate::faults::ANSWER_AFTER_COMMIT);
    Ok(true)
}
