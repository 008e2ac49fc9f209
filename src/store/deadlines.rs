//! The reference data that due dates derive from, as SEC edits it: the holidays and the deadline
//! table. Every change runs in one transaction with [`recompute_open`], so the due dates of open
//! requests never disagree with the tables that produced them; closed requests keep theirs,
//! because they are the record the audit of their answer rests on.

use std::collections::HashMap;

use jiff::Timestamp;
use jiff::civil::Date;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::clock::from_micros;
use crate::domain::calendar::BusinessCalendar;
use crate::domain::request::{RequestKind, Status};

type Conn = sqlx::AnyConnection;

/// Requests whose due date still follows the tables. The others (Respondido, Respondido
/// Automático, Anulado) are closed and keep the due date they were judged by.
pub const OPEN_STATUSES: [Status; 6] = [
    Status::Sent,
    Status::PendingAnswer,
    Status::PendingPayment,
    Status::PendingValidation,
    Status::PaymentRejected,
    Status::PendingAnswerPaymentValidated,
];

/// The validation of a proof of payment has its own fixed deadline (DOMAIN.md), not in the
/// table; it moves with the holidays like any other.
pub const VALIDATION_DAYS: u32 = 2;

/// Requests read and rewritten at a time, so that a large backlog never sits in memory and the
/// `IN (…)` lists stay far below SQLite's and PostgreSQL's limits on bind parameters.
const BATCH: usize = 200;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holiday {
    pub day: Date,
    pub name: String,
}

/// The holidays of one year, in date order.
pub async fn holidays_of_year(db: &super::Db, year: i16) -> Result<Vec<Holiday>, sqlx::Error> {
    let rows = sqlx::query("SELECT day, name FROM holidays WHERE day >= $1 AND day <= $2")
        .bind(format!("{year:04}-01-01"))
        .bind(format!("{year:04}-12-31"))
        .fetch_all(db.pool())
        .await?;
    let mut holidays: Vec<Holiday> = rows
        .iter()
        .filter_map(|row| {
            let day: String = row.try_get("day").ok()?;
            Some(Holiday {
                day: day.parse().ok()?,
                name: row.try_get("name").ok()?,
            })
        })
        .collect();
    holidays.sort_by_key(|h| h.day);
    Ok(holidays)
}

/// The years that have at least one holiday, for the year selector.
pub async fn holiday_years(db: &super::Db) -> Result<Vec<i16>, sqlx::Error> {
    let rows = sqlx::query("SELECT DISTINCT SUBSTR(day, 1, 4) AS year FROM holidays")
        .fetch_all(db.pool())
        .await?;
    let mut years: Vec<i16> = rows
        .iter()
        .filter_map(|row| row.try_get::<String, _>("year").ok()?.parse().ok())
        .collect();
    years.sort_unstable();
    Ok(years)
}

/// The name of the holiday on a day, if there is one.
pub async fn holiday_on(tx: &mut Conn, day: Date) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query("SELECT name FROM holidays WHERE day = $1")
        .bind(day.to_string())
        .fetch_optional(&mut *tx)
        .await?;
    row.map(|r| r.try_get("name")).transpose()
}

/// Adds a holiday; false when the day already is one (a concurrent add included).
pub async fn add_holiday(tx: &mut Conn, day: Date, name: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO holidays (day, name) VALUES ($1, $2) ON CONFLICT (day) DO NOTHING",
    )
    .bind(day.to_string())
    .bind(name)
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Removes a holiday; its name, or None when the day was not one.
pub async fn remove_holiday(tx: &mut Conn, day: Date) -> Result<Option<String>, sqlx::Error> {
    let name = holiday_on(tx, day).await?;
    if name.is_some() {
        sqlx::query("DELETE FROM holidays WHERE day = $1")
            .bind(day.to_string())
            .execute(&mut *tx)
            .await?;
    }
    Ok(name)
}

