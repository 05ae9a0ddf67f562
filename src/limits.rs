//! The per-player rate limit (`RATE_LIMIT_PER_PLAYER_PER_MINUTE`): actions and chat lines per
//! minute, counted across all of a player's connections.
//!
//! In memory (a keyed `governor` limiter) by default. With `REDIS_URL`, the count lives in Redis
//! so that it holds across instances: one fixed one-minute window per player
//! (`INCR gamehall:rl:player:{id}:{minute}` with a two-minute expiry). If Redis fails or is slow,
//! the check falls back to memory at once, Redis is marked down (metrics, readiness), and a
//! probe brings it back into use when it answers again; games never wait on a dead Redis.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use deadpool_redis::redis;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use slog::{info, warn, Logger};

use crate::ids::PlayerId;
use crate::metrics::Metrics;

/// How long one Redis call may take before the check falls back to memory.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);
/// How often Redis is probed while it is down (and checked while it is up).
const REDIS_PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// The clock every in-memory limiter reads. Building a clock is not free (quanta identifies
/// the CPU's time-stamp counter each time), and a server creates a limiter for every room and
/// every connection: they all share this one.
pub fn shared_clock() -> DefaultClock {
    static CLOCK: std::sync::OnceLock<DefaultClock> = std::sync::OnceLock::new();
    CLOCK.get_or_init(DefaultClock::default).clone()
}

/// The answer of a rate-limit check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Limited { retry_after: Duration },
}

#[derive(Debug, thiserror::Error)]
pub enum LimitsError {
    #[error("invalid REDIS_URL: {0}")]
    RedisUrl(String),
}

pub struct PlayerLimiter {
    per_minute: NonZeroU32,
    local: DefaultKeyedRateLimiter<PlayerId>,
    redis: Option<SharedCounter>,
}

struct SharedCounter {
    pool: deadpool_redis::Pool,
    up: AtomicBool,
}

impl PlayerLimiter {
    /// A limiter of `per_minute` per player; shared through Redis when `redis_url` is not
    /// empty. Opens no connection: Redis may be down at start-up.
    pub fn new(
        per_minute: NonZeroU32,
        redis_url: &str,
        redis_pool_max: usize,
    ) -> Result<Self, LimitsError> {
        let redis = if redis_url.is_empty() {
            None
        } else {
            let mut config = deadpool_redis::Config::from_url(redis_url);
            config.pool = Some(deadpool_redis::PoolConfig {
                max_size: redis_pool_max,
                timeouts: deadpool_redis::Timeouts {
                    wait: Some(REDIS_TIMEOUT),
                    create: Some(REDIS_TIMEOUT),
                    recycle: Some(REDIS_TIMEOUT),
                },
                ..deadpool_redis::PoolConfig::default()
            });
            let pool = config
                .create_pool(Some(deadpool_redis::Runtime::Tokio1))
                .map_err(|e| LimitsError::RedisUrl(e.to_string()))?;
            Some(SharedCounter {
                pool,
                // Assume it answers until it does not: the first probe corrects this at once.
                up: AtomicBool::new(true),
            })
        };
        Ok(PlayerLimiter {
            per_minute,
            local: RateLimiter::keyed(Quota::per_minute(per_minute)),
            redis,
        })
    }

    /// True when the limit is kept in Redis and Redis is answering.
    pub fn shared(&self) -> bool {
        self.redis
            .as_ref()
            .is_some_and(|r| r.up.load(Ordering::Relaxed))
    }

    pub fn redis_configured(&self) -> bool {
        self.redis.is_some()
    }

    /// The in-memory check: used without Redis, and while Redis is down.
    pub fn check_local(&self, player: &PlayerId) -> Verdict {
        match self.local.check_key(player) {
            Ok(()) => Verdict::Allowed,
            Err(not_until) => Verdict::Limited {
                retry_after: not_until.wait_time_from(shared_clock().now()),
            },
        }
    }

