//! Deliveries: each webhook stored once (deduplicated by the forge's delivery id) with its job,
//! in one transaction, before it is acknowledged.

use super::{Store, change_key};
use crate::model::Event;
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
        let mut conn = self.pool.acquire().await?;
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
    let row = sqlx::query(
        "INSERT INTO deliveries (forge, delivery_id, event_name, received_at, event_json)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (forge, delivery_id) DO NOTHING RETURNING id",
    )
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
    let job_id: i64 = sqlx::query(
        "INSERT INTO jobs (delivery, change_key, priority, pushed, run_after, timer, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id",
    )
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
