//! The job queue: claims (one change at a time, webhook work first, leases), coverage of a
//! change's queued events by one run, failures and retries, and the listings `changegate jobs`
//! shows.

use super::direct::JobEnd;
use super::{Backend, Store};
use crate::model::Event;
use anyhow::{Context, Result};
use serde::Serialize;
use sqlx::Row;
use std::time::Duration;

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
    /// The heads this job's events report arriving (opened, reopened, pushed), each with when
    /// its delivery was received.
    pub arrivals: Vec<(String, i64)>,
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
    /// For a timer: when it is due, in milliseconds since the epoch.
    pub due: Option<i64>,
}

impl Store {
    /// Whether a job for the change is waiting or running (reconcile does not queue another);
    /// a timer not yet due does not count.
    pub async fn has_pending(&self, key: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM jobs WHERE change_key = $1 AND state IN ('running', 'queued')
               AND (state = 'running' OR timer = 0 OR run_after <= $2)",
        )
        .bind(key.to_string())
        .bind(self.now_ms())
        .fetch_one(&self.reads)
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
        self.claim_except(lease, &[]).await
    }

    /// [`Self::claim`], leaving the reconcile work of `paused` forges queued (their rate
    /// limit is under the reserve: webhook work goes on).
    pub async fn claim_except(
        &self,
        lease: Duration,
        paused: &[crate::model::Forge],
    ) -> Result<Option<Job>> {
        let now = self.now_ms();
        let until = now + lease.as_millis() as i64;
        if !any_runnable(&self.reads, now, paused).await? {
            return Ok(None);
        }
        let id = match &self.direct {
            Some(direct) => direct.claim(take_sql("", paused), now, until).await?,
            None => self.claim_in_pool(now, until, paused).await?,
        };
        let Some(id) = id else {
            return Ok(None);
        };
        // The job, its event and the events it covers are read after the commit: the write
        // gate (and the deliveries waiting for it) need not wait for them, and no other claim
        // takes or covers them again while this job holds its lease.
        let claimed = load(&self.reads, id).await?;
        claimed.with_covered(&self.reads).await.map(Some)
    }

    /// The claim's transaction through the pool (PostgreSQL): the id that runs.
    async fn claim_in_pool(
        &self,
        now: i64,
        until: i64,
        paused: &[crate::model::Forge],
    ) -> Result<Option<i64>> {
        // The transaction starts with a write, so that SQLite takes its write lock first (a
        // read first would make a concurrent commit fail it instead of waiting).
        let mut w = self.writer().await?;
        let mut tx = sqlx::Connection::begin(&mut *w).await?;
        let Some((first, key)) = take_next(&mut tx, self.backend, now, until, paused).await? else {
            return Ok(None);
        };
        let id = cover_newer(&mut tx, first, &key, now, until).await?;
        tx.commit().await.context("cannot claim a job")?;
        Ok(Some(id))
    }

    /// Keeps a running job reserved to its worker (called while the job runs).
    pub async fn extend_lease(&self, job_id: i64, lease: Duration) -> Result<()> {
        sqlx::query("UPDATE jobs SET locked_until = $1 WHERE id = $2 AND state = 'running'")
            .bind(self.now_ms() + lease.as_millis() as i64)
            .bind(job_id)
            .execute(&mut *self.writer().await?)
            .await
            .context("cannot extend job lease")?;
        Ok(())
    }

    /// Marks a job done, with how many forge writes it made and quota units it spent.
    pub async fn complete(&self, job_id: i64, writes: i64, units: i64) -> Result<()> {
        self.complete_with_audit(job_id, writes, units, &[]).await
    }

    /// [`Self::complete`], with the job's audit records not written yet, in one transaction.
    pub async fn complete_with_audit(
        &self,
        job_id: i64,
        writes: i64,
        units: i64,
        audit: &[super::AuditRecord<'_>],
    ) -> Result<()> {
        let now = self.now_ms();
        if let Some(direct) = &self.direct {
            let end = JobEnd::Done { writes, units };
            return direct
                .end(job_id, end, audit, now)
                .await
                .context("cannot mark job done");
        }
        let done = sqlx::query(DONE)
            .bind(writes)
            .bind(now)
            .bind(job_id)
            .bind(units);
        self.with_audit(done, audit, now)
            .await
            .context("cannot mark job done")
    }

    /// Records a failure: queued again at `retry_at`, or left `failed` (visible in
    /// `changegate jobs`) when there is no retry.
    pub async fn fail(&self, job_id: i64, error: &str, retry_at: Option<i64>) -> Result<()> {
        self.fail_with_audit(job_id, error, retry_at, &[]).await
    }

    /// [`Self::fail`], with the job's audit records not written yet, in one transaction.
    pub async fn fail_with_audit(
        &self,
        job_id: i64,
        error: &str,
        retry_at: Option<i64>,
        audit: &[super::AuditRecord<'_>],
    ) -> Result<()> {
        let now = self.now_ms();
        let (state, run_after) = match retry_at {
            Some(t) => ("queued", t),
            None => ("failed", now),
        };
        if let Some(direct) = &self.direct {
            let end = JobEnd::Failed {
                state,
                run_after,
                error: error.to_string(),
            };
            return direct
                .end(job_id, end, audit, now)
                .await
                .context("cannot record job failure");
        }
        let failed = sqlx::query(FAILED)
            .bind(state)
            .bind(run_after)
            .bind(error.to_string())
            .bind(now)
            .bind(job_id);
        self.with_audit(failed, audit, now)
            .await
            .context("cannot record job failure")
    }

    /// Runs a job's final update, with its audit records in the same transaction when it has
    /// any (alone it is one statement, no transaction around it).
    async fn with_audit<'q>(
        &self,
        update: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
        audit: &[super::AuditRecord<'_>],
        now: i64,
    ) -> Result<()> {
        if audit.is_empty() {
            update.execute(&mut *self.writer().await?).await?;
            return Ok(());
        }
        let mut w = self.writer().await?;
        let mut tx = sqlx::Connection::begin(&mut *w).await?;
        super::audit::append(&mut tx, audit, now).await?;
        update.execute(&mut *tx).await?;
        tx.commit().await?;
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
        .execute(&mut *self.writer().await?)
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
            "SELECT j.id, j.change_key, j.state, j.attempts, j.writes, j.last_error, d.delivery_id, j.covered_by,
                    CASE WHEN j.timer = 1 THEN j.run_after ELSE NULL END
             FROM jobs j JOIN deliveries d ON d.id = j.delivery WHERE {condition} ORDER BY j.id"
        );
        let rows = sqlx::query(&sql)
            .fetch_all(&self.reads)
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
                    due: r.try_get(8)?,
                })
            })
            .collect()
    }

    /// Queues a failed job again, with its attempts reset (`changegate retry ID`).
    pub async fn retry(&self, job_id: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE jobs SET state = 'queued', attempts = 0, run_after = $1, updated_at = $1 WHERE id = $2 AND state = 'failed'",
        )
        .bind(self.now_ms())
        .bind(job_id)
        .execute(&mut *self.writer().await?)
        .await
        .context("cannot requeue job")?;
        Ok(done.rows_affected() == 1)
    }

    /// Records the GraphQL points job `job_id` spent (GitHub bills them apart from units).
    pub async fn note_points(&self, job_id: i64, points: i64) -> Result<()> {
        sqlx::query("UPDATE jobs SET points = $1 WHERE id = $2")
            .bind(points)
            .bind(job_id)
            .execute(&mut *self.writer().await?)
            .await
            .context("cannot record the job's GraphQL points")?;
        Ok(())
    }

    /// Per forge over the last `window_ms`: events handled, REST units and GraphQL points
    /// their runs spent (`changegate jobs --stats`).
    pub async fn quota_stats(&self, window_ms: i64) -> Result<Vec<(String, i64, i64, i64)>> {
        let rows = sqlx::query(
            "SELECT CASE WHEN change_key LIKE 'github:%' THEN 'github' ELSE 'gitlab' END AS forge,
                    COUNT(*), COALESCE(SUM(units), 0), COALESCE(SUM(points), 0)
             FROM jobs WHERE state = 'done' AND timer = 0 AND updated_at >= $1
             GROUP BY CASE WHEN change_key LIKE 'github:%' THEN 'github' ELSE 'gitlab' END
             ORDER BY 1",
        )
        .bind(self.now_ms() - window_ms)
        .fetch_all(&self.reads)
        .await
        .context("cannot read job statistics")?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?)))
            .collect()
    }

    /// Jobs queued or running, timers not yet due aside (tests drain the queue until this is
    /// zero).
    pub async fn pending(&self) -> Result<i64> {
        let n = sqlx::query_scalar(
            "SELECT COUNT(*) FROM jobs
             WHERE state = 'running' OR (state = 'queued' AND (timer = 0 OR run_after <= $1))",
        )
        .bind(self.now_ms())
        .fetch_one(&self.reads)
        .await?;
        Ok(n)
    }

    /// Jobs queued or running, timers not yet due aside, and the age in seconds of the oldest
    /// waiting one (a timer's age counts from its time).
    pub async fn queue_stats(&self) -> Result<(i64, f64)> {
        let row = sqlx::query(
            "SELECT COUNT(*), MIN(CASE WHEN timer = 1 THEN run_after ELSE created_at END)
             FROM jobs WHERE state = 'running' OR (state = 'queued' AND (timer = 0 OR run_after <= $1))",
        )
        .bind(self.now_ms())
        .fetch_one(&self.reads)
        .await
        .context("cannot read the queue")?;
        let (depth, oldest): (i64, Option<i64>) = (row.try_get(0)?, row.try_get(1)?);
        let age = oldest.map_or(0.0, |t| (self.now_ms() - t).max(0) as f64 / 1000.0);
        Ok((depth, age))
    }
}

