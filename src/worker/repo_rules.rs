//! Per-repository rules: the file the central rules name (`repository_rules.path`), read from
//! the repository's default branch, merged tighten-only, cached by its blob sha. A file that
//! does not validate leaves the central rules in force and is named in the bot's comment.

use super::Worker;
use crate::forge::Forge;
use crate::model::{Forge as ForgeKind, Repo};
use crate::rules::{self, Rules};
use anyhow::Result;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a repository's file is trusted before it is read again.
const RECHECK: Duration = Duration::from_secs(60);

/// The rules in force for a repository, and why its own file was not used, if it was not.
pub struct Effective {
    pub rules: Arc<Rules>,
    pub problem: Option<String>,
}

struct Entry {
    checked: Instant,
    central_hash: String,
    sha: Option<String>,
    rules: Arc<Rules>,
    problem: Option<String>,
}

/// Repository → its merged rules.
#[derive(Clone, Default)]
pub struct RepoRulesCache(Arc<Mutex<HashMap<String, Entry>>>);

impl Worker {
    /// The rules in force for a repository: the central ones, with its own file if allowed.
    pub async fn rules_for<F: Forge>(
        &self,
        forge: &F,
        kind: ForgeKind,
        repo: &Repo,
        central: Arc<Rules>,
    ) -> Result<Effective> {
        let Some(path) = central.repository_rules.clone() else {
            return Ok(Effective {
                rules: central,
                problem: None,
            });
        };
        let key = format!("{kind}:{}", repo.path.as_str().to_lowercase());
        if let Some(hit) = self.repo_rules.fresh(&key, &central.hash) {
            return Ok(hit);
        }
        let file = forge.repo_file(repo, &path).await?;
        let sha = file.as_ref().map(|f| f.sha.clone());
        if let Some(hit) = self.repo_rules.same_file(&key, &central.hash, &sha) {
            return Ok(hit);
        }
        let (rules, problem) = match file {
            None => (central.clone(), None),
            Some(f) => match rules::with_repository(&central, &path, &f.text) {
                Ok(merged) => (Arc::new(merged), None),
                Err(e) => {
                    tracing::warn!(repo = %repo.path, problems = %e, "repository rules refused; the central rules apply");
                    (central.clone(), Some(e.to_string()))
                }
            },
        };
        self.repo_rules.put(
            key,
            Entry {
                checked: Instant::now(),
                central_hash: central.hash.clone(),
                sha,
                rules: rules.clone(),
                problem: problem.clone(),
            },
        );
        Ok(Effective { rules, problem })
    }
}

impl RepoRulesCache {
    fn fresh(&self, key: &str, central: &str) -> Option<Effective> {
        let m = self.0.lock().ok()?;
        let e = m.get(key)?;
        (e.central_hash == central && e.checked.elapsed() < RECHECK).then(|| Effective {
            rules: e.rules.clone(),
            problem: e.problem.clone(),
        })
    }

    /// The same blob as before: no need to parse it again.
    fn same_file(&self, key: &str, central: &str, sha: &Option<String>) -> Option<Effective> {
        let mut m = self.0.lock().ok()?;
        let e = m.get_mut(key)?;
        if e.central_hash != central || &e.sha != sha {
            return None;
        }
        e.checked = Instant::now();
        Some(Effective {
            rules: e.rules.clone(),
            problem: e.problem.clone(),
        })
    }

    fn put(&self, key: String, entry: Entry) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(key, entry);
        }
    }
}
