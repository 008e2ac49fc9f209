//! The filters of the distribuidora's "Bandeja de Solicitudes" and its report: N° Solicitud,
//! N° Folio (by its first characters), N° Cliente, Tipo de formulario and Estado. They always
//! narrow the viewer's own predicate, never widen it.

use sqlx::AssertSqlSafe;
use sqlx::any::AnyRow;

use super::Db;
use super::requests::{RequestSummary, SUMMARY_COLUMNS, Viewer, summary_from_row};
use crate::clock::to_micros;
use crate::domain::request::{RequestKind, Status};

/// The query parameter names, shared by the form, the links and the parser.
pub const REFERENCE_PARAM: &str = "solicitud";
pub const FOLIO_PARAM: &str = "folio";
pub const CLIENT_PARAM: &str = "cliente";
pub const KIND_PARAM: &str = "tipo";
pub const STATUS_PARAM: &str = "estado";

/// The LIKE escape character. Not a backslash: PostgreSQL and SQLite read backslashes in
/// string literals differently depending on settings, `!` means the same to both.
const LIKE_ESCAPE: char = '!';

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filters {
    pub distributor_reference: Option<String>,
    pub folio_prefix: Option<String>,
    pub client_number: Option<String>,
    pub kind: Option<RequestKind>,
    pub status: Option<Status>,
}

fn present(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_string())
}

impl Filters {
    /// Reads a raw URL query (`folio=EN1&tipo=SI`); other parameters (paging) are ignored, and
    /// so are unknown kinds and statuses, so that an old bookmark still opens the list.
    pub fn from_query(query: &str) -> Filters {
        let mut filters = Filters::default();
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match name.as_ref() {
                REFERENCE_PARAM => filters.distributor_reference = present(&value),
                FOLIO_PARAM => filters.folio_prefix = present(&value),
                CLIENT_PARAM => filters.client_number = present(&value),
                KIND_PARAM => {
                    filters.kind = RequestKind::from_code(&value.trim().to_ascii_uppercase())
                }
                STATUS_PARAM => filters.status = Status::from_code(value.trim()),
                _ => {}
            }
        }
        filters
    }

    /// The set filters as a URL query, without the leading `?`; empty when none is set.
    pub fn to_query_string(&self) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        let pairs = [
            (REFERENCE_PARAM, self.distributor_reference.as_deref()),
            (FOLIO_PARAM, self.folio_prefix.as_deref()),
            (CLIENT_PARAM, self.client_number.as_deref()),
            (KIND_PARAM, self.kind.map(RequestKind::code)),
            (STATUS_PARAM, self.status.map(Status::code)),
        ];
        for (name, value) in pairs {
            if let Some(value) = value {
                query.append_pair(name, value);
            }
        }
        query.finish()
    }

    pub fn is_empty(&self) -> bool {
        *self == Filters::default()
    }
}

