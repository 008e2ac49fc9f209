//! "Registro" (Solicitante only): the account waits for e-mail activation. A RUT or e-mail that
//! already has an account gets the same "received" page, and its owner a notice by e-mail.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::captcha;
use crate::domain::password::{self, NewPassword};
use crate::domain::text::single_line;
use crate::domain::{AccountStatus, Email, Profile, Rut};
use crate::mail::messages;
use crate::store::tokens::{self, Purpose};
use crate::store::{is_unique_violation, outbox, users};
use crate::web::AppState;
use crate::web::error::AppResult;
use crate::web::forms::FieldErrors;
use crate::web::page::Page;

const NAME_MAX: usize = 100;

#[derive(Deserialize, Default)]
pub struct RegisterForm {
    #[serde(default)]
    rut: String,
    #[serde(default)]
    names: String,
    #[serde(default)]
    surnames: String,
    #[serde(default)]
    business_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirmation: String,
    installer: Option<String>,
    #[serde(default)]
    installer_license: String,
    #[serde(default)]
    captcha_id: String,
    #[serde(default)]
    captcha: String,
    /// Set by the "Nuevo código" button: show a new captcha, keep what was typed.
    new_code: Option<String>,
}

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage {
    page: Page,
    form: RegisterForm,
    captcha_id: Option<String>,
    errors: FieldErrors,
}

async fn render(
    state: &AppState,
    page: Page,
    form: RegisterForm,
    errors: FieldErrors,
) -> AppResult<Response> {
    let status = if errors.is_empty() { 200 } else { 422 };
    let captcha_id = captcha::new_challenge(state).await?;
    let body = RegisterPage {
        page,
        form,
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
        RegisterForm::default(),
        FieldErrors::default(),
    )
    .await
}

/// The checked registration: domain types only.
struct Registration {
    rut: Rut,
    email: Email,
    names: String,
    surnames: String,
    business_name: Option<String>,
    installer_license: Option<String>,
}

fn check(form: &RegisterForm) -> Result<(Registration, NewPassword), FieldErrors> {
    let mut errors = FieldErrors::default();
    let rut = Rut::parse(&form.rut).map_err(|e| errors.add("rut", e)).ok();
    let email = Email::parse(&form.email)
        .map_err(|e| errors.add("email", e))
        .ok();
    let is_company = rut.is_some_and(|r| r.is_company());
    let (names, surnames, business_name) = if is_company {
        let business = single_line(&form.business_name, 150)
            .map_err(|e| errors.add("business_name", e))
            .ok();
        (String::new(), String::new(), business)
    } else {
        let names = single_line(&form.names, NAME_MAX)
            .map_err(|e| errors.add("names", e))
            .unwrap_or_default();
        let surnames = single_line(&form.surnames, NAME_MAX)
            .map_err(|e| errors.add("surnames", e))
            .unwrap_or_default();
        (names, surnames, None)
    };
    let installer_license = if form.installer.is_some() && !form.installer_license.trim().is_empty()
    {
        single_line(&form.installer_license, 40)
            .map_err(|e| errors.add("installer_license", e))
            .ok()
    } else {
        None
    };
    let rut_text = rut.map(|r| r.normalized()).unwrap_or_default();
    let personal = [rut_text.as_str(), form.email.trim()];
    let password = password::check(&form.password, &form.password_confirmation, &personal)
        .map_err(|e| {
            let field = if e == password::PasswordError::Mismatch {
                "password_confirmation"
            } else {
                "password"
            };
            errors.add(field, e);
        })
        .ok();
    match (rut, email, password) {
        (Some(rut), Some(email), Some(password)) if errors.is_empty() => Ok((
            Registration {
                rut,
                email,
                names,
                surnames,
                business_name,
                installer_license,
            },
            password,
        )),
        _ => Err(errors),
    }
}

pub async fn submit(
    State(state): State<AppState>,
    page: Page,
    Form(mut form): Form<RegisterForm>,
) -> AppResult<Response> {
    if form.new_code.is_some() {
        return render(&state, page, form, FieldErrors::default()).await;
    }
    let checked = check(&form);
    let captcha_ok = captcha::solved(&state, &form.captcha_id, &form.captcha).await?;
    let (registration, password) = match (checked, captcha_ok) {
        (Ok(checked), true) => checked,
        (checked, captcha_ok) => {
            let mut errors = checked.err().unwrap_or_default();
            if !captcha_ok {
                errors.add("captcha", captcha::WRONG_ANSWER);
            }
            form.password.clear();
            form.password_confirmation.clear();
            form.captcha.clear();
            return render(&state, page, form, errors).await;
        }
    };
    let hash = super::hash_password(password).await?;
    register(&state, &registration, &hash, form.installer.is_some()).await?;
    state.mail_wakeup.notify_one();
    Ok(Redirect::to("/registro/recibido").into_response())
}

