//! The rows the generator writes, one struct per table, and the multi-row INSERT that writes a
//! batch of them. Statements are built from the constant table and column names only; every
//! value is a bound parameter.

use std::collections::VecDeque;

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{AnyConnection, AssertSqlSafe};

use crate::store::Any;

/// SQLite's limit of bound parameters in one statement (PostgreSQL allows 65,535).
const MAX_PARAMETERS: usize = 32_766;

pub type AnyQuery<'q> = Query<'q, Any, AnyArguments>;

/// A row of one table, with its values bound in the order of `COLUMNS`.
pub trait TableRow: Send + 'static {
    const TABLE: &'static str;
    const COLUMNS: &'static [&'static str];
    fn bind<B: Binder>(self, query: B) -> B;
}

/// A value a row binds: a parameter of a query, or an element of a JSON array.
pub trait Value:
    serde::Serialize + sqlx::Encode<'static, Any> + sqlx::Type<Any> + Send + 'static
{
}

impl<T> Value for T where
    T: serde::Serialize + sqlx::Encode<'static, Any> + sqlx::Type<Any> + Send + 'static
{
}

/// Where a row's values go, in the order of its table's `COLUMNS`.
pub trait Binder: Sized {
    fn bind<V: Value>(self, value: V) -> Self;
}

impl Binder for AnyQuery<'static> {
    fn bind<V: Value>(self, value: V) -> Self {
        Query::bind(self, value)
    }
}

/// The rows of one SQLite statement as a JSON array of arrays, bound as a single text that
/// SQLite takes apart with `jsonb_each` (see `insert_sql`). Binding tens of thousands of
/// parameters one by one through sqlx's `Any` driver took a large share of the writer thread:
/// each value is boxed, converted and copied on its way to the SQLite worker thread. Measured
/// at 200,000 requests on two cores: 12,200 requests/s with bound parameters, 15,700 with this.
struct JsonRows {
    text: Vec<u8>,
    first_in_row: bool,
}

impl JsonRows {
    fn new(rows: usize, width: usize) -> Self {
        let mut text = Vec::with_capacity(rows * width * 16 + 2);
        text.push(b'[');
        JsonRows {
            text,
            first_in_row: true,
        }
    }

    fn push<R: TableRow>(&mut self, row: R) {
        if self.text.len() > 1 {
            self.text.push(b',');
        }
        self.text.push(b'[');
        self.first_in_row = true;
        row.bind(&mut *self);
        self.text.push(b']');
    }

    fn finish(mut self) -> String {
        self.text.push(b']');
        String::from_utf8(self.text).expect("serde_json writes UTF-8")
    }
}

impl Binder for &mut JsonRows {
    fn bind<V: Value>(self, value: V) -> Self {
        if !self.first_in_row {
            self.text.push(b',');
        }
        self.first_in_row = false;
        serde_json::to_writer(&mut self.text, &value).expect("a generated value serializes");
        self
    }
}

/// The statement that inserts `rows` rows. PostgreSQL gets `INSERT INTO table (…) VALUES ($1,
/// …), (…)`. SQLite gets one parameter, the rows as a JSON array of arrays (`JsonRows`):
/// `INSERT INTO table (…) SELECT value->>0, value->>1, … FROM jsonb_each(?)`. `jsonb_each`
/// (not `json_each`) hands each row over in SQLite's binary JSON, so `->>` reads it without
/// turning it back into text and parsing it again once per column; `->>` gives back SQL values
/// (integers, text, NULL), as binding them would.
fn insert_sql(table: &str, columns: &[&str], rows: usize, sqlite: bool) -> String {
    let width = columns.len();
    let mut sql = format!("INSERT INTO {table} ({}) ", columns.join(", "));
    if sqlite {
        let values: Vec<String> = (0..width).map(|i| format!("value->>{i}")).collect();
        sql.push_str(&format!("SELECT {} FROM jsonb_each(?)", values.join(", ")));
        return sql;
    }
    sql.push_str("VALUES ");
    sql.reserve(rows * width * 8);
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..width {
            if column > 0 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&(row * width + column + 1).to_string());
        }
        sql.push(')');
    }
    sql
}

/// Writes rows of one table with as few statements as the parameter limit allows. Full-size
/// chunks share one SQL text, so the driver prepares that statement once per connection. Each
/// row carries the position of the row it refers to in its parent table (its request, its
/// event): a chunk is written only once every parent it names is written, because foreign keys
/// are checked at the end of each statement.
pub struct Inserter<R: TableRow> {
    sqlite: bool,
    per_statement: usize,
    full_sql: String,
    pending: VecDeque<(u64, R)>,
    written: u64,
}

