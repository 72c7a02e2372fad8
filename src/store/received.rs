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
