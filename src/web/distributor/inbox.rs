//! "Bandeja de Solicitudes": the company's requests, newest first, with the manual's filters
//! in the URL (so a filtered list can be bookmarked and the back button works), paging, and
//! the answer deadline of each request in business days.

use askama::Template;
use axum::extract::{Query, RawQuery, State};
use axum::response::{Html, IntoResponse, Response};
use jiff::ToSpan;
use jiff::civil::Date;
use serde::Deserialize;

use super::{FilterForm, with_filters};
use crate::domain::calendar::{BusinessCalendar, chile_date};
use crate::domain::request::Status;
use crate::store::filters::{self, Filters};
use crate::store::requests::{self, RequestSummary, Viewer};
use crate::web::AppState;
use crate::web::error::AppResult;
use crate::web::page::{DistributorUser, Page};
use crate::web::requests::listing::{Paging, Row};
use crate::web::requests::viewer_of;

#[derive(Deserialize, Default)]
pub struct PagingQuery {
    items: Option<String>,
    pagina: Option<String>,
}

/// A row of the Bandeja: the shared columns plus the deadline.
pub struct InboxRow {
    pub row: Row,
    /// "Vence": the due date, dd/mm/yyyy, or "—".
    pub due: String,
    /// "Días hábiles": what is left, "En pausa", "Vence hoy", "Vencida hace N días" or "—".
    pub left: String,
    pub overdue: bool,
}

#[derive(Template)]
#[template(path = "distributor_inbox.html")]
struct InboxPage {
    page: Page,
    form: FilterForm,
    rows: Vec<InboxRow>,
    paging: Paging,
    filtered: bool,
    report_href: String,
}

pub async fn show(
    State(state): State<AppState>,
    DistributorUser(user): DistributorUser,
    page: Page,
    Query(query): Query<PagingQuery>,
    RawQuery(raw): RawQuery,
) -> AppResult<Response> {
    let filters = Filters::from_query(raw.as_deref().unwrap_or_default());
    let base = with_filters("/distribuidora", &filters);
    let mut paging = Paging::from_query(query.items.as_deref(), query.pagina.as_deref(), &base);
    let items = read_page(&state, &viewer_of(&user), &filters, &mut paging).await?;
    let calendar = BusinessCalendar::new(requests::holidays(state.db.pool()).await?);
    let today = chile_date(state.now());
    let rows = items
        .iter()
        .map(|request| inbox_row(request, &calendar, today))
        .collect();
    let inbox = InboxPage {
        page,
        form: FilterForm::new(&filters),
        rows,
        paging,
        filtered: !filters.is_empty(),
        report_href: with_filters("/distribuidora/reporte", &filters),
    };
    Ok(Html(inbox.render()?).into_response())
}

/// The page of requests the paging asks for; past the end (an old link), the last page.
async fn read_page(
    state: &AppState,
    viewer: &Viewer,
    filters: &Filters,
    paging: &mut Paging,
) -> AppResult<Vec<RequestSummary>> {
    let per_page = paging.per_page;
    let read = |offset| filters::list_filtered(&state.db, viewer, filters, per_page, offset);
    let (mut items, total) = read(paging.offset()).await?;
    paging.set_total(total);
    if paging.clamp_to_last() {
        let total;
        (items, total) = read(paging.offset()).await?;
        paging.set_total(total);
    }
    Ok(items)
}

fn inbox_row(request: &RequestSummary, calendar: &BusinessCalendar, today: Date) -> InboxRow {
    let due = request
        .due_on
        .map(|d| d.strftime("%d/%m/%Y").to_string())
        .unwrap_or_else(|| "—".to_string());
    let (left, overdue) = time_left(request, calendar, today);
    InboxRow {
        row: Row::from(request),
        due,
        left,
        overdue,
    }
}

/// The "Días hábiles" cell, and whether the request is past its due date.
fn time_left(request: &RequestSummary, calendar: &BusinessCalendar, today: Date) -> (String, bool) {
    let closed = matches!(
        request.status,
        Status::Answered | Status::AutoAnswered | Status::Annulled
    );
    let Some(due) = request
        .due_on
        .filter(|_| !closed && request.answered_at.is_none())
    else {
        return ("—".to_string(), false);
    };
    if request.status.clock_paused() {
        return ("En pausa".to_string(), false);
    }
    if today < due {
        return (business_days_after(calendar, today, due).to_string(), false);
    }
    if today == due {
        return ("Vence hoy".to_string(), false);
    }
    // Counted in business days like the rest of the column; the first day after the due
    // date always counts, so that a deadline missed on a Friday never reads "hace 0 días".
    let late = business_days_after(calendar, due, today).max(1);
    let unit = if late == 1 { "día" } else { "días" };
    (format!("Vencida hace {late} {unit}"), true)
}

/// Business days `d` with `from < d <= to`.
fn business_days_after(calendar: &BusinessCalendar, from: Date, to: Date) -> usize {
    from.series(1.day())
        .skip(1)
        .take_while(|day| *day <= to)
        .filter(|day| calendar.is_business_day(*day))
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::request::RequestKind;

    fn request(status: Status, due: Option<&str>) -> RequestSummary {
        let noon = jiff::civil::date(2025, 3, 4).at(12, 0, 0, 0);
        let at = crate::clock::chile().to_timestamp(noon).unwrap();
        RequestSummary {
            id: "r".to_string(),
            folio: "EN1".to_string(),
            kind: RequestKind::Information,
            status,
            client_number: Some("1-9".to_string()),
            feasibility_number: None,
            distributor_reference: None,
            distributor_id: "d".to_string(),
            distributor_name: "Enel".to_string(),
            related_request_id: None,
            submitted_at: at,
            answered_at: None,
            due_on: due.map(|d| d.parse().unwrap()),
        }
    }

    #[test]
    fn days_left_pause_and_overdue() {
        let calendar = BusinessCalendar::new([jiff::civil::date(2025, 3, 14)]);
        let tuesday = jiff::civil::date(2025, 3, 4);
        let cell = |status, due, today| time_left(&request(status, due), &calendar, today).0;
        // Wed 5 … Tue 18 March, less Friday 14 (a holiday here) and two weekends: 9.
        let pending = Status::PendingAnswer;
        assert_eq!(cell(pending, Some("2025-03-18"), tuesday), "9");
        assert_eq!(cell(pending, Some("2025-03-04"), tuesday), "Vence hoy");
        assert_eq!(
            cell(pending, Some("2025-02-28"), tuesday),
            "Vencida hace 2 días"
        );
        assert_eq!(
            cell(pending, Some("2025-03-03"), tuesday),
            "Vencida hace 1 día"
        );
        let saturday = jiff::civil::date(2025, 3, 1);
        assert_eq!(
            cell(pending, Some("2025-02-28"), saturday),
            "Vencida hace 1 día"
        );
        assert_eq!(
            cell(Status::PendingPayment, Some("2025-03-18"), tuesday),
            "En pausa"
        );
        assert_eq!(cell(Status::Answered, Some("2025-03-18"), tuesday), "—");
        assert_eq!(cell(Status::Sent, None, tuesday), "—");
        assert!(time_left(&request(pending, Some("2025-02-28")), &calendar, tuesday).1);
    }
}
