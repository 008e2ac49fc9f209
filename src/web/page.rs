//! What every page's layout needs, and the extractors that decide who may see a page.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};

use super::AppState;
use super::error::AppError;
use super::session::{Flash, RequestContext};
use crate::domain::Profile;
use crate::store::users::User;

/// An entry of the left-hand menu. An entry without a link is a heading for the ones indented
/// under it ("Nuevo Envío").
pub struct MenuItem {
    pub label: &'static str,
    pub href: &'static str,
    pub indented: bool,
}

impl MenuItem {
    const fn link(label: &'static str, href: &'static str) -> Self {
        MenuItem {
            label,
            href,
            indented: false,
        }
    }

    const fn sub(label: &'static str, href: &'static str) -> Self {
        MenuItem {
            label,
            href,
            indented: true,
        }
    }
}

/// The layout's data: who is logged in, the CSRF token for forms, the flash message, the footer.
pub struct Page {
    pub user: Option<User>,
    pub csrf: String,
    pub flash: Option<Flash>,
    pub footer_organization: String,
    pub contact_email: String,
    pub menu: Vec<MenuItem>,
    /// The path of the current page, to mark the active menu entry.
    pub path: String,
    /// The hash of the current session's token, to end it on logout or a new login.
    pub session_hash: Option<String>,
}

impl Page {
    pub fn user_name(&self) -> String {
        self.user
            .as_ref()
            .map(User::display_name)
            .unwrap_or_default()
    }

    pub fn flash_message(&self) -> Option<&'static str> {
        self.flash.map(Flash::message)
    }

    /// Where a user's list of requests is: "Cerrar" on a request leads back there.
    pub fn requests_path(&self) -> &'static str {
        match self.user.as_ref().map(|u| u.profile) {
            Some(Profile::Distributor) => "/distribuidora",
            Some(Profile::Regulator) => "/sec",
            _ => "/solicitudes",
        }
    }

    pub fn year(&self) -> i16 {
        jiff::ZonedDateTime::now().year()
    }
}

/// The menu of each profile. Only pages that exist are linked.
fn menu_for(profile: Option<Profile>) -> Vec<MenuItem> {
    match profile {
        None => vec![],
        Some(Profile::Applicant) => vec![
            MenuItem::link("Inicio", "/solicitante"),
            MenuItem::link("Solicitudes", "/solicitudes"),
            MenuItem::link("Nuevo Envío", ""),
            MenuItem::sub("Solicitud de Información", "/solicitudes/nueva/si"),
            MenuItem::sub("Solicitud de Conexión", "/solicitudes/nueva/sc"),
            MenuItem::sub("Manifestación de Conformidad", "/solicitudes/nueva/mc"),
            MenuItem::sub("Notificación de Conexión", "/solicitudes/nueva/nc"),
            MenuItem::link("Enlaces de Interés", "/enlaces"),
        ],
        Some(Profile::Distributor) => vec![
            MenuItem::link("Bandeja de Solicitudes", "/distribuidora"),
            MenuItem::link("Comunicación", "/distribuidora/comunicacion"),
            MenuItem::link("Reporte", "/distribuidora/reporte"),
            MenuItem::link("Configuración", "/distribuidora/configuracion"),
            MenuItem::link("Enlaces de Interés", "/enlaces"),
        ],
        Some(Profile::Regulator) => vec![
            MenuItem::link("Panel de Solicitudes", "/sec"),
            MenuItem::link("Gráficos", "/sec/graficos"),
            MenuItem::link("Cumplimiento de plazos", "/sec/cumplimiento"),
            MenuItem::link("Data – Sábana de Solicitudes", "/sec/sabana"),
            MenuItem::link("Modificar Mensajes", "/sec/mensajes"),
            MenuItem::link("Administrador", "/sec/admin"),
            MenuItem::link("Auditoría", "/sec/auditoria"),
            MenuItem::link("Enlaces de Interés", "/enlaces"),
        ],
    }
}

fn context(parts: &Parts) -> Result<&RequestContext, AppError> {
    parts
        .extensions
        .get::<RequestContext>()
        .ok_or_else(|| AppError::Internal(anyhow::anyhow!("the session middleware did not run")))
}

