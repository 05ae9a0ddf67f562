//! Health: `/health/live` (the process answers), `/health/ready` (alias `/ready`: every check
//! passes within `HEALTH_CHECK_TIMEOUT`) and `/health` (both, in the seed format).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, HttpResponse};
use futures_util::future::{join3, OptionFuture};
use serde::Serialize;
use serde_json::{json, Value};

use super::AppState;
use crate::archive::ArchiveStore;
use crate::limits::PlayerLimiter;
use crate::metrics::Metrics;
use crate::registry::GetStats;

/// How often [`spawn_database_probe`] asks the database whether it answers.
const DATABASE_PROBE_INTERVAL: Duration = Duration::from_secs(5);

const UP: &str = "up";
const DEGRADED: &str = "degraded";
const DOWN: &str = "down";
/// A check of something this server was configured not to use: neither good nor bad.
const DISABLED: &str = "disabled";

#[derive(Serialize)]
struct Check {
    status: &'static str,
    #[serde(flatten)]
    detail: Value,
}

/// Runs no check but the process's own answer. The body is seed 001's, which expects every
/// health endpoint to say `{"status": "healthy", "checks": {...}}` when all is well.
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "status": "healthy",
        "checks": { "process": { "status": UP } },
    }))
}

/// Runs every check. The ones that wait on something (the registry actor, the database, Redis)
/// run concurrently, each bounded by `HEALTH_CHECK_TIMEOUT`, so that the whole answer comes
/// within one timeout even when several dependencies hang: the probe timeouts of compose.yaml
/// and deploy/k8s assume one, and a probe that times out reads as a dead server.
async fn run_checks(state: &AppState) -> (bool, BTreeMap<&'static str, Check>) {
    let timeout = state.settings.health_check_timeout();
    let archive = state.archive_store.as_ref().zip(state.archive.as_ref());
    let redis_players = state.players.as_ref().filter(|p| p.redis_configured());
    let (registry, database, redis) = join3(
        registry_check(state, timeout),
        OptionFuture::from(archive.map(|(store, _)| database_check(store, timeout))),
        OptionFuture::from(redis_players.map(|players| redis_check(players, timeout))),
    )
    .await;

    let mut checks = BTreeMap::new();
    checks.insert("registry", registry);
    match database.zip(archive) {
        Some((database, (_, archive))) => {
            state
                .metrics
                .database_up
                .set(i64::from(database.status == UP));
            checks.insert("database", database);
            let health = archive.stats.health();
            checks.insert(
                "archiver",
                Check {
                    status: if health.degraded { DEGRADED } else { UP },
                    detail: serde_json::to_value(&health).unwrap_or(Value::Null),
                },
            );
        }
        None => {
            // Said outright, so that nobody reads a missing check as a database left unchecked.
            checks.insert(
                "database",
                Check {
                    status: DISABLED,
                    detail: json!({ "reason": "USE_GAME_ARCHIVAL=false" }),
                },
            );
        }
    }
    if let Some(redis) = redis {
        checks.insert("redis", redis);
    }
    if state.memory.enabled() {
        let mb = |bytes: u64| bytes / (1024 * 1024);
        checks.insert(
            "memory",
            Check {
                // Above the threshold the server takes no new rooms: take it out of rotation.
                status: if state.memory.is_high() { DOWN } else { UP },
                detail: json!({
                    "rss_mb": mb(state.memory.rss_bytes()),
                    "alert_mb": mb(state.memory.alert_bytes()),
                    "limit_mb": mb(state.memory.limit_bytes()),
                }),
            },
        );
    }
    let ok = checks.values().all(|c| c.status != DOWN);
    (ok, checks)
}

