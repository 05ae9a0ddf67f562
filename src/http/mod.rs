//! HTTP routes on actix-web: guest auth, rooms, the WebSocket upgrade, health, operator
//! endpoints, and the browser pages (web client and admin page).

pub mod admin;
pub mod auth;
pub mod games;
pub mod health;
pub mod request_id;
pub mod rooms;
pub mod upgrade;
pub mod webapp;
pub mod ws;

use std::time::Instant;

use actix::Addr;
use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse, ResponseError};
use serde::Serialize;
use slog::Logger;

use crate::auth::TokenKeys;
use crate::config::Settings;
use crate::registry::Registry;

/// Largest JSON body the API reads.
const MAX_JSON_BODY: usize = 16 * 1024;

/// What every handler can reach.
pub struct AppState {
    pub registry: Addr<Registry>,
    pub keys: TokenKeys,
    pub settings: Settings,
    pub log: Logger,
    pub started_at: Instant,
    /// The archive database, for the read API and health; `None` when archiving is off.
    pub archive_store: Option<crate::archive::ArchiveStore>,
    /// The archiver and its counters; `None` when archiving is off.
    pub archive: Option<crate::archive::archiver::ArchiveHandle>,
    /// What every WebSocket session shares (registry, limits, shutdown phase, metrics).
    pub sessions: std::sync::Arc<crate::session::SessionShared>,
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    pub memory: std::sync::Arc<crate::monitor::MemoryGuard>,
    /// The per-player limiter, for the Redis health check; `None` when rate limiting is off.
    pub players: Option<std::sync::Arc<crate::limits::PlayerLimiter>>,
}

impl AppState {
    /// The logger for one request: every line carries its request id (when correlation ids are
    /// on).
    pub fn log_for(&self, req: &actix_web::HttpRequest) -> Logger {
        match request_id::RequestId::of(req) {
            Some(id) => self.log.new(slog::o!("request_id" => id)),
            None => self.log.clone(),
        }
    }
}

/// Errors of the HTTP API, as `{"error": {"code": ..., "message": ...}}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    UnknownGame(String),
    #[error("{0}")]
    InvalidOptions(String),
    #[error("{0}")]
    ServerFull(String),
    #[error("{0}")]
    Unavailable(String),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: String,
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::NotFound(_) => "not_found",
            ApiError::UnknownGame(_) => "unknown_game",
            ApiError::InvalidOptions(_) => "invalid_options",
            ApiError::ServerFull(_) => "server_full",
            ApiError::Unavailable(_) => "unavailable",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::UnknownGame(_) | ApiError::InvalidOptions(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::ServerFull(_) | ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        match self {
            ApiError::ServerFull(_) => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            ApiError::Unauthorized(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            _ => {}
        }
        response.json(ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.to_string(),
            },
        })
    }
}

/// Mounts every route; used by the server and nothing else.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(MAX_JSON_BODY)
            .error_handler(|err, _req| {
                ApiError::BadRequest(format!("bad JSON body: {err}")).into()
            }),
    )
    .app_data(
        web::QueryConfig::default()
            .error_handler(|err, _req| ApiError::BadRequest(format!("bad query: {err}")).into()),
    )
    .app_data(
        web::PathConfig::default()
            .error_handler(|err, _req| ApiError::BadRequest(format!("bad path: {err}")).into()),
    )
    .route("/v1/auth/guest", web::post().to(auth::guest))
    .route("/v1/rooms", web::post().to(rooms::create))
    .route("/v1/rooms", web::get().to(rooms::list))
    .route("/v1/rooms/{id}", web::get().to(rooms::get))
    .route("/v1/ws", web::get().to(ws::upgrade))
    .route("/v1/games", web::get().to(games::list))
    .route("/v1/games/{id}", web::get().to(games::get))
    .route("/v1/games/{id}/events", web::get().to(games::events))
    .route("/admin/archive/flush", web::post().to(admin::flush_archive))
    .route("/admin/status", web::get().to(admin::status))
    .route("/health/live", web::get().to(health::live))
    .route("/health/ready", web::get().to(health::ready))
    .route("/ready", web::get().to(health::ready))
    .route("/health", web::get().to(health::health))
    .configure(webapp::routes);
}