impl FromRequestParts<AppState> for Page {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let context = context(parts)?;
        Ok(Page {
            menu: menu_for(context.user.as_ref().map(|u| u.profile)),
            user: context.user.clone(),
            csrf: context.csrf.clone(),
            flash: context.flash,
            footer_organization: state.settings.footer_organization.clone(),
            contact_email: state.settings.contact_email.clone(),
            path: parts.uri.path().to_string(),
            session_hash: context.session_hash.clone(),
        })
    }
}

/// Anyone logged in. Anonymous visitors are sent to the login page, which brings them back.
pub struct SignedIn(pub User);

/// Why a page was refused: not logged in (to the login page) or not for this profile (404, so
/// that the page's existence does not leak).
pub enum Refusal {
    Login(String),
    Other(AppError),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Login(next) => {
                let target = format!(
                    "/ingreso?next={}",
                    url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                );
                Redirect::to(&target).into_response()
            }
            Refusal::Other(error) => error.into_response(),
        }
    }
}

fn signed_in(parts: &Parts) -> Result<User, Refusal> {
    let context = context(parts).map_err(Refusal::Other)?;
    match &context.user {
        Some(user) => Ok(user.clone()),
        None => {
            let next = parts
                .uri
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/")
                .to_string();
            Err(Refusal::Login(next))
        }
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Refusal;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        signed_in(parts).map(SignedIn)
    }
}

fn with_profile(parts: &Parts, profile: Profile) -> Result<User, Refusal> {
    let user = signed_in(parts)?;
    if user.profile == profile {
        Ok(user)
    } else {
        tracing::info!(
            security.event = "access_refused",
            user.profile = user.profile.code(),
            "page of another profile"
        );
        Err(Refusal::Other(AppError::NotFound))
    }
}

macro_rules! profile_extractor {
    ($name:ident, $profile:expr, $doc:literal) => {
        #[doc = $doc]
        pub struct $name(pub User);

        impl FromRequestParts<AppState> for $name {
            type Rejection = Refusal;

            async fn from_request_parts(
                parts: &mut Parts,
                _state: &AppState,
            ) -> Result<Self, Self::Rejection> {
                with_profile(parts, $profile).map($name)
            }
        }
    };
}

profile_extractor!(
    ApplicantUser,
    Profile::Applicant,
    "A logged-in Solicitante."
);
profile_extractor!(
    DistributorUser,
    Profile::Distributor,
    "A logged-in Distribuidora user."
);
profile_extractor!(RegulatorUser, Profile::Regulator, "A logged-in SEC user.");

/// A SEC user with the administrador role. An auditor (read and export only) gets 403 with a
/// message; other profiles get 404 like any SEC page.
pub struct RegulatorAdmin(pub User);

impl FromRequestParts<AppState> for RegulatorAdmin {
    type Rejection = Refusal;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = with_profile(parts, Profile::Regulator)?;
        if user.regulator_role == Some(crate::domain::RegulatorRole::Administrator) {
            Ok(RegulatorAdmin(user))
        } else {
            tracing::info!(security.event = "access_refused", user.id = %user.id, "auditor tried an administrator action");
            Err(Refusal::Other(AppError::Forbidden(
                "Su rol de auditor permite consultar y exportar, pero no modificar.",
            )))
        }
    }
}

/// `next=` targets stay inside the portal: a single leading slash, no scheme, no host.
pub fn safe_next(next: Option<&str>) -> Option<String> {
    let next = next?.trim();
    let local = next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\");
    (local && !next.chars().any(|c| c.is_control() || c == '\\')).then(|| next.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_inside_the_portal() {
        assert_eq!(safe_next(Some("/perfil")), Some("/perfil".to_string()));
        assert_eq!(
            safe_next(Some("/perfil?x=1")),
            Some("/perfil?x=1".to_string())
        );
        for bad in [
            "//evil.example",
            "https://evil.example",
            "/\\evil.example",
            "evil",
            "/a\r\nb",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), None, "{bad:?}");
        }
        assert_eq!(safe_next(None), None);
    }
}
