//! "Panel de Solicitudes": every request, with the manual's columns plus the due date and
//! whether it was answered on time; filters, sort and paging all in the URL, so that a view can
//! be bookmarked, linked from "Cumplimiento de plazos" and used without JavaScript. From a
//! request, an administrador may "Anular" it (manual, "Anular envío").

use askama::Template;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use jiff::civil::Date;

use super::compliance::query_value;
use crate::domain::calendar::{chile_date, is_on_time};
use crate::domain::request::{RequestKind, Status};
use crate::store::panel::{self, DateRange, PanelFilters, Sort, SortColumn, is_overdue};
use crate::store::requests::RequestSummary;
use crate::web::AppState;
use crate::web::error::AppResult;
use crate::web::forms::FieldErrors;
use crate::web::page::{Page, RegulatorUser};
use crate::web::requests::listing::{Paging, Row};

mod annul;

const HOME: &str = "/sec";

pub fn routes() -> Router<AppState> {
    Router::new().route(HOME, get(show)).route(
        "/solicitudes/{id}/anular",
        get(annul::show).post(annul::submit),
    )
}

/// The text parameters of the filter form, by their name in the URL.
const TEXT_PARAMS: [&str; 10] = [
    "folio",
    "cliente",
    "tipo",
    "estado",
    "empresa",
    "region",
    "envio_desde",
    "envio_hasta",
    "respuesta_desde",
    "respuesta_hasta",
];

/// The filters as typed, in the order of [`TEXT_PARAMS`], and "vencidas".
#[derive(Clone, Default)]
pub struct PanelForm {
    values: [String; 10],
    pub overdue: bool,
}

impl PanelForm {
    pub fn value(&self, name: &str) -> &str {
        TEXT_PARAMS
            .iter()
            .position(|param| *param == name)
            .map_or("", |index| self.values[index].as_str())
    }

    /// The set filters and the sort as a URL query, without `?`.
    fn query(&self, sort: Sort) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in TEXT_PARAMS.iter().zip(&self.values) {
            if !value.is_empty() {
                query.append_pair(name, value);
            }
        }
        if self.overdue {
            query.append_pair("vencidas", "1");
        }
        if sort != Sort::default() {
            query.append_pair("orden", sort.column.param());
            query.append_pair("dir", if sort.descending { "desc" } else { "asc" });
        }
        query.finish()
    }

    fn link(&self, sort: Sort) -> String {
        let query = self.query(sort);
        if query.is_empty() {
            HOME.to_string()
        } else {
            format!("{HOME}?{query}")
        }
    }
}

/// `2025-03-31` as date inputs send it, or `31/03/2025` as typed in a plain text box.
fn parse_date(value: &str) -> Option<Date> {
    value
        .parse::<Date>()
        .or_else(|_| Date::strptime("%d/%m/%Y", value))
        .ok()
        .filter(|date| (2000..=2100).contains(&date.year()))
}

/// Reads the query: unknown kinds, statuses and sort columns are ignored (an old bookmark still
/// opens), a date that cannot be read is ignored with a message beside its field.
pub fn read_query(raw: &str, today: Date) -> (PanelForm, PanelFilters, Sort, FieldErrors) {
    let mut form = PanelForm {
        values: TEXT_PARAMS.map(|name| query_value(raw, name)),
        overdue: query_value(raw, "vencidas") == "1",
    };
    let (filters, errors) = read_filters(&form, today);
    // What the links carry is what was applied: a known code, or nothing.
    form.values[2] = filters
        .kind
        .map(RequestKind::code)
        .unwrap_or_default()
        .to_string();
    form.values[3] = filters
        .status
        .map(Status::code)
        .unwrap_or_default()
        .to_string();
    (form, filters, read_sort(raw), errors)
}

fn read_filters(form: &PanelForm, today: Date) -> (PanelFilters, FieldErrors) {
    let present = |name: &str| Some(form.value(name).to_string()).filter(|v| !v.is_empty());
    let mut errors = FieldErrors::default();
    let mut date = |name: &'static str| {
        let value = form.value(name);
        let parsed = parse_date(value);
        if parsed.is_none() && !value.is_empty() {
            errors.add(name, "Ingrese una fecha válida, por ejemplo 2025-03-31.");
        }
        parsed
    };
    let (submitted_from, submitted_to) = (date("envio_desde"), date("envio_hasta"));
    let (answered_from, answered_to) = (date("respuesta_desde"), date("respuesta_hasta"));
    let filters = PanelFilters {
        folio_prefix: present("folio"),
        client_number: present("cliente"),
        kind: RequestKind::from_code(&form.value("tipo").to_ascii_uppercase()),
        status: Status::from_code(form.value("estado")),
        distributor_id: present("empresa"),
        region_code: present("region"),
        submitted: DateRange {
            from: submitted_from,
            to: submitted_to,
        },
        answered: DateRange {
            from: answered_from,
            to: answered_to,
        },
        overdue_on: form.overdue.then_some(today),
    };
    (filters, errors)
}

