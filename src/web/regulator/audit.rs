//! "Auditoría": the administrators' audit trail (logins, failed logins, lock-outs, password and
//! account changes, changes made in the SEC console), newest first, filtered by event and date,
//! on a page or as a CSV file. Any SEC user may read and export it; nobody edits it.
//!
//! The queries live here, beside their only reader; `store::audit` keeps the single write.

use std::io;

use anyhow::Context;
use askama::Template;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use futures::StreamExt;
use jiff::civil::Date;
use serde::Deserialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::clock::{chile, from_micros};
use crate::store::Db;
use crate::web::AppState;
use crate::web::error::AppResult;
use crate::web::forms::FieldErrors;
use crate::web::page::{Page, RegulatorUser};
use crate::web::requests::listing::Paging;

const HOME: &str = "/sec/auditoria";
const BATCH_SIZE: i64 = 1_000;
const CSV_HEADER: [&str; 6] = ["Fecha", "Usuario", "Evento", "Código", "Objeto", "Detalle"];

/// The events the portal records, with their label. A code missing here (recorded by a newer
/// change) is shown as the code itself rather than hidden.
const EVENTS: [(&str, &str); 26] = [
    ("login", "Ingreso al sistema"),
    ("login_failed", "Ingreso fallido"),
    ("lockout", "Bloqueo por intentos fallidos"),
    ("password_changed", "Cambio de contraseña"),
    ("password_reset", "Contraseña elegida con enlace"),
    ("password_link_sent", "Enlace de contraseña enviado"),
    ("account_created", "Cuenta creada"),
    ("account_updated", "Cuenta modificada"),
    ("role_changed", "Cambio de rol"),
    ("account_disabled", "Cuenta deshabilitada"),
    ("account_enabled", "Cuenta habilitada"),
    ("account_deleted", "Cuenta eliminada"),
    ("company_created", "Empresa creada"),
    ("company_updated", "Empresa modificada"),
    ("request_annulled", "Solicitud anulada"),
    ("holiday_added", "Feriado agregado"),
    ("holiday_removed", "Feriado eliminado"),
    ("deadline_changed", "Plazo modificado"),
    ("link_added", "Enlace de interés agregado"),
    ("link_updated", "Enlace de interés modificado"),
    ("link_removed", "Enlace de interés eliminado"),
    ("link_moved", "Enlace de interés reordenado"),
    ("official_form_added", "Formulario oficial agregado"),
    ("official_form_removed", "Formulario oficial eliminado"),
    ("email_template_changed", "Mensaje modificado"),
    ("email_template_reset", "Mensaje restablecido"),
];

fn event_label(code: &str) -> String {
    EVENTS
        .iter()
        .find(|(known, _)| *known == code)
        .map_or_else(|| code.to_string(), |(_, label)| label.to_string())
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(HOME, get(show))
        .route("/sec/auditoria.csv", get(csv))
}

#[derive(Deserialize, Default)]
struct AuditQuery {
    evento: Option<String>,
    desde: Option<String>,
    hasta: Option<String>,
    items: Option<String>,
    pagina: Option<String>,
}

/// The filters as applied. A date that does not parse is left out, with a message.
#[derive(Clone, Default)]
struct Filter {
    event: String,
    from: Option<Date>,
    to: Option<Date>,
}

impl Filter {
    fn parse(query: &AuditQuery, errors: &mut FieldErrors) -> Filter {
        let mut date = |field: &'static str, typed: &Option<String>| {
            let typed = typed.as_deref().unwrap_or_default().trim();
            let parsed = typed
                .parse::<Date>()
                .or_else(|_| Date::strptime("%d/%m/%Y", typed));
            match parsed {
                _ if typed.is_empty() => None,
                Ok(date) => Some(date),
                Err(_) => {
                    errors.add(field, "Escriba la fecha como dd/mm/aaaa.");
                    None
                }
            }
        };
        let from = date("desde", &query.desde);
        let to = date("hasta", &query.hasta);
        Filter {
            event: query.evento.clone().unwrap_or_default().trim().to_string(),
            from,
            to,
        }
    }

    /// `[from, to)` in microseconds: from the start of the first day to the start of the day
    /// after the last, both in Chile's time.
    fn range(&self) -> (i64, i64) {
        let start = |date: Date| date.to_zoned_datetime(chile()).ok().map(|z| z.timestamp());
        let from = self.from.and_then(start);
        let to = self.to.and_then(|d| d.tomorrow().ok()).and_then(start);
        (
            from.map_or(i64::MIN, |t| t.as_microsecond()),
            to.map_or(i64::MAX, |t| t.as_microsecond()),
        )
    }

    fn query_string(&self) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        if !self.event.is_empty() {
            query.append_pair("evento", &self.event);
        }
        for (name, date) in [("desde", self.from), ("hasta", self.to)] {
            if let Some(date) = date {
                query.append_pair(name, &date.to_string());
            }
        }
        query.finish()
    }

    fn link(&self, path: &str) -> String {
        match self.query_string() {
            query if query.is_empty() => path.to_string(),
            query => format!("{path}?{query}"),
        }
    }
}

