//! The buttons of an account's page: disable, enable, send a new password link, delete. Each
//! is a POST with the CSRF token; a refusal comes back on the account's page with its reason.

use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;

use super::user_edit::{Outcome, render, target};
use super::{done, log_action, record};
use crate::accounts::FIRST_PASSWORD_LINK;
use crate::domain::{AccountStatus, Profile};
use crate::mail::messages;
use crate::store::admin::{self, UserReferences};
use crate::store::tokens::{self, Purpose};
use crate::store::users::User;
use crate::store::{outbox, sessions};
use crate::web::AppState;
use crate::web::error::AppResult;
use crate::web::page::{Page, RegulatorAdmin};

const LIST: &str = "/sec/admin/usuarios";

fn account_path(user: &User) -> String {
    format!("{LIST}/{}", user.id)
}

/// Disabling ends every session of the account at once; its login is then refused with
/// "Su cuenta está deshabilitada".
pub async fn disable(
    State(state): State<AppState>,
    RegulatorAdmin(admin_user): RegulatorAdmin,
    page: Page,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let account = target(&state, &id).await?;
    if account.id == admin_user.id {
        let problem = "No puede deshabilitar su propia cuenta. Pídaselo a otro administrador.";
        return render(
            &state,
            page,
            &admin_user,
            account,
            Outcome::refused(problem),
        )
        .await;
    }
    let mut tx = state.db.begin().await?;
    // A second click finds it disabled: nothing to record.
    if admin::disable(&mut *tx, &account.id).await? {
        sessions::delete_all_for_user(&mut *tx, &account.id).await?;
        let detail = account.profile.label();
        record(
            &mut tx,
            &admin_user,
            "account_disabled",
            &account.id,
            detail,
            state.now(),
        )
        .await?;
    }
    tx.commit().await?;
    log_action("account_disabled", &admin_user, &account.id);
    Ok(done(&account_path(&account), "deshabilitada"))
}

pub async fn enable(
    State(state): State<AppState>,
    RegulatorAdmin(admin_user): RegulatorAdmin,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let account = target(&state, &id).await?;
    let now = state.now();
    let mut tx = state.db.begin().await?;
    if admin::enable(&mut *tx, &account.id, now).await? {
        let detail = account.profile.label();
        record(
            &mut tx,
            &admin_user,
            "account_enabled",
            &account.id,
            detail,
            now,
        )
        .await?;
    }
    tx.commit().await?;
    log_action("account_enabled", &admin_user, &account.id);
    Ok(done(&account_path(&account), "habilitada"))
}

/// Why a new link would be of no use, if it would not.
fn link_problem(account: &User) -> Option<&'static str> {
    match account.status {
        AccountStatus::Active => None,
        AccountStatus::Disabled => {
            Some("La cuenta está deshabilitada. Habilítela antes de enviar un enlace.")
        }
        AccountStatus::PendingActivation => Some(
            "La cuenta aún no está activada: su titular debe abrir el enlace de activación, o \
             pedir uno nuevo en «¿No recibió el correo de activación?» de la página de ingreso.",
        ),
    }
}

/// A new single-use link to choose a password, as long-lived as the first one, e-mailed
/// through the outbox in the same transaction. Earlier links stay valid until they expire.
pub async fn send_link(
    State(state): State<AppState>,
    RegulatorAdmin(admin_user): RegulatorAdmin,
    page: Page,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let account = target(&state, &id).await?;
    if let Some(problem) = link_problem(&account) {
        let outcome = Outcome::refused(problem);
        return render(&state, page, &admin_user, account, outcome).await;
    }
    let now = state.now();
    let mut tx = state.db.begin().await?;
    queue_link(&state, &mut tx, &account, now).await?;
    let event = "password_link_sent";
    record(&mut tx, &admin_user, event, &account.id, "", now).await?;
    tx.commit().await?;
    state.mail_wakeup.notify_one();
    log_action(event, &admin_user, &account.id);
    Ok(done(&account_path(&account), "enlace"))
}

