//! What the worker remembers about a change between events.

use super::{Store, now_ms};
use anyhow::{Context, Result};
use sqlx::Row;

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
        .fetch_optional(&self.pool)
        .await
        .context("cannot read change memory")?;
        let (old_head, old_at): (Option<String>, Option<i64>) = match &row {
            Some(r) => (r.try_get(0)?, r.try_get(1)?),
            None => (None, None),
        };
        let moved = old_head.is_some() && old_head.as_deref() != head;
        let changed_at = match (pushed_at, moved) {
            (Some(t), _) => Some(old_at.map_or(t, |o| o.max(t))),
            (None, true) => Some(now_ms()),
            (None, false) => old_at,
        };
        sqlx::query(
            "INSERT INTO change_memory (change_key, head_sha, head_changed_at, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (change_key) DO UPDATE SET head_sha = $2, head_changed_at = $3, updated_at = $4",
        )
        .bind(key.to_string())
        .bind(head.map(str::to_string))
        .bind(changed_at)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .context("cannot write change memory")?;
        Ok(changed_at)
    }

    /// When the change's head last moved, as remembered (read-only).
    pub async fn head_changed_at(&self, key: &str) -> Result<Option<i64>> {
        let v: Option<Option<i64>> =
            sqlx::query_scalar("SELECT head_changed_at FROM change_memory WHERE change_key = $1")
                .bind(key.to_string())
                .fetch_optional(&self.pool)
                .await
                .context("cannot read change memory")?;
        Ok(v.flatten())
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
            "SELECT COUNT(*) FROM change_memory WHERE change_key = $1 AND status_sha = $2 AND status_state = $3 AND status_description = $4",
        )
        .bind(key.to_string())
        .bind(sha.to_string())
        .bind(state.to_string())
        .bind(description.to_string())
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
            "INSERT INTO change_memory (change_key, status_sha, status_state, status_description, updated_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (change_key) DO UPDATE SET status_sha = $2, status_state = $3, status_description = $4, updated_at = $5",
        )
        .bind(key.to_string())
        .bind(sha.to_string())
        .bind(state.to_string())
        .bind(description.to_string())
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .context("cannot write change memory")?;
        Ok(())
    }

    /// The forge's update time of the change when it was last evaluated (for reconcile).
    pub async fn seen_updated_at(&self, key: &str) -> Result<Option<String>> {
        let v: Option<Option<String>> =
            sqlx::query_scalar("SELECT seen_updated_at FROM change_memory WHERE change_key = $1")
                .bind(key.to_string())
                .fetch_optional(&self.pool)
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
        .bind(now_ms())
        .execute(&self.pool)
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
                .fetch_optional(&self.pool)
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
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .context("cannot write change memory")?;
        Ok(())
    }
}
