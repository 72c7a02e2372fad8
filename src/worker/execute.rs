//! The write side of one job: what is known of the forge's current state, the plan
//! ([`actions::plan`], pure), and performing it write by write, each recorded in the audit log
//! (or only logged in dry-run mode).

use super::Worker;
use super::enforce::JobContext;
use crate::actions::{self, Known, PlannedAction};
use crate::comment;
use crate::evidence::ActionEvidence;
use crate::forge::{ChangeRef, Forge, ForgeError};
use crate::model::Action;
use crate::policy::{self, Decision, Snapshot};
use crate::rules::Rules;
use crate::store::key_of;
use anyhow::Result;
use std::sync::atomic::Ordering;

/// Where one job writes: the forge, the change on it, the job, and the rules in force.
pub(super) struct Target<'a, F> {
    pub forge: &'a F,
    pub r: &'a ChangeRef,
    pub job: &'a JobContext<'a>,
    pub rules: &'a Rules,
    /// The bot's own account, when known: a status GitLab will not move is the bot's only if
    /// GitLab names it as its writer.
    pub bot: Option<&'a crate::model::User>,
}

impl Worker {
    /// Brings the forge to the decision: gathers what is known of its current state (the
    /// head's status, changes sharing the head, the comment last written), plans the minimal,
    /// ordered writes ([`actions::plan`], pure) and performs them in that order.
    pub(super) async fn apply<F: Forge>(
        &self,
        t: &Target<'_, F>,
        snap: &Snapshot,
        d: &Decision,
        gitlab: Option<&super::gitlab_blocks::GitlabHead>,
    ) -> Result<()> {
        if policy::has_status(&snap.change) {
            self.withdraw_left(t, &snap.change).await?;
        }
        let known = self.known(t, snap, d, gitlab).await?;
        // A check run's summary carries the checklist (GitHub App mode).
        let summary = comment::sticky(&snap.change, d).replacen(comment::MARKER, "", 1);
        for action in actions::plan(snap, d, &known, &self.status_context) {
            self.perform(t, snap, &action, summary.trim(), gitlab)
                .await?;
        }
        Ok(())
    }

    async fn known<F: Forge>(
        &self,
        t: &Target<'_, F>,
        snap: &Snapshot,
        d: &Decision,
        gitlab: Option<&super::gitlab_blocks::GitlabHead>,
    ) -> Result<Known> {
        let (forge, r, job) = (t.forge, t.r, t.job);
        let change = &snap.change;
        let key = key_of(change);
        let mut known = Known {
            approval_mode: self.approves(change),
            ..Known::default()
        };
        if let (true, Some(sha)) = (policy::has_status(change), &change.head_sha) {
            (known.failing_same_head, known.unseen_same_head) =
                self.same_head(forge, change, sha, d).await?;
            // When the bot last wrote this very status here, the forge is asked whether it still
            // stands (a status someone else posted must go); otherwise it is written anyway,
            // which replaces whatever is there, and reading it first would be a wasted call.
            let planned = actions::status(change, d, &known, &self.status_context);
            if let (
                Some(head),
                Some(PlannedAction::SetStatus {
                    state, description, ..
                }),
            ) = (gitlab, &planned)
            {
                // GitLab: read back in every pipeline, whoever wrote what (gitlab_blocks.rs).
                let status = (sha.as_str(), *state, description.as_str());
                if self.gitlab_status_stands(&key, head, status).await? {
                    known.status = Some((*state, description.clone()));
                }
            } else if let Some(PlannedAction::SetStatus {
                state, description, ..
            }) = &planned
                && self.store.written_status(&key).await?
                    == Some((sha.clone(), *state, description.clone()))
            {
                let context = actions::context_for(&self.status_context, change);
                known.status = forge.current_status(r, sha, &context).await?;
            }
        }
        // A sticky comment someone deleted or edited is written again, whatever was remembered.
        if !comment_unverified(job) {
            known.comment_hash = self.store.cached_comment(&key).await?.map(|(_, h)| h);
        }
        if let Some(r) = d.owed.as_ref().and_then(|o| o.reminder.as_ref()) {
            known.reminder_sent = self.store.reminder_sent(&key, &r.point).await?;
        }
        Ok(known)
    }

