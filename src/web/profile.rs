//! The profile menu: "Resumen del perfil" and "Cambio de clave".

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::AppState;
use super::error::AppResult;
use super::forms::FieldErrors;
use super::page::{Page, SignedIn};
use super::session::{Flash, cookie_names, flash_cookie, set_cookie};
use crate::clock::format_date;
use crate::domain::password::{self, PasswordError};
use crate::mail::messages;
use crate::store::audit::{self, AuditEntry};
use crate::store::users::User;
use crate::store::{outbox, sessions, users};

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    page: Page,
    account: User,
    created: String,
}

pub async fn summary(SignedIn(user): SignedIn, page: Page) -> AppResult<Response> {
    let created = format_date(user.created_at);
    Ok(Html(
        ProfilePage {
            page,
            account: user,
            created,
        }
        .render()?,
    )
    .into_response())
}

#[derive(Template)]
#[template(path = "change_password.html")]
struct ChangePasswordPage {
    page: Page,
    errors: FieldErrors,
}

#[derive(Deserialize)]
pub struct ChangePasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirmation: String,
}

fn render(page: Page, errors: FieldErrors) -> AppResult<Response> {
    let status = if errors.is_empty() { 200 } else { 422 };
    let body = ChangePasswordPage { page, errors }.render()?;
    Ok((
        axum::http::StatusCode::from_u16(status).expect("valid status"),
        Html(body),
    )
        .into_response())
}

pub async fn show_change_password(SignedIn(_user): SignedIn, page: Page) -> AppResult<Response> {
    render(page, FieldErrors::default())
}

/// Checks the current password, sets the new one, ends every session of the user (this one
/// included) and opens a fresh session for this browser.
pub async fn change_password(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    page: Page,
    Form(form): Form<ChangePasswordForm>,
) -> AppResult<Response> {
    let mut errors = FieldErrors::default();
    let current_ok =
        super::auth::verify_password(form.current_password.clone(), user.password_hash.clone())
            .await?;
    if !current_ok {
        errors.add("current_password", "La contraseña actual no es correcta.");
    }
    let personal = [user.rut.as_str(), user.email.as_str()];
    let checked = password::check(&form.password, &form.password_confirmation, &personal);
    if let Err(error) = &checked {
        let field = if *error == PasswordError::Mismatch {
            "password_confirmation"
        } else {
            "password"
        };
        errors.add(field, error);
    }
    let new_password = match checked {
        Ok(p) if errors.is_empty() => p,
        _ => return render(page, errors),
    };
    let hash = super::auth::hash_password(new_password).await?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    users::set_password(&mut *tx, &user.id, &hash, now).await?;
    sessions::delete_all_for_user(&mut *tx, &user.id).await?;
    let token = sessions::create(&mut *tx, &user.id, now).await?;
    let email = messages::password_changed(
        &user.email,
        &user.display_name(),
        &state.settings.link("/recuperar"),
    )?;
    outbox::enqueue(&mut *tx, &email, &state.message_domain(), now).await?;
    let entry = AuditEntry {
        actor_id: Some(&user.id),
        event: "password_changed",
        target: None,
        detail: None,
    };
    audit::record(&mut *tx, &entry, now).await?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    tracing::info!(security.event = "password_changed", user.id = %user.id, "password changed");
    let mut response = Redirect::to("/perfil").into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        set_cookie(
            &state.settings,
            cookie_names(&state.settings).session,
            token,
        ),
    );
    headers.append(
        header::SET_COOKIE,
        flash_cookie(&state.settings, Flash::PasswordChanged),
    );
    Ok(response)
}