/// The deadline table, one entry per kind in the legal order; `None` is "sin plazo".
pub async fn deadline_table<'e, E>(
    executor: E,
) -> Result<Vec<(RequestKind, Option<u32>)>, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = super::Any>,
{
    let rows = sqlx::query("SELECT kind, business_days FROM request_deadlines")
        .fetch_all(executor)
        .await?;
    let mut stored: HashMap<String, Option<i64>> = HashMap::new();
    for row in &rows {
        stored.insert(row.try_get("kind")?, row.try_get("business_days")?);
    }
    Ok(RequestKind::ALL
        .into_iter()
        .map(|kind| {
            let days = match stored.get(kind.code()) {
                Some(days) => *days,
                None => kind.default_deadline_days().map(i64::from),
            };
            (kind, days.and_then(|d| u32::try_from(d).ok()))
        })
        .collect())
}

/// Sets the deadline of a kind (an upsert: the row may be missing in an old database).
pub async fn set_deadline(
    tx: &mut Conn,
    kind: RequestKind,
    days: Option<u32>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO request_deadlines (kind, business_days) VALUES ($1, $2) \
         ON CONFLICT (kind) DO UPDATE SET business_days = excluded.business_days",
    )
    .bind(kind.code())
    .bind(days.map(i64::from))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// One open request, as much as its due dates need.
struct OpenRequest {
    id: String,
    kind: RequestKind,
    status: Status,
    submitted_at: Timestamp,
    due_on: Option<String>,
    validation_due_on: Option<String>,
}

fn open_from_row(row: &AnyRow) -> Result<Option<OpenRequest>, sqlx::Error> {
    let kind: String = row.try_get("kind")?;
    let status: String = row.try_get("status")?;
    let (Some(kind), Some(status)) = (RequestKind::from_code(&kind), Status::from_code(&status))
    else {
        return Ok(None);
    };
    Ok(Some(OpenRequest {
        id: row.try_get("id")?,
        kind,
        status,
        submitted_at: from_micros(row.try_get("submitted_at")?),
        due_on: row.try_get("due_on")?,
        validation_due_on: row.try_get("validation_due_on")?,
    }))
}

/// What the recomputation needs of the tables, read through the transaction so that it sees
/// the change being made.
struct Rules {
    calendar: BusinessCalendar,
    days: HashMap<RequestKind, Option<u32>>,
}

async fn rules(tx: &mut Conn) -> Result<Rules, sqlx::Error> {
    let rows = sqlx::query("SELECT day FROM holidays")
        .fetch_all(&mut *tx)
        .await?;
    let holidays = rows
        .iter()
        .filter_map(|row| row.try_get::<String, _>("day").ok()?.parse().ok());
    Ok(Rules {
        calendar: BusinessCalendar::new(holidays),
        days: deadline_table(&mut *tx).await?.into_iter().collect(),
    })
}

/// Recomputes the due dates of every open request from the holidays and the deadline table as
/// the transaction `tx` sees them: the answer's due date with the pauses given back (a pause
/// still open counts up to `now`, as if the clock resumed now), and the validation's due date
/// of a proof of payment waiting for it. Runs in batches; returns how many requests changed.
pub async fn recompute_open(tx: &mut Conn, now: Timestamp) -> Result<u64, sqlx::Error> {
    let rules = rules(tx).await?;
    let statuses = OPEN_STATUSES.map(|s| format!("'{}'", s.code())).join(", ");
    let sql = format!(
        "SELECT id, kind, status, submitted_at, due_on, validation_due_on FROM requests \
         WHERE status IN ({statuses}) AND id > $1 ORDER BY id LIMIT {BATCH}"
    );
    let (mut after, mut changed) = (String::new(), 0);
    loop {
        let rows = sqlx::query(AssertSqlSafe(sql.clone()))
            .bind(&after)
            .fetch_all(&mut *tx)
            .await?;
        let batch: Vec<OpenRequest> = rows
            .iter()
            .map(open_from_row)
            .filter_map(Result::transpose)
            .collect::<Result<_, _>>()?;
        let Some(last) = rows.last() else { break };
        after = last.try_get("id")?;
        changed += recompute_batch(tx, &rules, &batch, now).await?;
        if rows.len() < BATCH {
            break;
        }
    }
    Ok(changed)
}

