//! Timers (jobs with a due time), reminders sent, and the emergencies still owing approvals.
//!
//! A timer is a delivery whose id names it (`timer:…`, `period:…`) with a job due at its
//! time: scheduling it again stores nothing, the claim takes it only once it is due (one
//! replica, `FOR UPDATE SKIP LOCKED` on PostgreSQL), and it survives restarts like any job.

use super::deliveries::insert;
use super::{Priority, Store, key_of};
use crate::model::{Action, ChangeEvent, Event, EventPayload, Forge};
use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

/// Prefixes of the delivery ids of the bot's own timers (never a webhook's).
const INTERNAL: [&str; 7] = [
    "timer:",
    "period:",
    "linked:",
    "rules:",
    "pipeline:",
    "head-moved:",
    "deploy:",
];

/// Whether a delivery id is of the form the bot's own timers use.
pub fn is_internal_delivery(id: &str) -> bool {
    INTERNAL.iter().any(|p| id.starts_with(p))
}

/// A merged emergency change as `changegate overdue` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct EmergencyRow {
    pub forge: String,
    pub repo: String,
    pub number: i64,
    pub web_url: Option<String>,
    pub merged_at: Option<i64>,
    pub due_at: Option<i64>,
    /// Titles of what is still owed.
    pub missing: Vec<String>,
    pub overdue: bool,
}

/// What to remember of an emergency after an evaluation.
pub struct EmergencyState<'a> {
    pub merged_at: Option<DateTime<Utc>>,
    pub due: Option<DateTime<Utc>>,
    pub missing: Vec<&'a str>,
    pub overdue: bool,
    pub web_url: Option<&'a str>,
}

impl Store {
    /// Schedules an evaluation of the change at `due` (once per change and time).
    pub async fn schedule_evaluation(
        &self,
        change: &ChangeEvent,
        due: DateTime<Utc>,
    ) -> Result<bool> {
        let key = key_of(&change.change);
        let event = Event {
            forge: change.change.forge,
            delivery_id: Some(format!("timer:{key}:{}", due.timestamp_millis())),
            event_name: "timer".into(),
            payload: EventPayload::Change(Box::new(ChangeEvent {
                pipeline: None,
                action: Action::Other,
                forge_action: "timer".into(),
                labels_added: vec![],
                labels_removed: vec![],
                review: None,
                previous_head_sha: None,
                previous_target_branch: None,
                comment: None,
                ..change.clone()
            })),
        };
        self.schedule(&event, &key, due).await
    }

    /// Schedules a blocked period's boundary for one forge's changes (once per boundary).
    pub async fn schedule_boundary(
        &self,
        forge: Forge,
        period: &str,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let event = Event {
            forge,
            delivery_id: Some(format!("period:{period}:{}", at.timestamp_millis())),
            event_name: "period boundary".into(),
            payload: EventPayload::PeriodBoundary {
                period: period.to_string(),
                at,
            },
        };
        self.schedule(&event, &format!("{forge}:period-boundaries"), at)
            .await
    }

    async fn schedule(&self, event: &Event, key: &str, due: DateTime<Utc>) -> Result<bool> {
        let now = self.now_ms();
        let mut w = self.writer().await?;
        let mut tx = sqlx::Connection::begin(&mut *w).await?;
        let queued = insert(
            &mut tx,
            event,
            key,
            Priority::Webhook,
            false,
            now,
            Some(due.timestamp_millis()),
        )
        .await?;
        tx.commit().await.context("cannot schedule a timer")?;
        Ok(queued.is_some())
    }

