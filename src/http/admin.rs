//! Operator endpoints under `/admin`, behind `Authorization: Bearer $ADMIN_TOKEN`.

use actix_web::{web, HttpRequest, HttpResponse};
use prometheus::core::Collector;
use prometheus::IntCounterVec;
use serde::{Deserialize, Serialize};
use slog::info;
use subtle::ConstantTimeEq;

use super::auth::bearer_token;
use super::{ApiError, AppState};
use crate::archive::archiver::{ArchiveHealth, ArchiveStatus, Flush};
use crate::metrics::resident_memory_bytes;
use crate::protocol::RoomSummary;
use crate::registry::{GetStats, ListRooms};

/// Refuses the request unless it carries the admin token. The comparison takes the same time
/// whatever the token, so response times do not leak how much of a guess was right.
pub fn require_admin(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    let given = bearer_token(req);
    let expected = state.settings.admin_token.as_bytes();
    if bool::from(given.as_bytes().ct_eq(expected)) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized(
            "this endpoint needs `Authorization: Bearer <ADMIN_TOKEN>`".into(),
        ))
    }
}

/// `POST /admin/archive/flush`: writes every pending game now and answers
/// `{"flushed": n, "pending": m}`.
pub async fn flush_archive(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state)?;
    let archive = state
        .archive
        .as_ref()
        .ok_or_else(|| ApiError::NotFound("archiving is turned off on this server".into()))?;
    let report = archive
        .archiver
        .send(Flush)
        .await
        .map_err(|_| ApiError::Unavailable("the archiver is not running".into()))?;
    info!(state.log_for(&req), "archive flushed on request";
        "flushed" => report.flushed, "pending" => report.pending);
    Ok(HttpResponse::Ok().json(report))
}

/// `GET /admin/status`: what the admin page shows: every room, the archive's counters and a
/// few key numbers.
#[derive(Debug, Serialize, Deserialize)]
pub struct AdminStatus {
    pub rooms: Vec<RoomSummary>,
    /// `None` when archiving is turned off.
    pub archive: Option<ArchiveHealth>,
    pub metrics: KeyMetrics,
}

/// The numbers an operator looks at first; `/metrics` has the rest.
#[derive(Debug, Serialize, Deserialize)]
pub struct KeyMetrics {
    /// Open WebSocket connections.
    pub connections: i64,
    /// Rooms in memory, finished ones included until they are reaped.
    pub rooms: usize,
    /// Rooms waiting for players or playing (what `MAX_ACTIVE_GAMES` limits).
    pub active_rooms: usize,
    pub playing_games: usize,
    pub max_active_games: usize,
    /// Rooms stopped since start because their game or actor failed
    /// (`gamehall_rooms_crashed_total`); they are gone from `rooms`, so only this shows them.
    pub crashed_rooms: u64,
    pub games_started: u64,
    pub games_finished: u64,
    /// Actions applied by games since start.
    pub moves: u64,
    /// Resident memory of the process, when the platform tells it.
    pub rss_bytes: Option<u64>,
    pub memory_limit_bytes: u64,
    pub uptime_seconds: u64,
}

/// Every room the registry holds; the admin page shows them all, up to this many.
const MAX_ROOMS_SHOWN: usize = 1000;

pub async fn status(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state)?;
    let registry_down = |_| ApiError::Unavailable("the room registry is not running".into());
    let rooms = state
        .registry
        .send(ListRooms {
            game: None,
            status: None,
            limit: MAX_ROOMS_SHOWN,
        })
        .await
        .map_err(registry_down)?;
    let stats = state.registry.send(GetStats).await.map_err(registry_down)?;
    let archive = match &state.archive {
        Some(archive) => Some(
            archive
                .archiver
                .send(ArchiveStatus)
                .await
                .map_err(|_| ApiError::Unavailable("the archiver is not running".into()))?,
        ),
        None => None,
    };
    let metrics = &state.metrics;
    Ok(HttpResponse::Ok().json(AdminStatus {
        rooms,
        archive,
        metrics: KeyMetrics {
            connections: metrics.connections.get(),
            rooms: stats.rooms,
            active_rooms: stats.active_games,
            playing_games: stats.playing_games,
            max_active_games: stats.max_active_games,
            crashed_rooms: stats.crashed_rooms,
            games_started: total(&metrics.games_started),
            games_finished: total(&metrics.games_finished),
            moves: metrics.move_broadcast.get_sample_count(),
            rss_bytes: resident_memory_bytes(),
            memory_limit_bytes: state.settings.max_memory_mb * 1024 * 1024,
            uptime_seconds: state.started_at.elapsed().as_secs(),
        },
    }))
}

/// The sum of a counter over all its labels.
fn total(counter: &IntCounterVec) -> u64 {
    counter
        .collect()
        .iter()
        .flat_map(|family| family.get_metric())
        .map(|metric| metric.get_counter().get_value() as u64)
        .sum()
}