type Conn = sqlx::AnyConnection;

/// Job $3 is done ($1 forge writes, $4 quota units; $2: now).
pub(super) const DONE: &str = "UPDATE jobs SET state = 'done', writes = $1, units = $4, last_error = NULL, updated_at = $2 WHERE id = $3";

/// Job $5 failed with error $3: state $1 (queued again, or failed), due at $2 ($4: now).
pub(super) const FAILED: &str =
    "UPDATE jobs SET state = $1, run_after = $2, last_error = $3, updated_at = $4 WHERE id = $5";

/// Marks the next runnable job running (the oldest pending job of a change with no older
/// unfinished job, or a running one whose lease expired; webhook work first): id and change.
async fn take_next(
    conn: &mut Conn,
    backend: Backend,
    now: i64,
    until: i64,
    paused: &[crate::model::Forge],
) -> Result<Option<(i64, String)>> {
    let lock = match backend {
        Backend::Postgres => "FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let claimed = sqlx::query(&take_sql(lock, paused))
        .bind(until)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await
        .context("cannot claim a job")?;
    claimed
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
        .transpose()
}

/// Marks the next runnable job running ($1: its lease's end, $2: now): its id and change.
pub(super) fn take_sql(lock: &str, paused: &[crate::model::Forge]) -> String {
    format!(
        "UPDATE jobs SET state = 'running', locked_until = $1, attempts = attempts + 1, updated_at = $2
         WHERE id = ({} {lock})
         RETURNING id, change_key",
        runnable("$2", &paused_filter(paused))
    )
}

/// Leaves the reconcile work (priority 1) of `paused` forges out.
fn paused_filter(paused: &[crate::model::Forge]) -> String {
    // The change key starts with the forge's name (a fixed word, never user input).
    paused
        .iter()
        .map(|f| {
            format!(
                " AND NOT (j.priority > 0 AND j.change_key LIKE '{}:%')",
                f.as_str()
            )
        })
        .collect()
}

/// The next runnable job's id (`now` names the parameter holding the time): the oldest pending
/// job of a change with no older unfinished job and no job running under a live lease, or a
/// running one whose lease expired; webhook work first. The changes at work are listed once,
/// not asked per queued job: a busy change with a long backlog (a burst of deliveries) must not
/// make every claim scan it. (`run_after + 0`: SQLite would otherwise answer "an older queued
/// job of the change?" from the due-time index, every queued job of every change, instead of
/// the change's own.)
fn runnable(now: &str, paused: &str) -> String {
    format!(
        "SELECT j.id FROM jobs j
           WHERE ((j.state = 'queued' AND j.run_after <= {now})
                  OR (j.state = 'running' AND j.locked_until <= {now}))
             AND j.change_key NOT IN (SELECT r.change_key FROM jobs r
                                      WHERE r.state = 'running' AND r.locked_until > {now})
             AND NOT EXISTS (SELECT 1 FROM jobs k WHERE k.change_key = j.change_key
                             AND k.state = 'running' AND k.id < j.id)
             AND NOT EXISTS (SELECT 1 FROM jobs k WHERE k.change_key = j.change_key
                             AND k.state = 'queued' AND k.id < j.id AND k.run_after + 0 <= {now}){paused}
           ORDER BY j.priority, j.id LIMIT 1"
    )
}

/// Whether a job is runnable now, read without taking the write lock (SQLite's WAL lets readers
/// run beside the writer): idle workers polling an empty or busy queue never hold up the
/// deliveries' commits.
async fn any_runnable(
    pool: &sqlx::AnyPool,
    now: i64,
    paused: &[crate::model::Forge],
) -> Result<bool> {
    let found: Option<i64> = sqlx::query_scalar(&runnable("$1", &paused_filter(paused)))
        .bind(now)
        .fetch_optional(pool)
        .await
        .context("cannot read the queue")?;
    Ok(found.is_some())
}

/// Newer jobs of one change folded into one run at most.
pub(super) const COVER_AT_ONCE: i64 = 256;

/// The newest of at most COVER_AT_ONCE queued jobs of change $1 newer than job $2, due by $3
/// ($4 = COVER_AT_ONCE).
pub(super) const COVER_NEWEST: &str =
    "SELECT MAX(id) FROM (SELECT id FROM jobs WHERE change_key = $1 AND state = 'queued'
           AND id > $2 AND run_after <= $3 ORDER BY id LIMIT $4) AS newer";

