//! What is left of each forge's rate limit, as its last answers said (`x-ratelimit-*` on
//! GitHub, `RateLimit-*` on GitLab): reconcile work pauses below a reserve so that webhook
//! work keeps the rest.

use crate::model::Forge;
use std::sync::Mutex;
use std::time::Duration;

tokio::task_local! {
    /// Quota spent by the job running on this task: REST units and GraphQL points.
    static UNITS: std::cell::Cell<Spent>;
    /// Which job run this task is (what a forge client read for one run is not another's).
    static RUN: u64;
}

static RUNS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// The job run this task is in, if any ([`counting`] starts one).
pub fn current_run() -> Option<u64> {
    RUN.try_with(|r| *r).ok()
}

/// What a job's forge calls spent of the two budgets GitHub keeps apart: REST requests
/// (`units`, 304s free) and GraphQL points (each query's `rateLimit.cost`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Spent {
    pub units: u64,
    pub points: u64,
}

/// Runs `work` counting the quota units its forge calls spend: its output and the count.
pub async fn counting<T>(work: impl std::future::Future<Output = T>) -> (T, u64) {
    let (out, spent) = counting_both(work).await;
    (out, spent.units)
}

/// Runs `work` counting the REST units and GraphQL points its forge calls spend.
pub async fn counting_both<T>(work: impl std::future::Future<Output = T>) -> (T, Spent) {
    let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    RUN.scope(
        run,
        UNITS.scope(std::cell::Cell::new(Spent::default()), async {
            let out = work.await;
            (out, UNITS.with(|u| u.get()))
        }),
    )
    .await
}

/// Counts one unit for the job running on this task, if any.
pub fn spend() {
    let _ = UNITS.try_with(|u| {
        let mut s = u.get();
        s.units = s.units.saturating_add(1);
        u.set(s);
    });
}

/// Counts GraphQL points for the job running on this task, if any.
pub fn spend_points(points: u64) {
    metrics::counter!(crate::telemetry::QUOTA_POINTS, "forge" => "github").increment(points);
    let _ = UNITS.try_with(|u| {
        let mut s = u.get();
        s.points = s.points.saturating_add(points);
        u.set(s);
    });
}

/// How metrics name a credential: a short fingerprint (the first 8 hex digits of its
/// SHA-256), which tells tokens apart without revealing anything of them.
pub fn token_label(secret: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(secret.as_bytes());
    format!("token-{}", &hex::encode(digest)[..8])
}

/// What the last answer for one credential said of its window.
#[derive(Debug, Clone, Copy)]
struct Window {
    remaining: Option<i64>,
    limit: Option<i64>,
    /// When the window resets, in seconds since the epoch.
    reset: Option<i64>,
}

/// Per forge and credential (GitHub App installations each have a limit of their own).
static WINDOWS: Mutex<Vec<((Forge, String), Window)>> = Mutex::new(Vec::new());

/// Records what an answer said of the rate limit of `token` (a [`token_label`]).
pub fn record(
    forge: Forge,
    token: &str,
    remaining: Option<i64>,
    limit: Option<i64>,
    reset: Option<i64>,
) {
    if remaining.is_none() && limit.is_none() && reset.is_none() {
        return;
    }
    let Ok(mut windows) = WINDOWS.lock() else {
        return;
    };
    let slot = match windows
        .iter()
        .position(|((f, t), _)| *f == forge && t == token)
    {
        Some(i) => &mut windows[i].1,
        None => {
            windows.push((
                (forge, token.to_string()),
                Window {
                    remaining: None,
                    limit: None,
                    reset: None,
                },
            ));
            &mut windows.last_mut().expect("just pushed").1
        }
    };
    slot.remaining = remaining.or(slot.remaining);
    slot.limit = limit.or(slot.limit);
    slot.reset = reset.or(slot.reset);
}

/// How long to wait before `token` may call `forge` again: while its last answer said nothing
/// is left and the window has not reset, a request would only be refused (and on GitHub,
/// repeated requests past the limit risk the integration being banned).
pub fn exhausted(forge: Forge, token: &str) -> Option<Duration> {
    let windows = WINDOWS.lock().ok()?;
    let (_, w) = windows
        .iter()
        .find(|((f, t), _)| *f == forge && t == token)?;
    let left = chrono::DateTime::from_timestamp(w.reset?, 0)? - chrono::Utc::now();
    (w.remaining == Some(0) && left > chrono::TimeDelta::zero()).then(|| {
        left.to_std()
            .unwrap_or_default()
            .max(Duration::from_secs(1))
    })
}

