//! The Solicitante's pages: the four forms ("Nuevo Envío"), the inbox ("Solicitudes") and the
//! home page with the timeline of each installation.

pub mod form;
pub mod home;
pub mod inbox;
pub mod submit;

use crate::domain::request::RequestKind;
use crate::web::error::AppError;

/// The kind in a URL: `/solicitudes/nueva/si`.
pub fn kind_from_path(code: &str) -> Result<RequestKind, AppError> {
    RequestKind::from_code(&code.to_ascii_uppercase()).ok_or(AppError::NotFound)
}
