//! Deliveries: each webhook stored once (deduplicated by the forge's delivery id) with its job,
//! in one transaction, before it is acknowledged.

use super::{Store, change_key};
use crate::model::{ChangeEvent, Event};
use anyhow::{Context, Result};
use sqlx::Row;

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

impl Store {
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
        let now = self.now_ms();
        let mut conn = self.writer().await?;
        let sqlite = self.backend == super::Backend::Sqlite;
        if sqlite {
            // Acknowledged deliveries survive a power loss: this commit syncs the write-ahead
            // log, and with it every commit before it (see `Store::open`).
            sqlx::Executor::execute(&mut *conn, "PRAGMA synchronous = FULL").await?;
        }
        let out = self.insert_batch(&mut conn, events, priority, now).await;
        if sqlite {
            sqlx::Executor::execute(&mut *conn, "PRAGMA synchronous = NORMAL").await?;
        }
        out
    }

    async fn insert_batch(
        &self,
        conn: &mut sqlx::AnyConnection,
        events: &[&Event],
        priority: Priority,
        now: i64,
    ) -> Result<Vec<Enqueued>> {
        use sqlx::Connection;
        let mut tx = conn.begin().await?;
        // Every statement is a round trip to the database's own thread: a batch of webhook
        // deliveries is written with two, whatever its size.
        if events.len() > 1 && events.iter().all(|e| e.delivery_id.is_some()) {
            let out = insert_many(&mut tx, events, priority, now).await?;
            tx.commit().await.context("cannot commit deliveries")?;
            return Ok(out);
        }
        let mut out = Vec::with_capacity(events.len());
        for event in events {
            let Some(change) = event.change() else {
                anyhow::bail!("only change events are queued");
            };
            let queued = insert(
                &mut tx,
                event,
                &change_key(change),
                priority,
                change.action == crate::model::Action::Pushed,
                now,
                None,
            )
            .await?;
            let Some(job_id) = queued else {
                out.push(Enqueued::Duplicate);
                continue;
            };
            out.push(Enqueued::New { job_id });
        }
        tx.commit().await.context("cannot commit deliveries")?;
        Ok(out)
    }
}

/// Stores deliveries that all carry a delivery id and their jobs, in two statements: a
/// delivery id stored before, or twice in the batch, is a duplicate.
async fn insert_many(
    conn: &mut sqlx::AnyConnection,
    events: &[&Event],
    priority: Priority,
    now: i64,
) -> Result<Vec<Enqueued>> {
    let mut rows = Vec::with_capacity(events.len());
    for event in events {
        let Some(change) = event.change() else {
            anyhow::bail!("only change events are queued");
        };
        let json = serde_json::to_string(event).context("cannot serialize event")?;
        rows.push((event, change, json));
    }
    let values = |width: usize| {
        (0..rows.len())
            .map(|i| {
                let ps: Vec<String> = (1..=width).map(|k| format!("${}", i * width + k)).collect();
                format!("({})", ps.join(", "))
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let sql = format!(
        "INSERT INTO deliveries (forge, delivery_id, event_name, received_at, event_json)
         VALUES {} ON CONFLICT (forge, delivery_id) DO NOTHING RETURNING id, delivery_id",
        values(5)
    );
    let mut q = sqlx::query(&sql);
    for (event, _, json) in &rows {
        q = q
            .bind(event.forge.as_str())
            .bind(event.delivery_id.clone())
            .bind(event.event_name.clone())
            .bind(now)
            .bind(json.clone());
    }
    let stored: std::collections::HashMap<String, i64> = q
        .fetch_all(&mut *conn)
        .await
        .context("cannot store deliveries")?
        .iter()
        .map(|r| Ok((r.try_get::<String, _>(1)?, r.try_get::<i64, _>(0)?)))
        .collect::<Result<_>>()?;
    // The first event with each stored id owns the new row; any other is a duplicate.
    let mut owner: Vec<Option<i64>> = vec![];
    let mut seen = std::collections::HashSet::new();
    for (event, _, _) in &rows {
        let id = event.delivery_id.as_deref().unwrap_or_default();
        let fresh = seen.insert(id);
        owner.push(stored.get(id).copied().filter(|_| fresh));
    }
    let queued: Vec<(i64, &ChangeEvent)> = owner
        .iter()
        .zip(&rows)
        .filter_map(|(d, (_, change, _))| d.map(|d| (d, *change)))
        .collect();
    let mut jobs = std::collections::HashMap::new();
    if !queued.is_empty() {
        let values = (0..queued.len())
            .map(|i| {
                let p = |k: usize| format!("${}", i * 5 + k);
                format!(
                    "({}, {}, {}, {}, {}, 0, {}, {})",
                    p(1),
                    p(2),
                    p(3),
                    p(4),
                    p(5),
                    p(5),
                    p(5)
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO jobs (delivery, change_key, priority, pushed, run_after, timer, created_at, updated_at)
             VALUES {values} RETURNING id, delivery"
        );
        let mut q = sqlx::query(&sql);
        for (delivery, change) in &queued {
            q = q
                .bind(*delivery)
                .bind(change_key(change))
                .bind(priority as i64)
                .bind(i64::from(change.action == crate::model::Action::Pushed))
                .bind(now);
        }
        for r in q.fetch_all(&mut *conn).await.context("cannot queue jobs")? {
            jobs.insert(r.try_get::<i64, _>(1)?, r.try_get::<i64, _>(0)?);
        }
    }
    owner
        .into_iter()
        .map(|d| match d {
            None => Ok(Enqueued::Duplicate),
            Some(d) => jobs
                .get(&d)
                .map(|&job_id| Enqueued::New { job_id })
                .context("a stored delivery has no job"),
        })
        .collect()
}

/// One delivery: its id, or no row when the forge's delivery id was stored before.
pub(super) const INSERT_DELIVERY: &str =
    "INSERT INTO deliveries (forge, delivery_id, event_name, received_at, event_json)
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (forge, delivery_id) DO NOTHING RETURNING id";

/// The job of a delivery (delivery, change key, priority, pushed, run after, timer, now).
pub(super) const INSERT_JOB: &str =
    "INSERT INTO jobs (delivery, change_key, priority, pushed, run_after, timer, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id";

/// Stores one delivery and its job, due now or, for a timer, at its time: the job id, or `None` when the
/// delivery id was stored before.
pub(super) async fn insert(
    conn: &mut sqlx::AnyConnection,
    event: &Event,
    change_key: &str,
    priority: Priority,
    pushed: bool,
    now: i64,
    timer_due: Option<i64>,
) -> Result<Option<i64>> {
    let json = serde_json::to_string(event).context("cannot serialize event")?;
    let row = sqlx::query(INSERT_DELIVERY)
        .bind(event.forge.as_str())
        .bind(event.delivery_id.clone())
        .bind(event.event_name.clone())
        .bind(now)
        .bind(json)
        .fetch_optional(&mut *conn)
        .await
        .context("cannot store delivery")?;
    let Some(row) = row else {
        return Ok(None);
    };
    let delivery: i64 = row.try_get(0)?;
    let job_id: i64 = sqlx::query(INSERT_JOB)
        .bind(delivery)
        .bind(change_key.to_string())
        .bind(priority as i64)
        .bind(i64::from(pushed))
        .bind(timer_due.unwrap_or(now))
        .bind(i64::from(timer_due.is_some()))
        .bind(now)
        .fetch_one(&mut *conn)
        .await
        .context("cannot queue job")?
        .try_get(0)?;
    Ok(Some(job_id))
}
