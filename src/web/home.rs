//! The home pages of the profiles that have one; the Distribuidora's is its Bandeja.

use askama::Template;
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::error::AppResult;
use super::page::{Page, RegulatorUser};

pub async fn root(page: Page) -> Response {
    match &page.user {
        Some(user) => Redirect::to(user.profile.home_path()).into_response(),
        None => Redirect::to("/ingreso").into_response(),
    }
}

#[derive(Template)]
#[template(path = "home_regulator.html")]
struct RegulatorHome {
    page: Page,
    role: &'static str,
}

pub async fn regulator(RegulatorUser(user): RegulatorUser, page: Page) -> AppResult<Response> {
    let role = match user.regulator_role {
        Some(crate::domain::RegulatorRole::Auditor) => "Auditor",
        _ => "Administrador",
    };
    Ok(Html(RegulatorHome { page, role }.render()?).into_response())
}
