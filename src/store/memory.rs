//! What the worker remembers about a change between events.

use super::Store;
use anyhow::{Context, Result};
use sqlx::Row;

/// A change's own verdict on its head, as remembered for changes sharing that head.
pub struct Verdict<'a> {
    pub sha: &'a str,
    pub pass: bool,
    pub open: bool,
    pub summary: &'a str,
    pub number: u64,
    /// The status context it was given under (per target branch when the setting names it).
    pub context: &'a str,
}

/// A change's own verdict as remembered: its head, context, and whether it passed.
#[derive(Debug, Clone, PartialEq)]
pub struct RememberedVerdict {
    pub sha: String,
    pub pass: bool,
    pub open: bool,
    /// `None` for verdicts remembered before contexts were (they match any context).
    pub context: Option<String>,
}

impl Store {
    /// Records the change's current head and returns when it last moved: at `pushed_at` when
    /// the event reports a push, now when the head differs from the one seen before, else as
    /// remembered (`None` while no move was ever seen).
    pub async fn note_head(
        &self,
        key: &str,
        head: Option<&str>,
        pushed_at: Option<i64>,
    ) -> Result<Option<i64>> {
        let row = sqlx::query(
            "SELECT head_sha, head_changed_at FROM change_memory WHERE change_key = $1",
        )
        .bind(key.to_string())
        .fetch_optional(&self.reads)
        .await
        .context("cannot read change memory")?;
        let (old_head, old_at): (Option<String>, Option<i64>) = match &row {
            Some(r) => (r.try_get(0)?, r.try_get(1)?),
            None => (None, None),
        };
        let moved = old_head.is_some() && old_head.as_deref() != head;
        let changed_at = match (pushed_at, moved) {
            (Some(t), _) => Some(old_at.map_or(t, |o| o.max(t))),
            (None, true) => Some(self.now_ms()),
            (None, false) => old_at,
        };
        sqlx::query(
            "INSERT INTO change_memory (change_key, head_sha, head_changed_at, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (change_key) DO UPDATE SET head_sha = $2, head_changed_at = $3, updated_at = $4",
        )
        .bind(key.to_string())
        .bind(head.map(str::to_string))
        .bind(changed_at)
        .bind(self.now_ms())
        .execute(&mut *self.writer().await?)
        .await
        .context("cannot write change memory")?;
        Ok(changed_at)
    }

    /// The head the change had when last evaluated.
    pub async fn remembered_head(&self, key: &str) -> Result<Option<String>> {
        let v: Option<Option<String>> =
            sqlx::query_scalar("SELECT head_sha FROM change_memory WHERE change_key = $1")
                .bind(key.to_string())
                .fetch_optional(&self.reads)
                .await
                .context("cannot read change memory")?;
        Ok(v.flatten())
    }

    /// When the change's head last moved, as remembered (read-only).
    pub async fn head_changed_at(&self, key: &str) -> Result<Option<i64>> {
        let v: Option<Option<i64>> =
            sqlx::query_scalar("SELECT head_changed_at FROM change_memory WHERE change_key = $1")
                .bind(key.to_string())
                .fetch_optional(&self.reads)
                .await
                .context("cannot read change memory")?;
        Ok(v.flatten())
    }

    /// Records the change's target branch and returns when it last changed and from what:
    /// at `changed` when the event reports a retarget (previous branch, time), now when it
    /// differs from the one seen before, else as remembered.
    pub async fn note_target(
        &self,
        key: &str,
        target: Option<&str>,
        changed: Option<(&str, i64)>,
    ) -> Result<Option<(i64, Option<String>)>> {
        let row = sqlx::query(
            "SELECT target_branch, target_changed_at, target_previous FROM change_memory WHERE change_key = $1",
        )
        .bind(key.to_string())
        .fetch_optional(&self.reads)
        .await
        .context("cannot read change memory")?;
        let (old, old_at, old_prev): (Option<String>, Option<i64>, Option<String>) = match &row {
            Some(r) => (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?),
            None => (None, None, None),
        };
        let moved = old.is_some() && old.as_deref() != target;
        let (at, prev) = match (changed, moved) {
            (Some((prev, t)), _) if old_at.is_none_or(|o| t > o) => {
                (Some(t), Some(prev.to_string()))
            }
            (_, true) => (Some(self.now_ms()), old.clone()),
            _ => (old_at, old_prev),
        };
        sqlx::query(
            "INSERT INTO change_memory (change_key, target_branch, target_changed_at, target_previous, updated_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (change_key) DO UPDATE SET target_branch = $2, target_changed_at = $3, target_previous = $4, updated_at = $5",
        )
        .bind(key.to_string())
        .bind(target.map(str::to_string))
        .bind(at)
        .bind(prev.clone())
        .bind(self.now_ms())
        .execute(&mut *self.writer().await?)
        .await
        .context("cannot write change memory")?;
        Ok(at.map(|t| (t, prev)))
    }

