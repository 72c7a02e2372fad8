//! What does not change for a merge request's head commit and target, read once per head and
//! target (and again only when either moves): the files it touches, who authored its commits
//! (both are what lies between the head and the target: a retarget changes them), and when
//! the head arrived. On GitLab every read counts against the rate limit; on GitHub it saves a
//! request even when the answer would be a free 304.

use super::Worker;
use super::enforce::Seen;
use crate::forge::{ChangeRef, Forge, ForgeError};
use crate::model::{Change, ChangeKind, ChangedFiles, User};
use crate::policy::Push;
use crate::rules::Rules;
use crate::store::key_of;
use anyhow::Result;
use chrono::{DateTime, TimeZone, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Heads remembered at most per kind of answer; past it the memory starts over (a re-read
/// costs one listing, never a wrong answer).
const MAX_HEADS: usize = 2_000;

/// Which answer: (change, head sha, target branch).
type HeadKey = (String, String, String);

/// Answers keyed by change, head and target.
pub struct HeadCache<T>(Arc<Mutex<HashMap<HeadKey, T>>>);

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
    pub fn get(&self, change: &str, head: &str, target: &str) -> Option<T> {
        let map = self.0.lock().ok()?;
        map.get(&(change.to_string(), head.to_string(), target.to_string()))
            .cloned()
    }

    pub fn put(&self, change: &str, head: &str, target: &str, value: &T) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() >= MAX_HEADS {
                map.clear();
            }
            map.insert(
                (change.to_string(), head.to_string(), target.to_string()),
                value.clone(),
            );
        }
    }
}

/// The per-head answers the worker keeps.
#[derive(Clone, Default)]
pub struct HeadCaches {
    pub files: HeadCache<ChangedFiles>,
    pub commit_authors: HeadCache<Vec<User>>,
    /// When the head was pushed, once the forge knows it.
    pub pushed_at: HeadCache<DateTime<Utc>>,
    /// Diffs by (repository, head, target commit): `changed_diff` approvals.
    pub diffs: HeadCache<crate::diff::ChangeDiff>,
    /// Paths that differ between two heads, by (repository, to, from).
    pub paths_between: HeadCache<Vec<String>>,
}

/// The change's target branch, as the per-head caches key it.
fn target(change: &Change) -> &str {
    change.target_branch.as_deref().unwrap_or("")
}

fn at_ms(ms: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms).single()
}

impl Worker {
    /// The files the merge request touches, when a rule looks at paths: read once per head
    /// and target (they are the difference between the two).
    pub(super) async fn changed_files<F: Forge>(
        &self,
        forge: &F,
        r: &ChangeRef,
        change: &Change,
        rules: &Rules,
    ) -> Result<Option<ChangedFiles>> {
        let (true, Some(head)) = (
            rules.reads_files() && change.kind == ChangeKind::MergeRequest,
            change.head_sha.as_deref(),
        ) else {
            return Ok(None);
        };
        let key = key_of(change);
        if let Some(files) = self.heads.files.get(&key, head, target(change)) {
            return Ok(Some(files));
        }
        let files = forge.changed_files(r).await?;
        self.heads.files.put(&key, head, target(change), &files);
        Ok(Some(files))
    }

    /// Who authored the head's commits: read once per head and target branch (the commits
    /// listed are the ones between the two).
    pub(super) async fn commit_authors<F: Forge>(
        &self,
        forge: &F,
        r: &ChangeRef,
        change: &Change,
    ) -> Result<Vec<User>, ForgeError> {
        let Some(head) = change.head_sha.as_deref() else {
            return forge.commit_authors(r).await;
        };
        let key = key_of(change);
        if let Some(authors) = self.heads.commit_authors.get(&key, head, target(change)) {
            return Ok(authors);
        }
        let authors = forge.commit_authors(r).await?;
        self.heads
            .commit_authors
            .put(&key, head, target(change), &authors);
        Ok(authors)
    }

    /// When the merge request's head arrived, for approvals that reset on push: the latest
    /// of what the bot knows (the webhooks that reported it, a move it saw, what the forge
    /// records: GitHub's check suites, GitLab's diff versions), since an approval before any
    /// known arrival of this head was not given on it. When nothing says, only when the bot
    /// first saw the head (`seen_only`): approvals before then were given on code it could
    /// not see. Commit dates are never used: their author writes them.
    pub(super) async fn arrival<F: Forge>(
        &self,
        forge: &F,
        r: &ChangeRef,
        change: &Change,
        rules: &Rules,
        seen: &Seen,
    ) -> Result<Option<Push>> {
        let (ChangeKind::MergeRequest, Some(head)) = (change.kind, change.head_sha.as_deref())
        else {
            return Ok(None);
        };
        // Asked only when it can matter: a label approval that resets on push is on the
        // change, native approvals that carry no commit (GitLab's) are placed by time, or a
        // change issue (read after this) may carry approvals the change's pushes reset.
        let resets = rules.approvals.iter().any(|a| {
            a.reset_on_push.resets()
                && (change.has_label(&a.label)
                    || (seen.commands && a.by_comment)
                    || rules.change_issue.is_some()
                    || (a.native_approvals && change.forge == crate::model::Forge::Gitlab))
        });
        let forge_at = match resets {
            true => {
                self.head_pushed_at(forge, r, change, head, seen.moved)
                    .await?
            }
            false => None,
        };
        let reported = seen.arrival.and_then(|a| a.reported).and_then(at_ms);
        let moved = seen.moved.and_then(at_ms);
        let known = [reported, moved, forge_at].into_iter().flatten().max();
        let first_seen = seen.arrival.and_then(|a| at_ms(a.first_seen));
        Ok(Some(Push {
            sha: Some(head.to_string()),
            at: known.or(first_seen),
            seen_only: known.is_none(),
        }))
    }

    /// When the forge says the head was pushed: once known, it stays known for that head
    /// until the head moves again (a head pushed back to an earlier commit is a new push).
    /// Asked again while unknown: GitLab records a push's diff version after the push.
    async fn head_pushed_at<F: Forge>(
        &self,
        forge: &F,
        r: &ChangeRef,
        change: &Change,
        head: &str,
        moved: Option<i64>,
    ) -> Result<Option<DateTime<Utc>>, ForgeError> {
        let key = format!("{}\n{}", key_of(change), moved.unwrap_or_default());
        if let Some(at) = self.heads.pushed_at.get(&key, head, target(change)) {
            return Ok(Some(at));
        }
        let at = forge.head_pushed_at(r, head).await?;
        if let Some(at) = at {
            self.heads.pushed_at.put(&key, head, target(change), &at);
        }
        Ok(at)
    }
}
