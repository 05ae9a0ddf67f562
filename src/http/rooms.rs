//! `POST /v1/rooms`, `GET /v1/rooms`, `GET /v1/rooms/{id}`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use slog::info;

use super::auth::bearer_identity;
use super::{ApiError, AppState};
use crate::game::OptionsError;
use crate::ids::{RoomId, MAX_ID_LEN};
use crate::protocol::{RoomStatus, RoomSummary};
use crate::registry::{CreateRoom, CreateRoomError, FoundRoom, ListRooms};
use crate::room::GetSummary;

const DEFAULT_LIST_LIMIT: usize = 100;
const MAX_LIST_LIMIT: usize = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRoomRequest {
    game: String,
    #[serde(default)]
    options: Value,
}

pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<CreateRoomRequest>,
) -> Result<HttpResponse, ApiError> {
    let who = bearer_identity(&req, &state)?;
    let CreateRoomRequest { game, options } = body.into_inner();
    let summary = state
        .registry
        .send(CreateRoom {
            game,
            options,
            // This HTTP worker: where a turn-based room runs (see registry.rs).
            home: Some(actix::Arbiter::current()),
        })
        .await
        .map_err(|_| ApiError::Unavailable("the room registry is not running".into()))?
        .map_err(|err| match err {
            CreateRoomError::Options(OptionsError::UnknownGame(_)) => {
                ApiError::UnknownGame(err.to_string())
            }
            CreateRoomError::Options(OptionsError::Invalid(_)) => {
                ApiError::InvalidOptions(err.to_string())
            }
            CreateRoomError::ServerFull(_) => ApiError::ServerFull(err.to_string()),
            CreateRoomError::NoWorkers | CreateRoomError::ShuttingDown => {
                ApiError::Unavailable(err.to_string())
            }
            // Same answer as a full server: come back shortly (Retry-After), or elsewhere.
            CreateRoomError::MemoryHigh => ApiError::ServerFull(err.to_string()),
        })?;
    info!(state.log_for(&req), "room created by player"; "room_id" => %summary.id, "player_id" => %who.player_id);
    Ok(HttpResponse::Created().json(summary))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    game: Option<String>,
    status: Option<RoomStatus>,
    limit: Option<usize>,
}

#[derive(Serialize, Deserialize)]
pub struct RoomList {
    pub rooms: Vec<RoomSummary>,
}

pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let ListQuery {
        game,
        status,
        limit,
    } = query.into_inner();
    let limit = limit.unwrap_or(DEFAULT_LIST_LIMIT);
    if limit == 0 || limit > MAX_LIST_LIMIT {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_LIST_LIMIT}"
        )));
    }
    // A listing walks, copies and sorts every room's summary: that runs on the registry's
    // thread rather than here, on an HTTP worker whose reactor also runs rooms and sessions.
    let rooms = state
        .registry
        .send(ListRooms {
            game,
            status,
            limit,
        })
        .await
        .map_err(|_| ApiError::Unavailable("the room registry is not running".into()))?;
    Ok(HttpResponse::Ok().json(RoomList { rooms }))
}

pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    if id.len() > MAX_ID_LEN {
        return Err(ApiError::NotFound("no such room".into()));
    }
    let id = RoomId::from(id.as_str());
    // The registry's index, read here as a session reads it when it joins: one lookup needs
    // no trip to the registry's thread. Ask the room itself when it runs, so the answer
    // includes the move just made; the room's listing serves rooms that have stopped (retired
    // ones, until reaped).
    let rooms = &state.sessions.rooms;
    if let Some(FoundRoom::Running(room)) = rooms.find(&id) {
        if let Ok(summary) = room.send(GetSummary).await {
            return Ok(HttpResponse::Ok().json(summary));
        }
    }
    rooms
        .summary(&id)
        .map(|summary| HttpResponse::Ok().json(summary))
        .ok_or_else(|| ApiError::NotFound(format!("no room {id}")))
}
