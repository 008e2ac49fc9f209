//! "Enlaces de Interés": the links SEC keeps in the database, and under them "Descarga de
//! Formularios", the official forms SEC uploads. Both are edited in `regulator::reference_admin`;
//! their rows are read and written here, beside the only page that shows them.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Response};
use sqlx::Row;
use sqlx::any::AnyRow;

use super::AppState;
use super::error::{AppError, AppResult};
use super::page::{Page, SignedIn};
use crate::clock::to_micros;
use crate::store::reference::{self, Link};
use crate::store::{Db, new_id};

type Conn = sqlx::AnyConnection;

#[derive(Template)]
#[template(path = "links.html")]
struct LinksPage {
    page: Page,
    links: Vec<Link>,
    forms: Vec<OfficialForm>,
}

pub async fn show(
    State(state): State<AppState>,
    SignedIn(_user): SignedIn,
    page: Page,
) -> AppResult<Response> {
    let links = reference::links(&state.db).await?;
    let forms = official_forms(&state.db).await?;
    Ok(Html(LinksPage { page, links, forms }.render()?).into_response())
}

/// An official form, for any logged-in user, always as a download: the file is whatever SEC
/// uploaded, and is never rendered by the browser as a page.
pub async fn download_form(
    State(state): State<AppState>,
    SignedIn(_user): SignedIn,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let form = official_form(&state.db, &id)
        .await?
        .ok_or(AppError::NotFound)?;
    let file = crate::web::download::StoredFile {
        storage_key: &form.storage_key,
        file_name: &form.file_name,
        file_kind: &form.file_kind,
        size_bytes: form.size_bytes,
    };
    crate::web::download::serve(&state, file).await
}

// ---- The rows of links and official forms. ----

/// A link as SEC edits it, inactive ones included.
#[derive(Clone, Debug, Default)]
pub struct AdminLink {
    pub id: String,
    pub title: String,
    pub url: String,
    pub description: String,
    pub active: bool,
}

fn link_from_row(row: &AnyRow) -> Result<AdminLink, sqlx::Error> {
    Ok(AdminLink {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
        url: row.try_get("url")?,
        description: row.try_get("description")?,
        active: row.try_get::<i64, _>("active")? == 1,
    })
}

/// Every link in its order (ties, possible in old data, by id so the order is stable).
pub async fn all_links<'e, E>(executor: E) -> Result<Vec<AdminLink>, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = crate::store::Any>,
{
    let rows = sqlx::query(
        "SELECT id, title, url, description, active FROM links ORDER BY sort_order, id",
    )
    .fetch_all(executor)
    .await?;
    rows.iter().map(link_from_row).collect()
}

pub async fn link(db: &Db, id: &str) -> Result<Option<AdminLink>, sqlx::Error> {
    let row = sqlx::query("SELECT id, title, url, description, active FROM links WHERE id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(link_from_row).transpose()
}

/// Adds a link at the end of the list; its id.
pub async fn insert_link(tx: &mut Conn, link: &AdminLink) -> Result<String, sqlx::Error> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO links (id, title, url, description, sort_order, active) \
         SELECT $1, $2, $3, $4, COALESCE(MAX(sort_order), 0) + 1, $5 FROM links",
    )
    .bind(&id)
    .bind(&link.title)
    .bind(&link.url)
    .bind(&link.description)
    .bind(i64::from(link.active))
    .execute(&mut *tx)
    .await?;
    Ok(id)
}

