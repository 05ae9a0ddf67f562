//! Retention: archived games older than `ARCHIVE_RETENTION_DAYS` are deleted, by
//! `gamehall archive prune` and by the running server shortly after start-up, then once a day.

use std::time::Duration;

use chrono::Utc;
use rand::Rng;
use slog::{info, warn, Logger};

use super::store::{ArchiveStore, StoreError};

/// How often the server prunes once it has pruned the first time.
pub const PRUNE_PERIOD: Duration = Duration::from_secs(24 * 60 * 60);

/// The server's first prune comes this long after start-up, plus a random part of
/// [`FIRST_PRUNE_JITTER`]. Waiting a whole period instead would mean that a server restarted
/// more often than daily (every deploy) never prunes; waiting a little keeps the delete out of
/// start-up, when the archiver may be replaying its spool.
pub const FIRST_PRUNE_DELAY: Duration = Duration::from_secs(60);

/// Spreads the first prunes of replicas restarted together (a rolling deploy) over this long,
/// so that they do not all run the same large delete on the database at once.
pub const FIRST_PRUNE_JITTER: Duration = Duration::from_secs(5 * 60);

/// When the server prunes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PruneSchedule {
    /// From start-up to the first prune.
    pub first_after: Duration,
    /// Between two prunes after that.
    pub period: Duration,
}

impl PruneSchedule {
    /// The server's schedule: a few minutes after start-up (jittered), then every
    /// [`PRUNE_PERIOD`].
    pub fn daily() -> Self {
        let jitter = rand::thread_rng().gen_range(Duration::ZERO..=FIRST_PRUNE_JITTER);
        PruneSchedule {
            first_after: FIRST_PRUNE_DELAY + jitter,
            period: PRUNE_PERIOD,
        }
    }
}

/// Deletes games completed more than `retention` ago (their events go with them); returns how
/// many. Blocking.
pub fn prune_older_than(
    store: &ArchiveStore,
    retention: chrono::Duration,
) -> Result<usize, StoreError> {
    store.prune(Utc::now() - retention)
}

/// Prunes on `schedule`, on the blocking pool, for as long as the actix system runs.
pub fn spawn_periodic_prune(
    store: ArchiveStore,
    retention: chrono::Duration,
    schedule: PruneSchedule,
    log: Logger,
) {
    info!(log, "archive prune scheduled";
        "first_in_s" => schedule.first_after.as_secs(),
        "period_s" => schedule.period.as_secs(),
        "retention_days" => retention.num_days());
    actix_rt::spawn(async move {
        let mut ticks = tokio::time::interval_at(
            tokio::time::Instant::now() + schedule.first_after,
            schedule.period,
        );
        // After a stall (a suspended VM, a prune slower than the period) one prune catches up
        // on everything: a burst of back-to-back prunes would find nothing more to delete.
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
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

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeDelta};

    use super::*;
    use crate::archive::{DatabaseUrl, GameRecord};

    /// A game of its own (a fresh id) that ended at `completed_at`.
    fn finished_game(completed_at: DateTime<Utc>) -> GameRecord {
        GameRecord {
            game_id: uuid::Uuid::new_v4().to_string(),
            started_at: completed_at - TimeDelta::seconds(30),
            completed_at,
            ..GameRecord::example()
        }
    }

    /// Polls `done` until it holds; the prune runs on its own schedule, so there is no message
    /// to await.
    async fn eventually(what: &str, done: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(tokio::time::Instant::now() < deadline, "never: {what}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[actix_rt::test]
    async fn the_periodic_prune_runs_soon_after_start_then_every_period() {
        let url = DatabaseUrl::parse("sqlite::memory:").expect("a valid URL");
        let store = ArchiveStore::connect(&url, 1, Duration::from_secs(5)).expect("a store");
        store.migrate().expect("migrations apply");
        let now = Utc::now();
        let old = finished_game(now - TimeDelta::days(40));
        let new = finished_game(now - TimeDelta::hours(1));
        store
            .write_batch(&[old.clone(), new.clone()])
            .expect("games are written");

        spawn_periodic_prune(
            store.clone(),
            TimeDelta::days(30),
            PruneSchedule {
                first_after: Duration::from_millis(20),
                period: Duration::from_millis(50),
            },
            crate::telemetry::discard(),
        );
        let count = || store.count_games().expect("games are counted");
        eventually("the first prune deleted the old game", || count() == 1).await;
        assert_eq!(store.load_record(&old.game_id).expect("a read"), None);
        assert!(store.load_record(&new.game_id).expect("a read").is_some());

        // Not a one-off: a game that is old by the next period goes then.
        let older = finished_game(now - TimeDelta::days(400));
        store.write_batch(&[older]).expect("a game is written");
        assert_eq!(count(), 2);
        eventually("a later prune deleted the other old game", || count() == 1).await;
        assert!(store.load_record(&new.game_id).expect("a read").is_some());
    }

    #[test]
    fn the_daily_schedule_starts_within_minutes_and_spreads_replicas() {
        let firsts: Vec<Duration> = (0..50)
            .map(|_| {
                let schedule = PruneSchedule::daily();
                assert_eq!(schedule.period, PRUNE_PERIOD);
                schedule.first_after
            })
            .collect();
        for first in &firsts {
            assert!(
                (FIRST_PRUNE_DELAY..=FIRST_PRUNE_DELAY + FIRST_PRUNE_JITTER).contains(first),
                "{first:?}"
            );
        }
        assert!(
            firsts.iter().any(|f| *f != firsts[0]),
            "jittered: {firsts:?}"
        );
    }
}
