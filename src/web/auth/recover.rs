//! "Recuperar Contraseña": profile, RUT and captcha; the same answer whether or not the RUT
//! has an account, and a single-use, one-hour link by e-mail when it does.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::captcha;
use crate::domain::{AccountStatus, Profile, Rut};
use crate::mail::messages;
use crate::store::tokens::{self, Purpose};
use crate::store::{outbox, users};
use crate::web::AppState;
use crate::web::error::AppResult;
use crate::web::forms::FieldErrors;
use crate::web::page::Page;

#[derive(Deserialize, Default)]
pub struct RecoverForm {
    #[serde(default)]
    perfil: String,
    #[serde(default)]
    rut: String,
    #[serde(default)]
    captcha_id: String,
    #[serde(default)]
    captcha: String,
    new_code: Option<String>,
}

#[derive(Template)]
#[template(path = "recover.html")]
struct RecoverPage {
    page: Page,
    profiles: [Profile; 3],
    selected: String,
    rut: String,
    captcha_id: Option<String>,
    errors: FieldErrors,
}

async fn render(
    state: &AppState,
    page: Page,
    form: &RecoverForm,
    errors: FieldErrors,
) -> AppResult<Response> {
    let status = if errors.is_empty() { 200 } else { 422 };
    let captcha_id = captcha::new_challenge(state).await?;
    let selected = if form.perfil.is_empty() {
        Profile::Applicant.code().to_string()
    } else {
        form.perfil.clone()
    };
    let body = RecoverPage {
        page,
        profiles: Profile::ALL,
        selected,
        rut: form.rut.clone(),
        captcha_id,
        errors,
    }
    .render()?;
    Ok((
        axum::http::StatusCode::from_u16(status).expect("valid status"),
        Html(body),
    )
        .into_response())
}

pub async fn show(State(state): State<AppState>, page: Page) -> AppResult<Response> {
    render(
        &state,
        page,
        &RecoverForm::default(),
        FieldErrors::default(),
    )
    .await
}

pub async fn submit(
    State(state): State<AppState>,
    page: Page,
    Form(form): Form<RecoverForm>,
) -> AppResult<Response> {
    if form.new_code.is_some() {
        return render(&state, page, &form, FieldErrors::default()).await;
    }
    let mut errors = FieldErrors::default();
    let profile = Profile::from_code(&form.perfil);
    if profile.is_none() {
        errors.add("perfil", "Seleccione un perfil.");
    }
    let rut = Rut::parse(&form.rut).map_err(|e| errors.add("rut", e)).ok();
    if !captcha::solved(&state, &form.captcha_id, &form.captcha).await? {
        errors.add("captcha", captcha::WRONG_ANSWER);
    }
    let (Some(profile), Some(rut), true) = (profile, rut, errors.is_empty()) else {
        return render(&state, page, &form, errors).await;
    };
    let now = state.now();
    let user = users::by_profile_rut(&state.db, profile, &rut).await?;
    if let Some(user) = user.filter(|u| u.status == AccountStatus::Active) {
        let mut tx = state.db.begin().await?;
        tokens::revoke_unused(&mut *tx, &user.id, Purpose::Password, now).await?;
        let token = tokens::create(
            &mut *tx,
            &user.id,
            Purpose::Password,
            now,
            Purpose::Password.default_lifetime(),
        )
        .await?;
        let link = state.settings.link(&format!("/clave/{token}"));
        let email = messages::password_reset(&user.email, &user.display_name(), &link)?;
        outbox::enqueue(&mut *tx, &email, &state.message_domain(), now).await?;
        tx.commit().await?;
        state.mail_wakeup.notify_one();
        tracing::info!(security.event = "password_reset_requested", user.id = %user.id, "password link sent");
    }
    Ok(Redirect::to("/recuperar/recibido").into_response())
}

pub async fn received(page: Page) -> AppResult<Response> {
    super::message(
        page,
        "Recuperar Contraseña",
        "Hemos recibido tu solicitud, no olvides revisar tu correo.",
        Some(("Volver al ingreso", "/ingreso")),
    )
}
