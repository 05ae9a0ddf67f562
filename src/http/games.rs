//! The archive's read API: `GET /v1/games` (newest first, keyset pagination),
//! `GET /v1/games/{id}` (summary and final state) and `GET /v1/games/{id}/events`.
//!
//! Database calls block, so they run on actix-web's blocking pool, never on a worker's reactor.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ApiError, AppState};
use crate::archive::{
    ArchiveStore, ArchivedEvent, ArchivedPlayer, GameCursor, GameQuery, GameRecord, StoreError,
};
use crate::game::Outcome;

/// Longest id or filter value accepted; anything longer cannot name a stored game.
const MAX_PARAM_LEN: usize = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    player: Option<String>,
    game: Option<String>,
    limit: Option<u32>,
    before: Option<String>,
}

/// `GET /v1/games/{id}`: one archived game without its events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GameDetail {
    pub game_id: String,
    pub room_id: String,
    pub game_kind: String,
    /// As text: a JSON number cannot carry every 64-bit seed exactly.
    pub seed: String,
    pub options: Value,
    pub players: Vec<ArchivedPlayer>,
    pub outcome: Outcome,
    pub final_state: Value,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub completed_at: chrono::DateTime<chrono::Utc>,
    pub duration_seconds: i32,
    pub winner_name: Option<String>,
    /// How many events `GET /v1/games/{id}/events` returns.
    pub events: usize,
    pub events_truncated: bool,
}

/// `GET /v1/games/{id}/events`: the game's events in `seq` order. Finished games show every
/// seat's private data too: the game is over, nothing is hidden any more.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GameEvents {
    pub game_id: String,
    pub events_truncated: bool,
    pub events: Vec<ArchivedEvent>,
}

fn store(state: &AppState) -> Result<ArchiveStore, ApiError> {
    state
        .archive_store
        .clone()
        .ok_or_else(|| ApiError::NotFound("archiving is turned off on this server".into()))
}

fn store_error(err: StoreError) -> ApiError {
    match err {
        // Permanent, and no outage: a 503 would have clients retry a game that never reads.
        StoreError::Adopted { .. } => ApiError::NotFound(err.to_string()),
        err => ApiError::Unavailable(format!("the archive cannot be read right now: {err}")),
    }
}

/// Runs a blocking archive read off the reactor.
async fn read<T: Send + 'static>(
    state: &AppState,
    query: impl FnOnce(&ArchiveStore) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = store(state)?;
    web::block(move || query(&store))
        .await
        .map_err(|_| ApiError::Unavailable("the archive reader stopped".into()))?
        .map_err(store_error)
}

fn checked_id(id: &str) -> Result<String, ApiError> {
    if id.is_empty() || id.len() > MAX_PARAM_LEN {
        return Err(ApiError::NotFound(format!("no archived game {id:.40}")));
    }
    Ok(id.to_owned())
}

async fn load(state: &AppState, id: String) -> Result<GameRecord, ApiError> {
    let wanted = id.clone();
    read(state, move |store| store.load_record(&wanted))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no archived game {id}")))
}

pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    for value in [&query.player, &query.game, &query.before]
        .into_iter()
        .flatten()
    {
        if value.len() > MAX_PARAM_LEN * 3 {
            return Err(ApiError::BadRequest("query parameter too long".into()));
        }
    }
    let before = query
        .before
        .as_deref()
        .map(GameCursor::decode)
        .transpose()
        .map_err(|err| ApiError::BadRequest(format!("bad `before`: {err}")))?;
    let limit = match query.limit {
        None => GameQuery::DEFAULT_LIMIT,
        Some(n) if (1..=GameQuery::MAX_LIMIT).contains(&n) => n,
        Some(_) => {
            return Err(ApiError::BadRequest(format!(
                "`limit` must be 1 to {}",
                GameQuery::MAX_LIMIT
            )))
        }
    };
    let filter = GameQuery {
        player: query.player,
        game_kind: query.game,
        limit,
        before,
    };
    let page = read(&state, move |store| store.list_games(&filter)).await?;
    Ok(HttpResponse::Ok().json(page))
}

pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let record = load(&state, checked_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(GameDetail {
        seed: record.seed.to_string(),
        duration_seconds: record.duration_seconds(),
        winner_name: record.winner_name().map(str::to_owned),
        events: record.events.len(),
        events_truncated: record.events_truncated,
        game_id: record.game_id,
        room_id: record.room_id,
        game_kind: record.game_kind,
        options: record.options.value(),
        players: record.players,
        outcome: record.outcome,
        final_state: record.final_state.value(),
        started_at: record.started_at,
        completed_at: record.completed_at,
    }))
}

pub async fn events(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let record = load(&state, checked_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(GameEvents {
        game_id: record.game_id,
        events_truncated: record.events_truncated,
        events: record.events,
    }))
}
