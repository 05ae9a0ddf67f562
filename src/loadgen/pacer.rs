//! A move budget for fixed-rate runs: a task takes one permit before each `act`, and a ticker
//! adds permits at the target rate. Bursts are capped at 10 ms worth, so a stall is not
//! followed by a flood that would flatter nothing and hurt the latency figures. Each lane has
//! a budget of its own, for its share of the rate, so that a permit never wakes a task on
//! another thread.

use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// How often the ticker tops the budget up.
const TICK: Duration = Duration::from_millis(1);

pub struct Pacer {
    permits: Arc<Semaphore>,
    ticker: JoinHandle<()>,
}

impl Pacer {
    /// Starts the ticker for `per_second` permits a second on `runtime`.
    pub fn start(runtime: &Handle, per_second: f64) -> Pacer {
        let permits = Arc::new(Semaphore::new(0));
        let cap = ((per_second / 100.0) as usize).max(1);
        let ticker = {
            let permits = Arc::clone(&permits);
            runtime.spawn(async move {
                let mut interval = tokio::time::interval(TICK);
                interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut last = tokio::time::Instant::now();
                let mut owed = 0.0f64;
                loop {
                    interval.tick().await;
                    let now = tokio::time::Instant::now();
                    owed += (now - last).as_secs_f64() * per_second;
                    last = now;
                    let whole = owed.floor();
                    owed -= whole;
                    let room = cap.saturating_sub(permits.available_permits());
                    let add = (whole as usize).min(room);
                    if add > 0 {
                        permits.add_permits(add);
                    }
                }
            })
        };
        Pacer { permits, ticker }
    }

    /// Waits for one permit; returns at once after [`Pacer::close`].
    pub async fn take(&self) {
        if let Ok(permit) = self.permits.acquire().await {
            permit.forget();
        }
    }

    /// Stops the ticker and releases every task waiting for a permit.
    pub fn close(&self) {
        self.ticker.abort();
        self.permits.close();
    }
}

impl Drop for Pacer {
    fn drop(&mut self) {
        self.close();
    }
}
