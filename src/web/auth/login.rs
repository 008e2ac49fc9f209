//! "Ingreso": profile, RUT and password; throttled per account and per client address.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::crypto::token_hash;
use crate::domain::{AccountStatus, Profile, Rut};
use crate::store::audit::{self, AuditEntry};
use crate::store::{sessions, throttle, users};
use crate::web::AppState;
use crate::web::client::ClientAddress;
use crate::web::error::AppResult;
use crate::web::forms::FieldErrors;
use crate::web::page::{Page, safe_next};
use crate::web::session::{Flash, cookie_names, flash_cookie, remove_cookie, set_cookie};

#[derive(Deserialize, Default)]
pub struct LoginForm {
    #[serde(default)]
    perfil: String,
    #[serde(default)]
    rut: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    perfil: Option<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    page: Page,
    profiles: [Profile; 3],
    selected: String,
    rut: String,
    next: String,
    errors: FieldErrors,
    notice: Option<String>,
}

fn render(
    page: Page,
    form: &LoginForm,
    errors: FieldErrors,
    notice: Option<String>,
) -> AppResult<Response> {
    let status = if errors.is_empty() && notice.is_none() {
        200
    } else {
        422
    };
    let body = LoginPage {
        page,
        profiles: Profile::ALL,
        selected: if form.perfil.is_empty() {
            Profile::Applicant.code().to_string()
        } else {
            form.perfil.clone()
        },
        rut: form.rut.clone(),
        next: safe_next(form.next.as_deref()).unwrap_or_default(),
        errors,
        notice,
    }
    .render()?;
    Ok((
        axum::http::StatusCode::from_u16(status).expect("valid status"),
        Html(body),
    )
        .into_response())
}

pub async fn show(page: Page, Query(query): Query<LoginQuery>) -> AppResult<Response> {
    if let Some(user) = &page.user {
        return Ok(Redirect::to(user.profile.home_path()).into_response());
    }
    let form = LoginForm {
        perfil: query.perfil.unwrap_or_default(),
        next: query.next,
        ..LoginForm::default()
    };
    render(page, &form, FieldErrors::default(), None)
}

const WRONG_CREDENTIALS: &str = "RUT o contraseña incorrectos.";

pub async fn submit(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    page: Page,
    Form(form): Form<LoginForm>,
) -> AppResult<Response> {
    let mut errors = FieldErrors::default();
    let profile = Profile::from_code(&form.perfil);
    if profile.is_none() {
        errors.add("perfil", "Seleccione un perfil.");
    }
    let rut = Rut::parse(&form.rut).map_err(|e| errors.add("rut", e)).ok();
    if form.password.is_empty() {
        errors.add("password", "Ingrese su contraseña.");
    }
    let (Some(profile), Some(rut), true) = (profile, rut, errors.is_empty()) else {
        return render(page, &form, errors, None);
    };

    let now = state.now();
    // The account key exists whether or not the account does, so throttling tells nothing.
    let account_key = format!(
        "account:{}",
        token_hash(&format!("{}:{}", profile.code(), rut))
    );
    let address_key = format!("address:{address}");
    let blocked_account =
        throttle::blocked_until(&state.db, &account_key, throttle::PER_ACCOUNT, now).await?;
    let blocked_address =
        throttle::blocked_until(&state.db, &address_key, throttle::PER_ADDRESS, now).await?;
    if let Some(until) = blocked_account.max(blocked_address) {
        tracing::warn!(
            security.event = "login_locked_out",
            "login refused while throttled"
        );
        let minutes = (until.duration_since(now).as_secs() + 59) / 60;
        let notice = format!(
            "Demasiados intentos fallidos. Por seguridad, espere {minutes} minuto(s) e intente nuevamente, o recupere su contraseña."
        );
        return render(page, &form, FieldErrors::default(), Some(notice));
    }

    let user = users::by_profile_rut(&state.db, profile, &rut).await?;
    let stored_hash = user.as_ref().and_then(|u| u.password_hash.clone());
    let user_id = user.as_ref().map(|u| u.id.clone());
    let password_ok = super::verify_password(form.password.clone(), stored_hash).await?;
    let user = match user {
        Some(user) if password_ok => user,
        _ => {
            throttle::record_failure(&state.db, &account_key, throttle::PER_ACCOUNT, now).await?;
            throttle::record_failure(&state.db, &address_key, throttle::PER_ADDRESS, now).await?;
            tracing::info!(
                security.event = "login_failed",
                user.profile = profile.code(),
                "wrong credentials"
            );
            let keys = [account_key.as_str(), address_key.as_str()];
            audit_failure(&state, user_id.as_deref(), profile, keys, now).await?;
            return render(
                page,
                &form,
                FieldErrors::default(),
                Some(WRONG_CREDENTIALS.to_string()),
            );
        }
    };
    match user.status {
        AccountStatus::Active => {}
        AccountStatus::PendingActivation => {
            let notice = "Su cuenta aún no está activada. Abra el enlace que le enviamos por correo, o pida uno nuevo en \"¿No recibió el correo de activación?\".";
            return render(
                page,
                &form,
                FieldErrors::default(),
                Some(notice.to_string()),
            );
        }
        AccountStatus::Disabled => {
            tracing::info!(security.event = "login_disabled_account", user.id = %user.id, "login to a disabled account");
            let notice = format!(
                "Su cuenta está deshabilitada. Escriba a {} para más información.",
                state.settings.contact_email
            );
            return render(page, &form, FieldErrors::default(), Some(notice));
        }
    }

    throttle::clear(&state.db, &account_key).await?;
    // A new session id at every login: whatever session cookie the browser had is replaced.
    if let Some(old) = &page.session_hash {
        sessions::delete(&state.db, old).await?;
    }
    let token = sessions::create(state.db.pool(), &user.id, now).await?;
    tracing::info!(security.event = "login", user.id = %user.id, user.profile = profile.code(), "logged in");
    audit_login(&state, &user.id, profile, now).await?;
    let target = safe_next(form.next.as_deref()).unwrap_or_else(|| profile.home_path().to_string());
    let names = cookie_names(&state.settings);
    let mut response = Redirect::to(&target).into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        set_cookie(&state.settings, names.session, token),
    );
    headers.append(
        header::SET_COOKIE,
        set_cookie(&state.settings, names.csrf, crate::crypto::random_token()),
    );
    Ok(response)
}

