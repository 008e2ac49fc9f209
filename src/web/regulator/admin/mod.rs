//! "Administrador" of the SEC console (manual, chapter 5): accounts of every profile and the
//! distribution companies. Every SEC user may look; only the administrador role changes
//! (`RegulatorAdmin`: an auditor gets 403 with a message). Each change writes its entry in the
//! audit trail in the same transaction as the change itself.

mod companies;
mod company_settings;
mod user_actions;
mod user_edit;
mod users;

use askama::Template;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use jiff::Timestamp;

use crate::domain::RegulatorRole;
use crate::store::audit::{self, AuditEntry};
use crate::store::users::User;
use crate::web::AppState;
use crate::web::error::AppResult;
use crate::web::page::{Page, RegulatorUser};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/sec/admin", get(hub))
        .route("/sec/admin/usuarios", get(users::list))
        .route(
            "/sec/admin/usuarios/nuevo",
            get(users::show_new).post(users::create),
        )
        .route(
            "/sec/admin/usuarios/{id}",
            get(user_edit::show).post(user_edit::save),
        )
        .route(
            "/sec/admin/usuarios/{id}/deshabilitar",
            post(user_actions::disable),
        )
        .route(
            "/sec/admin/usuarios/{id}/habilitar",
            post(user_actions::enable),
        )
        .route(
            "/sec/admin/usuarios/{id}/enlace",
            post(user_actions::send_link),
        )
        .route(
            "/sec/admin/usuarios/{id}/eliminar",
            post(user_actions::delete),
        )
        .merge(company_routes())
}

fn company_routes() -> Router<AppState> {
    Router::new()
        .route("/sec/admin/empresas", get(companies::list))
        .route(
            "/sec/admin/empresas/nueva",
            get(companies::show_new).post(companies::create),
        )
        .route(
            "/sec/admin/empresas/{id}",
            get(companies::show).post(companies::save),
        )
        .route(
            "/sec/admin/empresas/{id}/pago",
            post(company_settings::save),
        )
        .route(
            "/sec/admin/empresas/{id}/respuesta/{kind}",
            get(company_settings::download),
        )
        .route(
            "/sec/admin/empresas/{id}/respuesta/{kind}/eliminar",
            post(company_settings::remove),
        )
}

#[derive(Template)]
#[template(path = "sec_admin.html")]
struct HubPage {
    page: Page,
}

/// The hub: users, companies, and the tables of the other administration pages.
async fn hub(RegulatorUser(_user): RegulatorUser, page: Page) -> AppResult<Response> {
    Ok(Html(HubPage { page }.render()?).into_response())
}

/// An option of a closed list (profile, company, role, kind). The value sent back is looked
/// up in the same list on the server, never trusted as is.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

impl Choice {
    fn new(value: &str, label: &str, selected: &str) -> Choice {
        Choice {
            value: value.to_string(),
            label: label.to_string(),
            selected: value == selected,
        }
    }
}

fn role_choices(selected: &str) -> Vec<Choice> {
    [RegulatorRole::Administrator, RegulatorRole::Auditor]
        .into_iter()
        .map(|role| Choice::new(role.code(), role_label(role), selected))
        .collect()
}

pub fn role_label(role: RegulatorRole) -> &'static str {
    match role {
        RegulatorRole::Administrator => "Administrador",
        RegulatorRole::Auditor => "Auditor",
    }
}

pub fn is_admin(user: &User) -> bool {
    user.regulator_role == Some(RegulatorRole::Administrator)
}

/// A page with its status: 200, or 422 when a form comes back with errors, or 409 when an
/// action was refused.
fn html(status: StatusCode, body: String) -> Response {
    (status, Html(body)).into_response()
}

/// After a change: back to a page that reports it. Only codes travel in the URL, never text.
fn done(path: &str, code: &str) -> Response {
    Redirect::to(&format!("{path}?hecho={code}")).into_response()
}

/// What a redirect after a change reports, by its code.
fn notice_text(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "creada" => {
            "La cuenta fue creada. Enviamos a su correo un enlace para elegir la contraseña, \
             válido por 72 horas."
        }
        "guardada" => "Los cambios de la cuenta fueron guardados.",
        "deshabilitada" => "La cuenta fue deshabilitada y sus sesiones fueron cerradas.",
        "habilitada" => "La cuenta fue habilitada.",
        "enlace" => "Enviamos un nuevo enlace para elegir la contraseña, válido por 72 horas.",
        "eliminada" => "La cuenta fue eliminada.",
        "empresa" => "Los datos de la empresa fueron guardados.",
        "pago" => "Los datos de pago de la empresa fueron guardados.",
        "respuesta" => "La respuesta automática fue eliminada.",
        _ => return None,
    })
}

/// One entry of the audit trail, written with the change it describes.
async fn record(
    tx: &mut sqlx::AnyConnection,
    actor: &User,
    event: &str,
    target: &str,
    detail: &str,
    now: Timestamp,
) -> Result<(), sqlx::Error> {
    let entry = AuditEntry {
        actor_id: Some(&actor.id),
        event,
        target: Some(target),
        detail: (!detail.is_empty()).then_some(detail),
    };
    audit::record(&mut *tx, &entry, now).await
}

/// The log line of an administrative action: who, on which account or company. The audit
/// trail keeps the details; the log never holds names, RUTs or e-mails.
fn log_action(event: &'static str, actor: &User, target: &str) {
    let (actor, target) = (actor.id.as_str(), target);
    tracing::info!(security.event = event, user.id = %actor, target.id = %target, "admin action");
}
