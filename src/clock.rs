//! The one clock of a process: the system's, or in tests one anchored at a chosen time
//! (running, or standing still until moved). Timers, the job queue, blocked periods and
//! emergency deadlines all read it, so that tests move time instead of sleeping and never
//! depend on today's date.

use chrono::{DateTime, TimeZone, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

#[derive(Clone, Default)]
pub struct Clock(Option<Arc<Anchor>>);

struct Anchor {
    /// Standing still: the time itself; running: what is added to the system's time.
    ms: AtomicI64,
    running: bool,
}

fn system_ms() -> i64 {
    Utc::now().timestamp_millis()
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock(None)
    }

    /// A clock that stands still at `at` until moved.
    pub fn manual(at: DateTime<Utc>) -> Self {
        Clock(Some(Arc::new(Anchor {
            ms: AtomicI64::new(at.timestamp_millis()),
            running: false,
        })))
    }

    /// A clock that reads `at` now and runs from there at the system's pace.
    pub fn starting_at(at: DateTime<Utc>) -> Self {
        Clock(Some(Arc::new(Anchor {
            ms: AtomicI64::new(at.timestamp_millis() - system_ms()),
            running: true,
        })))
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        match &self.0 {
            None => system_ms(),
            Some(a) if a.running => system_ms() + a.ms.load(Ordering::SeqCst),
            Some(a) => a.ms.load(Ordering::SeqCst),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.now_ms())
            .single()
            .unwrap_or_default()
    }

    /// Moves the clock to `at` (the system clock cannot be moved).
    pub fn set(&self, at: DateTime<Utc>) {
        if let Some(a) = &self.0 {
            let base = if a.running { system_ms() } else { 0 };
            a.ms.store(at.timestamp_millis() - base, Ordering::SeqCst);
        }
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: chrono::Duration) {
        if let Some(a) = &self.0 {
            a.ms.fetch_add(by.num_milliseconds(), Ordering::SeqCst);
        }
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(_) => write!(f, "Clock(at {})", self.now()),
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
    }

    #[test]
    fn an_anchored_clock_runs_from_its_start() {
        let start = Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap();
        let c = Clock::starting_at(start);
        let read = c.now();
        assert!(read >= start && read < start + chrono::Duration::minutes(1));
        c.advance(chrono::Duration::days(1));
        assert!(c.now() >= start + chrono::Duration::days(1));
        c.set(start);
        assert!(c.now() < start + chrono::Duration::minutes(1));
    }
}
