//! What is left of each forge's rate limit, as its last answers said (`x-ratelimit-*` on
//! GitHub, `RateLimit-*` on GitLab): reconcile work pauses below a reserve so that webhook
//! work keeps the rest.

use crate::model::Forge;
use std::sync::atomic::{AtomicI64, Ordering};

tokio::task_local! {
    /// Quota units spent by the job running on this task.
    static UNITS: std::cell::Cell<u64>;
}

/// Runs `work` counting the quota units its forge calls spend: its output and the count.
pub async fn counting<T>(work: impl std::future::Future<Output = T>) -> (T, u64) {
    UNITS
        .scope(std::cell::Cell::new(0), async {
            let out = work.await;
            (out, UNITS.with(|u| u.get()))
        })
        .await
}

/// Counts one unit for the job running on this task, if any.
pub fn spend() {
    let _ = UNITS.try_with(|u| u.set(u.get() + 1));
}

/// Remaining and limit per forge; -1 while unknown.
static REMAINING: [AtomicI64; 2] = [AtomicI64::new(-1), AtomicI64::new(-1)];
static LIMIT: [AtomicI64; 2] = [AtomicI64::new(-1), AtomicI64::new(-1)];

fn slot(forge: Forge) -> usize {
    match forge {
        Forge::Github => 0,
        Forge::Gitlab => 1,
    }
}

/// Records what an answer said of the rate limit.
pub fn record(forge: Forge, remaining: Option<i64>, limit: Option<i64>) {
    if let Some(r) = remaining {
        REMAINING[slot(forge)].store(r, Ordering::Relaxed);
    }
    if let Some(l) = limit {
        LIMIT[slot(forge)].store(l, Ordering::Relaxed);
    }
}

/// Whether what is left of `forge`'s limit is under `percent` of it (unknown: no).
pub fn below_reserve(forge: Forge, percent: u8) -> bool {
    let (left, limit) = (
        REMAINING[slot(forge)].load(Ordering::Relaxed),
        LIMIT[slot(forge)].load(Ordering::Relaxed),
    );
    left >= 0 && limit > 0 && left * 100 < limit * i64::from(percent)
}

/// The forges whose quota is under the reserve: their reconcile work waits.
pub fn paused(percent: u8) -> Vec<Forge> {
    [Forge::Github, Forge::Gitlab]
        .into_iter()
        .filter(|f| below_reserve(*f, percent))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_is_a_share_of_the_limit() {
        assert!(!below_reserve(Forge::Gitlab, 10), "unknown is not low");
        record(Forge::Gitlab, Some(600), Some(5000));
        assert!(!below_reserve(Forge::Gitlab, 10));
        record(Forge::Gitlab, Some(499), None);
        assert!(below_reserve(Forge::Gitlab, 10));
        assert_eq!(paused(10), vec![Forge::Gitlab]);
        assert!(!below_reserve(Forge::Gitlab, 0));
        record(Forge::Gitlab, Some(5000), Some(5000));
        assert!(paused(10).is_empty());
    }
}
