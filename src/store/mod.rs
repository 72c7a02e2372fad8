//! Durable state: deliveries (dedup), the job queue, change memory and the audit log.
//! SQLite embedded by default; PostgreSQL (`postgres://…`) for several replicas. One set of
//! queries through sqlx's `Any` driver; only the job claim differs (`FOR UPDATE SKIP LOCKED`).

mod audit;
mod batch;
mod memory;

pub use audit::{AuditRecord, AuditRow};
pub use batch::DeliveryWriter;
pub use memory::Verdict;

use crate::model::{Change, ChangeEvent, Event};
use anyhow::{Context, Result};
use serde::Serialize;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor, Row};
use std::str::FromStr;
use std::time::Duration;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

/// What storing a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// Stored, with a job to process it.
    New { job_id: i64 },
    /// The forge's delivery id was seen before: acknowledged, not processed again.
    Duplicate,
}

/// Webhook work goes before reconcile work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    Webhook = 0,
    Reconcile = 1,
}

/// A claimed job with its event.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: i64,
    pub attempts: i64,
    /// When the delivery was stored, in milliseconds since the epoch.
    pub received_at: i64,
    /// When the latest push among this job and the ones it covers was received.
    pub pushed_at: Option<i64>,
    pub event: Event,
    /// The older events of the change folded into this run, oldest first.
    pub covered: Vec<Event>,
}

/// A job as `changegate jobs` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct JobRow {
    pub id: i64,
    pub change_key: String,
    pub state: String,
    pub attempts: i64,
    pub writes: i64,
    /// The job whose run covered this one (a newer event of the same change).
    pub covered_by: Option<i64>,
    pub last_error: Option<String>,
    pub delivery_id: Option<String>,
}

/// The key that serializes work on one change.
pub fn change_key(c: &ChangeEvent) -> String {
    key_of(&c.change)
}

