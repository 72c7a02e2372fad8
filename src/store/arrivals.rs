//! When each head of a change arrived: recorded as the webhooks that report it are processed
//! (opened, reopened, pushed), and when the bot first saw it. Approvals that reset on push
//! count only when they are known to come after their head arrived; nothing the forge shows
//! later (commit dates are the author's to write) can move these times back.

use super::Store;
use anyhow::{Context, Result};
use sqlx::Row;

/// What the bot recorded about one head of a change, in milliseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival {
    /// The latest webhook that reported this head arriving (`None` when none was seen).
    pub reported: Option<i64>,
    /// When the bot first saw this head, by any event.
    pub first_seen: i64,
}

impl Store {
    /// Records that a webhook received at `at` reported `head` arriving on the change: the
    /// latest such report is kept (a head pushed again arrives again).
    pub async fn note_arrival(&self, key: &str, head: &str, at: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO head_arrivals (change_key, head_sha, arrived_at, first_seen_at) VALUES ($1, $2, $3, $3)
             ON CONFLICT (change_key, head_sha) DO UPDATE SET arrived_at = CASE
               WHEN head_arrivals.arrived_at IS NULL OR head_arrivals.arrived_at < $3 THEN $3
               ELSE head_arrivals.arrived_at END",
        )
        .bind(key.to_string())
        .bind(head.to_string())
        .bind(at)
        .execute(&mut *self.writer().await?)
        .await
        .context("cannot record a head's arrival")?;
        Ok(())
    }

    /// Records that the bot sees `head` on the change now, unless it saw it before; returns
    /// what is recorded about the head.
    pub async fn note_seen(&self, key: &str, head: &str) -> Result<Arrival> {
        if let Some(known) = self.head_arrival(key, head).await? {
            return Ok(known);
        }
        let now = self.now_ms();
        sqlx::query(
            "INSERT INTO head_arrivals (change_key, head_sha, arrived_at, first_seen_at) VALUES ($1, $2, NULL, $3)
             ON CONFLICT (change_key, head_sha) DO NOTHING",
        )
        .bind(key.to_string())
        .bind(head.to_string())
        .bind(now)
        .execute(&mut *self.writer().await?)
        .await
        .context("cannot record a head's arrival")?;
        Ok(self.head_arrival(key, head).await?.unwrap_or(Arrival {
            reported: None,
            first_seen: now,
        }))
    }

    /// What is recorded about `head` of the change (read-only).
    pub async fn head_arrival(&self, key: &str, head: &str) -> Result<Option<Arrival>> {
        let row = sqlx::query(
            "SELECT arrived_at, first_seen_at FROM head_arrivals WHERE change_key = $1 AND head_sha = $2",
        )
        .bind(key.to_string())
        .bind(head.to_string())
        .fetch_optional(&self.reads)
        .await
        .context("cannot read head arrivals")?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(Arrival {
            reported: row.try_get(0)?,
            first_seen: row.try_get(1)?,
        }))
    }
}
