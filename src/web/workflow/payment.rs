//! "Gestión de Pago", the company's side: ask for a payment (optionally with the answer, withheld
//! until the payment is validated), then validate the applicant's proof or reject it.

use askama::Template;
use axum::Form;
use axum::extract::{Multipart, Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{allowed, discard, load, notify_applicant, read_form, store_file};
use crate::domain::calendar::BusinessCalendar;
use crate::domain::request::Status;
use crate::domain::text::single_line;
use crate::domain::workflow::{Action, Context};
use crate::store::requests::{self, NewEvent, RequestDetail};
use crate::store::transitions::{self, NewPayment, Payment, PaymentMethod};
use crate::web::AppState;
use crate::web::error::{AppError, AppResult};
use crate::web::forms::FieldErrors;
use crate::web::page::{DistributorUser, Page};

#[derive(Template)]
#[template(path = "payment_manage.html")]
struct PaymentPage {
    page: Page,
    request: RequestDetail,
    payment: Option<Payment>,
    can_request: bool,
    can_decide: bool,
    methods: [PaymentMethod; 3],
    values: PaymentValues,
    errors: FieldErrors,
    token: String,
}

#[derive(Default)]
struct PaymentValues {
    amount: String,
    concept: String,
    methods: Vec<String>,
}

impl PaymentPage {
    fn method_checked(&self, method: &PaymentMethod) -> bool {
        self.values.methods.iter().any(|m| m == method.code())
    }
}

async fn render(
    state: &AppState,
    page: Page,
    request: RequestDetail,
    values: PaymentValues,
    errors: FieldErrors,
) -> AppResult<Response> {
    let status = if errors.is_empty() { 200 } else { 422 };
    let payment = transitions::latest_payment(&state.db, &request.summary.id).await?;
    let current = request.summary.status;
    let body = PaymentPage {
        page,
        can_request: matches!(current, Status::PendingAnswer | Status::Sent),
        can_decide: current == Status::PendingValidation,
        request,
        payment,
        methods: PaymentMethod::ALL,
        values,
        errors,
        token: crate::crypto::random_token(),
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
    render(
        &state,
        page,
        request,
        PaymentValues::default(),
        FieldErrors::default(),
    )
    .await
}

/// The amount in whole pesos: digits, optionally with thousands dots or a "$".
fn parse_amount(typed: &str) -> Option<i64> {
    let digits: String = typed
        .trim()
        .trim_start_matches('$')
        .chars()
        .filter(|c| *c != '.' && *c != ' ')
        .collect();
    digits
        .parse::<i64>()
        .ok()
        .filter(|amount| *amount > 0 && *amount <= 1_000_000_000)
}

pub async fn request_payment(
    State(state): State<AppState>,
    DistributorUser(user): DistributorUser,
    page: Page,
    Path(id): Path<String>,
    multipart: Multipart,
) -> AppResult<Response> {
    let request = load(&state, &user, &id).await?;
    let next = allowed(&request, Action::RequestPayment, &user, Context::default())?;
    let form = read_form(&state, multipart).await?;
    let values = PaymentValues {
        amount: form.text("amount").to_string(),
        concept: form.text("concept").to_string(),
        methods: form
            .text("methods")
            .split(',')
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .collect(),
    };
    let mut errors = FieldErrors::default();
    let amount = parse_amount(&values.amount);
    if amount.is_none() {
        errors.add(
            "amount",
            "Ingrese el monto en pesos, un número entero mayor que cero.",
        );
    }
    let concept = single_line(&values.concept, 200)
        .map_err(|e| errors.add("concept", e))
        .ok();
    let methods: Vec<PaymentMethod> = values
        .methods
        .iter()
        .filter_map(|m| PaymentMethod::from_code(m))
        .collect();
    if methods.is_empty() {
        errors.add("methods", "Elija al menos una forma de pago.");
    }
    if let Some(error) = &form.file_error {
        errors.add("file", error.clone());
    }
    let token = form.text("token").to_string();
    let (Some(amount), Some(concept), true) = (amount, concept, errors.is_empty()) else {
        return render(&state, page, request, values, errors).await;
    };
    let stored = store_file(&state, form.file, "answer").await?;
    let payment = NewPayment {
        request_id: &id,
        amount_clp: amount,
        concept: &concept,
        methods: &methods,
        requested_by: &user.id,
    };
    let result = commit_request(&state, &request, next, &payment, &token, &stored).await;
    if !matches!(&result, Ok(true)) && !result.as_ref().is_err_and(AppError::keeps_files) {
        discard(&state, &stored).await;
    }
    result?;
    state.mail_wakeup.notify_one();
    Ok(Redirect::to(&format!("/solicitudes/{id}")).into_response())
}

async fn commit_request(
    state: &AppState,
    request: &RequestDetail,
    next: Status,
    payment: &NewPayment<'_>,
    token: &str,
    stored: &Option<super::StoredFile>,
) -> AppResult<bool> {
    let now = state.now();
    let id = &request.summary.id;
    let mut tx = state.db.begin().await?;
    if token.is_empty() || !requests::claim_submission_token(&mut tx, token, id, now).await? {
        return Ok(false);
    }
    if !transitions::move_status(&mut tx, id, request.summary.status, next).await? {
        return Err(AppError::Refused(
            "La solicitud cambió de estado. Revísela e intente nuevamente.".to_string(),
        ));
    }
    transitions::insert_payment(&mut tx, payment, now).await?;
    // A withheld answer counts as the company's answer from when it was uploaded.
    transitions::mark_answered(&mut tx, id, now).await?;
    transitions::start_pause(&mut tx, id, now).await?;
    let comment = format!(
        "Monto: ${} — {}",
        format_clp(payment.amount_clp),
        payment.concept
    );
    let event = NewEvent {
        request_id: id,
        action: "request_payment",
        actor_id: Some(payment.requested_by),
        from_status: Some(request.summary.status),
        to_status: next,
        comment: Some(&comment),
    };
    let event_id = requests::insert_event(&mut tx, &event, now).await?;
    if let Some(stored) = stored {
        requests::insert_attachment(&mut tx, id, Some(&event_id), &stored.attachment, now).await?;
        transitions::set_withheld(&mut tx, &event_id).await?;
    }
    notify_applicant(
        state,
        &mut tx,
        request,
        Action::RequestPayment,
        next,
        &comment,
    )
    .await?;
    tx.commit().await.map_err(AppError::commit_uncertain)?;
    Ok(true)
}

/// "12.345" for 12345.
pub fn format_clp(amount: i64) -> String {
    let digits = amount.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push('.');
        }
        out.push(digit);
    }
    out
}

