//! "Editar": the company's own request number (N° Solicitud).

use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::{allowed, load};
use crate::domain::text::single_line;
use crate::domain::workflow::{Action, Context};
use crate::store::requests::{self, NewEvent};
use crate::store::transitions;
use crate::web::AppState;
use crate::web::error::{AppError, AppResult};
use crate::web::page::DistributorUser;

#[derive(Deserialize)]
pub struct ReferenceForm {
    #[serde(default)]
    distributor_reference: String,
}

pub async fn submit(
    State(state): State<AppState>,
    DistributorUser(user): DistributorUser,
    Path(id): Path<String>,
    Form(form): Form<ReferenceForm>,
) -> AppResult<Response> {
    let request = load(&state, &user, &id).await?;
    let status = allowed(&request, Action::EditReference, &user, Context::default())?;
    let reference = match form.distributor_reference.trim() {
        "" => None,
        typed => Some(
            single_line(typed, 40).map_err(|e| AppError::Refused(format!("N° Solicitud: {e}")))?,
        ),
    };
    let now = state.now();
    let mut tx = state.db.begin().await?;
    transitions::set_reference(&mut tx, &id, reference.as_deref()).await?;
    let comment = format!(
        "N° Solicitud: {}",
        reference.as_deref().unwrap_or("(sin número)")
    );
    let event = NewEvent {
        request_id: &id,
        action: "edit_reference",
        actor_id: Some(&user.id),
        from_status: Some(status),
        to_status: status,
        comment: Some(&comment),
    };
    requests::insert_event(&mut tx, &event, now).await?;
    tx.commit().await?;
    Ok(Redirect::to(&format!("/solicitudes/{id}")).into_response())
}
