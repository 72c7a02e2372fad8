//! Rules that change under open changes: when the rules in force differ from the ones recorded
//! last (a reload, or a start after the file changed while the bot was down), every open change
//! the bot remembers is evaluated again, behind webhook work and paced by the quota reserve like
//! reconcile work, instead of keeping its verdict until its next event.

use super::Worker;
use crate::model::{Action, ChangeEvent, Event, EventPayload, Forge as ForgeKind};
use crate::rules::{Rules, watch::fingerprint};
use crate::store::{Enqueued, Priority, key_of};
use anyhow::Result;
use std::sync::Arc;
use std::time::Duration;

/// How often the rules in force are looked at (the watcher reads the file every 2 s).
const LOOK: Duration = Duration::from_secs(2);

/// Jobs stored per statement (each job is several parameters; databases cap them).
const BATCH: usize = 100;

impl Worker {
    /// Compares the rules in force with those recorded last. When they differ (or none were
    /// recorded), queues an evaluation of every open change the bot remembers, at reconcile
    /// priority, then records the new ones. The number of jobs queued.
    ///
    /// The jobs' delivery ids name the new rules and the time the previous ones came into
    /// force: replicas that see the same change, or a start after a crash between queuing and
    /// recording, queue each change once.
    pub async fn rules_in_force(&self) -> Result<usize> {
        let rules = super::current(&self.rules);
        let now = fingerprint(&rules);
        let before = self.store.rules_in_force().await?;
        if before.as_ref().is_some_and(|b| b.fingerprint == now) {
            return Ok(0);
        }
        let since = before.as_ref().map_or(0, |b| b.since);
        let mut events = vec![];
        for forge in [ForgeKind::Github, ForgeKind::Gitlab] {
            for c in self.store.open_change_events(forge).await? {
                events.push(reevaluation(forge, &now, since, c));
            }
        }
        let mut queued = 0;
        for chunk in events.chunks(BATCH) {
            let refs: Vec<&Event> = chunk.iter().collect();
            let stored = self.store.enqueue_batch(&refs, Priority::Reconcile).await?;
            queued += stored
                .iter()
                .filter(|e| matches!(e, Enqueued::New { .. }))
                .count();
        }
        let recorded = self
            .store
            .record_rules_in_force(before.as_ref(), &now)
            .await?;
        // A period added or moved: its next boundary now, not at the next periodic check.
        self.schedule_boundaries().await?;
        tracing::info!(
            fingerprint = &now[..16],
            open_changes = events.len(),
            queued,
            recorded,
            "the rules in force changed: open changes are evaluated again"
        );
        Ok(queued)
    }

    /// Follows the rules in force until the process ends: at start, and whenever other rules
    /// are swapped in, [`Self::rules_in_force`]. A failure is tried again at the next look.
    pub async fn follow_rules(self) {
        let mut seen: Option<Arc<Rules>> = None;
        loop {
            let rules = super::current(&self.rules);
            if seen.as_ref().is_none_or(|s| !Arc::ptr_eq(s, &rules)) {
                match self.rules_in_force().await {
                    Ok(_) => seen = Some(rules),
                    Err(e) => tracing::warn!(
                        error = format!("{e:#}"),
                        "cannot evaluate open changes again under the new rules; trying again"
                    ),
                }
            }
            tokio::time::sleep(LOOK).await;
        }
    }
}

/// The evaluation of a remembered change under rules `fingerprint`, replacing those in force
/// since `since` (ms).
fn reevaluation(forge: ForgeKind, fingerprint: &str, since: i64, c: ChangeEvent) -> Event {
    Event {
        forge,
        delivery_id: Some(format!(
            "rules:{}:{since}:{}",
            &fingerprint[..16],
            key_of(&c.change)
        )),
        event_name: "rules changed".into(),
        payload: EventPayload::Change(Box::new(ChangeEvent {
            pipeline: None,
            action: Action::Other,
            forge_action: "rules changed".into(),
            labels_added: vec![],
            labels_removed: vec![],
            review: None,
            previous_head_sha: None,
            previous_target_branch: None,
            comment: None,
            ..c
        })),
    }
}
