//! The one clock of a process: the system's, or in tests a hand-moved one. Timers, the job
//! queue, blocked periods and emergency deadlines all read it, so that tests move time
//! instead of sleeping.

use chrono::{DateTime, TimeZone, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

#[derive(Clone, Default)]
pub struct Clock(Option<Arc<AtomicI64>>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock(None)
    }

    /// A clock that stands still at `at` until moved.
    pub fn manual(at: DateTime<Utc>) -> Self {
        Clock(Some(Arc::new(AtomicI64::new(at.timestamp_millis()))))
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        match &self.0 {
            Some(ms) => ms.load(Ordering::SeqCst),
            None => Utc::now().timestamp_millis(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.now_ms())
            .single()
            .unwrap_or_default()
    }

    /// Moves a manual clock to `at` (the system clock cannot be moved).
    pub fn set(&self, at: DateTime<Utc>) {
        if let Some(ms) = &self.0 {
            ms.store(at.timestamp_millis(), Ordering::SeqCst);
        }
    }

    /// Moves a manual clock forward.
    pub fn advance(&self, by: chrono::Duration) {
        if let Some(ms) = &self.0 {
            ms.fetch_add(by.num_milliseconds(), Ordering::SeqCst);
        }
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(_) => write!(f, "Clock::manual({})", self.now()),
            None => f.write_str("Clock::system"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let start = Utc.with_ymd_and_hms(2026, 12, 24, 9, 0, 0).unwrap();
        let c = Clock::manual(start);
        assert_eq!(c.now(), start);
        c.advance(chrono::Duration::hours(2));
        assert_eq!(c.now(), start + chrono::Duration::hours(2));
        c.set(start);
        assert_eq!(c.now_ms(), start.timestamp_millis());
        assert!(Clock::system().now_ms() > start.timestamp_millis() - 10_i64.pow(12));
    }
}