/// Creates the pending account and its activation e-mail, or e-mails the existing owner.
async fn register(
    state: &AppState,
    registration: &Registration,
    hash: &str,
    is_installer: bool,
) -> AppResult<()> {
    let now = state.now();
    if notify_existing(state, registration).await? {
        return Ok(());
    }
    let new_user = users::NewUser {
        profile: Profile::Applicant,
        rut: &registration.rut,
        email: &registration.email,
        names: &registration.names,
        surnames: &registration.surnames,
        business_name: registration.business_name.as_deref(),
        is_installer,
        installer_license: registration.installer_license.as_deref(),
        distributor_id: None,
        regulator_role: None,
        status: AccountStatus::PendingActivation,
        password_hash: Some(hash),
    };
    let mut tx = state.db.begin().await?;
    let user_id = match users::insert(&mut *tx, &new_user, now).await {
        Ok(id) => id,
        // Two registrations of the same RUT at once: the second one becomes a notice.
        Err(error) if is_unique_violation(&error) => {
            drop(tx);
            notify_existing(state, registration).await?;
            return Ok(());
        }
        Err(error) => return Err(error.into()),
    };
    let token = tokens::create(
        &mut *tx,
        &user_id,
        Purpose::Activation,
        now,
        Purpose::Activation.default_lifetime(),
    )
    .await?;
    let name = registration
        .business_name
        .clone()
        .unwrap_or_else(|| format!("{} {}", registration.names, registration.surnames));
    let link = state.settings.link(&format!("/activar/{token}"));
    let email = messages::activation(registration.email.as_str(), &name, &link)?;
    outbox::enqueue(&mut *tx, &email, &state.message_domain(), now).await?;
    tx.commit().await?;
    tracing::info!(security.event = "account_registered", user.id = %user_id, "applicant registered, pending activation");
    Ok(())
}

/// When the RUT or the e-mail already has an applicant account, e-mails its owner instead of
/// creating anything. Returns whether that was the case.
async fn notify_existing(state: &AppState, registration: &Registration) -> AppResult<bool> {
    let Some(existing) =
        users::applicant_by_rut_or_email(&state.db, &registration.rut, &registration.email).await?
    else {
        return Ok(false);
    };
    let email = messages::already_registered(
        &existing.email,
        &existing.display_name(),
        &state.settings.link("/ingreso"),
        &state.settings.link("/recuperar"),
    )?;
    outbox::enqueue(
        state.db.pool(),
        &email,
        &state.message_domain(),
        state.now(),
    )
    .await?;
    tracing::info!(security.event = "registration_of_existing_account", user.id = %existing.id, "registration for an existing account");
    Ok(true)
}

pub async fn received(page: Page) -> AppResult<Response> {
    super::message(
        page,
        "Registro",
        "Hemos recibido su solicitud de registro. Para terminar, abra el enlace de activación que enviamos a su correo electrónico.",
        Some(("Volver al ingreso", "/ingreso")),
    )
}

#[derive(Deserialize, Default)]
pub struct ResendForm {
    #[serde(default)]
    rut: String,
    #[serde(default)]
    captcha_id: String,
    #[serde(default)]
    captcha: String,
    new_code: Option<String>,
}

#[derive(Template)]
#[template(path = "resend.html")]
struct ResendPage {
    page: Page,
    rut: String,
    captcha_id: Option<String>,
    errors: FieldErrors,
}

async fn render_resend(
    state: &AppState,
    page: Page,
    rut: String,
    errors: FieldErrors,
) -> AppResult<Response> {
    let status = if errors.is_empty() { 200 } else { 422 };
    let captcha_id = captcha::new_challenge(state).await?;
    let body = ResendPage {
        page,
        rut,
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

pub async fn show_resend(State(state): State<AppState>, page: Page) -> AppResult<Response> {
    render_resend(&state, page, String::new(), FieldErrors::default()).await
}

/// A new activation link for a pending account. The answer is the same whether or not one exists.
pub async fn resend(
    State(state): State<AppState>,
    page: Page,
    Form(form): Form<ResendForm>,
) -> AppResult<Response> {
    if form.new_code.is_some() {
        return render_resend(&state, page, form.rut, FieldErrors::default()).await;
    }
    let mut errors = FieldErrors::default();
    let rut = Rut::parse(&form.rut).map_err(|e| errors.add("rut", e)).ok();
    if !captcha::solved(&state, &form.captcha_id, &form.captcha).await? {
        errors.add("captcha", captcha::WRONG_ANSWER);
    }
    let Some(rut) = rut.filter(|_| errors.is_empty()) else {
        return render_resend(&state, page, form.rut, errors).await;
    };
    let now = state.now();
    let user = users::by_profile_rut(&state.db, Profile::Applicant, &rut).await?;
    if let Some(user) = user.filter(|u| u.status == AccountStatus::PendingActivation) {
        let mut tx = state.db.begin().await?;
        tokens::revoke_unused(&mut *tx, &user.id, Purpose::Activation, now).await?;
        let token = tokens::create(
            &mut *tx,
            &user.id,
            Purpose::Activation,
            now,
            Purpose::Activation.default_lifetime(),
        )
        .await?;
        let link = state.settings.link(&format!("/activar/{token}"));
        let email = messages::activation(&user.email, &user.display_name(), &link)?;
        outbox::enqueue(&mut *tx, &email, &state.message_domain(), now).await?;
        tx.commit().await?;
        state.mail_wakeup.notify_one();
    }
    super::message(
        page,
        "Reenviar activación",
        "Hemos recibido tu solicitud, no olvides revisar tu correo.",
        Some(("Volver al ingreso", "/ingreso")),
    )
}
