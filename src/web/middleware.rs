//! Layers every page goes through: a span per request, security headers, and the session /
//! CSRF / flash context.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::TraceLayer;

use super::AppState;
use super::error::AppError;
use super::session::{
    RequestContext, cookie_names, parse_flash, read_cookie, remove_cookie, set_cookie,
};
use crate::crypto::{constant_time_eq, random_token};
use crate::store::sessions::{self, Lifetimes};

/// The largest URL-encoded form accepted. Generous, so that an absurd value (a password of a
/// million characters) reaches its field's check and gets a message there.
const FORM_LIMIT: usize = 2 * 1024 * 1024;

type MakeSpan = fn(&Request) -> tracing::Span;

pub fn request_span() -> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, MakeSpan> {
    TraceLayer::new_for_http().make_span_with(make_span as MakeSpan)
}

fn make_span(request: &Request) -> tracing::Span {
    let request_id = uuid::Uuid::now_v7().simple().to_string();
    tracing::info_span!(
        "request",
        request.id = %request_id,
        http.method = %request.method(),
        http.path = %loggable_path(request.uri().path()),
        user.id = tracing::field::Empty,
    )
}

/// Paths that carry a secret (activation and password links) are logged without it.
fn loggable_path(path: &str) -> String {
    for prefix in ["/activar/", "/clave/", "/captcha/"] {
        if path.starts_with(prefix) {
            return format!("{prefix}…");
        }
    }
    path.chars()
        .take(200)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Answers 503 when the work on a request goes on longer than the request timeout, counted from
/// the moment its body has arrived (so a large upload over a slow line is not cut). The
/// database timeouts normally answer first; this is the backstop for a connection that stopped
/// answering in the middle of the work, where nothing else would end the wait. The work is
/// dropped: an open transaction is rolled back, and files stored for a submission that did not
/// commit are left to the orphan collector, as after a crash.
///
/// Workbook downloads are built whole before the first byte is sent, which for a large report
/// takes longer than a page should: they are left alone (their database reads are bounded by
/// the database timeouts).
pub async fn deadline(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.uri().path().ends_with(".xlsx") {
        return next.run(request).await;
    }
    let limit = state.settings.request_timeout;
    let (request, received) = notify_when_received(request);
    let expired = async {
        // Sent at the end of the body, or dropped with it: either way it has arrived.
        let _ = received.await;
        tokio::time::sleep(limit).await;
    };
    tokio::select! {
        response = next.run(request) => response,
        () = expired => AppError::TimedOut(limit).into_response(),
    }
}

/// The request with its body wrapped so that the receiver resolves once the body has been read
/// to its end (or dropped); at once for a request without a body.
fn notify_when_received(request: Request) -> (Request, tokio::sync::oneshot::Receiver<()>) {
    use axum::body::HttpBody;
    use futures::StreamExt;
    let (sender, receiver) = tokio::sync::oneshot::channel();
    if request.body().is_end_stream() {
        let _ = sender.send(());
        return (request, receiver);
    }
    let (parts, body) = request.into_parts();
    let mut sender = Some(sender);
    let end = futures::stream::poll_fn(move |_| {
        if let Some(sender) = sender.take() {
            let _ = sender.send(());
        }
        std::task::Poll::Ready(None)
    });
    let body = Body::from_stream(body.into_data_stream().chain(end));
    (Request::from_parts(parts, body), receiver)
}

pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name: &'static str, value: &'static str| {
        if !headers.contains_key(name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    };
    set(
        headers,
        "content-security-policy",
        "default-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'; form-action 'self'",
    );
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "referrer-policy", "same-origin");
    set(headers, "x-frame-options", "DENY");
    set(headers, "cache-control", "no-store");
    response
}

