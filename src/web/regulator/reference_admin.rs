//! The reference data SEC maintains: holidays ("Feriados"), the deadline table ("Plazos"), the
//! "Enlaces de Interés" and the official forms offered for download. Every SEC user may look;
//! only an administrador changes anything (an auditor gets 403). A change to the holidays or the
//! deadline table recomputes the due dates of open requests in the same transaction, and every
//! change leaves an audit entry. After a POST the browser is redirected (no resubmission on
//! reload), and the notice is chosen from fixed codes in the query, never from typed text.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::domain::RegulatorRole;
use crate::store::audit::AuditEntry;
use crate::store::users::User;
use crate::web::AppState;
use crate::web::forms::FieldErrors;
use crate::web::links;

mod deadline_table;
mod holidays;
mod links_admin;
mod official_forms;

const HOLIDAYS: &str = "/sec/admin/feriados";
const DEADLINES: &str = "/sec/admin/plazos";
const LINKS: &str = "/sec/admin/enlaces";
/// One file of at most 5 MB and a title.
const FORM_BODY_LIMIT: usize = 6 * 1024 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(HOLIDAYS, get(holidays::show).post(holidays::add))
        .route("/sec/admin/feriados/{day}/eliminar", post(holidays::remove))
        .route(
            DEADLINES,
            get(deadline_table::show).post(deadline_table::save),
        )
        .route(LINKS, get(links_admin::show).post(links_admin::add))
        .route(
            "/sec/admin/enlaces/{id}",
            get(links_admin::show_edit).post(links_admin::edit),
        )
        .route(
            "/sec/admin/enlaces/{id}/eliminar",
            post(links_admin::remove),
        )
        .route(
            "/sec/admin/enlaces/{id}/mover",
            post(links_admin::move_link),
        )
        .route(
            "/sec/admin/formularios",
            post(official_forms::upload).layer(DefaultBodyLimit::max(FORM_BODY_LIMIT)),
        )
        .route(
            "/sec/admin/formularios/{id}/eliminar",
            post(official_forms::remove),
        )
        .route("/formularios/{id}", get(links::download_form))
}

fn can_edit(user: &User) -> bool {
    user.regulator_role == Some(RegulatorRole::Administrator)
}

/// 422 with the form again when it has errors, else 200.
fn html(body: String, errors: &FieldErrors) -> Response {
    let status = if errors.is_empty() { 200 } else { 422 };
    let status = axum::http::StatusCode::from_u16(status).expect("valid status");
    (status, Html(body)).into_response()
}

/// The query of a page after a redirect: which notice, how many requests were recomputed.
#[derive(Deserialize, Default)]
pub struct Notice {
    anio: Option<i16>,
    aviso: Option<String>,
    n: Option<u64>,
}

fn recomputed(n: Option<u64>) -> String {
    match n.unwrap_or(0) {
        0 => "Ninguna solicitud abierta cambió de plazo.".to_string(),
        1 => "Se recalculó el plazo de 1 solicitud abierta.".to_string(),
        n => format!("Se recalculó el plazo de {n} solicitudes abiertas."),
    }
}

fn notice_text(notice: &Notice) -> Option<String> {
    let text = match notice.aviso.as_deref()? {
        "agregado" => format!("El feriado fue agregado. {}", recomputed(notice.n)),
        "fin_de_semana" => "El feriado fue agregado, pero cae en sábado o domingo: no cambia \
                            ningún plazo."
            .to_string(),
        "eliminado" => format!("El feriado fue eliminado. {}", recomputed(notice.n)),
        "no_existe" => "Ese día ya no era feriado; no hubo cambios.".to_string(),
        "plazos" => format!("La tabla de plazos fue guardada. {}", recomputed(notice.n)),
        "sin_cambios" => "No hubo cambios en la tabla de plazos.".to_string(),
        "enlace_agregado" => "El enlace fue agregado.".to_string(),
        "enlace_guardado" => "El enlace fue guardado.".to_string(),
        "enlace_eliminado" => "El enlace fue eliminado.".to_string(),
        "enlace_movido" => "El orden de los enlaces fue guardado.".to_string(),
        "formulario_agregado" => "El formulario fue publicado.".to_string(),
        "formulario_eliminado" => "El formulario fue eliminado.".to_string(),
        _ => return None,
    };
    Some(text)
}

fn entry<'a>(user: &'a User, event: &'a str, target: &'a str, detail: &'a str) -> AuditEntry<'a> {
    AuditEntry {
        actor_id: Some(&user.id),
        event,
        target: Some(target),
        detail: Some(detail),
    }
}
