//! "Ingreso al sistema": login, registration, activation, password recovery, captcha.

pub mod activate;
pub mod captcha;
pub mod login;
pub mod password_link;
pub mod recover;
pub mod register;

use askama::Template;
use axum::response::{Html, IntoResponse, Response};

use super::error::AppResult;
use super::page::Page;

/// A page with a title and a sentence: "received" pages and link outcomes.
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub page: Page,
    pub title: &'static str,
    pub message: &'static str,
    pub link: Option<(&'static str, &'static str)>,
}

pub fn message(
    page: Page,
    title: &'static str,
    message: &'static str,
    link: Option<(&'static str, &'static str)>,
) -> AppResult<Response> {
    Ok(Html(
        MessagePage {
            page,
            title,
            message,
            link,
        }
        .render()?,
    )
    .into_response())
}

pub use crate::web::hash_password_blocking as hash_password;

pub async fn verify_password(typed: String, stored: Option<String>) -> anyhow::Result<bool> {
    Ok(tokio::task::spawn_blocking(move || {
        crate::crypto::verify_password(&typed, stored.as_deref())
    })
    .await?)
}
