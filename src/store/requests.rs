//! Requests (solicitudes), their attachments and their history. Every query that reads them
//! takes a `Viewer` and carries its predicate: an applicant sees their own requests, a
//! distribuidora user their company's, SEC all of them.

use jiff::Timestamp;
use jiff::civil::Date;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Executor, Row};

use super::{Any, Db, new_id};
use crate::clock::{from_micros, to_micros};
use crate::domain::request::{RequestKind, Status};

/// Who is looking, for the access predicate of every query.
#[derive(Clone, Debug)]
pub enum Viewer {
    Applicant { user_id: String },
    Distributor { distributor_id: String },
    Regulator,
}

impl Viewer {
    /// The SQL condition on `r` (the requests table) and its one bind value, if any. The
    /// fragments are constants, so the statements built from them are safe.
    pub(crate) fn predicate(&self, placeholder: usize) -> (String, Option<&str>) {
        match self {
            Viewer::Applicant { user_id } => {
                (format!("r.applicant_id = ${placeholder}"), Some(user_id))
            }
            Viewer::Distributor { distributor_id } => (
                format!("r.distributor_id = ${placeholder}"),
                Some(distributor_id),
            ),
            Viewer::Regulator => ("1 = 1".to_string(), None),
        }
    }
}

pub struct NewRequest<'a> {
    pub kind: RequestKind,
    pub status: Status,
    pub applicant_id: &'a str,
    pub distributor_id: &'a str,
    pub region_code: &'a str,
    pub comuna_code: &'a str,
    pub client_number: Option<&'a str>,
    pub feasibility_number: Option<&'a str>,
    pub additional_email: Option<&'a str>,
    pub brings_meter: bool,
    pub related_request_id: Option<&'a str>,
    pub due_on: Option<Date>,
}

pub struct NewAttachment {
    /// The form slot's code, or what the file is for: "answer", "payment_proof", "message".
    pub slot: &'static str,
    pub storage_key: String,
    pub file_name: String,
    pub file_kind: String,
    pub size_bytes: i64,
    pub sha256: String,
}

/// The next number of the global folio sequence. The row lock of the UPDATE serialises
/// concurrent submissions until their transactions end, so numbers are never reused.
pub async fn next_folio_number(tx: &mut sqlx::AnyConnection) -> Result<i64, sqlx::Error> {
    let row =
        sqlx::query("UPDATE counters SET value = value + 1 WHERE name = 'folio' RETURNING value")
            .fetch_one(&mut *tx)
            .await?;
    row.try_get("value")
}

pub async fn insert(
    tx: &mut sqlx::AnyConnection,
    request: &NewRequest<'_>,
    folio: &str,
    folio_number: i64,
    now: Timestamp,
) -> Result<String, sqlx::Error> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO requests (id, folio, folio_number, kind, status, applicant_id, distributor_id, \
         region_code, comuna_code, client_number, feasibility_number, additional_email, \
         brings_meter, related_request_id, submitted_at, due_on) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(&id)
    .bind(folio)
    .bind(folio_number)
    .bind(request.kind.code())
    .bind(request.status.code())
    .bind(request.applicant_id)
    .bind(request.distributor_id)
    .bind(request.region_code)
    .bind(request.comuna_code)
    .bind(request.client_number)
    .bind(request.feasibility_number)
    .bind(request.additional_email)
    .bind(i64::from(request.brings_meter))
    .bind(request.related_request_id)
    .bind(to_micros(now))
    .bind(request.due_on.map(|d| d.to_string()))
    .execute(&mut *tx)
    .await?;
    Ok(id)
}

pub struct NewEvent<'a> {
    pub request_id: &'a str,
    pub action: &'a str,
    pub actor_id: Option<&'a str>,
    pub from_status: Option<Status>,
    pub to_status: Status,
    pub comment: Option<&'a str>,
}

pub async fn insert_event(
    tx: &mut sqlx::AnyConnection,
    event: &NewEvent<'_>,
    now: Timestamp,
) -> Result<String, sqlx::Error> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO request_events (id, request_id, action, actor_id, from_status, to_status, comment, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(event.request_id)
    .bind(event.action)
    .bind(event.actor_id)
    .bind(event.from_status.map(Status::code))
    .bind(event.to_status.code())
    .bind(event.comment)
    .bind(to_micros(now))
    .execute(&mut *tx)
    .await?;
    // The request's last movement (migration 0008); a maximum, should a clock ever step back.
    sqlx::query(
        "UPDATE requests SET last_event_at = $1 \
         WHERE id = $2 AND (last_event_at IS NULL OR last_event_at < $1)",
    )
    .bind(to_micros(now))
    .bind(event.request_id)
    .execute(&mut *tx)
    .await?;
    Ok(id)
}

