//! Figures of the SEC console: requests per day and by status (the manual's graphic panels) and
//! deadline compliance per company. Each period is read with one query per table and counted in
//! Rust, because a day in Chile is not a day in UTC and business days need the holiday calendar:
//! neither can be said in SQL that runs unchanged on SQLite and PostgreSQL.
//!
//! A request belongs to the period of its submission date in Chile. The compliance conventions
//! are on the functions below and in docs/DECISIONS.md ("SEC console: charts and compliance").

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use jiff::civil::Date;
use sqlx::Row;
use sqlx::any::AnyRow;
use unicode_normalization::UnicodeNormalization;

use super::Db;
use crate::clock::{chile, from_micros, to_micros};
use crate::domain::calendar::{BusinessCalendar, chile_date, is_on_time};
use crate::domain::request::{RequestKind, Status};

/// The stored `submitted_at` bounds of a period of Chile dates: from 00:00 of `from` in
/// Santiago (inclusive) to 00:00 of the day after `to` (exclusive).
pub fn submitted_range(from: Date, to: Date) -> (i64, i64) {
    let after = to.tomorrow().unwrap_or(to);
    (day_start(from), day_start(after))
}

/// The first instant of a day in Santiago. A midnight skipped by the change to summer time
/// resolves to 01:00, which is then the day's first instant.
fn day_start(day: Date) -> i64 {
    day.to_zoned_datetime(chile())
        .map(|zoned| to_micros(zoned.timestamp()))
        .unwrap_or(if day.year() < 0 { i64::MIN } else { i64::MAX })
}

/// Every date from `from` to `to`, both included.
pub fn days_of(from: Date, to: Date) -> impl Iterator<Item = Date> {
    std::iter::successors(Some(from), move |day| {
        day.tomorrow().ok().filter(|d| *d <= to)
    })
    .take_while(move |day| *day <= to)
}

/// Requests submitted on each day of the period, days without requests included.
pub async fn requests_per_day(
    db: &Db,
    from: Date,
    to: Date,
) -> Result<Vec<(Date, i64)>, sqlx::Error> {
    let (start, end) = submitted_range(from, to);
    let rows = sqlx::query(
        "SELECT submitted_at FROM requests WHERE submitted_at >= $1 AND submitted_at < $2",
    )
    .bind(start)
    .bind(end)
    .fetch_all(db.pool())
    .await?;
    let mut counts: BTreeMap<Date, i64> = days_of(from, to).map(|day| (day, 0)).collect();
    for row in &rows {
        let day = chile_date(from_micros(row.try_get("submitted_at")?));
        if let Some(count) = counts.get_mut(&day) {
            *count += 1;
        }
    }
    Ok(counts.into_iter().collect())
}

/// Requests submitted in the period by their current status: all nine, in the manual's order.
pub async fn requests_by_status(
    db: &Db,
    from: Date,
    to: Date,
) -> Result<Vec<(Status, i64)>, sqlx::Error> {
    let (start, end) = submitted_range(from, to);
    let rows = sqlx::query(
        "SELECT status, COUNT(*) AS n FROM requests \
         WHERE submitted_at >= $1 AND submitted_at < $2 GROUP BY status",
    )
    .bind(start)
    .bind(end)
    .fetch_all(db.pool())
    .await?;
    let mut found: HashMap<String, i64> = HashMap::new();
    for row in &rows {
        found.insert(row.try_get("status")?, row.try_get("n")?);
    }
    Ok(Status::ALL
        .into_iter()
        .map(|status| (status, found.get(status.code()).copied().unwrap_or(0)))
        .collect())
}

/// What the compliance figures need of one request.
#[derive(Clone, Debug)]
pub struct RequestFacts {
    pub id: String,
    pub distributor_id: String,
    pub distributor_name: String,
    pub kind: RequestKind,
    pub status: Status,
    pub submitted_at: Timestamp,
    pub answered_at: Option<Timestamp>,
    pub due_on: Option<Date>,
    /// Closed pauses; an open one ends at the time the figures are computed.
    pub pauses: Vec<(Timestamp, Timestamp)>,
}

/// The compliance figures of a set of requests (one company's, or all of them).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Compliance {
    pub received: i64,
    pub answered: i64,
    /// Answered requests that had a deadline: the denominator of the on-time share.
    pub answered_with_deadline: i64,
    pub on_time: i64,
    pub overdue: i64,
    /// Business days each answered request took.
    days: Vec<i64>,
}

impl Compliance {
    /// Percentage of on-time answers; `None` when no answered request had a deadline.
    pub fn on_time_share(&self) -> Option<f64> {
        (self.answered_with_deadline > 0)
            .then(|| 100.0 * self.on_time as f64 / self.answered_with_deadline as f64)
    }

    /// The median of business days to answer (mean of the middle two for an even count).
    pub fn median_days(&self) -> Option<f64> {
        let mut days = self.days.clone();
        days.sort_unstable();
        let middle = days.len() / 2;
        match days.len() {
            0 => None,
            n if n % 2 == 1 => Some(days[middle] as f64),
            _ => Some((days[middle - 1] + days[middle]) as f64 / 2.0),
        }
    }