async fn recompute_batch(
    tx: &mut Conn,
    rules: &Rules,
    batch: &[OpenRequest],
    now: Timestamp,
) -> Result<u64, sqlx::Error> {
    let ids: Vec<&str> = batch.iter().map(|r| r.id.as_str()).collect();
    if ids.is_empty() {
        return Ok(0);
    }
    let pauses = pauses_of(tx, &ids, now).await?;
    let proofs = proofs_of(tx, &ids).await?;
    let mut changed = 0;
    for request in batch {
        let paused = pauses
            .get(&request.id)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let (due, validation) = new_dates(rules, request, paused, proofs.get(&request.id));
        if due != request.due_on || validation != request.validation_due_on {
            sqlx::query("UPDATE requests SET due_on = $2, validation_due_on = $3 WHERE id = $1")
                .bind(&request.id)
                .bind(due)
                .bind(validation)
                .execute(&mut *tx)
                .await?;
            changed += 1;
        }
    }
    Ok(changed)
}

/// The request's answer and validation due dates under `rules`, as stored (`YYYY-MM-DD`).
fn new_dates(
    rules: &Rules,
    request: &OpenRequest,
    paused: &[(Timestamp, Timestamp)],
    proof_sent: Option<&Timestamp>,
) -> (Option<String>, Option<String>) {
    let days = rules.days.get(&request.kind).copied().flatten();
    let due = days.map(|days| {
        rules
            .calendar
            .due_date_with_pauses(request.submitted_at, days, paused)
    });
    let validation = match (request.status, proof_sent) {
        (Status::PendingValidation, Some(&sent)) => {
            Some(rules.calendar.due_date(sent, VALIDATION_DAYS).to_string())
        }
        // No proof row to count from: keep what the transition wrote.
        _ => request.validation_due_on.clone(),
    };
    (due.map(|d| d.to_string()), validation)
}

/// `$1, $2, …` for an `IN` list of `n` values.
fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The pauses of the requests, an open one ending `now`.
async fn pauses_of(
    tx: &mut Conn,
    ids: &[&str],
    now: Timestamp,
) -> Result<HashMap<String, Vec<(Timestamp, Timestamp)>>, sqlx::Error> {
    let sql = format!(
        "SELECT request_id, started_at, ended_at FROM request_pauses WHERE request_id IN ({})",
        placeholders(ids.len())
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for id in ids {
        query = query.bind(*id);
    }
    let mut pauses: HashMap<String, Vec<(Timestamp, Timestamp)>> = HashMap::new();
    for row in query.fetch_all(&mut *tx).await? {
        let ended: Option<i64> = row.try_get("ended_at")?;
        let pause = (
            from_micros(row.try_get("started_at")?),
            ended.map(from_micros).unwrap_or(now),
        );
        pauses
            .entry(row.try_get("request_id")?)
            .or_default()
            .push(pause);
    }
    Ok(pauses)
}

/// When the proof of payment now waiting for validation was sent, per request.
async fn proofs_of(tx: &mut Conn, ids: &[&str]) -> Result<HashMap<String, Timestamp>, sqlx::Error> {
    let sql = format!(
        "SELECT request_id, proof_at FROM payments WHERE status = 'proof_sent' \
         AND proof_at IS NOT NULL AND request_id IN ({})",
        placeholders(ids.len())
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    for id in ids {
        query = query.bind(*id);
    }
    let mut proofs = HashMap::new();
    for row in query.fetch_all(&mut *tx).await? {
        let sent: i64 = row.try_get("proof_at")?;
        proofs.insert(row.try_get("request_id")?, from_micros(sent));
    }
    Ok(proofs)
}
