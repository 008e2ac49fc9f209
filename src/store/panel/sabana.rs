//! The "Data – Sábana de Solicitudes": every field of the requests submitted in a period, read
//! in keyset batches so that memory stays flat however many there are.

use std::collections::HashMap;

use jiff::Timestamp;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Condition, DateRange, PanelFilters};
use crate::clock::{from_micros, to_micros};
use crate::domain::request::RequestKind;
use crate::store::Db;
use crate::store::requests::{RequestSummary, summary_with_distributor};

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

/// The request's own columns and its applicant's: the company, region and comuna names come
/// from [`Names`], read once per export instead of joined to each of a million rows.
const SABANA_SQL: &str = "SELECT r.id, r.folio, r.kind, r.status, r.client_number, \
     r.feasibility_number, r.distributor_reference, r.distributor_id, r.related_request_id, \
     r.submitted_at, r.answered_at, r.due_on, r.region_code, r.comuna_code, \
     r.additional_email, r.brings_meter, r.business_days_taken, u.names, u.surnames, u.business_name, u.rut, u.email, \
     u.is_installer, rel.folio AS related_folio, \
     (SELECT COUNT(*) FROM attachments a WHERE a.request_id = r.id) AS attachment_count, \
     (SELECT MAX(e.created_at) FROM request_events e WHERE e.request_id = r.id) AS last_event_at \
     FROM requests r JOIN users u ON u.id = r.applicant_id \
     LEFT JOIN requests rel ON rel.id = r.related_request_id";

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
    names: Option<Names>,
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

impl SabanaBatches {
    /// The next batch, or `None` once every row was read.
    pub async fn next(&mut self) -> Result<Option<Vec<SabanaRow>>, sqlx::Error> {
        if self.done {
            return Ok(None);
        }
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
        let sql = format!(
            "{SABANA_SQL} WHERE {}{keyset} ORDER BY r.submitted_at, r.id LIMIT ${limit}",
            condition.sql
        );
        let mut query = condition.query(sql);
        if let Some((at, id)) = &self.after {
            query = query.bind(*at).bind(id.clone());
        }
        let names = match &self.names {
            Some(names) => names,
            None => self.names.insert(Names::load(&self.db).await?),
        };
        let rows = query.bind(self.size).fetch_all(self.db.pool()).await?;
        let mut batch = rows
            .iter()
            .map(|row| sabana_row(row, names))
            .collect::<Result<Vec<_>, _>>()?;
        self.done = (batch.len() as i64) < self.size;
        let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
            return Ok(None);
        };
        let span = (
            to_micros(first.summary.submitted_at),
            to_micros(last.summary.submitted_at),
        );
        self.after = Some((span.1, last.summary.id.clone()));
        self.add_pauses(&mut batch, span).await?;
        Ok(Some(batch))
    }

    /// The pauses of a batch's requests, in one query: those of every request submitted
    /// within the batch's first and last instants. Requests outside the export (another kind,
    /// or of a neighbouring batch submitted at the very same instant) are read too, and left
    /// out by their id. The submission range is the query's only condition on purpose: it is
    /// what both databases seek on (see `continuing`).
    async fn add_pauses(
        &self,
        batch: &mut [SabanaRow],
        (first, last): (i64, i64),
    ) -> Result<(), sqlx::Error> {
        let pauses = sqlx::query(
            "SELECT p.request_id, p.started_at, p.ended_at FROM request_pauses p \
             JOIN requests r ON r.id = p.request_id \
             WHERE r.submitted_at >= $1 AND r.submitted_at <= $2 \
             ORDER BY p.started_at, p.id",
        )
        .bind(first)
        .bind(last)
        .fetch_all(self.db.pool())
        .await?;
        if pauses.is_empty() {
            return Ok(());
        }
        let position: HashMap<&str, usize> = batch
            .iter()
            .enumerate()
            .map(|(index, row)| (row.summary.id.as_str(), index))
            .collect();
        let mut spans: Vec<(usize, (Timestamp, Timestamp))> = Vec::new();
        for pause in &pauses {
            let id: String = pause.try_get("request_id")?;
            let ended: Option<i64> = pause.try_get("ended_at")?;
            if let Some(&index) = position.get(id.as_str()) {
                let started = from_micros(pause.try_get("started_at")?);
                spans.push((index, (started, ended.map_or(self.now, from_micros))));
            }
        }
        for (index, span) in spans {
            batch[index].pauses.push(span);
        }
        Ok(())
    }
}

fn sabana_row(row: &AnyRow, names: &Names) -> Result<SabanaRow, sqlx::Error> {
    let business: Option<String> = row.try_get("business_name")?;
    let names_of_person: String = row.try_get("names")?;
    let surnames: String = row.try_get("surnames")?;
    let last_event_at: Option<i64> = row.try_get("last_event_at")?;
    let distributor_id: String = row.try_get("distributor_id")?;
    let region_code: String = row.try_get("region_code")?;
    let comuna_code: String = row.try_get("comuna_code")?;
    Ok(SabanaRow {
        summary: summary_with_distributor(row, Names::of(&names.distributors, &distributor_id))?,
        region_name: Names::of(&names.regions, &region_code),
        comuna_name: Names::of(&names.comunas, &comuna_code),
        applicant_name: business.unwrap_or_else(|| format!("{names_of_person} {surnames}")),
        applicant_rut: row.try_get("rut")?,
        applicant_email: row.try_get("email")?,
        applicant_is_installer: row.try_get::<i64, _>("is_installer")? == 1,
        additional_email: row.try_get("additional_email")?,
        related_folio: row.try_get("related_folio")?,
        brings_meter: row.try_get::<i64, _>("brings_meter")? == 1,
        attachments: row.try_get("attachment_count")?,
        last_event_at: last_event_at.map(from_micros),
        business_days_taken: row.try_get("business_days_taken")?,
        pauses: Vec::new(),
    })
}