/// Loads the session, checks CSRF on every state-changing request, hands the flash message
/// over, and puts it all in a `RequestContext` for the handlers.
pub async fn session_and_csrf(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    match prepare(&state, request).await {
        Ok((request, new_csrf)) => {
            let names = cookie_names(&state.settings);
            let had_flash = request
                .extensions()
                .get::<RequestContext>()
                .is_some_and(|c| c.flash.is_some());
            let mut response = next.run(request).await;
            let sets_own = |name: &str| {
                response
                    .headers()
                    .get_all(header::SET_COOKIE)
                    .iter()
                    .any(|v| v.to_str().is_ok_and(|v| v.starts_with(&format!("{name}="))))
            };
            let add_csrf = new_csrf.filter(|_| !sets_own(names.csrf));
            let clear_flash = had_flash && !sets_own(names.flash);
            if let Some(token) = add_csrf {
                response.headers_mut().append(
                    header::SET_COOKIE,
                    set_cookie(&state.settings, names.csrf, token),
                );
            }
            if clear_flash {
                response.headers_mut().append(
                    header::SET_COOKIE,
                    remove_cookie(&state.settings, names.flash),
                );
            }
            response
        }
        Err(error) => error.into_response(),
    }
}

async fn prepare(
    state: &AppState,
    request: Request,
) -> Result<(Request, Option<String>), AppError> {
    let names = cookie_names(&state.settings);
    let existing_csrf = read_cookie(request.headers(), names.csrf).filter(|t| t.len() == 43);
    let (csrf, new_csrf) = match existing_csrf {
        Some(token) => (token, None),
        None => {
            let token = random_token();
            (token.clone(), Some(token))
        }
    };
    let request = if is_state_changing(request.method()) {
        verify_csrf(state, request, &csrf).await?
    } else {
        request
    };

    let now = state.now();
    let limits = Lifetimes {
        idle: state.settings.session_idle,
        absolute: state.settings.session_lifetime,
    };
    let session = match read_cookie(request.headers(), names.session) {
        Some(token) => sessions::load(&state.db, &token, now, &limits).await?,
        None => None,
    };
    if let Some(session) = &session {
        tracing::Span::current().record("user.id", session.user.id.as_str());
    }
    let flash = read_cookie(request.headers(), names.flash).and_then(|v| parse_flash(&v));
    let context = RequestContext {
        session_hash: session.as_ref().map(|s| s.token_hash.clone()),
        user: session.map(|s| s.user),
        csrf,
        flash,
    };
    let mut request = request;
    request.extensions_mut().insert(context);
    Ok((request, new_csrf))
}

fn is_state_changing(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The token must come back in the form field `csrf` (URL-encoded forms), in the
/// `X-CSRF-Token` header, or for file uploads (multipart, which is not buffered here) in the
/// `csrf` query parameter of the form's action. A browser's `Origin`, when sent, must be ours.
async fn verify_csrf(
    state: &AppState,
    request: Request,
    expected: &str,
) -> Result<Request, AppError> {
    if let Some(origin) = request.headers().get(header::ORIGIN) {
        let ours = state.settings.base_url.origin().ascii_serialization();
        if origin.to_str().map(|o| o != ours).unwrap_or(true) {
            tracing::warn!(
                security.event = "csrf_refused",
                reason = "foreign origin",
                "request refused"
            );
            return Err(AppError::Csrf);
        }
    }
    let from_header = request
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let from_query = request.uri().query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.into_owned())
    });
    let is_urlencoded = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let (request, from_form) = if is_urlencoded {
        let (parts, body) = request.into_parts();
        let bytes = axum::body::to_bytes(body, FORM_LIMIT)
            .await
            .map_err(|_| AppError::Csrf)?;
        let token = url::form_urlencoded::parse(&bytes)
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.into_owned());
        (Request::from_parts(parts, Body::from(bytes)), token)
    } else {
        (request, None)
    };
    let presented = from_form.or(from_header).or(from_query);
    match presented {
        Some(token) if constant_time_eq(&token, expected) => Ok(request),
        _ => {
            tracing::warn!(
                security.event = "csrf_refused",
                reason = "missing or wrong token",
                "request refused"
            );
            Err(AppError::Csrf)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_paths_are_not_logged() {
        assert_eq!(loggable_path("/activar/abc123"), "/activar/…");
        assert_eq!(loggable_path("/clave/abc"), "/clave/…");
        assert_eq!(loggable_path("/perfil"), "/perfil");
        assert_eq!(loggable_path("/x\r\ny"), "/x??y");
    }
}
