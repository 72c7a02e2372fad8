//! The audit log: every delivery, decision and forge action with its time, and what
//! `changegate audit` reads back. Never holds secrets: events are stored normalized.

use super::Store;
use super::chain::{self, Entry};
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
    /// Position on the repository's chain and the record's hash (none for records written
    /// before the chain existed).
    pub seq: Option<i64>,
    pub hash: Option<String>,
}

impl Store {
    /// Every repository with audit records: (forge, path), sorted.
    pub async fn audited_repositories(&self) -> Result<Vec<(String, String)>> {
        sqlx::query_as("SELECT DISTINCT forge, repo FROM audit ORDER BY forge, repo")
            .fetch_all(&self.reads)
            .await
            .context("cannot list the audited repositories")
    }

    /// Appends a record to its repository's chain (one transaction: the chain's head is
    /// locked, so that concurrent replicas append one after the other).
    pub async fn audit(&self, r: &AuditRecord<'_>) -> Result<()> {
        self.audit_all(std::slice::from_ref(r)).await
    }

    /// Appends records, in order, in one transaction.
    pub async fn audit_all(&self, records: &[AuditRecord<'_>]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut w = self.writer().await?;
        let mut tx = sqlx::Connection::begin(&mut *w).await?;
        append(&mut tx, records, self.now_ms()).await?;
        tx.commit().await.context("cannot write audit record")?;
        Ok(())
    }

    /// The head hash of a repository's chain (`None` before its first record).
    pub async fn audit_head(&self, forge: &str, repo: &str) -> Result<Option<String>> {
        let (forge, repo) = chain::chain_of(forge, repo);
        let head: Option<String> =
            sqlx::query_scalar("SELECT head FROM audit_chains WHERE forge = $1 AND repo = $2")
                .bind(forge)
                .bind(repo)
                .fetch_optional(&self.reads)
                .await
                .context("cannot read the audit chain")?;
        Ok(head)
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
            "SELECT at, number, delivery_id, kind, rules_hash, detail, seq, hash FROM audit
             WHERE forge = $1 AND LOWER(repo) = LOWER($2) AND ($3 < 0 OR number = $3) AND at >= $4
             ORDER BY id",
        )
        .bind(forge.to_string())
        .bind(repo.to_string())
        .bind(number.map_or(-1, |n| n as i64))
        .bind(since_ms)
        .fetch_all(&self.reads)
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
                    // An unreadable record is an error, never an empty one.
                    detail: serde_json::from_str(&detail)
                        .context("an audit record's detail is not JSON")?,
                    seq: r.try_get(6)?,
                    hash: r.try_get(7)?,
                })
            })
            .collect()
    }

    /// Deletes audit records, finished jobs and their deliveries older than `keep_ms` (never
    /// the newest job of an open change: see below). Each chain loses a prefix, and a
    /// checkpoint records the hash of the last record removed, which the first remaining one
    /// must follow.
    pub async fn purge_older_than(&self, keep_ms: i64) -> Result<u64> {
        let cutoff = self.now_ms() - keep_ms;
        let mut w = self.writer().await?;
        let mut tx = sqlx::Connection::begin(&mut *w).await?;
        let prefixes = sqlx::query(
            "SELECT forge, LOWER(repo), MAX(seq), COUNT(*) FROM audit
             WHERE at < $1 AND seq IS NOT NULL GROUP BY forge, LOWER(repo)",
        )
        .bind(cutoff)
        .fetch_all(&mut *tx)
        .await
        .context("cannot find old audit records")?;
        let mut purged = 0;
        for p in prefixes {
            let (forge, repo, last, removed): (String, String, i64, i64) =
                (p.try_get(0)?, p.try_get(1)?, p.try_get(2)?, p.try_get(3)?);
            let hash: String = sqlx::query_scalar(
                "SELECT hash FROM audit WHERE forge = $1 AND LOWER(repo) = $2 AND seq = $3",
            )
            .bind(forge.clone())
            .bind(repo.clone())
            .bind(last)
            .fetch_one(&mut *tx)
            .await
            .context("cannot read the last purged record")?;
            sqlx::query(
                "INSERT INTO audit_checkpoints (forge, repo, seq, hash, removed, at) VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (forge, repo, seq) DO NOTHING",
            )
            .bind(forge.clone())
            .bind(repo.clone())
            .bind(last)
            .bind(hash)
            .bind(removed)
            .bind(self.now_ms())
            .execute(&mut *tx)
            .await
            .context("cannot record the purge checkpoint")?;
            purged += sqlx::query(
                "DELETE FROM audit WHERE forge = $1 AND LOWER(repo) = $2 AND seq <= $3",
            )
            .bind(forge)
            .bind(repo)
            .bind(last)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        }
        // Records from before the chain existed.
        let audit = sqlx::query("DELETE FROM audit WHERE at < $1 AND seq IS NULL")
            .bind(cutoff)
            .execute(&mut *tx)
            .await?;
        // The newest job of each change not known to be closed stays, with its delivery: it
        // is how the bot finds the change again (period boundaries, rules reloads, linked
        // issues); an idle change must not drop out of them because time passed.
        sqlx::query(
            "DELETE FROM jobs WHERE state = 'done' AND updated_at < $1
               AND id NOT IN (SELECT MAX(j.id) FROM jobs j
                 JOIN change_memory m ON m.change_key = j.change_key
                 WHERE COALESCE(m.verdict_open, 1) = 1 GROUP BY j.change_key)",
        )
        .bind(cutoff)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM deliveries WHERE received_at < $1 AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.delivery = deliveries.id)")
            .bind(cutoff)
            .execute(&mut *tx)
            .await?;
        tx.commit().await.context("cannot purge old records")?;
        Ok(purged + audit.rows_affected())
    }
}

/// One record of a chain, with its position and hashes.
pub(super) const INSERT_AUDIT: &str = "INSERT INTO audit (at, forge, repo, number, delivery_id, kind, rules_hash, detail, seq, prev_hash, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";

/// Appends records to their chains inside the caller's transaction: each chain's head is
/// reserved (locked) once for a run of its records and advanced after the last.
pub(super) async fn append(
    conn: &mut sqlx::AnyConnection,
    records: &[AuditRecord<'_>],
    at: i64,
) -> Result<()> {
    let entries: Vec<Entry> = records.iter().map(Entry::of).collect();
    for ((forge, repo), run) in chain::runs(&entries) {
        let (seq, prev) = chain::reserve(conn, &forge, &repo).await?;
        let linked = chain::link(run, at, seq, prev);
        for l in &linked {
            let e = l.entry;
            sqlx::query(INSERT_AUDIT)
                .bind(at)
                .bind(e.forge.clone())
                .bind(e.repo.clone())
                .bind(e.number)
                .bind(e.delivery_id.clone())
                .bind(e.kind.clone())
                .bind(e.rules_hash.clone())
                .bind(e.detail.clone())
                .bind(l.seq)
                .bind(l.prev.clone())
                .bind(l.hash.clone())
                .execute(&mut *conn)
                .await
                .context("cannot write audit record")?;
        }
        if let Some(last) = linked.last() {
            chain::advance(conn, &forge, &repo, last.seq, &last.hash).await?;
        }
    }
    Ok(())
}
