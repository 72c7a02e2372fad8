//! How the delivery writer wakes the worker: once per batch that queued work, and not at all
//! when every change the batch queued is already being run by this process. A change runs one
//! job at a time, so a loop woken for it would only scan the queue to find nothing runnable
//! (hundreds of scans a second of a growing backlog, when a burst hits one change); the loop
//! running it claims again once it is done and finds the new jobs then.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// Shared by the delivery writer and the worker's loops of one process.
#[derive(Debug, Default)]
pub struct Wake {
    notify: Notify,
    /// Change keys with a job running in this process, and how many.
    running: Mutex<HashMap<String, usize>>,
    /// Worker loops started here, and how many of them still run: one that ended or died
    /// (a panic outside a job) makes the process not ready.
    loops_started: AtomicUsize,
    loops_alive: AtomicUsize,
}

impl Wake {
    pub fn new() -> Self {
        Self::default()
    }

    /// Wakes one idle loop.
    pub fn notify_one(&self) {
        self.notify.notify_one();
    }

    /// Waits until woken.
    pub async fn notified(&self) {
        self.notify.notified().await;
    }

    /// New jobs were committed for these changes: wake a loop unless each of them is running
    /// here. (Called after the commit: a loop that finished one of them has marked it done
    /// before it claims again, so that claim sees these jobs.)
    pub fn queued<'a>(&self, keys: impl IntoIterator<Item = &'a str>) {
        let all_running = {
            let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
            let mut keys = keys.into_iter().peekable();
            keys.peek().is_some() && keys.all(|k| running.contains_key(k))
        };
        if !all_running {
            self.notify.notify_one();
        }
    }

    /// Counts a worker loop as running until the returned guard drops (the loop ended, or
    /// its task panicked or was aborted).
    pub fn loop_started(self: &Arc<Self>) -> LoopAlive {
        self.loops_started.fetch_add(1, Ordering::SeqCst);
        self.loops_alive.fetch_add(1, Ordering::SeqCst);
        LoopAlive(self.clone())
    }

    /// Worker loops started here that no longer run.
    pub fn loops_lost(&self) -> usize {
        let alive = self.loops_alive.load(Ordering::SeqCst);
        self.loops_started
            .load(Ordering::SeqCst)
            .saturating_sub(alive)
    }

    /// Marks a change as running here until the returned guard drops (after the job is
    /// finished, before the loop claims again).
    pub fn running(&self, key: String) -> Running<'_> {
        *self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.clone())
            .or_default() += 1;
        Running { wake: self, key }
    }
}

/// A worker loop running; counted out when dropped, however the loop ended.
pub struct LoopAlive(Arc<Wake>);

impl Drop for LoopAlive {
    fn drop(&mut self) {
        self.0.loops_alive.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A change running here; unmarked when dropped, whatever became of the job.
pub struct Running<'a> {
    wake: &'a Wake,
    key: String,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let mut running = self.wake.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = running.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                running.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn woken(w: &Wake) -> bool {
        tokio::time::timeout(Duration::from_millis(20), w.notified())
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn a_batch_of_changes_running_here_wakes_nobody() {
        let w = Wake::new();
        let a = w.running("github:acme/x#1".into());
        w.queued(["github:acme/x#1", "github:acme/x#1"]);
        assert!(!woken(&w).await);
        // One change not running here: wake.
        w.queued(["github:acme/x#1", "github:acme/x#2"]);
        assert!(woken(&w).await);
        // Done: its next job wakes a loop again.
        drop(a);
        w.queued(["github:acme/x#1"]);
        assert!(woken(&w).await);
    }

    #[tokio::test]
    async fn two_runs_of_one_change_unmark_it_only_when_both_end() {
        let w = Wake::new();
        let a = w.running("k".into());
        let b = w.running("k".into());
        drop(a);
        w.queued(["k"]);
        assert!(!woken(&w).await);
        drop(b);
        w.queued(["k"]);
        assert!(woken(&w).await);
    }
}