/// Jobs covered by runs from job $3 on, of change $2, are covered by job $1.
pub(super) const COVER_REPOINT: &str = "UPDATE jobs SET covered_by = $1
         WHERE covered_by >= $3 AND covered_by < $1 AND change_key || '' = $2";

/// Job $1 runs (lease until $5) and the jobs of change $3 from $4 to it are done, covered by
/// it ($2: now).
pub(super) const COVER_TAKE: &str = "UPDATE jobs SET
           state = CASE WHEN id = $1 THEN 'running' ELSE 'done' END,
           covered_by = CASE WHEN id = $1 THEN covered_by ELSE $1 END,
           locked_until = CASE WHEN id = $1 THEN $5 ELSE locked_until END,
           attempts = CASE WHEN id = $1 THEN attempts + 1 ELSE attempts END,
           updated_at = $2
         WHERE change_key = $3 AND id >= $4 AND id <= $1
           AND (state = 'running' OR (state = 'queued' AND run_after <= $2))";

/// When newer jobs of the change are queued, the newest runs instead and covers the others
/// (the worker reads the forge after all of them were stored): the id that runs.
async fn cover_newer(conn: &mut Conn, first: i64, key: &str, now: i64, until: i64) -> Result<i64> {
    // Jobs not due yet (timers, retries waiting out their backoff) are neither run early nor
    // covered: they run at their time. At most COVER_AT_ONCE newer jobs per run: marking
    // them holds the write lock, and a backlog of thousands on one change would hold it (and
    // every acknowledgement behind it) for hundreds of milliseconds; the next run covers the
    // rest.
    let newest: Option<i64> = sqlx::query_scalar(COVER_NEWEST)
        .bind(key.to_string())
        .bind(first)
        .bind(now)
        .bind(COVER_AT_ONCE)
        .fetch_one(&mut *conn)
        .await
        .context("cannot claim a job")?;
    let Some(id) = newest else {
        return Ok(first);
    };
    // What earlier runs had covered is now covered by this one: a job's covered set is always
    // every event folded into its run. Found by the covering job's id range: by the change's
    // key SQLite would read every job the change ever had (`|| ''` keeps it off that index).
    sqlx::query(COVER_REPOINT)
        .bind(id)
        .bind(key.to_string())
        .bind(first)
        .execute(&mut *conn)
        .await
        .context("cannot mark covered jobs")?;
    // The older ones done, covered by the newest, which runs: one statement.
    sqlx::query(COVER_TAKE)
        .bind(id)
        .bind(now)
        .bind(key.to_string())
        .bind(first)
        .bind(until)
        .execute(&mut *conn)
        .await
        .context("cannot mark covered jobs")?;
    Ok(id)
}