pub async fn insert_attachment(
    tx: &mut sqlx::AnyConnection,
    request_id: &str,
    event_id: Option<&str>,
    attachment: &NewAttachment,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO attachments (id, request_id, event_id, slot, storage_key, file_name, file_kind, \
         size_bytes, sha256, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(new_id())
    .bind(request_id)
    .bind(event_id)
    .bind(attachment.slot)
    .bind(&attachment.storage_key)
    .bind(&attachment.file_name)
    .bind(&attachment.file_kind)
    .bind(attachment.size_bytes)
    .bind(&attachment.sha256)
    .bind(to_micros(now))
    .execute(&mut *tx)
    .await?;
    // The request's count of files (migration 0008).
    sqlx::query("UPDATE requests SET attachment_count = attachment_count + 1 WHERE id = $1")
        .bind(request_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Records a form's one-time token. False when the token was used already (a second click).
pub async fn claim_submission_token(
    tx: &mut sqlx::AnyConnection,
    token: &str,
    request_id: &str,
    now: Timestamp,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO submission_tokens (token, request_id, created_at) VALUES ($1, $2, $3) ON CONFLICT (token) DO NOTHING",
    )
    .bind(token)
    .bind(request_id)
    .bind(to_micros(now))
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The request a used form token created, for the applicant who used it.
pub async fn request_of_token(
    db: &Db,
    token: &str,
    applicant_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT t.request_id FROM submission_tokens t JOIN requests r ON r.id = t.request_id \
         WHERE t.token = $1 AND r.applicant_id = $2",
    )
    .bind(token)
    .bind(applicant_id)
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| r.try_get("request_id")).transpose()
}

/// A row of the inbox ("Solicitudes").
#[derive(Clone, Debug)]
pub struct RequestSummary {
    pub id: String,
    pub folio: String,
    pub kind: RequestKind,
    pub status: Status,
    pub client_number: Option<String>,
    pub feasibility_number: Option<String>,
    pub distributor_reference: Option<String>,
    pub distributor_id: String,
    pub distributor_name: String,
    pub related_request_id: Option<String>,
    pub submitted_at: Timestamp,
    pub answered_at: Option<Timestamp>,
    pub due_on: Option<Date>,
}

impl RequestSummary {
    /// N° Cliente, or the factibilidad number when the applicant had no client number.
    pub fn client_or_feasibility(&self) -> &str {
        self.client_number
            .as_deref()
            .or(self.feasibility_number.as_deref())
            .unwrap_or_default()
    }
}

pub(crate) const SUMMARY_COLUMNS: &str = "r.id, r.folio, r.kind, r.status, r.client_number, r.feasibility_number, \
     r.distributor_reference, r.distributor_id, d.name AS distributor_name, r.related_request_id, \
     r.submitted_at, r.answered_at, r.due_on";

pub(crate) fn decode_error(column: &str, value: &str) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_string(),
        source: format!("unexpected value {value:?}").into(),
    }
}

pub(crate) fn summary_from_row(row: &AnyRow) -> Result<RequestSummary, sqlx::Error> {
    summary_with_distributor(row, row.try_get("distributor_name")?)
}

/// [`summary_from_row`] for a query that left out the company's name (a caller that knows
/// every company reads it from its own table instead of joining it to each row).
fn summary_with_distributor(
    row: &AnyRow,
    distributor_name: String,
) -> Result<RequestSummary, sqlx::Error> {
    let kind: String = row.try_get("kind")?;
    let status: String = row.try_get("status")?;
    let due_on: Option<String> = row.try_get("due_on")?;
    let answered_at: Option<i64> = row.try_get("answered_at")?;
    Ok(RequestSummary {
        id: row.try_get("id")?,
        folio: row.try_get("folio")?,
        kind: RequestKind::from_code(&kind).ok_or_else(|| decode_error("kind", &kind))?,
        status: Status::from_code(&status).ok_or_else(|| decode_error("status", &status))?,
        client_number: row.try_get("client_number")?,
        feasibility_number: row.try_get("feasibility_number")?,
        distributor_reference: row.try_get("distributor_reference")?,
        distributor_id: row.try_get("distributor_id")?,
        distributor_name,
        related_request_id: row.try_get("related_request_id")?,
        submitted_at: from_micros(row.try_get("submitted_at")?),
        answered_at: answered_at.map(from_micros),
        due_on: due_on.and_then(|d| d.parse().ok()),
    })
}