#[derive(Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    reason: String,
}

pub async fn validate(
    State(state): State<AppState>,
    DistributorUser(user): DistributorUser,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let request = load(&state, &user, &id).await?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let withheld = transitions::has_withheld(&mut tx, &id).await?;
    let next = allowed(
        &request,
        Action::ValidatePayment,
        &user,
        Context {
            answer_withheld: withheld,
        },
    )?;
    // Both predicates must hold: a second click finds the payment already decided.
    if !transitions::move_status(&mut tx, &id, Status::PendingValidation, next).await?
        || !transitions::decide_payment(&mut tx, &id, true, None, now).await?
    {
        return Err(AppError::Refused(
            "El pago ya fue validado o rechazado.".to_string(),
        ));
    }
    transitions::release_withheld(&mut tx, &id).await?;
    transitions::clear_validation_due(&mut tx, &id).await?;
    let event = NewEvent {
        request_id: &id,
        action: "validate_payment",
        actor_id: Some(&user.id),
        from_status: Some(Status::PendingValidation),
        to_status: next,
        comment: None,
    };
    requests::insert_event(&mut tx, &event, now).await?;
    notify_applicant(&state, &mut tx, &request, Action::ValidatePayment, next, "").await?;
    tx.commit().await.map_err(AppError::commit_uncertain)?;
    state.mail_wakeup.notify_one();
    Ok(Redirect::to(&format!("/solicitudes/{id}")).into_response())
}

pub async fn reject(
    State(state): State<AppState>,
    DistributorUser(user): DistributorUser,
    Path(id): Path<String>,
    Form(form): Form<DecisionForm>,
) -> AppResult<Response> {
    let request = load(&state, &user, &id).await?;
    let next = allowed(&request, Action::RejectPayment, &user, Context::default())?;
    let reason = single_line(&form.reason, 300).map_err(|_| {
        AppError::Refused(
            "Indique el motivo del rechazo (hasta 300 caracteres, en una línea).".to_string(),
        )
    })?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    if !transitions::move_status(&mut tx, &id, Status::PendingValidation, next).await?
        || !transitions::decide_payment(&mut tx, &id, false, Some(&reason), now).await?
    {
        return Err(AppError::Refused(
            "El pago ya fue validado o rechazado.".to_string(),
        ));
    }
    transitions::clear_validation_due(&mut tx, &id).await?;
    // Waiting on the applicant again: the clock stops until a new proof arrives.
    transitions::start_pause(&mut tx, &id, now).await?;
    let event = NewEvent {
        request_id: &id,
        action: "reject_payment",
        actor_id: Some(&user.id),
        from_status: Some(Status::PendingValidation),
        to_status: next,
        comment: Some(&reason),
    };
    requests::insert_event(&mut tx, &event, now).await?;
    notify_applicant(
        &state,
        &mut tx,
        &request,
        Action::RejectPayment,
        next,
        &reason,
    )
    .await?;
    tx.commit().await.map_err(AppError::commit_uncertain)?;
    state.mail_wakeup.notify_one();
    Ok(Redirect::to(&format!("/solicitudes/{id}")).into_response())
}

/// The due date once the clock runs again: the deadline counted from receipt, skipping the
/// business days the request waited on the applicant.
pub async fn recompute_due(
    tx: &mut sqlx::AnyConnection,
    request: &RequestDetail,
    pauses: &[(jiff::Timestamp, jiff::Timestamp)],
) -> AppResult<Option<jiff::civil::Date>> {
    let Some(days) = requests::deadline_days(&mut *tx, request.summary.kind).await? else {
        return Ok(None);
    };
    let calendar = BusinessCalendar::new(requests::holidays(&mut *tx).await?);
    Ok(Some(calendar.due_date_with_pauses(
        request.summary.submitted_at,
        days,
        pauses,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_and_their_display() {
        assert_eq!(parse_amount("15000"), Some(15_000));
        assert_eq!(parse_amount("$ 15.000"), Some(15_000));
        for bad in ["", "0", "-5", "12,5", "abc", "99999999999"] {
            assert_eq!(parse_amount(bad), None, "{bad}");
        }
        assert_eq!(format_clp(1_234_567), "1.234.567");
        assert_eq!(format_clp(500), "500");
    }
}
