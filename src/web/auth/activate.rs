//! The activation link. Opening it (GET) changes nothing, so that mail scanners that follow
//! links do not activate accounts; the button on the page (POST) does.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::store::tokens::{self, Purpose, TokenState};
use crate::store::users;
use crate::web::AppState;
use crate::web::error::AppResult;
use crate::web::page::Page;
use crate::web::session::{Flash, flash_cookie};

#[derive(Template)]
#[template(path = "activate.html")]
struct ActivatePage {
    page: Page,
    token: String,
}

pub async fn show(
    State(state): State<AppState>,
    page: Page,
    Path(token): Path<String>,
) -> AppResult<Response> {
    match tokens::inspect(&state.db, &token, Purpose::Activation, state.now()).await? {
        TokenState::Valid { .. } => {
            Ok(Html(ActivatePage { page, token }.render()?).into_response())
        }
        state => link_outcome(page, &state),
    }
}

pub async fn submit(
    State(state): State<AppState>,
    page: Page,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let now = state.now();
    let mut tx = state.db.begin().await?;
    let Some(user_id) = tokens::consume(&mut tx, &token, Purpose::Activation, now).await? else {
        drop(tx);
        let outcome = tokens::inspect(&state.db, &token, Purpose::Activation, now).await?;
        return link_outcome(page, &outcome);
    };
    users::activate(&mut *tx, &user_id, now).await?;
    tx.commit().await?;
    tracing::info!(security.event = "account_activated", user.id = %user_id, "account activated");
    let mut response = Redirect::to("/ingreso").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        flash_cookie(&state.settings, Flash::AccountActivated),
    );
    Ok(response)
}

fn link_outcome(page: Page, state: &TokenState) -> AppResult<Response> {
    let (message, link) = match state {
        TokenState::Used => (
            "Este enlace de activación ya fue utilizado. Si su cuenta está activa, ya puede ingresar.",
            ("Ir al ingreso", "/ingreso"),
        ),
        TokenState::Expired => (
            "Este enlace de activación expiró. Pida uno nuevo.",
            ("Pedir un nuevo enlace", "/registro/reenviar"),
        ),
        _ => (
            "El enlace de activación no es válido. Revise que lo copió completo.",
            ("Pedir un nuevo enlace", "/registro/reenviar"),
        ),
    };
    super::message(page, "Activación de cuenta", message, Some(link))
}
