//! The SEC reads of every request: the "Panel de Solicitudes" (filters, a sort from a closed
//! list of columns, paging) and, in [`sabana`], the full export.
//!
//! Statements are built only from constant fragments and numbered placeholders: a column to
//! sort by is chosen from [`SortColumn`], never taken from the URL.

pub mod sabana;

use jiff::civil::Date;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::Db;
use super::requests::{RequestSummary, SUMMARY_COLUMNS, summary_from_row};
use super::stats::submitted_range;
use crate::domain::request::{RequestKind, Status};

/// The statuses in which the company owes the next move: the ones that can be overdue. The
/// same set as the compliance figures (`stats`), so that the overdue count on "Cumplimiento de
/// plazos" and the panel it links to agree.
pub const OWED: [Status; 4] = [
    Status::Sent,
    Status::PendingAnswer,
    Status::PendingValidation,
    Status::PendingAnswerPaymentValidated,
];

/// Still the company's move and past its due date on `today` (a Chile date).
pub fn is_overdue(request: &RequestSummary, today: Date) -> bool {
    OWED.contains(&request.status) && request.due_on.is_some_and(|due| due < today)
}

/// Chile dates, both included; either end may be open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DateRange {
    pub from: Option<Date>,
    pub to: Option<Date>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PanelFilters {
    pub folio_prefix: Option<String>,
    pub client_number: Option<String>,
    pub kind: Option<RequestKind>,
    pub status: Option<Status>,
    pub distributor_id: Option<String>,
    pub region_code: Option<String>,
    pub submitted: DateRange,
    pub answered: DateRange,
    /// "Vencidas": owed by the company with a due date before this day (today).
    pub overdue_on: Option<Date>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortColumn {
    Reference,
    Folio,
    Client,
    Kind,
    Company,
    Submitted,
    Answered,
    Status,
    Due,
}

impl SortColumn {
    pub const ALL: [SortColumn; 9] = [
        SortColumn::Reference,
        SortColumn::Folio,
        SortColumn::Client,
        SortColumn::Kind,
        SortColumn::Company,
        SortColumn::Submitted,
        SortColumn::Answered,
        SortColumn::Status,
        SortColumn::Due,
    ];

    /// The value of `orden=` in the URL.
    pub fn param(self) -> &'static str {
        match self {
            SortColumn::Reference => "solicitud",
            SortColumn::Folio => "folio",
            SortColumn::Client => "cliente",
            SortColumn::Kind => "formulario",
            SortColumn::Company => "empresa",
            SortColumn::Submitted => "envio",
            SortColumn::Answered => "respuesta",
            SortColumn::Status => "estado",
            SortColumn::Due => "vence",
        }
    }

    pub fn from_param(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|column| column.param() == value)
    }

    /// The SQL it sorts by, and whether it may be empty. Folios sort by their number (EN9
    /// before EN10); forms and statuses by the label the reader sees, not by the stored code.
    fn expression(self) -> (String, bool) {
        match self {
            SortColumn::Reference => ("r.distributor_reference".into(), true),
            SortColumn::Folio => ("r.folio_number".into(), false),
            SortColumn::Client => (
                "COALESCE(r.client_number, r.feasibility_number)".into(),
                false,
            ),
            SortColumn::Kind => (
                label_rank("r.kind", RequestKind::ALL.map(|k| (k.code(), k.label()))),
                false,
            ),
            SortColumn::Company => ("d.name".into(), false),
            SortColumn::Submitted => ("r.submitted_at".into(), false),
            SortColumn::Answered => ("r.answered_at".into(), true),
            SortColumn::Status => (
                label_rank("r.status", Status::ALL.map(|s| (s.code(), s.label()))),
                false,
            ),
            SortColumn::Due => ("r.due_on".into(), true),
        }
    }
}