    /// The last retarget remembered (time, previous branch), read-only.
    pub async fn target_changed(&self, key: &str) -> Result<Option<(i64, Option<String>)>> {
        let row = sqlx::query(
            "SELECT target_changed_at, target_previous FROM change_memory WHERE change_key = $1",
        )
        .bind(key.to_string())
        .fetch_optional(&self.reads)
        .await
        .context("cannot read change memory")?;
        let Some(row) = row else { return Ok(None) };
        let (at, prev): (Option<i64>, Option<String>) = (row.try_get(0)?, row.try_get(1)?);
        Ok(at.map(|t| (t, prev)))
    }

    /// Records the change's own verdict on its head commit.
    pub async fn remember_verdict(&self, key: &str, v: &Verdict<'_>) -> Result<()> {
        sqlx::query(
            "INSERT INTO change_memory (change_key, verdict_sha, verdict_pass, verdict_open, verdict_summary, verdict_number, updated_at, verdict_context)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (change_key) DO UPDATE SET verdict_sha = $2, verdict_pass = $3, verdict_open = $4, verdict_summary = $5, verdict_number = $6, updated_at = $7, verdict_context = $8",
        )
        .bind(key.to_string())
        .bind(v.sha.to_string())
        .bind(i64::from(v.pass))
        .bind(i64::from(v.open))
        .bind(v.summary.to_string())
        .bind(v.number as i64)
        .bind(self.now_ms())
        .bind(v.context.to_string())
        .execute(&mut *self.writer().await?)
        .await
        .context("cannot write change memory")?;
        Ok(())
    }

    /// The change's own verdict as last remembered.
    pub async fn remembered_verdict(&self, key: &str) -> Result<Option<RememberedVerdict>> {
        let row = sqlx::query(
            "SELECT verdict_sha, verdict_pass, verdict_open, verdict_context FROM change_memory WHERE change_key = $1",
        )
        .bind(key.to_string())
        .fetch_optional(&self.reads)
        .await
        .context("cannot read change memory")?;
        let Some(row) = row else { return Ok(None) };
        let (sha, pass, open, context): (Option<String>, Option<i64>, Option<i64>, Option<String>) = (
            row.try_get(0)?,
            row.try_get(1)?,
            row.try_get(2)?,
            row.try_get(3)?,
        );
        Ok(sha.map(|sha| RememberedVerdict {
            sha,
            pass: pass == Some(1),
            open: open == Some(1),
            context,
        }))
    }

    /// Other open changes whose keys start with `prefix` (same forge, repository and kind)
    /// that fail on the same head commit under the same status context (or one not
    /// remembered): (number, summary).
    pub async fn failing_on_same_head(
        &self,
        key: &str,
        prefix: &str,
        (sha, context): (&str, &str),
    ) -> Result<Vec<(u64, String)>> {
        let rows = sqlx::query(
            "SELECT verdict_number, verdict_summary FROM change_memory
             WHERE substr(change_key, 1, length($1)) = $1 AND change_key <> $2
               AND verdict_sha = $3 AND verdict_pass = 0 AND verdict_open = 1
               AND (verdict_context IS NULL OR verdict_context = $4)
             ORDER BY verdict_number",
        )
        .bind(prefix.to_string())
        .bind(key.to_string())
        .bind(sha.to_string())
        .bind(context.to_string())
        .fetch_all(&self.reads)
        .await
        .context("cannot read change memory")?;
        rows.iter()
            .map(|r| {
                let n: Option<i64> = r.try_get(0)?;
                let summary: Option<String> = r.try_get(1)?;
                Ok((n.unwrap_or(0) as u64, summary.unwrap_or_default()))
            })
            .collect()
    }

    /// The forge's update time of the change when it was last evaluated (for reconcile).
    pub async fn seen_updated_at(&self, key: &str) -> Result<Option<String>> {
        let v: Option<Option<String>> =
            sqlx::query_scalar("SELECT seen_updated_at FROM change_memory WHERE change_key = $1")
                .bind(key.to_string())
                .fetch_optional(&self.reads)
                .await
                .context("cannot read change memory")?;
        Ok(v.flatten())
    }

