//! Serving a stored file: only ever as an attachment, with the type detected at upload (never
//! the one the uploader sent), `nosniff` and a sandboxing CSP, so that nothing uploaded is ever
//! rendered by the browser as a page. Callers decide who may download; this only serves.

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use super::AppState;
use super::error::AppResult;
use crate::files::inspect::FileKind;

/// What a download needs to know of a stored file.
pub struct StoredFile<'a> {
    pub storage_key: &'a str,
    pub file_name: &'a str,
    /// The label of the detected kind ("PDF", "PNG", …).
    pub file_kind: &'a str,
    pub size_bytes: i64,
}

pub async fn serve(state: &AppState, file: StoredFile<'_>) -> AppResult<Response> {
    let stored = state
        .files
        .open(file.storage_key)
        .await
        .map_err(|e| anyhow::Error::new(e).context("opening a stored file"))?;
    let mut response = Body::from_stream(stored.into_stream()).into_response();
    let mime = FileKind::ALL
        .into_iter()
        .find(|k| k.label() == file.file_kind)
        .map(FileKind::mime_type)
        .unwrap_or("application/octet-stream");
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    headers.insert(
        header::CONTENT_DISPOSITION,
        content_disposition(file.file_name),
    );
    headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(file.size_bytes.max(0) as u64),
    );
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    Ok(response)
}

/// RFC 6266: an ASCII fallback name plus the exact name in RFC 5987 encoding.
pub fn content_disposition(name: &str) -> HeaderValue {
    let fallback: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = utf8_percent_encode(name, NON_ALPHANUMERIC);
    HeaderValue::from_str(&format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_disposition_is_safe_for_any_name() {
        let header = content_disposition("Formulario \"SI\" ñandú.pdf");
        assert_eq!(
            header.to_str().unwrap(),
            "attachment; filename=\"Formulario _SI_ _and_.pdf\"; \
             filename*=UTF-8''Formulario%20%22SI%22%20%C3%B1and%C3%BA%2Epdf"
        );
        let hostile = content_disposition("a\r\nSet-Cookie: x=1.pdf");
        assert!(!hostile.to_str().unwrap().contains('\n'));
    }
}
