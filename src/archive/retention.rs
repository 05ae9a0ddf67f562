//! Retention: archived games older than `ARCHIVE_RETENTION_DAYS` are deleted, by
//! `gamehall archive prune` and once a day by the running server.

use std::time::Duration;

use chrono::Utc;
use slog::{info, warn, Logger};

use super::store::{ArchiveStore, StoreError};

/// How often the server prunes. The first run is one period after start-up, so that many
/// replicas restarting together do not all delete at once.
pub const PRUNE_PERIOD: Duration = Duration::from_secs(24 * 60 * 60);

/// Deletes games completed more than `retention` ago (their events go with them); returns how
/// many. Blocking.
pub fn prune_older_than(
    store: &ArchiveStore,
    retention: chrono::Duration,
) -> Result<usize, StoreError> {
    store.prune(Utc::now() - retention)
}

/// Prunes every `period` on the blocking pool for as long as the actix system runs.
pub fn spawn_periodic_prune(
    store: ArchiveStore,
    retention: chrono::Duration,
    period: Duration,
    log: Logger,
) {
    actix_rt::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        loop {
            ticks.tick().await;
            let store = store.clone();
            let pruned =
                actix_web::rt::task::spawn_blocking(move || prune_older_than(&store, retention))
                    .await;
            match pruned {
                Ok(Ok(n)) => info!(log, "archive pruned"; "deleted_games" => n,
                    "retention_days" => retention.num_days()),
                Ok(Err(err)) => warn!(log, "archive prune failed; will retry"; "error" => %err),
                Err(_) => warn!(log, "archive prune task stopped unexpectedly"),
            }
        }
    });
}
