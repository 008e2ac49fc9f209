//! "Anular envío": a SEC administrador annuls a request with a mandatory comment. Anulado is
//! final: the workflow refuses every later move. The status, the history entry, the audit
//! entry and the e-mails (applicant, additional address, the company's active users) are
//! written in one transaction; the e-mails leave only after it commits.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::clock::format_date_time;
use crate::domain::request::Status;
use crate::domain::workflow::{Action, Context};
use crate::mail::templates;
use crate::store::audit::{self, AuditEntry};
use crate::store::requests::{self, NewEvent, RequestDetail};
use crate::store::users::User;
use crate::store::{outbox, transitions};
use crate::web::AppState;
use crate::web::error::{AppError, AppResult};
use crate::web::page::{Page, RegulatorAdmin};
use crate::web::workflow::{allowed, load, notify_applicant, request_values};

/// The manual's limit for the comment.
pub const MAX_COMMENT: usize = 1_000;

#[derive(Template)]
#[template(path = "annul_form.html")]
struct AnnulPage {
    page: Page,
    request: RequestDetail,
    submitted: String,
    comment: String,
    error: Option<String>,
    max_comment: usize,
}

fn render(
    page: Page,
    request: RequestDetail,
    comment: String,
    error: Option<String>,
) -> AppResult<Response> {
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let body = AnnulPage {
        page,
        submitted: format_date_time(request.summary.submitted_at),
        request,
        comment,
        error,
        max_comment: MAX_COMMENT,
    }
    .render()?;
    Ok((status, Html(body)).into_response())
}

pub async fn show(
    State(state): State<AppState>,
    RegulatorAdmin(user): RegulatorAdmin,
    page: Page,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let request = load(&state, &user, &id).await?;
    allowed(&request, Action::Annul, &user, Context::default())?;
    render(page, request, String::new(), None)
}

#[derive(Deserialize)]
pub struct AnnulForm {
    #[serde(default)]
    comment: String,
}

/// The comment's problem, in words for the field.
fn comment_error(comment: &str) -> Option<String> {
    let length = comment.chars().count();
    if comment.is_empty() {
        Some("Escriba el motivo de la anulación.".to_string())
    } else if length > MAX_COMMENT {
        Some(format!(
            "Use como máximo 1.000 caracteres (tiene {length})."
        ))
    } else {
        None
    }
}

pub async fn submit(
    State(state): State<AppState>,
    RegulatorAdmin(user): RegulatorAdmin,
    page: Page,
    Path(id): Path<String>,
    Form(form): Form<AnnulForm>,
) -> AppResult<Response> {
    let request = load(&state, &user, &id).await?;
    let next = allowed(&request, Action::Annul, &user, Context::default())?;
    // Browsers send CRLF line ends; the history keeps what the reader sees.
    let comment = form.comment.replace("\r\n", "\n").trim().to_string();
    if let Some(error) = comment_error(&comment) {
        return render(page, request, comment, Some(error));
    }
    commit(&state, &user, &request, next, &comment).await?;
    state.mail_wakeup.notify_one();
    tracing::info!(user.id = %user.id, request.id = %id, "request annulled");
    Ok(Redirect::to(&format!("/solicitudes/{id}")).into_response())
}

async fn commit(
    state: &AppState,
    user: &User,
    request: &RequestDetail,
    next: Status,
    comment: &str,
) -> AppResult<()> {
    let now = state.now();
    let id = &request.summary.id;
    let from = request.summary.status;
    let mut tx = state.db.begin().await?;
    if !transitions::move_status(&mut tx, id, from, next).await? {
        return Err(AppError::Refused(
            "La solicitud cambió de estado mientras la anulaba. Revísela e intente nuevamente."
                .to_string(),
        ));
    }
    let event = NewEvent {
        request_id: id,
        action: Action::Annul.code(),
        actor_id: Some(&user.id),
        from_status: Some(from),
        to_status: next,
        comment: Some(comment),
    };
    requests::insert_event(&mut tx, &event, now).await?;
    record(&mut tx, user, request, now).await?;
    notify_applicant(state, &mut tx, request, Action::Annul, next, comment).await?;
    notify_company(state, &mut tx, request, next, comment).await?;
    tx.commit().await?;
    Ok(())
}

/// The audit trail names the folio; the comment stays in the request's history.
async fn record(
    tx: &mut sqlx::AnyConnection,
    user: &User,
    request: &RequestDetail,
    now: jiff::Timestamp,
) -> AppResult<()> {
    let summary = &request.summary;
    let detail = format!(
        "{}; estado anterior: {}",
        summary.kind.label(),
        summary.status.label()
    );
    let entry = AuditEntry {
        actor_id: Some(&user.id),
        event: "request_annulled",
        target: Some(&summary.folio),
        detail: Some(&detail),
    };
    audit::record(&mut *tx, &entry, now).await?;
    Ok(())
}

/// The company's active users learn that the request no longer expects anything from them.
async fn notify_company(
    state: &AppState,
    tx: &mut sqlx::AnyConnection,
    request: &RequestDetail,
    next: Status,
    comment: &str,
) -> AppResult<()> {
    let template = templates::load(&mut *tx, templates::REQUEST_ANNULLED_KEY).await?;
    let values = request_values(state, request, Action::Annul, next, comment);
    let distributor_id = &request.summary.distributor_id;
    for to in requests::distributor_user_emails(&mut *tx, distributor_id).await? {
        let email = template.render(&to, &values);
        outbox::enqueue(&mut *tx, &email, &state.message_domain(), state.now()).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_comment_is_required_and_bounded() {
        assert!(comment_error("").is_some());
        assert_eq!(comment_error(&"ñ".repeat(MAX_COMMENT)), None);
        let long = comment_error(&"a".repeat(MAX_COMMENT + 1)).unwrap();
        assert_eq!(long, "Use como máximo 1.000 caracteres (tiene 1001).");
    }
}
