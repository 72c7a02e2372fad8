//! Durable state: deliveries (dedup), the job queue, and the audit log. SQLite, embedded.

use crate::model::{ChangeEvent, Event};
use anyhow::{Context, Result};
use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
}

/// What storing a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// Stored, with a job to process it.
    New { job_id: i64 },
    /// The forge's delivery id was seen before: acknowledged, not processed again.
    Duplicate,
}

/// A claimed job with its event.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: i64,
    pub attempts: i64,
    /// When the delivery was stored, in milliseconds since the epoch.
    pub received_at: i64,
    pub event: Event,
}

/// A job as `changegate jobs` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct JobRow {
    pub id: i64,
    pub change_key: String,
    pub state: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub delivery_id: Option<String>,
}

/// One audit record.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord<'a> {
    pub forge: &'a str,
    pub repo: &'a str,
    pub number: u64,
    pub delivery_id: Option<&'a str>,
    /// `delivery`, `decision`, `action`, `action_failed`.
    pub kind: &'a str,
    pub rules_hash: Option<&'a str>,
    pub detail: serde_json::Value,
}

/// The key that serializes work on one change.
pub fn change_key(c: &ChangeEvent) -> String {
    format!(
        "{}:{}:{}:{}",
        c.change.forge,
        c.change.repo.path.as_str().to_lowercase(),
        c.change.kind.as_str(),
        c.change.number
    )
}

impl Store {
    /// Opens (creating if needed) the database at `url` and applies migrations.
    pub async fn open(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)
            .with_context(|| format!("invalid database.url `{url}`"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a delivery acknowledged is on disk, even across a power loss.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .with_context(|| format!("cannot open the database at `{url}`"))?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .context("cannot apply database migrations")?;
        Ok(Store { pool })
    }

    /// Stores a change event and queues its job in one transaction.
    pub async fn enqueue(&self, event: &Event, change: &ChangeEvent) -> Result<Enqueued> {
        let now = now_ms();
        let json = serde_json::to_string(event).context("cannot serialize event")?;
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "INSERT INTO deliveries (forge, delivery_id, event_name, received_at, event_json)
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (forge, delivery_id) DO NOTHING RETURNING id",
        )
        .bind(event.forge.as_str())
        .bind(&event.delivery_id)
        .bind(&event.event_name)
        .bind(now)
        .bind(&json)
        .fetch_optional(&mut *tx)
        .await
        .context("cannot store delivery")?;
        let Some(row) = row else {
            return Ok(Enqueued::Duplicate);
        };
        let delivery: i64 = row.get(0);
        let job_id: i64 = sqlx::query(
            "INSERT INTO jobs (delivery, change_key, run_after, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(delivery)
        .bind(change_key(change))
        .bind(now)
        .bind(now)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .context("cannot queue job")?
        .get(0);
        tx.commit().await.context("cannot commit delivery")?;
        Ok(Enqueued::New { job_id })
    }

    /// Claims the next runnable job: the oldest pending job of a change that has no older
    /// unfinished job, or a running job whose lease expired (its worker died).
    pub async fn claim(&self, lease: Duration) -> Result<Option<Job>> {
        let now = now_ms();
        let until = now + lease.as_millis() as i64;
        let row = sqlx::query(
            "UPDATE jobs SET state = 'running', locked_until = ?1, attempts = attempts + 1, updated_at = ?2
             WHERE id = (
               SELECT j.id FROM jobs j
               WHERE ((j.state = 'queued' AND j.run_after <= ?2)
                      OR (j.state = 'running' AND j.locked_until <= ?2))
                 AND NOT EXISTS (SELECT 1 FROM jobs k WHERE k.change_key = j.change_key
                                 AND k.id < j.id AND k.state IN ('queued', 'running'))
               ORDER BY j.id LIMIT 1)
             RETURNING id, attempts, delivery",
        )
        .bind(until)
        .bind(now)
        .fetch_optional(&self.pool)
        .await
        .context("cannot claim a job")?;
        let Some(row) = row else { return Ok(None) };
        let (id, attempts, delivery): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
        let row = sqlx::query("SELECT event_json, received_at FROM deliveries WHERE id = ?")
            .bind(delivery)
            .fetch_one(&self.pool)
            .await
            .context("cannot read the job's delivery")?;
        let (json, received_at): (String, i64) = (row.get(0), row.get(1));
        let event: Event = serde_json::from_str(&json).context("stored event is unreadable")?;
        Ok(Some(Job {
            id,
            attempts,
            received_at,
            event,
        }))
    }

    /// Keeps a running job reserved to its worker (called while the job runs).
    pub async fn extend_lease(&self, job_id: i64, lease: Duration) -> Result<()> {
        sqlx::query("UPDATE jobs SET locked_until = ? WHERE id = ? AND state = 'running'")
            .bind(now_ms() + lease.as_millis() as i64)
            .bind(job_id)
            .execute(&self.pool)
            .await
            .context("cannot extend job lease")?;
        Ok(())
    }

    pub async fn complete(&self, job_id: i64) -> Result<()> {
        sqlx::query(
            "UPDATE jobs SET state = 'done', last_error = NULL, updated_at = ? WHERE id = ?",
        )
        .bind(now_ms())
        .bind(job_id)
        .execute(&self.pool)
        .await
        .context("cannot mark job done")?;
        Ok(())
    }

    /// Records a failure: queued again at `retry_at`, or left `failed` (visible in
    /// `changegate jobs`) when there is no retry.
    pub async fn fail(&self, job_id: i64, error: &str, retry_at: Option<i64>) -> Result<()> {
        let (state, run_after) = match retry_at {
            Some(t) => ("queued", t),
            None => ("failed", now_ms()),
        };
        sqlx::query(
            "UPDATE jobs SET state = ?, run_after = ?, last_error = ?, updated_at = ? WHERE id = ?",
        )
        .bind(state)
        .bind(run_after)
        .bind(error)
        .bind(now_ms())
        .bind(job_id)
        .execute(&self.pool)
        .await
        .context("cannot record job failure")?;
        Ok(())
    }

    /// Jobs not done, oldest first (`changegate jobs`).
    pub async fn unfinished_jobs(&self) -> Result<Vec<JobRow>> {
        let rows = sqlx::query(
            "SELECT j.id, j.change_key, j.state, j.attempts, j.last_error, d.delivery_id
             FROM jobs j JOIN deliveries d ON d.id = j.delivery
             WHERE j.state != 'done' ORDER BY j.id",
        )
        .fetch_all(&self.pool)
        .await
        .context("cannot list jobs")?;
        Ok(rows
            .into_iter()
            .map(|r| JobRow {
                id: r.get(0),
                change_key: r.get(1),
                state: r.get(2),
                attempts: r.get(3),
                last_error: r.get(4),
                delivery_id: r.get(5),
            })
            .collect())
    }

    /// Queues a failed job again, with its attempts reset (`changegate retry ID`).
    pub async fn retry(&self, job_id: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'queued', attempts = 0, run_after = ?, updated_at = ? WHERE id = ? AND state = 'failed'",
        )
        .bind(now_ms())
        .bind(now_ms())
        .bind(job_id)
        .execute(&self.pool)
        .await
        .context("cannot requeue job")?;
        Ok(done.rows_affected() == 1)
    }

