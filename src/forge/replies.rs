//! Answers kept for conditional requests: per URL, the ETag and the body it stands for. A
//! request sends `If-None-Match`; a 304 (free on GitHub's rate limit) reuses the body. Held in
//! memory for this process, and in a [`ReplyStore`] (the database) so that every replica and a
//! restarted bot find them too.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

/// One kept answer.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredReply {
    pub etag: String,
    /// The answer's `Link` header (paging), if any.
    pub link: Option<String>,
    pub body: String,
    /// When it was last used (milliseconds since the epoch, the store's clock).
    pub used_at: i64,
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where answers outlive the process. Failures are the store's to log: a lost answer costs one
/// full read later, never a wrong one.
pub trait ReplyStore: Send + Sync {
    fn load<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Option<StoredReply>>;
    /// Keeps `reply` for `url`, replacing what was kept.
    fn save<'a>(&'a self, url: &'a str, reply: &'a StoredReply) -> BoxFuture<'a, ()>;
    /// Marks the answer for `url` as used now (the least recently used go first).
    fn touch<'a>(&'a self, url: &'a str) -> BoxFuture<'a, ()>;
    /// The store's clock, in milliseconds since the epoch.
    fn now_ms(&self) -> i64;
}

/// Answers kept in memory at most (each head sha and page has a URL of its own, so the set only
/// grows); the store keeps more.
const MEMORY_ENTRIES: usize = 2000;

/// A kept answer's use is written to the store at most this often (a write per 304 would cost
/// more than it saves).
const TOUCH_EVERY_MS: i64 = 10 * 60 * 1000;

/// The cache a client consults: memory first, then the store.
#[derive(Clone, Default)]
pub struct Replies {
    memory: Arc<Mutex<HashMap<String, StoredReply>>>,
    store: Option<Arc<dyn ReplyStore>>,
}

impl Replies {
    pub fn with_store(store: Arc<dyn ReplyStore>) -> Self {
        Replies {
            memory: Default::default(),
            store: Some(store),
        }
    }

    /// The answer kept for `url`, if any.
    pub async fn get(&self, url: &str) -> Option<StoredReply> {
        if let Some(hit) = self.memory.lock().ok().and_then(|m| m.get(url).cloned()) {
            return Some(hit);
        }
        let found = self.store.as_ref()?.load(url).await?;
        self.remember(url, found.clone());
        Some(found)
    }

    /// `url`'s kept answer was confirmed by a 304.
    pub async fn used(&self, url: &str, reply: &StoredReply) {
        let Some(store) = &self.store else { return };
        let now = store.now_ms();
        if now - reply.used_at < TOUCH_EVERY_MS {
            return;
        }
        store.touch(url).await;
        if let Ok(mut m) = self.memory.lock()
            && let Some(kept) = m.get_mut(url)
        {
            kept.used_at = now;
        }
    }

    /// Keeps a new answer for `url`.
    pub async fn put(&self, url: &str, etag: String, link: Option<String>, body: &[u8]) {
        // Bodies are JSON, so text; anything else is simply not kept.
        let Ok(body) = std::str::from_utf8(body) else {
            return;
        };
        let reply = StoredReply {
            etag,
            link,
            body: body.to_string(),
            used_at: self.store.as_ref().map(|s| s.now_ms()).unwrap_or_default(),
        };
        if let Some(store) = &self.store {
            store.save(url, &reply).await;
        }
        self.remember(url, reply);
    }

    fn remember(&self, url: &str, reply: StoredReply) {
        if let Ok(mut m) = self.memory.lock() {
            // Dropping an entry costs a store read (or one full answer), never a wrong one.
            if m.len() >= MEMORY_ENTRIES
                && !m.contains_key(url)
                && let Some(old) = m.keys().next().cloned()
            {
                m.remove(&old);
            }
            m.insert(url.to_string(), reply);
        }
    }

    #[cfg(test)]
    pub fn in_memory(&self) -> usize {
        self.memory.lock().map(|m| m.len()).unwrap_or_default()
    }
}
