//! The id each label of a project had when the bot first saw it by a name: GitLab's label
//! events name a label by id and show its current name, so a label renamed into an approval
//! label would otherwise bring the approvals of whoever applied it under its old name.

use super::Store;
use anyhow::{Context, Result};
use sqlx::Row;

/// A label as first seen: its name then, its id, and when (milliseconds).
#[derive(Debug, Clone, PartialEq)]
pub struct SeenLabel {
    pub name: String,
    pub id: u64,
    pub first_seen_at: i64,
}

impl Store {
    /// Every label remembered for `scope` (a forge and project), oldest sighting first.
    pub async fn seen_labels(&self, scope: &str) -> Result<Vec<SeenLabel>> {
        let rows = sqlx::query(
            "SELECT name, label_id, first_seen_at FROM label_ids WHERE scope = $1
             ORDER BY first_seen_at, name",
        )
        .bind(scope.to_string())
        .fetch_all(&self.reads)
        .await
        .context("cannot read label ids")?;
        rows.iter()
            .map(|r| {
                let id: i64 = r.try_get(1)?;
                Ok(SeenLabel {
                    name: r.try_get(0)?,
                    id: u64::try_from(id).context("a negative label id")?,
                    first_seen_at: r.try_get(2)?,
                })
            })
            .collect()
    }

    /// Remembers labels seen for the first time as (name, id), now; a name already remembered
    /// keeps the id it was first seen with.
    pub async fn remember_labels(&self, scope: &str, labels: &[(String, u64)]) -> Result<()> {
        if labels.is_empty() {
            return Ok(());
        }
        let now = self.now_ms();
        let mut conn = self.writer().await?;
        for (name, id) in labels {
            let id = i64::try_from(*id).context("a label id past i64")?;
            sqlx::query(
                "INSERT INTO label_ids (scope, name, label_id, first_seen_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (scope, name) DO NOTHING",
            )
            .bind(scope.to_string())
            .bind(name.clone())
            .bind(id)
            .bind(now)
            .execute(&mut *conn)
            .await
            .context("cannot write label ids")?;
        }
        Ok(())
    }
}

impl Store {
    /// Every label node id remembered for `scope` (a forge and repository) as (name, node id),
    /// oldest sighting first.
    pub async fn seen_label_nodes(&self, scope: &str) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT name, node_id FROM label_node_ids WHERE scope = $1
             ORDER BY first_seen_at, name",
        )
        .bind(scope.to_string())
        .fetch_all(&self.reads)
        .await
        .context("cannot read label node ids")?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// [`Self::seen_label_nodes`] with when each was first seen (ms since the epoch): an
    /// application before that moment may have been made under another name.
    pub async fn seen_label_nodes_at(&self, scope: &str) -> Result<Vec<(String, String, i64)>> {
        let rows = sqlx::query(
            "SELECT name, node_id, first_seen_at FROM label_node_ids WHERE scope = $1
             ORDER BY first_seen_at, name",
        )
        .bind(scope.to_string())
        .fetch_all(&self.reads)
        .await
        .context("cannot read label node ids")?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }

    /// Remembers labels seen for the first time as (name, node id), now; a name already
    /// remembered keeps the node id it was first seen with.
    pub async fn remember_label_nodes(
        &self,
        scope: &str,
        labels: &[(String, String)],
    ) -> Result<()> {
        if labels.is_empty() {
            return Ok(());
        }
        let now = self.now_ms();
        let mut conn = self.writer().await?;
        for (name, id) in labels {
            sqlx::query(
                "INSERT INTO label_node_ids (scope, name, node_id, first_seen_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (scope, name) DO NOTHING",
            )
            .bind(scope.to_string())
            .bind(name.clone())
            .bind(id.clone())
            .bind(now)
            .execute(&mut *conn)
            .await
            .context("cannot write label node ids")?;
        }
        Ok(())
    }
}
