//! The writes of a request's transitions. Each is meant to run inside the caller's transaction
//! together with the history entry and the queued e-mails; the status predicate in the UPDATE
//! makes a second, concurrent click of the same transition change nothing.

use jiff::Timestamp;
use jiff::civil::Date;
use sqlx::Row;

use super::new_id;
use super::stats::answer_figures;
use crate::clock::{from_micros, to_micros};
use crate::domain::calendar::BusinessCalendar;
use crate::domain::request::Status;

type Conn = sqlx::AnyConnection;

/// Moves the request from `from` to `to`; false when it was no longer in `from`.
pub async fn move_status(
    tx: &mut Conn,
    request_id: &str,
    from: Status,
    to: Status,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE requests SET status = $3, version = version + 1 WHERE id = $1 AND status = $2",
    )
    .bind(request_id)
    .bind(from.code())
    .bind(to.code())
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The company's answer time: its first answer or payment request, with the figures the
/// compliance page counts (see [`answer_figures`]). A later answer changes nothing.
pub async fn mark_answered(
    tx: &mut Conn,
    request_id: &str,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    let row = sqlx::query("SELECT submitted_at, answered_at FROM requests WHERE id = $1")
        .bind(request_id)
        .fetch_one(&mut *tx)
        .await?;
    if row.try_get::<Option<i64>, _>("answered_at")?.is_some() {
        return Ok(());
    }
    let submitted_at = from_micros(row.try_get("submitted_at")?);
    let pauses = pauses(tx, request_id, now).await?;
    let calendar = BusinessCalendar::new(super::requests::holidays(&mut *tx).await?);
    let (day, taken) = answer_figures(&calendar, submitted_at, now, &pauses);
    sqlx::query(
        "UPDATE requests SET answered_at = $2, answered_on = $3, business_days_taken = $4 \
         WHERE id = $1 AND answered_at IS NULL",
    )
    .bind(request_id)
    .bind(to_micros(now))
    .bind(day.to_string())
    .bind(taken)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Every pause of the request in the order they started; one still open ends at `open_until`.
pub async fn pauses(
    tx: &mut Conn,
    request_id: &str,
    open_until: Timestamp,
) -> Result<Vec<(Timestamp, Timestamp)>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT started_at, ended_at FROM request_pauses WHERE request_id = $1 \
         ORDER BY started_at, id",
    )
    .bind(request_id)
    .fetch_all(&mut *tx)
    .await?;
    rows.iter()
        .map(|row| {
            let ended: Option<i64> = row.try_get("ended_at")?;
            let started = from_micros(row.try_get("started_at")?);
            Ok((started, ended.map_or(open_until, from_micros)))
        })
        .collect()
}

