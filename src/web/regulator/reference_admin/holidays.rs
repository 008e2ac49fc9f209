//! "Feriados": the holidays by year, and the administrador's additions (an election day, say)
//! and removals, each recomputing the due dates of open requests in its transaction.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use jiff::civil::{Date, Weekday};
use serde::Deserialize;

use super::{HOLIDAYS, Notice, can_edit, entry, html, notice_text};
use crate::domain::calendar::chile_date;
use crate::domain::text::single_line;
use crate::store::audit;
use crate::store::deadlines::{self, Holiday};
use crate::web::AppState;
use crate::web::error::{AppError, AppResult};
use crate::web::forms::FieldErrors;
use crate::web::page::{Page, RegulatorAdmin, RegulatorUser};

fn weekday_name(day: Date) -> &'static str {
    match day.weekday() {
        Weekday::Monday => "lunes",
        Weekday::Tuesday => "martes",
        Weekday::Wednesday => "miércoles",
        Weekday::Thursday => "jueves",
        Weekday::Friday => "viernes",
        Weekday::Saturday => "sábado",
        Weekday::Sunday => "domingo",
    }
}

fn is_weekend(day: Date) -> bool {
    matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday)
}

pub struct HolidayRow {
    /// `YYYY-MM-DD`, for the removal's URL.
    pub iso: String,
    pub shown: String,
    pub weekday: &'static str,
    pub weekend: bool,
    pub name: String,
}

#[derive(Deserialize, Default)]
pub struct HolidayForm {
    #[serde(default)]
    fecha: String,
    #[serde(default)]
    nombre: String,
}

#[derive(Template)]
#[template(path = "sec_admin_holidays.html")]
struct HolidaysPage {
    page: Page,
    year: i16,
    years: Vec<i16>,
    holidays: Vec<HolidayRow>,
    can_edit: bool,
    values: HolidayForm,
    errors: FieldErrors,
    notice: Option<String>,
}

async fn render_holidays(
    state: &AppState,
    page: Page,
    year: i16,
    values: HolidayForm,
    errors: FieldErrors,
    notice: Option<String>,
) -> AppResult<Response> {
    let mut years = deadlines::holiday_years(&state.db).await?;
    let this_year = chile_date(state.now()).year();
    for wanted in [this_year, year] {
        if !years.contains(&wanted) {
            years.push(wanted);
        }
    }
    years.sort_unstable();
    let holidays = deadlines::holidays_of_year(&state.db, year).await?;
    let holidays = holidays
        .into_iter()
        .map(|Holiday { day, name }| HolidayRow {
            iso: day.to_string(),
            shown: day.strftime("%d/%m/%Y").to_string(),
            weekday: weekday_name(day),
            weekend: is_weekend(day),
            name,
        });
    let can_edit = page.user.as_ref().is_some_and(can_edit);
    let body = HolidaysPage {
        page,
        year,
        years,
        holidays: holidays.collect(),
        can_edit,
        values,
        errors,
        notice,
    };
    Ok(html(body.render()?, &body.errors))
}

/// The years offered: feriados.csv covers 2014–2035; a little room either side.
fn sensible_year(year: i16) -> bool {
    (2000..=2100).contains(&year)
}

pub async fn show(
    State(state): State<AppState>,
    RegulatorUser(_user): RegulatorUser,
    page: Page,
    Query(notice): Query<Notice>,
) -> AppResult<Response> {
    let this_year = chile_date(state.now()).year();
    let year = notice
        .anio
        .filter(|y| sensible_year(*y))
        .unwrap_or(this_year);
    let text = notice_text(&notice);
    render_holidays(
        &state,
        page,
        year,
        HolidayForm::default(),
        FieldErrors::default(),
        text,
    )
    .await
}

/// `2025-09-18` as a date input sends it, or `18/09/2025` and `18-09-2025` as people type it.
fn parse_day(typed: &str) -> Option<Date> {
    let typed = typed.trim();
    let day = typed.parse::<Date>().ok().or_else(|| {
        let parts: Vec<&str> = typed.split(['/', '-']).collect();
        let [d, m, y] = parts.as_slice() else {
            return None;
        };
        Date::new(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?).ok()
    })?;
    sensible_year(day.year()).then_some(day)
}

fn check_holiday(form: &HolidayForm) -> Result<(Date, String), FieldErrors> {
    let mut errors = FieldErrors::default();
    let day = parse_day(&form.fecha);
    if day.is_none() {
        errors.add(
            "fecha",
            "Ingrese una fecha válida (dd/mm/aaaa) entre los años 2000 y 2100.",
        );
    }
    let name = single_line(&form.nombre, 100)
        .map_err(|e| errors.add("nombre", e))
        .ok();
    match (day, name) {
        (Some(day), Some(name)) => Ok((day, name)),
        _ => Err(errors),
    }
}

pub async fn add(
    State(state): State<AppState>,
    RegulatorAdmin(user): RegulatorAdmin,
    page: Page,
    Form(form): Form<HolidayForm>,
) -> AppResult<Response> {
    let this_year = chile_date(state.now()).year();
    let (day, name) = match check_holiday(&form) {
        Ok(checked) => checked,
        Err(errors) => {
            return render_holidays(&state, page, this_year, form, errors, None).await;
        }
    };
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let existing = deadlines::holiday_on(&mut tx, day).await?;
    if existing.is_some() || !deadlines::add_holiday(&mut tx, day, &name).await? {
        let errors = duplicate(day, existing);
        return render_holidays(&state, page, day.year(), form, errors, None).await;
    }
    let changed = deadlines::recompute_open(&mut tx, now).await?;
    let detail = format!("{name}; plazos recalculados: {changed}");
    let target = day.to_string();
    let entry = entry(&user, "holiday_added", &target, &detail);
    audit::record(&mut *tx, &entry, now).await?;
    tx.commit().await?;
    tracing::info!(holiday = %day, requests.recomputed = changed, "holiday added");
    let code = if is_weekend(day) {
        "fin_de_semana"
    } else {
        "agregado"
    };
    Ok(to_holidays(day.year(), code, changed))
}

/// The day is a holiday already (named, unless another administrator added it meanwhile).
fn duplicate(day: Date, existing: Option<String>) -> FieldErrors {
    let mut errors = FieldErrors::default();
    let what = existing.map(|n| format!(": {n}")).unwrap_or_default();
    let shown = day.strftime("%d/%m/%Y");
    errors.add("fecha", format!("Ya existe un feriado el {shown}{what}."));
    errors
}

fn to_holidays(year: i16, code: &str, changed: u64) -> Response {
    Redirect::to(&format!("{HOLIDAYS}?anio={year}&aviso={code}&n={changed}")).into_response()
}

pub async fn remove(
    State(state): State<AppState>,
    RegulatorAdmin(user): RegulatorAdmin,
    Path(day): Path<String>,
) -> AppResult<Response> {
    let day: Date = day.parse().map_err(|_| AppError::NotFound)?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let Some(name) = deadlines::remove_holiday(&mut tx, day).await? else {
        // A second click, or another administrator was first: nothing left to do.
        return Ok(to_holidays(day.year(), "no_existe", 0));
    };
    let changed = deadlines::recompute_open(&mut tx, now).await?;
    let detail = format!("{name}; plazos recalculados: {changed}");
    let target = day.to_string();
    audit::record(
        &mut *tx,
        &entry(&user, "holiday_removed", &target, &detail),
        now,
    )
    .await?;
    tx.commit().await?;
    tracing::info!(holiday = %day, requests.recomputed = changed, "holiday removed");
    Ok(to_holidays(day.year(), "eliminado", changed))
}
