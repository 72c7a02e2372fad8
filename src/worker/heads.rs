//! What does not change for a merge request's head commit, read once per head (and again only
//! when the head moves): the files it touches, who authored its commits, and when the forge
//! says it was pushed. On GitLab every read counts against the rate limit; on GitHub it saves
//! a request even when the answer would be a free 304.

use crate::model::{ChangedFiles, User};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Heads remembered at most per kind of answer; past it the memory starts over (a re-read
/// costs one listing, never a wrong answer).
const MAX_HEADS: usize = 2_000;

/// Answers keyed by (change, head sha, and whatever else they depend on).
pub struct HeadCache<T>(Arc<Mutex<HashMap<(String, String), T>>>);

impl<T> Default for HeadCache<T> {
    fn default() -> Self {
        HeadCache(Arc::default())
    }
}

impl<T> Clone for HeadCache<T> {
    fn clone(&self) -> Self {
        HeadCache(self.0.clone())
    }
}

impl<T: Clone> HeadCache<T> {
    pub fn get(&self, change: &str, head: &str) -> Option<T> {
        let map = self.0.lock().ok()?;
        map.get(&(change.to_string(), head.to_string())).cloned()
    }

    pub fn put(&self, change: &str, head: &str, value: &T) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= MAX_HEADS {
                map.clear();
            }
            map.insert((change.to_string(), head.to_string()), value.clone());
        }
    }
}

/// The per-head answers the worker keeps.
#[derive(Clone, Default)]
pub struct HeadCaches {
    pub files: HeadCache<ChangedFiles>,
    /// Commit authors, keyed by head and target branch (the commits listed are the ones
    /// between the two).
    pub commit_authors: HeadCache<Vec<User>>,
    /// When the head was pushed, once the forge knows it.
    pub pushed_at: HeadCache<DateTime<Utc>>,
}
