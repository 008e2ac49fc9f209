//! "Gráficos" (the manual's graphic panels): requests per day and by status over a period, as
//! SVG charts drawn on the server by plotters, each with a table of the same numbers, so that
//! the page needs no JavaScript and reads without the pictures.
//!
//! The SVG helpers below serve "Cumplimiento de plazos" too, whose module has the period form
//! that both pages use.

use askama::Template;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use jiff::civil::Date;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::compliance::{Period, PeriodForm, percent, read_period};
use crate::domain::calendar::chile_date;
use crate::domain::request::Status;
use crate::store::stats;
use crate::web::AppState;
use crate::web::error::AppResult;
use crate::web::forms::FieldErrors;
use crate::web::page::{Page, RegulatorUser};

pub fn routes() -> Router<AppState> {
    Router::new().route("/sec/graficos", get(show))
}

// ---- The page ----

struct DayRow {
    date: String,
    count: i64,
}

struct StatusRow {
    label: &'static str,
    count: i64,
    share: String,
}

struct Charts {
    total: i64,
    days: Vec<DayRow>,
    statuses: Vec<StatusRow>,
    /// Drawn only when there is something to draw: plotters cannot draw empty data.
    daily_svg: Option<String>,
    status_svg: Option<String>,
}

#[derive(Template)]
#[template(path = "sec_charts.html")]
struct ChartsPage {
    page: Page,
    form: PeriodForm,
    errors: FieldErrors,
    charts: Option<Charts>,
}

async fn show(
    State(state): State<AppState>,
    RegulatorUser(_user): RegulatorUser,
    page: Page,
    RawQuery(raw): RawQuery,
) -> AppResult<Response> {
    let today = chile_date(state.now());
    let (form, period) = read_period(raw.as_deref().unwrap_or_default(), today);
    let (errors, charts, status) = match period {
        Ok(period) => {
            let charts = charts(&state, period).await?;
            (FieldErrors::default(), Some(charts), StatusCode::OK)
        }
        Err(errors) => (errors, None, StatusCode::UNPROCESSABLE_ENTITY),
    };
    let html = ChartsPage {
        page,
        form,
        errors,
        charts,
    }
    .render()?;
    Ok((status, Html(html)).into_response())
}

async fn charts(state: &AppState, period: Period) -> AppResult<Charts> {
    let per_day = stats::requests_per_day(&state.db, period.from, period.to).await?;
    let by_status = stats::requests_by_status(&state.db, period.from, period.to).await?;
    let total: i64 = by_status.iter().map(|(_, count)| count).sum();
    let (daily_svg, status_svg) = if total > 0 {
        (or_log(daily_bars(&per_day)), or_log(status_pie(&by_status)))
    } else {
        (None, None)
    };
    let share = |count: i64| percent((total > 0).then(|| 100.0 * count as f64 / total as f64));
    Ok(Charts {
        total,
        days: per_day
            .iter()
            .map(|(day, count)| DayRow {
                date: day.strftime("%d/%m/%Y").to_string(),
                count: *count,
            })
            .collect(),
        statuses: by_status
            .iter()
            .map(|(status, count)| StatusRow {
                label: status.label(),
                count: *count,
                share: share(*count),
            })
            .collect(),
        daily_svg,
        status_svg,
    })
}

// ---- Drawing ----
//
// Every SVG below is made only of numbers, dates and fixed labels (status names, axis titles),
// never of text a user typed, and plotters escapes the text it writes: the templates embed it
// with `|safe`.

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Draws on a white SVG canvas and returns the SVG document, marked as an image whose name is
/// the element `labelled_by` of the page.
pub(super) fn svg(
    size: (u32, u32),
    labelled_by: &'static str,
    draw: impl FnOnce(&Area) -> anyhow::Result<()>,
) -> anyhow::Result<String> {
    let mut out = String::new();
    // plotters panics rather than failing on some degenerate inputs: a chart that cannot be
    // drawn must not take the page, and its table, down with it.
    let drawn = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        draw(&root)?;
        root.present().map_err(drawing)
    }));
    drawn.map_err(|_| anyhow::anyhow!("drawing a chart: plotters panicked"))??;
    let accessible = format!("<svg role=\"img\" aria-labelledby=\"{labelled_by}\" ");
    Ok(out.replacen("<svg ", &accessible, 1))
}

pub(super) fn drawing(error: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("drawing a chart: {error}")
}

/// The chart, or none when it could not be drawn: the table beside it has the same numbers.
pub(super) fn or_log(chart: anyhow::Result<String>) -> Option<String> {
    chart
        .map_err(|error| tracing::error!(error = %error, "chart left out of the page"))
        .ok()
}

/// Thin bars when there are many days, so that a year still fits.
pub(super) fn bar_margin(bars: usize) -> u32 {
    if bars > 60 { 0 } else { 2 }
}

