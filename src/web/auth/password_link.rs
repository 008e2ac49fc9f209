//! Choosing a new password from an e-mailed link (recovery, or the first password of an account
//! created by an administrator). The link works once; every open session of the user ends.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::domain::password::{self, PasswordError};
use crate::store::audit::{self, AuditEntry};
use crate::store::tokens::{self, Purpose, TokenState};
use crate::store::{sessions, users};
use crate::web::AppState;
use crate::web::error::{AppError, AppResult};
use crate::web::forms::FieldErrors;
use crate::web::page::Page;
use crate::web::session::{Flash, flash_cookie};

#[derive(Template)]
#[template(path = "set_password.html")]
struct SetPasswordPage {
    page: Page,
    token: String,
    errors: FieldErrors,
}

#[derive(Deserialize)]
pub struct SetPasswordForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirmation: String,
}

fn render(page: Page, token: String, errors: FieldErrors) -> AppResult<Response> {
    let status = if errors.is_empty() { 200 } else { 422 };
    let body = SetPasswordPage {
        page,
        token,
        errors,
    }
    .render()?;
    Ok((
        axum::http::StatusCode::from_u16(status).expect("valid status"),
        Html(body),
    )
        .into_response())
}

pub async fn show(
    State(state): State<AppState>,
    page: Page,
    Path(token): Path<String>,
) -> AppResult<Response> {
    match tokens::inspect(&state.db, &token, Purpose::Password, state.now()).await? {
        TokenState::Valid { .. } => render(page, token, FieldErrors::default()),
        outcome => link_outcome(page, &outcome),
    }
}

pub async fn submit(
    State(state): State<AppState>,
    page: Page,
    Path(token): Path<String>,
    Form(form): Form<SetPasswordForm>,
) -> AppResult<Response> {
    let now = state.now();
    let user_id = match tokens::inspect(&state.db, &token, Purpose::Password, now).await? {
        TokenState::Valid { user_id } => user_id,
        outcome => return link_outcome(page, &outcome),
    };
    let user = users::by_id(&state.db, &user_id)
        .await?
        .ok_or(AppError::NotFound)?;
    let personal = [user.rut.as_str(), user.email.as_str()];
    let new_password = match password::check(&form.password, &form.password_confirmation, &personal)
    {
        Ok(p) => p,
        Err(error) => {
            let mut errors = FieldErrors::default();
            let field = if error == PasswordError::Mismatch {
                "password_confirmation"
            } else {
                "password"
            };
            errors.add(field, error);
            return render(page, token, errors);
        }
    };
    let hash = super::hash_password(new_password).await?;
    let mut tx = state.db.begin().await?;
    // Consumed inside the transaction: of two submissions of one link, one wins.
    let Some(user_id) = tokens::consume(&mut tx, &token, Purpose::Password, now).await? else {
        drop(tx);
        return link_outcome(page, &TokenState::Used);
    };
    users::set_password(&mut *tx, &user_id, &hash, now).await?;
    sessions::delete_all_for_user(&mut *tx, &user_id).await?;
    let entry = AuditEntry {
        actor_id: Some(&user_id),
        event: "password_reset",
        target: None,
        detail: None,
    };
    audit::record(&mut *tx, &entry, now).await?;
    tx.commit().await?;
    tracing::info!(security.event = "password_reset", user.id = %user_id, "password set from a link");
    let mut response = Redirect::to("/ingreso").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        flash_cookie(&state.settings, Flash::PasswordSet),
    );
    Ok(response)
}

fn link_outcome(page: Page, state: &TokenState) -> AppResult<Response> {
    let message = match state {
        TokenState::Used => {
            "Este enlace ya fue utilizado. Si necesita cambiar su contraseña otra vez, pida un nuevo enlace."
        }
        TokenState::Expired => {
            "Este enlace expiró. Pida un nuevo enlace para recuperar su contraseña."
        }
        _ => "El enlace no es válido. Revise que lo copió completo, o pida uno nuevo.",
    };
    super::message(
        page,
        "Recuperar Contraseña",
        message,
        Some(("Pedir un nuevo enlace", "/recuperar")),
    )
}
