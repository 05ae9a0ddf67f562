//! The load generator's threads: each runs a single-threaded tokio runtime of its own (a lane),
//! and each player's task, with its sockets, its timers and its share of the move budget, stays
//! on one lane for its whole life.
//!
//! Why not tokio's multi-threaded runtime: its workers steal each other's tasks, so a socket
//! found ready by one thread is often handled on the other, and the two keep parking and waking
//! each other. On the 2-core machines gamehall is measured on, the load generator shares the
//! cores with the server it measures, and every cycle it spends that way is taken from the
//! server (docs/benchmarks.md, "Profile").

use std::cell::Cell;
use std::future::Future;

use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

thread_local! {
    /// The lane this thread runs, if it is one.
    static LANE: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Where tasks are spawned: a handle on every lane's runtime. Cheap to clone and to share.
#[derive(Clone)]
pub struct Lanes {
    runtimes: Vec<Handle>,
}

impl Lanes {
    pub fn count(&self) -> usize {
        self.runtimes.len()
    }

    /// Runs `task` on lane `key % count`: tasks given the same key share a lane.
    pub fn spawn<F>(&self, key: usize, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.runtime(key).spawn(task)
    }

    /// The runtime of lane `key % count`.
    pub fn runtime(&self, key: usize) -> &Handle {
        &self.runtimes[key % self.runtimes.len()]
    }

    /// The lane the calling thread runs, or `None` off the lanes.
    pub fn current() -> Option<usize> {
        LANE.with(Cell::get)
    }
}

/// The lanes' threads. Dropping it stops every lane (dropping the tasks still on it) and waits
/// for its thread; drop it only off the lanes, once nothing needs them.
pub struct LaneThreads {
    lanes: Lanes,
    stops: Vec<oneshot::Sender<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl LaneThreads {
    /// Starts `count` lanes (at least one).
    pub fn start(count: usize) -> std::io::Result<LaneThreads> {
        let mut threads = LaneThreads {
            lanes: Lanes {
                runtimes: Vec::new(),
            },
            stops: Vec::new(),
            threads: Vec::new(),
        };
        for index in 0..count.max(1) {
            let runtime = Builder::new_current_thread().enable_all().build()?;
            let (stop, stopped) = oneshot::channel::<()>();
            threads.lanes.runtimes.push(runtime.handle().clone());
            threads.stops.push(stop);
            let thread = std::thread::Builder::new()
                .name(format!("loadgen-lane-{index}"))
                .spawn(move || {
                    LANE.with(|lane| lane.set(Some(index)));
                    // Runs the lane's tasks until told to stop (or until the sender is gone).
                    runtime.block_on(async {
                        let _ = stopped.await;
                    });
                })?;
            threads.threads.push(thread);
        }
        Ok(threads)
    }

    pub fn lanes(&self) -> &Lanes {
        &self.lanes
    }
}

impl Drop for LaneThreads {
    fn drop(&mut self) {
        for stop in self.stops.drain(..) {
            let _ = stop.send(());
        }
        for thread in self.threads.drain(..) {
            // A lane whose thread panicked has nothing left to stop.
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_with_the_same_key_share_a_lane_and_keys_spread_over_the_lanes() {
        let threads = LaneThreads::start(2).unwrap();
        let lanes = threads.lanes().clone();
        let main = Builder::new_current_thread().build().unwrap();
        let on = |key: usize| {
            main.block_on(lanes.spawn(key, async { Lanes::current() }))
                .unwrap()
        };
        assert_eq!(on(0), Some(0));
        assert_eq!(on(1), Some(1));
        assert_eq!(on(2), Some(0));
        assert_eq!(on(3), Some(1));
        assert_eq!(Lanes::current(), None, "the caller is not a lane");
        drop(threads);
    }

    #[test]
    fn stopping_the_lanes_drops_the_tasks_still_on_them() {
        let threads = LaneThreads::start(1).unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        // The task holds `tx` until it is dropped: it never finishes by itself.
        threads.lanes().spawn(0, async move {
            let _tx = tx;
            std::future::pending::<()>().await;
        });
        drop(threads);
        assert!(rx.recv().is_err(), "the task (and its sender) is gone");
    }
}