    async fn perform<F: Forge>(
        &self,
        t: &Target<'_, F>,
        snap: &Snapshot,
        action: &PlannedAction,
        summary: &str,
        gitlab: Option<&super::gitlab_blocks::GitlabHead>,
    ) -> Result<()> {
        let (forge, r, job, rules) = (t.forge, t.r, t.job, t.rules);
        if let (Some(head), PlannedAction::SetStatus { .. }) = (gitlab, action) {
            let url = self.details_url(&snap.change);
            return self
                .gitlab_set_status(t, snap, head, action, url.as_deref())
                .await;
        }
        match action {
            PlannedAction::SetStatus {
                sha,
                state,
                context,
                description,
            } => {
                let url = self.details_url(&snap.change);
                let written = match forge.gitlab() {
                    // GitLab outside the blocks' pass (a verdict not enforced, a merge
                    // request no longer open): the same one status write.
                    Some(gl) => {
                        let at = super::gitlab_blocks::StatusAt {
                            repo: &r.repo,
                            sha,
                            pipeline: None,
                            git_ref: None,
                            target_url: url.as_deref(),
                            change: (&r.repo, snap.change.head_sha.as_deref().unwrap_or(sha)),
                        };
                        self.gitlab_write(t, gl, at, action, &[]).await?
                    }
                    None => {
                        let more = crate::forge::StatusLinks {
                            summary,
                            target_url: url.as_deref(),
                        };
                        let call = forge.set_status(r, sha, *state, context, description, &more);
                        self.write_linked(job, rules, action, url.as_deref(), call)
                            .await?
                    }
                };
                if written.is_some() {
                    let key = key_of(&snap.change);
                    self.store
                        .remember_status(&key, (sha, *state, description), context)
                        .await?;
                }
                Ok(())
            }
            PlannedAction::RemoveLabels { labels } => self
                .write(job, rules, action, forge.remove_labels(r, labels))
                .await
                .map(drop),
            PlannedAction::AddLabels { labels } => self
                .write(job, rules, action, forge.add_labels(r, labels))
                .await
                .map(drop),
            PlannedAction::SetApproval { sha, approve } => self
                .write(job, rules, action, forge.set_approval(r, sha, *approve))
                .await
                .map(drop),
            PlannedAction::UpsertComment { body } => self.upsert_comment(t, snap, body).await,
            PlannedAction::AnswerStatusCheck { .. } => {
                self.answer_status_check(t, snap, action).await
            }
            PlannedAction::PostReminder {
                point,
                covers,
                body,
            } => {
                self.post_reminder(t, snap, action, point, covers, body)
                    .await
            }
        }
    }

    /// Posts a reminder unless one for the same point is on the change already (posted by a
    /// run that died before remembering it), then remembers the point and those it covers.
    async fn post_reminder<F: Forge>(
        &self,
        t: &Target<'_, F>,
        snap: &Snapshot,
        action: &PlannedAction,
        point: &str,
        covers: &[String],
        body: &str,
    ) -> Result<()> {
        let (forge, r, job, rules) = (t.forge, t.r, t.job, t.rules);
        let marker = comment::reminder_marker(point);
        let bot = snap.bot.as_ref();
        let posted = forge.comments(r).await?.iter().any(|c| {
            c.body.trim_start().starts_with(&marker)
                && bot.is_none_or(|b| b.same_as(&c.author) != Some(false))
        });
        if !posted {
            self.write(job, rules, action, forge.create_comment(r, body))
                .await?;
        }
        if self.dry_run {
            return Ok(());
        }
        let mut points = covers.to_vec();
        points.push(point.to_string());
        self.store
            .mark_reminders(&key_of(&snap.change), &points)
            .await
    }

