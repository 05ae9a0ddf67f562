//! The memory guard (`USE_MEMORY_MONITORING`): every `MEMORY_CHECK_INTERVAL` seconds the
//! process's resident memory is compared with `MEMORY_ALERT_THRESHOLD` percent of
//! `MAX_MEMORY_MB`. Above it, new rooms are refused (503 with `Retry-After`) and readiness fails
//! so that a load balancer sends new players elsewhere; games already running go on.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use slog::{info, warn, Logger};

use crate::metrics::resident_memory_bytes;

/// What the guard last measured. Read without locks by the registry and the health checks.
#[derive(Debug)]
pub struct MemoryGuard {
    enabled: bool,
    limit_bytes: u64,
    alert_bytes: u64,
    rss_bytes: AtomicU64,
    high: AtomicBool,
}

impl MemoryGuard {
    pub fn new(enabled: bool, limit_bytes: u64, alert_bytes: u64) -> Arc<Self> {
        let guard = Arc::new(MemoryGuard {
            enabled,
            limit_bytes,
            alert_bytes,
            rss_bytes: AtomicU64::new(0),
            high: AtomicBool::new(false),
        });
        // A first reading at once: a server started over its limit refuses rooms from the start.
        guard.measure();
        guard
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// True while the last reading was above the alert threshold (never when disabled).
    pub fn is_high(&self) -> bool {
        self.high.load(Ordering::Relaxed)
    }

    pub fn rss_bytes(&self) -> u64 {
        self.rss_bytes.load(Ordering::Relaxed)
    }

    pub fn limit_bytes(&self) -> u64 {
        self.limit_bytes
    }

    pub fn alert_bytes(&self) -> u64 {
        self.alert_bytes
    }

    /// Takes a reading; returns whether the state changed.
    fn measure(&self) -> bool {
        let Some(rss) = resident_memory_bytes() else {
            return false;
        };
        self.rss_bytes.store(rss, Ordering::Relaxed);
        let high = self.enabled && rss > self.alert_bytes;
        self.high.swap(high, Ordering::Relaxed) != high
    }

    /// Measures every `interval` for as long as the actix system runs.
    pub fn spawn(self: &Arc<Self>, interval: Duration, log: Logger) {
        if !self.enabled {
            return;
        }
        let guard = Arc::clone(self);
        actix_rt::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            loop {
                ticks.tick().await;
                if guard.measure() {
                    let mb = |bytes: u64| bytes / (1024 * 1024);
                    if guard.is_high() {
                        warn!(log, "memory above the alert threshold: refusing new rooms";
                            "rss_mb" => mb(guard.rss_bytes()), "alert_mb" => mb(guard.alert_bytes),
                            "limit_mb" => mb(guard.limit_bytes));
                    } else {
                        info!(log, "memory back under the alert threshold: accepting rooms";
                            "rss_mb" => mb(guard.rss_bytes()));
                    }
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_below_the_current_memory_is_high_at_once() {
        let guard = MemoryGuard::new(true, 1024 * 1024, 512 * 1024);
        assert!(guard.is_high());
        assert!(guard.rss_bytes() > guard.alert_bytes());
    }

    #[test]
    fn a_disabled_guard_is_never_high() {
        let guard = MemoryGuard::new(false, 1024 * 1024, 512 * 1024);
        assert!(!guard.is_high());
    }
}
