//! Health: `/health/live` (the process answers), `/health/ready` (alias `/ready`: every check
//! passes within `HEALTH_CHECK_TIMEOUT`) and `/health` (both, in the seed format).

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use serde::Serialize;
use serde_json::{json, Value};

use super::AppState;
use crate::registry::GetStats;

#[derive(Serialize)]
struct Check {
    status: &'static str,
    #[serde(flatten)]
    detail: Value,
}

pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "alive" }))
}

async fn run_checks(state: &AppState) -> (bool, BTreeMap<&'static str, Check>) {
    let mut checks = BTreeMap::new();
    let timeout = state.settings.health_check_timeout();
    let registry = match tokio::time::timeout(timeout, state.registry.send(GetStats)).await {
        Ok(Ok(stats)) => Check {
            status: "up",
            detail: json!({
                "rooms": stats.rooms,
                "active_games": stats.active_games,
                "max_active_games": stats.max_active_games,
            }),
        },
        Ok(Err(_)) => Check {
            status: "down",
            detail: json!({ "error": "the registry actor is not running" }),
        },
        Err(_) => Check {
            status: "down",
            detail: json!({ "error": format!("no answer within {}s", timeout.as_secs()) }),
        },
    };
    checks.insert("registry", registry);
    let ok = checks.values().all(|c| c.status == "up");
    (ok, checks)
}

pub async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let (ok, checks) = run_checks(&state).await;
    let body = json!({ "status": if ok { "ready" } else { "not_ready" }, "checks": checks });
    if ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    let (ok, checks) = run_checks(&state).await;
    let body = json!({
        "status": if ok { "healthy" } else { "unhealthy" },
        "timestamp": chrono::Utc::now().to_rfc3339(),
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.started_at.elapsed().as_secs(),
        "checks": checks,
    });
    if ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
