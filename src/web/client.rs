//! The client's address, for per-address login throttling.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::request::Parts;

use crate::settings::Settings;

/// The peer address, or with `PORTAL_TRUST_FORWARDED_FOR=on` (behind a load balancer that sets
/// it) the last address of `X-Forwarded-For`: the one the balancer itself appended.
pub fn address(parts: &Parts, settings: &Settings) -> String {
    if settings.trust_forwarded_for {
        let forwarded = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|v| v.trim().parse::<IpAddr>().ok())
            .next_back();
        if let Some(ip) = forwarded {
            return ip.to_string();
        }
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_string())
        .unwrap_or_else(|| "unknown".to_string())
}

/// The client's address as an extractor.
pub struct ClientAddress(pub String);

impl axum::extract::FromRequestParts<super::AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &super::AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(address(parts, &state.settings)))
    }
}