/// The upper end of the x range for `bars` bars: plotters' integer ranges include their end, and
/// it divides by zero (a panic) on a range of one value, so a single bar gets an empty neighbour.
pub(super) fn last_bar(bars: usize) -> u32 {
    u32::try_from(bars.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .max(1)
}

/// Text of the axes, large enough to read once the SVG is scaled to the page's column.
pub(super) const AXIS_FONT: (&str, u32) = ("sans-serif", 18);

/// The label of a day's bar: `dd/mm`.
fn day_label(days: &[(Date, i64)], value: &SegmentValue<u32>) -> String {
    match value {
        SegmentValue::CenterOf(index) | SegmentValue::Exact(index) => days
            .get(*index as usize)
            .map(|(day, _)| day.strftime("%d/%m").to_string())
            .unwrap_or_default(),
        SegmentValue::Last => String::new(),
    }
}

/// One bar per day; at least one request in the period.
fn daily_bars(days: &[(Date, i64)]) -> anyhow::Result<String> {
    let top = days.iter().map(|(_, n)| *n).max().unwrap_or(1).max(1);
    let label = |value: &SegmentValue<u32>| day_label(days, value);
    svg((760, 340), "grafico-dia", |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(16)
            .x_label_area_size(56)
            .y_label_area_size(64)
            .build_cartesian_2d((0..last_bar(days.len())).into_segmented(), 0..top)
            .map_err(drawing)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(TRANSPARENT)
            .label_style(AXIS_FONT)
            .axis_desc_style(AXIS_FONT)
            .x_labels(8)
            .x_label_formatter(&label)
            .y_labels(usize::try_from(top.min(10) + 1).unwrap_or(10))
            .y_desc("Solicitudes")
            .x_desc("Fecha de envío")
            .draw()
            .map_err(drawing)?;
        let data = days
            .iter()
            .enumerate()
            .map(|(i, (_, count))| (i as u32, *count));
        chart
            .draw_series(
                Histogram::vertical(&chart)
                    .style(RGBColor(15, 105, 180).filled())
                    .margin(bar_margin(days.len()))
                    .data(data),
            )
            .map_err(drawing)?;
        Ok(())
    })
}

/// A fixed colour per status, so that a status looks the same from one period to the next.
fn status_colour(status: Status) -> RGBColor {
    match status {
        Status::Sent => RGBColor(15, 105, 180),
        Status::PendingAnswer => RGBColor(230, 159, 0),
        Status::PendingPayment => RGBColor(235, 60, 70),
        Status::PendingValidation => RGBColor(240, 228, 66),
        Status::PaymentRejected => RGBColor(179, 23, 31),
        Status::PendingAnswerPaymentValidated => RGBColor(204, 121, 167),
        Status::Answered => RGBColor(0, 158, 115),
        Status::AutoAnswered => RGBColor(86, 180, 233),
        Status::Annulled => RGBColor(120, 120, 120),
    }
}

/// One labelled slice per status with requests; a status without requests gets no slice (a
/// zero slice would still draw its label). At least one request in the period.
fn status_pie(counts: &[(Status, i64)]) -> anyhow::Result<String> {
    let slices: Vec<(Status, i64)> = counts.iter().copied().filter(|(_, n)| *n > 0).collect();
    let sizes: Vec<f64> = slices.iter().map(|(_, n)| *n as f64).collect();
    let colours: Vec<RGBColor> = slices.iter().map(|(s, _)| status_colour(*s)).collect();
    let labels: Vec<String> = slices
        .iter()
        .map(|(s, n)| format!("{} ({n})", s.label()))
        .collect();
    // Wide enough for the longest label ("Pendiente de Respuesta Pago Validado (n)") on
    // either side: plotters cuts what falls off the canvas.
    svg((960, 400), "grafico-estado", |root| {
        let (centre, radius) = ((480, 200), 140.0);
        let mut pie = Pie::new(&centre, &radius, &sizes, &colours, &labels);
        pie.start_angle(-90.0);
        pie.label_style(("sans-serif", 17).into_font().color(&BLACK));
        pie.label_offset(12.0);
        root.draw(&pie).map_err(drawing)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::ToSpan;
    use jiff::civil::date;

    #[test]
    fn charts_draw_every_bar_and_only_the_non_empty_slices() {
        let days: Vec<(Date, i64)> = (1..=3)
            .map(|d| (date(2025, 3, d), i64::from(d % 2)))
            .collect();
        let bars = daily_bars(&days).unwrap();
        assert!(bars.starts_with("<svg role=\"img\" aria-labelledby=\"grafico-dia\" "));
        assert!(bars.contains("02/03") && bars.contains("Solicitudes"));
        // plotters panics on some lengths and heights: one day, a month, a leap year.
        for (length, top) in [(1, 1), (2, 1), (31, 7), (366, 1000)] {
            let year = (0..length).map(|i| (date(2024, 1, 1) + i.days(), top - i % 2));
            assert!(
                daily_bars(&year.collect::<Vec<_>>()).is_ok(),
                "{length} days"
            );
        }
        let counts: Vec<(Status, i64)> = Status::ALL
            .iter()
            .map(|s| (*s, i64::from(*s == Status::Answered) * 2))
            .collect();
        let pie = status_pie(&counts).unwrap();
        assert!(pie.contains("Respondido (2)"));
        assert!(
            !pie.contains("Enviado"),
            "a zero count has no slice, no label"
        );
    }
}