    /// Remembers that a merge request links a change issue.
    pub async fn link_issue(&self, issue_key: &str, change_key: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO issue_links (issue_key, change_key) VALUES ($1, $2)
             ON CONFLICT (issue_key, change_key) DO NOTHING",
        )
        .bind(issue_key.to_string())
        .bind(change_key.to_string())
        .execute(&mut *self.writer().await?)
        .await
        .context("cannot record the issue link")?;
        Ok(())
    }

    /// The latest stored event of every change that linked the issue and is not known to be
    /// closed (each to be evaluated again when the issue changes).
    pub async fn changes_linking(&self, issue_key: &str) -> Result<Vec<ChangeEvent>> {
        let rows = sqlx::query(
            "SELECT d.event_json FROM issue_links l
             JOIN jobs j ON j.id = (SELECT MAX(id) FROM jobs WHERE change_key = l.change_key)
             JOIN deliveries d ON d.id = j.delivery
             LEFT JOIN change_memory m ON m.change_key = l.change_key
             WHERE l.issue_key = $1 AND COALESCE(m.verdict_open, 1) = 1
             ORDER BY l.change_key",
        )
        .bind(issue_key.to_string())
        .fetch_all(&self.reads)
        .await
        .context("cannot list the changes linking an issue")?;
        events_of(rows)
    }

    /// The latest stored event of every open change of `forge` the bot remembers (each to be
    /// evaluated again when a blocked period starts or ends).
    pub async fn open_change_events(&self, forge: Forge) -> Result<Vec<ChangeEvent>> {
        let rows = sqlx::query(
            "SELECT d.event_json FROM change_memory m
             JOIN jobs j ON j.id = (SELECT MAX(id) FROM jobs WHERE change_key = m.change_key)
             JOIN deliveries d ON d.id = j.delivery
             WHERE m.verdict_open = 1 AND substr(m.change_key, 1, length($1)) = $1
             ORDER BY m.change_key",
        )
        .bind(format!("{forge}:"))
        .fetch_all(&self.reads)
        .await
        .context("cannot list open changes")?;
        events_of(rows)
    }

    /// Whether the reminder at `point` was sent for the change.
    pub async fn reminder_sent(&self, key: &str, point: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM reminders WHERE change_key = $1 AND point = $2",
        )
        .bind(key.to_string())
        .bind(point.to_string())
        .fetch_one(&self.reads)
        .await
        .context("cannot read reminders")?;
        Ok(n > 0)
    }

    /// Records reminder points as sent (the one posted and those it stood for).
    pub async fn mark_reminders(&self, key: &str, points: &[String]) -> Result<()> {
        let mut w = self.writer().await?;
        let mut tx = sqlx::Connection::begin(&mut *w).await?;
        for p in points {
            sqlx::query(
                "INSERT INTO reminders (change_key, point, sent_at) VALUES ($1, $2, $3)
                 ON CONFLICT (change_key, point) DO NOTHING",
            )
            .bind(key.to_string())
            .bind(p.clone())
            .bind(self.now_ms())
            .execute(&mut *tx)
            .await
            .context("cannot record a reminder")?;
        }
        tx.commit().await.context("cannot record reminders")?;
        Ok(())
    }

    /// Remembers what a merged emergency still owes (or that it owes nothing more).
    pub async fn remember_emergency(
        &self,
        change: &crate::model::Change,
        s: &EmergencyState<'_>,
    ) -> Result<()> {
        let ms = |t: Option<DateTime<Utc>>| t.map(|t| t.timestamp_millis());
        sqlx::query(
            "INSERT INTO emergencies (change_key, forge, repo, number, web_url, merged_at, due_at, missing, complete, overdue, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
             ON CONFLICT (change_key) DO UPDATE SET web_url = $5, merged_at = $6, due_at = $7,
               missing = $8, complete = $9, overdue = $10, updated_at = $11",
        )
        .bind(key_of(change))
        .bind(change.forge.as_str())
        .bind(change.repo.path.as_str().to_string())
        .bind(change.number as i64)
        .bind(s.web_url.map(str::to_string))
        .bind(ms(s.merged_at))
        .bind(ms(s.due))
        .bind(serde_json::to_string(&s.missing)?)
        .bind(i64::from(s.missing.is_empty()))
        .bind(i64::from(s.overdue))
        .bind(self.now_ms())
        .execute(&mut *self.writer().await?)
        .await
        .context("cannot record the emergency")?;
        Ok(())
    }

    /// Forgets a change that no longer owes anything after merge (no longer an emergency).
    pub async fn forget_emergency(&self, key: &str) -> Result<()> {
        sqlx::query("DELETE FROM emergencies WHERE change_key = $1")
            .bind(key.to_string())
            .execute(&mut *self.writer().await?)
            .await
            .context("cannot update emergencies")?;
        Ok(())
    }

    /// Merged emergencies still owing approvals, soonest deadline first (unknown ones first:
    /// they count as overdue).
    pub async fn owed_emergencies(
        &self,
        forge: Option<Forge>,
        repo: Option<&str>,
    ) -> Result<Vec<EmergencyRow>> {
        let rows = sqlx::query(
            "SELECT forge, repo, number, web_url, merged_at, due_at, missing, overdue FROM emergencies
             WHERE complete = 0 AND ($1 = '' OR forge = $1) AND ($2 = '' OR lower(repo) = lower($2))
             ORDER BY CASE WHEN due_at IS NULL THEN 0 ELSE 1 END, due_at, change_key",
        )
        .bind(forge.map(|f| f.as_str().to_string()).unwrap_or_default())
        .bind(repo.unwrap_or_default().to_string())
        .fetch_all(&self.reads)
        .await
        .context("cannot list emergencies")?;
        let now = self.now_ms();
        rows.iter()
            .map(|r| {
                let missing: String = r.try_get(6)?;
                let due_at: Option<i64> = r.try_get(5)?;
                Ok(EmergencyRow {
                    forge: r.try_get(0)?,
                    repo: r.try_get(1)?,
                    number: r.try_get(2)?,
                    web_url: r.try_get(3)?,
                    merged_at: r.try_get(4)?,
                    due_at,
                    missing: serde_json::from_str(&missing).context("unreadable emergency row")?,
                    overdue: r.try_get::<i64, _>(7)? == 1 || due_at.is_none_or(|d| d <= now),
                })
            })
            .collect()
    }

    /// Merged emergencies still owing approvals, and of those how many are overdue.
    pub async fn owed_emergencies_count(&self) -> Result<(i64, i64)> {
        let row = sqlx::query(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN overdue = 1 OR due_at IS NULL OR due_at <= $1 THEN 1 ELSE 0 END), 0)
             FROM emergencies WHERE complete = 0",
        )
        .bind(self.now_ms())
        .fetch_one(&self.reads)
        .await
        .context("cannot count emergencies")?;
        Ok((row.try_get(0)?, row.try_get(1)?))
    }
}

/// The change events in rows whose first column is a stored event.
fn events_of(rows: Vec<sqlx::any::AnyRow>) -> Result<Vec<ChangeEvent>> {
    let mut out = vec![];
    for r in rows {
        let json: String = r.try_get(0)?;
        let event: Event = serde_json::from_str(&json).context("stored event is unreadable")?;
        if let EventPayload::Change(c) = event.payload {
            out.push(*c);
        }
    }
    Ok(out)
}