/// `CASE column WHEN 'code' THEN rank … END`, ranks in the order of the labels. Codes and
/// labels are the program's constants.
fn label_rank<const N: usize>(column: &str, mut pairs: [(&str, &str); N]) -> String {
    pairs.sort_by_key(|(_, label)| *label);
    let arms: String = pairs
        .iter()
        .enumerate()
        .map(|(rank, (code, _))| format!(" WHEN '{code}' THEN {rank}"))
        .collect();
    format!("CASE {column}{arms} END")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sort {
    pub column: SortColumn,
    pub descending: bool,
}

impl Default for Sort {
    /// Newest first, as every list of the portal opens.
    fn default() -> Self {
        Sort {
            column: SortColumn::Submitted,
            descending: true,
        }
    }
}

impl Sort {
    /// Empty cells last in both directions (SQLite and PostgreSQL disagree on where NULL goes),
    /// then the id, so that equal values keep one order from page to page.
    fn order_by(self) -> String {
        let (expression, nullable) = self.column.expression();
        let direction = if self.descending { "DESC" } else { "ASC" };
        let nulls = if nullable {
            format!("CASE WHEN {expression} IS NULL THEN 1 ELSE 0 END, ")
        } else {
            String::new()
        };
        // Folio numbers are unique: a tie-break would only keep the database from reading the
        // rows in the order of the folio index.
        if self.column == SortColumn::Folio {
            return format!("{expression} {direction}");
        }
        format!("{nulls}{expression} {direction}, r.id {direction}")
    }
}

enum Bind {
    Text(String),
    Number(i64),
}

/// A WHERE condition of constant fragments and numbered placeholders, and the bound values.
struct Condition {
    sql: String,
    binds: Vec<Bind>,
}

/// `!` escapes LIKE wildcards: it means the same to PostgreSQL and SQLite, a backslash may not.
fn folio_pattern(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.to_uppercase().chars() {
        if matches!(c, '%' | '_' | '!') {
            pattern.push('!');
        }
        pattern.push(c);
    }
    pattern + "%"
}

impl Condition {
    fn new(filters: &PanelFilters) -> Condition {
        let mut c = Condition {
            sql: "1 = 1".to_string(),
            binds: Vec::new(),
        };
        let text = |value: &str| Bind::Text(value.to_string());
        if let Some(prefix) = &filters.folio_prefix {
            c.add("r.folio LIKE {} ESCAPE '!'", [text(&folio_pattern(prefix))]);
        }
        if let Some(client) = &filters.client_number {
            let both = [text(client), text(client)];
            c.add("(r.client_number = {} OR r.feasibility_number = {})", both);
        }
        if let Some(kind) = filters.kind {
            c.add("r.kind = {}", [text(kind.code())]);
        }
        if let Some(status) = filters.status {
            c.add("r.status = {}", [text(status.code())]);
        }
        if let Some(company) = &filters.distributor_id {
            c.add("r.distributor_id = {}", [text(company)]);
        }
        if let Some(region) = &filters.region_code {
            c.add("r.region_code = {}", [text(region)]);
        }
        c.add_range("r.submitted_at", filters.submitted);
        c.add_range("r.answered_at", filters.answered);
        if let Some(today) = filters.overdue_on {
            let owed = OWED.map(|s| format!("'{}'", s.code())).join(", ");
            let fragment = format!("r.status IN ({owed}) AND r.due_on < {{}}");
            c.add(&fragment, [text(&today.to_string())]);
        }
        c
    }

    /// A stored instant within a range of Chile dates: from the first instant of `from` to
    /// before the first instant of the day after `to`.
    fn add_range(&mut self, column: &str, range: DateRange) {
        if let Some(from) = range.from {
            let start = submitted_range(from, from).0;
            self.add(&format!("{column} >= {{}}"), [Bind::Number(start)]);
        }
        if let Some(to) = range.to {
            let end = submitted_range(to, to).1;
            self.add(&format!("{column} < {{}}"), [Bind::Number(end)]);
        }
    }

    /// Appends `AND fragment`, each `{}` of the fragment becoming the next placeholder.
    fn add<const N: usize>(&mut self, fragment: &str, values: [Bind; N]) {
        let mut pieces = fragment.split("{}");
        self.sql.push_str(" AND ");
        self.sql.push_str(pieces.next().unwrap_or_default());
        for (piece, value) in pieces.zip(values) {
            self.binds.push(value);
            self.sql.push_str(&format!("${}{piece}", self.binds.len()));
        }
    }

    fn next(&self) -> usize {
        self.binds.len() + 1
    }

    fn query(
        &self,
        sql: String,
    ) -> sqlx::query::Query<'static, super::Any, sqlx::any::AnyArguments> {
        self.binds.iter().fold(
            sqlx::query(AssertSqlSafe(sql)),
            |query, value| match value {
                Bind::Text(text) => query.bind(text.clone()),
                Bind::Number(number) => query.bind(*number),
            },
        )
    }
}

