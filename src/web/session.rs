//! The per-request context (current user, CSRF token, flash message) put in place by the
//! middleware, and the cookies that carry it.

use axum::http::{HeaderMap, HeaderValue, header};
use cookie::{Cookie, SameSite};

use crate::settings::Settings;
use crate::store::users::User;

#[derive(Clone)]
pub struct RequestContext {
    pub user: Option<User>,
    pub session_hash: Option<String>,
    pub csrf: String,
    pub flash: Option<Flash>,
}

/// One-time messages shown after a redirect. Only codes travel in the cookie, never text
/// from a user, so a forged cookie can only choose among these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flash {
    LoggedOut,
    PasswordChanged,
    PasswordSet,
    AccountActivated,
    SessionExpired,
    RequestSubmitted,
}

impl Flash {
    fn code(self) -> &'static str {
        match self {
            Flash::LoggedOut => "logged-out",
            Flash::PasswordChanged => "password-changed",
            Flash::PasswordSet => "password-set",
            Flash::AccountActivated => "activated",
            Flash::SessionExpired => "session-expired",
            Flash::RequestSubmitted => "request-submitted",
        }
    }

    fn from_code(code: &str) -> Option<Self> {
        [
            Flash::LoggedOut,
            Flash::PasswordChanged,
            Flash::PasswordSet,
            Flash::AccountActivated,
            Flash::SessionExpired,
            Flash::RequestSubmitted,
        ]
        .into_iter()
        .find(|flash| flash.code() == code)
    }

    pub fn message(self) -> &'static str {
        match self {
            Flash::LoggedOut => "Ud. ha cerrado sesión",
            Flash::PasswordChanged => "Su contraseña fue cambiada.",
            Flash::PasswordSet => "Su contraseña fue guardada. Ya puede ingresar.",
            Flash::AccountActivated => "Su cuenta fue activada. Ya puede ingresar.",
            Flash::SessionExpired => "Su sesión expiró. Ingrese nuevamente.",
            Flash::RequestSubmitted => {
                "Su solicitud fue enviada a la distribuidora. Le enviamos el comprobante por correo."
            }
        }
    }
}

/// Cookie names. With HTTPS the `__Host-` prefix pins them to this host and path.
pub struct CookieNames {
    pub session: &'static str,
    pub csrf: &'static str,
    pub flash: &'static str,
}

pub fn cookie_names(settings: &Settings) -> CookieNames {
    if settings.secure_cookies {
        CookieNames {
            session: "__Host-portal_session",
            csrf: "__Host-portal_csrf",
            flash: "__Host-portal_flash",
        }
    } else {
        CookieNames {
            session: "portal_session",
            csrf: "portal_csrf",
            flash: "portal_flash",
        }
    }
}

pub fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| Cookie::split_parse(value.to_string()))
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value().to_string())
}

fn build(settings: &Settings, name: &'static str, value: String, remove: bool) -> HeaderValue {
    let mut cookie = Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .secure(settings.secure_cookies)
        .same_site(SameSite::Lax)
        .build();
    if remove {
        cookie.make_removal();
    }
    HeaderValue::from_str(&cookie.to_string()).expect("cookie values are URL-safe")
}

pub fn set_cookie(settings: &Settings, name: &'static str, value: String) -> HeaderValue {
    build(settings, name, value, false)
}

pub fn remove_cookie(settings: &Settings, name: &'static str) -> HeaderValue {
    build(settings, name, String::new(), true)
}

pub fn flash_cookie(settings: &Settings, flash: Flash) -> HeaderValue {
    set_cookie(
        settings,
        cookie_names(settings).flash,
        flash.code().to_string(),
    )
}

pub fn parse_flash(value: &str) -> Option<Flash> {
    Flash::from_code(value)
}