fn read_sort(raw: &str) -> Sort {
    let descending = query_value(raw, "dir") != "asc";
    SortColumn::from_param(&query_value(raw, "orden"))
        .map_or_else(Sort::default, |column| Sort { column, descending })
}

/// "A tiempo": Sí or No once answered; Vencida while owed past the due date; Pendiente while
/// there is still time; "—" without a deadline (MC) or when annulled before any answer.
pub fn on_time(request: &RequestSummary, today: Date) -> &'static str {
    let Some(due) = request.due_on else {
        return "—";
    };
    match request.answered_at {
        Some(_) if request.status == Status::AutoAnswered => "Sí",
        Some(answered) if is_on_time(answered, due) => "Sí",
        Some(_) => "No",
        None if is_overdue(request, today) => "Vencida",
        None if request.status == Status::Annulled => "—",
        None => "Pendiente",
    }
}

pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

fn choices(pairs: Vec<(String, String)>, selected: &str) -> Vec<Choice> {
    pairs
        .into_iter()
        .map(|(value, label)| Choice {
            selected: value == selected,
            value,
            label,
        })
        .collect()
}

/// A column heading: a link that sorts by it (again: the other way round), and how the list
/// is sorted by it now, for `aria-sort`.
pub struct Heading {
    pub label: &'static str,
    pub href: Option<String>,
    pub aria_sort: &'static str,
}

const HEADINGS: [(&str, Option<SortColumn>); 10] = [
    ("N° Solicitud", Some(SortColumn::Reference)),
    ("N° Folio", Some(SortColumn::Folio)),
    ("N° Cliente", Some(SortColumn::Client)),
    ("Formulario", Some(SortColumn::Kind)),
    ("Empresa Distribuidora", Some(SortColumn::Company)),
    ("Envío", Some(SortColumn::Submitted)),
    ("Respuesta", Some(SortColumn::Answered)),
    ("Estado", Some(SortColumn::Status)),
    ("Vence", Some(SortColumn::Due)),
    // Decided in Chile time from two dates: not a value the databases can sort by alike.
    ("A tiempo", None),
];

fn headings(form: &PanelForm, sort: Sort) -> Vec<Heading> {
    HEADINGS
        .iter()
        .map(|&(label, column)| {
            let current = column == Some(sort.column);
            let aria_sort = match (current, sort.descending) {
                (false, _) => "none",
                (true, true) => "descending",
                (true, false) => "ascending",
            };
            let href = column.map(|column| {
                let descending = current && !sort.descending;
                form.link(Sort { column, descending })
            });
            Heading {
                label,
                href,
                aria_sort,
            }
        })
        .collect()
}

pub struct PanelRow {
    pub row: Row,
    pub due: String,
    pub on_time: &'static str,
    pub overdue: bool,
}

/// The select lists of the filter form.
pub struct Lists {
    pub kinds: Vec<Choice>,
    pub statuses: Vec<Choice>,
    pub companies: Vec<Choice>,
    pub regions: Vec<Choice>,
}

async fn lists(state: &AppState, form: &PanelForm) -> AppResult<Lists> {
    let (companies, regions) = panel::choices(&state.db).await?;
    let owned = |code: &str, label: &str| (code.to_string(), label.to_string());
    let kinds = RequestKind::ALL
        .iter()
        .map(|k| owned(k.code(), k.label()))
        .collect();
    let statuses = Status::ALL
        .iter()
        .map(|s| owned(s.code(), s.label()))
        .collect();
    Ok(Lists {
        kinds: choices(kinds, form.value("tipo")),
        statuses: choices(statuses, form.value("estado")),
        companies: choices(companies, form.value("empresa")),
        regions: choices(regions, form.value("region")),
    })
}

