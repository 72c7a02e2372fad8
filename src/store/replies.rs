//! The forges' answers to conditional reads, kept in the database ([`crate::forge::ReplyStore`]):
//! every replica and a restarted bot send the ETags the others received, so an unchanged
//! resource answers 304, which costs nothing on GitHub's rate limit. Bounded in bytes; the least
//! recently used answers go first.

use super::Store;
use crate::forge::replies::BoxFuture;
use crate::forge::{ReplyStore, StoredReply};
use anyhow::{Context, Result};
use sqlx::Row;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Saves between two checks of the total size.
const CHECK_EVERY: u64 = 64;

/// The store as a [`ReplyStore`], bounded to `max_bytes` of bodies.
#[derive(Clone)]
pub struct StoredReplies {
    store: Store,
    max_bytes: i64,
    saves: Arc<AtomicU64>,
}

impl Store {
    /// This store keeping the forges' answers, at most `max_bytes` of them.
    pub fn replies(&self, max_bytes: u64) -> StoredReplies {
        StoredReplies {
            store: self.clone(),
            max_bytes: i64::try_from(max_bytes).unwrap_or(i64::MAX),
            saves: Default::default(),
        }
    }
}

impl StoredReplies {
    async fn load_row(&self, url: &str) -> Result<Option<StoredReply>> {
        let row = sqlx::query("SELECT etag, link, body, used_at FROM forge_replies WHERE url = $1")
            .bind(url.to_string())
            .fetch_optional(&self.store.pool)
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

    async fn save_row(&self, url: &str, r: &StoredReply) -> Result<()> {
        sqlx::query(
            "INSERT INTO forge_replies (url, etag, link, body, size, used_at) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (url) DO UPDATE SET etag = $2, link = $3, body = $4, size = $5, used_at = $6",
        )
        .bind(url.to_string())
        .bind(r.etag.clone())
        .bind(r.link.clone())
        .bind(r.body.clone())
        .bind((url.len() + r.body.len()) as i64)
        .bind(r.used_at)
        .execute(&self.store.pool)
        .await
        .context("cannot keep a forge answer")?;
        if self
            .saves
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(CHECK_EVERY)
        {
            self.evict().await?;
        }
        Ok(())
    }

    /// Drops the least recently used answers while the kept bodies exceed the bound (down to
    /// 90 % of it, so that the next saves do not evict again at once).
    pub async fn evict(&self) -> Result<u64> {
        let row = sqlx::query("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM forge_replies")
            .fetch_one(&self.store.pool)
            .await
            .context("cannot size the kept forge answers")?;
        let (count, total): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
        if total <= self.max_bytes || count == 0 {
            return Ok(0);
        }
        let goal = self.max_bytes / 10 * 9;
        // Entries are of similar size; a share of them by bytes is close enough, and the next
        // check corrects what it missed.
        let drop = ((total - goal) as f64 / total as f64 * count as f64).ceil() as i64;
        let gone = sqlx::query(
            "DELETE FROM forge_replies WHERE url IN
               (SELECT url FROM forge_replies ORDER BY used_at ASC LIMIT $1)",
        )
        .bind(drop.max(1))
        .execute(&self.store.pool)
        .await
        .context("cannot drop kept forge answers")?;
        Ok(gone.rows_affected())
    }

    /// (answers, bytes) kept now.
    pub async fn size(&self) -> Result<(i64, i64)> {
        let row = sqlx::query("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM forge_replies")
            .fetch_one(&self.store.pool)
            .await
            .context("cannot size the kept forge answers")?;
        Ok((row.try_get(0)?, row.try_get(1)?))
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
        Box::pin(async move {
            if let Err(e) = self.save_row(url, reply).await {
                tracing::warn!(error = %format!("{e:#}"), "kept forge answers");
            }
        })
    }

    fn touch<'a>(&'a self, url: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let done = sqlx::query("UPDATE forge_replies SET used_at = $1 WHERE url = $2")
                .bind(self.now_ms())
                .bind(url.to_string())
                .execute(&self.store.pool)
                .await;
            if let Err(e) = done {
                tracing::warn!(error = %e, "kept forge answers");
            }
        })
    }

    fn now_ms(&self) -> i64 {
        self.store.now_ms()
    }
}