impl<R: TableRow> Inserter<R> {
    pub fn new(sqlite: bool) -> Self {
        let per_statement = MAX_PARAMETERS / R::COLUMNS.len();
        Inserter {
            sqlite,
            per_statement,
            full_sql: insert_sql(R::TABLE, R::COLUMNS, per_statement, sqlite),
            pending: VecDeque::new(),
            written: 0,
        }
    }

    /// How many rows this inserter has written: the rows of positions below it exist.
    pub fn written(&self) -> u64 {
        self.written
    }

    pub fn push(&mut self, rows: impl IntoIterator<Item = (u64, R)>) {
        self.pending.extend(rows);
    }

    /// Writes every full statement's worth whose parents (positions below `parents_written`)
    /// are all written.
    pub async fn write_ready(
        &mut self,
        conn: &mut AnyConnection,
        parents_written: u64,
    ) -> Result<(), sqlx::Error> {
        while self.pending.len() >= self.per_statement
            && self.pending[self.per_statement - 1].0 < parents_written
        {
            let chunk: Vec<R> = self
                .pending
                .drain(..self.per_statement)
                .map(|(_, row)| row)
                .collect();
            execute(conn, self.full_sql.clone(), chunk, self.sqlite).await?;
            self.written += self.per_statement as u64;
        }
        Ok(())
    }

    /// Writes what is left (the parents must have been flushed first).
    pub async fn flush(&mut self, conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
        while !self.pending.is_empty() {
            let size = self.pending.len().min(self.per_statement);
            let chunk: Vec<R> = self.pending.drain(..size).map(|(_, row)| row).collect();
            let sql = if size == self.per_statement {
                self.full_sql.clone()
            } else {
                insert_sql(R::TABLE, R::COLUMNS, size, self.sqlite)
            };
            execute(conn, sql, chunk, self.sqlite).await?;
            self.written += size as u64;
        }
        Ok(())
    }
}

async fn execute<R: TableRow>(
    conn: &mut AnyConnection,
    sql: String,
    rows: Vec<R>,
    sqlite: bool,
) -> Result<(), sqlx::Error> {
    let mut query = sqlx::query(AssertSqlSafe(sql));
    if sqlite {
        let mut json = JsonRows::new(rows.len(), R::COLUMNS.len());
        for row in rows {
            json.push(row);
        }
        query = query.bind(json.finish());
    } else {
        for row in rows {
            query = row.bind(query);
        }
    }
    query.execute(conn).await?;
    Ok(())
}

pub struct UserRow {
    pub id: String,
    pub profile: &'static str,
    pub rut: String,
    pub email: String,
    pub names: &'static str,
    pub surnames: String,
    pub business_name: Option<String>,
    pub is_installer: bool,
    pub installer_license: Option<String>,
    pub distributor_id: Option<String>,
    pub regulator_role: Option<&'static str>,
    pub password_hash: String,
    pub created_at: i64,
}

impl TableRow for UserRow {
    const TABLE: &'static str = "users";
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "profile",
        "rut",
        "email",
        "names",
        "surnames",
        "business_name",
        "is_installer",
        "installer_license",
        "distributor_id",
        "regulator_role",
        "status",
        "password_hash",
        "created_at",
        "activated_at",
        "password_changed_at",
    ];

    fn bind<B: Binder>(self, query: B) -> B {
        query
            .bind(self.id)
            .bind(self.profile)
            .bind(self.rut)
            .bind(self.email)
            .bind(self.names)
            .bind(self.surnames)
            .bind(self.business_name)
            .bind(i64::from(self.is_installer))
            .bind(self.installer_license)
            .bind(self.distributor_id)
            .bind(self.regulator_role)
            .bind("active")
            .bind(self.password_hash)
            .bind(self.created_at)
            .bind(self.created_at)
            .bind(self.created_at)
    }
}

pub struct RequestRow {
    pub id: String,
    pub folio: String,
    pub folio_number: i64,
    pub kind: &'static str,
    pub status: &'static str,
    pub applicant_id: String,
    pub distributor_id: String,
    pub region_code: String,
    pub comuna_code: String,
    pub client_number: Option<String>,
    pub feasibility_number: Option<String>,
    pub additional_email: Option<String>,
    pub brings_meter: bool,
    pub related_request_id: Option<String>,
    pub distributor_reference: Option<String>,
    pub submitted_at: i64,
    pub due_on: Option<String>,
    pub validation_due_on: Option<String>,
    pub answered_at: Option<i64>,
    /// The answer's Chile date and the business days it took (see `stats::answer_figures`).
    pub answered_on: Option<String>,
    pub business_days_taken: Option<i64>,
    pub version: i64,
    /// Kept on the request as `store::requests` keeps them (migration 0008).
    pub attachment_count: i64,
    pub last_event_at: Option<i64>,
}