/// Lists count their matches only up to this many (or up to the page asked for, when it lies
/// further): counting every one of a million requests on each page view costs more than the
/// page itself, and "more than 10,000" is all a person reads of a larger number.
pub const COUNT_CAP: i64 = 10_000;

/// The bound of a capped count for the page at `offset`: one more than the rows that matter,
/// so that reaching it says "at least this many" (see `listing::Paging::set_total`).
pub fn count_bound(offset: i64, limit: i64) -> i64 {
    COUNT_CAP.max(offset.saturating_add(limit)) + 1
}

/// `SELECT COUNT(*)` over `FROM requests r WHERE {condition}` stopped at `bound` rows.
pub fn capped_count_sql(condition: &str, bound_placeholder: usize) -> String {
    format!(
        "SELECT COUNT(*) AS n FROM (SELECT 1 FROM requests r WHERE {condition}          LIMIT ${bound_placeholder}) AS counted"
    )
}

/// Runs a count built from `capped_count_sql` (its condition's values bound), binding the bound
/// for the page at `offset`.
pub async fn capped_count(
    db: &Db,
    query: sqlx::query::Query<'_, Any, sqlx::any::AnyArguments>,
    offset: i64,
    limit: i64,
) -> Result<i64, sqlx::Error> {
    query
        .bind(count_bound(offset, limit))
        .fetch_one(db.pool())
        .await?
        .try_get("n")
}

/// One page of the requests the viewer may see, newest first, and the total count.
pub async fn list(
    db: &Db,
    viewer: &Viewer,
    limit: i64,
    offset: i64,
) -> Result<(Vec<RequestSummary>, i64), sqlx::Error> {
    let (predicate, bind) = viewer.predicate(1);
    let next = if bind.is_some() { 2 } else { 1 };
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM requests r JOIN distributors d ON d.id = r.distributor_id \
         WHERE {predicate} ORDER BY r.submitted_at DESC, r.id DESC LIMIT ${next} OFFSET ${}",
        next + 1
    );
    let mut query = sqlx::query(AssertSqlSafe(sql));
    if let Some(value) = bind {
        query = query.bind(value.to_string());
    }
    let rows = query.bind(limit).bind(offset).fetch_all(db.pool()).await?;
    let count_sql = capped_count_sql(&predicate, next);
    let mut count = sqlx::query(AssertSqlSafe(count_sql));
    if let Some(value) = bind {
        count = count.bind(value.to_string());
    }
    let total = capped_count(db, count, offset, limit).await?;
    let items = rows
        .iter()
        .map(summary_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((items, total))
}

/// Every request of an applicant, oldest first (for the installation timelines of the home page).
pub async fn all_of_applicant(
    db: &Db,
    applicant_id: &str,
) -> Result<Vec<RequestSummary>, sqlx::Error> {
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM requests r JOIN distributors d ON d.id = r.distributor_id \
         WHERE r.applicant_id = $1 ORDER BY r.submitted_at, r.id"
    );
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(applicant_id)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(summary_from_row).collect()
}

/// The applicant's own request with this folio (for "Solicitud relacionada").
pub async fn applicant_request_by_folio(
    db: &Db,
    applicant_id: &str,
    folio: &str,
) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query("SELECT id FROM requests WHERE applicant_id = $1 AND folio = $2")
        .bind(applicant_id)
        .bind(folio.trim().to_ascii_uppercase())
        .fetch_optional(db.pool())
        .await?;
    row.map(|r| r.try_get("id")).transpose()
}

/// Everything the request view shows.
#[derive(Clone, Debug)]
pub struct RequestDetail {
    pub summary: RequestSummary,
    pub applicant_name: String,
    pub applicant_email: String,
    pub applicant_is_installer: bool,
    pub region_code: String,
    pub region_name: String,
    pub comuna_code: String,
    pub comuna_name: String,
    pub additional_email: Option<String>,
    pub brings_meter: bool,
    pub related_folio: Option<String>,
}

