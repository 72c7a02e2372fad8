//! What each change spent of the forges' quota lately (the units its jobs counted), and jobs
//! put back in the queue until their change may spend again: one author churning labels
//! must not spend the quota every other change needs.

use super::Store;
use anyhow::{Context, Result};
use sqlx::Row;

/// The note a job waiting for its change's quota carries (`changegate jobs` shows it).
pub const WAITING_FOR_QUOTA: &str = "waiting for API quota";

/// Read before every run of a change: through the partial index `jobs_change_spent`, never
/// every job the change ever had.
pub(super) const UNITS_SPENT: &str = "SELECT updated_at, units FROM jobs
     WHERE change_key = $1 AND state = 'done' AND units > 0 AND updated_at >= $2
     ORDER BY updated_at";

impl Store {
    /// The quota units the runs of change `key` spent since `since` (ms since the epoch): when
    /// each run ended and what it spent, oldest first.
    pub async fn units_spent(&self, key: &str, since: i64) -> Result<Vec<(i64, i64)>> {
        let rows = sqlx::query(UNITS_SPENT)
            .bind(key.to_string())
            .bind(since)
            .fetch_all(&self.reads)
            .await
            .context("cannot read what the change spent")?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// Puts claimed job `job_id` back in the queue until `at`, its try not counted: it
    /// waits, it did not fail.
    pub async fn defer_for_quota(&self, job_id: i64, at: i64) -> Result<()> {
        sqlx::query(
            "UPDATE jobs SET state = 'queued', run_after = $1, attempts = attempts - 1,
                    last_error = $2, locked_until = 0, updated_at = $3
             WHERE id = $4 AND state = 'running'",
        )
        .bind(at)
        .bind(WAITING_FOR_QUOTA)
        .bind(self.now_ms())
        .bind(job_id)
        .execute(&mut *self.writer().await?)
        .await
        .context("cannot put the job back in the queue")?;
        Ok(())
    }
}
