//! The "Data – Sábana de Solicitudes": every field of the requests submitted in a period, read
//! in keyset batches so that memory stays flat however many there are.

use jiff::Timestamp;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{Condition, DateRange, PanelFilters};
use crate::clock::{from_micros, to_micros};
use crate::domain::request::RequestKind;
use crate::store::Db;
use crate::store::requests::{RequestSummary, SUMMARY_COLUMNS, summary_from_row};

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
    /// The deadline clock's pauses; one still open ends at the time of the export.
    pub pauses: Vec<(Timestamp, Timestamp)>,
}

const SABANA_COLUMNS: &str = "u.names, u.surnames, u.business_name, u.rut, u.email, \
     u.is_installer, reg.name AS region_name, c.name AS comuna_name, r.additional_email, \
     r.brings_meter, rel.folio AS related_folio, \
     (SELECT COUNT(*) FROM attachments a WHERE a.request_id = r.id) AS attachment_count, \
     (SELECT MAX(e.created_at) FROM request_events e WHERE e.request_id = r.id) AS last_event_at";

const SABANA_FROM: &str = "FROM requests r JOIN distributors d ON d.id = r.distributor_id \
     JOIN users u ON u.id = r.applicant_id JOIN regions reg ON reg.code = r.region_code \
     JOIN comunas c ON c.code = r.comuna_code \
     LEFT JOIN requests rel ON rel.id = r.related_request_id";

/// The requests submitted in a period (of one kind, if given), oldest first, a batch at a
/// time: each batch continues after the last row of the previous one (keyset on submitted_at
/// and id), so an export of a million rows never pays for a growing OFFSET.
pub struct SabanaBatches {
    db: Db,
    condition: Condition,
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
    SabanaBatches {
        db: db.clone(),
        condition: Condition::new(&filters),
        size: size.max(1),
        now,
        after: None,
        done: false,
    }
}

impl SabanaBatches {
    /// The next batch, or `None` once every row was read.
    pub async fn next(&mut self) -> Result<Option<Vec<SabanaRow>>, sqlx::Error> {
        if self.done {
            return Ok(None);
        }
        let n = self.condition.next();
        let keyset = match self.after {
            None => String::new(),
            Some(_) => format!(
                " AND r.submitted_at >= ${n} AND (r.submitted_at > ${} OR r.id > ${})",
                n + 1,
                n + 2
            ),
        };
        let limit = if self.after.is_some() { n + 3 } else { n };
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS}, {SABANA_COLUMNS} {SABANA_FROM} WHERE {}{keyset} \
             ORDER BY r.submitted_at, r.id LIMIT ${limit}",
            self.condition.sql
        );
        let mut query = self.condition.query(sql);
        if let Some((at, id)) = &self.after {
            query = query.bind(*at).bind(*at).bind(id.clone());
        }
        let rows = query.bind(self.size).fetch_all(self.db.pool()).await?;
        let mut batch = rows.iter().map(sabana_row).collect::<Result<Vec<_>, _>>()?;
        self.done = (batch.len() as i64) < self.size;
        let Some(last) = batch.last() else {
            return Ok(None);
        };
        self.after = Some((
            to_micros(last.summary.submitted_at),
            last.summary.id.clone(),
        ));
        add_pauses(&self.db, &mut batch, self.now).await?;
        Ok(Some(batch))
    }
}

fn sabana_row(row: &AnyRow) -> Result<SabanaRow, sqlx::Error> {
    let business: Option<String> = row.try_get("business_name")?;
    let names: String = row.try_get("names")?;
    let surnames: String = row.try_get("surnames")?;
    let last_event_at: Option<i64> = row.try_get("last_event_at")?;
    Ok(SabanaRow {
        summary: summary_from_row(row)?,
        region_name: row.try_get("region_name")?,
        comuna_name: row.try_get("comuna_name")?,
        applicant_name: business.unwrap_or_else(|| format!("{names} {surnames}")),
        applicant_rut: row.try_get("rut")?,
        applicant_email: row.try_get("email")?,
        applicant_is_installer: row.try_get::<i64, _>("is_installer")? == 1,
        additional_email: row.try_get("additional_email")?,
        related_folio: row.try_get("related_folio")?,
        brings_meter: row.try_get::<i64, _>("brings_meter")? == 1,
        attachments: row.try_get("attachment_count")?,
        last_event_at: last_event_at.map(from_micros),
        pauses: Vec::new(),
    })
}

/// The pauses of a batch's requests, in one query.
async fn add_pauses(db: &Db, batch: &mut [SabanaRow], now: Timestamp) -> Result<(), sqlx::Error> {
    let placeholders: Vec<String> = (1..=batch.len()).map(|n| format!("${n}")).collect();
    let sql = format!(
        "SELECT request_id, started_at, ended_at FROM request_pauses \
         WHERE request_id IN ({}) ORDER BY started_at, id",
        placeholders.join(", ")
    );
    let query = batch
        .iter()
        .fold(sqlx::query(AssertSqlSafe(sql)), |q, row| {
            q.bind(row.summary.id.clone())
        });
    for pause in query.fetch_all(db.pool()).await? {
        let id: String = pause.try_get("request_id")?;
        let ended: Option<i64> = pause.try_get("ended_at")?;
        let span = (
            from_micros(pause.try_get("started_at")?),
            ended.map_or(now, from_micros),
        );
        if let Some(row) = batch.iter_mut().find(|row| row.summary.id == id) {
            row.pauses.push(span);
        }
    }
    Ok(())
}
