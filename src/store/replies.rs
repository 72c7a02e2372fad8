//! The forges' answers to conditional reads, kept in the database ([`crate::forge::ReplyStore`]):
//! every replica and a restarted bot send the ETags the others received, so an unchanged
//! resource answers 304, which costs nothing on GitHub's rate limit. Bounded in bytes; the least
//! recently used answers go first.

use super::Store;
use crate::forge::replies::BoxFuture;
use crate::forge::{ReplyStore, StoredReply};
use anyhow::{Context, Result};
use sqlx::Row;

/// Batches written between two checks of the total size.
const CHECK_EVERY: u64 = 16;

/// How long saves gather before they are written together: kept answers are an economy, not a
/// record, so they never wait on a job's path nor cost a commit each.
const GATHER: std::time::Duration = std::time::Duration::from_millis(200);

/// Saves written in one transaction at most.
const MAX_BATCH: usize = 512;

enum Op {
    Save(String, StoredReply),
    Touch(String, i64),
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// The store as a [`ReplyStore`], bounded to `max_bytes` of bodies. Reads go to the database;
/// saves and touches are written behind, gathered into one transaction.
#[derive(Clone)]
pub struct StoredReplies {
    store: Store,
    max_bytes: i64,
    writes: tokio::sync::mpsc::Sender<Op>,
}

impl Store {
    /// This store keeping the forges' answers, at most `max_bytes` of them (starts the task that
    /// writes them; call within the runtime).
    pub fn replies(&self, max_bytes: u64) -> StoredReplies {
        let (tx, rx) = tokio::sync::mpsc::channel(4 * MAX_BATCH);
        let replies = StoredReplies {
            store: self.clone(),
            max_bytes: i64::try_from(max_bytes).unwrap_or(i64::MAX),
            writes: tx,
        };
        let writer = Writer {
            store: self.clone(),
            max_bytes: replies.max_bytes,
        };
        tokio::spawn(write_behind(writer, rx));
        replies
    }
}

/// What the writer task holds: no sender of its own, so that it ends with the last handle.
struct Writer {
    store: Store,
    max_bytes: i64,
}

async fn write_behind(w: Writer, mut rx: tokio::sync::mpsc::Receiver<Op>) {
    let mut batches = 0u64;
    let mut ops: Vec<Op> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        let flush_now = matches!(first, Op::Flush(_));
        ops.push(first);
        if !flush_now {
            // Gather what else comes meanwhile (a flush cuts the wait short).
            let deadline = tokio::time::Instant::now() + GATHER;
            while ops.len() < MAX_BATCH {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(op)) => {
                        let flush = matches!(op, Op::Flush(_));
                        ops.push(op);
                        if flush {
                            break;
                        }
                    }
                    _ => break,
                }
            }
        }
        while ops.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(op) => ops.push(op),
                Err(_) => break,
            }
        }
        if let Err(e) = w.write(&mut ops).await {
            tracing::warn!(error = %format!("{e:#}"), "cannot keep forge answers");
        }
        for op in ops.drain(..) {
            if let Op::Flush(done) = op {
                let _ = done.send(());
            }
        }
        batches += 1;
        if batches.is_multiple_of(CHECK_EVERY)
            && let Err(e) = evict(&w.store, w.max_bytes).await
        {
            tracing::warn!(error = %format!("{e:#}"), "cannot drop kept forge answers");
        }
    }
}

