//! The applicant's side of a payment: choose a method, see the company's bank data, upload the
//! voucher, the scanned receipt or the Poder simple. The request then waits for validation,
//! which the company owes within 2 business days.

use askama::Template;
use axum::extract::{Multipart, Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::payment::{format_clp, recompute_due};
use super::{allowed, discard, load, notify_applicant, read_form, request_values, store_file};
use crate::domain::calendar::BusinessCalendar;
use crate::domain::request::Status;
use crate::domain::workflow::{Action, Context};
use crate::mail::templates;
use crate::store::companies::{self, CompanySettings};
use crate::store::outbox;
use crate::store::requests::{self, NewEvent, RequestDetail};
use crate::store::transitions::{self, Payment, PaymentMethod};
use crate::web::AppState;
use crate::web::error::{AppError, AppResult};
use crate::web::forms::FieldErrors;
use crate::web::page::{ApplicantUser, Page};

#[derive(Template)]
#[template(path = "payment_pay.html")]
struct PayPage {
    page: Page,
    request: RequestDetail,
    payment: Payment,
    amount: String,
    settings: CompanySettings,
    chosen: String,
    errors: FieldErrors,
    token: String,
}

async fn render(
    state: &AppState,
    page: Page,
    request: RequestDetail,
    chosen: String,
    errors: FieldErrors,
) -> AppResult<Response> {
    let status = if errors.is_empty() { 200 } else { 422 };
    let payment = transitions::latest_payment(&state.db, &request.summary.id)
        .await?
        .ok_or(AppError::NotFound)?;
    let settings = companies::settings(&state.db, &request.summary.distributor_id).await?;
    let amount = format_clp(payment.amount_clp);
    let token = crate::crypto::random_token();
    let body = PayPage {
        page,
        request,
        payment,
        amount,
        settings,
        chosen,
        errors,
        token,
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
    ApplicantUser(user): ApplicantUser,
    page: Page,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let request = load(&state, &user, &id).await?;
    allowed(
        &request,
        Action::SendPaymentProof,
        &user,
        Context::default(),
    )?;
    render(&state, page, request, String::new(), FieldErrors::default()).await
}

pub async fn submit(
    State(state): State<AppState>,
    ApplicantUser(user): ApplicantUser,
    page: Page,
    Path(id): Path<String>,
    multipart: Multipart,
) -> AppResult<Response> {
    let request = load(&state, &user, &id).await?;
    let next = allowed(
        &request,
        Action::SendPaymentProof,
        &user,
        Context::default(),
    )?;
    let form = read_form(&state, multipart).await?;
    let payment = transitions::latest_payment(&state.db, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    let chosen = form.text("method").to_string();
    let mut errors = FieldErrors::default();
    let method = PaymentMethod::from_code(&chosen).filter(|m| payment.methods.contains(m));
    if method.is_none() {
        errors.add("method", "Elija una de las formas de pago aceptadas.");
    }
    match (&form.file, &form.file_error) {
        (_, Some(error)) => errors.add("file", error.clone()),
        (None, None) => errors.add("file", "Adjunte el comprobante."),
        _ => {}
    }
    let Some(method) = method.filter(|_| errors.is_empty()) else {
        return render(&state, page, request, chosen, errors).await;
    };
    let stored = store_file(&state, form.file, "payment_proof").await?;
    let result = commit(&state, &user.id, &request, next, method, &stored).await;
    if result.as_ref().is_err_and(|e| !e.keeps_files()) {
        discard(&state, &stored).await;
    }
    result?;
    state.mail_wakeup.notify_one();
    Ok(Redirect::to(&format!("/solicitudes/{id}")).into_response())
}

async fn commit(
    state: &AppState,
    user_id: &str,
    request: &RequestDetail,
    next: Status,
    method: PaymentMethod,
    stored: &Option<super::StoredFile>,
) -> AppResult<()> {
    let now = state.now();
    let id = &request.summary.id;
    let mut tx = state.db.begin().await?;
    if !transitions::move_status(&mut tx, id, request.summary.status, next).await?
        || !transitions::payment_proof_sent(&mut tx, id, method, now).await?
    {
        return Err(AppError::Refused(
            "El comprobante ya fue enviado.".to_string(),
        ));
    }
    let pauses = transitions::end_pause(&mut tx, id, now).await?;
    let due = recompute_due(&mut tx, request, &pauses).await?;
    let calendar = BusinessCalendar::new(requests::holidays(&mut *tx).await?);
    transitions::set_due_dates(&mut tx, id, due, Some(calendar.due_date(now, 2))).await?;
    let comment = format!("Forma de pago: {}", method.label());
    let event = NewEvent {
        request_id: id,
        action: "send_payment",
        actor_id: Some(user_id),
        from_status: Some(request.summary.status),
        to_status: next,
        comment: Some(&comment),
    };
    let event_id = requests::insert_event(&mut tx, &event, now).await?;
    if let Some(stored) = stored {
        requests::insert_attachment(&mut tx, id, Some(&event_id), &stored.attachment, now).await?;
    }
    notify_applicant(
        state,
        &mut tx,
        request,
        Action::SendPaymentProof,
        next,
        &comment,
    )
    .await?;
    notify_company(state, &mut tx, request).await?;
    tx.commit().await.map_err(AppError::commit_uncertain)?;
    Ok(())
}

async fn notify_company(
    state: &AppState,
    tx: &mut sqlx::AnyConnection,
    request: &RequestDetail,
) -> AppResult<()> {
    let template = templates::load(&mut *tx, templates::PAYMENT_PROOF_KEY).await?;
    let values = request_values(
        state,
        request,
        Action::SendPaymentProof,
        Status::PendingValidation,
        "",
    );
    for to in requests::distributor_user_emails(&mut *tx, &request.summary.distributor_id).await? {
        outbox::enqueue(
            &mut *tx,
            &template.render(&to, &values),
            &state.message_domain(),
            state.now(),
        )
        .await?;
    }
    Ok(())
}
