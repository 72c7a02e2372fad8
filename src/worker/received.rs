//! The history a dry run without the forge builds from the deliveries received about a change
//! ([`super::offline`]), kept per change between runs: each run reads and folds only the
//! deliveries stored since the change's previous run. Reading and decoding every stored
//! delivery of the change on every run made a flood of one change quadratic (the worker spent
//! most of the process's time there, on the core the acknowledgements need).

use crate::model::{ChangeKind, Event, LabelEvent, Review};
use crate::policy::{Push, Snapshot};
use crate::store::Store;
use anyhow::Result;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Changes whose history is kept at once; past it the cache starts over (a miss only reads
/// the change's deliveries again).
const CHANGES_KEPT: usize = 256;

/// The received history folded so far: labels added and removed by each delivery's sender,
/// the latest review of each reviewer, the latest push.
#[derive(Debug, Clone, Default)]
pub struct ReceivedHistory {
    labels: Vec<LabelEvent>,
    reviews: Vec<Review>,
    push: Option<Push>,
}

impl ReceivedHistory {
    /// Folds in one delivery about the change `kind` `number`, received at `at` (ms).
    pub fn add(&mut self, kind: ChangeKind, number: u64, at: i64, event: &Event) {
        let when = DateTime::<Utc>::from_timestamp_millis(at);
        let Some(c) = event.change() else { return };
        if c.change.kind != kind || c.change.number != number {
            return;
        }
        for (list, added) in [(&c.labels_added, true), (&c.labels_removed, false)] {
            self.labels.extend(list.iter().map(|l| LabelEvent {
                label: l.clone(),
                added,
                actor: c.actor.clone(),
                at: when,
            }));
        }
        if let Some(r) = &c.review {
            self.reviews
                .retain(|old| !old.reviewer.same_as(&r.reviewer).unwrap_or(false));
            self.reviews.push(Review {
                submitted_at: r.submitted_at.or(when),
                ..r.clone()
            });
        }
        if c.previous_head_sha.is_some() {
            self.push = Some(Push {
                sha: c.change.head_sha.clone(),
                at: when,
                seen_only: false,
            });
        }
    }

    /// Puts the history into the snapshot; with nothing received, the payload's stays.
    #[cfg(test)]
    pub fn apply(&self, snap: &mut Snapshot) {
        if self.is_empty() {
            return;
        }
        snap.label_events = self.labels.clone();
        self.apply_rest(snap);
    }

    fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.reviews.is_empty() && self.push.is_none()
    }

    /// What [`Self::apply`] puts in but the label events.
    fn apply_rest(&self, snap: &mut Snapshot) {
        snap.reviews = self
            .reviews
            .iter()
            .filter(|r| r.approved)
            .cloned()
            .collect();
        if self.push.is_some() {
            snap.last_push = self.push.clone();
        }
    }
}

/// A change's history as of its last run.
struct Kept {
    /// The newest job whose delivery is folded in.
    last_job: i64,
    /// The `up_to` of that run: a run for an older delivery (a retry) starts afresh.
    up_to: i64,
    history: ReceivedHistory,
}

/// A change's history while its label events are in a snapshot being judged.
#[must_use = "hand it back with `ReceivedCache::keep`, or the next run reads the change again"]
pub struct Lent {
    key: String,
    kept: Kept,
    /// How many label events went into the snapshot, when they did.
    labels_lent: Option<usize>,
}

/// The histories of the changes a dry run evaluated lately, by change key.
#[derive(Clone, Default)]
pub struct ReceivedCache {
    kept: Arc<Mutex<HashMap<String, Kept>>>,
}

impl ReceivedCache {
    /// Puts into `snap` the history of the change `key` from its deliveries received at or
    /// before `up_to` (ms), in the order they were stored. The label events are moved into the
    /// snapshot, not copied (a flood of one change makes them long): hand them back with
    /// [`Self::keep`] once the snapshot is judged, or the next run reads them again.
    pub async fn apply(
        &self,
        store: &Store,
        key: &str,
        up_to: i64,
        snap: &mut Snapshot,
    ) -> Result<Lent> {
        let (kind, number) = (snap.change.kind, snap.change.number);
        let kept = self.lock().remove(key).filter(|k| k.up_to <= up_to);
        let (mut history, mut last_job) = match kept {
            Some(k) => (k.history, k.last_job),
            None => (ReceivedHistory::default(), 0),
        };
        for (job, at, event) in store.received_since(key, last_job, up_to).await? {
            // Stored after the job's delivery and received after it: not part of this run's
            // history, nor (yet) of any later one's prefix.
            let Some(event) = event else { break };
            history.add(kind, number, at, &event);
            last_job = job;
        }
        let lent = (!history.is_empty()).then(|| {
            snap.label_events = std::mem::take(&mut history.labels);
            history.apply_rest(snap);
            snap.label_events.len()
        });
        Ok(Lent {
            key: key.to_string(),
            kept: Kept {
                last_job,
                up_to,
                history,
            },
            labels_lent: lent,
        })
    }

    /// Keeps the history [`Self::apply`] lent, with the label events back from the judged
    /// snapshot.
    pub fn keep(&self, lent: Lent, snap: &mut Snapshot) {
        let Lent {
            key,
            mut kept,
            labels_lent,
        } = lent;
        if let Some(n) = labels_lent {
            // Not the events lent (judging must not change them): forget, read again next time.
            if snap.label_events.len() != n {
                return;
            }
            kept.history.labels = std::mem::take(&mut snap.label_events);
        }
        let mut all = self.lock();
        if all.len() >= CHANGES_KEPT {
            all.clear();
        }
        all.insert(key, kept);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Kept>> {
        self.kept.lock().unwrap_or_else(|p| p.into_inner())
    }
}
