//! The "Data – Sábana de Solicitudes": every field of the requests submitted in a period, read
//! in keyset batches so that memory stays flat however many there are.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::value::RawValue;
use sqlx::Row;
use sqlx::any::AnyArguments;

use super::{Condition, DateRange, PanelFilters};
use crate::clock::from_micros;
use crate::domain::request::RequestKind;
use crate::domain::request::Status;
use crate::store::Db;
use crate::store::requests::{RequestSummary, decode_error};

/// Every field of a request, as the full export lists it.
#[derive(Clone, Debug)]
pub struct SabanaRow {
    pub summary: RequestSummary,
    pub region_name: String,
    pub comuna_name: String,
    pub applicant_name: String,
    pub applicant_rut: String,
    pub applicant_email: String,
    pub applicant_is_installer: bool,
    pub additional_email: Option<String>,
    pub related_folio: Option<String>,
    pub brings_meter: bool,
    /// Every file of the request: the applicant's, answers, proofs of payment, messages.
    pub attachments: i64,
    pub last_event_at: Option<Timestamp>,
    /// Kept with the answer (see `store::stats::answer_figures`); `None` while unanswered.
    pub business_days_taken: Option<i64>,
    /// The deadline clock's pauses; one still open ends at the time of the export.
    pub pauses: Vec<(Timestamp, Timestamp)>,
}

/// The request's own columns and its applicant's, as `(expression, name)`: the company, region
/// and comuna names come from [`Names`], read once per export instead of joined to each of a
/// million rows. The names are those of [`Raw`]'s fields, in the same order.
const COLUMNS: &[(&str, &str)] = &[
    ("r.id", "id"),
    ("r.folio", "folio"),
    ("r.kind", "kind"),
    ("r.status", "status"),
    ("r.client_number", "client_number"),
    ("r.feasibility_number", "feasibility_number"),
    ("r.distributor_reference", "distributor_reference"),
    ("r.distributor_id", "distributor_id"),
    ("r.related_request_id", "related_request_id"),
    ("r.submitted_at", "submitted_at"),
    ("r.answered_at", "answered_at"),
    ("r.due_on", "due_on"),
    ("r.region_code", "region_code"),
    ("r.comuna_code", "comuna_code"),
    ("r.additional_email", "additional_email"),
    ("r.brings_meter", "brings_meter"),
    ("r.business_days_taken", "business_days_taken"),
    ("u.names", "names"),
    ("u.surnames", "surnames"),
    ("u.business_name", "business_name"),
    ("u.rut", "rut"),
    ("u.email", "email"),
    ("u.is_installer", "is_installer"),
    ("rel.folio", "related_folio"),
    ("r.attachment_count", "attachment_count"),
    ("r.last_event_at", "last_event_at"),
];

const FROM: &str = "FROM requests r JOIN users u ON u.id = r.applicant_id \
     LEFT JOIN requests rel ON rel.id = r.related_request_id";

/// One request of a batch as the database hands it over: a JSON array of [`COLUMNS`].
///
/// A batch comes as one value, a JSON array of such arrays built by the database
/// (`json_group_array` on SQLite, `json_agg` on PostgreSQL), instead of a thousand rows: each row
/// through sqlx costs a hand-off from the SQLite worker thread and a conversion into the `Any`
/// driver's row with its own copy of the column list, which made most of an export's time.
#[derive(Deserialize)]
struct Raw {
    id: String,
    folio: String,
    kind: String,
    status: String,
    client_number: Option<String>,
    feasibility_number: Option<String>,
    distributor_reference: Option<String>,
    distributor_id: String,
    related_request_id: Option<String>,
    submitted_at: i64,
    answered_at: Option<i64>,
    due_on: Option<String>,
    region_code: String,
    comuna_code: String,
    additional_email: Option<String>,
    brings_meter: i64,
    business_days_taken: Option<i64>,
    names: String,
    surnames: String,
    business_name: Option<String>,
    rut: String,
    email: String,
    is_installer: i64,
    related_folio: Option<String>,
    attachment_count: i64,
    last_event_at: Option<i64>,
}