/// [`exhausted`] as the error a forge call returns instead of being sent.
pub(crate) fn wait_if_exhausted(forge: Forge, token: &str) -> Result<(), crate::forge::ForgeError> {
    match exhausted(forge, token) {
        Some(retry_after) => Err(crate::forge::ForgeError::RateLimited { retry_after }),
        None => Ok(()),
    }
}

/// Whether what is left of one of `forge`'s credentials is under `percent` of its limit
/// (unknown: no).
pub fn below_reserve(forge: Forge, percent: u8) -> bool {
    let Ok(windows) = WINDOWS.lock() else {
        return false;
    };
    let now = chrono::Utc::now().timestamp();
    windows.iter().any(|((f, _), w)| {
        let reset = w.reset.is_some_and(|r| r <= now);
        match (w.remaining, w.limit) {
            (Some(left), Some(limit)) => {
                *f == forge && !reset && limit > 0 && left * 100 < limit * i64::from(percent)
            }
            _ => false,
        }
    })
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
    fn tokens_are_named_by_a_fingerprint() {
        let label = token_label("ghp_secret");
        assert!(label.starts_with("token-") && label.len() == 14, "{label}");
        assert!(!label.contains("secret"));
        assert_eq!(label, token_label("ghp_secret"));
        assert_ne!(label, token_label("ghp_other"));
    }

    #[test]
    fn the_reserve_is_a_share_of_the_limit() {
        assert!(!below_reserve(Forge::Gitlab, 10), "unknown is not low");
        record(Forge::Gitlab, "t1", Some(600), Some(5000), None);
        assert!(!below_reserve(Forge::Gitlab, 10));
        record(Forge::Gitlab, "t1", Some(499), None, None);
        assert!(below_reserve(Forge::Gitlab, 10));
        assert!(paused(10).contains(&Forge::Gitlab));
        assert!(!below_reserve(Forge::Gitlab, 0));
        record(Forge::Gitlab, "t1", Some(5000), Some(5000), None);
        assert!(!paused(10).contains(&Forge::Gitlab));
        // A window that has reset says nothing of now.
        let past = chrono::Utc::now().timestamp() - 5;
        record(Forge::Gitlab, "t2", Some(1), Some(5000), Some(past));
        assert!(!below_reserve(Forge::Gitlab, 10));
    }

    #[test]
    fn graphql_points_are_a_budget_of_their_own() {
        // As the GitHub client names them: the credential, and its GraphQL budget apart.
        let soon = chrono::Utc::now().timestamp() + 30;
        record(Forge::Github, "gq:graphql", Some(0), Some(5000), Some(soon));
        assert!(exhausted(Forge::Github, "gq:graphql").is_some());
        assert_eq!(exhausted(Forge::Github, "gq"), None, "REST goes on");
        record(Forge::Github, "gq", Some(0), Some(5000), Some(soon));
        record(Forge::Github, "gq:graphql", Some(4000), None, Some(soon));
        assert!(exhausted(Forge::Github, "gq").is_some());
        assert_eq!(exhausted(Forge::Github, "gq:graphql"), None);
    }

    #[tokio::test]
    async fn a_run_counts_units_and_points_apart() {
        let ((), spent) = counting_both(async {
            spend();
            spend_points(2);
            spend();
        })
        .await;
        assert_eq!(
            spent,
            Spent {
                units: 2,
                points: 2
            }
        );
        let (run, _) = counting(async { current_run() }).await;
        assert!(run.is_some());
        assert_eq!(current_run(), None, "outside a run");
    }

    #[test]
    fn an_exhausted_window_waits_for_its_reset() {
        let soon = chrono::Utc::now().timestamp() + 30;
        record(Forge::Github, "spent", Some(0), Some(5000), Some(soon));
        let wait = exhausted(Forge::Github, "spent").expect("exhausted");
        assert!(
            wait > Duration::from_secs(20) && wait <= Duration::from_secs(30),
            "{wait:?}"
        );
        assert_eq!(exhausted(Forge::Github, "another-token"), None);
        let past = chrono::Utc::now().timestamp() - 1;
        record(Forge::Github, "spent", Some(0), None, Some(past));
        assert_eq!(exhausted(Forge::Github, "spent"), None, "the window reset");
        record(Forge::Github, "spent", Some(4999), None, Some(soon));
        assert_eq!(exhausted(Forge::Github, "spent"), None);
    }
}
