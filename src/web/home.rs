//! Each profile's home page.

use askama::Template;
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::error::AppResult;
use super::page::{DistributorUser, Page, RegulatorUser};

pub async fn root(page: Page) -> Response {
    match &page.user {
        Some(user) => Redirect::to(user.profile.home_path()).into_response(),
        None => Redirect::to("/ingreso").into_response(),
    }
}

#[derive(Template)]
#[template(path = "home_distributor.html")]
struct DistributorHome {
    page: Page,
    company: String,
}

#[derive(Template)]
#[template(path = "home_regulator.html")]
struct RegulatorHome {
    page: Page,
    role: &'static str,
}

pub async fn distributor(
    DistributorUser(user): DistributorUser,
    page: Page,
) -> AppResult<Response> {
    let company = user.distributor_name.unwrap_or_default();
    Ok(Html(DistributorHome { page, company }.render()?).into_response())
}

pub async fn regulator(RegulatorUser(user): RegulatorUser, page: Page) -> AppResult<Response> {
    let role = match user.regulator_role {
        Some(crate::domain::RegulatorRole::Auditor) => "Auditor",
        _ => "Administrador",
    };
    Ok(Html(RegulatorHome { page, role }.render()?).into_response())
}