    /// Jobs queued or running (tests drain the queue until this is zero).
    pub async fn pending(&self) -> Result<i64> {
        let n =
            sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')")
                .fetch_one(&self.pool)
                .await?;
        Ok(n)
    }

    pub async fn audit(&self, r: &AuditRecord<'_>) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit (at, forge, repo, number, delivery_id, kind, rules_hash, detail)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(now_ms())
        .bind(r.forge)
        .bind(r.repo)
        .bind(r.number as i64)
        .bind(r.delivery_id)
        .bind(r.kind)
        .bind(r.rules_hash)
        .bind(r.detail.to_string())
        .execute(&self.pool)
        .await
        .context("cannot write audit record")?;
        Ok(())
    }

    /// Audit records of one change, oldest first, as (kind, detail).
    pub async fn audit_of(
        &self,
        forge: &str,
        repo: &str,
        number: u64,
    ) -> Result<Vec<(String, serde_json::Value)>> {
        let rows = sqlx::query("SELECT kind, detail FROM audit WHERE forge = ? AND repo = ? AND number = ? ORDER BY id")
            .bind(forge)
            .bind(repo)
            .bind(number as i64)
            .fetch_all(&self.pool)
            .await
            .context("cannot read audit log")?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let detail: String = r.get(1);
                (r.get(0), serde_json::from_str(&detail).unwrap_or_default())
            })
            .collect())
    }

    /// Records the change's current head and returns when it last moved: at `pushed_at` when
    /// the event reports a push, now when the head differs from the one seen before, else as
    /// remembered (`None` while no move was ever seen).
    pub async fn note_head(
        &self,
        key: &str,
        head: Option<&str>,
        pushed_at: Option<i64>,
    ) -> Result<Option<i64>> {
        let row =
            sqlx::query("SELECT head_sha, head_changed_at FROM change_memory WHERE change_key = ?")
                .bind(key)
                .fetch_optional(&self.pool)
                .await
                .context("cannot read change memory")?;
        let (old_head, old_at): (Option<String>, Option<i64>) = match &row {
            Some(r) => (r.get(0), r.get(1)),
            None => (None, None),
        };
        let moved = row.is_some() && old_head.as_deref() != head;
        let changed_at = match (pushed_at, moved) {
            (Some(t), _) => Some(old_at.map_or(t, |o| o.max(t))),
            (None, true) => Some(now_ms()),
            (None, false) => old_at,
        };
        sqlx::query(
            "INSERT INTO change_memory (change_key, head_sha, head_changed_at, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (change_key) DO UPDATE SET head_sha = ?2, head_changed_at = ?3, updated_at = ?4",
        )
        .bind(key)
        .bind(head)
        .bind(changed_at)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .context("cannot write change memory")?;
        Ok(changed_at)
    }

    /// Whether this exact status was the last one written for the change.
    pub async fn status_is_current(
        &self,
        key: &str,
        sha: &str,
        state: &str,
        description: &str,
    ) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM change_memory WHERE change_key = ? AND status_sha = ? AND status_state = ? AND status_description = ?",
        )
        .bind(key)
        .bind(sha)
        .bind(state)
        .bind(description)
        .fetch_one(&self.pool)
        .await
        .context("cannot read change memory")?;
        Ok(n > 0)
    }

    pub async fn remember_status(
        &self,
        key: &str,
        sha: &str,
        state: &str,
        description: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO change_memory (change_key, status_sha, status_state, status_description, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (change_key) DO UPDATE SET status_sha = ?2, status_state = ?3, status_description = ?4, updated_at = ?5",
        )
        .bind(key)
        .bind(sha)
        .bind(state)
        .bind(description)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .context("cannot write change memory")?;
        Ok(())
    }

    /// Whether the database answers (for readiness).
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}