async fn audit_login(
    state: &AppState,
    user_id: &str,
    profile: Profile,
    now: jiff::Timestamp,
) -> AppResult<()> {
    let detail = format!("Perfil {}", profile.label());
    let entry = AuditEntry {
        actor_id: Some(user_id),
        event: "login",
        target: None,
        detail: Some(&detail),
    };
    audit::record(state.db.pool(), &entry, now).await?;
    Ok(())
}

/// The audit trail's side of a wrong password: the account it was aimed at by id when it exists
/// (never the typed RUT), and a lock-out when this failure was the one that reached a limit —
/// the key was not blocked before it, or the attempt would have been refused earlier.
async fn audit_failure(
    state: &AppState,
    target: Option<&str>,
    profile: Profile,
    [account_key, address_key]: [&str; 2],
    now: jiff::Timestamp,
) -> AppResult<()> {
    let failed = format!("Perfil {}", profile.label());
    let mut entry = AuditEntry {
        actor_id: None,
        event: "login_failed",
        target,
        detail: Some(&failed),
    };
    audit::record(state.db.pool(), &entry, now).await?;
    let blocked = |key, limit| throttle::blocked_until(&state.db, key, limit, now);
    let (limit, whose) = if blocked(account_key, throttle::PER_ACCOUNT).await?.is_some() {
        (throttle::PER_ACCOUNT, "la cuenta")
    } else if blocked(address_key, throttle::PER_ADDRESS).await?.is_some() {
        (throttle::PER_ADDRESS, "la dirección de origen")
    } else {
        return Ok(());
    };
    tracing::warn!(
        security.event = "lockout",
        user.id = target.unwrap_or_default(),
        user.profile = profile.code(),
        "locked out"
    );
    let detail = format!(
        "Perfil {}: {} intentos fallidos; {whose} queda bloqueada {} minutos",
        profile.label(),
        limit.failures,
        limit.window.as_mins()
    );
    entry.event = "lockout";
    entry.detail = Some(&detail);
    audit::record(state.db.pool(), &entry, now).await?;
    Ok(())
}

pub async fn logout(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> AppResult<Response> {
    let context = request
        .extensions()
        .get::<crate::web::session::RequestContext>()
        .cloned();
    if let Some(hash) = context.as_ref().and_then(|c| c.session_hash.clone()) {
        sessions::delete(&state.db, &hash).await?;
        if let Some(user) = context.and_then(|c| c.user) {
            tracing::info!(security.event = "logout", user.id = %user.id, "logged out");
        }
    }
    let names = cookie_names(&state.settings);
    let mut response = Redirect::to("/ingreso").into_response();
    let headers = response.headers_mut();
    headers.append(
        header::SET_COOKIE,
        remove_cookie(&state.settings, names.session),
    );
    headers.append(
        header::SET_COOKIE,
        flash_cookie(&state.settings, Flash::LoggedOut),
    );
    Ok(response)
}