impl Writer {
    async fn write(&self, ops: &mut [Op]) -> Result<()> {
        if !ops.iter().any(|op| !matches!(op, Op::Flush(_))) {
            return Ok(());
        }
        let mut tx = self.store.pool.begin().await?;
        for op in ops.iter() {
            match op {
                Op::Save(url, r) => {
                    sqlx::query(
                        "INSERT INTO forge_replies (url, etag, link, body, size, used_at) VALUES ($1, $2, $3, $4, $5, $6)
                         ON CONFLICT (url) DO UPDATE SET etag = $2, link = $3, body = $4, size = $5, used_at = $6",
                    )
                    .bind(url.clone())
                    .bind(r.etag.clone())
                    .bind(r.link.clone())
                    .bind(r.body.clone())
                    .bind((url.len() + r.body.len()) as i64)
                    .bind(r.used_at)
                    .execute(&mut *tx)
                    .await
                    .context("cannot keep a forge answer")?;
                }
                Op::Touch(url, at) => {
                    sqlx::query("UPDATE forge_replies SET used_at = $1 WHERE url = $2")
                        .bind(*at)
                        .bind(url.clone())
                        .execute(&mut *tx)
                        .await
                        .context("cannot mark a kept forge answer used")?;
                }
                Op::Flush(_) => {}
            }
        }
        tx.commit().await.context("cannot keep forge answers")?;
        Ok(())
    }
}

/// (answers, bytes of URL and body) kept.
async fn sizes(store: &Store) -> Result<(i64, i64)> {
    let row = sqlx::query("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM forge_replies")
        .fetch_one(&store.reads)
        .await
        .context("cannot size the kept forge answers")?;
    Ok((row.try_get(0)?, row.try_get(1)?))
}

/// Drops the least recently used answers while the kept bodies exceed `max_bytes` (down to
/// 90 % of it, so that the next saves do not evict again at once).
async fn evict(store: &Store, max_bytes: i64) -> Result<u64> {
    let (count, total) = sizes(store).await?;
    if total <= max_bytes || count == 0 {
        return Ok(0);
    }
    let goal = max_bytes / 10 * 9;
    // Entries are of similar size; a share of them by bytes is close enough, and the next
    // check corrects what it missed.
    let drop = ((total - goal) as f64 / total as f64 * count as f64).ceil() as i64;
    let gone = sqlx::query(
        "DELETE FROM forge_replies WHERE url IN
           (SELECT url FROM forge_replies ORDER BY used_at ASC LIMIT $1)",
    )
    .bind(drop.max(1))
    .execute(&store.pool)
    .await
    .context("cannot drop kept forge answers")?;
    Ok(gone.rows_affected())
}

impl StoredReplies {
    async fn load_row(&self, url: &str) -> Result<Option<StoredReply>> {
        let row = sqlx::query("SELECT etag, link, body, used_at FROM forge_replies WHERE url = $1")
            .bind(url.to_string())
            .fetch_optional(&self.store.reads)
            .await
            .context("cannot read a kept forge answer")?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(StoredReply {
            etag: row.try_get(0)?,
            link: row.try_get(1)?,
            body: row.try_get(2)?,
            used_at: row.try_get(3)?,
        }))
    }

    /// Waits until every save and touch asked for so far is written.
    pub async fn flush(&self) {
        let (done, wait) = tokio::sync::oneshot::channel();
        if self.writes.send(Op::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }

    /// Drops the least recently used answers beyond the bound now (the writer does it every
    /// few batches).
    pub async fn evict(&self) -> Result<u64> {
        self.flush().await;
        evict(&self.store, self.max_bytes).await
    }

    /// (answers, bytes) kept now.
    pub async fn size(&self) -> Result<(i64, i64)> {
        sizes(&self.store).await
    }
}

impl ReplyStore for StoredReplies {
    fn load<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Option<StoredReply>> {
        Box::pin(async move {
            self.load_row(url)
                .await
                .inspect_err(|e| tracing::warn!(error = %format!("{e:#}"), "kept forge answers"))
                .ok()
                .flatten()
        })
    }

    fn save<'a>(&'a self, url: &'a str, reply: &'a StoredReply) -> BoxFuture<'a, ()> {
        // Never waits on the database: when the writer is behind, the answer is not kept.
        let _ = self
            .writes
            .try_send(Op::Save(url.to_string(), reply.clone()));
        Box::pin(std::future::ready(()))
    }

    fn touch<'a>(&'a self, url: &'a str) -> BoxFuture<'a, ()> {
        let _ = self
            .writes
            .try_send(Op::Touch(url.to_string(), self.now_ms()));
        Box::pin(std::future::ready(()))
    }

    fn now_ms(&self) -> i64 {
        self.store.now_ms()
    }
}