/// A LIKE pattern matching what starts with `prefix`, upper-cased as folios are stored.
fn folio_pattern(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.to_uppercase().chars() {
        if matches!(c, '%' | '_') || c == LIKE_ESCAPE {
            pattern.push(LIKE_ESCAPE);
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// A WHERE condition built only from constant fragments and numbered placeholders, and the
/// text values bound to them in order.
struct Condition {
    sql: String,
    binds: Vec<String>,
}

impl Condition {
    fn new(viewer: &Viewer, filters: &Filters) -> Condition {
        let (predicate, bind) = viewer.predicate(1);
        let mut condition = Condition {
            sql: predicate,
            binds: bind.map(str::to_string).into_iter().collect(),
        };
        if let Some(reference) = &filters.distributor_reference {
            condition.add("r.distributor_reference = {}", &[reference]);
        }
        if let Some(prefix) = &filters.folio_prefix {
            let escaped = format!("r.folio LIKE {{}} ESCAPE '{LIKE_ESCAPE}'");
            condition.add(&escaped, &[&folio_pattern(prefix)]);
        }
        if let Some(client) = &filters.client_number {
            let both = [client.as_str(), client.as_str()];
            condition.add("(r.client_number = {} OR r.feasibility_number = {})", &both);
        }
        if let Some(kind) = filters.kind {
            condition.add("r.kind = {}", &[kind.code()]);
        }
        if let Some(status) = filters.status {
            condition.add("r.status = {}", &[status.code()]);
        }
        condition
    }

    /// Appends `AND fragment`, each `{}` of the fragment becoming the next placeholder.
    fn add(&mut self, fragment: &str, values: &[&str]) {
        let mut pieces = fragment.split("{}");
        self.sql.push_str(" AND ");
        self.sql.push_str(pieces.next().unwrap_or_default());
        for (piece, value) in pieces.zip(values) {
            self.binds.push(value.to_string());
            self.sql.push_str(&format!("${}{piece}", self.binds.len()));
        }
    }

    /// The placeholder number after the last bound value.
    fn next(&self) -> usize {
        self.binds.len() + 1
    }

    fn query(
        &self,
        sql: String,
    ) -> sqlx::query::Query<'static, super::Any, sqlx::any::AnyArguments> {
        self.binds
            .iter()
            .fold(sqlx::query(AssertSqlSafe(sql)), |query, value| {
                query.bind(value.clone())
            })
    }
}

const FROM: &str = "FROM requests r JOIN distributors d ON d.id = r.distributor_id";

fn summaries(rows: &[AnyRow]) -> Result<Vec<RequestSummary>, sqlx::Error> {
    rows.iter().map(summary_from_row).collect()
}

/// One page of the requests the viewer may see that match the filters, newest first, and how
/// many match in all.
pub async fn list_filtered(
    db: &Db,
    viewer: &Viewer,
    filters: &Filters,
    limit: i64,
    offset: i64,
) -> Result<(Vec<RequestSummary>, i64), sqlx::Error> {
    let condition = Condition::new(viewer, filters);
    let next = condition.next();
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} {FROM} WHERE {} \
         ORDER BY r.submitted_at DESC, r.id DESC LIMIT ${next} OFFSET ${}",
        condition.sql,
        next + 1
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
    Ok((summaries(&rows)?, total))
}

/// Reads every matching request, newest first, a batch at a time: each batch continues after
/// the last row of the previous one (keyset on submitted_at and id), so a report of a million
/// rows holds one batch in memory and never pays for a growing OFFSET.
pub struct Batches {
    db: Db,
    condition: Condition,
    size: i64,
    after: Option<(i64, String)>,
    done: bool,
}

/// The batched reader of [`Batches`] over the viewer's requests that match the filters.
pub fn batches(db: &Db, viewer: &Viewer, filters: &Filters, size: i64) -> Batches {
    Batches {
        db: db.clone(),
        condition: Condition::new(viewer, filters),
        size: size.max(1),
        after: None,
        done: false,
    }
}

impl Batches {
    /// The next batch, or `None` once every row was read.
    pub async fn next(&mut self) -> Result<Option<Vec<RequestSummary>>, sqlx::Error> {
        if self.done {
            return Ok(None);
        }
        let rows = match &self.after {
            None => self.first_batch().await?,
            Some((at, id)) => self.batch_after(*at, id.clone()).await?,
        };
        let batch = summaries(&rows)?;
        self.done = (batch.len() as i64) < self.size;
        match batch.last() {
            Some(last) => self.after = Some((to_micros(last.submitted_at), last.id.clone())),
            None => return Ok(None),
        }
        Ok(Some(batch))
    }

    async fn first_batch(&self) -> Result<Vec<AnyRow>, sqlx::Error> {
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} {FROM} WHERE {} \
             ORDER BY r.submitted_at DESC, r.id DESC LIMIT ${}",
            self.condition.sql,
            self.condition.next()
        );
        let query = self.condition.query(sql).bind(self.size);
        query.fetch_all(self.db.pool()).await
    }

    /// The rows after (at, id). The `submitted_at <=` bound is implied by the rest but is what
    /// lets both databases seek in the (distributor_id, submitted_at) index instead of
    /// rescanning from the newest row for every batch.
    async fn batch_after(&self, at: i64, id: String) -> Result<Vec<AnyRow>, sqlx::Error> {
        let n = self.condition.next();
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} {FROM} WHERE {} \
             AND r.submitted_at <= ${n} AND (r.submitted_at < ${} OR r.id < ${}) \
             ORDER BY r.submitted_at DESC, r.id DESC LIMIT ${}",
            self.condition.sql,
            n + 1,
            n + 2,
            n + 3
        );
        let query = self.condition.query(sql).bind(at).bind(at).bind(id);
        query.bind(self.size).fetch_all(self.db.pool()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_trims_and_ignores_the_unknown() {
        let filters =
            Filters::from_query("folio=+en1+&cliente=&tipo=sc&estado=nope&solicitud=A%26B&x=1");
        assert_eq!(filters.folio_prefix.as_deref(), Some("en1"));
        assert_eq!(filters.client_number, None);
        assert_eq!(filters.kind, Some(RequestKind::Connection));
        assert_eq!(filters.status, None);
        assert_eq!(filters.distributor_reference.as_deref(), Some("A&B"));
        assert_eq!(
            filters.to_query_string(),
            "solicitud=A%26B&folio=en1&tipo=SC"
        );
        assert!(Filters::from_query("items=25&pagina=2").is_empty());
        assert_eq!(Filters::default().to_query_string(), "");
    }

    #[test]
    fn like_wildcards_in_the_folio_are_literal() {
        assert_eq!(folio_pattern("en1"), "EN1%");
        assert_eq!(folio_pattern("%_!"), "!%!_!!%");
    }

    #[test]
    fn placeholders_follow_the_viewer_predicate() {
        let filters = Filters::from_query("folio=EN&cliente=1-9&estado=answered");
        let regulator = Condition::new(&Viewer::Regulator, &filters);
        assert_eq!(
            regulator.sql,
            "1 = 1 AND r.folio LIKE $1 ESCAPE '!' AND (r.client_number = $2 OR \
             r.feasibility_number = $3) AND r.status = $4"
        );
        let company = Viewer::Distributor {
            distributor_id: "d".to_string(),
        };
        let condition = Condition::new(&company, &filters);
        assert!(
            condition
                .sql
                .starts_with("r.distributor_id = $1 AND r.folio LIKE $2")
        );
        assert_eq!(condition.binds, ["d", "EN%", "1-9", "1-9", "answered"]);
        assert_eq!(condition.next(), 6);
    }
}
