//! "Cumplimiento de plazos": how each company keeps the legal deadlines for the requests
//! submitted in a period, optionally of one kind. The figures and their conventions are in
//! `store::stats`; this page lays them out as a table with totals and a chart of on-time
//! shares, and links each company's overdue count to the panel of requests.
//!
//! The period form (`?desde=&hasta=`, in the URL) is here and serves "Gráficos" as well.

use askama::Template;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use jiff::ToSpan;
use jiff::civil::Date;
use plotters::prelude::*;

use super::charts::{AXIS_FONT, bar_margin, drawing, last_bar, or_log, svg};
use crate::domain::calendar::chile_date;
use crate::domain::request::RequestKind;
use crate::store::stats::{self, Compliance, ComplianceReport};
use crate::web::AppState;
use crate::web::error::AppResult;
use crate::web::forms::FieldErrors;
use crate::web::page::{Page, RegulatorUser};

pub fn routes() -> Router<AppState> {
    Router::new().route("/sec/cumplimiento", get(show))
}

/// The longest period a page accepts: a (leap) year.
const MAX_PERIOD_DAYS: i64 = 366;
/// The default period: the last 30 days, today included.
const DEFAULT_PERIOD_DAYS: i64 = 30;

/// The period as typed, for the form sent back.
pub(super) struct PeriodForm {
    pub from: String,
    pub to: String,
}

/// A checked period of Chile dates, both included.
#[derive(Clone, Copy)]
pub(super) struct Period {
    pub from: Date,
    pub to: Date,
}

/// The value of one parameter of a raw query (the first if repeated), trimmed.
pub(super) fn query_value(raw: &str, name: &str) -> String {
    url::form_urlencoded::parse(raw.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.trim().to_string())
        .unwrap_or_default()
}

/// Reads `desde` and `hasta` (empty: the last 30 days up to `today`). The form is returned
/// whatever happens, to be shown again with the messages.
pub(super) fn read_period(raw: &str, today: Date) -> (PeriodForm, Result<Period, FieldErrors>) {
    let default_from = today
        .checked_sub((DEFAULT_PERIOD_DAYS - 1).days())
        .unwrap_or(today);
    let form = PeriodForm {
        from: non_empty_or(query_value(raw, "desde"), default_from),
        to: non_empty_or(query_value(raw, "hasta"), today),
    };
    let mut errors = FieldErrors::default();
    let from = parse_date(&form.from)
        .map_err(|m| errors.add("desde", m))
        .ok();
    let to = parse_date(&form.to)
        .map_err(|m| errors.add("hasta", m))
        .ok();
    let (Some(from), Some(to)) = (from, to) else {
        return (form, Err(errors));
    };
    if from > to {
        errors.add("hasta", "«Hasta» debe ser igual o posterior a «Desde».");
    } else if days_between(from, to) + 1 > MAX_PERIOD_DAYS {
        errors.add("hasta", "El período puede abarcar como máximo 366 días.");
    }
    let period = errors.is_empty().then_some(Period { from, to });
    (form, period.ok_or(errors))
}

fn non_empty_or(value: String, default: Date) -> String {
    if value.is_empty() {
        default.to_string()
    } else {
        value
    }
}

fn days_between(from: Date, to: Date) -> i64 {
    from.until(to)
        .map(|span| i64::from(span.get_days()))
        .unwrap_or(i64::MAX)
}

/// `2025-03-31` as date inputs send it, or `31/03/2025` as typed where the browser shows a
/// plain text box. Years are kept within a sane range so that day arithmetic cannot overflow.
fn parse_date(value: &str) -> Result<Date, &'static str> {
    let date = value
        .parse::<Date>()
        .or_else(|_| Date::strptime("%d/%m/%Y", value))
        .or_else(|_| Date::strptime("%d-%m-%Y", value))
        .map_err(|_| "Ingrese una fecha válida, por ejemplo 2025-03-31.")?;
    if (2000..=2100).contains(&date.year()) {
        Ok(date)
    } else {
        Err("Ingrese una fecha entre los años 2000 y 2100.")
    }
}

