//! The files each merge request head touches: a head's files never change, so they are read
//! once per head (and again only when the head moves).

use crate::model::ChangedFiles;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Heads remembered at most; past it the memory starts over (a re-read costs one listing).
const MAX_HEADS: usize = 2_000;

#[derive(Clone, Default)]
pub struct FilesCache(Arc<Mutex<HashMap<(String, String), ChangedFiles>>>);

impl FilesCache {
    pub fn get(&self, change: &str, head: &str) -> Option<ChangedFiles> {
        let map = self.0.lock().ok()?;
        map.get(&(change.to_string(), head.to_string())).cloned()
    }

    pub fn put(&self, change: &str, head: &str, files: &ChangedFiles) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= MAX_HEADS {
                map.clear();
            }
            map.insert((change.to_string(), head.to_string()), files.clone());
        }
    }
}
