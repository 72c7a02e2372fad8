//! The audit log as hash chains, one per forge and repository: appends serialized per chain
//! (the chain's head row is locked), retention purges that leave a checkpoint, and the walk
//! `changegate audit verify` does.

use super::Store;
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use sqlx::Row;

/// What a record's hash covers, in a fixed order: everything stored about it and the hash of
/// the record before it.
pub(super) struct Content<'a> {
    pub seq: i64,
    pub at: i64,
    pub forge: &'a str,
    pub repo: &'a str,
    pub number: i64,
    pub delivery_id: Option<&'a str>,
    pub kind: &'a str,
    pub rules_hash: Option<&'a str>,
    pub detail: &'a str,
    pub prev_hash: &'a str,
}

impl Content<'_> {
    pub fn hash(&self) -> String {
        let canonical = serde_json::json!([
            self.seq,
            self.at,
            self.forge,
            self.repo,
            self.number,
            self.delivery_id,
            self.kind,
            self.rules_hash,
            self.detail,
            self.prev_hash,
        ])
        .to_string();
        hex::encode(Sha256::digest(canonical.as_bytes()))
    }
}

/// The chain a repository's records belong to: the forge and the lowercased path.
pub(super) fn chain_of(forge: &str, repo: &str) -> (String, String) {
    (forge.to_string(), repo.to_lowercase())
}

/// An audit record as written: its text owned (the worker's SQLite connection writes it on a
/// blocking thread).
pub(super) struct Entry {
    pub forge: String,
    pub repo: String,
    pub number: i64,
    pub delivery_id: Option<String>,
    pub kind: String,
    pub rules_hash: Option<String>,
    pub detail: String,
}

impl Entry {
    pub fn of(r: &super::AuditRecord<'_>) -> Self {
        Entry {
            forge: r.forge.to_string(),
            repo: r.repo.to_string(),
            number: r.number as i64,
            delivery_id: r.delivery_id.map(str::to_string),
            kind: r.kind.to_string(),
            rules_hash: r.rules_hash.map(str::to_string),
            detail: r.detail.to_string(),
        }
    }
}

/// An entry placed on its chain: its position, the hash it follows and its own.
pub(super) struct Linked<'a> {
    pub entry: &'a Entry,
    pub seq: i64,
    pub prev: String,
    pub hash: String,
}

/// The entries in runs of consecutive ones on one chain, each with its chain: a run reserves
/// its chain's head once and advances it after its last entry.
pub(super) fn runs(entries: &[Entry]) -> impl Iterator<Item = ((String, String), &[Entry])> {
    entries
        .chunk_by(|a, b| chain_of(&a.forge, &a.repo) == chain_of(&b.forge, &b.repo))
        .filter_map(|run| run.first().map(|e| (chain_of(&e.forge, &e.repo), run)))
}

/// Places a run on its chain from position `seq`, following the hash `prev`, all at `at`.
pub(super) fn link(run: &[Entry], at: i64, mut seq: i64, mut prev: String) -> Vec<Linked<'_>> {
    let mut out = Vec::with_capacity(run.len());
    for entry in run {
        let hash = Content {
            seq,
            at,
            forge: &entry.forge,
            repo: &entry.repo,
            number: entry.number,
            delivery_id: entry.delivery_id.as_deref(),
            kind: &entry.kind,
            rules_hash: entry.rules_hash.as_deref(),
            detail: &entry.detail,
            prev_hash: &prev,
        }
        .hash();
        out.push(Linked {
            entry,
            seq,
            prev: std::mem::replace(&mut prev, hash.clone()),
            hash,
        });
        seq += 1;
    }
    out
}

/// The next position on the chain and the hash to follow, with the chain's head locked until
/// the transaction ends: one statement that creates the chain if needed and, by updating its
/// row, locks it (PostgreSQL: the row lock of `ON CONFLICT DO UPDATE`, which a concurrent
/// replica waits for and then reads the head this one wrote; SQLite: the write lock).
pub(super) const RESERVE: &str =
    "INSERT INTO audit_chains (forge, repo, seq, head) VALUES ($1, $2, 0, '')
         ON CONFLICT (forge, repo) DO UPDATE SET seq = audit_chains.seq
         RETURNING seq, head";

/// The chain ($1, $2) ends at record $3, whose hash is $4.
pub(super) const ADVANCE: &str =
    "UPDATE audit_chains SET seq = $3, head = $4 WHERE forge = $1 AND repo = $2";

pub(super) async fn reserve(
    conn: &mut sqlx::AnyConnection,
    forge: &str,
    repo: &str,
) -> Result<(i64, String)> {
    let row = sqlx::query(RESERVE)
        .bind(forge.to_string())
        .bind(repo.to_string())
        .fetch_one(&mut *conn)
        .await
        .context("cannot read the audit chain")?;
    let (seq, head): (i64, String) = (row.try_get(0)?, row.try_get(1)?);
    Ok((seq + 1, head))
}

pub(super) async fn advance(
    conn: &mut sqlx::AnyConnection,
    forge: &str,
    repo: &str,
    seq: i64,
    head: &str,
) -> Result<()> {
    sqlx::query(ADVANCE)
        .bind(forge.to_string())
        .bind(repo.to_string())
        .bind(seq)
        .bind(head.to_string())
        .execute(&mut *conn)
        .await
        .context("cannot advance the audit chain")?;
    Ok(())
}