/// The key of a change's memory (`forge:path:kind:number`).
pub fn key_of(c: &Change) -> String {
    format!(
        "{}:{}:{}:{}",
        c.forge,
        c.repo.path.as_str().to_lowercase(),
        c.kind.as_str(),
        c.number
    )
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Opens (creating if needed) the database at `url` and applies migrations.
    pub async fn open(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            anyhow::bail!(
                "database.url `{}` must start with sqlite:// or postgres://",
                redact(url)
            );
        };
        let url = match backend {
            Backend::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_string(),
        };
        let options = AnyConnectOptions::from_str(&url)
            .with_context(|| format!("invalid database.url `{}`", redact(&url)))?;
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL for concurrent readers; FULL: an acknowledged delivery survives a
                        // power loss; busy_timeout: writers wait instead of failing.
                        conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;")
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await
            .with_context(|| format!("cannot open the database at `{}`", redact(&url)))?;
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&pool)
            .await
            .context("cannot apply database migrations")?;
        Ok(Store { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Stores a change event and queues its job in one transaction.
    pub async fn enqueue(&self, event: &Event) -> Result<Enqueued> {
        self.enqueue_with(event, Priority::Webhook).await
    }

    pub async fn enqueue_with(&self, event: &Event, priority: Priority) -> Result<Enqueued> {
        let mut results = self.enqueue_batch(&[event], priority).await?;
        results.pop().context("no result for the delivery")
    }

    /// Stores change events and queues their jobs in one transaction, in order; a delivery id
    /// seen before (or twice in the batch) is a duplicate.
    pub async fn enqueue_batch(
        &self,
        events: &[&Event],
        priority: Priority,
    ) -> Result<Vec<Enqueued>> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let mut out = Vec::with_capacity(events.len());
        for event in events {
            let Some(change) = event.change() else {
                anyhow::bail!("only change events are queued");
            };
            let json = serde_json::to_string(event).context("cannot serialize event")?;
            let row = sqlx::query(
                "INSERT INTO deliveries (forge, delivery_id, event_name, received_at, event_json)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (forge, delivery_id) DO NOTHING RETURNING id",
            )
            .bind(event.forge.as_str())
            .bind(event.delivery_id.clone())
            .bind(event.event_name.clone())
            .bind(now)
            .bind(json)
            .fetch_optional(&mut *tx)
            .await
            .context("cannot store delivery")?;
            let Some(row) = row else {
                out.push(Enqueued::Duplicate);
                continue;
            };
            let delivery: i64 = row.try_get(0)?;
            let job_id: i64 = sqlx::query(
                "INSERT INTO jobs (delivery, change_key, priority, pushed, run_after, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $5, $5) RETURNING id",
            )
            .bind(delivery)
            .bind(change_key(change))
            .bind(priority as i64)
            .bind(i64::from(change.action == crate::model::Action::Pushed))
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .context("cannot queue job")?
            .try_get(0)?;
            out.push(Enqueued::New { job_id });
        }
        tx.commit().await.context("cannot commit deliveries")?;
        Ok(out)
    }

    /// Whether a job for the change is waiting or running (reconcile does not queue another).
    pub async fn has_pending(&self, key: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM jobs WHERE change_key = $1 AND state IN ('queued', 'running')",
        )
        .bind(key.to_string())
        .fetch_one(&self.pool)
        .await?;
        Ok(n > 0)
    }

    /// Claims the next runnable job: the oldest pending job of a change that has no older
    /// unfinished job, or a running job whose lease expired (its worker died); webhook work
    /// first. On PostgreSQL the row lock keeps two replicas off the same job.
    ///
    /// Newer jobs of the same change already queued are covered by one run: the newest is the
    /// one run (the worker reads the forge's current state after every one of them was stored)
    /// and the others are marked done, covered by it. A burst of events for one change costs
    /// one evaluation.
    pub async fn claim(&self, lease: Duration) -> Result<Option<Job>> {
        let now = now_ms();
        let lock = match self.backend {
            Backend::Postgres => "FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let until = now + lease.as_millis() as i64;
        // The transaction starts with a write, so that SQLite takes its write lock first (a
        // read first would make a concurrent commit fail it instead of waiting).
        let mut tx = self.pool.begin().await?;
        let claimed = sqlx::query(&format!(
            "UPDATE jobs SET state = 'running', locked_until = $1, attempts = attempts + 1, updated_at = $2
             WHERE id = (
               SELECT j.id FROM jobs j
               WHERE ((j.state = 'queued' AND j.run_after <= $2)
                      OR (j.state = 'running' AND j.locked_until <= $2))
                 AND NOT EXISTS (SELECT 1 FROM jobs k WHERE k.change_key = j.change_key
                                 AND k.state IN ('queued', 'running') AND k.id < j.id)
               ORDER BY j.priority, j.id LIMIT 1 {lock})
             RETURNING id, change_key, attempts, delivery"
        ))
        .bind(until)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .context("cannot claim a job")?;
        let Some(claimed) = claimed else {
            return Ok(None);
        };
        let first: i64 = claimed.try_get(0)?;
        let key: String = claimed.try_get(1)?;
        let newest: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM jobs WHERE change_key = $1 AND state = 'queued' AND id > $2 ORDER BY id DESC LIMIT 1",
        )
        .bind(key.clone())
        .bind(first)
        .fetch_optional(&mut *tx)
        .await
        .context("cannot claim a job")?;
        let (id, row) = match newest {
            None => (first, claimed),
            Some(id) => {
                // What earlier runs had covered is now covered by this one: a job's covered
                // set is always every event folded into its run.
                sqlx::query(
                    "UPDATE jobs SET covered_by = $1 WHERE covered_by IN
                       (SELECT id FROM jobs WHERE change_key = $2 AND id >= $3 AND id < $1)",
                )
                .bind(id)
                .bind(key.clone())
                .bind(first)
                .execute(&mut *tx)
                .await
                .context("cannot mark covered jobs")?;
                sqlx::query(
                    "UPDATE jobs SET state = 'done', covered_by = $1, updated_at = $2
                     WHERE change_key = $3 AND id >= $4 AND id < $1 AND state IN ('queued', 'running')",
                )
                .bind(id)
                .bind(now)
                .bind(key)
                .bind(first)
                .execute(&mut *tx)
                .await
                .context("cannot mark covered jobs")?;
                let row = sqlx::query(
                    "UPDATE jobs SET state = 'running', locked_until = $1, attempts = attempts + 1, updated_at = $2
                     WHERE id = $3 RETURNING id, change_key, attempts, delivery",
                )
                .bind(until)
                .bind(now)
                .bind(id)
                .fetch_one(&mut *tx)
                .await
                .context("cannot claim a job")?;
                (id, row)
            }
        };
        let (attempts, delivery): (i64, i64) = (row.try_get(2)?, row.try_get(3)?);
        let row = sqlx::query("SELECT event_json, received_at FROM deliveries WHERE id = $1")
            .bind(delivery)
            .fetch_one(&mut *tx)
            .await
            .context("cannot read the job's delivery")?;
        let (json, received_at): (String, i64) = (row.try_get(0)?, row.try_get(1)?);
        // The latest push among the job and those it covers: approvals before it are stale.
        let pushed_at: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(d.received_at) FROM jobs j JOIN deliveries d ON d.id = j.delivery
             WHERE (j.id = $1 OR j.covered_by = $1) AND j.pushed = 1",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .context("cannot read covered pushes")?;
        let covered: Vec<String> = sqlx::query_scalar(
            "SELECT d.event_json FROM jobs j JOIN deliveries d ON d.id = j.delivery
             WHERE j.covered_by = $1 ORDER BY j.id",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await
        .context("cannot read covered events")?;
        tx.commit().await.context("cannot claim a job")?;
        let event: Event = serde_json::from_str(&json).context("stored event is unreadable")?;
        let covered = covered
            .iter()
            .map(|j| serde_json::from_str(j).context("stored event is unreadable"))
            .collect::<Result<Vec<Event>>>()?;
        Ok(Some(Job {
            id,
            attempts,
            received_at,
            pushed_at,
            event,
            covered,
        }))
    }

    /// Keeps a running job reserved to its worker (called while the job runs).
    pub async fn extend_lease(&self, job_id: i64, lease: Duration) -> Result<()> {
        sqlx::query("UPDATE jobs SET locked_until = $1 WHERE id = $2 AND state = 'running'")
            .bind(now_ms() + lease.as_millis() as i64)
            .bind(job_id)
            .execute(&self.pool)
            .await
            .context("cannot extend job lease")?;
        Ok(())
    }

    /// Marks a job done, with how many forge writes it made.
    pub async fn complete(&self, job_id: i64, writes: i64) -> Result<()> {
        sqlx::query("UPDATE jobs SET state = 'done', writes = $1, last_error = NULL, updated_at = $2 WHERE id = $3")
            .bind(writes)
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
        sqlx::query("UPDATE jobs SET state = $1, run_after = $2, last_error = $3, updated_at = $4 WHERE id = $5")
            .bind(state)
            .bind(run_after)
            .bind(error.to_string())
            .bind(now_ms())
            .bind(job_id)
            .execute(&self.pool)
            .await
            .context("cannot record job failure")?;
        Ok(())
    }

    /// A single SQLite file serves one process: jobs it was running when it died can be
    /// taken again at once instead of after their lease.
    pub async fn release_orphans(&self) -> Result<u64> {
        if self.backend != Backend::Sqlite {
            return Ok(0);
        }
        let done = sqlx::query(
            "UPDATE jobs SET state = 'queued', locked_until = 0 WHERE state = 'running'",
        )
        .execute(&self.pool)
        .await
        .context("cannot release orphaned jobs")?;
        Ok(done.rows_affected())
    }

    /// Jobs not done, oldest first (`changegate jobs`).
    pub async fn unfinished_jobs(&self) -> Result<Vec<JobRow>> {
        self.jobs_where("j.state != 'done'").await
    }

    /// The jobs with these ids (reconcile waits for its own).
    pub async fn jobs_by_id(&self, ids: &[i64]) -> Result<Vec<JobRow>> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let list: Vec<String> = ids.iter().map(i64::to_string).collect();
        self.jobs_where(&format!("j.id IN ({})", list.join(",")))
            .await
    }

    async fn jobs_where(&self, condition: &str) -> Result<Vec<JobRow>> {
        let sql = format!(
            "SELECT j.id, j.change_key, j.state, j.attempts, j.writes, j.last_error, d.delivery_id, j.covered_by
             FROM jobs j JOIN deliveries d ON d.id = j.delivery WHERE {condition} ORDER BY j.id"
        );
        let rows = sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await
            .context("cannot list jobs")?;
        rows.into_iter()
            .map(|r| {
                Ok(JobRow {
                    id: r.try_get(0)?,
                    change_key: r.try_get(1)?,
                    state: r.try_get(2)?,
                    attempts: r.try_get(3)?,
                    writes: r.try_get(4)?,
                    last_error: r.try_get(5)?,
                    delivery_id: r.try_get(6)?,
                    covered_by: r.try_get(7)?,
                })
            })
            .collect()
    }

    /// Queues a failed job again, with its attempts reset (`changegate retry ID`).
    pub async fn retry(&self, job_id: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'queued', attempts = 0, run_after = $1, updated_at = $1 WHERE id = $2 AND state = 'failed'",
        )
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

    /// Jobs queued or running, and the age in seconds of the oldest waiting one.
    pub async fn queue_stats(&self) -> Result<(i64, f64)> {
        let row = sqlx::query(
            "SELECT COUNT(*), MIN(created_at) FROM jobs WHERE state IN ('queued', 'running')",
        )
        .fetch_one(&self.pool)
        .await
        .context("cannot read the queue")?;
        let (depth, oldest): (i64, Option<i64>) = (row.try_get(0)?, row.try_get(1)?);
        let age = oldest.map_or(0.0, |t| (now_ms() - t).max(0) as f64 / 1000.0);
        Ok((depth, age))
    }

    /// Whether the database answers (for readiness).
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