pub async fn set_due_dates(
    tx: &mut Conn,
    request_id: &str,
    due_on: Option<Date>,
    validation_due_on: Option<Date>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE requests SET due_on = $2, validation_due_on = $3 WHERE id = $1")
        .bind(request_id)
        .bind(due_on.map(|d| d.to_string()))
        .bind(validation_due_on.map(|d| d.to_string()))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

pub async fn clear_validation_due(tx: &mut Conn, request_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE requests SET validation_due_on = NULL WHERE id = $1")
        .bind(request_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// The deadline clock stops: the request waits on the applicant.
pub async fn start_pause(
    tx: &mut Conn,
    request_id: &str,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO request_pauses (id, request_id, started_at) VALUES ($1, $2, $3)")
        .bind(new_id())
        .bind(request_id)
        .bind(to_micros(now))
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// The clock runs again; returns every pause of the request, all closed now.
pub async fn end_pause(
    tx: &mut Conn,
    request_id: &str,
    now: Timestamp,
) -> Result<Vec<(Timestamp, Timestamp)>, sqlx::Error> {
    sqlx::query(
        "UPDATE request_pauses SET ended_at = $2 WHERE request_id = $1 AND ended_at IS NULL",
    )
    .bind(request_id)
    .bind(to_micros(now))
    .execute(&mut *tx)
    .await?;
    pauses(tx, request_id, now).await
}

/// Releases the answers withheld until payment; returns how many.
pub async fn release_withheld(tx: &mut Conn, request_id: &str) -> Result<u64, sqlx::Error> {
    let done =
        sqlx::query("UPDATE attachments SET withheld = 0 WHERE request_id = $1 AND withheld = 1")
            .bind(request_id)
            .execute(&mut *tx)
            .await?;
    Ok(done.rows_affected())
}

pub async fn has_withheld(tx: &mut Conn, request_id: &str) -> Result<bool, sqlx::Error> {
    let row =
        sqlx::query("SELECT 1 AS found FROM attachments WHERE request_id = $1 AND withheld = 1")
            .bind(request_id)
            .fetch_optional(&mut *tx)
            .await?;
    Ok(row.is_some())
}

pub async fn set_withheld(tx: &mut Conn, event_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE attachments SET withheld = 1 WHERE event_id = $1")
        .bind(event_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

pub async fn set_reference(
    tx: &mut Conn,
    request_id: &str,
    reference: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE requests SET distributor_reference = $2 WHERE id = $1")
        .bind(request_id)
        .bind(reference)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// The accepted payment methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentMethod {
    Transfer,
    Voucher,
    BillDiscount,
}

impl PaymentMethod {
    pub const ALL: [PaymentMethod; 3] = [
        PaymentMethod::Transfer,
        PaymentMethod::Voucher,
        PaymentMethod::BillDiscount,
    ];

    pub fn code(self) -> &'static str {
        match self {
            PaymentMethod::Transfer => "transfer",
            PaymentMethod::Voucher => "voucher",
            PaymentMethod::BillDiscount => "bill_discount",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.code() == code)
    }

    pub fn label(self) -> &'static str {
        match self {
            PaymentMethod::Transfer => "Transferencia electrónica",
            PaymentMethod::Voucher => "Comprobante de pago",
            PaymentMethod::BillDiscount => "Descuento por boleta",
        }
    }

    /// What the applicant uploads for this method.
    pub fn proof_label(self) -> &'static str {
        match self {
            PaymentMethod::Transfer => "Cupón electrónico de la transferencia",
            PaymentMethod::Voucher => "Copia escaneada del comprobante de pago",
            PaymentMethod::BillDiscount => "Poder simple para el cargo en la boleta",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Payment {
    pub id: String,
    pub amount_clp: i64,
    pub concept: String,
    pub methods: Vec<PaymentMethod>,
    pub status: String,
    pub chosen_method: Option<PaymentMethod>,
    pub rejection_reason: Option<String>,
    pub requested_at: Timestamp,
}

pub struct NewPayment<'a> {
    pub request_id: &'a str,
    pub amount_clp: i64,
    pub concept: &'a str,
    pub methods: &'a [PaymentMethod],
    pub requested_by: &'a str,
}

pub async fn insert_payment(
    tx: &mut Conn,
    payment: &NewPayment<'_>,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    let methods: Vec<&str> = payment.methods.iter().map(|m| m.code()).collect();
    sqlx::query(
        "INSERT INTO payments (id, request_id, amount_clp, concept, methods, status, requested_by, requested_at) \
         VALUES ($1, $2, $3, $4, $5, 'requested', $6, $7)",
    )
    .bind(new_id())
    .bind(payment.request_id)
    .bind(payment.amount_clp)
    .bind(payment.concept)
    .bind(methods.join(","))
    .bind(payment.requested_by)
    .bind(to_micros(now))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The proof arrived: the open payment (requested or rejected before) now waits for validation.
pub async fn payment_proof_sent(
    tx: &mut Conn,
    request_id: &str,
    method: PaymentMethod,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE payments SET status = 'proof_sent', chosen_method = $2, proof_at = $3, rejection_reason = NULL \
         WHERE request_id = $1 AND status IN ('requested', 'rejected')",
    )
    .bind(request_id)
    .bind(method.code())
    .bind(to_micros(now))
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Validates or rejects the payment waiting for validation; false if none was waiting.
pub async fn decide_payment(
    tx: &mut Conn,
    request_id: &str,
    validated: bool,
    reason: Option<&str>,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE payments SET status = $2, rejection_reason = $3, decided_at = $4 WHERE request_id = $1 AND status = 'proof_sent'",
    )
    .bind(request_id)
    .bind(if validated { "validated" } else { "rejected" })
    .bind(reason)
    .bind(to_micros(now))
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The request's latest payment, if any.
pub async fn latest_payment(
    db: &super::Db,
    request_id: &str,
) -> Result<Option<Payment>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, amount_clp, concept, methods, status, chosen_method, rejection_reason, requested_at \
         FROM payments WHERE request_id = $1 ORDER BY requested_at DESC, id DESC LIMIT 1",
    )
    .bind(request_id)
    .fetch_optional(db.pool())
    .await?;
    let Some(row) = row else { return Ok(None) };
    let methods: String = row.try_get("methods")?;
    let chosen: Option<String> = row.try_get("chosen_method")?;
    Ok(Some(Payment {
        id: row.try_get("id")?,
        amount_clp: row.try_get("amount_clp")?,
        concept: row.try_get("concept")?,
        methods: methods
            .split(',')
            .filter_map(PaymentMethod::from_code)
            .collect(),
        status: row.try_get("status")?,
        chosen_method: chosen.as_deref().and_then(PaymentMethod::from_code),
        rejection_reason: row.try_get("rejection_reason")?,
        requested_at: from_micros(row.try_get("requested_at")?),
    }))
}