/// One chain's state as `changegate audit verify` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    pub forge: String,
    pub repo: String,
    /// Records checked.
    pub records: u64,
    /// The chain's head hash (keep it to check later exports against).
    pub head: String,
    /// The first broken record, in words; `None` when the chain holds.
    pub broken: Option<String>,
}

impl Store {
    /// Walks every chain (or one forge's, or one repository's) and reports each.
    pub async fn verify_audit(
        &self,
        forge: Option<&str>,
        repo: Option<&str>,
    ) -> Result<Vec<ChainReport>> {
        let chains = sqlx::query(
            "SELECT forge, repo, seq, head FROM audit_chains
             WHERE ($1 = '' OR forge = $1) AND ($2 = '' OR repo = LOWER($2)) ORDER BY forge, repo",
        )
        .bind(forge.unwrap_or_default().to_string())
        .bind(repo.unwrap_or_default().to_string())
        .fetch_all(&self.reads)
        .await
        .context("cannot list audit chains")?;
        let mut out = vec![];
        for c in chains {
            let (forge, repo, seq, head): (String, String, i64, String) =
                (c.try_get(0)?, c.try_get(1)?, c.try_get(2)?, c.try_get(3)?);
            out.push(self.verify_chain(&forge, &repo, seq, &head).await?);
        }
        Ok(out)
    }

    async fn verify_chain(
        &self,
        forge: &str,
        repo: &str,
        head_seq: i64,
        head: &str,
    ) -> Result<ChainReport> {
        let checkpoint = sqlx::query(
            "SELECT seq, hash FROM audit_checkpoints WHERE forge = $1 AND repo = $2 ORDER BY seq DESC LIMIT 1",
        )
        .bind(forge.to_string())
        .bind(repo.to_string())
        .fetch_optional(&self.reads)
        .await
        .context("cannot read audit checkpoints")?;
        let (mut expected, mut prev): (i64, String) = match checkpoint {
            Some(r) => (r.try_get::<i64, _>(0)? + 1, r.try_get(1)?),
            None => (1, String::new()),
        };
        let rows = sqlx::query(
            "SELECT id, seq, at, forge, repo, number, delivery_id, kind, rules_hash, detail, prev_hash, hash
             FROM audit WHERE forge = $1 AND LOWER(repo) = $2 AND seq IS NOT NULL ORDER BY seq, id",
        )
        .bind(forge.to_string())
        .bind(repo.to_string())
        .fetch_all(&self.reads)
        .await
        .context("cannot read the audit chain")?;
        let mut report = ChainReport {
            forge: forge.to_string(),
            repo: repo.to_string(),
            records: 0,
            head: head.to_string(),
            broken: None,
        };
        for r in &rows {
            let id: i64 = r.try_get(0)?;
            let seq: i64 = r.try_get(1)?;
            let (record_forge, record_repo): (String, String) = (r.try_get(3)?, r.try_get(4)?);
            let delivery_id: Option<String> = r.try_get(6)?;
            let kind: String = r.try_get(7)?;
            let rules_hash: Option<String> = r.try_get(8)?;
            let detail: String = r.try_get(9)?;
            let prev_hash: Option<String> = r.try_get(10)?;
            let hash: Option<String> = r.try_get(11)?;
            let content = Content {
                seq,
                at: r.try_get(2)?,
                forge: &record_forge,
                repo: &record_repo,
                number: r.try_get(5)?,
                delivery_id: delivery_id.as_deref(),
                kind: &kind,
                rules_hash: rules_hash.as_deref(),
                detail: &detail,
                prev_hash: prev_hash.as_deref().unwrap_or(""),
            };
            let number: i64 = content.number;
            // Which change the record is about, so that an auditor can look at it.
            let about = format!("{record_repo}#{number}");
            let problem = if seq != expected {
                Some(if seq > expected {
                    format!(
                        "record {id} (#{seq}, about {about}) follows #{} but #{expected} is missing (deleted)",
                        expected - 1
                    )
                } else {
                    format!(
                        "record {id} (#{seq}, about {about}) repeats #{seq} of the chain (inserted or reordered)"
                    )
                })
            } else if prev_hash.as_deref() != Some(prev.as_str()) {
                Some(format!(
                    "record {id} (#{seq}, about {about}) does not follow the record before it (reordered, or one before it was replaced)"
                ))
            } else if hash.as_deref() != Some(content.hash().as_str()) {
                Some(format!(
                    "record {id} (#{seq}, about {about}) does not match its hash (edited)"
                ))
            } else {
                None
            };
            if let Some(p) = problem {
                report.broken = Some(p);
                return Ok(report);
            }
            report.records += 1;
            prev = hash.unwrap_or_default();
            expected += 1;
        }
        if expected - 1 != head_seq || prev != head {
            report.broken = Some(format!(
                "the chain ends at #{} but its head says #{head_seq}: the newest records were deleted or changed",
                expected - 1
            ));
        }
        Ok(report)
    }
}
