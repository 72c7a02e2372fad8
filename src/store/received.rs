//! The deliveries received about one change, oldest first: a dry run without the forge builds
//! the change's history (who labelled it, when) from them, as they were recorded.

use super::Store;
use crate::model::Event;
use anyhow::{Context, Result};
use sqlx::Row;

impl Store {
    /// Every stored delivery about the change `key` received at or before `up_to_ms`, with
    /// when it was received, in the order received.
    pub async fn received_events(&self, key: &str, up_to_ms: i64) -> Result<Vec<(i64, Event)>> {
        let rows = sqlx::query(
            "SELECT d.received_at, d.event_json FROM jobs j JOIN deliveries d ON d.id = j.delivery
             WHERE j.change_key = $1 AND d.received_at <= $2 ORDER BY d.id",
        )
        .bind(key.to_string())
        .bind(up_to_ms)
        .fetch_all(&self.reads)
        .await
        .context("cannot read the change's deliveries")?;
        let mut out = vec![];
        for row in &rows {
            let (at, json): (i64, String) = (row.try_get(0)?, row.try_get(1)?);
            let event: Event = serde_json::from_str(&json).context("stored event is unreadable")?;
            out.push((at, event));
        }
        Ok(out)
    }
}

/// Read on every dry run of a change: through `jobs_change_id`, never every job of the change.
pub(super) const RECEIVED_SINCE: &str =
    "SELECT j.id, d.received_at, CASE WHEN d.received_at <= $3 THEN d.event_json END
     FROM jobs j JOIN deliveries d ON d.id = j.delivery
     WHERE j.change_key = $1 AND j.id > $2 ORDER BY j.id";

impl Store {
    /// The change `key`'s deliveries stored after job `after_job`, in the order stored: (job
    /// id, when received, the event, or none when it was received after `up_to_ms`). The
    /// events after `up_to_ms` are not decoded.
    pub async fn received_since(
        &self,
        key: &str,
        after_job: i64,
        up_to_ms: i64,
    ) -> Result<Vec<(i64, i64, Option<Event>)>> {
        let rows = sqlx::query(RECEIVED_SINCE)
            .bind(key.to_string())
            .bind(after_job)
            .bind(up_to_ms)
            .fetch_all(&self.reads)
            .await
            .context("cannot read the change's deliveries")?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let (job, at, json): (i64, i64, Option<String>) =
                (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
            let event = match json {
                Some(json) => {
                    Some(serde_json::from_str(&json).context("stored event is unreadable")?)
                }
                None => None,
            };
            out.push((job, at, event));
        }
        Ok(out)
    }
}
