//! The portal's root: each profile's home page (the applicant's, the Distribuidora's Bandeja,
//! the SEC panel) lives with its own area.

use axum::response::{IntoResponse, Redirect, Response};

use super::page::Page;

pub async fn root(page: Page) -> Response {
    match &page.user {
        Some(user) => Redirect::to(user.profile.home_path()).into_response(),
        None => Redirect::to("/ingreso").into_response(),
    }
}