/// One entry as shown.
pub struct Entry {
    id: String,
    occurred_at: i64,
    pub when: String,
    pub actor: String,
    pub event: String,
    pub code: String,
    pub target: String,
    pub detail: String,
}

/// Where a batch starts: entries strictly older than this (time, id), newest first.
#[derive(Clone)]
struct Cursor(i64, String);

impl Cursor {
    fn start() -> Cursor {
        Cursor(i64::MAX, String::new())
    }
}

const FROM_WHERE: &str = "FROM audit_log l \
     LEFT JOIN users a ON a.id = l.actor_id \
     LEFT JOIN users t ON t.id = l.target \
     WHERE ($1 = '' OR l.event = $1) AND l.occurred_at >= $2 AND l.occurred_at < $3";

async fn count(db: &Db, filter: &Filter) -> Result<i64, sqlx::Error> {
    let (from, to) = filter.range();
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) {FROM_WHERE}")))
        .bind(&filter.event)
        .bind(from)
        .bind(to)
        .fetch_one(db.pool())
        .await
}

async fn read(
    db: &Db,
    filter: &Filter,
    after: &Cursor,
    limit: i64,
    offset: i64,
) -> Result<Vec<Entry>, sqlx::Error> {
    let sql = format!(
        "SELECT l.id, l.occurred_at, l.event, l.target, l.detail, a.names AS a_names, \
         a.surnames AS a_surnames, a.business_name AS a_business, t.names AS t_names, \
         t.surnames AS t_surnames, t.business_name AS t_business {FROM_WHERE} \
         AND (l.occurred_at < $4 OR (l.occurred_at = $4 AND l.id < $5)) \
         ORDER BY l.occurred_at DESC, l.id DESC LIMIT $6 OFFSET $7"
    );
    let (from, to) = filter.range();
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&filter.event)
        .bind(from)
        .bind(to)
        .bind(after.0)
        .bind(&after.1)
        .bind(limit)
        .bind(offset)
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(entry).collect()
}

/// The name of a joined user (`a` the actor, `t` the target), if the id was one.
fn name(row: &AnyRow, prefix: &str) -> Result<Option<String>, sqlx::Error> {
    let business: Option<String> = row.try_get(format!("{prefix}_business").as_str())?;
    let names: Option<String> = row.try_get(format!("{prefix}_names").as_str())?;
    let surnames: Option<String> = row.try_get(format!("{prefix}_surnames").as_str())?;
    Ok(business.or_else(|| names.map(|n| format!("{n} {}", surnames.unwrap_or_default()))))
}

fn entry(row: &AnyRow) -> Result<Entry, sqlx::Error> {
    let occurred_at: i64 = row.try_get("occurred_at")?;
    let code: String = row.try_get("event")?;
    let target: Option<String> = row.try_get("target")?;
    let when = from_micros(occurred_at).to_zoned_datetime(chile());
    Ok(Entry {
        id: row.try_get("id")?,
        occurred_at,
        when: when.strftime("%d/%m/%Y %H:%M").to_string(),
        actor: name(row, "a")?.unwrap_or_default(),
        event: event_label(&code),
        code,
        target: name(row, "t")?.or(target).unwrap_or_default(),
        detail: row
            .try_get::<Option<String>, _>("detail")?
            .unwrap_or_default(),
    })
}