/// The registry actor answers within the timeout; if it does not, no room can be created or
/// joined, so the server is down.
async fn registry_check(state: &AppState, timeout: Duration) -> Check {
    match tokio::time::timeout(timeout, state.registry.send(GetStats)).await {
        Ok(Ok(stats)) => Check {
            status: UP,
            detail: json!({
                "rooms": stats.rooms,
                "active_games": stats.active_games,
                "max_active_games": stats.max_active_games,
            }),
        },
        Ok(Err(_)) => Check {
            status: DOWN,
            detail: json!({ "error": "the registry actor is not running" }),
        },
        Err(_) => Check {
            status: DOWN,
            detail: json!({ "error": format!("no answer within {}s", timeout.as_secs()) }),
        },
    }
}

/// Redis answers `PING`. Without Redis the limits fall back to memory and games go on:
/// degraded, not down.
async fn redis_check(players: &PlayerLimiter, timeout: Duration) -> Check {
    match tokio::time::timeout(timeout, players.ping_redis()).await {
        Ok(Ok(())) => Check {
            status: UP,
            detail: json!({ "shared_rate_limits": players.shared() }),
        },
        Ok(Err(error)) => Check {
            status: DEGRADED,
            detail: json!({ "error": error, "shared_rate_limits": false }),
        },
        Err(_) => Check {
            status: DEGRADED,
            detail: json!({ "error": format!("no answer within {}s", timeout.as_secs()),
                "shared_rate_limits": false }),
        },
    }
}

/// The archive database answers a trivial query within the timeout. While it does not, games
/// go on and finished ones are spooled, so this makes the server degraded, not unready: taking
/// every replica out of service because the archive is down would stop play for nothing.
async fn database_check(store: &ArchiveStore, timeout: Duration) -> Check {
    let backend = store.backend();
    let store = store.clone();
    let ping = actix_web::rt::task::spawn_blocking(move || store.ping());
    let error = match tokio::time::timeout(timeout, ping).await {
        Ok(Ok(Ok(()))) => {
            return Check {
                status: UP,
                detail: json!({ "backend": backend }),
            }
        }
        Ok(Ok(Err(err))) => err.to_string(),
        Ok(Err(_)) => "the check task failed".to_owned(),
        Err(_) => format!("no answer within {}s", timeout.as_secs()),
    };
    Check {
        status: DEGRADED,
        detail: json!({ "backend": backend, "error": error }),
    }
}

/// Keeps `gamehall_database_up` current for as long as the actix system runs, from start-up
/// on: without it the gauge would move only when something asks for readiness, and read 0
/// (and page someone) on an install whose probes ask only `/health/live`.
pub fn spawn_database_probe(store: ArchiveStore, metrics: Arc<Metrics>, timeout: Duration) {
    actix_web::rt::spawn(async move {
        let mut ticks = tokio::time::interval(DATABASE_PROBE_INTERVAL);
        loop {
            ticks.tick().await;
            let check = database_check(&store, timeout).await;
            metrics.database_up.set(i64::from(check.status == UP));
        }
    });
}

/// Overall status: any `down` check fails readiness, any `degraded` one is reported but the
/// server stays in service.
fn overall(checks: &BTreeMap<&'static str, Check>) -> Option<&'static str> {
    checks
        .values()
        .any(|c| c.status == DEGRADED)
        .then_some(DEGRADED)
}

pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let (ok, checks) = run_checks(&state).await;
    let status = match (ok, overall(&checks)) {
        // Seed 002's word for it.
        (false, _) => "not-ready",
        (true, Some(degraded)) => degraded,
        (true, None) => "ready",
    };
    let body = json!({ "status": status, "checks": checks });
    if ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let (ok, checks) = run_checks(&state).await;
    let body = json!({
        "status": match (ok, overall(&checks)) {
            (false, _) => "unhealthy",
            (true, Some(degraded)) => degraded,
            (true, None) => "healthy",
        },
        "timestamp": chrono::Utc::now().to_rfc3339(),
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.started_at.elapsed().as_secs(),
        // Seed 003's name and unit (Node's `process.uptime()`: seconds, with a fraction); kept
        // beside `uptime_seconds` so that neither kind of dashboard breaks.
        "uptime": state.started_at.elapsed().as_secs_f64(),
        "checks": checks,
    });
    if ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