/// The query of a batch: the rows of `inner` (which selects [`COLUMNS`] by their names, in
/// export order) as one JSON text, in that order.
fn batch_sql(db: &Db, inner: &str) -> String {
    let names = COLUMNS
        .iter()
        .map(|(_, name)| format!("b.{name}"))
        .collect::<Vec<_>>()
        .join(", ");
    if db.is_sqlite() {
        format!(
            "SELECT json_group_array(json_array({names}) ORDER BY b.submitted_at, b.id) \
             FROM ({inner}) AS b"
        )
    } else {
        format!(
            "SELECT CAST(json_agg(json_build_array({names}) ORDER BY b.submitted_at, b.id) AS TEXT) \
             FROM ({inner}) AS b"
        )
    }
}

/// The names of companies, regions and comunas by their id or code.
#[derive(Default)]
struct Names {
    distributors: HashMap<String, String>,
    regions: HashMap<String, String>,
    comunas: HashMap<String, String>,
}

impl Names {
    async fn load(db: &Db) -> Result<Names, sqlx::Error> {
        let pairs = |sql: &'static str| async move {
            let rows = sqlx::query(sql).fetch_all(db.pool()).await?;
            rows.iter()
                .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                .collect::<Result<HashMap<String, String>, sqlx::Error>>()
        };
        Ok(Names {
            distributors: pairs("SELECT id, name FROM distributors").await?,
            regions: pairs("SELECT code, name FROM regions").await?,
            comunas: pairs("SELECT code, name FROM comunas").await?,
        })
    }

    fn of(map: &HashMap<String, String>, key: &str) -> String {
        map.get(key).cloned().unwrap_or_default()
    }
}

/// The requests submitted in a period (of one kind, if given), oldest first, a batch at a
/// time: each batch continues after the last row of the previous one (keyset on submitted_at
/// and id), so an export of a million rows never pays for a growing OFFSET.
pub struct SabanaBatches {
    db: Db,
    /// Read with the first batch.
    names: Option<Arc<Names>>,
    /// The export's condition, for the first batch.
    condition: Condition,
    /// The same without the period's start, for the batches after it: there the keyset's
    /// row comparison is the only lower bound, one seek in the (submitted_at, id) index. Given
    /// two lower bounds as parameters, SQLite cannot tell which is the greater and may seek on
    /// the period's start instead.
    continuing: Condition,
    size: i64,
    now: Timestamp,
    after: Option<(i64, String)>,
    done: bool,
}

pub fn sabana(
    db: &Db,
    period: DateRange,
    kind: Option<RequestKind>,
    size: i64,
    now: Timestamp,
) -> SabanaBatches {
    let filters = PanelFilters {
        kind,
        submitted: period,
        ..PanelFilters::default()
    };
    let continuing = PanelFilters {
        submitted: DateRange {
            from: None,
            ..period
        },
        ..filters.clone()
    };
    SabanaBatches {
        db: db.clone(),
        names: None,
        condition: Condition::new(&filters),
        continuing: Condition::new(&continuing),
        size: size.max(1),
        now,
        after: None,
        done: false,
    }
}

/// A batch as the database gave it: the JSON text of its rows and the pauses of their
/// requests, not yet decoded. Reading and decoding are apart so that an export can decode and
/// write one batch on its own task while the database reads the next.
pub struct RawBatch {
    json: String,
    /// `(request id, started, ended)` in microseconds; `None` for a pause still open.
    pauses: Vec<(String, i64, Option<i64>)>,
    names: Arc<Names>,
    now: Timestamp,
}

impl SabanaBatches {
    /// The next batch, or `None` once every row was read.
    pub async fn next(&mut self) -> Result<Option<Vec<SabanaRow>>, sqlx::Error> {
        match self.next_raw().await? {
            Some(raw) => raw.decode().map(Some),
            None => Ok(None),
        }
    }

