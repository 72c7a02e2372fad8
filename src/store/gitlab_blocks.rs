//! What the bot wrote to GitLab's blocks, as facts: the verdict it put into each pipeline of a
//! merge request's head, and what it answered the external status check for each head. Read
//! back at each evaluation, they tell a status or answer the bot gave from one anyone else did.

use super::Store;
use anyhow::{Context, Result};
use sqlx::Row;

impl Store {
    /// The (head, state, description) the bot last wrote into `pipeline` (0: no pipeline).
    pub async fn pipeline_status(
        &self,
        key: &str,
        pipeline: u64,
    ) -> Result<Option<(String, String, String)>> {
        let row = sqlx::query(
            "SELECT head_sha, state, description FROM gitlab_pipeline_statuses
             WHERE change_key = $1 AND pipeline_id = $2",
        )
        .bind(key.to_string())
        .bind(id_of(pipeline)?)
        .fetch_optional(&self.reads)
        .await
        .context("cannot read a pipeline's status")?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .transpose()
    }

    /// The pipelines (id, commit) the bot last gave `state` for change `key`, newest first.
    pub async fn pipelines_given(&self, key: &str, state: &str) -> Result<Vec<(u64, String)>> {
        let rows = sqlx::query(
            "SELECT pipeline_id, head_sha FROM gitlab_pipeline_statuses
             WHERE change_key = $1 AND state = $2 AND pipeline_id > 0
             ORDER BY written_at DESC LIMIT 20",
        )
        .bind(key.to_string())
        .bind(state.to_string())
        .fetch_all(&self.reads)
        .await
        .context("cannot read the pipelines given a status")?;
        rows.iter()
            .map(|r| {
                let id: i64 = r.try_get(0)?;
                let id = u64::try_from(id).context("a negative pipeline id")?;
                Ok((id, r.try_get(1)?))
            })
            .collect()
    }

    /// Remembers that the bot wrote `state`/`description` for `sha` into `pipeline`.
    pub async fn remember_pipeline_status(
        &self,
        key: &str,
        pipeline: u64,
        (sha, state, description): (&str, &str, &str),
    ) -> Result<()> {
        let now = self.now_ms();
        let mut conn = self.writer().await?;
        sqlx::query(
            "INSERT INTO gitlab_pipeline_statuses
                 (change_key, pipeline_id, head_sha, state, description, written_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (change_key, pipeline_id) DO UPDATE SET head_sha = excluded.head_sha,
                 state = excluded.state, description = excluded.description,
                 written_at = excluded.written_at",
        )
        .bind(key.to_string())
        .bind(id_of(pipeline)?)
        .bind(sha.to_string())
        .bind(state.to_string())
        .bind(description.to_string())
        .bind(now)
        .execute(&mut *conn)
        .await
        .context("cannot remember a pipeline's status")?;
        Ok(())
    }

    /// What the bot last answered status check `check` for head `sha` (`passed`/`failed`).
    pub async fn status_check_answer(
        &self,
        key: &str,
        sha: &str,
        check: u64,
    ) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT status FROM gitlab_status_check_answers
             WHERE change_key = $1 AND head_sha = $2 AND check_id = $3",
        )
        .bind(key.to_string())
        .bind(sha.to_string())
        .bind(id_of(check)?)
        .fetch_optional(&self.reads)
        .await
        .context("cannot read a status check answer")?;
        row.map(|r| r.try_get(0).map_err(Into::into)).transpose()
    }

    /// Remembers the bot's answer to status check `check` for head `sha`.
    pub async fn remember_status_check_answer(
        &self,
        key: &str,
        sha: &str,
        check: u64,
        status: &str,
    ) -> Result<()> {
        let now = self.now_ms();
        let mut conn = self.writer().await?;
        sqlx::query(
            "INSERT INTO gitlab_status_check_answers (change_key, head_sha, check_id, status, answered_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (change_key, head_sha, check_id) DO UPDATE SET status = excluded.status,
                 answered_at = excluded.answered_at",
        )
        .bind(key.to_string())
        .bind(sha.to_string())
        .bind(id_of(check)?)
        .bind(status.to_string())
        .bind(now)
        .execute(&mut *conn)
        .await
        .context("cannot remember a status check answer")?;
        Ok(())
    }
}

fn id_of(id: u64) -> Result<i64> {
    i64::try_from(id).context("a GitLab id past i64")
}