/// A number as es-CL writes it: a decimal comma, one decimal, none when it is whole.
pub(super) fn decimal(value: f64) -> String {
    let rounded = (value * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded:.1}").replace('.', ",")
    }
}

pub(super) fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_string(), |v| format!("{} %", decimal(v)))
}

/// The kind filter, with the same parameter name as the other request filters.
const KIND_PARAM: &str = "tipo";

struct KindChoice {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

/// One line of the table, already written out.
struct Line {
    number: usize,
    name: String,
    /// The company's id, or "total": marks the row.
    key: String,
    received: i64,
    answered: i64,
    on_time: String,
    on_time_count: String,
    overdue: i64,
    overdue_href: String,
    median: String,
}

fn line(number: usize, name: String, key: String, figures: &Compliance, href: String) -> Line {
    let on_time_count = if figures.answered_with_deadline > 0 {
        format!("{} de {}", figures.on_time, figures.answered_with_deadline)
    } else {
        String::new()
    };
    Line {
        number,
        name,
        key,
        received: figures.received,
        answered: figures.answered,
        on_time: percent(figures.on_time_share()),
        on_time_count,
        overdue: figures.overdue,
        overdue_href: href,
        median: figures
            .median_days()
            .map_or_else(|| "—".to_string(), decimal),
    }
}

/// The panel of requests listing exactly what was counted as overdue: the company's (every
/// company's for the total), submitted in the period, of the kind chosen.
fn overdue_link(period: Period, kind: Option<RequestKind>, company: Option<&str>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if let Some(company) = company {
        query.append_pair("empresa", company);
    }
    query.append_pair("vencidas", "1");
    query.append_pair("envio_desde", &period.from.to_string());
    query.append_pair("envio_hasta", &period.to.to_string());
    if let Some(kind) = kind {
        query.append_pair(KIND_PARAM, kind.code());
    }
    format!("/sec?{}", query.finish())
}

struct Results {
    companies: Vec<Line>,
    total: Line,
    /// None when no company has an on-time share to draw.
    chart_svg: Option<String>,
}

#[derive(Template)]
#[template(path = "sec_compliance.html")]
struct CompliancePage {
    page: Page,
    form: PeriodForm,
    kinds: Vec<KindChoice>,
    errors: FieldErrors,
    results: Option<Results>,
}

fn kind_choices(selected: Option<RequestKind>) -> Vec<KindChoice> {
    RequestKind::ALL
        .into_iter()
        .map(|kind| KindChoice {
            value: kind.code(),
            label: kind.label(),
            selected: Some(kind) == selected,
        })
        .collect()
}

async fn show(
    State(state): State<AppState>,
    RegulatorUser(_user): RegulatorUser,
    page: Page,
    RawQuery(raw): RawQuery,
) -> AppResult<Response> {
    let now = state.now();
    let raw = raw.unwrap_or_default();
    let (form, period) = read_period(&raw, chile_date(now));
    // An unknown kind shows every kind, as the other filters of the portal do.
    let kind = RequestKind::from_code(&query_value(&raw, KIND_PARAM).to_ascii_uppercase());
    let (errors, results, status) = match period {
        Ok(period) => {
            let report = stats::compliance(&state.db, period.from, period.to, kind, now).await?;
            let results = results(report, period, kind);
            (FieldErrors::default(), Some(results), StatusCode::OK)
        }
        Err(errors) => (errors, None, StatusCode::UNPROCESSABLE_ENTITY),
    };
    let kinds = kind_choices(kind);
    let html = CompliancePage {
        page,
        form,
        kinds,
        errors,
        results,
    }
    .render()?;
    Ok((status, Html(html)).into_response())
}

fn results(report: ComplianceReport, period: Period, kind: Option<RequestKind>) -> Results {
    let shares: Vec<Option<f64>> = report
        .companies
        .iter()
        .map(|c| c.figures.on_time_share())
        .collect();
    let chart_svg = shares
        .iter()
        .any(Option::is_some)
        .then(|| or_log(share_bars(&shares)))
        .flatten();
    let companies = report
        .companies
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let href = overdue_link(period, kind, Some(&c.distributor_id));
            line(i + 1, c.name, c.distributor_id, &c.figures, href)
        })
        .collect();
    let href = overdue_link(period, kind, None);
    let total = line(0, "Total".into(), "total".into(), &report.total, href);
    Results {
        companies,
        total,
        chart_svg,
    }
}