    fn add(&mut self, request: &RequestFacts, calendar: &BusinessCalendar, today: Date) {
        self.received += 1;
        if let Some(answered_at) = request.answered_at {
            self.answered += 1;
            let days =
                calendar.business_days_used(request.submitted_at, answered_at, &request.pauses);
            self.days.push(days);
            if let Some(on_time) = answered_on_time(request, answered_at) {
                self.answered_with_deadline += 1;
                self.on_time += i64::from(on_time);
            }
        }
        self.overdue += i64::from(is_overdue(request, today));
    }
}

/// `None` when the request had no deadline (MC), which leaves it out of the on-time share.
fn answered_on_time(request: &RequestFacts, answered_at: Timestamp) -> Option<bool> {
    let due = request.due_on?;
    Some(request.status == Status::AutoAnswered || is_on_time(answered_at, due))
}

/// Still the company's move (not answered, not annulled, not waiting on the applicant), and
/// past its due date.
fn is_overdue(request: &RequestFacts, today: Date) -> bool {
    let owed = matches!(
        request.status,
        Status::Sent
            | Status::PendingAnswer
            | Status::PendingValidation
            | Status::PendingAnswerPaymentValidated
    );
    owed && request.due_on.is_some_and(|due| due < today)
}

#[derive(Clone, Debug)]
pub struct CompanyCompliance {
    pub distributor_id: String,
    pub name: String,
    pub figures: Compliance,
}

#[derive(Clone, Debug, Default)]
pub struct ComplianceReport {
    /// Companies with requests in the period, by name.
    pub companies: Vec<CompanyCompliance>,
    pub total: Compliance,
}

/// The figures per company and in total; `today` is the Chile date that "overdue" refers to.
pub fn summarize(
    requests: &[RequestFacts],
    calendar: &BusinessCalendar,
    today: Date,
) -> ComplianceReport {
    let mut total = Compliance::default();
    // Keyed so as to come out in the order of the table: by name, then by id.
    let mut companies: BTreeMap<(String, String, String), Compliance> = BTreeMap::new();
    for request in requests {
        let name = &request.distributor_name;
        let key = (sort_key(name), name.clone(), request.distributor_id.clone());
        companies
            .entry(key)
            .or_default()
            .add(request, calendar, today);
        total.add(request, calendar, today);
    }
    let companies = companies
        .into_iter()
        .map(|((_, name, distributor_id), figures)| CompanyCompliance {
            distributor_id,
            name,
            figures,
        })
        .collect();
    ComplianceReport { companies, total }
}

/// Spanish readers expect "Ñuble" after "Nuble" and "álamo" among the a's: compare without
/// accents and case first (the databases' own orders differ between SQLite and PostgreSQL).
fn sort_key(name: &str) -> String {
    name.nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

const FACTS_SQL: &str = "SELECT r.id, r.distributor_id, d.name AS distributor_name, r.kind, \
     r.status, r.submitted_at, r.answered_at, r.due_on \
     FROM requests r JOIN distributors d ON d.id = r.distributor_id \
     WHERE r.submitted_at >= $1 AND r.submitted_at < $2 AND ($3 = '' OR r.kind = $3)";

const PAUSES_SQL: &str = "SELECT p.request_id, p.started_at, p.ended_at \
     FROM request_pauses p JOIN requests r ON r.id = p.request_id \
     WHERE r.submitted_at >= $1 AND r.submitted_at < $2 AND ($3 = '' OR r.kind = $3)";

/// The requests submitted in the period (of one kind, if given), with their pauses: two
/// queries whatever the number of requests. Open pauses end at `now`.
pub async fn load_facts(
    db: &Db,
    from: Date,
    to: Date,
    kind: Option<RequestKind>,
    now: Timestamp,
) -> Result<Vec<RequestFacts>, sqlx::Error> {
    let (start, end) = submitted_range(from, to);
    let kind = kind.map(RequestKind::code).unwrap_or_default();
    let pause_rows = sqlx::query(PAUSES_SQL)
        .bind(start)
        .bind(end)
        .bind(kind)
        .fetch_all(db.pool())
        .await?;
    let mut pauses: HashMap<String, Vec<(Timestamp, Timestamp)>> = HashMap::new();
    for row in &pause_rows {
        let ended: Option<i64> = row.try_get("ended_at")?;
        let pause = (
            from_micros(row.try_get("started_at")?),
            ended.map_or(now, from_micros),
        );
        pauses
            .entry(row.try_get("request_id")?)
            .or_default()
            .push(pause);
    }
    let rows = sqlx::query(FACTS_SQL)
        .bind(start)
        .bind(end)
        .bind(kind)
        .fetch_all(db.pool())
        .await?;
    rows.iter()
        .map(|row| facts_from_row(row, &mut pauses))
        .collect()
}

fn facts_from_row(
    row: &AnyRow,
    pauses: &mut HashMap<String, Vec<(Timestamp, Timestamp)>>,
) -> Result<RequestFacts, sqlx::Error> {
    let id: String = row.try_get("id")?;
    let kind: String = row.try_get("kind")?;
    let status: String = row.try_get("status")?;
    let answered_at: Option<i64> = row.try_get("answered_at")?;
    let due_on: Option<String> = row.try_get("due_on")?;
    Ok(RequestFacts {
        pauses: pauses.remove(&id).unwrap_or_default(),
        id,
        distributor_id: row.try_get("distributor_id")?,
        distributor_name: row.try_get("distributor_name")?,
        kind: RequestKind::from_code(&kind).ok_or_else(|| decode_error("kind", &kind))?,
        status: Status::from_code(&status).ok_or_else(|| decode_error("status", &status))?,
        submitted_at: from_micros(row.try_get("submitted_at")?),
        answered_at: answered_at.map(from_micros),
        due_on: due_on.and_then(|day| day.parse().ok()),
    })
}

fn decode_error(column: &str, value: &str) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_string(),
        source: format!("unexpected value {value:?}").into(),
    }
}