    /// The next batch as read, or `None` once every row was read. Only the batch's first and
    /// last rows are decoded here: the last for the keyset of the next batch, both for the
    /// range of submissions whose pauses are read.
    pub async fn next_raw(&mut self) -> Result<Option<RawBatch>, sqlx::Error> {
        if self.done {
            return Ok(None);
        }
        let query = self.batch_query();
        let names = match &self.names {
            Some(names) => names.clone(),
            None => self
                .names
                .insert(Arc::new(Names::load(&self.db).await?))
                .clone(),
        };
        let json: Option<String> = query
            .bind(self.size)
            .fetch_one(self.db.pool())
            .await?
            .try_get(0)?;
        let Some(json) = json else {
            self.done = true;
            return Ok(None);
        };
        let (count, ends) = batch_ends(&json)?;
        self.done = count < self.size;
        let Some((first, last, last_id)) = ends else {
            self.done = true;
            return Ok(None);
        };
        self.after = Some((last, last_id));
        let pauses = self.pauses((first, last)).await?;
        Ok(Some(RawBatch {
            json,
            pauses,
            names,
            now: self.now,
        }))
    }

    /// The query of the next batch, its size still to bind: the export's condition, and after
    /// the first batch the keyset `(submitted_at, id) > (last row)`.
    fn batch_query(&self) -> sqlx::query::Query<'static, crate::store::Any, AnyArguments> {
        let condition = match self.after {
            None => &self.condition,
            Some(_) => &self.continuing,
        };
        let n = condition.next();
        let keyset = match self.after {
            None => String::new(),
            Some(_) => format!(" AND (r.submitted_at, r.id) > (${n}, ${})", n + 1),
        };
        let limit = if self.after.is_some() { n + 2 } else { n };
        let columns = COLUMNS
            .iter()
            .map(|(expression, name)| format!("{expression} AS {name}"))
            .collect::<Vec<_>>()
            .join(", ");
        let inner = format!(
            "SELECT {columns} {FROM} WHERE {}{keyset} ORDER BY r.submitted_at, r.id LIMIT ${limit}",
            condition.sql
        );
        let query = condition.query(batch_sql(&self.db, &inner));
        match &self.after {
            Some((at, id)) => query.bind(*at).bind(id.clone()),
            None => query,
        }
    }

    /// The pauses of a batch's requests, in one query: those of every request submitted
    /// within the batch's first and last instants. Requests outside the export (another kind,
    /// or of a neighbouring batch submitted at the very same instant) are read too, and left
    /// out by their id when the batch is decoded. The submission range is the query's only
    /// condition on purpose: it is what both databases seek on (see `continuing`).
    async fn pauses(
        &self,
        (first, last): (i64, i64),
    ) -> Result<Vec<(String, i64, Option<i64>)>, sqlx::Error> {
        // PostgreSQL would rather hash the whole pauses table than look up a thousand
        // requests' pauses by the `request_id` index: at 200,000 requests, 7 ms against 0.4 ms
        // per batch, and worse as the table grows. The lateral subquery (kept apart from the
        // join by `OFFSET 0`) makes it look each request up. SQLite plans the join that way.
        let sql = if self.db.is_sqlite() {
            "SELECT p.request_id, p.started_at, p.ended_at FROM request_pauses p \
             JOIN requests r ON r.id = p.request_id \
             WHERE r.submitted_at >= $1 AND r.submitted_at <= $2 \
             ORDER BY p.started_at, p.id"
        } else {
            "SELECT p.request_id, p.started_at, p.ended_at FROM requests r \
             CROSS JOIN LATERAL (SELECT q.id, q.request_id, q.started_at, q.ended_at \
             FROM request_pauses q WHERE q.request_id = r.id OFFSET 0) AS p \
             WHERE r.submitted_at >= $1 AND r.submitted_at <= $2 \
             ORDER BY p.started_at, p.id"
        };
        let rows = sqlx::query(sql)
            .bind(first)
            .bind(last)
            .fetch_all(self.db.pool())
            .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("request_id")?,
                    row.try_get("started_at")?,
                    row.try_get("ended_at")?,
                ))
            })
            .collect()
    }
}

