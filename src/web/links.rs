//! "Enlaces de Interés": the links SEC keeps in the database.

use askama::Template;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Response};

use super::AppState;
use super::error::AppResult;
use super::page::{Page, SignedIn};
use crate::store::reference::{self, Link};

#[derive(Template)]
#[template(path = "links.html")]
struct LinksPage {
    page: Page,
    links: Vec<Link>,
}

pub async fn show(
    State(state): State<AppState>,
    SignedIn(_user): SignedIn,
    page: Page,
) -> AppResult<Response> {
    let links = reference::links(&state.db).await?;
    Ok(Html(LinksPage { page, links }.render()?).into_response())
}
