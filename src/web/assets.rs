//! The portal's own stylesheet, script, fonts and images, compiled into the binary so that a
//! deployment is one file and no page depends on another site.

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::error::AppError;

struct Asset {
    path: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $type:literal) => {
        Asset {
            path: $path,
            content_type: $type,
            bytes: include_bytes!(concat!("../../static/", $path)),
        }
    };
}

const ASSETS: &[Asset] = &[
    asset!("portal.css", "text/css; charset=utf-8"),
    asset!("portal.js", "text/javascript; charset=utf-8"),
    asset!("logo.svg", "image/svg+xml"),
    asset!("fonts/roboto-latin-400-normal.woff2", "font/woff2"),
    asset!("fonts/roboto-latin-700-normal.woff2", "font/woff2"),
    asset!("fonts/roboto-slab-latin-700-normal.woff2", "font/woff2"),
];

pub async fn serve(Path(path): Path<String>) -> Response {
    let Some(asset) = ASSETS.iter().find(|asset| asset.path == path) else {
        return AppError::NotFound.into_response();
    };
    let mut response = asset.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    // Assets change only with a new release; an hour keeps pages fast without stale styles
    // lingering for long after an upgrade.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}