    /// Creates or edits the sticky comment. Its id and text hash are remembered, so that an
    /// unchanged text costs no call and a changed one a single edit; a comment that is gone
    /// (deleted by someone) is found or created again from the listing.
    async fn upsert_comment<F: Forge>(
        &self,
        t: &Target<'_, F>,
        snap: &Snapshot,
        body: &str,
    ) -> Result<()> {
        let (forge, r, job, rules) = (t.forge, t.r, t.job, t.rules);
        let key = key_of(&snap.change);
        let hash = comment::hash(body);
        let action = PlannedAction::UpsertComment {
            body: body.to_string(),
        };
        let cached = self.store.cached_comment(&key).await?;
        let unverified = comment_unverified(job);
        if let Some((id, known)) = cached.clone().filter(|_| !unverified) {
            if known == hash {
                return Ok(());
            }
            match self
                .write(job, rules, &action, forge.update_comment(r, id, body))
                .await
            {
                Ok(_) => return self.remember_comment(&key, id, &hash).await,
                Err(e)
                    if matches!(
                        e.downcast_ref::<ForgeError>(),
                        Some(ForgeError::NotFound(_))
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        // A change the forge says has no comments has no sticky comment to find either.
        let comments = match snap.change.comments {
            Some(0) => vec![],
            _ => forge.comments(r).await?,
        };
        let bot = snap.bot.as_ref();
        // Only the bot's own comment counts: a person quoting the marker must not be edited.
        // The one it last wrote is its own even when an edit took the marker out.
        let by_bot =
            |c: &&crate::forge::Comment| bot.is_none_or(|b| b.same_as(&c.author) != Some(false));
        let mine = comments
            .iter()
            .filter(by_bot)
            .find(|c| cached.as_ref().is_some_and(|(id, _)| c.id == *id))
            .or_else(|| {
                comments
                    .iter()
                    .filter(by_bot)
                    .find(|c| comment::is_sticky(&c.body))
            });
        let id = match mine {
            Some(c) if c.body.trim_end() == body.trim_end() => Some(c.id),
            Some(c) => self
                .write(job, rules, &action, forge.update_comment(r, c.id, body))
                .await?
                .map(|()| c.id),
            None => {
                self.write(job, rules, &action, forge.create_comment(r, body))
                    .await?
            }
        };
        match id {
            Some(id) => self.remember_comment(&key, id, &hash).await,
            None => Ok(()),
        }
    }

    async fn remember_comment(&self, key: &str, id: u64, hash: &str) -> Result<()> {
        if self.dry_run {
            return Ok(());
        }
        self.store.remember_comment(key, Some((id, hash))).await
    }

    /// Performs one write (or logs it in dry-run mode) and records it in the audit log; what
    /// the call returned, or `None` in dry-run mode.
    pub(super) async fn write<T>(
        &self,
        job: &JobContext<'_>,
        rules: &Rules,
        action: &PlannedAction,
        call: impl std::future::Future<Output = Result<T, ForgeError>>,
    ) -> Result<Option<T>> {
        self.write_linked(job, rules, action, None, call).await
    }

    /// [`Worker::write`] of a status that links `target_url` (its details page): the link is
    /// logged with a dry run's status and kept in the audit record either way.
    pub(super) async fn write_linked<T>(
        &self,
        job: &JobContext<'_>,
        rules: &Rules,
        action: &PlannedAction,
        target_url: Option<&str>,
        call: impl std::future::Future<Output = Result<T, ForgeError>>,
    ) -> Result<Option<T>> {
        let what = super::describe(action);
        let target_url = target_url.map(str::to_string);
        if self.dry_run {
            match &target_url {
                Some(url) => {
                    tracing::info!(action = %what, target_url = %url, "dry run: would call the forge")
                }
                None => tracing::info!(action = %what, "dry run: would call the forge"),
            }
            return self
                .record(
                    job,
                    "action",
                    Some(&rules.hash),
                    &ActionEvidence {
                        planned: super::offline::marked_dry_run(action.clone()),
                        dry_run: true,
                        result: None,
                        error: None,
                        target_url: target_url.clone(),
                    },
                )
                .await
                .map(|()| None);
        }
        // What led to the write is on record before it is made.
        self.flush(job).await?;
        match call.await {
            Ok(value) => {
                job.writes.fetch_add(1, Ordering::Relaxed);
                tracing::info!(action = %what, "done");
                self.record(
                    job,
                    "action",
                    Some(&rules.hash),
                    &ActionEvidence {
                        planned: action.clone(),
                        dry_run: false,
                        result: Some("ok".into()),
                        error: None,
                        target_url: target_url.clone(),
                    },
                )
                .await?;
                self.flush(job).await?;
                Ok(Some(value))
            }
            Err(e) => {
                self.record(
                    job,
                    "action_failed",
                    Some(&rules.hash),
                    &ActionEvidence {
                        planned: action.clone(),
                        dry_run: false,
                        result: None,
                        error: Some(e.to_string()),
                        target_url: target_url.clone(),
                    },
                )
                .await?;
                self.flush(job).await?;
                Err(e.into())
            }
        }
    }
}

/// Whether the sticky comment may no longer read as the bot last wrote it, so that it is
/// checked against the listing rather than trusted from memory: a comment on the change was
/// deleted or edited (GitHub `deleted`/`edited`, GitLab note `update`; the bot's own edits
/// never reach here), or a reconcile pass found the change updated (an edit whose webhook
/// was lost, or a GitLab too old to send note updates).
pub(super) fn comment_unverified(job: &JobContext<'_>) -> bool {
    std::iter::once(job.change)
        .chain(job.covered.iter().filter_map(crate::model::Event::change))
        .any(|e| {
            (e.action == Action::Commented
                && matches!(e.forge_action.as_str(), "deleted" | "edited" | "update"))
                || (e.action == Action::Other && e.forge_action == "reconcile")
        })
}
