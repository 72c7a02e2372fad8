//! What the clock drives: an emergency's next evaluations (reminders, its deadline) are
//! scheduled after each evaluation, and a blocked period's start and end evaluate the open
//! changes again, with no webhook. Both are timers in the store ([`crate::store`]).

use super::Worker;
use super::enforce::JobContext;
use crate::forge::ForgeError;
use crate::model::{Action, ChangeEvent, ChangeState, Event, EventPayload, Forge as ForgeKind};
use crate::policy::{Decision, Snapshot};
use crate::store::{EmergencyState, key_of};
use anyhow::Result;
use chrono::{DateTime, Utc};

impl Worker {
    /// After an evaluation: remember what a merged emergency still owes, and schedule its
    /// next evaluations (each reminder point, the deadline).
    pub(super) async fn follow_up(
        &self,
        job: &JobContext<'_>,
        snap: &Snapshot,
        d: &Decision,
    ) -> Result<()> {
        let change = &snap.change;
        let Some(owed) = d.owed.as_ref().filter(|o| o.merged) else {
            if change.state == ChangeState::Merged {
                self.store.forget_emergency(&key_of(change)).await?;
            }
            return Ok(());
        };
        let missing: Vec<&str> = owed.missing().map(|i| i.title.as_str()).collect();
        let state = EmergencyState {
            merged_at: owed.merged_at,
            due: owed.due,
            missing,
            overdue: owed.overdue,
            web_url: change.web_url.as_deref(),
        };
        self.store.remember_emergency(change, &state).await?;
        let current = ChangeEvent {
            pipeline: None,
            change: change.clone(),
            ..job.change.clone()
        };
        for at in &owed.wake_at {
            self.store.schedule_evaluation(&current, *at).await?;
        }
        Ok(())
    }

    /// What the store holds of the change's debt: fixed at merge, or remembered while open.
    pub(super) async fn debt_facts(
        &self,
        change: &crate::model::Change,
        rules: &crate::rules::Rules,
        gaps: Vec<crate::model::Gap>,
    ) -> Result<crate::policy::DebtFacts> {
        let fixed = match change.state {
            ChangeState::Merged => self.store.fixed_debt(change).await?,
            _ => None,
        };
        let owing_rules = rules.rules.iter().any(|r| r.after_merge.is_some());
        let seen_open = match (&fixed, change.state) {
            (None, ChangeState::Open | ChangeState::Merged) if owing_rules => {
                self.store.owes_if_merged(&key_of(change)).await?
            }
            _ => None,
        };
        Ok(crate::policy::DebtFacts {
            fixed,
            seen_open,
            gaps,
        })
    }

    /// Stores the debt the decision fixed (its first evaluation after merge), with an audit
    /// record of it: later evaluations read it back instead of re-deriving it.
    pub(super) async fn fix_debt(
        &self,
        job: &JobContext<'_>,
        snap: &Snapshot,
        d: &Decision,
    ) -> Result<()> {
        if snap.change.state == ChangeState::Open {
            // What it would owe if merged now, remembered when it changes.
            let new = d.debt.as_ref().filter(|d| d.owes());
            let old = snap.debt.seen_open.as_ref();
            if new != old {
                self.store
                    .remember_owes_if_merged(&key_of(&snap.change), new)
                    .await?;
            }
            return Ok(());
        }
        let Some(debt) = d
            .debt
            .as_ref()
            .filter(|_| snap.change.state == ChangeState::Merged)
        else {
            return Ok(());
        };
        let fixed = self.store.fix_debt(&snap.change, debt).await?;
        tracing::info!(owed = ?fixed.require, how = %fixed.how, "debt after merge fixed");
        self.record(job, "debt", Some(&d.rules_hash), &fixed).await
    }