/// A claimed job as read inside the claim: what [`Job`] holds but the covered events.
struct Claimed {
    id: i64,
    attempts: i64,
    received_at: i64,
    pushed_at: Option<i64>,
    event: Event,
}

/// The claimed job with its event and the latest push among the events it covers (approvals
/// before it are stale).
async fn load(reads: &sqlx::AnyPool, id: i64) -> Result<Claimed> {
    let row = sqlx::query(
        "SELECT j.attempts, d.event_json, d.received_at FROM jobs j
         JOIN deliveries d ON d.id = j.delivery WHERE j.id = $1",
    )
    .bind(id)
    .fetch_one(reads)
    .await
    .context("cannot read the job's delivery")?;
    let (attempts, json, received_at): (i64, String, i64) =
        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    let pushed_at: Option<i64> = sqlx::query_scalar(
        "SELECT MAX(d.received_at) FROM jobs j JOIN deliveries d ON d.id = j.delivery
         WHERE (j.id = $1 OR j.covered_by = $1) AND j.pushed = 1",
    )
    .bind(id)
    .fetch_one(reads)
    .await
    .context("cannot read covered pushes")?;
    let event: Event = serde_json::from_str(&json).context("stored event is unreadable")?;
    Ok(Claimed {
        id,
        attempts,
        received_at,
        pushed_at,
        event,
    })
}

