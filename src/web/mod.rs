//! HTTP: the router, the shared state, and one module per area of the portal.

mod applicant;
mod assets;
mod auth;
mod client;
mod communication;
mod distributor;
mod distributor_settings;
mod download;
pub mod error;
mod forms;
mod health;
mod home;
mod links;
mod middleware;
mod paced;
mod page;
mod profile;
mod regulator;
mod requests;
pub mod server;
pub mod session;
pub mod tabular;
pub(crate) mod workflow;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use object_store::ObjectStore;
use tokio::sync::Notify;

use crate::clock::SharedClock;
use crate::settings::Settings;
use crate::store::Db;

/// Everything a handler may need. Cheap to clone; holds no per-user state, so any number of
/// instances can serve the same users.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub settings: Arc<Settings>,
    pub clock: SharedClock,
    pub storage: Arc<dyn ObjectStore>,
    /// Uploads: received into a scratch directory, then kept in `storage`.
    pub files: Arc<crate::files::store::FileStore>,
    /// Wakes the outbox worker after a commit that queued e-mails.
    pub mail_wakeup: Arc<Notify>,
    /// Test-only failure points (empty unless built with the `test-hooks` feature).
    pub faults: Arc<crate::faults::Faults>,
}

/// Hashes a password on a blocking thread: argon2 takes tens of milliseconds of CPU on purpose.
pub async fn hash_password_blocking(
    password: crate::domain::password::NewPassword,
) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || crate::crypto::hash_password(&password)).await?
}

impl AppState {
    pub fn now(&self) -> jiff::Timestamp {
        self.clock.now()
    }

    pub fn message_domain(&self) -> String {
        crate::mail::outbox::message_domain(&self.settings.base_url)
    }
}

/// The largest request body of a form with files: every slot of the largest form full (eleven
/// slots of at most 5 MB) plus the text fields.
const UPLOAD_BODY_LIMIT: usize = 60 * 1024 * 1024;
/// One file of at most 5 MB and a few text fields.
const ACTION_BODY_LIMIT: usize = 6 * 1024 * 1024;

pub fn router(state: AppState) -> Router {
    let pages = Router::new()
        .route("/", get(home::root))
        .route("/ingreso", get(auth::login::show).post(auth::login::submit))
        .route("/salir", post(auth::login::logout))
        .route(
            "/registro",
            get(auth::register::show).post(auth::register::submit),
        )
        .route("/registro/recibido", get(auth::register::received))
        .route(
            "/registro/reenviar",
            get(auth::register::show_resend).post(auth::register::resend),
        )
        .route(
            "/activar/{token}",
            get(auth::activate::show).post(auth::activate::submit),
        )
        .route(
            "/recuperar",
            get(auth::recover::show).post(auth::recover::submit),
        )
        .route("/recuperar/recibido", get(auth::recover::received))
        .route(
            "/clave/{token}",
            get(auth::password_link::show).post(auth::password_link::submit),
        )
        .route("/captcha/{id}", get(auth::captcha::image))
        .route("/perfil", get(profile::summary))
        .route(
            "/perfil/clave",
            get(profile::show_change_password).post(profile::change_password),
        )
        .route("/solicitante", get(applicant::home::show))
        .route("/solicitudes", get(applicant::inbox::show))
        .route(
            "/solicitudes/nueva/{kind}",
            get(applicant::form::show)
                .post(applicant::submit::submit)
                .layer(axum::extract::DefaultBodyLimit::max(UPLOAD_BODY_LIMIT)),
        )
        .route("/solicitudes/{id}", get(requests::view::show))
        .route("/solicitudes/{id}/imprimir", get(requests::view::print))
        .route(
            "/solicitudes/{id}/adjuntos/{attachment}",
            get(requests::view::download),
        )
        .route("/enlaces", get(links::show))
        .route(
            "/solicitudes/{id}/responder",
            get(workflow::answer::show)
                .post(workflow::answer::submit)
                .layer(axum::extract::DefaultBodyLimit::max(ACTION_BODY_LIMIT)),
        )
        .route(
            "/solicitudes/{id}/referencia",
            post(workflow::reference::submit),
        )
        .route(
            "/solicitudes/{id}/pago",
            get(workflow::payment::show)
                .post(workflow::payment::request_payment)
                .layer(axum::extract::DefaultBodyLimit::max(ACTION_BODY_LIMIT)),
        )
        .route(
            "/solicitudes/{id}/pago/validar",
            post(workflow::payment::validate),
        )
        .route(
            "/solicitudes/{id}/pago/rechazar",
            post(workflow::payment::reject),
        )
        .route(
            "/solicitudes/{id}/pagar",
            get(workflow::pay::show)
                .post(workflow::pay::submit)
                .layer(axum::extract::DefaultBodyLimit::max(ACTION_BODY_LIMIT)),
        )
        .route("/distribuidora", get(distributor::inbox::show))
        .route("/distribuidora/reporte", get(distributor::report::show))
        .route(
            "/distribuidora/reporte.xlsx",
            get(distributor::report::xlsx),
        )
        .route("/distribuidora/reporte.csv", get(distributor::report::csv))
        .route(
            "/distribuidora/comunicacion",
            get(communication::show).post(communication::submit).layer(
                axum::extract::DefaultBodyLimit::max(communication::UPLOAD_BODY_LIMIT),
            ),
        )
        .route(
            "/distribuidora/configuracion",
            get(distributor_settings::show).post(distributor_settings::save),
        )
        .route(
            "/distribuidora/configuracion/respuesta/{kind}",
            get(distributor_settings::download)
                .post(distributor_settings::upload)
                .layer(axum::extract::DefaultBodyLimit::max(
                    communication::UPLOAD_BODY_LIMIT,
                )),
        )
        .route(
            "/distribuidora/configuracion/respuesta/{kind}/eliminar",
            post(distributor_settings::remove),
        )
        .merge(regulator::routes())
        .fallback(error::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::session_and_csrf,
        ))
        .layer(axum::middleware::map_request(paced::pace_multipart));
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/static/{*path}", get(assets::serve))
        .merge(pages)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::deadline,
        ))
        .layer(axum::middleware::from_fn(middleware::security_headers))
        .layer(middleware::request_span())
        .with_state(state)
}