impl TableRow for RequestRow {
    const TABLE: &'static str = "requests";
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "folio",
        "folio_number",
        "kind",
        "status",
        "applicant_id",
        "distributor_id",
        "region_code",
        "comuna_code",
        "client_number",
        "feasibility_number",
        "additional_email",
        "brings_meter",
        "related_request_id",
        "distributor_reference",
        "submitted_at",
        "due_on",
        "validation_due_on",
        "answered_at",
        "answered_on",
        "business_days_taken",
        "version",
        "attachment_count",
        "last_event_at",
    ];

    fn bind<B: Binder>(self, query: B) -> B {
        query
            .bind(self.id)
            .bind(self.folio)
            .bind(self.folio_number)
            .bind(self.kind)
            .bind(self.status)
            .bind(self.applicant_id)
            .bind(self.distributor_id)
            .bind(self.region_code)
            .bind(self.comuna_code)
            .bind(self.client_number)
            .bind(self.feasibility_number)
            .bind(self.additional_email)
            .bind(i64::from(self.brings_meter))
            .bind(self.related_request_id)
            .bind(self.distributor_reference)
            .bind(self.submitted_at)
            .bind(self.due_on)
            .bind(self.validation_due_on)
            .bind(self.answered_at)
            .bind(self.answered_on)
            .bind(self.business_days_taken)
            .bind(self.version)
            .bind(self.attachment_count)
            .bind(self.last_event_at)
    }
}

pub struct EventRow {
    pub id: String,
    pub request_id: String,
    pub action: &'static str,
    pub actor_id: Option<String>,
    pub from_status: Option<&'static str>,
    pub to_status: &'static str,
    pub comment: Option<String>,
    pub created_at: i64,
}

impl TableRow for EventRow {
    const TABLE: &'static str = "request_events";
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "request_id",
        "action",
        "actor_id",
        "from_status",
        "to_status",
        "comment",
        "created_at",
    ];

    fn bind<B: Binder>(self, query: B) -> B {
        query
            .bind(self.id)
            .bind(self.request_id)
            .bind(self.action)
            .bind(self.actor_id)
            .bind(self.from_status)
            .bind(self.to_status)
            .bind(self.comment)
            .bind(self.created_at)
    }
}

pub struct AttachmentRow {
    pub id: String,
    pub request_id: String,
    pub event_id: String,
    pub slot: &'static str,
    pub storage_key: &'static str,
    pub file_name: String,
    pub size_bytes: i64,
    pub sha256: &'static str,
    pub created_at: i64,
    pub withheld: bool,
}

impl TableRow for AttachmentRow {
    const TABLE: &'static str = "attachments";
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "request_id",
        "event_id",
        "slot",
        "storage_key",
        "file_name",
        "file_kind",
        "size_bytes",
        "sha256",
        "created_at",
        "withheld",
    ];

    fn bind<B: Binder>(self, query: B) -> B {
        query
            .bind(self.id)
            .bind(self.request_id)
            .bind(self.event_id)
            .bind(self.slot)
            .bind(self.storage_key)
            .bind(self.file_name)
            .bind("PDF")
            .bind(self.size_bytes)
            .bind(self.sha256)
            .bind(self.created_at)
            .bind(i64::from(self.withheld))
    }
}

pub struct PaymentRow {
    pub id: String,
    pub request_id: String,
    pub amount_clp: i64,
    pub concept: &'static str,
    pub methods: &'static str,
    pub status: &'static str,
    pub chosen_method: Option<&'static str>,
    pub rejection_reason: Option<&'static str>,
    pub requested_by: String,
    pub requested_at: i64,
    pub proof_at: Option<i64>,
    pub decided_at: Option<i64>,
}

impl TableRow for PaymentRow {
    const TABLE: &'static str = "payments";
    const COLUMNS: &'static [&'static str] = &[
        "id",
        "request_id",
        "amount_clp",
        "concept",
        "methods",
        "status",
        "chosen_method",
        "rejection_reason",
        "requested_by",
        "requested_at",
        "proof_at",
        "decided_at",
    ];

    fn bind<B: Binder>(self, query: B) -> B {
        query
            .bind(self.id)
            .bind(self.request_id)
            .bind(self.amount_clp)
            .bind(self.concept)
            .bind(self.methods)
            .bind(self.status)
            .bind(self.chosen_method)
            .bind(self.rejection_reason)
            .bind(self.requested_by)
            .bind(self.requested_at)
            .bind(self.proof_at)
            .bind(self.decided_at)
    }
}

pub struct PauseRow {
    pub id: String,
    pub request_id: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
}