impl Claimed {
    /// The job, with the events it covers, oldest first.
    async fn with_covered(self, reads: &sqlx::AnyPool) -> Result<Job> {
        let rows = sqlx::query(
            "SELECT d.event_json, d.received_at FROM jobs j JOIN deliveries d ON d.id = j.delivery
             WHERE j.covered_by = $1 ORDER BY j.id",
        )
        .bind(self.id)
        .fetch_all(reads)
        .await
        .context("cannot read covered events")?;
        let mut covered = vec![];
        let mut arrivals = vec![];
        for row in &rows {
            let (json, at): (String, i64) = (row.try_get(0)?, row.try_get(1)?);
            let event: Event = serde_json::from_str(&json).context("stored event is unreadable")?;
            arrivals.extend(arrival(&event, at));
            covered.push(event);
        }
        arrivals.extend(arrival(&self.event, self.received_at));
        Ok(Job {
            id: self.id,
            attempts: self.attempts,
            received_at: self.received_at,
            pushed_at: self.pushed_at,
            event: self.event,
            covered,
            arrivals,
        })
    }
}

/// The head an event reports arriving on its change (opened, reopened, new commits), with
/// when its delivery was received.
fn arrival(event: &Event, received_at: i64) -> Option<(String, i64)> {
    use crate::model::Action;
    let change = event.change()?;
    let arrives = matches!(
        change.action,
        Action::Opened | Action::Reopened | Action::Pushed
    );
    let head = change.change.head_sha.clone().filter(|_| arrives)?;
    Some((head, received_at))
}
