//! "Plazos": the answer deadline of each kind, in business days or "sin plazo". A change
//! recomputes the due dates of open requests in its transaction.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};

use super::{DEADLINES, Notice, can_edit, entry, html, notice_text};
use crate::domain::request::RequestKind;
use crate::store::audit;
use crate::store::deadlines;
use crate::store::users::User;
use crate::web::AppState;
use crate::web::error::AppResult;
use crate::web::forms::FieldErrors;
use crate::web::page::{Page, RegulatorAdmin, RegulatorUser};

const MAX_DEADLINE_DAYS: u32 = 120;

pub struct DeadlineRow {
    /// The kind's code: the field's name and id.
    pub code: &'static str,
    pub label: &'static str,
    pub value: String,
}

#[derive(Template)]
#[template(path = "sec_admin_deadlines.html")]
struct DeadlinesPage {
    page: Page,
    rows: Vec<DeadlineRow>,
    can_edit: bool,
    errors: FieldErrors,
    notice: Option<String>,
    hint: String,
}

fn render_deadlines(
    page: Page,
    rows: Vec<DeadlineRow>,
    errors: FieldErrors,
    notice: Option<String>,
) -> AppResult<Response> {
    let can_edit = page.user.as_ref().is_some_and(can_edit);
    let hint = format!("Días hábiles, de 1 a {MAX_DEADLINE_DAYS}. Vacío: sin plazo.");
    let body = DeadlinesPage {
        page,
        rows,
        can_edit,
        errors,
        notice,
        hint,
    };
    Ok(html(body.render()?, &body.errors))
}

pub async fn show(
    State(state): State<AppState>,
    RegulatorUser(_user): RegulatorUser,
    page: Page,
    Query(notice): Query<Notice>,
) -> AppResult<Response> {
    let table = deadlines::deadline_table(state.db.pool()).await?;
    let rows = table
        .into_iter()
        .map(|(kind, days)| DeadlineRow {
            code: kind.code(),
            label: kind.label(),
            value: days.map(|d| d.to_string()).unwrap_or_default(),
        })
        .collect();
    render_deadlines(page, rows, FieldErrors::default(), notice_text(&notice))
}

/// Empty is "sin plazo"; otherwise a whole number of business days within the limits.
fn parse_days(typed: &str) -> Result<Option<u32>, String> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Ok(None);
    }
    match typed.parse::<u32>() {
        Ok(days) if (1..=MAX_DEADLINE_DAYS).contains(&days) => Ok(Some(days)),
        _ => Err(format!(
            "Ingrese un número entero de días hábiles entre 1 y {MAX_DEADLINE_DAYS}, o deje el \
             campo vacío para «sin plazo»."
        )),
    }
}

fn days_text(days: Option<u32>) -> String {
    days.map(|d| format!("{d} días hábiles"))
        .unwrap_or_else(|| "sin plazo".to_string())
}

/// The business days wanted per kind; `None` is "sin plazo".
type Table = Vec<(RequestKind, Option<u32>)>;

/// The typed table, or its rows as typed with the errors.
fn parse_table(form: &[(String, String)]) -> Result<Table, (Vec<DeadlineRow>, FieldErrors)> {
    let typed = |kind: RequestKind| {
        form.iter()
            .find(|(k, _)| k == kind.code())
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let mut errors = FieldErrors::default();
    let mut wanted = Vec::new();
    for kind in RequestKind::ALL {
        match parse_days(&typed(kind)) {
            Ok(days) => wanted.push((kind, days)),
            Err(message) => errors.add(kind.code(), message),
        }
    }
    if errors.is_empty() {
        return Ok(wanted);
    }
    let rows = RequestKind::ALL.into_iter().map(|kind| DeadlineRow {
        code: kind.code(),
        label: kind.label(),
        value: typed(kind),
    });
    Err((rows.collect(), errors))
}

/// Writes the kinds whose deadline changes, each with its audit entry; whether any did.
async fn apply(
    tx: &mut sqlx::AnyConnection,
    user: &User,
    wanted: Table,
    now: jiff::Timestamp,
) -> AppResult<bool> {
    let current = deadlines::deadline_table(&mut *tx).await?;
    let mut any = false;
    for (kind, days) in wanted {
        let before = current
            .iter()
            .find(|(k, _)| *k == kind)
            .and_then(|(_, d)| *d);
        if before == days {
            continue;
        }
        any = true;
        deadlines::set_deadline(tx, kind, days).await?;
        let detail = format!("{} → {}", days_text(before), days_text(days));
        let change = entry(user, "deadline_changed", kind.code(), &detail);
        audit::record(&mut *tx, &change, now).await?;
    }
    Ok(any)
}

pub async fn save(
    State(state): State<AppState>,
    RegulatorAdmin(user): RegulatorAdmin,
    page: Page,
    Form(form): Form<Vec<(String, String)>>,
) -> AppResult<Response> {
    let wanted = match parse_table(&form) {
        Ok(wanted) => wanted,
        Err((rows, errors)) => return render_deadlines(page, rows, errors, None),
    };
    let now = state.now();
    let mut tx = state.db.begin().await?;
    if !apply(&mut tx, &user, wanted, now).await? {
        return Ok(Redirect::to(&format!("{DEADLINES}?aviso=sin_cambios")).into_response());
    }
    let changed = deadlines::recompute_open(&mut tx, now).await?;
    tx.commit().await?;
    tracing::info!(requests.recomputed = changed, "deadline table changed");
    Ok(Redirect::to(&format!("{DEADLINES}?aviso=plazos&n={changed}")).into_response())
}