pub async fn detail(
    db: &Db,
    viewer: &Viewer,
    id: &str,
) -> Result<Option<RequestDetail>, sqlx::Error> {
    let (predicate, bind) = viewer.predicate(2);
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS}, u.names, u.surnames, u.business_name, u.email, u.is_installer, \
         r.region_code, reg.name AS region_name, r.comuna_code, c.name AS comuna_name, r.additional_email, r.brings_meter, \
         rel.folio AS related_folio \
         FROM requests r JOIN distributors d ON d.id = r.distributor_id \
         JOIN users u ON u.id = r.applicant_id JOIN regions reg ON reg.code = r.region_code \
         JOIN comunas c ON c.code = r.comuna_code LEFT JOIN requests rel ON rel.id = r.related_request_id \
         WHERE r.id = $1 AND {predicate}"
    );
    let mut query = sqlx::query(AssertSqlSafe(sql)).bind(id.to_string());
    if let Some(value) = bind {
        query = query.bind(value.to_string());
    }
    let Some(row) = query.fetch_optional(db.pool()).await? else {
        return Ok(None);
    };
    let business: Option<String> = row.try_get("business_name")?;
    let names: String = row.try_get("names")?;
    let surnames: String = row.try_get("surnames")?;
    Ok(Some(RequestDetail {
        summary: summary_from_row(&row)?,
        applicant_name: business.unwrap_or_else(|| format!("{names} {surnames}")),
        applicant_email: row.try_get("email")?,
        applicant_is_installer: row.try_get::<i64, _>("is_installer")? == 1,
        region_code: row.try_get("region_code")?,
        region_name: row.try_get("region_name")?,
        comuna_code: row.try_get("comuna_code")?,
        comuna_name: row.try_get("comuna_name")?,
        additional_email: row.try_get("additional_email")?,
        brings_meter: row.try_get::<i64, _>("brings_meter")? == 1,
        related_folio: row.try_get("related_folio")?,
    }))
}

#[derive(Clone, Debug)]
pub struct Attachment {
    pub id: String,
    pub request_id: String,
    pub event_id: Option<String>,
    pub slot: String,
    pub storage_key: String,
    pub file_name: String,
    pub file_kind: String,
    pub size_bytes: i64,
    pub created_at: Timestamp,
    /// An answer hidden from the applicant until the payment is validated.
    pub withheld: bool,
}

fn attachment_from_row(row: &AnyRow) -> Result<Attachment, sqlx::Error> {
    Ok(Attachment {
        id: row.try_get("id")?,
        request_id: row.try_get("request_id")?,
        event_id: row.try_get("event_id")?,
        slot: row.try_get("slot")?,
        storage_key: row.try_get("storage_key")?,
        file_name: row.try_get("file_name")?,
        file_kind: row.try_get("file_kind")?,
        size_bytes: row.try_get("size_bytes")?,
        created_at: from_micros(row.try_get("created_at")?),
        withheld: row.try_get::<i64, _>("withheld")? == 1,
    })
}

const ATTACHMENT_COLUMNS: &str = "a.id, a.request_id, a.event_id, a.slot, a.storage_key, a.file_name, \
     a.file_kind, a.size_bytes, a.created_at, a.withheld";

/// Answers withheld until payment exist for the company and SEC, not yet for the applicant.
fn withheld_filter(viewer: &Viewer) -> &'static str {
    match viewer {
        Viewer::Applicant { .. } => " AND a.withheld = 0",
        _ => "",
    }
}

pub async fn attachments(
    db: &Db,
    viewer: &Viewer,
    request_id: &str,
) -> Result<Vec<Attachment>, sqlx::Error> {
    let (predicate, bind) = viewer.predicate(2);
    let withheld = withheld_filter(viewer);
    let sql = format!(
        "SELECT {ATTACHMENT_COLUMNS} FROM attachments a JOIN requests r ON r.id = a.request_id \
         WHERE a.request_id = $1 AND {predicate}{withheld} ORDER BY a.created_at, a.id"
    );
    let mut query = sqlx::query(AssertSqlSafe(sql)).bind(request_id.to_string());
    if let Some(value) = bind {
        query = query.bind(value.to_string());
    }
    query
        .fetch_all(db.pool())
        .await?
        .iter()
        .map(attachment_from_row)
        .collect()
}

/// One attachment, if the viewer may see its request.
pub async fn attachment(
    db: &Db,
    viewer: &Viewer,
    request_id: &str,
    attachment_id: &str,
) -> Result<Option<Attachment>, sqlx::Error> {
    let (predicate, bind) = viewer.predicate(3);
    let withheld = withheld_filter(viewer);
    let sql = format!(
        "SELECT {ATTACHMENT_COLUMNS} FROM attachments a JOIN requests r ON r.id = a.request_id \
         WHERE a.id = $1 AND a.request_id = $2 AND {predicate}{withheld}"
    );
    let mut query = sqlx::query(AssertSqlSafe(sql))
        .bind(attachment_id.to_string())
        .bind(request_id.to_string());
    if let Some(value) = bind {
        query = query.bind(value.to_string());
    }
    query
        .fetch_optional(db.pool())
        .await?
        .as_ref()
        .map(attachment_from_row)
        .transpose()
}