/// False when the link no longer exists.
pub async fn update_link(tx: &mut Conn, link: &AdminLink) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE links SET title = $2, url = $3, description = $4, active = $5 WHERE id = $1",
    )
    .bind(&link.id)
    .bind(&link.title)
    .bind(&link.url)
    .bind(&link.description)
    .bind(i64::from(link.active))
    .execute(&mut *tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Removes a link; its title, or None when it was gone already.
pub async fn delete_link(tx: &mut Conn, id: &str) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query("SELECT title FROM links WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(title) = row.map(|r| r.try_get::<String, _>("title")).transpose()? else {
        return Ok(None);
    };
    sqlx::query("DELETE FROM links WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(Some(title))
}

/// Swaps the link with its neighbour above (`up`) or below, then numbers the whole list 1..n,
/// which also mends ties left by old data. False when it was already first or last, or gone.
pub async fn move_link(tx: &mut Conn, id: &str, up: bool) -> Result<bool, sqlx::Error> {
    let mut ids: Vec<String> = all_links(&mut *tx)
        .await?
        .into_iter()
        .map(|l| l.id)
        .collect();
    let Some(at) = ids.iter().position(|other| other == id) else {
        return Ok(false);
    };
    let other = if up { at.checked_sub(1) } else { Some(at + 1) };
    let Some(other) = other.filter(|o| *o < ids.len()) else {
        return Ok(false);
    };
    ids.swap(at, other);
    for (order, id) in ids.iter().enumerate() {
        sqlx::query("UPDATE links SET sort_order = $2 WHERE id = $1")
            .bind(id)
            .bind(i64::try_from(order).unwrap_or(i64::MAX) + 1)
            .execute(&mut *tx)
            .await?;
    }
    Ok(true)
}

/// An official form offered for download.
#[derive(Clone, Debug)]
pub struct OfficialForm {
    pub id: String,
    pub title: String,
    pub storage_key: String,
    pub file_name: String,
    pub file_kind: String,
    pub size_bytes: i64,
}

impl OfficialForm {
    /// The size as the request view shows attachments: whole kilobytes, rounded up.
    pub fn size_kb(&self) -> i64 {
        (self.size_bytes + 1023) / 1024
    }
}

fn form_from_row(row: &AnyRow) -> Result<OfficialForm, sqlx::Error> {
    Ok(OfficialForm {
        id: row.try_get("id")?,
        title: row.try_get("title")?,
        storage_key: row.try_get("storage_key")?,
        file_name: row.try_get("file_name")?,
        file_kind: row.try_get("file_kind")?,
        size_bytes: row.try_get("size_bytes")?,
    })
}

const FORM_COLUMNS: &str = "id, title, storage_key, file_name, file_kind, size_bytes";

pub async fn official_forms(db: &Db) -> Result<Vec<OfficialForm>, sqlx::Error> {
    let sql = format!("SELECT {FORM_COLUMNS} FROM official_forms ORDER BY sort_order, created_at");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(db.pool())
        .await?;
    rows.iter().map(form_from_row).collect()
}

pub async fn official_form(db: &Db, id: &str) -> Result<Option<OfficialForm>, sqlx::Error> {
    let sql = format!("SELECT {FORM_COLUMNS} FROM official_forms WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
    row.as_ref().map(form_from_row).transpose()
}

/// Adds a form (its file already stored under `storage_key`) at the end of the list.
pub async fn insert_official_form(
    tx: &mut Conn,
    form: &OfficialForm,
    now: jiff::Timestamp,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO official_forms (id, title, storage_key, file_name, file_kind, size_bytes, \
         sort_order, created_at) \
         SELECT $1, $2, $3, $4, $5, $6, COALESCE(MAX(sort_order), 0) + 1, $7 FROM official_forms",
    )
    .bind(&form.id)
    .bind(&form.title)
    .bind(&form.storage_key)
    .bind(&form.file_name)
    .bind(&form.file_kind)
    .bind(form.size_bytes)
    .bind(to_micros(now))
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Removes a form's row; the row as it was, so the caller can delete its file after commit.
pub async fn delete_official_form(
    tx: &mut Conn,
    id: &str,
) -> Result<Option<OfficialForm>, sqlx::Error> {
    let sql = format!("SELECT {FORM_COLUMNS} FROM official_forms WHERE id = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
    let Some(form) = row.as_ref().map(form_from_row).transpose()? else {
        return Ok(None);
    };
    sqlx::query("DELETE FROM official_forms WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(Some(form))
}
