//! `GET /healthz` for load balancers: 200 when the database answers, 503 otherwise (with
//! `Retry-After`, never cached, like the portal's own 503 page).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::mark_unavailable;

pub async fn healthz(State(state): State<AppState>) -> Response {
    match state.db.ping().await {
        Ok(()) => (StatusCode::OK, "ok").into_response(),
        Err(error) => {
            tracing::warn!(error = %error, "health check: database unavailable");
            let mut response =
                (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response();
            mark_unavailable(&mut response);
            response
        }
    }
}
