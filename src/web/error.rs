//! One error type that knows its HTTP meaning. Expected refusals (404, 403) are plain pages;
//! an unavailable database is a 503 that says so, a full disk a 507 that says so; anything
//! else is logged once with its cause and shown as a plain page with a reference id that also
//! appears in the log.

use std::time::Duration;

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

/// What a 503 tells browsers and load balancers: when to try again (seconds), and that the
/// page must not be kept, so that the portal's answer is seen again once it is back.
pub const RETRY_AFTER_SECONDS: &str = "30";

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("invalid or missing CSRF token")]
    Csrf,
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    #[error("request body too large")]
    TooLarge,
    /// A transition the workflow refuses, or a second click that found the work done.
    #[error("refused: {0}")]
    Refused(String),
    #[error("database unavailable: {0:#}")]
    Unavailable(anyhow::Error),
    /// The request was not answered within the request timeout (a database connection that
    /// stopped answering in the middle of the work).
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
    /// The database or the file storage has no room left: nothing was kept, and the same
    /// action works once space is freed.
    #[error("storage full: {0}")]
    StorageFull(String),
    /// A commit was sent but its answer never came (the connection broke at that moment): the
    /// change may be recorded or not. Whoever stored files for it must leave them in place;
    /// the orphan collector removes them later if no row refers to them, while deleting them
    /// now could leave a recorded row without its file.
    #[error("the outcome of a commit is unknown: {0}")]
    CommitUncertain(Box<AppError>),
    #[error(transparent)]
    Internal(anyhow::Error),
}

impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> Self {
        anyhow::Error::new(error).into()
    }
}

impl From<anyhow::Error> for AppError {
    /// A database error keeps its meaning when code on the way up wrapped it with context.
    fn from(error: anyhow::Error) -> Self {
        let database_error = |test: fn(&sqlx::Error) -> bool| {
            error
                .chain()
                .any(|cause| cause.downcast_ref::<sqlx::Error>().is_some_and(test))
        };
        if database_error(crate::store::is_storage_full) {
            AppError::StorageFull(format!("database: {error:#}"))
        } else if database_error(crate::store::is_unavailable) {
            AppError::Unavailable(error)
        } else {
            AppError::Internal(error)
        }
    }
}

impl AppError {
    /// For the error of `tx.commit()` in an operation that stored files first.
    pub fn commit_uncertain(error: sqlx::Error) -> AppError {
        AppError::CommitUncertain(Box::new(error.into()))
    }

    /// Whether files stored for the failed operation must be kept (see `CommitUncertain`).
    pub fn keeps_files(&self) -> bool {
        matches!(self, AppError::CommitUncertain(_))
    }
}

impl From<askama::Error> for AppError {
    fn from(error: askama::Error) -> Self {
        AppError::Internal(anyhow::Error::new(error).context("rendering a template"))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
    reference: Option<String>,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        if let AppError::CommitUncertain(inner) = self {
            return inner.into_response();
        }
        let (status, title, message, reference) = match &self {
            AppError::NotFound => (
                StatusCode::NOT_FOUND,
                "Página no encontrada",
                "La página que busca no existe o no está disponible para su cuenta.",
                None,
            ),
            AppError::Forbidden(message) => {
                (StatusCode::FORBIDDEN, "Acción no permitida", *message, None)
            }
            AppError::Csrf => (
                StatusCode::FORBIDDEN,
                "Formulario vencido",
                "El formulario venció o no proviene de este portal. Vuelva a la página anterior, recárguela e intente nuevamente.",
                None,
            ),
            AppError::BadRequest(message) => (
                StatusCode::BAD_REQUEST,
                "Solicitud no válida",
                *message,
                None,
            ),
            AppError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "Envío demasiado grande",
                "El envío supera el tamaño máximo permitido. Revise el tamaño de los archivos adjuntos.",
                None,
            ),
            AppError::Refused(message) => {
                let page = ErrorPage {
                    title: "Acción no realizada",
                    message,
                    reference: None,
                };
                let body = page.render().unwrap_or_else(|_| message.clone());
                return (StatusCode::CONFLICT, Html(body)).into_response();
            }
            AppError::Unavailable(cause) => {
                let reference = new_reference();
                tracing::warn!(error.reference = %reference, error = format!("{cause:#}"), "database unavailable");
                return unavailable_page(Some(reference));
            }
            AppError::TimedOut(limit) => {
                let reference = new_reference();
                tracing::warn!(error.reference = %reference, timeout = ?limit, "request timed out");
                return unavailable_page(Some(reference));
            }
            AppError::StorageFull(cause) => {
                let reference = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
                tracing::error!(error.reference = %reference, error = %cause, "no space left to store what a user sent");
                (
                    StatusCode::INSUFFICIENT_STORAGE,
                    "Sin espacio de almacenamiento",
                    crate::files::store::STORAGE_FULL,
                    Some(reference),
                )
            }
            AppError::CommitUncertain(_) => unreachable!("answered as its cause, above"),
            AppError::Internal(cause) => {
                let reference = new_reference();
                tracing::error!(error.reference = %reference, error = format!("{cause:#}"), "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Error interno",
                    "Ocurrió un error inesperado. Si se repite, escríbanos indicando el código de referencia.",
                    Some(reference),
                )
            }
        };
        let page = ErrorPage {
            title,
            message,
            reference,
        };
        let body = page.render().unwrap_or_else(|_| message.to_string());
        (status, Html(body)).into_response()
    }
}

fn new_reference() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_string()
}

/// "Servicio no disponible" (503), with `Retry-After` and never cached.
pub fn unavailable_page(reference: Option<String>) -> Response {
    let message = "El portal no puede atender su solicitud en este momento. Intente nuevamente en unos minutos.";
    let page = ErrorPage {
        title: "Servicio no disponible",
        message,
        reference,
    };
    let body = page.render().unwrap_or_else(|_| message.to_string());
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, Html(body)).into_response();
    mark_unavailable(&mut response);
    response
}

/// The headers every 503 carries.
pub fn mark_unavailable(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(RETRY_AFTER_SECONDS),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

pub async fn not_found() -> AppError {
    AppError::NotFound
}

pub type AppResult<T> = Result<T, AppError>;