#[derive(Template)]
#[template(path = "sec_audit.html")]
struct AuditPage {
    page: Page,
    /// The event filter's options: code, label, selected.
    events: Vec<(&'static str, &'static str, bool)>,
    from: String,
    to: String,
    filtered: bool,
    errors: FieldErrors,
    entries: Vec<Entry>,
    paging: Paging,
    csv_href: String,
}

async fn show(
    State(state): State<AppState>,
    RegulatorUser(_user): RegulatorUser,
    page: Page,
    Query(query): Query<AuditQuery>,
) -> AppResult<Response> {
    let mut errors = FieldErrors::default();
    let filter = Filter::parse(&query, &mut errors);
    let base = filter.link(HOME);
    let mut paging = Paging::from_query(query.items.as_deref(), query.pagina.as_deref(), &base);
    paging.total = count(&state.db, &filter).await?;
    paging.clamp_to_last();
    let entries = read(
        &state.db,
        &filter,
        &Cursor::start(),
        paging.per_page,
        paging.offset(),
    )
    .await?;
    let events = EVENTS
        .iter()
        .map(|&(value, label)| (value, label, filter.event == value))
        .collect();
    let body = AuditPage {
        page,
        events,
        from: filter.from.map(|d| d.to_string()).unwrap_or_default(),
        to: filter.to.map(|d| d.to_string()).unwrap_or_default(),
        filtered: base != HOME,
        errors,
        entries,
        paging,
        csv_href: filter.link("/sec/auditoria.csv"),
    };
    Ok(Html(body.render()?).into_response())
}

// ---- CSV ----

/// A formula-like text (`=`, `+`, `-`, `@`) is run as a formula by spreadsheets; names and
/// details come partly from users, so such cells get a leading apostrophe.
fn neutralise(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}

fn csv_chunk(header: bool, batch: &[Entry]) -> io::Result<Bytes> {
    let mut writer = csv::Writer::from_writer(Vec::with_capacity(128 * (batch.len() + 1)));
    if header {
        writer.write_record(CSV_HEADER)?;
    }
    for entry in batch {
        let cells = [
            &entry.when,
            &entry.actor,
            &entry.event,
            &entry.code,
            &entry.target,
            &entry.detail,
        ];
        writer.write_record(cells.map(|cell| neutralise(cell)))?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| io::Error::other(e.to_string()))?;
    Ok(Bytes::from(bytes))
}

/// Where the batch after this one starts; none after a short batch, which was the last.
fn next_cursor(batch: &[Entry]) -> Option<Cursor> {
    let last = batch.last().filter(|_| batch.len() as i64 == BATCH_SIZE)?;
    Some(Cursor(last.occurred_at, last.id.clone()))
}

/// The same rows as the page, all of them, read in batches and streamed as they are read, so
/// that memory stays flat however long the trail grows.
async fn csv(
    State(state): State<AppState>,
    RegulatorUser(_user): RegulatorUser,
    Query(query): Query<AuditQuery>,
) -> AppResult<Response> {
    let filter = Filter::parse(&query, &mut FieldErrors::default());
    // The first batch is read before answering, so that an unreachable database gives the
    // usual error page instead of a download cut short.
    let first = read(&state.db, &filter, &Cursor::start(), BATCH_SIZE, 0).await?;
    let head = csv_chunk(true, &first).context("writing the audit CSV")?;
    let start = (state.db.clone(), filter, next_cursor(&first));
    let rest = futures::stream::try_unfold(start, |(db, filter, cursor)| async move {
        let Some(cursor) = cursor else {
            return Ok(None);
        };
        let batch = read(&db, &filter, &cursor, BATCH_SIZE, 0)
            .await
            .map_err(io::Error::other)?;
        let next = next_cursor(&batch);
        Ok(Some((csv_chunk(false, &batch)?, (db, filter, next))))
    });
    let body = futures::stream::once(async { Ok::<_, io::Error>(head) }).chain(rest);
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    let csv_type = HeaderValue::from_static("text/csv; charset=utf-8");
    headers.insert(header::CONTENT_TYPE, csv_type);
    let disposition = HeaderValue::from_static("attachment; filename=\"auditoria.csv\"");
    headers.insert(header::CONTENT_DISPOSITION, disposition);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
