//! Correlation ids (`LOG_CORRELATION_ID`): every request gets an id, taken from its
//! `X-Request-Id` header when that is a sane token or made up otherwise, returned in the
//! response's `X-Request-Id`, and put on the request's log line (and, for a WebSocket upgrade,
//! on every log line of the connection).

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpRequest};
use slog::{debug, info};

use super::AppState;

pub const HEADER: &str = "x-request-id";
/// Longest client-supplied id kept; longer ones are replaced, so logs stay bounded.
const MAX_LEN: usize = 128;

/// The id of the request being handled.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

impl RequestId {
    /// The id of `req`, when correlation ids are on.
    pub fn of(req: &HttpRequest) -> Option<String> {
        req.extensions().get::<RequestId>().map(|id| id.0.clone())
    }
}

fn acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// The middleware: assigns the id, logs the request when it is answered.
pub async fn assign(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let enabled = state
        .as_ref()
        .is_some_and(|s| s.settings.log_correlation_id);
    let id = enabled.then(|| {
        req.headers()
            .get(HEADER)
            .and_then(|v| v.to_str().ok())
            .filter(|v| acceptable(v))
            .map(str::to_owned)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
    });
    if let Some(id) = &id {
        req.extensions_mut().insert(RequestId(id.clone()));
    }
    let method = req.method().to_string();
    let path = req.path().to_owned();
    let mut response = next.call(req).await?;
    if let Some(id) = &id {
        if let Ok(value) = HeaderValue::from_str(id) {
            response
                .headers_mut()
                .insert(HeaderName::from_static(HEADER), value);
        }
    }
    if let Some(state) = state {
        let status = response.status().as_u16();
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let id = id.as_deref().unwrap_or("");
        // Probes and scrapes come every few seconds from machines; keep them out of INFO.
        if path.starts_with("/health") || path == "/ready" || path == "/metrics" {
            debug!(state.log, "request"; "request_id" => id, "method" => &method,
                "path" => &path, "status" => status, "ms" => ms);
        } else {
            info!(state.log, "request"; "request_id" => id, "method" => &method,
                "path" => &path, "status" => status, "ms" => ms);
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::acceptable;

    #[test]
    fn only_sane_ids_are_kept() {
        assert!(acceptable("3f2c-11aa_b.c:9"));
        assert!(!acceptable(""));
        assert!(!acceptable("has space"));
        assert!(!acceptable("newline\ninjected"));
        assert!(!acceptable(&"x".repeat(129)));
    }
}
