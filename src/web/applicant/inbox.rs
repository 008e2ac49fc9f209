//! "Solicitudes": the applicant's requests, newest first, with "Mostrar N Items" and paging.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

use crate::store::requests::{self, Viewer};
use crate::web::AppState;
use crate::web::error::AppResult;
use crate::web::page::{ApplicantUser, Page};
use crate::web::requests::listing::{Paging, Row};

#[derive(Deserialize, Default)]
pub struct InboxQuery {
    items: Option<String>,
    pagina: Option<String>,
}

#[derive(Template)]
#[template(path = "applicant_inbox.html")]
struct InboxPage {
    page: Page,
    rows: Vec<Row>,
    paging: Paging,
}

pub async fn show(
    State(state): State<AppState>,
    ApplicantUser(user): ApplicantUser,
    page: Page,
    Query(query): Query<InboxQuery>,
) -> AppResult<Response> {
    let mut paging = Paging::from_query(
        query.items.as_deref(),
        query.pagina.as_deref(),
        "/solicitudes",
    );
    let viewer = Viewer::Applicant {
        user_id: user.id.clone(),
    };
    let (mut items, total) =
        requests::list(&state.db, &viewer, paging.per_page, paging.offset()).await?;
    paging.set_total(total);
    if paging.clamp_to_last() {
        let total;
        (items, total) =
            requests::list(&state.db, &viewer, paging.per_page, paging.offset()).await?;
        paging.set_total(total);
    }
    let rows = items.iter().map(Row::from).collect();
    Ok(Html(InboxPage { page, rows, paging }.render()?).into_response())
}