    /// The shared check through Redis; falls back to [`Self::check_local`] if Redis fails.
    pub async fn check_shared(&self, player: &PlayerId) -> Verdict {
        let Some(redis) = &self.redis else {
            return self.check_local(player);
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let minute = now.as_secs() / 60;
        let key = format!("gamehall:rl:player:{player}:{minute}");
        let count = tokio::time::timeout(REDIS_TIMEOUT, async {
            let mut conn = redis.pool.get().await.ok()?;
            let (count,): (u64,) = redis::pipe()
                .atomic()
                .incr(&key, 1)
                .expire(&key, 120)
                .ignore()
                .query_async(&mut conn)
                .await
                .ok()?;
            Some(count)
        })
        .await
        .ok()
        .flatten();
        match count {
            Some(count) if count > u64::from(self.per_minute.get()) => Verdict::Limited {
                retry_after: Duration::from_secs(60 - now.as_secs() % 60),
            },
            Some(_) => Verdict::Allowed,
            None => {
                redis.up.store(false, Ordering::Relaxed);
                self.check_local(player)
            }
        }
    }

    /// Answers a Redis `PING` within the timeout.
    pub async fn ping_redis(&self) -> Result<(), String> {
        let Some(redis) = &self.redis else {
            return Ok(());
        };
        let answer = tokio::time::timeout(REDIS_TIMEOUT, async {
            let mut conn = redis.pool.get().await.map_err(|e| e.to_string())?;
            redis::cmd("PING")
                .query_async::<String>(&mut conn)
                .await
                .map_err(|e| e.to_string())
        })
        .await;
        match answer {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(format!("no answer within {} ms", REDIS_TIMEOUT.as_millis())),
        }
    }

    /// Probes Redis every second for as long as the actix system runs: marks it down or back up,
    /// and keeps `gamehall_redis_up` current. Also forgets idle players of the in-memory limiter.
    pub fn spawn_upkeep(self: &Arc<Self>, metrics: Arc<Metrics>, log: Logger) {
        let limiter = Arc::clone(self);
        actix_rt::spawn(async move {
            let mut ticks = tokio::time::interval(REDIS_PROBE_INTERVAL);
            let mut upkeep = 0u32;
            loop {
                ticks.tick().await;
                upkeep = upkeep.wrapping_add(1);
                if upkeep % 60 == 0 {
                    limiter.local.retain_recent();
                }
                let Some(redis) = &limiter.redis else {
                    continue;
                };
                let was_up = redis.up.load(Ordering::Relaxed);
                let now_up = match limiter.ping_redis().await {
                    Ok(()) => true,
                    Err(error) => {
                        if was_up {
                            warn!(log, "Redis is not answering; rate limits fall back to memory";
                                "error" => error);
                        }
                        false
                    }
                };
                if now_up && !was_up {
                    info!(
                        log,
                        "Redis answers again; rate limits are shared through it"
                    );
                }
                redis.up.store(now_up, Ordering::Relaxed);
                metrics.redis_up.set(i64::from(now_up));
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_local_limit_allows_the_quota_then_refuses_with_a_wait() {
        let limiter = PlayerLimiter::new(NonZeroU32::new(3).unwrap(), "", 1).unwrap();
        let ada = PlayerId::from("ada");
        for _ in 0..3 {
            assert_eq!(limiter.check_local(&ada), Verdict::Allowed);
        }
        match limiter.check_local(&ada) {
            Verdict::Limited { retry_after } => assert!(retry_after > Duration::ZERO),
            Verdict::Allowed => panic!("the fourth action in a minute must be refused"),
        }
        // Another player has a quota of their own.
        assert_eq!(
            limiter.check_local(&PlayerId::from("bob")),
            Verdict::Allowed
        );
    }

    #[test]
    fn a_redis_url_that_is_not_one_is_refused() {
        assert!(PlayerLimiter::new(NonZeroU32::MIN, "not a url", 1).is_err());
    }
}
