//! Figures of the SEC console: requests per day and by status (the manual's graphic panels) and
//! deadline compliance per company. A day in Chile is not a day in UTC and business days need the
//! holiday calendar: neither can be said in SQL that runs unchanged on SQLite and PostgreSQL.
//! Requests per day are therefore counted in Rust; compliance is counted by the database over
//! figures each answer keeps on its request when it is given (see [`answer_figures`]).
//!
//! A request belongs to the period of its submission date in Chile. The compliance conventions
//! are on the functions below and in docs/DECISIONS.md ("SEC console: charts and compliance").

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use jiff::civil::Date;
use sqlx::{AssertSqlSafe, Row};
use unicode_normalization::UnicodeNormalization;

use super::Db;
use crate::clock::{chile, from_micros, to_micros};
use crate::domain::calendar::{BusinessCalendar, chile_date};
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

/// Microseconds in an hour. Chile's offsets from UTC are whole hours, so every instant of one
/// UTC hour falls on the same Chile date.
const MICROS_PER_HOUR: i64 = 3_600_000_000;

/// Requests submitted on each day of the period, days without requests included. The database
/// counts them per UTC hour (at most 24 rows a day, however many requests) and each hour is
/// put on its Chile date here, so that summer time is followed exactly by both databases.
pub async fn requests_per_day(
    db: &Db,
    from: Date,
    to: Date,
) -> Result<Vec<(Date, i64)>, sqlx::Error> {
    let (start, end) = submitted_range(from, to);
    let rows = sqlx::query(
        "SELECT submitted_at / $3 AS hour, COUNT(*) AS n FROM requests \
         WHERE submitted_at >= $1 AND submitted_at < $2 GROUP BY submitted_at / $3",
    )
    .bind(start)
    .bind(end)
    .bind(MICROS_PER_HOUR)
    .fetch_all(db.pool())
    .await?;
    let mut counts: BTreeMap<Date, i64> = days_of(from, to).map(|day| (day, 0)).collect();
    for row in &rows {
        let hour: i64 = row.try_get("hour")?;
        let day = chile_date(from_micros(hour * MICROS_PER_HOUR));
        if let Some(count) = counts.get_mut(&day) {
            *count += row.try_get::<i64, _>("n")?;
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

/// The compliance figures of a set of requests (one company's, or all of them).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Compliance {
    pub received: i64,
    pub answered: i64,
    /// Answered requests that had a deadline: the denominator of the on-time share.
    pub answered_with_deadline: i64,
    pub on_time: i64,
    pub overdue: i64,
    /// How many answered requests took each number of business days.
    days: BTreeMap<i64, i64>,
}

impl Compliance {
    /// Percentage of on-time answers; `None` when no answered request had a deadline.
    pub fn on_time_share(&self) -> Option<f64> {
        (self.answered_with_deadline > 0)
            .then(|| 100.0 * self.on_time as f64 / self.answered_with_deadline as f64)
    }

    /// The median of business days to answer (mean of the middle two for an even count).
    pub fn median_days(&self) -> Option<f64> {
        let count: i64 = self.days.values().sum();
        if count == 0 {
            return None;
        }
        // The values at (0-based) positions (count - 1) / 2 and count / 2 of the sorted days.
        let nth = |position: i64| {
            let mut seen = 0;
            self.days.iter().find_map(|(&days, &n)| {
                seen += n;
                (seen > position).then_some(days)
            })
        };
        let (low, high) = (nth((count - 1) / 2)?, nth(count / 2)?);
        Some((low + high) as f64 / 2.0)
    }

    fn add(&mut self, other: &Compliance) {
        self.received += other.received;
        self.answered += other.answered;
        self.answered_with_deadline += other.answered_with_deadline;
        self.on_time += other.on_time;
        self.overdue += other.overdue;
        for (&days, &n) in &other.days {
            *self.days.entry(days).or_default() += n;
        }
    }
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

/// What an answer's figures are, fixed when it is given and kept on the request
/// (`answered_on`, `business_days_taken`): the Chile date of the answer, which decides whether
/// it was on time, and the business days used from receipt to it, without the days given back
/// by `pauses` (one still open ends at the answer). Counted with the holidays known then, as
/// the due date was.
pub fn answer_figures(
    calendar: &BusinessCalendar,
    submitted_at: Timestamp,
    answered_at: Timestamp,
    pauses: &[(Timestamp, Timestamp)],
) -> (Date, i64) {
    (
        chile_date(answered_at),
        calendar.business_days_used(submitted_at, answered_at, pauses),
    )
}

/// Spanish readers expect "Ñuble" after "Nuble" and "álamo" among the a's: compare without
/// accents and case first (the databases' own orders differ between SQLite and PostgreSQL).
fn sort_key(name: &str) -> String {
    name.nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The requests of the period (and kind, when `$3` is not empty).
const PERIOD: &str = "r.submitted_at >= $1 AND r.submitted_at < $2 AND ($3 = '' OR r.kind = $3)";

/// The counts per company; `$4` is today in Chile, for the overdue ones.
fn counts_sql() -> String {
    let owed = [
        Status::Sent,
        Status::PendingAnswer,
        Status::PendingValidation,
        Status::PendingAnswerPaymentValidated,
    ]
    .map(|status| format!("'{}'", status.code()))
    .join(", ");
    let answered_with_deadline = "r.answered_at IS NOT NULL AND r.due_on IS NOT NULL";
    let auto = Status::AutoAnswered.code();
    format!(
        "SELECT r.distributor_id, COUNT(*) AS received, COUNT(r.answered_at) AS answered, \
         SUM(CASE WHEN {answered_with_deadline} THEN 1 ELSE 0 END) AS with_deadline, \
         SUM(CASE WHEN {answered_with_deadline} \
             AND (r.status = '{auto}' OR r.answered_on <= r.due_on) THEN 1 ELSE 0 END) AS on_time, \
         SUM(CASE WHEN r.status IN ({owed}) AND r.due_on < $4 THEN 1 ELSE 0 END) AS overdue \
         FROM requests r WHERE {PERIOD} GROUP BY r.distributor_id"
    )
}

/// How many answered requests of each company took each number of business days.
const DAYS_SQL: &str = "SELECT r.distributor_id, r.business_days_taken AS days, COUNT(*) AS n \
     FROM requests r WHERE r.answered_at IS NOT NULL AND r.submitted_at >= $1 \
     AND r.submitted_at < $2 AND ($3 = '' OR r.kind = $3) \
     GROUP BY r.distributor_id, r.business_days_taken";

/// Compliance per company for the requests submitted in the period: two grouped queries,
/// whatever the number of requests, over the figures each answer keeps. `now` decides which
/// requests are overdue.
pub async fn compliance(
    db: &Db,
    from: Date,
    to: Date,
    kind: Option<RequestKind>,
    now: Timestamp,
) -> Result<ComplianceReport, sqlx::Error> {
    let (start, end) = submitted_range(from, to);
    let kind = kind.map(RequestKind::code).unwrap_or_default();
    let today = chile_date(now).to_string();
    let mut figures: HashMap<String, Compliance> = HashMap::new();
    let counts = sqlx::query(AssertSqlSafe(counts_sql()))
        .bind(start)
        .bind(end)
        .bind(kind)
        .bind(today)
        .fetch_all(db.pool())
        .await?;
    for row in &counts {
        let number = |column: &str| -> Result<i64, sqlx::Error> {
            // SUM over no rows is NULL; a group has at least one row, but say so anyway.
            Ok(row.try_get::<Option<i64>, _>(column)?.unwrap_or(0))
        };
        figures.insert(
            row.try_get("distributor_id")?,
            Compliance {
                received: number("received")?,
                answered: number("answered")?,
                answered_with_deadline: number("with_deadline")?,
                on_time: number("on_time")?,
                overdue: number("overdue")?,
                days: BTreeMap::new(),
            },
        );
    }
    let days = sqlx::query(DAYS_SQL)
        .bind(start)
        .bind(end)
        .bind(kind)
        .fetch_all(db.pool())
        .await?;
    for row in &days {
        let company: String = row.try_get("distributor_id")?;
        // Every answer records its days; a row without them would be a bug, not a zero.
        let Some(taken) = row.try_get::<Option<i64>, _>("days")? else {
            tracing::error!(company, "answered requests without their business days");
            continue;
        };
        if let Some(figures) = figures.get_mut(&company) {
            *figures.days.entry(taken).or_default() += row.try_get::<i64, _>("n")?;
        }
    }
    let names = company_names(db).await?;
    let mut total = Compliance::default();
    let mut companies: Vec<(String, CompanyCompliance)> = figures
        .into_iter()
        .map(|(distributor_id, figures)| {
            total.add(&figures);
            let name = names.get(&distributor_id).cloned().unwrap_or_default();
            let company = CompanyCompliance {
                distributor_id,
                name,
                figures,
            };
            (sort_key(&company.name), company)
        })
        .collect();
    companies.sort_by(|(a, x), (b, y)| {
        (a, &x.name, &x.distributor_id).cmp(&(b, &y.name, &y.distributor_id))
    });
    Ok(ComplianceReport {
        companies: companies.into_iter().map(|(_, company)| company).collect(),
        total,
    })
}

async fn company_names(db: &Db) -> Result<HashMap<String, String>, sqlx::Error> {
    let rows = sqlx::query("SELECT id, name FROM distributors")
        .fetch_all(db.pool())
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("id")?, row.try_get("name")?)))
        .collect()
}

/// Computes the answer figures of requests answered before they were kept (databases from
/// before migration 0006), a few hundred at a time; returns how many were filled. Fast when
/// there is nothing to do: a partial index holds exactly the rows still missing them.
pub async fn fill_missing_answer_figures(db: &Db) -> Result<u64, sqlx::Error> {
    let calendar = BusinessCalendar::new(super::requests::holidays(db.pool()).await?);
    let mut filled = 0;
    loop {
        let rows = sqlx::query(
            "SELECT id, submitted_at, answered_at FROM requests \
             WHERE answered_at IS NOT NULL AND answered_on IS NULL LIMIT 500",
        )
        .fetch_all(db.pool())
        .await?;
        if rows.is_empty() {
            return Ok(filled);
        }
        let mut tx = db.begin().await?;
        for row in &rows {
            let id: String = row.try_get("id")?;
            let submitted_at = from_micros(row.try_get("submitted_at")?);
            let answered_at = from_micros(row.try_get("answered_at")?);
            let pauses = super::transitions::pauses(&mut tx, &id, answered_at).await?;
            let (day, taken) = answer_figures(&calendar, submitted_at, answered_at, &pauses);
            sqlx::query(
                "UPDATE requests SET answered_on = $2, business_days_taken = $3 WHERE id = $1",
            )
            .bind(&id)
            .bind(day.to_string())
            .bind(taken)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        filled += rows.len() as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn at(instant: &str) -> Timestamp {
        instant.parse().unwrap()
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
    fn the_median_is_read_from_the_counts_of_days() {
        let figures = |days: &[(i64, i64)]| Compliance {
            days: days.iter().copied().collect(),
            ..Compliance::default()
        };
        assert_eq!(figures(&[]).median_days(), None);
        assert_eq!(figures(&[(7, 1)]).median_days(), Some(7.0));
        // 0, 1: the mean of the middle two.
        assert_eq!(figures(&[(0, 1), (1, 1)]).median_days(), Some(0.5));
        // 1, 2, 4, 11.
        assert_eq!(
            figures(&[(1, 1), (2, 1), (4, 1), (11, 1)]).median_days(),
            Some(3.0)
        );
        // 0, 1, 1, 2, 4, 11 and 2, 2, 2, 9.
        let mut total = figures(&[(0, 1), (1, 2), (2, 1), (4, 1), (11, 1)]);
        assert_eq!(total.median_days(), Some(1.5));
        total.add(&figures(&[(2, 3), (9, 1)]));
        assert_eq!(total.median_days(), Some(2.0));
    }

    #[test]
    fn an_answer_keeps_its_chile_date_and_the_days_used() {
        let calendar = BusinessCalendar::new([date(2025, 4, 18)]);
        let received = at("2025-04-16T14:00:00Z");
        // 21:30 on Tuesday 22 April in Santiago is already the 23rd in UTC.
        let answered = at("2025-04-23T01:30:00Z");
        // 17, 21 and 22 April (18 is a holiday, 19 and 20 the weekend).
        let (day, taken) = answer_figures(&calendar, received, answered, &[]);
        assert_eq!((day, taken), (date(2025, 4, 22), 3));
        // A pause from the 16th to the 21st gives back the 17th and the 21st.
        let pause = (at("2025-04-16T19:00:00Z"), at("2025-04-21T13:00:00Z"));
        assert_eq!(answer_figures(&calendar, received, answered, &[pause]).1, 1);
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