/// A database URL without its password (in the user info or a `password=` parameter), for
/// messages.
fn redact(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = match (base.find("://"), base.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &base[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &base[..scheme + 3], &base[at..])
        }
        _ => base.to_string(),
    };
    if let Some(q) = query {
        let params: Vec<String> = q
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => kv.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_never_print() {
        assert_eq!(
            super::redact("postgres://bot:s3cret@db:5432/cg"),
            "postgres://bot:***@db:5432/cg"
        );
        assert_eq!(super::redact("sqlite://x.db"), "sqlite://x.db");
        assert_eq!(
            super::redact("postgres://db/cg?user=bot&password=s3cret&sslmode=require"),
            "postgres://db/cg?user=bot&password=***&sslmode=require"
        );
        assert_eq!(
            super::redact("postgres://bot:a@b@db/cg?PASSWORD=x"),
            "postgres://bot:***@db/cg?PASSWORD=***"
        );
        assert_eq!(
            super::redact("sqlite://x.db?mode=rwc"),
            "sqlite://x.db?mode=rwc"
        );
    }

    #[test]
    fn migrations_are_kept_equivalent() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let names = |d: &str| {
            let mut v: Vec<String> = std::fs::read_dir(dir.join(d))
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
            v.sort();
            v
        };
        assert_eq!(names("sqlite"), names("postgres"));
        for name in names("sqlite") {
            let norm = |d: &str| {
                std::fs::read_to_string(dir.join(d).join(&name))
                    .unwrap()
                    .replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY")
                    .lines()
                    .filter(|l| !l.starts_with("-- Kept equivalent"))
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            assert_eq!(
                norm("sqlite"),
                norm("postgres"),
                "{name} differs beyond the id column type"
            );
        }
    }
}