/// A company's bar is labelled with its N° in the table.
fn company_number(value: &SegmentValue<u32>) -> String {
    match value {
        SegmentValue::CenterOf(index) | SegmentValue::Exact(index) => format!("{}", index + 1),
        SegmentValue::Last => String::new(),
    }
}

/// One bar per company, numbered as in the table: company names are edited in the portal, and
/// the chart holds only numbers (see `charts`). A company without answers due gets no bar.
fn share_bars(shares: &[Option<f64>]) -> anyhow::Result<String> {
    svg((760, 340), "grafico-cumplimiento", |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(16)
            .x_label_area_size(56)
            .y_label_area_size(80)
            .build_cartesian_2d((0..last_bar(shares.len())).into_segmented(), 0.0..100.0)
            .map_err(drawing)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(TRANSPARENT)
            .label_style(AXIS_FONT)
            .axis_desc_style(AXIS_FONT)
            .x_labels(shares.len().min(40))
            .x_label_formatter(&company_number)
            .y_labels(11)
            .y_label_formatter(&|v: &f64| format!("{v:.0} %"))
            .y_desc("Respondidas a tiempo")
            .x_desc("Empresa (N° en la tabla)")
            .draw()
            .map_err(drawing)?;
        let data = shares
            .iter()
            .enumerate()
            .filter_map(|(i, share)| share.map(|s| (i as u32, s)));
        chart
            .draw_series(
                Histogram::vertical(&chart)
                    .style(RGBColor(45, 113, 124).filled())
                    .margin(bar_margin(shares.len()))
                    .data(data),
            )
            .map_err(drawing)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn periods_default_to_the_last_thirty_days_and_are_checked() {
        let today = date(2025, 3, 4);
        let (form, period) = read_period("", today);
        let period = period.ok().unwrap();
        assert_eq!((period.from, period.to), (date(2025, 2, 3), today));
        assert_eq!(form.from, "2025-02-03");
        let (_, typed) = read_period("desde=01%2F03%2F2025&hasta=2025-03-02", today);
        assert_eq!(typed.ok().unwrap().from, date(2025, 3, 1));
        let (_, year) = read_period("desde=2024-01-01&hasta=2024-12-31", today);
        assert!(year.is_ok(), "366 days of a leap year");
        let refused = [
            ("desde=2024-01-01&hasta=2025-01-01", "hasta"),
            ("desde=2025-03-02&hasta=2025-03-01", "hasta"),
            ("desde=ayer", "desde"),
            ("desde=1999-12-31", "desde"),
        ];
        for (query, field) in refused {
            let (_, result) = read_period(query, today);
            let errors = result.err().unwrap_or_else(|| panic!("{query} accepted"));
            assert!(errors.get(field).is_some(), "{query}");
        }
    }

    #[test]
    fn numbers_are_written_the_chilean_way() {
        assert_eq!(decimal(200.0 / 3.0), "66,7");
        assert_eq!(decimal(100.0), "100");
        assert_eq!(decimal(0.5), "0,5");
        assert_eq!(percent(None), "—");
        assert_eq!(percent(Some(80.0)), "80 %");
    }

    #[test]
    fn the_share_chart_draws_one_company_or_many() {
        for shares in [vec![Some(50.0)], vec![None, Some(100.0), Some(0.0)]] {
            let chart = share_bars(&shares).unwrap();
            assert!(chart.contains("Respondidas a tiempo"), "{shares:?}");
        }
    }
}