const FROM: &str = "FROM requests r JOIN distributors d ON d.id = r.distributor_id";

/// One page of the matching requests in the chosen order, and how many match in all.
pub async fn page(
    db: &Db,
    filters: &PanelFilters,
    sort: Sort,
    limit: i64,
    offset: i64,
) -> Result<(Vec<RequestSummary>, i64), sqlx::Error> {
    let condition = Condition::new(filters);
    let n = condition.next();
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} {FROM} WHERE {} ORDER BY {} LIMIT ${n} OFFSET ${}",
        condition.sql,
        sort.order_by(),
        n + 1
    );
    let rows = condition
        .query(sql)
        .bind(limit)
        .bind(offset)
        .fetch_all(db.pool())
        .await?;
    let count_sql = super::requests::capped_count_sql(&condition.sql, condition.next());
    let total =
        super::requests::capped_count(db, condition.query(count_sql), offset, limit).await?;
    let items = rows
        .iter()
        .map(summary_from_row)
        .collect::<Result<_, _>>()?;
    Ok((items, total))
}

/// Every company (inactive ones too: their old requests stay on the panel) and every región,
/// as (id or code, name), for the filter lists.
pub async fn choices(
    db: &Db,
) -> Result<(Vec<(String, String)>, Vec<(String, String)>), sqlx::Error> {
    let pairs = |rows: Vec<AnyRow>| -> Result<Vec<(String, String)>, sqlx::Error> {
        rows.iter()
            .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
            .collect()
    };
    let companies = sqlx::query("SELECT id, name FROM distributors ORDER BY name, id")
        .fetch_all(db.pool())
        .await?;
    let regions = sqlx::query("SELECT code, name FROM regions ORDER BY sort_order, code")
        .fetch_all(db.pool())
        .await?;
    Ok((pairs(companies)?, pairs(regions)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_become_placeholders_in_order() {
        let filters = PanelFilters {
            folio_prefix: Some("en_1".to_string()),
            client_number: Some("1-9".to_string()),
            region_code: Some("13".to_string()),
            submitted: DateRange {
                from: Some(jiff::civil::date(2025, 3, 1)),
                to: None,
            },
            overdue_on: Some(jiff::civil::date(2025, 3, 4)),
            ..PanelFilters::default()
        };
        let condition = Condition::new(&filters);
        assert_eq!(
            condition.sql,
            "1 = 1 AND r.folio LIKE $1 ESCAPE '!' AND (r.client_number = $2 OR \
             r.feasibility_number = $3) AND r.region_code = $4 AND r.submitted_at >= $5 AND \
             r.status IN ('sent', 'pending_answer', 'pending_validation', \
             'pending_answer_payment_validated') AND r.due_on < $6"
        );
        assert_eq!(condition.next(), 7);
        assert_eq!(folio_pattern("en_1%!"), "EN!_1!%!!%");
    }

    #[test]
    fn every_column_sorts_by_a_constant_expression() {
        for column in SortColumn::ALL {
            assert_eq!(SortColumn::from_param(column.param()), Some(column));
        }
        assert_eq!(SortColumn::from_param("r.id; DROP TABLE requests"), None);
        let status = Sort {
            column: SortColumn::Status,
            descending: false,
        }
        .order_by();
        assert!(status.starts_with("CASE r.status WHEN 'annulled' THEN 0 WHEN 'sent' THEN 1"));
        assert!(status.ends_with("END ASC, r.id ASC"), "{status}");
        let due = Sort {
            column: SortColumn::Due,
            descending: true,
        }
        .order_by();
        assert_eq!(
            due,
            "CASE WHEN r.due_on IS NULL THEN 1 ELSE 0 END, r.due_on DESC, r.id DESC"
        );
        assert_eq!(Sort::default().order_by(), "r.submitted_at DESC, r.id DESC");
    }
}
