//! The audit log: every delivery, decision and forge action with its time, and what
//! `changegate audit` reads back. Never holds secrets: events are stored normalized.

use super::Store;
use anyhow::{Context, Result};
use serde::Serialize;
use sqlx::Row;

/// One audit record to write.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord<'a> {
    pub forge: &'a str,
    pub repo: &'a str,
    pub number: u64,
    pub delivery_id: Option<&'a str>,
    /// `decision`, `action`, `action_failed`.
    pub kind: &'a str,
    pub rules_hash: Option<&'a str>,
    pub detail: serde_json::Value,
}

/// One audit record read back.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    pub at: i64,
    pub number: u64,
    pub delivery_id: Option<String>,
    pub kind: String,
    pub rules_hash: Option<String>,
    pub detail: serde_json::Value,
}

impl Store {
    pub async fn audit(&self, r: &AuditRecord<'_>) -> Result<()> {
        sqlx::query(
            "INSERT INTO audit (at, forge, repo, number, delivery_id, kind, rules_hash, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(self.now_ms())
        .bind(r.forge.to_string())
        .bind(r.repo.to_string())
        .bind(r.number as i64)
        .bind(r.delivery_id.map(str::to_string))
        .bind(r.kind.to_string())
        .bind(r.rules_hash.map(str::to_string))
        .bind(r.detail.to_string())
        .execute(&self.pool)
        .await
        .context("cannot write audit record")?;
        Ok(())
    }

    /// Audit records of one change, oldest first, as (kind, detail).
    pub async fn audit_of(
        &self,
        forge: &str,
        repo: &str,
        number: u64,
    ) -> Result<Vec<(String, serde_json::Value)>> {
        Ok(self
            .audit_rows(forge, repo, Some(number), 0)
            .await?
            .into_iter()
            .map(|r| (r.kind, r.detail))
            .collect())
    }

    /// Audit records of a repository (or one change of it) since `since_ms`, oldest first.
    pub async fn audit_rows(
        &self,
        forge: &str,
        repo: &str,
        number: Option<u64>,
        since_ms: i64,
    ) -> Result<Vec<AuditRow>> {
        let rows = sqlx::query(
            "SELECT at, number, delivery_id, kind, rules_hash, detail FROM audit
             WHERE forge = $1 AND LOWER(repo) = LOWER($2) AND ($3 < 0 OR number = $3) AND at >= $4
             ORDER BY id",
        )
        .bind(forge.to_string())
        .bind(repo.to_string())
        .bind(number.map_or(-1, |n| n as i64))
        .bind(since_ms)
        .fetch_all(&self.pool)
        .await
        .context("cannot read audit log")?;
        rows.into_iter()
            .map(|r| {
                let detail: String = r.try_get(5)?;
                Ok(AuditRow {
                    at: r.try_get(0)?,
                    number: r.try_get::<i64, _>(1)? as u64,
                    delivery_id: r.try_get(2)?,
                    kind: r.try_get(3)?,
                    rules_hash: r.try_get(4)?,
                    detail: serde_json::from_str(&detail).unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Deletes audit records, finished jobs and their deliveries older than `keep_ms`.
    pub async fn purge_older_than(&self, keep_ms: i64) -> Result<u64> {
        let cutoff = self.now_ms() - keep_ms;
        let mut tx = self.pool.begin().await?;
        let audit = sqlx::query("DELETE FROM audit WHERE at < $1")
            .bind(cutoff)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM jobs WHERE state = 'done' AND updated_at < $1")
            .bind(cutoff)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM deliveries WHERE received_at < $1 AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.delivery = deliveries.id)")
            .bind(cutoff)
            .execute(&mut *tx)
            .await?;
        tx.commit().await.context("cannot purge old records")?;
        Ok(audit.rows_affected())
    }
}