impl RawBatch {
    /// The rows of the batch, in export order, with their pauses.
    pub fn decode(self) -> Result<Vec<SabanaRow>, sqlx::Error> {
        let raw: Vec<Raw> = serde_json::from_str(&self.json).map_err(json_error)?;
        let mut batch = raw
            .into_iter()
            .map(|raw| sabana_row(raw, &self.names))
            .collect::<Result<Vec<_>, _>>()?;
        if self.pauses.is_empty() {
            return Ok(batch);
        }
        let position: HashMap<&str, usize> = batch
            .iter()
            .enumerate()
            .map(|(index, row)| (row.summary.id.as_str(), index))
            .collect();
        let spans: Vec<(usize, (Timestamp, Timestamp))> = self
            .pauses
            .iter()
            .filter_map(|(id, started, ended)| {
                let index = *position.get(id.as_str())?;
                let end = ended.map_or(self.now, from_micros);
                Some((index, (from_micros(*started), end)))
            })
            .collect();
        for (index, span) in spans {
            batch[index].pauses.push(span);
        }
        Ok(batch)
    }
}

/// The submission instants of a batch's first and last rows, and the last one's id.
type Ends = (i64, i64, String);

/// How many rows a batch's JSON holds, and its [`Ends`]; only those two rows are decoded.
fn batch_ends(json: &str) -> Result<(i64, Option<Ends>), sqlx::Error> {
    let rows: Vec<&RawValue> = serde_json::from_str(json).map_err(json_error)?;
    let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
        return Ok((0, None));
    };
    let first: Raw = serde_json::from_str(first.get()).map_err(json_error)?;
    let last: Raw = serde_json::from_str(last.get()).map_err(json_error)?;
    let ends = (first.submitted_at, last.submitted_at, last.id);
    Ok((rows.len() as i64, Some(ends)))
}

fn json_error(error: serde_json::Error) -> sqlx::Error {
    sqlx::Error::Decode(error.into())
}

fn sabana_row(raw: Raw, names: &Names) -> Result<SabanaRow, sqlx::Error> {
    let summary = RequestSummary {
        kind: RequestKind::from_code(&raw.kind).ok_or_else(|| decode_error("kind", &raw.kind))?,
        status: Status::from_code(&raw.status)
            .ok_or_else(|| decode_error("status", &raw.status))?,
        distributor_name: Names::of(&names.distributors, &raw.distributor_id),
        id: raw.id,
        folio: raw.folio,
        client_number: raw.client_number,
        feasibility_number: raw.feasibility_number,
        distributor_reference: raw.distributor_reference,
        distributor_id: raw.distributor_id,
        related_request_id: raw.related_request_id,
        submitted_at: from_micros(raw.submitted_at),
        answered_at: raw.answered_at.map(from_micros),
        due_on: raw.due_on.and_then(|d| d.parse().ok()),
    };
    Ok(SabanaRow {
        summary,
        region_name: Names::of(&names.regions, &raw.region_code),
        comuna_name: Names::of(&names.comunas, &raw.comuna_code),
        applicant_name: raw
            .business_name
            .unwrap_or_else(|| format!("{} {}", raw.names, raw.surnames)),
        applicant_rut: raw.rut,
        applicant_email: raw.email,
        applicant_is_installer: raw.is_installer == 1,
        additional_email: raw.additional_email,
        related_folio: raw.related_folio,
        brings_meter: raw.brings_meter == 1,
        attachments: raw.attachment_count,
        last_event_at: raw.last_event_at.map(from_micros),
        business_days_taken: raw.business_days_taken,
        pauses: Vec::new(),
    })
}