/// The link's token and its e-mail, the same message a new account receives.
async fn queue_link(
    state: &AppState,
    tx: &mut sqlx::AnyConnection,
    account: &User,
    now: jiff::Timestamp,
) -> AppResult<()> {
    let purpose = Purpose::Password;
    let token = tokens::create(&mut *tx, &account.id, purpose, now, FIRST_PASSWORD_LINK).await?;
    let link = state.settings.link(&format!("/clave/{token}"));
    let name = account.display_name();
    let email = messages::account_created(&account.email, &name, account.profile.label(), &link)?;
    outbox::enqueue(&mut *tx, &email, &state.message_domain(), now).await?;
    Ok(())
}

#[derive(Deserialize)]
pub struct DeleteForm {
    /// The "Confirmo" checkbox: without JavaScript there is no dialog to ask twice.
    confirm: Option<String>,
}

/// The reason a used account stays, naming what refers to it.
fn in_use(references: &UserReferences) -> String {
    let mut uses = Vec::new();
    let mut count = |n: i64, what: &str| {
        if n > 0 {
            uses.push(format!("{n} {what}"));
        }
    };
    count(references.requests, "solicitud(es) como solicitante");
    count(
        references.request_events,
        "acción(es) en el histórico de solicitudes",
    );
    count(references.payments, "cobro(s) solicitado(s)");
    count(references.audit_entries, "registro(s) en la auditoría");
    let uses = if uses.is_empty() {
        "registros".to_string()
    } else {
        uses.join(", ")
    };
    format!(
        "La cuenta no se puede eliminar porque tiene {uses}, que deben conservar su autor. \
         Puede deshabilitarla: no podrá ingresar y sus datos se mantienen."
    )
}

/// Deletes an account nothing refers to. The check and the deletion share a transaction, and
/// the foreign keys refuse anything that slipped in between.
pub async fn delete(
    State(state): State<AppState>,
    RegulatorAdmin(admin_user): RegulatorAdmin,
    page: Page,
    Path(id): Path<String>,
    Form(form): Form<DeleteForm>,
) -> AppResult<Response> {
    let account = target(&state, &id).await?;
    let problem = if account.id == admin_user.id {
        Some("No puede eliminar su propia cuenta.".to_string())
    } else if form.confirm.as_deref() != Some("1") {
        Some("Marque «Confirmo que deseo eliminar esta cuenta» para eliminarla.".to_string())
    } else {
        remove(&state, &admin_user, &account).await?
    };
    match problem {
        Some(problem) => {
            render(
                &state,
                page,
                &admin_user,
                account,
                Outcome::refused(problem),
            )
            .await
        }
        None => Ok(done(LIST, "eliminada")),
    }
}

/// Deletes the account, or says why not.
async fn remove(state: &AppState, admin_user: &User, account: &User) -> AppResult<Option<String>> {
    let mut tx = state.db.begin().await?;
    let references = admin::references(&mut *tx, &account.id).await?;
    if !references.is_empty() {
        return Ok(Some(in_use(&references)));
    }
    match admin::delete_user(&mut *tx, &account.id).await {
        Ok(_) => {}
        Err(error) if is_foreign_key_violation(&error) => {
            return Ok(Some(in_use(&UserReferences::default())));
        }
        Err(error) => return Err(error.into()),
    }
    let detail = deleted_detail(account);
    record(
        &mut tx,
        admin_user,
        "account_deleted",
        &account.id,
        &detail,
        state.now(),
    )
    .await?;
    tx.commit().await?;
    log_action("account_deleted", admin_user, &account.id);
    Ok(None)
}

/// The entry outlives the account: it says what kind of account went, without personal data.
fn deleted_detail(account: &User) -> String {
    match account.profile {
        Profile::Distributor => format!(
            "Distribuidora: {}",
            account.distributor_name.as_deref().unwrap_or_default()
        ),
        profile => profile.label().to_string(),
    }
}

fn is_foreign_key_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|db| db.is_foreign_key_violation())
}