/// Compliance per company for the requests submitted in the period, with the holiday
/// calendar read once.
pub async fn compliance(
    db: &Db,
    from: Date,
    to: Date,
    kind: Option<RequestKind>,
    now: Timestamp,
) -> Result<ComplianceReport, sqlx::Error> {
    let calendar = BusinessCalendar::new(super::requests::holidays(db.pool()).await?);
    let facts = load_facts(db, from, to, kind, now).await?;
    Ok(summarize(&facts, &calendar, chile_date(now)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn at(instant: &str) -> Timestamp {
        instant.parse().unwrap()
    }

    fn request(company: &str, status: Status, answered: Option<&str>) -> RequestFacts {
        RequestFacts {
            id: format!("{company}-{status:?}"),
            distributor_id: company.to_string(),
            distributor_name: company.to_string(),
            kind: RequestKind::Information,
            status,
            // Monday 14 April 2025, 10:00 in Santiago; 10 business days end on 29 April.
            submitted_at: at("2025-04-14T14:00:00Z"),
            answered_at: answered.map(at),
            due_on: Some(date(2025, 4, 29)),
            pauses: vec![],
        }
    }

    #[test]
    fn a_period_is_bounded_by_midnights_in_santiago() {
        // 1 March 2025 00:00 is 03:00 UTC (summer); 1 April 2025 00:00 is 03:00 UTC too, as
        // the change to winter time comes on 6 April.
        let (start, end) = submitted_range(date(2025, 3, 1), date(2025, 3, 31));
        assert_eq!(from_micros(start), at("2025-03-01T03:00:00Z"));
        assert_eq!(from_micros(end), at("2025-04-01T03:00:00Z"));
        // 7 September 2025 00:00 does not exist in Santiago: the day starts at 01:00 (04:00 UTC).
        let (start, _) = submitted_range(date(2025, 9, 7), date(2025, 9, 7));
        assert_eq!(from_micros(start), at("2025-09-07T04:00:00Z"));
        assert_eq!(days_of(date(2025, 2, 27), date(2025, 3, 2)).count(), 4);
        assert_eq!(days_of(date(2025, 3, 2), date(2025, 3, 1)).count(), 0);
    }

    #[test]
    fn paused_days_before_the_answer_are_not_counted() {
        let calendar = BusinessCalendar::new([date(2025, 4, 18)]);
        let mut paused = request("A", Status::Answered, Some("2025-04-29T15:00:00Z"));
        // 17, 21 and 22 April are given back: 10 days used become 7.
        paused.pauses = vec![(at("2025-04-16T19:00:00Z"), at("2025-04-22T13:00:00Z"))];
        let late = request("A", Status::Answered, Some("2025-04-30T15:00:00Z"));
        let auto = request("B", Status::AutoAnswered, Some("2025-04-14T14:00:00Z"));
        let mut mc = request("B", Status::Answered, Some("2025-04-15T14:00:00Z"));
        mc.due_on = None;
        let open = request("B", Status::PendingAnswer, None);
        let today = date(2025, 4, 30);
        let report = summarize(&[paused, late, auto, mc, open], &calendar, today);
        let a = &report.companies[0].figures;
        assert_eq!(
            (a.received, a.answered, a.on_time, a.answered_with_deadline),
            (2, 2, 1, 2)
        );
        assert_eq!(a.median_days(), Some(9.0), "7 and 11 days");
        let b = &report.companies[1].figures;
        assert_eq!((b.answered_with_deadline, b.on_time, b.overdue), (1, 1, 1));
        assert_eq!(b.median_days(), Some(0.5), "0 and 1 days");
        assert_eq!(report.total.on_time_share(), Some(200.0 / 3.0));
        assert_eq!(report.total.median_days(), Some(4.0), "0, 1, 7 and 11 days");
    }

    #[test]
    fn names_sort_without_regard_to_accents_or_case() {
        let names = ["Zona Sur", "Ñuble", "Coopelan", "edelaysen", "Álamo"];
        let mut sorted: Vec<&str> = names.to_vec();
        sorted.sort_by_cached_key(|name| sort_key(name));
        assert_eq!(
            sorted,
            ["Álamo", "Coopelan", "edelaysen", "Ñuble", "Zona Sur"]
        );
    }
}