impl TableRow for PauseRow {
    const TABLE: &'static str = "request_pauses";
    const COLUMNS: &'static [&'static str] = &["id", "request_id", "started_at", "ended_at"];

    fn bind<B: Binder>(self, query: B) -> B {
        query
            .bind(self.id)
            .bind(self.request_id)
            .bind(self.started_at)
            .bind(self.ended_at)
    }
}

pub struct AuditRow {
    pub id: String,
    pub occurred_at: i64,
    pub actor_id: Option<String>,
    pub event: &'static str,
    pub target: String,
    pub detail: String,
}

impl TableRow for AuditRow {
    const TABLE: &'static str = "audit_log";
    const COLUMNS: &'static [&'static str] =
        &["id", "occurred_at", "actor_id", "event", "target", "detail"];

    fn bind<B: Binder>(self, query: B) -> B {
        query
            .bind(self.id)
            .bind(self.occurred_at)
            .bind(self.actor_id)
            .bind(self.event)
            .bind(self.target)
            .bind(self.detail)
    }
}

/// Everything generated for a run of consecutive requests. Rows other than requests come
/// with the position of their parent: the request (events, payments, pauses) or the event
/// (attachments) they belong to, counted from the start of the run.
#[derive(Default)]
pub struct Batch {
    pub requests: Vec<RequestRow>,
    pub events: Vec<(u64, EventRow)>,
    pub attachments: Vec<(u64, AttachmentRow)>,
    pub payments: Vec<(u64, PaymentRow)>,
    pub pauses: Vec<(u64, PauseRow)>,
    pub audit: Vec<AuditRow>,
}

/// One inserter per table, kept for the whole run so that statements are prepared once.
pub struct Writer {
    requests: Inserter<RequestRow>,
    events: Inserter<EventRow>,
    attachments: Inserter<AttachmentRow>,
    payments: Inserter<PaymentRow>,
    pauses: Inserter<PauseRow>,
    audit: Inserter<AuditRow>,
}

impl Writer {
    pub fn new(sqlite: bool) -> Self {
        Writer {
            requests: Inserter::new(sqlite),
            events: Inserter::new(sqlite),
            attachments: Inserter::new(sqlite),
            payments: Inserter::new(sqlite),
            pauses: Inserter::new(sqlite),
            audit: Inserter::new(sqlite),
        }
    }

    /// Parents before children: a request may also refer to an earlier request, which an
    /// earlier row of the same or an earlier statement holds.
    pub async fn write(
        &mut self,
        conn: &mut AnyConnection,
        batch: Batch,
    ) -> Result<(), sqlx::Error> {
        self.requests
            .push(batch.requests.into_iter().map(|row| (0, row)));
        self.requests.write_ready(conn, u64::MAX).await?;
        let requests = self.requests.written();
        self.events.push(batch.events);
        self.events.write_ready(conn, requests).await?;
        self.attachments.push(batch.attachments);
        self.attachments
            .write_ready(conn, self.events.written())
            .await?;
        self.payments.push(batch.payments);
        self.payments.write_ready(conn, requests).await?;
        self.pauses.push(batch.pauses);
        self.pauses.write_ready(conn, requests).await?;
        self.audit.push(batch.audit.into_iter().map(|row| (0, row)));
        self.audit.write_ready(conn, u64::MAX).await?;
        Ok(())
    }

    /// Writes the rows still pending, parents first.
    pub async fn finish(&mut self, conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
        self.requests.flush(conn).await?;
        self.events.flush(conn).await?;
        self.attachments.flush(conn).await?;
        self.payments.flush(conn).await?;
        self.pauses.flush(conn).await?;
        self.audit.flush(conn).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_across_rows() {
        assert_eq!(
            insert_sql("t", &["a", "b"], 2, false),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)"
        );
        assert_eq!(
            insert_sql("t", &["a", "b"], 2, true),
            "INSERT INTO t (a, b) SELECT value->>0, value->>1 FROM jsonb_each(?)"
        );
    }

    #[test]
    fn sqlite_rows_travel_as_one_json_array() {
        let mut json = JsonRows::new(2, 4);
        for (id, reason) in [("p1", None), ("p\"2", Some("ñandú"))] {
            json.push(PaymentRow {
                id: id.to_owned(),
                request_id: "r".to_owned(),
                amount_clp: 125_000,
                concept: "c",
                methods: "m",
                status: "s",
                chosen_method: None,
                rejection_reason: reason,
                requested_by: "u".to_owned(),
                requested_at: -5,
                proof_at: None,
                decided_at: Some(7),
            });
        }
        assert_eq!(
            json.finish(),
            concat!(
                r#"[["p1","r",125000,"c","m","s",null,null,"u",-5,null,7],"#,
                r#"["p\"2","r",125000,"c","m","s",null,"ñandú","u",-5,null,7]]"#
            )
        );
    }
}