/// Whether a stored file has its row (for collecting files left behind by a failed submission).
pub async fn storage_key_exists(db: &Db, key: &str) -> Result<bool, sqlx::Error> {
    let row = sqlx::query("SELECT 1 AS found FROM attachments WHERE storage_key = $1")
        .bind(key)
        .fetch_optional(db.pool())
        .await?;
    Ok(row.is_some())
}

#[derive(Clone, Debug)]
pub struct Event {
    pub id: String,
    pub action: String,
    pub actor_name: Option<String>,
    pub from_status: Option<Status>,
    pub to_status: Status,
    pub comment: Option<String>,
    pub created_at: Timestamp,
}

pub async fn events(db: &Db, viewer: &Viewer, request_id: &str) -> Result<Vec<Event>, sqlx::Error> {
    let (predicate, bind) = viewer.predicate(2);
    let sql = format!(
        "SELECT e.id, e.action, e.from_status, e.to_status, e.comment, e.created_at, \
         u.names, u.surnames, u.business_name \
         FROM request_events e JOIN requests r ON r.id = e.request_id LEFT JOIN users u ON u.id = e.actor_id \
         WHERE e.request_id = $1 AND {predicate} ORDER BY e.created_at, e.id"
    );
    let mut query = sqlx::query(AssertSqlSafe(sql)).bind(request_id.to_string());
    if let Some(value) = bind {
        query = query.bind(value.to_string());
    }
    let rows = query.fetch_all(db.pool()).await?;
    rows.iter()
        .map(|row| {
            let from: Option<String> = row.try_get("from_status")?;
            let to: String = row.try_get("to_status")?;
            let names: Option<String> = row.try_get("names")?;
            let surnames: Option<String> = row.try_get("surnames")?;
            let business: Option<String> = row.try_get("business_name")?;
            let actor_name =
                business.or_else(|| names.map(|n| format!("{n} {}", surnames.unwrap_or_default())));
            Ok(Event {
                id: row.try_get("id")?,
                action: row.try_get("action")?,
                actor_name,
                from_status: from.as_deref().and_then(Status::from_code),
                to_status: Status::from_code(&to).ok_or_else(|| decode_error("to_status", &to))?,
                comment: row.try_get("comment")?,
                created_at: from_micros(row.try_get("created_at")?),
            })
        })
        .collect()
}

/// The answer deadline of a kind, from the table SEC edits.
pub async fn deadline_days<'e>(
    db: impl Executor<'e, Database = Any>,
    kind: RequestKind,
) -> Result<Option<u32>, sqlx::Error> {
    let row = sqlx::query("SELECT business_days FROM request_deadlines WHERE kind = $1")
        .bind(kind.code())
        .fetch_optional(db)
        .await?;
    let days: Option<i64> = match row {
        Some(row) => row.try_get("business_days")?,
        None => kind.default_deadline_days().map(i64::from),
    };
    Ok(days.and_then(|d| u32::try_from(d).ok()))
}

/// Every holiday of the calendar. They come as one row (`string_agg`, which SQLite has since
/// 3.44): read a row each, the few hundred holidays cost a page that counts business days more
/// than the rest of it.
pub async fn holidays<'e>(db: impl Executor<'e, Database = Any>) -> Result<Vec<Date>, sqlx::Error> {
    let days: Option<String> = sqlx::query_scalar("SELECT string_agg(day, ',') FROM holidays")
        .fetch_one(db)
        .await?;
    Ok(days
        .unwrap_or_default()
        .split(',')
        .filter_map(|day| day.parse().ok())
        .collect())
}

/// Active users of a company, who are told of its new requests.
pub async fn distributor_user_emails<'e, E>(
    executor: E,
    distributor_id: &str,
) -> Result<Vec<String>, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = Any>,
{
    let rows = sqlx::query(
        "SELECT email FROM users WHERE distributor_id = $1 AND status = 'active' ORDER BY email",
    )
    .bind(distributor_id)
    .fetch_all(executor)
    .await?;
    rows.iter().map(|r| r.try_get("email")).collect()
}