    pub async fn remember_seen(&self, key: &str, updated_at: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO change_memory (change_key, seen_updated_at, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (change_key) DO UPDATE SET seen_updated_at = $2, updated_at = $3",
        )
        .bind(key.to_string())
        .bind(updated_at.to_string())
        .bind(self.now_ms())
        .execute(&mut *self.writer().await?)
        .await
        .context("cannot write change memory")?;
        Ok(())
    }
}

impl Store {
    /// The sticky comment last written on the change: (id, SHA-256 of its text).
    pub async fn cached_comment(&self, key: &str) -> Result<Option<(u64, String)>> {
        let row =
            sqlx::query("SELECT comment_id, comment_hash FROM change_memory WHERE change_key = $1")
                .bind(key.to_string())
                .fetch_optional(&self.reads)
                .await
                .context("cannot read change memory")?;
        let Some(row) = row else { return Ok(None) };
        let (id, hash): (Option<i64>, Option<String>) = (row.try_get(0)?, row.try_get(1)?);
        Ok(id.zip(hash).map(|(id, h)| (id as u64, h)))
    }

    /// Remembers (or, with `None`, forgets) the sticky comment of the change.
    pub async fn remember_comment(&self, key: &str, comment: Option<(u64, &str)>) -> Result<()> {
        sqlx::query(
            "INSERT INTO change_memory (change_key, comment_id, comment_hash, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (change_key) DO UPDATE SET comment_id = $2, comment_hash = $3, updated_at = $4",
        )
        .bind(key.to_string())
        .bind(comment.map(|(id, _)| id as i64))
        .bind(comment.map(|(_, h)| h.to_string()))
        .bind(self.now_ms())
        .execute(&mut *self.writer().await?)
        .await
        .context("cannot write change memory")?;
        Ok(())
    }

    /// The status the bot last wrote for the change: (sha, state, description).
    pub async fn written_status(
        &self,
        key: &str,
    ) -> Result<Option<(String, crate::model::StatusState, String)>> {
        let row = sqlx::query(
            "SELECT status_sha, status_state, status_description FROM change_memory WHERE change_key = $1",
        )
        .bind(key.to_string())
        .fetch_optional(&self.reads)
        .await
        .context("cannot read change memory")?;
        let Some(row) = row else { return Ok(None) };
        let (sha, state, text): (Option<String>, Option<String>, Option<String>) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        let state = state.and_then(|s| crate::model::StatusState::from_name(&s));
        Ok(match (sha, state, text) {
            (Some(sha), Some(state), Some(text)) => Some((sha, state, text)),
            _ => None,
        })
    }

    /// Where the bot last wrote a status for the change: (sha, context, state); the context is
    /// `None` for statuses written before contexts were remembered.
    pub async fn written_status_at(
        &self,
        key: &str,
    ) -> Result<Option<(String, Option<String>, crate::model::StatusState)>> {
        let row = sqlx::query(
            "SELECT status_sha, status_context, status_state FROM change_memory WHERE change_key = $1",
        )
        .bind(key.to_string())
        .fetch_optional(&self.reads)
        .await
        .context("cannot read change memory")?;
        let Some(row) = row else { return Ok(None) };
        let (sha, context, state): (Option<String>, Option<String>, Option<String>) =
            (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        let state = state.and_then(|s| crate::model::StatusState::from_name(&s));
        Ok(sha.zip(state).map(|(sha, state)| (sha, context, state)))
    }

    /// Remembers the status the bot wrote for the change: (sha, state, description), under
    /// `context`.
    pub async fn remember_status(
        &self,
        key: &str,
        (sha, state, text): (&str, crate::model::StatusState, &str),
        context: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO change_memory (change_key, status_sha, status_state, status_description, updated_at, status_context) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (change_key) DO UPDATE SET status_sha = $2, status_state = $3, status_description = $4, updated_at = $5, status_context = $6",
        )
        .bind(key.to_string())
        .bind(sha.to_string())
        .bind(state.as_str().to_string())
        .bind(text.to_string())
        .bind(self.now_ms())
        .bind(context.to_string())
        .execute(&mut *self.writer().await?)
        .await
        .context("cannot write change memory")?;
        Ok(())
    }
}