    /// A blocked period started or ended: every open change of the forge is evaluated again
    /// (once per boundary): those the bot remembers, and those the forge lists in each
    /// repository it knows or is configured to reconcile (a change it never saw, or whose
    /// webhooks it missed, too). The periods' next boundaries are scheduled.
    pub(super) async fn period_boundary(
        &self,
        forge: ForgeKind,
        period: &str,
        at: DateTime<Utc>,
    ) -> Result<()> {
        let mut changes = self.store.open_change_events(forge).await?;
        let (listed, unlisted) = self.listed_open_changes(forge).await?;
        changes.extend(listed);
        tracing::info!(
            period,
            at = %at,
            changes = changes.len(),
            "blocked period boundary: evaluating open changes again"
        );
        for c in changes {
            // One delivery id per change and boundary: a change both remembered and listed
            // (or listed again when this job is retried) is queued once.
            let event = Event {
                forge,
                delivery_id: Some(format!(
                    "period:{period}:{}:{}",
                    at.timestamp_millis(),
                    key_of(&c.change)
                )),
                event_name: "period boundary".into(),
                payload: EventPayload::Change(Box::new(ChangeEvent {
                    pipeline: None,
                    action: Action::Other,
                    forge_action: "period boundary".into(),
                    labels_added: vec![],
                    labels_removed: vec![],
                    review: None,
                    previous_head_sha: None,
                    previous_target_branch: None,
                    comment: None,
                    ..c
                })),
            };
            self.store.enqueue(&event).await?;
        }
        self.schedule_boundaries().await?;
        // A repository that could not be listed fails the job, which is retried.
        match unlisted {
            Some(e) => Err(e.context("a repository's open changes could not be listed")),
            None => Ok(()),
        }
    }

    /// The open changes the forge lists in every repository the bot knows (from its change
    /// memory) or is configured to reconcile, subject to each one's rules; and the first
    /// error of a repository that could not be listed (the others are listed still).
    async fn listed_open_changes(
        &self,
        forge: ForgeKind,
    ) -> Result<(Vec<ChangeEvent>, Option<anyhow::Error>)> {
        let Some(connected) = self.forges.get(forge) else {
            return Ok((vec![], None));
        };
        let mut repos = self.store.known_repositories(forge).await?;
        for target in &self.repositories {
            if let Ok((f, path)) = crate::reconcile::parse_target(target)
                && f == forge
                && !repos.contains(&path)
            {
                repos.push(path);
            }
        }
        let central = super::current(&self.rules);
        let (mut out, mut failed) = (vec![], None);
        for path in repos {
            let repo = crate::model::Repo {
                path: path.clone(),
                id: None,
            };
            let client = &connected.client;
            let listed = match self.rules_for(client, forge, &repo, central.clone()).await {
                Ok(effective) => {
                    crate::reconcile::open_enforced(client, &effective.rules, &path).await
                }
                Err(e) => Err(e),
            };
            match listed {
                Ok((_, changes)) => out.extend(changes),
                // A repository the forge no longer has (deleted, moved) has no open changes.
                Err(e) if matches!(e.downcast_ref(), Some(ForgeError::NotFound(_))) => {
                    tracing::info!(repo = %path.as_str(), "a known repository is gone: nothing to list");
                }
                Err(e) => {
                    tracing::warn!(repo = %path.as_str(), error = format!("{e:#}"), "cannot list open changes at a period boundary");
                    failed.get_or_insert(e);
                }
            }
        }
        Ok((out, failed))
    }

    /// Schedules the next start or end of every blocked period of the central rules, for
    /// each forge (stored once however often this runs).
    pub async fn schedule_boundaries(&self) -> Result<()> {
        let rules = super::current(&self.rules);
        let now = self.store.clock().now();
        for p in &rules.blocked_periods {
            let Some(next) = p.window.next_boundary(now) else {
                continue;
            };
            for forge in [ForgeKind::Github, ForgeKind::Gitlab] {
                self.store.schedule_boundary(forge, &p.name, next).await?;
            }
        }
        Ok(())
    }
}