#[derive(Template)]
#[template(path = "sec_panel.html")]
struct PanelPage {
    page: Page,
    form: PanelForm,
    errors: FieldErrors,
    lists: Lists,
    headings: Vec<Heading>,
    /// The sort, kept by the filter form; empty for the default.
    sort_column: &'static str,
    sort_direction: &'static str,
    rows: Vec<PanelRow>,
    paging: Paging,
    filtered: bool,
}

async fn show(
    State(state): State<AppState>,
    RegulatorUser(_user): RegulatorUser,
    page: Page,
    RawQuery(raw): RawQuery,
) -> AppResult<Response> {
    let (raw, today) = (raw.unwrap_or_default(), chile_date(state.now()));
    let (form, filters, sort, errors) = read_query(&raw, today);
    let (items, pagina) = (query_value(&raw, "items"), query_value(&raw, "pagina"));
    let mut paging = Paging::from_query(Some(&items), Some(&pagina), &form.link(sort));
    let requests = read_page(&state, &filters, sort, &mut paging).await?;
    let default_sort = sort == Sort::default();
    let body = PanelPage {
        lists: lists(&state, &form).await?,
        headings: headings(&form, sort),
        sort_column: if default_sort {
            ""
        } else {
            sort.column.param()
        },
        sort_direction: if sort.descending { "desc" } else { "asc" },
        rows: requests
            .iter()
            .map(|request| panel_row(request, today))
            .collect(),
        filtered: filters != PanelFilters::default(),
        page,
        form,
        errors,
        paging,
    };
    Ok(Html(body.render()?).into_response())
}

/// The page the paging asks for; past the end (an old link), the last page.
async fn read_page(
    state: &AppState,
    filters: &PanelFilters,
    sort: Sort,
    paging: &mut Paging,
) -> AppResult<Vec<RequestSummary>> {
    let per_page = paging.per_page;
    let read = |offset| panel::page(&state.db, filters, sort, per_page, offset);
    let (mut items, total) = read(paging.offset()).await?;
    paging.set_total(total);
    if paging.clamp_to_last() {
        let total;
        (items, total) = read(paging.offset()).await?;
        paging.set_total(total);
    }
    Ok(items)
}

fn panel_row(request: &RequestSummary, today: Date) -> PanelRow {
    PanelRow {
        row: Row::from(request),
        due: request
            .due_on
            .map_or_else(|| "—".to_string(), |d| d.strftime("%d/%m/%Y").to_string()),
        on_time: on_time(request, today),
        overdue: is_overdue(request, today),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn ascending(column: SortColumn) -> Sort {
        Sort {
            column,
            descending: false,
        }
    }

    #[test]
    fn the_query_round_trips_and_ignores_what_it_does_not_know() {
        let raw = "folio=+en1+&tipo=si&estado=nope&envio_desde=01/03/2025&envio_hasta=ayer\
                   &vencidas=1&orden=d.name;--&dir=asc&items=25";
        let today = date(2025, 3, 4);
        let (form, filters, sort, errors) = read_query(raw, today);
        assert_eq!(filters.folio_prefix.as_deref(), Some("en1"));
        assert_eq!(
            (filters.kind, filters.status),
            (Some(RequestKind::Information), None)
        );
        let submitted = (filters.submitted.from, filters.submitted.to);
        assert_eq!(submitted, (Some(date(2025, 3, 1)), None));
        assert_eq!(filters.overdue_on, Some(today));
        assert_eq!(sort, Sort::default());
        assert!(errors.get("envio_hasta").is_some());
        assert_eq!(
            form.link(ascending(SortColumn::Company)),
            "/sec?folio=en1&tipo=SI&envio_desde=01%2F03%2F2025&envio_hasta=ayer&vencidas=1\
             &orden=empresa&dir=asc"
        );
        let (_, _, sort, _) = read_query("orden=vence&dir=asc", today);
        assert_eq!(sort, ascending(SortColumn::Due));
    }

    #[test]
    fn a_heading_sorts_ascending_then_the_other_way() {
        let all = headings(&PanelForm::default(), ascending(SortColumn::Folio));
        assert_eq!(all[1].href.as_deref(), Some("/sec?orden=folio&dir=desc"));
        assert_eq!(all[1].aria_sort, "ascending");
        assert_eq!(all[0].href.as_deref(), Some("/sec?orden=solicitud&dir=asc"));
        assert_eq!(all[9].href, None);
    }
}
