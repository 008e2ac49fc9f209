//! The SEC console (chapter 5 of the manual): the panel of every request, charts, deadline
//! compliance, the full export, e-mail texts, administration and the audit trail. Every page
//! requires a SEC user; changes require the administrador role (`RegulatorAdmin`).

pub mod admin;
pub mod audit;
pub mod charts;
pub mod compliance;
pub mod export;
pub mod messages;
pub mod panel;
pub mod reference_admin;

use axum::Router;

use super::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(panel::routes())
        .merge(charts::routes())
        .merge(compliance::routes())
        .merge(export::routes())
        .merge(messages::routes())
        .merge(admin::routes())
        .merge(audit::routes())
        .merge(reference_admin::routes())
}
